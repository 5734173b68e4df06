//! Reading a machine's files under a root directory, defensively.
//!
//! Every collector reads through [`Ctx`], which
//! - resolves paths *inside* the root: symbolic links are followed by hand, an absolute link
//!   target is taken relative to the root and `..` never climbs above it (with root `/` the
//!   kernel resolves paths itself, the result is the same);
//! - opens regular files only (a FIFO or a device where a sysfs attribute is expected would
//!   block or misbehave) and reads at most a bounded number of bytes;
//! - turns every failure into a warning and a `None`, never a panic.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use super::Options;

/// The default cap on one file read.
pub const READ_CAP: u64 = 1 << 20;
/// The cap on the entries taken from one directory listing.
pub const LIST_CAP: usize = 8192;
/// How many symbolic links one path may go through.
const MAX_LINKS: usize = 40;

pub struct Ctx {
    root: PathBuf,
    /// The root is `/`: the machine the agent runs on, where commands may be run.
    host: bool,
    pub opts: Options,
    warnings: RefCell<Vec<String>>,
}

/// Why a read gave nothing.
#[derive(Debug)]
pub enum ReadError {
    Missing,
    Failed(String),
}

impl Ctx {
    pub fn new(root: &Path, opts: Options) -> Ctx {
        let host = root == Path::new("/");
        Ctx { root: root.to_path_buf(), host, opts, warnings: RefCell::new(Vec::new()) }
    }

    pub fn is_host(&self) -> bool {
        self.host
    }

    pub fn warn(&self, msg: impl Into<String>) {
        let msg = msg.into();
        tracing::warn!("{msg}");
        let mut w = self.warnings.borrow_mut();
        // A hostile tree could make thousands of identical complaints; keep the report readable.
        if w.len() < 1000 && !w.contains(&msg) {
            w.push(msg);
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.borrow_mut())
    }

