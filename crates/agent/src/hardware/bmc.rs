//! The BMC's addresses through the in-band IPMI interface, as IPA 13 finds them.
//!
//! - No IPMI device (`/dev/ipmi*`, `/dev/ipmi/*`, `/dev/ipmidev/*`, character devices): all
//!   three are null, as IPA (older IPA reported "0.0.0.0" there).
//! - Otherwise `ipmitool` is asked about LAN channels 1 to 11:
//!   - `bmc_address`: the first channel whose `lan print N` has a valid `IP Address` other
//!     than 0.0.0.0; "0.0.0.0" when none has;
//!   - `bmc_v6address`: the first channel whose `lan6 print N enables` says ipv6 or both and
//!     whose `dynamic_addr` (DHCPv6/SLAAC) or `static_addr` (enabled) lists an active,
//!     non-null address; "::/0" when none has;
//!   - `bmc_mac`: the `MAC Address` of the first channel that has an IPv4 address, or a
//!     configured IPv6 address that is not link-local; null when none has (IPA then leaves
//!     the key out).
//! - ipmitool missing or failing: null, with a warning. Every call has a time limit.
//! - Under a root other than `/`, ipmitool (which talks to this machine's BMC) is never run.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

use super::cmd;
use super::root::Ctx;

pub struct Bmc {
    pub v4: Value,
    pub v6: Value,
    pub mac: Value,
}

const CHANNELS: std::ops::RangeInclusive<u32> = 1..=11;

pub fn any_ipmi_device(ctx: &Ctx) -> bool {
    let mut candidates: Vec<String> = ctx.list("/dev").into_iter().filter(|n| n.starts_with("ipmi")).map(|n| format!("/dev/{n}")).collect();
    for d in ["/dev/ipmi", "/dev/ipmidev"] {
        candidates.extend(ctx.list(d).into_iter().map(|n| format!("{d}/{n}")));
    }
    candidates.iter().any(|c| ctx.is_char_device(c))
}

pub fn collect(ctx: &Ctx) -> Bmc {
    let none = Bmc { v4: Value::Null, v6: Value::Null, mac: Value::Null };
    if ctx.opts.skip_bmc || !any_ipmi_device(ctx) {
        return none;
    }
    if !ctx.is_host() {
        ctx.warn("an IPMI device exists under a root other than /: ipmitool is not run for it");
        return none;
    }
    let Some(ipmitool) = cmd::which("ipmitool") else {
        ctx.warn("an IPMI device exists but ipmitool is not installed: BMC addresses unknown");
        return none;
    };
    let tool = Tool { ctx, path: ipmitool };
    Bmc { v4: tool.address(), v6: tool.v6address(), mac: tool.mac() }
}

struct Tool<'a> {
    ctx: &'a Ctx,
    path: PathBuf,
}

