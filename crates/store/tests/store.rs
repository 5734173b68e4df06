//! Store tests against real SQLite files in temporary directories.

use ferric_core::{Node, Port, ProvisionState};
use ferric_store::{ListQuery, NodeFilter, PortFilter, SortDir, Store, StoreConfig, StoreError};

fn node(uuid: &str, name: Option<&str>) -> Node {
    Node {
        uuid: uuid.into(),
        name: name.map(Into::into),
        driver: "fake-hardware".into(),
        created_at: ferric_core::model::now(),
        ..Default::default()
    }
}

fn uuid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap()
}

#[tokio::test]
async fn acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let created = store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    assert!(created.id > 0);
    store.close();
    drop(store);
    let store = open(&dir);
    let n = store.get_node("n1").await.unwrap();
    assert_eq!(n.uuid, uuid(1));
    assert_eq!(n.driver, "fake-hardware");
    assert_eq!(store.get_node(&uuid(1)).await.unwrap().name.as_deref(), Some("n1"));
}

#[tokio::test]
async fn unique_names_uuids_and_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    match store.create_node(node(&uuid(2), Some("n1"))).await {
        Err(StoreError::Duplicate { field, value, .. }) => assert_eq!((field.as_str(), value.as_str()), ("name", "n1")),
        other => panic!("expected duplicate name, got {other:?}"),
    }
    match store.create_node(node(&uuid(1), None)).await {
        Err(StoreError::Duplicate { field, .. }) => assert_eq!(field, "uuid"),
        other => panic!("expected duplicate uuid, got {other:?}"),
    }
    let p = Port { uuid: uuid(10), address: "52:54:00:00:00:01".into(), node_uuid: uuid(1), ..Default::default() };
    store.create_port(p.clone()).await.unwrap();
    match store.create_port(Port { uuid: uuid(11), ..p.clone() }).await {
        Err(StoreError::Duplicate { field, value, .. }) => {
            assert_eq!((field.as_str(), value.as_str()), ("address", "52:54:00:00:00:01"))
        }
        other => panic!("expected duplicate address, got {other:?}"),
    }
    // A port for a missing node is refused, and nothing is stored.
    let orphan = Port { uuid: uuid(12), address: "52:54:00:00:00:02".into(), node_uuid: uuid(99), ..Default::default() };
    assert!(matches!(store.create_port(orphan).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.list_ports(PortFilter::default(), ListQuery::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_job_does_not_undo_its_batch_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = store.clone();
        // Every even node reuses the name "dup": only the first of them can win.
        let name = if i % 2 == 0 { "dup".to_string() } else { format!("n{i}") };
        tasks.push(tokio::spawn(async move { s.create_node(node(&uuid(i), Some(&name))).await }));
    }
    let mut ok = 0;
    let mut dup = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Duplicate { .. }) => dup += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, dup), (26, 24));
    assert_eq!(store.count_nodes(NodeFilter::default()).await.unwrap(), 26);
}

#[tokio::test]
async fn locks_are_exclusive_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    let held = store.reserve_node("n1", "conductor-a").await.unwrap();
    assert_eq!(held.reservation.as_deref(), Some("conductor-a"));
    match store.reserve_node(&uuid(1), "conductor-b").await {
        Err(StoreError::Locked { holder, .. }) => assert_eq!(holder, "conductor-a"),
        other => panic!("expected Locked, got {other:?}"),
    }
    // Unlocked updates are refused while the lock is held...
    let r = store.update_node("n1", None, |n| -> Result<(), ()> { n.extra.insert("k".into(), 1.into()); Ok(()) }).await;
    assert!(matches!(r, Err(StoreError::Locked { .. })));
    // ...and so is a save by someone else.
    let mut n = held.clone();
    n.provision_state = ProvisionState::Verifying;
    assert!(matches!(store.save_node(n.clone(), "conductor-b").await, Err(StoreError::Locked { .. })));
    store.save_node(n, "conductor-a").await.unwrap();
    assert!(matches!(store.delete_node(&uuid(1)).await, Err(StoreError::Locked { .. })));
    assert!(!store.release_node(&uuid(1), "conductor-b").await.unwrap());
    assert!(store.release_node(&uuid(1), "conductor-a").await.unwrap());
    let n = store.get_node("n1").await.unwrap();
    assert_eq!(n.reservation, None);
    assert_eq!(n.provision_state, ProvisionState::Verifying);
    store.reserve_node("n1", "conductor-b").await.unwrap();
}

