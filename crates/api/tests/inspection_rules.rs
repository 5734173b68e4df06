//! `/v1/inspection_rules` (API 1.96) over real HTTP, against a server that accepts (without
//! advertising) versions above `MAX`. Expected texts are Ironic 39's answers to the same
//! requests (conformance/ironic_reference.sh), except where the module doc of
//! `crates/api/src/inspection_rules.rs` says ferric answers a 400 where Ironic has a 500.

use ferric_conductor::rules::RulesConfig;
use ferric_conductor::ConductorConfig;
use reqwest::Method as M;
use serde_json::{json, Value};
use std::sync::Arc;

struct Server {
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let built_in = ferric_core::rules::built_in_rules(&json!([
        {"description": "built-in one", "priority": 500, "actions": [{"op": "add-trait", "args": {"name": "CUSTOM_BUILTIN"}}]}
    ]))
    .unwrap();
    let cfg = ConductorConfig { inspection_rules: RulesConfig { built_in: Arc::new(built_in), ..Default::default() }, ..Default::default() };
    let conductor = ferric_conductor::Conductor::new(store, ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    let app = ferric_api::router(conductor, ferric_api::ApiConfig { preview_max_minor: Some(115), ..Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ferric_api::serve(listener, app, std::future::pending()));
    Server { url, client: reqwest::Client::new(), _dir: dir }
}

impl Server {
    async fn call(&self, v: &str, method: M, path: &str, body: Option<Value>) -> (u16, Value, Option<String>) {
        let mut r = self.client.request(method, format!("{}{path}", self.url)).header("X-OpenStack-Ironic-API-Version", v);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) }, location)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = self.call("1.96", M::GET, path, None).await;
        (s, b)
    }
    async fn post(&self, body: Value) -> (u16, Value) {
        let (s, b, _) = self.call("1.96", M::POST, "/v1/inspection_rules", Some(body)).await;
        (s, b)
    }
    async fn patch(&self, uuid: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = self.call("1.96", M::PATCH, &format!("/v1/inspection_rules/{uuid}"), Some(body)).await;
        (s, b)
    }
    async fn delete(&self, path: &str) -> u16 {
        self.call("1.96", M::DELETE, path, None).await.0
    }
}

/// The faultstring of an Ironic error body.
fn fault(b: &Value) -> String {
    let inner: Value = serde_json::from_str(b["error_message"].as_str().unwrap_or("{}")).unwrap_or_default();
    inner["faultstring"].as_str().unwrap_or_default().to_string()
}

const U1: &str = "11111111-2222-3333-4444-555555555555";
const U2: &str = "22222222-2222-3333-4444-555555555555";
const BUILT_IN: &str = "00000000-0000-0000-0000-000000000000";

fn sample() -> Value {
    json!({"uuid": U1, "description": "d", "priority": 5,
           "conditions": [{"op": "eq", "args": {"values": ["{node.driver}", "fake-hardware"]}}],
           "actions": [{"op": "set-plugin-data", "args": {"path": "a.b", "value": "{inventory[cpu][count]}"}},
                       {"op": "add-trait", "args": {"name": "CUSTOM_X"}, "loop": ["a"]}]})
}

#[tokio::test]
async fn below_1_96_there_are_no_inspection_rules() {
    let s = start().await;
    let msg = "The API version does not allow inspection rules";
    let (st, b, _) = s.call("1.95", M::GET, "/v1/inspection_rules", None).await;
    assert_eq!((st, fault(&b).as_str()), (404, msg));
    let (st, b, _) = s.call("1.95", M::GET, &format!("/v1/inspection_rules/{BUILT_IN}"), None).await;
    assert_eq!((st, fault(&b).as_str()), (404, msg));
    let (st, b, _) = s.call("1.95", M::POST, "/v1/inspection_rules", Some(sample())).await;
    assert_eq!((st, fault(&b).as_str()), (405, msg));
    assert_eq!(s.call("1.95", M::DELETE, "/v1/inspection_rules", None).await.0, 405);
    assert_eq!(s.call("1.95", M::PATCH, &format!("/v1/inspection_rules/{U1}"), Some(json!([]))).await.0, 405);
    assert_eq!(s.call("1.1", M::GET, "/v1/inspection_rules", None).await.0, 404);
    // The rule was not created by the refused POST.
    assert_eq!(s.get(&format!("/v1/inspection_rules/{U1}")).await.0, 404);
}

