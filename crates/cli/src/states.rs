//! Provision verbs: the API target each sends and the state `--wait` waits for.
//!
//! Pure logic, no IO, so it is unit-tested exhaustively.

use serde_json::Value;

/// The provision verbs the CLI offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Manage,
    Provide,
    Inspect,
    Deploy,
    Undeploy,
    Clean,
    Abort,
    Rescue,
    Unrescue,
    Adopt,
}

/// States Ironic treats as stable (no conductor work pending).
pub const STABLE_STATES: &[&str] = &[
    "enroll",
    "manageable",
    "available",
    "active",
    "error",
    "rescue",
];

/// What `--wait` is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// This exact provision state.
    State(&'static str),
    /// Any stable or failed state (used by `abort`).
    StableOrFailed,
}

impl Verb {
    /// The `target` sent in `PUT /v1/nodes/<id>/states/provision`.
    pub fn target(self) -> &'static str {
        match self {
            Verb::Manage => "manage",
            Verb::Provide => "provide",
            Verb::Inspect => "inspect",
            Verb::Deploy => "active",
            Verb::Undeploy => "deleted",
            Verb::Clean => "clean",
            Verb::Abort => "abort",
            Verb::Rescue => "rescue",
            Verb::Unrescue => "unrescue",
            Verb::Adopt => "adopt",
        }
    }

    /// The CLI name of the verb.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Manage => "manage",
            Verb::Provide => "provide",
            Verb::Inspect => "inspect",
            Verb::Deploy => "deploy",
            Verb::Undeploy => "undeploy",
            Verb::Clean => "clean",
            Verb::Abort => "abort",
            Verb::Rescue => "rescue",
            Verb::Unrescue => "unrescue",
            Verb::Adopt => "adopt",
        }
    }

    /// The state a successful run of this verb ends in.
    pub fn expect(self) -> Expect {
        match self {
            Verb::Manage => Expect::State("manageable"),
            Verb::Provide => Expect::State("available"),
            Verb::Inspect => Expect::State("manageable"),
            Verb::Deploy => Expect::State("active"),
            Verb::Undeploy => Expect::State("available"),
            Verb::Clean => Expect::State("manageable"),
            Verb::Abort => Expect::StableOrFailed,
            Verb::Rescue => Expect::State("rescue"),
            Verb::Unrescue => Expect::State("active"),
            Verb::Adopt => Expect::State("active"),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::State(s) => f.write_str(s),
            Expect::StableOrFailed => f.write_str("a stable or failed state"),
        }
    }
}

/// `error` or `<something> failed`.
pub fn is_failed_state(state: &str) -> bool {
    state == "error" || state.ends_with(" failed")
}

/// The provision-related fields of one `GET /v1/nodes/<id>` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    pub provision_state: Option<String>,
    pub target_provision_state: Option<String>,
    pub provision_updated_at: Option<String>,
    pub last_error: Option<String>,
}

impl Observation {
    pub fn from_node(node: &Value) -> Self {
        let s = |k: &str| node.get(k).and_then(Value::as_str).map(str::to_string);
        Observation {
            provision_state: s("provision_state"),
            target_provision_state: s("target_provision_state"),
            provision_updated_at: s("provision_updated_at"),
            last_error: s("last_error"),
        }
    }

    /// `"deploying → active"` or `"active"`.
    pub fn describe(&self) -> String {
        let st = self.provision_state.as_deref().unwrap_or("None");
        match self.target_provision_state.as_deref() {
            Some(t) if !t.is_empty() => format!("{st} → {t}"),
            _ => st.to_string(),
        }
    }

    /// Same state, target and `provision_updated_at`.
    pub fn same_transition_point(&self, other: &Observation) -> bool {
        self.provision_state == other.provision_state
            && self.target_provision_state == other.target_provision_state
            && self.provision_updated_at == other.provision_updated_at
    }
}

/// Result of evaluating one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitStatus {
    Pending,
    Done,
    Failed(String),
}

