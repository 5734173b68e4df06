//! TFTP's wire format (RFC 1350) with the option extension (RFC 2347) and the `blksize`
//! (RFC 2348), `timeout` and `tsize` (RFC 2349) options: what a legacy PXE ROM needs to fetch
//! iPXE (`undionly.kpxe`, `snponly.efi`) before iPXE takes over over HTTP. Pure: packets in and
//! out, no sockets (those are in `ferric-api`'s boot server).
//!
//! Read requests only: the boot server never accepts files.

use std::time::Duration;

pub const OP_RRQ: u16 = 1;
pub const OP_WRQ: u16 = 2;
pub const OP_DATA: u16 = 3;
pub const OP_ACK: u16 = 4;
pub const OP_ERROR: u16 = 5;
pub const OP_OACK: u16 = 6;

/// RFC 1350's block size, used when the client asks for no other.
pub const DEFAULT_BLKSIZE: usize = 512;
/// RFC 2348's bounds.
pub const MIN_BLKSIZE: usize = 8;
pub const MAX_BLKSIZE: usize = 65464;

/// TFTP error codes (RFC 1350 and 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    OptionRefused = 8,
}

/// A request's accepted options, as the OACK echoes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub blksize: Option<usize>,
    /// Seconds, 1-255.
    pub timeout: Option<u8>,
    /// The client asked for the transfer size (it sends 0 in a read request).
    pub tsize: bool,
}

impl Options {
    pub fn any(&self) -> bool {
        self.blksize.is_some() || self.timeout.is_some() || self.tsize
    }

    pub fn block_size(&self) -> usize {
        self.blksize.unwrap_or(DEFAULT_BLKSIZE)
    }

    /// The retransmission timeout: the client's, else `default`.
    pub fn retransmit(&self, default: Duration) -> Duration {
        self.timeout.map(|t| Duration::from_secs(u64::from(t))).unwrap_or(default)
    }
}

/// A read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub filename: String,
    /// `octet` or `netascii` (lower-cased); both are served byte for byte.
    pub mode: String,
    pub options: Options,
}

/// What a packet on the server's port is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Read(ReadRequest),
    /// Anything the server refuses, with the error to answer.
    Refused(ErrorCode, String),
}

fn strings(b: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = b.split(|c| *c == 0).collect();
    // The last field ends with a NUL: the split leaves an empty tail.
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Parse a packet sent to the server's well-known port.
pub fn parse_request(p: &[u8]) -> Request {
    if p.len() < 4 {
        return Request::Refused(ErrorCode::IllegalOperation, "Malformed request".into());
    }
    let op = u16::from_be_bytes([p[0], p[1]]);
    match op {
        OP_RRQ => {}
        OP_WRQ => return Request::Refused(ErrorCode::AccessViolation, "This TFTP server is read-only".into()),
        _ => return Request::Refused(ErrorCode::IllegalOperation, format!("Unexpected opcode {op}: send a read request")),
    }
    if p.last() != Some(&0) {
        return Request::Refused(ErrorCode::IllegalOperation, "Malformed request: fields must end with NUL".into());
    }
    let fields = strings(&p[2..]);
    if fields.len() < 2 || fields.len() % 2 != 0 {
        return Request::Refused(ErrorCode::IllegalOperation, "Malformed request: filename, mode and option pairs expected".into());
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    let (Some(filename), Some(mode)) = (text(fields[0]), text(fields[1]).map(|m| m.to_ascii_lowercase())) else {
        return Request::Refused(ErrorCode::IllegalOperation, "Malformed request: not UTF-8".into());
    };
    if mode != "octet" && mode != "netascii" {
        return Request::Refused(ErrorCode::IllegalOperation, format!("Unsupported mode {mode:?}: use octet"));
    }
    let mut options = Options::default();
    for pair in fields[2..].chunks(2) {
        let (Some(name), Some(value)) = (text(pair[0]), text(pair[1])) else { continue };
        // Unknown options and unusable values are left out of the OACK (RFC 2347).
        match name.to_ascii_lowercase().as_str() {
            "blksize" => {
                if let Ok(n) = value.parse::<usize>() {
                    if n >= MIN_BLKSIZE {
                        options.blksize = Some(n.min(MAX_BLKSIZE));
                    }
                }
            }
            "timeout" => {
                if let Ok(n) = value.parse::<u8>() {
                    if n >= 1 {
                        options.timeout = Some(n);
                    }
                }
            }
            "tsize" => options.tsize = value == "0",
            _ => {}
        }
    }
    Request::Read(ReadRequest { filename, mode, options })
}

/// The path a request names, relative to the served directory: leading slashes dropped,
/// `\` as `/` (some PXE ROMs), and refused when a component is `..` or the name is empty or
/// holds a NUL.
pub fn relative_path(filename: &str) -> Option<String> {
    let f = filename.replace('\\', "/");
    let parts: Vec<&str> = f.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() || parts.iter().any(|c| *c == "..") {
        return None;
    }
    Some(parts.join("/"))
}

pub fn error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + message.len());
    v.extend_from_slice(&OP_ERROR.to_be_bytes());
    v.extend_from_slice(&(code as u16).to_be_bytes());
    v.extend_from_slice(message.as_bytes());
    v.push(0);
    v
}

