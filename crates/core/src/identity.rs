//! A machine's identity from its inventory, for lookup and for de-duplicating discovery.

use serde_json::Value;

/// Serial numbers firmware vendors leave in unset SMBIOS fields: never an identity.
const PLACEHOLDERS: &[&str] = &[
    "", "0", "none", "null", "n/a", "na", "not specified", "not available", "not applicable", "unknown", "default string",
    "to be filled by o.e.m.", "system serial number", "0123456789", "123456789", "1234567890", "00000000", "xxxxxxxx",
];

/// The inventory's system serial number (`system_vendor.serial_number`), unless it is a
/// placeholder such as "To Be Filled By O.E.M.".
pub fn system_serial(inventory: &Value) -> Option<String> {
    let s = inventory.get("system_vendor")?.get("serial_number")?.as_str()?.trim();
    let lower = s.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) || s.chars().all(|c| c == '0' || c == 'F' || c == 'f' || c == ' ') || s.len() > 255 {
        return None;
    }
    Some(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn real_serials_and_placeholders() {
        let inv = |s: Value| json!({"system_vendor": {"serial_number": s}});
        assert_eq!(system_serial(&inv(json!(" JLRCY12 "))).as_deref(), Some("JLRCY12"));
        for p in ["", "To Be Filled By O.E.M.", "Not Specified", "0000000", "FFFFFFFF", "System Serial Number", "Default string"] {
            assert_eq!(system_serial(&inv(json!(p))), None, "{p}");
        }
        assert_eq!(system_serial(&inv(json!(12))), None);
        assert_eq!(system_serial(&json!({})), None);
        assert_eq!(system_serial(&json!({"system_vendor": null})), None);
        assert_eq!(system_serial(&inv(json!("x".repeat(300)))), None);
    }
}
