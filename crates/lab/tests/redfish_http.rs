//! The lab's BMCs on the wire, request by request: what a Redfish client that is not ferric's
//! driver (sushy, curl, a vendor tool) sees. Sessions, basic auth, the error bodies and their
//! statuses, PATCH validation, ETags and If-Match, the vendor quirks.

use ferric_lab::profiles::{MachineSpec, Profile, RACK_SIZE};
use ferric_lab::{Bind, BootEnabled, BootTarget, Lab, LabConfig, LabEvent, PowerDelay, PowerState};
use serde_json::{json, Value};

const BASIC: (&str, &str) = ("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="); // admin:password

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == &k.to_ascii_lowercase()).map(|(_, v)| v.as_str())
    }

    /// The Redfish error's message id.
    fn message_id(&self) -> &str {
        self.body["error"]["@Message.ExtendedInfo"][0]["MessageId"].as_str().unwrap_or("")
    }
}

async fn req(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        r += &format!("{k}: {v}\r\n");
    }
    r += "\r\n";
    r += body;
    s.write_all(r.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())) };
    Reply { status, headers, body }
}

/// Dell compute, Supermicro storage, HPE edge, Lenovo compute.
async fn lab() -> (Lab, tokio::sync::mpsc::UnboundedReceiver<LabEvent>) {
    let specs = vec![
        MachineSpec::generate(Profile::Compute1u, 0, 4),
        MachineSpec::generate(Profile::Storage2u, 1, 4),
        MachineSpec::generate(Profile::Edge, 3, 4),
        MachineSpec::generate(Profile::Compute1u, RACK_SIZE, 4),
    ];
    assert_eq!(specs.iter().map(|s| s.system.vendor.as_ref()).collect::<Vec<_>>(), ["Dell Inc.", "Supermicro", "HPE", "Lenovo"]);
    Lab::start(specs, LabConfig { bind: Bind::PerMachine { port: 0 }, power_delay: PowerDelay::ZERO, ..Default::default() }).await.unwrap()
}

fn addr(lab: &Lab, i: usize) -> String {
    lab.endpoint(i).listen.to_string()
}

#[tokio::test]
async fn the_service_root_is_open_and_points_at_sessions() {
    let (lab, _rx) = lab().await;
    let a = addr(&lab, 0);
    for p in ["/redfish/v1/", "/redfish/v1"] {
        let r = req(&a, "GET", p, &[], "").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["Links"]["Sessions"]["@odata.id"], "/redfish/v1/SessionService/Sessions");
        assert_eq!(r.body["SessionService"]["@odata.id"], "/redfish/v1/SessionService");
        assert_eq!(r.body["Systems"]["@odata.id"], "/redfish/v1/Systems");
        assert_eq!(r.header("OData-Version"), Some("4.0"));
        assert!(r.header("ETag").unwrap().starts_with("W/\""));
    }
    assert_eq!(req(&a, "GET", "/redfish", &[], "").await.body, json!({"v1": "/redfish/v1/"}));
    // Everything else needs credentials.
    let r = req(&a, "GET", "/redfish/v1/Systems", &[], "").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.message_id(), "Base.1.15.NoValidSession");
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Basic realm="));
    let systems = req(&a, "GET", "/redfish/v1/Systems", &[BASIC], "").await;
    assert_eq!(systems.body["Members"], json!([{"@odata.id": "/redfish/v1/Systems/System.Embedded.1"}]));
    assert_eq!(systems.body["Members@odata.count"], 1);
}

