//! Every inspection that reached the report stage, per node: the report as received (`raw`)
//! and, once processed, the result. Finishing an inspection also replaces the node's latest
//! inventory (`node_inventory`, API 1.81) in the same transaction.

use crate::records::{compress_inventory, decompress_inventory, get_node_by, not_found, sortable_time, INVENTORY_ENCODING};
use crate::{Result, Store};
use ferric_core::{Inspection, InspectionState, Timestamp};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

const COLUMNS: &str = "id, uuid, node_uuid, state, started_at, received_at, finished_at, error";

fn parse_time(s: Option<String>) -> Option<Timestamp> {
    s.and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&chrono::Utc))
}

fn row_to_inspection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Inspection> {
    let state: String = r.get(3)?;
    Ok(Inspection {
        id: r.get(0)?,
        uuid: r.get(1)?,
        node_uuid: r.get(2)?,
        state: InspectionState::parse(&state).unwrap_or(InspectionState::Error),
        started_at: parse_time(r.get(4)?),
        received_at: parse_time(r.get(5)?).unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH),
        finished_at: parse_time(r.get(6)?),
        error: r.get(7)?,
    })
}

fn get_by_uuid(c: &Connection, uuid: &str) -> Result<Inspection> {
    c.query_row(&format!("SELECT {COLUMNS} FROM inspections WHERE uuid = ?1"), [uuid], row_to_inspection)
        .optional()?
        .ok_or_else(|| not_found("Inspection", uuid))
}

/// The data of one stored inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionData {
    /// The report as the ramdisk posted it.
    pub raw: Value,
    /// The processed inventory and plugin data, once finished.
    pub processed: Option<(Value, Value)>,
}

impl Store {
    /// Record a report received for `node_uuid` (state `processing`).
    pub async fn begin_inspection(&self, node_uuid: &str, started_at: Option<Timestamp>, raw: &Value) -> Result<Inspection> {
        let blob = compress_inventory(raw, &Value::Null)?;
        let serial = ferric_core::identity::system_serial(&raw["inventory"]);
        let rec = Inspection {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            node_uuid: node_uuid.to_string(),
            state: InspectionState::Processing,
            started_at,
            received_at: ferric_core::model::now(),
            finished_at: None,
            error: None,
        };
        self.write(move |c| {
            if get_node_by(c, "uuid", &rec.node_uuid)?.is_none() {
                return Err(not_found("Node", &rec.node_uuid));
            }
            c.execute(
                "INSERT INTO inspections (uuid, node_uuid, state, started_at, received_at, encoding, raw, system_serial)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    rec.uuid,
                    rec.node_uuid,
                    rec.state.as_str(),
                    rec.started_at.as_ref().map(sortable_time),
                    sortable_time(&rec.received_at),
                    INVENTORY_ENCODING,
                    blob,
                    serial
                ],
            )?;
            Ok(Inspection { id: c.last_insert_rowid(), ..rec })
        })
        .await
    }

    /// Finish a recorded inspection: with its processed data (which also becomes the node's
    /// latest inventory), or with an error.
    pub async fn finish_inspection(&self, uuid: &str, result: std::result::Result<(Value, Value), String>) -> Result<Inspection> {
        let uuid = uuid.to_string();
        let finished = ferric_core::model::now();
        let blob = match &result {
            Ok((inv, pd)) => Some(compress_inventory(inv, pd)?),
            Err(_) => None,
        };
        self.write(move |c| {
            let rec = get_by_uuid(c, &uuid)?;
            let (state, error) = match &result {
                Ok(_) => (InspectionState::Finished, None),
                Err(e) => (InspectionState::Error, Some(e.clone())),
            };
            c.execute(
                "UPDATE inspections SET state = ?2, finished_at = ?3, error = ?4, data = ?5 WHERE uuid = ?1",
                rusqlite::params![uuid, state.as_str(), sortable_time(&finished), error, blob],
            )?;
            if let Some(blob) = &blob {
                if get_node_by(c, "uuid", &rec.node_uuid)?.is_none() {
                    return Err(not_found("Node", &rec.node_uuid));
                }
                c.execute(
                    "INSERT INTO node_inventory (node_uuid, created_at, encoding, data) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(node_uuid) DO UPDATE SET
                       created_at = excluded.created_at, encoding = excluded.encoding, data = excluded.data",
                    rusqlite::params![rec.node_uuid, sortable_time(&finished), INVENTORY_ENCODING, blob],
                )?;
            }
            Ok(Inspection { state, error, finished_at: Some(finished), ..rec })
        })
        .await
    }

    /// Mark the unfinished inspections of these nodes as failed with `error` (after a restart
    /// interrupted their processing). Returns how many there were.
    pub async fn fail_unfinished_inspections(&self, node_uuids: Vec<String>, error: String) -> Result<usize> {
        let finished = sortable_time(&ferric_core::model::now());
        self.write(move |c| {
            let mut n = 0;
            for node in &node_uuids {
                n += c.execute(
                    "UPDATE inspections SET state = 'error', error = ?2, finished_at = ?3 WHERE node_uuid = ?1 AND state = 'processing'",
                    rusqlite::params![node, error, finished],
                )?;
            }
            Ok(n)
        })
        .await
    }

    /// The nodes that ever reported this system serial number.
    pub async fn nodes_with_serial(&self, serial: &str) -> Result<Vec<String>> {
        let serial = serial.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT DISTINCT node_uuid FROM inspections WHERE system_serial = ?1 ORDER BY node_uuid")?;
            let rows = st.query_map([&serial], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// A node's stored inspections, oldest first.
    pub async fn list_inspections(&self, node_uuid: &str) -> Result<Vec<Inspection>> {
        let node_uuid = node_uuid.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM inspections WHERE node_uuid = ?1 ORDER BY id"))?;
            let rows = st.query_map([&node_uuid], row_to_inspection)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// The newest stored inspection of each node that has one, keyed by node UUID.
    pub async fn latest_inspections(&self) -> Result<std::collections::HashMap<String, Inspection>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM inspections WHERE id IN (SELECT MAX(id) FROM inspections GROUP BY node_uuid)"
            ))?;
            let rows = st.query_map([], row_to_inspection)?;
            let mut out = std::collections::HashMap::new();
            for r in rows {
                let r = r?;
                out.insert(r.node_uuid.clone(), r);
            }
            Ok(out)
        })
        .await
    }

    /// One stored inspection by its UUID.
    pub async fn get_inspection(&self, uuid: &str) -> Result<Inspection> {
        let uuid = uuid.to_string();
        self.read(move |c| get_by_uuid(c, &uuid)).await
    }

    /// The data of one stored inspection.
    pub async fn get_inspection_data(&self, uuid: &str) -> Result<InspectionData> {
        let uuid = uuid.to_string();
        self.read(move |c| {
            let row: Option<(String, Vec<u8>, Option<Vec<u8>>)> = c
                .query_row("SELECT encoding, raw, data FROM inspections WHERE uuid = ?1", [&uuid], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (encoding, raw, data) = row.ok_or_else(|| not_found("Inspection", &uuid))?;
            let (raw, _) = decompress_inventory(&encoding, &raw)?;
            let processed = match data {
                Some(d) => Some(decompress_inventory(&encoding, &d)?),
                None => None,
            };
            Ok(InspectionData { raw, processed })
        })
        .await
    }
}

