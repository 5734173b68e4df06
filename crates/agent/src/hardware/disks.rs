//! The `disks` list: IPA's `list_all_block_devices`, which takes `lsblk` columns and udev
//! properties, rebuilt from /sys/block, the udev database (/run/udev/data, when udev runs)
//! and /dev/disk/by-path. No tool is run.
//!
//! Which devices (lsblk's TYPE, then IPA's filters): whole disks of /sys/block, in
//! major:minor order, except
//! - `fd*` (floppies), `ram*` and `zram*` (RAM disks), `loop*`;
//! - SCSI devices whose `device/type` is not a disk (CD/DVD `sr*` is type 5, "rom"); a SCSI
//!   RAID controller volume (type 12) stays, as IPA keeps every TYPE containing "raid";
//! - device-mapper devices other than multipath (`dm/uuid` prefix `mpath-`); LVM, crypt and
//!   kpartx partitions go;
//! - md devices whose `md/level` is not a RAID level (`raid0`, `raid1`, ... stay);
//! - hidden devices (the per-path nodes of NVMe multipath) and the members of a multipath
//!   device (a holder is an `mpath-` dm device), which IPA skips for the multipath device;
//! - devices of size 0.
//!
//! Fields, first source that has a value:
//! - `name`: `/dev/<kname>` (`!` in a sysfs name is `/`, as `cciss!c0d0`);
//! - `size`: bytes, `size` × 512;
//! - `model`: udev `ID_MODEL_ENC` (unescaped), `ID_MODEL`, then `device/model`; whitespace
//!   collapsed and trimmed as lsblk does;
//! - `serial`: udev `SCSI_IDENT_SERIAL`, `ID_SCSI_SERIAL`, `ID_SERIAL_SHORT`, `ID_SERIAL`, then
//!   `device/serial` (NVMe, some SAS), the block device's `serial` (virtio-blk), then the unit
//!   serial number VPD page `device/vpd_pg80` (ATA/IDE disks behind libata, SCSI);
//! - `wwn`, `wwn_with_extension`, `wwn_vendor_extension`: udev `ID_WWN_WITH_EXTENSION` (lsblk's
//!   WWN) or `ID_WWN`, `ID_WWN_WITH_EXTENSION`, `ID_WWN_VENDOR_EXTENSION`; without udev they are
//!   derived as udev's scsi_id does from the designator the kernel picked (`device/wwid`):
//!   `naa.<32 hex>` gives `0x<32 hex>` with vendor extension `0x<last 16>`, `naa.<16 hex>` gives
//!   `0x<16 hex>`; NVMe's `wwid` is taken as is (udev's rule); t10/eui designators give none;
//! - `rotational`: `queue/rotational`; `vendor`: `device/vendor`;
//! - `hctl`: the entry of `device/scsi_device/`;
//! - `by_path`: the /dev/disk/by-path link resolving to the device (the sorted last when
//!   several do);
//! - `logical_sectors`, `physical_sectors`: `queue/logical_block_size`,
//!   `queue/physical_block_size`;
//! - `tran`: lsblk's transport detection (util-linux 2.38, the ramdisks' version): spi, fc,
//!   fcoe, sas, sbp, iscsi, usb from the SCSI host's transport class and sysfs path; sata/ata
//!   from the SCSI host's `proc_name`; nvme by name; anything else (virtio, mmc) null.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::root::Ctx;

pub fn collect(ctx: &Ctx) -> Vec<Value> {
    let by_path = by_path_links(ctx);
    let mut found: Vec<((u64, u64), String, Value)> = Vec::new();
    for kname in ctx.list("/sys/block") {
        if let Some(d) = disk(ctx, &kname, &by_path) {
            let devno = ctx
                .attr_quiet(&format!("/sys/block/{kname}/dev"))
                .and_then(|s| s.split_once(':').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))))
                .unwrap_or((u64::MAX, u64::MAX));
            found.push((devno, kname, d));
        }
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.into_iter().map(|(_, _, d)| d).collect()
}

