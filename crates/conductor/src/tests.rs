use super::*;
use ferric_core::{Node, ProvisionState as S};
use ferric_store::StoreConfig;

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    conductor: Conductor,
}

fn env_with(config: ConductorConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("db.sqlite"))).unwrap();
    let conductor = Conductor::new(store.clone(), Registry::builtin(), config);
    Env { _dir: dir, store, conductor }
}

fn env() -> Env {
    env_with(ConductorConfig { node_locked_retry_interval: Duration::from_millis(10), ..Default::default() })
}

async fn enroll(store: &Store, name: &str) -> Node {
    store
        .create_node(Node {
            uuid: uuid_for(name),
            name: Some(name.into()),
            driver: "fake-hardware".into(),
            created_at: ferric_core::model::now(),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn uuid_for(name: &str) -> String {
    let h = name.bytes().fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
    format!("00000000-0000-4000-8000-{:012x}", h & 0xffff_ffff_ffff)
}

/// Wait until the node is unlocked, then return it.
async fn settled(store: &Store, ident: &str) -> Node {
    for _ in 0..500 {
        let n = store.get_node(ident).await.unwrap();
        if n.reservation.is_none() {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("node {ident} stayed locked");
}

async fn act(e: &Env, name: &str, verb: Event) -> Node {
    e.conductor.provision(name, verb, ProvisionArgs::default()).await.unwrap();
    settled(&e.store, name).await
}

#[tokio::test]
async fn the_whole_fake_hardware_life_cycle() {
    let e = env();
    enroll(&e.store, "n1").await;
    let n = act(&e, "n1", Event::Manage).await;
    assert_eq!((n.provision_state, n.target_provision_state), (S::Manageable, None));
    assert_eq!(n.power_state, Some(PowerState::Off), "verification reads the power state");
    assert!(n.provision_updated_at.is_some());

    let n = act(&e, "n1", Event::Inspect).await;
    assert_eq!(n.provision_state, S::Manageable);
    assert!(n.inspection_finished_at.is_some());
    assert!(n.inspection_started_at.is_none());

    assert_eq!(act(&e, "n1", Event::Provide).await.provision_state, S::Available);
    let n = act(&e, "n1", Event::Deploy).await;
    assert_eq!((n.provision_state, n.target_provision_state), (S::Active, None));
    assert_eq!(act(&e, "n1", Event::Rebuild).await.provision_state, S::Active);

    let args = ProvisionArgs { rescue_password: Some("pw".into()), ..Default::default() };
    e.conductor.provision("n1", Event::Rescue, args).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.provision_state, S::Rescue);
    assert_eq!(act(&e, "n1", Event::Unrescue).await.provision_state, S::Active);

    let n = act(&e, "n1", Event::Delete).await;
    assert_eq!(n.provision_state, S::Available);
    assert!(n.instance_info.is_empty() && n.instance_uuid.is_none());
    assert_eq!(act(&e, "n1", Event::Manage).await.provision_state, S::Manageable);

    let steps = vec![serde_json::json!({"interface": "raid", "step": "delete_configuration"}).as_object().unwrap().clone()];
    e.conductor.provision("n1", Event::Clean, ProvisionArgs { clean_steps: Some(steps), ..Default::default() }).await.unwrap();
    let n = settled(&e.store, "n1").await;
    assert_eq!((n.provision_state, n.clean_step.is_empty()), (S::Manageable, true));
    assert_eq!(act(&e, "n1", Event::Adopt).await.provision_state, S::Active);
}

#[tokio::test]
async fn illegal_verbs_and_bad_arguments_are_refused_and_change_nothing() {
    let e = env();
    let before = enroll(&e.store, "n1").await;
    let err = e.conductor.provision("n1", Event::Deploy, ProvisionArgs::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("The requested action \"deploy\" can not be performed on node \"{}\" while it is in state \"enroll\".", before.uuid)
    );
    act(&e, "n1", Event::Manage).await;
    let err = e.conductor.provision("n1", Event::Clean, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::Invalid(_)), "{err}");
    let steps = vec![serde_json::json!({"interface": "deploy", "step": "nope"}).as_object().unwrap().clone()];
    let err = e.conductor.provision("n1", Event::Clean, ProvisionArgs { clean_steps: Some(steps), ..Default::default() }).await;
    assert!(matches!(err, Err(ConductorError::Invalid(_))));
    let err = e.conductor.provision("n1", Event::Abort, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::InvalidState { .. }));
    assert!(matches!(
        e.conductor.provision("missing", Event::Manage, ProvisionArgs::default()).await,
        Err(ConductorError::NotFound { .. })
    ));
    let n = settled(&e.store, "n1").await;
    assert_eq!((n.provision_state, n.last_error), (S::Manageable, None));
}

#[tokio::test]
async fn a_locked_node_gives_409_after_retries() {
    let e = env();
    enroll(&e.store, "n1").await;
    e.store.reserve_node("n1", "other-host").await.unwrap();
    let err = e.conductor.provision("n1", Event::Manage, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::NodeLocked { ref holder, .. } if holder == "other-host"), "{err}");
    let err = e.conductor.change_power_state("n1", PowerState::On, None).await.unwrap_err();
    assert!(matches!(err, ConductorError::NodeLocked { .. }));
    // An illegal verb on a locked node is a 409 too, as in Ironic.
    let err = e.conductor.provision("n1", Event::Deploy, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::NodeLocked { .. }));
}

