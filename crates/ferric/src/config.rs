//! `ferric serve` configuration: defaults, then a TOML file, then `FERRIC_<SECTION>__<KEY>`
//! environment variables, then command-line flags.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub conductor: Conductor,
    pub api: Api,
    pub inspector: Inspector,
    pub pxe_filter: PxeFilter,
    pub pxe: Pxe,
    pub auto_discovery: AutoDiscovery,
    pub inspection_rules: InspectionRules,
    pub redfish: Redfish,
    pub ipmi: Ipmi,
}

/// `[redfish]`, with Ironic's option names (times in seconds, fractions allowed).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Redfish {
    pub connection_attempts: u32,
    pub connection_retry_interval: f64,
    pub connect_timeout: f64,
    /// ferric's: the longest wait for a whole answer once connected.
    pub read_timeout: f64,
    /// `basic`, `session` or `auto`.
    pub auth_type: String,
    /// Hooks for out-of-band inspection; `$default_inspection_hooks` expands.
    pub inspection_hooks: String,
    /// ferric's: the largest BMC answer accepted.
    pub max_response_bytes: usize,
}

impl Default for Redfish {
    fn default() -> Self {
        let d = ferric_drivers::redfish::client::RedfishConfig::default();
        Redfish {
            connection_attempts: d.connection_attempts,
            connection_retry_interval: d.connection_retry_interval.as_secs_f64(),
            connect_timeout: d.connect_timeout.as_secs_f64(),
            read_timeout: d.read_timeout.as_secs_f64(),
            auth_type: "auto".into(),
            inspection_hooks: "$default_inspection_hooks".into(),
            max_response_bytes: d.max_response_bytes,
        }
    }
}

/// `[ipmi]`, with Ironic's option names (times in seconds, fractions allowed).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ipmi {
    /// The ipmitool binary.
    pub ipmitool: String,
    pub min_command_interval: f64,
    pub command_retry_timeout: f64,
    /// ferric's: one ipmitool run is killed beyond this.
    pub command_timeout: f64,
    /// The cipher suite for nodes without `ipmi_cipher_suite` (-1: ipmitool's own choice).
    pub cipher_suite: i64,
    pub disable_boot_timeout: bool,
}

impl Default for Ipmi {
    fn default() -> Self {
        let d = ferric_drivers::ipmi::IpmiConfig::default();
        Ipmi {
            ipmitool: d.ipmitool,
            min_command_interval: d.min_command_interval.as_secs_f64(),
            command_retry_timeout: d.command_retry_timeout.as_secs_f64(),
            command_timeout: d.command_timeout.as_secs_f64(),
            cipher_suite: d.default_cipher_suite.map(i64::from).unwrap_or(-1),
            disable_boot_timeout: d.disable_boot_timeout,
        }
    }
}

fn secs(section: &str, key: &str, v: f64) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(v).map_err(|_| format!("[{section}] {key}: {v} is not a number of seconds"))
}

impl Config {
    /// The BMC drivers' settings (`[redfish]`, `[ipmi]`, `[conductor]power_state_change_timeout`).
    pub fn driver_config(&self) -> Result<ferric_drivers::DriverConfig, String> {
        use ferric_drivers::redfish::{client::RedfishConfig, info::AuthType};
        let r = &self.redfish;
        let i = &self.ipmi;
        let change = secs("conductor", "power_state_change_timeout", self.conductor.power_state_change_timeout)?;
        let redfish = RedfishConfig {
            connection_attempts: r.connection_attempts.max(1),
            connection_retry_interval: secs("redfish", "connection_retry_interval", r.connection_retry_interval)?,
            connect_timeout: secs("redfish", "connect_timeout", r.connect_timeout)?,
            read_timeout: secs("redfish", "read_timeout", r.read_timeout)?,
            auth_type: AuthType::parse(&r.auth_type)
                .ok_or_else(|| format!("[redfish] auth_type: unknown value {:?} (basic, session, auto)", r.auth_type))?,
            max_response_bytes: r.max_response_bytes,
            power_state_change_timeout: change,
            power_state_poll_interval: std::time::Duration::from_secs(1).min(change),
        };
        let ipmi = ferric_drivers::ipmi::IpmiConfig {
            ipmitool: i.ipmitool.clone(),
            min_command_interval: secs("ipmi", "min_command_interval", i.min_command_interval)?,
            command_retry_timeout: secs("ipmi", "command_retry_timeout", i.command_retry_timeout)?,
            command_timeout: secs("ipmi", "command_timeout", i.command_timeout)?,
            default_cipher_suite: match i.cipher_suite {
                -1 => None,
                c @ 0..=17 => Some(c as u8),
                c => return Err(format!("[ipmi] cipher_suite: {c} is not a cipher suite (0-17, or -1)")),
            },
            power_state_change_timeout: change,
            power_state_poll_interval: std::time::Duration::from_secs(1).min(change),
            disable_boot_timeout: i.disable_boot_timeout,
        };
        Ok(ferric_drivers::DriverConfig { redfish, ipmi })
    }

    /// `[redfish]inspection_hooks` with the rest of `[inspector]`'s hook options.
    fn oob_hook_config(&self) -> Result<ferric_core::inspection::HookConfig, String> {
        let mut h = self.inspector.hook_config()?;
        let defaults = ferric_core::inspection::DEFAULT_OOB_HOOKS.join(",");
        let text = self.redfish.inspection_hooks.replace("$default_inspection_hooks", "$default_hooks");
        h.hooks = ferric_core::inspection::expand_hooks(&text, &defaults);
        h.validate().map_err(|e| format!("[redfish] inspection_hooks: {e}"))?;
        Ok(h)
    }
}

/// `[inspection_rules]`, with Ironic's option names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InspectionRules {
    /// A YAML file with a list of built-in rules, read at start.
    pub built_in_rules: Option<PathBuf>,
    /// Mask secrets in the data the rules see: `always`, `never` or `sensitive`.
    pub mask_secrets: String,
}

impl Default for InspectionRules {
    fn default() -> Self {
        InspectionRules { built_in_rules: None, mask_secrets: "always".into() }
    }
}

