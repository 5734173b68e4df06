//! A small SMBIOS (DMI) table parser: the raw table from `/sys/firmware/dmi/tables/DMI`
//! (the structure table, without the entry point), structures of type 0 (BIOS), 1 (system),
//! 2 (baseboard), 3 (chassis), 4 (processor), 16 (memory array) and 17 (memory device) decoded
//! into what the inventory and the `dmi-decode` collector need.
//!
//! Layout (DMTF DSP0134): each structure is a formatted area (`type`, `length`, `handle`,
//! then `length - 4` bytes of fields) followed by a string set: NUL-terminated strings, the
//! set ending with an extra NUL (two NULs when there are no strings). A string field holds a
//! 1-based index into the set; 0 means "no string". Type 127 ends the table.

use serde_json::{json, Map, Value};

/// The most structures read from one table (a real server has a few hundred).
const MAX_STRUCTURES: usize = 4096;

#[derive(Debug, Clone)]
pub struct Structure {
    pub kind: u8,
    pub handle: u16,
    /// The formatted area, header included: offsets are as in the specification.
    pub data: Vec<u8>,
    pub strings: Vec<String>,
}

impl Structure {
    pub fn byte(&self, off: usize) -> Option<u8> {
        self.data.get(off).copied()
    }

    pub fn word(&self, off: usize) -> Option<u16> {
        Some(u16::from_le_bytes([*self.data.get(off)?, *self.data.get(off + 1)?]))
    }

