//! `ferric agent capture`: copy exactly the part of a machine's /proc, /sys, /dev and /run that
//! the hardware collectors read, as a fixture tree (a directory, or a tar archive of one) that
//! `ferric agent inventory --root DIR` reads back into the same inventory. It is how the test
//! fixtures are made (this machine, QEMU VMs) and what an operator sends with a bug report.
//!
//! Symbolic links are kept as links with their original targets (sysfs uses relative links, so
//! the tree resolves inside itself); every link met on the way to a captured file is recreated,
//! and the directories it points to are captured as far as needed. Files are copied up to
//! [`FILE_CAP`] bytes each; unreadable attributes are skipped. Run as root to get the SMBIOS
//! table. [`PATTERNS`] and [`LINKS`] are the single list of what is taken
//! (`tests/fixtures/capture.py` only runs this).
//!
//! Capturing from a root other than `/` (a fixture tree) works the same way, links being
//! resolved inside that root.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The files (and directories) the collectors read, as shell globs (`*`, `?`, `[0-9]`).
pub const PATTERNS: &[&str] = &[
    // cpu
    "/proc/cpuinfo",
    "/proc/sys/kernel/arch",
    "/proc/sys/kernel/hostname",
    "/proc/cmdline",
    "/sys/devices/system/cpu/present",
    "/sys/devices/system/cpu/online",
    "/sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id",
    "/sys/devices/system/cpu/cpu[0-9]*/topology/core_id",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq",
    // memory, SMBIOS, NUMA
    "/proc/meminfo",
    "/proc/mdstat",
    "/sys/firmware/dmi/tables/DMI",
    "/sys/firmware/dmi/tables/smbios_entry_point",
    "/sys/class/dmi/id/*",
    "/sys/devices/system/memory/block_size_bytes",
    "/sys/devices/system/memory/memory*/online",
    "/sys/devices/system/node/node*/meminfo",
    "/sys/devices/system/node/node*/cpu[0-9]*/topology/core_id",
    // disks
    "/sys/block/*/dev",
    "/sys/block/*/size",
    "/sys/block/*/hidden",
    "/sys/block/*/serial",
    "/sys/block/*/wwid",
    "/sys/block/*/holders",
    "/sys/block/*/dm/uuid",
    "/sys/block/*/md/level",
    "/sys/block/*/queue/rotational",
    "/sys/block/*/queue/logical_block_size",
    "/sys/block/*/queue/physical_block_size",
    "/sys/block/*/device/vendor",
    "/sys/block/*/device/model",
    "/sys/block/*/device/serial",
    "/sys/block/*/device/type",
    "/sys/block/*/device/vpd_pg80",
    "/sys/block/*/device/wwid",
    "/sys/block/*/device/scsi_device/*",
    "/sys/class/scsi_host/*/proc_name",
    "/dev/disk/by-path/*",
    "/run/udev/data/b*",
    // network
    "/proc/net/if_inet6",
    "/proc/net/route",
    "/proc/net/fib_trie",
    "/sys/class/net/*/address",
    "/sys/class/net/*/carrier",
    "/sys/class/net/*/speed",
    "/sys/class/net/*/device/vendor",
    "/sys/class/net/*/device/device",
    "/sys/class/net/*/device/numa_node",
    "/sys/class/net/*/bonding",
    // boot
    "/sys/firmware/efi",
    // pci
    "/sys/bus/pci/devices/*/vendor",
    "/sys/bus/pci/devices/*/device",
    "/sys/bus/pci/devices/*/class",
    "/sys/bus/pci/devices/*/revision",
    "/sys/bus/pci/devices/*/numa_node",
];

/// Links read for their target only (never followed). The `device` link inside
/// `scsi_device/<H:C:T:L>` also keeps that directory from being empty, which git would not store.
pub const LINKS: &[&str] = &[
    "/sys/class/net/*/device",
    "/sys/class/net/*/device/driver",
    "/sys/block/*/device/driver",
    "/sys/block/*/device/scsi_device/*/device",
];

/// Directories whose entries are taken even when none of their files was (the interfaces and
/// block devices themselves).
const ENTRIES: &[&str] = &["/sys/class/net", "/sys/block"];

/// The most taken from one file.
pub const FILE_CAP: u64 = 64 * 1024;
/// How many links one path may go through.
const MAX_HOPS: usize = 40;

/// Where a capture goes.
pub trait Sink {
    fn dir(&mut self, path: &str) -> io::Result<()>;
    fn file(&mut self, path: &str, data: &[u8]) -> io::Result<()>;
    fn link(&mut self, path: &str, target: &str) -> io::Result<()>;
}

