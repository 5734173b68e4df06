//! `/v1/ports` and `/v1/portgroups`.

use crate::nodes::find as find_node;
use crate::wire::{self, collection, links, opt_str, parse_bool, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::version::{feature as f, Version};
use ferric_core::{validate, Port, Portgroup};
use ferric_store::{PortFilter, PortgroupFilter};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ports", get(list_ports).post(create_port))
        .route("/ports/detail", get(list_ports_detail))
        .route("/ports/{port}", get(show_port).patch(patch_port).delete(delete_port))
        .route("/portgroups", get(list_portgroups).post(create_portgroup))
        .route("/portgroups/detail", get(list_portgroups_detail))
        .route("/portgroups/{pg}", get(show_portgroup).patch(patch_portgroup).delete(delete_portgroup))
        .route("/portgroups/{pg}/ports", get(portgroup_ports))
        .route("/portgroups/{pg}/ports/detail", get(portgroup_ports_detail))
}

// ------------------------------------------------------------------------------------- ports

const PORT_FIELDS: &[(&str, u16)] = &[
    ("uuid", 1), ("address", 1), ("node_uuid", 1), ("extra", 1), ("created_at", 1), ("updated_at", 1),
    ("internal_info", f::PORT_INTERNAL_INFO), ("local_link_connection", f::PORT_ADVANCED_NET),
    ("pxe_enabled", f::PORT_ADVANCED_NET), ("portgroup_uuid", f::PORTGROUP_SUBCONTROLLERS),
    ("physical_network", f::PHYSICAL_NETWORK), ("is_smartnic", f::SMARTNIC), ("name", f::PORT_NAME),
];

/// The keys of an OVN VTEP switch in `local_link_connection` (API 1.90).
const VTEP_KEYS: &[&str] = &["vtep-logical-switch", "vtep-physical-switch"];

/// Ironic's `_check_allowed_port_fields`: asking for a field of a later version is a 406.
fn check_field_versions(fields: Option<&String>, v: Version) -> ApiResult<()> {
    let Some(fields) = fields else { return Ok(()) };
    for name in fields.split(',').map(str::trim) {
        if PORT_FIELDS.iter().any(|(n, min)| *n == name && !v.at_least(*min)) {
            return Err(ApiError::not_acceptable("Request not acceptable."));
        }
    }
    Ok(())
}

fn port_field_names(v: Version) -> Vec<&'static str> {
    PORT_FIELDS.iter().filter(|(_, m)| v.at_least(*m)).map(|(n, _)| *n).collect()
}

fn port_json(p: &Port, v: Version, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for name in port_field_names(v) {
        let val = match name {
            "uuid" => json!(p.uuid),
            "address" => json!(p.address),
            "node_uuid" => json!(p.node_uuid),
            "extra" => Value::Object(p.extra.clone()),
            "created_at" => ts1(&p.created_at),
            "updated_at" => ts(&p.updated_at),
            "internal_info" => Value::Object(p.internal_info.clone()),
            // Before 1.90 a link to an OVN VTEP switch is shown empty, as Ironic does.
            "local_link_connection" if !v.at_least(f::OVN_VTEP) && VTEP_KEYS.iter().any(|k| p.local_link_connection.contains_key(*k)) => {
                Value::Object(Map::new())
            }
            "local_link_connection" => Value::Object(p.local_link_connection.clone()),
            "pxe_enabled" => json!(p.pxe_enabled),
            "portgroup_uuid" => opt_str(&p.portgroup_uuid),
            "physical_network" => opt_str(&p.physical_network),
            "is_smartnic" => json!(p.is_smartnic),
            "name" => opt_str(&p.name),
            _ => Value::Null,
        };
        m.insert(name.into(), val);
    }
    m.insert("links".into(), links(base, &format!("ports/{}", p.uuid)));
    m
}

fn port_summary(p: &Port, base: &str) -> Value {
    json!({"uuid": p.uuid, "address": p.address, "links": links(base, &format!("ports/{}", p.uuid))})
}

