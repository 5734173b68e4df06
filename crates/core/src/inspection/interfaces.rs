//! The hooks about network interfaces and ports: validate-interfaces, ports (with
//! `add_ports`, `keep_ports`, `update_pxe_enabled`), local-link-connection and
//! physical-network.
//!
//! One deliberate difference from Ironic: local-link-connection and physical-network find
//! the port of an interface among this node's ports (those the ports hook just created
//! included) by the lower-cased MAC. Ironic looks the MAC up among every node's ports
//! (local-link-connection) or compares it case-sensitively with the inventory's spelling
//! (physical-network).

use super::lldp;
use super::py::{self, invalid_inventory, truthy, unexpected, HResult, HookError};
use super::{pxe_mac, AddPorts, HookConfig, KeepPorts, PortFields, State, WorkPort};
use crate::model::Dict;
use serde_json::{json, Value};
use std::net::IpAddr;

/// oslo.utils `is_valid_mac`: six colon-separated hex octets.
fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Ironic's `utils.is_loopback`.
fn is_loopback(ip: &str) -> bool {
    match ip.split('%').next().unwrap_or(ip).parse::<IpAddr>() {
        Ok(a) => a.is_loopback(),
        Err(_) => ip == "localhost" || ip == "localhost.localdomain",
    }
}

fn interfaces(inventory: &Value) -> HResult<&Vec<Value>> {
    match py::index(inventory, "interfaces")? {
        Value::Array(a) => Ok(a),
        other => unexpected("TypeError", format!("'{}' object is not iterable", py::type_name(other))),
    }
}

fn name_key(v: &Value) -> String {
    py::str_of(v)
}

/// Ironic's validate-interfaces (preprocess): `all_interfaces`, `valid_interfaces`, `macs`.
pub(crate) fn validate_interfaces(st: &mut State, cfg: &HookConfig, plugin_data: &mut Dict) -> HResult<()> {
    if let Some(boot) = py::get(st.inventory, "boot")? {
        py::get(boot, "pxe_interface")?;
    }
    let pxe = pxe_mac(st.inventory);
    if py::get(st.inventory, "interfaces")?.is_none() {
        return Err(invalid_inventory(st.node_uuid, "no interfaces present in inventory"));
    }
    let mut all = Dict::new();
    let mut order: Vec<String> = Vec::new();
    for iface in interfaces(st.inventory)? {
        let name = py::get(iface, "name")?.filter(|n| truthy(n));
        let mac = iface.get("mac_address").filter(|m| truthy(m));
        let mut v6 = iface.get("ipv6_address").cloned().unwrap_or(Value::Null);
        if truthy(&v6) {
            match &v6 {
                Value::String(s) => v6 = json!(s.split('%').next().unwrap_or(s)),
                Value::Array(_) | Value::Object(_) => {}
                other => return unexpected("TypeError", format!("argument of type '{}' is not iterable", py::type_name(other))),
            }
        }
        let Some(name) = name else {
            st.warnings.push(format!("Malformed interface record: {}", py::repr(iface)));
            continue;
        };
        let Some(mac) = mac else { continue };
        let Some(mac) = mac.as_str().filter(|m| valid_mac(m)).map(str::to_lowercase) else {
            st.warnings.push(format!("MAC address of interface {} is not valid, skipping", py::repr(iface)));
            continue;
        };
        let mut entry = iface.as_object().cloned().unwrap_or_default();
        entry.insert("pxe_enabled".into(), json!(pxe.as_deref() == Some(mac.as_str())));
        entry.insert("ipv6_address".into(), v6);
        let key = name_key(name);
        if !order.contains(&key) {
            order.push(key.clone());
        }
        all.insert(key, Value::Object(entry));
    }
    if all.is_empty() {
        return Err(invalid_inventory(st.node_uuid, "no valid network interfaces"));
    }
    if pxe.is_none() && cfg.add_ports == AddPorts::Pxe {
        st.warnings.push("No boot interface provided in the inventory, will add all ports with IP addresses".into());
    }
    let mut valid = Dict::new();
    let mut macs = Vec::new();
    for name in &order {
        let iface = &all[name];
        let ip = iface.get("ipv4_address").filter(|v| truthy(v)).or_else(|| iface.get("ipv6_address").filter(|v| truthy(v)));
        let is_pxe = iface.get("pxe_enabled").is_none_or(truthy);
        if name == "lo" || ip.and_then(Value::as_str).is_some_and(is_loopback) {
            continue;
        }
        if cfg.add_ports == AddPorts::Pxe && pxe.is_some() && !is_pxe {
            continue;
        }
        if cfg.add_ports == AddPorts::Active && ip.is_none() {
            continue;
        }
        macs.push(iface.get("mac_address").cloned().unwrap_or(Value::Null));
        valid.insert(name.clone(), iface.clone());
    }
    if valid.is_empty() {
        return Err(invalid_inventory(
            st.node_uuid,
            format!("no network interfaces match the configuration (add_ports set to \"{}\")", cfg.add_ports.as_str()),
        ));
    }
    plugin_data.insert("all_interfaces".into(), Value::Object(all));
    plugin_data.insert("valid_interfaces".into(), Value::Object(valid));
    plugin_data.insert("macs".into(), Value::Array(macs));
    Ok(())
}

