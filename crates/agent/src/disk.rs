//! Erasing disks in Rust, without `wipefs`, `sgdisk`, `dd` or `shred`: what IPA's
//! `destroy_disk_metadata` and `_shred_block_device` do, on a device path given by the caller.
//!
//! Nothing here chooses a device: every function takes the path it works on, and the clean
//! steps only pass paths from the device list they are given (the inventory's disks).
//!
//! * [`destroy_disk_metadata`]: reads the MBR/GPT partition tables first, removes known
//!   filesystem/RAID/LVM/LUKS signatures at the start of every partition and of the whole device
//!   (only the magic bytes, as `wipefs --all` does), then zeroes the primary partition table
//!   area (MBR + primary GPT) and the backup GPT area at the end, as IPA's two `dd` calls and
//!   `sgdisk -Z` do. Everything else is left as it was.
//! * [`overwrite`]: `shred --iterations N [--zero]`: N pseudo-random passes, then zeros.

use crate::clock::Rng;
use serde::Deserialize;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A disk from the inventory (`inventory.disks[]`), the fields the erase steps use.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlockDevice {
    pub name: String,
    pub size: u64,
    pub rotational: bool,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub wwn_with_extension: Option<String>,
    pub wwn_vendor_extension: Option<String>,
    pub hctl: Option<String>,
    pub by_path: Option<String>,
    pub logical_sectors: Option<u64>,
}

impl BlockDevice {
    pub fn new(name: impl Into<String>) -> Self {
        BlockDevice {
            name: name.into(),
            ..Default::default()
        }
    }

    /// IPA's `_is_nvme`.
    pub fn is_nvme(&self) -> bool {
        self.name.starts_with("/dev/nvme")
    }