#[tokio::test]
async fn a_crashed_conductor_s_locks_are_cleared_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..3 {
        store.create_node(node(&uuid(i), None)).await.unwrap();
    }
    store.reserve_node(&uuid(0), "host-a").await.unwrap();
    store.reserve_node(&uuid(1), "host-a").await.unwrap();
    store.reserve_node(&uuid(2), "host-b").await.unwrap();
    store.close();
    drop(store);
    let store = open(&dir);
    let mut cleared = store.clear_reservations("host-a").await.unwrap();
    cleared.sort();
    assert_eq!(cleared, vec![uuid(0), uuid(1)]);
    assert_eq!(store.get_node(&uuid(2)).await.unwrap().reservation.as_deref(), Some("host-b"));
}

#[tokio::test]
async fn pagination_sorting_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..25 {
        let mut n = node(&uuid(i), Some(&format!("node-{:02}", 24 - i)));
        n.maintenance = i % 5 == 0;
        n.provision_state = if i < 10 { ProvisionState::Enroll } else { ProvisionState::Available };
        n.owner = (i % 2 == 0).then(|| "proj-a".to_string());
        store.create_node(n).await.unwrap();
    }
    // Pages of 10 by id follow one another without gaps or repeats.
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = store
            .list_nodes(NodeFilter::default(), ListQuery { limit: Some(10), marker: marker.clone(), ..Default::default() })
            .await
            .unwrap();
        seen.extend(page.iter().map(|n| n.uuid.clone()));
        if page.len() < 10 {
            break;
        }
        marker = page.last().map(|n| n.uuid.clone());
    }
    assert_eq!(seen, (0..25).map(uuid).collect::<Vec<_>>());

    // Sorting by name, descending, with a marker.
    let q = ListQuery { sort_key: Some("name".into()), sort_dir: SortDir::Desc, limit: Some(3), ..Default::default() };
    let page = store.list_nodes(NodeFilter::default(), q.clone()).await.unwrap();
    let names: Vec<_> = page.iter().map(|n| n.name.clone().unwrap()).collect();
    assert_eq!(names, ["node-24", "node-23", "node-22"]);
    let next = store
        .list_nodes(NodeFilter::default(), ListQuery { marker: Some(page[2].uuid.clone()), ..q.clone() })
        .await
        .unwrap();
    assert_eq!(next[0].name.as_deref(), Some("node-21"));

    let f = NodeFilter { maintenance: Some(true), ..Default::default() };
    assert_eq!(store.count_nodes(f).await.unwrap(), 5);
    let f = NodeFilter { provision_state: Some("enroll".into()), owner: Some("proj-a".into()), ..Default::default() };
    assert_eq!(store.count_nodes(f).await.unwrap(), 5);
    let bad = ListQuery { marker: Some(uuid(999)), ..Default::default() };
    assert!(matches!(store.list_nodes(NodeFilter::default(), bad).await, Err(StoreError::InvalidQuery(_))));

    // `for_each_node` hands over the same nodes, in the same order, as `list_nodes`.
    for (f, q) in [
        (NodeFilter { owner: Some("proj-a".into()), ..Default::default() }, ListQuery { limit: Some(7), ..Default::default() }),
        (NodeFilter::default(), ListQuery { marker: Some(page[2].uuid.clone()), ..q.clone() }),
    ] {
        let want = store.list_nodes(f.clone(), q.clone()).await.unwrap();
        let got = store.for_each_node(f, q, Vec::new(), |v, n| {
            v.push(n.clone());
            Ok(())
        }).await.unwrap();
        assert!(!got.is_empty());
        assert_eq!(got, want);
    }
    let bad = ListQuery { marker: Some(uuid(999)), ..Default::default() };
    let each = store.for_each_node(NodeFilter::default(), bad, (), |_, _| Ok(())).await;
    assert!(matches!(each, Err(StoreError::InvalidQuery(_))));

    // The parent is a column, kept with the document on create and update.
    let mut child = node(&uuid(100), Some("child"));
    child.parent_node = Some(uuid(0));
    store.create_node(child).await.unwrap();
    let top = NodeFilter { exclude_children: true, ..Default::default() };
    let kids = NodeFilter { parent_node: Some(uuid(0)), ..Default::default() };
    assert_eq!(store.count_nodes(top.clone()).await.unwrap(), 25);
    assert_eq!(store.list_nodes(kids.clone(), ListQuery::default()).await.unwrap()[0].uuid, uuid(100));
    store.update_node::<(), _>(&uuid(100), None, |n| {
        n.parent_node = None;
        Ok(())
    }).await.unwrap().unwrap();
    assert_eq!(store.count_nodes(top).await.unwrap(), 26);
    assert_eq!(store.count_nodes(kids).await.unwrap(), 0);
    let bad = ListQuery { sort_key: Some("name; DROP TABLE nodes".into()), ..Default::default() };
    assert!(matches!(store.list_nodes(NodeFilter::default(), bad).await, Err(StoreError::InvalidQuery(_))));
}

