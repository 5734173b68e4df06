//! The agent's requests to the Bare Metal API, checked by a strict test server.

mod proto_common;

use ferric_agent::client::{
    ClientError, ClientOptions, HeartbeatExtra, IronicClient, LOOKUP_MAX_INTERVAL,
};
use ferric_agent::clock::ManualClock;
use proto_common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const MACS: [&str; 2] = ["52:54:00:12:34:56", "52:54:00:ab:cd:ef"];

fn opts(urls: Vec<String>) -> ClientOptions {
    ClientOptions {
        api_urls: urls,
        ironic_api_version: None,
        global_request_id: None,
        http_request_timeout: Duration::from_secs(5),
        insecure: false,
        agent_version: "13.0.0".into(),
        cafile: None,
        certfile: None,
        keyfile: None,
    }
}

fn client(urls: Vec<String>, clock: &ManualClock) -> IronicClient {
    IronicClient::new(opts(urls), Arc::new(clock.clone())).unwrap()
}

fn macs() -> Vec<String> {
    MACS.iter().map(|m| m.to_string()).collect()
}

fn secs(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

async fn lookup(c: &IronicClient) -> Result<ferric_agent::client::LookupResponse, ClientError> {
    c.lookup_node(
        &macs(),
        None,
        Duration::from_secs(600),
        Duration::from_secs(1),
        LOOKUP_MAX_INTERVAL,
    )
    .await
}

#[tokio::test]
async fn lookup_discovers_version_and_caps_header_at_1_62() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![format!("{url}/")], &clock);
    let resp = lookup(&c).await.unwrap();
    assert_eq!(resp.uuid(), NODE_UUID);
    assert_eq!(resp.heartbeat_timeout(), Some(300.0));
    assert_eq!(resp.agent_token(), Some(ironic.token.as_str()));
    let reqs = ironic.requests("/v1/lookup");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(
        reqs[0].header("X-OpenStack-Ironic-API-Version"),
        Some("1.62")
    );
    assert_eq!(reqs[0].param("addresses"), Some(MACS.join(",").as_str()));
    assert_eq!(reqs[0].param("node_uuid"), None);
    // A second call does not rediscover the version.
    let _ = lookup(&c).await.unwrap();
    assert_eq!(
        ironic
            .requests("/")
            .iter()
            .filter(|r| r.path == "/")
            .count(),
        1
    );
    assert!(clock.sleeps().is_empty());
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn lookup_sends_node_uuid_and_older_servers_get_their_own_version() {
    let ironic = Ironic::new((1, 50), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    let resp = c
        .lookup_node(
            &[],
            Some(NODE_UUID),
            Duration::from_secs(5),
            Duration::from_secs(1),
            LOOKUP_MAX_INTERVAL,
        )
        .await
        .unwrap();
    assert_eq!(resp.uuid(), NODE_UUID);
    // Below 1.62 Ironic hands out no token.
    assert_eq!(resp.agent_token(), None);
    let reqs = ironic.requests("/v1/lookup");
    assert_eq!(
        reqs[0].header("X-OpenStack-Ironic-API-Version"),
        Some("1.50")
    );
    assert_eq!(reqs[0].param("node_uuid"), Some(NODE_UUID));
    assert_eq!(reqs[0].param("addresses"), Some(""));
    // Heartbeat at 1.50: agent_version (>= 1.36) but no token field (< 1.62).
    c.heartbeat(
        NODE_UUID,
        "http://10.0.0.9:9999",
        &HeartbeatExtra::default(),
    )
    .await
    .unwrap();
    let hb = ironic.requests("/v1/heartbeat");
    assert_eq!(hb[0].header("X-OpenStack-Ironic-API-Version"), Some("1.50"));
    let body = hb[0].body.clone().unwrap();
    assert_eq!(
        body,
        json!({"callback_url": "http://10.0.0.9:9999", "agent_version": "13.0.0"})
    );
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn failed_discovery_falls_back_to_1_31_and_is_retried() {
    let mut i = Ironic::new((1, 91), &MACS);
    Arc::get_mut(&mut i).unwrap().max_version = None;
    let ironic = i;
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    assert_eq!(c.api_version().await, (1, 31));
    assert_eq!(c.api_version().await, (1, 31));
    assert_eq!(
        ironic
            .requests("/")
            .iter()
            .filter(|r| r.path == "/")
            .count(),
        2,
        "a failed discovery is not cached"
    );
}

#[tokio::test]
async fn configured_version_skips_discovery() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let mut o = opts(vec![url]);
    o.ironic_api_version = Some((1, 70));
    let c = IronicClient::new(o, Arc::new(clock.clone())).unwrap();
    lookup(&c).await.unwrap();
    assert!(
        ironic.requests("/").iter().all(|r| r.path != "/"),
        "GET / must not be sent"
    );
    assert_eq!(
        ironic.requests("/v1/lookup")[0].header("X-OpenStack-Ironic-API-Version"),
        Some("1.62")
    );
}

#[tokio::test]
async fn lookup_backoff_is_random_exponential_from_the_interval() {
    let ironic = Ironic::new((1, 91), &MACS);
    for _ in 0..4 {
        ironic
            .lookup_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(404, "Node could not be found."));
    }
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    clock.set_fraction(1.0); // every wait at the top of its window
    let c = client(vec![url.clone()], &clock);
    lookup(&c).await.unwrap();
    assert_eq!(clock.sleeps(), secs(&[1.0, 2.0, 4.0, 8.0]));
    assert_eq!(ironic.requests("/v1/lookup").len(), 5);

    // The floor is the lookup interval: windows [3,3], [3,3], [3,4], [3,8]; fraction 0 gives 3s.
    for _ in 0..4 {
        ironic
            .lookup_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(500, "oops"));
    }
    let clock = ManualClock::new();
    clock.set_fraction(1.0);
    let c = client(vec![url.clone()], &clock);
    c.lookup_node(
        &macs(),
        None,
        Duration::from_secs(600),
        Duration::from_secs(3),
        LOOKUP_MAX_INTERVAL,
    )
    .await
    .unwrap();
    assert_eq!(clock.sleeps(), secs(&[3.0, 3.0, 4.0, 8.0]));
    for _ in 0..2 {
        ironic
            .lookup_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(500, "oops"));
    }
    let clock = ManualClock::new();
    clock.set_fraction(0.0);
    let c = client(vec![url], &clock);
    c.lookup_node(
        &macs(),
        None,
        Duration::from_secs(600),
        Duration::from_secs(3),
        LOOKUP_MAX_INTERVAL,
    )
    .await
    .unwrap();
    assert_eq!(clock.sleeps(), secs(&[3.0, 3.0]));
}

