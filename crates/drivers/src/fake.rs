//! `fake-hardware`: every interface succeeds at once without touching hardware, as Ironic's
//! fake interfaces do. Power and boot device are remembered in the node record itself
//! (`power_state`, `driver_internal_info`), so the conductor's bookkeeping is exercised for real.

use super::*;
use ferric_core::PowerState;

pub fn hardware_type() -> HardwareType {
    let mut s = BTreeMap::new();
    s.insert("bios", vec!["fake", "no-bios"]);
    s.insert("boot", vec!["fake"]);
    s.insert("console", vec!["fake", "no-console"]);
    s.insert("deploy", vec!["fake"]);
    s.insert("firmware", vec!["fake", "no-firmware"]);
    s.insert("inspect", vec!["fake", "agent", "no-inspect"]);
    s.insert("management", vec!["fake"]);
    s.insert("network", vec!["noop"]);
    s.insert("power", vec!["fake"]);
    s.insert("raid", vec!["fake", "no-raid"]);
    s.insert("rescue", vec!["fake", "no-rescue"]);
    s.insert("storage", vec!["noop"]);
    s.insert("vendor", vec!["fake", "no-vendor"]);
    HardwareType { name: "fake-hardware", supported: s }
}

pub fn register(impls: &mut Implementations) {
    impls.power.insert("fake", Arc::new(FakePower));
    impls.management.insert("fake", Arc::new(FakeManagement));
    for kind in ["bios", "boot", "console", "deploy", "firmware", "inspect", "raid", "rescue", "vendor"] {
        let m = impls.generic.entry(kind).or_default();
        m.insert("fake", Arc::new(Fake { kind }) as Arc<dyn GenericInterface>);
        if !matches!(kind, "boot" | "deploy") {
            m.insert(noop_name(kind), Arc::new(No { kind }) as Arc<dyn GenericInterface>);
        }
    }
    impls.generic.entry("inspect").or_default().insert("agent", Arc::new(crate::agent::AgentInspect));
    for kind in ["network", "storage"] {
        impls.generic.entry(kind).or_default().insert("noop", Arc::new(Fake { kind }));
    }
}

fn noop_name(kind: &str) -> &'static str {
    match kind {
        "bios" => "no-bios",
        "console" => "no-console",
        "firmware" => "no-firmware",
        "inspect" => "no-inspect",
        "raid" => "no-raid",
        "rescue" => "no-rescue",
        "vendor" => "no-vendor",
        _ => "noop",
    }
}

pub struct FakePower;

impl PowerInterface for FakePower {
    fn validate(&self, _node: &Node) -> DResult<()> {
        Ok(())
    }
    fn get_power_state<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move { Ok(node.power_state.unwrap_or(PowerState::Off)) })
    }
    fn set_power_state<'a>(&'a self, _node: &'a Node, target: PowerState, _t: Option<u64>) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move {
            Ok(match target {
                PowerState::On | PowerState::Rebooting | PowerState::SoftRebooting => PowerState::On,
                PowerState::Off | PowerState::SoftPowerOff => PowerState::Off,
            })
        })
    }
    fn supported_power_states(&self) -> Vec<PowerState> {
        vec![PowerState::On, PowerState::Off, PowerState::Rebooting, PowerState::SoftPowerOff, PowerState::SoftRebooting]
    }
}

pub struct FakeManagement;

const FAKE_BOOT_DEVICE: &str = "fake_boot_device";

