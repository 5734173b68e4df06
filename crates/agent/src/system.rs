//! The host side effects commands need, behind a trait so tests never power off the machine,
//! secure-erase a disk or read the host's logs: [`System`]. [`LinuxSystem`] is the real one.

use crate::disk::BlockDevice;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// What the erase steps must know about a device before touching it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFlags {
    /// `/sys/block/<dev>/ro` is 1.
    pub read_only: bool,
    /// The virtual media device IPA was booted from (`/dev/disk/by-label/ir-vfd-dev`).
    pub virtual_media: bool,
}

/// How a device can be erased in firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureEraseKind {
    /// NVMe format with secure erase settings (crypto erase when supported): [`crate::erase::nvme_erase`].
    Nvme,
    /// ATA security erase (enhanced when supported): [`crate::erase::ata_erase`].
    Ata,
}

pub trait System: Send + Sync + 'static {
    /// Power the machine off (IPA: `poweroff`, falling back to sysrq `o`).
    fn power_off(&self) -> Result<(), String>;
    /// Reboot the machine (IPA: `reboot`, falling back to sysrq `b`).
    fn reboot(&self) -> Result<(), String>;
    /// Flush filesystem buffers (IPA's `full_sync`).
    fn sync(&self) -> Result<(), String>;
    /// The ramdisk's logs as a base64-encoded gzipped tarball (IPA's `collect_system_logs`).
    fn collect_system_logs(&self) -> Result<String, String>;
    /// Firmware erase. `Ok(true)`: erased; `Ok(false)`: the device offers no such erase;
    /// `Err`: it was tried and failed.
    fn secure_erase(&self, device: &BlockDevice, kind: SecureEraseKind) -> Result<bool, String>;
    fn device_flags(&self, device: &BlockDevice) -> DeviceFlags;
    /// Ask the kernel to re-read the partition table after it was erased.
    fn reread_partition_table(&self, device: &Path) -> Result<(), String>;
}

/// The real machine.
#[derive(Debug, Default, Clone)]
pub struct LinuxSystem;

fn run(cmd: &str, args: &[&str]) -> Result<(String, String), String> {
    let out = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(format!(
            "{cmd} {} failed ({}): {}",
            args.join(" "),
            out.status,
            stderr.trim()
        ));
    }
    Ok((stdout, stderr))
}

impl LinuxSystem {
    fn shutdown(&self, command: &str, sysrq: &str) -> Result<(), String> {
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "failed to sync file system buffers");
        }
        match run(command, &[]) {
            Ok((_, stderr)) if !stderr.contains("ignoring request") => return Ok(()),
            Ok(_) => tracing::warn!(
                command,
                "command was ignored, falling back to sysrq-trigger"
            ),
            Err(e) => {
                tracing::warn!(command, error = %e, "command failed, falling back to sysrq-trigger")
            }
        }
        std::fs::write("/proc/sysrq-trigger", sysrq)
            .map_err(|e| format!("Error rebooting system: /proc/sysrq-trigger: {e}"))
    }
}

impl System for LinuxSystem {
    fn power_off(&self) -> Result<(), String> {
        self.shutdown("poweroff", "o")
    }

    fn reboot(&self) -> Result<(), String> {
        self.shutdown("reboot", "b")
    }

    fn sync(&self) -> Result<(), String> {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        Ok(())
    }

    fn collect_system_logs(&self) -> Result<String, String> {
        logs::collect()
    }

    fn secure_erase(&self, device: &BlockDevice, kind: SecureEraseKind) -> Result<bool, String> {
        crate::erase::secure_erase(&crate::erase::HostTools, &device.name, kind)
    }

