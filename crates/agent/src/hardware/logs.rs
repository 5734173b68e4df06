//! The `logs` collector: a gzipped tar, base64-encoded, in the form Ironic's ramdisk-error
//! hook stores (IPA's `collect_system_logs`).
//!
//! On the host: `journal` (`journalctl --full --no-pager -b -n 10000`) when journalctl
//! exists, and the output of the diagnostic commands IPA runs that are installed (`dmesg`,
//! `ip addr`, `lsblk`, `df -a`, `mount`, `ps au`, `efibootmgr -v`, `multipath -ll`), each
//! with the command time limit. Under any root: `proc/cmdline`, `proc/mdstat`, the udev
//! properties of each block device (`udev/<name>`, JSON), and, when there is no journal,
//! the files of /var/log (two levels deep) as IPA does.
//!
//! Bounded: each command's output and each file (its end) at most 1 MiB, at most 64 log
//! files, at most 16 MiB before compression; what does not fit is left out with a note in
//! the archive (`ferric-truncated`).

use std::io::Write;

use super::cmd;
use super::root::Ctx;

const ITEM_CAP: usize = 1 << 20;
const TOTAL_CAP: usize = 16 << 20;
const MAX_LOG_FILES: usize = 64;

/// The lsblk columns IPA lists.
const LSBLK_COLUMNS: &str = "KNAME,MODEL,SIZE,ROTA,TYPE,UUID,PARTUUID,SERIAL,WWN,LOG-SEC,PHY-SEC,TRAN";

pub fn collect(ctx: &Ctx) -> String {
    let mut tar = Tar::default();
    let mut journal = false;
    if ctx.is_host() {
        if let Some(j) = cmd::which("journalctl") {
            match cmd::run(&j, &["--full", "--no-pager", "-b", "-n", "10000"], ctx.opts.command_timeout, 4 * ITEM_CAP) {
                Ok(o) => {
                    if o.truncated {
                        tar.note("journal: cut at 4 MiB");
                    }
                    tar.add("journal", o.stdout.as_bytes());
                    journal = true;
                }
                Err(e) => ctx.warn(format!("failed to get the system journal: {e}")),
            }
        }
        let lsblk_cols = format!("-o{LSBLK_COLUMNS}");
        let commands: [(&str, &str, Vec<&str>); 8] = [
            ("df", "df", vec!["-a"]),
            ("dmesg", "dmesg", vec![]),
            ("efibootmgr", "efibootmgr", vec!["-v"]),
            ("ip_addr", "ip", vec!["addr"]),
            ("lsblk", "lsblk", vec!["--all", &lsblk_cols]),
            ("mount", "mount", vec![]),
            ("multipath", "multipath", vec!["-ll"]),
            ("ps", "ps", vec!["au"]),
        ];
        for (entry, prog, args) in commands {
            let Some(p) = cmd::which(prog) else { continue };
            match cmd::run(&p, &args, ctx.opts.command_timeout, ITEM_CAP) {
                Ok(o) => {
                    if o.truncated {
                        tar.note(&format!("{entry}: cut at 1 MiB"));
                    }
                    tar.add(entry, o.stdout.as_bytes())
                }
                Err(e) => tracing::debug!("logs: {e}"),
            }
        }
    }
    for f in ["/proc/cmdline", "/proc/mdstat"] {
        if let Ok(b) = ctx.read_tail(f, ITEM_CAP as u64) {
            tar.add(&f[1..], &b);
        }
    }
    for dev in ctx.list("/sys/block") {
        let Some(devno) = ctx.attr_quiet(&format!("/sys/block/{dev}/dev")) else { continue };
        if devno.contains('/') {
            continue;
        }
        let Some(db) = ctx.read(&format!("/run/udev/data/b{devno}")) else { continue };
        let props: serde_json::Map<String, serde_json::Value> = db
            .lines()
            .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        tar.add(&format!("udev/{dev}"), serde_json::Value::Object(props).to_string().as_bytes());
    }
    if !journal {
        let mut files = Vec::new();
        log_files(ctx, "/var/log", 0, &mut files);
        if files.len() > MAX_LOG_FILES {
            tar.note(&format!("{} files under /var/log, only the first {MAX_LOG_FILES} kept", files.len()));
            files.truncate(MAX_LOG_FILES);
        }
        for f in files {
            match ctx.read_tail(&f, ITEM_CAP as u64) {
                Ok(b) => tar.add(&f[1..], &b),
                Err(super::root::ReadError::Failed(m)) => ctx.warn(m),
                Err(super::root::ReadError::Missing) => {}
            }
        }
    }
    let archive = tar.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&archive);
    let bytes = gz.finish().unwrap_or_default();
    base64(&bytes)
}

