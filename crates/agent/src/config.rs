//! The agent's configuration, read from kernel parameters exactly as IPA reads `/proc/cmdline`
//! (`IPA:ironic_python_agent/utils.py _read_params_from_file`, `config.py`).
//!
//! IPA splits the command line on whitespace and each word on its first `=`; words without `=`
//! are ignored and a later word wins over an earlier one. It does **not** interpret quotes:
//! `ipa-api-url="http://x"` keeps the quotes in the value (and then fails validation), and
//! `a="b c"` gives `a` = `"b`. This module does the same, so a command line behaves identically
//! under IPA and ferric's agent.

use std::collections::BTreeMap;
use std::time::Duration;

/// IPA's default collectors when inspection is enabled without `ipa-inspection-collectors`.
pub const DEFAULT_COLLECTORS: &str = "default,logs";
/// The path IPA appends to each API URL when only collectors and the API URL are given.
pub const CONTINUE_INSPECTION_PATH: &str = "/v1/continue_inspection";
/// The agent version reported in heartbeats. Ironic compares it with IPA releases to enable
/// features, so the agent reports the IPA release whose protocol it implements.
pub const AGENT_VERSION: &str = "13.0.0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A parameter's value does not parse or is outside its range.
    #[error("invalid value {value:?} for kernel parameter {param}: {reason}")]
    Invalid {
        param: String,
        value: String,
        reason: String,
    },
    /// `mdns` service discovery is not supported by ferric's agent.
    #[error("{param}=mdns is not supported: give the URL explicitly")]
    MdnsUnsupported { param: String },
}

/// Everything the agent takes from the kernel command line, with IPA's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `ipa-api-url`, split on commas, trailing slashes removed. Empty: no lookup/heartbeat.
    pub api_urls: Vec<String>,
    /// Where inspection data goes: `ipa-inspection-callback-url` (split on commas), or
    /// `<api-url>/v1/continue_inspection` for each API URL when only `ipa-inspection-collectors`
    /// and `ipa-api-url` are set. Empty: inspection is disabled.
    pub inspection_callback_urls: Vec<String>,
    /// `ipa-inspection-collectors`, or `default,logs`.
    pub inspection_collectors: Vec<String>,
    /// `ipa-agent-token`: a pregenerated token (virtual media boot).
    pub agent_token: Option<String>,
    /// `ipa-global-request-id`: sent as `X-OpenStack-Request-ID`.
    pub global_request_id: Option<String>,
    /// `BOOTIF`, normalised from pxelinux's `01-aa-bb-cc-dd-ee-ff` to `aa:bb:cc:dd:ee:ff`.
    pub bootif: Option<String>,
    /// `ipa-listen-host` (IPA's wildcard `::` by default).
    pub listen_host: String,
    /// `ipa-listen-port` (9999).
    pub listen_port: u16,
    /// `ipa-advertise-host`; unset means "the source address of the route to Ironic".
    pub advertise_host: Option<String>,
    /// `ipa-advertise-port` (9999).
    pub advertise_port: u16,
    /// `ipa-advertise-protocol`; only `http` is served by this agent.
    pub advertise_protocol: String,
    /// `ipa-insecure`: do not verify HTTPS certificates.
    pub insecure: bool,
    /// IPA's `cafile` option (not a kernel parameter; `--cafile`): PEM CA certificates to
    /// verify HTTPS servers with, in addition to the system's (`/etc/ssl/certs`, `SSL_CERT_FILE`).
    pub cafile: Option<std::path::PathBuf>,
    /// IPA's `certfile` and `keyfile` (`--certfile`, `--keyfile`): a PEM client certificate
    /// and its key, presented to HTTPS servers; both or neither.
    pub certfile: Option<std::path::PathBuf>,
    pub keyfile: Option<std::path::PathBuf>,
    /// `ipa-lookup-timeout` (600 s).
    pub lookup_timeout: Duration,
    /// `ipa-lookup-interval` (1 s): the floor of the random exponential lookup backoff.
    pub lookup_interval: Duration,
    /// `ipa-collect-lldp` (deprecated in IPA in favour of the `lldp` collector).
    pub collect_lldp: bool,
    /// `ipa-debug`, when given (IPA reads it with oslo's lenient `bool_from_string`).
    pub debug: Option<bool>,
    /// `ipa-ironic-api-version`: skips version discovery when set.
    pub ironic_api_version: Option<(u32, u32)>,
    /// `ipa-http-request-timeout` (30 s), for connecting and for each read.
    pub http_request_timeout: Duration,
    /// `ipa-guard-special-filesystems` (true): refuse to clean shared-disk filesystems.
    pub guard_special_filesystems: bool,
    /// The version reported to Ironic in heartbeats.
    pub agent_version: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_urls: Vec::new(),
            inspection_callback_urls: Vec::new(),
            inspection_collectors: split_list(DEFAULT_COLLECTORS),
            agent_token: None,
            global_request_id: None,
            bootif: None,
            listen_host: "::".into(),
            listen_port: 9999,
            advertise_host: None,
            advertise_port: 9999,
            advertise_protocol: "http".into(),
            insecure: false,
            cafile: None,
            certfile: None,
            keyfile: None,
            lookup_timeout: Duration::from_secs(600),
            lookup_interval: Duration::from_secs(1),
            collect_lldp: false,
            debug: None,
            ironic_api_version: None,
            http_request_timeout: Duration::from_secs(30),
            guard_special_filesystems: true,
            agent_version: AGENT_VERSION.into(),
        }
    }
}