// ------------------------------------------------------------------------------ jobs

/// A stored job document (see `ferric_core::bulk`).
impl Store {
    /// Create or replace a job document.
    pub async fn save_job(&self, uuid: &str, kind: &str, finished: bool, doc: &Value) -> Result<()> {
        let (uuid, kind, data) = (uuid.to_string(), kind.to_string(), serde_json::to_string(doc)?);
        self.write(move |c| {
            c.execute(
                "INSERT INTO jobs (uuid, kind, finished, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(uuid) DO UPDATE SET finished = excluded.finished, data = excluded.data",
                rusqlite::params![uuid, kind, finished as i64, data],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn get_job(&self, uuid: &str) -> Result<Value> {
        let uuid = uuid.to_string();
        self.read(move |c| {
            let data: Option<String> = c.query_row("SELECT data FROM jobs WHERE uuid = ?1", [&uuid], |r| r.get(0)).optional()?;
            let data = data.ok_or_else(|| not_found("Job", &uuid))?;
            Ok(serde_json::from_str(&data)?)
        })
        .await
    }

    /// Jobs of a kind, oldest first; only the unfinished ones when `unfinished_only`.
    pub async fn list_jobs(&self, kind: &str, unfinished_only: bool) -> Result<Vec<Value>> {
        let kind = kind.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT data FROM jobs WHERE kind = ?1 AND (?2 = 0 OR finished = 0) ORDER BY id")?;
            let rows = st.query_map(rusqlite::params![kind, unfinished_only as i64], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(serde_json::from_str(&r?)?);
            }
            Ok(out)
        })
        .await
    }
}

// --------------------------------------------------------------- inspector rules

/// ironic-inspector rules (its `/v1/rules`), kept as posted, oldest first.
impl Store {
    /// Store a rule document under `uuid`; a UUID already taken is `Duplicate`.
    pub async fn create_inspector_rule(&self, uuid: &str, doc: &Value) -> Result<()> {
        let (uuid, data) = (uuid.to_string(), serde_json::to_string(doc)?);
        self.write(move |c| {
            let taken: Option<i64> = c.query_row("SELECT id FROM inspector_rules WHERE uuid = ?1", [&uuid], |r| r.get(0)).optional()?;
            if taken.is_some() {
                return Err(crate::StoreError::Duplicate { kind: "Rule", field: "uuid".into(), value: uuid });
            }
            c.execute("INSERT INTO inspector_rules (uuid, data) VALUES (?1, ?2)", rusqlite::params![uuid, data])?;
            Ok(())
        })
        .await
    }

    pub async fn list_inspector_rules(&self) -> Result<Vec<Value>> {
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT data FROM inspector_rules ORDER BY id")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(serde_json::from_str(&r?)?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn get_inspector_rule(&self, uuid: &str) -> Result<Value> {
        let uuid = uuid.to_string();
        self.read(move |c| {
            let d: Option<String> = c.query_row("SELECT data FROM inspector_rules WHERE uuid = ?1", [&uuid], |r| r.get(0)).optional()?;
            Ok(serde_json::from_str(&d.ok_or_else(|| not_found("Rule", &uuid))?)?)
        })
        .await
    }

    pub async fn delete_inspector_rule(&self, uuid: &str) -> Result<()> {
        let uuid = uuid.to_string();
        self.write(move |c| match c.execute("DELETE FROM inspector_rules WHERE uuid = ?1", [&uuid])? {
            0 => Err(not_found("Rule", &uuid)),
            _ => Ok(()),
        })
        .await
    }

    pub async fn delete_all_inspector_rules(&self) -> Result<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM inspector_rules", [])?)).await
    }
}
