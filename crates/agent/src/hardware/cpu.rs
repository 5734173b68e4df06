//! The `cpu` section, as IPA builds it from `lscpu` (which reads the same files): no tool is
//! run here.
//!
//! - `model_name`: `model name` of the first processor in /proc/cpuinfo (x86, most others);
//!   `cpu model` / `Processor` / `uarch` where architectures name it differently.
//! - `frequency`: lscpu's "CPU max MHz" (cpufreq's `cpuinfo_max_freq` of the first CPU, kHz,
//!   printed `%.4f`), else the `cpu MHz` of /proc/cpuinfo as written there, else "".
//! - `count`: lscpu's "CPU(s)": the CPUs in /sys/devices/system/cpu/present, else the
//!   processor entries of /proc/cpuinfo.
//! - `architecture`: /proc/sys/kernel/arch (uname's machine), else uname(2) on the host, else
//!   the build target.
//! - `flags`: `flags` (x86) or `Features` (ARM) of the first processor.
//! - `socket_count`: lscpu's "Socket(s)": distinct `topology/physical_package_id` of the
//!   present CPUs, else distinct `physical id` in /proc/cpuinfo, else 0 as IPA.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::root::Ctx;

/// /proc/cpuinfo of a 512-thread machine is about 1 MiB; leave room.
const CPUINFO_CAP: u64 = 16 << 20;

pub fn collect(ctx: &Ctx) -> Value {
    let text = ctx.read_capped("/proc/cpuinfo", CPUINFO_CAP);
    if text.is_none() {
        ctx.warn("/proc/cpuinfo is unreadable: CPU model, frequency and flags are unknown");
    }
    let text = text.unwrap_or_default();
    let sections = sections(&text);
    let first = sections.first().cloned().unwrap_or_default();
    let get = |k: &str| first.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());

    let model_name = ["model name", "cpu model", "processor", "uarch"]
        .iter()
        .find_map(|k| get(k).filter(|v| !v.is_empty() && v.parse::<u64>().is_err()))
        .unwrap_or_default();

    let frequency = match ctx.attr_quiet("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").and_then(|s| s.parse::<u64>().ok()) {
        Some(khz) => format!("{:.4}", khz as f64 / 1000.0),
        None => get("cpu mhz").unwrap_or_default(),
    };

    let present = ctx.attr("/sys/devices/system/cpu/present").and_then(|s| parse_cpu_list(&s));
    let processors = sections.iter().filter(|s| s.iter().any(|(k, _)| k == "processor")).count();
    let count = match &present {
        Some(p) if !p.is_empty() => p.len(),
        _ => processors,
    };
    if count == 0 {
        ctx.warn("no CPU found in /sys/devices/system/cpu/present or /proc/cpuinfo");
    }

    let flags: Vec<String> = get("flags").or_else(|| get("features")).unwrap_or_default().split_whitespace().map(str::to_string).collect();

    let mut packages = BTreeSet::new();
    for cpu in present.iter().flatten() {
        if let Some(id) = ctx.attr_quiet(&format!("/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id")) {
            packages.insert(id);
        }
    }
    if packages.is_empty() {
        for s in &sections {
            if let Some((_, v)) = s.iter().find(|(k, _)| k == "physical id") {
                packages.insert(v.clone());
            }
        }
    }

    json!({
        "model_name": model_name,
        "frequency": frequency,
        "count": count,
        "architecture": architecture(ctx),
        "flags": flags,
        "socket_count": packages.len(),
    })
}

/// The machine's architecture as uname prints it.
pub fn architecture(ctx: &Ctx) -> String {
    if let Some(a) = ctx.attr("/proc/sys/kernel/arch").filter(|a| !a.is_empty()) {
        return a;
    }
    if ctx.is_host() {
        if let Some(a) = uname_machine() {
            return a;
        }
    }
    let a = match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    };
    ctx.warn(format!("/proc/sys/kernel/arch is unreadable; architecture taken from the build target: {a}"));
    a.to_string()
}

fn uname_machine() -> Option<String> {
    // SAFETY: uname(2) fills the zeroed struct; `machine` is NUL-terminated by the kernel.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        let m = std::ffi::CStr::from_ptr(u.machine.as_ptr()).to_string_lossy().into_owned();
        (!m.is_empty()).then_some(m)
    }
}

/// /proc/cpuinfo split into one key/value list per processor (keys lower-cased, as IPA).
pub fn sections(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A kernel CPU list ("0-3,8,10-11") as the CPU numbers; `None` when malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let v = part.trim().parse::<u32>().ok()?;
                (v, v)
            }
        };
        if b < a || b - a > 65536 {
            return None;
        }
        out.extend(a..=b);
        if out.len() > 1 << 20 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("0-4294967295"), None);
    }

    #[test]
    fn cpuinfo_sections() {
        let s = sections("processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nflags\t\t: a b\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1][1], ("flags".to_string(), "a b".to_string()));
    }
}
