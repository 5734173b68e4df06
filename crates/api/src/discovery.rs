//! `GET /`, `GET /v1`, `/v1/drivers` and `/v1/conductors`.

use crate::wire::{links, parse_bool, ts, ts1};
use crate::{ApiError, ApiResult, ApiVersion, AppState, BaseUrl};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::version::{self, feature as f, Version};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/drivers", get(drivers))
        .route("/drivers/{name}", get(driver))
        .route("/drivers/{name}/properties", get(driver_properties))
        .route("/drivers/{name}/raid/logical_disk_properties", get(raid_properties))
        .route("/shards", get(shards))
        .route("/conductors", get(conductors))
        .route("/conductors/{host}", get(conductor))
}

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v1",
        "links": [{"href": format!("{base}/v1/"), "rel": "self"}],
        "status": "CURRENT",
        "min_version": version::MIN.to_string(),
        "version": version::MAX.to_string(),
    })
}

pub async fn root(BaseUrl(b): BaseUrl) -> Json<Value> {
    Json(json!({
        "name": "OpenStack Ironic API",
        "description": "Ironic is an OpenStack project which enables the provision and management of baremetal machines. This endpoint is served by ferric.",
        "default_version": version_doc(&b),
        "versions": [version_doc(&b)],
    }))
}

pub async fn v1(ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl) -> Json<Value> {
    let res = |name: &str| json!([{"href": format!("{b}/v1/{name}/"), "rel": "self"}, {"href": format!("{b}/{name}/"), "rel": "bookmark"}]);
    let mut m = Map::new();
    m.insert("id".into(), json!("v1"));
    m.insert(
        "links".into(),
        json!([{"href": format!("{b}/v1/"), "rel": "self"},
               {"href": "https://docs.openstack.org//ironic/latest/contributor//webapi.html", "rel": "describedby", "type": "text/html"}]),
    );
    m.insert("media_types".into(), json!({"base": "application/json", "type": "application/vnd.openstack.ironic.v1+json"}));
    for r in ["chassis", "nodes", "ports", "drivers"] {
        m.insert(r.into(), res(r));
    }
    m.insert("version".into(), version_doc(&b));
    let gated = [
        ("portgroups", f::PORTGROUPS),
        ("lookup", f::LOOKUP_HEARTBEAT),
        ("heartbeat", f::LOOKUP_HEARTBEAT),
        ("volume", f::VOLUME),
        ("conductors", f::CONDUCTORS),
        ("allocations", f::ALLOCATIONS),
        ("events", f::EVENTS),
        ("shards", f::SHARD),
        ("deploy_templates", f::DEPLOY_TEMPLATES),
        ("runbooks", f::RUNBOOKS),
        ("inspection_rules", f::RULES),
    ];
    for (name, min) in gated {
        if v.at_least(min) {
            m.insert(name.into(), res(name));
        }
    }
    Json(Value::Object(m))
}

fn driver_json(s: &AppState, name: &str, v: Version, base: &str, detail: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("hosts".into(), json!([s.conductor.host()]));
    m.insert("links".into(), links(base, &format!("drivers/{name}")));
    if v.at_least(f::LINKS_STATES_PROPERTIES) {
        m.insert("properties".into(), links(base, &format!("drivers/{name}/properties")));
    }
    if v.at_least(f::DYNAMIC_DRIVERS) {
        m.insert("type".into(), json!("dynamic"));
        if detail {
            if let Some(ht) = s.conductor.drivers().hardware_type(name) {
                for kind in ferric_core::Interfaces::KINDS {
                    if !v.at_least(version::interface_min(kind)) {
                        continue;
                    }
                    let supported = ht.supported.get(kind).cloned().unwrap_or_default();
                    m.insert(format!("default_{kind}_interface"), json!(supported.first()));
                    m.insert(format!("enabled_{kind}_interfaces"), json!(supported));
                }
            }
        }
    }
    Value::Object(m)
}

async fn drivers(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if (q.contains_key("type") || q.contains_key("detail")) && !v.at_least(f::DYNAMIC_DRIVERS) {
        return Err(ApiError::too_old(f::DYNAMIC_DRIVERS));
    }
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?.unwrap_or(false);
    let fields = driver_fields(&q, v)?;
    let list: Vec<Value> = match q.get("type").map(String::as_str) {
        None | Some("dynamic") => s
            .conductor
            .drivers()
            .hardware_types
            .keys()
            .map(|n| select_driver(driver_json(&s, n, v, &b, detail || fields.is_some()), &fields))
            .collect(),
        Some("classic") => Vec::new(),
        Some(other) => return Err(ApiError::bad_request(format!("Invalid driver type \"{other}\": the valid types are \"classic\" and \"dynamic\""))),
    };
    Ok(Json(json!({"drivers": list})))
}

