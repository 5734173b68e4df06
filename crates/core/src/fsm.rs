//! The provision state machine as a table (`ironic/common/states.py`), plus the mapping from the
//! API's `target` values to verbs. Pure data and lookups: the conductor decides *when* to fire
//! an event, this module only says *whether* it is legal and where it leads.

use crate::states::ProvisionState as S;
use std::fmt;

/// Events of the state machine: the user's verbs plus the conductor's internal events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    // verbs (requested through the API)
    Manage,
    Provide,
    Inspect,
    Deploy,
    Rebuild,
    Delete,
    Clean,
    Abort,
    Adopt,
    Rescue,
    Unrescue,
    Unhold,
    Service,
    // internal events (fired by the conductor)
    Done,
    Wait,
    Resume,
    Fail,
    Hold,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Manage => "manage",
            Event::Provide => "provide",
            Event::Inspect => "inspect",
            Event::Deploy => "deploy",
            Event::Rebuild => "rebuild",
            Event::Delete => "delete",
            Event::Clean => "clean",
            Event::Abort => "abort",
            Event::Adopt => "adopt",
            Event::Rescue => "rescue",
            Event::Unrescue => "unrescue",
            Event::Unhold => "unhold",
            Event::Service => "service",
            Event::Done => "done",
            Event::Wait => "wait",
            Event::Resume => "resume",
            Event::Fail => "fail",
            Event::Hold => "hold",
        }
    }

    /// Internal events are never accepted from the API.
    pub fn is_internal(self) -> bool {
        matches!(self, Event::Done | Event::Wait | Event::Resume | Event::Fail | Event::Hold)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Map the `target` of `PUT /v1/nodes/{id}/states/provision` to a verb (`states.VERBS`).
pub fn verb_for_target(target: &str) -> Option<Event> {
    Some(match target {
        "active" | "deploy" => Event::Deploy,
        "deleted" | "undeploy" => Event::Delete,
        "rebuild" => Event::Rebuild,
        "manage" => Event::Manage,
        "provide" => Event::Provide,
        "inspect" => Event::Inspect,
        "abort" => Event::Abort,
        "clean" => Event::Clean,
        "adopt" => Event::Adopt,
        "rescue" => Event::Rescue,
        "unrescue" => Event::Unrescue,
        "unhold" => Event::Unhold,
        "service" => Event::Service,
        _ => return None,
    })
}

use Event as E;

/// Every legal transition: (from, event, to).
pub const TRANSITIONS: &[(S, Event, S)] = &[
    // enroll and verification
    (S::Enroll, E::Manage, S::Verifying),
    (S::Verifying, E::Done, S::Manageable),
    (S::Verifying, E::Fail, S::Enroll),
    // manageable
    (S::Manageable, E::Provide, S::Cleaning),
    (S::Manageable, E::Clean, S::Cleaning),
    (S::Manageable, E::Inspect, S::Inspecting),
    (S::Manageable, E::Adopt, S::Adopting),
    // inspection
    (S::Inspecting, E::Done, S::Manageable),
    (S::Inspecting, E::Wait, S::InspectWait),
    (S::Inspecting, E::Fail, S::InspectFailed),
    (S::InspectWait, E::Resume, S::Inspecting),
    (S::InspectWait, E::Done, S::Manageable),
    (S::InspectWait, E::Fail, S::InspectFailed),
    (S::InspectWait, E::Abort, S::InspectFailed),
    (S::InspectFailed, E::Manage, S::Manageable),
    (S::InspectFailed, E::Inspect, S::Inspecting),
    // available
    (S::Available, E::Deploy, S::Deploying),
    (S::Available, E::Manage, S::Manageable),
    // deployment
    (S::Deploying, E::Wait, S::DeployWait),
    (S::Deploying, E::Hold, S::DeployHold),
    (S::Deploying, E::Done, S::Active),
    (S::Deploying, E::Fail, S::DeployFailed),
    (S::DeployWait, E::Resume, S::Deploying),
    (S::DeployWait, E::Hold, S::DeployHold),
    (S::DeployWait, E::Fail, S::DeployFailed),
    (S::DeployWait, E::Abort, S::DeployFailed),
    (S::DeployWait, E::Delete, S::Deleting),
    (S::DeployHold, E::Unhold, S::DeployWait),
    (S::DeployHold, E::Abort, S::DeployFailed),
    (S::DeployFailed, E::Deploy, S::Deploying),
    (S::DeployFailed, E::Rebuild, S::Deploying),
    (S::DeployFailed, E::Delete, S::Deleting),
    // active
    (S::Active, E::Rebuild, S::Deploying),
    (S::Active, E::Delete, S::Deleting),
    (S::Active, E::Rescue, S::Rescuing),
    (S::Active, E::Service, S::Servicing),
    // tear down
    (S::Deleting, E::Clean, S::Cleaning),
    (S::Deleting, E::Fail, S::Error),
    // cleaning
    (S::Cleaning, E::Done, S::Available),
    (S::Cleaning, E::Manage, S::Manageable),
    (S::Cleaning, E::Wait, S::CleanWait),
    (S::Cleaning, E::Hold, S::CleanHold),
    (S::Cleaning, E::Fail, S::CleanFailed),
    (S::CleanWait, E::Resume, S::Cleaning),
    (S::CleanWait, E::Hold, S::CleanHold),
    (S::CleanWait, E::Fail, S::CleanFailed),
    (S::CleanWait, E::Abort, S::CleanFailed),
    (S::CleanHold, E::Unhold, S::CleanWait),
    (S::CleanHold, E::Abort, S::CleanFailed),
    (S::CleanFailed, E::Manage, S::Manageable),
    // error
    (S::Error, E::Rebuild, S::Deploying),
    (S::Error, E::Delete, S::Deleting),
    // adoption
    (S::Adopting, E::Done, S::Active),
    (S::Adopting, E::Fail, S::AdoptFailed),
    (S::AdoptFailed, E::Adopt, S::Adopting),
    (S::AdoptFailed, E::Manage, S::Manageable),
    // rescue
    (S::Rescuing, E::Done, S::Rescue),
    (S::Rescuing, E::Wait, S::RescueWait),
    (S::Rescuing, E::Fail, S::RescueFailed),
    (S::RescueWait, E::Resume, S::Rescuing),
    (S::RescueWait, E::Fail, S::RescueFailed),
    (S::RescueWait, E::Abort, S::RescueFailed),
    (S::RescueWait, E::Delete, S::Deleting),
    (S::Rescue, E::Rescue, S::Rescuing),
    (S::Rescue, E::Unrescue, S::Unrescuing),
    (S::Rescue, E::Delete, S::Deleting),
    (S::RescueFailed, E::Rescue, S::Rescuing),
    (S::RescueFailed, E::Unrescue, S::Unrescuing),
    (S::RescueFailed, E::Delete, S::Deleting),
    (S::Unrescuing, E::Done, S::Active),
    (S::Unrescuing, E::Fail, S::UnrescueFailed),
    (S::UnrescueFailed, E::Rescue, S::Rescuing),
    (S::UnrescueFailed, E::Unrescue, S::Unrescuing),
    (S::UnrescueFailed, E::Delete, S::Deleting),
    // servicing
    (S::Servicing, E::Done, S::Active),
    (S::Servicing, E::Wait, S::ServiceWait),
    (S::Servicing, E::Hold, S::ServiceHold),
    (S::Servicing, E::Fail, S::ServiceFailed),
    (S::ServiceWait, E::Resume, S::Servicing),
    (S::ServiceWait, E::Hold, S::ServiceHold),
    (S::ServiceWait, E::Fail, S::ServiceFailed),
    (S::ServiceWait, E::Abort, S::ServiceFailed),
    (S::ServiceWait, E::Delete, S::Deleting),
    (S::ServiceHold, E::Service, S::Servicing),
    (S::ServiceHold, E::Unhold, S::ServiceWait),
    (S::ServiceHold, E::Fail, S::ServiceFailed),
    (S::ServiceHold, E::Abort, S::ServiceFailed),
    (S::ServiceFailed, E::Service, S::Servicing),
    (S::ServiceFailed, E::Rescue, S::Rescuing),
    (S::ServiceFailed, E::Wait, S::ServiceWait),
    (S::ServiceFailed, E::Hold, S::ServiceHold),
    (S::ServiceFailed, E::Delete, S::Deleting),
    (S::ServiceFailed, E::Abort, S::Active),
];

/// Where `event` leads from `from`, if it is legal there.
pub fn next_state(from: S, event: Event) -> Option<S> {
    TRANSITIONS.iter().find(|(f, e, _)| *f == from && *e == event).map(|(_, _, to)| *to)
}

/// The `target_provision_state` a node shows while in `state` (`add_state(..., target=...)`);
/// `None` for stable states.
pub fn default_target(state: S) -> Option<S> {
    Some(match state {
        S::Verifying => S::Manageable,
        S::Deploying | S::DeployWait | S::DeployFailed | S::DeployHold => S::Active,
        S::Cleaning | S::CleanWait | S::CleanFailed | S::CleanHold | S::Deleting => S::Available,
        S::Inspecting | S::InspectWait | S::InspectFailed => S::Manageable,
        S::Adopting | S::AdoptFailed => S::Active,
        S::Rescuing | S::RescueWait | S::RescueFailed => S::Rescue,
        S::Unrescuing | S::UnrescueFailed => S::Active,
        S::Servicing | S::ServiceWait | S::ServiceFailed | S::ServiceHold => S::Active,
        S::Enroll | S::Manageable | S::Available | S::Active | S::Error | S::Rescue => return None,
    })
}

/// The outcome of firing an event: the new state and the target the node should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: S,
    pub to: S,
    pub target: Option<S>,
}

