//! Provision actions on one or many nodes, with `--wait`.
//!
//! Several nodes are driven concurrently (bounded), each with its own spinner
//! on stderr; a summary table (node, final state, error, seconds) ends the run.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use crate::client::Client;
use crate::error::CliError;
use crate::opts::OutputFormat;
use crate::output::{new_table, Out};
use crate::states::{evaluate, Expect, Observation, Verb, WaitStatus};

/// At most this many nodes are acted on at the same time.
pub const MAX_CONCURRENCY: usize = 32;

/// Consecutive failed polls (transport errors, 5xx) tolerated during a wait.
const POLL_ERRORS_TOLERATED: u32 = 3;

#[derive(Debug, Clone)]
pub struct WaitOpts {
    /// `None`: do not wait. `Some(0)`: wait without a time limit.
    pub timeout: Option<u64>,
    pub poll_interval: Duration,
}

/// The outcome for one node.
#[derive(Debug)]
pub struct NodeOutcome {
    pub node: String,
    /// Final (or last seen) provision state; `None` when not waited for.
    pub state: Option<String>,
    pub error: Option<CliError>,
    pub seconds: f64,
}

impl NodeOutcome {
    fn to_json(&self) -> Value {
        json!({
            "node": self.node,
            "provision_state": self.state,
            "error": self.error.as_ref().map(|e| e.to_string()),
            "seconds": (self.seconds * 10.0).round() / 10.0,
        })
    }
}

/// Send `target` (plus `extra` body fields) to every node, optionally wait,
/// and report.
pub async fn run_provision(
    client: &Client,
    format: OutputFormat,
    out: &mut Out,
    verb: Verb,
    nodes: &[String],
    extra: Map<String, Value>,
    wait: WaitOpts,
) -> Result<(), CliError> {
    let show_progress = wait.timeout.is_some() && std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if show_progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let sem = Arc::new(Semaphore::new(MAX_CONCURRENCY));
    let mut body = Map::new();
    body.insert("target".into(), Value::String(verb.target().into()));
    body.extend(extra);
    let body = Value::Object(body);

    let mut set = tokio::task::JoinSet::new();
    for (idx, node) in nodes.iter().enumerate() {
        let client = client.clone();
        let node = node.clone();
        let body = body.clone();
        let wait = wait.clone();
        let sem = sem.clone();
        let bar = if show_progress {
            let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                .expect("valid template");
            let pb = ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(node.clone())
                .with_message("queued");
            let pb = multi.add(pb);
            pb.enable_steady_tick(Duration::from_millis(120));
            Some(pb)
        } else {
            None
        };
        set.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let outcome = one_node(&client, verb, &node, &body, &wait, bar.as_ref()).await;
            if let Some(pb) = bar {
                let msg = match (&outcome.error, &outcome.state) {
                    (Some(e), _) => format!("FAILED: {e}"),
                    (None, Some(s)) => s.clone(),
                    (None, None) => "accepted".into(),
                };
                pb.finish_with_message(msg);
            }
            (idx, outcome)
        });
    }
    let mut outcomes: Vec<Option<NodeOutcome>> = (0..nodes.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((idx, outcome)) => outcomes[idx] = Some(outcome),
            Err(e) => return Err(CliError::Usage(format!("internal error: task failed: {e}"))),
        }
    }
    let _ = multi.clear();
    let outcomes: Vec<NodeOutcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every task reports"))
        .collect();
    let waited = wait.timeout.is_some();

    if nodes.len() == 1 {
        let mut o = outcomes.into_iter().next().expect("one node");
        if let Some(e) = o.error.take() {
            return Err(e);
        }
        match format {
            OutputFormat::Json if waited => out.line(&crate::output::to_json(&o.to_json())),
            _ if waited => eprintln!(
                "Node {} reached '{}' in {:.1} s",
                o.node,
                o.state.as_deref().unwrap_or("?"),
                o.seconds
            ),
            _ => {}
        }
        return Ok(());
    }

    match format {
        OutputFormat::Json => {
            let arr: Vec<Value> = outcomes.iter().map(NodeOutcome::to_json).collect();
            out.line(&crate::output::to_json(&Value::Array(arr)));
        }
        OutputFormat::Table => out.line(&render_summary(&outcomes, verb, waited)),
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    if failed > 0 {
        Err(CliError::Partial {
            failed,
            total: outcomes.len(),
        })
    } else {
        Ok(())
    }
}

pub fn render_summary(outcomes: &[NodeOutcome], verb: Verb, waited: bool) -> String {
    let mut t = new_table(&["Node", "Final State", "Error", "Seconds"]);
    for o in outcomes {
        let state = match (&o.state, waited) {
            (Some(s), _) => s.clone(),
            (None, false) if o.error.is_none() => format!("requested: {}", verb.target()),
            (None, _) => "-".into(),
        };
        let err = o.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
        t.add_row(vec![
            o.node.clone(),
            state,
            err,
            format!("{:.1}", o.seconds),
        ]);
    }
    t.to_string()
}