#[tokio::test]
async fn lookup_backoff_is_capped_by_max_interval() {
    let ironic = Ironic::new((1, 91), &MACS);
    for _ in 0..8 {
        ironic
            .lookup_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(404, "Node could not be found."));
    }
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    clock.set_fraction(1.0);
    let c = client(vec![url], &clock);
    c.lookup_node(
        &macs(),
        None,
        Duration::from_secs(10_000),
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(
        clock.sleeps(),
        secs(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0])
    );
}

#[tokio::test]
async fn lookup_gives_up_once_the_timeout_has_passed() {
    let ironic = Ironic::new((1, 91), &["00:00:00:00:00:01"]); // our MACs are unknown: 404
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    clock.set_fraction(1.0);
    let c = client(vec![url], &clock);
    let err = c
        .lookup_node(
            &macs(),
            None,
            Duration::from_secs(10),
            Duration::from_secs(1),
            LOOKUP_MAX_INTERVAL,
        )
        .await
        .unwrap_err();
    // Attempts at t=0,1,3,7,15: the fifth fails after 10 s and ends the retrying.
    assert_eq!(clock.sleeps(), secs(&[1.0, 2.0, 4.0, 8.0]));
    assert_eq!(ironic.requests("/v1/lookup").len(), 5);
    match err {
        ClientError::LookupFailed(m) => assert_eq!(m, "Error 404: Node could not be found."),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn lookup_conflict_pauses_5_10_then_30_seconds() {
    let ironic = Ironic::new((1, 91), &MACS);
    for _ in 0..4 {
        ironic
            .lookup_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(
                409,
                "Node 1be26c0b is locked by host c1",
            ));
    }
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    clock.set_fraction(0.0); // backoff waits are the 1 s floor
    let c = client(vec![url], &clock);
    lookup(&c).await.unwrap();
    assert_eq!(
        clock.sleeps(),
        secs(&[5.0, 1.0, 10.0, 1.0, 30.0, 1.0, 30.0, 1.0])
    );
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn lookup_fails_over_to_the_next_url_and_remembers_it() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let dead = dead_url();
    let clock = ManualClock::new();
    let c = client(vec![dead.clone(), url.clone()], &clock);
    lookup(&c).await.unwrap();
    assert!(
        clock.sleeps().is_empty(),
        "the second URL answered within the first attempt"
    );
    assert_eq!(c.api_urls(), vec![url, dead]);
}

#[tokio::test]
async fn invalid_lookup_answers_are_retried_and_the_old_format_accepted() {
    let ironic = Ironic::new((1, 91), &MACS);
    ironic.lookup_script.lock().unwrap().extend([
        Scripted::Status(
            200,
            json!({"node": {"name": "no uuid"}, "config": {"heartbeat_timeout": 1}}),
        ),
        Scripted::Status(200, json!({"node": {"uuid": NODE_UUID}})),
        Scripted::Status(
            200,
            json!({"node": {"uuid": NODE_UUID}, "heartbeat_timeout": 60}),
        ),
    ]);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    let resp = lookup(&c).await.unwrap();
    assert_eq!(ironic.requests("/v1/lookup").len(), 3);
    assert_eq!(resp.heartbeat_timeout(), Some(60.0));
    assert_eq!(resp.agent_token(), None);
}

#[tokio::test]
async fn heartbeat_sends_token_version_and_callback_at_1_68() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    let resp = lookup(&c).await.unwrap();
    c.set_agent_token(resp.agent_token().map(str::to_string));
    c.heartbeat(
        NODE_UUID,
        "http://[fd00::5]:9999",
        &HeartbeatExtra::default(),
    )
    .await
    .unwrap();
    let hb = ironic.requests("/v1/heartbeat");
    assert_eq!(hb.len(), 1);
    assert_eq!(hb[0].method, "POST");
    assert_eq!(hb[0].path, format!("/v1/heartbeat/{NODE_UUID}"));
    assert_eq!(hb[0].header("X-OpenStack-Ironic-API-Version"), Some("1.68"));
    assert_eq!(
        hb[0].body.clone().unwrap(),
        json!({"callback_url": "http://[fd00::5]:9999", "agent_token": ironic.token, "agent_version": "13.0.0"})
    );
    // With a certificate it goes along (1.68).
    let extra = HeartbeatExtra {
        agent_verify_ca: Some("PEM".into()),
        ..Default::default()
    };
    c.heartbeat(NODE_UUID, "http://10.0.0.9:9999", &extra)
        .await
        .unwrap();
    assert_eq!(
        ironic.requests("/v1/heartbeat")[1].body.as_ref().unwrap()["agent_verify_ca"],
        json!("PEM")
    );
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn heartbeat_without_the_token_is_refused() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    let err = c
        .heartbeat(
            NODE_UUID,
            "http://10.0.0.9:9999",
            &HeartbeatExtra::default(),
        )
        .await
        .unwrap_err();
    match err {
        ClientError::Status { status, message } => {
            assert_eq!(status, 400);
            assert_eq!(
                message,
                "Error 400: Invalid or missing agent token received."
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let body = ironic.requests("/v1/heartbeat")[0].body.clone().unwrap();
    assert_eq!(
        body["agent_token"],
        Value::Null,
        "IPA sends the field even without a token"
    );
}

#[tokio::test]
async fn heartbeat_errors_are_parsed_in_ironics_shapes() {
    let ironic = Ironic::new((1, 91), &MACS);
    ironic.heartbeat_script.lock().unwrap().extend([
        Scripted::IronicError(409, "Node 1be26c0b is locked by host c1"),
        Scripted::Status(503, json!({"error_message": {"faultstring": "No free conductor workers", "faultcode": "Server"}})),
        Scripted::Status(401, json!({"title": "Unauthorized", "description": "no"})),
    ]);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![url], &clock);
    let e1 = c
        .heartbeat(
            NODE_UUID,
            "http://10.0.0.9:9999",
            &HeartbeatExtra::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e1, ClientError::Conflict(m) if m == "Error 409: Node 1be26c0b is locked by host c1"),
        "{e1:?}"
    );
    let e2 = c
        .heartbeat(
            NODE_UUID,
            "http://10.0.0.9:9999",
            &HeartbeatExtra::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e2, ClientError::Status { status: 503, message } if message == "Error 503: No free conductor workers"),
        "{e2:?}"
    );
    let e3 = c
        .heartbeat(
            NODE_UUID,
            "http://10.0.0.9:9999",
            &HeartbeatExtra::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e3, ClientError::Status { status: 401, message } if message == "Error 401: Unauthorized"),
        "{e3:?}"
    );
}

