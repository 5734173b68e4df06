//! Running `ipmitool`: one command at a time per BMC, spaced by `min_command_interval`, with
//! the password in the environment, a hard time limit, and Ironic's retries of transient
//! failures.

use super::{IpmiConfig, IpmiTarget};
use crate::{BoxFut, DResult, DriverError};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs one IPMI command against a BMC and returns its standard output.
pub trait IpmiTool: Send + Sync {
    fn run<'a>(&'a self, target: &'a IpmiTarget, args: &'a [&'a str]) -> BoxFut<'a, DResult<String>>;
}

/// ipmitool's messages for failures worth retrying (Ironic's `IPMITOOL_RETRYABLE_FAILURES`
/// and `[ipmi]additional_retryable_ipmi_errors`' usual entries).
pub const RETRYABLE: &[&str] = &[
    "insufficient resources for session",
    "Node busy",
    "Timeout",
    "Out of space",
    "BMC initialization in progress",
];

pub struct Ipmitool {
    config: IpmiConfig,
    /// Per BMC (address:port): a lock that serializes its commands, holding when the last ended.
    bmcs: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

impl Ipmitool {
    pub fn new(config: IpmiConfig) -> Ipmitool {
        Ipmitool { config, bmcs: Mutex::new(HashMap::new()) }
    }

    /// The command line, without the password (it goes in `IPMI_PASSWORD`).
    pub fn args(t: &IpmiTarget, command: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec!["-I".into(), t.interface.into(), "-H".into(), t.address.clone()];
        if let Some(p) = t.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        a.extend(["-L".into(), t.priv_level.clone()]);
        if let Some(u) = &t.username {
            a.extend(["-U".into(), u.clone()]);
        }
        if t.interface == "lanplus" {
            if let Some(c) = t.cipher_suite {
                a.extend(["-C".into(), c.to_string()]);
            }
        }
        // The K_g key is a secret too: from the environment (`-K`, IPMI_KGKEY) unless it holds
        // a NUL byte, which an environment variable cannot carry.
        match kg_bytes(t) {
            Some(b) if !b.contains(&0) => a.push("-K".into()),
            Some(_) => a.extend(["-y".into(), t.hex_kg_key.clone().unwrap_or_default()]),
            None => {}
        }
        // One retransmission inside ipmitool; ferric does the retrying (and knows the budget).
        a.extend(["-N".into(), "1".into(), "-R".into(), "2".into()]);
        // The password from the environment (IPMI_PASSWORD): never on the command line.
        a.push("-E".into());
        a.extend(command.iter().map(|s| s.to_string()));
        a
    }

