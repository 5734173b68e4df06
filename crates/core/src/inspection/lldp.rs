//! LLDP: Ironic's `parse-lldp` hook (`lldp_parsers.LLDPBasicMgmtParser`, the 802.1AB basic
//! management set plus the 802.1Q and 802.3 organisational TLVs, into
//! `plugin_data["parsed_lldp"][interface]`) and `local-link-connection` (a port's
//! `switch_id`, `port_id` and `switch_info` from the chassis ID, port ID and system name).
//!
//! Kept from Ironic on purpose: values are first-wins except the lists; an organisational
//! TLV seen before any other parsed value is lost (Ironic's `nv or {}` hands the 802.1/802.3
//! parser a fresh dict when its dict is still empty); the 802.3 capability list reports
//! "10BASE-T fdx" from the hdx bit; an IPv6 management address below 2^32 prints as IPv4
//! (netaddr). What makes Ironic's hook raise (an unknown chassis/port ID subtype in
//! parse-lldp, a TLV value that is not hexadecimal, a truncated TLV in local-link-connection)
//! fails the inspection here too, with the exception named.

use super::py::{self, unexpected, HResult, HookError};
use crate::model::Dict;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, Ipv6Addr};

const TLV_VALUE_MAX_LEN: usize = 511;
const MAX_INTERFACES: usize = 64;

const OPER_MAU_TYPES: [&str; 54] = [
    "Unknown", "AUI", "10BASE-5", "FOIRL", "10BASE-2", "10BASE-T duplex mode unknown", "10BASE-FP", "10BASE-FB",
    "10BASE-FL duplex mode unknown", "10BROAD36", "10BASE-T half duplex", "10BASE-T full duplex", "10BASE-FL half duplex",
    "10BASE-FL full duplex", "100 BASE-T4", "100BASE-TX half duplex", "100BASE-TX full duplex", "100BASE-FX half duplex",
    "100BASE-FX full duplex", "100BASE-T2 half duplex", "100BASE-T2 full duplex", "1000BASE-X half duplex",
    "1000BASE-X full duplex", "1000BASE-LX half duplex", "1000BASE-LX full duplex", "1000BASE-SX half duplex",
    "1000BASE-SX full duplex", "1000BASE-CX half duplex", "1000BASE-CX full duplex", "1000BASE-T half duplex",
    "1000BASE-T full duplex", "10GBASE-X", "10GBASE-LX4", "10GBASE-R", "10GBASE-ER", "10GBASE-LR", "10GBASE-SR",
    "10GBASE-W", "10GBASE-EW", "10GBASE-LW", "10GBASE-SW", "10GBASE-CX4", "2BASE-TL", "10PASS-TS", "100BASE-BX10D",
    "100BASE-BX10U", "100BASE-LX10", "1000BASE-BX10D", "1000BASE-BX10U", "1000BASE-LX10", "1000BASE-PX10D",
    "1000BASE-PX10U", "1000BASE-PX20D", "1000BASE-PX20U",
];