#[tokio::test]
async fn agent_status_is_sent_only_to_1_72_servers_with_that_version() {
    let extra = HeartbeatExtra {
        agent_status: Some("end".into()),
        agent_status_message: Some("done".into()),
        ..Default::default()
    };
    for (server, header, sent) in [((1, 91), "1.72", true), ((1, 70), "1.68", false)] {
        let ironic = Ironic::new(server, &MACS);
        let url = serve(ironic.clone()).await;
        let clock = ManualClock::new();
        let c = client(vec![url], &clock);
        c.set_agent_token(Some(ironic.token.clone()));
        c.heartbeat(NODE_UUID, "http://10.0.0.9:9999", &extra)
            .await
            .unwrap();
        let r = &ironic.requests("/v1/heartbeat")[0];
        assert_eq!(r.header("X-OpenStack-Ironic-API-Version"), Some(header));
        assert_eq!(r.body.as_ref().unwrap().get("agent_status").is_some(), sent);
        assert_eq!(
            r.body
                .as_ref()
                .unwrap()
                .get("agent_status_message")
                .is_some(),
            sent
        );
        assert_eq!(ironic.violations(), Vec::<String>::new());
    }
}

fn inspection_data() -> Value {
    let mut doc = fixture("understack-dell-r7615-node-inventory-lldp.json");
    doc["error"] = Value::Null;
    doc
}

