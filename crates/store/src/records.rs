//! Typed access to the tables: each record is a JSON document plus indexed columns.

use crate::{Result, Store, StoreError};
use ferric_core::rules::InspectionRule;
use ferric_core::{
    Allocation, Chassis, Conductor, DeployTemplate, Node, NodeHistory, NodeInventory, Port, Portgroup, Runbook, VolumeConnector, VolumeTarget,
};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde::{de::DeserializeOwned, Serialize};

/// A record kept as a JSON document in `TABLE`, with extra indexed `columns`.
pub(crate) trait Record: Serialize + DeserializeOwned + Send + 'static {
    const TABLE: &'static str;
    const KIND: &'static str;
    fn set_id(&mut self, id: i64);
    fn set_updated_at(&mut self, t: ferric_core::Timestamp);
    fn uuid(&self) -> &str;
    /// Indexed/unique columns other than `id`, `uuid` and `data`.
    fn columns(&self) -> Vec<(&'static str, Sql)>;
}

fn opt(s: &Option<String>) -> Sql {
    s.clone().map(Sql::Text).unwrap_or(Sql::Null)
}

impl Record for Node {
    const TABLE: &'static str = "nodes";
    const KIND: &'static str = "Node";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![
            ("name", opt(&self.name)),
            ("instance_uuid", opt(&self.instance_uuid)),
            ("provision_state", Sql::Text(self.provision_state.as_str().into())),
            ("driver", Sql::Text(self.driver.clone())),
            ("maintenance", Sql::Integer(self.maintenance as i64)),
            ("conductor_group", Sql::Text(self.conductor_group.clone())),
            ("parent_node", opt(&self.parent_node)),
        ]
    }
}

impl Record for Port {
    const TABLE: &'static str = "ports";
    const KIND: &'static str = "Port";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![
            ("address", Sql::Text(self.address.clone())),
            ("name", opt(&self.name)),
            ("node_uuid", Sql::Text(self.node_uuid.clone())),
            ("portgroup_uuid", opt(&self.portgroup_uuid)),
        ]
    }
}

impl Record for Portgroup {
    const TABLE: &'static str = "portgroups";
    const KIND: &'static str = "Portgroup";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![("name", opt(&self.name)), ("address", opt(&self.address)), ("node_uuid", Sql::Text(self.node_uuid.clone()))]
    }
}

impl Record for Chassis {
    const TABLE: &'static str = "chassis";
    const KIND: &'static str = "Chassis";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![]
    }
}

impl Record for VolumeConnector {
    const TABLE: &'static str = "volume_connectors";
    const KIND: &'static str = "VolumeConnector";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![
            ("node_uuid", Sql::Text(self.node_uuid.clone())),
            ("type", Sql::Text(self.kind.clone())),
            ("connector_id", Sql::Text(self.connector_id.clone())),
        ]
    }
}

impl Record for VolumeTarget {
    const TABLE: &'static str = "volume_targets";
    const KIND: &'static str = "VolumeTarget";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![
            ("node_uuid", Sql::Text(self.node_uuid.clone())),
            ("boot_index", Sql::Integer(self.boot_index)),
            ("volume_id", Sql::Text(self.volume_id.clone())),
        ]
    }
}

impl Record for Allocation {
    const TABLE: &'static str = "allocations";
    const KIND: &'static str = "Allocation";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![("name", opt(&self.name)), ("node_uuid", opt(&self.node_uuid)), ("state", Sql::Text(self.state.clone()))]
    }
}

impl Record for NodeHistory {
    const TABLE: &'static str = "node_history";
    const KIND: &'static str = "Node history record";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    /// History entries never change.
    fn set_updated_at(&mut self, _t: ferric_core::Timestamp) {}
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![
            ("node_uuid", Sql::Text(self.node_uuid.clone())),
            ("created_at", Sql::Text(sortable_time(&self.created_at))),
            ("severity", Sql::Text(self.severity.clone())),
            ("event_type", Sql::Text(self.event_type.clone())),
        ]
    }
}

const HISTORY_COLUMNS: &[&str] = &["node_uuid", "created_at", "severity", "event_type"];

/// A timestamp as text that sorts in time order (fixed width, UTC).
pub(crate) fn sortable_time(t: &ferric_core::Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Add a history entry and keep only the node's `keep` newest ones.
fn insert_history(c: &Connection, entry: NodeHistory, keep: usize) -> Result<NodeHistory> {
    let node = entry.node_uuid.clone();
    let entry = insert(c, entry)?;
    // The id of the newest entry that falls outside the `keep` newest, if any.
    let cut: Option<i64> = c
        .query_row(
            "SELECT id FROM node_history WHERE node_uuid = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
            rusqlite::params![node, keep as i64],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(cut) = cut {
        c.execute("DELETE FROM node_history WHERE node_uuid = ?1 AND id <= ?2", rusqlite::params![node, cut])?;
    }
    Ok(entry)
}

/// How inventories are kept at rest (the `encoding` column).
pub(crate) const INVENTORY_ENCODING: &str = "zlib+json";

pub(crate) fn compress_inventory(inventory: &serde_json::Value, plugin_data: &serde_json::Value) -> Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    thread_local! {
        // One compressor per thread, reset for each document: a new one allocates and zeroes
        // its tables, which cost as much as compressing a report (callgrind). Level `fast`:
        // reports are compressed on the request path, and JSON compresses well at any level.
        static ZLIB: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::fast(), true));
    }
    let json = serde_json::to_vec(&serde_json::json!({"inventory": inventory, "plugin_data": plugin_data}))?;
    ZLIB.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        let mut out = Vec::with_capacity(json.len() / 3 + 64);
        loop {
            let done = z.total_in() as usize;
            match z.compress_vec(&json[done..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) => out.reserve(out.capacity().max(256)),
                Err(e) => return Err(std::io::Error::other(e).into()),
            }
        }
    })
}

pub(crate) fn decompress_inventory(encoding: &str, data: &[u8]) -> Result<(serde_json::Value, serde_json::Value)> {
    use std::io::Read;
    if encoding != INVENTORY_ENCODING {
        return Err(StoreError::InvalidQuery(format!("unknown inventory encoding {encoding}")));
    }
    let mut json = Vec::with_capacity(data.len() * 4);
    flate2::read::ZlibDecoder::new(data).read_to_end(&mut json)?;
    let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)?;
    Ok((
        doc.remove("inventory").unwrap_or(serde_json::Value::Null),
        doc.remove("plugin_data").unwrap_or(serde_json::Value::Null),
    ))
}

impl Record for DeployTemplate {
    const TABLE: &'static str = "deploy_templates";
    const KIND: &'static str = "Deploy template";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![("name", Sql::Text(self.name.clone()))]
    }
}

