//! `/v1/nodes` and its sub-resources.

use crate::wire::{self, links, mask, opt_str, parse_bool, ts, ts1, Wire};
use crate::node_view::{NodeWire, PageWriter};
use crate::{accepted, created_bytes, json_bytes, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use ferric_conductor::ProvisionArgs;
use ferric_core::version::{feature as f, Version};
use ferric_core::{fsm, validate, Event, Interfaces, Node, PowerState, ProvisionState};
use ferric_store::NodeFilter;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nodes", get(list).post(create))
        .route("/nodes/detail", get(list_detail))
        .route("/nodes/{node}", get(show).patch(patch).delete(delete))
        .route("/nodes/{node}/states", get(states))
        .route("/nodes/{node}/states/power", put(set_power))
        .route("/nodes/{node}/states/provision", put(set_provision))
        .route("/nodes/{node}/states/raid", put(set_raid))
        .route("/nodes/{node}/maintenance", put(maintenance_on).delete(maintenance_off))
        .route("/nodes/{node}/validate", get(validate_node))
        .route("/nodes/{node}/management/boot_device", get(get_boot_device).put(set_boot_device))
        .route("/nodes/{node}/management/boot_device/supported", get(supported_boot_devices))
        .route("/nodes/{node}/management/inject_nmi", put(inject_nmi))
        .route("/nodes/{node}/vifs", get(list_vifs).post(attach_vif))
        .route("/nodes/{node}/vifs/{vif}", axum::routing::delete(detach_vif))
        .route("/nodes/{node}/vendor_passthru/methods", get(vendor_methods))
        .route("/nodes/{node}/states/console", get(get_console).put(set_console))
        // pecan's object dispatch also serves the console at this path.
        .route("/nodes/states/console/{node}", get(get_console))
        .route("/nodes/{node}/states/boot_mode", put(set_boot_mode))
        .route("/nodes/{node}/states/secure_boot", put(set_secure_boot))
        .route("/nodes/{node}/management/indicators", get(list_indicators))
        .route("/nodes/{node}/management/indicators/{indicator}", get(get_indicator).put(set_indicator))
        .route("/nodes/{node}/children", get(children))
        .route("/nodes/{node}/firmware", get(list_firmware))
        .route("/nodes/{node}/vmedia", get(get_vmedia).post(attach_vmedia).delete(detach_vmedia).fallback(other_vmedia))
        .route("/nodes/{node}/bios", get(list_bios))
        .route("/nodes/{node}/bios/{name}", get(show_bios))
        .route("/nodes/{node}/traits", get(list_traits).put(set_traits).delete(remove_traits))
        .route("/nodes/{node}/traits/{t}", put(add_trait).delete(remove_trait))
        .route("/nodes/{node}/ports", get(crate::ports::node_ports))
        .route("/nodes/{node}/ports/detail", get(crate::ports::node_ports_detail))
        .route("/nodes/{node}/portgroups", get(crate::ports::node_portgroups))
        .route("/nodes/{node}/portgroups/detail", get(crate::ports::node_portgroups_detail))
}


/// How the direct serialiser (`node_view`) reads a field off a node at a version.
pub(crate) type FieldFn = for<'a> fn(&'a Node, Version) -> Wire<'a>;

