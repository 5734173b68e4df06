//! A node's wire form written straight to the output: a `Serialize` view over `&Node` that
//! walks `nodes::FIELD_VERSIONS` and `nodes::LINK_VERSIONS` in the wire's key order, with no
//! intermediate `Value`. Its bytes are those of `serde_json::to_vec` of `nodes::node_json`
//! (after `wire::select` for `?fields=`), which stays for the code that needs a `Value`; the
//! tests below hold the two together for every version.

use crate::nodes::{FieldFn, FIELD_VERSIONS, LINK_VERSIONS, SUMMARY_FIELDS};
use crate::wire::Links;
use ferric_core::{Node, Version};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// What a request shows of each node: the fields and links of its version (and `?fields=`),
/// sorted by name once per request, as serde_json's `Map` orders the `Value` form.
pub struct NodeWire {
    version: Version,
    base: String,
    masked: bool,
    entries: Vec<Entry>,
}

enum Entry {
    Field(&'static str, FieldFn),
    /// A link field, and what follows `nodes/{uuid}` in its path.
    Link(&'static str, &'static str),
}

impl Entry {
    fn name(&self) -> &'static str {
        match self {
            Entry::Field(name, _) | Entry::Link(name, _) => name,
        }
    }
}

impl NodeWire {
    /// Every field and link of a node at `v`: `GET /v1/nodes/{id}` and the detail list.
    pub fn all(v: Version, base: &str) -> Self {
        Self::build(v, base, |_| true, true)
    }

    /// `?fields=`: those fields and `links` (as `wire::select`).
    pub fn selected(v: Version, base: &str, fields: &[String]) -> Self {
        Self::build(v, base, |name| fields.iter().any(|f| f == name), false)
    }

    /// The short node list (no `detail`, no `fields`).
    pub fn summary(v: Version, base: &str) -> Self {
        Self::build(v, base, |name| SUMMARY_FIELDS.contains(&name), false)
    }

    fn build(v: Version, base: &str, wanted: impl Fn(&str) -> bool, all_links: bool) -> Self {
        let fields = FIELD_VERSIONS
            .iter()
            .filter(|&&(name, min, _)| v.at_least(min) && wanted(name))
            .map(|&(name, _, get)| Entry::Field(name, get));
        let links = LINK_VERSIONS
            .iter()
            .filter(|&&(name, min, _)| v.at_least(min) && (all_links || name == "links"))
            .map(|&(name, _, suffix)| Entry::Link(name, suffix));
        let mut entries: Vec<Entry> = fields.chain(links).collect();
        entries.sort_unstable_by_key(Entry::name);
        NodeWire { version: v, base: base.to_string(), masked: true, entries }
    }

    /// Secrets shown as stored (the masked form is the default, and the only one served).
    pub fn unmasked(mut self) -> Self {
        self.masked = false;
        self
    }

    pub fn view<'a>(&'a self, node: &'a Node) -> NodeView<'a> {
        NodeView { wire: self, node }
    }
}

pub struct NodeView<'a> {
    wire: &'a NodeWire,
    node: &'a Node,
}

impl Serialize for NodeView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (w, n) = (self.wire, self.node);
        let mut m = s.serialize_map(Some(w.entries.len()))?;
        for entry in &w.entries {
            match *entry {
                Entry::Field(name, get) => {
                    let value = get(n, w.version);
                    m.serialize_entry(name, &if w.masked { value } else { value.unmasked() })?;
                }
                Entry::Link(name, suffix) => {
                    m.serialize_entry(name, &Links { base: &w.base, path: ["nodes/", &n.uuid, suffix] })?;
                }
            }
        }
        m.end()
    }
}

/// A page of the node list as `wire::collection` builds it, `{"next": ..., "nodes": [...]}`
/// (`next` sorts first), written node by node into one buffer.
pub struct PageWriter {
    nodes: Vec<u8>,
    limit: usize,
    count: usize,
    last_uuid: String,
}

