//! Simulated hosts: what a machine does when its BMC boots it. On [`LabEvent::NetBoot`] the
//! host does what a NIC's iPXE ROM does: it asks the boot server for the script of its MAC
//! (`GET /ipxe/<mac>`, real HTTP), fetches the kernel and the ramdisk the script names, and,
//! when the command line is the agent's, runs the real agent code (`ferric_agent::run`) on the
//! machine's fixture tree with that command line: inspection report, lookup, heartbeats, the
//! agent API on the host's own loopback address. A script that boots the local disk leaves
//! the host idle (the lab's disks hold no OS). Power off (from the BMC, or the agent's own
//! `poweroff`) stops whatever ran.

use crate::machine::{LabEvent, Machine};
use crate::tree::{write_tree_with, TreeOptions};
use ferric_agent::disk::BlockDevice;
use ferric_agent::system::{DeviceFlags, SecureEraseKind, System};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The boot server, as the machines reach it (`[pxe] http_url`).
    pub boot_url: String,
    /// Where the machines' fixture trees are written (best on tmpfs).
    pub trees: PathBuf,
    /// Firmware and kernel start-up time before the agent runs (zero for benchmarks).
    pub boot_delay: Duration,
}

/// What the hosts did, for progress lines and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The boot server answered for this MAC; `agent` tells whether it gave the agent.
    Script { machine: usize, agent: bool },
    AgentStarted { machine: usize },
    AgentStopped { machine: usize, error: Option<String> },
    BootFailed { machine: usize, error: String },
}

/// The loopback address a host's agent listens on (its "NIC address"): 127.1.x.y.
pub fn host_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (index / 254) as u8, (index % 254 + 1) as u8)
}

/// The kernel command line of an iPXE script's `kernel` line, without the image URL and
/// iPXE's `|| goto ...`; `None` when the script boots no kernel.
pub fn kernel_line(script: &str) -> Option<(String, String)> {
    let line = script.lines().map(str::trim).find(|l| l.starts_with("kernel "))?;
    let line = line.split(" || ").next().unwrap_or(line);
    let mut words = line.split_whitespace().skip(1);
    let url = words.next()?.to_string();
    Some((url, words.collect::<Vec<_>>().join(" ")))
}

/// The URL of the script's `initrd` line.
pub fn initrd_url(script: &str) -> Option<String> {
    let line = script.lines().map(str::trim).find(|l| l.starts_with("initrd "))?;
    line.split_whitespace().nth(1).map(str::to_string)
}

/// The machine as the agent's host: powering off or rebooting from inside goes to the lab
/// machine; nothing touches this computer's disks.
struct LabSystem {
    machine: Arc<Machine>,
}

impl System for LabSystem {
    fn power_off(&self) -> Result<(), String> {
        self.machine.os_power_off();
        Ok(())
    }
    fn reboot(&self) -> Result<(), String> {
        self.machine.os_reboot();
        Ok(())
    }
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
    fn collect_system_logs(&self) -> Result<String, String> {
        Err("a simulated host keeps no system logs".into())
    }
    fn secure_erase(&self, _device: &BlockDevice, _kind: SecureEraseKind) -> Result<bool, String> {
        Ok(false)
    }
    fn device_flags(&self, _device: &BlockDevice) -> DeviceFlags {
        DeviceFlags::default()
    }
    fn reread_partition_table(&self, _device: &Path) -> Result<(), String> {
        Ok(())
    }
}

/// Run the hosts of `machines`, driven by the lab's events, until the event channel closes.
/// Host events go to `report` when given.
pub fn spawn_hosts(
    machines: Vec<Arc<Machine>>,
    mut events: UnboundedReceiver<LabEvent>,
    config: HostConfig,
    report: Option<tokio::sync::mpsc::UnboundedSender<HostEvent>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        let running: Arc<Mutex<HashMap<usize, JoinHandle<()>>>> = Arc::default();
        let send = move |e: HostEvent| {
            if let Some(r) = &report {
                let _ = r.send(e);
            }
        };
        let send = Arc::new(send);
        while let Some(ev) = events.recv().await {
            // Whatever the machine ran ends with any power or boot event.
            let machine = match &ev {
                LabEvent::PowerOff { machine } | LabEvent::Reset { machine } | LabEvent::LocalBoot { machine, .. } | LabEvent::NetBoot { machine, .. } => *machine,
            };
            if let Some(h) = running.lock().unwrap().remove(&machine) {
                h.abort();
            }
            if let (LabEvent::PowerOff { .. }, Some(m)) = (&ev, machines.get(machine)) {
                discard_tree(&config.trees, &m.spec.name);
            }
            let LabEvent::NetBoot { mac, .. } = ev else { continue };
            let Some(m) = machines.get(machine).cloned() else { continue };
            let (http, config, send) = (http.clone(), config.clone(), send.clone());
            let h = tokio::spawn(async move {
                if let Err(e) = netboot(&http, &config, m, &mac, &*send).await {
                    tracing::warn!(machine, error = %e, "simulated network boot failed");
                    send(HostEvent::BootFailed { machine, error: e });
                }
            });
            running.lock().unwrap().insert(machine, h);
        }
        for (_, h) in running.lock().unwrap().drain() {
            h.abort();
        }
    })
}