#[tokio::test]
async fn inspection_posts_without_version_header_and_retries_5xx_and_409() {
    let data = inspection_data();
    let macs = fixture_macs("understack-dell-r7615-node-inventory-lldp.json");
    let ironic = Ironic::new((1, 91), &[macs[0].as_str()]);
    ironic.inspection_script.lock().unwrap().extend([
        Scripted::IronicError(500, "boom"),
        Scripted::IronicError(409, "locked"),
    ]);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![], &clock);
    let cb = format!("{url}/v1/continue_inspection");
    let resp = c
        .post_inspection(std::slice::from_ref(&cb), &data)
        .await
        .unwrap();
    assert_eq!(resp, json!({"uuid": NODE_UUID}));
    assert_eq!(clock.sleeps(), secs(&[5.0, 5.0]));
    let posts = ironic.requests("/v1/continue_inspection");
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[2].method, "POST");
    assert_eq!(
        posts[2].body.as_ref(),
        Some(&data),
        "the document arrives unchanged"
    );
    assert_eq!(ironic.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn inspection_gives_up_after_five_attempts() {
    let ironic = Ironic::new((1, 91), &MACS);
    for _ in 0..10 {
        ironic
            .inspection_script
            .lock()
            .unwrap()
            .push_back(Scripted::IronicError(503, "busy"));
    }
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![], &clock);
    let err = c
        .post_inspection(
            &[format!("{url}/v1/continue_inspection")],
            &inspection_data(),
        )
        .await
        .unwrap_err();
    assert_eq!(ironic.requests("/v1/continue_inspection").len(), 5);
    assert_eq!(clock.sleeps(), secs(&[5.0, 5.0, 6.0, 12.0]));
    assert!(
        matches!(&err, ClientError::Status { status: 503, message } if message.starts_with("error 503: ")),
        "{err:?}"
    );
}

#[tokio::test]
async fn inspection_client_errors_are_not_retried_and_dead_urls_are_skipped() {
    let ironic = Ironic::new((1, 91), &MACS);
    ironic
        .inspection_script
        .lock()
        .unwrap()
        .push_back(Scripted::IronicError(400, "Invalid inspection data"));
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let c = client(vec![], &clock);
    let urls = [
        format!("{}/v1/continue_inspection", dead_url()),
        format!("{url}/v1/continue_inspection"),
    ];
    let err = c
        .post_inspection(&urls, &inspection_data())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status: 400, message } if message.contains("Invalid inspection data")),
        "{err:?}"
    );
    assert_eq!(ironic.requests("/v1/continue_inspection").len(), 1);
    assert!(clock.sleeps().is_empty());

    // Every URL unreachable: connection errors are retried like 5xx.
    let clock = ManualClock::new();
    let c = client(vec![], &clock);
    let err = c
        .post_inspection(&[dead_url()], &inspection_data())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connection(_)), "{err:?}");
    assert_eq!(clock.sleeps().len(), 4);
}

#[tokio::test]
async fn global_request_id_goes_on_every_request() {
    let ironic = Ironic::new((1, 91), &MACS);
    let url = serve(ironic.clone()).await;
    let clock = ManualClock::new();
    let mut o = opts(vec![url.clone()]);
    o.global_request_id = Some("req-8d6e5bd8-2b4b-4bb5-a2ac-64bd1bd3e6ef".into());
    let c = IronicClient::new(o, Arc::new(clock.clone())).unwrap();
    let resp = lookup(&c).await.unwrap();
    c.set_agent_token(resp.agent_token().map(str::to_string));
    c.heartbeat(
        NODE_UUID,
        "http://10.0.0.9:9999",
        &HeartbeatExtra::default(),
    )
    .await
    .unwrap();
    let data = inspection_data();
    let _ = c
        .post_inspection(&[format!("{url}/v1/continue_inspection")], &data)
        .await;
    let all = ironic.log.lock().unwrap().clone();
    assert_eq!(
        all.len(),
        4,
        "GET /, lookup, heartbeat, continue_inspection"
    );
    for r in all {
        assert_eq!(
            r.header("X-OpenStack-Request-ID"),
            Some("req-8d6e5bd8-2b4b-4bb5-a2ac-64bd1bd3e6ef"),
            "{} {}",
            r.method,
            r.path
        );
    }
}