fn lower_mac(v: &Value) -> String {
    v.as_str().map(str::to_lowercase).unwrap_or_default()
}

fn dict_of<'a>(plugin_data: &'a Dict, key: &str) -> HResult<&'a Dict> {
    match plugin_data.get(key) {
        Some(Value::Object(o)) => Ok(o),
        Some(other) => unexpected("AttributeError", format!("'{}' object has no attribute 'values'", py::type_name(other))),
        None => unexpected("KeyError", format!("'{key}'")),
    }
}

/// Interface names in the inventory's order (Ironic's dicts keep insertion order).
fn inventory_order(inventory: &Value, d: &Dict) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(Value::Array(ifaces)) = inventory.get("interfaces") {
        for i in ifaces {
            if let Some(n) = i.get("name").map(name_key) {
                if d.contains_key(&n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    for k in d.keys() {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

/// Ironic's ports hook: create ports for the valid interfaces (`add_ports`), then bring
/// the node's ports in line (`keep_ports`, `update_pxe_enabled`, DHCP client ids).
pub(crate) fn ports(st: &mut State, cfg: &HookConfig, plugin_data: &mut Dict) -> HResult<()> {
    let valid = dict_of(plugin_data, "valid_interfaces")?;
    let all = dict_of(plugin_data, "all_interfaces")?;
    let macs = match plugin_data.get("macs") {
        Some(Value::Array(m)) => m.clone(),
        _ => return unexpected("KeyError", "'macs'"),
    };
    if cfg.add_ports != AddPorts::Disabled {
        for name in inventory_order(st.inventory, valid) {
            let iface = &valid[&name];
            let mac = lower_mac(py::index(iface, "mac_address")?);
            if st.ports.iter().any(|p| !p.deleted && p.address == mac) {
                continue; // MACAlreadyExists
            }
            let mut extra = Dict::new();
            if let Some(cid) = iface.get("client_id").filter(|c| truthy(c)) {
                extra.insert("client-id".into(), cid.clone());
            }
            let pxe_enabled = truthy(py::index(iface, "pxe_enabled")?);
            st.ports.push(WorkPort {
                uuid: None,
                address: mac,
                fields: PortFields { pxe_enabled, extra, ..Default::default() },
                deleted: false,
            });
        }
    }
    let expected: Option<Vec<String>> = match cfg.keep_ports {
        KeepPorts::All => None,
        KeepPorts::Present => Some(all.values().map(|i| lower_mac(i.get("mac_address").unwrap_or(&Value::Null))).collect()),
        KeepPorts::Added => Some(macs.iter().map(lower_mac).collect()),
    };
    let pxe_macs: Vec<String> =
        all.values().filter(|i| i.get("pxe_enabled").is_some_and(truthy)).map(|i| lower_mac(&i["mac_address"])).collect();
    let mut client_ids: Vec<(String, Value)> = Vec::new();
    for i in all.values() {
        let mac = lower_mac(i.get("mac_address").unwrap_or(&Value::Null));
        let cid = i.get("client_id").cloned().unwrap_or(Value::Null);
        match client_ids.iter_mut().find(|(m, _)| *m == mac) {
            Some(e) => e.1 = cid,
            None => client_ids.push((mac, cid)),
        }
    }
    for port in st.ports.iter_mut().filter(|p| !p.deleted) {
        if let Some(exp) = &expected {
            if !exp.is_empty() && !exp.contains(&port.address) {
                port.deleted = true;
                continue;
            }
        }
        if cfg.update_pxe_enabled {
            port.fields.pxe_enabled = pxe_macs.contains(&port.address);
        }
        if let Some((_, cid)) = client_ids.iter().find(|(m, _)| *m == port.address) {
            if truthy(cid) && port.fields.extra.get("client-id") != Some(cid) {
                port.fields.extra.insert("client-id".into(), cid.clone());
            }
        }
    }
    Ok(())
}

fn port_for<'a>(ports: &'a mut [WorkPort], mac: &Value) -> Option<&'a mut WorkPort> {
    let mac = mac.as_str()?.to_lowercase();
    ports.iter_mut().find(|p| !p.deleted && p.address == mac)
}

/// Ironic's local-link-connection hook.
pub(crate) fn local_link_connection(st: &mut State, plugin_data: &Dict) -> HResult<()> {
    let raw = plugin_data.get("lldp_raw").filter(|v| truthy(v)).cloned().unwrap_or_else(|| json!({}));
    let Value::Object(lldp_raw) = raw else {
        return unexpected("AttributeError", format!("'{}' object has no attribute 'get'", py::type_name(&raw)));
    };
    let all = match plugin_data.get("all_interfaces") {
        Some(Value::Object(o)) => o,
        Some(other) => return unexpected("TypeError", format!("argument of type '{}' is not iterable", py::type_name(other))),
        None => return unexpected("TypeError", "argument of type 'NoneType' is not iterable"),
    };
    for iface in interfaces(st.inventory)? {
        let name = name_key(py::index(iface, "name")?);
        if !all.contains_key(&name) {
            continue;
        }
        let mac = py::index(iface, "mac_address")?;
        let Some(port) = port_for(&mut st.ports, mac) else { continue };
        let tlvs = lldp_raw.get(&name).filter(|v| truthy(v)).or_else(|| iface.get("lldp")).filter(|v| !v.is_null());
        let Some(tlvs) = tlvs else {
            st.warnings.push(format!("No LLDP data found for interface {}", py::str_of(mac)));
            continue;
        };
        if let Some(items) = lldp::local_link_items(tlvs, &port.fields.local_link_connection, &mut st.warnings)? {
            port.fields.local_link_connection.extend(items);
        }
    }
    Ok(())
}

/// The physical network of an interface: the first `CIDR:physnet` containing its IPv4,
/// then its IPv6 address.
fn physical_network_of(cfg: &HookConfig, iface: &Value) -> Option<String> {
    for key in ["ipv4_address", "ipv6_address"] {
        let Some(ip) = iface.get(key).and_then(Value::as_str) else { continue };
        let Ok(ip) = ip.split('%').next().unwrap_or(ip).parse::<IpAddr>() else { continue };
        if let Some((cidr, _)) = cfg.physical_network_cidr_map.iter().find(|(c, _)| c.contains(&ip)) {
            // A CIDR listed twice keeps its first place and its last value (a Python dict).
            return cfg.physical_network_cidr_map.iter().rev().find(|(c, _)| c == cidr).map(|(_, n)| n.clone());
        }
    }
    None
}

/// Ironic's physical-network hook.
pub(crate) fn physical_network(st: &mut State, cfg: &HookConfig, plugin_data: &Dict) -> HResult<()> {
    let all = match plugin_data.get("all_interfaces") {
        Some(Value::Object(o)) => o,
        _ => return Err(HookError::Unexpected("KeyError", "'all_interfaces'".into())),
    };
    for iface in interfaces(st.inventory)? {
        let name = name_key(py::index(iface, "name")?);
        if !all.contains_key(&name) {
            continue;
        }
        let mac = py::index(iface, "mac_address")?;
        let Some(net) = physical_network_of(cfg, iface) else { continue };
        let Some(port) = port_for(&mut st.ports, mac) else { continue };
        if port.fields.physical_network.as_deref() != Some(net.as_str()) {
            port.fields.physical_network = Some(net);
        }
    }
    Ok(())
}