/// Fire `event` from `from`. `target_override` is Ironic's `process_event(..., target_state=)`,
/// used e.g. by manual cleaning, whose target is `manageable` rather than `available`.
/// Stable states always clear the target.
pub fn fire(from: S, event: Event, target_override: Option<S>) -> Option<Transition> {
    let to = next_state(from, event)?;
    let target = if to.is_stable() { None } else { target_override.or_else(|| default_target(to)) };
    Some(Transition { from, to, target })
}

/// The verbs a user may send from `state` (for error messages and the CLI).
pub fn allowed_verbs(state: S) -> Vec<Event> {
    TRANSITIONS.iter().filter(|(f, e, _)| *f == state && !e.is_internal()).map(|(_, e, _)| *e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::states::ProvisionState;
    use std::collections::HashSet;

    #[test]
    fn table_has_no_duplicate_edges() {
        let mut seen = HashSet::new();
        for (f, e, _) in TRANSITIONS {
            assert!(seen.insert((*f, *e)), "duplicate transition {f} --{e}-->");
        }
    }

    #[test]
    fn every_state_is_reachable_from_enroll() {
        let mut reached: HashSet<ProvisionState> = [S::Enroll].into();
        loop {
            let before = reached.len();
            for (f, _, t) in TRANSITIONS {
                if reached.contains(f) {
                    reached.insert(*t);
                }
            }
            if reached.len() == before {
                break;
            }
        }
        for s in ProvisionState::ALL {
            // `available` is also where pre-1.11 nodes start.
            assert!(reached.contains(s), "{s} unreachable from enroll");
        }
    }

    #[test]
    fn every_unstable_state_has_a_way_out() {
        for s in ProvisionState::ALL {
            assert!(TRANSITIONS.iter().any(|(f, _, _)| f == s), "{s} is a dead end");
        }
    }

    /// Every (state, event) pair: legal exactly when listed, and leading where listed.
    #[test]
    fn exhaustive_state_event_matrix() {
        let events = [
            E::Manage, E::Provide, E::Inspect, E::Deploy, E::Rebuild, E::Delete, E::Clean, E::Abort,
            E::Adopt, E::Rescue, E::Unrescue, E::Unhold, E::Service, E::Done, E::Wait, E::Resume,
            E::Fail, E::Hold,
        ];
        let mut legal = 0;
        for s in ProvisionState::ALL {
            for e in events {
                let listed = TRANSITIONS.iter().find(|(f, ev, _)| f == s && *ev == e).map(|t| t.2);
                assert_eq!(next_state(*s, e), listed);
                legal += listed.is_some() as usize;
            }
        }
        assert_eq!(legal, TRANSITIONS.len());
    }

    #[test]
    fn the_main_flows() {
        let path = |start: S, evs: &[Event]| {
            evs.iter().fold(start, |s, e| next_state(s, *e).unwrap_or_else(|| panic!("{s} --{e}--> illegal")))
        };
        assert_eq!(path(S::Enroll, &[E::Manage, E::Done]), S::Manageable);
        assert_eq!(path(S::Manageable, &[E::Inspect, E::Wait, E::Resume, E::Done]), S::Manageable);
        assert_eq!(path(S::Manageable, &[E::Provide, E::Done]), S::Available);
        assert_eq!(path(S::Available, &[E::Deploy, E::Wait, E::Resume, E::Done]), S::Active);
        assert_eq!(path(S::Active, &[E::Delete, E::Clean, E::Done]), S::Available);
        assert_eq!(path(S::Manageable, &[E::Clean, E::Manage]), S::Manageable);
        assert_eq!(path(S::Active, &[E::Rescue, E::Done, E::Unrescue, E::Done]), S::Active);
        assert_eq!(path(S::Manageable, &[E::Adopt, E::Fail, E::Manage]), S::Manageable);
        assert_eq!(path(S::InspectWait, &[E::Abort, E::Inspect]), S::Inspecting);
        assert_eq!(path(S::Active, &[E::Service, E::Wait, E::Hold, E::Unhold, E::Resume, E::Done]), S::Active);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        assert_eq!(next_state(S::Available, E::Inspect), None);
        assert_eq!(next_state(S::Enroll, E::Provide), None);
        assert_eq!(next_state(S::Enroll, E::Deploy), None);
        assert_eq!(next_state(S::Active, E::Manage), None);
        assert_eq!(next_state(S::Manageable, E::Deploy), None);
        assert_eq!(next_state(S::Inspecting, E::Abort), None);
        assert_eq!(next_state(S::CleanFailed, E::Provide), None);
        assert_eq!(next_state(S::Available, E::Abort), None);
    }

    #[test]
    fn targets_follow_ironic() {
        let t = fire(S::Enroll, E::Manage, None).unwrap();
        assert_eq!((t.to, t.target), (S::Verifying, Some(S::Manageable)));
        let t = fire(S::Verifying, E::Fail, None).unwrap();
        assert_eq!((t.to, t.target), (S::Enroll, None));
        let t = fire(S::Manageable, E::Clean, Some(S::Manageable)).unwrap();
        assert_eq!((t.to, t.target), (S::Cleaning, Some(S::Manageable)));
        let t = fire(S::Manageable, E::Provide, None).unwrap();
        assert_eq!(t.target, Some(S::Available));
        let t = fire(S::Active, E::Delete, None).unwrap();
        assert_eq!((t.to, t.target), (S::Deleting, Some(S::Available)));
        let t = fire(S::Deploying, E::Fail, None).unwrap();
        assert_eq!((t.to, t.target), (S::DeployFailed, Some(S::Active)));
        let t = fire(S::Cleaning, E::Done, Some(S::Manageable)).unwrap();
        assert_eq!((t.to, t.target), (S::Available, None), "stable states clear the target");
        for s in ProvisionState::ALL {
            assert_eq!(default_target(*s).is_none(), s.is_stable(), "{s}");
        }
    }

    #[test]
    fn api_targets_map_to_verbs() {
        assert_eq!(verb_for_target("active"), Some(E::Deploy));
        assert_eq!(verb_for_target("deploy"), Some(E::Deploy));
        assert_eq!(verb_for_target("deleted"), Some(E::Delete));
        assert_eq!(verb_for_target("undeploy"), Some(E::Delete));
        assert_eq!(verb_for_target("rebuild"), Some(E::Rebuild));
        assert_eq!(verb_for_target("done"), None, "internal events are not verbs");
        assert_eq!(verb_for_target("fail"), None);
        assert_eq!(verb_for_target("bogus"), None);
    }

    #[test]
    fn stuck_states_have_a_fail_edge() {
        for s in ProvisionState::ALL.iter().filter(|s| s.is_stuck_on_restart()) {
            assert!(next_state(*s, E::Fail).is_some(), "{s} cannot be failed on restart");
        }
        for s in ProvisionState::ALL.iter().filter(|s| s.is_wait()) {
            assert!(next_state(*s, E::Fail).is_some(), "{s} cannot time out");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ProvisionState::ALL {
            assert_eq!(ProvisionState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ProvisionState::parse("wait call-back"), Some(S::DeployWait));
        assert_eq!(ProvisionState::parse("nope"), None);
    }

    #[test]
    fn allowed_verbs_lists_only_user_verbs() {
        let v = allowed_verbs(S::Manageable);
        assert!(v.contains(&E::Provide) && v.contains(&E::Inspect) && v.contains(&E::Clean) && v.contains(&E::Adopt));
    }
}
