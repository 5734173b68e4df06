//! IPA's agent REST API over real HTTP: documents, the token, command lifecycle, errors.

mod proto_common;

use ferric_agent::api::{self, Agent};
use ferric_agent::commands::{async_fn, sync_fn, Registry};
use ferric_agent::config::Config;
use ferric_agent::run::default_registry;
use proto_common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const FIXTURE: &str = "metal3-inspector-data-kvm-vm.json";
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

struct Harness {
    url: String,
    agent: Arc<Agent>,
    system: Arc<FakeSystem>,
    release: watch::Sender<bool>,
    http: reqwest::Client,
}

impl Harness {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap())
    }
    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap())
    }
    async fn run(&self, name: &str, params: Value, wait: bool) -> (u16, Value) {
        let body = json!({"name": name, "params": params}).to_string();
        self.post(
            &format!("/v1/commands/?wait={wait}&agent_token={TOKEN}"),
            &body,
        )
        .await
    }
}

async fn start_with(system: FakeSystem) -> Harness {
    let system = Arc::new(system);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let hw = fixture_source(FIXTURE, calls);
    let devices: ferric_agent::commands::clean::DeviceSource = Arc::new(|| Ok(Vec::new()));
    let mut reg: Registry = default_registry(&Config::default(), hw, system.clone(), devices);
    let (release, rx) = watch::channel(false);
    reg.register(
        "test",
        "slow",
        async_fn(move |_params| {
            let mut rx = rx.clone();
            Box::pin(async move {
                let _ = rx.wait_for(|r| *r).await;
                Ok(Value::String("done".into()))
            })
        }),
    );
    reg.register(
        "test",
        "hello",
        sync_fn(|_p| Box::pin(async { Ok(Value::String("hello".into())) })),
    );
    let agent = Agent::new(reg, "13.0.0");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, agent.clone(), std::future::pending()));
    Harness {
        url,
        agent,
        system,
        release,
        http: reqwest::Client::new(),
    }
}

async fn start() -> Harness {
    start_with(FakeSystem::default()).await
}

