//! Ironic's extra-hardware hook: the hardware-detect `[category, item, key, value]` records
//! in `plugin_data["data"]` become the nested `plugin_data["extra"]`, and `data` goes.

use super::py;
use crate::model::Dict;
use serde_json::{json, Value};

const ITEM_SIZE: usize = 4;

/// A dict key as Python's `json.dumps` writes a hashable key; `None` if unhashable.
fn key_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// `int(value)` if Python's `int()` accepts it, else the value unchanged.
fn maybe_int(v: &Value) -> Value {
    match v {
        Value::String(_) | Value::Bool(_) => py::int_of(v).map(|i| json!(i)).unwrap_or_else(|_| v.clone()),
        Value::Number(n) if n.is_f64() => py::int_of(v).map(|i| json!(i)).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

pub(crate) fn extra_hardware(strict: bool, plugin_data: &mut Dict, warnings: &mut Vec<String>) {
    let Some(data) = plugin_data.get("data") else {
        warnings.push("No extra hardware information was received from the ramdisk".into());
        return;
    };
    let valid = match data {
        Value::Array(items) => items.iter().all(|i| matches!(i, Value::Array(a) if !strict || a.len() == ITEM_SIZE)),
        _ => false,
    };
    if !valid {
        warnings.push("Extra hardware data was not in a recognised format, and will not be forwarded to inspection rules".into());
        if strict {
            plugin_data.remove("data");
        }
        return;
    }
    let Some(Value::Array(items)) = plugin_data.remove("data") else { return };
    let mut converted = Dict::new();
    for item in &items {
        let Value::Array(item) = item else { continue };
        if item.is_empty() {
            continue;
        }
        // Each level is created before the next index is read, as Python's setdefault chain.
        let Some(k0) = key_of(&item[0]) else {
            warnings.push(format!("Ignoring invalid extra data item {}", py::repr(&Value::Array(item.clone()))));
            continue;
        };
        let l0 = converted.entry(k0).or_insert_with(|| json!({}));
        let Some(k1) = item.get(1).and_then(key_of) else {
            warnings.push(format!("Ignoring invalid extra data item {}", py::repr(&Value::Array(item.clone()))));
            continue;
        };
        let Value::Object(l0) = l0 else { continue };
        let l1 = l0.entry(k1).or_insert_with(|| json!({}));
        let (Some(k2), Some(v)) = (item.get(2).and_then(key_of), item.get(3)) else {
            warnings.push(format!("Ignoring invalid extra data item {}", py::repr(&Value::Array(item.clone()))));
            continue;
        };
        if let Value::Object(l1) = l1 {
            l1.insert(k2, maybe_int(v));
        }
    }
    plugin_data.insert("extra".into(), Value::Object(converted));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: Value, strict: bool) -> (Dict, Vec<String>) {
        let mut pd = Dict::new();
        pd.insert("data".into(), data);
        let mut w = Vec::new();
        extra_hardware(strict, &mut pd, &mut w);
        (pd, w)
    }

    #[test]
    fn converts_records_and_drops_data() {
        let (pd, w) = run(
            json!([["cpu", "logical", "number", "16"], ["cpu", "physical_0", "vendor", "Intel"], ["memory", "total", "size", 17179869184u64],
                   ["disk", "sda", "size", "12.5"], ["x", "y", "flag", true], ["x", "y", "f", 3.7], []]),
            false,
        );
        assert!(w.is_empty(), "{w:?}");
        assert!(!pd.contains_key("data"));
        assert_eq!(
            pd["extra"],
            json!({"cpu": {"logical": {"number": 16}, "physical_0": {"vendor": "Intel"}},
                   "memory": {"total": {"size": 17179869184u64}}, "disk": {"sda": {"size": "12.5"}},
                   "x": {"y": {"flag": 1, "f": 3}}})
        );
    }

    #[test]
    fn short_records_and_strict_mode() {
        // Non-strict: short records are ignored but leave the levels they reached.
        let (pd, w) = run(json!([["a"], ["b", "c"], ["d", "e", "f"], [["unhashable"], "x", "y", 1], ["ok", "k", "v", "1", "extra"]]), false);
        assert_eq!(w.len(), 4);
        assert_eq!(pd["extra"], json!({"a": {}, "b": {"c": {}}, "d": {"e": {}}, "ok": {"k": {"v": 1}}}));
        // Strict: one short record refuses the whole list and drops it.
        let (pd, w) = run(json!([["a", "b", "c", "d"], ["short"]]), true);
        assert_eq!(w.len(), 1);
        assert!(!pd.contains_key("data") && !pd.contains_key("extra"));
        // Not a list of lists: kept unless strict.
        let (pd, _) = run(json!({"cpu": 1}), false);
        assert!(pd.contains_key("data") && !pd.contains_key("extra"));
        let (pd, _) = run(json!(["a"]), true);
        assert!(!pd.contains_key("data"));
        let mut pd = Dict::new();
        let mut w = Vec::new();
        extra_hardware(false, &mut pd, &mut w);
        assert_eq!(w.len(), 1);
    }
}