/// lsblk's TYPE for a whole disk.
fn device_type(ctx: &Ctx, kname: &str) -> String {
    let sys = format!("/sys/block/{kname}");
    if kname.starts_with("dm-") {
        return match ctx.attr_quiet(&format!("{sys}/dm/uuid")).filter(|u| !u.is_empty()) {
            Some(u) => {
                let prefix = u.split('-').next().unwrap_or("").to_lowercase();
                if prefix.starts_with("part") {
                    "part".into()
                } else if prefix.is_empty() {
                    "dm".into()
                } else {
                    prefix
                }
            }
            None => "dm".into(),
        };
    }
    if kname.starts_with("loop") {
        return "loop".into();
    }
    if kname.starts_with("md") {
        return ctx.attr_quiet(&format!("{sys}/md/level")).filter(|l| !l.is_empty()).map(|l| l.to_lowercase()).unwrap_or_else(|| "md".into());
    }
    match ctx.attr_quiet(&format!("{sys}/device/type")).and_then(|t| t.parse::<i32>().ok()) {
        Some(t) => scsi_type_name(t).unwrap_or("disk").into(),
        None => "disk".into(),
    }
}

/// util-linux's `blkdev_scsi_type_to_name`.
fn scsi_type_name(t: i32) -> Option<&'static str> {
    Some(match t {
        0x00 => "disk",
        0x01 => "tape",
        0x02 => "printer",
        0x03 => "processor",
        0x04 => "worm",
        0x05 => "rom",
        0x06 => "scanner",
        0x07 => "mo-disk",
        0x08 => "changer",
        0x09 => "comm",
        0x0c => "raid",
        0x0d => "enclosure",
        0x0e => "rbc",
        0x11 => "osd",
        0x7f => "no-lun",
        _ => return None,
    })
}

fn disk(ctx: &Ctx, kname: &str, by_path: &HashMap<String, String>) -> Option<Value> {
    if ["fd", "ram", "zram"].iter().any(|p| kname.starts_with(p)) {
        return None;
    }
    let ty = device_type(ctx, kname);
    if !(ty == "disk" || ty == "mpath" || ty.contains("raid")) {
        return None;
    }
    let sys = format!("/sys/block/{kname}");
    if ctx.attr_quiet(&format!("{sys}/hidden")).as_deref() == Some("1") {
        return None;
    }
    for holder in ctx.list(&format!("{sys}/holders")) {
        if ctx.attr_quiet(&format!("/sys/block/{holder}/dm/uuid")).is_some_and(|u| u.starts_with("mpath-")) {
            tracing::debug!("{kname} is a path of multipath device {holder}: skipped");
            return None;
        }
    }
    let sectors: u64 = match ctx.attr_num(&format!("{sys}/size")) {
        Some(s) => s,
        None => {
            ctx.warn(format!("{sys}/size is unreadable: device skipped"));
            return None;
        }
    };
    if sectors == 0 {
        return None;
    }
    let size = sectors.saturating_mul(512);
    let name = format!("/dev/{}", kname.replace('!', "/"));
    let udev = udev_properties(ctx, &sys);
    let u = |k: &str| udev.get(k).map(String::as_str).filter(|v| !v.is_empty());

    let model = u("ID_MODEL_ENC")
        .map(unhexmangle)
        .or_else(|| u("ID_MODEL").map(str::to_string))
        .or_else(|| ctx.attr(&format!("{sys}/device/model")))
        .map(|m| normalize_whitespace(&m))
        .filter(|m| !m.is_empty());

    let serial = ["SCSI_IDENT_SERIAL", "ID_SCSI_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"]
        .iter()
        .find_map(|k| u(k).map(str::to_string))
        .or_else(|| ctx.attr(&format!("{sys}/device/serial")))
        .or_else(|| ctx.attr(&format!("{sys}/serial")))
        .map(|s| normalize_whitespace(&s))
        .filter(|s| !s.is_empty())
        .or_else(|| vpd_pg80(ctx, &format!("{sys}/device/vpd_pg80")));

    let derived = ctx
        .attr_quiet(&format!("{sys}/device/wwid"))
        .or_else(|| ctx.attr_quiet(&format!("{sys}/wwid")))
        .map(|w| wwn_from_wwid(&w, kname.starts_with("nvme")))
        .unwrap_or_default();
    let (wwn, wwn_ext, wwn_vendor) = if u("ID_WWN").is_some() || u("ID_WWN_WITH_EXTENSION").is_some() {
        (
            u("ID_WWN_WITH_EXTENSION").or(u("ID_WWN")).map(str::to_string),
            u("ID_WWN_WITH_EXTENSION").map(str::to_string),
            u("ID_WWN_VENDOR_EXTENSION").map(str::to_string),
        )
    } else {
        derived
    };

    let rotational = ctx.attr(&format!("{sys}/queue/rotational")).map(|r| r == "1");
    if rotational.is_none() {
        ctx.warn(format!("{sys}/queue/rotational is unreadable"));
    }
    let vendor = ctx.attr(&format!("{sys}/device/vendor"));
    let hctl = ctx.list(&format!("{sys}/device/scsi_device")).into_iter().next();
    let tran = transport(ctx, kname, hctl.as_deref());

    Some(json!({
        "name": name,
        "model": model,
        "size": size,
        "rotational": rotational.unwrap_or(false),
        "wwn": wwn,
        "serial": serial,
        "vendor": vendor,
        "wwn_with_extension": wwn_ext,
        "wwn_vendor_extension": wwn_vendor,
        "hctl": hctl,
        "by_path": by_path.get(&name),
        "logical_sectors": ctx.attr_num::<u64>(&format!("{sys}/queue/logical_block_size")),
        "physical_sectors": ctx.attr_num::<u64>(&format!("{sys}/queue/physical_block_size")),
        "tran": tran,
    }))
}