async fn ports_collection(s: &AppState, v: Version, b: &str, q: HashMap<String, String>, mut detail: bool, path: &str, mut flt: PortFilter) -> ApiResult<Value> {
    if let Some(d) = q.get("detail") {
        if !v.at_least(f::DETAIL_PARAM) {
            return Err(ApiError::too_old(f::DETAIL_PARAM));
        }
        detail = parse_bool("detail", d)?;
    }
    if q.contains_key("fields") && v.at_least(f::FIELDS) {
        check_field_versions(q.get("fields"), v)?;
    }
    let fields = wire::parse_fields(q.get("fields"), v, &port_field_names(v))?;
    if let Some(node) = q.get("node").or(q.get("node_uuid")) {
        flt.node_uuid = Some(find_node(s, node, v).await.map_err(|_| ApiError::bad_request(format!("Node {node} could not be found.")))?.uuid);
    }
    if let Some(pg) = q.get("portgroup") {
        if !v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
            return Err(ApiError::too_old(f::PORTGROUP_SUBCONTROLLERS));
        }
        flt.portgroup_uuid = Some(s.store().get_portgroup(pg).await?.uuid);
    }
    if let Some(a) = q.get("address") {
        flt.address = Some(validate::normalize_mac(a).unwrap_or_else(|| a.clone()));
    }
    if let Some(shards) = q.get("shard") {
        if !v.at_least(f::SHARD) {
            return Err(ApiError::too_old(f::SHARD));
        }
        let nf = ferric_store::NodeFilter { shard: Some(shards.split(',').map(str::to_string).collect()), ..Default::default() };
        let nodes = s.store().list_nodes(nf, Default::default()).await?;
        flt.node_uuids = Some(nodes.into_iter().map(|n| n.uuid).collect());
    }
    let sortable = ["uuid", "address", "created_at", "updated_at", "node_uuid", "pxe_enabled", "physical_network", "portgroup_uuid", "name"];
    let lq = wire::list_query(&q, s.config.max_limit, &sortable)?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let ports = s.store().list_ports(flt, lq).await?;
    let last = ports.last().map(|p| p.uuid.clone());
    let items = ports
        .iter()
        .map(|p| if detail { Value::Object(port_json(p, v, b)) } else if fields.is_some() { wire::select(port_json(p, v, b), &fields) } else { port_summary(p, b) })
        .collect();
    Ok(collection("ports", items, last, limit, b, path, &q))
}

async fn list_ports(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    Ok(Json(ports_collection(&s, v, &b, q, false, "ports", PortFilter::default()).await?))
}

async fn list_ports_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if q.contains_key("detail") {
        return Err(ApiError::bad_request("The \"detail\" parameter cannot be used on the /detail resource"));
    }
    Ok(Json(ports_collection(&s, v, &b, q, true, "ports/detail", PortFilter::default()).await?))
}

pub async fn node_ports(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    let n = find_node(&s, &id, v).await?;
    let path = format!("nodes/{id}/ports");
    Ok(Json(ports_collection(&s, v, &b, q, false, &path, PortFilter { node_uuid: Some(n.uuid), ..Default::default() }).await?))
}

pub async fn node_ports_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    let n = find_node(&s, &id, v).await?;
    let path = format!("nodes/{id}/ports/detail");
    Ok(Json(ports_collection(&s, v, &b, q, true, &path, PortFilter { node_uuid: Some(n.uuid), ..Default::default() }).await?))
}

/// A port by UUID or name, at any version (Ironic's `Port.get`; names exist from 1.88).
async fn find_port(s: &AppState, ident: &str) -> ApiResult<Port> {
    if validate::is_uuid_like(ident) {
        return Ok(s.store().get_port(ident).await?);
    }
    if validate::is_valid_logical_name(ident) {
        return Ok(s.store().get_port_by_name(ident).await?);
    }
    Err(ApiError::bad_request(format!("Expected UUID or name for port_ident: {ident}")))
}

async fn show_port(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if v.at_least(f::FIELDS) {
        check_field_versions(q.get("fields"), v)?;
    }
    let fields = wire::parse_fields(q.get("fields"), v, &port_field_names(v))?;
    let p = find_port(&s, &id).await?;
    Ok(Json(wire::select(port_json(&p, v, &b), &fields)))
}