/// Many concurrent writers (creates, read-modify-writes, lock/unlock) on one SQLite file:
/// none may fail with "database is locked", and no update may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_see_database_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writers = 16;
    let per_writer = 40;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let id = uuid(w * 1000 + i);
                s.create_node(node(&id, Some(&format!("w{w}-{i}")))).await?;
                s.update_node(&id, None, |n| -> Result<(), ()> {
                    n.extra.insert("touched".into(), true.into());
                    Ok(())
                })
                .await?
                .unwrap();
                // Everyone increments one shared counter node: a lost update would show.
                loop {
                    let r = s
                        .update_node("counter", None, |n| -> Result<(), ()> {
                            let c = n.extra.get("count").and_then(|v| v.as_u64()).unwrap_or(0);
                            n.extra.insert("count".into(), (c + 1).into());
                            Ok(())
                        })
                        .await;
                    match r {
                        Ok(_) => break,
                        Err(StoreError::NotFound { .. }) => {
                            let _ = s.create_node(node(&uuid(999_999), Some("counter"))).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                s.reserve_node(&id, "c1").await?;
                s.release_node(&id, "c1").await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("no write may fail under concurrency");
    }
    let total = store.count_nodes(NodeFilter::default()).await.unwrap();
    assert_eq!(total, writers * per_writer + 1);
    let counter = store.get_node("counter").await.unwrap();
    assert_eq!(counter.extra["count"], serde_json::json!(writers * per_writer));
    let touched = store.list_nodes(NodeFilter::default(), ListQuery::default()).await.unwrap();
    assert!(touched.iter().filter(|n| n.name.as_deref() != Some("counter")).all(|n| n.extra["touched"] == true));
}

fn event(node: &str, i: usize) -> ferric_core::NodeHistory {
    ferric_core::NodeHistory {
        uuid: format!("10000000-0000-4000-8000-{i:012}"),
        node_uuid: node.into(),
        created_at: ferric_core::model::now(),
        severity: "ERROR".into(),
        event_type: "deploying".into(),
        event: format!("failure {i}"),
        ..Default::default()
    }
}

#[tokio::test]
async fn node_history_keeps_the_newest_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    store.create_node(node(&uuid(2), Some("n2"))).await.unwrap();
    for i in 0..5 {
        store.add_node_history(event(&uuid(1), i), 3).await.unwrap();
    }
    store.add_node_history(event(&uuid(2), 100), 3).await.unwrap();
    let kept = store.list_node_history(&uuid(1), ListQuery::default()).await.unwrap();
    let texts: Vec<&str> = kept.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(texts, ["failure 2", "failure 3", "failure 4"], "the oldest two were pruned");
    assert!(matches!(
        store.get_node_history(&event(&uuid(1), 0).uuid).await,
        Err(StoreError::NotFound { kind: "Node history record", .. })
    ));
    let e = store.get_node_history(&event(&uuid(1), 4).uuid).await.unwrap();
    assert_eq!((e.node_uuid.as_str(), e.severity.as_str(), e.event_type.as_str()), (uuid(1).as_str(), "ERROR", "deploying"));
    // Pruning one node never touches another's entries.
    assert_eq!(store.list_node_history(&uuid(2), ListQuery::default()).await.unwrap().len(), 1);
    // Newest first, paged with a marker.
    let q = ListQuery { sort_key: Some("created_at".into()), sort_dir: SortDir::Desc, limit: Some(2), ..Default::default() };
    let page = store.list_node_history(&uuid(1), q.clone()).await.unwrap();
    assert_eq!(page.iter().map(|h| h.event.as_str()).collect::<Vec<_>>(), ["failure 4", "failure 3"]);
    let q = ListQuery { marker: Some(page[1].uuid.clone()), ..q };
    let page = store.list_node_history(&uuid(1), q).await.unwrap();
    assert_eq!(page.iter().map(|h| h.event.as_str()).collect::<Vec<_>>(), ["failure 2"]);
    // An entry for a missing node is refused.
    assert!(matches!(store.add_node_history(event(&uuid(9), 200), 3).await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn history_is_written_with_the_node_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    // A refused change writes no entry either.
    let r = store
        .update_node_recording("n1", None, 10, |_| -> Result<Option<ferric_core::NodeHistory>, ()> { Err(()) })
        .await
        .unwrap();
    assert!(r.is_err());
    let n = store
        .update_node_recording("n1", None, 10, |n| -> Result<_, ()> {
            n.last_error = Some("boom".into());
            Ok(Some(event("ignored: the store fills in the node", 1)))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.last_error.as_deref(), Some("boom"));
    let h = store.list_node_history(&uuid(1), ListQuery::default()).await.unwrap();
    assert_eq!((h.len(), h[0].node_uuid.as_str()), (1, uuid(1).as_str()));
    // Under the lock: the entries go in with the save, and not at all when the lock is lost.
    let locked = store.reserve_node("n1", "me").await.unwrap();
    store.save_node_recording(locked.clone(), "me", vec![event(&uuid(1), 2), event(&uuid(1), 3)], 2).await.unwrap();
    store.release_node(&uuid(1), "me").await.unwrap();
    assert!(store.save_node_recording(locked, "me", vec![event(&uuid(1), 4)], 2).await.is_err());
    let h = store.list_node_history(&uuid(1), ListQuery::default()).await.unwrap();
    assert_eq!(h.iter().map(|h| h.event.as_str()).collect::<Vec<_>>(), ["failure 2", "failure 3"]);
}

#[tokio::test]
async fn inventory_is_kept_compressed_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    assert!(store.get_inventory(&uuid(1)).await.unwrap().is_none());
    let disks: Vec<_> = (0..200).map(|i| serde_json::json!({"name": format!("/dev/sd{i}"), "size": 1_000_000_000_000u64})).collect();
    let inv = serde_json::json!({"cpu": {"count": 8}, "disks": disks});
    store.save_inventory(&uuid(1), inv.clone(), serde_json::json!({"root_disk": {"name": "/dev/sda"}})).await.unwrap();
    store.close();
    drop(store);
    let store = open(&dir);
    let got = store.get_inventory(&uuid(1)).await.unwrap().unwrap();
    assert_eq!(got.inventory, inv);
    assert_eq!(got.plugin_data["root_disk"]["name"], "/dev/sda");
    // At rest it is zlib, well below the JSON's size.
    let conn = rusqlite::Connection::open(dir.path().join("ferric.sqlite")).unwrap();
    let (enc, len): (String, i64) =
        conn.query_row("SELECT encoding, length(data) FROM node_inventory", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(enc, "zlib+json");
    assert!((len as usize) < serde_json::to_vec(&inv).unwrap().len() / 4, "{len} bytes");
    // Saving again replaces it.
    store.save_inventory(&uuid(1), serde_json::json!({"cpu": {"count": 2}}), serde_json::json!({})).await.unwrap();
    assert_eq!(store.get_inventory(&uuid(1)).await.unwrap().unwrap().inventory["cpu"]["count"], 2);
    assert!(matches!(store.save_inventory(&uuid(9), inv, serde_json::json!({})).await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn deleting_a_node_deletes_its_history_and_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    store.create_node(node(&uuid(2), Some("n2"))).await.unwrap();
    for n in [1, 2] {
        store.add_node_history(event(&uuid(n), n), 300).await.unwrap();
        store.save_inventory(&uuid(n), serde_json::json!({"n": n}), serde_json::json!({})).await.unwrap();
    }
    store.delete_node(&uuid(1)).await.unwrap();
    assert!(store.list_node_history(&uuid(1), ListQuery::default()).await.unwrap().is_empty());
    assert!(matches!(store.get_node_history(&event(&uuid(1), 1).uuid).await, Err(StoreError::NotFound { .. })));
    assert!(store.get_inventory(&uuid(1)).await.unwrap().is_none());
    // A node created again with the same UUID starts clean; the other node keeps its records.
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    assert!(store.get_inventory(&uuid(1)).await.unwrap().is_none());
    assert_eq!(store.list_node_history(&uuid(2), ListQuery::default()).await.unwrap().len(), 1);
    assert_eq!(store.get_inventory(&uuid(2)).await.unwrap().unwrap().inventory["n"], 2);
}

#[tokio::test]
async fn deploy_templates_are_unique_by_name_and_found_by_names() {
    use ferric_core::{DeployStep, DeployTemplate};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let step = DeployStep { interface: "bios".into(), step: "apply_configuration".into(), args: Default::default(), priority: 10 };
    let t = |i: usize, name: &str| DeployTemplate {
        uuid: uuid(i),
        name: name.into(),
        steps: vec![step.clone()],
        created_at: ferric_core::model::now(),
        ..Default::default()
    };
    store.create_deploy_template(t(1, "CUSTOM_A")).await.unwrap();
    store.create_deploy_template(t(2, "CUSTOM_B")).await.unwrap();
    match store.create_deploy_template(t(3, "CUSTOM_A")).await {
        Err(StoreError::Duplicate { field, value, .. }) => assert_eq!((field.as_str(), value.as_str()), ("name", "CUSTOM_A")),
        other => panic!("expected duplicate name, got {other:?}"),
    }
    assert_eq!(store.get_deploy_template("CUSTOM_B").await.unwrap().uuid, uuid(2));
    assert_eq!(store.get_deploy_template(&uuid(1)).await.unwrap().steps, vec![step]);
    let named = store.deploy_templates_named(vec!["CUSTOM_B".into(), "CUSTOM_X".into()]).await.unwrap();
    assert_eq!(named.iter().map(|t| t.uuid.clone()).collect::<Vec<_>>(), vec![uuid(2)]);
    // Renaming onto a taken name is refused; the record keeps its name.
    let mut b = store.get_deploy_template("CUSTOM_B").await.unwrap();
    b.name = "CUSTOM_A".into();
    assert!(matches!(store.save_deploy_template(b).await, Err(StoreError::Duplicate { .. })));
    assert_eq!(store.get_deploy_template(&uuid(2)).await.unwrap().name, "CUSTOM_B");
    store.delete_deploy_template(&uuid(1)).await.unwrap();
    assert!(matches!(store.get_deploy_template("CUSTOM_A").await, Err(StoreError::NotFound { .. })));
    store.close();
    drop(store);
    // Survives a reopen (migration 4 applied once).
    let store = open(&dir);
    assert_eq!(store.list_deploy_templates(ListQuery::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn every_inspection_is_kept_with_its_raw_report_and_result() {
    use ferric_core::InspectionState;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    store.create_node(node(&uuid(2), Some("n2"))).await.unwrap();
    assert!(store.list_inspections(&uuid(1)).await.unwrap().is_empty());
    let raw1 = serde_json::json!({"inventory": {"cpu": {"count": 8}}, "error": null});
    let a = store.begin_inspection(&uuid(1), None, &raw1).await.unwrap();
    assert_eq!(a.state, InspectionState::Processing);
    // Until it finishes there is raw data but no processed data and no latest inventory.
    let d = store.get_inspection_data(&a.uuid).await.unwrap();
    assert_eq!((d.raw.clone(), d.processed.is_none()), (raw1.clone(), true));
    assert!(store.get_inventory(&uuid(1)).await.unwrap().is_none());
    let a = store
        .finish_inspection(&a.uuid, Ok((serde_json::json!({"cpu": {"count": 8}}), serde_json::json!({"macs": ["aa"]}))))
        .await
        .unwrap();
    assert_eq!(a.state, InspectionState::Finished);
    assert_eq!(store.get_inventory(&uuid(1)).await.unwrap().unwrap().inventory["cpu"]["count"], 8);
    // A second, failed inspection keeps its report and error, and leaves the latest inventory.
    let raw2 = serde_json::json!({"inventory": {"cpu": {"count": 4}}, "error": "boom"});
    let b = store.begin_inspection(&uuid(1), Some(ferric_core::model::now()), &raw2).await.unwrap();
    let b = store.finish_inspection(&b.uuid, Err("Ramdisk reported error: boom".into())).await.unwrap();
    assert_eq!((b.state, b.error.as_deref()), (InspectionState::Error, Some("Ramdisk reported error: boom")));
    assert!(b.started_at.is_some() && b.finished_at.is_some());
    assert_eq!(store.get_inventory(&uuid(1)).await.unwrap().unwrap().inventory["cpu"]["count"], 8);
    store.begin_inspection(&uuid(2), None, &raw1).await.unwrap();
    // The reported system serial is indexed for lookup; placeholders are not.
    let with_serial = |s: &str| serde_json::json!({"inventory": {"system_vendor": {"serial_number": s}}});
    store.begin_inspection(&uuid(2), None, &with_serial("JLRCY12")).await.unwrap();
    store.begin_inspection(&uuid(2), None, &with_serial("To Be Filled By O.E.M.")).await.unwrap();
    assert_eq!(store.nodes_with_serial("JLRCY12").await.unwrap(), [uuid(2)]);
    assert!(store.nodes_with_serial("To Be Filled By O.E.M.").await.unwrap().is_empty());
    let c = store.list_inspections(&uuid(2)).await.unwrap().pop().unwrap();
    // After a restart everything is still there, in order.
    store.close();
    drop(store);
    let store = open(&dir);
    let list = store.list_inspections(&uuid(1)).await.unwrap();
    assert_eq!(list.iter().map(|i| i.uuid.as_str()).collect::<Vec<_>>(), [a.uuid.as_str(), b.uuid.as_str()]);
    assert!(list[0].id < list[1].id);
    assert_eq!(store.get_inspection_data(&b.uuid).await.unwrap().raw, raw2);
    assert_eq!(store.get_inspection_data(&a.uuid).await.unwrap().processed.unwrap().1["macs"][0], "aa");
    let latest = store.latest_inspections().await.unwrap();
    assert_eq!((latest[&uuid(1)].uuid.as_str(), latest[&uuid(2)].uuid.as_str()), (b.uuid.as_str(), c.uuid.as_str()));
    // Unknown records and nodes are errors; deleting the node deletes its inspections only.
    assert!(matches!(store.get_inspection("nope").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.begin_inspection(&uuid(9), None, &raw1).await, Err(StoreError::NotFound { .. })));
    store.delete_node(&uuid(1)).await.unwrap();
    assert!(store.list_inspections(&uuid(1)).await.unwrap().is_empty());
    assert_eq!(store.list_inspections(&uuid(2)).await.unwrap().len(), 3);
}

#[tokio::test]
async fn runbooks_are_unique_keep_their_step_order_and_filter_by_project() {
    use ferric_core::{Runbook, RunbookStep};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let step = |name: &str, order: i64| RunbookStep { interface: "bios".into(), step: name.into(), args: Default::default(), order };
    let rb = |i: usize, name: &str, owner: Option<&str>, public: bool| Runbook {
        uuid: uuid(i),
        name: name.into(),
        // Listed out of `order`: the list order is what runs.
        steps: vec![step("factory_reset", 2), step("apply_configuration", 1)],
        owner: owner.map(Into::into),
        public,
        created_at: ferric_core::model::now(),
        ..Default::default()
    };
    store.create_runbook(rb(1, "CUSTOM_A", Some("p1"), false)).await.unwrap();
    store.create_runbook(rb(2, "CUSTOM_B", None, true)).await.unwrap();
    store.create_runbook(rb(3, "CUSTOM_C", Some("p2"), false)).await.unwrap();
    match store.create_runbook(rb(4, "CUSTOM_A", None, false)).await {
        Err(StoreError::Duplicate { kind, field, value }) => assert_eq!((kind, field.as_str(), value.as_str()), ("Runbook", "name", "CUSTOM_A")),
        other => panic!("expected a duplicate name, got {other:?}"),
    }
    match store.create_runbook(rb(1, "CUSTOM_D", None, false)).await {
        Err(StoreError::Duplicate { field, .. }) => assert_eq!(field, "uuid"),
        other => panic!("expected a duplicate UUID, got {other:?}"),
    }
    let a = store.get_runbook("CUSTOM_A").await.unwrap();
    assert_eq!((a.uuid.as_str(), a.steps[0].step.as_str(), a.steps[1].order), (uuid(1).as_str(), "factory_reset", 1));
    assert_eq!(store.get_runbook(&uuid(2)).await.unwrap().name, "CUSTOM_B");
    let names = |v: Vec<Runbook>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_runbooks(None, ListQuery::default()).await.unwrap()), ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"]);
    // A project sees its own runbooks and the public ones.
    assert_eq!(names(store.list_runbooks(Some("p1".into()), ListQuery::default()).await.unwrap()), ["CUSTOM_A", "CUSTOM_B"]);
    let by_name_desc = ListQuery { sort_key: Some("name".into()), sort_dir: ferric_store::SortDir::Desc, limit: Some(2), ..Default::default() };
    assert_eq!(names(store.list_runbooks(None, by_name_desc).await.unwrap()), ["CUSTOM_C", "CUSTOM_B"]);
    // Renaming onto a taken name is refused and changes nothing.
    let mut b = store.get_runbook("CUSTOM_B").await.unwrap();
    b.name = "CUSTOM_A".into();
    assert!(matches!(store.save_runbook(b).await, Err(StoreError::Duplicate { .. })));
    let mut b = store.get_runbook(&uuid(2)).await.unwrap();
    assert_eq!(b.name, "CUSTOM_B");
    b.public = false;
    b.owner = Some("p1".into());
    b.steps.reverse();
    let saved = store.save_runbook(b).await.unwrap();
    assert!(saved.updated_at.is_some());
    store.delete_runbook(&uuid(3)).await.unwrap();
    assert!(matches!(store.delete_runbook(&uuid(3)).await, Err(StoreError::NotFound { .. })));
    store.close();
    drop(store);
    // Survives a reopen (the runbooks migration applied once).
    let store = open(&dir);
    let b = store.get_runbook("CUSTOM_B").await.unwrap();
    assert_eq!((b.public, b.owner.as_deref(), b.steps[0].step.as_str()), (false, Some("p1"), "apply_configuration"));
    assert_eq!(names(store.list_runbooks(Some("p2".into()), ListQuery::default()).await.unwrap()), Vec::<String>::new());
    assert!(matches!(store.get_runbook("CUSTOM_C").await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn disable_power_off_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_node(Node { disable_power_off: true, ..node(&uuid(1), Some("n1")) }).await.unwrap();
    store.close();
    drop(store);
    let store = open(&dir);
    assert!(store.get_node("n1").await.unwrap().disable_power_off);
}

/// The heartbeat's narrow path: read the token without decoding the node, write two fields of
/// `driver_internal_info` in place; every other field, and the typed decode, stay intact.
#[tokio::test]
async fn heartbeats_change_only_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut n = node(&uuid(1), Some("hb-node"));
    n.provision_state = ProvisionState::InspectWait;
    n.driver_internal_info
        .insert(ferric_store::AGENT_TOKEN.into(), "tok-123".into());
    n.driver_internal_info.insert(
        "lookup_bmc_addresses".into(),
        serde_json::json!(["10.0.0.9"]),
    );
    n.properties.insert("cpus".into(), 8.into());
    n.extra.insert("quote".into(), "it's \"quoted\"".into());
    let before = store.create_node(n).await.unwrap();

    for ident in [uuid(1), "hb-node".to_string()] {
        let v = store.agent_view(&ident).await.unwrap();
        assert_eq!(
            (
                v.uuid.as_str(),
                v.provision_state,
                v.token.as_deref()
            ),
            (uuid(1).as_str(), ProvisionState::InspectWait, Some("tok-123"))
        );
    }
    assert!(matches!(
        store.agent_view("missing").await,
        Err(StoreError::NotFound { .. })
    ));

    store
        .record_heartbeat(
            &uuid(1),
            vec![
                ("agent_url", "http://10.1.0.5:9999".into()),
                ("agent_version", "13.0.0".into()),
            ],
        )
        .await
        .unwrap();
    let after = store.get_node(&uuid(1)).await.unwrap();
    assert_eq!(
        after
            .driver_internal_info
            .get("agent_url")
            .and_then(|v| v.as_str()),
        Some("http://10.1.0.5:9999")
    );
    assert_eq!(
        after
            .driver_internal_info
            .get("agent_version")
            .and_then(|v| v.as_str()),
        Some("13.0.0")
    );
    assert!(
        after.updated_at.is_some() && after.updated_at > before.updated_at,
        "updated_at is stamped"
    );
    let mut expected = before.clone();
    expected.driver_internal_info = after.driver_internal_info.clone();
    expected.updated_at = after.updated_at;
    assert_eq!(after, expected, "nothing else changed");
    assert_eq!(
        after.driver_internal_info.get("lookup_bmc_addresses"),
        Some(&serde_json::json!(["10.0.0.9"]))
    );

    // A reserved node refuses the heartbeat and keeps its document; an unknown node is NotFound.
    store.reserve_node(&uuid(1), "conductor-a").await.unwrap();
    match store
        .record_heartbeat(&uuid(1), vec![("agent_url", "http://other:1".into())])
        .await
    {
        Err(StoreError::Locked { holder, .. }) => assert_eq!(holder, "conductor-a"),
        other => panic!("expected Locked, got {other:?}"),
    }
    let locked = store.get_node(&uuid(1)).await.unwrap();
    assert_eq!(
        locked
            .driver_internal_info
            .get("agent_url")
            .and_then(|v| v.as_str()),
        Some("http://10.1.0.5:9999")
    );
    assert!(matches!(
        store.record_heartbeat(&uuid(9), vec![]).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A reader whose caller stops waiting (an HTTP client that hung up drops the request's
/// future) keeps its connection until its query ends; the next readers wait for it. They
/// used to find the pool empty, panic while holding its lock and leave every later read
/// failing ("the store is shut down"), found with 10,000 lab machines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_given_up_by_its_caller_keeps_its_connection_until_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { readers: 1, ..StoreConfig::new(dir.path().join("ferric.sqlite")) }).unwrap();
    store.create_node(node(&uuid(1), Some("n1"))).await.unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let s = store.clone();
    let first = tokio::spawn(async move {
        s.read(move |_| {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            Ok(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || started.recv().unwrap()).await.unwrap();
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let s = store.clone();
    let second = tokio::spawn(async move { s.get_node("n1").await });
    // Time for a second reader to (wrongly) run while the only connection is still out.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    go.send(()).unwrap();
    assert_eq!(second.await.unwrap().unwrap().uuid, uuid(1));
    assert_eq!(store.get_node("n1").await.unwrap().uuid, uuid(1), "the store still reads");
}