    pub fn dword(&self, off: usize) -> Option<u32> {
        let b = self.data.get(off..off + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn qword(&self, off: usize) -> Option<u64> {
        let b = self.data.get(off..off + 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    /// The string a field at `off` points to, trimmed; `None` when the field is absent (a
    /// short structure), `Some("")` when it is 0 or points past the set.
    pub fn string(&self, off: usize) -> Option<String> {
        let idx = self.byte(off)? as usize;
        if idx == 0 {
            return Some(String::new());
        }
        Some(self.strings.get(idx - 1).map(|s| s.trim().to_string()).unwrap_or_default())
    }

    /// The string, or "" when the field is absent.
    fn s(&self, off: usize) -> String {
        self.string(off).unwrap_or_default()
    }
}

/// Parse a structure table. Returns the structures read and, when the table is damaged, a
/// description of where decoding stopped.
pub fn parse(buf: &[u8]) -> (Vec<Structure>, Option<String>) {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 4 <= buf.len() {
        if out.len() >= MAX_STRUCTURES {
            return (out, Some(format!("more than {MAX_STRUCTURES} structures, the rest is ignored")));
        }
        let kind = buf[i];
        let len = buf[i + 1] as usize;
        let handle = u16::from_le_bytes([buf[i + 2], buf[i + 3]]);
        if len < 4 {
            return (out, Some(format!("structure at offset {i} has a length of {len}")));
        }
        if i + len > buf.len() {
            return (out, Some(format!("structure at offset {i} runs past the end of the table")));
        }
        // The string set: up to the first double NUL at or after the formatted area.
        let start = i + len;
        let Some(end) = (start..buf.len().saturating_sub(1)).find(|&k| buf[k] == 0 && buf[k + 1] == 0) else {
            return (out, Some(format!("structure at offset {i} has an unterminated string set")));
        };
        let strings = buf[start..end]
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        out.push(Structure { kind, handle, data: buf[i..i + len].to_vec(), strings });
        i = end + 2;
        if kind == 127 {
            break;
        }
    }
    (out, None)
}

/// The size of a type 17 memory device in bytes: `Some(0)` for an empty slot, `None` when
/// unknown. Handles the KiB granularity bit and the extended size field (32 GiB and up).
pub fn memory_device_bytes(s: &Structure) -> Option<u64> {
    let size = s.word(0x0C)?;
    match size {
        0 => Some(0),
        0xFFFF => None,
        0x7FFF => s.dword(0x1C).map(|e| u64::from(e & 0x7FFF_FFFF) << 20),
        v if v & 0x8000 != 0 => Some(u64::from(v & 0x7FFF) << 10),
        v => Some(u64::from(v) << 20),
    }
}

/// Installed memory in MiB, summed per module as lshw (and so IPA) does; `None` when no
/// module has a known size.
pub fn physical_mb(structs: &[Structure]) -> Option<u64> {
    let sizes: Vec<u64> = structs.iter().filter(|s| s.kind == 17).filter_map(memory_device_bytes).collect();
    let total: u64 = sizes.iter().map(|b| b >> 20).sum();
    (total > 0).then_some(total)
}

/// IPA's `system_vendor` as lshw builds it: the system's product name with the SKU in
/// parentheses, serial number and manufacturer (the chassis's when the system has none), and
/// the BIOS as firmware.
pub fn system_vendor(structs: &[Structure]) -> Option<Value> {
    let sys = structs.iter().find(|s| s.kind == 1);
    let chassis = structs.iter().find(|s| s.kind == 3);
    let bios = structs.iter().find(|s| s.kind == 0);
    if sys.is_none() && bios.is_none() {
        return None;
    }
    let mut product = sys.map(|s| s.s(5)).unwrap_or_default();
    if let Some(sku) = sys.and_then(|s| s.string(0x19)).filter(|k| !k.is_empty()) {
        product = format!("{product} ({sku})");
    }
    let mut manufacturer = sys.map(|s| s.s(4)).unwrap_or_default();
    let mut serial = sys.map(|s| s.s(7)).unwrap_or_default();
    if let Some(c) = chassis {
        if manufacturer.is_empty() {
            manufacturer = c.s(4);
        }
        if serial.is_empty() {
            serial = c.s(7);
        }
    }
    Some(json!({
        "product_name": product,
        "serial_number": serial,
        "manufacturer": manufacturer,
        "firmware": {
            "vendor": bios.map(|b| b.s(4)).unwrap_or_default(),
            "version": bios.map(|b| b.s(5)).unwrap_or_default(),
            "build_date": bios.map(|b| b.s(8)).unwrap_or_default(),
        },
    }))
}

// ---------------------------------------------------------------------------------------
// The dmi-decode collector: IPA runs `dmidecode -t bios -t processor -t memory` and turns the
// text into {"bios": {...}, "cpu": [{...}], "memory": {..., "devices": [{...}]}} with
// dmidecode's labels as keys. The same labels and value formats here, from the raw table, for
// the fields servers are inspected for. Extra sections "system", "baseboard" and "chassis"
// carry types 1, 2 and 3.

fn handle_line(s: &Structure) -> String {
    format!("Handle 0x{:04X}, DMI type {}, {} bytes", s.handle, s.kind, s.data.len())
}

fn not_specified(v: String) -> String {
    if v.is_empty() {
        "Not Specified".into()
    } else {
        v
    }
}

/// dmidecode's size format: the largest unit that divides the value exactly.
fn size_from_kib(kib: u64) -> String {
    let units = ["kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = kib;
    let mut u = 0;
    while v >= 1024 && v % 1024 == 0 && u + 1 < units.len() {
        v /= 1024;
        u += 1;
    }
    format!("{v} {}", units[u])
}

fn speed(v: Option<u16>, unit: &str) -> String {
    match v {
        None | Some(0) => "Unknown".into(),
        Some(v) => format!("{v} {unit}"),
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    m.insert(k.to_string(), v.into());
}

fn decode_bios(s: &Structure) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "Handle", handle_line(s));
    put(&mut m, "Vendor", not_specified(s.s(4)));
    put(&mut m, "Version", not_specified(s.s(5)));
    put(&mut m, "Release Date", not_specified(s.s(8)));
    if let Some(seg) = s.word(6).filter(|&w| w != 0) {
        put(&mut m, "Address", format!("0x{seg:04X}0"));
        let runtime = (0x10000u32 - u32::from(seg)) << 4;
        put(&mut m, "Runtime Size", if runtime % 1024 == 0 { format!("{} kB", runtime >> 10) } else { format!("{runtime} bytes") });
    }
    if let Some(rom) = s.byte(9) {
        let ext = s.word(0x18);
        let v = match (rom, ext) {
            (0xFF, Some(e)) => {
                let n = u64::from(e & 0x3FFF);
                if e >> 14 == 0 {
                    format!("{n} MB")
                } else {
                    format!("{n} GB")
                }
            }
            (r, _) => size_from_kib((u64::from(r) + 1) * 64),
        };
        put(&mut m, "ROM Size", v);
    }
    if let (Some(maj), Some(min)) = (s.byte(0x14), s.byte(0x15)) {
        if maj != 0xFF && min != 0xFF {
            put(&mut m, "BIOS Revision", format!("{maj}.{min}"));
        }
    }
    if let (Some(maj), Some(min)) = (s.byte(0x16), s.byte(0x17)) {
        if maj != 0xFF && min != 0xFF {
            put(&mut m, "Firmware Revision", format!("{maj}.{min}"));
        }
    }
    m
}

fn processor_type(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "Central Processor",
        4 => "Math Processor",
        5 => "DSP Processor",
        6 => "Video Processor",
        _ => "Unknown",
    }
}

fn processor_family(code: u16) -> String {
    let name = match code {
        0x01 => "Other",
        0x02 => "Unknown",
        0x0B => "Pentium",
        0x18 => "Athlon",
        0x1E..=0x1F => "Itanium",
        0x28 => "Core Duo",
        0x83 => "Athlon 64",
        0x84 => "Opteron",
        0xB3 => "Xeon",
        0xBF => "Core 2 Duo",
        0xC6 => "Core i7",
        0xCD => "Core i5",
        0xCE => "Core i3",
        0xD6 => "Multi-Core Xeon",
        0x6B => "Zen",
        0x100 => "ARMv7",
        0x101 => "ARMv8",
        0x102 => "ARMv9",
        0x200 => "RISC-V RV32",
        0x201 => "RISC-V RV64",
        _ => return format!("<OUT OF SPEC> (0x{code:X})"),
    };
    name.to_string()
}

fn processor_status(v: u8) -> String {
    let populated = v & 0x40 != 0;
    if !populated {
        return "Unpopulated".into();
    }
    let st = match v & 0x07 {
        0 => "Unknown",
        1 => "Enabled",
        2 => "Disabled By User",
        3 => "Disabled By BIOS",
        4 => "Idle",
        7 => "Other",
        _ => "<OUT OF SPEC>",
    };
    format!("Populated, {st}")
}

fn decode_processor(s: &Structure) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "Handle", handle_line(s));
    put(&mut m, "Socket Designation", not_specified(s.s(4)));
    put(&mut m, "Type", processor_type(s.byte(5).unwrap_or(0)));
    let fam = match s.byte(6) {
        Some(0xFE) => s.word(0x28).unwrap_or(0x02),
        Some(f) => u16::from(f),
        None => 0x02,
    };
    put(&mut m, "Family", processor_family(fam));
    put(&mut m, "Manufacturer", not_specified(s.s(7)));
    if let Some(id) = s.data.get(8..16) {
        put(&mut m, "ID", id.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" "));
    }
    put(&mut m, "Version", not_specified(s.s(0x10)));
    if let Some(v) = s.byte(0x11) {
        if v & 0x80 != 0 {
            put(&mut m, "Voltage", format!("{:.1} V", f64::from(v & 0x7F) / 10.0));
        }
    }
    put(&mut m, "External Clock", speed(s.word(0x12), "MHz"));
    put(&mut m, "Max Speed", speed(s.word(0x14), "MHz"));
    put(&mut m, "Current Speed", speed(s.word(0x16), "MHz"));
    if let Some(st) = s.byte(0x18) {
        put(&mut m, "Status", processor_status(st));
    }
    if s.data.len() > 0x22 {
        put(&mut m, "Serial Number", not_specified(s.s(0x20)));
        put(&mut m, "Asset Tag", not_specified(s.s(0x21)));
        put(&mut m, "Part Number", not_specified(s.s(0x22)));
    }
    let count = |short: usize, long: usize| match s.byte(short) {
        Some(0xFF) => s.word(long).map(u32::from),
        Some(0) => None,
        Some(v) => Some(u32::from(v)),
        None => None,
    };
    if let Some(c) = count(0x23, 0x2A) {
        put(&mut m, "Core Count", c.to_string());
    }
    if let Some(c) = count(0x24, 0x2C) {
        put(&mut m, "Core Enabled", c.to_string());
    }
    if let Some(c) = count(0x25, 0x2E) {
        put(&mut m, "Thread Count", c.to_string());
    }
    m
}