#[tokio::test]
async fn root_v1_and_status_documents() {
    let h = start().await;
    let (s, root) = h.get("/").await;
    assert_eq!(s, 200);
    let self_link = json!({"href": format!("{}/v1", h.url), "rel": "self"});
    let described = json!({"href": "https://docs.openstack.org/ironic-python-agent/", "rel": "describedby", "type": "text/html"});
    let version = json!({"id": "v1", "links": [self_link, described]});
    assert_eq!(
        root,
        json!({
            "name": "OpenStack Ironic Python Agent API",
            "description": "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
            "versions": [version.clone()],
            "default_version": version,
        })
    );
    for path in ["/v1", "/v1/"] {
        let (s, v1) = h.get(path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(v1["id"], "v1");
        assert_eq!(
            v1["commands"],
            json!([{"href": format!("{}/v1/commands", h.url), "rel": "self"}, {"href": format!("{}/commands", h.url), "rel": "bookmark"}])
        );
        assert_eq!(
            v1["status"][0]["href"],
            json!(format!("{}/v1/status", h.url))
        );
        assert_eq!(
            v1["media_types"],
            json!([{"base": "application/json", "type": "application/vnd.openstack.ironic-python-agent.v1+json"}])
        );
    }
    let (s, st) = h.get("/v1/status").await;
    assert_eq!(s, 200);
    assert_eq!(st, json!({"started_at": null, "version": "13.0.0"}));
    h.agent.mark_started();
    let (_, st) = h.get("/status").await;
    assert!(st["started_at"].as_f64().unwrap() > 1.6e9);
}

#[tokio::test]
async fn commands_are_refused_without_the_token() {
    let h = start().await;
    let unauthorized =
        json!({"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."});
    // No token known yet: even a guess is refused, as IPA does.
    assert_eq!(
        h.get("/v1/commands/?agent_token=anything").await,
        (401, unauthorized.clone())
    );
    h.agent.set_token(Some(TOKEN.into()));
    assert_eq!(h.get("/v1/commands/").await, (401, unauthorized.clone()));
    assert_eq!(
        h.get("/v1/commands/?agent_token=wrong").await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        h.get(&format!(
            "/v1/commands/?agent_token={}",
            &TOKEN[..TOKEN.len() - 1]
        ))
        .await,
        (401, unauthorized.clone())
    );
    // IPA reads the token from the query only.
    let r = h
        .http
        .get(format!("{}/v1/commands/", h.url))
        .header("X-Agent-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body = json!({"name": "standby.power_off", "params": {}}).to_string();
    assert_eq!(
        h.post("/v1/commands/?agent_token=wrong", &body).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        h.get("/v1/commands/some-id?agent_token=wrong").await,
        (401, unauthorized)
    );
    assert!(
        h.system.calls().is_empty(),
        "a refused command must not run"
    );
    assert_eq!(
        h.get(&format!("/v1/commands?agent_token={TOKEN}")).await,
        (200, json!({"commands": []}))
    );
    assert_eq!(
        h.get(&format!("/commands/?agent_token={TOKEN}")).await,
        (200, json!({"commands": []}))
    );
}

#[tokio::test]
async fn async_command_lifecycle_busy_and_wait() {
    let h = start().await;
    h.agent.set_token(Some(TOKEN.into()));
    let (s, started) = h.run("test.slow", json!({}), false).await;
    assert_eq!(s, 200);
    let id = started["id"].as_str().unwrap().to_string();
    assert_eq!(
        started,
        json!({"id": id, "command_name": "slow", "command_status": "RUNNING", "command_error": null, "command_result": null})
    );
    let (s, again) = h
        .get(&format!("/v1/commands/{id}?agent_token={TOKEN}&wait=false"))
        .await;
    assert_eq!(
        (s, again["command_status"].clone()),
        (200, json!("RUNNING"))
    );
    // One command at a time.
    let (s, busy) = h.run("test.hello", json!({}), false).await;
    assert_eq!(
        (s, busy),
        (
            409,
            json!({"faultcode": "Client", "faultstring": "Agent is busy: executing command slow"})
        )
    );
    // wait=true blocks until the command is done.
    let waiter = {
        let url = format!("{}/v1/commands/{id}?agent_token={TOKEN}&wait=true", h.url);
        let http = h.http.clone();
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiter.is_finished(),
        "wait=true returned while the command was running"
    );
    h.release.send_replace(true);
    let done = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done,
        json!({"id": id, "command_name": "slow", "command_status": "SUCCEEDED", "command_error": null, "command_result": {"result": "slow: done"}})
    );
    // Now the agent takes commands again; a sync string result is wrapped without the name.
    let (s, hello) = h.run("test.hello", json!({}), false).await;
    assert_eq!(s, 200);
    assert_eq!(hello["command_status"], "SUCCEEDED");
    assert_eq!(hello["command_result"], json!({"result": "hello"}));
    let (_, list) = h.get(&format!("/v1/commands/?agent_token={TOKEN}")).await;
    let names: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["slow", "hello"]);
}

#[tokio::test]
async fn post_with_wait_true_answers_the_finished_result() {
    let h = start().await;
    h.agent.set_token(Some(TOKEN.into()));
    let release = h.release.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        release.send_replace(true);
    });
    let (s, r) = h.run("test.slow", json!({}), true).await;
    assert_eq!(s, 200);
    assert_eq!(r["command_status"], "SUCCEEDED");
    assert_eq!(r["command_result"], json!({"result": "slow: done"}));
}

