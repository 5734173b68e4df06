//! The `interfaces` list, as IPA's `list_network_interfaces`.
//!
//! Which: the entries of /sys/class/net that have a `device` link (physical NICs), a
//! `bonding` directory (bonds) or a VLAN name (`eth0.100`); `lo`, bridges, tunnels, veths and
//! the like are left out. An interface without a MAC address, or whose MAC starts with `fa:`
//! (IPA refuses those as locally assigned), is left out with a warning.
//!
//! Fields:
//! - `mac_address`: on the host the permanent address (ethtool `ETHTOOL_GPERMADDR`, as IPA),
//!   else /sys/class/net/X/address;
//! - `ipv4_address`, `ipv6_address`: the interface's first address of each family. On the
//!   host from getifaddrs(3) (what IPA's psutil uses; a link-local IPv6 address carries
//!   `%<interface>`). Under another root, without netlink: IPv4 from /proc/net/fib_trie (the
//!   local /32 host entries) matched to an interface by the longest prefix in
//!   /proc/net/route, IPv6 from /proc/net/if_inet6 in the kernel's order (global scope
//!   first);
//! - `has_carrier`: `carrier` is 1 (an unreadable carrier, a down link, is false);
//! - `vendor`, `product`: `device/vendor`, `device/device`;
//! - `driver`: the name `device/driver` links to; `pci_address`: the name `device` links to
//!   (a PCI address, or `virtioN` for virtio-net: IPA takes the link's last component too);
//! - `speed_mbps`: as lshw's capacity that IPA reads: on the host the fastest link mode the
//!   port supports (ethtool `ETHTOOL_GLINKSETTINGS`), else the current speed; under another
//!   root (or when ethtool has nothing) the `speed` attribute when positive;
//! - `biosdevname`: `biosdevname -i X` on the host when installed, else null;
//! - `client_id`: null (IPA 13 sets it for no interface); `lldp`: the frames' TLVs when the
//!   lldp collector ran, else null.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

use super::cmd;
use super::root::Ctx;

pub const SYS_NET: &str = "/sys/class/net";

/// IPA's `list_interfaces`.
pub fn list_interfaces(ctx: &Ctx) -> Vec<String> {
    ctx.list(SYS_NET)
        .into_iter()
        .filter(|n| is_vlan(n) || ctx.exists_nofollow(&format!("{SYS_NET}/{n}/device")) || ctx.is_dir(&format!("{SYS_NET}/{n}/bonding")))
        .collect()
}

fn is_vlan(name: &str) -> bool {
    match name.split_once('.') {
        Some((_, v)) => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// The first IPv4 and IPv6 address of each interface.
#[derive(Debug, Default)]
pub struct Addresses {
    pub v4: BTreeMap<String, String>,
    pub v6: BTreeMap<String, String>,
    /// MAC addresses seen by getifaddrs (AF_PACKET), the host's fallback.
    pub mac: BTreeMap<String, String>,
}

pub fn addresses(ctx: &Ctx) -> Addresses {
    if ctx.is_host() {
        match getifaddrs() {
            Ok(a) => return a,
            Err(e) => ctx.warn(format!("getifaddrs: {e}; addresses read from /proc/net")),
        }
    }
    let mut a = Addresses::default();
    if let (Some(trie), Some(route)) = (ctx.read("/proc/net/fib_trie"), ctx.read("/proc/net/route")) {
        a.v4 = ipv4_from_proc(&trie, &route);
    }
    if let Some(t) = ctx.read("/proc/net/if_inet6") {
        a.v6 = ipv6_from_proc(&t);
    }
    a
}

pub fn collect(ctx: &Ctx, lldp: Option<&BTreeMap<String, Value>>) -> Vec<Value> {
    let addrs = addresses(ctx);
    let biosdevname = if ctx.is_host() { cmd::which("biosdevname") } else { None };
    let mut out = Vec::new();
    for name in list_interfaces(ctx) {
        let base = format!("{SYS_NET}/{name}");
        let mac = (if ctx.is_host() { permanent_mac(&name) } else { None })
            .or_else(|| ctx.attr(&format!("{base}/address")).filter(|m| !m.is_empty()))
            .or_else(|| addrs.mac.get(&name).cloned())
            .map(|m| m.to_lowercase());
        let Some(mac) = mac else {
            ctx.warn(format!("interface {name} has no MAC address: left out"));
            continue;
        };
        if mac.starts_with("fa:") {
            ctx.warn(format!("interface {name}: MAC {mac} looks locally assigned (fa:), left out as IPA does"));
            continue;
        }
        let bios_name = biosdevname.as_ref().filter(|_| !is_vlan(&name)).and_then(|b| {
            let o = cmd::run(b, &["-i", &name], ctx.opts.command_timeout, 4096).ok()?;
            (o.code == Some(0)).then(|| o.stdout.trim_end_matches('\n').to_string())
        });
        let speed = (if ctx.is_host() { ethtool_speed(&name) } else { None })
            .or_else(|| ctx.attr_quiet(&format!("{base}/speed")).and_then(|s| s.parse::<u64>().ok()).filter(|&s| s > 0 && s < u64::from(u32::MAX)));
        out.push(json!({
            "name": name,
            "mac_address": mac,
            "ipv4_address": addrs.v4.get(&name),
            "ipv6_address": addrs.v6.get(&name),
            "has_carrier": ctx.attr_quiet(&format!("{base}/carrier")).as_deref() == Some("1"),
            "lldp": lldp.map(|l| l.get(&name).cloned().unwrap_or_else(|| json!([]))),
            "vendor": ctx.attr(&format!("{base}/device/vendor")),
            "product": ctx.attr(&format!("{base}/device/device")),
            "client_id": null,
            "biosdevname": bios_name,
            "speed_mbps": speed,
            "pci_address": ctx.link_name(&format!("{base}/device")),
            "driver": ctx.link_name(&format!("{base}/device/driver")),
        }));
    }
    out
}

/// IPv4: the LOCAL /32 host entries of the FIB, each given to the interface of the most
/// specific route containing it.
pub fn ipv4_from_proc(fib_trie: &str, route: &str) -> BTreeMap<String, String> {
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(a) = t.split_whitespace().next().unwrap_or("").parse::<Ipv4Addr>() {
            if line.contains("|--") {
                last = Some(a);
            }
            continue;
        }
        if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                if !locals.contains(&a) {
                    locals.push(a);
                }
            }
        }
    }
    let mut routes: Vec<(String, u32, u32)> = Vec::new();
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(|v| u32::from_be_bytes(v.to_le_bytes()));
        if let (Some(dest), Some(mask)) = (hex(f[1]), hex(f[7])) {
            if mask != 0 {
                routes.push((f[0].to_string(), dest, mask));
            }
        }
    }
    let mut out = BTreeMap::new();
    for a in locals {
        let a32 = u32::from(a);
        let best = routes.iter().filter(|(_, d, m)| a32 & m == *d).max_by_key(|(_, _, m)| m.count_ones());
        if let Some((iface, _, _)) = best {
            out.entry(iface.clone()).or_insert_with(|| a.to_string());
        }
    }
    out
}

