//! A simulated machine's fixture tree: the /proc, /sys, /dev and /run/udev files the agent's
//! hardware collectors read (the list is `ferric_agent::hardware::capture::PATTERNS` and
//! `LINKS`), written so that `ferric_agent::hardware::collect(dir, ...)` gives the inventory a
//! real machine built as the [`MachineSpec`] would give: the same layout a kernel makes (sysfs
//! links between /sys/class, /sys/block, /sys/bus and /sys/devices, SCSI hosts and targets,
//! NVMe controllers and namespaces), the SMBIOS table encoded with the agent's own encoder,
//! the udev database a ramdisk's udev leaves, and the LLDP frame each cabled NIC hears at
//! `<root>/ferric-lldp/<interface>`.
//!
//! Only what a collector reads is written (no `uevent`, no attributes nobody asks for): 170
//! (edge) to 1,500 (a 256-thread GPU machine) files, links and directories, most of them the
//! per-CPU topology, which [`TreeOptions::skip_cpu_topology`] leaves out. Writing is bound by
//! the file system's metadata operations. Measured (debug build, 2 busy cores) over 10,000
//! machines of [`crate::profiles::fleet`]'s mix, each tree written then removed: on tmpfs
//! (`/dev/shm`) 6.1 ms a tree (2.2 ms without the CPU topology), 5.1 ms to remove it; on
//! this machine's ext4 disk (about 0.4 ms per operation) 0.5 s a tree (0.14 s without). So
//! trees belong on tmpfs, written when a machine boots the agent and removed after.
//!
//! What the collectors see, besides the spec itself:
//! - `MemTotal` is [`MachineSpec::mem_total_kib`]; NUMA nodes are the sockets, each with its
//!   share of memory and its CPUs (Linux's numbering: all first threads, socket by socket,
//!   then the second threads);
//! - /proc/cmdline has `BOOTIF=01-<PXE MAC>` (iPXE's form), unless [`TreeOptions::cmdline`]
//!   says otherwise;
//! - a NIC that is not cabled has carrier 0 and speed -1 (so no `speed_mbps`), and no LLDP;
//! - SATA disks' sysfs `device/model` is the 16-character SCSI INQUIRY product, as libata
//!   makes it; the full model, the serial and the WWN come from udev (`ID_MODEL_ENC`,
//!   `ID_SERIAL_SHORT`, `ID_WWN`), as in a ramdisk, and `device/vpd_pg80` and `device/wwid`
//!   are there too, for collectors that run without udev.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use ferric_agent::hardware::smbios;

use crate::profiles::{BootMode, DiskKind, DiskSpec, MachineSpec, MemoryType, NicSpec, PciSpec};

/// How a tree is written.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// /proc/cmdline (without the trailing newline); `None`: [`default_cmdline`].
    pub cmdline: Option<String>,
    /// Leave out the per-CPU topology files and /sys/devices/system/node: the cpu collector
    /// then counts sockets from /proc/cpuinfo's `physical id` (the same answer) and the
    /// numa-topology collector has nothing. Saves four files, links or directories per CPU,
    /// most of a big machine's tree.
    pub skip_cpu_topology: bool,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeSummary {
    pub files: usize,
    pub links: usize,
    pub dirs: usize,
    pub bytes: u64,
}

/// The kernel command line a machine booted by iPXE has: `BOOTIF=01-<mac with dashes>`.
pub fn default_cmdline(spec: &MachineSpec) -> String {
    format!("BOOT_IMAGE=/vmlinuz initrd=/initramfs console=ttyS0,115200n8 BOOTIF=01-{}", spec.pxe_mac().replace(':', "-"))
}

/// Write `spec`'s tree under `dir` (created if needed; it should be empty).
pub fn write_tree(spec: &MachineSpec, dir: &Path) -> io::Result<TreeSummary> {
    write_tree_with(spec, dir, &TreeOptions::default())
}