/// Node fields, the microversion that introduced each (Ironic's `VERSIONED_FIELDS`), and how
/// each goes on the wire. Secrets are masked by their `Wire` kind (`Secrets`, `Internal`).
pub(crate) const FIELD_VERSIONS: &[(&str, u16, FieldFn)] = &[
    ("uuid", 1, |n, _| Wire::Str(&n.uuid)),
    ("created_at", 1, |n, _| Wire::Time(Some(&n.created_at))),
    ("updated_at", 1, |n, _| Wire::Time(n.updated_at.as_ref())),
    ("console_enabled", 1, |n, _| Wire::Bool(n.console_enabled)),
    ("driver", 1, |n, _| Wire::Str(&n.driver)),
    ("driver_info", 1, |n, _| Wire::Secrets(&n.driver_info)),
    ("extra", 1, |n, _| Wire::Dict(&n.extra)),
    ("instance_info", 1, |n, _| Wire::Secrets(&n.instance_info)),
    ("instance_uuid", 1, |n, _| Wire::opt(&n.instance_uuid)),
    ("last_error", 1, |n, _| Wire::opt(&n.last_error)),
    ("maintenance", 1, |n, _| Wire::Bool(n.maintenance)),
    ("maintenance_reason", 1, |n, _| Wire::opt(&n.maintenance_reason)),
    ("power_state", 1, |n, _| Wire::OptStr(n.power_state.map(PowerState::as_str))),
    ("properties", 1, |n, _| Wire::Dict(&n.properties)),
    ("provision_state", 1, |n, v| Wire::OptStr(state_name(Some(n.provision_state), v))),
    ("provision_updated_at", 1, |n, _| Wire::Time(n.provision_updated_at.as_ref())),
    ("reservation", 1, |n, _| Wire::opt(&n.reservation)),
    ("target_power_state", 1, |n, _| Wire::OptStr(n.target_power_state.map(PowerState::as_str))),
    ("target_provision_state", 1, |n, v| Wire::OptStr(state_name(n.target_provision_state, v))),
    ("chassis_uuid", 1, |n, _| Wire::opt(&n.chassis_uuid)),
    ("driver_internal_info", f::DRIVER_INTERNAL_INFO, |n, _| Wire::Internal(&n.driver_internal_info)),
    ("name", f::NODE_NAME, |n, _| Wire::opt(&n.name)),
    ("inspection_finished_at", f::INSPECT, |n, _| Wire::Time(n.inspection_finished_at.as_ref())),
    ("inspection_started_at", f::INSPECT, |n, _| Wire::Time(n.inspection_started_at.as_ref())),
    ("clean_step", f::CLEAN_STEP, |n, _| Wire::Dict(&n.clean_step)),
    ("raid_config", f::RAID_CONFIG, |n, _| Wire::Dict(&n.raid_config)),
    ("target_raid_config", f::RAID_CONFIG, |n, _| Wire::Dict(&n.target_raid_config)),
    ("network_interface", f::NETWORK_INTERFACE, |n, _| Wire::Str(&n.interfaces.network)),
    ("resource_class", f::RESOURCE_CLASS, |n, _| Wire::opt(&n.resource_class)),
    ("boot_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.boot)),
    ("console_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.console)),
    ("deploy_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.deploy)),
    ("inspect_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.inspect)),
    ("management_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.management)),
    ("power_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.power)),
    ("raid_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.raid)),
    ("vendor_interface", f::DYNAMIC_INTERFACES, |n, _| Wire::Str(&n.interfaces.vendor)),
    ("storage_interface", f::STORAGE_INTERFACE, |n, _| Wire::Str(&n.interfaces.storage)),
    ("traits", f::TRAITS, |n, _| Wire::List(&n.traits)),
    ("rescue_interface", f::RESCUE, |n, _| Wire::Str(&n.interfaces.rescue)),
    ("bios_interface", f::BIOS_INTERFACE, |n, _| Wire::Str(&n.interfaces.bios)),
    ("fault", f::FAULT, |n, _| Wire::opt(&n.fault)),
    ("deploy_step", f::DEPLOY_STEP, |n, _| Wire::Dict(&n.deploy_step)),
    ("conductor_group", f::CONDUCTOR_GROUP, |n, _| Wire::Str(&n.conductor_group)),
    ("automated_clean", f::AUTOMATED_CLEAN, |n, _| Wire::OptBool(n.automated_clean)),
    ("protected", f::PROTECTED, |n, _| Wire::Bool(n.protected)),
    ("protected_reason", f::PROTECTED, |n, _| Wire::opt(&n.protected_reason)),
    ("conductor", f::CONDUCTORS, |n, _| Wire::opt(&n.conductor)),
    ("owner", f::OWNER, |n, _| Wire::opt(&n.owner)),
    ("description", f::DESCRIPTION, |n, _| Wire::opt(&n.description)),
    ("allocation_uuid", f::ALLOCATIONS, |n, _| Wire::opt(&n.allocation_uuid)),
    ("retired", f::RETIRED, |n, _| Wire::Bool(n.retired)),
    ("retired_reason", f::RETIRED, |n, _| Wire::opt(&n.retired_reason)),
    ("lessee", f::LESSEE, |n, _| Wire::opt(&n.lessee)),
    ("network_data", f::NETWORK_DATA, |n, _| Wire::Dict(&n.network_data)),
    ("boot_mode", f::BOOT_MODE_FIELDS, |n, _| Wire::opt(&n.boot_mode)),
    ("secure_boot", f::BOOT_MODE_FIELDS, |n, _| Wire::OptBool(n.secure_boot)),
    ("shard", f::SHARD, |n, _| Wire::opt(&n.shard)),
    ("parent_node", f::PARENT_NODE, |n, _| Wire::opt(&n.parent_node)),
    ("firmware_interface", f::FIRMWARE_INTERFACE, |n, _| Wire::Str(&n.interfaces.firmware)),
    ("service_step", f::SERVICE, |n, _| Wire::Dict(&n.service_step)),
    ("disable_power_off", f::DISABLE_POWER_OFF, |n, _| Wire::Bool(n.disable_power_off)),
];

/// The link fields of a node, after its own (`links`), with their minimum versions.
pub(crate) const LINK_VERSIONS: &[(&str, u16, &str)] = &[
    ("links", 1, ""),
    ("ports", 1, "/ports"),
    ("states", f::LINKS_STATES_PROPERTIES, "/states"),
    ("portgroups", f::PORTGROUP_SUBCONTROLLERS, "/portgroups"),
    ("volume", f::VOLUME, "/volume"),
];

/// The fields of the short node list (no `detail`, no `fields`).
pub(crate) const SUMMARY_FIELDS: &[&str] = &["uuid", "name", "instance_uuid", "power_state", "provision_state", "maintenance"];

fn field_min(name: &str) -> Option<u16> {
    FIELD_VERSIONS.iter().find(|(n, ..)| *n == name).map(|(_, v, _)| *v)
}

fn visible_fields(v: Version) -> Vec<&'static str> {
    FIELD_VERSIONS.iter().filter(|(_, m, _)| v.at_least(*m)).map(|(n, ..)| *n).collect()
}

fn state_name(s: Option<ProvisionState>, v: Version) -> Option<&'static str> {
    match s {
        // Before 1.2, "available" was shown as no state.
        Some(ProvisionState::Available) if !v.at_least(2) => None,
        s => s.map(ProvisionState::as_str),
    }
}

fn state_str(s: Option<ProvisionState>, v: Version) -> Value {
    match s {
        // Before 1.2, "available" was shown as no state.
        Some(ProvisionState::Available) if !v.at_least(2) => Value::Null,
        Some(s) => Value::String(s.as_str().into()),
        None => Value::Null,
    }
}

fn power_str(p: Option<PowerState>) -> Value {
    p.map(|p| Value::String(p.as_str().into())).unwrap_or(Value::Null)
}

fn iface(n: &Node, kind: &str) -> Value {
    Value::String(n.interfaces.get(kind).unwrap_or_default().to_string())
}

/// Every field of a node at `v`, secrets masked when `masked`.
pub fn node_fields(n: &Node, v: Version, masked: bool) -> Map<String, Value> {
    let dict = |d: &Map<String, Value>| if masked { mask(d) } else { Value::Object(d.clone()) };
    let mut dii = n.driver_internal_info.clone();
    if masked && dii.contains_key("agent_secret_token") {
        dii.insert("agent_secret_token".into(), "******".into());
    }
    let mut m = Map::new();
    for name in visible_fields(v) {
        let val = match name {
            "uuid" => Value::String(n.uuid.clone()),
            "created_at" => ts1(&n.created_at),
            "updated_at" => ts(&n.updated_at),
            "console_enabled" => Value::Bool(n.console_enabled),
            "driver" => Value::String(n.driver.clone()),
            "driver_info" => dict(&n.driver_info),
            "extra" => Value::Object(n.extra.clone()),
            "instance_info" => dict(&n.instance_info),
            "instance_uuid" => opt_str(&n.instance_uuid),
            "last_error" => opt_str(&n.last_error),
            "maintenance" => Value::Bool(n.maintenance),
            "maintenance_reason" => opt_str(&n.maintenance_reason),
            "power_state" => power_str(n.power_state),
            "properties" => Value::Object(n.properties.clone()),
            "provision_state" => state_str(Some(n.provision_state), v),
            "provision_updated_at" => ts(&n.provision_updated_at),
            "reservation" => opt_str(&n.reservation),
            "target_power_state" => power_str(n.target_power_state),
            "target_provision_state" => state_str(n.target_provision_state, v),
            "chassis_uuid" => opt_str(&n.chassis_uuid),
            "driver_internal_info" => Value::Object(dii.clone()),
            "name" => opt_str(&n.name),
            "inspection_finished_at" => ts(&n.inspection_finished_at),
            "inspection_started_at" => ts(&n.inspection_started_at),
            "clean_step" => Value::Object(n.clean_step.clone()),
            "raid_config" => Value::Object(n.raid_config.clone()),
            "target_raid_config" => Value::Object(n.target_raid_config.clone()),
            "resource_class" => opt_str(&n.resource_class),
            "traits" => json!(n.traits),
            "fault" => opt_str(&n.fault),
            "deploy_step" => Value::Object(n.deploy_step.clone()),
            "service_step" => Value::Object(n.service_step.clone()),
            "conductor_group" => Value::String(n.conductor_group.clone()),
            "automated_clean" => n.automated_clean.map(Value::Bool).unwrap_or(Value::Null),
            "protected" => Value::Bool(n.protected),
            "protected_reason" => opt_str(&n.protected_reason),
            "conductor" => opt_str(&n.conductor),
            "owner" => opt_str(&n.owner),
            "description" => opt_str(&n.description),
            "allocation_uuid" => opt_str(&n.allocation_uuid),
            "retired" => Value::Bool(n.retired),
            "retired_reason" => opt_str(&n.retired_reason),
            "lessee" => opt_str(&n.lessee),
            "network_data" => Value::Object(n.network_data.clone()),
            "boot_mode" => opt_str(&n.boot_mode),
            "secure_boot" => n.secure_boot.map(Value::Bool).unwrap_or(Value::Null),
            "shard" => opt_str(&n.shard),
            "parent_node" => opt_str(&n.parent_node),
            "disable_power_off" => Value::Bool(n.disable_power_off),
            other => match other.strip_suffix("_interface") {
                Some(kind) => iface(n, kind),
                None => Value::Null,
            },
        };
        m.insert(name.to_string(), val);
    }
    m
}

/// The node as `GET /v1/nodes/{id}` shows it, as a `Value`: what `NodeWire` (which the API
/// writes nodes with) is tested against, and what the benches compare with.
pub fn node_json(n: &Node, v: Version, base: &str) -> Map<String, Value> {
    let mut m = node_fields(n, v, true);
    let id = &n.uuid;
    m.insert("links".into(), links(base, &format!("nodes/{id}")));
    m.insert("ports".into(), links(base, &format!("nodes/{id}/ports")));
    if v.at_least(f::LINKS_STATES_PROPERTIES) {
        m.insert("states".into(), links(base, &format!("nodes/{id}/states")));
    }
    if v.at_least(f::PORTGROUP_SUBCONTROLLERS) {
        m.insert("portgroups".into(), links(base, &format!("nodes/{id}/portgroups")));
    }
    if v.at_least(f::VOLUME) {
        m.insert("volume".into(), links(base, &format!("nodes/{id}/volume")));
    }
    m
}

/// The short list's node (`NodeWire::summary` writes it now; kept as the tests' oracle).
#[cfg(test)]
pub(crate) fn node_summary(n: &Node, v: Version, base: &str) -> Value {
    let mut m = Map::new();
    m.insert("uuid".into(), Value::String(n.uuid.clone()));
    if v.at_least(f::NODE_NAME) {
        m.insert("name".into(), opt_str(&n.name));
    }
    m.insert("instance_uuid".into(), opt_str(&n.instance_uuid));
    m.insert("power_state".into(), power_str(n.power_state));
    m.insert("provision_state".into(), state_str(Some(n.provision_state), v));
    m.insert("maintenance".into(), Value::Bool(n.maintenance));
    m.insert("links".into(), links(base, &format!("nodes/{}", n.uuid)));
    Value::Object(m)
}

/// Look a node up by UUID, or by name from 1.5 on (and by `ident.json` when the request's
/// `.json` was stripped from `ident`, see `json_ext`).
pub async fn find(state: &AppState, ident: &str, v: Version) -> ApiResult<Node> {
    crate::json_ext::lookup(ident, |i| async move { find_exact(state, &i, v).await }).await
}

async fn find_exact(state: &AppState, ident: &str, v: Version) -> ApiResult<Node> {
    if !validate::is_uuid_like(ident) && !v.at_least(f::NODE_NAME) {
        return Err(ApiError::not_found(format!("Node {ident} could not be found.")));
    }
    match state.store().get_node(ident).await {
        Ok(n) => Ok(n),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(ApiError::not_found(format!("Node {ident} could not be found."))),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------------------------- list

const SORTABLE: &[&str] = &[
    "uuid", "name", "created_at", "updated_at", "provision_state", "power_state", "driver", "maintenance",
    "instance_uuid", "provision_updated_at", "resource_class", "conductor_group", "owner", "lessee", "target_power_state",
    "target_provision_state", "inspection_started_at", "inspection_finished_at", "reservation", "last_error",
    "chassis_uuid", "description", "shard", "fault", "retired", "protected", "console_enabled",
];

fn filter_from(q: &HashMap<String, String>, v: Version) -> ApiResult<NodeFilter> {
    let mut flt = NodeFilter::default();
    let gate = |name: &str, min: u16| -> ApiResult<()> {
        if q.contains_key(name) && !v.at_least(min) {
            return Err(ApiError::too_old(min));
        }
        Ok(())
    };
    gate("provision_state", f::PROVISION_STATE_FILTER)?;
    gate("driver", f::DRIVER_FILTER)?;
    gate("resource_class", f::RESOURCE_CLASS)?;
    gate("fault", f::FAULT)?;
    gate("conductor_group", f::CONDUCTOR_GROUP)?;
    gate("conductor", f::CONDUCTORS)?;
    gate("owner", f::OWNER)?;
    gate("lessee", f::LESSEE)?;
    gate("description_contains", f::DESCRIPTION)?;
    gate("retired", f::RETIRED)?;
    gate("shard", f::SHARD)?;
    gate("sharded", f::SHARD)?;
    gate("parent_node", f::PARENT_NODE)?;
    if let Some(s) = q.get("provision_state") {
        if ProvisionState::parse(s).is_none() {
            return Err(ApiError::bad_request(format!("Provision state \"{s}\" is not valid")));
        }
        flt.provision_state = Some(s.clone());
    }
    if let Some(fault) = q.get("fault") {
        const FAULTS: &[&str] = &["power failure", "clean failure", "rescue abort failure", "service failure"];
        if !FAULTS.contains(&fault.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Unrecognized fault \"{fault}\" is specified, allowed faults are {FAULTS:?}"
            )));
        }
        flt.fault = Some(fault.clone());
    }
    flt.driver = q.get("driver").cloned();
    flt.maintenance = q.get("maintenance").map(|m| parse_bool("maintenance", m)).transpose()?;
    flt.associated = q.get("associated").map(|m| parse_bool("associated", m)).transpose()?;
    flt.retired = q.get("retired").map(|m| parse_bool("retired", m)).transpose()?;
    flt.sharded = q.get("sharded").map(|m| parse_bool("sharded", m)).transpose()?;
    flt.instance_uuid = q.get("instance_uuid").cloned();
    flt.chassis_uuid = q.get("chassis_uuid").cloned();
    flt.resource_class = q.get("resource_class").cloned();
    flt.conductor_group = q.get("conductor_group").map(|g| g.to_lowercase());
    flt.conductor = q.get("conductor").cloned();
    flt.owner = q.get("owner").cloned();
    flt.lessee = q.get("lessee").cloned();
    flt.project = q.get("project").cloned();
    flt.shard = q.get("shard").map(|s| s.split(',').map(str::to_string).collect());
    flt.parent_node = q.get("parent_node").cloned();
    let include_children = match q.get("include_children") {
        None => false,
        Some(_) if !v.at_least(f::PARENT_NODE) => return Err(ApiError::too_old(f::PARENT_NODE)),
        Some(i) => parse_bool("include_children", i)?,
    };
    flt.exclude_children = !include_children;
    flt.description_contains = q.get("description_contains").cloned();
    Ok(flt)
}

async fn list_nodes(state: &AppState, v: Version, base: &str, q: HashMap<String, String>, mut detail: bool, path: &str, extra: NodeFilter) -> ApiResult<Response> {
    if let Some(d) = q.get("detail") {
        if !v.at_least(f::DETAIL_PARAM) {
            return Err(ApiError::too_old(f::DETAIL_PARAM));
        }
        if path.ends_with("detail") {
            return Err(ApiError::bad_request("The \"detail\" parameter cannot be used on the /detail resource"));
        }
        detail = parse_bool("detail", d)?;
    }
    check_field_versions(q.get("fields"), v)?;
    let fields = wire::parse_fields(q.get("fields"), v, &visible_fields(v))?;
    if fields.is_some() && detail {
        return Err(ApiError::bad_request("Can not specify ?detail=True and fields in the same request."));
    }
    if let Some(fields) = &fields {
        if fields.iter().any(|f| field_min(f).is_some_and(|m| !v.at_least(m))) {
            return Err(ApiError::not_acceptable("Request not acceptable."));
        }
    }
    let mut flt = filter_from(&q, v)?;
    if let Some(c) = extra.chassis_uuid {
        flt.chassis_uuid = Some(c);
    }
    let lq = wire::list_query(&q, state.config.max_limit, SORTABLE)?;
    let limit = lq.limit.unwrap_or(state.config.max_limit);
    let wire = match &fields {
        _ if detail => NodeWire::all(v, base),
        Some(fields) => NodeWire::selected(v, base, fields),
        None => NodeWire::summary(v, base),
    };
    // Each node is written to the page as the reader decodes it: no page of `Node`s or
    // `Value`s is ever held.
    let (_, page) = state
        .store()
        .for_each_node(flt, lq, (wire, PageWriter::new(limit)), |(wire, page), n| Ok(page.push(wire, n)?))
        .await?;
    let next = wire::next_link(page.count(), page.last_uuid(), limit, base, path, &q);
    json_bytes(page.finish(next.as_deref()))
}

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    list_nodes(&s, v, &b, q, false, "nodes", NodeFilter::default()).await
}

async fn list_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    list_nodes(&s, v, &b, q, true, "nodes/detail", NodeFilter::default()).await
}

pub async fn chassis_nodes(s: &AppState, v: Version, b: &str, q: HashMap<String, String>, chassis: String, detail: bool) -> ApiResult<Response> {
    let path = format!("chassis/{chassis}/nodes{}", if detail { "/detail" } else { "" });
    list_nodes(s, v, b, q, detail, &path, NodeFilter { chassis_uuid: Some(chassis), ..Default::default() }).await
}

/// A field the requested version does not have is a 406 (Ironic's `check_allowed_fields`).
fn check_field_versions(fields: Option<&String>, v: Version) -> ApiResult<()> {
    let Some(fields) = fields else { return Ok(()) };
    if v.at_least(f::FIELDS) && fields.split(',').any(|f| field_min(f.trim()).is_some_and(|m| !v.at_least(m))) {
        return Err(ApiError::not_acceptable("Request not acceptable."));
    }
    Ok(())
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    check_field_versions(q.get("fields"), v)?;
    let fields = wire::parse_fields(q.get("fields"), v, &visible_fields(v))?;
    let n = find(&s, &id, v).await?;
    let wire = match &fields {
        Some(fields) => NodeWire::selected(v, &b, fields),
        None => NodeWire::all(v, &b),
    };
    json_bytes(serde_json::to_vec(&wire.view(&n)))
}

// ------------------------------------------------------------------------------------- create

/// Fields a client may set on create and through PATCH.
const WRITABLE: &[&str] = &[
    "name", "driver", "driver_info", "properties", "extra", "instance_info", "instance_uuid", "chassis_uuid",
    "resource_class", "conductor_group", "automated_clean", "protected", "protected_reason", "owner", "lessee",
    "description", "retired", "retired_reason", "network_data", "shard", "parent_node", "disable_power_off",
    "maintenance", "maintenance_reason", "boot_interface", "console_interface", "deploy_interface",
    "inspect_interface", "management_interface", "power_interface", "raid_interface", "vendor_interface",
    "network_interface", "storage_interface", "rescue_interface", "bios_interface", "firmware_interface",
];

fn want_str(field: &str, v: &Value) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Wrong type. Expected 'str', got '{}'", kind(other)))),
    }
}