/// How many polls an unchanged node (identical to the pre-request snapshot) is
/// ignored before it is taken at face value. Protects `inspect`/`clean` (which
/// start and end in `manageable`) against a server that applies the request
/// after answering 202.
pub const STALE_POLLS_TOLERATED: u32 = 3;

/// Decide whether a `--wait` is over.
///
/// - `baseline`: the node as read just before the request (if it was read);
///   an observation identical to it (same state, target and
///   `provision_updated_at`) means the server has not acted yet and is ignored
///   for [`STALE_POLLS_TOLERATED`] polls (`stale_polls` counts them).
/// - Failure: `error` / `... failed` (with `last_error`). These are final even
///   though Ironic leaves `target_provision_state` set on them (a failed
///   manual clean is `clean failed` with target `manageable`). For `abort`
///   they count as success.
/// - Success: the expected state with no other target pending (for `abort`:
///   any stable state with no target).
/// - Another stable state with no target is a failure too (e.g. `manage`
///   whose verification failed goes back to `enroll`).
/// - Anything else is still transitioning.
pub fn evaluate(
    expect: &Expect,
    baseline: Option<&Observation>,
    obs: &Observation,
    stale_polls: u32,
) -> WaitStatus {
    if let Some(b) = baseline {
        if obs.same_transition_point(b) && stale_polls < STALE_POLLS_TOLERATED {
            return WaitStatus::Pending;
        }
    }
    let Some(state) = obs.provision_state.as_deref() else {
        return WaitStatus::Pending;
    };
    let target = obs
        .target_provision_state
        .as_deref()
        .filter(|t| !t.is_empty());
    if is_failed_state(state) {
        return match expect {
            Expect::StableOrFailed => WaitStatus::Done,
            Expect::State(_) => {
                WaitStatus::Failed(failure_message(state, obs.last_error.as_deref()))
            }
        };
    }
    let stable_and_idle = target.is_none() && STABLE_STATES.contains(&state);
    match expect {
        Expect::StableOrFailed if stable_and_idle => WaitStatus::Done,
        Expect::StableOrFailed => WaitStatus::Pending,
        Expect::State(want) if state == *want && target.is_none_or(|t| t == *want) => {
            WaitStatus::Done
        }
        Expect::State(want) if stable_and_idle => {
            WaitStatus::Failed(match obs.last_error.as_deref() {
                Some(e) if !e.is_empty() => {
                    format!("node ended in state '{state}' instead of '{want}': {e}")
                }
                _ => format!("node ended in state '{state}' instead of '{want}'"),
            })
        }
        Expect::State(_) => WaitStatus::Pending,
    }
}