/// Split a command line into `key -> value` as IPA does: whitespace-separated words, split on
/// the first `=`, words without `=` ignored, the last occurrence wins, no quote handling.
pub fn parse_kernel_params(cmdline: &str) -> BTreeMap<String, String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `01-aa-bb-cc-dd-ee-ff` (pxelinux) or `AA:BB:...` to `aa:bb:...`, as IPA's `_normalize_mac`.
pub fn normalize_mac(mac: &str) -> String {
    let mac = match mac.split_once('-') {
        Some((_, rest)) if mac.contains('-') => rest.replace('-', ":"),
        _ => mac.to_string(),
    };
    mac.to_lowercase()
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn invalid(param: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        param: param.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// oslo.config's Boolean type: case-insensitive true/1/on/yes and false/0/off/no.
fn parse_bool(param: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Ok(true),
        "false" | "0" | "off" | "no" => Ok(false),
        _ => Err(invalid(
            param,
            value,
            "expected true/false, 1/0, on/off or yes/no",
        )),
    }
}

/// oslo.utils' `bool_from_string`, which IPA uses for `ipa-debug`: anything else is false.
fn lenient_bool(value: &str) -> bool {
    matches!(
        value.trim().to_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

fn parse_secs(param: &str, value: &str) -> Result<Duration, ConfigError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(param, value, "expected an integer number of seconds"))?;
    if n < 0 {
        return Err(invalid(param, value, "must be at least 0"));
    }
    Ok(Duration::from_secs(n as u64))
}

fn parse_port(param: &str, value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(param, value, "expected a port number between 0 and 65535"))
}

fn parse_urls(param: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    if value == "mdns" {
        return Err(ConfigError::MdnsUnsupported {
            param: param.into(),
        });
    }
    let urls: Vec<String> = value
        .split(',')
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_string())
        .collect();
    // IPA's regex is `^(mdns|http(s?):\/\/.+)` on the whole value; every URL is checked here.
    for u in &urls {
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"));
        if rest.is_none_or(str::is_empty) {
            return Err(invalid(
                param,
                value,
                "URLs must start with http:// or https://",
            ));
        }
    }
    Ok(urls)
}

impl Config {
    /// Read the running kernel's `/proc/cmdline`.
    pub fn from_proc_cmdline() -> Result<Config, ConfigError> {
        let cmdline = std::fs::read_to_string("/proc/cmdline")
            .map_err(|e| invalid("/proc/cmdline", "", e.to_string()))?;
        Config::from_cmdline(&cmdline)
    }

    /// Parse a kernel command line.
    pub fn from_cmdline(cmdline: &str) -> Result<Config, ConfigError> {
        Config::from_params(&parse_kernel_params(cmdline))
    }