/// What a capture took.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub links: usize,
    pub dirs: usize,
    pub bytes: u64,
}

/// Capture the machine under `root` (`/` for this one) into `sink`.
pub fn capture(root: &Path, sink: &mut dyn Sink) -> io::Result<Summary> {
    let mut c = Capturer { root: root.to_path_buf(), sink, seen: BTreeSet::new(), sum: Summary::default() };
    for pat in PATTERNS {
        for p in c.glob(pat) {
            c.capture(&p)?;
        }
    }
    for pat in LINKS {
        for p in c.glob(pat) {
            if c.is_link(&p) {
                c.walk(&p, false)?;
            }
        }
    }
    for d in ENTRIES {
        for p in c.glob(&format!("{d}/*")) {
            c.walk(&p, true)?;
        }
    }
    Ok(c.sum)
}

/// Capture into a new directory `out` (which must not exist or be empty).
pub fn capture_to_dir(root: &Path, out: &Path) -> io::Result<Summary> {
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is not empty", out.display())));
    }
    fs::create_dir_all(out)?;
    capture(root, &mut DirSink { out: out.to_path_buf() })
}

/// Capture as a tar archive written to `w`.
pub fn capture_to_tar(root: &Path, w: &mut dyn Write) -> io::Result<Summary> {
    let mut t = TarSink { w, dirs: BTreeSet::new() };
    let s = capture(root, &mut t)?;
    t.w.write_all(&[0u8; 1024])?;
    t.w.flush()?;
    Ok(s)
}

struct Capturer<'a> {
    root: PathBuf,
    sink: &'a mut dyn Sink,
    /// Machine paths already handed to the sink.
    seen: BTreeSet<String>,
    sum: Summary,
}

impl Capturer<'_> {
    fn host(&self, p: &str) -> PathBuf {
        let mut h = self.root.clone();
        h.push(p.trim_start_matches('/'));
        h
    }

    /// `lstat` of `p`: its parent resolved inside the root, the last component as it is.
    fn lstat(&self, p: &str) -> Option<fs::Metadata> {
        let name = p.rsplit('/').next()?;
        let real = self.resolve(&parent(p))?;
        fs::symlink_metadata(self.host(&join(&real, name))).ok()
    }

    fn is_link(&self, p: &str) -> bool {
        self.lstat(p).is_some_and(|m| m.file_type().is_symlink())
    }

    /// Whether `p` is a directory, its links resolved inside the root.
    fn is_dir(&self, p: &str) -> bool {
        self.resolve(p).is_some_and(|r| fs::symlink_metadata(self.host(&r)).is_ok_and(|m| m.is_dir()))
    }

    /// `p` with every link resolved inside the root (no side effects); `None` when it does
    /// not exist or loops.
    fn resolve(&self, p: &str) -> Option<String> {
        let mut pending: Vec<String> = split(p).into_iter().rev().collect();
        let mut cur = String::from("/");
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                ".." => cur = parent(&cur),
                "." => {}
                _ => {
                    let next = join(&cur, &c);
                    let md = fs::symlink_metadata(self.host(&next)).ok()?;
                    if md.file_type().is_symlink() {
                        hops += 1;
                        if hops > MAX_HOPS {
                            return None;
                        }
                        let t = fs::read_link(self.host(&next)).ok()?;
                        let t = t.to_string_lossy();
                        if t.starts_with('/') {
                            cur = "/".into();
                        }
                        pending.extend(split(&t).into_iter().rev());
                    } else {
                        cur = next;
                    }
                }
            }
        }
        Some(cur)
    }

    /// The machine paths matching a glob, sorted, as Python's `glob.glob`: wildcards do not
    /// match names starting with a dot, links are followed on the way.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let comps = split(pattern);
        let mut cands = vec![String::from("/")];
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for base in &cands {
                if !has_magic(comp) {
                    let p = join(base, comp);
                    if self.lstat(&p).is_some() {
                        next.push(p);
                    }
                    continue;
                }
                let Some(real) = self.resolve(base) else { continue };
                let Ok(rd) = fs::read_dir(self.host(&real)) else { continue };
                let mut names: Vec<String> = rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
                names.sort();
                for n in names {
                    if (n.starts_with('.') && !comp.starts_with('.')) || !matches(comp, &n) {
                        continue;
                    }
                    next.push(join(base, &n));
                }
            }
            if !last {
                next.retain(|p| self.is_dir(p));
            }
            cands = next;
        }
        cands.sort();
        cands
    }

    fn make_link(&mut self, p: &str, target: &str) -> io::Result<()> {
        if self.seen.insert(p.to_string()) {
            self.sink.link(p, target)?;
            self.sum.links += 1;
        }
        Ok(())
    }

    fn make_dir(&mut self, p: &str) -> io::Result<()> {
        if p != "/" && self.seen.insert(p.to_string()) {
            self.sink.dir(p)?;
            self.sum.dirs += 1;
        }
        Ok(())
    }

    /// Recreate every link on the way to `path`; the real path it resolves to.
    fn walk(&mut self, path: &str, follow_last: bool) -> io::Result<Option<String>> {
        let mut pending: Vec<String> = split(path).into_iter().rev().collect();
        let mut cur = String::from("/");
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                ".." => {
                    cur = parent(&cur);
                    continue;
                }
                "." => continue,
                _ => {}
            }
            let p = join(&cur, &c);
            let Ok(md) = fs::symlink_metadata(self.host(&p)) else { return Ok(None) };
            if md.file_type().is_symlink() {
                let Ok(t) = fs::read_link(self.host(&p)) else { return Ok(None) };
                let t = t.to_string_lossy().into_owned();
                self.make_link(&p, &t)?;
                if follow_last || !pending.is_empty() {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Ok(None);
                    }
                    if t.starts_with('/') {
                        cur = "/".into();
                    }
                    pending.extend(split(&t).into_iter().rev());
                } else {
                    cur = p;
                }
            } else {
                if !pending.is_empty() {
                    if !md.is_dir() {
                        return Ok(None);
                    }
                    self.make_dir(&p)?;
                }
                cur = p;
            }
        }
        Ok(Some(cur))
    }

    fn capture(&mut self, path: &str) -> io::Result<()> {
        let Some(real) = self.walk(path, true)? else { return Ok(()) };
        let Ok(md) = fs::symlink_metadata(self.host(&real)) else { return Ok(()) };
        if md.is_dir() {
            return self.make_dir(&real);
        }
        if !md.is_file() || self.seen.contains(&real) {
            return Ok(());
        }
        let mut data = Vec::new();
        let read = fs::File::open(self.host(&real)).and_then(|f| f.take(FILE_CAP).read_to_end(&mut data));
        if read.is_err() {
            // Unreadable attributes (write-only, EIO, EINVAL on a link that is down) are skipped.
            return Ok(());
        }
        self.seen.insert(real.clone());
        self.sink.file(&real, &data)?;
        self.sum.files += 1;
        self.sum.bytes += data.len() as u64;
        Ok(())
    }
}