fn failure_message(state: &str, last_error: Option<&str>) -> String {
    match last_error {
        Some(e) if !e.is_empty() => format!("node is in state '{state}': {e}"),
        _ => format!("node is in state '{state}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(state: &str, target: Option<&str>, updated: &str, err: Option<&str>) -> Observation {
        Observation {
            provision_state: Some(state.into()),
            target_provision_state: target.map(Into::into),
            provision_updated_at: Some(updated.into()),
            last_error: err.map(Into::into),
        }
    }

    #[test]
    fn targets_match_the_api() {
        assert_eq!(Verb::Deploy.target(), "active");
        assert_eq!(Verb::Undeploy.target(), "deleted");
        assert_eq!(Verb::Manage.target(), "manage");
        assert_eq!(Verb::Clean.target(), "clean");
        assert_eq!(Verb::Abort.target(), "abort");
        assert_eq!(Verb::Adopt.target(), "adopt");
    }

    #[test]
    fn expected_state_per_verb() {
        let table = [
            (Verb::Manage, "manageable"),
            (Verb::Provide, "available"),
            (Verb::Inspect, "manageable"),
            (Verb::Deploy, "active"),
            (Verb::Undeploy, "available"),
            (Verb::Clean, "manageable"),
            (Verb::Rescue, "rescue"),
            (Verb::Unrescue, "active"),
            (Verb::Adopt, "active"),
        ];
        for (verb, state) in table {
            assert_eq!(verb.expect(), Expect::State(state), "{verb:?}");
        }
        assert_eq!(Verb::Abort.expect(), Expect::StableOrFailed);
    }

    #[test]
    fn transitioning_is_pending_and_target_reached_is_done() {
        let e = Verb::Deploy.expect();
        assert_eq!(
            evaluate(&e, None, &obs("deploying", Some("active"), "t1", None), 0),
            WaitStatus::Pending
        );
        assert_eq!(
            evaluate(
                &e,
                None,
                &obs("wait call-back", Some("active"), "t1", None),
                0
            ),
            WaitStatus::Pending
        );
        assert_eq!(
            evaluate(&e, None, &obs("active", None, "t2", None), 0),
            WaitStatus::Done
        );
    }

    #[test]
    fn failed_states_report_last_error() {
        let e = Verb::Deploy.expect();
        match evaluate(&e, None, &obs("deploy failed", None, "t2", Some("boom")), 0) {
            WaitStatus::Failed(m) => {
                assert!(m.contains("deploy failed"), "{m}");
                assert!(m.contains("boom"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            evaluate(
                &Verb::Undeploy.expect(),
                None,
                &obs("error", None, "t", None),
                0
            ),
            WaitStatus::Failed(_)
        ));
        // verifying failed: manage lands back in enroll with last_error
        match evaluate(
            &Verb::Manage.expect(),
            None,
            &obs("enroll", None, "t", Some("bad creds")),
            0,
        ) {
            WaitStatus::Failed(m) => {
                assert!(m.contains("'enroll'") && m.contains("bad creds"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn abort_accepts_stable_or_failed() {
        let e = Verb::Abort.expect();
        assert_eq!(
            evaluate(
                &e,
                None,
                &obs("clean failed", None, "t", Some("aborted")),
                0
            ),
            WaitStatus::Done
        );
        assert_eq!(
            evaluate(&e, None, &obs("inspect failed", None, "t", None), 0),
            WaitStatus::Done
        );
        assert_eq!(
            evaluate(&e, None, &obs("active", None, "t", None), 0),
            WaitStatus::Done
        );
        assert_eq!(
            evaluate(
                &e,
                None,
                &obs("clean wait", Some("available"), "t", None),
                0
            ),
            WaitStatus::Pending
        );
        assert_eq!(
            evaluate(&e, None, &obs("clean wait", None, "t", None), 0),
            WaitStatus::Pending
        );
    }

    #[test]
    fn unchanged_baseline_is_ignored_for_a_few_polls() {
        // inspect from manageable: the first poll may still see the untouched node
        let e = Verb::Inspect.expect();
        let before = obs("manageable", None, "t0", None);
        assert_eq!(
            evaluate(&e, Some(&before), &before.clone(), 0),
            WaitStatus::Pending
        );
        assert_eq!(
            evaluate(&e, Some(&before), &before.clone(), 2),
            WaitStatus::Pending
        );
        // ... but not forever (a server that never touches provision_updated_at)
        assert_eq!(
            evaluate(&e, Some(&before), &before.clone(), STALE_POLLS_TOLERATED),
            WaitStatus::Done
        );
        // once the timestamp moved, manageable means done
        assert_eq!(
            evaluate(&e, Some(&before), &obs("manageable", None, "t1", None), 0),
            WaitStatus::Done
        );
        // re-inspect from "inspect failed": the old failure is not reported immediately
        let failed_before = obs("inspect failed", None, "t0", Some("old"));
        assert_eq!(
            evaluate(&e, Some(&failed_before), &failed_before.clone(), 0),
            WaitStatus::Pending
        );
    }

    #[test]
    fn failed_state_detection() {
        assert!(is_failed_state("deploy failed"));
        assert!(is_failed_state("error"));
        assert!(!is_failed_state("active"));
        assert!(!is_failed_state("failed-ish"));
    }

    #[test]
    fn describe_shows_target() {
        assert_eq!(
            obs("deploying", Some("active"), "t", None).describe(),
            "deploying → active"
        );
        assert_eq!(obs("active", None, "t", None).describe(), "active");
    }
}
