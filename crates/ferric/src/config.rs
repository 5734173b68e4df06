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
    pub inspection_rules: InspectionRules,
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
                let doc: serde_json::Value = serde_yaml::from_str(&text)
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

/// `[inspector]`: in-band inspection processing, with Ironic's option names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inspector {
    /// Comma-separated processing hooks, run in this order.
    pub hooks: String,
    /// `pxe`, `active`, `all` or `disabled`.
    pub add_ports: String,
    /// `all`, `present` or `added`.
    pub keep_ports: String,
    pub update_pxe_enabled: bool,
    /// Power the machine off when inspection ends.
    pub power_off: bool,
    /// Largest inspection report accepted, in bytes.
    pub max_report_bytes: usize,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector {
            hooks: ferric_core::inspection::DEFAULT_HOOKS.join(","),
            add_ports: "pxe".into(),
            keep_ports: "all".into(),
            update_pxe_enabled: true,
            power_off: true,
            max_report_bytes: ferric_api::ApiConfig::default().max_inspection_bytes,
        }
    }
}

impl Inspector {
    pub fn hook_config(&self) -> Result<ferric_core::inspection::HookConfig, String> {
        use ferric_core::inspection::{AddPorts, HookConfig, KeepPorts};
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
        let hooks = self.hooks.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
        let cfg = HookConfig { hooks, add_ports, keep_ports, update_pxe_enabled: self.update_pxe_enabled };
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_limit: usize,
    pub ramdisk_endpoints: bool,
    pub ramdisk_heartbeat_timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: Server::default(),
            conductor: Conductor::default(),
            api: Api::default(),
            inspector: Inspector::default(),
            inspection_rules: InspectionRules::default(),
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
        Ok(ferric_conductor::ConductorConfig {
            inspection: self.inspector.hook_config()?,
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
            inspection_rules: self.inspection_rules.rules_config()?,
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
        assert!(bad.conductor_config().unwrap_err().contains("bogus"));
        let bad = Config::load(None, vec![("FERRIC_INSPECTOR__KEEP_PORTS".into(), "some".into())]).unwrap();
        assert!(bad.conductor_config().is_err());
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
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ferric.toml");
        std::fs::write(&p, "[server]\nlisen = \"typo\"\n").unwrap();
        assert!(Config::load(Some(&p), vec![]).unwrap_err().contains("lisen"));
        assert!(Config::load(None, vec![("FERRIC_CONDUCTOR__WORKERS".into(), "many".into())]).is_err());
    }
}