/// Set one client-settable port field, validating it.
async fn set_port_field(s: &AppState, p: &mut Port, field: &str, val: &Value, v: Version) -> ApiResult<()> {
    // Ironic gates `name` on create only (see `create_port`); a PATCH may set it at any version.
    if let Some((_, min)) = PORT_FIELDS.iter().find(|(n, _)| *n == field && field != "name") {
        if !v.at_least(*min) {
            return Err(ApiError::too_old(*min));
        }
    }
    match field {
        "address" => {
            let a = val.as_str().ok_or_else(|| ApiError::bad_request("Mandatory field missing: address"))?;
            p.address = validate::normalize_mac(a).ok_or_else(|| ApiError::bad_request(format!("Expected a MAC address but received {a}.")))?;
        }
        "node_uuid" => {
            let n = val.as_str().ok_or_else(|| ApiError::bad_request("Mandatory field missing: node_uuid"))?;
            p.node_uuid = find_node(s, n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid;
        }
        "extra" => p.extra = dict(field, val)?,
        "local_link_connection" => {
            let mut llc = dict(field, val)?;
            check_local_link(&llc)?;
            if llc.contains_key("network_type") && !v.at_least(64) {
                return Err(ApiError::too_old(64));
            }
            if let Some(sw) = llc.get("switch_id").and_then(Value::as_str) {
                let norm = validate::normalize_switch_id(sw).ok_or_else(|| ApiError::bad_request(format!("Expected a MAC address or OpenFlow datapath ID but received {sw}.")))?;
                llc.insert("switch_id".into(), Value::String(norm));
            }
            p.local_link_connection = llc;
        }
        "pxe_enabled" => p.pxe_enabled = bool_field(field, val)?.unwrap_or(true),
        "physical_network" => p.physical_network = str_field(field, val)?,
        "is_smartnic" => p.is_smartnic = bool_field(field, val)?.unwrap_or(false),
        "name" => p.name = str_field(field, val)?,
        "portgroup_uuid" => {
            let pg = str_field(field, val)?;
            if let Some(pg) = &pg {
                let group = s.store().get_portgroup(pg).await.map_err(|_| ApiError::bad_request(format!("Portgroup {pg} could not be found.")))?;
                if group.node_uuid != p.node_uuid {
                    return Err(ApiError::bad_request("Port can not be added to a portgroup belonging to a different node."));
                }
                p.portgroup_uuid = Some(group.uuid);
            } else {
                p.portgroup_uuid = None;
            }
        }
        other => return Err(ApiError::bad_request(format!("Unknown attribute for argument port: {other}"))),
    }
    Ok(())
}

/// Ironic's `LOCAL_LINK_CONN_SCHEMA`: any of a switch port (`port_id`, `switch_id`), a smart NIC
/// (`port_id`, `hostname`), an unmanaged link (`network_type: unmanaged`), an OVN VTEP switch
/// (`port_id` and both `vtep-*` keys, API 1.90), or nothing. The VTEP keys come together.
fn check_local_link(llc: &Map<String, Value>) -> ApiResult<()> {
    const KEYS: &[&str] = &["port_id", "switch_id", "hostname", "switch_info", "network_type", "vtep-logical-switch", "vtep-physical-switch"];
    if llc.is_empty() {
        return Ok(());
    }
    let any_of = |cause: String| {
        ApiError::bad_request(format!(
            "Schema error for local_link_connection: {} is not valid under any of the given schemas. Possible root cause: {cause}",
            ferric_core::validate::py_repr(&Value::Object(llc.clone()))
        ))
    };
    let unexpected: Vec<String> = llc.keys().filter(|k| !KEYS.contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
    if !unexpected.is_empty() {
        let verb = if unexpected.len() == 1 { "was" } else { "were" };
        return Err(any_of(format!("Additional properties are not allowed ({} {verb} unexpected)", unexpected.join(", "))));
    }
    for (k, val) in llc {
        if !val.is_string() {
            return Err(any_of(format!("{} is not of type 'string'", ferric_core::validate::py_repr(val))));
        }
        if k == "network_type" && !matches!(val.as_str(), Some("managed" | "unmanaged")) {
            return Err(any_of(format!("{} is not one of ['managed', 'unmanaged']", ferric_core::validate::py_repr(val))));
        }
    }
    for (a, b) in [("vtep-logical-switch", "vtep-physical-switch"), ("vtep-physical-switch", "vtep-logical-switch")] {
        if llc.contains_key(a) && !llc.contains_key(b) {
            return Err(any_of(format!("'{b}' is a dependency of '{a}'")));
        }
    }
    let has = |k: &str| llc.contains_key(k);
    let unmanaged = llc.get("network_type").and_then(Value::as_str) == Some("unmanaged");
    if (has("port_id") && (has("switch_id") || has("hostname") || has("vtep-logical-switch"))) || unmanaged {
        return Ok(());
    }
    let missing = if !has("port_id") && !has("network_type") { "port_id" } else if has("port_id") { "switch_id" } else { "network_type" };
    if has("network_type") && !has("port_id") {
        // Only the unmanaged schema can match a link without a port: it wants `unmanaged`.
        return Err(ApiError::bad_request(format!(
            "Schema error for local_link_connection: {} is not one of ['unmanaged']",
            ferric_core::validate::py_repr(&llc["network_type"])
        )));
    }
    Err(any_of(format!("'{missing}' is a required property")))
}

fn dict(field: &str, v: &Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Expected a dict."))),
    }
}

fn str_field(field: &str, v: &Value) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Expected a string."))),
    }
}