impl Tool<'_> {
    fn run(&self, args: &[&str]) -> Result<cmd::Output, String> {
        cmd::run(&self.path, args, self.ctx.opts.command_timeout, 64 * 1024)
    }

    fn lan_print(&self, ch: u32) -> Result<Option<cmd::Output>, String> {
        let o = self.run(&["lan", "print", &ch.to_string()])?;
        Ok((!o.stderr.starts_with("Invalid channel")).then_some(o))
    }

    fn address(&self) -> Value {
        for ch in CHANNELS {
            match self.lan_print(ch) {
                Ok(None) => continue,
                Ok(Some(o)) => {
                    let Some(ip) = field(&o.stdout, "IP Address") else { continue };
                    match ip.parse::<IpAddr>() {
                        Ok(_) if ip != "0.0.0.0" => return Value::String(ip),
                        Ok(_) => {}
                        Err(_) => self.ctx.warn(format!("ipmitool lan print {ch}: invalid IP address {ip:?}")),
                    }
                }
                Err(e) => {
                    self.ctx.warn(format!("cannot get the BMC address: {e}"));
                    return Value::Null;
                }
            }
        }
        Value::String("0.0.0.0".into())
    }

    fn mac(&self) -> Value {
        for ch in CHANNELS {
            let o = match self.lan_print(ch) {
                Ok(Some(o)) => o,
                Ok(None) => continue,
                Err(e) => {
                    self.ctx.warn(format!("cannot get the BMC MAC address: {e}"));
                    return Value::Null;
                }
            };
            let (Some(ip), Some(mac)) = (field(&o.stdout, "IP Address"), field(&o.stdout, "MAC Address")) else { continue };
            if ip == "0.0.0.0" {
                let v6 = match self.run(&["lan6", "print", &ch.to_string()]) {
                    Ok(o) if o.stderr.starts_with("Invalid channel") => continue,
                    Ok(o) => lan6_addresses(&o.stdout),
                    Err(e) => {
                        self.ctx.warn(format!("cannot get the BMC MAC address: {e}"));
                        return Value::Null;
                    }
                };
                if !v6.iter().any(|a| !a.starts_with("::") && !a.starts_with("fe80")) {
                    continue;
                }
            }
            if !is_mac(&mac) {
                self.ctx.warn(format!("ipmitool lan print {ch}: invalid MAC address {mac:?}"));
                continue;
            }
            if mac != "00:00:00:00:00:00" {
                return Value::String(mac);
            }
        }
        Value::Null
    }

    fn v6address(&self) -> Value {
        for ch in CHANNELS {
            let c = ch.to_string();
            let enables = match self.run(&["lan6", "print", &c, "enables"]) {
                Ok(o) => o.stdout,
                Err(e) => {
                    self.ctx.warn(format!("cannot get the BMC v6 address: {e}"));
                    return Value::Null;
                }
            };
            let mode = enables
                .lines()
                .find(|l| l.contains("IPv6/IPv4 Addressing Enables") && l.contains(':'))
                .and_then(|l| l.split_whitespace().last())
                .unwrap_or("");
            if mode != "ipv6" && mode != "both" {
                continue;
            }
            let get = |dynamic: bool| {
                let o = self.run(&["lan6", "print", &c, if dynamic { "dynamic_addr" } else { "static_addr" }]).ok()?;
                pick_v6(&o.stdout, dynamic)
            };
            if let Some(a) = get(true).or_else(|| get(false)) {
                let ip = a.split('/').next().unwrap_or("");
                match ip.parse::<std::net::Ipv6Addr>() {
                    Ok(v) => return Value::String(v.to_string()),
                    Err(_) => self.ctx.warn(format!("ipmitool lan6 print {ch}: invalid IP address {a:?}")),
                }
            }
        }
        Value::String("::/0".into())
    }
}