#[tokio::test]
async fn a_full_worker_pool_gives_503() {
    let e = env_with(ConductorConfig { workers: 1, ..Default::default() });
    enroll(&e.store, "n1").await;
    enroll(&e.store, "n2").await;
    let _held = e.conductor.acquire("n1").await.unwrap();
    assert_eq!(e.conductor.free_workers(), 0);
    let err = e.conductor.provision("n2", Event::Manage, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::NoFreeWorker));
    assert_eq!(e.store.get_node("n2").await.unwrap().provision_state, S::Enroll);
}

#[tokio::test]
async fn power_changes_are_recorded() {
    let e = env();
    enroll(&e.store, "n1").await;
    e.conductor.change_power_state("n1", PowerState::On, None).await.unwrap();
    let n = settled(&e.store, "n1").await;
    assert_eq!((n.power_state, n.target_power_state), (Some(PowerState::On), None));
    assert!(n.driver_internal_info.contains_key("last_power_state_change"));
    e.conductor.change_power_state("n1", PowerState::SoftPowerOff, Some(10)).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.power_state, Some(PowerState::Off));
    e.conductor.change_power_state("n1", PowerState::Rebooting, None).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.power_state, Some(PowerState::On));
    e.conductor.set_boot_device("n1", "disk", true).await.unwrap();
    assert_eq!(e.conductor.get_boot_device("n1").await.unwrap(), (Some("disk".into()), Some(true)));
    assert!(matches!(e.conductor.set_boot_device("n1", "floppy", false).await, Err(ConductorError::Invalid(_))));
    assert_eq!(settled(&e.store, "n1").await.reservation, None, "a failed call releases the lock");
}

