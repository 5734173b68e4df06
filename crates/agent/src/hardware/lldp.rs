//! LLDP: frames in, IPA's `[[type, "hex value"], ...]` out.
//!
//! - [`parse_frame`] is the whole of IPA's decoding: skip the 14-byte Ethernet header (and an
//!   802.1Q tag if the frame still carries one), then read TLVs (7-bit type, 9-bit length,
//!   value) while two bytes remain, End TLVs and padding included, exactly as IPA's
//!   `_parse_tlv`; a value cut short by the end of the frame is kept as far as it goes.
//! - [`capture`] listens on the host's interfaces with one AF_PACKET socket per interface
//!   (EtherType 0x88cc, promiscuous membership that the kernel drops when the socket closes)
//!   and keeps the first frame of each, until every interface has one or the time is up. It
//!   needs CAP_NET_RAW and interfaces that are up; failures become warnings and empty lists.
//! - Under a root other than `/` the frames come from `<root>/ferric-lldp/<interface>` (one
//!   raw frame per file), so fixtures can exercise the path.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::root::Ctx;

const ETH_P_LLDP: u16 = 0x88cc;

/// The TLVs of one frame as (type, value).
pub fn parse_frame(frame: &[u8]) -> Vec<(u8, Vec<u8>)> {
    if frame.len() < 14 {
        return Vec::new();
    }
    let mut buf = &frame[14..];
    if frame[12..14] == [0x81, 0x00] && frame.len() >= 18 && frame[16..18] == ETH_P_LLDP.to_be_bytes() {
        buf = &frame[18..];
    }
    let mut out = Vec::new();
    while buf.len() >= 2 {
        let hdr = u16::from_be_bytes([buf[0], buf[1]]);
        let ty = (hdr >> 9) as u8;
        let len = (hdr & 0x1ff) as usize;
        let end = (2 + len).min(buf.len());
        out.push((ty, buf[2..end].to_vec()));
        buf = &buf[end..];
    }
    out
}

/// IPA's serialised form of a frame's TLVs.
pub fn tlvs_json(frame: &[u8]) -> Value {
    Value::Array(parse_frame(frame).into_iter().map(|(t, v)| json!([t, hex(&v)])).collect())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `lldp_raw`: interface -> TLVs (empty when nothing was heard).
pub fn collect(ctx: &Ctx, interfaces: &[String]) -> BTreeMap<String, Value> {
    let names: Vec<String> = interfaces.iter().filter(|n| *n != "lo").cloned().collect();
    let frames = if ctx.is_host() {
        capture(ctx, &names, ctx.opts.lldp_timeout)
    } else {
        names
            .iter()
            .filter_map(|n| ctx.read_bytes(&format!("/ferric-lldp/{n}"), 1600).ok().map(|f| (n.clone(), f)))
            .collect()
    };
    names.into_iter().map(|n| {
        let v = frames.get(&n).map(|f| tlvs_json(f)).unwrap_or_else(|| json!([]));
        (n, v)
    }).collect()
}

/// Listen for one LLDP frame per interface, at most `timeout` in all.
pub fn capture(ctx: &Ctx, interfaces: &[String], timeout: Duration) -> BTreeMap<String, Vec<u8>> {
    let mut socks: Vec<(String, Socket)> = Vec::new();
    for name in interfaces {
        match Socket::open(name) {
            Ok(s) => socks.push((name.clone(), s)),
            Err(e) => ctx.warn(format!("LLDP on {name}: {e}")),
        }
    }
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    while !socks.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds: Vec<libc::pollfd> = socks.iter().map(|(_, s)| libc::pollfd { fd: s.0, events: libc::POLLIN, revents: 0 }).collect();
        // SAFETY: poll(2) on descriptors we own, with the array's real length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, left.as_millis().min(i32::MAX as u128) as i32) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            ctx.warn(format!("LLDP: poll: {e}"));
            break;
        }
        let mut done = Vec::new();
        for (i, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            let mut buf = [0u8; 1600];
            // SAFETY: recv(2) into a buffer of the stated size on our own socket.
            let r = unsafe { libc::recv(pfd.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_DONTWAIT) };
            if r >= 14 {
                got.insert(socks[i].0.clone(), buf[..r as usize].to_vec());
                done.push(i);
            } else if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock {
                ctx.warn(format!("LLDP on {}: {}", socks[i].0, std::io::Error::last_os_error()));
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            socks.remove(i);
        }
    }
    if !socks.is_empty() {
        tracing::info!("LLDP: no frame within {timeout:?} on {:?}", socks.iter().map(|(n, _)| n).collect::<Vec<_>>());
    }
    got
}

struct Socket(libc::c_int);

impl Socket {
    fn open(name: &str) -> Result<Socket, String> {
        let cname = std::ffi::CString::new(name).map_err(|_| "bad interface name".to_string())?;
        // SAFETY: plain socket calls with structures sized as the kernel expects; the
        // descriptor is owned by the returned Socket and closed on drop.
        unsafe {
            let ifindex = libc::if_nametoindex(cname.as_ptr());
            if ifindex == 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            let proto = ETH_P_LLDP.to_be();
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, i32::from(proto));
            if fd < 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            let s = Socket(fd);
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex as i32;
            if libc::bind(fd, &sll as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as u32) != 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            let mut mr: libc::packet_mreq = std::mem::zeroed();
            mr.mr_ifindex = ifindex as i32;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            if libc::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr as *const _ as *const libc::c_void, std::mem::size_of::<libc::packet_mreq>() as u32) != 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            Ok(s)
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this value owns.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tlvs: &[(u8, &[u8])]) -> Vec<u8> {
        let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 0xd4, 0x04, 0xe6, 0x4f, 0x71, 0x28, 0x88, 0xcc];
        for (t, v) in tlvs {
            let hdr = (u16::from(*t) << 9) | v.len() as u16;
            f.extend(hdr.to_be_bytes());
            f.extend(*v);
        }
        f
    }

    #[test]
    fn tlvs_as_ipa_serialises_them() {
        let f = frame(&[(1, &[4, 0xc4, 0x7e, 0xe0, 0xe4, 0x55, 0x3f]), (2, b"\x05Ethernet1/4"), (3, &[0, 0x78]), (127, &[0, 0x12, 0x0f, 4, 0x23, 0x28]), (0, &[])]);
        assert_eq!(
            tlvs_json(&f),
            json!([[1, "04c47ee0e4553f"], [2, "0545746865726e6574312f34"], [3, "0078"], [127, "00120f042328"], [0, ""]])
        );
    }

    #[test]
    fn odd_frames() {
        assert!(parse_frame(&[0; 10]).is_empty());
        // A TLV longer than what is left: kept as far as it goes.
        let mut f = frame(&[]);
        f.extend([0x02, 0x10, b'a', b'b']);
        assert_eq!(parse_frame(&f), vec![(1, b"ab".to_vec())]);
        // A trailing odd byte is ignored.
        let mut f = frame(&[(0, &[])]);
        f.push(0xff);
        assert_eq!(parse_frame(&f).len(), 1);
        // A VLAN tag before the LLDP EtherType.
        let mut t = vec![0u8; 12];
        t.extend([0x81, 0x00, 0x00, 0x64, 0x88, 0xcc, 0x00, 0x00]);
        assert_eq!(parse_frame(&t), vec![(0, vec![])]);
    }
}