/// The value of `Key   : value` in ipmitool's `lan print` (the key exactly, so "IP Address"
/// does not match "IP Address Source").
pub fn field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.split_whitespace().next().unwrap_or("").to_string())
    })
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `ipmitool lan6 print N` output as sections: ("IPv6 Static Address 0", [(key, value)]).
fn lan6_sections(out: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut secs: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in out.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let Some((k, v)) = line.split_once(':') else { continue };
        if !indented {
            secs.push((k.trim().to_string(), Vec::new()));
            if !v.trim().is_empty() {
                // "Key: value" at the top level: a section of its own, without entries.
                continue;
            }
        } else if let Some(last) = secs.last_mut() {
            last.1.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    secs
}

/// The addresses listed in the static and dynamic address sections of `lan6 print N`.
pub fn lan6_addresses(out: &str) -> Vec<String> {
    lan6_sections(out)
        .into_iter()
        .filter(|(name, _)| {
            let mut w = name.split_whitespace();
            w.next() == Some("IPv6")
                && matches!(w.next(), Some("Dynamic" | "Static"))
                && w.next() == Some("Address")
                && w.next().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .flat_map(|(_, kv)| kv.into_iter().filter(|(k, _)| k == "Address").map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string()))
        .collect()
}

/// IPA's choice in `lan6 print N dynamic_addr|static_addr`: the first active, enabled
/// address that is not `::` (with any prefix).
pub fn pick_v6(out: &str, dynamic: bool) -> Option<String> {
    for (_, kv) in lan6_sections(out) {
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let Some(addr) = get("Address") else { continue };
        let enabled = if dynamic { matches!(get("Source/Type"), Some("DHCPv6" | "SLAAC")) } else { matches!(get("Enabled"), Some("yes" | "true" | "on")) };
        let null = addr.strip_prefix("::").is_some_and(|rest| rest.is_empty() || (rest.starts_with('/') && rest[1..].parse::<u8>().is_ok()));
        if get("Status") == Some("active") && enabled && !null {
            return Some(addr.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAN_PRINT: &str = "Set in Progress         : Set Complete\nAuth Type Support       : MD5 \nIP Address Source       : Static Address\nIP Address              : 10.46.96.165\nSubnet Mask             : 255.255.255.0\nMAC Address             : a8:3c:a5:35:41:3a\nSNMP Community String   : public\n";

    #[test]
    fn lan_print_fields() {
        assert_eq!(field(LAN_PRINT, "IP Address").as_deref(), Some("10.46.96.165"));
        assert_eq!(field(LAN_PRINT, "MAC Address").as_deref(), Some("a8:3c:a5:35:41:3a"));
        assert_eq!(field(LAN_PRINT, "Default Gateway IP"), None);
        assert!(is_mac("a8:3c:a5:35:41:3a"));
        assert!(!is_mac("a8:3c:a5:35:41"));
    }

    const LAN6: &str = "IPv6/IPv4 Support:         IPv6 and IPv4 simultaneously\nIPv6/IPv4 Addressing Enables: both\nIPv6 Static Address 0:\n    Enabled:        yes\n    Address:        2001:db8::5/64\n    Status:         active\nIPv6 Static Address 1:\n    Enabled:        no\n    Address:        ::/0\n    Status:         disabled\nIPv6 Dynamic Address 0:\n    Source/Type:    SLAAC\n    Address:        fe80::aa3c:a5ff:fe35:413a/64\n    Status:         active\nIPv6 Dynamic Address 1:\n    Source/Type:    DHCPv6\n    Address:        ::/255\n    Status:         active\n";

    #[test]
    fn lan6_parsing() {
        assert_eq!(lan6_addresses(LAN6), ["2001:db8::5/64", "::/0", "fe80::aa3c:a5ff:fe35:413a/64", "::/255"]);
        assert_eq!(pick_v6(LAN6, false).as_deref(), Some("2001:db8::5/64"));
        assert_eq!(pick_v6(LAN6, true).as_deref(), Some("fe80::aa3c:a5ff:fe35:413a/64"));
        assert_eq!(pick_v6("IPv6 Dynamic Address 0:\n    Source/Type: DHCPv6\n    Address: ::/64\n    Status: active\n", true), None);
        assert_eq!(pick_v6("garbage", true), None);
    }

    fn fake_ipmitool(script: &str) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ipmitool");
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        (d, p)
    }

    #[test]
    fn channels_are_walked_as_ipa_does() {
        let (_d, path) = fake_ipmitool(
            r#"case "$*" in
  "lan print 2") printf 'IP Address Source       : DHCP Address\nIP Address              : 0.0.0.0\nMAC Address             : 00:00:00:00:00:00\n' ;;
  "lan print 3") printf 'IP Address              : 10.46.96.165\nMAC Address             : a8:3c:a5:35:41:3a\n' ;;
  "lan6 print 2") printf 'IPv6 Dynamic Address 0:\n    Address:        fe80::1/64\n' ;;
  "lan6 print 2 enables") echo 'IPv6/IPv4 Addressing Enables: ipv4' ;;
  "lan6 print 3 enables") echo 'IPv6/IPv4 Addressing Enables: both' ;;
  "lan6 print 3 dynamic_addr") printf 'IPv6 Dynamic Address 0:\n    Source/Type:    DHCPv6\n    Address:        ::/64\n    Status:         active\n' ;;
  "lan6 print 3 static_addr") printf 'IPv6 Static Address 0:\n    Enabled:        yes\n    Address:        2001:db8::5/64\n    Status:         active\n' ;;
  *) echo "Invalid channel $*" >&2 ;;
esac"#,
        );
        let ctx = Ctx::new(std::path::Path::new("/"), super::super::Options::default());
        let t = Tool { ctx: &ctx, path };
        assert_eq!(t.address(), "10.46.96.165");
        assert_eq!(t.mac(), "a8:3c:a5:35:41:3a");
        assert_eq!(t.v6address(), "2001:db8::5");
        assert!(ctx.take_warnings().is_empty());
    }

    #[test]
    fn unconfigured_and_hanging_bmcs() {
        let (_d, path) = fake_ipmitool(r#"case "$*" in lan\ print*) printf 'IP Address              : 0.0.0.0\nMAC Address             : 00:00:00:00:00:00\n' ;; esac"#);
        let ctx = Ctx::new(std::path::Path::new("/"), super::super::Options::default());
        let t = Tool { ctx: &ctx, path };
        assert_eq!((t.address(), t.v6address(), t.mac()), (Value::from("0.0.0.0"), Value::from("::/0"), Value::Null));
        let (_d, path) = fake_ipmitool("sleep 30");
        let opts = super::super::Options { command_timeout: std::time::Duration::from_millis(200), ..Default::default() };
        let ctx = Ctx::new(std::path::Path::new("/"), opts);
        let t = Tool { ctx: &ctx, path };
        let start = std::time::Instant::now();
        assert_eq!(t.address(), Value::Null);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(ctx.take_warnings()[0].contains("timed out"));
    }
}
