//! The `ipmi` hardware type: power and chassis boot device over IPMI, through `ipmitool -I
//! lanplus` (as Ironic's `ipmitool` interfaces) behind the [`IpmiTool`] trait, so tests can
//! feed recorded outputs and CI runs it against a real `ipmi_sim`.
//!
//! * The password reaches ipmitool through its environment (`-E`, `IPMI_PASSWORD`), never
//!   the command line, so `ps` does not show it.
//! * Commands to one BMC are serialized and spaced by `min_command_interval`; commands to
//!   different BMCs run side by side. Each run has a hard time limit and is killed beyond it.
//! * Failures ipmitool reports as transient ("Node busy", time-outs, ...) are retried until
//!   `command_retry_timeout`, as Ironic does; others (wrong password) fail at once.

pub mod tool;

use crate::*;
pub use tool::{IpmiTool, Ipmitool};

#[derive(Debug, Clone)]
pub struct IpmiConfig {
    /// The ipmitool binary.
    pub ipmitool: String,
    /// `[ipmi]min_command_interval`: the least time between two commands to one BMC.
    pub min_command_interval: Duration,
    /// `[ipmi]command_retry_timeout`: how long transient failures are retried.
    pub command_retry_timeout: Duration,
    /// The longest one ipmitool run may take before it is killed.
    pub command_timeout: Duration,
    /// `[ipmi]cipher_suite_versions`' role: the cipher suite when a node names none
    /// (ipmitool's own default probes for 10 s on some BMCs; 3 is the widely supported one).
    pub default_cipher_suite: Option<u8>,
    /// How long a power change may take to show.
    pub power_state_change_timeout: Duration,
    /// Poll interval while waiting for a power change.
    pub power_state_poll_interval: Duration,
    /// `[ipmi]disable_boot_timeout` default: send the raw command that keeps a boot device
    /// setting from expiring after 60 s.
    pub disable_boot_timeout: bool,
}

impl Default for IpmiConfig {
    fn default() -> Self {
        IpmiConfig {
            ipmitool: "ipmitool".into(),
            min_command_interval: Duration::from_secs(5),
            command_retry_timeout: Duration::from_secs(60),
            command_timeout: Duration::from_secs(30),
            default_cipher_suite: Some(3),
            power_state_change_timeout: Duration::from_secs(60),
            power_state_poll_interval: Duration::from_secs(1),
            disable_boot_timeout: true,
        }
    }
}

pub fn hardware_type() -> HardwareType {
    crate::bmc_hardware_type("ipmi", "ipmitool", &["agent", "no-inspect"])
}

pub fn register(impls: &mut Implementations, config: IpmiConfig) {
    let tool: Arc<dyn IpmiTool> = Arc::new(Ipmitool::new(config.clone()));
    let i = Arc::new(Ipmi { tool, config });
    impls.power.insert("ipmitool", i.clone());
    impls.management.insert("ipmitool", i);
}

pub const VALID_PRIV_LEVELS: &[&str] = &["ADMINISTRATOR", "CALLBACK", "OPERATOR", "USER"];

pub const PROPERTIES: &[(&str, &str)] = &[
    ("ipmi_address", "IP address or hostname of the node. Required."),
    ("ipmi_password", "password. Optional."),
    ("ipmi_port", "remote IPMI RMCP port. Optional."),
    ("ipmi_priv_level", "privilege level; default is ADMINISTRATOR. One of ADMINISTRATOR, CALLBACK, OPERATOR, USER. Optional."),
    ("ipmi_username", "username; default is NULL user. Optional."),
    ("ipmi_protocol_version", "the version of the IPMI protocol; default is \"2.0\". One of \"1.5\", \"2.0\". Optional."),
    ("ipmi_force_boot_device", "Whether Ironic should specify the boot device to the BMC each time the server is turned on, eg. because the BMC is not capable of remembering the selected boot device across power cycles; default value is False. Optional."),
    ("ipmi_disable_boot_timeout", "By default ironic will send a raw IPMI command to disable the 60 second timeout for booting.  Setting this option to False will NOT send that command; default value is True. Optional."),
    ("ipmi_hex_kg_key", "the key for IPMIv2 authentication, as a hexadecimal string (the K_g key). Optional."),
    ("ipmi_cipher_suite", "The number of a cipher suite to use. Only 3 (AES-128 with SHA1) or 17 (AES-128 with SHA256) should ever be used; 3 is the most widely supported. Optional."),
];

