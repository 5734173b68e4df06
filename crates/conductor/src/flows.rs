//! Provision flows: what each verb does after the first transition, on a worker.

use crate::{CResult, Conductor, ConductorError, ProvisionArgs, Task};
use ferric_core::model::history;
use ferric_core::{fsm, model::now, Dict, Event, ProvisionState as S};
use ferric_drivers::{Driver, Outcome};
use serde_json::Value;

impl Conductor {
    /// `PUT /v1/nodes/{id}/states/provision`: validate, lock, fire the verb, and run the rest
    /// of the flow on a worker. Returns once the request is accepted.
    pub async fn provision(&self, ident: &str, verb: Event, args: ProvisionArgs) -> CResult<()> {
        // Cheap checks first, without the lock, for Ironic's error precedence: an illegal verb
        // on a locked node is a 409, otherwise a 400.
        let node = self.store().get_node(ident).await?;
        self.check_verb(&node, verb, &args)?;
        let mut task = self.acquire(ident).await?;
        if let Err(e) = self.check_verb(&task.node, verb, &args) {
            self.finish(task).await;
            return Err(e);
        }
        let driver = match self.drivers().driver_for(&task.node) {
            Ok(d) => d,
            Err(e) => {
                self.finish(task).await;
                return Err(e.into());
            }
        };
        // Ironic refuses a deployment whose deploy templates the node's interfaces cannot run.
        if matches!(verb, Event::Deploy | Event::Rebuild) {
            if let Err(e) = self.deploy_steps(&task.node, &driver, args.deploy_steps.as_deref().unwrap_or(&[])).await {
                let uuid = task.node.uuid.clone();
                self.finish(task).await;
                return Err(match e {
                    ConductorError::Invalid(m) => {
                        ConductorError::Invalid(format!("Failed to validate deploy or power info for node {uuid}: {m}"))
                    }
                    other => other,
                });
            }
        }
        // Synchronous verbs: one transition and done.
        let from = task.node.provision_state;
        let synchronous = match verb {
            Event::Abort => {
                let msg = abort_message(from, &task.node.uuid);
                match from {
                    // Ironic journals these two aborts: inspection as an error, rescue as news.
                    S::InspectWait => {
                        self.record_error(&mut task, history::INTROSPECTION, msg);
                        // The ramdisk is no longer wanted: forget the lookup data, power off.
                        task.node.driver_internal_info.remove(crate::inspection::LOOKUP_CACHE);
                        // Powered off, or rebooted with `disable_power_off` (Ironic's
                        // `clean_up(always_power_off=True)`).
                        if let Err(e) = crate::power_off_or_reboot(&driver, &mut task.node).await {
                            tracing::warn!(node = %task.node.uuid, error = %e, "could not power off after aborting inspection");
                        }
                    }
                    S::RescueWait => {
                        let since = task.node.provision_updated_at;
                        let text = "By request, the rescue operation was aborted.";
                        task.history.extend(self.history_entry(&task.node, history::INFO, history::RESCUE, text, since));
                        task.node.last_error = Some(msg);
                    }
                    _ => task.node.last_error = Some(msg),
                }
                Some(Event::Abort)
            }
            Event::Unhold => Some(Event::Unhold),
            Event::Manage if from != S::Enroll => Some(Event::Manage),
            _ => None,
        };
        if let Some(ev) = synchronous {
            let r = self.fire(&mut task, ev, None);
            if from.is_wait() && ev == Event::Abort {
                clear_steps(&mut task.node);
            }
            self.finish(task).await;
            return r;
        }
        let target = match verb {
            Event::Clean => Some(S::Manageable),
            _ => None,
        };
        if let Err(e) = self.fire(&mut task, verb, target) {
            self.finish(task).await;
            return Err(e);
        }
        task.node.last_error = None;
        if matches!(verb, Event::Provide | Event::Clean | Event::Deploy | Event::Rebuild | Event::Delete | Event::Service) {
            task.node.wipe_token_and_url();
        }
        if let Err(e) = self.save(&mut task).await {
            self.finish(task).await;
            return Err(e);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let uuid = task.node.uuid.clone();
            let result = this.run_flow(&mut task, &driver, verb, &args).await;
            if let Err(e) = result {
                tracing::warn!(node = %uuid, verb = %verb, error = %e, "provision flow failed");
                // Recorded in the state that failed, as Ironic's error handlers do, then failed.
                let event_type = failure_event_type(task.node.provision_state);
                this.record_error(&mut task, event_type, e.to_string());
                if fsm::next_state(task.node.provision_state, Event::Fail).is_some() {
                    let _ = this.fire(&mut task, Event::Fail, None);
                }
            }
            this.finish(task).await;
        });
        Ok(())
    }

    fn check_verb(&self, node: &ferric_core::Node, verb: Event, args: &ProvisionArgs) -> CResult<()> {
        if fsm::next_state(node.provision_state, verb).is_none() {
            if let Some(holder) = &node.reservation {
                return Err(ConductorError::NodeLocked { node: node.uuid.clone(), holder: holder.clone() });
            }
            return Err(ConductorError::InvalidState {
                verb: verb.to_string(),
                node: node.uuid.clone(),
                state: node.provision_state.to_string(),
            });
        }
        if verb == Event::Provide && node.retired {
            return Err(ConductorError::Invalid(format!(
                "The providing operation can't be performed on node {} because it is retired.",
                node.uuid
            )));
        }
        if node.maintenance
            && matches!(verb, Event::Deploy | Event::Rebuild | Event::Clean | Event::Rescue | Event::Unrescue | Event::Service)
        {
            return Err(ConductorError::InMaintenance(node.uuid.clone()));
        }
        match verb {
            Event::Clean if args.clean_steps.is_none() => {
                return Err(ConductorError::Invalid(
                    "\"clean_steps\" is required when setting target provision state to clean".into(),
                ))
            }
            Event::Service if args.service_steps.as_ref().is_none_or(|s| s.is_empty()) => {
                return Err(ConductorError::Invalid(
                    "\"service_steps\" is required when setting target provision state to service".into(),
                ))
            }
            Event::Rescue if args.rescue_password.as_deref().unwrap_or("").is_empty() => {
                return Err(ConductorError::Invalid(
                    "A non-empty \"rescue_password\" is required when setting target provision state to rescue".into(),
                ))
            }
            _ => {}
        }
        // Service steps are checked when servicing starts, as in Ironic (see `service`).
        for (kind, steps) in [("clean", &args.clean_steps), ("deploy", &args.deploy_steps)] {
            let Some(steps) = steps else { continue };
            let driver = self.drivers().driver_for(node)?;
            let offered = if kind == "deploy" { driver.deploy_steps() } else { driver.clean_steps() };
            for s in steps {
                let iface = s.get("interface").and_then(Value::as_str).unwrap_or("");
                let name = s.get("step").and_then(Value::as_str).unwrap_or("");
                if !offered.iter().any(|o| o.interface == iface && o.step == name) {
                    return Err(ConductorError::Invalid(format!(
                        "Node {} does not support the {kind} step \"{name}\" of interface \"{iface}\"",
                        node.uuid
                    )));
                }
            }
        }
        Ok(())
    }

    async fn run_flow(&self, task: &mut Task, driver: &Driver, verb: Event, args: &ProvisionArgs) -> CResult<()> {
        let empty = Dict::new();
        match verb {
            Event::Manage => {
                // enroll -> verifying: prove we can talk to the BMC.
                driver.power.validate(&task.node).map_err(|e| {
                    ConductorError::Invalid(format!("Failed to validate power driver interface for node {}. Error: {e}", task.node.uuid))
                })?;
                let state = driver.power.get_power_state(&task.node).await.map_err(|e| {
                    ConductorError::Driver(format!("Failed to get power state for node {}. Error: {e}", task.node.uuid))
                })?;
                task.node.set_power_state(state);
                // What the BMC says of itself (IPMI: `lan print`), kept for operators and lookup.
                match driver.management.bmc_facts(&task.node).await {
                    Ok(facts) if !facts.is_empty() => {
                        task.node.driver_internal_info.insert("bmc".into(), Value::Object(facts));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(node = %task.node.uuid, error = %e, "could not read the BMC's own facts"),
                }
                self.fire(task, Event::Done, None)
            }
            Event::Inspect => {
                task.node.inspection_started_at = Some(now());
                task.node.inspection_finished_at = None;
                self.save(task).await?;
                let iface = driver.interface("inspect").ok_or_else(|| ConductorError::Invalid("no inspect interface".into()))?;
                iface.validate(&task.node)?;
                // Out of band (Redfish): the BMC's facts go through the same hooks and rules.
                if let Some(oob) = iface.inspect_out_of_band(&task.node).await? {
                    self.process_out_of_band(task, oob).await?;
                    task.node.inspection_finished_at = Some(now());
                    task.node.inspection_started_at = None;
                    return self.fire(task, Event::Done, None);
                }
                match iface.run(&mut task.node, "inspect_hardware", &empty).await? {
                    Outcome::Done => {
                        task.node.inspection_finished_at = Some(now());
                        task.node.inspection_started_at = None;
                        self.fire(task, Event::Done, None)
                    }
                    Outcome::Wait => {
                        // In-band: boot the ramdisk, then wait for its report.
                        self.boot_for_inspection(task, driver).await?;
                        self.fire(task, Event::Wait, None)
                    }
                }
            }
            Event::Provide => self.clean(task, driver, None).await,
            Event::Clean => self.clean(task, driver, args.clean_steps.clone()).await,
            Event::Deploy | Event::Rebuild => {
                if let Some(cd) = &args.configdrive {
                    task.node.instance_info.insert("configdrive".into(), cd.clone());
                }
                let iface = driver.interface("deploy").ok_or_else(|| ConductorError::Invalid("no deploy interface".into()))?;
                iface.validate(&task.node)?;
                self.deploy(task, driver, args.deploy_steps.as_deref().unwrap_or(&[])).await
            }
            Event::Delete => {
                if let Some(iface) = driver.interface("deploy") {
                    iface.run(&mut task.node, "tear_down", &empty).await?;
                }
                task.node.instance_info = Dict::new();
                task.node.instance_uuid = None;
                // Undeploying ends the node's allocation, as in Ironic.
                if let Some(a) = task.node.allocation_uuid.take() {
                    match self.store().delete_allocation_record(&a).await {
                        Ok(()) | Err(ferric_store::StoreError::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                task.node.driver_internal_info.remove("deploy_steps");
                self.fire(task, Event::Clean, None)?;
                self.save(task).await?;
                self.clean(task, driver, None).await
            }
            Event::Adopt => {
                let iface = driver.interface("deploy").ok_or_else(|| ConductorError::Invalid("no deploy interface".into()))?;
                iface.validate(&task.node)?;
                iface.run(&mut task.node, "take_over", &empty).await?;
                self.fire(task, Event::Done, None)
            }
            Event::Rescue | Event::Unrescue => {
                let op = if verb == Event::Rescue { "rescue" } else { "unrescue" };
                let iface = driver.interface("rescue").ok_or_else(|| ConductorError::Invalid("no rescue interface".into()))?;
                iface.validate(&task.node)?;
                if let Some(pw) = &args.rescue_password {
                    // Kept only for the rescue ramdisk; never returned by the API.
                    task.node.instance_info.insert("rescue_password".into(), Value::String(pw.clone()));
                }
                match iface.run(&mut task.node, op, &empty).await? {
                    Outcome::Done => self.fire(task, Event::Done, None),
                    Outcome::Wait => self.fire(task, Event::Wait, None),
                }
            }
            Event::Service => self.service(task, driver, args.service_steps.clone().unwrap_or_default()).await,
            other => Err(ConductorError::Invalid(format!("verb {other} has no flow"))),
        }
    }

    /// Servicing an active node (API 1.87), as Ironic's `servicing.py`. When every step the user
    /// gave is a service step of the node's interfaces, they run as the driver describes them
    /// (with `priority` and `abortable`), without the flow steps Ironic resolves itself (`hold`,
    /// `wait`, power actions); otherwise Ironic runs the list as given, so ferric does too. A step
    /// the interface does not have fails the node into `service failed` and maintenance, with the
    /// `service failure` fault. A step that waits for a call-back leaves the node in
    /// `service wait`.
    async fn service(&self, task: &mut Task, driver: &Driver, steps: Vec<Dict>) -> CResult<()> {
        const FLOW_STEPS: &[&str] = &["power_on", "power_off", "reboot", "hold", "wait"];
        let user = steps;
        let known = |s: &Dict| driver.service_step(step_field(s, "interface"), step_field(s, "step"));
        let flow = |s: &Dict| FLOW_STEPS.contains(&step_field(s, "step"));
        let steps: Vec<Dict> = if user.iter().all(|s| flow(s) || known(s).is_some()) {
            user.iter()
                .filter(|s| !flow(s))
                .map(|s| {
                    let mut s = s.clone();
                    if let Some(k) = known(&s) {
                        s.insert("abortable".into(), k.abortable.into());
                        s.insert("priority".into(), k.priority.into());
                    }
                    s
                })
                .collect()
        } else {
            user
        };
        let listed = steps.iter().cloned().map(Value::Object).collect();
        task.node.driver_internal_info.insert("service_steps".into(), Value::Array(listed));
        for (index, step) in steps.iter().enumerate() {
            task.node.service_step = step.clone();
            task.node.driver_internal_info.insert("service_step_index".into(), index.into());
            self.save(task).await?;
            let (iface, name) = (step_field(step, "interface"), step_field(step, "step"));
            let outcome = if driver.has_step(iface, name) {
                self.run_step_outcome(task, driver, step).await
            } else {
                Err(ConductorError::Invalid(format!("the {iface} interface has no step {name}")))
            };
            match outcome {
                Ok(Outcome::Done) => {}
                // The driver's call-back carries on from here.
                Ok(Outcome::Wait) => return self.fire(task, Event::Wait, None),
                Err(e) => {
                    // Ironic's servicing_error_handler: a failed step puts the node in maintenance.
                    let msg = format!(
                        "Node {} failed step {}: {e}",
                        task.node.uuid,
                        ferric_core::validate::py_repr(&Value::Object(step.clone()))
                    );
                    task.node.fault = Some("service failure".into());
                    task.node.maintenance = true;
                    if task.node.maintenance_reason.is_none() {
                        task.node.maintenance_reason = Some(msg.clone());
                    }
                    task.node.service_step = Dict::new();
                    task.node.driver_internal_info.remove("service_step_index");
                    return Err(ConductorError::Invalid(msg));
                }
            }
        }
        task.node.service_step = Dict::new();
        task.node.driver_internal_info.remove("service_steps");
        task.node.driver_internal_info.remove("service_step_index");
        self.fire(task, Event::Done, None)
    }

    /// Automated cleaning (`steps` = None) or manual cleaning with the given steps.
    async fn clean(&self, task: &mut Task, driver: &Driver, steps: Option<Vec<Dict>>) -> CResult<()> {
        let manual = steps.is_some();
        let steps: Vec<Dict> = match steps {
            Some(s) => s,
            None => {
                let enabled = task.node.automated_clean.unwrap_or(self.config().automated_clean);
                if !enabled {
                    Vec::new()
                } else {
                    driver
                        .clean_steps()
                        .into_iter()
                        .filter(|s| s.priority > 0)
                        .map(|s| {
                            let mut d = Dict::new();
                            d.insert("interface".into(), s.interface.into());
                            d.insert("step".into(), s.step.into());
                            d.insert("priority".into(), s.priority.into());
                            d.insert("args".into(), Value::Object(Dict::new()));
                            d
                        })
                        .collect()
                }
            }
        };
        for step in steps {
            task.node.clean_step = step.clone();
            self.save(task).await?;
            self.run_step(task, driver, &step).await?;
        }
        task.node.clean_step = Dict::new();
        task.node.driver_internal_info.remove("clean_steps");
        // A retired node goes back to manageable, never to available (Ironic's cleaning.py).
        if manual || task.node.retired {
            self.fire(task, Event::Manage, None)
        } else {
            self.fire(task, Event::Done, None)
        }
    }

    /// Run the deploy steps (the driver's and those of matching deploy templates), recording
    /// each in `deploy_step` while it runs.
    async fn deploy(&self, task: &mut Task, driver: &Driver, user_steps: &[Dict]) -> CResult<()> {
        // The templates may have changed since the request was accepted: check them again.
        let steps = self
            .deploy_steps(&task.node, driver, user_steps)
            .await
            .map_err(|e| ConductorError::Invalid(format!("Cannot get deploy steps; failed to deploy: {e}")))?;
        let listed = steps.iter().cloned().map(Value::Object).collect();
        task.node.driver_internal_info.insert("deploy_steps".into(), Value::Array(listed));
        for step in steps {
            task.node.deploy_step = step.clone();
            self.save(task).await?;
            match self.run_step_outcome(task, driver, &step).await {
                Ok(Outcome::Done) => {}
                // The agent's call-back carries on from here.
                Ok(Outcome::Wait) => return self.fire(task, Event::Wait, None),
                Err(e) => {
                    task.node.deploy_step = Dict::new();
                    let id = format!("{}.{}", step_field(&step, "interface"), step_field(&step, "step"));
                    return Err(ConductorError::Invalid(format!("Deploy step {id} failed: {e}.")));
                }
            }
        }
        task.node.deploy_step = Dict::new();
        task.node.driver_internal_info.remove("deploy_steps");
        self.fire(task, Event::Done, None)
    }

    async fn run_step(&self, task: &mut Task, driver: &Driver, step: &Dict) -> CResult<()> {
        match self.run_step_outcome(task, driver, step).await? {
            Outcome::Done => Ok(()),
            Outcome::Wait => Err(ConductorError::Invalid(format!(
                "step {}.{} waits for a call-back, which this conductor cannot receive yet",
                step_field(step, "interface"),
                step_field(step, "step")
            ))),
        }
    }

    async fn run_step_outcome(&self, task: &mut Task, driver: &Driver, step: &Dict) -> CResult<Outcome> {
        let iface_name = step_field(step, "interface");
        let name = step_field(step, "step");
        let args = step.get("args").and_then(Value::as_object).cloned().unwrap_or_default();
        let iface = driver
            .interface(iface_name)
            .ok_or_else(|| ConductorError::Invalid(format!("interface {iface_name} is not available")))?;
        Ok(iface.run(&mut task.node, name, &args).await?)
    }

    /// Fail nodes whose wait state outlived its timeout. Returns the nodes failed.
    pub async fn check_wait_timeouts(&self) -> CResult<Vec<String>> {
        let cfg = self.config().clone();
        let limits = [
            (S::DeployWait, cfg.deploy_callback_timeout),
            (S::CleanWait, cfg.clean_callback_timeout),
            (S::InspectWait, cfg.inspect_wait_timeout),
            (S::RescueWait, cfg.rescue_callback_timeout),
            (S::ServiceWait, cfg.service_callback_timeout),
        ];
        let states = limits.iter().filter(|(_, t)| !t.is_zero()).map(|(s, _)| s.as_str().to_string()).collect();
        let nodes = self
            .store()
            .list_nodes(ferric_store::NodeFilter { provision_states: Some(states), ..Default::default() }, Default::default())
            .await?;
        let now = now();
        let keep = cfg.node_history_max_entries;
        let mut failed = Vec::new();
        for node in nodes {
            if node.maintenance || node.reservation.is_some() {
                continue;
            }
            let Some((_, limit)) = limits.iter().find(|(s, _)| *s == node.provision_state) else { continue };
            let since = node.provision_updated_at.unwrap_or(node.created_at);
            let limit = chrono::Duration::from_std(*limit).unwrap_or(chrono::Duration::MAX);
            if now - since < limit {
                continue;
            }
            let state = node.provision_state;
            let this = self.clone();
            let r = self
                .store()
                .update_node_recording(&node.uuid, None, keep, move |n| {
                    if n.provision_state != state {
                        return Err(());
                    }
                    let t = fsm::fire(state, Event::Fail, None).ok_or(())?;
                    let since = n.provision_updated_at;
                    n.apply_transition(t, now);
                    let error = timeout_message(state, &n.uuid);
                    // As Ironic's timeout call-backs: recorded after the fail transition.
                    let entry = this.history_entry(n, history::ERROR, failure_event_type(state), &error, since);
                    n.last_error = Some(error);
                    clear_steps(n);
                    Ok(entry)
                })
                .await;
            match r {
                Ok(Ok(_)) => {
                    tracing::warn!(node = %node.uuid, state = %state, "wait state timed out");
                    failed.push(node.uuid);
                }
                Ok(Err(())) | Err(ferric_store::StoreError::Locked { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(failed)
    }
}

/// The history event type of a failure in `state`, as Ironic's error handlers name them.
fn failure_event_type(state: S) -> &'static str {
    match state {
        S::Deploying | S::DeployWait | S::DeployHold => history::DEPLOYING,
        S::Cleaning | S::CleanWait | S::CleanHold => history::CLEANING,
        S::Inspecting | S::InspectWait => history::INTROSPECTION,
        S::Verifying => history::VERIFY,
        S::Rescuing | S::RescueWait | S::Unrescuing => history::RESCUE,
        S::Deleting => history::UNPROVISION,
        S::Adopting => history::ADOPTION,
        S::Servicing | S::ServiceWait | S::ServiceHold => history::SERVICING,
        _ => history::PROVISIONING,
    }
}

fn step_field<'a>(step: &'a Dict, key: &str) -> &'a str {
    step.get(key).and_then(Value::as_str).unwrap_or("")
}

fn clear_steps(n: &mut ferric_core::Node) {
    n.clean_step = Dict::new();
    n.deploy_step = Dict::new();
    n.service_step = Dict::new();
}

fn timeout_message(state: S, uuid: &str) -> String {
    match state {
        S::DeployWait => format!("Timeout reached while waiting for callback for node {uuid}"),
        S::CleanWait => "Timeout reached while cleaning the node. Please check if the ramdisk responsible for the cleaning is running on the node.".into(),
        S::InspectWait => "Timeout reached while inspecting the node".into(),
        S::RescueWait => format!("Timeout reached while waiting for rescue ramdisk callback for node {uuid}"),
        S::ServiceWait => format!("Timeout reached while servicing node {uuid}"),
        other => format!("Timeout reached in state {other}"),
    }
}

fn abort_message(state: S, uuid: &str) -> String {
    match state {
        S::InspectWait => "Inspection was aborted by request.".into(),
        S::CleanWait | S::CleanHold => format!("Clean operation aborted for node {uuid}."),
        S::DeployWait | S::DeployHold => format!("Deployment aborted for node {uuid}."),
        S::RescueWait => format!("Rescue operation aborted for node {uuid}."),
        _ => format!("Operation aborted for node {uuid}."),
    }
}

