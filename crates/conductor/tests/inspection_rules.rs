//! Inspection rules in a real in-band inspection flow: manage, inspect (the agent interface
//! boots the ramdisk and waits), the report comes in, hooks then rules run under the lock.

use ferric_conductor::rules::{ApiCall, RuleHttp, RulesConfig};
use ferric_conductor::{Conductor, ConductorConfig, ProvisionArgs};
use ferric_core::rules::{legacy, validate_rule, InspectionRule};
use ferric_core::{Dict, Event, Node, ProvisionState as S};
use ferric_store::{PortFilter, Store, StoreConfig};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NODE: &str = "00000000-0000-4000-8000-00000000a001";

/// Records the calls; fails those whose URL contains "fail".
#[derive(Default)]
struct FakeHttp {
    calls: Mutex<Vec<ApiCall>>,
}

impl RuleHttp for FakeHttp {
    fn get<'a>(&'a self, call: &'a ApiCall) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        self.calls.lock().unwrap().push(call.clone());
        let fail = call.url.contains("fail");
        Box::pin(async move { if fail { Err(format!("500 Server Error: Internal Server Error for url: {}", call.url)) } else { Ok(()) } })
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    conductor: Conductor,
    http: Arc<FakeHttp>,
}

async fn env(built_in: Vec<InspectionRule>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("db.sqlite"))).unwrap();
    let http = Arc::new(FakeHttp::default());
    let cfg = ConductorConfig {
        node_locked_retry_interval: Duration::from_millis(10),
        inspection_rules: RulesConfig { built_in: Arc::new(built_in), http: Some(http.clone()), ..Default::default() },
        ..Default::default()
    };
    let conductor = Conductor::new(store.clone(), ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    store
        .create_node(Node {
            uuid: NODE.into(),
            name: Some("n1".into()),
            driver: "fake-hardware".into(),
            interfaces: ferric_core::Interfaces { inspect: "agent".into(), ..Default::default() },
            created_at: ferric_core::model::now(),
            ..Default::default()
        })
        .await
        .unwrap();
    Env { _dir: dir, store, conductor, http }
}