    /// The logical sector size: the inventory's `logical_sectors`, else sysfs, else 512.
    pub fn sector_size(&self) -> u64 {
        if let Some(s) = self
            .logical_sectors
            .filter(|s| s.is_power_of_two() && *s >= 512)
        {
            return s;
        }
        let base = Path::new(&self.name)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        std::fs::read_to_string(format!("/sys/class/block/{base}/queue/logical_block_size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| s.is_power_of_two() && *s >= 512)
            .unwrap_or(512)
    }
}

/// The inventory's `disks`, in order.
pub fn devices_from_inventory(inventory: &Value) -> Vec<BlockDevice> {
    inventory
        .get("disks")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(|v| serde_json::from_value::<BlockDevice>(v.clone()).ok())
                .filter(|d| !d.name.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The devices `node.properties.skip_block_devices` excludes (IPA's
/// `get_skip_list_from_node_for_disks`). Hints are root device hints; only exact matches
/// (optionally written `s==`/`==`) are understood, and any other hint is an error rather than
/// a silently ignored protection. `volume_name` hints (RAID) are ignored, as IPA does for disks.
pub fn skip_list(devices: &[BlockDevice], node: &Value) -> Result<Vec<String>, String> {
    let hints = match node.pointer("/properties/skip_block_devices") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(format!("skip_block_devices must be a list, got {other}")),
    };
    let mut skipped = Vec::new();
    for hint in hints {
        let hint = hint
            .as_object()
            .ok_or_else(|| format!("invalid skip_block_devices hint {hint}"))?;
        if hint.contains_key("volume_name") {
            continue;
        }
        for d in devices {
            if matches_hint(d, hint)? && !skipped.contains(&d.name) {
                tracing::warn!(device = %d.name, hint = ?hint, "skipping device as the node's skip_block_devices asks");
                skipped.push(d.name.clone());
            }
        }
    }
    Ok(skipped)
}

fn matches_hint(d: &BlockDevice, hint: &serde_json::Map<String, Value>) -> Result<bool, String> {
    for (k, v) in hint {
        let want = match v {
            Value::String(s) => {
                let s = s.trim();
                let s = s
                    .strip_prefix("s==")
                    .or_else(|| s.strip_prefix("=="))
                    .unwrap_or(s)
                    .trim();
                if s.starts_with('<')
                    || s.starts_with('>')
                    || s.starts_with("!=")
                    || s.starts_with("s!=")
                    || s.starts_with("s<")
                    || s.starts_with("s>")
                {
                    return Err(format!(
                        "skip_block_devices hint {k}={v}: only exact values are supported"
                    ));
                }
                s.to_string()
            }
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(format!(
                    "skip_block_devices hint {k}={other}: unsupported value"
                ))
            }
        };
        let eq = |have: &Option<String>| {
            have.as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&want))
        };
        let ok = match k.as_str() {
            "name" => {
                let w = if want.starts_with('/') {
                    want.clone()
                } else {
                    format!("/dev/{want}")
                };
                d.name == w
            }
            "by_path" => d.by_path.as_deref() == Some(want.as_str()),
            "model" => eq(&d.model),
            "vendor" => eq(&d.vendor),
            "serial" => eq(&d.serial),
            "wwn" => eq(&d.wwn),
            "wwn_with_extension" => eq(&d.wwn_with_extension),
            "wwn_vendor_extension" => eq(&d.wwn_vendor_extension),
            "hctl" => eq(&d.hctl),
            "size" => {
                want.parse::<u64>()
                    .map_err(|_| format!("skip_block_devices hint size={v}: expected GiB"))?
                    == d.size >> 30
            }
            "rotational" => match want.to_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => d.rotational,
                "false" | "0" | "no" | "off" => !d.rotational,
                _ => {
                    return Err(format!(
                        "skip_block_devices hint rotational={v}: expected a boolean"
                    ))
                }
            },
            other => return Err(format!("skip_block_devices hint {other} is not supported")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(!hint.is_empty())
}

/// A region of the device (a partition), in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub start: u64,
    pub len: u64,
    pub kind: PartitionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionKind {
    /// GPT, with its type GUID in on-disk byte order.
    Gpt([u8; 16]),
    /// MBR (primary or logical), with its type byte.
    Mbr(u8),
}

/// Where a GPT's structures are, to zero them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GptArea {
    header: u64,
    entries: u64,
    entries_len: u64,
    sector: u64,
}

fn size_of(f: &mut File) -> io::Result<u64> {
    f.seek(SeekFrom::End(0))
}

fn read_at(f: &File, off: u64, len: usize, size: u64) -> Option<Vec<u8>> {
    if off.checked_add(len as u64)? > size {
        return None;
    }
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, off).ok()?;
    Some(buf)
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn parse_gpt_header(f: &File, size: u64, lba: u64, ss: u64) -> Option<(GptArea, Vec<Partition>)> {
    let h = read_at(f, lba.checked_mul(ss)?, 92, size)?;
    if &h[0..8] != b"EFI PART" {
        return None;
    }
    let entries_lba = le64(&h, 72);
    let num = le32(&h, 80) as u64;
    let esz = le32(&h, 84) as u64;
    if esz < 128 || num == 0 || num * esz > 4 << 20 {
        return None;
    }
    let area = GptArea {
        header: lba * ss,
        entries: entries_lba.checked_mul(ss)?,
        entries_len: num * esz,
        sector: ss,
    };
    let mut parts = Vec::new();
    if let Some(entries) = read_at(f, area.entries, area.entries_len as usize, size) {
        for e in entries.chunks_exact(esz as usize) {
            let mut t = [0u8; 16];
            t.copy_from_slice(&e[0..16]);
            if t == [0; 16] {
                continue;
            }
            let (first, last) = (le64(e, 32), le64(e, 40));
            if first > last {
                continue;
            }
            let (Some(start), Some(end)) = (first.checked_mul(ss), (last + 1).checked_mul(ss))
            else {
                continue;
            };
            if start >= size {
                continue;
            }
            parts.push(Partition {
                start,
                len: end.min(size) - start,
                kind: PartitionKind::Gpt(t),
            });
        }
    }
    Some((area, parts))
}

fn parse_mbr(f: &File, size: u64, ss: u64) -> Vec<Partition> {
    let mut out = Vec::new();
    let Some(s) = read_at(f, 0, 512, size) else {
        return out;
    };
    if s[510] != 0x55 || s[511] != 0xAA {
        return out;
    }
    let entry = |s: &[u8], i: usize| -> (u8, u8, u64, u64) {
        let e = &s[446 + 16 * i..446 + 16 * (i + 1)];
        (e[0], e[4], le32(e, 8) as u64, le32(e, 12) as u64)
    };
    // libblkid's rule: every boot indicator is 0x00 or 0x80, else this is not a partition table
    // (a filesystem boot sector also ends in 55 AA).
    if (0..4).any(|i| !matches!(entry(&s, i).0, 0x00 | 0x80)) {
        return out;
    }
    for i in 0..4 {
        let (_, ty, start, len) = entry(&s, i);
        if ty == 0 || ty == 0xEE || len == 0 || start * ss >= size {
            continue;
        }
        if matches!(ty, 0x05 | 0x0F | 0x85) {
            // Extended partition: follow the chain of EBRs for the logical partitions.
            let ext = start;
            let mut ebr = start;
            for _ in 0..256 {
                let Some(e) = read_at(f, ebr * ss, 512, size) else {
                    break;
                };
                if e[510] != 0x55 || e[511] != 0xAA {
                    break;
                }
                let (_, lty, lstart, llen) = entry(&e, 0);
                if lty != 0 && llen > 0 && (ebr + lstart) * ss < size {
                    let st = (ebr + lstart) * ss;
                    out.push(Partition {
                        start: st,
                        len: (llen * ss).min(size - st),
                        kind: PartitionKind::Mbr(lty),
                    });
                }
                let (_, nty, nstart, _) = entry(&e, 1);
                if nty == 0 || nstart == 0 || ext + nstart == ebr {
                    break;
                }
                ebr = ext + nstart;
            }
            continue;
        }
        let st = start * ss;
        out.push(Partition {
            start: st,
            len: (len * ss).min(size - st),
            kind: PartitionKind::Mbr(ty),
        });
    }
    out
}

/// The partition table(s) of a device: GPT (primary, or the backup when the primary is gone)
/// and MBR (primary and logical partitions).
fn read_layout(f: &File, size: u64, ss: u64) -> (Vec<Partition>, Vec<GptArea>) {
    let mut parts = Vec::new();
    let mut areas = Vec::new();
    let mut sizes = vec![ss];
    for s in [512, 4096] {
        if !sizes.contains(&s) {
            sizes.push(s);
        }
    }
    for s in sizes {
        let primary = parse_gpt_header(f, size, 1, s);
        let backup = if size >= 2 * s {
            parse_gpt_header(f, size, size / s - 1, s)
        } else {
            None
        };
        if primary.is_none() && backup.is_none() {
            continue;
        }
        let mut found = false;
        for (area, p) in [primary, backup].into_iter().flatten() {
            if !found && !p.is_empty() {
                parts.extend(p);
                found = true;
            }
            areas.push(area);
        }
        break;
    }
    for p in parse_mbr(f, size, ss) {
        if !parts.iter().any(|q| q.start == p.start) {
            parts.push(p);
        }
    }
    (parts, areas)
}

/// The partitions found on a device (for tests and diagnostics).
pub fn read_partitions(path: &Path, sector_size: u64) -> io::Result<Vec<Partition>> {
    let mut f = File::open(path)?;
    let size = size_of(&mut f)?;
    Ok(read_layout(&f, size, sector_size).0)
}

/// A signature found on the device: what, where (absolute byte offset) and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub what: &'static str,
    pub offset: u64,
    pub len: u64,
}

struct Magic {
    what: &'static str,
    off: u64,
    bytes: &'static [u8],
    /// Also erase the boot-sector signature 55 AA at 0x1FE (DOS-style filesystems).
    boot_sig: bool,
}

const fn m(what: &'static str, off: u64, bytes: &'static [u8]) -> Magic {
    Magic {
        what,
        off,
        bytes,
        boot_sig: false,
    }
}
const fn mb(what: &'static str, off: u64, bytes: &'static [u8]) -> Magic {
    Magic {
        what,
        off,
        bytes,
        boot_sig: true,
    }
}

const MD_MAGIC: &[u8] = &[0xfc, 0x4e, 0x2b, 0xa9];
const GFS2_MAGIC: &[u8] = &[0x01, 0x16, 0x19, 0x70];

/// Offsets from the start of a region, as libblkid's probes look for them.
const MAGICS: &[Magic] = &[
    m("xfs", 0, b"XFSB"),
    m("ext2/ext3/ext4", 0x438, &[0x53, 0xEF]),
    m("btrfs", 0x10040, b"_BHRfS_M"),
    m("btrfs", 0x400_0040, b"_BHRfS_M"),
    m("btrfs", 0x40_0000_0040, b"_BHRfS_M"),
    mb("vfat", 0x52, b"FAT32   "),
    mb("vfat", 0x36, b"FAT16   "),
    mb("vfat", 0x36, b"FAT12   "),
    mb("vfat", 0x36, b"MSDOS"),
    mb("vfat", 0x52, b"MSWIN"),
    mb("exfat", 3, b"EXFAT   "),
    mb("ntfs", 3, b"NTFS    "),
    m("swap", 4096 - 10, b"SWAPSPACE2"),
    m("swap", 4096 - 10, b"SWAP-SPACE"),
    m("swap", 8192 - 10, b"SWAPSPACE2"),
    m("swap", 16384 - 10, b"SWAPSPACE2"),
    m("swap", 65536 - 10, b"SWAPSPACE2"),
    m("LVM2_member", 0, b"LABELONE"),
    m("LVM2_member", 512, b"LABELONE"),
    m("LVM2_member", 1024, b"LABELONE"),
    m("LVM2_member", 1536, b"LABELONE"),
    m("LVM2_member", 24, b"LVM2 001"),
    m("LVM2_member", 512 + 24, b"LVM2 001"),
    m("LVM2_member", 1024 + 24, b"LVM2 001"),
    m("LVM2_member", 1536 + 24, b"LVM2 001"),
    m("crypto_LUKS", 0, b"LUKS\xba\xbe"),
    m("crypto_LUKS", 0x4000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x8000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x1_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x2_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x4_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x8_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x10_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x20_0000, b"SKUL\xba\xbe"),
    m("crypto_LUKS", 0x40_0000, b"SKUL\xba\xbe"),
    m("linux_raid_member", 0, MD_MAGIC),
    m("linux_raid_member", 0x1000, MD_MAGIC),
    m(
        "bcache",
        0x1018,
        &[
            0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba,
            0x6d, 0x81,
        ],
    ),
    m("iso9660", 0x8001, b"CD001"),
    m("iso9660", 0x8801, b"CD001"),
    m("iso9660", 0x9001, b"CD001"),
    m("squashfs", 0, b"hsqs"),
    m("f2fs", 0x400, &[0x10, 0x20, 0xF5, 0xF2]),
    m("jfs", 0x8000, b"JFS1"),
    m("reiserfs", 0x10034, b"ReIsErFs"),
    m("reiserfs", 0x10034, b"ReIsEr2Fs"),
    m("reiserfs", 0x10034, b"ReIsEr3Fs"),
    m("ceph_bluestore", 0, b"bluestore block device"),
    m("gfs2", 0x1_0000, GFS2_MAGIC),
    m("gpt", 512, b"EFI PART"),
    m("gpt", 4096, b"EFI PART"),
];

const ZFS_LABEL: u64 = 256 << 10;

/// Signatures in the region `[start, start + len)` of an open device of `size` bytes.
fn find_signatures(f: &File, size: u64, start: u64, len: u64) -> Vec<Signature> {
    let end = start.saturating_add(len).min(size);
    let len = end.saturating_sub(start);
    let mut out = Vec::new();
    let mut push = |what, offset: u64, n: u64| {
        let s = Signature {
            what,
            offset,
            len: n,
        };
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for mg in MAGICS {
        let n = mg.bytes.len() as u64;
        if mg.off + n > len {
            continue;
        }
        if read_at(f, start + mg.off, n as usize, size).as_deref() == Some(mg.bytes) {
            push(mg.what, start + mg.off, n);
            if mg.boot_sig
                && read_at(f, start + 0x1FE, 2, size).as_deref() == Some(&[0x55, 0xAA][..])
            {
                push(mg.what, start + 0x1FE, 2);
            }
        }
    }
    // MD RAID superblocks near the end: 0.90 (64 KiB aligned, last 64 KiB block) and 1.0.
    if len >= 128 << 10 {
        let off = (len & !(65536 - 1)) - 65536;
        if read_at(f, start + off, 4, size).as_deref() == Some(MD_MAGIC) {
            push("linux_raid_member", start + off, 4);
        }
    }
    if len >= 16 * 512 {
        let off = ((len / 512 - 16) & !7) * 512;
        if read_at(f, start + off, 4, size).as_deref() == Some(MD_MAGIC) {
            push("linux_raid_member", start + off, 4);
        }
    }
    // ZFS: four 256 KiB labels (two at each end), each with an uberblock ring at +128 KiB.
    if len >= 4 * ZFS_LABEL {
        let aligned = len & !(ZFS_LABEL - 1);
        for label in [0, ZFS_LABEL, aligned - 2 * ZFS_LABEL, aligned - ZFS_LABEL] {
            let ring = start + label + (128 << 10);
            if let Some(buf) = read_at(f, ring, 128 << 10, size) {
                for (i, ub) in buf.chunks_exact(1024).enumerate() {
                    let v = &ub[0..8];
                    if v == [0x0c, 0xb1, 0xba, 0, 0, 0, 0, 0]
                        || v == [0, 0, 0, 0, 0, 0xba, 0xb1, 0x0c]
                    {
                        push("zfs_member", ring + i as u64 * 1024, 8);
                    }
                }
            }
        }
    }
    out
}

/// Signatures on the device and inside each of its partitions (read-only).
pub fn probe_signatures(path: &Path, sector_size: u64) -> io::Result<Vec<Signature>> {
    let mut f = File::open(path)?;
    let size = size_of(&mut f)?;
    let (parts, _) = read_layout(&f, size, sector_size);
    let mut out = find_signatures(&f, size, 0, size);
    for p in parts {
        for s in find_signatures(&f, size, p.start, p.len) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Whether the device carries an MD RAID member superblock (IPA skips RAID members).
pub fn is_raid_member(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let size = size_of(&mut f)?;
    Ok(find_signatures(&f, size, 0, size)
        .iter()
        .any(|s| s.what == "linux_raid_member"))
}

fn guid_bytes(s: &str) -> [u8; 16] {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    let mut raw = [0u8; 16];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
    }
    // GPT stores the first three fields little-endian.
    let mut out = raw;
    out[0..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    out[4..6].copy_from_slice(&[raw[5], raw[4]]);
    out[6..8].copy_from_slice(&[raw[7], raw[6]]);
    out
}

/// IPA's `safety_check_block_device`: shared-disk cluster filesystems (IBM GPFS and VMware VMFS
/// partition types, Red Hat GFS2) must not be wiped. Returns what was found.
pub fn protected_content(path: &Path, sector_size: u64) -> io::Result<Option<&'static str>> {
    let mut f = File::open(path)?;
    let size = size_of(&mut f)?;
    let (parts, _) = read_layout(&f, size, sector_size);
    let gpfs = guid_bytes("37AFFC90-EF7D-4E96-91C3-2D7AE055B174");
    let vmfs = guid_bytes("AA31E02A-400F-11DB-9590-000C2911D1B8");
    for p in &parts {
        match p.kind {
            PartitionKind::Gpt(t) if t == gpfs => return Ok(Some("IBM GPFS Partition")),
            PartitionKind::Gpt(t) if t == vmfs => return Ok(Some("VMware VMFS Partition (GPT)")),
            PartitionKind::Mbr(0xfb) => return Ok(Some("VMware VMFS Partition (MBR)")),
            _ => {}
        }
    }
    let is_gfs2 = |start: u64, len: u64| {
        len > 0x1_0008
            && read_at(&f, start + 0x1_0000, 4, size).as_deref() == Some(GFS2_MAGIC)
            && read_at(&f, start + 0x1_0004, 4, size).as_deref() == Some(&[0, 0, 0, 1][..])
    };
    if is_gfs2(0, size) || parts.iter().any(|p| is_gfs2(p.start, p.len)) {
        return Ok(Some("Red Hat Global File System 2"));
    }
    Ok(None)
}

/// What [`destroy_disk_metadata`] erased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WipeReport {
    pub signatures: Vec<Signature>,
    /// Zeroed byte ranges `(offset, len)`: partition table areas.
    pub zeroed: Vec<(u64, u64)>,
}

fn zero_range(f: &File, off: u64, len: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let buf = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        f.write_all_at(&buf[..n as usize], off + done)?;
        done += n;
    }
    Ok(())
}

/// Remove partition tables and filesystem signatures from the device at `path`.
pub fn destroy_disk_metadata(path: &Path, sector_size: u64) -> io::Result<WipeReport> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let size = size_of(&mut f)?;
    let ss = if sector_size.is_power_of_two() && sector_size >= 512 {
        sector_size
    } else {
        512
    };
    let (parts, areas) = read_layout(&f, size, ss);
    let mut report = WipeReport::default();
    // Partitions first (last to first), then the whole device, like IPA's reverse-sorted list.
    let mut regions: Vec<(u64, u64)> = parts.iter().rev().map(|p| (p.start, p.len)).collect();
    regions.push((0, size));
    for (start, len) in regions {
        for s in find_signatures(&f, size, start, len) {
            zero_range(&f, s.offset, s.len)?;
            tracing::info!(device = %path.display(), what = s.what, offset = s.offset, len = s.len, "erased signature");
            report.signatures.push(s);
        }
    }
    let zero = |off: u64, len: u64, report: &mut WipeReport| -> io::Result<()> {
        let len = len.min(size.saturating_sub(off));
        if len > 0 {
            zero_range(&f, off, len)?;
            report.zeroed.push((off, len));
        }
        Ok(())
    };
    // Each GPT's header and entry array, wherever its header says they are.
    for a in &areas {
        zero(a.header, a.sector, &mut report)?;
        zero(a.entries, a.entries_len, &mut report)?;
    }
    // IPA's dd: the first sectors (MBR, primary GPT header and 16 KiB of entries) and, when the
    // device is larger than that, as many at the end (backup entries and header).
    let gpt_sectors = 16384u64.div_ceil(ss) + 1;
    let lead = (gpt_sectors + 1) * ss;
    zero(0, lead, &mut report)?;
    if size > lead {
        let tail = (gpt_sectors * ss).min(size - lead);
        zero(size - tail, tail, &mut report)?;
    }
    f.sync_all()?;
    Ok(report)
}

/// Overwrite the whole device: `random_passes` pseudo-random passes, then zeros if `zero`
/// (`shred --force [--zero] --iterations N`).
pub fn overwrite(path: &Path, random_passes: u32, zero: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let size = size_of(&mut f)?;
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut rng = Rng::from_os();
    let passes = (0..random_passes)
        .map(|_| true)
        .chain(zero.then_some(false));
    for (n, random) in passes.enumerate() {
        tracing::info!(device = %path.display(), pass = n + 1, random, "overwriting");
        if !random {
            buf.fill(0);
        }
        let mut off = 0u64;
        while off < size {
            let n = (CHUNK as u64).min(size - off) as usize;
            if random {
                rng.fill(&mut buf[..n]);
            }
            f.write_all_at(&buf[..n], off)?;
            off += n as u64;
        }
        f.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_byte_order() {
        let g = guid_bytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(&g[..8], &[0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11]);
        assert_eq!(&g[8..], &[0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B]);
    }
}
