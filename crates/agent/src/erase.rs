//! Firmware ("secure") erase, as IPA's `GenericHardwareManager._nvme_erase` and `_ata_erase`
//! (`IPA:hardware.py`) do it, with the tools behind [`Tools`] so tests feed recorded outputs
//! and check the exact command lines; nothing here opens a device itself.
//!
//! - NVMe: `nvme id-ctrl DEV -o json`; OACS bit 1 says format is supported, FNA bit 2 says
//!   cryptographic erase is: `nvme format DEV -s 2 -f`, else user-data erase `-s 1`.
//! - ATA: the Security section of `hdparm -I DEV` (and `smartctl -d ata DEV -g security` must
//!   not say "Unavailable"): supported and not frozen, unlocked with the empty password if a
//!   previous attempt left it locked, a NULL user password set, then
//!   `hdparm --user-master u --security-erase[-enhanced] NULL DEV`, and the security state
//!   must be back to "not enabled".
//!
//! `Ok(true)`: erased; `Ok(false)`: the device offers no such erase (the caller overwrites
//! it); `Err`: it offers one and it failed (IPA's `BlockDeviceEraseError`).
//!
//! One deliberate difference: IPA lets a failing `hdparm -I` (a virtio or USB disk that does
//! not answer ATA IDENTIFY, or hdparm missing) escape as an unexpected error; here it means
//! "no ATA security erase" and the device is overwritten.

pub use crate::tools::{HostTools, ToolError, Tools};

/// NVMe id-ctrl flags: OACS bit 1 (Format NVM supported), FNA bit 2 (crypto erase supported).
pub const NVME_FORMAT_SUPPORTED: u64 = 0b10;
pub const NVME_CRYPTO_FORMAT_SUPPORTED: u64 = 0b100;

/// The firmware erase of `kind` for device `dev`.
pub fn secure_erase(t: &dyn Tools, dev: &str, kind: crate::system::SecureEraseKind) -> Result<bool, String> {
    match kind {
        crate::system::SecureEraseKind::Nvme => nvme_erase(t, dev),
        crate::system::SecureEraseKind::Ata => ata_erase(t, dev),
    }
}

/// IPA's `_nvme_erase`.
pub fn nvme_erase(t: &dyn Tools, dev: &str) -> Result<bool, String> {
    let out = t
        .run(&["nvme", "id-ctrl", dev, "-o", "json"])
        .map_err(|e| format!("Failed to fetch NVMe capabilities for device {dev}: {e}"))?;
    let info: serde_json::Value = match serde_json::from_str(&out) {
        Ok(v @ serde_json::Value::Object(_)) if v.as_object().is_some_and(|o| !o.is_empty()) => v,
        _ => return Err(format!("nvme-cli did not return any information for device: {dev}")),
    };
    let oacs = info.get("oacs").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if oacs & NVME_FORMAT_SUPPORTED == 0 {
        return Err(format!("nvme-cli did not return any supported format modes for device: {dev}"));
    }
    let fna = info.get("fna").and_then(serde_json::Value::as_u64).unwrap_or(0);
    // 2: cryptographic erase; 1: user-data erase.
    let mode = if fna & NVME_CRYPTO_FORMAT_SUPPORTED != 0 { "2" } else { "1" };
    t.run(&["nvme", "format", dev, "-s", mode, "-f"]).map_err(|e| format!("Failed to nvme format device {dev}: {e}"))?;
    tracing::info!(device = dev, ses = mode, "nvme-cli format completed");
    Ok(true)
}

/// The lines of `hdparm -I`'s Security section, trimmed, tabs as spaces (IPA's
/// `_get_ata_security_lines`): `supported`, `not enabled`, `not locked`, `not frozen`,
/// `not supported: enhanced erase`, ...
pub fn ata_security_lines(hdparm_output: &str) -> Vec<String> {
    let Some((_, after)) = hdparm_output.split_once("\nSecurity: \n") else { return Vec::new() };
    after
        .split('\n')
        .take_while(|l| l.starts_with('\t'))
        .map(|l| l.trim().replace('\t', " "))
        .collect()
}