    fn device_flags(&self, device: &BlockDevice) -> DeviceFlags {
        let base = Path::new(&device.name)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let read_only = std::fs::read_to_string(format!("/sys/block/{base}/ro"))
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
        let label = Path::new("/dev/disk/by-label/ir-vfd-dev");
        let virtual_media = std::fs::read_link(label)
            .ok()
            .map(|l| label.parent().unwrap().join(l))
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| p == Path::new(&device.name));
        DeviceFlags {
            read_only,
            virtual_media,
        }
    }

    fn reread_partition_table(&self, device: &Path) -> Result<(), String> {
        use std::os::unix::fs::FileTypeExt;
        use std::os::unix::io::AsRawFd;
        let meta = std::fs::metadata(device).map_err(|e| e.to_string())?;
        if !meta.file_type().is_block_device() {
            return Ok(());
        }
        let f = std::fs::File::open(device).map_err(|e| e.to_string())?;
        const BLKRRPART: libc::c_ulong = 0x125F;
        // SAFETY: BLKRRPART takes no argument; the descriptor is open for the call's duration.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKRRPART as _) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    }
}

/// IPA's `collect_system_logs`: command outputs and log files in a gzipped tarball, base64.
pub mod logs {
    use super::*;

    const COMMANDS: &[(&str, &[&str])] = &[
        (
            "journal",
            &["journalctl", "--full", "--no-pager", "-b", "-n", "10000"],
        ),
        ("dmesg", &["dmesg"]),
        ("df", &["df", "-a"]),
        ("ip_addr", &["ip", "addr"]),
        (
            "lsblk",
            &[
                "lsblk",
                "--all",
                "-o",
                "+UUID,PARTUUID,LABEL,PARTLABEL,FSTYPE",
            ],
        ),
        ("mount", &["mount"]),
        ("ps", &["ps", "au"]),
        ("lspci", &["lspci", "-vvv"]),
    ];
    const MAX_FILE: u64 = 10 << 20;

    pub fn collect() -> Result<String, String> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, argv) in COMMANDS {
            if let Ok(out) = Command::new(argv[0])
                .args(&argv[1..])
                .env("LC_ALL", "C")
                .output()
            {
                let mut data = out.stdout;
                data.extend_from_slice(&out.stderr);
                files.push((name.to_string(), data));
            }
        }
        if let Ok(dir) = std::fs::read_dir("/var/log") {
            for e in dir.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if meta.is_file() && meta.len() <= MAX_FILE {
                    if let Ok(data) = std::fs::read(e.path()) {
                        files.push((format!("var/log/{}", e.file_name().to_string_lossy()), data));
                    }
                }
            }
        }
        if files.is_empty() {
            return Err("no logs could be collected".into());
        }
        let tar = tar(&files);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).map_err(|e| e.to_string())?;
        Ok(base64(&gz.finish().map_err(|e| e.to_string())?))
    }

    /// A ustar archive of regular files.
    pub fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; 512];
            let n = name.as_bytes();
            h[..n.len().min(99)].copy_from_slice(&n[..n.len().min(99)]);
            let octal = |h: &mut [u8; 512], off: usize, width: usize, v: u64| {
                let s = format!("{:0w$o}\0", v, w = width - 1);
                h[off..off + width].copy_from_slice(s.as_bytes());
            };
            octal(&mut h, 100, 8, 0o644);
            octal(&mut h, 108, 8, 0);
            octal(&mut h, 116, 8, 0);
            octal(&mut h, 124, 12, data.len() as u64);
            octal(&mut h, 136, 12, mtime);
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].fill(b' ');
            let sum: u64 = h.iter().map(|b| *b as u64).sum();
            let s = format!("{sum:06o}\0 ");
            h[148..156].copy_from_slice(s.as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    pub fn base64(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
        for c in data.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            s.push(T[(v >> 18) as usize & 63] as char);
            s.push(T[(v >> 12) as usize & 63] as char);
            s.push(if c.len() > 1 {
                T[(v >> 6) as usize & 63] as char
            } else {
                '='
            });
            s.push(if c.len() > 2 {
                T[v as usize & 63] as char
            } else {
                '='
            });
        }
        s
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn base64_vectors() {
            assert_eq!(super::base64(b""), "");
            assert_eq!(super::base64(b"f"), "Zg==");
            assert_eq!(super::base64(b"fo"), "Zm8=");
            assert_eq!(super::base64(b"foo"), "Zm9v");
            assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        }
    }
}