fn bool_field(field: &str, v: &Value) -> ApiResult<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) => parse_bool(field, s).map(Some),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Expected a boolean."))),
    }
}

const PORT_WRITABLE: &[&str] = &["address", "node_uuid", "extra", "local_link_connection", "pxe_enabled", "physical_network", "is_smartnic", "name", "portgroup_uuid"];

/// A smart NIC port must say where it is plugged (API 1.53).
fn check_smartnic(p: &Port) -> ApiResult<()> {
    let has = |k: &str| p.local_link_connection.get(k).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
    if p.is_smartnic && !(has("port_id") && has("hostname")) {
        return Err(ApiError::bad_request("Smart NIC port must have port_id and hostname in local_link_connection"));
    }
    Ok(())
}

/// Ports of one portgroup must share a physical network (Ironic, API 1.34).
async fn check_physnet(s: &AppState, p: &Port) -> ApiResult<()> {
    check_smartnic(p)?;
    let Some(pg) = &p.portgroup_uuid else { return Ok(()) };
    let members = s.store().list_ports(PortFilter { portgroup_uuid: Some(pg.clone()), ..Default::default() }, Default::default()).await?;
    if let Some(other) = members.iter().find(|m| m.uuid != p.uuid && m.physical_network != p.physical_network) {
        return Err(ApiError::conflict(format!(
            "Port with physical network {} cannot become a member of port group {pg} which has ports in physical network {}.",
            p.physical_network.as_deref().unwrap_or("None"),
            other.physical_network.as_deref().unwrap_or("None")
        )));
    }
    Ok(())
}

async fn create_port(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object describing the port."))?;
    let mut p = Port { created_at: ferric_core::model::now(), ..Default::default() };
    if !obj.contains_key("address") {
        return Err(ApiError::bad_request("Mandatory field missing: address"));
    }
    // The node first: the portgroup check needs it. Ironic's schema wants exactly one of
    // `node_uuid` and (API 1.94) `node_ident`, a UUID or a name.
    let repr = || ferric_core::validate::py_repr(&body);
    match (obj.get("node_ident"), obj.get("node_uuid")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "Schema error for port: {} is valid under each of {{'required': ['node_uuid']}}, {{'required': ['node_ident']}}",
                repr()
            )))
        }
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "Schema error for port: {} is not valid under any of the given schemas. Possible root cause: 'node_ident' is a required property",
                repr()
            )))
        }
        (Some(ident), None) => {
            let ident = ident
                .as_str()
                .ok_or_else(|| ApiError::bad_request(format!("Schema error for port: {} is not of type 'string'", ferric_core::validate::py_repr(ident))))?;
            // An empty `node_ident` is no identifier at all, at any version (Ironic tests it for truth).
            if ident.is_empty() {
                return Err(ApiError::bad_request("Expected a logical name or UUID but received None."));
            }
            if !v.at_least(f::PORT_NODE_IDENT) {
                return Err(ApiError::not_acceptable("Request not acceptable."));
            }
            if !validate::is_uuid_like(ident) && !validate::is_valid_logical_name(ident) {
                return Err(ApiError::bad_request(format!("Expected a logical name or UUID but received {ident}.")));
            }
            // Ironic names the (absent) node_uuid in this error.
            p.node_uuid = find_node(&s, ident, v).await.map_err(|_| ApiError::bad_request("Node None could not be found."))?.uuid;
        }
        (None, Some(uuid)) => {
            if let Some(u) = uuid.as_str().filter(|u| !validate::is_uuid_like(u)) {
                return Err(ApiError::bad_request(format!("Expected UUID for node_uuid: {u}")));
            }
            set_port_field(&s, &mut p, "node_uuid", uuid, v).await?;
        }
    }
    if obj.contains_key("name") && !v.at_least(f::PORT_NAME) {
        return Err(ApiError::not_acceptable("Request not acceptable."));
    }
    // Before 1.90 Ironic refuses a link to an OVN VTEP switch (it tests the logical switch).
    let vtep = obj.get("local_link_connection").and_then(Value::as_object).is_some_and(|l| l.contains_key("vtep-logical-switch"));
    if vtep && !v.at_least(f::OVN_VTEP) {
        check_local_link(obj["local_link_connection"].as_object().expect("an object"))?;
        return Err(ApiError::not_acceptable("Request not acceptable."));
    }
    for (k, val) in obj {
        match k.as_str() {
            "node_uuid" | "node_ident" => {}
            "uuid" => {
                let u = val.as_str().unwrap_or_default();
                p.uuid = validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {u}.")))?;
            }
            "internal_info" | "created_at" | "updated_at" | "links" => {
                return Err(ApiError::bad_request(format!("'{k}' is an internal attribute and can not be set")))
            }
            field => set_port_field(&s, &mut p, field, val, v).await?,
        }
    }
    if p.uuid.is_empty() {
        p.uuid = uuid::Uuid::new_v4().to_string();
    }
    check_physnet(&s, &p).await?;
    let uuid = p.uuid.clone();
    let p = s.store().create_port(p).await.map_err(|e| match e {
        // Ironic's create_port reports any duplicate but the MAC address as the port's UUID.
        ferric_store::StoreError::Duplicate { field, .. } if field == "name" => {
            ApiError::conflict(format!("A port with UUID {uuid} already exists."))
        }
        other => other.into(),
    })?;
    Ok(created(format!("{b}/v1/ports/{}", p.uuid), Value::Object(port_json(&p, v, &b))))
}