fn u16be(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

fn mac(d: &[u8]) -> Option<String> {
    (d.len() >= 6).then(|| d[..6].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

fn ipv4(d: &[u8]) -> Option<String> {
    (d.len() >= 4).then(|| Ipv4Addr::new(d[0], d[1], d[2], d[3]).to_string())
}

/// netaddr's `str(IPAddress(int))`: an integer below 2^32 is taken for IPv4.
fn ipv6(d: &[u8]) -> Option<String> {
    if d.len() < 16 {
        return None;
    }
    let n = u128::from_be_bytes(d[..16].try_into().ok()?);
    Some(if n <= u32::MAX as u128 { Ipv4Addr::from(n as u32).to_string() } else { Ipv6Addr::from(n).to_string() })
}

/// An IANA address (family byte, then the address). `Ok(None)`: unknown family;
/// `Err(())`: too short (construct's StreamError).
fn iana(d: &[u8]) -> Result<Option<String>, ()> {
    let (&family, rest) = d.split_first().ok_or(())?;
    match family {
        1 => ipv4(rest).map(Some).ok_or(()),
        2 => ipv6(rest).map(Some).ok_or(()),
        6 => mac(rest).map(Some).ok_or(()),
        _ => Ok(None),
    }
}

/// Chassis ID / port ID value, as construct parses it. `Ok(Some(None))`: a subtype with no
/// parser (Ironic then raises `AttributeError`); `Err(class, msg)`: construct's errors.
fn id_value(data: &[u8], strings: &[u8], mac_subtype: u8, iana_subtype: u8) -> Result<Option<Value>, (&'static str, String)> {
    let stream = || ("StreamError", "stream read less than specified amount".to_string());
    let (&subtype, rest) = data.split_first().ok_or_else(stream)?;
    if strings.contains(&subtype) {
        return std::str::from_utf8(rest)
            .map(|s| Some(json!(s)))
            .map_err(|_| ("StringError", format!("cannot use encoding 'utf8' to decode {}", bytes_repr(rest))));
    }
    if subtype == mac_subtype {
        return mac(rest).map(|m| Some(json!(m))).ok_or_else(stream);
    }
    if subtype == iana_subtype {
        return iana(rest).map(|a| Some(a.map(Value::String).unwrap_or(Value::Null))).map_err(|_| stream());
    }
    Ok(None)
}

fn bytes_repr(d: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in d.iter().take(64) {
        if b.is_ascii_graphic() && b != b'\'' && b != b'\\' || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('\'');
    s
}

fn set_value(nv: &mut Dict, name: &str, v: Value) {
    nv.entry(name.to_string()).or_insert(v);
}

fn append_value(nv: &mut Dict, name: &str, v: Value) {
    if let Value::Array(a) = nv.entry(name.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
        a.push(v);
    }
}

const CAPS: [(u16, &str); 10] = [
    (1 << 1, "Repeater"),
    (1 << 2, "Bridge"),
    (1 << 3, "WLAN"),
    (1 << 4, "Router"),
    (1 << 5, "Telephone"),
    (1 << 6, "DOCSIS cable device"),
    (1 << 7, "Station only"),
    (1 << 8, "C-Vlan"),
    (1 << 9, "S-Vlan"),
    (1 << 10, "TPMR"),
];

fn caps_list(bits: u16) -> Value {
    Value::Array(CAPS.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| json!(n)).collect())
}

/// 802.3 PMD auto-negotiation capabilities, with Ironic's bug: the 10BASE-T hdx bit is
/// read for both 10BASE-T entries, the fdx bit never.
fn autoneg_caps(pmd: u16) -> Value {
    let bit = |n: u16| pmd & (1 << n) != 0;
    let map = [
        (bit(14), "10BASE-T hdx"),
        (bit(14), "10BASE-T fdx"),
        (bit(12), "10BASE-T4"),
        (bit(11), "100BASE-TX hdx"),
        (bit(10), "100BASE-TX fdx"),
        (bit(9), "100BASE-T2 hdx"),
        (bit(8), "100BASE-T2 fdx"),
        (bit(7), "PAUSE fdx"),
        (bit(6), "Asym PAUSE fdx"),
        (bit(5), "Sym PAUSE fdx"),
        (bit(4), "Asym and Sym PAUSE fdx"),
        (bit(3), "1000BASE-X hdx"),
        (bit(2), "1000BASE-X fdx"),
        (bit(1), "1000BASE-T hdx"),
        (bit(0), "1000BASE-T fdx"),
    ];
    let mut caps: Vec<&str> = map.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    caps.sort();
    caps.dedup();
    json!(caps)
}

fn link_aggregation(nv: &mut Dict, d: &[u8]) -> bool {
    if d.len() != 5 {
        return false;
    }
    set_value(nv, "switch_port_link_aggregation_enabled", json!(d[0] & 0x02 != 0));
    set_value(nv, "switch_port_link_aggregation_support", json!(d[0] & 0x01 != 0));
    set_value(nv, "switch_port_link_aggregation_id", json!(u32::from_be_bytes([d[1], d[2], d[3], d[4]])));
    true
}

/// `LLDPdot1Parser.parse_tlv`.
fn parse_dot1(nv: &mut Dict, subtype: u8, d: &[u8]) -> bool {
    if d.len() > TLV_VALUE_MAX_LEN {
        return false;
    }
    match subtype {
        1 if d.len() >= 2 => set_value(nv, "switch_port_untagged_vlan_id", json!(u16be(d))),
        2 if d.len() == 3 => {
            set_value(nv, "switch_port_protocol_vlan_enabled", json!(d[0] & 0x04 != 0));
            set_value(nv, "switch_port_protocol_vlan_support", json!(d[0] & 0x02 != 0));
            append_value(nv, "switch_port_protocol_vlan_ids", json!(u16be(&d[1..])));
        }
        3 if d.len() >= 3 => {
            let len = d[2] as usize;
            let Some(raw) = d.get(3..3 + len) else { return false };
            let end = raw.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
            let Ok(name) = std::str::from_utf8(&raw[..end]) else { return false };
            append_value(nv, "switch_port_vlans", json!({"name": name, "id": u16be(d)}));
        }
        4 if !d.is_empty() => {
            let len = d[0] as usize;
            let Some(proto) = d.get(1..1 + len) else { return false };
            append_value(nv, "switch_protocol_identities", json!(proto.iter().map(|b| format!("{b:02x}")).collect::<String>()));
        }
        6 if d.len() >= 2 => set_value(nv, "switch_port_management_vlan_id", json!(u16be(d))),
        7 => return link_aggregation(nv, d),
        _ => return false,
    }
    true
}

/// `LLDPdot3Parser.parse_tlv`.
fn parse_dot3(nv: &mut Dict, subtype: u8, d: &[u8]) -> bool {
    if d.len() > TLV_VALUE_MAX_LEN {
        return false;
    }
    match subtype {
        1 if d.len() == 5 => {
            let mau = u16be(&d[3..]) as usize;
            let Some(mau) = OPER_MAU_TYPES.get(mau) else { return false }; // "Invalid index for mau type"
            set_value(nv, "switch_port_autonegotiation_enabled", json!(d[0] & 0x02 != 0));
            set_value(nv, "switch_port_autonegotiation_support", json!(d[0] & 0x01 != 0));
            set_value(nv, "switch_port_physical_capabilities", autoneg_caps(u16be(&d[1..])));
            set_value(nv, "switch_port_mau_type", json!(mau));
        }
        3 => return link_aggregation(nv, d),
        4 if d.len() >= 2 => set_value(nv, "switch_port_mtu", json!(u16be(d))),
        _ => return false,
    }
    true
}

/// `LLDPBasicMgmtParser.parse_tlv`: `Ok(true)` handled, `Ok(false)` not handled or invalid
/// (skipped), `Err` what Ironic lets escape.
fn parse_basic(nv: &mut Dict, tlv_type: i64, d: &[u8], warnings: &mut Vec<String>) -> HResult<bool> {
    match tlv_type {
        0 | 3 => return Ok(true),
        1 | 2 | 4..=8 | 127 => {}
        _ => return Ok(false),
    }
    if d.len() > TLV_VALUE_MAX_LEN {
        warnings.push(format!("LLDP TLV type {tlv_type} is longer than {TLV_VALUE_MAX_LEN} octets, ignored"));
        return Ok(false);
    }
    let string = |d: &[u8]| std::str::from_utf8(d).ok().map(|s| json!(s));
    match tlv_type {
        1 | 2 => {
            let (name, v) = if tlv_type == 1 {
                ("switch_chassis_id", id_value(d, &[1, 2, 3, 6, 7], 4, 5))
            } else {
                ("switch_port_id", id_value(d, &[1, 2, 5, 7], 3, 4))
            };
            match v {
                Ok(Some(v)) => set_value(nv, name, v),
                Ok(None) => return unexpected("AttributeError", "'NoneType' object has no attribute 'value'"),
                Err(_) => return Ok(false),
            }
        }
        4..=6 => {
            let name = ["switch_port_description", "switch_system_name", "switch_system_description"][tlv_type as usize - 4];
            match string(d) {
                Some(v) => set_value(nv, name, v),
                None => return Ok(false),
            }
        }
        7 => {
            if d.len() != 4 {
                return Ok(false);
            }
            set_value(nv, "switch_capabilities_support", caps_list(u16be(d)));
            set_value(nv, "switch_capabilities_enabled", caps_list(u16be(&d[2..])));
        }
        8 => {
            if d.len() < 2 {
                return Ok(false);
            }
            let addr = match d[1] {
                1 => ipv4(&d[2..]).map(Some),
                2 => ipv6(&d[2..]).map(Some),
                6 => mac(&d[2..]).map(Some),
                _ => Some(None),
            };
            match addr {
                None => return Ok(false),
                Some(Some(a)) => append_value(nv, "switch_mgmt_addresses", json!(a)),
                Some(None) => {}
            }
        }
        _ => {
            // 127: organisationally specific.
            if d.len() < 4 {
                return Ok(false);
            }
            let oui: String = d[..3].iter().map(|b| format!("{b:02x}")).collect();
            let mut scratch = Dict::new();
            // Ironic's sub-parser gets `nv or {}`: a fresh dict while nothing was parsed yet.
            let target = if nv.is_empty() { &mut scratch } else { &mut *nv };
            match oui.as_str() {
                "0080c2" => {
                    parse_dot1(target, d[3], &d[4..]);
                }
                "00120f" => {
                    parse_dot3(target, d[3], &d[4..]);
                }
                other => warnings.push(format!("Organizationally Unique ID {other} not recognized")),
            }
        }
    }
    Ok(true)
}

/// A TLV type as Python compares it with an int (`1`, `1.0`, `True`).
fn tlv_number(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(*b as i64),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18).map(|f| f as i64)),
        _ => None,
    }
}

