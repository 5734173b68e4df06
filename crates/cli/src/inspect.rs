//! `ferric node bulk-inspect` (one API call inspects many nodes, with a live progress bar and
//! a fleet table at the end) and `ferric node inventory show|history|diff`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::error::CliError;
use crate::opts::OutputFormat;
use crate::output::{new_table, to_json, Out};

#[derive(clap::Args, Debug, Clone)]
pub struct BulkInspectArgs {
    /// Nodes to inspect (names or UUIDs); none with --all.
    #[arg(value_name = "NODE", required_unless_present = "all", conflicts_with = "all")]
    pub nodes: Vec<String>,
    /// Every manageable node that is not in maintenance.
    #[arg(long)]
    pub all: bool,
    /// At most this many nodes inspect at the same time (server default: 20).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub concurrency: Option<u64>,
    /// Start the job and print it; do not wait.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds (the job goes on on the server).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Seconds between polls of the job.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub poll_interval: f64,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum InventoryAction {
    /// The node's latest inventory and plugin data (GET /v1/nodes/<node>/inventory).
    Show {
        #[arg(value_name = "NODE")]
        node: String,
    },
    /// Every stored inspection of the node.
    History {
        #[arg(value_name = "NODE")]
        node: String,
    },
    /// What changed in the hardware between two inspections (default: the two newest).
    Diff {
        #[arg(value_name = "NODE")]
        node: String,
        /// The older inspection: index (1 = first, -1 = newest) or UUID.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// The newer inspection: index or UUID.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
    },
}

pub async fn bulk_inspect(client: &Client, fmt: OutputFormat, out: &mut Out, a: BulkInspectArgs) -> Result<(), CliError> {
    if !(a.poll_interval.is_finite() && a.poll_interval >= 0.05) {
        return Err(CliError::Usage("--poll-interval must be at least 0.05 seconds".into()));
    }
    let mut body = Map::new();
    if !a.all {
        body.insert("nodes".into(), json!(a.nodes));
    }
    if let Some(c) = a.concurrency {
        body.insert("concurrency".into(), json!(c));
    }
    let started = Instant::now();
    let mut job = client.post(client.url(&["bulk_inspections"]), &Value::Object(body)).await?;
    let uuid = job["uuid"].as_str().unwrap_or_default().to_string();
    if a.no_wait {
        match fmt {
            OutputFormat::Json => out.line(&to_json(&job)),
            OutputFormat::Table => out.line(&format!(
                "Bulk inspection {uuid} started: {} nodes, {} at a time",
                job["counts"]["total"], job["concurrency"]
            )),
        }
        return Ok(());
    }
    let total = job["counts"]["total"].as_u64().unwrap_or(0);
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} inspecting [{bar:30}] {pos}/{len} {msg} [{elapsed}]")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let poll = Duration::from_secs_f64(a.poll_interval);
    let mut timed_out = false;
    loop {
        let c = &job["counts"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        bar.set_position(n("done") + n("failed"));
        bar.set_message(format!("{} inspecting, {} queued, {} failed", n("inspecting"), n("queued"), n("failed")));
        if job["state"] == "finished" {
            break;
        }
        if a.timeout.is_some_and(|t| started.elapsed() >= Duration::from_secs(t)) {
            timed_out = true;
            break;
        }
        tokio::time::sleep(poll).await;
        job = client.get(client.url(&["bulk_inspections", &uuid])).await?;
    }
    bar.finish_and_clear();
    let rows = fleet_rows(client, &job).await;
    let failed = rows.iter().filter(|r| r["status"] != "done").count();
    match fmt {
        OutputFormat::Json => out.line(&to_json(&json!({"bulk_inspection": uuid, "seconds": secs(started), "nodes": rows}))),
        OutputFormat::Table => {
            out.line(&fleet_table(&rows));
            eprintln!(
                "{} of {} nodes inspected in {:.1} s{}",
                rows.len() - failed,
                rows.len(),
                secs(started),
                if timed_out { " (gave up waiting; the job goes on)" } else { "" }
            );
        }
    }
    if timed_out {
        return Err(CliError::Usage(format!("timed out waiting for bulk inspection {uuid}")));
    }
    if failed > 0 {
        return Err(CliError::Partial { failed, total: rows.len() });
    }
    Ok(())
}

fn secs(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 10.0).round() / 10.0
}