fn log_files(ctx: &Ctx, dir: &str, depth: usize, out: &mut Vec<String>) {
    for n in ctx.list(dir) {
        let p = format!("{dir}/{n}");
        if ctx.is_file(&p) {
            out.push(p);
        } else if depth < 1 && ctx.is_dir(&p) {
            log_files(ctx, &p, depth + 1, out);
        }
        if out.len() > 4 * MAX_LOG_FILES {
            return;
        }
    }
}

/// A minimal ustar writer: regular files only.
#[derive(Default)]
pub struct Tar {
    out: Vec<u8>,
    raw: usize,
    dropped: Vec<String>,
}

impl Tar {
    pub fn add(&mut self, name: &str, data: &[u8]) {
        if self.raw + data.len() > TOTAL_CAP {
            self.dropped.push(name.to_string());
            return;
        }
        let Some(header) = header(name, data.len() as u64) else {
            self.dropped.push(name.to_string());
            return;
        };
        self.raw += data.len();
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn note(&mut self, msg: &str) {
        self.dropped.push(msg.to_string());
    }

    pub fn finish(mut self) -> Vec<u8> {
        if !self.dropped.is_empty() {
            let text = format!("left out to keep the archive small:\n{}\n", self.dropped.join("\n"));
            self.dropped.clear();
            self.raw = 0;
            self.add("ferric-truncated", text.as_bytes());
        }
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

fn header(name: &str, size: u64) -> Option<[u8; 512]> {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    let (prefix, base) = if name.len() <= 100 {
        (&b""[..], name)
    } else {
        // Split at a slash so the name fits the 155-byte prefix and the 100-byte name.
        let cut = (0..name.len()).rev().find(|&i| name[i] == b'/' && i <= 155 && name.len() - i - 1 <= 100)?;
        (&name[..cut], &name[cut + 1..])
    };
    h[..base.len()].copy_from_slice(base);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    h[136..148].copy_from_slice(format!("{:011o}\0", mtime & 0o77777777777).as_bytes());
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Some(h)
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        s.push(A[(n >> 18) as usize & 63] as char);
        s.push(A[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        s.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn tar_layout() {
        let mut t = Tar::default();
        t.add("journal", b"hello");
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        t.add(&long, b"x");
        t.add(&"z".repeat(300), b"y"); // cannot be split: dropped, noted
        let a = t.finish();
        assert_eq!(a.len() % 512, 0);
        assert_eq!(&a[..7], b"journal");
        assert_eq!(&a[257..263], b"ustar\0");
        assert_eq!(&a[124..136], b"00000000005\0");
        assert_eq!(&a[512..517], b"hello");
        // The header checksum: the sum of the header with the checksum field as spaces.
        let mut h = a[..512].to_vec();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(std::str::from_utf8(&a[148..154]).unwrap(), format!("{sum:06o}"));
        assert_eq!(&a[1024 + 345..1024 + 465], "d".repeat(120).as_bytes());
        assert!(a.windows(16).any(|w| w == b"ferric-truncated"));
    }
}