/// [`write_tree`] with options.
pub fn write_tree_with(spec: &MachineSpec, dir: &Path, opts: &TreeOptions) -> io::Result<TreeSummary> {
    let mut w = Writer { root: dir.to_path_buf(), made: HashSet::new(), sum: TreeSummary::default() };
    w.mkdir("/")?;
    proc_files(&mut w, spec, opts)?;
    cpus(&mut w, spec, opts)?;
    w.file("/sys/firmware/dmi/tables/DMI", smbios_table(spec))?;
    if spec.boot_mode == BootMode::Uefi {
        w.mkdir("/sys/firmware/efi/efivars")?;
    }
    for p in &spec.pci {
        pci_function(&mut w, p, &class_hex(p.class))?;
    }
    disks(&mut w, spec)?;
    for n in &spec.nics {
        nic(&mut w, n)?;
    }
    Ok(w.sum)
}

// ------------------------------------------------------------------------------------------
// Writing

struct Writer {
    root: PathBuf,
    /// Directories known to exist (machine paths).
    made: HashSet<String>,
    sum: TreeSummary,
}

impl Writer {
    fn host(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn mkdir(&mut self, p: &str) -> io::Result<()> {
        if self.made.contains(p) {
            return Ok(());
        }
        if let Some(i) = p.rfind('/') {
            if i > 0 {
                self.mkdir(&p[..i])?;
            }
        }
        match std::fs::create_dir(self.host(p)) {
            Ok(()) => self.sum.dirs += 1,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.made.insert(p.to_string());
        Ok(())
    }

    fn parent(&mut self, p: &str) -> io::Result<()> {
        match p.rfind('/') {
            Some(0) | None => Ok(()),
            Some(i) => self.mkdir(&p[..i]),
        }
    }

    fn file(&mut self, p: &str, data: impl AsRef<[u8]>) -> io::Result<()> {
        self.parent(p)?;
        let data = data.as_ref();
        std::fs::write(self.host(p), data)?;
        self.sum.files += 1;
        self.sum.bytes += data.len() as u64;
        Ok(())
    }

    /// A sysfs attribute: the value and a newline.
    fn attr(&mut self, p: &str, v: impl std::fmt::Display) -> io::Result<()> {
        self.file(p, format!("{v}\n"))
    }

    fn link(&mut self, p: &str, target: &str) -> io::Result<()> {
        self.parent(p)?;
        std::os::unix::fs::symlink(target, self.host(p))?;
        self.sum.links += 1;
        Ok(())
    }
}

/// `../` enough times to go from the directory holding `from` to /sys, then `to` (both under
/// /sys): the relative links sysfs uses.
fn sys_rel(from: &str, to: &str) -> String {
    let depth = from.trim_start_matches("/sys/").matches('/').count();
    format!("{}{}", "../".repeat(depth), to.trim_start_matches("/sys/"))
}

/// Where a PCI function lives under /sys/devices (its root bus, then itself; bridges are
/// left out, nothing reads them).
fn pci_dir(bdf: &str) -> String {
    format!("/sys/devices/pci{}:{}/{}", &bdf[..4], &bdf[5..7], bdf)
}

fn class_hex(class: u32) -> String {
    format!("0x{class:06x}")
}

/// A PCI function's attributes and its /sys/bus/pci/devices link.
fn pci_function(w: &mut Writer, p: &PciSpec, class: &str) -> io::Result<String> {
    let d = pci_dir(&p.address);
    w.attr(&format!("{d}/vendor"), format_args!("0x{:04x}", p.vendor_id))?;
    w.attr(&format!("{d}/device"), format_args!("0x{:04x}", p.device_id))?;
    w.attr(&format!("{d}/class"), class)?;
    w.attr(&format!("{d}/revision"), format_args!("0x{:02x}", p.revision))?;
    w.attr(&format!("{d}/numa_node"), p.numa_node)?;
    let bus = format!("/sys/bus/pci/devices/{}", p.address);
    w.link(&bus, &sys_rel(&bus, &d))?;
    Ok(d)
}

// ------------------------------------------------------------------------------------------
// /proc and CPUs

fn proc_files(w: &mut Writer, spec: &MachineSpec, opts: &TreeOptions) -> io::Result<()> {
    w.attr("/proc/sys/kernel/arch", "x86_64")?;
    w.attr("/proc/sys/kernel/hostname", &spec.name)?;
    let cmdline = opts.cmdline.clone().unwrap_or_else(|| default_cmdline(spec));
    w.attr("/proc/cmdline", cmdline)?;
    let total = spec.mem_total_kib();
    w.file(
        "/proc/meminfo",
        format!(
            "MemTotal:       {total:>10} kB\nMemFree:        {:>10} kB\nMemAvailable:   {:>10} kB\nBuffers:        {:>10} kB\nCached:         {:>10} kB\nSwapTotal:      {:>10} kB\nSwapFree:       {:>10} kB\n",
            total - total / 40,
            total - total / 30,
            2048,
            total / 100,
            0,
            0
        ),
    )?;
    Ok(())
}

/// (socket, core, thread) of logical CPU `n`, in Linux's order.
fn topology(spec: &MachineSpec, n: u32) -> (u32, u32, u32) {
    let c = &spec.cpu;
    let per_thread = c.sockets * c.cores;
    let thread = n / per_thread;
    let rem = n % per_thread;
    (rem / c.cores, rem % c.cores, thread)
}

fn cpus(w: &mut Writer, spec: &MachineSpec, opts: &TreeOptions) -> io::Result<()> {
    let c = &spec.cpu;
    let n = c.logical();
    let flags = c.flags.join(" ");
    let mut info = String::with_capacity(n as usize * (flags.len() + 700));
    for i in 0..n {
        let (socket, core, _) = topology(spec, i);
        let apic = socket * 256 + core * 2 + i / (c.sockets * c.cores);
        let _ = write!(
            info,
            "processor\t: {i}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\nmodel name\t: {}\nstepping\t: {}\nmicrocode\t: 0xd0003a5\ncpu MHz\t\t: {}.000\ncache size\t: 49152 KB\nphysical id\t: {socket}\nsiblings\t: {}\ncore id\t\t: {core}\ncpu cores\t: {}\napicid\t\t: {apic}\ninitial apicid\t: {apic}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 27\nwp\t\t: yes\nflags\t\t: {flags}\nbugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs\nbogomips\t: {}.00\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 57 bits virtual\npower management:\n\n",
            c.vendor_id,
            c.family,
            c.model_number,
            c.model,
            c.stepping,
            c.base_mhz,
            c.cores * c.threads,
            c.cores,
            c.base_mhz * 2
        );
    }
    w.file("/proc/cpuinfo", info)?;
    let list = format!("0-{}", n - 1);
    w.attr("/sys/devices/system/cpu/present", &list)?;
    w.attr("/sys/devices/system/cpu/online", &list)?;
    w.attr("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", c.max_mhz * 1000)?;
    if opts.skip_cpu_topology {
        return Ok(());
    }
    for i in 0..n {
        let (socket, core, _) = topology(spec, i);
        let t = format!("/sys/devices/system/cpu/cpu{i}/topology");
        w.attr(&format!("{t}/physical_package_id"), socket)?;
        w.attr(&format!("{t}/core_id"), core)?;
    }
    {
        let per_node = spec.mem_total_kib() / u64::from(c.sockets);
        for s in 0..c.sockets {
            w.file(
                &format!("/sys/devices/system/node/node{s}/meminfo"),
                format!("Node {s} MemTotal:       {per_node} kB\nNode {s} MemFree:        {} kB\nNode {s} MemUsed:        {} kB\n", per_node - per_node / 40, per_node / 40),
            )?;
        }
        for i in 0..n {
            let (socket, _, _) = topology(spec, i);
            w.link(&format!("/sys/devices/system/node/node{socket}/cpu{i}"), &format!("../../cpu/cpu{i}"))?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// SMBIOS

fn strings<'a>(set: &mut Vec<&'a str>, s: &'a str) -> u8 {
    if s.is_empty() {
        return 0;
    }
    set.push(s);
    set.len() as u8
}

/// Major and minor of a version like `1.13.2` (SMBIOS's BIOS release), else 0xFF.
fn release(v: &str) -> (u8, u8) {
    let mut it = v.split('.').map(|p| p.parse::<u8>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(a), Some(b)) => (a, b),
        _ => (0xFF, 0xFF),
    }
}

/// SMBIOS stores the first three UUID fields little-endian.
fn smbios_uuid(uuid: &str) -> [u8; 16] {
    let hex: Vec<u8> = uuid.bytes().filter(u8::is_ascii_hexdigit).collect();
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(std::str::from_utf8(&hex[i * 2..i * 2 + 2]).unwrap_or("00"), 16).unwrap_or(0);
    }
    b[..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// Fields (after the 4-byte header) with `off` the SMBIOS offset.
struct Fields(Vec<u8>);

impl Fields {
    fn new(len: usize) -> Fields {
        Fields(vec![0; len - 4])
    }
    fn set(&mut self, off: usize, b: &[u8]) {
        self.0[off - 4..off - 4 + b.len()].copy_from_slice(b);
    }
}

/// The SMBIOS structure table of `spec` (types 0, 1, 2, 3, 4 per socket, 16, 17 per slot, 127).
pub fn smbios_table(spec: &MachineSpec) -> Vec<u8> {
    let mut t = Vec::new();
    let s = &spec.system;

    // Type 0: BIOS.
    let mut set = Vec::new();
    let mut f = Fields::new(0x1A);
    let vendor = strings(&mut set, &spec.bios.vendor);
    let version = strings(&mut set, &spec.bios.version);
    let date = strings(&mut set, &spec.bios.date);
    f.set(0x04, &[vendor, version]);
    f.set(0x06, &0xF000u16.to_le_bytes());
    f.set(0x08, &[date, 0xFF]);
    f.set(0x0A, &0x0000_0001_7BCB_9880u64.to_le_bytes());
    f.set(0x12, &[0x03, if spec.boot_mode == BootMode::Uefi { 0x0D } else { 0x05 }]);
    let (major, minor) = release(&spec.bios.version);
    f.set(0x14, &[major, minor, 0xFF, 0xFF]);
    t.extend(smbios::encode(0, 0x0000, &f.0, &set));

    // Type 1: system.
    let mut set = Vec::new();
    let mut f = Fields::new(0x1B);
    let m = strings(&mut set, &s.vendor);
    let p = strings(&mut set, &s.product);
    let serial = strings(&mut set, &s.serial);
    f.set(0x04, &[m, p, 0, serial]);
    f.set(0x08, &smbios_uuid(&s.uuid));
    f.set(0x18, &[6]);
    let sku = strings(&mut set, &s.sku);
    let family = strings(&mut set, &s.family);
    f.set(0x19, &[sku, family]);
    t.extend(smbios::encode(1, 0x0100, &f.0, &set));

    // Type 2: baseboard.
    let mut set = Vec::new();
    let mut f = Fields::new(0x0F);
    let m = strings(&mut set, &s.vendor);
    let p = strings(&mut set, &s.board_product);
    let v = strings(&mut set, "A01");
    let serial = strings(&mut set, &s.board_serial);
    f.set(0x04, &[m, p, v, serial, 0, 0x09, 0]);
    f.set(0x0B, &0x0300u16.to_le_bytes());
    f.set(0x0D, &[0x0A, 0]);
    t.extend(smbios::encode(2, 0x0200, &f.0, &set));

    // Type 3: chassis (rack mount).
    let mut set = Vec::new();
    let mut f = Fields::new(0x0D);
    let m = strings(&mut set, &s.vendor);
    let serial = strings(&mut set, &s.serial);
    f.set(0x04, &[m, 0x17, 0, serial, 0, 3, 3, 3, 2]);
    t.extend(smbios::encode(3, 0x0300, &f.0, &set));

    // Type 4: one per socket.
    let c = &spec.cpu;
    let amd = c.vendor_id == "AuthenticAMD";
    for sock in 0..c.sockets {
        let mut set = Vec::new();
        let mut f = Fields::new(0x30);
        let designation = format!("CPU{}", sock + 1);
        let d = strings(&mut set, &designation);
        let m = strings(&mut set, &c.manufacturer);
        let v = strings(&mut set, &c.model);
        f.set(0x04, &[d, 3, if amd { 0xFE } else { 0xB3 }, m]);
        let id = if amd { [0x11, 0x0F, 0xA0, 0x00, 0xFF, 0xFB, 0x8B, 0x17] } else { [0xA6, 0x06, 0x06, 0x00, 0xFF, 0xFB, 0xEB, 0xBF] };
        f.set(0x08, &id);
        f.set(0x10, &[v, 0x8C]);
        f.set(0x12, &100u16.to_le_bytes());
        f.set(0x14, &(c.max_mhz as u16).to_le_bytes());
        f.set(0x16, &(c.base_mhz as u16).to_le_bytes());
        f.set(0x18, &[0x41, 0x01]);
        f.set(0x1A, &[0xFF; 6]);
        let cores = c.cores.min(255) as u8;
        let threads = (c.cores * c.threads).min(255) as u8;
        f.set(0x23, &[cores, cores, threads]);
        f.set(0x26, &0x00FCu16.to_le_bytes());
        f.set(0x28, &(if amd { 0x6Bu16 } else { 0xB3 }).to_le_bytes());
        f.set(0x2A, &(c.cores as u16).to_le_bytes());
        f.set(0x2C, &(c.cores as u16).to_le_bytes());
        f.set(0x2E, &((c.cores * c.threads) as u16).to_le_bytes());
        t.extend(smbios::encode(4, 0x0400 + sock as u16, &f.0, &set));
    }

    // Type 16: the memory array; type 17: every slot.
    let slots = spec.dimms.len() as u16;
    let mut f = Fields::new(0x17);
    let max_kib = (u64::from(slots) * (64 << 20)).min(0x7FFF_FFFF) as u32;
    f.set(0x04, &[3, 3, 6]);
    f.set(0x07, &max_kib.to_le_bytes());
    f.set(0x0B, &0xFFFEu16.to_le_bytes());
    f.set(0x0D, &slots.to_le_bytes());
    t.extend(smbios::encode(16, 0x1000, &f.0, &[]));
    for (i, d) in spec.dimms.iter().enumerate() {
        let mut set = Vec::new();
        let mut f = Fields::new(0x28);
        f.set(0x04, &0x1000u16.to_le_bytes());
        f.set(0x06, &0xFFFEu16.to_le_bytes());
        f.set(0x08, &72u16.to_le_bytes());
        f.set(0x0A, &64u16.to_le_bytes());
        let (size, ext) = if d.size_mib < 0x7FFF { (d.size_mib as u16, 0) } else { (0x7FFF, d.size_mib) };
        f.set(0x0C, &size.to_le_bytes());
        f.set(0x1C, &ext.to_le_bytes());
        let loc = strings(&mut set, &d.locator);
        let bank = strings(&mut set, &d.bank_locator);
        let kind = match d.memory_type {
            MemoryType::Ddr4 => 0x1A,
            MemoryType::Ddr5 => 0x22,
        };
        f.set(0x0E, &[0x09, 0, loc, bank, if d.is_empty() { 0x02 } else { kind }]);
        if !d.is_empty() {
            f.set(0x13, &0x2080u16.to_le_bytes());
            f.set(0x15, &(d.speed_mts as u16).to_le_bytes());
            let m = strings(&mut set, &d.manufacturer);
            let sn = strings(&mut set, &d.serial);
            let pn = strings(&mut set, &d.part_number);
            f.set(0x17, &[m, sn, 0, pn, 2]);
            f.set(0x20, &(d.speed_mts as u16).to_le_bytes());
        }
        t.extend(smbios::encode(17, 0x1100 + i as u16, &f.0, &set));
    }
    t.extend(smbios::encode(127, 0xFEFF, &[], &[]));
    t
}

// ------------------------------------------------------------------------------------------
// Disks

/// The block device number of the `k`-th SCSI disk (majors 8, 65-71, 128-135; 16 minors each).
fn sd_devno(k: usize) -> (u32, u32) {
    let group = k / 16;
    let major = match group {
        0 => 8,
        1..=7 => 64 + group as u32,
        g => 120 + g as u32,
    };
    (major, (k % 16) as u32 * 16)
}

/// The 16-character INQUIRY product of a SATA disk as libata builds it (the ATA model cut
/// after 16 characters).
fn inquiry_product(model: &str) -> String {
    format!("{:<16}", model.chars().take(16).collect::<String>())
}

/// udev's `\x20` escaping (`ID_MODEL_ENC`).
fn udev_enc(s: &str) -> String {
    s.replace(' ', "\\x20")
}

fn block(w: &mut Writer, b: &str, name: &str, devno: (u32, u32), d: &DiskSpec) -> io::Result<()> {
    w.attr(&format!("{b}/dev"), format_args!("{}:{}", devno.0, devno.1))?;
    w.attr(&format!("{b}/size"), d.size_bytes / 512)?;
    w.attr(&format!("{b}/queue/rotational"), u8::from(d.rotational))?;
    let (lbs, pbs) = if d.kind == DiskKind::SasHdd { (512, 4096) } else if d.kind == DiskKind::Nvme { (512, 512) } else { (512, 4096) };
    w.attr(&format!("{b}/queue/logical_block_size"), lbs)?;
    w.attr(&format!("{b}/queue/physical_block_size"), pbs)?;
    w.mkdir(&format!("{b}/holders"))?;
    let sys_block = format!("/sys/block/{name}");
    w.link(&sys_block, &sys_rel(&sys_block, b))?;
    Ok(())
}

fn vpd_pg80(serial: &str) -> Vec<u8> {
    let padded = format!("{serial:>20}");
    let mut p = vec![0u8, 0x80, 0, padded.len() as u8];
    p.extend(padded.as_bytes());
    p
}

fn disks(w: &mut Writer, spec: &MachineSpec) -> io::Result<()> {
    // SCSI hosts: one per AHCI port in use, then one per SAS HBA.
    let mut sd = 0usize;
    for d in &spec.disks {
        let by_path;
        let devno;
        match d.kind {
            DiskKind::SataSsd | DiskKind::SasHdd => {
                let hctl: Vec<u32> = d.hctl.split(':').map(|x| x.parse().unwrap_or(0)).collect();
                let (h, target) = (hctl[0], hctl[2]);
                let ctrl = pci_dir(&d.controller_pci);
                let host = if d.kind == DiskKind::SataSsd {
                    format!("{ctrl}/ata{}/host{h}", h + 1)
                } else {
                    format!("{ctrl}/host{h}")
                };
                let dev = if d.kind == DiskKind::SataSsd {
                    format!("{host}/target{h}:0:0/{}", d.hctl)
                } else {
                    format!("{host}/port-{h}:{target}/end_device-{h}:{target}/target{h}:0:{target}/{}", d.hctl)
                };
                // The SCSI host, once.
                let sh = format!("/sys/class/scsi_host/host{h}");
                if !w.made.contains(&format!("{host}/scsi_host/host{h}")) {
                    let proc_name = if d.kind == DiskKind::SataSsd { "ahci" } else { "mpt3sas" };
                    w.attr(&format!("{host}/scsi_host/host{h}/proc_name"), proc_name)?;
                    w.link(&sh, &sys_rel(&sh, &format!("{host}/scsi_host/host{h}")))?;
                    if d.kind == DiskKind::SasHdd {
                        let sas = format!("/sys/class/sas_host/host{h}");
                        w.mkdir(&format!("{host}/sas_host/host{h}"))?;
                        w.link(&sas, &sys_rel(&sas, &format!("{host}/sas_host/host{h}")))?;
                    }
                }
                let vendor = format!("{:<8}", d.vendor);
                let product = if d.kind == DiskKind::SataSsd { inquiry_product(&d.model) } else { format!("{:<16}", d.model) };
                w.attr(&format!("{dev}/vendor"), vendor)?;
                w.attr(&format!("{dev}/model"), product)?;
                w.attr(&format!("{dev}/type"), 0)?;
                w.file(&format!("{dev}/vpd_pg80"), vpd_pg80(&d.serial))?;
                w.attr(&format!("{dev}/wwid"), format_args!("naa.{}", d.wwn.trim_start_matches("0x")))?;
                w.mkdir(&format!("{dev}/scsi_device/{}", d.hctl))?;
                let bus = format!("/sys/bus/scsi/devices/{}", d.hctl);
                w.link(&bus, &sys_rel(&bus, &dev))?;
                devno = sd_devno(sd);
                sd += 1;
                let b = format!("{dev}/block/{}", d.name);
                block(w, &b, &d.name, devno, d)?;
                w.link(&format!("{b}/device"), &format!("../../../{}", d.hctl))?;
                by_path = if d.kind == DiskKind::SataSsd {
                    format!("pci-{}-ata-{}.0", d.controller_pci, h + 1)
                } else {
                    format!("pci-{}-sas-phy{target}-lun-0", d.controller_pci)
                };
            }
            DiskKind::Nvme => {
                let k: u32 = d.name.trim_start_matches("nvme").split('n').next().and_then(|x| x.parse().ok()).unwrap_or(0);
                let ctrl = format!("{}/nvme/nvme{k}", pci_dir(&d.controller_pci));
                w.attr(&format!("{ctrl}/model"), format_args!("{:<40}", d.model))?;
                w.attr(&format!("{ctrl}/serial"), format_args!("{:<20}", d.serial))?;
                w.attr(&format!("{ctrl}/firmware_rev"), format_args!("{:<8}", d.firmware))?;
                let b = format!("{ctrl}/{}", d.name);
                devno = (259, k);
                block(w, &b, &d.name, devno, d)?;
                w.link(&format!("{b}/device"), &format!("../../nvme{k}"))?;
                w.attr(&format!("{b}/wwid"), &d.wwn)?;
                by_path = format!("pci-{}-nvme-1", d.controller_pci);
            }
        }
        w.link(&format!("/dev/disk/by-path/{by_path}"), &format!("../../{}", d.name))?;
        udev(w, d, devno, &by_path)?;
    }
    Ok(())
}

/// The udev database entry of a disk, as a ramdisk's udev writes it.
fn udev(w: &mut Writer, d: &DiskSpec, devno: (u32, u32), by_path: &str) -> io::Result<()> {
    let mut e = format!("S:disk/by-path/{by_path}\n");
    let model_id = d.model.replace(' ', "_");
    match d.kind {
        DiskKind::SataSsd => {
            let _ = write!(
                e,
                "S:disk/by-id/ata-{model_id}_{s}\nS:disk/by-id/wwn-{wwn}\nE:ID_ATA=1\nE:ID_TYPE=disk\nE:ID_BUS=ata\nE:ID_MODEL={model_id}\nE:ID_MODEL_ENC={enc}\nE:ID_REVISION={fw}\nE:ID_SERIAL={model_id}_{s}\nE:ID_SERIAL_SHORT={s}\nE:ID_WWN={wwn}\nE:ID_WWN_WITH_EXTENSION={wwn}\nE:ID_ATA_ROTATION_RATE_RPM=0\n",
                s = d.serial,
                wwn = d.wwn,
                enc = udev_enc(&d.model),
                fw = d.firmware
            );
        }
        DiskKind::SasHdd => {
            let naa = d.wwn.trim_start_matches("0x");
            let _ = write!(
                e,
                "S:disk/by-id/scsi-3{naa}\nS:disk/by-id/wwn-{wwn}\nE:ID_SCSI=1\nE:ID_TYPE=disk\nE:ID_BUS=scsi\nE:ID_VENDOR={v}\nE:ID_MODEL={model_id}\nE:ID_MODEL_ENC={enc}\nE:ID_REVISION={fw}\nE:ID_SCSI_SERIAL={s}\nE:ID_SERIAL=3{naa}\nE:ID_SERIAL_SHORT={naa}\nE:ID_WWN={wwn}\nE:ID_WWN_WITH_EXTENSION={wwn}\n",
                s = d.serial,
                wwn = d.wwn,
                v = d.vendor,
                enc = udev_enc(&format!("{:<16}", d.model)),
                fw = d.firmware
            );
        }
        DiskKind::Nvme => {
            let _ = write!(
                e,
                "S:disk/by-id/nvme-{model_id}_{s}\nS:disk/by-id/nvme-{wwn}\nE:ID_TYPE=disk\nE:ID_MODEL={model}\nE:ID_REVISION={fw}\nE:ID_SERIAL={model_id}_{s}\nE:ID_SERIAL_SHORT={s}\nE:ID_WWN={wwn}\n",
                s = d.serial,
                wwn = d.wwn,
                model = d.model,
                fw = d.firmware
            );
        }
    }
    w.file(&format!("/run/udev/data/b{}:{}", devno.0, devno.1), e)
}

// ------------------------------------------------------------------------------------------
// NICs and LLDP

fn nic(w: &mut Writer, n: &NicSpec) -> io::Result<()> {
    let p = PciSpec { address: n.pci_address.clone(), vendor_id: n.vendor_id, device_id: n.device_id, class: 0x020000, revision: 2, numa_node: n.numa_node, description: "".into() };
    let d = pci_function(w, &p, "0x020000")?;
    w.link(&format!("{d}/driver"), &sys_rel(&format!("{d}/driver"), &format!("/sys/bus/pci/drivers/{}", n.driver)))?;
    let net = format!("{d}/net/{}", n.name);
    w.attr(&format!("{net}/address"), &n.mac)?;
    w.attr(&format!("{net}/carrier"), u8::from(n.carrier))?;
    w.attr(&format!("{net}/speed"), if n.carrier { i64::from(n.speed_mbps) } else { -1 })?;
    w.link(&format!("{net}/device"), &format!("../../../{}", n.pci_address))?;
    let class = format!("/sys/class/net/{}", n.name);
    w.link(&class, &sys_rel(&class, &net))?;
    if let Some(l) = &n.lldp {
        w.file(&format!("/ferric-lldp/{}", n.name), lldp_frame(l))?;
    }
    Ok(())
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':').map(|b| u8::from_str_radix(b, 16).unwrap_or(0)).collect()
}

/// The LLDPDU a switch port sends: chassis ID (MAC), port ID (interface name), TTL, port
/// description, system name and description, capabilities, the 802.1 port VLAN ID, end.
pub fn lldp_frame(l: &crate::profiles::LldpSpec) -> Vec<u8> {
    let chassis = mac_bytes(&l.chassis_mac);
    let mut f = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
    f.extend(&chassis);
    f.extend([0x88, 0xcc]);
    let mut tlv = |t: u16, v: &[u8]| {
        f.extend(((t << 9) | v.len() as u16).to_be_bytes());
        f.extend(v);
    };
    let mut c = vec![4u8];
    c.extend(&chassis);
    tlv(1, &c);
    let mut p = vec![5u8];
    p.extend(l.port_id.as_bytes());
    tlv(2, &p);
    tlv(3, &120u16.to_be_bytes());
    tlv(4, l.port_description.as_bytes());
    tlv(5, l.system_name.as_bytes());
    let descr = if l.port_id.starts_with("Ethernet") { "Arista Networks EOS version 4.31.2F running on an Arista DCS-7050CX3-32S" } else { "Cisco IOS Software, C9300 Software (CAT9K_IOSXE), Version 17.9.4a" };
    tlv(6, descr.as_bytes());
    tlv(7, &[0x00, 0x14, 0x00, 0x14]);
    let mut vlan = vec![0x00, 0x80, 0xc2, 0x01];
    vlan.extend(l.vlan.to_be_bytes());
    tlv(127, &vlan);
    tlv(0, &[]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sysfs_links() {
        assert_eq!(sys_rel("/sys/block/sda", "/sys/devices/pci0000:00/x/block/sda"), "../devices/pci0000:00/x/block/sda");
        assert_eq!(sys_rel("/sys/class/net/eno1", "/sys/devices/p/q/net/eno1"), "../../devices/p/q/net/eno1");
        assert_eq!(sys_rel("/sys/bus/pci/devices/0000:00:17.0", "/sys/devices/pci0000:00/0000:00:17.0"), "../../../devices/pci0000:00/0000:00:17.0");
    }

    #[test]
    fn scsi_device_numbers() {
        assert_eq!(sd_devno(0), (8, 0));
        assert_eq!(sd_devno(15), (8, 240));
        assert_eq!(sd_devno(16), (65, 0));
        assert_eq!(sd_devno(127), (71, 240));
        assert_eq!(sd_devno(128), (128, 0));
    }

    #[test]
    fn smbios_uuid_byte_order() {
        let b = smbios_uuid("4c4c4544-004b-5810-8051-b7c04f4b4733");
        assert_eq!(b, [0x44, 0x45, 0x4c, 0x4c, 0x4b, 0x00, 0x10, 0x58, 0x80, 0x51, 0xb7, 0xc0, 0x4f, 0x4b, 0x47, 0x33]);
    }
}