async fn settled(store: &Store) -> Node {
    for _ in 0..500 {
        let n = store.get_node(NODE).await.unwrap();
        if n.reservation.is_none() && !matches!(n.provision_state, S::Inspecting | S::Verifying) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("node stayed locked");
}

fn report() -> (Value, Dict) {
    let inventory = json!({
        "interfaces": [{"name": "eth0", "mac_address": "52:54:00:12:34:56", "ipv4_address": "192.0.2.5", "has_carrier": true},
                       {"name": "eth1", "mac_address": "52:54:00:12:34:57", "ipv4_address": null, "has_carrier": false}],
        "cpu": {"count": 16, "architecture": "x86_64", "model_name": "EPYC"},
        "memory": {"physical_mb": 65536, "total": 68719476736u64},
        "bmc_address": "192.0.2.100",
        "system_vendor": {"manufacturer": "Dell Inc.", "product_name": "PowerEdge R7615"},
        "boot": {"current_boot_mode": "uefi", "pxe_interface": "52:54:00:12:34:56"}
    });
    (inventory, json!({"error": null}).as_object().unwrap().clone())
}

async fn inspect(e: &Env) -> Node {
    e.conductor.provision(NODE, Event::Manage, ProvisionArgs::default()).await.unwrap();
    assert_eq!(settled(&e.store).await.provision_state, S::Manageable);
    e.conductor.provision(NODE, Event::Inspect, ProvisionArgs::default()).await.unwrap();
    assert_eq!(settled(&e.store).await.provision_state, S::InspectWait);
    let (inventory, pd) = report();
    e.conductor.continue_inspection(NODE, inventory, pd).await.unwrap();
    settled(&e.store).await
}

fn rule(v: Value) -> InspectionRule {
    let valid = validate_rule(&v, false).unwrap();
    let uuid = v.get("uuid").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    InspectionRule::from_valid(&valid, uuid)
}

#[tokio::test]
async fn rules_set_properties_capabilities_traits_and_port_attributes() {
    let built_in = ferric_core::rules::built_in_rules(&json!([
        {"description": "built-in: tag Dell", "priority": 1,
         "conditions": [{"op": "contains", "args": {"value": "{inventory[system_vendor][manufacturer]}", "regex": "(?i)dell"}}],
         "actions": [{"op": "add-trait", "args": {"name": "CUSTOM_DELL"}}]}
    ]))
    .unwrap();
    let e = env(built_in).await;
    e.store
        .create_inspection_rule(rule(json!({
            "priority": 50,
            "conditions": [{"op": "eq", "args": {"values": ["{inventory[cpu][architecture]}", "x86_64"]}},
                           {"op": "!is-empty", "args": {"value": "{inventory[bmc_address]}"}}],
            "actions": [
                {"op": "set-attribute", "args": {"path": "/properties/memory_mb", "value": "{inventory[memory][physical_mb]}"}},
                {"op": "set-attribute", "args": {"path": "/driver_info/ipmi_address", "value": "{inventory[bmc_address]}"}},
                {"op": "set-capability", "args": {"name": "boot_mode", "value": "{inventory[boot][current_boot_mode]}"}},
                {"op": "add-trait", "args": {"name": "CUSTOM_X86"}},
                {"op": "set-plugin-data", "args": {"path": "rules.seen", "value": "yes"}},
                {"op": "api-call", "args": {"url": "http://hooks.example/inspected/{node.uuid}", "timeout": 2, "retries": 0}}
            ]
        })))
        .await
        .unwrap();
    // A lower-priority rule runs after, sees the port the hooks created, and changes it.
    e.store
        .create_inspection_rule(rule(json!({
            "priority": 10,
            "conditions": [{"op": "is-true", "args": {"value": "True"}}],
            "actions": [{"op": "log", "args": {"msg": "node {node.uuid} is {node.properties[cpu_arch]}"}}]
        })))
        .await
        .unwrap();
    // A rule whose condition fails changes nothing.
    e.store
        .create_inspection_rule(rule(json!({
            "conditions": [{"op": "in-net", "args": {"address": "{inventory[bmc_address]}", "subnet": "10.0.0.0/8"}}],
            "actions": [{"op": "fail", "args": {"msg": "wrong network"}}]
        })))
        .await
        .unwrap();

    let n = inspect(&e).await;
    assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
    assert_eq!(n.properties["cpu_arch"], "x86_64", "the hooks ran first");
    assert_eq!(n.properties["memory_mb"], "65536");
    assert_eq!(n.properties["capabilities"], "boot_mode:uefi");
    assert_eq!(n.driver_info["ipmi_address"], "192.0.2.100");
    assert_eq!(n.traits, vec!["CUSTOM_X86".to_string(), "CUSTOM_DELL".to_string()], "priority order: 50, then the built-in at 1");
    let calls = e.http.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url, format!("http://hooks.example/inspected/{NODE}"));
    assert_eq!((calls[0].timeout, calls[0].retries), (Duration::from_secs(2), 0));
    let inv = e.store.get_inventory(NODE).await.unwrap().unwrap();
    assert_eq!(inv.plugin_data["rules"], json!({"seen": "yes"}), "plugin data changes are stored");
    let ports = e.store.list_ports(PortFilter { node_uuid: Some(NODE.into()), ..Default::default() }, Default::default()).await.unwrap();
    assert_eq!(ports.iter().map(|p| p.address.as_str()).collect::<Vec<_>>(), ["52:54:00:12:34:56"]);

    // Inspect again with a rule that sets an attribute of the existing port.
    let port_uuid = ports[0].uuid.clone();
    e.store
        .create_inspection_rule(rule(json!({
            "actions": [{"op": "set-port-attribute", "args": {"port_id": port_uuid, "path": "/extra/switch", "value": "{inventory[system_vendor][product_name]}"}},
                        {"op": "set-port-attribute", "args": {"port_id": port_uuid, "path": "physical_network", "value": "physnet1"}}]
        })))
        .await
        .unwrap();
    e.conductor.provision(NODE, Event::Inspect, ProvisionArgs::default()).await.unwrap();
    assert_eq!(settled(&e.store).await.provision_state, S::InspectWait);
    let (inventory, pd) = report();
    e.conductor.continue_inspection(NODE, inventory, pd).await.unwrap();
    let n = settled(&e.store).await;
    assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
    let p = e.store.get_port(&port_uuid).await.unwrap();
    assert_eq!((p.extra["switch"].clone(), p.physical_network.as_deref()), (json!("PowerEdge R7615"), Some("physnet1")));
    assert_eq!(n.properties["capabilities"], "boot_mode:uefi,boot_mode:uefi", "Ironic's set-capability appends");
}