impl InspectionRules {
    /// The conductor's rules settings: the built-in rules file parsed and validated, the HTTP
    /// client for `api-call`.
    pub fn rules_config(&self) -> Result<ferric_conductor::rules::RulesConfig, String> {
        let mask_secrets = ferric_core::rules::MaskSecrets::parse(&self.mask_secrets).ok_or_else(|| {
            format!("[inspection_rules] mask_secrets: unknown value {:?} (always, never, sensitive)", self.mask_secrets)
        })?;
        let built_in = match &self.built_in_rules {
            None => Vec::new(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("Built-in rules file not found: {}: {e}", p.display()))?;
                let doc: serde_json::Value = serde_yaml_ng::from_str(&text)
                    .map_err(|e| format!("Error parsing YAML in built-in rules file {}: {e}", p.display()))?;
                if !doc.is_array() {
                    return Err(format!("Built-in rules file ({}) should contain a list of rules", p.display()));
                }
                ferric_core::rules::built_in_rules(&doc).map_err(|e| format!("{}: {e}", p.display()))?
            }
        };
        Ok(ferric_conductor::rules::RulesConfig {
            mask_secrets,
            built_in: std::sync::Arc::new(built_in),
            http: Some(std::sync::Arc::new(crate::rules_http::ReqwestRuleHttp)),
        })
    }
}

/// `[auto_discovery]` (Ironic's names): enroll machines that report but match no node.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoDiscovery {
    pub enabled: bool,
    /// Hardware type of the enrolled nodes.
    pub driver: String,
    /// driver_info for every enrolled node (the BMC address is added from the report).
    pub driver_info: toml::Table,
}

impl Default for AutoDiscovery {
    fn default() -> Self {
        AutoDiscovery { enabled: false, driver: "fake-hardware".into(), driver_info: toml::Table::new() }
    }
}

impl AutoDiscovery {
    pub fn config(&self) -> Result<Option<ferric_conductor::discovery::DiscoveryConfig>, String> {
        if !self.enabled {
            return Ok(None);
        }
        if ferric_drivers::Registry::builtin().hardware_type(&self.driver).is_none() {
            return Err(format!("[auto_discovery] driver: unknown hardware type {:?}", self.driver));
        }
        let driver_info = serde_json::to_value(&self.driver_info).map_err(|e| format!("[auto_discovery] driver_info: {e}"))?;
        let serde_json::Value::Object(driver_info) = driver_info else { return Err("[auto_discovery] driver_info must be a table".into()) };
        Ok(Some(ferric_conductor::discovery::DiscoveryConfig { driver: self.driver.clone(), driver_info }))
    }
}

/// `[pxe_filter]`: keep a dnsmasq `dhcp-hostsdir` so that only nodes being inspected (and
/// unknown machines while any inspection runs) get an answer; Ironic's option names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PxeFilter {
    /// The directory dnsmasq reads (`dhcp-hostsdir`); empty: no filter.
    pub dhcp_hostsdir: String,
    /// Seconds between full syncs (changes are written at once regardless).
    pub sync_period: u64,
    /// Comma-separated inspect interfaces whose nodes PXE-boot the ramdisk.
    pub supported_inspect_interfaces: String,
}

impl Default for PxeFilter {
    fn default() -> Self {
        PxeFilter { dhcp_hostsdir: String::new(), sync_period: 15, supported_inspect_interfaces: "agent".into() }
    }
}

impl PxeFilter {
    pub fn config(&self, discovery: bool) -> Result<Option<ferric_conductor::pxe_filter::PxeFilterConfig>, String> {
        if self.dhcp_hostsdir.is_empty() {
            return Ok(None);
        }
        if self.sync_period == 0 {
            return Err("[pxe_filter] sync_period must be at least 1 second".into());
        }
        let ifaces: Vec<String> =
            self.supported_inspect_interfaces.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if ifaces.is_empty() {
            return Err("[pxe_filter] supported_inspect_interfaces is empty".into());
        }
        Ok(Some(ferric_conductor::pxe_filter::PxeFilterConfig {
            hostsdir: PathBuf::from(&self.dhcp_hostsdir),
            sync_period: std::time::Duration::from_secs(self.sync_period),
            discovery,
            inspect_interfaces: ifaces,
        }))
    }
}

/// `[pxe]`: the boot server (iPXE scripts by MAC, the agent's kernel and ramdisk), with
/// Ironic's option names where Ironic has the option (`kernel_append_params`,
/// `ipxe_timeout`; Ironic's `[deploy] http_url` is `http_url` here).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pxe {
    /// Where the boot server listens (plain HTTP); empty: not served.
    pub listen: String,
    /// The boot server's URL as the machines reach it (for example http://10.0.2.2:8088 under
    /// QEMU's user networking); empty: `http://<listen>`.
    pub http_url: String,
    /// The Bare Metal API's URL as the machines reach it (`ipa-api-url`); empty: `[api]
    /// public_url`, else `http://<[server] listen>`.
    pub api_url: String,
    /// The agent's kernel, served at /images/kernel for nodes without driver_info
    /// deploy_kernel/deploy_ramdisk and for discovery.
    pub kernel: String,
    /// The agent's ramdisk, served at /images/ramdisk.
    pub ramdisk: String,
    /// Kernel parameters of every agent boot (a node's instance_info or driver_info
    /// `kernel_append_params` replaces them; `%default%` there stands for these).
    pub kernel_append_params: String,
    /// Seconds iPXE may take for each download; 0: iPXE's own.
    pub ipxe_timeout: u64,
    /// Add `ipa-insecure=1`: the agent does not verify the API's certificate.
    pub ipa_insecure: bool,
    /// `ipa-inspection-collectors` for inspection and discovery; empty: the agent's default.
    pub ipa_inspection_collectors: String,
    /// Where TFTP listens (UDP, e.g. `0.0.0.0:69`), for PXE ROMs that are not iPXE; empty:
    /// no TFTP. Needs `listen` (what it serves chains to the HTTP boot server).
    pub tftp_listen: String,
    /// The directory TFTP serves (iPXE's `undionly.kpxe`, `snponly.efi`, ...); `boot.ipxe`
    /// is always served, generated. Empty: only `boot.ipxe`.
    pub tftp_root: String,
}

impl Default for Pxe {
    fn default() -> Self {
        Pxe {
            listen: String::new(),
            http_url: String::new(),
            api_url: String::new(),
            kernel: String::new(),
            ramdisk: String::new(),
            kernel_append_params: ferric_core::boot::DEFAULT_KERNEL_APPEND_PARAMS.into(),
            ipxe_timeout: 0,
            ipa_insecure: false,
            ipa_inspection_collectors: "default,logs".into(),
            tftp_listen: String::new(),
            tftp_root: String::new(),
        }
    }
}

