//! Rendering: comfy-table tables in the `baremetal` CLI's layout, and JSON.

use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value};

/// prettytable-like ASCII borders (`+---+` rules, no separators between rows),
/// like the OpenStack CLIs print.
const PRESET: &str = "||--+-++|    ++++++";

pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(PRESET)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

/// A cell: strings as-is, `null` as `None` (like the `baremetal` CLI), other
/// values as compact JSON.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "None".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(other) => inline_json(other),
    }
}

/// One-line JSON with a space after `:` and `,` (`{"cpus": 4, "memory_mb": 8192}`).
pub fn inline_json(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(inline_json).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), inline_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Is this a list of `{href, rel}` link objects?
fn is_link_list(v: &Value) -> bool {
    match v {
        Value::Array(items) => {
            !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("href").is_some() && i.get("rel").is_some())
        }
        _ => false,
    }
}

/// Drop `links` and the other hypermedia link lists (`ports`, `states`, ...)
/// from an API object: they are noise on a terminal and for scripts.
pub fn strip_links(obj: &Value) -> Value {
    match obj {
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, v)| k.as_str() != "links" && !is_link_list(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(kept)
        }
        other => other.clone(),
    }
}

/// `Field | Value` table of one object, rows sorted by field, links stripped.
pub fn render_object(obj: &Value) -> String {
    let mut t = new_table(&["Field", "Value"]);
    if let Value::Object(map) = strip_links(obj) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            t.add_row(vec![k.clone(), cell(map.get(k))]);
        }
    }
    t.to_string()
}

/// A table with the given `(header, field)` columns, one row per object.
pub fn render_list(items: &[Value], columns: &[(&str, &str)]) -> String {
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let mut t = new_table(&header);
    for item in items {
        t.add_row(
            columns
                .iter()
                .map(|(_, f)| cell(item.get(*f)))
                .collect::<Vec<_>>(),
        );
    }
    t.to_string()
}

/// Pretty JSON followed by no trailing newline (the printer adds one).
pub fn to_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Columns of `node list` (as the `baremetal` CLI prints them).
pub const NODE_LIST_COLUMNS: &[(&str, &str)] = &[
    ("UUID", "uuid"),
    ("Name", "name"),
    ("Instance UUID", "instance_uuid"),
    ("Power State", "power_state"),
    ("Provisioning State", "provision_state"),
    ("Maintenance", "maintenance"),
];

/// Columns of `node list --long`.
pub const NODE_LIST_LONG_COLUMNS: &[(&str, &str)] = &[
    ("UUID", "uuid"),
    ("Name", "name"),
    ("Driver", "driver"),
    ("Resource Class", "resource_class"),
    ("Instance UUID", "instance_uuid"),
    ("Power State", "power_state"),
    ("Provisioning State", "provision_state"),
    ("Target Provision State", "target_provision_state"),
    ("Maintenance", "maintenance"),
    ("Maintenance Reason", "maintenance_reason"),
    ("Conductor", "conductor"),
    ("Owner", "owner"),
    ("Last Error", "last_error"),
];

pub const PORT_LIST_COLUMNS: &[(&str, &str)] = &[("UUID", "uuid"), ("Address", "address")];

pub const PORT_LIST_LONG_COLUMNS: &[(&str, &str)] = &[
    ("UUID", "uuid"),
    ("Address", "address"),
    ("Node UUID", "node_uuid"),
    ("Name", "name"),
    ("PXE boot enabled", "pxe_enabled"),
    ("Physical Network", "physical_network"),
    ("Local Link Connection", "local_link_connection"),
    ("Portgroup UUID", "portgroup_uuid"),
    ("Extra", "extra"),
    ("Created At", "created_at"),
];

/// Where command output goes: stdout, or a buffer (for tests).
#[derive(Debug, Default)]
pub struct Out {
    buf: Option<String>,
}

impl Out {
    pub fn stdout() -> Self {
        Out { buf: None }
    }

    pub fn capture() -> Self {
        Out {
            buf: Some(String::new()),
        }
    }

