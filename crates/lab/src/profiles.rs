//! Simulated servers: a [`MachineSpec`] is everything a machine is made of (identity, firmware,
//! CPUs, DIMM slots, disks, NICs and what they are cabled to, other PCI devices, the BMC),
//! deterministic from `(profile, index, seed)`.
//!
//! Four profiles, each after a real model with real part numbers, capacities and PCI ids:
//!
//! | profile | model | CPU | memory | disks | NICs | boot |
//! |---|---|---|---|---|---|---|
//! | `compute-1u` | Dell PowerEdge R650 / Lenovo ThinkSystem SR630 V2 (by rack) | 2 x Xeon Gold 6338 / 5318Y | 256 GiB (16 x 16 / 8 x 32 GiB in 32 slots) | 2 SATA SSD on AHCI | 2 x 25G (PXE on the first) + 2 x 1G unplugged on the Dell | UEFI |
//! | `storage-2u` | Supermicro SSG-620P-ACR12H | 1 x Xeon Silver 4314 | 128 GiB (8 x 16 GiB in 16 slots) | 2 NVMe + 12 SAS HDD on a SAS HBA | 2 x 25G | UEFI |
//! | `gpu` | Supermicro AS -4124GS-TNR | 2 x AMD EPYC 7763 | 1 TiB (16 x 64 GiB in 32 slots) | 1 SATA SSD + 2 NVMe | 10G PXE + 10G unplugged + 2 x 100G; 4 NVIDIA A100 | UEFI |
//! | `edge` | HPE ProLiant DL20 Gen10 Plus | 1 x Xeon E-2336 | 32 GiB (2 x 16 GiB in 4 slots) | 1 SATA SSD | 2 x 1G to a management switch | legacy BIOS |
//!
//! [`fleet`] fills racks of [`RACK_SIZE`] machines with a fixed mix (12 compute, 4 storage,
//! 2 GPU, 2 edge per rack, the first four slots one of each so that even a small fleet has
//! every profile). Every machine's NICs are cabled to its rack's switches (LLDP neighbours:
//! `rNNN-tor-a`/`-b` on `EthernetN`, or `rNNN-mgmt` on `GigabitEthernet1/0/N` for edge
//! machines).
//!
//! Uniqueness: serial numbers, MACs, WWNs and DIMM serials are bijections of the machine index
//! (`key * prime + offset(seed) mod space`), so they never collide inside a fleet (up to
//! hundreds of thousands of machines); UUIDs are 122 random bits from the seed and index.
//! BMC addresses are `127.0.10.1` + index on 127.0.0.0/8, skipping `.0` and `.255`, so each
//! BMC can bind its own loopback address.
//!
//! Catalogue strings are `Cow<'static, str>` ([`Text`]) so that 10,000 specs share them.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use serde::Serialize;

/// A string that is usually one of the catalogue's (borrowed) and sometimes made up (owned).
pub type Text = Cow<'static, str>;

/// Machines per rack in [`fleet`].
pub const RACK_SIZE: usize = 20;

/// The first BMC address; machine `i` gets the `i`-th address after it that ends in neither
/// `.0` nor `.255`.
pub const BMC_BASE: Ipv4Addr = Ipv4Addr::new(127, 0, 10, 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Profile {
    #[serde(rename = "compute-1u")]
    Compute1u,
    #[serde(rename = "storage-2u")]
    Storage2u,
    #[serde(rename = "gpu")]
    Gpu,
    #[serde(rename = "edge")]
    Edge,
    /// A QEMU VM of the lab's QEMU mode ([`crate::qemu`]): not part of [`fleet`]'s racks.
    #[serde(rename = "qemu")]
    Qemu,
}

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::Compute1u, Profile::Storage2u, Profile::Gpu, Profile::Edge];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Compute1u => "compute-1u",
            Profile::Storage2u => "storage-2u",
            Profile::Gpu => "gpu",
            Profile::Edge => "edge",
            Profile::Qemu => "qemu",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().chain([Profile::Qemu]).find(|p| p.name() == s)
    }

    /// The prefix of machine names.
    fn short(self) -> &'static str {
        match self {
            Profile::Compute1u => "compute",
            Profile::Storage2u => "storage",
            Profile::Gpu => "gpu",
            Profile::Edge => "edge",
            Profile::Qemu => "qemu-vm",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    Uefi,
    Bios,
}

impl BootMode {
    /// IPA's and Ironic's name (`uefi`, `bios`).
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "uefi",
            BootMode::Bios => "bios",
        }
    }
}

/// One simulated server.
#[derive(Debug, Clone, Serialize)]
pub struct MachineSpec {
    /// Unique in a fleet, e.g. `compute-r001-05`.
    pub name: String,
    pub profile: Profile,
    /// The position in the fleet (what the spec was made from, with the profile and seed).
    pub index: usize,
    pub system: SystemSpec,
    pub bios: BiosSpec,
    pub cpu: CpuSpec,
    /// Every DIMM slot, empty ones included (`size_mib` 0).
    pub dimms: Vec<DimmSpec>,
    /// In the kernel's naming order (`sda`..., then `nvme0n1`...).
    pub disks: Vec<DiskSpec>,
    /// The first one is the NIC the machine network-boots from.
    pub nics: Vec<NicSpec>,
    /// PCI functions other than NICs and NVMe drives: storage controllers, GPUs.
    pub pci: Vec<PciSpec>,
    pub bmc: BmcSpec,
    pub boot_mode: BootMode,
}