async fn patch_port(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let current = find_port(&s, &id).await?;
    let roots = wire::patched_roots(&body);
    for r in &roots {
        if !PORT_WRITABLE.contains(&r.as_str()) {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
    }
    // The patch applies to the whole record, as Ironic's does: fields the version hides (the
    // port name before 1.88, a VTEP link before 1.90) are there too.
    let mut doc = Value::Object(port_json(&current, Version(u16::MAX), &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut p = current.clone();
    let mut touched = roots.clone();
    touched.sort();
    touched.dedup();
    // Move the node first, so a portgroup change is checked against the new node.
    touched.sort_by_key(|r| r != "node_uuid");
    for field in &touched {
        let val = doc.get(field).cloned().unwrap_or(Value::Null);
        if (field == "address" || field == "node_uuid") && val.is_null() {
            return Err(ApiError::bad_request(format!("'/{field}' is a mandatory attribute and can not be removed")));
        }
        set_port_field(&s, &mut p, field, &val, v).await?;
    }
    check_physnet(&s, &p).await?;
    let node = s.store().get_node(&p.node_uuid).await?;
    if let Some(holder) = node.reservation {
        return Err(ApiError::conflict(format!("Node {} is locked by host {holder}, please retry after the current operation is completed.", node.uuid)));
    }
    let p = s.store().save_port(p).await?;
    Ok(Json(Value::Object(port_json(&p, v, &b))))
}

async fn delete_port(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    // Deleting takes a UUID only, as in Ironic.
    if !validate::is_uuid_like(&id) {
        return Err(ApiError::bad_request(format!("Expected UUID for port_uuid: {id}")));
    }
    let p = find_port(&s, &id).await?;
    let node = s.store().get_node(&p.node_uuid).await?;
    if let Some(holder) = node.reservation {
        return Err(ApiError::conflict(format!("Node {} is locked by host {holder}, please retry after the current operation is completed.", node.uuid)));
    }
    s.store().delete_port(&p.uuid).await?;
    Ok(no_content())
}

// ------------------------------------------------------------------------------------- portgroups

fn pg_json(g: &Portgroup, v: Version, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(g.uuid));
    m.insert("name".into(), opt_str(&g.name));
    m.insert("address".into(), opt_str(&g.address));
    m.insert("node_uuid".into(), json!(g.node_uuid));
    m.insert("extra".into(), Value::Object(g.extra.clone()));
    m.insert("internal_info".into(), Value::Object(g.internal_info.clone()));
    m.insert("standalone_ports_supported".into(), json!(g.standalone_ports_supported));
    m.insert("created_at".into(), ts1(&g.created_at));
    m.insert("updated_at".into(), ts(&g.updated_at));
    if v.at_least(f::PORTGROUP_MODE_PROPERTIES) {
        m.insert("mode".into(), opt_str(&g.mode));
        m.insert("properties".into(), Value::Object(g.properties.clone()));
    }
    m.insert("links".into(), links(base, &format!("portgroups/{}", g.uuid)));
    m.insert("ports".into(), links(base, &format!("portgroups/{}/ports", g.uuid)));
    m
}

const PG_FIELDS: &[&str] = &["uuid", "name", "address", "node_uuid", "extra", "internal_info", "standalone_ports_supported", "created_at", "updated_at", "mode", "properties"];

fn gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::PORTGROUPS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

async fn pg_collection(s: &AppState, v: Version, b: &str, q: HashMap<String, String>, mut detail: bool, path: &str, mut flt: PortgroupFilter) -> ApiResult<Value> {
    gate(v)?;
    if let Some(d) = q.get("detail") {
        if !v.at_least(f::DETAIL_PARAM) {
            return Err(ApiError::too_old(f::DETAIL_PARAM));
        }
        detail = parse_bool("detail", d)?;
    }
    let known: Vec<&str> = PG_FIELDS.iter().copied().filter(|f| v.at_least(f::PORTGROUP_MODE_PROPERTIES) || !matches!(*f, "mode" | "properties")).collect();
    let fields = wire::parse_fields(q.get("fields"), v, &known)?;
    if let Some(node) = q.get("node").or(q.get("node_uuid")) {
        flt.node_uuid = Some(find_node(s, node, v).await.map_err(|_| ApiError::bad_request(format!("Node {node} could not be found.")))?.uuid);
    }
    if let Some(a) = q.get("address") {
        flt.address = Some(validate::normalize_mac(a).unwrap_or_else(|| a.clone()));
    }
    let lq = wire::list_query(&q, s.config.max_limit, &["uuid", "name", "address", "created_at", "updated_at", "node_uuid", "mode"])?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let groups = s.store().list_portgroups(flt, lq).await?;
    let last = groups.last().map(|g| g.uuid.clone());
    let items = groups
        .iter()
        .map(|g| {
            if detail {
                Value::Object(pg_json(g, v, b))
            } else if fields.is_some() {
                wire::select(pg_json(g, v, b), &fields)
            } else {
                json!({"uuid": g.uuid, "address": g.address, "name": g.name, "links": links(b, &format!("portgroups/{}", g.uuid))})
            }
        })
        .collect();
    Ok(collection("portgroups", items, last, limit, b, path, &q))
}

async fn list_portgroups(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    Ok(Json(pg_collection(&s, v, &b, q, false, "portgroups", PortgroupFilter::default()).await?))
}

async fn list_portgroups_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    Ok(Json(pg_collection(&s, v, &b, q, true, "portgroups/detail", PortgroupFilter::default()).await?))
}

pub async fn node_portgroups(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find_node(&s, &id, v).await?;
    let path = format!("nodes/{id}/portgroups");
    Ok(Json(pg_collection(&s, v, &b, q, false, &path, PortgroupFilter { node_uuid: Some(n.uuid), ..Default::default() }).await?))
}

pub async fn node_portgroups_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find_node(&s, &id, v).await?;
    let path = format!("nodes/{id}/portgroups/detail");
    Ok(Json(pg_collection(&s, v, &b, q, true, &path, PortgroupFilter { node_uuid: Some(n.uuid), ..Default::default() }).await?))
}