/// A node's IPMI `driver_info`, parsed and checked (Ironic's `_parse_driver_info`).
#[derive(Clone)]
pub struct IpmiTarget {
    pub node: String,
    pub address: String,
    pub port: Option<u16>,
    pub username: Option<String>,
    /// Never printed: `Debug` hides it.
    pub password: Option<String>,
    pub priv_level: String,
    /// `lanplus` (2.0) or `lan` (1.5).
    pub interface: &'static str,
    pub cipher_suite: Option<u8>,
    pub hex_kg_key: Option<String>,
    pub disable_boot_timeout: bool,
}

impl std::fmt::Debug for IpmiTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiTarget")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "******"))
            .finish()
    }
}

impl IpmiTarget {
    pub fn parse(node: &Node, config: &IpmiConfig) -> DResult<IpmiTarget> {
        let di = &node.driver_info;
        let s = |k: &str| match di.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
        };
        let Some(address) = s("ipmi_address") else {
            return Err(DriverError::InvalidParameter(
                "Missing the following IPMI credentials in node's driver_info: ['ipmi_address'].".into(),
            ));
        };
        if address.starts_with('-') || address.contains(char::is_whitespace) {
            return Err(DriverError::InvalidParameter(format!("Invalid IPMI address {address}.")));
        }
        let port = match s("ipmi_port") {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| DriverError::InvalidParameter(format!("IPMI port is not an integer: {p}.")))?),
        };
        let priv_level = s("ipmi_priv_level").unwrap_or_else(|| "ADMINISTRATOR".into());
        if !VALID_PRIV_LEVELS.contains(&priv_level.as_str()) {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid privilege level value:{priv_level}, the valid value can be one of {}",
                VALID_PRIV_LEVELS.join(", ")
            )));
        }
        let interface = match s("ipmi_protocol_version").as_deref() {
            None | Some("2.0") => "lanplus",
            Some("1.5") => "lan",
            Some(v) => {
                return Err(DriverError::InvalidParameter(format!(
                    "Invalid IPMI protocol version value {v}, the valid value can be one of 1.5, 2.0"
                )))
            }
        };
        let cipher_suite = match s("ipmi_cipher_suite") {
            None => config.default_cipher_suite,
            Some(c) => Some(c.parse::<u8>().ok().filter(|c| *c <= 17).ok_or_else(|| {
                DriverError::InvalidParameter(format!("Invalid value for ipmi_cipher_suite: {c}; it must be a cipher suite number (0-17)"))
            })?),
        };
        let hex_kg_key = s("ipmi_hex_kg_key");
        if let Some(k) = &hex_kg_key {
            if k.len() % 2 != 0 || !k.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(DriverError::InvalidParameter("ipmi_hex_kg_key has to be an even number of hexadecimal digits".into()));
            }
        }
        let disable_boot_timeout = match di.get("ipmi_disable_boot_timeout") {
            None | Some(Value::Null) => config.disable_boot_timeout,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(v)) => crate::redfish::info::bool_from_string(v).ok_or_else(|| {
                DriverError::InvalidParameter(format!("Invalid value for ipmi_disable_boot_timeout: {v}"))
            })?,
            Some(v) => return Err(DriverError::InvalidParameter(format!("Invalid value for ipmi_disable_boot_timeout: {v}"))),
        };
        Ok(IpmiTarget {
            node: node.uuid.clone(),
            address,
            port,
            username: s("ipmi_username"),
            password: s("ipmi_password"),
            priv_level,
            interface,
            cipher_suite,
            hex_kg_key,
            disable_boot_timeout,
        })
    }
}

pub struct Ipmi {
    pub tool: Arc<dyn IpmiTool>,
    pub config: IpmiConfig,
}

