//! The Redfish driver against BMCs that misbehave on purpose: a small Redfish service on
//! loopback (axum) that counts requests and can refuse, fail, hang or answer garbage. These are
//! the behaviours no emulator produces on demand (sushy-tools, the real emulator, is the
//! happy-path peer in CI: conformance/bmc_scenario.sh). Every wait here is bounded by the
//! driver's configuration, which is what the tests check.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferric_core::{Node, PowerState};
use ferric_drivers::redfish::client::RedfishConfig;
use ferric_drivers::{DriverConfig, Registry};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Bmc {
    requests: AtomicUsize,
    logins: AtomicUsize,
    /// 5xx answers still to give.
    fail_next: AtomicUsize,
    token: Mutex<Option<String>>,
    power: Mutex<String>,
    boot_patches: Mutex<Vec<Value>>,
    sessions: bool,
    password: &'static str,
}

fn authorized(b: &Bmc, h: &HeaderMap) -> bool {
    if let Some(t) = h.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
        return b.token.lock().unwrap().as_deref() == Some(t);
    }
    if let Some(a) = h.get("Authorization").and_then(|v| v.to_str().ok()) {
        // base64("admin:" + password), computed by hand to avoid a dependency.
        return a == format!("Basic {}", b64(&format!("admin:{}", b.password)));
    }
    false
}

fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": "Base.1.0.GeneralError", "message": "Invalid credentials"}}))).into_response()
}

async fn root(State(b): State<Arc<Bmc>>) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    let mut r = json!({"@odata.id": "/redfish/v1/", "Systems": {"@odata.id": "/redfish/v1/Systems"}});
    if b.sessions {
        r["Links"] = json!({"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}});
    }
    Json(r).into_response()
}

async fn login(State(b): State<Arc<Bmc>>, Json(body): Json<Value>) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    if !b.sessions {
        return StatusCode::NOT_FOUND.into_response();
    }
    if body["UserName"] != "admin" || body["Password"] != b.password {
        return unauthorized();
    }
    let n = b.logins.fetch_add(1, Ordering::SeqCst);
    let token = format!("tok-{n}");
    *b.token.lock().unwrap() = Some(token.clone());
    (StatusCode::CREATED, [("X-Auth-Token", token)], Json(json!({"@odata.id": format!("/redfish/v1/SessionService/Sessions/{n}")}))).into_response()
}

async fn systems(State(b): State<Arc<Bmc>>, h: HeaderMap) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    if !authorized(&b, &h) {
        return unauthorized();
    }
    Json(json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]})).into_response()
}

async fn system(State(b): State<Arc<Bmc>>, h: HeaderMap) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    if b.fail_next.load(Ordering::SeqCst) > 0 {
        b.fail_next.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    if !authorized(&b, &h) {
        return unauthorized();
    }
    let power = b.power.lock().unwrap().clone();
    Json(json!({
        "@odata.id": "/redfish/v1/Systems/1", "Id": "1", "Manufacturer": "Contoso", "PowerState": power,
        "Boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideMode": "UEFI"},
        "Actions": {"#ComputerSystem.Reset": {"target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
            "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart", "GracefulShutdown"]}}
    }))
    .into_response()
}

async fn patch_system(State(b): State<Arc<Bmc>>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    if !authorized(&b, &h) {
        return unauthorized();
    }
    b.boot_patches.lock().unwrap().push(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(b): State<Arc<Bmc>>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    b.requests.fetch_add(1, Ordering::SeqCst);
    if !authorized(&b, &h) {
        return unauthorized();
    }
    let new = match body["ResetType"].as_str() {
        Some("On") | Some("ForceRestart") => "On",
        Some("ForceOff") | Some("GracefulShutdown") => "Off",
        _ => return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "bad ResetType"}}))).into_response(),
    };
    *b.power.lock().unwrap() = new.to_string();
    StatusCode::NO_CONTENT.into_response()
}