fn split(p: &str) -> Vec<String> {
    p.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

fn join(base: &str, c: &str) -> String {
    if base == "/" {
        format!("/{c}")
    } else {
        format!("{base}/{c}")
    }
}

fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// fnmatch for one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
pub fn matches(pat: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2) else {
                    return n.first() == Some(&'[') && m(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let mut set = &p[1..close];
                let negate = matches!(set.first(), Some('!') | Some('^'));
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && m(&p[close + 1..], &n[1..])
            }
            Some(&x) => n.first() == Some(&x) && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

/// A capture into a directory: machine path `/sys/x` becomes `OUT/sys/x`.
pub struct DirSink {
    pub out: PathBuf,
}

impl DirSink {
    fn path(&self, p: &str) -> PathBuf {
        self.out.join(p.trim_start_matches('/'))
    }
}

impl Sink for DirSink {
    fn dir(&mut self, p: &str) -> io::Result<()> {
        fs::create_dir_all(self.path(p))
    }

    fn file(&mut self, p: &str, data: &[u8]) -> io::Result<()> {
        let o = self.path(p);
        if let Some(d) = o.parent() {
            fs::create_dir_all(d)?;
        }
        fs::write(o, data)
    }

    fn link(&mut self, p: &str, target: &str) -> io::Result<()> {
        let o = self.path(p);
        if fs::symlink_metadata(&o).is_ok() {
            return Ok(());
        }
        if let Some(d) = o.parent() {
            fs::create_dir_all(d)?;
        }
        std::os::unix::fs::symlink(target, o)
    }
}

/// A capture as a tar archive (ustar, GNU long names for paths and link targets over 100
/// bytes; GNU tar and busybox tar read it). Entries are relative: `sys/class/net/eth0`.
struct TarSink<'a> {
    w: &'a mut dyn Write,
    dirs: BTreeSet<String>,
}

impl TarSink<'_> {
    /// The parent directories of `p` not yet in the archive, so that any extractor makes them.
    fn parents(&mut self, p: &str) -> io::Result<()> {
        let parent = parent(p);
        if parent == "/" || self.dirs.contains(&parent) {
            return Ok(());
        }
        self.parents(&parent)?;
        self.dirs.insert(parent.clone());
        self.entry(&parent, b'5', "", &[])
    }

    fn entry(&mut self, p: &str, kind: u8, link: &str, data: &[u8]) -> io::Result<()> {
        let mut name = p.trim_start_matches('/').to_string();
        if kind == b'5' {
            name.push('/');
        }
        if name.len() > 100 {
            self.long(b'L', &name)?;
        }
        if link.len() > 100 {
            self.long(b'K', link)?;
        }
        let mode = match kind {
            b'5' => 0o755,
            b'2' => 0o777,
            _ => 0o644,
        };
        self.w.write_all(&tar_header(&name, kind, link, data.len() as u64, mode))?;
        self.data(data)
    }

    /// A GNU long name (`L`) or long link target (`K`) record.
    fn long(&mut self, kind: u8, value: &str) -> io::Result<()> {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.w.write_all(&tar_header("././@LongLink", kind, "", v.len() as u64, 0o644))?;
        self.data(&v)
    }

    fn data(&mut self, data: &[u8]) -> io::Result<()> {
        self.w.write_all(data)?;
        let pad = (512 - data.len() % 512) % 512;
        self.w.write_all(&vec![0u8; pad])
    }
}