/// `Chassis Power is on` -> on.
pub fn parse_power_status(out: &str) -> Option<PowerState> {
    let l = out.to_ascii_lowercase();
    if l.contains("chassis power is on") {
        Some(PowerState::On)
    } else if l.contains("chassis power is off") {
        Some(PowerState::Off)
    } else {
        None
    }
}

/// IPMI boot device selector codes (boot flags data byte 2, bits 5:2) and Ironic's names.
const BOOT_SELECTORS: &[(u8, &str)] = &[(0x04, "pxe"), (0x08, "disk"), (0x0c, "safe"), (0x14, "cdrom"), (0x18, "bios")];

/// `chassis bootparam get 5`: the device and whether it applies to all future boots.
pub fn parse_boot_param(out: &str) -> (Option<String>, Option<bool>) {
    let data = out.lines().find_map(|l| l.trim().strip_prefix("Boot parameter data:")).map(|d| d.trim().to_string());
    if let Some(d) = data.filter(|d| d.len() >= 4 && d.chars().all(|c| c.is_ascii_hexdigit())) {
        let b0 = u8::from_str_radix(&d[0..2], 16).unwrap_or(0);
        let b1 = u8::from_str_radix(&d[2..4], 16).unwrap_or(0);
        let dev = BOOT_SELECTORS.iter().find(|(c, _)| *c == (b1 & 0x3c)).map(|(_, n)| n.to_string());
        let persistent = b0 & 0x40 != 0;
        return (dev, Some(persistent));
    }
    // No data line: the text form.
    let persistent = if out.contains("Options apply to all future boots") {
        Some(true)
    } else if out.contains("Options apply to only next boot") {
        Some(false)
    } else {
        None
    };
    let sel = out.lines().find_map(|l| l.trim().strip_prefix("- Boot Device Selector :").or_else(|| l.trim().strip_prefix("Boot Device Selector :")));
    let dev = sel.and_then(|s| {
        let s = s.trim();
        if s.contains("PXE") {
            Some("pxe")
        } else if s.contains("Hard-Drive") && s.contains("Safe") {
            Some("safe")
        } else if s.contains("Hard-Drive") {
            Some("disk")
        } else if s.contains("CD/DVD") {
            Some("cdrom")
        } else if s.contains("BIOS Setup") {
            Some("bios")
        } else {
            None
        }
    });
    (dev.map(str::to_string), persistent)
}

/// `lan print`: `Key : value` lines, the keys ferric keeps.
pub fn parse_lan_print(out: &str) -> Dict {
    let mut d = Dict::new();
    for line in out.lines() {
        let Some((k, v)) = line.split_once(" : ") else { continue };
        let key = match k.trim() {
            "IP Address" => "ip_address",
            "IP Address Source" => "ip_address_source",
            "MAC Address" => "mac_address",
            "Subnet Mask" => "subnet_mask",
            "Default Gateway IP" => "default_gateway",
            "802.1q VLAN ID" => "vlan_id",
            _ => continue,
        };
        d.insert(key.into(), Value::String(v.trim().to_string()));
    }
    d
}

impl Ipmi {
    fn target(&self, node: &Node) -> DResult<IpmiTarget> {
        IpmiTarget::parse(node, &self.config)
    }

    async fn status(&self, t: &IpmiTarget) -> DResult<PowerState> {
        let out = self.tool.run(t, &["power", "status"]).await?;
        parse_power_status(&out).ok_or_else(|| {
            DriverError::Failed(format!("IPMI power status of node {} is unreadable: {}", t.node, out.trim()))
        })
    }