/// `http://<addr>`, refusing wildcard addresses (machines cannot reach "0.0.0.0").
fn url_of_listen(addr: &str, option: &str, fix: &str) -> Result<String, String> {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_matches(['[', ']']);
    if host.is_empty() || host == "0.0.0.0" || host == "::" {
        return Err(format!("{option} is {addr:?}, which machines cannot reach: set {fix}"));
    }
    Ok(format!("http://{addr}"))
}

impl Config {
    /// TFTP's address and settings, or `None` when `[pxe] tftp_listen` is empty.
    pub fn tftp_config(&self) -> Result<Option<(String, ferric_api::tftp::TftpConfig)>, String> {
        let p = &self.pxe;
        if p.tftp_listen.is_empty() {
            return Ok(None);
        }
        let Some(boot) = self.boot_config()? else {
            return Err("[pxe] tftp_listen needs [pxe] listen: what TFTP serves chains to the HTTP boot server".into());
        };
        let root = if p.tftp_root.is_empty() {
            None
        } else {
            match std::fs::metadata(&p.tftp_root) {
                Ok(m) if m.is_dir() => Some(PathBuf::from(&p.tftp_root)),
                Ok(_) => return Err(format!("[pxe] tftp_root: {} is not a directory", p.tftp_root)),
                Err(e) => return Err(format!("[pxe] tftp_root: cannot read {}: {e}", p.tftp_root)),
            }
        };
        let script = ferric_core::boot::entry_script(&boot.settings);
        Ok(Some((p.tftp_listen.clone(), ferric_api::tftp::TftpConfig::new(root, script))))
    }

    /// The boot server's settings, or `None` when `[pxe] listen` is empty. Files named in
    /// `[pxe] kernel`/`ramdisk` must exist.
    pub fn boot_config(&self) -> Result<Option<ferric_api::boot::BootConfig>, String> {
        let p = &self.pxe;
        if p.listen.is_empty() {
            return Ok(None);
        }
        let http_url = if p.http_url.is_empty() { url_of_listen(&p.listen, "[pxe] listen", "[pxe] http_url")? } else { p.http_url.clone() };
        let api_url = match (&p.api_url, &self.api.public_url) {
            (u, _) if !u.is_empty() => u.clone(),
            (_, Some(public)) if !public.is_empty() => public.clone(),
            _ => url_of_listen(&self.server.listen, "[server] listen", "[pxe] api_url")?,
        };
        let file = |opt: &str, v: &str| -> Result<Option<PathBuf>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            match std::fs::metadata(v) {
                Ok(m) if m.is_file() => Ok(Some(PathBuf::from(v))),
                Ok(_) => Err(format!("[pxe] {opt}: {v} is not a regular file")),
                Err(e) => Err(format!("[pxe] {opt}: cannot read {v}: {e}")),
            }
        };
        let kernel = file("kernel", &p.kernel)?;
        let ramdisk = file("ramdisk", &p.ramdisk)?;
        if kernel.is_some() != ramdisk.is_some() {
            return Err("[pxe] kernel and [pxe] ramdisk go together: set both or neither".into());
        }
        if self.auto_discovery.enabled && kernel.is_none() {
            return Err("[auto_discovery] enabled: the boot server needs [pxe] kernel and ramdisk to boot unknown machines".into());
        }
        let allowed = match &self.conductor.file_url_allowed_paths {
            StrOrList::Many(v) => v.clone(),
            StrOrList::One(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        };
        let settings = ferric_core::boot::BootSettings {
            http_url,
            api_url,
            callback_url: self.inspector.callback_endpoint_override.clone(),
            kernel_append_params: p.kernel_append_params.clone(),
            extra_kernel_params: self.inspector.extra_kernel_params.clone(),
            inspection_collectors: p.ipa_inspection_collectors.clone(),
            insecure: p.ipa_insecure,
            ipxe_timeout: p.ipxe_timeout,
            default_images: kernel.is_some(),
            discovery: self.auto_discovery.enabled,
            require_managed_boot: self.inspector.require_managed_boot,
            file_url_allowed_paths: allowed,
        };
        settings.validate()?;
        Ok(Some(ferric_api::boot::BootConfig { settings, kernel, ramdisk }))
    }
}

/// `[inspector]`: in-band inspection processing, with Ironic's option names and formats
/// (`ironic/conf/inspector.py`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inspector {
    /// Ironic's default hook list (what `$default_hooks` in `hooks` stands for).
    pub default_hooks: String,
    /// Comma-separated processing hooks, run in this order; `$default_hooks` expands.
    pub hooks: String,
    /// `pxe`, `active`, `all` or `disabled`.
    pub add_ports: String,
    /// `all`, `present` or `added`.
    pub keep_ports: String,
    pub update_pxe_enabled: bool,
    /// cpu-capabilities: `flag:capability,...` (oslo.config dict format).
    pub cpu_capabilities: String,
    /// pci-devices: JSON objects `{"vendor_id": ..., "product_id": ..., "name": ...}`, a list
    /// (Ironic's repeated option) or one string.
    pub pci_device_alias: StrOrList,
    /// physical-network: `CIDR:physnet` entries, a list or one comma-separated string.
    pub physical_network_cidr_map: StrOrList,
    /// extra-hardware: refuse the whole data on one short record.
    pub extra_hardware_strict: bool,
    /// root-device: `local_gb` is the root disk's GiB minus 1.
    pub disk_partitioning_spacing: bool,
    /// accelerators: path of a YAML (or JSON) file in Ironic's `known_accelerators.yaml`
    /// format; empty means the list Ironic ships.
    pub known_accelerators: String,
    /// Power the machine off when inspection ends.
    pub power_off: bool,
    /// Largest inspection report accepted, in bytes.
    pub max_report_bytes: usize,
    /// Where the ironic-inspector API listens (its port is 5050); empty: not served.
    pub listen: String,
    /// Kernel parameters (`key=value ...`) added when the boot server boots the agent for
    /// inspection or discovery.
    pub extra_kernel_params: String,
    /// The agent's inspection callback URL; empty: `<[pxe] api_url>/v1/continue_inspection`.
    pub callback_endpoint_override: String,
    /// Unknown machines never get the agent for a node's inspection (only for discovery):
    /// nodes must be found by a port's MAC. Ironic's default (unset) means false.
    pub require_managed_boot: bool,
}