fn want_dict(field: &str, v: &Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Wrong type. Expected 'dict', got '{}'", kind(other)))),
    }
}

fn want_bool(field: &str, v: &Value) -> ApiResult<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) => parse_bool(field, s).map(Some),
        other => Err(ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. Wrong type. Expected 'bool', got '{}'", kind(other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Write one client-settable field into the node, validating it.
fn set_field(state: &AppState, n: &mut Node, field: &str, val: &Value, v: Version) -> ApiResult<()> {
    match field {
        "name" => {
            let name = want_str(field, val)?;
            if let Some(name) = &name {
                let ok = if v.at_least(f::LOGICAL_NAMES) { validate::is_valid_logical_name(name) } else { validate::is_hostname_safe(name) };
                if !ok || validate::is_uuid_like(name) {
                    return Err(ApiError::bad_request(format!("Expected a logical name but received {name}.")));
                }
            }
            n.name = name;
        }
        "driver" => {
            let d = want_str(field, val)?.ok_or_else(|| ApiError::bad_request("Mandatory field missing: driver"))?;
            if state.conductor.drivers().hardware_type(&d).is_none() {
                return Err(ApiError::bad_request(format!(
                    "No valid host was found. Reason: No conductor service registered which supports driver {d} for conductor group \"{}\". Ensure the driver is valid and enabled.",
                    n.conductor_group
                )));
            }
            n.driver = d;
        }
        "driver_info" => n.driver_info = want_dict(field, val)?,
        "properties" => n.properties = want_dict(field, val)?,
        "extra" => n.extra = want_dict(field, val)?,
        "instance_info" => n.instance_info = want_dict(field, val)?,
        "network_data" => n.network_data = want_dict(field, val)?,
        "instance_uuid" => {
            let new = want_str(field, val)?;
            if let Some(u) = &new {
                if !validate::is_uuid_like(u) {
                    return Err(ApiError::bad_request(format!("Expected a UUID for instance_uuid: {u}")));
                }
                if let Some(old) = &n.instance_uuid {
                    if old != u {
                        return Err(ApiError::conflict(format!("Node {} is associated with instance {old}.", n.uuid)));
                    }
                }
            }
            n.instance_uuid = new;
        }
        "chassis_uuid" => {
            let c = want_str(field, val)?;
            if c.is_none() && n.chassis_uuid.is_some() && !v.at_least(f::UNSET_CHASSIS_UUID) {
                return Err(ApiError::bad_request("Removing chassis_uuid requires API version 1.25 or later"));
            }
            n.chassis_uuid = c;
        }
        "resource_class" => {
            let rc = want_str(field, val)?;
            if rc.as_ref().is_some_and(|r| r.len() > 80) {
                return Err(ApiError::bad_request("Invalid resource_class: at most 80 characters are allowed"));
            }
            n.resource_class = rc;
        }
        "conductor_group" => {
            let g = want_str(field, val)?.unwrap_or_default();
            if g.len() > 255 || !g.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
                return Err(ApiError::bad_request(format!("Invalid conductor group {g}")));
            }
            n.conductor_group = g.to_lowercase();
        }
        "automated_clean" => n.automated_clean = want_bool(field, val)?,
        "protected" => n.protected = want_bool(field, val)?.unwrap_or(false),
        "protected_reason" => n.protected_reason = want_str(field, val)?,
        "owner" => n.owner = want_str(field, val)?,
        "lessee" => n.lessee = want_str(field, val)?,
        "description" => n.description = want_str(field, val)?,
        "retired" => n.retired = want_bool(field, val)?.unwrap_or(false),
        "retired_reason" => n.retired_reason = want_str(field, val)?,
        "shard" => n.shard = want_str(field, val)?,
        "parent_node" => n.parent_node = want_str(field, val)?,  // resolved to a UUID in `check_parent`
        "disable_power_off" => n.disable_power_off = want_bool(field, val)?.unwrap_or(false),
        "maintenance" => n.maintenance = want_bool(field, val)?.unwrap_or(false),
        "maintenance_reason" => n.maintenance_reason = want_str(field, val)?,
        other => {
            let kind = other.strip_suffix("_interface").ok_or_else(|| ApiError::bad_request(format!("Unknown attribute {other}")))?;
            let name = want_str(field, val)?.unwrap_or_default();
            let slot = n.interfaces.get_mut(kind).ok_or_else(|| ApiError::bad_request(format!("Unknown attribute {other}")))?;
            *slot = name;
        }
    }
    Ok(())
}