fn array_location(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "System Board Or Motherboard",
        4 => "ISA Add-on Card",
        5 => "EISA Add-on Card",
        6 => "PCI Add-on Card",
        7 => "MCA Add-on Card",
        8 => "PCMCIA Add-on Card",
        9 => "Proprietary Add-on Card",
        10 => "NuBus",
        _ => "Unknown",
    }
}

fn array_use(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "System Memory",
        4 => "Video Memory",
        5 => "Flash Memory",
        6 => "Non-volatile RAM",
        7 => "Cache Memory",
        _ => "Unknown",
    }
}

fn array_ecc(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "None",
        4 => "Parity",
        5 => "Single-bit ECC",
        6 => "Multi-bit ECC",
        7 => "CRC",
        _ => "Unknown",
    }
}

fn decode_memory_array(s: &Structure) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "Handle", handle_line(s));
    put(&mut m, "Location", array_location(s.byte(4).unwrap_or(2)));
    put(&mut m, "Use", array_use(s.byte(5).unwrap_or(2)));
    put(&mut m, "Error Correction Type", array_ecc(s.byte(6).unwrap_or(2)));
    let cap = match s.dword(7) {
        Some(0x8000_0000) => s.qword(0x0F).map(|b| size_from_kib(b >> 10)),
        Some(kib) => Some(size_from_kib(u64::from(kib))),
        None => None,
    };
    put(&mut m, "Maximum Capacity", cap.unwrap_or_else(|| "Unknown".into()));
    put(&mut m, "Number Of Devices", s.word(0x0D).unwrap_or(0).to_string());
    m
}