/// A list option given as a TOML array or as one string (environment variables).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StrOrList {
    One(String),
    Many(Vec<String>),
}

impl Default for StrOrList {
    fn default() -> Self {
        StrOrList::Many(Vec::new())
    }
}

impl Default for Inspector {
    fn default() -> Self {
        let d = ferric_core::inspection::HookConfig::default();
        Inspector {
            default_hooks: ferric_core::inspection::DEFAULT_HOOKS.join(","),
            hooks: "$default_hooks".into(),
            add_ports: "pxe".into(),
            keep_ports: "all".into(),
            update_pxe_enabled: d.update_pxe_enabled,
            cpu_capabilities: d.cpu_capabilities.iter().map(|(f, c)| format!("{f}:{c}")).collect::<Vec<_>>().join(","),
            pci_device_alias: StrOrList::default(),
            physical_network_cidr_map: StrOrList::default(),
            extra_hardware_strict: d.extra_hardware_strict,
            disk_partitioning_spacing: d.disk_partitioning_spacing,
            known_accelerators: String::new(),
            power_off: true,
            max_report_bytes: ferric_api::ApiConfig::default().max_inspection_bytes,
            listen: "127.0.0.1:5050".into(),
            extra_kernel_params: String::new(),
            callback_endpoint_override: String::new(),
            require_managed_boot: false,
        }
    }
}