/// Fill unset interfaces with the hardware type's defaults and check the chosen ones.
fn resolve_interfaces(state: &AppState, n: &mut Node) -> ApiResult<()> {
    let ht = state
        .conductor
        .drivers()
        .hardware_type(&n.driver)
        .ok_or_else(|| ApiError::bad_request(format!("No valid host was found. Reason: hardware type {} is not enabled.", n.driver)))?
        .clone();
    for kind in Interfaces::KINDS {
        let slot = n.interfaces.get_mut(kind).expect("known kind");
        if slot.is_empty() {
            *slot = ht.default_for(kind).unwrap_or_default().to_string();
        } else if !ht.supports(kind, slot) {
            let valid = ht.supported.get(kind).map(|v| v.join(", ")).unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "Could not find a suitable {kind} interface implementation '{slot}' for hardware type {}. Valid interfaces are: {valid}",
                ht.name
            )));
        }
    }
    Ok(())
}

/// A parent node must exist; it is stored by UUID (API 1.83).
async fn check_parent(state: &AppState, n: &mut Node, v: Version) -> ApiResult<()> {
    if let Some(p) = n.parent_node.clone() {
        let parent = find(state, &p, v).await.map_err(|_| ApiError::bad_request(format!("Node {p} could not be found.")))?;
        if parent.uuid == n.uuid {
            return Err(ApiError::bad_request("A node cannot be its own parent"));
        }
        n.parent_node = Some(parent.uuid);
    }
    Ok(())
}

async fn check_chassis(state: &AppState, n: &Node) -> ApiResult<()> {
    if let Some(c) = &n.chassis_uuid {
        if state.store().get_chassis(c).await.is_err() {
            return Err(ApiError::bad_request(format!("Chassis {c} could not be found.")));
        }
    }
    Ok(())
}

async fn create(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object describing the node."))?;
    let now = ferric_core::model::now();
    let mut n = Node {
        created_at: now,
        provision_state: if v.at_least(f::ENROLL) { ProvisionState::Enroll } else { ProvisionState::Available },
        conductor: Some(s.conductor.host().to_string()),
        ..Default::default()
    };
    if !obj.contains_key("driver") {
        return Err(ApiError::bad_request("Mandatory field missing: driver"));
    }
    for (k, val) in obj {
        match k.as_str() {
            "uuid" => {
                let u = want_str("uuid", val)?.unwrap_or_default();
                n.uuid = validate::canonical_uuid(&u).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {u}.")))?;
            }
            field if field_min(field).is_some_and(|m| !v.at_least(m)) => return Err(ApiError::too_old(field_min(field).unwrap())),
            "maintenance" | "maintenance_reason" => {
                return Err(ApiError::bad_request(format!("Cannot set {k} when creating a node; use the maintenance API")))
            }
            field if WRITABLE.contains(&field) => set_field(&s, &mut n, field, val, v)?,
            "traits" | "provision_state" | "power_state" | "reservation" | "conductor" | "created_at" | "updated_at"
            | "links" | "driver_internal_info" | "last_error" | "target_power_state" | "target_provision_state" => {
                return Err(ApiError::bad_request(format!("'{k}' is an internal attribute and can not be set")))
            }
            other => return Err(ApiError::bad_request(format!("Unknown attribute for argument node: {other}"))),
        }
    }
    if n.uuid.is_empty() {
        n.uuid = uuid::Uuid::new_v4().to_string();
    }
    if n.protected_reason.is_some() && !n.protected {
        return Err(ApiError::bad_request("The protected_reason field can only be set when protected is True"));
    }
    if n.retired_reason.is_some() && !n.retired {
        return Err(ApiError::bad_request("The retired_reason field can only be set when retired is True"));
    }
    resolve_interfaces(&s, &mut n)?;
    check_chassis(&s, &n).await?;
    check_parent(&s, &mut n, v).await?;
    let n = s.store().create_node(n).await?;
    tracing::info!(node = %n.uuid, driver = %n.driver, "node created");
    created_bytes(format!("{b}/v1/nodes/{}", n.uuid), serde_json::to_vec(&NodeWire::all(v, &b).view(&n)))
}

// ------------------------------------------------------------------------------------- patch

async fn patch(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let current = find(&s, &id, v).await?;
    let roots = wire::patched_roots(&body);
    let reset_interfaces = match q.get("reset_interfaces") {
        None => false,
        Some(_) if !v.at_least(f::RESET_INTERFACES) => return Err(ApiError::too_old(f::RESET_INTERFACES)),
        Some(r) => parse_bool("reset_interfaces", r)?,
    };
    if reset_interfaces && !roots.iter().any(|r| r == "driver") {
        return Err(ApiError::bad_request("The reset_interfaces parameter can be provided only when changing the node's driver."));
    }
    for r in &roots {
        if let Some(m) = field_min(r) {
            if !v.at_least(m) {
                return Err(ApiError::too_old(m));
            }
        }
        if r == "traits" {
            return Err(ApiError::bad_request("Cannot update node traits via node patch. Node traits should be updated via the node traits API."));
        }
        if !WRITABLE.contains(&r.as_str()) {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
    }
    // Apply to the unmasked document of the current record, then validate the whole result.
    let mut doc = Value::Object(node_fields(&current, v, false));
    wire::apply_patch(&mut doc, &body)?;
    let doc = doc.as_object().cloned().unwrap_or_default();
    let mut updated = current.clone();
    let mut touched: Vec<&str> = roots.iter().map(String::as_str).collect();
    touched.dedup();
    for field in &touched {
        let val = doc.get(*field).cloned().unwrap_or(Value::Null);
        set_field(&s, &mut updated, field, &val, v)?;
    }
    if touched.contains(&"driver") {
        // Interfaces the new hardware type does not support fall back to its defaults.
        if let Some(ht) = s.conductor.drivers().hardware_type(&updated.driver).cloned() {
            for kind in Interfaces::KINDS {
                let slot = updated.interfaces.get_mut(kind).expect("known kind");
                let explicit = touched.contains(&format!("{kind}_interface").as_str());
                if !explicit && (reset_interfaces || !ht.supports(kind, slot)) {
                    slot.clear();
                }
            }
        }
    }
    resolve_interfaces(&s, &mut updated)?;
    if !updated.maintenance {
        updated.maintenance_reason = None;
        updated.fault = None;
    }
    if updated.protected && !current.protected && current.provision_state != ProvisionState::Active {
        return Err(ApiError::conflict(format!(
            "Node {} can not be protected in provision state {}. Only active nodes can be protected.",
            current.uuid, current.provision_state
        )));
    }
    if updated.protected_reason.is_some() && !updated.protected {
        if touched.contains(&"protected") {
            updated.protected_reason = None;
        } else {
            return Err(ApiError::bad_request("The protected_reason field can only be set when protected is True"));
        }
    }
    if updated.retired && !current.retired && current.provision_state == ProvisionState::Available {
        return Err(ApiError::conflict(format!(
            "Node {} can not have 'retired' set in provision state 'available', the current state is 'available'",
            current.uuid
        )));
    }
    if updated.retired_reason.is_some() && !updated.retired {
        if touched.contains(&"retired") {
            updated.retired_reason = None;
        } else {
            return Err(ApiError::bad_request("The retired_reason field can only be set when retired is True"));
        }
    }
    if touched.contains(&"chassis_uuid") {
        check_chassis(&s, &updated).await?;
    }
    if touched.contains(&"parent_node") {
        check_parent(&s, &mut updated, v).await?;
    }
    let n = crate::retry_locked(&s, || {
        let updated = updated.clone();
        let store = s.store().clone();
        let uuid = current.uuid.clone();
        async move {
            store
                .update_node(&uuid, None, move |n| {
                    if !n.provision_state.update_allowed() {
                        return Err(ApiError::conflict(format!(
                            "Node {} can not be updated while a state transition is in progress.",
                            n.uuid
                        )));
                    }
                    // The conductor owns these; a change it made meanwhile is kept.
                    let keep = (
                        n.provision_state,
                        n.target_provision_state,
                        n.provision_updated_at,
                        n.power_state,
                        n.target_power_state,
                        n.last_error.clone(),
                        n.driver_internal_info.clone(),
                        n.reservation.clone(),
                    );
                    *n = Node { id: n.id, ..updated };
                    (
                        n.provision_state,
                        n.target_provision_state,
                        n.provision_updated_at,
                        n.power_state,
                        n.target_power_state,
                        n.last_error,
                        n.driver_internal_info,
                        n.reservation,
                    ) = keep;
                    Ok(())
                })
                .await?
        }
    })
    .await?;
    json_bytes(serde_json::to_vec(&NodeWire::all(v, &b).view(&n)))
}

/// Change a node record from the API (no conductor work), retrying a held lock.
async fn update(s: &AppState, uuid: &str, f: impl Fn(&mut Node) -> Result<(), ApiError> + Clone + Send + 'static) -> ApiResult<Node> {
    crate::retry_locked(s, || {
        let f = f.clone();
        let store = s.store().clone();
        let uuid = uuid.to_string();
        async move { store.update_node(&uuid, None, f).await? }
    })
    .await
}

// ------------------------------------------------------------------------------------- delete

async fn delete(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    let n = find(&s, &id, v).await?;
    if let Some(holder) = &n.reservation {
        return Err(ApiError::conflict(format!(
            "Node {} is locked by host {holder}, please retry after the current operation is completed.",
            n.uuid
        )));
    }
    if n.protected {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, format!("Node {} is protected and cannot be undeployed, rebuilt or deleted", n.uuid)));
    }
    if let Some(inst) = &n.instance_uuid {
        return Err(ApiError::conflict(format!("Node {} is associated with instance {inst}.", n.uuid)));
    }
    let available_ok = n.provision_state == ProvisionState::Available && s.conductor.config().allow_deleting_available_nodes;
    if !n.maintenance && !n.provision_state.delete_allowed() && !available_ok {
        return Err(ApiError::conflict(format!(
            "Can not delete node \"{}\" while it is in provision state \"{}\". Valid provision states to start deletion are: \"available\", \"enroll\", \"manageable\", \"adopt failed\" (or any state in maintenance mode)",
            n.uuid, n.provision_state
        )));
    }
    s.store().delete_node(&n.uuid).await?;
    tracing::info!(node = %n.uuid, "node deleted");
    Ok(no_content())
}