    /// Print a line (a trailing newline is added). A closed stdout (e.g. piped
    /// into `head`) is not an error.
    pub fn line(&mut self, s: &str) {
        match &mut self.buf {
            Some(b) => {
                b.push_str(s);
                b.push('\n');
            }
            None => {
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{s}");
            }
        }
    }

    pub fn into_captured(self) -> String {
        self.buf.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorded_node() -> Value {
        // GET /v1/nodes/node-0 at 1.115 from Ironic 39.0.0.
        serde_json::from_str(include_str!("../tests/data/node_show_1.115.json")).unwrap()
    }

    #[test]
    fn node_show_table_of_recorded_node() {
        let out = render_object(&recorded_node());
        let lines: Vec<&str> = out.lines().collect();
        // header
        assert!(lines[0].starts_with("+-"), "{out}");
        assert!(
            lines[1].contains("| Field") && lines[1].contains("| Value"),
            "{out}"
        );
        // rows carry the recorded values
        let row = |field: &str| -> String {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("| {field} ")))
                .unwrap_or_else(|| panic!("no row {field} in\n{out}"))
                .to_string()
        };
        assert!(row("uuid").contains("9b812c1b-9caf-4b7d-af00-30d496949682"));
        assert!(row("provision_state").contains("| available"));
        assert!(row("power_state").contains("power off"));
        assert!(row("maintenance").contains("False"));
        assert!(row("last_error").contains("None"));
        assert!(row("properties").contains(r#""cpus": 4"#));
        assert!(row("driver_info").contains("{}"));
        // link lists are not shown
        for hidden in ["links", "ports", "states", "portgroups", "volume"] {
            assert!(
                !lines.iter().any(|l| l.starts_with(&format!("| {hidden} "))),
                "{hidden} shown:\n{out}"
            );
        }
        // rows are sorted by field name
        let fields: Vec<String> = lines[3..lines.len() - 1]
            .iter()
            .map(|l| {
                l.trim_start_matches('|')
                    .split('|')
                    .next()
                    .unwrap()
                    .trim()
                    .to_string()
            })
            .filter(|f| !f.is_empty())
            .collect();
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(fields, sorted);
        assert!(
            fields.len() > 60,
            "expected all node fields, got {}",
            fields.len()
        );
        assert_eq!(fields.first().map(String::as_str), Some("allocation_uuid"));
    }

    #[test]
    fn node_list_table_columns() {
        let list: Value =
            serde_json::from_str(include_str!("../tests/data/node_list_1.115.json")).unwrap();
        let nodes = list["nodes"].as_array().unwrap();
        let out = render_list(nodes, NODE_LIST_COLUMNS);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        for h in [
            "UUID",
            "Name",
            "Instance UUID",
            "Power State",
            "Provisioning State",
            "Maintenance",
        ] {
            assert!(lines[1].contains(h), "{h} missing: {out}");
        }
        assert!(lines[3].contains("9b812c1b-9caf-4b7d-af00-30d496949682"));
        assert!(lines[3].contains("node-0"));
        assert!(lines[3].contains("power off"));
        assert!(lines[3].contains("available"));
        assert!(lines[3].contains("False"));
    }

    #[test]
    fn strip_links_keeps_data() {
        let v = json!({"uuid": "u", "links": [{"href": "h", "rel": "self"}],
                       "ports": [{"href": "h", "rel": "self"}], "traits": [], "extra": {"a": 1}});
        assert_eq!(
            strip_links(&v),
            json!({"uuid": "u", "traits": [], "extra": {"a": 1}})
        );
    }

    #[test]
    fn cells() {
        assert_eq!(cell(None), "None");
        assert_eq!(cell(Some(&json!(null))), "None");
        assert_eq!(cell(Some(&json!("x"))), "x");
        assert_eq!(cell(Some(&json!(true))), "True");
        assert_eq!(cell(Some(&json!(4))), "4");
        assert_eq!(
            cell(Some(&json!({"a": [1, "x"], "b": {}}))),
            r#"{"a": [1, "x"], "b": {}}"#
        );
    }

    #[test]
    fn capture_collects_lines() {
        let mut o = Out::capture();
        o.line("a");
        o.line("b");
        assert_eq!(o.into_captured(), "a\nb\n");
    }
}