fn has(lines: &[String], s: &str) -> bool {
    lines.iter().any(|l| l == s)
}

/// IPA's `_smartctl_security_check`: false when smartctl cannot talk ATA to the device or
/// says security is unavailable; true when smartctl is not installed.
fn smartctl_allows(t: &dyn Tools, dev: &str) -> bool {
    match t.run(&["smartctl", "-d", "ata", dev, "-g", "security"]) {
        Ok(out) => !out.contains("Unavailable"),
        // IPA accepts exit code 127 as success (and its output says nothing unavailable).
        Err(ToolError::Failed { code: Some(127), .. }) => true,
        Err(ToolError::Failed { .. }) => {
            tracing::warn!(device = dev, "refusing ATA secure erase: smartctl cannot query the device's ATA security");
            false
        }
        Err(ToolError::NotFound(e)) => {
            tracing::warn!(error = %e, "unable to execute smartctl");
            true
        }
    }
}

fn security_lines(t: &dyn Tools, dev: &str) -> Result<Vec<String>, ToolError> {
    t.run(&["hdparm", "-I", dev]).map(|o| ata_security_lines(&o))
}

/// IPA's `_ata_erase`.
pub fn ata_erase(t: &dyn Tools, dev: &str) -> Result<bool, String> {
    let lines = match security_lines(t, dev) {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(device = dev, error = %e, "hdparm -I gives nothing: no ATA security erase");
            return Ok(false);
        }
    };
    if !smartctl_allows(t, dev) || !has(&lines, "supported") {
        return Ok(false);
    }
    if !has(&lines, "not frozen") {
        return Err(format!("Block device {dev} is frozen and cannot be erased"));
    }
    let unlock = |mut lines: Vec<String>| -> Vec<String> {
        for password in ["NULL", ""] {
            if has(&lines, "not locked") {
                break;
            }
            if let Err(e) = t.run(&["hdparm", "--user-master", "u", "--security-unlock", password, dev]) {
                tracing::info!(device = dev, password, error = %e, "security unlock failed");
            }
            lines = security_lines(t, dev).unwrap_or_default();
        }
        lines
    };
    let lines = unlock(lines);
    if !has(&lines, "not locked") {
        return Err(format!("Block device {dev} already has a security password set"));
    }
    if has(&lines, "not enabled") {
        t.run(&["hdparm", "--user-master", "u", "--security-set-pass", "NULL", dev])
            .map_err(|e| format!("Security password set failed for device {dev}: {e}"))?;
    }
    let option = if has(&lines, "not supported: enhanced erase") { "--security-erase" } else { "--security-erase-enhanced" };
    if let Err(e) = t.run(&["hdparm", "--user-master", "u", option, "NULL", dev]) {
        // Unlock so that the fallback overwrite can write to the device.
        unlock(security_lines(t, dev).unwrap_or_default());
        return Err(format!("Erase failed for device {dev}: {e}"));
    }
    let lines = security_lines(t, dev).map_err(|e| format!("An unknown error occurred erasing block device {dev}: {e}"))?;
    if !has(&lines, "not enabled") {
        return Err(format!("An unknown error occurred erasing block device {dev}"));
    }
    tracing::info!(device = dev, option, "ATA security erase completed");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_section() {
        let out = "/dev/sda:\nSecurity: \n\tMaster password revision code = 65534\n\tsupported\n\tnot\tenabled\nChecksum: correct\n";
        assert_eq!(ata_security_lines(out), ["Master password revision code = 65534", "supported", "not enabled"]);
        assert!(ata_security_lines("/dev/vda:\n HDIO_DRIVE_CMD(identify) failed: Inappropriate ioctl for device\n").is_empty());
    }
}