#[tokio::test]
async fn restart_clears_own_locks_and_fails_stuck_nodes() {
    let e = env();
    for (name, state) in [("deploying", S::Deploying), ("verifying", S::Verifying), ("cleaning", S::Cleaning), ("ok", S::Active)] {
        enroll(&e.store, name).await;
        e.store
            .update_node(name, None, move |n| -> Result<(), ()> {
                n.provision_state = state;
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
    }
    e.store.reserve_node("deploying", "localhost").await.unwrap();
    e.store.reserve_node("cleaning", "someone-else").await.unwrap();
    let mut failed = e.conductor.start_up().await.unwrap();
    failed.sort();
    let mut expect = vec![uuid_for("deploying"), uuid_for("verifying")];
    expect.sort();
    assert_eq!(failed, expect);
    let n = e.store.get_node("deploying").await.unwrap();
    assert_eq!((n.provision_state, n.target_provision_state, n.reservation), (S::DeployFailed, Some(S::Active), None));
    let error = n.last_error.unwrap();
    assert!(error.contains("conductor restarted"));
    let h = e.store.list_node_history(&n.uuid, Default::default()).await.unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!((h[0].severity.as_str(), h[0].event_type.as_str(), h[0].event.as_str()), ("ERROR", "transition", error.as_str()));
    assert_eq!(h[0].state.as_deref(), Some("deploying"), "recorded in the stuck state");
    assert!(e.store.list_node_history(&uuid_for("ok"), Default::default()).await.unwrap().is_empty());
    assert!(e.store.list_node_history(&uuid_for("cleaning"), Default::default()).await.unwrap().is_empty());
    assert_eq!(e.store.get_node("verifying").await.unwrap().provision_state, S::Enroll);
    assert_eq!(e.store.get_node("cleaning").await.unwrap().provision_state, S::Cleaning, "another host's node is left alone");
    assert_eq!(e.store.get_node("ok").await.unwrap().provision_state, S::Active);
    assert_eq!(e.store.list_conductors().await.unwrap()[0].hostname, "localhost");
}

#[tokio::test]
async fn wait_states_time_out() {
    let e = env_with(ConductorConfig { inspect_wait_timeout: Duration::from_secs(60), ..Default::default() });
    for name in ["old", "fresh", "maint"] {
        enroll(&e.store, name).await;
        let age = if name == "fresh" { 1 } else { 3600 };
        e.store
            .update_node(name, None, move |n| -> Result<(), ()> {
                n.provision_state = S::InspectWait;
                n.target_provision_state = Some(S::Manageable);
                n.provision_updated_at = Some(ferric_core::model::now() - chrono::Duration::seconds(age));
                n.maintenance = name == "maint";
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
    }
    let failed = e.conductor.check_wait_timeouts().await.unwrap();
    assert_eq!(failed, vec![uuid_for("old")]);
    let n = e.store.get_node("old").await.unwrap();
    assert_eq!(n.provision_state, S::InspectFailed);
    assert_eq!(n.last_error.as_deref(), Some("Timeout reached while inspecting the node"));
    assert_eq!(e.store.get_node("fresh").await.unwrap().provision_state, S::InspectWait);
    // Abort from a wait state is synchronous.
    e.conductor.provision("fresh", Event::Abort, ProvisionArgs::default()).await.unwrap();
    let n = e.store.get_node("fresh").await.unwrap();
    assert_eq!((n.provision_state, n.last_error.as_deref()), (S::InspectFailed, Some("Inspection was aborted by request.")));
}

#[tokio::test]
async fn periodic_tasks_run_and_stop() {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut p = periodic::PeriodicTasks::new();
    let c = counter.clone();
    p.add("count", Duration::from_millis(10), move || {
        let c = c.clone();
        async move {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    p.add("disabled", Duration::ZERO, || async {});
    assert_eq!(p.names(), vec!["count"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.shutdown().await;
    let seen = counter.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen >= 2, "ran {seen} times");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), seen, "stopped after shutdown");
}

/// Enroll a node whose inspect interface cannot work, and make it manageable.
async fn uninspectable(e: &Env, name: &str) -> Node {
    e.store
        .create_node(Node {
            uuid: uuid_for(name),
            name: Some(name.into()),
            driver: "fake-hardware".into(),
            interfaces: ferric_core::Interfaces { inspect: "no-inspect".into(), ..Default::default() },
            created_at: ferric_core::model::now(),
            ..Default::default()
        })
        .await
        .unwrap();
    act(e, name, Event::Manage).await
}

/// An available node whose instance asks for `traits` (also set on the node).
async fn available_with_traits(e: &Env, name: &str, traits: &[&str]) {
    enroll(&e.store, name).await;
    act(e, name, Event::Manage).await;
    act(e, name, Event::Provide).await;
    let traits: Vec<String> = traits.iter().map(|t| t.to_string()).collect();
    e.store
        .update_node(name, None, move |n| -> Result<(), ()> {
            n.traits = traits.clone();
            n.instance_info.insert("traits".into(), serde_json::json!(traits));
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
}

async fn template(e: &Env, name: &str, steps: serde_json::Value) {
    let steps: Vec<ferric_core::DeployStep> = serde_json::from_value(steps).unwrap();
    e.store
        .create_deploy_template(ferric_core::DeployTemplate {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            steps,
            created_at: ferric_core::model::now(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_flow_writes_one_history_entry() {
    let e = env();
    let n = uninspectable(&e, "n1").await;
    assert!(e.store.list_node_history(&n.uuid, Default::default()).await.unwrap().is_empty(), "success records nothing");
    let n = act(&e, "n1", Event::Inspect).await;
    assert_eq!(n.provision_state, S::InspectFailed);
    let error = n.last_error.clone().unwrap();
    assert_eq!(error, "No inspect interface is configured for this node");
    let h = e.store.list_node_history(&n.uuid, Default::default()).await.unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    let h = &h[0];
    assert_eq!((h.severity.as_str(), h.event_type.as_str(), h.event.as_str()), ("ERROR", "introspection", error.as_str()));
    assert_eq!((h.conductor.as_deref(), h.user.as_deref()), (Some("localhost"), None));
    assert_eq!((h.state.as_deref(), h.target_provision_state.as_deref()), (Some("inspecting"), Some("manageable")));
    assert!(h.duration_seconds.is_some_and(|d| d >= 0));
    assert_eq!(e.store.get_node_history(&h.uuid).await.unwrap().node_uuid, n.uuid);
}

#[tokio::test]
async fn history_keeps_the_configured_number_of_entries_or_none() {
    let e = env_with(ConductorConfig { node_history_max_entries: 2, ..Default::default() });
    let n = uninspectable(&e, "n1").await;
    for _ in 0..3 {
        assert_eq!(act(&e, "n1", Event::Inspect).await.provision_state, S::InspectFailed);
    }
    assert_eq!(e.store.list_node_history(&n.uuid, Default::default()).await.unwrap().len(), 2);

    let e = env_with(ConductorConfig { node_history: false, ..Default::default() });
    let n = uninspectable(&e, "n2").await;
    let n2 = act(&e, "n2", Event::Inspect).await;
    assert!(n2.last_error.is_some(), "last_error is set with history off");
    assert!(e.store.list_node_history(&n.uuid, Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wait_timeout_writes_one_history_entry() {
    let e = env_with(ConductorConfig { deploy_callback_timeout: Duration::from_secs(60), ..Default::default() });
    let n = enroll(&e.store, "n1").await;
    e.store
        .update_node("n1", None, |n| -> Result<(), ()> {
            n.provision_state = S::DeployWait;
            n.target_provision_state = Some(S::Active);
            n.provision_updated_at = Some(ferric_core::model::now() - chrono::Duration::seconds(3600));
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.conductor.check_wait_timeouts().await.unwrap(), vec![n.uuid.clone()]);
    let h = e.store.list_node_history(&n.uuid, Default::default()).await.unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    let expected = format!("Timeout reached while waiting for callback for node {}", n.uuid);
    assert_eq!((h[0].severity.as_str(), h[0].event_type.as_str(), h[0].event.as_str()), ("ERROR", "deploying", expected.as_str()));
    assert_eq!(h[0].state.as_deref(), Some("deploy failed"));
    assert!(h[0].duration_seconds.is_some_and(|d| d >= 3600), "{:?}", h[0].duration_seconds);
    assert_eq!(e.store.get_node("n1").await.unwrap().last_error, Some(expected));
    // Nothing more happens on the next check.
    assert!(e.conductor.check_wait_timeouts().await.unwrap().is_empty());
    assert_eq!(e.store.list_node_history(&n.uuid, Default::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn aborting_inspection_is_journaled_as_ironic_does() {
    let e = env();
    let n = enroll(&e.store, "n1").await;
    e.store
        .update_node("n1", None, |n| -> Result<(), ()> {
            n.provision_state = S::InspectWait;
            n.target_provision_state = Some(S::Manageable);
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    e.conductor.provision("n1", Event::Abort, ProvisionArgs::default()).await.unwrap();
    let h = e.store.list_node_history(&n.uuid, Default::default()).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].severity.as_str(), h[0].event_type.as_str(), h[0].event.as_str()), ("ERROR", "introspection", "Inspection was aborted by request."));

}

#[tokio::test]
async fn a_deploy_runs_the_steps_of_matching_deploy_templates() {
    let e = env();
    available_with_traits(&e, "n1", &["CUSTOM_HT_OFF", "CUSTOM_OTHER"]).await;
    let settings = serde_json::json!([{"name": "LogicalProc", "value": "Disabled"}]);
    template(&e, "CUSTOM_HT_OFF", serde_json::json!([
        {"interface": "bios", "step": "apply_configuration", "args": {"settings": settings}, "priority": 150}
    ]))
    .await;
    // A template the instance did not ask for is not applied.
    template(&e, "CUSTOM_UNUSED", serde_json::json!([{"interface": "bios", "step": "factory_reset", "args": {}, "priority": 200}])).await;
    let n = act(&e, "n1", Event::Deploy).await;
    assert_eq!((n.provision_state, n.last_error.as_deref()), (S::Active, None));
    assert_eq!(n.bios_settings.get("LogicalProc"), Some(&serde_json::json!("Disabled")), "the template's BIOS step ran");
    assert!(n.deploy_step.is_empty() && !n.driver_internal_info.contains_key("deploy_steps"));

    // A failing template step fails the deployment, naming the step; the plan shows the order.
    available_with_traits(&e, "n2", &["CUSTOM_BROKEN"]).await;
    template(&e, "CUSTOM_BROKEN", serde_json::json!([
        {"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "NoValue"}]}, "priority": 150}
    ]))
    .await;
    let n = act(&e, "n2", Event::Deploy).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    let err = n.last_error.unwrap_or_default();
    assert!(err.starts_with("Deploy step bios.apply_configuration failed: Invalid BIOS setting"), "{err}");
    assert!(n.deploy_step.is_empty(), "deploy_step is cleared on failure");
    let plan: Vec<String> = n.driver_internal_info["deploy_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}.{}", s["interface"].as_str().unwrap(), s["step"].as_str().unwrap()))
        .collect();
    assert_eq!(plan, vec!["bios.apply_configuration", "deploy.deploy"], "highest priority first");
}

#[tokio::test]
async fn a_deploy_with_unsupported_template_steps_is_refused() {
    let e = env();
    available_with_traits(&e, "n1", &["CUSTOM_RAID"]).await;
    template(&e, "CUSTOM_RAID", serde_json::json!([{"interface": "raid", "step": "create_configuration", "args": {}, "priority": 10}])).await;
    let err = e.conductor.provision("n1", Event::Deploy, ProvisionArgs::default()).await.unwrap_err();
    assert!(matches!(err, ConductorError::Invalid(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("Matching deploy templates: CUSTOM_RAID. Errors: node does not support this deploy step: {'interface': 'raid', 'step': 'create_configuration'"), "{msg}");
    let n = settled(&e.store, "n1").await;
    assert_eq!((n.provision_state, n.last_error), (S::Available, None), "nothing changed");

    // Disabling the core deploy step through a template leaves nothing to run.
    available_with_traits(&e, "n2", &["CUSTOM_NODEPLOY"]).await;
    template(&e, "CUSTOM_NODEPLOY", serde_json::json!([{"interface": "deploy", "step": "deploy", "args": {}, "priority": 0}])).await;
    let err = e.conductor.provision("n2", Event::Deploy, ProvisionArgs::default()).await.unwrap_err();
    assert!(err.to_string().contains("Error while getting deploy steps: no steps returned for node"), "{err}");
    assert_eq!(settled(&e.store, "n2").await.provision_state, S::Available);
}

/// A BIOS interface that remembers the node's `deploy_step` each time it runs a step.
struct Recorder(Arc<std::sync::Mutex<Vec<Dict>>>);

impl ferric_drivers::GenericInterface for Recorder {
    fn validate(&self, _node: &Node) -> ferric_drivers::DResult<()> {
        Ok(())
    }
    fn deploy_steps(&self) -> Vec<ferric_drivers::Step> {
        let argsinfo = Some(serde_json::json!({"a": {"required": false}}));
        vec![ferric_drivers::Step { interface: "bios", step: "factory_reset", priority: 0, abortable: false, argsinfo }]
    }
    fn run<'a>(&'a self, node: &'a mut Node, _op: &'a str, _args: &'a Dict) -> ferric_drivers::BoxFut<'a, ferric_drivers::DResult<ferric_drivers::Outcome>> {
        self.0.lock().unwrap().push(node.deploy_step.clone());
        Box::pin(async { Ok(ferric_drivers::Outcome::Done) })
    }
}

#[tokio::test]
async fn each_template_step_is_recorded_in_deploy_step_while_it_runs() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut registry = Registry::builtin();
    registry.impls.generic.get_mut("bios").unwrap().insert("recorder", Arc::new(Recorder(seen.clone())));
    registry.hardware_types.get_mut("fake-hardware").unwrap().supported.get_mut("bios").unwrap().insert(0, "recorder");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("db.sqlite"))).unwrap();
    let config = ConductorConfig { node_locked_retry_interval: Duration::from_millis(10), ..Default::default() };
    let e = Env { conductor: Conductor::new(store.clone(), registry, config), store, _dir: dir };
    available_with_traits(&e, "n1", &["CUSTOM_RESET"]).await;
    template(&e, "CUSTOM_RESET", serde_json::json!([{"interface": "bios", "step": "factory_reset", "args": {"a": 1}, "priority": 50}])).await;
    let n = act(&e, "n1", Event::Deploy).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    let seen = seen.lock().unwrap().clone();
    let expected = serde_json::json!({"interface": "bios", "step": "factory_reset", "args": {"a": 1}, "priority": 50});
    // Automated cleaning (no deploy step) may also have run BIOS steps; the deploy ran ours once.
    assert_eq!(seen.iter().filter(|s| **s == *expected.as_object().unwrap()).count(), 1, "{seen:?}");
    assert!(n.deploy_step.is_empty());
}

// ------------------------------------------------------------------ runbooks (API 1.92)

/// A manageable node cleaned with a runbook's steps, as the API hands them over.
async fn clean_with_runbook(e: &Env, name: &str, steps: serde_json::Value) -> Node {
    enroll(&e.store, name).await;
    act(e, name, Event::Manage).await;
    let steps: Vec<ferric_core::RunbookStep> = serde_json::from_value(steps).unwrap();
    let rb = ferric_core::Runbook { name: "CUSTOM_BIOS".into(), steps, ..Default::default() };
    assert!(rb.approved_for(&["CUSTOM_BIOS".into()]));
    let args = ProvisionArgs { clean_steps: Some(rb.user_steps()), disable_ramdisk: Some(rb.disable_ramdisk), ..Default::default() };
    e.conductor.provision(name, Event::Clean, args).await.unwrap();
    settled(&e.store, name).await
}

#[tokio::test]
async fn runbook_steps_clean_a_node_in_the_runbooks_order() {
    let e = env();
    let apply = serde_json::json!({"interface": "bios", "step": "apply_configuration", "order": 1,
        "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}]}});
    let reset = serde_json::json!({"interface": "bios", "step": "factory_reset", "order": 2, "args": {}});
    // The list order runs, not `order`: apply then reset leaves nothing, reset then apply the setting.
    let n = clean_with_runbook(&e, "n1", serde_json::json!([apply, reset])).await;
    assert_eq!((n.provision_state, n.last_error.as_deref()), (S::Manageable, None));
    assert!(n.bios_settings.is_empty(), "{:?}", n.bios_settings);
    assert!(n.clean_step.is_empty());
    let n = clean_with_runbook(&e, "n2", serde_json::json!([reset, apply])).await;
    assert_eq!(n.provision_state, S::Manageable);
    assert_eq!(n.bios_settings.get("LogicalProc"), Some(&serde_json::json!("Enabled")));
}

#[tokio::test]
async fn a_runbook_step_the_node_lacks_is_refused_and_changes_nothing() {
    let e = env();
    enroll(&e.store, "n1").await;
    act(&e, "n1", Event::Manage).await;
    let rb = ferric_core::Runbook {
        steps: vec![ferric_core::RunbookStep { interface: "bios".into(), step: "x".into(), args: Default::default(), order: 1 }],
        ..Default::default()
    };
    let err = e.conductor.provision("n1", Event::Clean, ProvisionArgs { clean_steps: Some(rb.user_steps()), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, ConductorError::Invalid(ref m) if m.contains("\"x\"")), "{err}");
    assert_eq!(settled(&e.store, "n1").await.provision_state, S::Manageable);
}

// ------------------------------------------------------------ disable_power_off (API 1.95)

async fn no_power_off(e: &Env, name: &str) -> Node {
    let n = enroll(&e.store, name).await;
    e.store
        .update_node(name, None, |n| -> Result<(), ()> {
            n.disable_power_off = true;
            n.power_state = Some(PowerState::On);
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    n
}

#[tokio::test]
async fn a_node_with_disable_power_off_is_never_powered_off() {
    let e = env();
    no_power_off(&e, "n1").await;
    for target in [PowerState::Off, PowerState::SoftPowerOff] {
        let err = e.conductor.change_power_state("n1", target, None).await.unwrap_err();
        assert_eq!(err.to_string(), format!("Failed to set node power state to {target}."));
        assert!(matches!(err, ConductorError::Conflict(_)));
    }
    let n = settled(&e.store, "n1").await;
    assert_eq!((n.power_state, n.target_power_state, n.reservation), (Some(PowerState::On), None, None), "nothing changed, lock released");
    // Rebooting and powering on are fine.
    e.conductor.change_power_state("n1", PowerState::Rebooting, None).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.power_state, Some(PowerState::On));
    e.conductor.change_power_state("n1", PowerState::On, None).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.power_state, Some(PowerState::On));
    // Without the flag the same node powers off.
    e.store.update_node("n1", None, |n| -> Result<(), ()> { n.disable_power_off = false; Ok(()) }).await.unwrap().unwrap();
    e.conductor.change_power_state("n1", PowerState::Off, None).await.unwrap();
    assert_eq!(settled(&e.store, "n1").await.power_state, Some(PowerState::Off));
}

#[tokio::test]
async fn aborting_inspection_reboots_a_node_that_must_stay_on() {
    let e = env();
    for (name, keep_on) in [("keep", true), ("plain", false)] {
        enroll(&e.store, name).await;
        e.store
            .update_node(name, None, move |n| -> Result<(), ()> {
                n.provision_state = S::InspectWait;
                n.target_provision_state = Some(S::Manageable);
                n.power_state = Some(PowerState::On);
                n.disable_power_off = keep_on;
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
        e.conductor.provision(name, Event::Abort, ProvisionArgs::default()).await.unwrap();
        let n = settled(&e.store, name).await;
        assert_eq!(n.provision_state, S::InspectFailed);
        let want = if keep_on { PowerState::On } else { PowerState::Off };
        assert_eq!(n.power_state, Some(want), "{name}");
    }
}

fn kvm_report() -> (serde_json::Value, Dict) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection/metal3-inspector-data-kvm-vm.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap();
    let mut plugin = doc.as_object().unwrap().clone();
    let inventory = plugin.remove("inventory").unwrap();
    (inventory, plugin)
}

#[tokio::test]
async fn in_band_inspection_reboots_instead_of_powering_off() {
    let e = env();
    for (name, keep_on) in [("keep", true), ("plain", false)] {
        enroll(&e.store, name).await;
        e.store
            .update_node(name, None, move |n| -> Result<(), ()> {
                n.interfaces.inspect = "agent".into();
                n.disable_power_off = keep_on;
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
        act(&e, name, Event::Manage).await;
        let n = act(&e, name, Event::Inspect).await;
        assert_eq!((n.provision_state, n.power_state), (S::InspectWait, Some(PowerState::On)), "{name}");
        let (inventory, plugin) = kvm_report();
        e.conductor.continue_inspection(&n.uuid, inventory, plugin).await.unwrap();
        let mut n = settled(&e.store, name).await;
        for _ in 0..200 {
            if n.provision_state == S::Manageable {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            n = settled(&e.store, name).await;
        }
        assert_eq!(n.provision_state, S::Manageable, "{name}: {:?}", n.last_error);
        let want = if keep_on { PowerState::On } else { PowerState::Off };
        assert_eq!(n.power_state, Some(want), "{name}: powered off only when allowed");
    }
}

#[tokio::test]
async fn virtual_media_cannot_be_read_with_fake_hardware() {
    let e = env();
    enroll(&e.store, "n1").await;
    let err = e.conductor.get_virtual_media("n1").await.unwrap_err();
    assert!(matches!(err, ConductorError::Invalid(_)));
    assert_eq!(err.to_string(), "Driver fake-hardware does not support get_virtual_media (disabled or not implemented).");
    assert!(matches!(e.conductor.get_virtual_media("nope").await, Err(ConductorError::NotFound { .. })));
}

// ------------------------------------------------------------------ allocations and locks

#[tokio::test]
async fn an_allocation_waits_for_a_node_locked_for_a_moment() {
    let e = env_with(ConductorConfig { node_locked_retry_interval: Duration::from_millis(100), node_locked_retry_attempts: 3, ..Default::default() });
    for name in ["n1", "n2"] {
        enroll(&e.store, name).await;
        act(&e, name, Event::Manage).await;
        act(&e, name, Event::Provide).await;
        e.store.update_node(name, None, |n| -> Result<(), ()> { n.resource_class = Some(format!("rc-{}", n.name.clone().unwrap())); Ok(()) }).await.unwrap().unwrap();
    }
    let alloc = |rc: &str| ferric_core::Allocation {
        uuid: uuid::Uuid::new_v4().to_string(),
        resource_class: Some(rc.into()),
        state: "allocating".into(),
        created_at: ferric_core::model::now(),
        ..Default::default()
    };
    // n1 is locked by someone else (a power action, say) and freed 150 ms later: the second
    // round finds it, as Ironic's retries do.
    e.store.reserve_node("n1", "other-host").await.unwrap();
    let store = e.store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(store.release_node(&uuid_for("n1"), "other-host").await.unwrap());
    });
    let a = e.store.create_allocation(alloc("rc-n1")).await.unwrap();
    let a = e.conductor.allocate(a).await.unwrap();
    assert_eq!((a.state.as_str(), a.node_uuid.as_deref()), ("active", Some(uuid_for("n1").as_str())), "{:?}", a.last_error);
    // n2 stays locked: after the rounds the allocation fails.
    e.store.reserve_node("n2", "other-host").await.unwrap();
    let a = e.store.create_allocation(alloc("rc-n2")).await.unwrap();
    let a = e.conductor.allocate(a).await.unwrap();
    assert_eq!((a.state.as_str(), a.node_uuid), ("error", None));
}