fn form_factor(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "SIMM",
        4 => "SIP",
        5 => "Chip",
        6 => "DIP",
        7 => "ZIP",
        8 => "Proprietary Card",
        9 => "DIMM",
        10 => "TSOP",
        11 => "Row Of Chips",
        12 => "RIMM",
        13 => "SODIMM",
        14 => "SRIMM",
        15 => "FB-DIMM",
        16 => "Die",
        _ => "Unknown",
    }
}

fn memory_type(v: u8) -> &'static str {
    match v {
        1 => "Other",
        3 => "DRAM",
        7 => "RAM",
        9 => "NVRAM",
        0x0F => "SDRAM",
        0x12 => "DDR",
        0x13 => "DDR2",
        0x14 => "DDR2 FB-DIMM",
        0x18 => "DDR3",
        0x1A => "DDR4",
        0x1B => "LPDDR",
        0x1C => "LPDDR2",
        0x1D => "LPDDR3",
        0x1E => "LPDDR4",
        0x1F => "Logical non-volatile device",
        0x20 => "HBM",
        0x21 => "HBM2",
        0x22 => "DDR5",
        0x23 => "LPDDR5",
        0x24 => "HBM3",
        _ => "Unknown",
    }
}

fn width(v: Option<u16>) -> String {
    match v {
        None | Some(0xFFFF) | Some(0) => "Unknown".into(),
        Some(v) => format!("{v} bits"),
    }
}

fn decode_memory_device(s: &Structure) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "Handle", handle_line(s));
    if let Some(h) = s.word(4) {
        put(&mut m, "Array Handle", format!("0x{h:04X}"));
    }
    put(&mut m, "Total Width", width(s.word(8)));
    put(&mut m, "Data Width", width(s.word(0x0A)));
    let size = match memory_device_bytes(s) {
        Some(0) => "No Module Installed".to_string(),
        Some(b) => size_from_kib(b >> 10),
        None => "Unknown".to_string(),
    };
    put(&mut m, "Size", size);
    put(&mut m, "Form Factor", form_factor(s.byte(0x0E).unwrap_or(2)));
    let set = match s.byte(0x0F) {
        Some(0) | None => "None".to_string(),
        Some(0xFF) => "Unknown".to_string(),
        Some(v) => v.to_string(),
    };
    put(&mut m, "Set", set);
    put(&mut m, "Locator", not_specified(s.s(0x10)));
    put(&mut m, "Bank Locator", not_specified(s.s(0x11)));
    put(&mut m, "Type", memory_type(s.byte(0x12).unwrap_or(2)));
    if s.data.len() > 0x16 {
        put(&mut m, "Speed", speed(s.word(0x15), "MT/s"));
    }
    if s.data.len() > 0x1A {
        put(&mut m, "Manufacturer", not_specified(s.s(0x17)));
        put(&mut m, "Serial Number", not_specified(s.s(0x18)));
        put(&mut m, "Asset Tag", not_specified(s.s(0x19)));
        put(&mut m, "Part Number", not_specified(s.s(0x1A)));
    }
    if let Some(a) = s.byte(0x1B) {
        put(&mut m, "Rank", if a & 0x0F == 0 { "Unknown".to_string() } else { (a & 0x0F).to_string() });
    }
    if s.data.len() > 0x21 {
        put(&mut m, "Configured Memory Speed", speed(s.word(0x20), "MT/s"));
    }
    m
}