impl ManagementInterface for FakeManagement {
    fn validate(&self, _node: &Node) -> DResult<()> {
        Ok(())
    }
    fn supported_boot_devices(&self, _node: &Node) -> Vec<&'static str> {
        vec!["pxe", "disk"]
    }
    fn get_boot_device<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<(Option<String>, Option<bool>)>> {
        Box::pin(async move {
            let saved = node.driver_internal_info.get(FAKE_BOOT_DEVICE);
            let dev = saved.and_then(|v| v.get("boot_device")).and_then(Value::as_str).unwrap_or("pxe");
            let persistent = saved.and_then(|v| v.get("persistent")).and_then(Value::as_bool).unwrap_or(false);
            Ok((Some(dev.to_string()), Some(persistent)))
        })
    }
    fn indicators(&self, _node: &Node) -> DResult<Vec<Indicator>> {
        // Ironic's fake management interface offers these two.
        Ok(vec![
            Indicator { component: "chassis", name: "led-0", readonly: true, states: vec!["OFF", "ON"] },
            Indicator { component: "system", name: "led", readonly: false, states: vec!["BLINKING", "OFF", "ON"] },
        ])
    }
    fn get_indicator<'a>(&'a self, node: &'a Node, component: &'a str, name: &'a str) -> BoxFut<'a, DResult<String>> {
        Box::pin(async move {
            find_indicator(self.indicators(node)?, component, name)?;
            Ok("ON".to_string())
        })
    }
    fn set_indicator<'a>(&'a self, node: &'a Node, component: &'a str, name: &'a str, state: &'a str) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            let i = find_indicator(self.indicators(node)?, component, name)?;
            if !i.states.contains(&state) {
                return Err(DriverError::InvalidParameter(format!("Invalid state {state} for indicator {name}@{component}")));
            }
            Ok(())
        })
    }
    fn set_boot_device<'a>(&'a self, node: &'a Node, device: &'a str, _persistent: bool) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            if !self.supported_boot_devices(node).contains(&device) {
                return Err(DriverError::InvalidParameter(format!("Invalid boot device {device} specified.")));
            }
            Ok(())
        })
    }
}

/// The conductor records the boot device a fake BMC "has" under this key.
pub fn remember_boot_device(node: &mut Node, device: &str, persistent: bool) {
    node.driver_internal_info
        .insert(FAKE_BOOT_DEVICE.into(), serde_json::json!({"boot_device": device, "persistent": persistent}));
}

struct Fake {
    kind: &'static str,
}

impl GenericInterface for Fake {
    fn properties(&self) -> Dict {
        // Ironic's fake vendor interface (FakeVendorB) documents two properties.
        let mut d = Dict::new();
        if self.kind == "vendor" {
            d.insert("B1".into(), "B1 description. Required.".into());
            d.insert("B2".into(), "B2 description. Required.".into());
        }
        d
    }
    fn validate(&self, _node: &Node) -> DResult<()> {
        Ok(())
    }
    fn clean_steps(&self) -> Vec<Step> {
        // Ironic's fake RAID and BIOS interfaces offer these manual clean steps (priority 0).
        let names: &[&'static str] = match self.kind {
            "raid" => &["create_configuration", "delete_configuration"],
            "bios" => &["apply_configuration", "factory_reset"],
            _ => &[],
        };
        names
            .iter()
            .map(|s| Step { interface: self.kind, step: s, priority: 0, abortable: false, argsinfo: None })
            .collect()
    }
    fn deploy_steps(&self) -> Vec<Step> {
        // Ironic's fake deploy interface has the core `deploy` step. ferric's fake BIOS also
        // offers its configuration steps as (disabled) deploy steps, as the redfish BIOS does, so
        // deploy templates can be exercised without hardware.
        match self.kind {
            "deploy" => vec![Step { interface: "deploy", step: "deploy", priority: 100, abortable: false, argsinfo: None }],
            "bios" => vec![
                Step {
                    interface: "bios",
                    step: "apply_configuration",
                    priority: 0,
                    abortable: false,
                    argsinfo: Some(serde_json::json!({"settings": {
                        "description": "List of BIOS settings, each item needs to contain a dictionary with name/value pairs",
                        "required": true,
                    }})),
                },
                Step { interface: "bios", step: "factory_reset", priority: 0, abortable: false, argsinfo: None },
            ],
            _ => Vec::new(),
        }
    }
    fn service_steps(&self) -> Vec<Step> {
        // Ironic's fake vendor interface (FakeVendorB) offers these two service steps; the
        // second leaves the node in `service wait`.
        match self.kind {
            "vendor" => ["log_passthrough", "trigger_servicewait"]
                .into_iter()
                .map(|step| Step { interface: "vendor", step, priority: 0, abortable: false, argsinfo: None })
                .collect(),
            _ => Vec::new(),
        }
    }
    fn run<'a>(&'a self, node: &'a mut Node, operation: &'a str, args: &'a Dict) -> BoxFut<'a, DResult<Outcome>> {
        Box::pin(async move {
            // The fake BIOS keeps what it was told, so the BIOS API shows it back.
            match (self.kind, operation) {
                ("vendor", "trigger_servicewait") => return Ok(Outcome::Wait),
                ("bios", "apply_configuration") => {
                    let settings = args.get("settings").and_then(Value::as_array).cloned().unwrap_or_default();
                    for s in settings {
                        let name = s.get("name").and_then(Value::as_str);
                        let value = s.get("value").cloned();
                        match (name, value) {
                            (Some(n), Some(v)) => {
                                node.bios_settings.insert(n.to_string(), v);
                            }
                            _ => return Err(DriverError::InvalidParameter(format!("Invalid BIOS setting {s}: name and value are required"))),
                        }
                    }
                }
                ("bios", "factory_reset") => node.bios_settings.clear(),
                _ => {}
            }
            Ok(Outcome::Done)
        })
    }
}

