//! The `agent` inspect interface: in-band inspection by ferric's agent (or IPA) booted from the
//! network. Starting inspection returns [`Outcome::Wait`]; the conductor then boots the
//! machine into the ramdisk (PXE next boot, power on or reboot) and the node waits in
//! `inspect wait` until the agent's report arrives at `/v1/continue_inspection`.

use super::*;

pub struct AgentInspect;

impl GenericInterface for AgentInspect {
    fn validate(&self, _node: &Node) -> DResult<()> {
        Ok(())
    }
    fn run<'a>(&'a self, _node: &'a mut Node, operation: &'a str, _args: &'a Dict) -> BoxFut<'a, DResult<Outcome>> {
        Box::pin(async move {
            match operation {
                "inspect_hardware" => Ok(Outcome::Wait),
                other => Err(DriverError::Unsupported(format!("{other} is not supported by the agent inspect interface"))),
            }
        })
    }
}

/// The BMC addresses a node's `driver_info` names (`*_address` keys), which the ramdisk may
/// report back; Ironic caches them for lookup the same way.
pub fn bmc_addresses(node: &Node) -> Vec<String> {
    let mut out: Vec<String> = node
        .driver_info
        .iter()
        .filter(|(k, _)| k.ends_with("_address"))
        .filter_map(|(_, v)| v.as_str())
        .map(|a| {
            // Accept URLs (redfish_address) and bracketed IPv6 as well as plain hosts.
            let a = a.split("://").nth(1).unwrap_or(a);
            let host = a.split('/').next().unwrap_or(a);
            let host = host.strip_prefix('[').and_then(|h| h.split(']').next()).unwrap_or_else(|| {
                if host.matches(':').count() == 1 { host.split(':').next().unwrap_or(host) } else { host }
            });
            host.to_string()
        })
        .filter(|h| !h.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmc_addresses_are_taken_from_every_address_field() {
        let mut n = Node::default();
        n.driver_info.insert("ipmi_address".into(), "192.0.2.7".into());
        n.driver_info.insert("redfish_address".into(), "https://[2001:db8::9]:8443/redfish/v1".into());
        n.driver_info.insert("other_address".into(), "bmc.example.com:623".into());
        n.driver_info.insert("ipmi_username".into(), "admin".into());
        assert_eq!(bmc_addresses(&n), ["192.0.2.7", "2001:db8::9", "bmc.example.com"]);
    }
}