async fn driver(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(name): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    let fields = driver_fields(&q, v)?;
    if s.conductor.drivers().hardware_type(&name).is_none() {
        return Err(ApiError::not_found(format!("Could not find the following driver(s) or hardware type(s): {name}.")));
    }
    Ok(Json(select_driver(driver_json(&s, &name, v, &b, true), &fields)))
}

/// `?fields=` on drivers (API 1.77).
fn driver_fields(q: &HashMap<String, String>, v: Version) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = q.get("fields") else { return Ok(None) };
    if !v.at_least(f::DRIVER_FIELDS) {
        return Err(ApiError::too_old(f::DRIVER_FIELDS));
    }
    Ok(Some(raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()))
}

fn select_driver(d: Value, fields: &Option<Vec<String>>) -> Value {
    match (d, fields) {
        (Value::Object(mut m), Some(f)) => {
            m.retain(|k, _| k == "links" || f.iter().any(|x| x == k));
            Value::Object(m)
        }
        (d, _) => d,
    }
}

async fn driver_properties(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let props = s
        .conductor
        .drivers()
        .properties(&name)
        .ok_or_else(|| ApiError::not_found(format!("Could not find the following driver(s) or hardware type(s): {name}.")))?;
    Ok(Json(Value::Object(props)))
}

async fn raid_properties(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::RAID_CONFIG) {
        return Err(ApiError::too_old(f::RAID_CONFIG));
    }
    if s.conductor.drivers().hardware_type(&name).is_none() {
        return Err(ApiError::not_found(format!("Could not find the following driver(s) or hardware type(s): {name}.")));
    }
    // The logical disk schema every RAID interface shares (ironic/drivers/raid_config_schema.json).
    Ok(Json(json!({
        "raid_level": "RAID level for the logical disk. Valid values are 'JBOD', '0', '1', '2', '5', '6', '1+0', '5+0' and '6+0'. Required.",
        "size_gb": "Size (Integer) of the logical disk to be created in GiB. 'MAX' may be specified if the logical disk should use all of the remaining space available. Required.",
        "volume_name": "Name of the volume. Should be unique within the Node. Optional.",
        "is_root_volume": "Specifies whether this disk is a root volume. By default, this is False. Optional.",
        "share_physical_disks": "Specifies whether other logical disks can share physical disks with this logical disk. By default, this is False. Optional.",
        "disk_type": "The type of disk preferred. Valid values are 'hdd' and 'ssd'. If this is not specified, disk type will not be a selection criterion for choosing backing physical disks. Optional.",
        "interface_type": "The interface type of disk. Valid values are 'sata', 'scsi' and 'sas'. If this is not specified, interface type will not be a selection criterion for choosing backing physical disks. Optional.",
        "number_of_physical_disks": "Number of physical disks to use for this logical disk. By default, the driver uses the minimum number of disks required for that RAID level. Optional.",
        "controller": "Controller to use for this logical disk. If not specified, the driver will choose a suitable RAID controller on the bare metal node. Optional.",
        "physical_disks": "The physical disks to use for this logical disk. If not specified, the driver will choose suitable physical disks to use. Optional."
    })))
}

async fn conductors(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::CONDUCTORS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?.unwrap_or(false);
    let list = s.store().list_conductors().await?;
    let items: Vec<Value> = list.iter().map(|c| conductor_json(c, &b, detail)).collect();
    Ok(Json(json!({"conductors": items})))
}

fn conductor_json(c: &ferric_core::Conductor, b: &str, detail: bool) -> Value {
    let mut m = Map::new();
    m.insert("hostname".into(), json!(c.hostname));
    m.insert("conductor_group".into(), json!(c.conductor_group));
    m.insert("alive".into(), json!(c.online));
    m.insert("links".into(), links(b, &format!("conductors/{}", c.hostname)));
    if detail {
        m.insert("drivers".into(), json!(c.drivers));
        m.insert("created_at".into(), ts1(&c.created_at));
        m.insert("updated_at".into(), ts(&c.updated_at));
    }
    Value::Object(m)
}

async fn conductor(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(host): Path<String>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::CONDUCTORS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let c = s
        .store()
        .list_conductors()
        .await?
        .into_iter()
        .find(|c| c.hostname == host)
        .ok_or_else(|| ApiError::not_found(format!("Conductor {host} could not be found.")))?;
    Ok(Json(conductor_json(&c, &b, true)))
}

async fn shards(State(s): State<AppState>, ApiVersion(v): ApiVersion) -> ApiResult<Json<Value>> {
    if !v.at_least(f::SHARD) {
        return Err(ApiError::not_found("The API version does not allow shards"));
    }
    let list: Vec<Value> = s
        .store()
        .shard_counts()
        .await?
        .into_iter()
        .map(|(name, count)| json!({"name": name.unwrap_or_else(|| "None".into()), "count": count}))
        .collect();
    Ok(Json(json!({"shards": list})))
}
