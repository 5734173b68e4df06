//! A node's Redfish `driver_info`, parsed and checked as Ironic's `redfish/utils.py`
//! `parse_driver_info` does, with its property names and texts.

use crate::{DResult, DriverError};
use ferric_core::{Dict, Node};
use serde_json::Value;

pub const REQUIRED: &[(&str, &str)] = &[(
    "redfish_address",
    "The URL address to the Redfish controller. It must include the authority portion of the URL. If the scheme is missing, https is assumed. For example: https://mgmt.vendor.com. If a path is added, it will be used as the API endpoint root_prefix. Required",
)];

pub const OPTIONAL: &[(&str, &str)] = &[
    ("redfish_system_id", "The canonical path to the ComputerSystem resource that the driver will interact with. It should include the root service, version and the unique resource path to a ComputerSystem within the same authority as the redfish_address property. For example: /redfish/v1/Systems/1. This property is only required if target BMC manages more than one ComputerSystem. Otherwise ironic will pick the only available ComputerSystem automatically."),
    ("redfish_username", "User account with admin/server-profile access privilege. Although this property is not mandatory it's highly recommended to set a username. Optional"),
    ("redfish_password", "User account password. Although this property is not mandatory, it's highly recommended to set a password. Optional"),
    ("redfish_verify_ca", "Either a Boolean value, a path to a CA_BUNDLE file or directory with certificates of trusted CAs. If set to True the driver will verify the host certificates; if False the driver will ignore verifying the SSL certificate. If it's a path the driver will use the specified certificate or one of the certificates in the directory. Defaults to True. Optional"),
    ("redfish_auth_type", "Redfish HTTP client authentication method. Can be \"basic\", \"session\" or \"auto\". If not set, the default value is taken from Ironic configuration as ``[redfish]auth_type`` option."),
];

pub fn properties() -> Dict {
    REQUIRED.iter().chain(OPTIONAL).map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Basic,
    Session,
    Auto,
}

impl AuthType {
    pub fn parse(s: &str) -> Option<AuthType> {
        match s {
            "basic" => Some(AuthType::Basic),
            "session" => Some(AuthType::Session),
            "auto" => Some(AuthType::Auto),
            _ => None,
        }
    }
}

/// How the BMC's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyCa {
    /// The system's CAs (the default).
    System,
    /// No check (`redfish_verify_ca=False`).
    Insecure,
    /// A CA bundle file or a directory of them.
    Path(String),
}

impl VerifyCa {
    pub fn key(&self) -> String {
        match self {
            VerifyCa::System => "system".into(),
            VerifyCa::Insecure => "insecure".into(),
            VerifyCa::Path(p) => format!("path:{p}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedfishInfo {
    /// `scheme://authority`, no path.
    pub address: String,
    /// The service root's path, `/redfish/v1/` unless the address had a path.
    pub root_prefix: String,
    pub system_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub verify_ca: VerifyCa,
    /// `None`: `[redfish]auth_type`.
    pub auth_type: Option<AuthType>,
}

impl RedfishInfo {
    pub fn parse(node: &Node) -> DResult<RedfishInfo> {
        let di = &node.driver_info;
        let uuid = &node.uuid;
        let s = |k: &str| match di.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
        };
        let Some(address) = s("redfish_address") else {
            return Err(DriverError::InvalidParameter(format!(
                "Missing the following Redfish properties in node {uuid} driver_info: ['redfish_address']"
            )));
        };
        let invalid = || DriverError::InvalidParameter(format!("Invalid Redfish address {address} set in driver_info/redfish_address on node {uuid}"));
        let with_scheme = if address.contains("://") { address.clone() } else { format!("https://{address}") };
        let (scheme, rest) = with_scheme.split_once("://").ok_or_else(invalid)?;
        if !matches!(scheme, "http" | "https") {
            return Err(invalid());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
            return Err(invalid());
        }
        let root_prefix = if path.is_empty() || path == "/" { "/redfish/v1/".to_string() } else { path.to_string() };
        let system_id = match di.get("redfish_system_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(v) => {
                return Err(DriverError::InvalidParameter(format!(
                    "Invalid value \"{}\" set in driver_info/redfish_system_id on node {uuid}. The value should be a path (string) to the resource that the driver will interact with. For example: /redfish/v1/Systems/1",
                    display(v)
                )))
            }
        };
        let verify_ca = match di.get("redfish_verify_ca") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => VerifyCa::System,
            Some(Value::Bool(false)) => VerifyCa::Insecure,
            Some(Value::String(p)) if std::path::Path::new(p).exists() => VerifyCa::Path(p.clone()),
            Some(Value::String(p)) => match bool_from_string(p) {
                Some(true) => VerifyCa::System,
                Some(false) => VerifyCa::Insecure,
                None => {
                    return Err(DriverError::InvalidParameter(format!(
                        "Invalid value type set in driver_info/redfish_verify_ca on node {uuid}. The value should be a Boolean or the path to a file/directory, not \"{p}\""
                    )))
                }
            },
            Some(v) => {
                return Err(DriverError::InvalidParameter(format!(
                    "Invalid value type set in driver_info/redfish_verify_ca on node {uuid}. The value should be a Boolean or the path to a file/directory, not \"{}\"",
                    display(v)
                )))
            }
        };
        let auth_type = match s("redfish_auth_type") {
            None => None,
            Some(a) => Some(AuthType::parse(&a).ok_or_else(|| {
                DriverError::InvalidParameter(format!(
                    "Invalid value \"{a}\" set in driver_info/redfish_auth_type on node {uuid}. The value should be one of \"basic\", \"session\" or \"auto\"."
                ))
            })?),
        };
        Ok(RedfishInfo {
            address: format!("{scheme}://{authority}"),
            root_prefix,
            system_id,
            username: s("redfish_username"),
            password: s("redfish_password"),
            verify_ca,
            auth_type,
        })
    }