/// IPv6 from /proc/net/if_inet6 (`addr ifindex prefix scope flags name`), global scope
/// before site before link before host, as the kernel orders an interface's addresses.
pub fn ipv6_from_proc(text: &str) -> BTreeMap<String, String> {
    let mut all: Vec<(String, u8, Ipv6Addr)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0].len() != 32 {
            continue;
        }
        let Ok(v) = u128::from_str_radix(f[0], 16) else { continue };
        let Ok(scope) = u8::from_str_radix(f[3], 16) else { continue };
        let rank = match scope {
            0x00 => 0,
            0x40 => 1,
            0x20 => 2,
            _ => 3,
        };
        all.push((f[5].to_string(), rank, Ipv6Addr::from(v)));
    }
    all.sort_by_key(|(n, r, _)| (n.clone(), *r));
    let mut out = BTreeMap::new();
    for (name, _, a) in all {
        let text = if is_link_local(&a) { format!("{a}%{name}") } else { a.to_string() };
        out.entry(name).or_insert(text);
    }
    out
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn getifaddrs() -> Result<Addresses, String> {
    let mut out = Addresses::default();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs; each
    // address is read with the layout its family announces.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let mut p = ifap;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let a = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    out.v4.entry(name).or_insert_with(|| a.to_string());
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    let text = if sin6.sin6_scope_id != 0 { format!("{a}%{name}") } else { a.to_string() };
                    out.v6.entry(name).or_insert(text);
                }
                libc::AF_PACKET => {
                    let sll = &*(ifa.ifa_addr as *const libc::sockaddr_ll);
                    let n = (sll.sll_halen as usize).min(sll.sll_addr.len());
                    if n > 0 {
                        let mac = sll.sll_addr[..n].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
                        out.mac.entry(name).or_insert(mac);
                    }
                }
                _ => {}
            }
        }
        libc::freeifaddrs(ifap);
    }
    Ok(out)
}

#[repr(C)]
struct EthtoolPermAddr {
    cmd: u32,
    size: u32,
    data: [u8; 32],
}