/// `for tlv_type, tlv_value in tlvs` over a JSON value.
fn pairs(tlvs: &Value) -> HResult<Vec<(&Value, &Value)>> {
    let Value::Array(items) = tlvs else {
        return unexpected("TypeError", format!("LLDP data must be a list of [type, value] pairs, not '{}'", py::type_name(tlvs)));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Array(p) if p.len() == 2 => Ok((&p[0], &p[1])),
            Value::Array(p) if p.len() > 2 => unexpected("ValueError", "too many values to unpack (expected 2)"),
            Value::Array(p) => unexpected("ValueError", format!("not enough values to unpack (expected 2, got {})", p.len())),
            other => unexpected("TypeError", format!("cannot unpack non-iterable {} object", py::type_name(other))),
        })
        .collect()
}

/// `binascii.a2b_hex`: `Ok(None)` is Python's `TypeError` (not a string).
fn unhex(v: &Value) -> HResult<Option<Vec<u8>>> {
    let Value::String(s) = v else { return Ok(None) };
    if !s.is_ascii() {
        return unexpected("ValueError", "string argument should contain only ASCII characters");
    }
    if s.len() % 2 != 0 {
        return Err(HookError::Unexpected("Error", "Odd-length string".into()));
    }
    let b = s.as_bytes();
    let nib = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks(2) {
        match (nib(pair[0]), nib(pair[1])) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return Err(HookError::Unexpected("Error", "Non-hexadecimal digit found".into())),
        }
    }
    Ok(Some(out))
}

