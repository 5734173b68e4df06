//! The deploy steps of a deployment, after Ironic's `conductor/steps.py`: the node's driver
//! offers deploy steps; the deploy templates named by the node's instance traits
//! (`instance_info.traits`) add steps, override driver steps of the same interface and name, or
//! disable them with priority 0. The result runs highest priority first.

use crate::{CResult, Conductor, ConductorError};
use ferric_core::model::deploy_interface_rank;
use ferric_core::validate::py_repr;
use ferric_core::{DeployStep, DeployTemplate, Dict, Node};
use ferric_drivers::Driver;
use serde_json::{json, Value};

/// A deploy step as Ironic records it in `deploy_step` and `driver_internal_info.deploy_steps`.
fn step_dict(interface: &str, step: &str, args: &Dict, priority: i64) -> Dict {
    let v = json!({"interface": interface, "step": step, "args": args, "priority": priority});
    v.as_object().cloned().unwrap_or_default()
}

/// A template step as Ironic's messages print it (a Python dict, in its key order).
fn describe(s: &DeployStep) -> String {
    let text = |t: &str| py_repr(&Value::String(t.to_string()));
    format!(
        "{{'interface': {}, 'step': {}, 'args': {}, 'priority': {}}}",
        text(&s.interface),
        text(&s.step),
        py_repr(&Value::Object(s.args.clone())),
        s.priority
    )
}

/// The node's instance traits, checked as Ironic's `validate_instance_info_traits` does: a list
/// of strings, each also a trait of the node.
fn instance_traits(node: &Node) -> CResult<Vec<String>> {
    let Some(raw) = node.instance_info.get("traits").filter(|t| !t.is_null()) else { return Ok(Vec::new()) };
    let invalid = || {
        ConductorError::Invalid(format!(
            "Error parsing traits from Node {} instance_info field. A list of strings is expected.",
            node.uuid
        ))
    };
    let list = raw.as_array().ok_or_else(invalid)?;
    let traits: Vec<String> = list.iter().map(|t| t.as_str().map(str::to_string).ok_or_else(invalid)).collect::<CResult<_>>()?;
    let missing: Vec<&str> = traits.iter().filter(|t| !node.traits.contains(t)).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(ConductorError::Invalid(format!(
            "Cannot specify instance traits that are not also set on the node. Node {} is missing traits {}",
            node.uuid,
            missing.join(", ")
        )));
    }
    Ok(traits)
}

/// Check the template steps against the steps the driver offers (Ironic's
/// `_validate_user_steps` for deploy steps). Returns the list of errors.
fn validate_template_steps(steps: &[DeployStep], driver: &Driver) -> Vec<String> {
    let offered = driver.deploy_steps();
    let mut errors = Vec::new();
    for s in steps {
        let Some(d) = offered.iter().find(|d| d.interface == s.interface && d.step == s.step) else {
            errors.push(format!("node does not support this deploy step: {}", describe(s)));
            continue;
        };
        let argsinfo = d.argsinfo.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
        let unexpected: Vec<&str> = s.args.keys().filter(|k| !argsinfo.contains_key(*k)).map(String::as_str).collect();
        if !unexpected.is_empty() {
            errors.push(format!("deploy step {} has these unexpected arguments: {}", describe(s), unexpected.join(", ")));
        }
        if s.priority > 0 {
            let missing: Vec<String> = argsinfo
                .iter()
                .filter(|(name, info)| info.get("required").and_then(Value::as_bool).unwrap_or(false) && !s.args.contains_key(*name))
                .map(|(name, info)| match info.get("description").and_then(Value::as_str) {
                    Some(d) => format!("{name} ({d})"),
                    None => name.clone(),
                })
                .collect();
            if !missing.is_empty() {
                errors.push(format!("deploy step {} is missing these required arguments: {}", describe(s), missing.join(", ")));
            }
            if d.interface == "deploy" && d.step == "deploy" {
                errors.push(format!(
                    "deploy step {} on interface {} is a core step and cannot be overridden by user steps. It may be disabled by setting the priority to 0",
                    s.step, s.interface
                ));
            }
        }
    }
    let mut dups: Vec<String> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let id = format!("{}.{}", s.interface, s.step);
        if steps[..i].iter().any(|p| p.interface == s.interface && p.step == s.step) && !dups.contains(&id) {
            dups.push(id);
        }
    }
    if !dups.is_empty() {
        errors.push(format!(
            "deploy steps from all deploy templates matching this node's instance traits cannot have the same interface and step. Duplicate deploy steps for {}",
            dups.join(", ")
        ));
    }
    errors
}