#[tokio::test]
async fn sessions_are_created_used_listed_and_deleted() {
    let (lab, _rx) = lab().await;
    let a = addr(&lab, 3);
    let r = req(&a, "POST", "/redfish/v1/SessionService/Sessions", &[("Content-Type", "application/json")], r#"{"UserName": "admin", "Password": "password"}"#).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.header("X-Auth-Token").unwrap().to_string();
    let location = r.header("Location").unwrap().to_string();
    assert_eq!(location, "/redfish/v1/SessionService/Sessions/1");
    assert_eq!(r.body["@odata.id"], location.as_str());
    assert_eq!(r.body["UserName"], "admin");
    let auth = [("X-Auth-Token", token.as_str())];
    let sys = req(&a, "GET", "/redfish/v1/Systems/1", &auth, "").await;
    assert_eq!((sys.status, &sys.body["Manufacturer"]), (200, &json!("Lenovo")));
    let list = req(&a, "GET", "/redfish/v1/SessionService/Sessions", &auth, "").await;
    assert_eq!(list.body["Members"], json!([{"@odata.id": location}]));
    let svc = req(&a, "GET", "/redfish/v1/SessionService", &auth, "").await;
    assert_eq!((&svc.body["SessionTimeout"], &svc.body["ServiceEnabled"]), (&json!(1800), &json!(true)));
    // A wrong password and missing fields.
    let bad = req(&a, "POST", "/redfish/v1/SessionService/Sessions", &[], r#"{"UserName": "admin", "Password": "nope"}"#).await;
    assert_eq!((bad.status, bad.message_id()), (401, "Base.1.15.ResourceAtUriUnauthorized"));
    assert!(bad.header("X-Auth-Token").is_none());
    assert!(!bad.body.to_string().contains("nope"));
    let missing = req(&a, "POST", "/redfish/v1/SessionService/Sessions", &[], r#"{"UserName": "admin"}"#).await;
    assert_eq!((missing.status, missing.message_id()), (400, "Base.1.15.PropertyMissing"));
    // Logout: the token is dead.
    assert_eq!(req(&a, "DELETE", &location, &auth, "").await.status, 204);
    let after = req(&a, "GET", "/redfish/v1/Systems/1", &auth, "").await;
    assert_eq!((after.status, after.message_id()), (401, "Base.1.15.NoValidSession"));
    assert_eq!(req(&a, "DELETE", &location, &[BASIC], "").await.status, 404);
    // Unknown token, wrong basic password.
    assert_eq!(req(&a, "GET", "/redfish/v1/Systems", &[("X-Auth-Token", "0123")], "").await.status, 401);
    let wrong = req(&a, "GET", "/redfish/v1/Systems", &[("Authorization", "Basic YWRtaW46d3Jvbmc=")], "").await;
    assert_eq!((wrong.status, wrong.message_id()), (401, "Base.1.15.ResourceAtUriUnauthorized"));
    assert!(wrong.body["error"]["message"].as_str().unwrap().contains("Invalid username or password"));
}

#[tokio::test]
async fn unknown_resources_wrong_methods_and_bad_bodies_get_redfish_errors() {
    let (lab, _rx) = lab().await;
    let a = addr(&lab, 0);
    let sys = lab.endpoint(0).system_path.clone();
    let r = req(&a, "GET", "/redfish/v1/Systems/1", &[BASIC], "").await;
    assert_eq!((r.status, r.message_id()), (404, "Base.1.15.ResourceNotFound"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("/redfish/v1/Systems/1"));
    assert_eq!(req(&a, "GET", "/redfish/v1/Nowhere", &[BASIC], "").await.status, 404);
    assert_eq!(req(&a, "GET", "/redfish/v1/Nowhere", &[], "").await.status, 401, "credentials first, as a real BMC");
    let r = req(&a, "DELETE", &sys, &[BASIC], "").await;
    assert_eq!((r.status, r.message_id()), (405, "Base.1.15.OperationNotAllowed"));
    assert_eq!(r.header("Allow"), Some("GET, HEAD, PATCH"));
    let r = req(&a, "GET", &format!("{sys}/Actions/ComputerSystem.Reset"), &[BASIC], "").await;
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));

    let reset = format!("{sys}/Actions/ComputerSystem.Reset");
    for (body, status, id) in [
        ("not json", 400, "MalformedJSON"),
        ("[1]", 400, "MalformedJSON"),
        ("{}", 400, "ActionParameterMissing"),
        (r#"{"ResetType": 5}"#, 400, "ActionParameterValueTypeError"),
        (r#"{"ResetType": "Nmi"}"#, 400, "ActionParameterValueNotInList"),
    ] {
        let r = req(&a, "POST", &reset, &[BASIC], body).await;
        assert_eq!((r.status, r.message_id()), (status, format!("Base.1.15.{id}").as_str()), "{body}: {}", r.body);
    }
    for (body, status, id) in [
        ("{", 400, "MalformedJSON"),
        ("{}", 400, "EmptyJSON"),
        (r#"{"Boot": {}}"#, 400, "EmptyJSON"),
        (r#"{"PowerState": "On"}"#, 400, "PropertyNotWritable"),
        (r#"{"Colour": "blue"}"#, 400, "PropertyUnknown"),
        (r#"{"Boot": "Pxe"}"#, 400, "PropertyValueTypeError"),
        (r#"{"Boot": {"BootSourceOverrideTarget": 1}}"#, 400, "PropertyValueTypeError"),
        (r#"{"Boot": {"BootSourceOverrideTarget": "Floppy"}}"#, 400, "PropertyValueNotInList"),
        (r#"{"Boot": {"BootSourceOverrideMode": "Uefi"}}"#, 400, "PropertyValueNotInList"),
        (r#"{"Boot": {"BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe"]}}"#, 400, "PropertyNotWritable"),
        (r#"{"Boot": {"BootOrder": ["Pxe"]}}"#, 400, "PropertyUnknown"),
        // Dell offers no Continuous.
        (r#"{"Boot": {"BootSourceOverrideEnabled": "Continuous"}}"#, 400, "PropertyValueNotInList"),
    ] {
        let r = req(&a, "PATCH", &sys, &[BASIC], body).await;
        assert_eq!((r.status, r.message_id()), (status, format!("Base.1.15.{id}").as_str()), "{body}: {}", r.body);
    }
    let big = format!(r#"{{"Boot": {{"BootSourceOverrideTarget": "{}"}}}}"#, "x".repeat(70_000));
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC], &big).await.status, 413);
    // Nothing of that changed the machine.
    let m = lab.machine(0);
    assert_eq!((m.power_state(), m.boot_override().target, m.boots()), (PowerState::Off, BootTarget::None, 0));
}

#[tokio::test]
async fn etags_follow_the_state_and_if_match_guards_changes() {
    let (lab, mut rx) = lab().await;
    // Lenovo: no quirks.
    let a = addr(&lab, 3);
    let sys = lab.endpoint(3).system_path.clone();
    let first = req(&a, "GET", &sys, &[BASIC], "").await;
    let tag = first.header("ETag").unwrap().to_string();
    assert_eq!(req(&a, "GET", &sys, &[BASIC], "").await.header("ETag"), Some(tag.as_str()), "stable while nothing changes");
    let allowed = &first.body["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"];
    assert_eq!(allowed, &json!(["None", "Pxe", "Hdd", "Cd", "Usb", "BiosSetup", "UefiHttp"]));
    assert_eq!(first.body["Boot"]["BootSourceOverrideEnabled@Redfish.AllowableValues"], json!(["Disabled", "Once", "Continuous"]));
    assert_eq!(
        first.body["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"],
        json!(["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PushPowerButton"])
    );
    // A stale or a good If-Match.
    let patch = r#"{"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}"#;
    let r = req(&a, "PATCH", &sys, &[BASIC, ("If-Match", "W/\"0000000000000000\"")], patch).await;
    assert_eq!((r.status, r.message_id()), (412, "Base.1.15.PreconditionFailed"));
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC, ("If-Match", &tag)], patch).await.status, 204);
    let after = req(&a, "GET", &sys, &[BASIC], "").await;
    assert_ne!(after.header("ETag"), Some(tag.as_str()));
    assert_eq!(after.body["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(after.body["Boot"]["BootSourceOverrideEnabled"], "Once");
    // Power on: it boots the network, consumes the override, the ETag moves again.
    assert_eq!(req(&a, "POST", &format!("{sys}/Actions/ComputerSystem.Reset"), &[BASIC], r#"{"ResetType": "On"}"#).await.status, 204);
    assert!(matches!(rx.try_recv(), Ok(LabEvent::NetBoot { machine: 3, .. })));
    let on = req(&a, "GET", &sys, &[BASIC], "").await;
    assert_eq!((&on.body["PowerState"], &on.body["Boot"]["BootSourceOverrideEnabled"]), (&json!("On"), &json!("Disabled")));
    assert_ne!(on.header("ETag"), after.header("ETag"));
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC, ("If-Match", "*")], r#"{"Boot": {"BootSourceOverrideTarget": "Hdd"}}"#).await.status, 204);
}

#[tokio::test]
async fn vendor_quirks_supermicro_if_match_and_hpe_mode_reset() {
    let (lab, _rx) = lab().await;
    // Supermicro: a PATCH of the system without If-Match is refused.
    let (a, sys) = (addr(&lab, 1), lab.endpoint(1).system_path.clone());
    assert_eq!(sys, "/redfish/v1/Systems/1");
    let patch = r#"{"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"}}"#;
    let r = req(&a, "PATCH", &sys, &[BASIC], patch).await;
    assert_eq!((r.status, r.message_id()), (428, "Base.1.15.PreconditionRequired"));
    let tag = req(&a, "GET", &sys, &[BASIC], "").await.header("ETag").unwrap().to_string();
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC, ("If-Match", &tag)], patch).await.status, 204);
    assert_eq!(lab.machine(1).boot_override().enabled, BootEnabled::Continuous);

    // HPE (legacy BIOS): an override PATCH without the mode puts UEFI back.
    let (a, sys) = (addr(&lab, 2), lab.endpoint(2).system_path.clone());
    let m = lab.machine(2);
    assert_eq!(m.boot_override().mode.as_str(), "Legacy");
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC], r#"{"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideMode": "Legacy"}}"#).await.status, 204);
    assert_eq!(m.boot_override().mode.as_str(), "Legacy");
    assert_eq!(req(&a, "PATCH", &sys, &[BASIC], r#"{"Boot": {"BootSourceOverrideTarget": "Pxe"}}"#).await.status, 204);
    assert_eq!(m.boot_override().mode.as_str(), "UEFI");
    // HPE lists the empty DIMM slots, Absent; the others only the populated ones.
    let mem = req(&a, "GET", &format!("{sys}/Memory"), &[BASIC], "").await;
    assert_eq!(mem.body["Members@odata.count"], m.spec.dimms.len());
    let empty = m.spec.dimms.iter().position(|d| d.is_empty()).unwrap();
    let slot = req(&a, "GET", mem.body["Members"][empty]["@odata.id"].as_str().unwrap(), &[BASIC], "").await;
    assert_eq!(slot.body["Status"]["State"], "Absent");
    let dell = req(&addr(&lab, 0), "GET", &format!("{}/Memory", lab.endpoint(0).system_path), &[BASIC], "").await;
    assert_eq!(dell.body["Members@odata.count"], lab.machine(0).spec.dimms.iter().filter(|d| !d.is_empty()).count());

    // Without quirks every vendor is standard.
    let spec = MachineSpec::generate(Profile::Storage2u, 1, 4);
    let (plain, _rx2) = Lab::start(vec![spec], LabConfig { bind: Bind::PerMachine { port: 0 }, power_delay: PowerDelay::ZERO, vendor_quirks: false, ..Default::default() }).await.unwrap();
    assert_eq!(req(&addr(&plain, 0), "PATCH", "/redfish/v1/Systems/1", &[BASIC], patch).await.status, 204);
}

#[tokio::test]
async fn every_resource_a_system_links_resolves() {
    let (lab, _rx) = lab().await;
    for i in 0..lab.len() {
        let a = addr(&lab, i);
        // Walk every @odata.id reachable from the service root.
        let mut todo = vec!["/redfish/v1/".to_string()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(p) = todo.pop() {
            let p = p.split('#').next().unwrap().to_string();
            if !seen.insert(p.clone()) {
                continue;
            }
            let r = req(&a, "GET", &p, &[BASIC], "").await;
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            assert!(r.header("ETag").is_some(), "{p}");
            fn links(v: &Value, out: &mut Vec<String>) {
                match v {
                    Value::Object(m) => {
                        for (k, x) in m {
                            if k == "@odata.id" {
                                out.push(x.as_str().unwrap().to_string());
                            } else {
                                links(x, out);
                            }
                        }
                    }
                    Value::Array(a) => a.iter().for_each(|x| links(x, out)),
                    _ => {}
                }
            }
            links(&r.body, &mut todo);
        }
        let spec = &lab.machine(i).spec;
        let members = seen.iter().filter(|p| p.contains("/Drives/")).count();
        assert_eq!(members, spec.disks.len(), "{}", spec.name);
        assert!(seen.len() > 15, "{}: {seen:?}", spec.name);
    }
}

#[tokio::test]
async fn a_delayed_power_change_reads_as_in_progress() {
    let spec = MachineSpec::generate(Profile::Gpu, 2, 4);
    let delay = PowerDelay::fixed(std::time::Duration::from_millis(300));
    let (lab, mut rx) = Lab::start(vec![spec], LabConfig { bind: Bind::PerMachine { port: 0 }, power_delay: delay, ..Default::default() }).await.unwrap();
    let a = addr(&lab, 0);
    let sys = lab.endpoint(0).system_path.clone();
    let tag = req(&a, "GET", &sys, &[BASIC], "").await.header("ETag").unwrap().to_string();
    assert_eq!(req(&a, "POST", &format!("{sys}/Actions/ComputerSystem.Reset"), &[BASIC], r#"{"ResetType": "On"}"#).await.status, 204);
    assert_eq!(req(&a, "GET", &sys, &[BASIC], "").await.body["PowerState"], "PoweringOn");
    assert!(rx.try_recv().is_err(), "not booted yet");
    let e = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(e, LabEvent::LocalBoot { machine: 0, device: BootTarget::Hdd });
    let on = req(&a, "GET", &sys, &[BASIC], "").await;
    assert_eq!(on.body["PowerState"], "On");
    assert_ne!(on.header("ETag"), Some(tag.as_str()));
}