    /// Issue `power <verb>` and poll until `want` (Ironic's `_set_and_wait`).
    async fn set_and_wait(&self, t: &IpmiTarget, verb: &str, want: PowerState, timeout: Option<u64>) -> DResult<PowerState> {
        self.tool.run(t, &["power", verb]).await?;
        let limit = timeout.map(Duration::from_secs).unwrap_or(self.config.power_state_change_timeout);
        let start = std::time::Instant::now();
        loop {
            match self.status(t).await {
                Ok(s) if s == want => return Ok(want),
                Ok(_) => {}
                Err(e) => tracing::warn!(node = %t.node, error = %e, "IPMI power status failed while waiting"),
            }
            if start.elapsed() >= limit {
                return Err(DriverError::Failed(format!(
                    "Failed to set node power state to {want}: node {} did not reach it within {} s",
                    t.node,
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(self.config.power_state_poll_interval).await;
        }
    }
}

impl PowerInterface for Ipmi {
    fn properties(&self) -> Dict {
        PROPERTIES.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
    }
    fn validate(&self, node: &Node) -> DResult<()> {
        self.target(node).map(|_| ())
    }
    fn get_power_state<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move { self.status(&self.target(node)?).await })
    }
    fn set_power_state<'a>(&'a self, node: &'a Node, target: PowerState, timeout: Option<u64>) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move {
            let t = self.target(node)?;
            match target {
                PowerState::On => self.set_and_wait(&t, "on", PowerState::On, timeout).await,
                PowerState::Off => self.set_and_wait(&t, "off", PowerState::Off, timeout).await,
                PowerState::SoftPowerOff => self.set_and_wait(&t, "soft", PowerState::Off, timeout).await,
                // Ironic's ipmitool reboot: off, then on (a reset would keep a hung OS's state).
                PowerState::Rebooting | PowerState::SoftRebooting => {
                    let off = if target == PowerState::Rebooting { "off" } else { "soft" };
                    if self.status(&t).await? == PowerState::On {
                        self.set_and_wait(&t, off, PowerState::Off, timeout).await?;
                    }
                    self.set_and_wait(&t, "on", PowerState::On, timeout).await
                }
            }
        })
    }
    fn supported_power_states(&self) -> Vec<PowerState> {
        vec![PowerState::On, PowerState::Off, PowerState::Rebooting, PowerState::SoftPowerOff, PowerState::SoftRebooting]
    }
}