// ------------------------------------------------------------------------------------- states

async fn states(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = find(&s, &id, v).await?;
    let mut m = Map::new();
    m.insert("console_enabled".into(), Value::Bool(n.console_enabled));
    m.insert("last_error".into(), opt_str(&n.last_error));
    m.insert("power_state".into(), power_str(n.power_state));
    m.insert("provision_state".into(), state_str(Some(n.provision_state), v));
    m.insert("provision_updated_at".into(), ts(&n.provision_updated_at));
    m.insert("target_power_state".into(), power_str(n.target_power_state));
    m.insert("target_provision_state".into(), state_str(n.target_provision_state, v));
    if v.at_least(f::RAID_CONFIG) {
        m.insert("raid_config".into(), Value::Object(n.raid_config.clone()));
        m.insert("target_raid_config".into(), Value::Object(n.target_raid_config.clone()));
    }
    if v.at_least(f::BOOT_MODE_FIELDS) {
        m.insert("boot_mode".into(), opt_str(&n.boot_mode));
        m.insert("secure_boot".into(), n.secure_boot.map(Value::Bool).unwrap_or(Value::Null));
    }
    Ok(Json(Value::Object(m)))
}

async fn set_power(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let target = body.get("target").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"target\""))?;
    let n = find(&s, &id, v).await?;
    let invalid = || {
        ApiError::bad_request(format!(
            "The requested action \"{target}\" can not be performed on node \"{}\" while it is in state \"{}\".",
            n.uuid,
            n.power_state.map(|p| p.as_str()).unwrap_or("None")
        ))
    };
    let target_state = PowerState::parse(target).ok_or_else(invalid)?;
    if matches!(target_state, PowerState::SoftPowerOff | PowerState::SoftRebooting) && !v.at_least(f::SOFT_POWER_OFF) {
        return Err(ApiError::too_old(f::SOFT_POWER_OFF));
    }
    let timeout = match body.get("timeout") {
        None | Some(Value::Null) => None,
        Some(t) => {
            if !v.at_least(f::SOFT_POWER_OFF) {
                return Err(ApiError::too_old(f::SOFT_POWER_OFF));
            }
            match t.as_i64() {
                Some(t) if t > 0 => Some(t as u64),
                _ => return Err(ApiError::bad_request(format!("Invalid timeout value {t}. The timeout must be a positive integer."))),
            }
        }
    };
    // No power change while the node is being cleaned.
    if matches!(n.provision_state, ProvisionState::Cleaning | ProvisionState::CleanWait) {
        return Err(ApiError::bad_request(format!(
            "The requested action \"{target}\" can not be performed on node \"{id}\" while it is in state \"{}\".",
            n.provision_state
        )));
    }
    // API 1.95: a node with `disable_power_off` is never powered off (Ironic checks the field
    // whatever the request's version).
    if n.disable_power_off && matches!(target_state, PowerState::Off | PowerState::SoftPowerOff) {
        return Err(ApiError::conflict(format!("Failed to set node power state to {target}.")));
    }
    s.conductor.change_power_state(&n.uuid, target_state, timeout).await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/states")))
}

async fn set_provision(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let target = body.get("target").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"target\""))?;
    // `service_steps` is type-checked with the other arguments, its steps only once the verb
    // is known to be `service` at 1.87 or later (as Ironic's `_check_service_steps`).
    let service_steps = match body.get("service_steps") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(other) => {
            let shown = other.as_str().map(str::to_string).unwrap_or_else(|| ferric_core::validate::py_repr(other));
            return Err(ApiError::bad_request(format!("Expected types <class 'NoneType'>, <class 'list'> for service_steps: {shown}")));
        }
    };
    let runbook = match body.get("runbook") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Expected types <class 'NoneType'>, <class 'str'> for runbook: {}",
                ferric_core::validate::py_repr(other)
            )))
        }
    };
    let n = find(&s, &id, v).await?;
    let verb = fsm::verb_for_target(target).ok_or_else(|| {
        ApiError::bad_request(format!(
            "The requested action \"{target}\" can not be performed on node \"{}\" while it is in state \"{}\".",
            n.uuid, n.provision_state
        ))
    })?;
    let min = match (target, verb) {
        ("deploy" | "undeploy", _) => f::DEPLOY_UNDEPLOY_VERBS,
        (_, Event::Manage | Event::Provide) => f::MANAGEABLE,
        (_, Event::Inspect) => f::INSPECT,
        (_, Event::Abort) => f::ABORT,
        (_, Event::Clean) => f::MANUAL_CLEAN,
        (_, Event::Adopt) => f::ADOPT,
        (_, Event::Rescue | Event::Unrescue) => f::RESCUE,
        // `unhold` (1.85) and `service` (1.87) are gated below, after the state check.
        _ => 1,
    };
    if !v.at_least(min) {
        return Err(ApiError::too_old(min));
    }
    let steps = |name: &str| -> ApiResult<Option<Vec<Map<String, Value>>>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| {
                    let o = s.as_object().cloned().ok_or_else(|| ApiError::bad_request(format!("Invalid {name}: each step must be an object")))?;
                    if !o.contains_key("interface") || !o.contains_key("step") {
                        return Err(ApiError::bad_request(format!("Invalid {name}: each step needs \"interface\" and \"step\"")));
                    }
                    Ok(o)
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(ApiError::bad_request(format!("Invalid {name}: expected a list, got {other}"))),
        }
    };
    if body.get("deploy_steps").is_some_and(|d| !d.is_null()) {
        if !v.at_least(f::DEPLOY_STEPS) {
            return Err(ApiError::too_old(f::DEPLOY_STEPS));
        }
        if !matches!(verb, Event::Deploy | Event::Rebuild) {
            return Err(ApiError::bad_request("\"deploy_steps\" is only valid when setting target provision state to active or rebuild"));
        }
    }
    let mut disable_ramdisk = match body.get("disable_ramdisk") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(d)) => Some(parse_bool("disable_ramdisk", d)?),
        Some(other) => return Err(ApiError::bad_request(format!("Invalid disable_ramdisk {other}: a boolean is expected"))),
    };
    let mut clean_steps = steps("clean_steps")?;
    let mut service_steps = service_steps;
    // A runbook (1.92) stands for the clean or service steps and `disable_ramdisk`; Ironic
    // looks at it once the node's state allows the verb.
    if let Some(ident) = &runbook {
        state_check(&n, verb, target)?;
        if !v.at_least(f::RUNBOOKS) {
            return Err(ApiError::not_acceptable("Request not acceptable."));
        }
        let rb = crate::runbooks::for_provision(&s, ident).await?;
        if !rb.approved_for(&n.traits) {
            return Err(ApiError::bad_request(format!(
                "This runbook has not been approved for use on this node {}. Please ask an administrator to add it to your node traits.",
                n.uuid
            )));
        }
        disable_ramdisk = Some(rb.disable_ramdisk);
        if verb == Event::Clean {
            if clean_steps.as_ref().is_some_and(|c| !c.is_empty()) {
                return Err(ApiError::bad_request("Please provide either \"clean_steps\" or a runbook, but not both."));
            }
            clean_steps = Some(rb.user_steps());
        } else if verb == Event::Service {
            if service_steps.as_ref().is_some_and(|c| !c.is_empty()) {
                return Err(ApiError::bad_request("Please provide either \"service_steps\" or a runbook, but not both."));
            }
            service_steps = Some(rb.user_steps().into_iter().map(Value::Object).collect());
        }
    }
    // Ironic's `check_allow_disable_ramdisk`.
    if disable_ramdisk.is_some() {
        match verb {
            Event::Clean if !v.at_least(f::DISABLE_RAMDISK) => {
                return Err(ApiError::not_acceptable("disable_ramdisk is not acceptable in this API version"))
            }
            Event::Service if !v.at_least(f::SERVICE_DISABLE_RAMDISK) => {
                return Err(ApiError::not_acceptable("disable_ramdisk is not acceptable in this API version"))
            }
            Event::Clean | Event::Service => {}
            _ => return Err(ApiError::bad_request("disable_ramdisk is supported only with manual cleaning or servicing")),
        }
    }
    let runbook_targets = "\"runbooks\" is only valid when setting target provision state to any of ['clean', 'service']";
    if clean_steps.as_ref().is_some_and(|c| !c.is_empty()) && verb != Event::Clean {
        if runbook.is_some() {
            return Err(ApiError::bad_request(runbook_targets));
        }
        return Err(ApiError::bad_request("\"clean_steps\" is only valid when setting target provision state to clean"));
    }
    let configdrive = body.get("configdrive").filter(|c| !c.is_null()).cloned();
    if let Some(cd) = &configdrive {
        if !matches!(verb, Event::Deploy | Event::Rebuild) {
            return Err(ApiError::bad_request("Adding a config drive is only supported when setting provision state to active, rebuild"));
        }
        check_configdrive(cd, v)?;
    }
    // Ironic tests these after the state machine: a verb the node's state refuses is a 400
    // (409 when the node is locked) whatever the version.
    let has_service_steps = service_steps.as_ref().is_some_and(|s| !s.is_empty());
    if verb == Event::Unhold && !v.at_least(f::UNHOLD) {
        state_check(&n, verb, target)?;
        return Err(ApiError::not_acceptable("Request not acceptable."));
    }
    if has_service_steps && verb != Event::Service {
        state_check(&n, verb, target)?;
        if runbook.is_some() {
            return Err(ApiError::bad_request(runbook_targets));
        }
        return Err(ApiError::bad_request("\"service_steps\" is only valid when setting target provision state to service"));
    }
    let service_steps = if verb == Event::Service {
        state_check(&n, verb, target)?;
        if !v.at_least(f::SERVICE) {
            return Err(ApiError::not_acceptable("Request not acceptable."));
        }
        if !has_service_steps {
            return Err(ApiError::bad_request("\"service_steps\" is required when setting target provision state to service"));
        }
        Some(check_service_steps(service_steps.as_deref().unwrap_or_default())?)
    } else {
        None
    };
    let args = ProvisionArgs {
        clean_steps: clean_steps.filter(|c| !c.is_empty()),
        deploy_steps: steps("deploy_steps")?,
        service_steps,
        configdrive,
        rescue_password: body.get("rescue_password").and_then(Value::as_str).map(str::to_string),
        disable_ramdisk,
    };
    if n.protected && matches!(verb, Event::Delete | Event::Rebuild) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("Node {} is protected and cannot be undeployed, rebuilt or deleted", n.uuid),
        ));
    }
    if verb == Event::Abort && n.provision_state == ProvisionState::InspectWait && !v.at_least(f::INSPECT_ABORT) {
        return Err(ApiError::too_old(f::INSPECT_ABORT));
    }
    s.conductor.provision(&n.uuid, verb, args).await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/states")))
}