    /// The host path of `rel` (an absolute path as seen on the machine, e.g. `/sys/block`),
    /// with every symbolic link resolved inside the root. With `follow_last` false the last
    /// component is left as it is (to read a link itself).
    pub fn resolve(&self, rel: &str, follow_last: bool) -> io::Result<PathBuf> {
        if self.host {
            return Ok(PathBuf::from(rel));
        }
        let mut pending: VecDeque<OsString> = components(Path::new(rel));
        let mut cur: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            if c == ".." {
                cur.pop();
                continue;
            }
            let mut host = self.root.clone();
            host.extend(&cur);
            host.push(&c);
            let md = fs::symlink_metadata(&host)?;
            if md.file_type().is_symlink() && (follow_last || !pending.is_empty()) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = fs::read_link(&host)?;
                if target.is_absolute() {
                    cur.clear();
                }
                let mut t = components(&target);
                t.extend(pending);
                pending = t;
            } else {
                if !pending.is_empty() && !md.is_dir() {
                    return Err(io::Error::from(io::ErrorKind::NotFound));
                }
                cur.push(c);
            }
        }
        let mut host = self.root.clone();
        host.extend(&cur);
        Ok(host)
    }

    /// Read a regular file, at most `cap` bytes.
    pub fn read_bytes(&self, rel: &str, cap: u64) -> Result<Vec<u8>, ReadError> {
        let p = self.resolve(rel, true).map_err(|e| io_err(rel, e))?;
        let md = fs::metadata(&p).map_err(|e| io_err(rel, e))?;
        if !md.is_file() {
            return Err(ReadError::Failed(format!("{rel}: not a regular file")));
        }
        let f = fs::File::open(&p).map_err(|e| io_err(rel, e))?;
        let mut buf = Vec::new();
        f.take(cap).read_to_end(&mut buf).map_err(|e| io_err(rel, e))?;
        Ok(buf)
    }

    /// The last `cap` bytes of a regular file (all of it when smaller; files that report no
    /// size, as in /proc, are read from the start).
    pub fn read_tail(&self, rel: &str, cap: u64) -> Result<Vec<u8>, ReadError> {
        use std::io::{Seek, SeekFrom};
        let p = self.resolve(rel, true).map_err(|e| io_err(rel, e))?;
        let md = fs::metadata(&p).map_err(|e| io_err(rel, e))?;
        if !md.is_file() {
            return Err(ReadError::Failed(format!("{rel}: not a regular file")));
        }
        let mut f = fs::File::open(&p).map_err(|e| io_err(rel, e))?;
        if md.len() > cap {
            f.seek(SeekFrom::Start(md.len() - cap)).map_err(|e| io_err(rel, e))?;
        }
        let mut buf = Vec::new();
        f.take(cap).read_to_end(&mut buf).map_err(|e| io_err(rel, e))?;
        Ok(buf)
    }

    /// A file's text (lossy UTF-8), at most `cap` bytes. Missing: `None` silently;
    /// unreadable: `None` and a warning.
    pub fn read_capped(&self, rel: &str, cap: u64) -> Option<String> {
        match self.read_bytes(rel, cap) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(ReadError::Missing) => None,
            Err(ReadError::Failed(m)) => {
                self.warn(m);
                None
            }
        }
    }

    /// A small file's text, untrimmed.
    pub fn read(&self, rel: &str) -> Option<String> {
        self.read_capped(rel, READ_CAP)
    }

    /// A sysfs-style attribute: the text trimmed of surrounding whitespace.
    pub fn attr(&self, rel: &str) -> Option<String> {
        self.read(rel).map(|s| s.trim().to_string())
    }

    /// Like [`Ctx::attr`] but errors are not worth a warning (e.g. `speed` of a link that
    /// is down answers EINVAL).
    pub fn attr_quiet(&self, rel: &str) -> Option<String> {
        match self.read_bytes(rel, READ_CAP) {
            Ok(b) => Some(String::from_utf8_lossy(&b).trim().to_string()),
            Err(_) => None,
        }
    }

    /// An attribute parsed as a number; garbage gives a warning.
    pub fn attr_num<T: std::str::FromStr>(&self, rel: &str) -> Option<T> {
        let s = self.attr(rel)?;
        match s.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.warn(format!("{rel}: not a number: {:?}", truncate(&s, 64)));
                None
            }
        }
    }

    /// The target of a symbolic link, as stored.
    pub fn read_link(&self, rel: &str) -> Option<String> {
        let p = self.resolve(rel, false).ok()?;
        fs::read_link(p).ok().map(|t| t.to_string_lossy().into_owned())
    }

    /// The last component of a symbolic link's target (`driver` -> `virtio_net`).
    pub fn link_name(&self, rel: &str) -> Option<String> {
        let t = self.read_link(rel)?;
        Path::new(&t).file_name().map(|n| n.to_string_lossy().into_owned())
    }

    /// The names in a directory, sorted; missing gives an empty list silently. Names that are
    /// not UTF-8 are skipped with a warning.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let p = match self.resolve(rel, true) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.warn(format!("{rel}: {e}"));
                return Vec::new();
            }
        };
        let rd = match fs::read_dir(&p) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Vec::new(),
            Err(e) => {
                self.warn(format!("{rel}: {e}"));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for entry in rd {
            let Ok(entry) = entry else { continue };
            match entry.file_name().into_string() {
                Ok(n) => out.push(n),
                Err(n) => self.warn(format!("{rel}: skipping a name that is not UTF-8: {n:?}")),
            }
            if out.len() >= LIST_CAP {
                self.warn(format!("{rel}: more than {LIST_CAP} entries, the rest is ignored"));
                break;
            }
        }
        out.sort();
        out
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel, true).map(|p| p.exists()).unwrap_or(false)
    }

    /// Exists, possibly as a link (dangling links count).
    pub fn exists_nofollow(&self, rel: &str) -> bool {
        self.resolve(rel, false).map(|p| fs::symlink_metadata(p).is_ok()).unwrap_or(false)
    }

    pub fn is_dir(&self, rel: &str) -> bool {
        self.resolve(rel, true).ok().and_then(|p| fs::metadata(p).ok()).is_some_and(|m| m.is_dir())
    }

    pub fn is_file(&self, rel: &str) -> bool {
        self.resolve(rel, true).ok().and_then(|p| fs::metadata(p).ok()).is_some_and(|m| m.is_file())
    }

    pub fn is_char_device(&self, rel: &str) -> bool {
        self.resolve(rel, true)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.file_type().is_char_device())
    }
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn io_err(rel: &str, e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::NotFound {
        ReadError::Missing
    } else {
        ReadError::Failed(format!("{rel}: {e}"))
    }
}

/// At most `n` characters of `s`.
pub fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