/// `no-*` implementations: validation fails with a clear reason, operations are unsupported.
struct No {
    kind: &'static str,
}

impl GenericInterface for No {
    fn validate(&self, _node: &Node) -> DResult<()> {
        Err(DriverError::Unsupported(format!("No {} interface is configured for this node", self.kind)))
    }
    fn run<'a>(&'a self, _node: &'a mut Node, op: &'a str, _args: &'a Dict) -> BoxFut<'a, DResult<Outcome>> {
        Box::pin(async move { Err(DriverError::Unsupported(format!("{} is not supported by the no-{} interface", op, self.kind))) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_ironic_fake_hardware() {
        let r = Registry::builtin();
        let ht = r.hardware_type("fake-hardware").unwrap();
        assert_eq!(ht.default_for("network"), Some("noop"));
        assert_eq!(ht.default_for("storage"), Some("noop"));
        assert_eq!(ht.default_for("inspect"), Some("fake"));
        assert!(ht.supports("inspect", "no-inspect"));
        assert!(!ht.supports("power", "ipmitool"));
    }

    #[tokio::test]
    async fn a_node_resolves_to_working_interfaces() {
        let r = Registry::builtin();
        let mut node = Node { driver: "fake-hardware".into(), ..Default::default() };
        let d = r.driver_for(&node).unwrap();
        assert!(d.validate_all(&node).iter().all(|(_, r)| r.is_ok()));
        assert_eq!(d.power.get_power_state(&node).await.unwrap(), PowerState::Off);
        assert_eq!(d.power.set_power_state(&node, PowerState::Rebooting, None).await.unwrap(), PowerState::On);
        assert!(d.management.set_boot_device(&node, "cdrom", false).await.is_err());
        remember_boot_device(&mut node, "disk", true);
        assert_eq!(d.management.get_boot_device(&node).await.unwrap(), (Some("disk".into()), Some(true)));
        let steps: Vec<_> = d.clean_steps().iter().map(|s| format!("{}.{}", s.interface, s.step)).collect();
        assert!(steps.contains(&"raid.create_configuration".to_string()), "{steps:?}");

        node.interfaces.inspect = "no-inspect".into();
        let d = r.driver_for(&node).unwrap();
        let v = d.validate_all(&node);
        assert!(v.iter().find(|(k, _)| *k == "inspect").unwrap().1.is_err());
        node.interfaces.power = "ipmitool".into();
        assert!(r.driver_for(&node).is_err());
        node.driver = "nope".into();
        assert!(r.driver_for(&node).is_err());
    }
}