impl Record for InspectionRule {
    const TABLE: &'static str = "inspection_rules";
    const KIND: &'static str = "Rule";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![("priority", Sql::Integer(self.priority)), ("phase", Sql::Text(self.phase.clone()))]
    }
}

const RULE_COLUMNS: &[&str] = &["priority", "phase"];

/// Everything inspection processing writes, applied in one transaction
/// ([`Store::save_inspection`]).
#[derive(Debug, Clone, Default)]
pub struct InspectionWrite {
    /// The node, held by `owner`.
    pub node: Node,
    pub owner: String,
    pub history: Vec<NodeHistory>,
    pub keep_history: usize,
    /// Ports to delete (UUIDs), then ports to replace, then ports to create. A port to create
    /// whose MAC address another port already has is skipped, as Ironic skips it.
    pub delete_ports: Vec<String>,
    pub save_ports: Vec<Port>,
    pub create_ports: Vec<Port>,
    pub inventory: serde_json::Value,
    pub plugin_data: serde_json::Value,
    /// The stored inspection (`Store::begin_inspection`) this finishes, if any.
    pub record: Option<String>,
}

impl Record for Runbook {
    const TABLE: &'static str = "runbooks";
    const KIND: &'static str = "Runbook";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_updated_at(&mut self, t: ferric_core::Timestamp) {
        self.updated_at = Some(t);
    }
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn columns(&self) -> Vec<(&'static str, Sql)> {
        vec![("name", Sql::Text(self.name.clone())), ("owner", opt(&self.owner)), ("public", Sql::Integer(self.public as i64))]
    }
}

/// Turn a UNIQUE violation into [`StoreError::Duplicate`] naming the column and value.
fn map_unique<R: Record>(e: rusqlite::Error, rec: &R) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, Some(msg)) = &e {
        if err.code == rusqlite::ErrorCode::ConstraintViolation {
            // "UNIQUE constraint failed: t.a, t.b" names the last column of a composite key last.
            if let Some(col) = msg.strip_prefix("UNIQUE constraint failed: ").and_then(|c| c.rsplit('.').next()) {
                let value = if col == "uuid" {
                    rec.uuid().to_string()
                } else {
                    rec.columns()
                        .into_iter()
                        .find(|(c, _)| *c == col)
                        .map(|(_, v)| match v {
                            Sql::Text(t) => t,
                            Sql::Integer(i) => i.to_string(),
                            _ => String::new(),
                        })
                        .unwrap_or_default()
                };
                return StoreError::Duplicate { kind: R::KIND, field: col.to_string(), value };
            }
        }
    }
    e.into()
}

pub(crate) fn insert<R: Record>(conn: &Connection, mut rec: R) -> Result<R> {
    let cols = rec.columns();
    let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "INSERT INTO {} (uuid, {}data) VALUES (?{})",
        R::TABLE,
        names.iter().map(|n| format!("{n}, ")).collect::<String>(),
        ", ?".repeat(cols.len() + 1)
    );
    let mut params: Vec<Sql> = vec![Sql::Text(rec.uuid().to_string())];
    params.extend(cols.into_iter().map(|(_, v)| v));
    params.push(Sql::Text(serde_json::to_string(&rec)?));
    // Cached: a record type's INSERT is always the same text, and parsing it showed in profiles.
    conn.prepare_cached(&sql)?.execute(params_from_iter(params)).map_err(|e| map_unique(e, &rec))?;
    rec.set_id(conn.last_insert_rowid());
    Ok(rec)
}

/// Replace the record with `rec.uuid()`. `extra_where` adds a condition (e.g. on the lock).
pub(crate) fn replace<R: Record>(conn: &Connection, rec: &R, extra_where: &str, extra: Vec<Sql>) -> Result<usize> {
    let cols = rec.columns();
    let sets: String = cols.iter().map(|(c, _)| format!("{c} = ?, ")).collect();
    let sql = format!("UPDATE {} SET {sets}data = ? WHERE uuid = ?{extra_where}", R::TABLE);
    let mut params: Vec<Sql> = cols.into_iter().map(|(_, v)| v).collect();
    params.push(Sql::Text(serde_json::to_string(rec)?));
    params.push(Sql::Text(rec.uuid().to_string()));
    params.extend(extra);
    conn.prepare_cached(&sql)?.execute(params_from_iter(params)).map_err(|e| map_unique(e, rec))
}

/// Replace a whole record (no lock involved), stamping `updated_at`.
fn save_doc<R: Record>(c: &Connection, mut rec: R) -> Result<R> {
    rec.set_updated_at(ferric_core::model::now());
    if replace(c, &rec, "", vec![])? != 1 {
        return Err(StoreError::NotFound { kind: R::KIND, ident: rec.uuid().to_string() });
    }
    Ok(rec)
}

/// Delete the record unless `members_sql` (one `?1` = the uuid) counts something; returns
/// that count (0 when deleted).
fn delete_unless_members<R: Record>(c: &Connection, uuid: &str, members_sql: &str) -> Result<usize> {
    let members: i64 = c.query_row(members_sql, [uuid], |r| r.get(0))?;
    if members > 0 {
        return Ok(members as usize);
    }
    delete_doc::<R>(c, uuid)?;
    Ok(0)
}

fn delete_doc<R: Record>(c: &Connection, uuid: &str) -> Result<()> {
    match c.execute(&format!("DELETE FROM {} WHERE uuid = ?1", R::TABLE), [uuid])? {
        0 => Err(StoreError::NotFound { kind: R::KIND, ident: uuid.to_string() }),
        _ => Ok(()),
    }
}