impl Inspector {
    pub fn hook_config(&self) -> Result<ferric_core::inspection::HookConfig, String> {
        use ferric_core::inspection::{self as i, AddPorts, HookConfig, KeepPorts, PciAlias};
        let add_ports = match self.add_ports.as_str() {
            "pxe" => AddPorts::Pxe,
            "active" => AddPorts::Active,
            "all" => AddPorts::All,
            "disabled" => AddPorts::Disabled,
            other => return Err(format!("[inspector] add_ports: unknown value {other:?} (pxe, active, all, disabled)")),
        };
        let keep_ports = match self.keep_ports.as_str() {
            "all" => KeepPorts::All,
            "present" => KeepPorts::Present,
            "added" => KeepPorts::Added,
            other => return Err(format!("[inspector] keep_ports: unknown value {other:?} (all, present, added)")),
        };
        let hooks = i::expand_hooks(&self.hooks, &self.default_hooks);
        let cpu_capabilities = i::parse_cpu_capabilities(&self.cpu_capabilities).map_err(|e| format!("[inspector] cpu_capabilities: {e}"))?;
        // One string may hold one JSON object or a JSON list of them.
        let alias_entries: Vec<String> = match &self.pci_device_alias {
            StrOrList::Many(v) => v.clone(),
            StrOrList::One(s) if s.trim().is_empty() => Vec::new(),
            StrOrList::One(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Array(items)) => items.iter().map(|v| v.to_string()).collect(),
                _ => vec![s.clone()],
            },
        };
        let pci_device_alias = alias_entries
            .iter()
            .map(|e| PciAlias::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("[inspector] pci_device_alias: {e}"))?;
        let cidr_entries: Vec<String> = match &self.physical_network_cidr_map {
            StrOrList::Many(v) => v.clone(),
            StrOrList::One(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        };
        let physical_network_cidr_map = cidr_entries
            .iter()
            .map(|e| i::parse_cidr_map_entry(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("[inspector] physical_network_cidr_map: {e}"))?;
        let known_accelerators = if self.known_accelerators.is_empty() {
            i::default_known_accelerators()
        } else {
            let path = &self.known_accelerators;
            let text = std::fs::read_to_string(path).map_err(|e| format!("[inspector] known_accelerators: cannot read {path}: {e}"))?;
            let doc: serde_json::Value =
                serde_yaml_ng::from_str(&text).map_err(|e| format!("[inspector] known_accelerators: {path} is not YAML: {e}"))?;
            i::known_accelerators_from(&doc).map_err(|e| format!("[inspector] known_accelerators: {path}: {e}"))?
        };
        let cfg = HookConfig {
            hooks,
            add_ports,
            keep_ports,
            update_pxe_enabled: self.update_pxe_enabled,
            cpu_capabilities,
            pci_device_alias,
            physical_network_cidr_map,
            extra_hardware_strict: self.extra_hardware_strict,
            disk_partitioning_spacing: self.disk_partitioning_spacing,
            known_accelerators,
        };
        cfg.validate().map_err(|e| format!("[inspector] hooks: {e}"))?;
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Address of the Bare Metal API.
    pub listen: String,
    /// Where the SQLite database lives (created if missing).
    pub data_dir: PathBuf,
    /// `text` or `json` logs.
    pub log_format: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conductor {
    pub host: String,
    pub conductor_group: String,
    pub workers: usize,
    pub automated_clean: bool,
    pub allow_deleting_available_nodes: bool,
    pub node_locked_retry_attempts: u32,
    pub node_locked_retry_interval_ms: u64,
    pub deploy_callback_timeout: u64,
    pub clean_callback_timeout: u64,
    pub inspect_wait_timeout: u64,
    pub rescue_callback_timeout: u64,
    pub service_callback_timeout: u64,
    pub check_timeouts_interval: u64,
    pub heartbeat_interval: u64,
    pub node_history: bool,
    pub node_history_max_entries: usize,
    /// Seconds a BMC may take to show a requested power change (Ironic's name).
    pub power_state_change_timeout: f64,
    /// Seconds between power-state syncs (0 disables them).
    pub sync_power_state_interval: u64,
    /// BMC calls of one power-state sync in flight at once (at least 1).
    pub sync_power_state_workers: usize,
    /// Failed or mismatched syncs of a node before it goes into maintenance.
    pub power_state_sync_max_retries: u32,
    /// Set the hardware to the recorded power state (true) or record the hardware's (false).
    pub force_power_state_during_sync: bool,
    /// Seconds between checks of nodes in maintenance for a power failure (0 disables them).
    pub power_failure_recovery_interval: u64,
    /// ferric's: seconds one BMC call of the sync or the recovery may take (at least 1).
    pub power_state_sync_timeout: u64,
    /// Directories driver_info `file://` images may be in (a list, or one comma-separated
    /// string); /dev, /sys, /proc, /boot, /etc and /run never.
    pub file_url_allowed_paths: StrOrList,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_limit: usize,
    pub ramdisk_endpoints: bool,
    pub ramdisk_heartbeat_timeout: u64,
    /// Inspection reports accepted per minute from one address (0: no limit).
    pub callback_rate_per_minute: u32,
    /// Reports accepted in a burst from one address.
    pub callback_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: Server::default(),
            conductor: Conductor::default(),
            api: Api::default(),
            inspector: Inspector::default(),
            pxe_filter: PxeFilter::default(),
            pxe: Pxe::default(),
            auto_discovery: AutoDiscovery::default(),
            inspection_rules: InspectionRules::default(),
            redfish: Redfish::default(),
            ipmi: Ipmi::default(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server { listen: "127.0.0.1:6385".into(), data_dir: PathBuf::from("ferric-data"), log_format: "text".into() }
    }
}

impl Default for Conductor {
    fn default() -> Self {
        let d = ferric_conductor::ConductorConfig::default();
        Conductor {
            host: hostname(),
            conductor_group: d.conductor_group,
            workers: d.workers,
            automated_clean: d.automated_clean,
            allow_deleting_available_nodes: d.allow_deleting_available_nodes,
            node_locked_retry_attempts: d.node_locked_retry_attempts,
            node_locked_retry_interval_ms: d.node_locked_retry_interval.as_millis() as u64,
            deploy_callback_timeout: d.deploy_callback_timeout.as_secs(),
            clean_callback_timeout: d.clean_callback_timeout.as_secs(),
            inspect_wait_timeout: d.inspect_wait_timeout.as_secs(),
            rescue_callback_timeout: d.rescue_callback_timeout.as_secs(),
            service_callback_timeout: d.service_callback_timeout.as_secs(),
            check_timeouts_interval: d.check_timeouts_interval.as_secs(),
            heartbeat_interval: d.heartbeat_interval.as_secs(),
            node_history: d.node_history,
            node_history_max_entries: d.node_history_max_entries,
            power_state_change_timeout: 60.0,
            sync_power_state_interval: d.sync_power_state_interval.as_secs(),
            sync_power_state_workers: d.sync_power_state_workers,
            power_state_sync_max_retries: d.power_state_sync_max_retries,
            force_power_state_during_sync: d.force_power_state_during_sync,
            power_failure_recovery_interval: d.power_failure_recovery_interval.as_secs(),
            power_state_sync_timeout: d.power_state_sync_timeout.as_secs(),
            file_url_allowed_paths: StrOrList::Many(ferric_core::boot::DEFAULT_FILE_URL_ALLOWED_PATHS.iter().map(|s| s.to_string()).collect()),
        }
    }
}

impl Default for Api {
    fn default() -> Self {
        let d = ferric_api::ApiConfig::default();
        Api {
            public_url: d.public_url,
            max_body_bytes: d.max_body_bytes,
            max_limit: d.max_limit,
            ramdisk_endpoints: d.ramdisk_endpoints,
            ramdisk_heartbeat_timeout: d.ramdisk_heartbeat_timeout,
            callback_rate_per_minute: d.callback_rate_per_minute,
            callback_burst: d.callback_burst,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Parse an environment value as TOML scalar when it is one (numbers, booleans), else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        if f.is_finite() && raw.contains('.') {
            return toml::Value::Float(f);
        }
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

impl Config {
    /// Load: defaults, then `file` (if given), then `env` overrides (`FERRIC_SERVER__LISTEN=...`).
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, String> {
        let mut doc = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
                text.parse::<toml::Table>().map_err(|e| format!("invalid TOML in {}: {e}", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("FERRIC_") else { continue };
            let Some((section, key)) = rest.split_once("__") else { continue };
            let section = section.to_ascii_lowercase();
            let key = key.to_ascii_lowercase();
            let table = doc.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = table else { return Err(format!("config section {section} is not a table")) };
            t.insert(key, env_value(&v));
        }
        toml::Value::Table(doc).try_into().map_err(|e| format!("invalid configuration: {e}"))
    }

    pub fn conductor_config(&self) -> Result<ferric_conductor::ConductorConfig, String> {
        use std::time::Duration;
        let c = &self.conductor;
        if c.sync_power_state_workers == 0 {
            return Err("[conductor] sync_power_state_workers must be at least 1".into());
        }
        if c.power_state_sync_timeout == 0 {
            return Err("[conductor] power_state_sync_timeout must be at least 1 second".into());
        }
        Ok(ferric_conductor::ConductorConfig {
            inspection: self.inspector.hook_config()?,
            oob_inspection: self.oob_hook_config()?,
            power_off_after_inspection: self.inspector.power_off,
            host: c.host.clone(),
            conductor_group: c.conductor_group.clone(),
            workers: c.workers,
            node_locked_retry_attempts: c.node_locked_retry_attempts,
            node_locked_retry_interval: Duration::from_millis(c.node_locked_retry_interval_ms),
            automated_clean: c.automated_clean,
            allow_deleting_available_nodes: c.allow_deleting_available_nodes,
            deploy_callback_timeout: Duration::from_secs(c.deploy_callback_timeout),
            clean_callback_timeout: Duration::from_secs(c.clean_callback_timeout),
            inspect_wait_timeout: Duration::from_secs(c.inspect_wait_timeout),
            rescue_callback_timeout: Duration::from_secs(c.rescue_callback_timeout),
            service_callback_timeout: Duration::from_secs(c.service_callback_timeout),
            check_timeouts_interval: Duration::from_secs(c.check_timeouts_interval),
            heartbeat_interval: Duration::from_secs(c.heartbeat_interval),
            node_history: c.node_history,
            node_history_max_entries: c.node_history_max_entries,
            discovery: self.auto_discovery.config()?,
            inspection_rules: self.inspection_rules.rules_config()?,
            sync_power_state_interval: Duration::from_secs(c.sync_power_state_interval),
            sync_power_state_workers: c.sync_power_state_workers,
            power_state_sync_max_retries: c.power_state_sync_max_retries,
            force_power_state_during_sync: c.force_power_state_during_sync,
            power_failure_recovery_interval: Duration::from_secs(c.power_failure_recovery_interval),
            power_state_sync_timeout: Duration::from_secs(c.power_state_sync_timeout),
        })
    }

    pub fn api_config(&self) -> ferric_api::ApiConfig {
        let a = &self.api;
        ferric_api::ApiConfig {
            public_url: a.public_url.clone(),
            max_body_bytes: a.max_body_bytes,
            max_limit: a.max_limit,
            ramdisk_endpoints: a.ramdisk_endpoints,
            ramdisk_heartbeat_timeout: a.ramdisk_heartbeat_timeout,
            preview_max_minor: None,
            max_inspection_bytes: self.inspector.max_report_bytes,
            callback_rate_per_minute: a.callback_rate_per_minute,
            callback_burst: a.callback_burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, "[server]\nlisten = \"127.0.0.1:7000\"\n[conductor]\nworkers = 7\n").unwrap();
        let env = vec![
            ("FERRIC_CONDUCTOR__WORKERS".to_string(), "9".to_string()),
            ("FERRIC_API__PUBLIC_URL".to_string(), "http://bm.example:6385".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::load(Some(&p), env).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:7000");
        assert_eq!(c.conductor.workers, 9);
        assert_eq!(c.api.public_url.as_deref(), Some("http://bm.example:6385"));
        assert_eq!(c.api.max_limit, 1000);
    }

    #[test]
    fn inspector_options_are_checked() {
        let c = Config::load(None, vec![("FERRIC_INSPECTOR__ADD_PORTS".into(), "all".into())]).unwrap();
        let h = c.conductor_config().unwrap().inspection;
        assert_eq!(h.add_ports, ferric_core::inspection::AddPorts::All);
        assert_eq!(h.hooks, ["ramdisk-error", "validate-interfaces", "ports", "architecture"]);
        let bad = Config::load(None, vec![("FERRIC_INSPECTOR__HOOKS".into(), "ports,bogus".into())]).unwrap();
        assert_eq!(
            bad.conductor_config().unwrap_err(),
            "[inspector] hooks: The following hook(s) are missing or failed to load: bogus"
        );
        let bad = Config::load(None, vec![("FERRIC_INSPECTOR__KEEP_PORTS".into(), "some".into())]).unwrap();
        assert!(bad.conductor_config().is_err());
    }

    fn inspector(toml_text: &str) -> Result<ferric_core::inspection::HookConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, toml_text).unwrap();
        Config::load(Some(&p), vec![])?.inspector.hook_config()
    }

    #[test]
    fn every_hook_option_of_ironic() {
        let dir = tempfile::tempdir().unwrap();
        let acc = dir.path().join("accelerators.yaml");
        std::fs::write(&acc, "pci_devices:\n  - vendor_id: \"8086\"\n    device_id: \"0b25\"\n    type: QAT\n    device_info: Intel QAT\n").unwrap();
        let h = inspector(&format!(
            r#"[inspector]
hooks = "$default_hooks,cpus,memory,root-device,boot-mode,cpu-capabilities,pci-devices,accelerators,parse-lldp,local-link-connection,physical-network,raid-device,extra-hardware"
cpu_capabilities = "vmx:cpu_vt,avx512f:cpu_avx512"
pci_device_alias = ['{{"vendor_id": "10de", "product_id": "1eb8", "name": "t4"}}']
physical_network_cidr_map = ["10.10.10.0/24:physnet_a", "2001:db8::/64:physnet_b"]
extra_hardware_strict = true
disk_partitioning_spacing = false
known_accelerators = "{}"
"#,
            acc.display()
        ))
        .unwrap();
        assert_eq!(h.hooks.len(), 16);
        assert_eq!(h.hooks[..4], ["ramdisk-error", "validate-interfaces", "ports", "architecture"]);
        assert_eq!(h.cpu_capabilities, [("vmx".to_string(), "cpu_vt".to_string()), ("avx512f".into(), "cpu_avx512".into())]);
        assert_eq!(h.pci_device_alias[0].name, serde_json::json!("t4"));
        assert_eq!(h.physical_network_cidr_map[1].1, "physnet_b");
        assert!(h.extra_hardware_strict && !h.disk_partitioning_spacing);
        assert_eq!(h.known_accelerators.len(), 1);
        assert_eq!(h.known_accelerators[0]["type"], "QAT");
        // Defaults are Ironic's.
        let d = inspector("").unwrap();
        assert_eq!(d.cpu_capabilities.len(), 6);
        assert_eq!(d.known_accelerators.len(), 6);
        assert!(d.disk_partitioning_spacing && !d.extra_hardware_strict && d.update_pxe_enabled);
        // Environment variables: one string for the list options.
        let env = vec![
            ("FERRIC_INSPECTOR__PHYSICAL_NETWORK_CIDR_MAP".to_string(), "10.0.0.0/8:a, 192.168.0.0/16:b".to_string()),
            ("FERRIC_INSPECTOR__PCI_DEVICE_ALIAS".to_string(), r#"[{"vendor_id": "1", "product_id": "2", "name": "x"}, {"vendor_id": "3", "product_id": "4", "name": "y"}]"#.to_string()),
            ("FERRIC_INSPECTOR__HOOKS".to_string(), "cpus,$default_hooks".to_string()),
        ];
        let h = Config::load(None, env).unwrap().inspector.hook_config().unwrap();
        assert_eq!(h.physical_network_cidr_map.len(), 2);
        assert_eq!(h.pci_device_alias.len(), 2);
        assert_eq!(h.hooks[0], "cpus");
    }

    #[test]
    fn bad_hook_options_are_refused() {
        let err = |t: &str| inspector(&format!("[inspector]\n{t}\n")).unwrap_err();
        assert!(err(r#"hooks = "ports,ramdisk-error""#).contains("Hook ports requires these missing hooks to be enabled before it: validate-interfaces"));
        assert!(err(r#"hooks = "local-link-connection""#).contains("dependency problems"));
        assert!(err(r#"cpu_capabilities = "vmx""#).starts_with("[inspector] cpu_capabilities:"));
        assert!(err(r#"pci_device_alias = ['{"vendor_id": "1"}']"#).starts_with("[inspector] pci_device_alias:"));
        assert!(err(r#"pci_device_alias = ["not json"]"#).starts_with("[inspector] pci_device_alias:"));
        assert_eq!(
            err(r#"physical_network_cidr_map = ["10.10.10.1/24:a"]"#),
            "[inspector] physical_network_cidr_map: 10.10.10.1/24 has host bits set"
        );
        assert!(err(r#"physical_network_cidr_map = "10.10.10.0/24""#).starts_with("[inspector] physical_network_cidr_map:"));
        assert!(err(r#"known_accelerators = "/nonexistent/acc.yaml""#).contains("cannot read"));
        assert!(err("extra_hardware_strict = \"yes\"").contains("extra_hardware_strict"));
        assert!(err("disk_partitioning_spacing = 1").contains("disk_partitioning_spacing"));
        let dir = tempfile::tempdir().unwrap();
        let acc = dir.path().join("a.yaml");
        std::fs::write(&acc, "pci_devices:\n  - vendor_id: \"10de\"\n").unwrap();
        assert!(err(&format!("known_accelerators = \"{}\"", acc.display())).contains("missing vendor_id or device_id"));
        std::fs::write(&acc, "pci_devices: [unclosed").unwrap();
        assert!(err(&format!("known_accelerators = \"{}\"", acc.display())).contains("is not YAML"));
    }

    #[test]
    fn auto_discovery_options() {
        assert!(Config::default().auto_discovery.config().unwrap().is_none(), "off by default");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, "[auto_discovery]\nenabled = true\ndriver = \"fake-hardware\"\n[auto_discovery.driver_info]\ndeploy_kernel = \"http://boot/k\"\n").unwrap();
        let c = Config::load(Some(&p), vec![]).unwrap();
        let d = c.auto_discovery.config().unwrap().unwrap();
        assert_eq!((d.driver.as_str(), d.driver_info["deploy_kernel"].as_str()), ("fake-hardware", Some("http://boot/k")));
        let bad = Config::load(Some(&p), vec![("FERRIC_AUTO_DISCOVERY__DRIVER".into(), "nope".into())]).unwrap();
        assert!(bad.auto_discovery.config().unwrap_err().contains("nope"));
        assert!(bad.conductor_config().is_err());
    }

    #[test]
    fn pxe_filter_options() {
        assert!(Config::default().pxe_filter.config(false).unwrap().is_none(), "off by default");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, "[pxe_filter]\ndhcp_hostsdir = \"/var/lib/ferric/hostsdir\"\nsupported_inspect_interfaces = \"agent, redfish\"\n").unwrap();
        let c = Config::load(Some(&p), vec![("FERRIC_PXE_FILTER__SYNC_PERIOD".into(), "30".into())]).unwrap();
        let f = c.pxe_filter.config(true).unwrap().unwrap();
        assert_eq!(f.hostsdir, PathBuf::from("/var/lib/ferric/hostsdir"));
        assert_eq!((f.sync_period.as_secs(), f.discovery), (30, true));
        assert_eq!(f.inspect_interfaces, ["agent", "redfish"]);
        let bad = Config::load(Some(&p), vec![("FERRIC_PXE_FILTER__SYNC_PERIOD".into(), "0".into())]).unwrap();
        assert!(bad.pxe_filter.config(false).unwrap_err().contains("sync_period"));
    }

    #[test]
    fn built_in_rules_are_read_from_yaml_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.yaml");
        std::fs::write(
            &p,
            "- description: tag dell\n  priority: 10\n  conditions:\n    - op: contains\n      args:\n        value: \"{inventory[system_vendor][manufacturer]}\"\n        regex: \"(?i)dell\"\n  actions:\n    - op: add-trait\n      args: {name: CUSTOM_DELL}\n",
        )
        .unwrap();
        let env = vec![
            ("FERRIC_INSPECTION_RULES__BUILT_IN_RULES".to_string(), p.display().to_string()),
            ("FERRIC_INSPECTION_RULES__MASK_SECRETS".to_string(), "sensitive".to_string()),
        ];
        let c = Config::load(None, env).unwrap().conductor_config().unwrap();
        let rules = &c.inspection_rules;
        assert_eq!(rules.mask_secrets, ferric_core::rules::MaskSecrets::Sensitive);
        assert_eq!(rules.built_in.len(), 1);
        assert_eq!(rules.built_in[0].uuid, "00000000-0000-0000-0000-000000000000");
        assert_eq!(rules.built_in[0].priority, 10);
        assert!(rules.built_in[0].built_in);
        assert!(rules.http.is_some());
        // Broken files stop the start with Ironic's texts.
        std::fs::write(&p, "a: 1\n").unwrap();
        let env = vec![("FERRIC_INSPECTION_RULES__BUILT_IN_RULES".to_string(), p.display().to_string())];
        assert!(Config::load(None, env.clone()).unwrap().conductor_config().unwrap_err().contains("should contain a list of rules"));
        std::fs::write(&p, "- actions: []\n").unwrap();
        assert!(Config::load(None, env.clone()).unwrap().conductor_config().unwrap_err().contains("Schema error: [] should be non-empty"));
        std::fs::write(&p, "- [unclosed\n").unwrap();
        assert!(Config::load(None, env).unwrap().conductor_config().unwrap_err().contains("Error parsing YAML"));
        let missing = vec![("FERRIC_INSPECTION_RULES__BUILT_IN_RULES".to_string(), "/nonexistent/rules.yaml".to_string())];
        assert!(Config::load(None, missing).unwrap().conductor_config().unwrap_err().contains("Built-in rules file not found"));
        let bad = vec![("FERRIC_INSPECTION_RULES__MASK_SECRETS".to_string(), "sometimes".to_string())];
        assert!(Config::load(None, bad).unwrap().conductor_config().unwrap_err().contains("mask_secrets"));
    }

    #[test]
    fn power_sync_options() {
        let d = Config::default().conductor_config().unwrap();
        assert_eq!(d.sync_power_state_interval, std::time::Duration::from_secs(60), "Ironic's default");
        assert_eq!((d.sync_power_state_workers, d.power_state_sync_max_retries, d.force_power_state_during_sync), (64, 3, true));
        assert_eq!(d.power_failure_recovery_interval, std::time::Duration::from_secs(300));
        assert_eq!(d.power_state_sync_timeout, std::time::Duration::from_secs(30));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(
            &p,
            "[conductor]\nsync_power_state_interval = 300\nsync_power_state_workers = 2\npower_state_sync_max_retries = 5\n\
             force_power_state_during_sync = false\npower_failure_recovery_interval = 0\n",
        )
        .unwrap();
        let env = vec![("FERRIC_CONDUCTOR__POWER_STATE_SYNC_TIMEOUT".to_string(), "10".to_string())];
        let c = Config::load(Some(&p), env).unwrap().conductor_config().unwrap();
        assert_eq!(c.sync_power_state_interval.as_secs(), 300);
        assert_eq!((c.sync_power_state_workers, c.power_state_sync_max_retries, c.force_power_state_during_sync), (2, 5, false));
        assert!(c.power_failure_recovery_interval.is_zero(), "0 disables the recovery");
        assert_eq!(c.power_state_sync_timeout.as_secs(), 10);
        for (key, what) in [("SYNC_POWER_STATE_WORKERS", "sync_power_state_workers"), ("POWER_STATE_SYNC_TIMEOUT", "power_state_sync_timeout")] {
            let env = vec![(format!("FERRIC_CONDUCTOR__{key}"), "0".to_string())];
            assert!(Config::load(None, env).unwrap().conductor_config().unwrap_err().contains(what));
        }
    }

    #[test]
    fn pxe_options() {
        assert!(Config::default().boot_config().unwrap().is_none(), "off by default");
        let dir = tempfile::tempdir().unwrap();
        let (k, r) = (dir.path().join("vmlinuz"), dir.path().join("initramfs"));
        std::fs::write(&k, b"k").unwrap();
        std::fs::write(&r, b"r").unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(
            &p,
            format!(
                "[pxe]\nlisten = \"127.0.0.1:8088\"\nkernel = \"{}\"\nramdisk = \"{}\"\n\
                 [inspector]\nextra_kernel_params = \"ipa-collect-lldp=1\"\n[conductor]\nfile_url_allowed_paths = [\"/srv/images\"]\n",
                k.display(),
                r.display()
            ),
        )
        .unwrap();
        let c = Config::load(Some(&p), vec![]).unwrap().boot_config().unwrap().unwrap();
        let s = &c.settings;
        assert_eq!((s.http_url.as_str(), s.api_url.as_str()), ("http://127.0.0.1:8088", "http://127.0.0.1:6385"));
        assert_eq!((s.kernel_append_params.as_str(), s.inspection_collectors.as_str()), ("nofb vga=normal", "default,logs"));
        assert_eq!((s.extra_kernel_params.as_str(), s.file_url_allowed_paths.clone()), ("ipa-collect-lldp=1", vec!["/srv/images".to_string()]));
        assert!(s.default_images && !s.insecure && !s.discovery && !s.require_managed_boot);
        assert_eq!((c.kernel.as_deref(), c.ramdisk.as_deref()), (Some(k.as_path()), Some(r.as_path())));
        // What QEMU's user networking needs, through the environment.
        let env = vec![
            ("FERRIC_PXE__HTTP_URL".to_string(), "http://10.0.2.2:8088".to_string()),
            ("FERRIC_PXE__API_URL".to_string(), "http://10.0.2.2:6385".to_string()),
            ("FERRIC_PXE__IPA_INSECURE".to_string(), "true".to_string()),
            ("FERRIC_CONDUCTOR__FILE_URL_ALLOWED_PATHS".to_string(), "/a, /b".to_string()),
        ];
        let c = Config::load(Some(&p), env).unwrap().boot_config().unwrap().unwrap();
        assert_eq!((c.settings.http_url.as_str(), c.settings.api_url.as_str(), c.settings.insecure), ("http://10.0.2.2:8088", "http://10.0.2.2:6385", true));
        assert_eq!(c.settings.file_url_allowed_paths, ["/a", "/b"]);
        // [api] public_url is the API's URL when [pxe] api_url is not set.
        let env = vec![("FERRIC_API__PUBLIC_URL".to_string(), "http://bm.example:6385".to_string())];
        assert_eq!(Config::load(Some(&p), env).unwrap().boot_config().unwrap().unwrap().settings.api_url, "http://bm.example:6385");
        // Ironic's default allow list.
        let d = Config::load(None, vec![("FERRIC_PXE__LISTEN".into(), "127.0.0.1:8088".into())]).unwrap().boot_config().unwrap().unwrap();
        assert_eq!(d.settings.file_url_allowed_paths[0], "/var/lib/ironic");
        assert!(!d.settings.default_images);
        let err = |env: Vec<(&str, &str)>| {
            let env = env.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
            Config::load(Some(&p), env).unwrap().boot_config().unwrap_err()
        };
        assert_eq!(err(vec![("FERRIC_PXE__LISTEN", "0.0.0.0:8088")]), "[pxe] listen is \"0.0.0.0:8088\", which machines cannot reach: set [pxe] http_url");
        assert_eq!(
            err(vec![("FERRIC_SERVER__LISTEN", "[::]:6385")]),
            "[server] listen is \"[::]:6385\", which machines cannot reach: set [pxe] api_url"
        );
        assert_eq!(err(vec![("FERRIC_PXE__RAMDISK", "")]), "[pxe] kernel and [pxe] ramdisk go together: set both or neither");
        assert!(err(vec![("FERRIC_PXE__KERNEL", "/nonexistent/k")]).starts_with("[pxe] kernel: cannot read /nonexistent/k"));
        assert_eq!(err(vec![("FERRIC_PXE__KERNEL", "/")]), "[pxe] kernel: / is not a regular file");
        assert_eq!(err(vec![("FERRIC_PXE__HTTP_URL", "10.0.2.2:8088")]), "[pxe] http_url: \"10.0.2.2:8088\" is not an http:// or https:// URL");
        assert!(err(vec![("FERRIC_INSPECTOR__EXTRA_KERNEL_PARAMS", "novalue")]).starts_with("[inspector] extra_kernel_params:"));
        assert_eq!(
            err(vec![("FERRIC_PXE__KERNEL", ""), ("FERRIC_PXE__RAMDISK", ""), ("FERRIC_AUTO_DISCOVERY__ENABLED", "true")]),
            "[auto_discovery] enabled: the boot server needs [pxe] kernel and ramdisk to boot unknown machines"
        );
        let ok = Config::load(Some(&p), vec![("FERRIC_AUTO_DISCOVERY__ENABLED".into(), "true".into())]).unwrap().boot_config().unwrap().unwrap();
        assert!(ok.settings.discovery);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, "[server]\nlisen = \"typo\"\n").unwrap();
        assert!(Config::load(Some(&p), vec![]).unwrap_err().contains("lisen"));
        assert!(Config::load(None, vec![("FERRIC_CONDUCTOR__WORKERS".into(), "many".into())]).is_err());
    }
}