#[tokio::test]
async fn a_failing_rule_fails_inspection_and_applies_nothing() {
    let e = env(vec![]).await;
    e.store
        .create_inspection_rule(rule(json!({
            "priority": 90,
            "actions": [{"op": "set-attribute", "args": {"path": "/properties/memory_mb", "value": 1}},
                        {"op": "add-trait", "args": {"name": "CUSTOM_EARLY"}}]
        })))
        .await
        .unwrap();
    e.store
        .create_inspection_rule(rule(json!({
            "priority": 10,
            "conditions": [{"op": "lt", "args": {"values": ["{inventory[cpu][count]}", "32"]}}],
            "actions": [{"op": "fail", "args": {"msg": "too few CPUs"}}]
        })))
        .await
        .unwrap();
    let n = inspect(&e).await;
    assert_eq!(n.provision_state, S::InspectFailed);
    assert_eq!(n.last_error.as_deref(), Some("Failed to finish inspection: Failed to inspect hardware. Reason: too few CPUs"));
    assert!(n.traits.is_empty(), "the earlier rule's changes are not applied");
    assert!(!n.properties.contains_key("memory_mb"));
    assert!(!n.properties.contains_key("cpu_arch"), "nor are the hooks' changes");
    let ports = e.store.list_ports(PortFilter { node_uuid: Some(NODE.into()), ..Default::default() }, Default::default()).await.unwrap();
    assert!(ports.is_empty(), "no port was created");
    assert!(e.store.get_inventory(NODE).await.unwrap().is_none());
}

#[tokio::test]
async fn a_failing_api_call_fails_inspection() {
    let e = env(vec![]).await;
    e.store
        .create_inspection_rule(rule(json!({"actions": [{"op": "api-call", "args": {"url": "http://hooks.example/fail"}}]})))
        .await
        .unwrap();
    let n = inspect(&e).await;
    assert_eq!(n.provision_state, S::InspectFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some("Failed to finish inspection: Inspection rule action execution failed. Reason: Request to http://hooks.example/fail failed: 500 Server Error: Internal Server Error for url: http://hooks.example/fail")
    );
}

#[tokio::test]
async fn a_legacy_inspector_rule_runs_in_the_flow() {
    let legacy_rule = legacy::translate(&json!({
        "description": "inspector rule",
        "conditions": [{"op": "ge", "field": "inventory.memory.physical_mb", "value": 32768},
                       {"op": "eq", "field": "node://driver", "value": "fake-hardware"}],
        "actions": [{"action": "set-capability", "name": "profile", "value": "compute"},
                    {"action": "set-attribute", "path": "/driver_info/ipmi_address", "value": "{data[inventory][bmc_address]}"}]
    }))
    .unwrap();
    let e = env(vec![legacy_rule]).await;
    let n = inspect(&e).await;
    assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
    assert_eq!(n.properties["capabilities"], "profile:compute");
    assert_eq!(n.driver_info["ipmi_address"], "192.0.2.100");
}