/// Parse one interface's raw TLVs into LLDP name/value pairs, as Ironic's parse-lldp hook.
pub(crate) fn parse_tlvs(tlvs: &Value, warnings: &mut Vec<String>) -> HResult<Dict> {
    let mut nv = Dict::new();
    for (tlv_type, tlv_value) in pairs(tlvs)? {
        if matches!(tlv_type, Value::Array(_) | Value::Object(_)) {
            return unexpected("TypeError", format!("unhashable type: '{}'", py::type_name(tlv_type)));
        }
        let Some(data) = unhex(tlv_value)? else {
            warnings.push(format!("TLV value for TLV type {} is not in correct format, value must be in hexadecimal", py::repr(tlv_type)));
            continue;
        };
        if let Some(t) = tlv_number(tlv_type) {
            parse_basic(&mut nv, t, &data, warnings)?;
        }
    }
    Ok(nv)
}

/// Ironic's parse-lldp hook.
pub(crate) fn parse_lldp_hook(inventory: &Value, plugin_data: &mut Dict, warnings: &mut Vec<String>) -> HResult<()> {
    let raw = plugin_data.get("lldp_raw").filter(|v| py::truthy(v)).cloned().unwrap_or_else(|| json!({}));
    let Value::Object(lldp_raw) = raw else {
        return unexpected("AttributeError", format!("'{}' object has no attribute 'get'", py::type_name(&raw)));
    };
    let interfaces = match py::index(inventory, "interfaces")? {
        Value::Array(a) => a,
        other => return unexpected("TypeError", format!("'{}' object is not subscriptable", py::type_name(other))),
    };
    let interfaces = if interfaces.len() > MAX_INTERFACES {
        warnings.push(format!(
            "Interface count ({}) exceeds maximum supported amount ({MAX_INTERFACES}); truncating interfaces",
            interfaces.len()
        ));
        &interfaces[..MAX_INTERFACES]
    } else {
        &interfaces[..]
    };
    let mut parsed = Dict::new();
    for iface in interfaces {
        let name = match py::index(iface, "name")? {
            Value::String(s) => s.clone(),
            n @ (Value::Array(_) | Value::Object(_)) => return unexpected("TypeError", format!("unhashable type: '{}'", py::type_name(n))),
            n => py::str_of(n),
        };
        let tlvs = lldp_raw.get(&name).filter(|v| py::truthy(v)).or_else(|| iface.get("lldp")).filter(|v| !v.is_null());
        let Some(tlvs) = tlvs else {
            warnings.push(format!("No LLDP Data found for interface {name}"));
            continue;
        };
        let nv = parse_tlvs(tlvs, warnings)?;
        if !nv.is_empty() {
            parsed.insert(name, Value::Object(nv));
        }
    }
    if parsed.is_empty() {
        return Ok(());
    }
    match plugin_data.get_mut("parsed_lldp") {
        Some(Value::Object(existing)) if !existing.is_empty() => existing.extend(parsed),
        Some(v) if py::truthy(v) => return unexpected("AttributeError", format!("'{}' object has no attribute 'update'", py::type_name(v))),
        _ => {
            plugin_data.insert("parsed_lldp".into(), Value::Object(parsed));
        }
    }
    Ok(())
}