/// One row per node of the job: its status and what inspection found.
async fn fleet_rows(client: &Client, job: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for item in job["nodes"].as_array().into_iter().flatten() {
        let uuid = item["node_uuid"].as_str().unwrap_or_default();
        let node = client.get(client.url(&["nodes", uuid])).await.unwrap_or(Value::Null);
        let inv = client.get(client.url(&["nodes", uuid, "inventory"])).await.unwrap_or(Value::Null);
        let root = &inv["plugin_data"]["root_disk"];
        let props = &node["properties"];
        rows.push(json!({
            "node": item["name"].as_str().unwrap_or(uuid),
            "uuid": uuid,
            "status": item["status"],
            "provision_state": node["provision_state"],
            "cpus": props["cpus"].clone().or_else_inv(&inv["inventory"]["cpu"]["count"]),
            "memory_mb": props["memory_mb"].clone().or_else_inv(&inv["inventory"]["memory"]["physical_mb"]),
            "root_disk": if root.is_object() { json!({"name": root["name"], "size": root["size"]}) } else { Value::Null },
            "nics": inv["inventory"]["interfaces"].as_array().map(|a| a.len()),
            "error": item["error"],
        }));
    }
    rows
}

trait OrElseInv {
    fn or_else_inv(self, other: &Value) -> Value;
}

impl OrElseInv for Value {
    fn or_else_inv(self, other: &Value) -> Value {
        if self.is_null() {
            other.clone()
        } else {
            self
        }
    }
}

fn gib(bytes: &Value) -> String {
    match bytes.as_u64() {
        Some(b) => format!("{} GiB", b >> 30),
        None => "-".into(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn fleet_table(rows: &[Value]) -> String {
    let mut t = new_table(&["Node", "State", "CPUs", "RAM (MiB)", "Root disk", "NICs", "Error"]);
    for r in rows {
        let root = if r["root_disk"].is_object() { format!("{} ({})", show(&r["root_disk"]["name"]), gib(&r["root_disk"]["size"])) } else { "-".into() };
        t.add_row(vec![
            show(&r["node"]),
            show(&r["provision_state"]),
            show(&r["cpus"]),
            show(&r["memory_mb"]),
            root,
            show(&r["nics"]),
            show(&r["error"]),
        ]);
    }
    t.to_string()
}

pub async fn inventory(client: &Client, fmt: OutputFormat, out: &mut Out, action: InventoryAction) -> Result<(), CliError> {
    match action {
        InventoryAction::Show { node } => {
            let inv = client.get(client.url(&["nodes", &node, "inventory"])).await?;
            // JSON in both formats: an inventory is a tree.
            let _ = fmt;
            out.line(&to_json(&inv));
        }
        InventoryAction::History { node } => {
            let list = client.get(client.url(&["nodes", &node, "inspections"])).await?;
            let items = list["inspections"].as_array().cloned().unwrap_or_default();
            match fmt {
                OutputFormat::Json => out.line(&to_json(&Value::Array(items.iter().map(crate::output::strip_links).collect()))),
                OutputFormat::Table => {
                    let mut t = new_table(&["#", "UUID", "State", "Received", "Finished", "Error"]);
                    for i in &items {
                        t.add_row(vec![show(&i["index"]), show(&i["uuid"]), show(&i["state"]), show(&i["received_at"]), show(&i["finished_at"]), show(&i["error"])]);
                    }
                    out.line(&t.to_string());
                }
            }
        }
        InventoryAction::Diff { node, from, to } => {
            let mut q = Vec::new();
            if let Some(f) = from {
                q.push(("from", f));
            }
            if let Some(t) = to {
                q.push(("to", t));
            }
            let d = client.get(client.url_with_query(&["nodes", &node, "inspections", "diff"], &q)).await?;
            match fmt {
                OutputFormat::Json => out.line(&to_json(&d)),
                OutputFormat::Table => {
                    let changes = d["changes"].as_array().cloned().unwrap_or_default();
                    eprintln!(
                        "Inspection {} ({}) -> inspection {} ({}): {} change(s)",
                        show(&d["from"]["index"]),
                        show(&d["from"]["finished_at"]),
                        show(&d["to"]["index"]),
                        show(&d["to"]["finished_at"]),
                        changes.len()
                    );
                    if changes.is_empty() {
                        out.line("No hardware changes.");
                    } else {
                        let mut t = new_table(&["Component", "Change", "What"]);
                        for c in &changes {
                            t.add_row(vec![show(&c["component"]), show(&c["kind"]), show(&c["summary"])]);
                        }
                        out.line(&t.to_string());
                    }
                }
            }
        }
    }
    Ok(())
}