#[tokio::test]
async fn create_show_list_patch_delete() {
    let s = start().await;
    let (st, b, location) = s.call("1.96", M::POST, "/v1/inspection_rules", Some(sample())).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(location.as_deref(), Some(format!("{}/v1/inspection_rules/{U1}", s.url).as_str()));
    assert_eq!(b["uuid"], U1);
    assert_eq!((b["priority"].clone(), b["phase"].clone(), b["sensitive"].clone()), (json!(5), json!("main"), json!(false)));
    assert!(b["created_at"].is_string() && b["updated_at"].is_null());
    // Stored as Ironic stores it: the plugin-data action gains an empty plugin_data argument.
    assert_eq!(b["actions"][0]["args"], json!({"path": "a.b", "value": "{inventory[cpu][count]}", "plugin_data": {}}));
    assert_eq!(b["actions"][1], json!({"op": "add-trait", "args": {"name": "CUSTOM_X"}, "loop": ["a"]}));
    assert_eq!(b["conditions"], sample()["conditions"]);
    assert_eq!(b["links"][0]["href"], format!("{}/v1/inspection_rules/{U1}", s.url));
    assert!(b.get("built_in").is_none());

    let (st, shown) = s.get(&format!("/v1/inspection_rules/{U1}")).await;
    assert_eq!(st, 200);
    assert_eq!(shown, b);
    let (_, some) = s.get(&format!("/v1/inspection_rules/{U1}?fields=uuid,sensitive")).await;
    assert_eq!(some.as_object().unwrap().keys().collect::<Vec<_>>(), ["links", "sensitive", "uuid"]);
    let (st, e) = s.get(&format!("/v1/inspection_rules/{U1}?fields=bogus")).await;
    assert_eq!((st, fault(&e).as_str()), (400, "Field(s) \"bogus\" are not valid"));

    // The plain list: Ironic's summary fields (built-in rules also say they are built in).
    let (st, l) = s.get("/v1/inspection_rules").await;
    assert_eq!(st, 200);
    let rules = l["inspection_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["description", "links", "phase", "priority", "uuid"]);
    assert_eq!((rules[1]["uuid"].clone(), rules[1]["built_in"].clone()), (json!(BUILT_IN), json!(true)));
    let (_, d) = s.get("/v1/inspection_rules?detail=True").await;
    assert_eq!(d["inspection_rules"][0], b);
    let (_, f) = s.get("/v1/inspection_rules?fields=uuid,actions").await;
    assert_eq!(f["inspection_rules"][0]["actions"], b["actions"]);
    assert!(f["inspection_rules"][0].get("priority").is_none());

    // PATCH.
    let (st, p) = s.patch(U1, json!([{"op": "replace", "path": "/priority", "value": 7}, {"op": "add", "path": "/description", "value": "new"}])).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!((p["priority"].clone(), p["description"].clone()), (json!(7), json!("new")));
    assert!(p["updated_at"].is_string());
    assert_eq!(p["created_at"], b["created_at"]);
    let (st, p) = s.patch(U1, json!([{"op": "replace", "path": "/created_at", "value": "x"}])).await;
    assert_eq!((st, p["created_at"].clone()), (200, b["created_at"].clone()), "fields outside the schema are ignored");
    let (st, p) = s.patch(U1, json!([{"op": "remove", "path": "/conditions"}])).await;
    assert_eq!((st, p["conditions"].clone()), (200, json!([])));

    // DELETE.
    assert_eq!(s.delete(&format!("/v1/inspection_rules/{U1}")).await, 204);
    let (st, e) = s.get(&format!("/v1/inspection_rules/{U1}")).await;
    assert_eq!((st, fault(&e)), (404, format!("Rule {U1} could not be found.")));
    assert_eq!(s.delete(&format!("/v1/inspection_rules/{U1}")).await, 404);
}

#[tokio::test]
async fn validation_errors_have_ironics_texts() {
    let s = start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "Schema error: 'actions' is a required property"),
        (json!({"actions": []}), "Schema error: [] should be non-empty"),
        (json!({"actions": [{"op": "fail", "args": "x"}]}), "Schema error: 'x' is not of type 'array', 'object'"),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "priority": -1}), "Schema error: -1 is less than the minimum of 0"),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "priority": 5000.5}), "Schema error: 5000.5 is not of type 'integer'"),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "priority": 10000}), "Priority must be between 0 and 9999 for user-defined rules."),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "phase": "early"}), "Invalid phase: early. Valid phases are: main"),
        (
            json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "phase": "early", "priority": 10000}),
            "Multiple validation errors occurred: Invalid phase: early. Valid phases are: main; Priority must be between 0 and 9999 for user-defined rules.",
        ),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "bogus": 1}), "Schema error: Additional properties are not allowed ('bogus' was unexpected)"),
        (json!({"actions": [{"op": "fail", "args": {}}]}), "missing required argument(s): msg"),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x", "extra": 1}}]}), "unexpected argument(s): extra"),
        (json!({"actions": [{"op": "fail", "args": ["x"]}], "conditions": [{"op": "eq", "args": []}]}), "('Not enough arguments provided. Missing: %s', 'values')"),
        (json!({"actions": [{"op": "fail", "args": {"msg": "x"}}], "uuid": "not-a-uuid"}), "Expected a UUID but received not-a-uuid."),
    ];
    for (body, msg) in cases {
        let (st, b) = s.post(body.clone()).await;
        assert_eq!((st, fault(&b).as_str()), (400, msg), "{body}");
    }
    let (st, b) = s.post(json!({"actions": [{"op": "bogus", "args": {}}]})).await;
    assert_eq!(st, 400);
    assert!(fault(&b).starts_with("Schema error: 'bogus' is not one of ['fail', 'log', 'set-attribute', 'extend-attribute', 'del-attribute',"));
    let (st, b) = s.post(json!({"actions": [{"op": "fail", "args": ["x"]}], "conditions": [{"op": "!!eq", "args": {"values": []}}]})).await;
    assert_eq!(st, 400);
    assert!(fault(&b).starts_with("Schema error: '!!eq' is not one of ['eq', 'lt', 'gt', 'is-empty', 'in-net', 'matches', 'contains', 'one-of', 'is-none', 'is-true', 'is-false', '!eq',"));
    // Nothing was stored by the refused requests.
    assert_eq!(s.get("/v1/inspection_rules").await.1["inspection_rules"].as_array().unwrap().len(), 1);
    // Duplicates: stored and built-in UUIDs alike.
    assert_eq!(s.post(sample()).await.0, 201);
    let (st, b) = s.post(sample()).await;
    assert_eq!((st, fault(&b)), (409, format!("A rule with UUID {U1} already exists.")));
    let mut dup = sample();
    dup["uuid"] = json!(BUILT_IN);
    assert_eq!(s.post(dup).await.0, 409);
    // Path and query checks.
    let (st, b) = s.get("/v1/inspection_rules/not-a-uuid").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Schema error: 'not-a-uuid' is not a 'uuid'"));
    let (st, b) = s.get("/v1/inspection_rules?bogus=1").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Unexpected arguments: bogus"));
    let (st, b) = s.get("/v1/inspection_rules?detail=true&fields=uuid").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Can not specify ?detail=True and fields in the same request."));
    let (st, b) = s.get("/v1/inspection_rules?sort_key=actions").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Schema error: 'actions' should not be valid under {'type': 'string', 'enum': ['actions', 'conditions']}"));
    let (st, b) = s.get("/v1/inspection_rules?sort_key=bogus").await;
    assert_eq!((st, fault(&b).as_str()), (400, "The sort_key value \"bogus\" is an invalid field for sorting"));
    let (st, b) = s.get("/v1/inspection_rules?marker=11111111-2222-3333-4444-000000000000").await;
    assert_eq!((st, fault(&b).as_str()), (404, "Rule 11111111-2222-3333-4444-000000000000 could not be found."));
}

