//! Inspection rules in the store, and the all-or-nothing write of inspection results.

use ferric_core::rules::InspectionRule;
use ferric_core::{Node, Port};
use ferric_store::{InspectionWrite, ListQuery, SortDir, Store, StoreConfig, StoreError};
use serde_json::json;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap()
}

fn rule(i: usize, priority: i64) -> InspectionRule {
    InspectionRule {
        uuid: format!("00000000-0000-4000-8000-{i:012}"),
        priority,
        description: Some(format!("rule {i}")),
        conditions: vec![json!({"op": "eq", "args": {"values": [1, 1]}, "extra": true})],
        actions: vec![json!({"op": "add-trait", "args": {"name": format!("CUSTOM_{i}")}})],
        created_at: ferric_core::model::now(),
        ..Default::default()
    }
}

#[tokio::test]
async fn rules_round_trip_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut r = rule(1, 5);
    r.sensitive = true;
    let created = store.create_inspection_rule(r.clone()).await.unwrap();
    assert!(created.id > 0);
    store.close();
    drop(store);
    let store = open(&dir);
    let got = store.get_inspection_rule(&r.uuid).await.unwrap();
    assert_eq!((got.priority, got.sensitive, got.phase.as_str()), (5, true, "main"));
    assert_eq!(got.conditions, r.conditions, "extra keys of conditions are kept");
    assert_eq!(got.actions, r.actions);
    assert!(!got.built_in && !got.legacy, "flags that are never stored");
    match store.create_inspection_rule(rule(1, 0)).await {
        Err(StoreError::Duplicate { kind, field, value }) => assert_eq!((kind, field.as_str(), value), ("Rule", "uuid", r.uuid.clone())),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    match store.get_inspection_rule("00000000-0000-4000-8000-000000000099").await {
        Err(e @ StoreError::NotFound { .. }) => assert_eq!(e.to_string(), "Rule 00000000-0000-4000-8000-000000000099 could not be found."),
        other => panic!("expected not found, got {other:?}"),
    }
}

#[tokio::test]
async fn rules_list_sort_paginate_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for (i, p) in [(1, 10), (2, 30), (3, 20)] {
        store.create_inspection_rule(rule(i, p)).await.unwrap();
    }
    let all = store.list_inspection_rules(None, ListQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.priority).collect::<Vec<_>>(), [10, 30, 20], "id order by default");
    let q = ListQuery { sort_key: Some("priority".into()), sort_dir: SortDir::Desc, limit: Some(2), ..Default::default() };
    let page = store.list_inspection_rules(None, q.clone()).await.unwrap();
    assert_eq!(page.iter().map(|r| r.priority).collect::<Vec<_>>(), [30, 20]);
    let next = store.list_inspection_rules(None, ListQuery { marker: Some(page[1].uuid.clone()), ..q }).await.unwrap();
    assert_eq!(next.iter().map(|r| r.priority).collect::<Vec<_>>(), [10]);
    let by_desc = ListQuery { sort_key: Some("description".into()), sort_dir: SortDir::Desc, ..Default::default() };
    assert_eq!(store.list_inspection_rules(None, by_desc).await.unwrap()[0].description.as_deref(), Some("rule 3"));
    assert_eq!(store.list_inspection_rules(Some("main".into()), ListQuery::default()).await.unwrap().len(), 3);
    assert!(store.list_inspection_rules(Some("early".into()), ListQuery::default()).await.unwrap().is_empty());

    let mut r = store.get_inspection_rule(&rule(1, 0).uuid).await.unwrap();
    r.priority = 99;
    r.description = None;
    let saved = store.save_inspection_rule(r).await.unwrap();
    assert!(saved.updated_at.is_some());
    let again = store.get_inspection_rule(&saved.uuid).await.unwrap();
    assert_eq!((again.priority, again.description), (99, None));
    let top = store
        .list_inspection_rules(None, ListQuery { sort_key: Some("priority".into()), sort_dir: SortDir::Desc, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(top[0].uuid, saved.uuid, "the priority column follows updates");

    store.delete_inspection_rule(&saved.uuid).await.unwrap();
    assert!(matches!(store.delete_inspection_rule(&saved.uuid).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.delete_all_inspection_rules().await.unwrap(), 2);
    assert!(store.list_inspection_rules(None, ListQuery::default()).await.unwrap().is_empty());
}

fn node(uuid: &str) -> Node {
    Node { uuid: uuid.into(), driver: "fake-hardware".into(), created_at: ferric_core::model::now(), ..Default::default() }
}

fn port(uuid: &str, node: &str, mac: &str) -> Port {
    Port { uuid: uuid.into(), node_uuid: node.into(), address: mac.into(), created_at: ferric_core::model::now(), ..Default::default() }
}

const N1: &str = "00000000-0000-4000-8000-000000000001";
const N2: &str = "00000000-0000-4000-8000-000000000002";

#[tokio::test]
async fn inspection_results_are_written_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(N1)).await.unwrap();
    store.create_node(node(N2)).await.unwrap();
    store.create_port(port("p-old", N1, "52:54:00:00:00:01")).await.unwrap();
    store.create_port(port("p-keep", N1, "52:54:00:00:00:02")).await.unwrap();
    store.create_port(port("p-other", N2, "52:54:00:00:00:09")).await.unwrap();
    let held = store.reserve_node(N1, "cond-a").await.unwrap();

    let mut n = held.clone();
    n.properties.insert("cpus".into(), json!(8));
    n.traits.push("CUSTOM_RULE".into());
    let mut keep = store.get_port("p-keep").await.unwrap();
    keep.extra.insert("switch".into(), json!("sw1"));
    let write = |n: Node, owner: &str| InspectionWrite {
        node: n,
        owner: owner.into(),
        delete_ports: vec!["p-old".into()],
        save_ports: vec![keep.clone()],
        create_ports: vec![port("p-new", N1, "52:54:00:00:00:03"), port("p-dup", N1, "52:54:00:00:00:09")],
        inventory: json!({"cpu": {"count": 8}}),
        plugin_data: json!({"rule": "applied"}),
        ..Default::default()
    };

    // Not the lock holder: nothing at all is written.
    assert!(matches!(store.save_inspection(write(n.clone(), "cond-b")).await, Err(StoreError::Locked { .. })));
    assert!(store.get_port("p-old").await.is_ok());
    assert!(store.get_port("p-new").await.is_err());
    assert!(store.get_inventory(N1).await.unwrap().is_none());
    assert!(store.get_node(N1).await.unwrap().traits.is_empty());

    let (saved, skipped) = store.save_inspection(write(n, "cond-a")).await.unwrap();
    assert_eq!(skipped, vec!["52:54:00:00:00:09".to_string()], "a MAC another node has is skipped");
    assert_eq!(saved.reservation.as_deref(), Some("cond-a"));
    let stored = store.get_node(N1).await.unwrap();
    assert_eq!((stored.properties["cpus"].clone(), stored.traits.clone()), (json!(8), vec!["CUSTOM_RULE".to_string()]));
    assert!(store.get_port("p-old").await.is_err());
    assert_eq!(store.get_port("p-keep").await.unwrap().extra["switch"], "sw1");
    assert_eq!(store.get_port("p-new").await.unwrap().node_uuid, N1);
    assert!(store.get_port("p-dup").await.is_err());
    assert_eq!(store.get_port("p-other").await.unwrap().node_uuid, N2, "the other node's port is untouched");
    let inv = store.get_inventory(N1).await.unwrap().unwrap();
    assert_eq!((inv.inventory, inv.plugin_data), (json!({"cpu": {"count": 8}}), json!({"rule": "applied"})));
}