async fn portgroup_ports(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let g = s.store().get_portgroup(&id).await?;
    let path = format!("portgroups/{id}/ports");
    Ok(Json(ports_collection(&s, v, &b, q, false, &path, PortFilter { portgroup_uuid: Some(g.uuid), ..Default::default() }).await?))
}

async fn portgroup_ports_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let g = s.store().get_portgroup(&id).await?;
    let path = format!("portgroups/{id}/ports/detail");
    Ok(Json(ports_collection(&s, v, &b, q, true, &path, PortFilter { portgroup_uuid: Some(g.uuid), ..Default::default() }).await?))
}

async fn show_portgroup(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let fields = wire::parse_fields(q.get("fields"), v, PG_FIELDS)?;
    let g = s.store().get_portgroup(&id).await?;
    Ok(Json(wire::select(pg_json(&g, v, &b), &fields)))
}

async fn set_pg_field(s: &AppState, g: &mut Portgroup, field: &str, val: &Value, v: Version) -> ApiResult<()> {
    match field {
        "name" => {
            let n = str_field(field, val)?;
            if let Some(n) = &n {
                if !validate::is_valid_logical_name(n) || validate::is_uuid_like(n) {
                    return Err(ApiError::bad_request(format!("Expected a logical name but received {n}.")));
                }
            }
            g.name = n;
        }
        "address" => {
            g.address = match str_field(field, val)? {
                None => None,
                Some(a) => Some(validate::normalize_mac(&a).ok_or_else(|| ApiError::bad_request(format!("Expected a MAC address but received {a}.")))?),
            }
        }
        "node_uuid" => {
            let n = val.as_str().ok_or_else(|| ApiError::bad_request("Mandatory field missing: node_uuid"))?;
            g.node_uuid = find_node(s, n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid;
        }
        "extra" => g.extra = dict(field, val)?,
        "standalone_ports_supported" => g.standalone_ports_supported = bool_field(field, val)?.unwrap_or(true),
        "mode" | "properties" if !v.at_least(f::PORTGROUP_MODE_PROPERTIES) => return Err(ApiError::too_old(f::PORTGROUP_MODE_PROPERTIES)),
        "mode" => g.mode = str_field(field, val)?,
        "properties" => g.properties = dict(field, val)?,
        other => return Err(ApiError::bad_request(format!("Unknown attribute for argument portgroup: {other}"))),
    }
    Ok(())
}

async fn create_portgroup(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v)?;
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object describing the portgroup."))?;
    let mut g = Portgroup { created_at: ferric_core::model::now(), ..Default::default() };
    if !obj.contains_key("node_uuid") {
        return Err(ApiError::bad_request("Mandatory field missing: node_uuid"));
    }
    for (k, val) in obj {
        match k.as_str() {
            "uuid" => {
                let u = val.as_str().unwrap_or_default();
                g.uuid = validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {u}.")))?;
            }
            "internal_info" | "created_at" | "updated_at" | "links" | "ports" => {
                return Err(ApiError::bad_request(format!("'{k}' is an internal attribute and can not be set")))
            }
            field => set_pg_field(&s, &mut g, field, val, v).await?,
        }
    }
    if g.mode.is_none() {
        g.mode = Some("active-backup".into());
    }
    if g.uuid.is_empty() {
        g.uuid = uuid::Uuid::new_v4().to_string();
    }
    let g = s.store().create_portgroup(g).await?;
    Ok(created(format!("{b}/v1/portgroups/{}", g.uuid), Value::Object(pg_json(&g, v, &b))))
}