/// The state machine's verdict on `verb` for the node as read: Ironic's 400, or its 409 when
/// the node is locked (the conductor checks again under the lock).
fn state_check(n: &Node, verb: Event, target: &str) -> ApiResult<()> {
    if fsm::next_state(n.provision_state, verb).is_some() {
        return Ok(());
    }
    Err(match &n.reservation {
        Some(holder) => ApiError::node_locked(&n.uuid, holder),
        None => ApiError::bad_request(format!(
            "The requested action \"{target}\" can not be performed on node \"{}\" while it is in state \"{}\".",
            n.uuid, n.provision_state
        )),
    })
}

/// Ironic's `_STEPS_SCHEMA` for `service_steps`: objects with an `interface` of a servicing
/// interface and a non-empty `step`; `args` an object. (Ironic answers 500 to a step without
/// `interface` or `step`; ferric, 400.)
fn check_service_steps(steps: &[Value]) -> ApiResult<Vec<Map<String, Value>>> {
    const INTERFACES: &[&str] = &["vendor", "power", "management", "firmware", "deploy", "bios", "raid"];
    const KEYS: &[&str] = &["interface", "step", "args", "order", "execute_on_child_nodes", "limit_child_node_execution"];
    let invalid = |m: String| ApiError::bad_request(format!("Invalid service_steps: {m}"));
    let repr = ferric_core::validate::py_repr;
    steps
        .iter()
        .map(|step| {
            let o = step.as_object().ok_or_else(|| invalid(format!("{} is not of type 'object'", repr(step))))?;
            for key in ["interface", "step"] {
                if !o.contains_key(key) {
                    return Err(invalid(format!("'{key}' is a required property")));
                }
            }
            let extra: Vec<String> = o.keys().filter(|k| !KEYS.contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
            if !extra.is_empty() {
                let verb = if extra.len() == 1 { "was" } else { "were" };
                return Err(invalid(format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", "))));
            }
            let iface = &o["interface"];
            if !iface.as_str().is_some_and(|i| INTERFACES.contains(&i)) {
                return Err(invalid(format!("{} is not one of {}", repr(iface), repr(&json!(INTERFACES)))));
            }
            match &o["step"] {
                Value::String(st) if st.is_empty() => return Err(invalid("'' should be non-empty".into())),
                Value::String(_) => {}
                other => return Err(invalid(format!("{} is not of type 'string'", repr(other)))),
            }
            if let Some(a) = o.get("args").filter(|a| !a.is_object()) {
                return Err(invalid(format!("{} is not of type 'object'", repr(a))));
            }
            Ok(o.clone())
        })
        .collect()
}

/// Ironic's configdrive rules: a URL, a base64 string, or (1.56+) an object to build one from.
fn check_configdrive(cd: &Value, v: Version) -> ApiResult<()> {
    match cd {
        Value::String(s) => {
            if !s.contains("://") && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=\n\r\t ".contains(&b)) {
                return Err(ApiError::bad_request("Invalid configdrive format: it is neither a JSON, nor a URL, nor a base64 string"));
            }
        }
        Value::Object(o) => {
            if !v.at_least(f::BUILD_CONFIGDRIVE) {
                return Err(ApiError::bad_request(format!(
                    "Providing a JSON object for configdrive is only supported starting with API version 1.{}",
                    f::BUILD_CONFIGDRIVE
                )));
            }
            for (k, val) in o {
                let ok = match k.as_str() {
                    "meta_data" | "network_data" => val.is_object(),
                    "user_data" => val.is_object() || val.is_array() || val.is_string() || val.is_null(),
                    "vendor_data" => {
                        if !v.at_least(f::CONFIGDRIVE_VENDOR_DATA) {
                            return Err(ApiError::bad_request(format!(
                                "Providing vendor_data in configdrive is only supported starting with API version 1.{}",
                                f::CONFIGDRIVE_VENDOR_DATA
                            )));
                        }
                        val.is_object()
                    }
                    _ => false,
                };
                if !ok {
                    return Err(ApiError::bad_request(format!("Invalid configdrive format: unexpected or invalid key \"{k}\"")));
                }
            }
        }
        other => return Err(ApiError::bad_request(format!("Invalid configdrive format: {other}"))),
    }
    Ok(())
}

async fn set_raid(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    if !v.at_least(f::RAID_CONFIG) {
        return Err(ApiError::too_old(f::RAID_CONFIG));
    }
    let n = find(&s, &id, v).await?;
    let disks = body
        .get("logical_disks")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Invalid RAID configuration: \"logical_disks\" must be a list"))?;
    for d in disks {
        let ok = d.get("size_gb").is_some_and(|s| s.is_u64() || s == "MAX") && d.get("raid_level").is_some_and(Value::is_string);
        if !ok {
            return Err(ApiError::bad_request(format!(
                "Invalid RAID configuration: each logical disk needs \"size_gb\" (an integer or \"MAX\") and \"raid_level\": {d}"
            )));
        }
    }
    if n.interfaces.raid == "no-raid" {
        return Err(ApiError::bad_request(format!("RAID is not supported by the raid interface of node {}", n.uuid)));
    }
    let target = body.as_object().cloned().unwrap_or_default();
    update(&s, &n.uuid, move |n| {
        n.target_raid_config = target.clone();
        Ok(())
    })
    .await?;
    Ok(no_content())
}

// ------------------------------------------------------------------------------------- maintenance

async fn maintenance_on(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(other) => return Err(ApiError::bad_request(format!("Invalid maintenance reason {other}: a string is expected"))),
    };
    let n = find(&s, &id, v).await?;
    update(&s, &n.uuid, move |n| {
        n.maintenance = true;
        n.maintenance_reason = reason.clone();
        Ok(())
    })
    .await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/maintenance")))
}

async fn maintenance_off(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>) -> ApiResult<Response> {
    let n = find(&s, &id, v).await?;
    update(&s, &n.uuid, |n| {
        n.maintenance = false;
        n.maintenance_reason = None;
        n.fault = None;
        Ok(())
    })
    .await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/maintenance")))
}

// ------------------------------------------------------------------------------------- management

async fn validate_node(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = find(&s, &id, v).await?;
    let results = s.conductor.validate(&n.uuid).await?;
    let mut m = Map::new();
    for (kind, r) in results {
        if !v.at_least(ferric_core::version::interface_min(kind)) {
            continue;
        }
        m.insert(
            kind.to_string(),
            match r {
                Ok(()) => json!({"result": true}),
                Err(reason) => json!({"result": false, "reason": reason}),
            },
        );
    }
    Ok(Json(Value::Object(m)))
}

async fn get_boot_device(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = find(&s, &id, v).await?;
    let (dev, persistent) = s.conductor.get_boot_device(&n.uuid).await?;
    Ok(Json(json!({"boot_device": dev, "persistent": persistent})))
}

async fn set_boot_device(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let dev = body.get("boot_device").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"boot_device\""))?;
    let persistent = match body.get("persistent") {
        None | Some(Value::Null) => false,
        Some(p) => want_bool("persistent", p)?.unwrap_or(false),
    };
    let n = find(&s, &id, v).await?;
    s.conductor.set_boot_device(&n.uuid, dev, persistent).await?;
    Ok(no_content())
}

async fn supported_boot_devices(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = find(&s, &id, v).await?;
    Ok(Json(json!({"supported_boot_devices": s.conductor.supported_boot_devices(&n.uuid).await?})))
}

async fn inject_nmi(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    if !v.at_least(f::INJECT_NMI) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    if n.reservation.is_some() {
        return Err(ApiError::conflict(format!("Node {} is locked, please retry after the current operation is completed.", n.uuid)));
    }
    let driver = s.conductor.drivers().driver_for(&n).map_err(|e| ApiError::bad_request(e.to_string()))?;
    driver.management.validate(&n).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(no_content())
}

async fn vendor_methods(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    find(&s, &id, v).await?;
    Ok(Json(json!({})))
}

// ------------------------------------------------------------------------------------- VIFs