/// List plain (lock-free) records.
fn list_docs<R: Record>(c: &Connection, columns: &[&str], w: Where, q: &ListQuery) -> Result<Vec<R>> {
    let rows = list_rows(c, R::TABLE, columns, "id, data", w, q, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    rows.into_iter().map(|(id, d)| decode(id, &d)).collect()
}

fn decode<R: Record>(id: i64, data: &str) -> Result<R> {
    let mut r: R = serde_json::from_str(data)?;
    r.set_id(id);
    Ok(r)
}

pub(crate) fn get_by<R: Record>(conn: &Connection, column: &str, value: &str) -> Result<Option<R>> {
    let sql = format!("SELECT id, data FROM {} WHERE {column} = ?1", R::TABLE);
    // Cached: parsing the statement again was a measurable share of a heartbeat (BENCHMARKS.md).
    let row: Option<(i64, String)> =
        conn.prepare_cached(&sql)?.query_row([value], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    row.map(|(id, d)| decode(id, &d)).transpose()
}

pub(crate) fn get_node_by(conn: &Connection, column: &str, value: &str) -> Result<Option<Node>> {
    let sql = format!("SELECT id, reservation, data FROM nodes WHERE {column} = ?1");
    let row: Option<(i64, Option<String>, String)> =
        conn.prepare_cached(&sql)?.query_row([value], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    row.map(|(id, res, d)| {
        let mut n: Node = decode(id, &d)?;
        n.reservation = res;
        Ok(n)
    })
    .transpose()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

/// Pagination and ordering of a list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub limit: Option<usize>,
    /// UUID of the last record of the previous page.
    pub marker: Option<String>,
    /// A column or scalar field name (validated by the caller against the record's fields).
    pub sort_key: Option<String>,
    pub sort_dir: SortDir,
}

/// Node list filters (`GET /v1/nodes?...`). `None` means "do not filter".
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    pub provision_state: Option<String>,
    pub driver: Option<String>,
    pub maintenance: Option<bool>,
    pub associated: Option<bool>,
    pub instance_uuid: Option<String>,
    pub chassis_uuid: Option<String>,
    pub resource_class: Option<String>,
    pub conductor_group: Option<String>,
    pub conductor: Option<String>,
    pub owner: Option<String>,
    pub lessee: Option<String>,
    /// Matches owner or lessee.
    pub project: Option<String>,
    pub fault: Option<String>,
    pub retired: Option<bool>,
    pub shard: Option<Vec<String>>,
    pub sharded: Option<bool>,
    pub parent_node: Option<String>,
    pub description_contains: Option<String>,
    pub reserved_by: Option<String>,
    pub provision_states: Option<Vec<String>>,
    /// Leave out child nodes (those with a parent), as Ironic's list does by default.
    pub exclude_children: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PortFilter {
    pub node_uuid: Option<String>,
    pub node_uuids: Option<Vec<String>>,
    pub portgroup_uuid: Option<String>,
    pub address: Option<String>,
    pub addresses: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct AllocationFilter {
    pub node_uuid: Option<String>,
    pub state: Option<String>,
    pub resource_class: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PortgroupFilter {
    pub node_uuid: Option<String>,
    pub address: Option<String>,
}

/// SQL conditions built up for a list.
#[derive(Default)]
struct Where {
    conds: Vec<String>,
    params: Vec<Sql>,
}

impl Where {
    fn eq(&mut self, expr: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.conds.push(format!("{expr} = ?"));
            self.params.push(Sql::Text(v.clone()));
        }
    }
    fn flag(&mut self, expr: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.conds.push(format!("IFNULL({expr}, 0) = ?"));
            self.params.push(Sql::Integer(v as i64));
        }
    }
    fn any_of(&mut self, expr: &str, vs: &Option<Vec<String>>) {
        if let Some(vs) = vs {
            if vs.is_empty() {
                self.conds.push("0".into());
            } else {
                self.conds.push(format!("{expr} IN ({})", vec!["?"; vs.len()].join(", ")));
                self.params.extend(vs.iter().cloned().map(Sql::Text));
            }
        }
    }
    fn raw(&mut self, cond: &str) {
        self.conds.push(cond.to_string());
    }
}

/// The SQL expression for a sort key: a column when there is one, else the JSON field.
fn sort_expr(table_columns: &[&str], key: &str) -> Result<String> {
    if !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') || key.is_empty() {
        return Err(StoreError::InvalidQuery(format!("invalid sort key {key}")));
    }
    Ok(if key == "id" || key == "uuid" || table_columns.contains(&key) {
        key.to_string()
    } else {
        format!("json_extract(data, '$.{key}')")
    })
}

const NODE_COLUMNS: &[&str] = &["name", "instance_uuid", "provision_state", "driver", "maintenance", "conductor_group"];

/// Build and run `SELECT <select> FROM table WHERE ... ORDER BY ... LIMIT ...`.
fn list_rows<T>(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    select: &str,
    w: Where,
    q: &ListQuery,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    each_row(conn, table, columns, select, w, q, |r| {
        out.push(map(r)?);
        Ok(())
    })?;
    Ok(out)
}

/// [`list_rows`], each row handed to `each` as it is stepped (nothing collected).
fn each_row(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    select: &str,
    mut w: Where,
    q: &ListQuery,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    let key = sort_expr(columns, q.sort_key.as_deref().unwrap_or("id"))?;
    let key = if key == "id" { key } else { format!("IFNULL({key}, '')") };
    let (dir, cmp) = match q.sort_dir {
        SortDir::Asc => ("ASC", ">"),
        SortDir::Desc => ("DESC", "<"),
    };
    if let Some(marker) = &q.marker {
        let found: Option<i64> = conn
            .query_row(&format!("SELECT id FROM {table} WHERE uuid = ?1"), [marker], |r| r.get(0))
            .optional()?;
        let Some(mid) = found else {
            return Err(StoreError::InvalidQuery(format!("Marker {marker} could not be found.")));
        };
        w.conds.push(format!(
            "({key}, id) {cmp} ((SELECT {key} FROM {table} WHERE id = ?), ?)",
        ));
        w.params.push(Sql::Integer(mid));
        w.params.push(Sql::Integer(mid));
    }
    let mut sql = format!("SELECT {select} FROM {table}");
    if !w.conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&w.conds.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY {key} {dir}, id {dir}"));
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(w.params))?;
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

fn node_where(f: &NodeFilter) -> Where {
    let mut w = Where::default();
    w.eq("provision_state", &f.provision_state);
    w.any_of("provision_state", &f.provision_states);
    w.eq("driver", &f.driver);
    w.flag("maintenance", f.maintenance);
    match f.associated {
        Some(true) => w.raw("instance_uuid IS NOT NULL"),
        Some(false) => w.raw("instance_uuid IS NULL"),
        None => {}
    }
    w.eq("instance_uuid", &f.instance_uuid);
    w.eq("json_extract(data, '$.chassis_uuid')", &f.chassis_uuid);
    w.eq("json_extract(data, '$.resource_class')", &f.resource_class);
    w.eq("conductor_group", &f.conductor_group);
    w.eq("json_extract(data, '$.conductor')", &f.conductor);
    w.eq("json_extract(data, '$.owner')", &f.owner);
    w.eq("json_extract(data, '$.lessee')", &f.lessee);
    if let Some(p) = &f.project {
        w.conds.push("(json_extract(data, '$.owner') = ? OR json_extract(data, '$.lessee') = ?)".into());
        w.params.push(Sql::Text(p.clone()));
        w.params.push(Sql::Text(p.clone()));
    }
    w.eq("json_extract(data, '$.fault')", &f.fault);
    w.flag("json_extract(data, '$.retired')", f.retired);
    w.any_of("json_extract(data, '$.shard')", &f.shard);
    match f.sharded {
        Some(true) => w.raw("json_extract(data, '$.shard') IS NOT NULL"),
        Some(false) => w.raw("json_extract(data, '$.shard') IS NULL"),
        None => {}
    }
    w.eq("parent_node", &f.parent_node);
    if f.exclude_children && f.parent_node.is_none() {
        w.raw("parent_node IS NULL");
    }
    if let Some(d) = &f.description_contains {
        w.conds.push("instr(json_extract(data, '$.description'), ?) > 0".into());
        w.params.push(Sql::Text(d.clone()));
    }
    w.eq("reservation", &f.reserved_by);
    w
}

fn node_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Option<String>, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn decode_node((id, res, data): (i64, Option<String>, String)) -> Result<Node> {
    let mut n: Node = decode(id, &data)?;
    n.reservation = res;
    Ok(n)
}

/// A node identified by UUID or by name.
fn find_node(conn: &Connection, ident: &str) -> Result<Option<Node>> {
    if let Some(n) = get_node_by(conn, "uuid", ident)? {
        return Ok(Some(n));
    }
    get_node_by(conn, "name", ident)
}

pub(crate) fn not_found(kind: &'static str, ident: &str) -> StoreError {
    StoreError::NotFound { kind, ident: ident.to_string() }
}

/// The key of the agent's token in `driver_internal_info`.
pub const AGENT_TOKEN: &str = "agent_secret_token";

/// A node as a heartbeat sees it (see [`Store::agent_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub uuid: String,
    pub provision_state: ferric_core::ProvisionState,
    pub token: Option<String>,
}

/// Columns a record may be named by: its UUID, or its UUID then its name.
const BY_UUID: &[&str] = &["uuid"];
const BY_UUID_OR_NAME: &[&str] = &["uuid", "name"];

/// The shapes every document table shares, written once.
impl Store {
    async fn insert_doc<R: Record>(&self, rec: R) -> Result<R> {
        self.write(move |c| insert(c, rec)).await
    }

    /// Insert a record that belongs to a node, refusing (NotFound) when the node does not exist.
    async fn insert_under_node<R: Record>(&self, rec: R, node_uuid: String) -> Result<R> {
        self.write(move |c| {
            if get_node_by(c, "uuid", &node_uuid)?.is_none() {
                return Err(not_found("Node", &node_uuid));
            }
            insert(c, rec)
        })
        .await
    }

    /// The record whose first matching `columns` equals `ident`; `label` names it in errors.
    async fn find_doc<R: Record>(&self, label: &'static str, ident: &str, columns: &'static [&'static str]) -> Result<R> {
        let ident = ident.to_string();
        self.read_now(move |c| {
            for col in columns {
                if let Some(r) = get_by::<R>(c, col, &ident)? {
                    return Ok(r);
                }
            }
            Err(not_found(label, &ident))
        })
        .await
    }

    async fn save_rec<R: Record>(&self, rec: R) -> Result<R> {
        self.write(move |c| save_doc(c, rec)).await
    }

    async fn delete_rec<R: Record>(&self, uuid: &str) -> Result<()> {
        let uuid = uuid.to_string();
        self.write(move |c| delete_doc::<R>(c, &uuid)).await
    }
}

impl Store {
    // ---------------------------------------------------------------- nodes

    pub async fn create_node(&self, node: Node) -> Result<Node> {
        self.write(move |c| insert(c, node)).await
    }

    /// A node by UUID or name.
    pub async fn get_node(&self, ident: &str) -> Result<Node> {
        let ident = ident.to_string();
        self.read_now(move |c| find_node(c, &ident)?.ok_or_else(|| not_found("Node", &ident))).await
    }

    pub async fn get_node_by_instance(&self, instance_uuid: &str) -> Result<Node> {
        let ident = instance_uuid.to_string();
        self.read_now(move |c| get_node_by(c, "instance_uuid", &ident)?.ok_or_else(|| not_found("Node", &ident))).await
    }

    pub async fn list_nodes(&self, filter: NodeFilter, q: ListQuery) -> Result<Vec<Node>> {
        self.read(move |c| {
            let rows = list_rows(c, "nodes", NODE_COLUMNS, "id, reservation, data", node_where(&filter), &q, node_row)?;
            rows.into_iter().map(decode_node).collect()
        })
        .await
    }

    /// [`Store::list_nodes`], each node handed to `f` as it is read (on the reader's thread),
    /// with `acc` for `f` to write into: a page is never held decoded, nor its rows copied.
    pub async fn for_each_node<A, F>(&self, filter: NodeFilter, q: ListQuery, mut acc: A, mut f: F) -> Result<A>
    where
        A: Send + 'static,
        F: FnMut(&mut A, &Node) -> Result<()> + Send + 'static,
    {
        self.read(move |c| {
            each_row(c, "nodes", NODE_COLUMNS, "id, reservation, data", node_where(&filter), &q, |r| {
                let data = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
                let mut n: Node = decode(r.get(0)?, data)?;
                n.reservation = r.get(1)?;
                f(&mut acc, &n)
            })?;
            Ok(acc)
        })
        .await
    }

    /// `(shard, count)` over all nodes, most populated first; no shard is `None`.
    pub async fn shard_counts(&self) -> Result<Vec<(Option<String>, usize)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT json_extract(data, '$.shard') AS s, COUNT(*) FROM nodes GROUP BY s ORDER BY COUNT(*) DESC, s",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)? as usize)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub async fn count_nodes(&self, filter: NodeFilter) -> Result<usize> {
        self.read(move |c| {
            let w = node_where(&filter);
            let mut sql = "SELECT COUNT(*) FROM nodes".to_string();
            if !w.conds.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&w.conds.join(" AND "));
            }
            let n: i64 = c.query_row(&sql, params_from_iter(w.params), |r| r.get(0))?;
            Ok(n as usize)
        })
        .await
    }

    /// Atomically read, change and write a node that nobody holds a lock on (or that `owner`
    /// holds). `f` may refuse the change with its own error, leaving the record untouched.
    pub async fn update_node<E, F>(&self, ident: &str, owner: Option<&str>, f: F) -> Result<Result<Node, E>>
    where
        E: Send + 'static,
        F: FnOnce(&mut Node) -> Result<(), E> + Send + 'static,
    {
        self.update_node_recording(ident, owner, 0, move |n| f(n).map(|()| None)).await
    }

    /// [`Store::update_node`] where `f` may also return a history entry for the node, written
    /// in the same transaction as the change; the node then keeps its `keep` newest entries.
    pub async fn update_node_recording<E, F>(&self, ident: &str, owner: Option<&str>, keep: usize, f: F) -> Result<Result<Node, E>>
    where
        E: Send + 'static,
        F: FnOnce(&mut Node) -> Result<Option<NodeHistory>, E> + Send + 'static,
    {
        let ident = ident.to_string();
        let owner = owner.map(str::to_string);
        self.write(move |c| {
            let mut node = find_node(c, &ident)?.ok_or_else(|| not_found("Node", &ident))?;
            if let Some(holder) = &node.reservation {
                if owner.as_deref() != Some(holder.as_str()) {
                    return Err(StoreError::Locked { node: node.uuid.clone(), holder: holder.clone() });
                }
            }
            let entry = match f(&mut node) {
                Ok(entry) => entry,
                Err(e) => return Ok(Err(e)),
            };
            node.updated_at = Some(ferric_core::model::now());
            replace(c, &node, "", vec![])?;
            if let Some(mut h) = entry {
                h.node_uuid = node.uuid.clone();
                insert_history(c, h, keep)?;
            }
            Ok(Ok(node))
        })
        .await
    }

    /// What an agent's heartbeat is checked against: the node's columns and its token (a
    /// `json_extract` of the document), without decoding the whole node.
    pub async fn agent_view(&self, ident: &str) -> Result<AgentView> {
        let ident = ident.to_string();
        self.read_now(move |c| {
            for col in BY_UUID_OR_NAME {
                let sql = format!(
                    "SELECT uuid, provision_state, json_extract(data, '$.driver_internal_info.{AGENT_TOKEN}') FROM nodes WHERE {col} = ?1"
                );
                let row = c
                    .prepare_cached(&sql)?
                    .query_row([&ident], |r| {
                        let state: String = r.get(1)?;
                        let provision_state = ferric_core::ProvisionState::parse(&state).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, format!("unknown provision state {state}").into())
                        })?;
                        Ok(AgentView { uuid: r.get(0)?, provision_state, token: r.get_ref(2)?.as_str().ok().map(str::to_string) })
                    })
                    .optional()?;
                if let Some(v) = row {
                    return Ok(v);
                }
            }
            Err(not_found("Node", &ident))
        })
        .await
    }

    /// Record an agent's heartbeat: set `fields` (string values) in the node's
    /// `driver_internal_info` and stamp `updated_at`, with SQLite's `json_set` on the stored
    /// document. A heartbeat is the most frequent write of a fleet and touches two fields, so
    /// it does not decode the node into a `Node` and encode it back (callgrind: ~60k
    /// instructions for the `json_set`, ~110k for decode, encode and the full-row UPDATE).
    /// Refused with [`StoreError::Locked`] while the node is reserved.
    pub async fn record_heartbeat(&self, uuid: &str, fields: Vec<(&'static str, String)>) -> Result<()> {
        let uuid = uuid.to_string();
        self.write(move |c| {
            let mut sql = String::from("UPDATE nodes SET data = json_set(data");
            let mut params: Vec<Sql> = Vec::with_capacity(fields.len() + 2);
            for (k, v) in fields {
                assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "a plain key, not a JSON path: {k}");
                sql.push_str(&format!(", '$.driver_internal_info.{k}', ?"));
                params.push(Sql::Text(v));
            }
            sql.push_str(", '$.updated_at', ?) WHERE uuid = ? AND reservation IS NULL");
            // The document's own form of a timestamp (what serde writes for a `Timestamp`).
            match serde_json::to_value(ferric_core::model::now())? {
                serde_json::Value::String(now) => params.push(Sql::Text(now)),
                other => unreachable!("a timestamp serialises as a string, not {other}"),
            }
            params.push(Sql::Text(uuid.clone()));
            if c.prepare_cached(&sql)?.execute(params_from_iter(params))? == 1 {
                return Ok(());
            }
            match get_node_by(c, "uuid", &uuid)? {
                Some(n) => Err(StoreError::Locked { node: n.uuid, holder: n.reservation.unwrap_or_default() }),
                None => Err(not_found("Node", &uuid)),
            }
        })
        .await
    }

    /// Take the exclusive lock on a node: `reservation` goes from NULL to `owner`.
    pub async fn reserve_node(&self, ident: &str, owner: &str) -> Result<Node> {
        let ident = ident.to_string();
        let owner = owner.to_string();
        self.write(move |c| {
            let node = find_node(c, &ident)?.ok_or_else(|| not_found("Node", &ident))?;
            let n = c.execute(
                "UPDATE nodes SET reservation = ?1 WHERE id = ?2 AND reservation IS NULL",
                rusqlite::params![owner, node.id],
            )?;
            if n != 1 {
                return Err(StoreError::Locked { node: node.uuid, holder: node.reservation.unwrap_or_default() });
            }
            Ok(Node { reservation: Some(owner), ..node })
        })
        .await
    }

    /// Write a node that `owner` holds the lock on.
    pub async fn save_node(&self, node: Node, owner: &str) -> Result<Node> {
        self.save_node_recording(node, owner, Vec::new(), 0).await
    }

    /// [`Store::save_node`] plus history entries for the node, in the same transaction; the
    /// node then keeps its `keep` newest entries.
    pub async fn save_node_recording(&self, mut node: Node, owner: &str, history: Vec<NodeHistory>, keep: usize) -> Result<Node> {
        let owner = owner.to_string();
        self.write(move |c| {
            node.updated_at = Some(ferric_core::model::now());
            let n = replace(c, &node, " AND reservation = ?", vec![Sql::Text(owner.clone())])?;
            if n != 1 {
                let current = get_node_by(c, "uuid", &node.uuid)?.ok_or_else(|| not_found("Node", &node.uuid))?;
                return Err(StoreError::Locked { node: node.uuid, holder: current.reservation.unwrap_or_default() });
            }
            for mut h in history {
                h.node_uuid = node.uuid.clone();
                insert_history(c, h, keep)?;
            }
            node.reservation = Some(owner);
            Ok(node)
        })
        .await
    }

    /// Release `owner`'s lock; returns false if it did not hold it.
    pub async fn release_node(&self, uuid: &str, owner: &str) -> Result<bool> {
        let uuid = uuid.to_string();
        let owner = owner.to_string();
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE nodes SET reservation = NULL WHERE uuid = ?1 AND reservation = ?2",
                rusqlite::params![uuid, owner],
            )? == 1)
        })
        .await
    }

    /// Drop every lock held by `owner` (a conductor starting after a crash). Returns the nodes.
    pub async fn clear_reservations(&self, owner: &str) -> Result<Vec<String>> {
        let owner = owner.to_string();
        self.write(move |c| {
            let mut stmt = c.prepare("UPDATE nodes SET reservation = NULL WHERE reservation = ?1 RETURNING uuid")?;
            let rows = stmt.query_map([owner], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// Delete a node with its ports, portgroups, volume records, allocation, history and
    /// inventory, refusing if it is locked.
    pub async fn delete_node(&self, uuid: &str) -> Result<()> {
        let uuid = uuid.to_string();
        self.write(move |c| {
            let node = get_node_by(c, "uuid", &uuid)?.ok_or_else(|| not_found("Node", &uuid))?;
            if let Some(holder) = node.reservation {
                return Err(StoreError::Locked { node: uuid, holder });
            }
            c.execute("DELETE FROM ports WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM portgroups WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM volume_connectors WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM volume_targets WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM allocations WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM node_history WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM node_inventory WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM inspections WHERE node_uuid = ?1", [&uuid])?;
            c.execute("DELETE FROM nodes WHERE uuid = ?1", [&uuid])?;
            Ok(())
        })
        .await
    }

    // ---------------------------------------------------------------- ports

    pub async fn create_port(&self, port: Port) -> Result<Port> {
        let node = port.node_uuid.clone();
        self.insert_under_node(port, node).await
    }

    pub async fn get_port(&self, uuid: &str) -> Result<Port> {
        self.find_doc("Port", uuid, BY_UUID).await
    }

    /// A port by its name (API 1.88).
    pub async fn get_port_by_name(&self, name: &str) -> Result<Port> {
        self.find_doc("Port", name, &["name"]).await
    }

    pub async fn get_port_by_address(&self, address: &str) -> Result<Option<Port>> {
        let a = address.to_string();
        self.read_now(move |c| get_by::<Port>(c, "address", &a)).await
    }

    pub async fn list_ports(&self, f: PortFilter, q: ListQuery) -> Result<Vec<Port>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &f.node_uuid);
            w.any_of("node_uuid", &f.node_uuids);
            w.eq("portgroup_uuid", &f.portgroup_uuid);
            w.eq("address", &f.address);
            w.any_of("address", &f.addresses);
            list_docs(c, &["address", "name", "node_uuid", "portgroup_uuid"], w, &q)
        })
        .await
    }

    pub async fn save_port(&self, port: Port) -> Result<Port> {
        self.save_rec(port).await
    }

    pub async fn delete_port(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<Port>(uuid).await
    }

    // ---------------------------------------------------------------- portgroups

    pub async fn create_portgroup(&self, pg: Portgroup) -> Result<Portgroup> {
        let node = pg.node_uuid.clone();
        self.insert_under_node(pg, node).await
    }

    /// A portgroup by UUID or name.
    pub async fn get_portgroup(&self, ident: &str) -> Result<Portgroup> {
        self.find_doc("Portgroup", ident, BY_UUID_OR_NAME).await
    }

    pub async fn list_portgroups(&self, f: PortgroupFilter, q: ListQuery) -> Result<Vec<Portgroup>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &f.node_uuid);
            w.eq("address", &f.address);
            list_docs(c, &["name", "address", "node_uuid"], w, &q)
        })
        .await
    }

    pub async fn save_portgroup(&self, pg: Portgroup) -> Result<Portgroup> {
        self.save_rec(pg).await
    }

    /// Delete a portgroup; refuses (returns the member count) while ports still belong to it.
    pub async fn delete_portgroup(&self, uuid: &str) -> Result<usize> {
        let uuid = uuid.to_string();
        self.write(move |c| delete_unless_members::<Portgroup>(c, &uuid, "SELECT COUNT(*) FROM ports WHERE portgroup_uuid = ?1"))
            .await
    }

    // ---------------------------------------------------------------- chassis

    pub async fn create_chassis(&self, ch: Chassis) -> Result<Chassis> {
        self.insert_doc(ch).await
    }

    pub async fn get_chassis(&self, uuid: &str) -> Result<Chassis> {
        self.find_doc("Chassis", uuid, BY_UUID).await
    }

    pub async fn list_chassis(&self, q: ListQuery) -> Result<Vec<Chassis>> {
        self.read(move |c| list_docs(c, &[], Where::default(), &q)).await
    }

    pub async fn save_chassis(&self, ch: Chassis) -> Result<Chassis> {
        self.save_rec(ch).await
    }

    /// Delete a chassis; refuses (returns the node count) while nodes belong to it.
    pub async fn delete_chassis(&self, uuid: &str) -> Result<usize> {
        let uuid = uuid.to_string();
        self.write(move |c| {
            delete_unless_members::<Chassis>(c, &uuid, "SELECT COUNT(*) FROM nodes WHERE json_extract(data, '$.chassis_uuid') = ?1")
        })
        .await
    }

    // ---------------------------------------------------------------- volume

    pub async fn create_volume_connector(&self, vc: VolumeConnector) -> Result<VolumeConnector> {
        let node = vc.node_uuid.clone();
        self.insert_under_node(vc, node).await
    }

    pub async fn get_volume_connector(&self, uuid: &str) -> Result<VolumeConnector> {
        self.find_doc("Volume connector", uuid, BY_UUID).await
    }

    pub async fn list_volume_connectors(&self, node_uuid: Option<String>, q: ListQuery) -> Result<Vec<VolumeConnector>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &node_uuid);
            list_docs(c, &["node_uuid", "type", "connector_id"], w, &q)
        })
        .await
    }

    pub async fn save_volume_connector(&self, vc: VolumeConnector) -> Result<VolumeConnector> {
        self.save_rec(vc).await
    }

    pub async fn delete_volume_connector(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<VolumeConnector>(uuid).await
    }

    pub async fn create_volume_target(&self, vt: VolumeTarget) -> Result<VolumeTarget> {
        let node = vt.node_uuid.clone();
        self.insert_under_node(vt, node).await
    }

    pub async fn get_volume_target(&self, uuid: &str) -> Result<VolumeTarget> {
        self.find_doc("Volume target", uuid, BY_UUID).await
    }

    pub async fn list_volume_targets(&self, node_uuid: Option<String>, q: ListQuery) -> Result<Vec<VolumeTarget>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &node_uuid);
            list_docs(c, &["node_uuid", "boot_index", "volume_id"], w, &q)
        })
        .await
    }

    pub async fn save_volume_target(&self, vt: VolumeTarget) -> Result<VolumeTarget> {
        self.save_rec(vt).await
    }

    pub async fn delete_volume_target(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<VolumeTarget>(uuid).await
    }

    // ---------------------------------------------------------------- allocations

    pub async fn create_allocation(&self, a: Allocation) -> Result<Allocation> {
        self.insert_doc(a).await
    }

    /// An allocation by UUID or name.
    pub async fn get_allocation(&self, ident: &str) -> Result<Allocation> {
        self.find_doc("Allocation", ident, BY_UUID_OR_NAME).await
    }

    pub async fn get_allocation_of_node(&self, node_uuid: &str) -> Result<Option<Allocation>> {
        let n = node_uuid.to_string();
        self.read_now(move |c| get_by::<Allocation>(c, "node_uuid", &n)).await
    }

    pub async fn list_allocations(&self, f: AllocationFilter, q: ListQuery) -> Result<Vec<Allocation>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &f.node_uuid);
            w.eq("state", &f.state);
            w.eq("json_extract(data, '$.resource_class')", &f.resource_class);
            w.eq("json_extract(data, '$.owner')", &f.owner);
            list_docs(c, &["name", "node_uuid", "state"], w, &q)
        })
        .await
    }

    pub async fn save_allocation(&self, a: Allocation) -> Result<Allocation> {
        self.save_rec(a).await
    }

    /// Bind an allocation to a node the caller holds the lock of, atomically: the node gets
    /// `instance_uuid` = allocation and the allocation becomes active.
    pub async fn bind_allocation(&self, mut a: Allocation, mut node: Node, owner: &str) -> Result<(Allocation, Node)> {
        let owner = owner.to_string();
        self.write(move |c| {
            // Deleted while we were choosing a node: bind nothing.
            if get_by::<Allocation>(c, "uuid", &a.uuid)?.is_none() {
                return Err(not_found("Allocation", &a.uuid));
            }
            let now = ferric_core::model::now();
            node.instance_uuid = Some(a.uuid.clone());
            node.allocation_uuid = Some(a.uuid.clone());
            node.updated_at = Some(now);
            if replace(c, &node, " AND reservation = ?", vec![Sql::Text(owner)])? != 1 {
                return Err(StoreError::Locked { node: node.uuid.clone(), holder: String::new() });
            }
            a.node_uuid = Some(node.uuid.clone());
            a.state = "active".into();
            a.last_error = None;
            save_doc(c, a.clone()).map(|a| (a, node))
        })
        .await
    }

    /// Delete only the allocation record (the caller updates the node it holds the lock of).
    pub async fn delete_allocation_record(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<Allocation>(uuid).await
    }

    /// Delete an allocation and free its node (unless `f` refuses, given the node).
    pub async fn delete_allocation<E, F>(&self, uuid: &str, f: F) -> Result<Result<(), E>>
    where
        E: Send + 'static,
        F: FnOnce(Option<&Node>) -> Result<(), E> + Send + 'static,
    {
        let uuid = uuid.to_string();
        self.write(move |c| {
            let a = get_by::<Allocation>(c, "uuid", &uuid)?.ok_or_else(|| not_found("Allocation", &uuid))?;
            let node = match &a.node_uuid {
                Some(n) => get_node_by(c, "uuid", n)?,
                None => None,
            };
            if let Err(e) = f(node.as_ref()) {
                return Ok(Err(e));
            }
            if let Some(mut n) = node {
                if let Some(holder) = &n.reservation {
                    return Err(StoreError::Locked { node: n.uuid.clone(), holder: holder.clone() });
                }
                if n.instance_uuid.as_deref() == Some(a.uuid.as_str()) {
                    n.instance_uuid = None;
                }
                n.allocation_uuid = None;
                n.instance_info.remove("traits");
                n.updated_at = Some(ferric_core::model::now());
                replace(c, &n, "", vec![])?;
            }
            delete_doc::<Allocation>(c, &uuid)?;
            Ok(Ok(()))
        })
        .await
    }

    // ---------------------------------------------------------------- node history

    /// Add a history entry to its node (which must exist); the node then keeps its `keep`
    /// newest entries. Conductors write entries together with the node change instead
    /// ([`Store::save_node_recording`], [`Store::update_node_recording`]).
    pub async fn add_node_history(&self, entry: NodeHistory, keep: usize) -> Result<NodeHistory> {
        self.write(move |c| {
            if get_node_by(c, "uuid", &entry.node_uuid)?.is_none() {
                return Err(not_found("Node", &entry.node_uuid));
            }
            insert_history(c, entry, keep)
        })
        .await
    }

    /// A history entry by UUID.
    pub async fn get_node_history(&self, uuid: &str) -> Result<NodeHistory> {
        let ident = uuid.to_string();
        self.read_now(move |c| get_by::<NodeHistory>(c, "uuid", &ident)?.ok_or_else(|| not_found(NodeHistory::KIND, &ident)))
            .await
    }

    /// A node's history entries. Sort keys: `created_at`, `severity`, `event_type` or a field
    /// of the entry; the marker may be any history entry.
    pub async fn list_node_history(&self, node_uuid: &str, q: ListQuery) -> Result<Vec<NodeHistory>> {
        let node = Some(node_uuid.to_string());
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("node_uuid", &node);
            list_docs(c, HISTORY_COLUMNS, w, &q)
        })
        .await
    }

    // ---------------------------------------------------------------- node inventory

    /// Keep `inventory` and `plugin_data` as the node's latest inspection data (replacing any
    /// earlier), compressed at rest.
    pub async fn save_inventory(
        &self,
        node_uuid: &str,
        inventory: serde_json::Value,
        plugin_data: serde_json::Value,
    ) -> Result<NodeInventory> {
        let node_uuid = node_uuid.to_string();
        let blob = compress_inventory(&inventory, &plugin_data)?;
        let created_at = ferric_core::model::now();
        self.write(move |c| {
            if get_node_by(c, "uuid", &node_uuid)?.is_none() {
                return Err(not_found("Node", &node_uuid));
            }
            c.execute(
                "INSERT INTO node_inventory (node_uuid, created_at, encoding, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(node_uuid) DO UPDATE SET
                   created_at = excluded.created_at, encoding = excluded.encoding, data = excluded.data",
                rusqlite::params![node_uuid, sortable_time(&created_at), INVENTORY_ENCODING, blob],
            )?;
            Ok(NodeInventory { node_uuid, inventory, plugin_data, created_at })
        })
        .await
    }

    /// The node's latest inspection data, if any was saved.
    pub async fn get_inventory(&self, node_uuid: &str) -> Result<Option<NodeInventory>> {
        let node_uuid = node_uuid.to_string();
        self.read(move |c| {
            let row: Option<(String, String, Vec<u8>)> = c
                .query_row(
                    "SELECT created_at, encoding, data FROM node_inventory WHERE node_uuid = ?1",
                    [&node_uuid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((created_at, encoding, data)) = row else { return Ok(None) };
            let (inventory, plugin_data) = decompress_inventory(&encoding, &data)?;
            let created_at = chrono::DateTime::parse_from_rfc3339(&created_at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
            Ok(Some(NodeInventory { node_uuid, inventory, plugin_data, created_at }))
        })
        .await
    }

    // ---------------------------------------------------------------- deploy templates

    pub async fn create_deploy_template(&self, t: DeployTemplate) -> Result<DeployTemplate> {
        self.insert_doc(t).await
    }

    /// A deploy template by UUID or name.
    pub async fn get_deploy_template(&self, ident: &str) -> Result<DeployTemplate> {
        self.find_doc("Deploy template", ident, BY_UUID_OR_NAME).await
    }

    pub async fn list_deploy_templates(&self, q: ListQuery) -> Result<Vec<DeployTemplate>> {
        self.read(move |c| list_docs(c, &["name"], Where::default(), &q)).await
    }

    /// The templates whose names are among `names` (a node's instance traits), in id order.
    pub async fn deploy_templates_named(&self, names: Vec<String>) -> Result<Vec<DeployTemplate>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.any_of("name", &Some(names));
            list_docs(c, &["name"], w, &ListQuery::default())
        })
        .await
    }

    pub async fn save_deploy_template(&self, t: DeployTemplate) -> Result<DeployTemplate> {
        self.save_rec(t).await
    }

    pub async fn delete_deploy_template(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<DeployTemplate>(uuid).await
    }

    /// Write what inspection processing produced, all or nothing: the node (under `owner`'s
    /// lock), its history entries, the port changes and the inspection data. Returns the node
    /// and the MAC addresses of ports skipped because another port already had them.
    pub async fn save_inspection(&self, w: InspectionWrite) -> Result<(Node, Vec<String>)> {
        let blob = compress_inventory(&w.inventory, &w.plugin_data)?;
        let created_at = ferric_core::model::now();
        self.write(move |c| {
            let InspectionWrite { mut node, owner, history, keep_history, delete_ports, save_ports, create_ports, record, .. } = w;
            node.updated_at = Some(ferric_core::model::now());
            let n = replace(c, &node, " AND reservation = ?", vec![Sql::Text(owner.clone())])?;
            if n != 1 {
                let current = get_node_by(c, "uuid", &node.uuid)?.ok_or_else(|| not_found("Node", &node.uuid))?;
                return Err(StoreError::Locked { node: node.uuid, holder: current.reservation.unwrap_or_default() });
            }
            for mut h in history {
                h.node_uuid = node.uuid.clone();
                insert_history(c, h, keep_history)?;
            }
            for uuid in &delete_ports {
                delete_doc::<Port>(c, uuid)?;
            }
            for p in save_ports {
                save_doc(c, p)?;
            }
            let mut skipped = Vec::new();
            for p in create_ports {
                if get_by::<Port>(c, "address", &p.address)?.is_some() {
                    skipped.push(p.address.clone());
                    continue;
                }
                insert(c, p)?;
            }
            c.execute(
                "INSERT INTO node_inventory (node_uuid, created_at, encoding, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(node_uuid) DO UPDATE SET
                   created_at = excluded.created_at, encoding = excluded.encoding, data = excluded.data",
                rusqlite::params![node.uuid, sortable_time(&created_at), INVENTORY_ENCODING, blob],
            )?;
            if let Some(record) = &record {
                let n = c.execute(
                    "UPDATE inspections SET state = 'finished', finished_at = ?2, error = NULL, data = ?3 WHERE uuid = ?1 AND node_uuid = ?4",
                    rusqlite::params![record, sortable_time(&created_at), blob, node.uuid],
                )?;
                if n != 1 {
                    return Err(not_found("Inspection", record));
                }
            }
            node.reservation = Some(owner);
            Ok((node, skipped))
        })
        .await
    }

    // ---------------------------------------------------------------- inspection rules

    pub async fn create_inspection_rule(&self, r: InspectionRule) -> Result<InspectionRule> {
        self.insert_doc(r).await
    }

    pub async fn get_inspection_rule(&self, uuid: &str) -> Result<InspectionRule> {
        self.find_doc("Rule", uuid, BY_UUID).await
    }

    /// Rules, optionally of one phase, paginated and sorted (`id` by default).
    pub async fn list_inspection_rules(&self, phase: Option<String>, q: ListQuery) -> Result<Vec<InspectionRule>> {
        self.read(move |c| {
            let mut w = Where::default();
            w.eq("phase", &phase);
            list_docs(c, RULE_COLUMNS, w, &q)
        })
        .await
    }

    pub async fn save_inspection_rule(&self, r: InspectionRule) -> Result<InspectionRule> {
        self.save_rec(r).await
    }

    pub async fn delete_inspection_rule(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<InspectionRule>(uuid).await
    }

    /// Delete every stored rule; returns how many there were.
    pub async fn delete_all_inspection_rules(&self) -> Result<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM inspection_rules", [])?)).await
    }

    // ---------------------------------------------------------------- runbooks

    pub async fn create_runbook(&self, r: Runbook) -> Result<Runbook> {
        self.insert_doc(r).await
    }

    /// A runbook by UUID or name.
    pub async fn get_runbook(&self, ident: &str) -> Result<Runbook> {
        self.find_doc("Runbook", ident, BY_UUID_OR_NAME).await
    }

    /// Runbooks, or with `project` only those it owns and the public ones (as Ironic's
    /// project filter).
    pub async fn list_runbooks(&self, project: Option<String>, q: ListQuery) -> Result<Vec<Runbook>> {
        self.read(move |c| {
            let mut w = Where::default();
            if let Some(p) = project {
                w.conds.push("(owner = ? OR public = 1)".into());
                w.params.push(Sql::Text(p));
            }
            list_docs(c, &["name", "owner", "public"], w, &q)
        })
        .await
    }

    pub async fn save_runbook(&self, r: Runbook) -> Result<Runbook> {
        self.save_rec(r).await
    }

    pub async fn delete_runbook(&self, uuid: &str) -> Result<()> {
        self.delete_rec::<Runbook>(uuid).await
    }

    // ---------------------------------------------------------------- conductors

    pub async fn register_conductor(&self, cond: Conductor) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO conductors (hostname, data) VALUES (?1, ?2)
                 ON CONFLICT(hostname) DO UPDATE SET data = excluded.data",
                rusqlite::params![cond.hostname, serde_json::to_string(&cond)?],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn list_conductors(&self) -> Result<Vec<Conductor>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT data FROM conductors ORDER BY hostname")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.map(|d| Ok(serde_json::from_str(&d?)?)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reused compressor: every document comes back as it went in, small ones, one larger
    /// than the first output buffer, and again after a larger one (the reset between them).
    #[test]
    fn inventories_round_trip_through_the_reused_compressor() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection");
        let mut docs = vec![json!({}), json!({"cpu": {"count": 4}})];
        for f in ["metal3-inspector-data-kvm-vm.json", "understack-dell-r7615-node-inventory-lldp.json"] {
            let text = std::fs::read_to_string(fixtures.join(f)).unwrap_or_else(|e| panic!("{}: {e}", fixtures.join(f).display()));
            docs.push(serde_json::from_str(&text).unwrap());
        }
        // Incompressible content makes the output outgrow its first buffer.
        let noise: String = (0..20_000u32).map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 27) as u8)).collect();
        docs.push(json!({"noise": noise}));
        for round in 0..2 {
            for (i, d) in docs.iter().enumerate() {
                let pd = json!({"round": round, "i": i});
                let blob = compress_inventory(d, &pd).unwrap();
                assert_eq!(decompress_inventory(INVENTORY_ENCODING, &blob).unwrap(), (d.clone(), pd), "document {i}, round {round}");
            }
        }
    }
}