impl Sink for TarSink<'_> {
    fn dir(&mut self, p: &str) -> io::Result<()> {
        self.parents(p)?;
        if self.dirs.insert(p.to_string()) {
            self.entry(p, b'5', "", &[])?;
        }
        Ok(())
    }

    fn file(&mut self, p: &str, data: &[u8]) -> io::Result<()> {
        self.parents(p)?;
        self.entry(p, b'0', "", data)
    }

    fn link(&mut self, p: &str, target: &str) -> io::Result<()> {
        self.parents(p)?;
        self.entry(p, b'2', target, &[])
    }
}

/// One 512-byte ustar header; names and link targets are cut at 100 bytes (the full value
/// precedes it in a GNU long-name record). mtime 0: captures of the same machine are identical.
fn tar_header(name: &str, kind: u8, link: &str, size: u64, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, len: usize, v: &[u8]| {
        let n = v.len().min(len);
        h[at..at + n].copy_from_slice(&v[..n]);
    };
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, 8, b"0000000\0");
    put(&mut h, 116, 8, b"0000000\0");
    put(&mut h, 124, 12, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, 12, b"00000000000\0");
    h[156] = kind;
    put(&mut h, 157, 100, link.as_bytes());
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    put(&mut h, 265, 32, b"root");
    put(&mut h, 297, 32, b"root");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch() {
        assert!(matches("cpu[0-9]*", "cpu0"));
        assert!(matches("cpu[0-9]*", "cpu17"));
        assert!(!matches("cpu[0-9]*", "cpufreq"));
        assert!(!matches("cpu[0-9]*", "cpu"));
        assert!(matches("memory*", "memory"));
        assert!(matches("b*", "b8:0"));
        assert!(!matches("b*", "c1:3"));
        assert!(matches("?a[!b]", "xac"));
        assert!(!matches("?a[!b]", "xab"));
        assert!(matches("*", "anything"));
    }

    #[test]
    fn paths() {
        assert_eq!(parent("/sys/block"), "/sys");
        assert_eq!(parent("/sys"), "/");
        assert_eq!(join("/", "sys"), "/sys");
        assert_eq!(split("../../devices//x"), vec!["..", "..", "devices", "x"]);
    }

    #[test]
    fn header_checksum_and_long_names() {
        let h = tar_header("a/b", b'2', "../c", 0, 0o777);
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut z = h;
        z[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, z.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(h[156], b'2');
        assert_eq!(&h[157..161], b"../c");

        let mut out = Vec::new();
        let long = format!("/sys/{}", "x".repeat(150));
        let mut t = TarSink { w: &mut out, dirs: BTreeSet::new() };
        t.file(&long, b"hi").unwrap();
        // The parent `sys/` directory, then the long-name record, its data block, the header, data.
        assert_eq!(out.len(), 512 + 512 + 512 + 512 + 512);
        assert_eq!(&out[..4], b"sys/");
        assert_eq!(out[512 + 156], b'L');
        assert_eq!(&out[1024..1024 + long.len() - 1], &long.as_bytes()[1..]);
        assert_eq!(out[1536 + 156], b'0');
    }
}