/// With the `noop` network interface, a VIF is recorded on a free port of the node
/// (`internal_info.tenant_vif_port_id`), as Ironic's VIFPortIDMixin does.
async fn list_vifs(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::VIFS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    let ports = s.store().list_ports(ferric_store::PortFilter { node_uuid: Some(n.uuid), ..Default::default() }, Default::default()).await?;
    let vifs: Vec<Value> = ports
        .iter()
        .filter_map(|p| p.internal_info.get("tenant_vif_port_id").and_then(Value::as_str))
        .map(|v| json!({"id": v}))
        .collect();
    Ok(Json(json!({"vifs": vifs})))
}

async fn attach_vif(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    if !v.at_least(f::VIFS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let vif = body.get("id").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"id\""))?.to_string();
    let n = find(&s, &id, v).await?;
    if n.reservation.is_some() {
        return Err(ApiError::conflict(format!("Node {} is locked, please retry after the current operation is completed.", n.uuid)));
    }
    let ports = s.store().list_ports(ferric_store::PortFilter { node_uuid: Some(n.uuid.clone()), ..Default::default() }, Default::default()).await?;
    if ports.iter().any(|p| p.internal_info.get("tenant_vif_port_id").and_then(Value::as_str) == Some(vif.as_str())) {
        return Err(ApiError::conflict(format!("Unable to attach VIF {vif} because it is already attached to node {}", n.uuid)));
    }
    let wanted_port = body.get("port_uuid").and_then(Value::as_str).map(str::to_string);
    let wanted_pg = body.get("portgroup_uuid").and_then(Value::as_str).map(str::to_string);
    if (wanted_port.is_some() || wanted_pg.is_some()) && !v.at_least(f::VIF_PORT_UUID) {
        return Err(ApiError::too_old(f::VIF_PORT_UUID));
    }
    if wanted_port.is_some() && wanted_pg.is_some() {
        return Err(ApiError::bad_request("Cannot specify both port_uuid and portgroup_uuid"));
    }
    let mut free = ports
        .into_iter()
        .filter(|p| !p.internal_info.contains_key("tenant_vif_port_id"))
        .filter(|p| wanted_port.as_ref().is_none_or(|w| &p.uuid == w))
        .filter(|p| wanted_pg.as_ref().is_none_or(|w| p.portgroup_uuid.as_ref() == Some(w)))
        .collect::<Vec<_>>();
    // Prefer PXE-enabled ports, as Ironic does.
    free.sort_by_key(|p| !p.pxe_enabled);
    let Some(mut port) = free.into_iter().next() else {
        return Err(ApiError::bad_request(format!("Unable to attach VIF {vif}, not enough free physical ports.")));
    };
    port.internal_info.insert("tenant_vif_port_id".into(), Value::String(vif));
    s.store().save_port(port).await?;
    Ok(no_content())
}

async fn detach_vif(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path((id, vif)): Path<(String, String)>) -> ApiResult<Response> {
    if !v.at_least(f::VIFS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    let ports = s.store().list_ports(ferric_store::PortFilter { node_uuid: Some(n.uuid.clone()), ..Default::default() }, Default::default()).await?;
    let Some(mut port) = ports.into_iter().find(|p| p.internal_info.get("tenant_vif_port_id").and_then(Value::as_str) == Some(vif.as_str())) else {
        return Err(ApiError::bad_request(format!("Unable to detach VIF {vif} from node {}: it is not attached.", n.uuid)));
    };
    port.internal_info.remove("tenant_vif_port_id");
    s.store().save_port(port).await?;
    Ok(no_content())
}


// ------------------------------------------------------------------------------------- console

async fn get_console(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = find(&s, &id, v).await?;
    let info = match (n.console_enabled, n.interfaces.console.as_str()) {
        // Ironic's fake console interface answers with this.
        (true, "fake") => json!({"type": "fake", "url": "fake-info"}),
        _ => Value::Null,
    };
    Ok(Json(json!({"console_enabled": n.console_enabled, "console_info": info})))
}

async fn set_console(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let enabled = match body.get("enabled") {
        Some(e) => want_bool("enabled", e)?.ok_or_else(|| ApiError::bad_request("Invalid value for enabled: null"))?,
        None => return Err(ApiError::bad_request("Missing argument: \"enabled\"")),
    };
    let n = find(&s, &id, v).await?;
    if n.interfaces.console == "no-console" {
        return Err(ApiError::bad_request(format!("No console interface is configured for node {}", n.uuid)));
    }
    update(&s, &n.uuid, move |n| {
        n.console_enabled = enabled;
        Ok(())
    })
    .await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/states/console")))
}

// ------------------------------------------------------------------------------------- traits

#[derive(Clone, Copy, PartialEq)]
enum TraitOp {
    Read,
    Put,
    Delete,
}

/// Below 1.37 Ironic answers 406 to reads, 405 to PUTs and 404 to DELETEs of traits.
fn traits_gate(v: Version, op: TraitOp) -> ApiResult<()> {
    if v.at_least(f::TRAITS) {
        return Ok(());
    }
    Err(match op {
        TraitOp::Read => ApiError::too_old(f::TRAITS),
        TraitOp::Put => ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "The method is not allowed for this resource at this API version."),
        TraitOp::Delete => ApiError::not_found("The resource could not be found."),
    })
}

fn check_trait(t: &str) -> ApiResult<()> {
    if !validate::is_valid_trait(t) {
        return Err(ApiError::bad_request(format!(
            "Invalid trait \"{t}\": a trait must be a standard trait or match ^CUSTOM_[A-Z0-9_]+$"
        )));
    }
    Ok(())
}

const MAX_TRAITS: usize = 50;

async fn update_traits(s: &AppState, id: &str, v: Version, f: impl Fn(&mut Vec<String>) -> ApiResult<()> + Clone + Send + 'static) -> ApiResult<Response> {
    let n = find(s, id, v).await?;
    update(s, &n.uuid, move |n| {
        f(&mut n.traits)?;
        if n.traits.len() > MAX_TRAITS {
            return Err(ApiError::bad_request(format!("Could not modify traits for node {}: a node can have at most {MAX_TRAITS} traits", n.uuid)));
        }
        Ok(())
    })
    .await?;
    Ok(no_content())
}

async fn list_traits(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    traits_gate(v, TraitOp::Read)?;
    let n = find(&s, &id, v).await?;
    Ok(Json(json!({"traits": n.traits})))
}

async fn set_traits(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    traits_gate(v, TraitOp::Put)?;
    let list = body.get("traits").and_then(Value::as_array).ok_or_else(|| ApiError::bad_request("Missing argument: \"traits\" (a list)"))?;
    let mut traits = Vec::new();
    for t in list {
        let t = t.as_str().ok_or_else(|| ApiError::bad_request(format!("Invalid trait {t}: a string is expected")))?;
        check_trait(t)?;
        if !traits.iter().any(|x| x == t) {
            traits.push(t.to_string());
        }
    }
    update_traits(&s, &id, v, move |ts| {
        *ts = traits.clone();
        Ok(())
    })
    .await
}

async fn add_trait(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path((id, t)): Path<(String, String)>) -> ApiResult<Response> {
    traits_gate(v, TraitOp::Put)?;
    check_trait(&t)?;
    update_traits(&s, &id, v, move |ts| {
        if !ts.contains(&t) {
            ts.push(t.clone());
        }
        Ok(())
    })
    .await
}

async fn remove_traits(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    traits_gate(v, TraitOp::Delete)?;
    update_traits(&s, &id, v, |ts| {
        ts.clear();
        Ok(())
    })
    .await
}

async fn remove_trait(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path((id, t)): Path<(String, String)>) -> ApiResult<Response> {
    traits_gate(v, TraitOp::Delete)?;
    let node = id.clone();
    update_traits(&s, &id, v, move |ts| {
        let before = ts.len();
        ts.retain(|x| x != &t);
        if ts.len() == before {
            return Err(ApiError::not_found(format!("Node {node} doesn't have a trait '{t}'")));
        }
        Ok(())
    })
    .await
}

// ------------------------------------------------------------------------------------- BIOS

fn bios_setting(node: &str, name: &str, value: &Value, base: &str, registry: bool) -> Value {
    let mut m = json!({"name": name, "value": value, "links": links(base, &format!("nodes/{node}/bios/{name}"))});
    if registry {
        // The fake BIOS has no registry: every field is known to be unknown.
        for k in ["attribute_type", "allowable_values", "lower_bound", "max_length", "min_length", "read_only", "reset_required", "unique", "upper_bound"] {
            m[k] = Value::Null;
        }
    }
    m
}

async fn list_bios(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::BIOS_INTERFACE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let detail = match q.get("detail") {
        None => false,
        Some(_) if !v.at_least(f::BIOS_REGISTRY) => return Err(ApiError::too_old(f::BIOS_REGISTRY)),
        Some(d) => parse_bool("detail", d)?,
    };
    let n = find(&s, &id, v).await?;
    let list: Vec<Value> = n.bios_settings.iter().map(|(k, val)| bios_setting(&n.uuid, k, val, &b, detail)).collect();
    Ok(Json(json!({"bios": list})))
}

async fn show_bios(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path((id, name)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::BIOS_INTERFACE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    let val = n
        .bios_settings
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("Node {} doesn't have a BIOS setting '{name}'", n.uuid)))?;
    Ok(Json(json!({ name.clone(): bios_setting(&n.uuid, &name, val, &b, v.at_least(f::BIOS_REGISTRY)) })))
}

// ------------------------------------------------------------------------------------- boot mode