#[tokio::test]
async fn standby_poll_and_log_commands() {
    let h = start().await;
    h.agent.set_token(Some(TOKEN.into()));
    let (s, r) = h.run("standby.sync", json!({}), false).await;
    assert_eq!(s, 200);
    assert_eq!(r["command_name"], "sync");
    assert_eq!(
        (r["command_status"].clone(), r["command_result"].clone()),
        (json!("SUCCEEDED"), Value::Null)
    );
    let (_, r) = h.run("poll.get_hardware_info", json!({}), false).await;
    assert_eq!(r["command_status"], "SUCCEEDED");
    assert_eq!(r["command_result"], fixture(FIXTURE)["inventory"]);
    let (_, r) = h.run("log.collect_system_logs", json!({}), false).await;
    assert_eq!(r["command_result"], json!({"system_logs": "bG9ncw=="}));
    let (_, r) = h.run("standby.get_partition_uuids", json!({}), false).await;
    assert_eq!(r["command_result"], json!({}));
    let (_, r) = h.run("standby.power_off", json!({}), true).await;
    assert_eq!(r["command_name"], "power_off");
    assert_eq!(r["command_status"], "SUCCEEDED");
    assert_eq!(r["command_result"], Value::Null);
    assert_eq!(
        h.system.calls(),
        ["sync", "collect_system_logs", "power_off"]
    );
}

#[tokio::test]
async fn failing_commands_are_recorded_in_ipas_shape() {
    let h = start_with(FakeSystem {
        fail_power: true,
        fail_logs: true,
        ..Default::default()
    })
    .await;
    h.agent.set_token(Some(TOKEN.into()));
    // A sync command that fails is recorded under its full name.
    let (s, r) = h.run("log.collect_system_logs", json!({}), false).await;
    assert_eq!(s, 200);
    assert_eq!(r["command_name"], "log.collect_system_logs");
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(
        r["command_error"],
        json!({"type": "CommandExecutionError", "code": 500, "message": "Command execution failed", "details": "journalctl failed"})
    );
    assert_eq!(r["command_result"], Value::Null);
    let (_, r) = h.run("standby.power_off", json!({}), true).await;
    assert_eq!(r["command_name"], "power_off");
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(
        r["command_error"],
        json!({"type": "SystemRebootError", "code": 500, "message": "Error rebooting system", "details": "poweroff failed (exit status: 1)"})
    );
    // Bad params to an async command fail it like Python's TypeError would.
    let (_, r) = h
        .run("standby.power_off", json!({"force": true}), true)
        .await;
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(r["command_error"]["type"], "CommandExecutionError");
    assert_eq!(
        r["command_error"]["details"],
        "power_off() got an unexpected keyword argument 'force'"
    );
}

