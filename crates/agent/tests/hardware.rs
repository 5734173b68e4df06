//! The hardware collectors against fixture trees:
//! 1. `fixtures/this-machine`: a capture of the project's machine kind (`ferric agent capture`,
//!    `fixtures/capture.py`), and `fixtures/qemu-vm`: a QEMU VM with a known identity, three
//!    disks and three NICs (`lab/qemu/capture_fixture.sh`),
//! 2. a synthetic server (several disks, NICs, DIMMs, UEFI) built here,
//! 3. a hostile tree (loops, FIFOs, garbage, a 100 MB file) that must give warnings, not panics,
//!
//! plus the shape of the output against the real IPA inventories in shared/fixtures, and a run
//! on this machine's own `/`.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferric_agent::hardware::{collect, collect_with, smbios, Collected, Options};
use serde_json::{json, Value};

const ALL: &[&str] = &["default", "logs", "pci-devices", "lldp", "dmi-decode", "numa-topology"];

// ------------------------------------------------------------------------------------------
// Helpers

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Tree { _dir: dir, root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn file(&self, p: &str, content: impl AsRef<[u8]>) {
        let f = self.path(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, content).unwrap();
    }

    fn dir(&self, p: &str) {
        std::fs::create_dir_all(self.path(p)).unwrap();
    }

    fn link(&self, p: &str, target: &str) {
        let f = self.path(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, f).unwrap();
    }

    fn fifo(&self, p: &str) {
        let f = self.path(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        let c = std::ffi::CString::new(f.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    /// A whole-disk block device at `devpath` (under /sys/devices) with /sys/block/<name>.
    fn block(&self, devpath: &str, name: &str, devno: &str, sectors: u64, rotational: bool, lbs: u32, pbs: u32) {
        self.block_at(&format!("{devpath}/block/{name}"), name, devno, sectors, rotational, lbs, pbs);
    }

    /// A whole-disk block device whose sysfs directory is `b`.
    fn block_at(&self, b: &str, name: &str, devno: &str, sectors: u64, rotational: bool, lbs: u32, pbs: u32) {
        self.file(&format!("{b}/dev"), format!("{devno}\n"));
        self.file(&format!("{b}/size"), format!("{sectors}\n"));
        self.file(&format!("{b}/queue/rotational"), if rotational { "1\n" } else { "0\n" });
        self.file(&format!("{b}/queue/logical_block_size"), format!("{lbs}\n"));
        self.file(&format!("{b}/queue/physical_block_size"), format!("{pbs}\n"));
        self.dir(&format!("{b}/holders"));
        self.link(&format!("/sys/block/{name}"), &format!("..{}", b.trim_start_matches("/sys")));
    }

    /// A SCSI disk: host `h`, device directory with the given attributes, link `device`.
    fn scsi_disk(&self, host_path: &str, hctl: &str, name: &str, devno: &str, sectors: u64, rotational: bool, attrs: &[(&str, &[u8])]) {
        let (h, c, t, _) = {
            let v: Vec<&str> = hctl.split(':').collect();
            (v[0], v[1], v[2], v[3])
        };
        let dev = format!("{host_path}/host{h}/target{h}:{c}:{t}/{hctl}");
        for (k, v) in attrs {
            self.file(&format!("{dev}/{k}"), v);
        }
        self.dir(&format!("{dev}/scsi_device/{hctl}"));
        self.block(&dev, name, devno, sectors, rotational, 512, if name == "sda" { 4096 } else { 512 });
        self.link(&format!("{dev}/block/{name}/device"), &format!("../../../{hctl}"));
        self.link(&format!("/sys/bus/scsi/devices/{hctl}"), &format!("../../..{}", dev.trim_start_matches("/sys")));
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | if c == b'=' { 0 } else { u32::from(val(c)) };
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// The (name, content) entries of the base64 tar.gz the logs collector made.
fn untar(logs: &str) -> Vec<(String, Vec<u8>)> {
    let gz = b64decode(logs);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 512 <= tar.len() && tar[i] != 0 {
        let h = &tar[i..i + 512];
        assert_eq!(&h[257..263], b"ustar\0");
        let cstr = |b: &[u8]| String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap()).into_owned();
        let (name, prefix) = (cstr(&h[..100]), cstr(&h[345..500]));
        let name = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let size = usize::from_str_radix(cstr(&h[124..136]).trim(), 8).unwrap();
        out.push((name, tar[i + 512..i + 512 + size].to_vec()));
        i += 512 + size.div_ceil(512) * 512;
    }
    out
}

fn has_warning(c: &Collected, needle: &str) -> bool {
    c.warnings.iter().any(|w| w.contains(needle))
}

// ------------------------------------------------------------------------------------------
// 1. This machine, captured

#[test]
fn this_machine_fixture() {
    let root = fixtures().join("this-machine");
    let c = collect(&root, ALL);
    let inv = &c.inventory;
    let cpu = &inv["cpu"];
    assert_eq!(cpu["model_name"], "AMD EPYC");
    assert_eq!(cpu["frequency"], "2596.142", "no cpufreq here: /proc/cpuinfo's cpu MHz");
    assert_eq!(cpu["count"], 2);
    assert_eq!(cpu["architecture"], "x86_64");
    assert_eq!(cpu["socket_count"], 1);
    let flags = cpu["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 105);
    assert_eq!((flags[0].as_str(), flags[104].as_str()), (Some("fpu"), Some("fsrm")));
    assert_eq!(inv["memory"], json!({"total": 24684084u64 * 1024, "physical_mb": 192 * 128}));
    // loop*, zram0 (size 0 and RAM) are left out; vda's serial is virtio-blk's `serial`.
    assert_eq!(
        inv["disks"],
        json!([{"name": "/dev/vda", "model": null, "size": 274877906944u64, "rotational": true, "wwn": null,
                "serial": "overlayblk", "vendor": "0x1af4", "wwn_with_extension": null, "wwn_vendor_extension": null,
                "hctl": null, "by_path": null, "logical_sectors": 512, "physical_sectors": 4096, "tran": null}])
    );
    // lo and the ifb devices (no `device` link) are left out.
    assert_eq!(
        inv["interfaces"],
        json!([{"name": "eth0", "mac_address": "02:fc:00:00:00:01", "ipv4_address": "192.0.2.2", "ipv6_address": "fd00::2",
                "has_carrier": true, "lldp": [], "vendor": "0x1af4", "product": "0x0001", "client_id": null,
                "biosdevname": null, "speed_mbps": null, "pci_address": "virtio2", "driver": "virtio_net"}])
    );
    assert_eq!((&inv["bmc_address"], &inv["bmc_v6address"], &inv["bmc_mac"]), (&Value::Null, &Value::Null, &Value::Null));
    assert_eq!(inv["boot"], json!({"current_boot_mode": "bios", "pxe_interface": null}));
    assert_eq!(inv["hostname"], "vm");
    // A Firecracker VM: no SMBIOS at all.
    assert_eq!(inv["system_vendor"]["product_name"], Value::Null);
    assert!(has_warning(&c, "SMBIOS is unreadable: physical_mb from /sys/devices/system/memory"));
    assert!(has_warning(&c, "dmi-decode: the SMBIOS table is unreadable"));
    assert!(!c.plugin_data.contains_key("dmi"));

    assert_eq!(c.plugin_data["root_disk"]["name"], "/dev/vda");
    assert_eq!(c.plugin_data["boot_interface"], Value::Null);
    assert_eq!(c.plugin_data["configuration"]["collectors"], json!(ALL));
    assert_eq!(c.plugin_data["lldp_raw"], json!({"eth0": []}));
    let pci = c.plugin_data["pci_devices"].as_array().unwrap();
    assert_eq!(pci.len(), 6);
    assert_eq!(pci[3], json!({"vendor_id": "1af4", "product_id": "1041", "class": "020000", "revision": "01", "bus": "0000:00:03.0", "numa_node_id": "-1"}));
    assert_eq!(
        c.plugin_data["numa_topology"],
        json!({"ram": [{"numa_node": 0, "size_kb": 13723852}],
               "cpus": [{"cpu": 0, "numa_node": 0, "thread_siblings": [0]}, {"cpu": 1, "numa_node": 0, "thread_siblings": [1]}],
               "nics": []})
    );
    let logs = untar(c.plugin_data["logs"].as_str().unwrap());
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["proc/cmdline"]);
    assert!(String::from_utf8_lossy(&logs[0].1).contains("console=ttyS0"));
    assert_eq!(c.warnings.len(), 3, "{:#?}", c.warnings);
}

// ------------------------------------------------------------------------------------------
// 1b. A QEMU VM with a known identity, captured by `lab/qemu/capture_fixture.sh`: the VM's
// definition there is what is asserted here (SMBIOS types 0-3, 3 CPUs, 1536 MiB, virtio-blk +
// scsi-hd on virtio-scsi + SATA on AHCI, virtio-net + e1000 + e1000e).

#[test]
fn qemu_vm_fixture() {
    let root = fixtures().join("qemu-vm");
    let c = collect(&root, &["default", "pci-devices", "dmi-decode", "numa-topology"]);
    assert_eq!(c.warnings, Vec::<String>::new());
    let inv = &c.inventory;
    let cpu = &inv["cpu"];
    assert_eq!(cpu["model_name"], "QEMU Virtual CPU version 2.5+");
    assert_eq!((&cpu["count"], &cpu["socket_count"], &cpu["architecture"]), (&json!(3), &json!(1), &json!("x86_64")));
    // TSC calibration differs per boot: the value is /proc/cpuinfo's, whatever this capture had.
    let mhz = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap();
    let mhz = mhz.lines().find(|l| l.starts_with("cpu MHz")).unwrap().split(':').nth(1).unwrap().trim().to_string();
    assert_eq!(cpu["frequency"], json!(mhz));
    let flags = cpu["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 37);
    assert_eq!((flags[0].as_str(), flags[36].as_str()), (Some("fpu"), Some("vmmcall")));
    // -m 1536: one 1536 MB DIMM in SMBIOS type 17; MemTotal 1497780 kB.
    assert_eq!(inv["memory"], json!({"total": 1497780u64 * 1024, "physical_mb": 1536}));
    let disk = |name: &str, model: Value, vendor: &str, size: u64, rot: bool, serial: &str, wwn: Value, hctl: Value, pbs: u32, tran: Value| {
        json!({"name": name, "model": model, "size": size, "rotational": rot, "wwn": wwn.clone(), "serial": serial,
               "vendor": vendor, "wwn_with_extension": wwn, "wwn_vendor_extension": null, "hctl": hctl, "by_path": null,
               "logical_sectors": 512, "physical_sectors": pbs, "tran": tran})
    };
    assert_eq!(
        inv["disks"],
        json!([
            // scsi-hd on virtio-scsi, serial= and wwn=, rotation_rate=7200.
            disk("/dev/sda", json!("QEMU HARDDISK"), "QEMU", 6 << 30, true, "FERRIC-SCSI-0002", json!("0x5000c500a1b2c3d4"), json!("0:0:0:0"), 512, Value::Null),
            // ide-hd on AHCI: the serial from vpd_pg80, model=, rotation_rate=1 (an SSD), tran sata.
            disk("/dev/sdb", json!("FERRIC SATA SSD"), "ATA", 3 << 30, false, "FERRIC-SATA-0003", Value::Null, json!("3:0:0:0"), 512, json!("sata")),
            // virtio-blk: serial=, physical_block_size=4096; the vendor is the virtio PCI vendor.
            disk("/dev/vda", Value::Null, "0x1af4", 2 << 30, true, "FERRIC-VBLK-0001", Value::Null, Value::Null, 4096, Value::Null),
        ])
    );
    let nic = |name: &str, mac: &str, ip: &str, vendor: &str, product: &str, pci: &str, driver: &str, speed: Value| {
        json!({"name": name, "mac_address": mac, "ipv4_address": ip, "ipv6_address": null, "has_carrier": true, "lldp": null,
               "vendor": vendor, "product": product, "client_id": null, "biosdevname": null, "speed_mbps": speed,
               "pci_address": pci, "driver": driver})
    };
    // Each NIC on its own slirp network (DHCP: .15); named in module load order.
    assert_eq!(
        inv["interfaces"],
        json!([
            nic("eth0", "52:54:00:f0:00:02", "10.0.3.15", "0x8086", "0x100e", "0000:00:07.0", "e1000", json!(1000)),
            nic("eth1", "52:54:00:f0:00:03", "10.0.4.15", "0x8086", "0x10d3", "0000:00:08.0", "e1000e", json!(1000)),
            nic("eth2", "52:54:00:f0:00:01", "10.0.2.15", "0x1af4", "0x0001", "virtio2", "virtio_net", Value::Null),
        ])
    );
    assert_eq!(
        inv["system_vendor"],
        json!({"product_name": "FX-3000 (FX3K-SKU-7)", "serial_number": "FX3K-0042", "manufacturer": "Ferric Labs",
               "firmware": {"vendor": "Ferric Firmware", "version": "FW-1.2.3", "build_date": "03/14/2024"}})
    );
    assert_eq!(inv["boot"], json!({"current_boot_mode": "bios", "pxe_interface": "01-52-54-00-f0-00-01"}));
    assert_eq!(inv["hostname"], "ferric-ramdisk");
    assert_eq!((&inv["bmc_address"], &inv["bmc_v6address"], &inv["bmc_mac"]), (&Value::Null, &Value::Null, &Value::Null));

    // IPA's root device guess: the smallest disk of 4 GiB or more.
    assert_eq!(c.plugin_data["root_disk"]["name"], "/dev/sda");
    assert_eq!(c.plugin_data["boot_interface"], "01-52-54-00-f0-00-01");
    let pci = c.plugin_data["pci_devices"].as_array().unwrap();
    let ids: Vec<String> = pci.iter().map(|d| format!("{} {}:{} {}", d["bus"].as_str().unwrap(), d["vendor_id"].as_str().unwrap(), d["product_id"].as_str().unwrap(), d["class"].as_str().unwrap())).collect();
    assert_eq!(
        ids,
        [
            "0000:00:00.0 8086:1237 060000", "0000:00:01.0 8086:7000 060100", "0000:00:01.1 8086:7010 010180",
            "0000:00:01.3 8086:7113 068000", "0000:00:02.0 1234:1111 030000",
            "0000:00:03.0 1af4:1001 010000", // virtio-blk
            "0000:00:04.0 1af4:1004 010000", // virtio-scsi
            "0000:00:05.0 8086:2922 010601", // AHCI
            "0000:00:06.0 1af4:1000 020000", // virtio-net
            "0000:00:07.0 8086:100e 020000", // e1000
            "0000:00:08.0 8086:10d3 020000", // e1000e
        ]
    );
    let dmi = &c.plugin_data["dmi"];
    assert_eq!(dmi["system"]["UUID"], "5d1c0b7e-1c8a-4d7e-9f3a-0e2b6c4d8a10");
    assert_eq!((&dmi["system"]["Family"], &dmi["system"]["Version"]), (&json!("FX"), &json!("rev-A")));
    assert_eq!(dmi["bios"]["BIOS Revision"], "1.2");
    assert_eq!((&dmi["baseboard"]["Product Name"], &dmi["baseboard"]["Serial Number"], &dmi["baseboard"]["Asset Tag"]), (&json!("FX-Board"), &json!("BRD-7788"), &json!("BRD-ASSET")));
    assert_eq!((&dmi["chassis"]["Serial Number"], &dmi["chassis"]["Asset Tag"]), (&json!("CHS-5566"), &json!("CHS-ASSET")));
    assert_eq!((&dmi["cpu"][0]["Core Count"], &dmi["cpu"][0]["Thread Count"]), (&json!("3"), &json!("3")));
    assert_eq!((&dmi["memory"]["devices"][0]["Size"], &dmi["memory"]["devices"][0]["Locator"]), (&json!("1536 MB"), &json!("DIMM 0")));
    assert_eq!(
        c.plugin_data["numa_topology"],
        json!({"ram": [{"numa_node": 0, "size_kb": 1497780}],
               "cpus": [{"cpu": 0, "numa_node": 0, "thread_siblings": [0]}, {"cpu": 1, "numa_node": 0, "thread_siblings": [1]},
                        {"cpu": 2, "numa_node": 0, "thread_siblings": [2]}],
               "nics": [{"name": "eth0", "numa_node": -1}, {"name": "eth1", "numa_node": -1}]})
    );
}

// ------------------------------------------------------------------------------------------
// 2. A synthetic server

fn dimm(handle: u16, locator: &str, size: u16, ext: u32) -> Vec<u8> {
    let mut f = vec![0u8; 0x28 - 4];
    let mut set = |off: usize, b: &[u8]| f[off - 4..off - 4 + b.len()].copy_from_slice(b);
    set(0x04, &0x1000u16.to_le_bytes());
    set(0x06, &0xFFFEu16.to_le_bytes());
    set(0x08, &72u16.to_le_bytes());
    set(0x0A, &64u16.to_le_bytes());
    set(0x0C, &size.to_le_bytes());
    set(0x0E, &[0x09, 0, 1, 2, 0x1A]);
    set(0x15, &3200u16.to_le_bytes());
    set(0x17, &[3, 4, 0, 5, 2]);
    set(0x1C, &ext.to_le_bytes());
    set(0x20, &2933u16.to_le_bytes());
    if size == 0 {
        return smbios::encode(17, handle, &f, &[locator, "Not Specified"]);
    }
    smbios::encode(17, handle, &f, &[locator, "Not Specified", "00CE00B300CE", "0123ABCD", "M393A4K40DB3-CWE"])
}

fn processor(handle: u16, socket: &str) -> Vec<u8> {
    let mut f = vec![0u8; 0x30 - 4];
    let mut set = |off: usize, b: &[u8]| f[off - 4..off - 4 + b.len()].copy_from_slice(b);
    set(0x04, &[1, 3, 0xB3, 2]);
    set(0x08, &[0x57, 0x06, 0x05, 0x00, 0xFF, 0xFB, 0xEB, 0xBF]);
    set(0x10, &[3, 0x8C]);
    set(0x12, &100u16.to_le_bytes());
    set(0x14, &4000u16.to_le_bytes());
    set(0x16, &2100u16.to_le_bytes());
    set(0x18, &[0x41, 0x01]);
    set(0x23, &[2, 2, 4]);
    set(0x26, &0x04u16.to_le_bytes());
    set(0x28, &0xB3u16.to_le_bytes());
    smbios::encode(4, handle, &f, &[socket, "Intel", "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"])
}

fn server_smbios() -> Vec<u8> {
    let mut t = Vec::new();
    let mut bios = vec![1u8, 2, 0x00, 0xE8, 3, 0x0F];
    bios.extend([0u8; 10]);
    bios.extend([2, 13, 0xFF, 0xFF]);
    t.extend(smbios::encode(0, 0, &bios, &["Dell Inc.", "2.19.1", "11/14/2023"]));
    let mut sys = vec![1u8, 2, 0, 3];
    sys.extend([0x44, 0x45, 0x4c, 0x4c, 0x4b, 0x00, 0x10, 0x58, 0x80, 0x51, 0xb7, 0xc0, 0x4f, 0x4b, 0x47, 0x33]);
    sys.extend([6, 4, 5]);
    t.extend(smbios::encode(1, 0x100, &sys, &["Dell Inc.", "PowerEdge R650", "7XQ4KG3", "SKU=0A1B;ModelName=PowerEdge R650", "PowerEdge"]));
    t.extend(smbios::encode(2, 0x200, &[1, 2, 3, 4, 0], &["Dell Inc.", "0XYZ12", "A01", ".7XQ4KG3.CN1234"]));
    t.extend(smbios::encode(3, 0x300, &[1, 0x17, 0, 2, 0], &["Dell Inc.", "7XQ4KG3"]));
    t.extend(processor(0x400, "CPU1"));
    t.extend(processor(0x401, "CPU2"));
    let mut arr = vec![3u8, 3, 6];
    arr.extend((1u32 << 30).to_le_bytes());
    arr.extend(0xFFFEu16.to_le_bytes());
    arr.extend(4u16.to_le_bytes());
    t.extend(smbios::encode(16, 0x1000, &arr, &[]));
    t.extend(dimm(0x1100, "A1", 16384, 0));
    t.extend(dimm(0x1101, "A2", 0, 0));
    t.extend(dimm(0x1102, "B1", 0x7FFF, 32768));
    t.extend(dimm(0x1103, "B2", 0x7FFF, 65536));
    t.extend(smbios::encode(127, 0xFEFF, &[], &[]));
    t
}

fn lldp_frame() -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc, 0x88, 0xcc];
    for (t, v) in [(1u16, &b"\x04\x00\x1c\x73\xaa\xbb\xcc"[..]), (2, b"\x05Ethernet1"), (3, b"\x00\x78"), (0, b"")] {
        f.extend(((t << 9) | v.len() as u16).to_be_bytes());
        f.extend(v);
    }
    f
}

fn server() -> Tree {
    let t = Tree::new();
    // CPU: 2 sockets x 2 cores x 2 threads.
    let mut cpuinfo = String::new();
    for i in 0..8 {
        cpuinfo += &format!(
            "processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\ncpu MHz\t\t: 2100.000\nphysical id\t: {}\ncore id\t\t: {}\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep vmx avx512f\n\n",
            i / 4,
            i % 2
        );
        t.file(&format!("/sys/devices/system/cpu/cpu{i}/topology/physical_package_id"), format!("{}\n", i / 4));
        t.file(&format!("/sys/devices/system/cpu/cpu{i}/topology/core_id"), format!("{}\n", i % 2));
        let node = i / 4;
        t.link(&format!("/sys/devices/system/node/node{node}/cpu{i}"), &format!("../../cpu/cpu{i}"));
    }
    t.file("/proc/cpuinfo", cpuinfo);
    t.file("/sys/devices/system/cpu/present", "0-7\n");
    t.file("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "3900000\n");
    t.file("/sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       65810962 kB\nNode 0 MemFree:  1 kB\n");
    t.file("/sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:       65810962 kB\n");
    t.file("/proc/sys/kernel/arch", "x86_64\n");
    t.file("/proc/sys/kernel/hostname", "server-01\n");
    t.file("/proc/meminfo", "MemTotal:       131621924 kB\nMemFree:        120000000 kB\n");
    t.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz ipa-inspection-callback-url=http://192.0.2.1:6385/v1/continue_inspection BOOTIF=01-3c-ec-ef-00-00-01\n");
    t.file("/sys/firmware/dmi/tables/DMI", server_smbios());
    t.dir("/sys/firmware/efi/efivars");

    // Disks. sda: SATA SSD on AHCI, serial only in the unit serial number VPD page.
    let ata = "/sys/devices/pci0000:00/0000:00:17.0/ata1";
    let mut pg80 = vec![0u8, 0x80, 0, 20];
    pg80.extend(b"    BTYF12345678480B");
    t.scsi_disk(ata, "0:0:0:0", "sda", "8:0", 937703088, false, &[
        ("vendor", b"ATA     \n"), ("model", b"INTEL SSDSC2KB48\n"), ("type", b"0\n"), ("vpd_pg80", &pg80), ("wwid", b"naa.55cd2e414f5b3c1d\n"),
    ]);
    t.link("/sys/class/scsi_host/host0", "../../devices/pci0000:00/0000:00:17.0/ata1/host0/scsi_host/host0");
    t.file(&format!("{ata}/host0/scsi_host/host0/proc_name"), "ahci\n");
    // sdb: rotational SAS disk, described by udev.
    let sas = "/sys/devices/pci0000:00/0000:17:00.0/0000:18:00.0";
    t.scsi_disk(sas, "1:0:0:0", "sdb", "8:16", 7814037168, true, &[
        ("vendor", b"SEAGATE \n"), ("model", b"ST4000NM0023    \n"), ("type", b"0\n"), ("wwid", b"naa.5000c500a1b2c3d4\n"),
    ]);
    t.link("/sys/class/sas_host/host1", "../../devices/pci0000:00/0000:17:00.0/0000:18:00.0/host1/sas_host/host1");
    t.dir(&format!("{sas}/host1/sas_host/host1"));
    t.file(
        "/run/udev/data/b8:16",
        "S:disk/by-path/pci-0000:18:00.0-sas-phy0-lun-0\nE:ID_MODEL=ST4000NM0023\nE:ID_MODEL_ENC=ST4000NM0023\\x20\\x20\\x20\\x20\nE:ID_SCSI_SERIAL=Z1Z2ABCD\nE:ID_SERIAL_SHORT=5000c500a1b2c3d4\nE:ID_WWN=0x5000c500a1b2c3d4\nE:ID_WWN_WITH_EXTENSION=0x5000c500a1b2c3d4\n",
    );
    // sdc: a RAID controller's virtual disk, NAA with vendor extension, no transport.
    let raid = "/sys/devices/pci0000:40/0000:40:01.1/0000:41:00.0";
    let mut pg80 = vec![0u8, 0x80, 0, 32];
    pg80.extend(b"00ee9407851b1095300036a76a80e04e");
    t.scsi_disk(raid, "2:3:111:0", "sdc", "8:32", 936640512, false, &[
        ("vendor", b"DELL    \n"), ("model", b"PERC H755 Front \n"), ("type", b"0\n"), ("vpd_pg80", &pg80), ("wwid", b"naa.6f4ee0806aa736003095101b850794ee\n"),
    ]);
    t.link("/sys/class/scsi_host/host2", "../../devices/pci0000:40/0000:40:01.1/0000:41:00.0/host2/scsi_host/host2");
    t.file(&format!("{raid}/host2/scsi_host/host2/proc_name"), "megaraid_sas\n");
    // nvme0n1.
    let nvme = "/sys/devices/pci0000:00/0000:00:1d.0/0000:3b:00.0/nvme/nvme0";
    t.file(&format!("{nvme}/model"), "SAMSUNG MZQL2960HCJR-00A07               \n");
    t.file(&format!("{nvme}/serial"), "S64FNE0R123456      \n");
    t.block_at(&format!("{nvme}/nvme0n1"), "nvme0n1", "259:0", 1875385008, false, 512, 512);
    t.link(&format!("{nvme}/nvme0n1/device"), "../../nvme0");
    t.file(&format!("{nvme}/nvme0n1/wwid"), "eui.36344630529004560025384500000001\n");
    // Left out: a CD-ROM, a loop device, a RAM disk, an empty disk, an LVM volume.
    t.scsi_disk(ata, "3:0:0:0", "sr0", "11:0", 2097152, true, &[("type", b"5\n")]);
    t.block("/sys/devices/virtual", "loop0", "7:0", 1000000, false, 512, 512);
    t.block("/sys/devices/virtual", "ram0", "1:0", 131072, false, 512, 512);
    t.scsi_disk(ata, "4:0:0:0", "sdd", "8:48", 0, true, &[("type", b"0\n")]);
    t.block("/sys/devices/virtual", "dm-0", "253:0", 200000000, false, 512, 512);
    t.file("/sys/devices/virtual/block/dm-0/dm/uuid", "LVM-Zx1y2\n");
    // by-path links (two for sda, as recent udev makes; the sorted last wins).
    t.link("/dev/disk/by-path/pci-0000:00:17.0-ata-1", "../../sda");
    t.link("/dev/disk/by-path/pci-0000:00:17.0-ata-1.0", "../../sda");
    t.link("/dev/disk/by-path/pci-0000:00:17.0-ata-1.0-part1", "../../sda1");
    t.link("/dev/disk/by-path/pci-0000:18:00.0-sas-phy0-lun-0", "../../sdb");
    t.link("/dev/disk/by-path/pci-0000:41:00.0-scsi-0:3:111:0", "../../sdc");
    t.link("/dev/disk/by-path/pci-0000:3b:00.0-nvme-1", "../../nvme0n1");

    // NICs: two i40e ports, a bond, a VLAN, a port with a locally assigned MAC, lo, a bridge.
    for (i, (name, mac, carrier, speed)) in [("eno1", "3c:ec:ef:00:00:01", "1", "10000"), ("eno2", "3c:ec:ef:00:00:02", "0", "-1"), ("eno3", "fa:16:3e:00:00:03", "1", "1000")].iter().enumerate() {
        let pci = format!("/sys/devices/pci0000:17/0000:17:02.0/0000:1a:00.{i}");
        t.file(&format!("{pci}/vendor"), "0x8086\n");
        t.file(&format!("{pci}/device"), "0x1572\n");
        t.file(&format!("{pci}/class"), "0x020000\n");
        t.file(&format!("{pci}/revision"), "0x02\n");
        if i < 2 {
            t.file(&format!("{pci}/numa_node"), "0\n");
        }
        t.link(&format!("{pci}/driver"), "../../../../bus/pci/drivers/i40e");
        t.link(&format!("/sys/bus/pci/devices/0000:1a:00.{i}"), &format!("../../..{}", pci.trim_start_matches("/sys")));
        let net = format!("{pci}/net/{name}");
        t.file(&format!("{net}/address"), format!("{mac}\n"));
        t.file(&format!("{net}/carrier"), format!("{carrier}\n"));
        t.file(&format!("{net}/speed"), format!("{speed}\n"));
        t.link(&format!("{net}/device"), &format!("../../../0000:1a:00.{i}"));
        t.link(&format!("/sys/class/net/{name}"), &format!("../../devices/pci0000:17/0000:17:02.0/0000:1a:00.{i}/net/{name}"));
    }
    let nvme_pci = "/sys/devices/pci0000:00/0000:00:1d.0/0000:3b:00.0";
    for (f, v) in [("vendor", "0x144d\n"), ("device", "0xa80a\n"), ("class", "0x010802\n"), ("numa_node", "1\n")] {
        t.file(&format!("{nvme_pci}/{f}"), v);
    }
    t.link("/sys/bus/pci/devices/0000:3b:00.0", "../../../devices/pci0000:00/0000:00:1d.0/0000:3b:00.0");
    for (name, mac, extra) in [("bond0", "3c:ec:ef:00:00:01", "bonding"), ("eno1.100", "3c:ec:ef:00:00:01", ""), ("lo", "00:00:00:00:00:00", ""), ("virbr0", "52:54:00:12:34:56", "bridge")] {
        let v = format!("/sys/devices/virtual/net/{name}");
        t.file(&format!("{v}/address"), format!("{mac}\n"));
        t.file(&format!("{v}/carrier"), "1\n");
        if !extra.is_empty() {
            t.dir(&format!("{v}/{extra}"));
        }
        t.link(&format!("/sys/class/net/{name}"), &format!("../../devices/virtual/net/{name}"));
    }
    t.file(
        "/proc/net/fib_trie",
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.0.0/16 2 0 2\n        |-- 10.0.0.15\n           /32 host LOCAL\n        |-- 10.0.1.5\n           /32 host LOCAL\n        |-- 10.0.100.15\n           /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n",
    );
    t.file(
        "/proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eno1\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eno1\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
bond0\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
eno1.100\t0064000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
    );
    t.file(
        "/proc/net/if_inet6",
        "fe800000000000003eecefffff000001 02 40 20 80     eno1\n20010db8000000000000000000000015 02 40 00 00     eno1.100\nfe800000000000003eecefffff000001 05 40 20 80     eno1.100\n00000000000000000000000000000001 01 80 10 80       lo\n",
    );
    t.file("/ferric-lldp/eno1", lldp_frame());
    t.file("/var/log/syslog", "Jan  1 00:00:00 server-01 kernel: hello\n");
    t
}

#[test]
fn synthetic_server() {
    let t = server();
    let c = collect(&t.root, ALL);
    let inv = &c.inventory;
    assert_eq!(
        inv["cpu"],
        json!({"model_name": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "frequency": "3900.0000", "count": 8,
               "architecture": "x86_64", "flags": ["fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "vmx", "avx512f"],
               "socket_count": 2})
    );
    assert_eq!(inv["memory"], json!({"total": 131621924u64 * 1024, "physical_mb": 16384 + 32768 + 65536}));
    let disks = json!([
        {"name": "/dev/sda", "model": "INTEL SSDSC2KB48", "size": 937703088u64 * 512, "rotational": false,
         "wwn": "0x55cd2e414f5b3c1d", "serial": "BTYF12345678480B", "vendor": "ATA", "wwn_with_extension": "0x55cd2e414f5b3c1d",
         "wwn_vendor_extension": null, "hctl": "0:0:0:0", "by_path": "/dev/disk/by-path/pci-0000:00:17.0-ata-1.0",
         "logical_sectors": 512, "physical_sectors": 4096, "tran": "sata"},
        {"name": "/dev/sdb", "model": "ST4000NM0023", "size": 7814037168u64 * 512, "rotational": true,
         "wwn": "0x5000c500a1b2c3d4", "serial": "Z1Z2ABCD", "vendor": "SEAGATE", "wwn_with_extension": "0x5000c500a1b2c3d4",
         "wwn_vendor_extension": null, "hctl": "1:0:0:0", "by_path": "/dev/disk/by-path/pci-0000:18:00.0-sas-phy0-lun-0",
         "logical_sectors": 512, "physical_sectors": 512, "tran": "sas"},
        {"name": "/dev/sdc", "model": "PERC H755 Front", "size": 479559942144u64, "rotational": false,
         "wwn": "0x6f4ee0806aa736003095101b850794ee", "serial": "00ee9407851b1095300036a76a80e04e", "vendor": "DELL",
         "wwn_with_extension": "0x6f4ee0806aa736003095101b850794ee", "wwn_vendor_extension": "0x3095101b850794ee",
         "hctl": "2:3:111:0", "by_path": "/dev/disk/by-path/pci-0000:41:00.0-scsi-0:3:111:0",
         "logical_sectors": 512, "physical_sectors": 512, "tran": null},
        {"name": "/dev/nvme0n1", "model": "SAMSUNG MZQL2960HCJR-00A07", "size": 1875385008u64 * 512, "rotational": false,
         "wwn": "eui.36344630529004560025384500000001", "serial": "S64FNE0R123456", "vendor": null, "wwn_with_extension": null,
         "wwn_vendor_extension": null, "hctl": null, "by_path": "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1",
         "logical_sectors": 512, "physical_sectors": 512, "tran": "nvme"},
    ]);
    assert_eq!(inv["disks"], disks);
    let eno1_lldp = json!([[1, "04001c73aabbcc"], [2, "0545746865726e657431"], [3, "0078"], [0, ""]]);
    let iface = |name: &str, mac: &str, v4: Value, v6: Value, carrier: bool, lldp: Value, vendor: Value, product: Value, speed: Value, pci: Value, driver: Value| {
        json!({"name": name, "mac_address": mac, "ipv4_address": v4, "ipv6_address": v6, "has_carrier": carrier, "lldp": lldp,
               "vendor": vendor, "product": product, "client_id": null, "biosdevname": null, "speed_mbps": speed,
               "pci_address": pci, "driver": driver})
    };
    let n = Value::Null;
    assert_eq!(
        inv["interfaces"],
        json!([
            iface("bond0", "3c:ec:ef:00:00:01", json!("10.0.1.5"), n.clone(), true, json!([]), n.clone(), n.clone(), n.clone(), n.clone(), n.clone()),
            iface("eno1", "3c:ec:ef:00:00:01", json!("10.0.0.15"), json!("fe80::3eec:efff:ff00:1%eno1"), true, eno1_lldp.clone(),
                  json!("0x8086"), json!("0x1572"), json!(10000), json!("0000:1a:00.0"), json!("i40e")),
            iface("eno1.100", "3c:ec:ef:00:00:01", json!("10.0.100.15"), json!("2001:db8::15"), true, json!([]), n.clone(), n.clone(), n.clone(), n.clone(), n.clone()),
            iface("eno2", "3c:ec:ef:00:00:02", n.clone(), n.clone(), false, json!([]), json!("0x8086"), json!("0x1572"), n.clone(),
                  json!("0000:1a:00.1"), json!("i40e")),
        ])
    );
    assert!(has_warning(&c, "interface eno3: MAC fa:16:3e:00:00:03 looks locally assigned"));
    assert_eq!(
        inv["system_vendor"],
        json!({"product_name": "PowerEdge R650 (SKU=0A1B;ModelName=PowerEdge R650)", "serial_number": "7XQ4KG3", "manufacturer": "Dell Inc.",
               "firmware": {"vendor": "Dell Inc.", "version": "2.19.1", "build_date": "11/14/2023"}})
    );
    assert_eq!(inv["boot"], json!({"current_boot_mode": "uefi", "pxe_interface": "01-3c-ec-ef-00-00-01"}));
    assert_eq!(inv["hostname"], "server-01");
    assert_eq!((&inv["bmc_address"], &inv["bmc_v6address"], &inv["bmc_mac"]), (&n, &n, &n));

    // Plug-in data.
    let pd = &c.plugin_data;
    assert_eq!(pd["root_disk"], disks[2], "the smallest disk of 4 GiB or more");
    assert_eq!(pd["boot_interface"], "01-3c-ec-ef-00-00-01");
    assert_eq!(pd["configuration"]["managers"], json!([{"name": "generic_hardware_manager", "version": "1.2"}]));
    // Every interface IPA lists, the one left out of the inventory for its MAC included.
    assert_eq!(pd["lldp_raw"], json!({"bond0": [], "eno1": eno1_lldp, "eno1.100": [], "eno2": [], "eno3": []}));
    assert_eq!(
        pd["pci_devices"],
        json!([
            {"vendor_id": "8086", "product_id": "1572", "class": "020000", "revision": "02", "bus": "0000:1a:00.0", "numa_node_id": "0"},
            {"vendor_id": "8086", "product_id": "1572", "class": "020000", "revision": "02", "bus": "0000:1a:00.1", "numa_node_id": "0"},
            {"vendor_id": "8086", "product_id": "1572", "class": "020000", "revision": "02", "bus": "0000:1a:00.2", "numa_node_id": null},
            {"vendor_id": "144d", "product_id": "a80a", "class": "010802", "revision": null, "bus": "0000:3b:00.0", "numa_node_id": "1"},
        ])
    );
    assert_eq!(
        pd["numa_topology"],
        json!({"ram": [{"numa_node": 0, "size_kb": 65810962}, {"numa_node": 1, "size_kb": 65810962}],
               "cpus": [{"cpu": 0, "numa_node": 0, "thread_siblings": [0, 2]}, {"cpu": 1, "numa_node": 0, "thread_siblings": [1, 3]},
                        {"cpu": 0, "numa_node": 1, "thread_siblings": [4, 6]}, {"cpu": 1, "numa_node": 1, "thread_siblings": [5, 7]}],
               "nics": [{"name": "eno1", "numa_node": 0}, {"name": "eno2", "numa_node": 0}]})
    );
    let dmi = &pd["dmi"];
    assert_eq!(dmi["bios"]["Vendor"], "Dell Inc.");
    assert_eq!(dmi["bios"]["Release Date"], "11/14/2023");
    assert_eq!(dmi["bios"]["Address"], "0xE8000");
    assert_eq!(dmi["bios"]["Runtime Size"], "96 kB");
    assert_eq!(dmi["bios"]["ROM Size"], "1 MB");
    assert_eq!(dmi["bios"]["BIOS Revision"], "2.13");
    assert_eq!(dmi["cpu"].as_array().unwrap().len(), 2);
    let cpu = &dmi["cpu"][1];
    assert_eq!(cpu["Socket Designation"], "CPU2");
    assert_eq!(cpu["Family"], "Xeon");
    assert_eq!(cpu["ID"], "57 06 05 00 FF FB EB BF");
    assert_eq!(cpu["Voltage"], "1.2 V");
    assert_eq!(cpu["Max Speed"], "4000 MHz");
    assert_eq!(cpu["Current Speed"], "2100 MHz");
    assert_eq!(cpu["Status"], "Populated, Enabled");
    assert_eq!((&cpu["Core Count"], &cpu["Thread Count"]), (&json!("2"), &json!("4")));
    assert_eq!(dmi["memory"]["Number Of Devices"], 4);
    assert_eq!(dmi["memory"]["Maximum Capacity"], "1 TB");
    assert_eq!(dmi["memory"]["Error Correction Type"], "Multi-bit ECC");
    assert!(dmi["memory"].get("Handle").is_none());
    let devs = dmi["memory"]["devices"].as_array().unwrap();
    assert_eq!(devs.iter().map(|d| d["Size"].as_str().unwrap()).collect::<Vec<_>>(), ["16 GB", "No Module Installed", "32 GB", "64 GB"]);
    assert_eq!(devs[0]["Locator"], "A1");
    assert_eq!(devs[0]["Part Number"], "M393A4K40DB3-CWE");
    assert_eq!(dmi["system"]["UUID"], "4c4c4544-004b-5810-8051-b7c04f4b4733");
    assert_eq!(dmi["system"]["SKU Number"], "SKU=0A1B;ModelName=PowerEdge R650");
    assert_eq!(dmi["chassis"]["Serial Number"], "7XQ4KG3");
    assert_eq!(dmi["baseboard"]["Product Name"], "0XYZ12");

    let logs = untar(pd["logs"].as_str().unwrap());
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["proc/cmdline", "udev/sdb", "var/log/syslog"]);
    let udev: Value = serde_json::from_slice(&logs[1].1).unwrap();
    assert_eq!(udev["ID_SCSI_SERIAL"], "Z1Z2ABCD");
    assert_eq!(logs[2].1, b"Jan  1 00:00:00 server-01 kernel: hello\n");
    assert_eq!(c.warnings, ["interface eno3: MAC fa:16:3e:00:00:03 looks locally assigned (fa:), left out as IPA does"]);
}

#[test]
fn without_the_default_collector_there_is_no_inventory() {
    let t = server();
    let c = collect(&t.root, &["pci-devices", "extra-hardware"]);
    assert_eq!(c.inventory, Value::Null);
    assert_eq!(c.plugin_data.keys().collect::<Vec<_>>(), ["pci_devices"]);
    assert_eq!(c.warnings, ["unknown collector \"extra-hardware\": skipped"]);
}

#[test]
fn smbios_falls_back_to_sys_class_dmi_id() {
    let t = server();
    std::fs::remove_file(t.path("/sys/firmware/dmi/tables/DMI")).unwrap();
    let id = "/sys/class/dmi/id";
    for (f, v) in [("product_name", "PowerEdge R650"), ("product_sku", "SKU=0A1B"), ("product_serial", "7XQ4KG3"), ("sys_vendor", "Dell Inc."),
                   ("bios_vendor", "Dell Inc."), ("bios_version", "2.19.1"), ("bios_date", "11/14/2023")] {
        t.file(&format!("{id}/{f}"), format!("{v}\n"));
    }
    t.file("/sys/devices/system/memory/block_size_bytes", "8000000\n");
    for i in 0..8 {
        t.file(&format!("/sys/devices/system/memory/memory{i}/online"), if i == 7 { "0\n" } else { "1\n" });
    }
    let c = collect(&t.root, &["default"]);
    assert_eq!(
        c.inventory["system_vendor"],
        json!({"product_name": "PowerEdge R650 (SKU=0A1B)", "serial_number": "7XQ4KG3", "manufacturer": "Dell Inc.",
               "firmware": {"vendor": "Dell Inc.", "version": "2.19.1", "build_date": "11/14/2023"}})
    );
    assert_eq!(c.inventory["memory"]["physical_mb"], 7 * 128);
    assert!(has_warning(&c, "SMBIOS is unreadable: physical_mb from /sys/devices/system/memory"));
}

// ------------------------------------------------------------------------------------------
// 3. A hostile tree

#[test]
fn hostile_tree_gives_warnings_not_panics() {
    let t = Tree::new();
    // A 100 MB /proc/cpuinfo (sparse), garbage elsewhere, a FIFO for the hostname, a directory
    // where the architecture should be.
    let big = std::fs::File::create({
        t.dir("/proc");
        t.path("/proc/cpuinfo")
    })
    .unwrap();
    big.set_len(100 << 20).unwrap();
    t.file("/proc/meminfo", [0xffu8, 0xfe, 0, 1, 2, b':', b'\n']);
    t.dir("/proc/sys/kernel/arch");
    t.fifo("/proc/sys/kernel/hostname");
    t.fifo("/etc/hostname");
    t.file("/proc/cmdline", vec![b'x'; 3 << 20]);
    t.file("/sys/devices/system/cpu/present", "0-99999999\n");
    t.file("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "fast\n");
    let mut dmi = smbios::encode(1, 1, &[1, 2, 0, 0], &["A", "B"]);
    dmi.extend([17u8, 0x28, 0, 0, 1, 2, 3]); // cut short
    t.file("/sys/firmware/dmi/tables/DMI", dmi);
    t.file("/sys/firmware/efi", "not a directory");
    // Block devices: a link loop, a dangling link, garbage and huge sizes, odd names.
    t.link("/sys/block/sda", "../devices/x/sda");
    t.link("/sys/devices/x/sda", "../../block/sda");
    t.link("/sys/block/sdb", "/nowhere/at/all");
    t.file("/sys/block/sdc/size", "lots\n");
    t.file("/sys/block/sdd/size", vec![b'9'; 5 << 20]);
    t.file("/sys/block/sde/size", "2048\n");
    t.dir("/sys/block/sde/queue/rotational");
    t.fifo("/sys/block/sde/device/vpd_pg80");
    t.file("/sys/block/sde/device/wwid", "naa.zzzz\n");
    t.link("/sys/block/sde/device/scsi_device", "/sys/block/sde/device/scsi_device");
    t.file("/sys/block/sde/dev", "../../etc\n");
    t.file("/sys/block/sdf/size", "4096\n");
    t.file("/sys/block/sdf/device/vpd_pg80", [0u8, 0x83, 0, 4, 1, 2, 3, 4]);
    t.file("/sys/block/sdf/device/model", [b'M', 0, 0x1b, b'[', b'2', b'J', 0xc3, 0x28]);
    t.file("/sys/block/we ird\nname/size", "8\n");
    std::fs::create_dir_all(t.path("/sys/block").join(std::ffi::OsStr::from_bytes(b"bad\xffname"))).unwrap();
    t.link("/dev/disk/by-path/loop", "loop");
    t.link("/dev/disk/by-path/abs", "/etc/passwd");
    // NICs: no address, a huge address, a device link to nowhere, a loop.
    t.dir("/sys/class/net/eth0/address");
    t.link("/sys/class/net/eth0/device", "../../nowhere");
    t.file("/sys/class/net/eth1/address", vec![b'a'; 2 << 20]);
    t.link("/sys/class/net/eth1/device", "../eth1");
    t.fifo("/sys/class/net/eth1/carrier");
    t.link("/sys/class/net/eth2", "eth2");
    t.file("/proc/net/fib_trie", "|-- 999.1.1.1\n/32 host LOCAL\n|-- 10.0.0.1\n/32 host LOCAL\n");
    t.file("/proc/net/route", "Iface\nx\t\t\n");
    t.file("/proc/net/if_inet6", "zz zz zz zz zz eth1\n");
    t.file("/ferric-lldp/eth1", [0xffu8; 20]);
    // IPMI device node that is a plain file: not a device.
    t.file("/dev/ipmi0", "");
    // NUMA, PCI, logs.
    t.dir("/sys/devices/system/node/node0");
    t.dir("/sys/devices/system/node/nodeX");
    t.file("/sys/bus/pci/devices/0000:00:00.0/vendor", "garbage\n");
    t.file("/sys/bus/pci/devices/0000:00:01.0/vendor", "0x8086");
    t.file("/sys/bus/pci/devices/0000:00:01.0/device", "0x1234");
    t.file("/sys/bus/pci/devices/0000:00:01.0/class", "0x020000");
    t.link("/var/log/loop", "loop");
    t.fifo("/var/log/fifo");
    let big = std::fs::File::create(t.path("/var/log/huge.log")).unwrap();
    big.set_len(100 << 20).unwrap();
    t.link("/run/udev/data/b8:0", "/run/udev/data/b8:0");

    let start = Instant::now();
    let opts = Options { command_timeout: Duration::from_secs(2), lldp_timeout: Duration::from_secs(1), skip_bmc: false };
    let c = collect_with(&t.root, ALL, &opts);
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    println!("{:#?}", c.warnings);
    let inv = &c.inventory;
    for k in ["interfaces", "cpu", "disks", "memory", "bmc_address", "bmc_v6address", "bmc_mac", "system_vendor", "boot", "hostname"] {
        assert!(inv.get(k).is_some(), "missing {k}");
    }
    assert_eq!(inv["cpu"]["count"], 0);
    assert_eq!(inv["cpu"]["model_name"], "");
    assert_eq!(inv["cpu"]["architecture"], std::env::consts::ARCH);
    assert_eq!(inv["memory"]["total"], Value::Null);
    assert_eq!(inv["hostname"], Value::Null);
    assert_eq!(inv["boot"], json!({"current_boot_mode": "bios", "pxe_interface": null}));
    assert_eq!(inv["bmc_address"], Value::Null);
    assert_eq!(inv["system_vendor"]["product_name"], "B");
    let disks = inv["disks"].as_array().unwrap();
    let names: Vec<&str> = disks.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["/dev/sde", "/dev/sdf", "/dev/we ird\nname"]);
    assert_eq!(disks[0]["serial"], Value::Null);
    assert_eq!(disks[0]["wwn"], Value::Null);
    assert_eq!(disks[1]["model"], "M [2J\u{fffd}(");
    let ifaces = inv["interfaces"].as_array().unwrap();
    assert_eq!(ifaces.len(), 1, "eth1 only: eth0 has no MAC, eth2 is a link loop");
    assert_eq!(ifaces[0]["name"], "eth1");
    assert_eq!(ifaces[0]["has_carrier"], false);
    assert_eq!(ifaces[0]["mac_address"].as_str().unwrap().len(), 1 << 20);
    assert_eq!(ifaces[0]["lldp"][0][0], 127);
    assert!(!c.plugin_data.contains_key("numa_topology"));
    assert_eq!(c.plugin_data["pci_devices"].as_array().unwrap().len(), 1);
    assert!(c.plugin_data["dmi"]["memory"]["devices"].as_array().unwrap().is_empty());
    let logs = untar(c.plugin_data["logs"].as_str().unwrap());
    let huge = logs.iter().find(|(n, _)| n == "var/log/huge.log").unwrap();
    assert_eq!(huge.1.len(), 1 << 20);
    assert!(logs.iter().all(|(n, _)| n != "var/log/fifo"));

    for w in [
        "/proc/sys/kernel/hostname: not a regular file",
        "/proc/sys/kernel/arch: not a regular file",
        "/proc/meminfo has no MemTotal",
        "/sys/firmware/dmi/tables/DMI: structure at offset",
        "/sys/block/sda/size",
        "/sys/block/sdc/size: not a number",
        "/sys/block/sdd/size: not a number",
        "/sys/block/sde/queue/rotational",
        "/sys/block/sde/device/vpd_pg80: not a regular file",
        "/sys/block/sdf/device/vpd_pg80: not a unit serial number page",
        "skipping a name that is not UTF-8",
        "interface eth0 has no MAC address",
        "failed to get some NUMA information",
        "PCI device 0000:00:00.0",
        "no suitable root device detected",
        "an IPMI device exists",
    ] {
        if w == "an IPMI device exists" {
            assert!(!has_warning(&c, w), "a plain file is not an IPMI device");
            continue;
        }
        assert!(has_warning(&c, w), "no warning {w:?} in {:#?}", c.warnings);
    }
}

// ------------------------------------------------------------------------------------------
// The shape of real IPA inventories

/// Every key IPA emits is there, with the same JSON type when both sides have a value.
fn same_shape(ipa: &Value, ours: &Value, path: &str, problems: &mut Vec<String>) {
    match (ipa, ours) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    None => problems.push(format!("{path}.{k}: missing")),
                    Some(o) => same_shape(v, o, &format!("{path}.{k}"), problems),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // Lists of records: each of ours against each of IPA's.
            for x in a.iter().filter(|x| x.is_object()) {
                for y in b {
                    same_shape(x, y, &format!("{path}[]"), problems);
                }
            }
        }
        (a, b) => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(a) != kind(b) {
                problems.push(format!("{path}: IPA has a {}, ours is a {}", kind(a), kind(b)));
            }
        }
    }
}

#[test]
fn shape_matches_real_ipa_inventories() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection");
    let t = server();
    let ours = collect(&t.root, &["default", "lldp"]).inventory;
    let mine_here = collect(&fixtures().join("this-machine"), &["default"]).inventory;
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("shared/fixtures/inspection") {
        let path = entry.unwrap().path();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(inv) = doc.get("inventory").or_else(|| doc.get("data").and_then(|d| d.get("inventory"))) else { continue };
        for o in [&ours, &mine_here] {
            let mut problems = Vec::new();
            for k in ["cpu", "memory", "disks", "interfaces", "system_vendor", "boot", "bmc_address", "bmc_v6address", "bmc_mac", "hostname"] {
                if let Some(v) = inv.get(k) {
                    match o.get(k) {
                        Some(ov) => same_shape(v, ov, k, &mut problems),
                        None => problems.push(format!("{k}: missing")),
                    }
                }
            }
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 3, "expected several real inventories, saw {seen}");
    // IPA 13's own field lists (hardware.py serializable_fields), whatever the fixtures' age.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours["cpu"]), ["architecture", "count", "flags", "frequency", "model_name", "socket_count"]);
    assert_eq!(keys(&ours["memory"]), ["physical_mb", "total"]);
    assert_eq!(
        keys(&ours["disks"][0]),
        ["by_path", "hctl", "logical_sectors", "model", "name", "physical_sectors", "rotational", "serial", "size", "tran", "vendor", "wwn", "wwn_vendor_extension", "wwn_with_extension"]
    );
    assert_eq!(
        keys(&ours["interfaces"][0]),
        ["biosdevname", "client_id", "driver", "has_carrier", "ipv4_address", "ipv6_address", "lldp", "mac_address", "name", "pci_address", "product", "speed_mbps", "vendor"]
    );
    assert_eq!(keys(&ours["system_vendor"]), ["firmware", "manufacturer", "product_name", "serial_number"]);
    assert_eq!(keys(&ours["system_vendor"]["firmware"]), ["build_date", "vendor", "version"]);
    assert_eq!(keys(&ours["boot"]), ["current_boot_mode", "pxe_interface"]);
}

// ------------------------------------------------------------------------------------------
// This machine, live

#[test]
fn this_machine_live() {
    let c = collect(Path::new("/"), &["default"]);
    println!("{}", serde_json::to_string_pretty(&json!({"inventory": c.inventory, "plugin_data": c.plugin_data, "warnings": c.warnings})).unwrap());
    let cpu = &c.inventory["cpu"];
    assert!(cpu["count"].as_u64().unwrap() > 0);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(cpu["architecture"], "x86_64");
    assert!(c.inventory["memory"]["total"].as_u64().unwrap() > 0);
    assert!(c.inventory["hostname"].is_string());
    assert!(matches!(c.inventory["boot"]["current_boot_mode"].as_str(), Some("uefi" | "bios")));
}