#[tokio::test]
async fn patch_errors_have_ironics_texts() {
    let s = start().await;
    assert_eq!(s.post(sample()).await.0, 201);
    let cases: Vec<(Value, u16, String)> = vec![
        (json!([{"op": "replace", "path": "/priority", "value": -7}]), 400, "Schema error for patch: -7 is less than the minimum of 0".into()),
        (json!([{"op": "replace", "path": "/priority", "value": 10000}]), 400, "Priority must be between 0 and 9999 for user-defined rules.".into()),
        (json!([{"op": "add", "path": "/bogus", "value": "x"}]), 400, "Adding a new attribute (/bogus) to the root of the resource is not allowed".into()),
        (json!([{"op": "move", "path": "/bogus", "from": "/x"}]), 400, "Schema error for patch: 'move' is not one of ['add', 'replace', 'remove']".into()),
        (json!([{"op": "remove", "path": "/actions"}]), 400, "Schema error for patch: 'actions' is a required property".into()),
        (json!([{"op": "add", "path": "/actions/0/args/bogus", "value": 1}]), 400, "unexpected argument(s): bogus".into()),
        (
            json!([{"op": "replace", "path": "/uuid", "value": "33333333-2222-3333-4444-555555555555"}]),
            404,
            "Rule 33333333-2222-3333-4444-555555555555 could not be found.".into(),
        ),
    ];
    for (patch, status, msg) in cases {
        let (st, b) = s.patch(U1, patch.clone()).await;
        assert_eq!((st, fault(&b)), (status, msg), "{patch}");
    }
    let (st, b) = s.patch(U1, json!([{"op": "replace", "path": "/actions/0/args/bogus", "value": 1}])).await;
    assert_eq!(st, 400);
    assert!(fault(&b).starts_with("Couldn't apply patch '"), "{b}");
    // Nothing changed.
    assert_eq!(s.get(&format!("/v1/inspection_rules/{U1}")).await.1["priority"], 5);
    let (st, b) = s.patch(U2, json!([{"op": "replace", "path": "/priority", "value": 1}])).await;
    assert_eq!((st, fault(&b)), (404, format!("Rule {U2} could not be found.")));
}