    #[cfg(test)]
    pub fn for_tests(address: &str) -> RedfishInfo {
        RedfishInfo {
            address: address.into(),
            root_prefix: "/redfish/v1/".into(),
            system_id: None,
            username: None,
            password: None,
            verify_ca: VerifyCa::System,
            auth_type: None,
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// oslo's `bool_from_string(strict=True)`.
pub fn bool_from_string(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(info: Value) -> Node {
        let mut n = Node { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123".into(), driver: "redfish".into(), ..Default::default() };
        n.driver_info = info.as_object().unwrap().clone();
        n
    }

    #[test]
    fn addresses_get_a_scheme_and_a_root_prefix() {
        let i = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "bmc.example.com"}))).unwrap();
        assert_eq!((i.address.as_str(), i.root_prefix.as_str()), ("https://bmc.example.com", "/redfish/v1/"));
        let i = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "http://127.0.0.1:8000/custom/v1"}))).unwrap();
        assert_eq!((i.address.as_str(), i.root_prefix.as_str()), ("http://127.0.0.1:8000", "/custom/v1"));
        let i = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "https://[2001:db8::1]:8443"}))).unwrap();
        assert_eq!(i.address, "https://[2001:db8::1]:8443");
        assert_eq!(i.verify_ca, VerifyCa::System);
        assert_eq!(i.auth_type, None);
    }

    #[test]
    fn missing_and_invalid_values_get_ironics_texts() {
        let e = RedfishInfo::parse(&node(serde_json::json!({}))).unwrap_err().to_string();
        assert_eq!(e, "Missing the following Redfish properties in node 1be26c0b-03f2-4d2e-ae87-c02d7f33c123 driver_info: ['redfish_address']");
        let e = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "ftp://x"}))).unwrap_err().to_string();
        assert!(e.starts_with("Invalid Redfish address ftp://x set in driver_info/redfish_address"), "{e}");
        let e = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "x", "redfish_verify_ca": "maybe"}))).unwrap_err().to_string();
        assert!(e.contains("The value should be a Boolean or the path to a file/directory, not \"maybe\""), "{e}");
        let e = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "x", "redfish_auth_type": "digest"}))).unwrap_err().to_string();
        assert!(e.contains("should be one of \"basic\", \"session\" or \"auto\""), "{e}");
        let e = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "x", "redfish_system_id": 5}))).unwrap_err().to_string();
        assert!(e.contains("Invalid value \"5\" set in driver_info/redfish_system_id"), "{e}");
    }

    #[test]
    fn verify_ca_accepts_booleans_strings_and_paths() {
        let v = |x: Value| RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "x", "redfish_verify_ca": x}))).unwrap().verify_ca;
        assert_eq!(v(Value::Bool(false)), VerifyCa::Insecure);
        assert_eq!(v("False".into()), VerifyCa::Insecure);
        assert_eq!(v("yes".into()), VerifyCa::System);
        let dir = std::env::temp_dir();
        assert_eq!(v(dir.to_string_lossy().to_string().into()), VerifyCa::Path(dir.to_string_lossy().to_string()));
        let i = RedfishInfo::parse(&node(serde_json::json!({"redfish_address": "x", "redfish_auth_type": "session", "redfish_username": "admin", "redfish_password": "p"}))).unwrap();
        assert_eq!(i.auth_type, Some(AuthType::Session));
        assert_eq!(i.username.as_deref(), Some("admin"));
    }
}