/// /dev/disk/by-path: device node -> link path.
fn by_path_links(ctx: &Ctx) -> HashMap<String, String> {
    let dir = "/dev/disk/by-path";
    let mut out = HashMap::new();
    for entry in ctx.list(dir) {
        let Some(target) = ctx.read_link(&format!("{dir}/{entry}")) else { continue };
        let abs = if target.starts_with('/') { target } else { format!("{dir}/{target}") };
        out.insert(normalize_path(&abs), format!("{dir}/{entry}"));
    }
    out
}

/// Lexical normalization of an absolute path (`/dev/disk/by-path/../../sda` -> `/dev/sda`).
pub fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `E:` properties of a block device in the udev database.
fn udev_properties(ctx: &Ctx, sys: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(devno) = ctx.attr_quiet(&format!("{sys}/dev")) else { return out };
    if devno.contains('/') || devno.contains("..") {
        return out;
    }
    let Some(db) = ctx.read(&format!("/run/udev/data/b{devno}")) else { return out };
    for line in db.lines() {
        if let Some((k, v)) = line.strip_prefix("E:").and_then(|kv| kv.split_once('=')) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

/// udev's `\xHH` escaping undone (`ID_MODEL_ENC`).
pub fn unhexmangle(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("zz"), 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Trim, and make every run of whitespace one space (util-linux's `normalize_whitespace`);
/// control characters count as whitespace.
pub fn normalize_whitespace(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The unit serial number VPD page (0x80): 4-byte header (peripheral, page code, length BE),
/// then the serial in ASCII, usually space-padded.
pub fn parse_vpd_pg80(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = u16::from_be_bytes([page[2], page[3]]) as usize;
    let body = page.get(4..(4 + len).min(page.len()))?;
    let text: String = body.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { ' ' }).collect();
    Some(normalize_whitespace(&text)).filter(|s| !s.is_empty())
}

fn vpd_pg80(ctx: &Ctx, rel: &str) -> Option<String> {
    match ctx.read_bytes(rel, 4096) {
        Ok(b) => {
            let s = parse_vpd_pg80(&b);
            if s.is_none() && !b.is_empty() {
                ctx.warn(format!("{rel}: not a unit serial number page"));
            }
            s
        }
        Err(super::root::ReadError::Missing) => None,
        Err(super::root::ReadError::Failed(m)) => {
            ctx.warn(m);
            None
        }
    }
}

/// (wwn, wwn_with_extension, wwn_vendor_extension) from the kernel's `wwid`, as udev would set
/// them.
pub fn wwn_from_wwid(wwid: &str, nvme: bool) -> (Option<String>, Option<String>, Option<String>) {
    let w = wwid.trim();
    if w.is_empty() {
        return (None, None, None);
    }
    if nvme {
        return (Some(w.to_string()), None, None);
    }
    let Some(hex) = w.strip_prefix("naa.") else { return (None, None, None) };
    let hex = hex.to_lowercase();
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (None, None, None);
    }
    match hex.len() {
        32 => {
            let full = format!("0x{hex}");
            (Some(full.clone()), Some(full), Some(format!("0x{}", &hex[16..])))
        }
        16 => {
            let full = format!("0x{hex}");
            (Some(full.clone()), Some(full), None)
        }
        _ => (None, None, None),
    }
}

/// lsblk's transport detection (`get_transport`).
fn transport(ctx: &Ctx, kname: &str, hctl: Option<&str>) -> Option<String> {
    if let Some(host) = hctl.and_then(|h| h.split(':').next()).and_then(|h| h.parse::<u32>().ok()) {
        let hctl = hctl.unwrap_or_default();
        let host_is = |t: &str| ctx.exists(&format!("/sys/class/{t}_host/host{host}"));
        let host_attr = |t: &str, a: &str| ctx.attr(&format!("/sys/class/{t}_host/host{host}/{a}"));
        let scsi_dev = format!("/sys/bus/scsi/devices/{hctl}");
        if host_is("spi") {
            return Some("spi".into());
        }
        if host_is("fc") {
            let name = host_attr("fc", "symbolic_name")?;
            return Some(if name.contains(" over ") { "fcoe" } else { "fc" }.into());
        }
        if host_is("sas") || ctx.exists(&format!("{scsi_dev}/sas_device")) {
            return Some("sas".into());
        }
        if ctx.exists(&format!("{scsi_dev}/ieee1394_id")) {
            return Some("sbp".into());
        }
        if host_is("iscsi") {
            return Some("iscsi".into());
        }
        if ctx.read_link(&scsi_dev).is_some_and(|t| t.contains("usb")) {
            return Some("usb".into());
        }
        if host_is("scsi") {
            let proc_name = host_attr("scsi", "proc_name")?;
            if proc_name.starts_with("ahci") || proc_name.starts_with("sata") {
                return Some("sata".into());
            }
            if proc_name.contains("ata") {
                return Some("ata".into());
            }
            return None;
        }
    }
    kname.starts_with("nvme").then(|| "nvme".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wwids() {
        let (a, b, c) = wwn_from_wwid("naa.6F4EE0806AA736003095101B850794EE\n", false);
        assert_eq!(a.as_deref(), Some("0x6f4ee0806aa736003095101b850794ee"));
        assert_eq!(b, a);
        assert_eq!(c.as_deref(), Some("0x3095101b850794ee"));
        let (a, b, c) = wwn_from_wwid("naa.5000c500a1b2c3d4", false);
        assert_eq!((a.as_deref(), b.as_deref(), c), (Some("0x5000c500a1b2c3d4"), Some("0x5000c500a1b2c3d4"), None));
        assert_eq!(wwn_from_wwid("t10.ATA     QEMU HARDDISK   QM00001", false), (None, None, None));
        assert_eq!(wwn_from_wwid("naa.zz", false), (None, None, None));
        assert_eq!(wwn_from_wwid("eui.0025388b71b1a1f2", true).0.as_deref(), Some("eui.0025388b71b1a1f2"));
    }

    #[test]
    fn vpd_pages() {
        let mut p = vec![0u8, 0x80, 0, 20];
        p.extend(b"        WD-WCC4N1234567"); // the length cuts it at 20 bytes
        assert_eq!(parse_vpd_pg80(&p).as_deref(), Some("WD-WCC4N1234"));
        let mut p = vec![0u8, 0x80, 0, 14];
        p.extend(b"  QM00001     ");
        assert_eq!(parse_vpd_pg80(&p).as_deref(), Some("QM00001"));
        assert_eq!(parse_vpd_pg80(&[0, 0x83, 0, 1, b'x']), None);
        assert_eq!(parse_vpd_pg80(&[0, 0x80, 0xff, 0xff, b'A', b'B']).as_deref(), Some("AB"));
        assert_eq!(parse_vpd_pg80(&[0, 0x80]), None);
        assert_eq!(parse_vpd_pg80(&[0, 0x80, 0, 3, 0, 0, 0]), None);
    }

    #[test]
    fn text_helpers() {
        assert_eq!(unhexmangle(r"Samsung\x20SSD\x20860"), "Samsung SSD 860");
        assert_eq!(unhexmangle(r"bad\x2"), r"bad\x2");
        assert_eq!(unhexmangle(r"\xzz"), r"\xzz");
        assert_eq!(normalize_whitespace("  PERC  H755\tFront \n"), "PERC H755 Front");
        assert_eq!(normalize_path("/dev/disk/by-path/../../sda"), "/dev/sda");
        assert_eq!(normalize_path("/../../x"), "/x");
    }
}
