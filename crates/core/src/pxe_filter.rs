//! The PXE filter: which MACs the inspection DHCP server may answer now, as dnsmasq
//! `dhcp-hostsdir` files (Ironic's `ironic-pxe-filter`, `ironic/pxe_filter/dnsmasq.py`).
//!
//! Ports of nodes being inspected are allowed (`<mac>` in a file named after the MAC), every
//! other known port is denied (`<mac>,ignore`), and unknown MACs are allowed (a wildcard file
//! `unknown_hosts_filter`) only while some node is inspecting or discovery is on. Files of
//! MACs no longer known follow the unknown rule. Pure: the plan is computed from the ports and
//! node states; the conductor writes the files.

use std::collections::{BTreeMap, BTreeSet};

/// The wildcard file's name.
pub const UNKNOWN_HOSTS_FILE: &str = "unknown_hosts_filter";
const ALLOW_UNKNOWN: &str = "*:*:*:*:*:*\n";
const DENY_UNKNOWN: &str = "*:*:*:*:*:*,ignore\n";

/// What the filter should let through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub allow: BTreeSet<String>,
    pub deny: BTreeSet<String>,
    pub allow_unknown: bool,
}

/// `ports`: every port as (MAC, node UUID); `inspecting`: the nodes in `inspect wait` or
/// `inspecting` whose inspect interface boots the ramdisk.
pub fn plan<'a>(ports: impl IntoIterator<Item = (&'a str, &'a str)>, inspecting: &BTreeSet<String>, discovery: bool) -> Plan {
    let mut p = Plan { allow_unknown: discovery || !inspecting.is_empty(), ..Default::default() };
    for (mac, node) in ports {
        let mac = mac.to_ascii_lowercase();
        if inspecting.contains(node) {
            p.deny.remove(&mac);
            p.allow.insert(mac);
        } else if !p.allow.contains(&mac) {
            p.deny.insert(mac);
        }
    }
    p
}

fn is_mac_name(name: &str) -> bool {
    name.len() == 17
        && name.split(':').count() == 6
        && name.split(':').all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The writes and deletions that bring a hostsdir whose files are `existing` (name ->
/// content) to `plan`. Unchanged files are left alone, so dnsmasq sees only real changes.
/// Files of removed MACs are rewritten to follow the unknown-hosts rule, as Ironic does (a
/// deleted node re-enrolled during inspection must still boot). Other files are ignored.
pub fn file_changes(plan: &Plan, existing: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for m in &plan.allow {
        want.insert(m.clone(), format!("{m}\n"));
    }
    for m in &plan.deny {
        want.insert(m.clone(), format!("{m},ignore\n"));
    }
    let removed: Vec<&String> = existing.keys().filter(|n| is_mac_name(n) && !want.contains_key(*n)).collect();
    for name in removed {
        let content = if plan.allow_unknown { format!("{name}\n") } else { format!("{name},ignore\n") };
        want.insert(name.clone(), content);
    }
    want.insert(UNKNOWN_HOSTS_FILE.into(), if plan.allow_unknown { ALLOW_UNKNOWN } else { DENY_UNKNOWN }.into());
    want.into_iter().filter(|(n, c)| existing.get(n) != Some(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inspecting_nodes_are_allowed_the_rest_denied() {
        let ports = [("AA:00:00:00:00:01", "n1"), ("aa:00:00:00:00:02", "n2"), ("aa:00:00:00:00:03", "n1")];
        let p = plan(ports, &set(&["n1"]), false);
        assert_eq!(p.allow, set(&["aa:00:00:00:00:01", "aa:00:00:00:00:03"]));
        assert_eq!(p.deny, set(&["aa:00:00:00:00:02"]));
        assert!(p.allow_unknown, "unknown MACs may boot while something inspects");
        let idle = plan(ports, &set(&[]), false);
        assert_eq!((idle.allow.len(), idle.deny.len(), idle.allow_unknown), (0, 3, false));
        assert!(plan(ports, &set(&[]), true).allow_unknown, "discovery lets unknown MACs boot");
    }

    #[test]
    fn files_are_written_only_when_they_change() {
        let p = plan([("aa:00:00:00:00:01", "n1"), ("aa:00:00:00:00:02", "n2")], &set(&["n1"]), false);
        let first = file_changes(&p, &BTreeMap::new());
        assert_eq!(
            first,
            BTreeMap::from([
                ("aa:00:00:00:00:01".to_string(), "aa:00:00:00:00:01\n".to_string()),
                ("aa:00:00:00:00:02".to_string(), "aa:00:00:00:00:02,ignore\n".to_string()),
                (UNKNOWN_HOSTS_FILE.to_string(), "*:*:*:*:*:*\n".to_string()),
            ])
        );
        // Applied, nothing more to do.
        assert!(file_changes(&p, &first).is_empty());
        // n1 finishes: its MAC flips to deny and the wildcard to deny; nothing else is written.
        let after = plan([("aa:00:00:00:00:01", "n1"), ("aa:00:00:00:00:02", "n2")], &set(&[]), false);
        let changes = file_changes(&after, &first);
        assert_eq!(
            changes,
            BTreeMap::from([
                ("aa:00:00:00:00:01".to_string(), "aa:00:00:00:00:01,ignore\n".to_string()),
                (UNKNOWN_HOSTS_FILE.to_string(), "*:*:*:*:*:*,ignore\n".to_string()),
            ])
        );
    }

    #[test]
    fn removed_macs_follow_the_unknown_rule_and_foreign_files_are_left_alone() {
        let existing = BTreeMap::from([
            ("aa:00:00:00:00:09".to_string(), "aa:00:00:00:00:09,ignore\n".to_string()),
            ("README".to_string(), "hello".to_string()),
        ]);
        let inspecting = plan([("aa:00:00:00:00:01", "n1")], &set(&["n1"]), false);
        let c = file_changes(&inspecting, &existing);
        assert_eq!(c["aa:00:00:00:00:09"], "aa:00:00:00:00:09\n");
        assert!(!c.contains_key("README"));
        let idle = plan([("aa:00:00:00:00:01", "n1")], &set(&[]), false);
        let c = file_changes(&idle, &existing);
        assert!(!c.contains_key("aa:00:00:00:00:09"), "already denied");
        // A MAC shared by an inspecting and an idle node (bad data): allowed, not flapping.
        let p = plan([("aa:00:00:00:00:05", "n1"), ("aa:00:00:00:00:05", "n2")], &set(&["n1"]), false);
        assert_eq!((p.allow.len(), p.deny.len()), (1, 0));
        let p = plan([("aa:00:00:00:00:05", "n2"), ("aa:00:00:00:00:05", "n1")], &set(&["n1"]), false);
        assert_eq!((p.allow.len(), p.deny.len()), (1, 0));
    }
}