/// The OACK for the accepted options; `size` is the file's length (for `tsize`).
pub fn oack(o: &Options, size: u64) -> Vec<u8> {
    let mut v = OP_OACK.to_be_bytes().to_vec();
    let mut put = |k: &str, val: String| {
        v.extend_from_slice(k.as_bytes());
        v.push(0);
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    };
    if let Some(b) = o.blksize {
        put("blksize", b.to_string());
    }
    if let Some(t) = o.timeout {
        put("timeout", t.to_string());
    }
    if o.tsize {
        put("tsize", size.to_string());
    }
    v
}

pub fn data(block: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&OP_DATA.to_be_bytes());
    v.extend_from_slice(&block.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// What a client sent during a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack(u16),
    /// The client gave up (e.g. it refused our OACK).
    Error(u16, String),
    Other,
}

pub fn parse_reply(p: &[u8]) -> Reply {
    if p.len() < 4 {
        return Reply::Other;
    }
    let n = u16::from_be_bytes([p[2], p[3]]);
    match u16::from_be_bytes([p[0], p[1]]) {
        OP_ACK => Reply::Ack(n),
        OP_ERROR => Reply::Error(n, String::from_utf8_lossy(p[4..].split(|c| *c == 0).next().unwrap_or(&[])).into_owned()),
        _ => Reply::Other,
    }
}

/// How many DATA packets a file of `size` bytes takes in blocks of `blksize`: the last one is
/// shorter than a block, empty when the size is a multiple of it.
pub fn blocks(size: u64, blksize: usize) -> u64 {
    size / blksize as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(fields: &[&str]) -> Vec<u8> {
        let mut v = OP_RRQ.to_be_bytes().to_vec();
        for f in fields {
            v.extend_from_slice(f.as_bytes());
            v.push(0);
        }
        v
    }

    #[test]
    fn read_requests_with_and_without_options() {
        assert_eq!(
            parse_request(&rrq(&["undionly.kpxe", "octet"])),
            Request::Read(ReadRequest { filename: "undionly.kpxe".into(), mode: "octet".into(), options: Options::default() })
        );
        let Request::Read(r) = parse_request(&rrq(&["boot.ipxe", "OCTET", "tsize", "0", "blksize", "1432", "timeout", "3", "windowsize", "8"])) else { panic!() };
        assert_eq!((r.mode.as_str(), r.options.clone()), ("octet", Options { blksize: Some(1432), timeout: Some(3), tsize: true }));
        assert_eq!(oack(&r.options, 958), b"\x00\x06blksize\x001432\x00timeout\x003\x00tsize\x00958\x00");
        // Out of range: clamped or left out.
        let Request::Read(r) = parse_request(&rrq(&["f", "netascii", "blksize", "99999", "timeout", "0", "tsize", "12"])) else { panic!() };
        assert_eq!(r.options, Options { blksize: Some(MAX_BLKSIZE), timeout: None, tsize: false });
        let Request::Read(r) = parse_request(&rrq(&["f", "octet", "blksize", "4"])) else { panic!() };
        assert!(!r.options.any());
        assert_eq!(r.options.retransmit(Duration::from_secs(2)), Duration::from_secs(2));
    }

    #[test]
    fn what_is_refused() {
        let mut wrq = rrq(&["f", "octet"]);
        wrq[1] = OP_WRQ as u8;
        assert!(matches!(parse_request(&wrq), Request::Refused(ErrorCode::AccessViolation, _)));
        assert!(matches!(parse_request(b"\x00\x01"), Request::Refused(ErrorCode::IllegalOperation, _)));
        assert!(matches!(parse_request(b"\x00\x01f\x00octet"), Request::Refused(ErrorCode::IllegalOperation, _)), "no final NUL");
        assert!(matches!(parse_request(&rrq(&["f"])), Request::Refused(..)));
        assert!(matches!(parse_request(&rrq(&["f", "mail"])), Request::Refused(ErrorCode::IllegalOperation, m) if m.contains("mail")));
        assert!(matches!(parse_request(&rrq(&["f", "octet", "blksize"])), Request::Refused(..)), "an option without a value");
        assert!(matches!(parse_request(b"\x00\x04\x00\x01"), Request::Refused(ErrorCode::IllegalOperation, _)));
        assert!(matches!(parse_request(b"\x00\x01\xff\xfe\x00octet\x00"), Request::Refused(..)));
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(relative_path("/undionly.kpxe").as_deref(), Some("undionly.kpxe"));
        assert_eq!(relative_path("efi\\snponly.efi").as_deref(), Some("efi/snponly.efi"));
        assert_eq!(relative_path("./a//b/").as_deref(), Some("a/b"));
        for bad in ["", "/", "../etc/passwd", "a/../../b", "..", "a\\..\\b"] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn packets() {
        assert_eq!(data(7, b"ab"), b"\x00\x03\x00\x07ab");
        assert_eq!(error(ErrorCode::FileNotFound, "no"), b"\x00\x05\x00\x01no\x00");
        assert_eq!(parse_reply(b"\x00\x04\xff\xff"), Reply::Ack(65535));
        assert_eq!(parse_reply(b"\x00\x05\x00\x08refused\x00"), Reply::Error(8, "refused".into()));
        assert_eq!(parse_reply(b"\x00\x03\x00\x01x"), Reply::Other);
        assert_eq!(parse_reply(b"\x00"), Reply::Other);
        assert_eq!((blocks(0, 512), blocks(511, 512), blocks(512, 512), blocks(1025, 512)), (1, 1, 2, 3));
    }
}