#[tokio::test]
async fn request_errors_have_ipas_fault_shape() {
    let h = start().await;
    h.agent.set_token(Some(TOKEN.into()));
    let fault = |code: &str, s: &str| json!({"faultcode": code, "faultstring": s});
    assert_eq!(
        h.run("nope.cmd", json!({}), false).await,
        (
            404,
            fault("Client", "Not found: Extension with id nope not found.")
        )
    );
    assert_eq!(
        h.run("standby.nope", json!({}), false).await,
        (
            400,
            fault("Client", "Invalid command: Unknown command: nope")
        )
    );
    assert_eq!(
        h.run("power_off", json!({}), false).await,
        (
            400,
            fault(
                "Client",
                "Invalid command: Command name must be of the form <extension>.<name>"
            )
        )
    );
    assert_eq!(
        h.run("poll.get_hardware_info", json!({"x": 1}), false).await,
        (400, fault("Client", "Invalid command parameters: get_hardware_info() got an unexpected keyword argument 'x'"))
    );
    assert_eq!(
        h.run("clean.get_clean_steps", json!({"node": {}}), false).await,
        (400, fault("Client", "Invalid command parameters: get_clean_steps() missing 1 required positional argument: 'ports'"))
    );
    let path = format!("/v1/commands/?agent_token={TOKEN}");
    let missing = fault(
        "Client",
        "400 Bad Request: Missing or invalid name or params",
    );
    assert_eq!(
        h.post(&path, r#"{"name": "standby.sync"}"#).await,
        (400, missing.clone())
    );
    assert_eq!(
        h.post(&path, r#"{"name": "standby.sync", "params": []}"#)
            .await,
        (400, missing.clone())
    );
    assert_eq!(h.post(&path, r#"{"params": {}}"#).await, (400, missing));
    let (s, bad) = h.post(&path, "{not json").await;
    assert_eq!(s, 400);
    assert!(
        bad["faultstring"]
            .as_str()
            .unwrap()
            .starts_with("400 Bad Request: Failed to decode JSON object: "),
        "{bad}"
    );
    assert_eq!(
        h.get(&format!("/v1/commands/0000?agent_token={TOKEN}"))
            .await,
        (
            404,
            fault(
                "Client",
                "Not found: Command Result with id 0000 not found."
            )
        )
    );
    let (s, nf) = h.get("/v2/whatever").await;
    assert_eq!(s, 404);
    assert!(nf["faultstring"]
        .as_str()
        .unwrap()
        .starts_with("404 Not Found: "));
    let r = h
        .http
        .delete(format!("{}/v1/commands/", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["faultstring"],
        "405 Method Not Allowed: The method is not allowed for the requested URL."
    );
    // None of that recorded a command.
    assert_eq!(h.get(&path).await, (200, json!({"commands": []})));
}

#[tokio::test]
async fn clean_steps_and_step_errors() {
    let h = start().await;
    h.agent.set_token(Some(TOKEN.into()));
    let (_, r) = h
        .run(
            "clean.get_clean_steps",
            json!({"node": {"uuid": NODE_UUID}, "ports": []}),
            false,
        )
        .await;
    assert_eq!(r["command_name"], "get_clean_steps");
    assert_eq!(r["command_status"], "SUCCEEDED");
    let result = &r["command_result"];
    assert_eq!(
        result["hardware_manager_version"],
        json!({"generic_hardware_manager": "1.2"})
    );
    let steps = result["clean_steps"]["GenericHardwareManager"]
        .as_array()
        .unwrap();
    let prio = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| s["priority"].clone())
    };
    assert_eq!(prio("erase_devices"), Some(json!(10)));
    assert_eq!(prio("erase_devices_metadata"), Some(json!(99)));
    assert_eq!(prio("erase_devices_express"), Some(json!(0)));
    for s in steps {
        assert_eq!(s["interface"], "deploy");
        assert_eq!(s["reboot_requested"], false);
        assert_eq!(s["abortable"], true);
    }

    let node = json!({"uuid": NODE_UUID, "driver_internal_info": {}});
    let step = json!({"step": "erase_devices_metadata", "priority": 99, "interface": "deploy"});
    let (_, r) = h.run("clean.execute_clean_step", json!({"step": step, "node": node, "ports": [], "clean_version": {"generic_hardware_manager": "1.1"}}), true).await;
    assert_eq!(r["command_name"], "execute_clean_step");
    assert_eq!(r["command_status"], "CLEAN_VERSION_MISMATCH");
    assert_eq!(r["command_error"]["type"], "VersionMismatch");
    assert_eq!(r["command_error"]["code"], 409);

    let (_, r) = h
        .run(
            "clean.execute_clean_step",
            json!({"step": {"priority": 1}, "node": node, "ports": []}),
            true,
        )
        .await;
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(r["command_error"]["type"], "CommandExecutionError");
    assert!(r["command_error"]["details"]
        .as_str()
        .unwrap()
        .starts_with("Malformed clean_step, no \"step\" key"));

    let (_, r) = h
        .run(
            "clean.execute_clean_step",
            json!({"step": {"step": "burnin_cpu"}, "node": node, "ports": []}),
            true,
        )
        .await;
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(
        r["command_error"],
        json!({"type": "HardwareManagerMethodNotFound", "code": 500, "message": "No HardwareManager found to handle method", "details": "Could not find method: burnin_cpu"})
    );

    let (_, r) = h.run("clean.execute_clean_step", json!({"step": {"step": "erase_devices_metadata", "args": {"bogus": 1}}, "node": node, "ports": []}), true).await;
    assert_eq!(r["command_status"], "FAILED");
    assert_eq!(r["command_error"]["type"], "CleaningError");

    // The matching version and no devices: the step succeeds and echoes itself.
    let (_, r) = h.run("clean.execute_clean_step", json!({"step": step, "node": node, "ports": [], "clean_version": {"generic_hardware_manager": "1.2"}}), true).await;
    assert_eq!(r["command_status"], "SUCCEEDED", "{r}");
    assert_eq!(
        r["command_result"],
        json!({"clean_result": null, "clean_step": step})
    );
}