    async fn once(&self, t: &IpmiTarget, command: &[&str]) -> Result<String, (bool, String)> {
        let mut cmd = tokio::process::Command::new(&self.config.ipmitool);
        if let Some(b) = kg_bytes(t).filter(|b| !b.contains(&0)) {
            use std::os::unix::ffi::OsStrExt;
            cmd.env("IPMI_KGKEY", std::ffi::OsStr::from_bytes(&b));
        } else if kg_bytes(t).is_some() {
            tracing::warn!(node = %t.node, "the K_g key holds a NUL byte: it goes on ipmitool's command line (-y)");
        }
        cmd.args(Self::args(t, command))
            .env("IPMI_PASSWORD", t.password.as_deref().unwrap_or(""))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| (false, format!("cannot run {}: {e}", self.config.ipmitool)))?;
        let out = match tokio::time::timeout(self.config.command_timeout, child.wait_with_output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err((false, format!("ipmitool failed: {e}"))),
            Err(_) => return Err((true, format!("Timeout: ipmitool did not finish within {} s", self.config.command_timeout.as_secs()))),
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut msg: String = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
        if msg.is_empty() {
            msg = stdout.trim().to_string();
        }
        if let Some(p) = &t.password {
            if !p.is_empty() {
                msg = msg.replace(p.as_str(), "******");
            }
        }
        let retry = RETRYABLE.iter().any(|r| msg.contains(r));
        Err((retry, msg))
    }
}

/// The K_g key's bytes (`ipmi_hex_kg_key` is validated as hex when parsed).
fn kg_bytes(t: &IpmiTarget) -> Option<Vec<u8>> {
    let k = t.hex_kg_key.as_ref()?;
    (0..k.len()).step_by(2).map(|i| u8::from_str_radix(k.get(i..i + 2)?, 16).ok()).collect()
}

impl IpmiTool for Ipmitool {
    fn run<'a>(&'a self, t: &'a IpmiTarget, command: &'a [&'a str]) -> BoxFut<'a, DResult<String>> {
        Box::pin(async move {
            let key = format!("{}:{}", t.address, t.port.unwrap_or(623));
            let slot = self.bmcs.lock().unwrap().entry(key).or_default().clone();
            let start = Instant::now();
            let mut last = slot.lock().await;
            loop {
                if let Some(prev) = *last {
                    let since = prev.elapsed();
                    if since < self.config.min_command_interval {
                        tokio::time::sleep(self.config.min_command_interval - since).await;
                    }
                }
                let r = self.once(t, command).await;
                *last = Some(Instant::now());
                match r {
                    Ok(out) => return Ok(out),
                    Err((true, msg)) if start.elapsed() + self.config.min_command_interval.max(Duration::from_millis(100)) < self.config.command_retry_timeout => {
                        tracing::warn!(node = %t.node, command = %command.join(" "), error = %msg, "IPMI command failed; retrying");
                    }
                    Err((_, msg)) => {
                        return Err(DriverError::Failed(format!(
                            "IPMI call failed: {}. Error: {msg}",
                            command.join(" ")
                        )))
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::IpmiTarget;

    fn target(pw: &str) -> IpmiTarget {
        IpmiTarget {
            node: "n".into(),
            address: "127.0.0.1".into(),
            port: Some(9623),
            username: Some("admin".into()),
            password: Some(pw.into()),
            priv_level: "ADMINISTRATOR".into(),
            interface: "lanplus",
            cipher_suite: Some(3),
            hex_kg_key: None,
            disable_boot_timeout: true,
        }
    }

    #[test]
    fn the_password_is_never_an_argument() {
        let a = Ipmitool::args(&target("hunter2"), &["power", "status"]);
        assert!(!a.iter().any(|x| x.contains("hunter2")));
        assert_eq!(
            a.join(" "),
            "-I lanplus -H 127.0.0.1 -p 9623 -L ADMINISTRATOR -U admin -C 3 -N 1 -R 2 -E power status"
        );
        let mut t = target("hunter2");
        t.hex_kg_key = Some("6b6579".into());
        let a = Ipmitool::args(&t, &["power", "status"]).join(" ");
        assert!(a.contains(" -K ") && !a.contains("6b6579"), "{a}");
        t.hex_kg_key = Some("6b0079".into());
        assert!(Ipmitool::args(&t, &["power", "status"]).join(" ").contains("-y 6b0079"));
    }

    /// A fake ipmitool (a shell script) that records its arguments, its IPMI_PASSWORD and the
    /// time of each call, so spacing, serialization and the environment are checked for real.
    fn fake_tool(dir: &std::path::Path, body: &str) -> String {
        let p = dir.join("ipmitool");
        std::fs::write(&p, format!("#!/bin/sh\necho \"$(date +%s.%N) $IPMI_PASSWORD $*\" >> {}/calls\n{body}\n", dir.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_string_lossy().to_string()
    }

    fn calls(dir: &std::path::Path) -> Vec<(f64, String)> {
        std::fs::read_to_string(dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (t, rest) = l.split_once(' ').unwrap();
                (t.parse().unwrap(), rest.to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn commands_to_one_bmc_are_spaced_and_get_the_password_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let tool = fake_tool(dir.path(), "echo 'Chassis Power is on'");
        let cfg = IpmiConfig { ipmitool: tool, min_command_interval: Duration::from_millis(300), ..Default::default() };
        let t = Arc::new(Ipmitool::new(cfg));
        let tg = target("hunter2");
        let (a, b) = tokio::join!(t.run(&tg, &["power", "status"]), t.run(&tg, &["power", "status"]));
        assert_eq!(a.unwrap().trim(), "Chassis Power is on");
        assert!(b.is_ok());
        let c = calls(dir.path());
        assert_eq!(c.len(), 2);
        assert!(c[1].0 - c[0].0 >= 0.29, "calls {:?} are not spaced by the minimum interval", c);
        assert!(c[0].1.starts_with("hunter2 -I lanplus"), "{}", c[0].1);
        assert_eq!(c[0].1.matches("hunter2").count(), 1, "the password is in the arguments: {}", c[0].1);
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        // Fails with "Node busy" twice, then answers.
        let body = format!(
            "n=$(wc -l < {d}/calls); if [ \"$n\" -le 2 ]; then echo 'Error: Node busy' >&2; exit 1; fi; echo ok",
            d = dir.path().display()
        );
        let cfg = IpmiConfig { ipmitool: fake_tool(dir.path(), &body), min_command_interval: Duration::from_millis(10), ..Default::default() };
        let t = Ipmitool::new(cfg);
        assert_eq!(t.run(&target("p"), &["power", "on"]).await.unwrap().trim(), "ok");
        assert_eq!(calls(dir.path()).len(), 3);

        let dir = tempfile::tempdir().unwrap();
        let body = "echo 'Error: Unable to establish IPMI v2 / RMCP+ session (password p)' >&2; exit 1";
        let cfg = IpmiConfig { ipmitool: fake_tool(dir.path(), body), min_command_interval: Duration::from_millis(10), ..Default::default() };
        let t = Ipmitool::new(cfg);
        let e = t.run(&target("p4ss"), &["power", "status"]).await.unwrap_err().to_string();
        assert_eq!(calls(dir.path()).len(), 1);
        assert!(e.contains("Unable to establish IPMI v2 / RMCP+ session"), "{e}");
    }

    #[tokio::test]
    async fn a_hanging_ipmitool_is_killed_within_its_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IpmiConfig {
            ipmitool: fake_tool(dir.path(), "sleep 30"),
            command_timeout: Duration::from_millis(300),
            command_retry_timeout: Duration::from_millis(500),
            min_command_interval: Duration::from_millis(10),
            ..Default::default()
        };
        let t = Ipmitool::new(cfg);
        let start = Instant::now();
        let e = t.run(&target("p"), &["power", "status"]).await.unwrap_err().to_string();
        assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
        assert!(e.contains("did not finish"), "{e}");
    }
}