/// A powered-off machine's tree goes (the next boot writes it again, from the spec): a few
/// hundred files each, 10,000 trees would exhaust a tmpfs's inodes. Renamed at once, so
/// that a boot right after writes a new one, and deleted on the blocking pool.
fn discard_tree(trees: &std::path::Path, name: &str) {
    let root = trees.join(name);
    let trash = trees.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    if std::fs::rename(&root, &trash).is_ok() {
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(trash);
        });
    }
}

async fn netboot(
    http: &reqwest::Client,
    config: &HostConfig,
    m: Arc<Machine>,
    mac: &str,
    send: &(dyn Fn(HostEvent) + Send + Sync),
) -> Result<(), String> {
    tokio::time::sleep(config.boot_delay).await;
    let base = config.boot_url.trim_end_matches('/');
    let script = match get(http, &format!("{base}/ipxe/{mac}")).await? {
        (true, script) => script,
        // iPXE would try the next NIC, then the fallback script.
        (false, _) => get(http, &format!("{base}/ipxe/fallback/{}", mac.replace(':', "-"))).await?.1,
    };
    run_script(http, config, m, &script, send).await
}

/// GET a text: whether the status was a success, and the body.
async fn get(http: &reqwest::Client, url: &str) -> Result<(bool, String), String> {
    let resp = http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let ok = resp.status().is_success();
    let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok((ok, text))
}

async fn run_script(
    http: &reqwest::Client,
    config: &HostConfig,
    m: Arc<Machine>,
    script: &str,
    send: &(dyn Fn(HostEvent) + Send + Sync),
) -> Result<(), String> {
    let machine = m.index;
    let Some((kernel, cmdline)) = kernel_line(script) else {
        send(HostEvent::Script { machine, agent: false });
        return Ok(());
    };
    let agent = cmdline.contains("ipa-api-url=") || cmdline.contains("ipa-inspection-callback-url=");
    send(HostEvent::Script { machine, agent });
    // Load the images as iPXE does (their bytes are not run: the host is simulated).
    for u in std::iter::once(kernel).chain(initrd_url(script)) {
        let mut r = http.get(&u).send().await.map_err(|e| format!("GET {u}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("GET {u}: {}", r.status()));
        }
        // Read to the end, as iPXE does, without keeping it.
        while r.chunk().await.map_err(|e| format!("GET {u}: {e}"))?.is_some() {}
    }
    if !agent {
        return Ok(());
    }
    let root = config.trees.join(&m.spec.name);
    if !root.join("proc").exists() {
        let spec = m.spec.clone();
        let opts = TreeOptions { cmdline: Some(cmdline.clone()), ..Default::default() };
        let dir = root.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            write_tree_with(&spec, &dir, &opts)
        })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot write the tree of {}: {e}", m.spec.name))?;
    } else {
        std::fs::write(root.join("proc/cmdline"), format!("{cmdline}\n")).map_err(|e| e.to_string())?;
    }
    let mut cfg = ferric_agent::config::Config::from_cmdline(&cmdline).map_err(|e| format!("agent parameters: {e}"))?;
    let addr = host_address(machine);
    cfg.listen_host = addr.to_string();
    cfg.advertise_host = Some(addr.to_string());
    let listener = std::net::TcpListener::bind((addr, cfg.listen_port)).map_err(|e| format!("agent API on {addr}:{}: {e}", cfg.listen_port))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let opts = ferric_agent::run::RunOptions {
        listener: Some(listener),
        shutdown: Some(Box::pin(std::future::pending())),
        ..Default::default()
    };
    send(HostEvent::AgentStarted { machine });
    let hw = ferric_agent::cli::inventory_source(root);
    let system: Arc<dyn System> = Arc::new(LabSystem { machine: m.clone() });
    let r = ferric_agent::run::run_with(cfg, hw, system, opts).await;
    send(HostEvent::AgentStopped { machine, error: r.err().map(|e| e.to_string()) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_give_their_kernel_line() {
        let s = "#!ipxe\n:deploy\nimgfree\nkernel http://b/images/kernel nofb ipa-api-url=http://a BOOTIF=01-aa || goto retry\ninitrd http://b/images/ramdisk || goto retry\nboot\n";
        assert_eq!(kernel_line(s), Some(("http://b/images/kernel".into(), "nofb ipa-api-url=http://a BOOTIF=01-aa".into())));
        assert_eq!(initrd_url(s).as_deref(), Some("http://b/images/ramdisk"));
        assert_eq!(kernel_line("#!ipxe\nsanboot --no-describe || goto exit\n"), None);
        assert_eq!(host_address(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(host_address(254), Ipv4Addr::new(127, 1, 1, 1));
    }
}