async fn one_node(
    client: &Client,
    verb: Verb,
    node: &str,
    body: &Value,
    wait: &WaitOpts,
    bar: Option<&ProgressBar>,
) -> NodeOutcome {
    let started = Instant::now();
    let mut outcome = NodeOutcome {
        node: node.to_string(),
        state: None,
        error: None,
        seconds: 0.0,
    };
    let result = act_and_wait(
        client,
        verb,
        node,
        body,
        wait,
        bar,
        started,
        &mut outcome.state,
    )
    .await;
    outcome.error = result.err();
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn act_and_wait(
    client: &Client,
    verb: Verb,
    node: &str,
    body: &Value,
    wait: &WaitOpts,
    bar: Option<&ProgressBar>,
    started: Instant,
    last_state: &mut Option<String>,
) -> Result<(), CliError> {
    let node_url = client.url(&["nodes", node]);
    // Snapshot before acting, so that a node still untouched by the server is
    // not mistaken for one that is already done (inspect/clean start and end
    // in `manageable`).
    let baseline = match wait.timeout {
        Some(_) => {
            let n = client.get(node_url.clone()).await?;
            let o = Observation::from_node(&n);
            *last_state = o.provision_state.clone();
            if let Some(pb) = bar {
                pb.set_message(o.describe());
            }
            Some(o)
        }
        None => None,
    };
    client
        .put(client.url(&["nodes", node, "states", "provision"]), body)
        .await?;
    let Some(timeout) = wait.timeout else {
        return Ok(());
    };
    let expect: Expect = verb.expect();
    let deadline = (timeout > 0).then(|| started + Duration::from_secs(timeout));
    let mut stale_polls = 0u32;
    let mut poll_errors = 0u32;
    // First poll soon after the request, then every poll_interval.
    let mut delay = wait.poll_interval.min(Duration::from_secs(1));
    loop {
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return Err(CliError::WaitFailed(format!(
                    "timed out after {timeout} s waiting for node {node} to reach {expect} (last state: {})",
                    last_state.as_deref().unwrap_or("unknown")
                )));
            }
            delay = delay.min(d - now);
        }
        tokio::time::sleep(delay).await;
        delay = wait.poll_interval;
        let n = match client.get(node_url.clone()).await {
            Ok(n) => {
                poll_errors = 0;
                n
            }
            Err(e) => {
                let transient = matches!(
                    e,
                    CliError::Connect { .. }
                        | CliError::Timeout { .. }
                        | CliError::Transport { .. }
                ) || e.status().is_some_and(|s| s >= 500);
                poll_errors += 1;
                if transient && poll_errors <= POLL_ERRORS_TOLERATED {
                    continue;
                }
                return Err(e);
            }
        };
        let obs = Observation::from_node(&n);
        *last_state = obs.provision_state.clone();
        if let Some(pb) = bar {
            pb.set_message(obs.describe());
        }
        match evaluate(&expect, baseline.as_ref(), &obs, stale_polls) {
            WaitStatus::Done => return Ok(()),
            WaitStatus::Failed(msg) => return Err(CliError::WaitFailed(format!("{node}: {msg}"))),
            WaitStatus::Pending => {
                if baseline
                    .as_ref()
                    .is_some_and(|b| b.same_transition_point(&obs))
                {
                    stale_polls += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table_rows() {
        let outcomes = vec![
            NodeOutcome {
                node: "n1".into(),
                state: Some("manageable".into()),
                error: None,
                seconds: 1.26,
            },
            NodeOutcome {
                node: "n2".into(),
                state: Some("enroll".into()),
                error: Some(CliError::WaitFailed(
                    "n2: node ended in state 'enroll'".into(),
                )),
                seconds: 3.0,
            },
        ];
        let s = render_summary(&outcomes, Verb::Manage, true);
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[1].contains("Node")
                && lines[1].contains("Final State")
                && lines[1].contains("Seconds")
        );
        assert!(
            lines[3].contains("n1") && lines[3].contains("manageable") && lines[3].contains("1.3"),
            "{s}"
        );
        assert!(
            lines[4].contains("n2") && lines[4].contains("enroll") && lines[4].contains("3.0"),
            "{s}"
        );
        assert!(s.contains("node ended in state"));
        let not_waited = vec![NodeOutcome {
            node: "n3".into(),
            state: None,
            error: None,
            seconds: 0.1,
        }];
        assert!(render_summary(&not_waited, Verb::Deploy, false).contains("requested: active"));
    }
}