impl ManagementInterface for Ipmi {
    fn properties(&self) -> Dict {
        PowerInterface::properties(self)
    }
    fn validate(&self, node: &Node) -> DResult<()> {
        self.target(node).map(|_| ())
    }
    fn supported_boot_devices(&self, _node: &Node) -> Vec<&'static str> {
        vec!["pxe", "disk", "cdrom", "bios", "safe"]
    }
    fn get_boot_device<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<(Option<String>, Option<bool>)>> {
        Box::pin(async move {
            let t = self.target(node)?;
            let out = self.tool.run(&t, &["chassis", "bootparam", "get", "5"]).await?;
            Ok(parse_boot_param(&out))
        })
    }
    fn set_boot_device<'a>(&'a self, node: &'a Node, device: &'a str, persistent: bool) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            if !self.supported_boot_devices(node).contains(&device) {
                return Err(DriverError::InvalidParameter(format!("Invalid boot device {device} specified.")));
            }
            let t = self.target(node)?;
            if t.disable_boot_timeout {
                // Keep the BMC from dropping the setting after 60 s (IPMI boot flag valid bit
                // clearing); not every BMC knows it, which is not an error.
                if let Err(e) = self.tool.run(&t, &["raw", "0x00", "0x08", "0x03", "0x08"]).await {
                    tracing::debug!(node = %node.uuid, error = %e, "disabling the boot timeout failed");
                }
            }
            let uefi = node.boot_mode.as_deref() == Some("uefi") || crate::capability(node, "boot_mode").as_deref() == Some("uefi");
            let mut opts = Vec::new();
            if persistent {
                opts.push("persistent");
            }
            if uefi {
                opts.push("efiboot");
            }
            let joined = format!("options={}", opts.join(","));
            let mut args = vec!["chassis", "bootdev", device];
            if !opts.is_empty() {
                args.push(&joined);
            }
            self.tool.run(&t, &args).await.map(|_| ())
        })
    }
    fn bmc_facts<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<Dict>> {
        Box::pin(async move {
            let t = self.target(node)?;
            let out = self.tool.run(&t, &["lan", "print"]).await?;
            Ok(parse_lan_print(&out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_status_and_boot_params_parse() {
        assert_eq!(parse_power_status("Chassis Power is on\n"), Some(PowerState::On));
        assert_eq!(parse_power_status("Chassis Power is off\n"), Some(PowerState::Off));
        assert_eq!(parse_power_status("garbage"), None);
        let out = "Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\nBoot parameter data: c004000000\n Boot Flags :\n   - Boot Flag Valid\n   - Options apply to all future boots\n   - BIOS PC Compatible (legacy) boot \n   - Boot Device Selector : Force PXE\n";
        assert_eq!(parse_boot_param(out), (Some("pxe".into()), Some(true)));
        assert_eq!(parse_boot_param("Boot parameter data: 8008000000\n"), (Some("disk".into()), Some(false)));
        assert_eq!(parse_boot_param("Boot parameter data: 0000000000\n"), (None, Some(false)));
        assert_eq!(parse_boot_param(" - Options apply to only next boot\n - Boot Device Selector : Force Boot from CD/DVD\n"), (Some("cdrom".into()), Some(false)));
    }

    #[test]
    fn lan_print_keeps_the_addresses() {
        let out = "Set in Progress         : Set Complete\nIP Address Source       : Static Address\nIP Address              : 192.0.2.10\nSubnet Mask             : 255.255.255.0\nMAC Address             : 52:54:00:12:34:56\n";
        let d = parse_lan_print(out);
        assert_eq!(d["ip_address"], "192.0.2.10");
        assert_eq!(d["mac_address"], "52:54:00:12:34:56");
        assert_eq!(d["ip_address_source"], "Static Address");
    }

    fn node(info: Value) -> Node {
        let mut n = Node { uuid: "u1".into(), driver: "ipmi".into(), ..Default::default() };
        n.driver_info = info.as_object().unwrap().clone();
        n
    }

    #[test]
    fn driver_info_is_checked_with_ironics_texts() {
        let c = IpmiConfig::default();
        let e = IpmiTarget::parse(&node(serde_json::json!({})), &c).unwrap_err().to_string();
        assert_eq!(e, "Missing the following IPMI credentials in node's driver_info: ['ipmi_address'].");
        let e = IpmiTarget::parse(&node(serde_json::json!({"ipmi_address": "h", "ipmi_priv_level": "ROOT"})), &c).unwrap_err().to_string();
        assert!(e.starts_with("Invalid privilege level value:ROOT"), "{e}");
        assert!(IpmiTarget::parse(&node(serde_json::json!({"ipmi_address": "h", "ipmi_port": "x"})), &c).is_err());
        assert!(IpmiTarget::parse(&node(serde_json::json!({"ipmi_address": "-o ProxyCommand"})), &c).is_err());
        assert!(IpmiTarget::parse(&node(serde_json::json!({"ipmi_address": "h", "ipmi_cipher_suite": "99"})), &c).is_err());
        assert!(IpmiTarget::parse(&node(serde_json::json!({"ipmi_address": "h", "ipmi_hex_kg_key": "xyz"})), &c).is_err());
        let t = IpmiTarget::parse(
            &node(serde_json::json!({"ipmi_address": "h", "ipmi_port": 6230, "ipmi_password": "hunter2", "ipmi_protocol_version": "1.5", "ipmi_cipher_suite": "17"})),
            &c,
        )
        .unwrap();
        assert_eq!((t.port, t.interface, t.cipher_suite), (Some(6230), "lan", Some(17)));
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn the_hardware_type_lists_ironics_properties() {
        let r = Registry::builtin();
        let props = r.properties("ipmi").unwrap();
        for k in ["ipmi_address", "ipmi_port", "ipmi_username", "ipmi_password", "ipmi_priv_level", "ipmi_protocol_version", "ipmi_cipher_suite"] {
            assert!(props.contains_key(k), "{k}");
        }
        assert_eq!(r.hardware_type("ipmi").unwrap().default_for("power"), Some("ipmitool"));
    }
}