/// SMBIOS type 1 (system), 2 (baseboard) and 3 (chassis) identity.
#[derive(Debug, Clone, Serialize)]
pub struct SystemSpec {
    pub vendor: Text,
    pub product: Text,
    pub serial: String,
    /// Lower-case, canonical form.
    pub uuid: String,
    pub sku: Text,
    pub family: Text,
    pub board_product: Text,
    pub board_serial: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BiosSpec {
    pub vendor: Text,
    pub version: Text,
    /// `MM/DD/YYYY`, as SMBIOS has it.
    pub date: Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuSpec {
    pub sockets: u32,
    /// Per socket.
    pub cores: u32,
    /// Per core.
    pub threads: u32,
    /// As /proc/cpuinfo's `model name`.
    pub model: Text,
    /// /proc/cpuinfo's `vendor_id` (`GenuineIntel`, `AuthenticAMD`).
    pub vendor_id: Text,
    /// SMBIOS's processor manufacturer and the Redfish `Manufacturer`.
    pub manufacturer: Text,
    pub family: u32,
    pub model_number: u32,
    pub stepping: u32,
    pub base_mhz: u32,
    pub max_mhz: u32,
    pub flags: &'static [&'static str],
}

impl CpuSpec {
    /// Logical CPUs: what IPA's `cpu.count` is.
    pub fn logical(&self) -> u32 {
        self.sockets * self.cores * self.threads
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MemoryType {
    #[serde(rename = "DDR4")]
    Ddr4,
    #[serde(rename = "DDR5")]
    Ddr5,
}

#[derive(Debug, Clone, Serialize)]
pub struct DimmSpec {
    pub locator: String,
    pub bank_locator: Text,
    /// 0: an empty slot.
    pub size_mib: u32,
    /// MT/s (0 for an empty slot).
    pub speed_mts: u32,
    pub memory_type: MemoryType,
    /// Empty for an empty slot, as the rest of the module's strings.
    pub manufacturer: Text,
    pub serial: String,
    pub part_number: Text,
    /// The socket the slot belongs to (0-based).
    pub socket: u32,
}

impl DimmSpec {
    pub fn is_empty(&self) -> bool {
        self.size_mib == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DiskKind {
    /// A SATA SSD on the chipset's AHCI controller.
    SataSsd,
    /// A SAS hard disk behind a SAS HBA.
    SasHdd,
    Nvme,
}

impl DiskKind {
    /// Redfish `Protocol`.
    pub fn protocol(self) -> &'static str {
        match self {
            DiskKind::SataSsd => "SATA",
            DiskKind::SasHdd => "SAS",
            DiskKind::Nvme => "NVMe",
        }
    }

    /// Redfish `MediaType`.
    pub fn media_type(self) -> &'static str {
        match self {
            DiskKind::SasHdd => "HDD",
            _ => "SSD",
        }
    }

    /// lsblk's `TRAN`, as the agent reports it.
    pub fn transport(self) -> &'static str {
        match self {
            DiskKind::SataSsd => "sata",
            DiskKind::SasHdd => "sas",
            DiskKind::Nvme => "nvme",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskSpec {
    /// The kernel's name (`sda`, `nvme0n1`).
    pub name: String,
    pub kind: DiskKind,
    pub model: Text,
    /// The SCSI vendor (`ATA` for SATA disks); empty for NVMe.
    pub vendor: Text,
    pub serial: String,
    /// As IPA reports it: `0x` + 16 hex digits (NAA) for SATA/SAS, `eui.` + 16 hex for NVMe.
    pub wwn: String,
    pub size_bytes: u64,
    pub rotational: bool,
    /// The PCI function of the controller (AHCI, HBA) or of the NVMe drive itself.
    pub controller_pci: Text,
    /// SCSI `H:C:T:L` for SATA/SAS, empty for NVMe.
    pub hctl: String,
    pub firmware: Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct NicSpec {
    pub name: Text,
    /// Lower-case, colon-separated.
    pub mac: String,
    /// The link speed when cabled (Mb/s).
    pub speed_mbps: u32,
    pub carrier: bool,
    /// The switch port at the other end (cabled NICs only).
    pub lldp: Option<LldpSpec>,
    pub driver: Text,
    pub vendor_id: u16,
    pub device_id: u16,
    pub pci_address: Text,
    pub numa_node: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LldpSpec {
    /// The switch's chassis ID (a MAC, LLDP chassis ID subtype 4).
    pub chassis_mac: String,
    /// The port ID (subtype 5, interface name), e.g. `Ethernet12`.
    pub port_id: String,
    pub system_name: String,
    pub port_description: String,
    /// The port's VLAN (802.1 port VLAN ID TLV).
    pub vlan: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct PciSpec {
    pub address: Text,
    pub vendor_id: u16,
    pub device_id: u16,
    /// 24-bit class code (`0x010601`: AHCI).
    pub class: u32,
    pub revision: u8,
    pub numa_node: i32,
    pub description: Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct BmcSpec {
    pub address: Ipv4Addr,
    pub mac: String,
    pub firmware: Text,
}

impl MachineSpec {
    /// The machine at `index` of a fleet made with `seed`, as `profile`.
    pub fn generate(profile: Profile, index: usize, seed: u64) -> MachineSpec {
        let g = Gen { index: index as u64, seed, rack: index / RACK_SIZE, slot: index % RACK_SIZE };
        let vendor_b = (g.rack as u64 + seed) % 2 == 1;
        let mut spec = match profile {
            Profile::Compute1u if vendor_b => compute_lenovo(&g),
            Profile::Compute1u => compute_dell(&g),
            Profile::Storage2u => storage(&g),
            Profile::Gpu => gpu(&g),
            Profile::Edge => edge(&g),
            Profile::Qemu => qemu_vm(&g),
        };
        spec.name = format!("{}-r{:03}-{:02}", profile.short(), g.rack + 1, g.slot + 1);
        spec.profile = profile;
        spec.index = index;
        spec
    }

    /// The MAC the machine network-boots from (the first NIC's).
    pub fn pxe_mac(&self) -> &str {
        &self.nics[0].mac
    }

    /// Installed memory, MiB (the sum of the DIMMs: IPA's `physical_mb`).
    pub fn memory_mib(&self) -> u64 {
        self.dimms.iter().map(|d| u64::from(d.size_mib)).sum()
    }

    /// What the kernel reports as `MemTotal` (kB): the installed memory less what firmware
    /// and the kernel keep (about 2 %, as on real machines).
    pub fn mem_total_kib(&self) -> u64 {
        let kib = self.memory_mib() * 1024;
        kib - kib / 50 - 38_912
    }

    /// The IPA `system_vendor.product_name`: the product with the SKU in parentheses (lshw).
    pub fn product_name_with_sku(&self) -> String {
        if self.system.sku.is_empty() {
            self.system.product.to_string()
        } else {
            format!("{} ({})", self.system.product, self.system.sku)
        }
    }
}

/// `n` machines mixed as racks are ([`RACK_SIZE`] per rack, 12 compute, 4 storage, 2 GPU and
/// 2 edge each), deterministic from `seed`.
pub fn fleet(n: usize, seed: u64) -> Vec<MachineSpec> {
    (0..n).map(|i| MachineSpec::generate(rack_profile(i % RACK_SIZE), i, seed)).collect()
}

/// The profile of a rack slot in [`fleet`].
pub fn rack_profile(slot: usize) -> Profile {
    use Profile::*;
    const LAYOUT: [Profile; RACK_SIZE] = [
        Compute1u, Storage2u, Gpu, Edge, Compute1u, Compute1u, Storage2u, Compute1u, Compute1u, Compute1u, Gpu, Compute1u,
        Storage2u, Compute1u, Edge, Compute1u, Compute1u, Storage2u, Compute1u, Compute1u,
    ];
    LAYOUT[slot % RACK_SIZE]
}

/// The `i`-th BMC address after [`BMC_BASE`], skipping `.0` and `.255`.
pub fn bmc_address(index: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(BMC_BASE.octets()[0], BMC_BASE.octets()[1], BMC_BASE.octets()[2], 0));
    let i = index as u32;
    Ipv4Addr::from(base + (i / 254) * 256 + 1 + i % 254)
}

// ------------------------------------------------------------------------------------------
// Deterministic values

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finalizer.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A prime larger than any factor of the spaces below (2, 3, 5), so `key * P` is a bijection
/// modulo each of them.
const P: u128 = 2_654_435_761;

struct Gen {
    index: u64,
    seed: u64,
    rack: usize,
    slot: usize,
}

const ALNUM: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl Gen {
    fn hash(&self, tag: u64) -> u64 {
        mix(self.seed ^ mix(tag ^ mix(self.index)))
    }

    /// A bijection of `key` in `0..space`, different per `tag` and seed.
    fn perm(&self, key: u64, space: u64, tag: u64) -> u64 {
        let off = mix(self.seed ^ mix(tag)) % space;
        ((u128::from(key) * P + u128::from(off)) % u128::from(space)) as u64
    }

    /// `width` characters from `alphabet`, unique per `key` in the alphabet's space.
    fn code(&self, key: u64, alphabet: &[u8], width: u32, tag: u64) -> String {
        let base = alphabet.len() as u64;
        let mut v = self.perm(key, base.pow(width), tag);
        let mut out = vec![b'0'; width as usize];
        for c in out.iter_mut().rev() {
            *c = alphabet[(v % base) as usize];
            v /= base;
        }
        String::from_utf8(out).unwrap()
    }

    fn alnum(&self, key: u64, width: u32, tag: u64) -> String {
        self.code(key, ALNUM, width, tag)
    }

    fn digits(&self, key: u64, width: u32, tag: u64) -> String {
        self.code(key, b"0123456789", width, tag)
    }

    fn hex(&self, key: u64, width: u32, tag: u64) -> String {
        self.code(key, b"0123456789ABCDEF", width, tag)
    }

    /// A MAC in `oui`: the low 24 bits a bijection of (machine, port); `port` < 8.
    fn mac(&self, oui: [u8; 3], port: u64) -> String {
        let low = self.perm(self.index * 8 + port, 1 << 24, u64::from(u32::from_be_bytes([0, oui[0], oui[1], oui[2]])));
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", oui[0], oui[1], oui[2], (low >> 16) as u8, (low >> 8) as u8, low as u8)
    }

    fn uuid(&self) -> String {
        let hi = self.hash(0x5555_0001);
        let lo = self.hash(0x5555_0002);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    fn pick<T: Copy>(&self, tag: u64, choices: &[T]) -> T {
        choices[(self.hash(tag) % choices.len() as u64) as usize]
    }

    fn disk_key(&self, n: u64) -> u64 {
        self.index * 32 + n
    }

    fn dimm_key(&self, n: u64) -> u64 {
        self.index * 64 + n
    }

    /// An NAA-5 WWN in `oui` (IPA's form, `0x5` + OUI + 36 bits).
    fn naa(&self, oui: &str, disk: u64) -> String {
        format!("0x5{oui}{}", self.hex(self.disk_key(disk), 9, 0x3333).to_lowercase())
    }

    /// An NVMe EUI-64 (`eui.` + OUI + 40 bits).
    fn eui(&self, oui: &str, disk: u64) -> String {
        format!("eui.{oui}{}", self.hex(self.disk_key(disk), 10, 0x4444).to_lowercase())
    }

    fn switch_mac(&self, oui: [u8; 3], which: u64) -> String {
        let low = self.perm(self.rack as u64 * 4 + which, 1 << 24, 0x7777);
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", oui[0], oui[1], oui[2], (low >> 16) as u8, (low >> 8) as u8, low as u8)
    }

    /// The LLDP neighbour of a NIC cabled to top-of-rack switch `tor` (0: a, 1: b), on port
    /// `Ethernet<slot + 1 + offset>`.
    fn tor(&self, tor: u64, offset: usize, vlan: u16) -> LldpSpec {
        let side = if tor == 0 { "a" } else { "b" };
        let port = format!("Ethernet{}", self.slot + 1 + offset);
        LldpSpec {
            chassis_mac: self.switch_mac([0x44, 0x4c, 0xa8], tor),
            port_description: format!("r{:03}-{:02} port {}", self.rack + 1, self.slot + 1, offset / RACK_SIZE + 1),
            port_id: port,
            system_name: format!("r{:03}-tor-{side}", self.rack + 1),
            vlan,
        }
    }

    /// The LLDP neighbour of a NIC on the rack's management switch.
    fn mgmt(&self, port: usize) -> LldpSpec {
        LldpSpec {
            chassis_mac: self.switch_mac([0x00, 0x2a, 0x6a], 2),
            port_id: format!("GigabitEthernet1/0/{}", self.slot * 2 + port + 1),
            system_name: format!("r{:03}-mgmt", self.rack + 1),
            port_description: format!("r{:03}-{:02} lom{}", self.rack + 1, self.slot + 1, port + 1),
            vlan: 10,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Parts

const FLAGS_ICELAKE: &[&str] = &[
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36",
    "clflush", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "pbe", "syscall", "nx", "pdpe1gb", "rdtscp", "lm",
    "constant_tsc", "art", "arch_perfmon", "pebs", "bts", "rep_good", "nopl", "xtopology", "nonstop_tsc", "cpuid", "aperfmperf",
    "pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3", "sdbg", "fma", "cx16", "xtpr", "pdcm",
    "pcid", "dca", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "avx", "f16c", "rdrand",
    "lahf_lm", "abm", "3dnowprefetch", "cpuid_fault", "epb", "cat_l3", "invpcid_single", "intel_ppin", "ssbd", "mba", "ibrs",
    "ibpb", "stibp", "ibrs_enhanced", "tpr_shadow", "vnmi", "flexpriority", "ept", "vpid", "ept_ad", "fsgsbase", "tsc_adjust",
    "bmi1", "avx2", "smep", "bmi2", "erms", "invpcid", "cqm", "rdt_a", "avx512f", "avx512dq", "rdseed", "adx", "smap",
    "avx512ifma", "clflushopt", "clwb", "intel_pt", "avx512cd", "sha_ni", "avx512bw", "avx512vl", "xsaveopt", "xsavec",
    "xgetbv1", "xsaves", "cqm_llc", "cqm_occup_llc", "cqm_mbm_total", "cqm_mbm_local", "split_lock_detect", "wbnoinvd", "dtherm",
    "ida", "arat", "pln", "pts", "avx512vbmi", "umip", "pku", "ospke", "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq",
    "avx512_vnni", "avx512_bitalg", "tme", "avx512_vpopcntdq", "la57", "rdpid", "fsrm", "md_clear", "pconfig", "flush_l1d",
    "arch_capabilities",
];

const FLAGS_ROCKETLAKE: &[&str] = &[
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36",
    "clflush", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "pbe", "syscall", "nx", "pdpe1gb", "rdtscp", "lm",
    "constant_tsc", "art", "arch_perfmon", "pebs", "bts", "rep_good", "nopl", "xtopology", "nonstop_tsc", "cpuid", "aperfmperf",
    "tsc_known_freq", "pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3", "sdbg", "fma",
    "cx16", "xtpr", "pdcm", "pcid", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "avx",
    "f16c", "rdrand", "lahf_lm", "abm", "3dnowprefetch", "cpuid_fault", "epb", "invpcid_single", "ssbd", "ibrs", "ibpb", "stibp",
    "ibrs_enhanced", "tpr_shadow", "vnmi", "flexpriority", "ept", "vpid", "ept_ad", "fsgsbase", "tsc_adjust", "bmi1", "avx2",
    "smep", "bmi2", "erms", "invpcid", "mpx", "avx512f", "avx512dq", "rdseed", "adx", "smap", "avx512ifma", "clflushopt",
    "intel_pt", "avx512cd", "sha_ni", "avx512bw", "avx512vl", "xsaveopt", "xsavec", "xgetbv1", "xsaves", "dtherm", "ida", "arat",
    "pln", "pts", "hwp", "hwp_notify", "hwp_act_window", "hwp_epp", "hwp_pkg_req", "avx512vbmi", "umip", "pku", "ospke",
    "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "rdpid", "fsrm", "md_clear",
    "flush_l1d", "arch_capabilities",
];

const FLAGS_MILAN: &[&str] = &[
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36",
    "clflush", "mmx", "fxsr", "sse", "sse2", "ht", "syscall", "nx", "mmxext", "fxsr_opt", "pdpe1gb", "rdtscp", "lm",
    "constant_tsc", "rep_good", "nopl", "nonstop_tsc", "cpuid", "extd_apicid", "aperfmperf", "rapl", "pni", "pclmulqdq",
    "monitor", "ssse3", "fma", "cx16", "pcid", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "aes", "xsave", "avx", "f16c",
    "rdrand", "lahf_lm", "cmp_legacy", "svm", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "osvw",
    "ibs", "skinit", "wdt", "tce", "topoext", "perfctr_core", "perfctr_nb", "bpext", "perfctr_llc", "mwaitx", "cpb", "cat_l3",
    "cdp_l3", "invpcid_single", "hw_pstate", "ssbd", "mba", "ibrs", "ibpb", "stibp", "vmmcall", "fsgsbase", "bmi1", "avx2",
    "smep", "bmi2", "invpcid", "cqm", "rdt_a", "rdseed", "adx", "smap", "clflushopt", "clwb", "sha_ni", "xsaveopt", "xsavec",
    "xgetbv1", "xsaves", "cqm_llc", "cqm_occup_llc", "cqm_mbm_total", "cqm_mbm_local", "clzero", "irperf", "xsaveerptr",
    "rdpru", "wbnoinvd", "amd_ppin", "brs", "arat", "npt", "lbrv", "svm_lock", "nrip_save", "tsc_scale", "vmcb_clean",
    "flushbyasid", "decodeassists", "pausefilter", "pfthreshold", "v_vmsave_vmload", "vgif", "v_spec_ctrl", "umip", "pku",
    "ospke", "vaes", "vpclmulqdq", "rdpid", "overflow_recov", "succor", "smca", "fsrm",
];

fn xeon_gold_6338() -> CpuSpec {
    CpuSpec {
        sockets: 2,
        cores: 32,
        threads: 2,
        model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz".into(),
        vendor_id: "GenuineIntel".into(),
        manufacturer: "Intel".into(),
        family: 6,
        model_number: 106,
        stepping: 6,
        base_mhz: 2000,
        max_mhz: 3200,
        flags: FLAGS_ICELAKE,
    }
}

fn xeon_gold_5318y() -> CpuSpec {
    CpuSpec { cores: 24, model: "Intel(R) Xeon(R) Gold 5318Y CPU @ 2.10GHz".into(), base_mhz: 2100, max_mhz: 3400, ..xeon_gold_6338() }
}

fn xeon_silver_4314() -> CpuSpec {
    CpuSpec { sockets: 1, cores: 16, model: "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz".into(), base_mhz: 2400, max_mhz: 3400, ..xeon_gold_6338() }
}

fn xeon_e_2336() -> CpuSpec {
    CpuSpec {
        sockets: 1,
        cores: 6,
        threads: 2,
        model: "Intel(R) Xeon(R) E-2336 CPU @ 2.90GHz".into(),
        vendor_id: "GenuineIntel".into(),
        manufacturer: "Intel".into(),
        family: 6,
        model_number: 167,
        stepping: 1,
        base_mhz: 2900,
        max_mhz: 4800,
        flags: FLAGS_ROCKETLAKE,
    }
}

fn epyc_7763() -> CpuSpec {
    CpuSpec {
        sockets: 2,
        cores: 64,
        threads: 2,
        model: "AMD EPYC 7763 64-Core Processor".into(),
        vendor_id: "AuthenticAMD".into(),
        manufacturer: "AMD".into(),
        family: 25,
        model_number: 1,
        stepping: 1,
        base_mhz: 2450,
        max_mhz: 3529,
        flags: FLAGS_MILAN,
    }
}

/// A DIMM population: `slots` named by `locator(socket, n)`, the first `populated` slots of
/// each socket's channel set (one DIMM per channel) filled with `part`.
struct Population {
    sockets: u32,
    slots_per_socket: u32,
    /// Per socket; they are the first slot of each channel (slots 0, 2, 4, ... when two per
    /// channel).
    populated: u32,
    size_mib: u32,
    speed: u32,
    kind: MemoryType,
    manufacturer: &'static str,
    part: &'static str,
    bank: &'static str,
}

fn dimms(g: &Gen, p: &Population, locator: impl Fn(u32, u32) -> String) -> Vec<DimmSpec> {
    let per_channel = p.slots_per_socket / p.populated.max(1);
    let mut out = Vec::new();
    for s in 0..p.sockets {
        for n in 0..p.slots_per_socket {
            let slot = s * p.slots_per_socket + n;
            let filled = n % per_channel == 0 && n / per_channel < p.populated;
            out.push(if filled {
                DimmSpec {
                    locator: locator(s, n),
                    bank_locator: p.bank.into(),
                    size_mib: p.size_mib,
                    speed_mts: p.speed,
                    memory_type: p.kind,
                    manufacturer: p.manufacturer.into(),
                    serial: g.hex(g.dimm_key(u64::from(slot)), 8, 0x6666),
                    part_number: p.part.into(),
                    socket: s,
                }
            } else {
                DimmSpec {
                    locator: locator(s, n),
                    bank_locator: p.bank.into(),
                    size_mib: 0,
                    speed_mts: 0,
                    memory_type: p.kind,
                    manufacturer: "".into(),
                    serial: String::new(),
                    part_number: "".into(),
                    socket: s,
                }
            });
        }
    }
    out
}

/// The kernel name of the `n`-th SCSI disk (`sda`, ..., `sdz`, `sdaa`, ...).
pub fn sd_name(n: usize) -> String {
    let mut n = n;
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    format!("sd{}", String::from_utf8(s).unwrap())
}

const AHCI: &str = "0000:00:17.0";

fn ahci_controller() -> PciSpec {
    PciSpec { address: AHCI.into(), vendor_id: 0x8086, device_id: 0xa182, class: 0x010601, revision: 0x09, numa_node: 0, description: "Intel C620 Series Chipset SATA Controller [AHCI mode]".into() }
}

struct Ssd {
    model: &'static str,
    size: u64,
    firmware: &'static str,
    oui: &'static str,
    serial: fn(&Gen, u64) -> String,
}

const INTEL_S4510_480: Ssd = Ssd { model: "INTEL SSDSC2KB480G8", size: 480_103_981_056, firmware: "XCV10132", oui: "5cd2e4", serial: intel_ssd_serial };
const INTEL_S4510_960: Ssd = Ssd { model: "INTEL SSDSC2KB960G8", size: 960_197_124_096, firmware: "XCV10132", oui: "5cd2e4", serial: intel_ssd_serial };
const MICRON_5300_960: Ssd = Ssd { model: "Micron_5300_MTFDDAK960TDS", size: 960_197_124_096, firmware: "D3MU001", oui: "00a075", serial: micron_serial };
const MICRON_5300_240: Ssd = Ssd { model: "Micron_5300_MTFDDAK240TDS", size: 240_057_409_536, firmware: "D3MU001", oui: "00a075", serial: micron_serial };

fn intel_ssd_serial(g: &Gen, n: u64) -> String {
    format!("PHYF{}{}GN", g.digits(g.disk_key(n), 7, 0x1111), if n % 2 == 0 { "480B" } else { "481B" })
}

fn micron_serial(g: &Gen, n: u64) -> String {
    format!("20{}", g.hex(g.disk_key(n), 10, 0x1112))
}

/// One numbering for every Supermicro model, so serials never repeat across them.
fn supermicro_serial(g: &Gen) -> String {
    format!("S{}", g.digits(g.index, 12, 0x3001))
}

/// SATA SSDs on the AHCI controller, `sd*` from `first_sd`, SCSI hosts from `first_host`.
fn sata_ssds(g: &Gen, ssd: &Ssd, count: u64, first_disk: u64) -> Vec<DiskSpec> {
    (0..count)
        .map(|i| {
            let n = first_disk + i;
            DiskSpec {
                name: sd_name(n as usize),
                kind: DiskKind::SataSsd,
                model: ssd.model.into(),
                vendor: "ATA".into(),
                serial: (ssd.serial)(g, n),
                wwn: format!("0x5{}{}", ssd.oui, g.hex(g.disk_key(n), 9, 0x3333).to_lowercase()),
                size_bytes: ssd.size,
                rotational: false,
                controller_pci: AHCI.into(),
                hctl: format!("{i}:0:0:0"),
                firmware: ssd.firmware.into(),
            }
        })
        .collect()
}

struct NvmeModel {
    model: &'static str,
    size: u64,
    firmware: &'static str,
    vendor_id: u16,
    device_id: u16,
    oui: &'static str,
    serial: fn(&Gen, u64) -> String,
}

const SAMSUNG_PM9A3_960: NvmeModel = NvmeModel {
    model: "SAMSUNG MZQL2960HCJR-00A07",
    size: 960_197_124_096,
    firmware: "GDC5602Q",
    vendor_id: 0x144d,
    device_id: 0xa80a,
    oui: "002538",
    serial: |g, n| format!("S64FNE0R{}", g.digits(g.disk_key(n), 6, 0x2222)),
};
const MICRON_7450_3T8: NvmeModel = NvmeModel {
    model: "Micron_7450_MTFDKCC3T8TFR",
    size: 3_840_755_982_336,
    firmware: "E2MU200",
    vendor_id: 0x1344,
    device_id: 0x51c3,
    oui: "00a075",
    serial: |g, n| format!("22{}", g.hex(g.disk_key(n), 10, 0x2223)),
};

/// NVMe drives `nvme0n1`..., disk numbers from `first_disk`, each at its own PCI address.
fn nvmes(g: &Gen, m: &NvmeModel, addrs: &[&'static str], first_disk: u64) -> (Vec<DiskSpec>, Vec<PciSpec>) {
    let mut disks = Vec::new();
    let mut pci = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let n = first_disk + i as u64;
        disks.push(DiskSpec {
            name: format!("nvme{i}n1"),
            kind: DiskKind::Nvme,
            model: m.model.into(),
            vendor: "".into(),
            serial: (m.serial)(g, n),
            wwn: g.eui(m.oui, n),
            size_bytes: m.size,
            rotational: false,
            controller_pci: (*a).into(),
            hctl: String::new(),
            firmware: m.firmware.into(),
        });
        pci.push(PciSpec { address: (*a).into(), vendor_id: m.vendor_id, device_id: m.device_id, class: 0x010802, revision: 0, numa_node: 0, description: m.model.into() });
    }
    (disks, pci)
}

#[allow(clippy::too_many_arguments)]
fn nic(name: &'static str, mac: String, speed: u32, lldp: Option<LldpSpec>, driver: &'static str, ids: (u16, u16), pci: &'static str, numa: i32) -> NicSpec {
    NicSpec {
        name: name.into(),
        mac,
        speed_mbps: speed,
        carrier: lldp.is_some(),
        lldp,
        driver: driver.into(),
        vendor_id: ids.0,
        device_id: ids.1,
        pci_address: pci.into(),
        numa_node: numa,
    }
}

const OUI_INTEL_E810: [u8; 3] = [0xb4, 0x96, 0x91];
const OUI_INTEL_X710: [u8; 3] = [0x3c, 0xfd, 0xfe];
const OUI_MELLANOX: [u8; 3] = [0xb8, 0xce, 0xf6];
const OUI_BROADCOM: [u8; 3] = [0x00, 0x0a, 0xf7];
const OUI_DELL: [u8; 3] = [0xd0, 0x94, 0x66];
const OUI_LENOVO: [u8; 3] = [0x08, 0x94, 0xef];
const OUI_SUPERMICRO: [u8; 3] = [0x3c, 0xec, 0xef];
const OUI_HPE: [u8; 3] = [0x94, 0x40, 0xc9];

/// The provisioning VLAN the PXE ports are on.
const PROVISIONING_VLAN: u16 = 100;
const TENANT_VLAN: u16 = 200;

fn bmc(g: &Gen, oui: [u8; 3], firmware: &'static str) -> BmcSpec {
    BmcSpec { address: bmc_address(g.index as usize), mac: g.mac(oui, 7), firmware: firmware.into() }
}

fn blank(g: &Gen, system: SystemSpec, bios: BiosSpec, cpu: CpuSpec, bmc: BmcSpec, boot_mode: BootMode) -> MachineSpec {
    MachineSpec {
        name: String::new(),
        profile: Profile::Compute1u,
        index: g.index as usize,
        system,
        bios,
        cpu,
        dimms: Vec::new(),
        disks: Vec::new(),
        nics: Vec::new(),
        pci: Vec::new(),
        bmc,
        boot_mode,
    }
}

// ------------------------------------------------------------------------------------------
// The models

fn compute_dell(g: &Gen) -> MachineSpec {
    let tag = g.alnum(g.index, 7, 0x1001);
    let system = SystemSpec {
        vendor: "Dell Inc.".into(),
        product: "PowerEdge R650".into(),
        serial: tag.clone(),
        uuid: g.uuid(),
        sku: "SKU=090E;ModelName=PowerEdge R650".into(),
        family: "PowerEdge".into(),
        board_product: "0Y2K8N".into(),
        board_serial: format!(".{tag}.CNFCP00{}.", g.digits(g.index, 5, 0x1002)),
    };
    let bios = BiosSpec { vendor: "Dell Inc.".into(), version: g.pick(0x1003, &["1.13.2", "1.14.1", "1.15.2"]).into(), date: "08/29/2024".into() };
    let mut m = blank(g, system, bios, xeon_gold_6338(), bmc(g, OUI_DELL, "7.10.70.00"), BootMode::Uefi);
    m.dimms = dimms(
        g,
        &Population { sockets: 2, slots_per_socket: 16, populated: 8, size_mib: 16384, speed: 3200, kind: MemoryType::Ddr4, manufacturer: "Samsung", part: "M393A2K43EB3-CWE", bank: "Not Specified" },
        |s, n| format!("{}{}", if s == 0 { 'A' } else { 'B' }, n + 1),
    );
    let ssd = if g.hash(0x1004) % 3 == 0 { INTEL_S4510_960 } else { INTEL_S4510_480 };
    m.disks = sata_ssds(g, &ssd, 2, 0);
    m.pci.push(ahci_controller());
    m.nics = vec![
        nic("ens1f0", g.mac(OUI_INTEL_E810, 0), 25000, Some(g.tor(0, 0, PROVISIONING_VLAN)), "ice", (0x8086, 0x159b), "0000:31:00.0", 0),
        nic("ens1f1", g.mac(OUI_INTEL_E810, 1), 25000, Some(g.tor(1, 0, TENANT_VLAN)), "ice", (0x8086, 0x159b), "0000:31:00.1", 0),
        nic("eno1", g.mac(OUI_BROADCOM, 2), 1000, None, "tg3", (0x14e4, 0x165f), "0000:04:00.0", 0),
        nic("eno2", g.mac(OUI_BROADCOM, 3), 1000, None, "tg3", (0x14e4, 0x165f), "0000:04:00.1", 0),
    ];
    m
}

fn compute_lenovo(g: &Gen) -> MachineSpec {
    let serial = format!("J30{}", g.alnum(g.index, 5, 0x2001));
    let system = SystemSpec {
        vendor: "Lenovo".into(),
        product: "ThinkSystem SR630 V2".into(),
        serial: serial.clone(),
        uuid: g.uuid(),
        sku: "7Z71CTO1WW".into(),
        family: "ThinkSystem".into(),
        board_product: "SB27B09897".into(),
        board_serial: format!("L1HF{}", g.alnum(g.index, 8, 0x2002)),
    };
    let bios = BiosSpec { vendor: "Lenovo".into(), version: g.pick(0x2003, &["AFE124F-3.10", "AFE126G-3.20"]).into(), date: "05/16/2024".into() };
    let mut m = blank(g, system, bios, xeon_gold_5318y(), bmc(g, OUI_LENOVO, "AFBT58B-5.00"), BootMode::Uefi);
    m.dimms = dimms(
        g,
        &Population { sockets: 2, slots_per_socket: 16, populated: 4, size_mib: 32768, speed: 2933, kind: MemoryType::Ddr4, manufacturer: "Micron Technology", part: "MTA36ASF4G72PZ-3G2R1", bank: "Not Specified" },
        |s, n| format!("DIMM {}", s * 16 + n + 1),
    );
    m.disks = sata_ssds(g, &MICRON_5300_960, 2, 0);
    m.pci.push(ahci_controller());
    m.nics = vec![
        nic("ens3f0np0", g.mac(OUI_MELLANOX, 0), 25000, Some(g.tor(0, 0, PROVISIONING_VLAN)), "mlx5_core", (0x15b3, 0x1015), "0000:98:00.0", 1),
        nic("ens3f1np1", g.mac(OUI_MELLANOX, 1), 25000, Some(g.tor(1, 0, TENANT_VLAN)), "mlx5_core", (0x15b3, 0x1015), "0000:98:00.1", 1),
    ];
    m
}

fn storage(g: &Gen) -> MachineSpec {
    let system = SystemSpec {
        vendor: "Supermicro".into(),
        product: "SSG-620P-ACR12H".into(),
        serial: supermicro_serial(g),
        uuid: g.uuid(),
        sku: "To be filled by O.E.M.".into(),
        family: "Family".into(),
        board_product: "X12DPi-NT6".into(),
        board_serial: format!("OM21{}", g.alnum(g.index, 6, 0x3002)),
    };
    let bios = BiosSpec { vendor: "American Megatrends International, LLC.".into(), version: "1.4b".into(), date: "01/19/2024".into() };
    let mut m = blank(g, system, bios, xeon_silver_4314(), bmc(g, OUI_SUPERMICRO, "01.01.33"), BootMode::Uefi);
    m.dimms = dimms(
        g,
        &Population { sockets: 1, slots_per_socket: 16, populated: 8, size_mib: 16384, speed: 2666, kind: MemoryType::Ddr4, manufacturer: "Samsung", part: "M393A2K43EB3-CWE", bank: "P0_Node0_Channel0_Dimm0" },
        |_, n| format!("P1-DIMM{}{}", (b'A' + (n / 2) as u8) as char, n % 2 + 1),
    );
    // 12 SAS disks on the HBA (host 0 .. target 11), sda..sdl; then the NVMe boot pair.
    let hba = "0000:17:00.0";
    m.pci.push(PciSpec { address: hba.into(), vendor_id: 0x1000, device_id: 0x00e6, class: 0x010700, revision: 1, numa_node: 0, description: "Broadcom / LSI SAS3808 Fusion-MPT Tri-Mode I/O Controller (HBA 9500-8i)".into() });
    let (model, size) = if g.hash(0x3003) % 2 == 0 { ("ST16000NM002G", 16_000_900_661_248u64) } else { ("ST12000NM002G", 12_000_138_625_024u64) };
    for t in 0..12u64 {
        m.disks.push(DiskSpec {
            name: sd_name(t as usize),
            kind: DiskKind::SasHdd,
            model: model.into(),
            vendor: "SEAGATE".into(),
            serial: format!("ZL2{}", g.alnum(g.disk_key(t), 5, 0x3004)),
            wwn: g.naa("000c50", t),
            size_bytes: size,
            rotational: true,
            controller_pci: hba.into(),
            hctl: format!("0:0:{t}:0"),
            firmware: "E004".into(),
        });
    }
    let (nv, pci) = nvmes(g, &SAMSUNG_PM9A3_960, &["0000:65:00.0", "0000:66:00.0"], 12);
    m.disks.extend(nv);
    m.pci.extend(pci);
    m.nics = vec![
        nic("enp94s0f0", g.mac(OUI_INTEL_X710, 0), 25000, Some(g.tor(0, 0, PROVISIONING_VLAN)), "i40e", (0x8086, 0x158b), "0000:5e:00.0", 0),
        nic("enp94s0f1", g.mac(OUI_INTEL_X710, 1), 25000, Some(g.tor(1, 0, TENANT_VLAN)), "i40e", (0x8086, 0x158b), "0000:5e:00.1", 0),
    ];
    m
}

fn gpu(g: &Gen) -> MachineSpec {
    let system = SystemSpec {
        vendor: "Supermicro".into(),
        product: "AS -4124GS-TNR".into(),
        serial: supermicro_serial(g),
        uuid: g.uuid(),
        sku: "To be filled by O.E.M.".into(),
        family: "Family".into(),
        board_product: "H12DSG-O-CPU".into(),
        board_serial: format!("UM21{}", g.alnum(g.index, 6, 0x4002)),
    };
    let bios = BiosSpec { vendor: "American Megatrends International, LLC.".into(), version: "2.7".into(), date: "10/25/2023".into() };
    let mut m = blank(g, system, bios, epyc_7763(), bmc(g, OUI_SUPERMICRO, "01.03.19"), BootMode::Uefi);
    m.dimms = dimms(
        g,
        &Population { sockets: 2, slots_per_socket: 16, populated: 8, size_mib: 65536, speed: 3200, kind: MemoryType::Ddr4, manufacturer: "Samsung", part: "M393A8G40AB2-CWE", bank: "P0 CHANNEL A" },
        |s, n| format!("P{}-DIMM{}{}", s + 1, (b'A' + (n / 2) as u8) as char, n % 2 + 1),
    );
    m.disks = sata_ssds(g, &MICRON_5300_240, 1, 0);
    m.pci.push(ahci_controller());
    let (nv, pci) = nvmes(g, &MICRON_7450_3T8, &["0000:c1:00.0", "0000:c2:00.0"], 1);
    m.disks.extend(nv);
    m.pci.extend(pci);
    for (i, a) in ["0000:01:00.0", "0000:41:00.0", "0000:81:00.0", "0000:c4:00.0"].into_iter().enumerate() {
        m.pci.push(PciSpec { address: a.into(), vendor_id: 0x10de, device_id: 0x20b5, class: 0x030200, revision: 0xa1, numa_node: (i / 2) as i32, description: "NVIDIA A100 80GB PCIe".into() });
    }
    m.nics = vec![
        nic("eno1", g.mac(OUI_INTEL_X710, 0), 10000, Some(g.tor(0, RACK_SIZE, PROVISIONING_VLAN)), "i40e", (0x8086, 0x15ff), "0000:45:00.0", 0),
        nic("eno2", g.mac(OUI_INTEL_X710, 1), 10000, None, "i40e", (0x8086, 0x15ff), "0000:45:00.1", 0),
        nic("ens21f0np0", g.mac(OUI_MELLANOX, 2), 100000, Some(g.tor(0, 0, TENANT_VLAN)), "mlx5_core", (0x15b3, 0x101b), "0000:a1:00.0", 1),
        nic("ens21f1np1", g.mac(OUI_MELLANOX, 3), 100000, Some(g.tor(1, 0, TENANT_VLAN)), "mlx5_core", (0x15b3, 0x101b), "0000:a1:00.1", 1),
    ];
    m
}

fn edge(g: &Gen) -> MachineSpec {
    let system = SystemSpec {
        vendor: "HPE".into(),
        product: "ProLiant DL20 Gen10 Plus".into(),
        serial: format!("CZ2{}", g.alnum(g.index, 7, 0x5001)),
        uuid: g.uuid(),
        sku: "P44113-B21".into(),
        family: "ProLiant".into(),
        board_product: "ProLiant DL20 Gen10 Plus".into(),
        board_serial: format!("PWUNK{}", g.alnum(g.index, 9, 0x5002)),
    };
    let bios = BiosSpec { vendor: "HPE".into(), version: "U60".into(), date: "03/01/2024".into() };
    let mut m = blank(g, system, bios, xeon_e_2336(), bmc(g, OUI_HPE, "iLO 5 v3.04"), BootMode::Bios);
    m.dimms = dimms(
        g,
        &Population { sockets: 1, slots_per_socket: 4, populated: 2, size_mib: 16384, speed: 3200, kind: MemoryType::Ddr4, manufacturer: "Micron Technology", part: "MTA9ASF2G72AZ-3G2B1", bank: "Not Specified" },
        |_, n| format!("PROC 1 DIMM {}", n + 1),
    );
    m.disks = sata_ssds(g, &MICRON_5300_960, 1, 0);
    m.pci.push(ahci_controller());
    m.nics = vec![
        nic("eno1", g.mac(OUI_BROADCOM, 0), 1000, Some(g.mgmt(0)), "tg3", (0x14e4, 0x165f), "0000:02:00.0", -1),
        nic("eno2", g.mac(OUI_BROADCOM, 1), 1000, Some(g.mgmt(1)), "tg3", (0x14e4, 0x165f), "0000:02:00.1", -1),
    ];
    m
}

/// A QEMU VM as `lab/qemu` defines them: what [`crate::qemu::argv`] gives QEMU, so what the
/// agent finds in the VM. One vCPU (TCG's `qemu64`), 768 MiB in one DIMM, a SATA SSD on AHCI
/// and an NVMe drive (sparse qcow2 files), a virtio-net NIC that network-boots (IPv6 on:
/// iPXE's autoconfiguration otherwise waits ~16 s) and an e1000 on an isolated network;
/// SeaBIOS (legacy boot). No switch: no LLDP.
fn qemu_vm(g: &Gen) -> MachineSpec {
    let system = SystemSpec {
        vendor: "Ferric Lab".into(),
        product: "QEMU TCG VM".into(),
        serial: format!("FLQ{}", g.alnum(g.index, 8, 0x7001)),
        uuid: g.uuid(),
        sku: "FL-QEMU-1".into(),
        family: "ferric lab".into(),
        board_product: "QEMU i440FX board".into(),
        board_serial: format!("FLB{}", g.alnum(g.index, 8, 0x7002)),
    };
    let bios = BiosSpec { vendor: "Ferric Lab".into(), version: "SeaBIOS-lab".into(), date: "12/01/2026".into() };
    let cpu = CpuSpec {
        sockets: 1,
        cores: 1,
        threads: 1,
        model: "QEMU Virtual CPU version 2.5+".into(),
        vendor_id: "AuthenticAMD".into(),
        manufacturer: "QEMU".into(),
        family: 15,
        model_number: 107,
        stepping: 1,
        base_mhz: 2000,
        max_mhz: 2000,
        flags: FLAGS_QEMU64,
    };
    let mut m = blank(g, system, bios, cpu, bmc(g, [0x52, 0x54, 0x01], "ferric lab BMC (QMP)"), BootMode::Bios);
    m.dimms = vec![DimmSpec {
        locator: "DIMM 0".into(),
        bank_locator: "".into(),
        size_mib: 768,
        speed_mts: 0,
        memory_type: MemoryType::Ddr4,
        manufacturer: "QEMU".into(),
        serial: String::new(),
        part_number: "".into(),
        socket: 0,
    }];
    m.disks = vec![
        DiskSpec {
            name: "sda".into(),
            kind: DiskKind::SataSsd,
            model: "FERRIC LAB SATA".into(),
            vendor: "ATA".into(),
            serial: format!("FLS{}", g.alnum(g.index, 8, 0x7003)),
            wwn: format!("0x5{}", g.hex(g.index, 15, 0x7004).to_lowercase()),
            size_bytes: 5 << 30,
            rotational: false,
            controller_pci: "0000:00:05.0".into(),
            hctl: "0:0:0:0".into(),
            firmware: "2.5+".into(),
        },
        DiskSpec {
            name: "nvme0n1".into(),
            kind: DiskKind::Nvme,
            model: "QEMU NVMe Ctrl".into(),
            vendor: "".into(),
            serial: format!("FLN{}", g.alnum(g.index, 8, 0x7005)),
            wwn: String::new(),
            size_bytes: 2 << 30,
            rotational: false,
            controller_pci: "0000:00:06.0".into(),
            hctl: String::new(),
            firmware: "10.0.2".into(),
        },
    ];
    m.pci = vec![
        PciSpec { address: "0000:00:05.0".into(), vendor_id: 0x8086, device_id: 0x2922, class: 0x010601, revision: 0x02, numa_node: -1, description: "Intel 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]".into() },
        PciSpec { address: "0000:00:06.0".into(), vendor_id: 0x1b36, device_id: 0x0010, class: 0x010802, revision: 0x02, numa_node: -1, description: "Red Hat, Inc. QEMU NVM Express Controller".into() },
    ];
    // QEMU's own OUI (52:54:00), the low bytes from the machine: unique per VM in a lab.
    let mac = |port: u64| {
        let v = g.index * 2 + port;
        format!("52:54:00:{:02x}:{:02x}:{:02x}", 0xf0 | ((v >> 16) & 0x0f) as u8, (v >> 8) as u8, v as u8)
    };
    m.nics = vec![
        NicSpec { name: "eth1".into(), mac: mac(0), speed_mbps: 0, carrier: true, lldp: None, driver: "virtio_net".into(), vendor_id: 0x1af4, device_id: 0x1000, pci_address: "0000:00:03.0".into(), numa_node: -1 },
        NicSpec { name: "eth0".into(), mac: mac(1), speed_mbps: 1000, carrier: true, lldp: None, driver: "e1000".into(), vendor_id: 0x8086, device_id: 0x100e, pci_address: "0000:00:04.0".into(), numa_node: -1 },
    ];
    m
}

const FLAGS_QEMU64: &[&str] = &[
    "fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2",
    "syscall", "nx", "lm", "nopl", "cpuid", "pni", "cx16", "hypervisor", "lahf_lm", "svm", "3dnowprefetch",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_of_scsi_disks() {
        assert_eq!(sd_name(0), "sda");
        assert_eq!(sd_name(25), "sdz");
        assert_eq!(sd_name(26), "sdaa");
        assert_eq!(sd_name(27), "sdab");
        assert_eq!(sd_name(26 + 26 * 26), "sdaaa");
    }

    #[test]
    fn bmc_addresses_skip_network_and_broadcast_looking_ones() {
        assert_eq!(bmc_address(0), Ipv4Addr::new(127, 0, 10, 1));
        assert_eq!(bmc_address(253), Ipv4Addr::new(127, 0, 10, 254));
        assert_eq!(bmc_address(254), Ipv4Addr::new(127, 0, 11, 1));
        assert_eq!(bmc_address(9999), Ipv4Addr::new(127, 0, 49, 94));
        let all: HashSet<_> = (0..20_000).map(bmc_address).collect();
        assert_eq!(all.len(), 20_000);
        assert!(all.iter().all(|a| a.octets()[3] != 0 && a.octets()[3] != 255 && a.is_loopback()));
    }

    #[test]
    fn specs_are_deterministic_and_seeded() {
        let a = serde_json::to_string(&fleet(30, 7)).unwrap();
        assert_eq!(a, serde_json::to_string(&fleet(30, 7)).unwrap());
        assert_ne!(a, serde_json::to_string(&fleet(30, 8)).unwrap());
        let m = MachineSpec::generate(Profile::Gpu, 12, 7);
        assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&MachineSpec::generate(Profile::Gpu, 12, 7)).unwrap());
    }

    #[test]
    fn profiles_are_what_their_table_says() {
        let c = MachineSpec::generate(Profile::Compute1u, 0, 0);
        assert_eq!((c.cpu.sockets, c.cpu.logical(), c.memory_mib()), (2, 128, 256 * 1024));
        assert_eq!(c.disks.iter().filter(|d| d.kind == DiskKind::SataSsd).count(), 2);
        assert!(c.nics[0].speed_mbps == 25000 && c.nics[1].speed_mbps == 25000);
        let l = MachineSpec::generate(Profile::Compute1u, RACK_SIZE, 0);
        assert_eq!((l.system.vendor.as_ref(), l.cpu.logical(), l.memory_mib()), ("Lenovo", 96, 256 * 1024));
        let s = MachineSpec::generate(Profile::Storage2u, 1, 0);
        assert_eq!((s.cpu.sockets, s.memory_mib()), (1, 128 * 1024));
        assert_eq!(s.disks.iter().filter(|d| d.kind == DiskKind::Nvme).count(), 2);
        assert_eq!(s.disks.iter().filter(|d| d.kind == DiskKind::SasHdd && d.rotational).count(), 12);
        let g = MachineSpec::generate(Profile::Gpu, 2, 0);
        assert_eq!((g.cpu.vendor_id.as_ref(), g.cpu.logical(), g.memory_mib()), ("AuthenticAMD", 256, 1024 * 1024));
        let e = MachineSpec::generate(Profile::Edge, 3, 0);
        assert_eq!((e.cpu.sockets, e.disks.len(), e.boot_mode), (1, 1, BootMode::Bios));
        for m in [&c, &l, &s, &g, &e] {
            assert!(m.dimms.iter().any(DimmSpec::is_empty), "{}: some slots are empty", m.name);
            assert!(m.nics[0].carrier && m.nics[0].lldp.is_some(), "{}: the PXE NIC is cabled", m.name);
            assert!(m.mem_total_kib() < m.memory_mib() * 1024);
        }
    }

    #[test]
    fn a_fleet_mixes_profiles_and_never_repeats_an_identifier() {
        let f = fleet(10_000, 42);
        let count = |p: Profile| f.iter().filter(|m| m.profile == p).count();
        assert_eq!((count(Profile::Compute1u), count(Profile::Storage2u), count(Profile::Gpu), count(Profile::Edge)), (6000, 2000, 1000, 1000));
        let small = fleet(4, 42);
        assert_eq!(small.iter().map(|m| m.profile).collect::<Vec<_>>(), Profile::ALL);
        let mut seen: HashSet<String> = HashSet::new();
        let mut unique = |kind: &str, v: &str| assert!(seen.insert(format!("{kind} {v}")), "{kind} {v} repeats");
        for m in &f {
            unique("name", &m.name);
            unique("serial", &m.system.serial);
            unique("uuid", &m.system.uuid);
            unique("board", &m.system.board_serial);
            unique("bmc", &m.bmc.address.to_string());
            unique("mac", &m.bmc.mac);
            for n in &m.nics {
                unique("mac", &n.mac);
                assert!(!n.mac.starts_with("fa:"));
            }
            for d in &m.disks {
                unique("disk serial", &d.serial);
                unique("wwn", &d.wwn);
            }
            for d in m.dimms.iter().filter(|d| !d.is_empty()) {
                unique("dimm serial", &d.serial);
            }
        }
        // Neighbours: the same switch for every machine of a rack, a different port each.
        let ports: HashSet<(String, String)> = f[..RACK_SIZE]
            .iter()
            .flat_map(|m| m.nics.iter().filter_map(|n| n.lldp.as_ref().map(|l| (l.system_name.clone(), l.port_id.clone()))))
            .collect();
        let cabled: usize = f[..RACK_SIZE].iter().map(|m| m.nics.iter().filter(|n| n.lldp.is_some()).count()).sum();
        assert_eq!(ports.len(), cabled);
    }
}