async fn set_boot_mode(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    if !v.at_least(f::CHANGE_BOOT_MODE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let mode = body.get("target").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"target\""))?;
    if mode != "bios" && mode != "uefi" {
        return Err(ApiError::bad_request(format!("Invalid boot mode {mode}: valid modes are bios and uefi")));
    }
    let n = find(&s, &id, v).await?;
    s.conductor.change_boot_settings(&n.uuid, Some(mode.to_string()), None).await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/states")))
}

async fn set_secure_boot(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    if !v.at_least(f::CHANGE_BOOT_MODE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let on = match body.get("target") {
        Some(t) => want_bool("target", t)?.ok_or_else(|| ApiError::bad_request("Invalid secure boot target: null"))?,
        None => return Err(ApiError::bad_request("Missing argument: \"target\"")),
    };
    let n = find(&s, &id, v).await?;
    s.conductor.change_boot_settings(&n.uuid, None, Some(on)).await?;
    Ok(accepted(format!("{b}/v1/nodes/{id}/states")))
}

// ------------------------------------------------------------------------------------- indicators

fn indicators_gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::INDICATORS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

/// `name@component`, Ironic's unique indicator name.
fn split_indicator(unique: &str) -> ApiResult<(String, String)> {
    let (name, component) = unique.split_once('@').ok_or_else(|| ApiError::bad_request(format!("Malformed indicator name \"{unique}\"")))?;
    Ok((name.to_string(), component.to_string()))
}

async fn list_indicators(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    indicators_gate(v)?;
    let n = find(&s, &id, v).await?;
    let driver = s.conductor.drivers().driver_for(&n).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let list: Vec<Value> = driver
        .management
        .indicators(&n)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .into_iter()
        .map(|i| {
            let unique = format!("{}@{}", i.name, i.component);
            json!({"name": unique, "component": i.component, "readonly": i.readonly, "states": i.states,
                   "links": links(&b, &format!("nodes/{}/management/indicators/{unique}", n.uuid))})
        })
        .collect();
    Ok(Json(json!({"indicators": list})))
}

async fn get_indicator(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path((id, indicator)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    indicators_gate(v)?;
    let (name, component) = split_indicator(&indicator)?;
    let n = find(&s, &id, v).await?;
    let driver = s.conductor.drivers().driver_for(&n).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let state = driver.management.get_indicator(&n, &component, &name).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"state": state})))
}

async fn set_indicator(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path((id, indicator)): Path<(String, String)>, Query(q): Query<HashMap<String, String>>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    indicators_gate(v)?;
    let (name, component) = split_indicator(&indicator)?;
    // Ironic takes `state` from the body or the query string.
    let state = body.get("state").and_then(Value::as_str).map(str::to_string).or_else(|| q.get("state").cloned());
    let state = state.ok_or_else(|| ApiError::bad_request("Missing argument: \"state\""))?;
    let n = find(&s, &id, v).await?;
    if let Some(holder) = &n.reservation {
        return Err(ApiError::node_locked(&n.uuid, holder));
    }
    let driver = s.conductor.drivers().driver_for(&n).map_err(|e| ApiError::bad_request(e.to_string()))?;
    driver.management.set_indicator(&n, &component, &name, &state).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(no_content())
}

// ------------------------------------------------------------------------------------- children

async fn children(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::PARENT_NODE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    let kids = s
        .store()
        .list_nodes(NodeFilter { parent_node: Some(n.uuid.clone()), ..Default::default() }, Default::default())
        .await?;
    let uuids: Vec<&str> = kids.iter().map(|k| k.uuid.as_str()).collect();
    Ok(Json(json!({
        "children": uuids,
        "links": {"href": format!("{b}/v1/nodes/?parent_node={}", n.uuid), "rel": "children"},
    })))
}

// ------------------------------------------------------------------------------------- firmware

/// Firmware component fields (Ironic's `api/schemas/v1/firmware.py`); the last three from 1.114.
const FIRMWARE_FIELDS: &[&str] = &[
    "created_at", "updated_at", "component", "initial_version", "current_version", "last_version_flashed", "vendor",
    "model", "serial_number",
];

/// `GET /v1/nodes/{node}/firmware` (API 1.86): the node's firmware components. The fake
/// firmware interface, like Ironic's, caches none, so the list is empty for fake-hardware.
async fn list_firmware(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::FIRMWARE_INTERFACE) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    wire::only_params(&q, &["fields", "detail"])?;
    if let Some(fields) = q.get("fields") {
        // Ironic's `string_list`: lower-cased, blanks and repeats dropped.
        let mut wanted: Vec<String> = Vec::new();
        for name in fields.split(',').map(|f| f.trim().to_lowercase()).filter(|f| !f.is_empty()) {
            if !wanted.contains(&name) {
                wanted.push(name);
            }
        }
        if let Some(bad) = wanted.iter().find(|f| !FIRMWARE_FIELDS.contains(&f.as_str())) {
            let known = ferric_core::validate::py_repr(&json!(FIRMWARE_FIELDS));
            return Err(ApiError::bad_request(format!("Schema error: '{bad}' is not one of {known}")));
        }
        let mut identity: Vec<&str> = wanted.iter().map(String::as_str).filter(|f| ["vendor", "model", "serial_number"].contains(f)).collect();
        if !identity.is_empty() && !v.at_least(f::FIRMWARE_IDENTITY) {
            identity.sort_unstable();
            return Err(ApiError::bad_request(format!(
                "Fields {} are not allowed in this API version. They require at least API version 1.{}.",
                identity.join(", "),
                f::FIRMWARE_IDENTITY
            )));
        }
    }
    if let Some(d) = q.get("detail") {
        // Ironic's query schema wants a JSON boolean, which a query string never is.
        return Err(ApiError::bad_request(format!("Schema error: {} is not of type 'boolean'", ferric_core::validate::py_repr(&json!(d)))));
    }
    find(&s, &id, v).await?;
    Ok(Json(json!({"firmware": []})))
}

// ------------------------------------------------------------------------------------- vmedia

/// Devices that make sense for virtual media (Ironic's `boot_devices.VMEDIA_DEVICES`).
const VMEDIA_DEVICES: &[&str] = &["disk", "cdrom", "floppy"];

fn vmedia_gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::VMEDIA) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

/// `GET /v1/nodes/{node}/vmedia` (API 1.93): what the management interface reports as
/// attached; before 1.93 the path has no GET.
async fn get_vmedia(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if !v.at_least(f::GET_VMEDIA) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let n = find(&s, &id, v).await?;
    Ok(Json(s.conductor.get_virtual_media(&n.uuid).await?))
}

/// Other methods: the path does not exist before 1.89 (404, as Ironic's lookup), then 405.
async fn other_vmedia(ApiVersion(v): ApiVersion) -> ApiError {
    match vmedia_gate(v) {
        Err(e) => e,
        Ok(()) => ApiError::method_not_allowed("The method is not allowed for this resource."),
    }
}

/// `POST /v1/nodes/{node}/vmedia` (API 1.89), 204 once the conductor took the work; how it
/// went shows in `last_error` and the node's history. With fake-hardware it fails there, as
/// in Ironic: the fake boot interface cannot publish images.
async fn attach_vmedia(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    vmedia_gate(v)?;
    let body = if body.is_null() { json!({}) } else { body };
    let schema = |m: String| ApiError::bad_request(format!("Schema error for vmedia: {m}"));
    let repr = ferric_core::validate::py_repr;
    let o = body.as_object().ok_or_else(|| schema(format!("{} is not of type 'object'", repr(&body))))?;
    for key in ["device_type", "image_url"] {
        if !o.contains_key(key) {
            return Err(schema(format!("'{key}' is a required property")));
        }
    }
    let extra: Vec<String> = o.keys().filter(|k| !["device_type", "image_url", "image_download_source"].contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        return Err(schema(format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", "))));
    }
    for (key, allowed) in [("device_type", Some(VMEDIA_DEVICES)), ("image_url", None), ("image_download_source", Some(&["http", "local", "swift"][..]))] {
        let Some(val) = o.get(key) else { continue };
        let Some(text) = val.as_str() else {
            return Err(schema(format!("{} is not of type 'string'", repr(val))));
        };
        if let Some(allowed) = allowed {
            if !allowed.contains(&text) {
                return Err(schema(format!("{} is not one of {}", repr(val), repr(&json!(allowed)))));
            }
        }
    }
    let device_type = o["device_type"].as_str().unwrap_or_default().to_string();
    let image_url = o["image_url"].as_str().unwrap_or_default().to_string();
    let scheme = url_scheme(&image_url);
    if !["http", "https", "nfs", "cifs", "smb"].contains(&scheme.as_str()) {
        return Err(ApiError::bad_request(format!("Unsupported or missing URL scheme: {scheme}")));
    }
    let n = find(&s, &id, v).await?;
    s.conductor.attach_virtual_media(&n.uuid, device_type, image_url).await?;
    Ok(no_content())
}

/// The scheme of a URL as Python's `urlparse` finds it (lower-cased; empty when none).
fn url_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, _))
            if scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            scheme.to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

/// `DELETE /v1/nodes/{node}/vmedia[?device_types=cdrom,...]` (API 1.89): detach the given
/// devices, or all; 204 once the conductor took the work.
async fn detach_vmedia(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    vmedia_gate(v)?;
    wire::only_params(&q, &["device_types"])?;
    let device_types = q.get("device_types").map(|d| {
        let mut out: Vec<String> = Vec::new();
        for t in d.split(',').map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    });
    if let Some(types) = &device_types {
        let invalid: Vec<&str> = types.iter().map(String::as_str).filter(|t| !VMEDIA_DEVICES.contains(t)).collect();
        if !invalid.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Invalid device type(s) {} (valid are {})",
                invalid.join(", "),
                VMEDIA_DEVICES.join(", ")
            )));
        }
    }
    let n = find(&s, &id, v).await?;
    s.conductor.detach_virtual_media(&n.uuid, device_types).await?;
    Ok(no_content())
}