#[tokio::test]
async fn sensitive_rules_hide_their_contents() {
    let s = start().await;
    let mut body = sample();
    body["uuid"] = json!(U2);
    body["sensitive"] = json!(true);
    body["actions"] = json!([{"op": "set-attribute", "args": {"path": "/driver_info/ipmi_password", "value": "s3cret"}}]);
    let (st, b) = s.post(body).await;
    assert_eq!(st, 201);
    assert_eq!((b["sensitive"].clone(), b["conditions"].clone(), b["actions"].clone()), (json!(true), Value::Null, Value::Null));
    let (_, shown) = s.get(&format!("/v1/inspection_rules/{U2}")).await;
    assert!(shown["actions"].is_null() && shown["conditions"].is_null());
    let (_, d) = s.get("/v1/inspection_rules?detail=True").await;
    assert!(d["inspection_rules"][0]["actions"].is_null());
    let (_, f) = s.get("/v1/inspection_rules?fields=uuid,actions,conditions").await;
    assert!(f["inspection_rules"][0]["actions"].is_null());
    assert!(!d.to_string().contains("s3cret") && !f.to_string().contains("s3cret"), "the secret never leaves");
    let (st, e) = s.patch(U2, json!([{"op": "replace", "path": "/sensitive", "value": false}])).await;
    assert_eq!(
        (st, fault(&e).as_str()),
        (400, "Couldn't apply patch '[{'op': 'replace', 'path': '/sensitive', 'value': False}]'. Reason: Inspection rules cannot have the sensitive flag unset.")
    );
    // Other changes to a sensitive rule still answer without its contents.
    let (st, p) = s.patch(U2, json!([{"op": "replace", "path": "/priority", "value": 3}])).await;
    assert_eq!((st, p["priority"].clone(), p["actions"].clone()), (200, json!(3), Value::Null));
}

#[tokio::test]
async fn sorting_pagination_and_built_in_rules() {
    let s = start().await;
    for (i, p) in [(1, 10), (2, 30), (3, 20)] {
        let mut body = sample();
        body["uuid"] = json!(format!("00000000-0000-4000-8000-00000000000{i}"));
        body["priority"] = json!(p);
        assert_eq!(s.post(body).await.0, 201);
    }
    let prios = |v: &Value| v["inspection_rules"].as_array().unwrap().iter().map(|r| r["priority"].as_i64().unwrap()).collect::<Vec<_>>();
    let (_, l) = s.get("/v1/inspection_rules").await;
    assert_eq!(prios(&l), [10, 30, 20, 500], "id order, built-in rules last");
    let (_, l) = s.get("/v1/inspection_rules?sort_key=priority&sort_dir=desc&limit=2").await;
    assert_eq!(prios(&l), [500, 30]);
    let next = l["next"].as_str().unwrap().to_string();
    assert!(next.starts_with(&format!("{}/v1/inspection_rules?", s.url)) && next.contains("limit=2") && next.contains("marker=00000000-0000-4000-8000-000000000002"), "{next}");
    let (_, l2) = s.get(&next[s.url.len()..]).await;
    assert_eq!(prios(&l2), [20, 10]);
    assert!(l2.get("next").is_some(), "a full page links to the next one");
    let (_, l) = s.get("/v1/inspection_rules?phase=main").await;
    assert_eq!(prios(&l).len(), 4);
    let (_, l) = s.get("/v1/inspection_rules?phase=early").await;
    assert!(prios(&l).is_empty());

    // Built-in rules are shown but cannot be changed.
    let (st, b) = s.get(&format!("/v1/inspection_rules/{BUILT_IN}")).await;
    assert_eq!(st, 200);
    assert_eq!((b["built_in"].clone(), b["description"].clone()), (json!(true), json!("built-in one")));
    let msg = format!("Inspection rule {BUILT_IN} is built in and cannot be changed.");
    let (st, e) = s.patch(BUILT_IN, json!([{"op": "replace", "path": "/priority", "value": 1}])).await;
    assert_eq!((st, fault(&e)), (400, msg.clone()));
    let (st, e, _) = s.call("1.96", M::DELETE, &format!("/v1/inspection_rules/{BUILT_IN}"), None).await;
    assert_eq!((st, fault(&e)), (400, msg));

    // DELETE /v1/inspection_rules removes every stored rule, not the built-in ones.
    assert_eq!(s.delete("/v1/inspection_rules").await, 204);
    let (_, l) = s.get("/v1/inspection_rules").await;
    assert_eq!(prios(&l), [500]);
}