/// Ironic's `_get_local_link_patch`: the `local_link_connection` items one interface's TLVs
/// give (`Ok(None)`: a value was not hexadecimal, Ironic then leaves the port alone).
pub(crate) fn local_link_items(tlvs: &Value, existing: &Dict, warnings: &mut Vec<String>) -> HResult<Option<Dict>> {
    let mut out = Dict::new();
    for (tlv_type, tlv_value) in pairs(tlvs)? {
        let data = match unhex(tlv_value) {
            Ok(Some(d)) => d,
            Err(HookError::Unexpected("Error", _)) => {
                warnings.push(format!(
                    "TLV value for TLV type {} is not in correct format. Ensure that the TLV value is in hexadecimal format when sent to ironic",
                    py::repr(tlv_type)
                ));
                return Ok(None);
            }
            Ok(None) => return unexpected("TypeError", format!("argument should be bytes, buffer or ASCII string, not '{}'", py::type_name(tlv_value))),
            Err(e) => return Err(e),
        };
        let construct_err = |(c, m): (&'static str, String)| HookError::Unexpected(c, m);
        let (item, value) = match tlv_number(tlv_type) {
            Some(2) => match id_value(&data, &[1, 2, 5, 7], 3, 4).map_err(construct_err)? {
                Some(v) if !v.is_null() => ("port_id", v),
                _ => continue,
            },
            Some(1) => {
                let Some(&subtype) = data.first() else {
                    return unexpected("StreamError", "stream read less than specified amount, expected 1, found 0");
                };
                if !(1..=7).contains(&subtype) {
                    return unexpected("TypeError", "argument of type 'EnumInteger' is not iterable");
                }
                let v = id_value(&data, &[1, 2, 3, 6, 7], 4, 5).map_err(construct_err)?;
                if subtype != 4 {
                    continue; // only a MAC address is accepted as switch_id
                }
                match v {
                    Some(v) => ("switch_id", v),
                    None => continue,
                }
            }
            Some(5) => match std::str::from_utf8(&data) {
                Ok(s) => ("switch_info", json!(s)),
                Err(_) => return unexpected("StringError", format!("cannot use encoding 'utf8' to decode {}", bytes_repr(&data))),
            },
            _ => continue,
        };
        if existing.contains_key(item) {
            continue;
        }
        out.insert(item.to_string(), value);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tlvs: Value) -> Dict {
        parse_tlvs(&tlvs, &mut Vec::new()).unwrap()
    }

    #[test]
    fn basic_management_tlvs() {
        let nv = parse(json!([
            [1, "04aabbccddeeff"],
            [2, "0565746830"],
            [3, "0078"],
            [4, "506f7274203132"],
            [5, "73772d31"],
            [6, "4a756e6970657220535758"],
            [7, "00140014"],
            [8, "05010a0000010200000001"],
            [8, "070600112233445502000000"],
            [0, ""]
        ]));
        assert_eq!(nv["switch_chassis_id"], "aa:bb:cc:dd:ee:ff");
        assert_eq!(nv["switch_port_id"], "eth0");
        assert_eq!(nv["switch_port_description"], "Port 12");
        assert_eq!(nv["switch_system_name"], "sw-1");
        assert_eq!(nv["switch_system_description"], "Juniper SWX");
        assert_eq!(nv["switch_capabilities_support"], json!(["Bridge", "Router"]));
        assert_eq!(nv["switch_capabilities_enabled"], json!(["Bridge", "Router"]));
        assert_eq!(nv["switch_mgmt_addresses"], json!(["10.0.0.1", "00:11:22:33:44:55"]));
        assert_eq!(nv.len(), 8);
    }

    #[test]
    fn dot1_and_dot3_tlvs() {
        let nv = parse(json!([
            [1, "0461626364"], // a MAC chassis ID of 4 bytes: skipped
            [1, "07737769746368"],
            [127, "0080c2010064"],
            [127, "0080c20206000a"],
            [127, "0080c20206000b"],
            [127, "0080c203006407766c616e313030"],
            [127, "0080c20300650676326e000000"],
            [127, "0080c204020102"],
            [127, "0080c2060007"],
            [127, "0080c2070300000005"],
            [127, "00120f01036c030010"],
            [127, "00120f040800"],
            [127, "00120f0103ffff0010"],
            [127, "aabbcc0100"]
        ]));
        assert_eq!(nv["switch_chassis_id"], "switch");
        assert_eq!(nv["switch_port_untagged_vlan_id"], 100);
        assert_eq!(nv["switch_port_protocol_vlan_enabled"], true);
        assert_eq!(nv["switch_port_protocol_vlan_support"], true);
        assert_eq!(nv["switch_port_protocol_vlan_ids"], json!([10, 11]));
        assert_eq!(nv["switch_port_vlans"], json!([{"name": "vlan100", "id": 100}, {"name": "v2n", "id": 101}]));
        assert_eq!(nv["switch_protocol_identities"], json!(["0102"]));
        assert_eq!(nv["switch_port_management_vlan_id"], 7);
        assert_eq!(nv["switch_port_link_aggregation_enabled"], true);
        assert_eq!(nv["switch_port_link_aggregation_support"], true);
        assert_eq!(nv["switch_port_link_aggregation_id"], 5);
        assert_eq!(nv["switch_port_autonegotiation_enabled"], true);
        assert_eq!(nv["switch_port_autonegotiation_support"], true);
        assert_eq!(
            nv["switch_port_physical_capabilities"],
            json!(["1000BASE-T fdx", "1000BASE-T hdx", "100BASE-TX fdx", "100BASE-TX hdx", "10BASE-T fdx", "10BASE-T hdx"])
        );
        assert_eq!(nv["switch_port_mau_type"], "100BASE-TX full duplex");
        assert_eq!(nv["switch_port_mtu"], 2048);
    }

    #[test]
    fn ironic_quirks_are_kept() {
        // An organisational TLV before anything else is parsed is lost.
        assert!(parse(json!([[127, "0080c2010064"], [127, "00120f040800"]])).is_empty());
        // IPv6 management address below 2^32 prints as IPv4 (netaddr).
        let nv = parse(json!([[5, "61"], [8, "1102".to_string() + &"00".repeat(15) + "01"]]));
        assert_eq!(nv["switch_mgmt_addresses"], json!(["0.0.0.1"]));
        let nv = parse(json!([[5, "61"], [8, "1102fe800000000000000000000000000001"]]));
        assert_eq!(nv["switch_mgmt_addresses"], json!(["fe80::1"]));
        // First value wins; an IANA chassis ID of an unknown family is null.
        let nv = parse(json!([[5, "61"], [5, "62"], [1, "0509aabb"]]));
        assert_eq!(nv["switch_system_name"], "a");
        assert_eq!(nv["switch_chassis_id"], Value::Null);
        // A float or Boolean type compares equal to the integer.
        assert_eq!(parse(json!([[5.0, "6162"]]))["switch_system_name"], "ab");
        assert_eq!(parse(json!([[true, "04aabbccddeeff"]]))["switch_chassis_id"], "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn hostile_tlvs_warn_or_fail_never_panic() {
        let mut w = Vec::new();
        // Not a string: skipped with a warning.
        assert!(parse_tlvs(&json!([[5, 1234], [5, null]]), &mut w).unwrap().is_empty());
        assert_eq!(w.len(), 2);
        // Invalid UTF-8, too long, wrong capability length, short values: skipped.
        let long = "61".repeat(512);
        assert!(parse(json!([[5, "fffe"], [6, long], [7, "0014"], [8, "05"], [127, "0080"], [1, ""], [2, "03aabb"]])).is_empty());
        // Not hexadecimal / odd length / non-ASCII: Ironic's hook raises.
        for bad in ["zz", "abc", "é0"] {
            assert!(matches!(parse_tlvs(&json!([[5, bad]]), &mut w), Err(HookError::Unexpected(_, _))), "{bad}");
        }
        // Unknown chassis / port ID subtype: AttributeError in Ironic.
        assert_eq!(
            parse_tlvs(&json!([[1, "09616263"]]), &mut w).unwrap_err(),
            HookError::Unexpected("AttributeError", "'NoneType' object has no attribute 'value'".into())
        );
        assert!(parse_tlvs(&json!([[2, "06616263"]]), &mut w).is_err());
        // Shapes that cannot be unpacked.
        for bad in [json!("0102"), json!([[1]]), json!([[1, 2, 3]]), json!([5]), json!({"a": 1}), json!([[[1], "00"]])] {
            assert!(parse_tlvs(&bad, &mut w).is_err(), "{bad}");
        }
        // Unknown types are ignored; huge lists are fine.
        let many: Vec<Value> = (0..10_000).map(|i| json!([i % 200 + 9, "00"])).collect();
        assert!(parse_tlvs(&Value::Array(many), &mut w).unwrap().is_empty());
    }

    #[test]
    fn local_link_connection_items() {
        let mut w = Vec::new();
        let tlvs = json!([[1, "04aabbccddeeff"], [2, "0565746830"], [5, "73772d31"], [2, "056574683170"]]);
        let items = local_link_items(&tlvs, &Dict::new(), &mut w).unwrap().unwrap();
        assert_eq!(Value::Object(items), json!({"switch_id": "aa:bb:cc:dd:ee:ff", "port_id": "eth1p", "switch_info": "sw-1"}));
        // Existing keys are kept; a chassis ID that is not a MAC is not a switch_id.
        let existing: Dict = serde_json::from_value(json!({"port_id": "Gi0/1"})).unwrap();
        let items = local_link_items(&json!([[1, "0773772d31"], [2, "0565746830"]]), &existing, &mut w).unwrap().unwrap();
        assert!(items.is_empty());
        // A value that is not hexadecimal leaves the port alone.
        assert_eq!(local_link_items(&json!([[5, "73"], [2, "zz"]]), &Dict::new(), &mut w).unwrap(), None);
        // What Ironic does not catch.
        assert!(local_link_items(&json!([[2, ""]]), &Dict::new(), &mut w).is_err());
        assert!(local_link_items(&json!([[1, "09aa"]]), &Dict::new(), &mut w).is_err());
        assert!(local_link_items(&json!([[5, "fffe"]]), &Dict::new(), &mut w).is_err());
        assert!(local_link_items(&json!([[5, 12]]), &Dict::new(), &mut w).is_err());
        // IANA address port ID.
        let items = local_link_items(&json!([[2, "04010a000001"]]), &Dict::new(), &mut w).unwrap().unwrap();
        assert_eq!(items["port_id"], "10.0.0.1");
    }
}