impl Conductor {
    /// The deploy templates named by the node's instance traits.
    pub(crate) async fn deploy_templates_for(&self, node: &Node) -> CResult<Vec<DeployTemplate>> {
        let traits = instance_traits(node)?;
        if traits.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store().deploy_templates_named(traits).await?)
    }

    /// The deploy steps to run for `node`, highest priority first: the driver's enabled steps
    /// that no matching template overrides, and the matching templates' enabled steps. Fails
    /// (400) when a template step is not supported by the node's interfaces, as Ironic does.
    ///
    /// `user` are the steps of the deploy request (API 1.69); they override template and
    /// driver steps of the same interface and name, as in Ironic.
    pub(crate) async fn deploy_steps(&self, node: &Node, driver: &Driver, user: &[Dict]) -> CResult<Vec<Dict>> {
        let templates = self.deploy_templates_for(node).await?;
        let template_steps: Vec<DeployStep> = templates.iter().flat_map(|t| t.steps.iter().cloned()).collect();
        let errors = validate_template_steps(&template_steps, driver);
        if !errors.is_empty() {
            let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
            return Err(ConductorError::Invalid(format!(
                "Validation of deploy steps from deploy templates matching this node's instance traits failed. Matching deploy templates: {}. Errors: {}",
                names.join(","),
                errors.join("; ")
            )));
        }
        let field = |d: &Dict, k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let by_user = |iface: &str, step: &str| user.iter().any(|u| field(u, "interface") == iface && field(u, "step") == step);
        let overridden =
            |iface: &str, step: &str| by_user(iface, step) || template_steps.iter().any(|t| t.interface == iface && t.step == step);
        let mut steps: Vec<(i64, i64, Dict)> = driver
            .deploy_steps()
            .into_iter()
            .filter(|d| d.priority > 0 && !overridden(d.interface, d.step))
            .map(|d| (d.priority, deploy_interface_rank(d.interface), step_dict(d.interface, d.step, &Dict::new(), d.priority)))
            .collect();
        steps.extend(
            template_steps
                .iter()
                .filter(|t| t.priority > 0 && !by_user(&t.interface, &t.step))
                .map(|t| (t.priority, deploy_interface_rank(&t.interface), step_dict(&t.interface, &t.step, &t.args, t.priority))),
        );
        for u in user {
            let priority = u.get("priority").and_then(|p| p.as_i64().or_else(|| p.as_str().and_then(|s| s.parse().ok()))).unwrap_or(0);
            if priority > 0 {
                let args = u.get("args").and_then(Value::as_object).cloned().unwrap_or_default();
                let (i, st) = (field(u, "interface"), field(u, "step"));
                steps.push((priority, deploy_interface_rank(&i), step_dict(&i, &st, &args, priority)));
            }
        }
        // Stable: equal keys keep driver steps first, then templates in order.
        steps.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
        if steps.is_empty() {
            return Err(ConductorError::Invalid(format!("Error while getting deploy steps: no steps returned for node {}", node.uuid)));
        }
        Ok(steps.into_iter().map(|(_, _, d)| d).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(i: &str, s: &str, priority: i64, args: Value) -> DeployStep {
        DeployStep { interface: i.into(), step: s.into(), args: args.as_object().cloned().unwrap_or_default(), priority }
    }

    #[test]
    fn template_steps_are_checked_against_the_driver() {
        let node = Node { driver: "fake-hardware".into(), ..Default::default() };
        let driver = ferric_drivers::Registry::builtin().driver_for(&node).unwrap();
        let ok = [step("bios", "apply_configuration", 10, json!({"settings": []})), step("deploy", "deploy", 0, json!({}))];
        assert!(validate_template_steps(&ok, &driver).is_empty());
        let errs = validate_template_steps(&[step("raid", "nope", 10, json!({}))], &driver);
        assert_eq!(errs, vec!["node does not support this deploy step: {'interface': 'raid', 'step': 'nope', 'args': {}, 'priority': 10}"]);
        let errs = validate_template_steps(&[step("bios", "apply_configuration", 5, json!({"x": 1}))], &driver);
        assert_eq!(errs.len(), 2, "unexpected x and missing settings: {errs:?}");
        assert!(errs[1].contains("missing these required arguments: settings (List of BIOS settings"), "{errs:?}");
        let errs = validate_template_steps(&[step("deploy", "deploy", 50, json!({}))], &driver);
        assert!(errs[0].contains("is a core step"), "{errs:?}");
        let twice = [step("bios", "factory_reset", 0, json!({})), step("bios", "factory_reset", 0, json!({}))];
        assert!(validate_template_steps(&twice, &driver)[0].ends_with("Duplicate deploy steps for bios.factory_reset"));
    }
}
