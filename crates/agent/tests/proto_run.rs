//! The whole agent against the strict test Bare Metal API: inspection, lookup, the agent API
//! with the token from lookup, heartbeats (forced after an async command), graceful stop.

mod proto_common;

use ferric_agent::api::Agent;
use ferric_agent::clock::ManualClock;
use ferric_agent::config::Config;
use ferric_agent::run::{run_with, RunError, RunOptions};
use proto_common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

const FIXTURE: &str = "metal3-inspector-data-kvm-vm.json";

struct Running {
    api: String,
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    ready: oneshot::Receiver<Arc<Agent>>,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    system: Arc<FakeSystem>,
}

fn config_for(ironic_url: &str) -> Config {
    Config {
        api_urls: vec![ironic_url.to_string()],
        advertise_host: Some("127.0.0.1".into()),
        lookup_timeout: Duration::from_secs(30),
        ..Config::default()
    }
}

/// Start the agent with `config` (the advertise port is set to its API's port).
fn start(mut config: Config, clock: ManualClock) -> Running {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    config.advertise_port = port;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let hw = fixture_source(FIXTURE, calls.clone());
    let system = Arc::new(FakeSystem::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel();
    let opts = RunOptions {
        clock: Some(Arc::new(clock)),
        listener: Some(listener),
        shutdown: Some(Box::pin(async move {
            let _ = stop_rx.await;
        })),
        devices: Some(Arc::new(|| Ok(Vec::new()))),
        on_ready: Some(Box::new(move |a| {
            let _ = ready_tx.send(a);
        })),
    };
    let sys = system.clone();
    let task = tokio::spawn(run_with(config, hw, sys, opts));
    Running {
        api: format!("http://127.0.0.1:{port}"),
        port,
        stop: Some(stop_tx),
        ready: ready_rx,
        task,
        calls,
        system,
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn stop(mut r: Running) -> Result<(), RunError> {
    let _ = r.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .expect("the agent did not stop")
        .unwrap()
}

#[tokio::test]
async fn inspects_looks_up_serves_and_heartbeats() {
    let macs = fixture_macs(FIXTURE);
    let mut ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // Long enough that only forced heartbeats happen during the test.
    Arc::get_mut(&mut ironic).unwrap().heartbeat_timeout = 100_000;
    let url = serve(ironic.clone()).await;
    let mut config = config_for(&url);
    config.inspection_collectors = vec!["default".into(), "logs".into()];
    config.inspection_callback_urls = vec![format!("{url}/v1/continue_inspection")];
    config.bootif = Some("52:54:00:00:00:99".into());
    let mut r = start(config, ManualClock::with_real_scale(0.001));
    let agent = tokio::time::timeout(Duration::from_secs(10), &mut r.ready)
        .await
        .expect("agent not ready")
        .unwrap();

    // Inspection first, with the configured collectors, then lookup by the node UUID it returned.
    assert_eq!(r.calls.lock().unwrap()[0], ["default", "logs"]);
    let posted = ironic.requests("/v1/continue_inspection");
    assert_eq!(posted.len(), 1);
    let body = posted[0].body.clone().unwrap();
    assert_eq!(body["inventory"], fixture(FIXTURE)["inventory"]);
    assert_eq!(body["logs"], "bG9ncw==");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(
        body["boot_interface"],
        fixture(FIXTURE)["inventory"]["boot"]["pxe_interface"]
    );
    assert_eq!(
        body["configuration"]["collectors"],
        json!(["default", "logs"])
    );
    let lookups = ironic.requests("/v1/lookup");
    assert_eq!(lookups.len(), 1);
    let mut expected = macs.clone();
    expected.push("52:54:00:00:00:99".into());
    assert_eq!(
        lookups[0].param("addresses"),
        Some(expected.join(",").as_str())
    );
    assert_eq!(lookups[0].param("node_uuid"), Some(NODE_UUID));
    assert_eq!(agent.token().as_deref(), Some(ironic.token.as_str()));

    // The first heartbeat announces the API.
    wait_for("first heartbeat", || {
        !ironic.requests("/v1/heartbeat").is_empty()
    })
    .await;
    let hb = ironic.requests("/v1/heartbeat")[0].body.clone().unwrap();
    let callback = hb["callback_url"].as_str().unwrap().to_string();
    assert_eq!(callback, format!("http://127.0.0.1:{}", r.port));
    assert_eq!(hb["agent_token"], json!(ironic.token));

    // Ironic's side: the agent API answers with the token from lookup, and only with it.
    let http = reqwest::Client::new();
    let refused = http
        .get(format!("{callback}/v1/commands/?agent_token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let status: Value = http
        .get(format!("{callback}/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["started_at"].as_f64().is_some());
    let steps: Value = http
        .post(format!("{callback}/v1/commands/?wait=false&agent_token={}", ironic.token))
        .json(&json!({"name": "clean.get_clean_steps", "params": {"node": {"uuid": NODE_UUID}, "ports": []}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(steps["command_status"], "SUCCEEDED");

    // An async command's end forces a heartbeat (the normal interval is far away).
    assert_eq!(ironic.requests("/v1/heartbeat").len(), 1);
    let done: Value = http
        .post(format!(
            "{callback}/v1/commands/?wait=true&agent_token={}",
            ironic.token
        ))
        .json(&json!({"name": "standby.power_off", "params": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["command_status"], "SUCCEEDED");
    assert_eq!(
        r.system
            .calls()
            .iter()
            .filter(|c| *c == "power_off")
            .count(),
        1
    );
    wait_for("forced heartbeat", || {
        ironic.requests("/v1/heartbeat").len() == 2
    })
    .await;

    stop(r).await.unwrap();
    assert!(
        http.get(format!("{callback}/v1/status"))
            .send()
            .await
            .is_err(),
        "the API still answers after stop"
    );
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn heartbeats_follow_the_interval_and_back_off_after_errors() {
    let macs = fixture_macs(FIXTURE);
    let ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ironic
        .heartbeat_script
        .lock()
        .unwrap()
        .push_back(Scripted::IronicError(409, "Node is locked"));
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let r = start(config_for(&url), clock.clone());
    wait_for("three heartbeats", || {
        ironic.requests("/v1/heartbeat").len() >= 3
    })
    .await;
    stop(r).await.unwrap();
    // The 409 is retried after 5 × 1.5 s; then heartbeat_timeout (300) × 0.45.
    let sleeps = clock.sleeps();
    assert!(sleeps.len() >= 2, "{sleeps:?}");
    assert_eq!(sleeps[0], Duration::from_secs_f64(7.5));
    assert_eq!(sleeps[1], Duration::from_secs_f64(135.0));
    // No inspection without collectors or a call-back URL.
    assert!(ironic.requests("/v1/continue_inspection").is_empty());
    assert_eq!(r_calls_first(&ironic), None);
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

fn r_calls_first(ironic: &Ironic) -> Option<String> {
    ironic
        .requests("/v1/lookup")
        .first()
        .and_then(|l| l.param("node_uuid").map(str::to_string))
}

#[tokio::test]
async fn pregenerated_token_is_used_when_lookup_masks_it() {
    let macs = fixture_macs(FIXTURE);
    let mut ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    Arc::get_mut(&mut ironic).unwrap().pregenerated = true;
    let url = serve(ironic.clone()).await;
    let mut config = config_for(&url);
    config.agent_token = Some(ironic.token.clone());
    let mut r = start(config, ManualClock::with_real_scale(0.001));
    let agent = tokio::time::timeout(Duration::from_secs(10), &mut r.ready)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.token().as_deref(), Some(ironic.token.as_str()));
    wait_for("heartbeat", || !ironic.requests("/v1/heartbeat").is_empty()).await;
    stop(r).await.unwrap();
    assert_eq!(
        ironic.violations(),
        Vec::<String>::new(),
        "the heartbeat must carry the pregenerated token"
    );
}

#[tokio::test]
async fn a_masked_token_without_one_of_our_own_is_fatal() {
    let macs = fixture_macs(FIXTURE);
    let ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    *ironic.token_issued.lock().unwrap() = true; // another agent already took it
    let url = serve(ironic.clone()).await;
    let r = start(config_for(&url), ManualClock::new());
    let port = r.port;
    let res = tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(res, Err(RunError::TokenAlreadyIssued)), "{res:?}");
    assert!(ironic.requests("/v1/heartbeat").is_empty());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API must not be served"
    );
}

#[tokio::test]
async fn lookup_timeout_ends_the_run() {
    let ironic = Ironic::new((1, 91), &["00:00:00:00:00:01"]);
    let url = serve(ironic.clone()).await;
    let mut config = config_for(&url);
    config.lookup_timeout = Duration::from_secs(20);
    let r = start(config, ManualClock::new());
    let res = tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(res, Err(RunError::Lookup(_))), "{res:?}");
    assert!(ironic.requests("/v1/lookup").len() > 1);
}

#[tokio::test]
async fn failed_inspection_still_looks_up_and_inspection_alone_serves_the_api() {
    let macs = fixture_macs(FIXTURE);
    let ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ironic
        .inspection_script
        .lock()
        .unwrap()
        .push_back(Scripted::IronicError(400, "Invalid inspection data"));
    let url = serve(ironic.clone()).await;
    let mut config = config_for(&url);
    config.inspection_callback_urls = vec![format!("{url}/v1/continue_inspection")];
    let r = start(config, ManualClock::with_real_scale(0.001));
    wait_for("heartbeat", || !ironic.requests("/v1/heartbeat").is_empty()).await;
    stop(r).await.unwrap();
    assert_eq!(
        ironic.requests("/v1/continue_inspection").len(),
        1,
        "4xx is not retried"
    );
    assert_eq!(
        r_calls_first(&ironic),
        None,
        "no node UUID from a failed inspection"
    );

    // Only a call-back URL: inspect, serve the API, no lookup and no heartbeat.
    let ironic = Ironic::new(
        (1, 91),
        &macs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let url = serve(ironic.clone()).await;
    let config = Config {
        inspection_callback_urls: vec![format!("{url}/v1/continue_inspection")],
        advertise_host: Some("127.0.0.1".into()),
        ..Config::default()
    };
    let mut r = start(config, ManualClock::new());
    let _agent = tokio::time::timeout(Duration::from_secs(10), &mut r.ready)
        .await
        .unwrap()
        .unwrap();
    let st = reqwest::get(format!("{}/v1/status", r.api)).await.unwrap();
    assert_eq!(st.status().as_u16(), 200);
    stop(r).await.unwrap();
    assert_eq!(ironic.requests("/v1/continue_inspection").len(), 1);
    assert!(ironic.requests("/v1/lookup").is_empty());
    assert!(ironic.requests("/v1/heartbeat").is_empty());
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn stopping_during_lookup_ends_the_run_cleanly() {
    let ironic = Ironic::new((1, 91), &["00:00:00:00:00:01"]); // lookup keeps failing
    let url = serve(ironic.clone()).await;
    let mut config = config_for(&url);
    config.lookup_timeout = Duration::from_secs(600);
    let r = start(config, ManualClock::with_real_scale(0.01));
    wait_for("a few lookups", || ironic.requests("/v1/lookup").len() >= 2).await;
    let port = r.port;
    stop(r).await.unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API was never started"
    );
    let n = ironic.requests("/v1/lookup").len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ironic.requests("/v1/lookup").len(),
        n,
        "lookups went on after stop"
    );
}