impl PageWriter {
    /// A page of at most `limit` nodes.
    pub fn new(limit: usize) -> Self {
        let mut nodes = Vec::with_capacity(4096);
        nodes.extend_from_slice(b"{\"nodes\":[");
        PageWriter { nodes, limit, count: 0, last_uuid: String::new() }
    }

    pub fn push(&mut self, wire: &NodeWire, n: &Node) -> serde_json::Result<()> {
        if self.count > 0 {
            self.nodes.push(b',');
        }
        let start = self.nodes.len();
        serde_json::to_writer(&mut self.nodes, &wire.view(n))?;
        if self.count == 0 {
            // Room for a full page of nodes about the first one's size, allocated once
            // (only the part written is ever touched).
            let first = self.nodes.len() - start;
            self.nodes.reserve((first + first / 8 + 1) * self.limit.saturating_sub(1));
        }
        self.count += 1;
        self.last_uuid.clear();
        self.last_uuid.push_str(&n.uuid);
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The last node's UUID, `None` for an empty page.
    pub fn last_uuid(&self) -> Option<String> {
        (self.count > 0).then(|| self.last_uuid.clone())
    }

    /// The page's bytes, with its `next` link if it has one.
    pub fn finish(self, next: Option<&str>) -> serde_json::Result<Vec<u8>> {
        let mut out = self.nodes;
        out.extend_from_slice(b"]}");
        if let Some(next) = next {
            let mut field = b"\"next\":".to_vec();
            serde_json::to_writer(&mut field, next)?;
            field.push(b',');
            out.splice(1..1, field);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! The direct serialiser against the `Value` form it replaces (`node_json`, `node_fields`,
    //! `node_summary`, `wire::select`, `wire::collection`), byte for byte.

    use super::*;
    use crate::nodes::{node_fields, node_json, node_summary};
    use crate::wire::{self, TsText};
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    use ferric_core::version::MAX_MINOR;
    use ferric_core::{Dict, Interfaces, PowerState, ProvisionState, Timestamp};
    use serde_json::{json, Value};
    use std::collections::HashMap;

    const BASES: &[&str] = &["http://127.0.0.1:6385", "https://bm.example.org:443/base\"q"];

    /// A small deterministic generator (xorshift), so the varied nodes are the same every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn coin(&mut self) -> bool {
            self.next() & 1 == 1
        }
        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
        fn opt(&mut self, s: &str) -> Option<String> {
            self.coin().then(|| format!("{s}-{}", self.below(1000)))
        }
        fn ts(&mut self) -> Timestamp {
            let nanos = *self.pick(&[0, 1_000, 123_456_789, 999_999_999, 500]);
            Utc.timestamp_opt(self.below(4_000_000_000) as i64, nanos).unwrap()
        }
        fn opt_ts(&mut self) -> Option<Timestamp> {
            self.coin().then(|| self.ts())
        }
    }

    fn dict(v: Value) -> Dict {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// Secrets at the top, nested (in objects, not in lists: `mask` does not enter lists),
    /// null secrets, mixed case keys, floats, escapes, empty dicts.
    fn secrets(i: usize) -> Dict {
        dict(json!({
            "ipmi_password": format!("pw{i}"), "IPMI_Username": "admin", "Redfish_PASSWORD": "x",
            "ipmi_hex_kg_key": "6b6579", "ipmi_port": 623, "ratio": 1.5e-7, "big": 18446744073709551615u64,
            "nested": {"token": "t", "deeper": {"private_key": "k", "ok": [1, {"password": "in a list"}]},
                       "null_secret": null, "empty": {}},
            "passwords": {"a": "b"}, "agent_secret_token": "not dii", "text": "é \" \\ \n \u{1} \u{2028}",
        }))
    }

    fn interfaces(i: usize) -> Interfaces {
        let k = |kind: &str| format!("{kind}-{i}");
        Interfaces {
            bios: k("bios"), boot: k("boot"), console: k("console"), deploy: k("deploy"), firmware: k("firmware"),
            inspect: k("inspect"), management: k("management"), network: k("network"), power: k("power"),
            raid: k("raid"), rescue: k("rescue"), storage: k("storage"), vendor: k("vendor"),
        }
    }

    /// Hand-picked shapes, then pseudo-random ones.
    fn nodes() -> Vec<Node> {
        let mut out = vec![
            // A freshly created node: defaults, empty dicts, no timestamps but `created_at`.
            Node { uuid: "00000000-0000-4000-8000-000000000000".into(), driver: "fake-hardware".into(), ..Default::default() },
            // Everything set, secrets everywhere, `available` (shown as null before 1.2).
            Node {
                uuid: "5ca1e000-0000-4000-8000-000000000001".into(), name: Some("compute-1".into()),
                created_at: Utc.with_ymd_and_hms(2026, 12, 7, 20, 0, 0).unwrap(),
                updated_at: Some(Utc.timestamp_opt(1_765_000_000, 123_456_789).unwrap()),
                driver: "redfish".into(), interfaces: interfaces(1), driver_info: secrets(1),
                driver_internal_info: dict(json!({"agent_secret_token": "tok", "agent_url": "http://a", "nested": {"password": "kept"}})),
                properties: dict(json!({"cpus": 96, "memory_mb": 262144, "capabilities": "boot_mode:uefi", "password": "not masked"})),
                extra: secrets(2), instance_info: dict(json!({"configdrive": "H4sI", "image_source": "http://i", "root_gb": 10})),
                instance_uuid: Some("11111111-1111-4111-8111-111111111111".into()), chassis_uuid: Some("c".into()),
                power_state: Some(PowerState::ALL[0]), target_power_state: Some(PowerState::ALL[1 % PowerState::ALL.len()]),
                provision_state: ProvisionState::Available, target_provision_state: Some(ProvisionState::Available),
                provision_updated_at: Some(Utc.timestamp_opt(0, 999_999_999).unwrap()), last_error: Some("boom \"quoted\"".into()),
                maintenance: true, maintenance_reason: Some("r".into()), fault: Some("power failure".into()),
                reservation: Some("host-1".into()), conductor: Some("host-1".into()), console_enabled: true,
                inspection_started_at: Some(Utc.timestamp_opt(1, 0).unwrap()), inspection_finished_at: Some(Utc.timestamp_opt(2, 1000).unwrap()),
                clean_step: dict(json!({"step": "erase_devices", "priority": 10, "args": {}})),
                deploy_step: dict(json!({"step": "deploy", "interface": "deploy"})), service_step: dict(json!({"step": "s"})),
                raid_config: dict(json!({"logical_disks": [{"size_gb": 100}]})), target_raid_config: dict(json!({"logical_disks": []})),
                resource_class: Some("baremetal".into()), conductor_group: "group-a".into(), automated_clean: Some(false),
                protected: true, protected_reason: Some("p".into()), owner: Some("o".into()), lessee: Some("l".into()),
                description: Some("d\u{0}".into()), retired: true, retired_reason: Some("old".into()),
                network_data: dict(json!({"links": [], "networks": [], "services": []})), boot_mode: Some("uefi".into()),
                secure_boot: Some(true), shard: Some("s1".into()), parent_node: Some("parent".into()), disable_power_off: true,
                traits: vec!["CUSTOM_GPU".into(), "HW_CPU_X86_AVX2".into()], allocation_uuid: Some("a".into()),
                ..Default::default()
            },
            // A null agent_secret_token is masked all the same; secrets that are null stay null.
            Node {
                uuid: "5ca1e000-0000-4000-8000-000000000002".into(),
                created_at: DateTime::from_naive_utc_and_offset(
                    NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap(),
                    Utc,
                ),
                updated_at: Some(DateTime::from_naive_utc_and_offset(NaiveDate::from_ymd_opt(12345, 1, 2).unwrap().and_hms_opt(3, 4, 5).unwrap(), Utc)),
                driver_internal_info: dict(json!({"agent_secret_token": null, "agent_secret_token_pregenerated": true})),
                driver_info: dict(json!({"ipmi_password": null, "nested": {"secret": null}})),
                instance_info: dict(json!({"configdrive": {"meta_data": {"k": "v"}}})),
                traits: vec![],
                ..Default::default()
            },
        ];
        let mut r = Rng(0x5eed_f00d);
        for i in 3..40 {
            let mut n = Node {
                uuid: format!("5ca1e000-0000-4000-8000-{i:012}"), name: r.opt("node"), created_at: r.ts(),
                updated_at: r.opt_ts(), driver: r.pick(&["ipmi", "redfish", "fake-hardware"]).to_string(),
                power_state: r.coin().then(|| *r.pick(PowerState::ALL)), target_power_state: r.coin().then(|| *r.pick(PowerState::ALL)),
                provision_state: *r.pick(ProvisionState::ALL), target_provision_state: r.coin().then(|| *r.pick(ProvisionState::ALL)),
                provision_updated_at: r.opt_ts(), inspection_started_at: r.opt_ts(), inspection_finished_at: r.opt_ts(),
                last_error: r.opt("error"), maintenance: r.coin(), maintenance_reason: r.opt("why"), fault: r.opt("fault"),
                reservation: r.opt("host"), conductor: r.opt("host"), console_enabled: r.coin(), instance_uuid: r.opt("inst"),
                chassis_uuid: r.opt("chassis"), resource_class: r.opt("rc"), automated_clean: r.coin().then(|| r.coin()),
                protected: r.coin(), protected_reason: r.opt("p"), owner: r.opt("owner"), lessee: r.opt("lessee"),
                description: r.opt("desc"), retired: r.coin(), retired_reason: r.opt("ret"), boot_mode: r.opt("bios"),
                secure_boot: r.coin().then(|| r.coin()), shard: r.opt("shard"), parent_node: r.opt("parent"),
                disable_power_off: r.coin(), allocation_uuid: r.opt("alloc"), conductor_group: r.opt("cg").unwrap_or_default(),
                ..Default::default()
            };
            if r.coin() {
                n.interfaces = interfaces(i);
            }
            for d in [&mut n.driver_info, &mut n.instance_info, &mut n.driver_internal_info, &mut n.extra, &mut n.properties, &mut n.clean_step, &mut n.network_data] {
                match r.below(3) {
                    0 => {}
                    1 => *d = secrets(i),
                    _ => *d = dict(json!({"agent_secret_token": format!("t{i}"), "plain": i, "deep": {"x": {"token": "y"}}})),
                }
            }
            n.traits = (0..r.below(4)).map(|t| format!("CUSTOM_T{t}")).collect();
            out.push(n);
        }
        out
    }

    fn versions() -> impl Iterator<Item = Version> {
        (1..=MAX_MINOR).map(Version)
    }

    fn visible(v: Version) -> Vec<&'static str> {
        FIELD_VERSIONS.iter().filter(|(_, m, _)| v.at_least(*m)).map(|(n, ..)| *n).collect()
    }

    fn bytes(v: &Value) -> String {
        String::from_utf8(serde_json::to_vec(v).unwrap()).unwrap()
    }

    fn direct(wire: &NodeWire, n: &Node) -> String {
        String::from_utf8(serde_json::to_vec(&wire.view(n)).unwrap()).unwrap()
    }

    #[test]
    fn every_field_and_link_at_every_version_matches_node_json() {
        for n in &nodes() {
            for v in versions() {
                for base in BASES {
                    let want = bytes(&Value::Object(node_json(n, v, base)));
                    assert_eq!(direct(&NodeWire::all(v, base), n), want, "node {} at 1.{}", n.uuid, v.0);
                }
            }
        }
    }

    #[test]
    fn unmasked_matches_node_fields_unmasked() {
        for n in &nodes() {
            for v in versions() {
                let base = BASES[0];
                let mut want = node_json(n, v, base);
                want.extend(node_fields(n, v, false));
                let got = direct(&NodeWire::all(v, base).unmasked(), n);
                assert_eq!(got, bytes(&Value::Object(want)), "node {} at 1.{}", n.uuid, v.0);
            }
        }
    }

    #[test]
    fn the_short_list_matches_node_summary() {
        for n in &nodes() {
            for v in versions() {
                assert_eq!(direct(&NodeWire::summary(v, BASES[1]), n), bytes(&node_summary(n, v, BASES[1])), "1.{}", v.0);
            }
        }
    }

    #[test]
    fn field_selections_match_select() {
        let nodes = nodes();
        let mut r = Rng(42);
        for v in versions().filter(|v| v.at_least(ferric_core::version::feature::FIELDS)) {
            let names = visible(v);
            let mut selections: Vec<Vec<String>> = vec![vec![], vec!["uuid".into(), "uuid".into()]];
            // Each field alone, then random subsets in random order.
            selections.extend(names.iter().map(|f| vec![f.to_string()]));
            for _ in 0..8 {
                selections.push((0..1 + r.below(8)).map(|_| r.pick(&names).to_string()).collect());
            }
            for (i, n) in nodes.iter().enumerate() {
                // Every selection for the hand-picked nodes, a few for the others.
                let which: Vec<&Vec<String>> =
                    if i < 3 { selections.iter().collect() } else { (0..3).map(|_| r.pick(&selections)).collect() };
                for fields in which {
                    let want = bytes(&wire::select(node_json(n, v, BASES[0]), &Some(fields.clone())));
                    assert_eq!(direct(&NodeWire::selected(v, BASES[0], fields), n), want, "fields {fields:?} at 1.{}", v.0);
                }
            }
        }
    }

    #[test]
    fn pages_match_collection() {
        let nodes = nodes();
        let q: HashMap<String, String> =
            [("detail".to_string(), "True".to_string()), ("marker".to_string(), "m".to_string()), ("x y".to_string(), "é&".to_string())].into();
        for v in [Version(1), Version(31), Version(84), Version(MAX_MINOR)] {
            for (count, limit) in [(0, 5), (3, 5), (5, 5), (nodes.len(), 1000), (nodes.len(), nodes.len())] {
                let page = &nodes[..count];
                let wire = NodeWire::all(v, BASES[0]);
                let items: Vec<Value> = page.iter().map(|n| Value::Object(node_json(n, v, BASES[0]))).collect();
                let last = page.last().map(|n| n.uuid.clone());
                let want = bytes(&wire::collection("nodes", items, last, limit, BASES[0], "nodes/detail", &q));
                let mut w = PageWriter::new(limit);
                for n in page {
                    w.push(&wire, n).unwrap();
                }
                assert_eq!(w.last_uuid(), page.last().map(|n| n.uuid.clone()));
                let next = wire::next_link(w.count(), w.last_uuid(), limit, BASES[0], "nodes/detail", &q);
                let got = String::from_utf8(w.finish(next.as_deref()).unwrap()).unwrap();
                assert_eq!(got, want, "{count} nodes, limit {limit}, at 1.{}", v.0);
            }
        }
    }

    #[test]
    fn timestamps_match_chrono() {
        let mut r = Rng(7);
        let mut stamps: Vec<Timestamp> = (0..20_000).map(|_| r.ts()).collect();
        stamps.push(DateTime::<Utc>::UNIX_EPOCH);
        stamps.push(DateTime::<Utc>::MIN_UTC);
        stamps.push(DateTime::<Utc>::MAX_UTC);
        stamps.push(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        stamps.push(Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap());
        stamps.push(DateTime::from_naive_utc_and_offset(
            NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_999_999_999).unwrap(),
            Utc,
        ));
        for t in &stamps {
            assert_eq!(Value::String(TsText::new(t).as_str().to_string()), wire::ts1(t), "{t:?}");
        }
    }

    #[test]
    fn secret_keys_are_matched_without_case() {
        for (key, secret) in [("IPMI_PASSWORD", true), ("x_Token_y", true), ("ÉPASSWORD", true), ("tok", false), ("pass", false), ("", false)] {
            assert_eq!(wire::is_secret_key(key), secret, "{key}");
        }
    }
}
