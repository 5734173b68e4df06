//! Parameters from virtual media (IPA's `utils.get_agent_params` / `_get_vmedia_params`): when
//! the kernel command line says `boot_method=vmedia`, Ironic has attached a small device
//! labelled `ir-vfd-dev` (or one whose SCSI model says "virtual media") with a
//! `parameters.txt` of `key=value` words; those win over the command line's.
//!
//! The device is found as IPA finds it: `lsblk -p -P -oKNAME,LABEL` for the label, else
//! `/sys/class/block/*/device/model` containing "virtual media"; either must pass IPA's
//! `_check_vmedia_device` (`lsblk -n -s -P -b -oKNAME,TRAN,TYPE,SIZE DEV`: a `rom`, or a USB
//! disk under 4 GiB; never a partition). It is mounted on a temporary directory, the file
//! read, and unmounted. Tools run through [`Tools`], sysfs is read under a root, so tests run
//! on fixtures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::parse_kernel_params;
use crate::tools::Tools;

/// The label of the virtual media device with the parameters.
pub const VMEDIA_LABEL: &str = "ir-vfd-dev";
/// The file on it.
pub const PARAMETERS_FILE: &str = "parameters.txt";
/// IPA's bound for a USB disk to count as virtual media.
const USB_VMEDIA_MAX: u64 = 4 << 30;

/// IPA's `parse_device_tags`: `KEY="VALUE" KEY2="VALUE2"` per line (shell quoting).
pub fn parse_device_tags(output: &str) -> Vec<BTreeMap<String, String>> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            shell_words(l)
                .into_iter()
                .filter_map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect()
        })
        .collect()
}

/// Split on whitespace, honouring double and single quotes and backslashes (as shlex).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// IPA's `_check_vmedia_device`.
pub fn check_vmedia_device(t: &dyn Tools, dev: &str) -> bool {
    let out = match t.run(&["lsblk", "-n", "-s", "-P", "-b", "-oKNAME,TRAN,TYPE,SIZE", dev]) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "lsblk failed: it is needed to identify virtual media");
            return false;
        }
    };
    for d in parse_device_tags(&out) {
        let (Some(kind), Some(tran), Some(size)) = (d.get("TYPE"), d.get("TRAN"), d.get("SIZE")) else { return false };
        let kname = d.get("KNAME").map(String::as_str).unwrap_or("");
        match kind.as_str() {
            "part" => {
                tracing::info!(device = kname, "not virtual media: a partition");
                return false;
            }
            "rom" => return true,
            "disk" if tran == "usb" => match size.parse::<u64>() {
                Ok(s) if s < USB_VMEDIA_MAX => return true,
                _ => tracing::info!(device = kname, size = %size, "not virtual media: too big for a USB virtual disk"),
            },
            _ => {}
        }
        tracing::info!(device = kname, kind = %kind, tran = %tran, "disqualified as virtual media");
    }
    false
}

/// IPA's `_find_vmedia_device_by_labels`: the first device with one of `labels` (any case)
/// that passes [`check_vmedia_device`].
pub fn find_by_labels(t: &dyn Tools, labels: &[&str]) -> Option<String> {
    let out = match t.run(&["lsblk", "-p", "-P", "-oKNAME,LABEL"]) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "unable to run lsblk");
            return None;
        }
    };
    let candidates: Vec<String> = parse_device_tags(&out)
        .into_iter()
        .filter(|d| {
            let label = d.get("LABEL").map(|l| l.to_uppercase()).unwrap_or_default();
            labels.iter().any(|l| l.to_uppercase() == label)
        })
        .filter_map(|d| d.get("KNAME").cloned())
        .collect();
    let found = candidates.iter().find(|c| check_vmedia_device(t, c)).cloned();
    if found.is_none() {
        tracing::info!(?candidates, "no virtual media device among the labelled ones");
    }
    found
}

/// IPA's `_get_vmedia_device`: the first `/sys/class/block/<dev>` whose `device/model`
/// contains "virtual media" (any case); the device name.
pub fn device_by_model(root: &Path) -> Option<String> {
    let dir = root.join("sys/class/block");
    let mut names: Vec<String> = std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names.into_iter().find(|n| {
        std::fs::read_to_string(dir.join(n).join("device/model")).is_ok_and(|m| m.to_lowercase().contains("virtual media"))
    })
}

/// IPA's `_get_vmedia_params`: the parameters on the virtual media device, empty when there
/// is none; `Err` when the device was found but its file could not be read.
pub fn vmedia_params(t: &dyn Tools, root: &Path) -> Result<BTreeMap<String, String>, String> {
    let dev = match find_by_labels(t, &[VMEDIA_LABEL]) {
        Some(d) => d,
        None => {
            let Some(name) = device_by_model(root) else { return Ok(BTreeMap::new()) };
            let dev = format!("/dev/{name}");
            if !check_vmedia_device(t, &dev) {
                return Ok(BTreeMap::new());
            }
            dev
        }
    };
    let mnt = temp_mount_point()?;
    let m = mnt.to_string_lossy().into_owned();
    let res = t.run(&["mount", &dev, &m]).map_err(|e| format!("mounting virtual media {dev}: {e}")).and_then(|_| {
        let text = std::fs::read_to_string(mnt.join(PARAMETERS_FILE))
            .map_err(|e| format!("{dev}: {PARAMETERS_FILE}: {e}"));
        if let Err(e) = t.run(&["umount", &m]) {
            tracing::warn!(mount = %m, error = %e, "unable to unmount the virtual media");
        }
        text
    });
    let _ = std::fs::remove_dir(&mnt);
    let params = parse_kernel_params(&res?);
    tracing::info!(device = %dev, count = params.len(), "parameters from virtual media");
    Ok(params)
}

fn temp_mount_point() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for i in 0..100u32 {
        let p = base.join(format!("ferric-vmedia-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating a mount point in {}: {e}", base.display())),
        }
    }
    Err("no free temporary mount point".into())
}

/// IPA's `get_agent_params` after the command line was read: with `boot_method=vmedia`, the
/// virtual media's parameters are merged over `params` (they win). A device that cannot be
/// read is logged and the command line's parameters stay.
pub fn merge_vmedia_params(params: &mut BTreeMap<String, String>, t: &dyn Tools, root: &Path) {
    if params.get("boot_method").map(String::as_str) != Some("vmedia") {
        return;
    }
    match vmedia_params(t, root) {
        Ok(v) => params.extend(v),
        Err(e) => tracing::error!(error = %e, "booted from virtual media but its parameters are unreadable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tags() {
        let t = parse_device_tags("KNAME=\"/dev/sda3\" LABEL=\"Recovery HD\"\n\nKNAME=\"/dev/sr0\" LABEL=\"ir-vfd-dev\"\n");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["LABEL"], "Recovery HD");
        assert_eq!(t[1]["KNAME"], "/dev/sr0");
        assert_eq!(shell_words(r#"A="x \"y\"" B='z w' C=v"#), [r#"A=x "y""#, "B=z w", "C=v"]);
    }
}