async fn start(bmc: Arc<Bmc>) -> String {
    let app = Router::new()
        .route("/redfish/v1/", get(root))
        .route("/redfish/v1/SessionService/Sessions", post(login))
        .route("/redfish/v1/Systems", get(systems))
        .route("/redfish/v1/Systems/1", get(system).patch(patch_system))
        .route("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", post(reset))
        .with_state(bmc);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn config() -> RedfishConfig {
    RedfishConfig {
        connection_attempts: 3,
        connection_retry_interval: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(500),
        max_response_bytes: 1 << 20,
        power_state_change_timeout: Duration::from_secs(2),
        power_state_poll_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

fn registry() -> Registry {
    Registry::with_config(DriverConfig { redfish: config(), ..Default::default() })
}

fn node(address: &str, password: &str, auth: Option<&str>) -> Node {
    let mut n = Node { uuid: "0b7e3a1e-5e8d-4d63-9a4e-3a1f0c7d9e11".into(), driver: "redfish".into(), ..Default::default() };
    n.driver_info.insert("redfish_address".into(), address.into());
    n.driver_info.insert("redfish_username".into(), "admin".into());
    n.driver_info.insert("redfish_password".into(), password.into());
    if let Some(a) = auth {
        n.driver_info.insert("redfish_auth_type".into(), a.into());
    }
    n
}

fn bmc(sessions: bool) -> Arc<Bmc> {
    Arc::new(Bmc { sessions, password: "s3cret", power: Mutex::new("Off".into()), ..Default::default() })
}

#[tokio::test]
async fn a_session_is_made_once_reused_and_renewed_when_it_expires() {
    let b = bmc(true);
    let url = start(b.clone()).await;
    let r = registry();
    let n = node(&url, "s3cret", None);
    let d = r.driver_for(&n).unwrap();
    for _ in 0..5 {
        assert_eq!(d.power.get_power_state(&n).await.unwrap(), PowerState::Off);
    }
    assert_eq!(b.logins.load(Ordering::SeqCst), 1, "one session for five requests");
    // The BMC forgets the session: the next request logs in again and succeeds.
    *b.token.lock().unwrap() = None;
    assert_eq!(d.power.get_power_state(&n).await.unwrap(), PowerState::Off);
    assert_eq!(b.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn auto_falls_back_to_basic_without_a_session_service() {
    let b = bmc(false);
    let url = start(b.clone()).await;
    let r = registry();
    let n = node(&url, "s3cret", Some("auto"));
    let d = r.driver_for(&n).unwrap();
    assert_eq!(d.power.set_power_state(&n, PowerState::On, None).await.unwrap(), PowerState::On);
    assert_eq!(*b.power.lock().unwrap(), "On");
    assert_eq!(b.logins.load(Ordering::SeqCst), 0);
    // Session only: a clear error.
    let n = node(&url, "s3cret", Some("session"));
    let e = r.driver_for(&n).unwrap().power.get_power_state(&n).await.unwrap_err().to_string();
    assert!(e.contains("404") || e.contains("session"), "{e}");
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_the_bmcs_answer_and_no_secret() {
    for sessions in [true, false] {
        let b = bmc(sessions);
        let url = start(b.clone()).await;
        let r = registry();
        let n = node(&url, "wrong-hunter2", None);
        let started = Instant::now();
        let e = r.driver_for(&n).unwrap().power.get_power_state(&n).await.unwrap_err().to_string();
        assert!(e.contains("returned code 401"), "{e}");
        assert!(!e.contains("hunter2"), "the password leaked: {e}");
        assert!(started.elapsed() < Duration::from_secs(10), "a wrong password is not retried");
        // Not retried: a handful of requests, not attempts x requests.
        assert!(b.requests.load(Ordering::SeqCst) <= 4, "{} requests", b.requests.load(Ordering::SeqCst));
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_succeed_or_fail_clearly() {
    let b = bmc(false);
    let url = start(b.clone()).await;
    let r = registry();
    let n = node(&url, "s3cret", Some("basic"));
    let d = r.driver_for(&n).unwrap();
    b.fail_next.store(2, Ordering::SeqCst);
    assert_eq!(d.power.get_power_state(&n).await.unwrap(), PowerState::Off);
    b.fail_next.store(10, Ordering::SeqCst);
    let e = d.power.get_power_state(&n).await.unwrap_err().to_string();
    assert!(e.contains("returned code 503"), "{e}");
    // Three attempts (the configured number) for that last call.
    assert_eq!(b.fail_next.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn boot_device_and_power_changes_reach_the_bmc() {
    let b = bmc(true);
    let url = start(b.clone()).await;
    let r = registry();
    let n = node(&url, "s3cret", None);
    let d = r.driver_for(&n).unwrap();
    d.management.set_boot_device(&n, "pxe", false).await.unwrap();
    d.management.set_boot_device(&n, "disk", true).await.unwrap();
    let patches = b.boot_patches.lock().unwrap().clone();
    assert_eq!(patches[0], json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}));
    assert_eq!(patches[1], json!({"Boot": {"BootSourceOverrideTarget": "Hdd", "BootSourceOverrideEnabled": "Continuous"}}));
    assert!(d.management.set_boot_device(&n, "floppy-disk", false).await.is_err());
    assert_eq!(d.power.set_power_state(&n, PowerState::Rebooting, None).await.unwrap(), PowerState::On);
    assert_eq!(d.power.set_power_state(&n, PowerState::SoftPowerOff, None).await.unwrap(), PowerState::Off);
    // SoftRebooting needs GracefulRestart, which this BMC does not offer.
    *b.power.lock().unwrap() = "On".into();
    let e = d.power.set_power_state(&n, PowerState::SoftRebooting, None).await.unwrap_err().to_string();
    assert!(e.contains("GracefulRestart"), "{e}");
}

/// A TCP server that accepts, reads the request, then sends `reply` (maybe nothing) and keeps
/// the connection open.
async fn raw_server(reply: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&reply).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn hanging_garbage_oversized_and_unreachable_bmcs_fail_in_bounded_time() {
    let r = registry();
    // Headers, then silence mid-body.
    let hang = raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Systems\":".to_vec()).await;
    // No answer at all.
    let mute = raw_server(Vec::new()).await;
    let garbage = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world".to_vec()).await;
    let mut huge = b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 2_999_998));
    huge.push(b'"');
    let oversized = raw_server(huge).await;
    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for (url, expect) in [
        (hang, "timed out"),
        (mute, "timed out"),
        (garbage, "not JSON"),
        (oversized, "larger than"),
        (closed, "Redfish connection failed"),
    ] {
        let n = node(&url, "s3cret", Some("basic"));
        let started = Instant::now();
        let e = r.driver_for(&n).unwrap().power.get_power_state(&n).await.unwrap_err().to_string();
        let took = started.elapsed();
        assert!(e.contains(expect), "{url}: {e}");
        // attempts x read_timeout + backoff, with room for a slow machine.
        assert!(took < Duration::from_secs(6), "{url} took {took:?}");
    }
}
