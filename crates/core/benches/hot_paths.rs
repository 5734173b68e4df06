//! Micro-benchmarks of ferric-core's hot paths (divan): inventory parsing, the inspection
//! hook pipeline over real inventories, rules evaluation and the provision state machine.
//!
//! ```sh
//! cargo bench -p ferric-core --bench hot_paths
//! ```
//! The inventories are the real ones of `../shared/fixtures/inspection` (BENCHMARKS.md).

use ferric_core::fsm::{fire, verb_for_target, Event};
use ferric_core::inspection::{process, HookConfig};
use ferric_core::model::{Dict, Node, Port};
use ferric_core::rules::{apply, validate_rule, InspectionRule, Input, MaskSecrets};
use ferric_core::ProvisionState as S;
use serde_json::{json, Value};

fn main() {
    divan::main();
}

const FIXTURES: &[&str] = &[
    "metal3-inspector-data-kvm-vm.json",
    "metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json",
    "understack-dell-r7615-node-inventory-lldp.json",
];

fn text(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The inventory and the plugin data (the rest of the report) of a fixture.
fn report(name: &str) -> (Value, Dict) {
    let doc: Value = serde_json::from_str(&text(name)).unwrap();
    let mut p: Dict = doc.as_object().unwrap().clone();
    let inventory = p.remove("inventory").unwrap_or_else(|| doc.clone());
    (inventory, p)
}

fn node() -> Node {
    Node { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123".into(), driver: "redfish".into(), ..Default::default() }
}

/// An inspection report as the agent sends it, parsed (`serde_json::Value`).
#[divan::bench(args = FIXTURES)]
fn parse_report(bencher: divan::Bencher, name: &str) {
    let t = text(name);
    bencher.counter(divan::counter::BytesCount::new(t.len())).bench(|| serde_json::from_str::<Value>(divan::black_box(&t)).unwrap());
}

/// Every Ironic hook, in order, over a real report (what `/v1/continue_inspection` runs).
#[divan::bench(args = FIXTURES)]
fn hook_pipeline_all_hooks(bencher: divan::Bencher, name: &str) {
    let (inventory, plugin) = report(name);
    let cfg = HookConfig { hooks: HookConfig::all_hooks(), ..Default::default() };
    let n = node();
    bencher.with_inputs(|| plugin.clone()).bench_local_refs(|p| process(&cfg, &n, &[], None, &inventory, p));
}

/// The default hooks (ferric's and Ironic's default configuration).
#[divan::bench(args = FIXTURES)]
fn hook_pipeline_default_hooks(bencher: divan::Bencher, name: &str) {
    let (inventory, plugin) = report(name);
    let cfg = HookConfig::default();
    let n = node();
    bencher.with_inputs(|| plugin.clone()).bench_local_refs(|p| process(&cfg, &n, &[], None, &inventory, p));
}

fn rule(v: Value, uuid: &str) -> InspectionRule {
    let valid = validate_rule(&v, false).unwrap();
    InspectionRule::from_valid(&valid, uuid.to_string())
}

/// Ten rules of the usual kinds (conditions on the inventory; traits and capabilities) over the kvm-vm report.
#[divan::bench]
fn rules_ten(bencher: divan::Bencher) {
    let (inventory, plugin) = report(FIXTURES[0]);
    let mut rules = Vec::new();
    for i in 0..10 {
        rules.push(rule(
            json!({"priority": i, "conditions": [
                {"op": "gt", "args": {"values": ["{inventory[memory][physical_mb]}", 1024]}},
                {"op": "eq", "args": {"values": ["{inventory[cpu][architecture]}", "x86_64"]}}],
              "actions": [
                {"op": "add-trait", "args": {"name": format!("CUSTOM_R{i}")}},
                {"op": "set-capability", "args": {"name": format!("cap{i}"), "value": "{inventory[cpu][count]}"}}]}),
            &format!("r{i}"),
        ));
    }
    let n = node();
    let ports: Vec<Port> = Vec::new();
    bencher.bench(|| apply(&rules, Input { node: &n, ports: &ports, inventory: &inventory, plugin_data: &plugin }, MaskSecrets::default()));
}

/// The state machine: a whole provision cycle (manage, provide, deploy, undeploy with their
/// internal events), 14 transitions.
#[divan::bench]
fn fsm_provision_cycle() -> Option<S> {
    let mut s = S::Enroll;
    for (verb, internal) in [("manage", &[Event::Done][..]), ("provide", &[Event::Done]), ("active", &[Event::Done]), ("deleted", &[Event::Clean, Event::Done])] {
        s = fire(divan::black_box(s), verb_for_target(verb)?, None)?.to;
        for e in internal {
            s = fire(s, *e, None)?.to;
        }
    }
    Some(s)
}