#[repr(C)]
struct IfreqPtr {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// The permanent (factory) MAC address through the ethtool ioctl; `None` when the driver
/// has none or the call fails.
fn permanent_mac(name: &str) -> Option<String> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GPERMADDR: u32 = 0x20;
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return None;
    }
    let mut perm = EthtoolPermAddr { cmd: ETHTOOL_GPERMADDR, size: 32, data: [0; 32] };
    let mut ifr = IfreqPtr { name: [0; libc::IFNAMSIZ], data: &mut perm as *mut _ as *mut libc::c_void, _pad: [0; 16] };
    for (d, s) in ifr.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: a plain datagram socket used for one ioctl with a properly sized ifreq whose
    // data pointer stays valid for the call; the socket is closed before returning.
    let ok = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let r = libc::ioctl(fd, SIOCETHTOOL as _, &mut ifr as *mut IfreqPtr);
        libc::close(fd);
        r == 0
    };
    let n = (perm.size as usize).min(perm.data.len());
    if !ok || n == 0 || perm.data[..n].iter().all(|&b| b == 0) {
        return None;
    }
    Some(perm.data[..n].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// The speed (Mb/s) of each ethtool link mode bit that names one (linux/ethtool.h).
fn link_mode_speed(bit: usize) -> Option<u64> {
    Some(match bit {
        0 | 1 | 92 | 101..=103 => 10,
        2 | 3 | 67 | 90 | 91 => 100,
        4 | 5 | 17 | 41 | 68 => 1000,
        15 | 47 => 2500,
        48 => 5000,
        12 | 18..=20 | 42..=46 => 10000,
        21 | 22 => 20000,
        31..=33 => 25000,
        23..=26 => 40000,
        34 | 35 | 40 | 52..=56 => 50000,
        27..=30 => 56000,
        36..=39 | 57..=61 | 75..=79 => 100000,
        62..=66 | 80..=84 => 200000,
        69..=73 | 85..=89 => 400000,
        93..=100 => 800000,
        _ => return None,
    })
}

/// lshw's capacity: the fastest supported link mode, else the current speed, through the
/// ethtool ioctl (the two-step `ETHTOOL_GLINKSETTINGS` handshake).
fn ethtool_speed(name: &str) -> Option<u64> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GLINKSETTINGS: u32 = 0x4c;
    const HEADER_WORDS: usize = 12; // 48 bytes before the link mode masks
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return None;
    }
    let mut buf = vec![0u32; HEADER_WORDS + 3 * 128];
    let mut ifr = IfreqPtr { name: [0; libc::IFNAMSIZ], data: std::ptr::null_mut(), _pad: [0; 16] };
    for (d, s) in ifr.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: one datagram socket for two ioctls whose data pointer is `buf`, large enough for
    // the header and three masks of the most words the kernel may ask for (127); the byte
    // holding `link_mode_masks_nwords` is byte 15 (the last of word 3). The socket is closed
    // before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let call = |buf: &mut Vec<u32>, ifr: &mut IfreqPtr| {
            ifr.data = buf.as_mut_ptr() as *mut libc::c_void;
            libc::ioctl(fd, SIOCETHTOOL as _, ifr as *mut IfreqPtr) == 0
        };
        buf[0] = ETHTOOL_GLINKSETTINGS;
        let first = call(&mut buf, &mut ifr);
        let nwords = -i32::from(buf[3].to_ne_bytes()[3] as i8);
        let ok = first && nwords > 0 && nwords <= 127 && {
            buf.iter_mut().for_each(|w| *w = 0);
            buf[0] = ETHTOOL_GLINKSETTINGS;
            let mut w = buf[3].to_ne_bytes();
            w[3] = nwords as u8;
            buf[3] = u32::from_ne_bytes(w);
            call(&mut buf, &mut ifr)
        };
        libc::close(fd);
        if !ok {
            return None;
        }
        let n = nwords as usize;
        let supported = &buf[HEADER_WORDS..HEADER_WORDS + n];
        let best = (0..n * 32).filter(|&b| supported[b / 32] & (1 << (b % 32)) != 0).filter_map(link_mode_speed).max();
        best.or_else(|| Some(u64::from(buf[1])).filter(|&s| s > 0 && s != u64::from(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_mode_speeds() {
        assert_eq!(link_mode_speed(5), Some(1000));
        assert_eq!(link_mode_speed(31), Some(25000));
        assert_eq!(link_mode_speed(38), Some(100000));
        assert_eq!(link_mode_speed(6), None, "Autoneg is not a speed");
        assert_eq!(link_mode_speed(500), None);
    }

    #[test]
    fn vlans() {
        assert!(is_vlan("eth0.100"));
        assert!(!is_vlan("eth0"));
        assert!(!is_vlan("eth0."));
        assert!(!is_vlan("br.x"));
    }

    #[test]
    fn ipv4_from_fib_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 192.0.2.0/24 2 0 2\n        +-- 192.0.2.0/30 2 0 2\n           |-- 192.0.2.0\n              /24 link UNICAST\n           |-- 192.0.2.2\n              /32 host LOCAL\n     |-- 198.51.100.7\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
eth1\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let m = ipv4_from_proc(trie, route);
        assert_eq!(m.get("eth0").map(String::as_str), Some("192.0.2.2"));
        assert_eq!(m.get("eth1").map(String::as_str), Some("198.51.100.7"));
        assert_eq!(m.len(), 2);
        assert!(ipv4_from_proc("garbage", "garbage").is_empty());
    }

    #[test]
    fn ipv6_from_if_inet6() {
        let t = "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\nfd000000000000000000000000000002 04 40 00 82     eth0\n00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000009 05 40 20 80 eth1\nbad line\n";
        let m = ipv6_from_proc(t);
        assert_eq!(m["eth0"], "fd00::2");
        assert_eq!(m["eth1"], "fe80::9%eth1");
        assert_eq!(m["lo"], "::1");
    }
}