    /// Build the configuration from already split parameters.
    pub fn from_params(p: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let get = |k: &str| p.get(k).map(String::as_str);
        if let Some(v) = get("ipa-api-url") {
            c.api_urls = parse_urls("ipa-api-url", v)?;
        }
        let explicit_callback = match get("ipa-inspection-callback-url") {
            Some(v) if !v.is_empty() => Some(parse_urls("ipa-inspection-callback-url", v)?),
            _ => None,
        };
        let collectors = get("ipa-inspection-collectors").filter(|v| !v.is_empty());
        if let Some(v) = collectors {
            c.inspection_collectors = split_list(v);
        }
        c.inspection_callback_urls = match explicit_callback {
            Some(urls) => urls,
            // IPA's `inspector.is_enabled()`: callback URL, or collectors together with api_url.
            None if collectors.is_some() => c
                .api_urls
                .iter()
                .map(|u| format!("{u}{CONTINUE_INSPECTION_PATH}"))
                .collect(),
            None => Vec::new(),
        };
        c.agent_token = get("ipa-agent-token")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        c.global_request_id = get("ipa-global-request-id")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        c.bootif = get("BOOTIF").filter(|v| !v.is_empty()).map(normalize_mac);
        if let Some(v) = get("ipa-listen-host") {
            c.listen_host = v.to_string();
        }
        if let Some(v) = get("ipa-listen-port") {
            c.listen_port = parse_port("ipa-listen-port", v)?;
        }
        c.advertise_host = get("ipa-advertise-host")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        if let Some(v) = get("ipa-advertise-port") {
            c.advertise_port = parse_port("ipa-advertise-port", v)?;
        }
        if let Some(v) = get("ipa-advertise-protocol") {
            match v {
                "http" => {}
                "https" => {
                    return Err(invalid(
                        "ipa-advertise-protocol",
                        v,
                        "the agent API is served over plain HTTP only",
                    ))
                }
                _ => {
                    return Err(invalid(
                        "ipa-advertise-protocol",
                        v,
                        "expected http or https",
                    ))
                }
            }
        }
        if let Some(v) = get("ipa-insecure") {
            c.insecure = parse_bool("ipa-insecure", v)?;
        }
        if let Some(v) = get("ipa-lookup-timeout") {
            c.lookup_timeout = parse_secs("ipa-lookup-timeout", v)?;
        }
        if let Some(v) = get("ipa-lookup-interval") {
            c.lookup_interval = parse_secs("ipa-lookup-interval", v)?;
        }
        if let Some(v) = get("ipa-collect-lldp") {
            c.collect_lldp = parse_bool("ipa-collect-lldp", v)?;
        }
        c.debug = get("ipa-debug").map(lenient_bool);
        if let Some(v) = get("ipa-ironic-api-version") {
            // IPA falls back to discovery when the value does not parse.
            c.ironic_api_version = parse_version(v);
        }
        if let Some(v) = get("ipa-http-request-timeout") {
            let t = parse_secs("ipa-http-request-timeout", v)?;
            if t.is_zero() {
                return Err(invalid("ipa-http-request-timeout", v, "must be at least 1"));
            }
            c.http_request_timeout = t;
        }
        if let Some(v) = get("ipa-guard-special-filesystems") {
            c.guard_special_filesystems = parse_bool("ipa-guard-special-filesystems", v)?;
        }
        Ok(c)
    }

    /// Whether inspection data is posted at start-up (IPA's `inspector.is_enabled()`).
    pub fn inspection_enabled(&self) -> bool {
        !self.inspection_callback_urls.is_empty()
    }
}

/// `"1.62"` to `(1, 62)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python_str_split() {
        let p = parse_kernel_params("  a=1\tb=x=y \n novalue c=\"q r\" a=2 ");
        assert_eq!(p.get("a").map(String::as_str), Some("2"));
        assert_eq!(p.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(p.get("c").map(String::as_str), Some("\"q"));
        assert!(!p.contains_key("novalue"));
        assert!(!p.contains_key("r\""));
    }

    #[test]
    fn macs() {
        assert_eq!(normalize_mac("01-AA-bb-cc-dd-ee-ff"), "aa:bb:cc:dd:ee:ff");
        assert_eq!(normalize_mac("AA:BB:CC:DD:EE:FF"), "aa:bb:cc:dd:ee:ff");
    }
}