async fn patch_portgroup(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v)?;
    let current = s.store().get_portgroup(&id).await?;
    let roots = wire::patched_roots(&body);
    for r in &roots {
        if !["name", "address", "node_uuid", "extra", "standalone_ports_supported", "mode", "properties"].contains(&r.as_str()) {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
    }
    let mut doc = Value::Object(pg_json(&current, v, &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut g = current.clone();
    let mut touched = roots;
    touched.sort();
    touched.dedup();
    for field in &touched {
        let val = doc.get(field).cloned().unwrap_or(Value::Null);
        set_pg_field(&s, &mut g, field, &val, v).await?;
    }
    if g.node_uuid != current.node_uuid {
        let members = s.store().list_ports(PortFilter { portgroup_uuid: Some(g.uuid.clone()), ..Default::default() }, Default::default()).await?;
        if !members.is_empty() {
            return Err(ApiError::bad_request(format!("Portgroup {} has ports and can not be moved to another node.", g.uuid)));
        }
    }
    let g = s.store().save_portgroup(g).await?;
    Ok(Json(Value::Object(pg_json(&g, v, &b))))
}

async fn delete_portgroup(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v)?;
    let g = s.store().get_portgroup(&id).await?;
    if s.store().delete_portgroup(&g.uuid).await? > 0 {
        return Err(ApiError::bad_request(format!(
            "Cannot complete the requested action because portgroup {} contains ports.",
            g.uuid
        )));
    }
    Ok(no_content())
}