fn decode_identity(s: &Structure) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "Handle", handle_line(s));
    put(&mut m, "Manufacturer", not_specified(s.s(4)));
    if s.kind == 3 {
        put(&mut m, "Version", not_specified(s.s(6)));
    } else {
        put(&mut m, "Product Name", not_specified(s.s(5)));
        put(&mut m, "Version", not_specified(s.s(6)));
    }
    put(&mut m, "Serial Number", not_specified(s.s(7)));
    match s.kind {
        1 => {
            if let Some(u) = s.data.get(8..24) {
                put(&mut m, "UUID", uuid(u));
            }
            if s.data.len() >= 0x1B {
                put(&mut m, "SKU Number", not_specified(s.s(0x19)));
                put(&mut m, "Family", not_specified(s.s(0x1A)));
            }
        }
        2 | 3 => {
            put(&mut m, "Asset Tag", not_specified(s.s(8)));
        }
        _ => {}
    }
    m
}

/// dmidecode's UUID text: the first three fields little-endian (SMBIOS 2.6+).
fn uuid(b: &[u8]) -> String {
    if b.iter().all(|&x| x == 0xFF) {
        return "Not Present".into();
    }
    if b.iter().all(|&x| x == 0) {
        return "Not Settable".into();
    }
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// The `dmi` plug-in data: IPA's shape ({bios, cpu: [], memory: {..., "Number Of Devices":
/// sum, devices: []}}) plus system, baseboard and chassis.
pub fn dmi_decode(structs: &[Structure]) -> Value {
    let mut dmi = Map::new();
    let bios = structs.iter().find(|s| s.kind == 0).map(decode_bios).unwrap_or_default();
    dmi.insert("bios".into(), Value::Object(bios));
    let cpus: Vec<Value> = structs.iter().filter(|s| s.kind == 4).map(|s| Value::Object(decode_processor(s))).collect();
    dmi.insert("cpu".into(), Value::Array(cpus));
    let arrays: Vec<Map<String, Value>> = structs.iter().filter(|s| s.kind == 16).map(decode_memory_array).collect();
    let devices: Vec<Value> = structs.iter().filter(|s| s.kind == 17).map(|s| Value::Object(decode_memory_device(s))).collect();
    let mut memory = match arrays.first() {
        Some(first) => {
            let mut m = first.clone();
            m.remove("Handle");
            let total: u64 = structs.iter().filter(|s| s.kind == 16).map(|s| u64::from(s.word(0x0D).unwrap_or(0))).sum();
            m.insert("Number Of Devices".into(), json!(total));
            m
        }
        None => Map::new(),
    };
    memory.insert("devices".into(), Value::Array(devices));
    dmi.insert("memory".into(), Value::Object(memory));
    for (kind, key) in [(1u8, "system"), (2, "baseboard"), (3, "chassis")] {
        if let Some(s) = structs.iter().find(|s| s.kind == kind) {
            dmi.insert(key.into(), Value::Object(decode_identity(s)));
        }
    }
    Value::Object(dmi)
}

/// Build a structure table (the inverse of [`parse`]), for tests and fixtures.
pub fn encode(kind: u8, handle: u16, fields: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut v = vec![kind, (fields.len() + 4) as u8];
    v.extend_from_slice(&handle.to_le_bytes());
    v.extend_from_slice(fields);
    for s in strings {
        v.extend_from_slice(s.as_bytes());
        v.push(0);
    }
    if strings.is_empty() {
        v.push(0);
    }
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dimm(handle: u16, size: u16, ext: u32) -> Vec<u8> {
        let mut f = vec![0u8; 0x28 - 4];
        let set = |f: &mut Vec<u8>, off: usize, b: &[u8]| f[off - 4..off - 4 + b.len()].copy_from_slice(b);
        set(&mut f, 0x04, &0x1000u16.to_le_bytes());
        set(&mut f, 0x08, &72u16.to_le_bytes());
        set(&mut f, 0x0A, &64u16.to_le_bytes());
        set(&mut f, 0x0C, &size.to_le_bytes());
        set(&mut f, 0x0E, &[0x09, 0, 1, 2, 0x1A]);
        set(&mut f, 0x15, &3200u16.to_le_bytes());
        set(&mut f, 0x17, &[3, 4, 0, 5, 2]);
        set(&mut f, 0x1C, &ext.to_le_bytes());
        set(&mut f, 0x20, &2933u16.to_le_bytes());
        encode(17, handle, &f, &["DIMM A1", "P0", "Samsung", "S123", "M393A"])
    }

    #[test]
    fn sizes_and_strings() {
        let mut t = Vec::new();
        t.extend(dimm(0x1100, 16384, 0));
        t.extend(dimm(0x1101, 0x7FFF, 65536));
        t.extend(dimm(0x1102, 0x8000 | 512, 0)); // 512 KiB: rounds down to 0 MiB, as lshw
        t.extend(dimm(0x1103, 0, 0));
        t.extend(dimm(0x1104, 0xFFFF, 0));
        t.extend(encode(127, 0xFEFF, &[], &[]));
        let (s, err) = parse(&t);
        assert!(err.is_none());
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].string(0x10).as_deref(), Some("DIMM A1"));
        assert_eq!(s[0].string(0x19).as_deref(), Some(""));
        assert_eq!(memory_device_bytes(&s[1]), Some(64 << 30));
        assert_eq!(memory_device_bytes(&s[2]), Some(512 << 10));
        assert_eq!(memory_device_bytes(&s[4]), None);
        assert_eq!(physical_mb(&s), Some(16384 + 65536));
        let d = dmi_decode(&s);
        let dev = &d["memory"]["devices"][1];
        assert_eq!(dev["Size"], "64 GB");
        assert_eq!(dev["Speed"], "3200 MT/s");
        assert_eq!(dev["Configured Memory Speed"], "2933 MT/s");
        assert_eq!(dev["Type"], "DDR4");
        assert_eq!(dev["Rank"], "2");
        assert_eq!(dev["Array Handle"], "0x1000");
        assert_eq!(dev["Handle"], "Handle 0x1101, DMI type 17, 40 bytes");
        assert_eq!(d["memory"]["devices"][3]["Size"], "No Module Installed");
        assert_eq!(d["memory"]["devices"][2]["Size"], "512 kB");
    }

    #[test]
    fn damaged_tables_stop_cleanly() {
        let good = encode(1, 1, &[1, 2, 0, 0], &["Vendor", "Product"]);
        let mut t = good.clone();
        t.extend([4u8, 2, 0, 0]); // length < 4
        let (s, err) = parse(&t);
        assert_eq!(s.len(), 1);
        assert!(err.unwrap().contains("length of 2"));
        let mut t = good.clone();
        t.extend([4u8, 200, 0, 0, 1]); // runs past the end
        assert!(parse(&t).1.unwrap().contains("past the end"));
        let mut t = good;
        t.extend([4u8, 5, 0, 0, 1, b'x']); // no terminator
        assert!(parse(&t).1.unwrap().contains("unterminated"));
        assert_eq!(parse(&[]).0.len(), 0);
        assert_eq!(parse(&[1, 2, 3]).0.len(), 0);
    }

    #[test]
    fn bad_string_index_is_empty() {
        let t = encode(1, 1, &[1, 9, 0, 0], &["Only"]);
        let (s, _) = parse(&t);
        assert_eq!(s[0].string(4).as_deref(), Some("Only"));
        assert_eq!(s[0].string(5).as_deref(), Some(""));
        assert_eq!(s[0].string(40), None);
    }

    #[test]
    fn sizes_are_formatted_like_dmidecode() {
        assert_eq!(size_from_kib(64), "64 kB");
        assert_eq!(size_from_kib(16 << 20), "16 GB");
        assert_eq!(size_from_kib(1536), "1536 kB");
        assert_eq!(size_from_kib(3 << 30), "3 TB");
    }
}
