//! The agent's main loop (`IPA:agent.py IronicPythonAgent.run`): collect the inventory, post
//! inspection data when configured, look the node up, serve the agent API and heartbeat until
//! told to stop.

use crate::api::{self, Agent};
use crate::client::{
    self, ClientError, ClientOptions, HeartbeatExtra, IronicClient, LookupResponse,
};
use crate::clock::{BoxFuture, Clock, SystemClock};
use crate::commands::{self, clean::DeviceSource, Registry};
use crate::config::Config;
use crate::disk;
use crate::inventory::{mac_addresses, InventoryData, InventorySource};
use crate::system::System;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// IPA waits up to 60 s, in 5 s steps, for an interface with a MAC before lookup.
pub const NETWORK_WAIT_TIMEOUT: Duration = Duration::from_secs(60);
pub const NETWORK_WAIT_RETRY: Duration = Duration::from_secs(5);
/// Heartbeat timing (`IronicPythonAgentHeartbeater`).
pub const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
pub const HEARTBEAT_JITTER: (f64, f64) = (0.3, 0.6);
pub const HEARTBEAT_ERROR_JITTER: (f64, f64) = (1.0, 2.0);
/// Finding the address to advertise (`ipa-ip-lookup-attempts`, `ipa-ip-lookup-timeout`).
pub const IP_LOOKUP_ATTEMPTS: u32 = 6;
pub const IP_LOOKUP_SLEEP: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("lookup failed: {0}")]
    Lookup(#[source] ClientError),
    /// Ironic answered lookup with `******` and the agent holds no token: IPA locks itself down
    /// (stops serving, takes interfaces down) and never restarts, since a new lookup cannot
    /// get the token either. The caller should not restart the agent.
    #[error("the agent token was already handed out to another agent and this one has none; refusing to serve")]
    TokenAlreadyIssued,
    #[error("could not find an address to advertise to Ironic: {0}")]
    Advertise(String),
    #[error("agent API: {0}")]
    Io(#[from] std::io::Error),
}

/// Knobs for embedding and tests; `Default` is what `ferric agent` wants.
#[derive(Default)]
pub struct RunOptions {
    /// Time and randomness (default: real).
    pub clock: Option<Arc<dyn Clock>>,
    /// A bound listener for the agent API (default: bind `listen_host:listen_port`).
    pub listener: Option<std::net::TcpListener>,
    /// Stop when this completes (default: SIGINT or SIGTERM).
    pub shutdown: Option<BoxFuture<()>>,
    /// The devices the clean steps may erase (default: the inventory's disks).
    pub devices: Option<DeviceSource>,
    /// Called once the API is listening and heartbeating is about to start.
    pub on_ready: Option<Box<dyn FnOnce(Arc<Agent>) + Send>>,
}

/// Run the agent until SIGINT/SIGTERM: the entry point for `ferric agent`.
pub async fn run(
    config: Config,
    hw: InventorySource,
    system: Arc<dyn System>,
) -> Result<(), RunError> {
    run_with(config, hw, system, RunOptions::default()).await
}

/// The registry of every command this agent serves.
pub fn default_registry(
    config: &Config,
    hw: InventorySource,
    system: Arc<dyn System>,
    devices: DeviceSource,
) -> Registry {
    let mut reg = Registry::new();
    commands::standby::register(&mut reg, system.clone());
    commands::poll::register(&mut reg, hw);
    commands::log::register(&mut reg, system.clone());
    commands::clean::register(&mut reg, devices, system, config.guard_special_filesystems);
    reg
}

/// The inventory's disks, as the clean steps' device list.
pub fn inventory_devices(hw: InventorySource) -> DeviceSource {
    Arc::new(move || Ok(disk::devices_from_inventory(&hw(&[]).inventory)))
}

async fn collect(hw: &InventorySource, collectors: &[String]) -> Result<InventoryData, String> {
    let hw = hw.clone();
    let collectors = collectors.to_vec();
    tokio::task::spawn_blocking(move || hw(&collectors))
        .await
        .map_err(|e| format!("inventory collection failed: {e}"))
}

fn default_shutdown() -> BoxFuture<()> {
    Box::pin(async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// [`run`] with injected pieces.
pub async fn run_with(
    config: Config,
    hw: InventorySource,
    system: Arc<dyn System>,
    opts: RunOptions,
) -> Result<(), RunError> {
    let clock: Arc<dyn Clock> = opts.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
    let devices = opts
        .devices
        .unwrap_or_else(|| inventory_devices(hw.clone()));
    let registry = default_registry(&config, hw.clone(), system.clone(), devices);
    let agent = Agent::new(registry, config.agent_version.clone());
    tracing::info!(version = %config.agent_version, "starting ferric's agent");
    agent.mark_started();
    if let Some(t) = &config.agent_token {
        agent.set_token(Some(t.clone()));
    }
    let client = Arc::new(
        IronicClient::new(ClientOptions::from_config(&config), clock.clone())
            .map_err(|e| RunError::Config(e.to_string()))?,
    );
    client.set_agent_token(config.agent_token.clone());

    // Stopping is honoured from here on, also during inspection and lookup.
    let mut shutdown = opts.shutdown.unwrap_or_else(default_shutdown);
    let startup = discover(&config, &hw, &system, &client, &agent, clock.as_ref());
    let lookup = tokio::select! {
        r = startup => r?,
        _ = &mut shutdown => {
            tracing::info!("stopped before the agent API was started");
            return Ok(());
        }
    };

    let listener = match opts.listener {
        Some(l) => {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)?
        }
        None => bind(&config.listen_host, config.listen_port).await?,
    };
    tracing::info!(addr = %listener.local_addr()?, "serving the agent API");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut api_stop = stop_rx.clone();
    let server = tokio::spawn(api::serve(listener, agent.clone(), async move {
        let _ = api_stop.wait_for(|s| *s).await;
    }));

    let heartbeater = match &lookup {
        Some((resp, timeout)) => {
            let host = match &config.advertise_host {
                Some(h) => h.clone(),
                None => advertise_address(&client.api_urls(), clock.as_ref())
                    .await?
                    .to_string(),
            };
            let callback =
                client::agent_url(&config.advertise_protocol, &host, config.advertise_port);
            tracing::info!(callback_url = %callback, "starting heartbeater");
            let hb = Heartbeater {
                client: client.clone(),
                uuid: resp.uuid().to_string(),
                callback_url: callback,
                heartbeat_timeout: Duration::from_secs_f64(timeout.max(0.0)),
                clock: clock.clone(),
                force: agent.heartbeat_signal(),
            };
            Some(tokio::spawn(hb.run(stop_rx.clone())))
        }
        None => None,
    };
    if let Some(f) = opts.on_ready {
        f(agent.clone());
    }

    let mut server = server;
    let served = tokio::select! {
        _ = shutdown => None,
        r = &mut server => Some(r),
    };
    tracing::info!("stopping the agent");
    stop_tx.send_replace(true);
    if let Some(h) = heartbeater {
        let _ = h.await;
    }
    let result = match served {
        Some(r) => r,
        None => server.await,
    };
    match result {
        Ok(r) => r.map_err(RunError::Io),
        Err(e) => Err(RunError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// Inspection (when configured) and lookup (when an API URL is set): the node and its
/// heartbeat timeout, or `None` when there is nothing to heartbeat to.
async fn discover(
    config: &Config,
    hw: &InventorySource,
    system: &Arc<dyn System>,
    client: &IronicClient,
    agent: &Agent,
    clock: &dyn Clock,
) -> Result<Option<(LookupResponse, f64)>, RunError> {
    if config.api_urls.is_empty() && !config.inspection_enabled() {
        tracing::error!("neither ipa-api-url nor ipa-inspection-callback-url is set: no inspection, lookup or heartbeat");
        return Ok(None);
    }
    let collectors: Vec<String> = if config.inspection_enabled() {
        config.inspection_collectors.clone()
    } else {
        Vec::new()
    };
    let data = wait_for_interfaces(hw, &collectors, config, clock).await;
    let mut uuid = None;
    let mut log_extra = String::new();
    if config.inspection_enabled() {
        match inspect(client, config, data.clone(), system.clone()).await {
            Ok(u) => uuid = u,
            Err(e) => {
                tracing::error!(error = %e, "failed to perform inspection; proceeding with lookup");
                log_extra = format!("Inspection has previously failed: {e}");
            }
        }
    }
    if config.api_urls.is_empty() {
        tracing::info!("no ipa-api-url configured: lookup and heartbeat skipped");
        return Ok(None);
    }
    let mut addresses = data
        .as_ref()
        .map(|d| mac_addresses(&d.inventory))
        .unwrap_or_default();
    if let Some(b) = &config.bootif {
        if !addresses.contains(b) {
            addresses.push(b.clone());
        }
    }
    let resp = client
        .lookup_node(
            &addresses,
            uuid.as_deref(),
            config.lookup_timeout,
            config.lookup_interval,
            client::LOOKUP_MAX_INTERVAL,
        )
        .await
        .map_err(|e| {
            if !log_extra.is_empty() {
                tracing::error!("{log_extra}");
            }
            RunError::Lookup(e)
        })?;
    tracing::info!(node = %resp.uuid(), "lookup succeeded");
    process_lookup(agent, client, &resp)?;
    let timeout = resp.heartbeat_timeout().unwrap_or(300.0);
    Ok(Some((resp, timeout)))
}

/// Collect until an interface with a MAC shows up (at most 60 s, every 5 s), as IPA's
/// `_wait_for_interface`; `None` when collection itself failed.
async fn wait_for_interfaces(
    hw: &InventorySource,
    collectors: &[String],
    config: &Config,
    clock: &dyn Clock,
) -> Option<InventoryData> {
    let start = clock.now();
    loop {
        let data = match collect(hw, collectors).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "could not collect the inventory");
                return None;
            }
        };
        for w in &data.warnings {
            tracing::warn!(warning = %w, "inventory");
        }
        if !mac_addresses(&data.inventory).is_empty() || config.bootif.is_some() {
            return Some(data);
        }
        if clock.now().saturating_sub(start) >= NETWORK_WAIT_TIMEOUT {
            tracing::warn!("no valid network interfaces found; node lookup will probably fail");
            return Some(data);
        }
        tracing::debug!("network is not up yet, no interface has a MAC address; retrying");
        clock.sleep(NETWORK_WAIT_RETRY).await;
    }
}

/// IPA's `inspector.inspect()`: post `{inventory, <plugin data>, error}` to the call-back URL;
/// the node UUID when Ironic returns one.
pub async fn inspect(
    client: &IronicClient,
    config: &Config,
    data: Option<InventoryData>,
    system: Arc<dyn System>,
) -> Result<Option<String>, ClientError> {
    tracing::info!(collectors = ?config.inspection_collectors, "inspection is enabled");
    let mut body = Map::new();
    let mut failure = None;
    match data {
        Some(d) => {
            body.extend(d.plugin_data);
            body.insert("inventory".into(), d.inventory);
        }
        None => failure = Some("The following errors were encountered:\n* collector default failed: the inventory could not be collected".to_string()),
    }
    if config.inspection_collectors.iter().any(|c| c == "logs") && !body.contains_key("logs") {
        match tokio::task::spawn_blocking(move || system.collect_system_logs()).await {
            Ok(Ok(logs)) => {
                body.insert("logs".into(), Value::String(logs));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "failed to get system logs for inspection"),
            Err(e) => tracing::warn!(error = %e, "failed to get system logs for inspection"),
        }
    }
    if let Some(inv) = body.get("inventory") {
        if !body.contains_key("boot_interface") {
            if let Some(p) = inv.pointer("/boot/pxe_interface").cloned() {
                body.insert("boot_interface".into(), p);
            }
        }
    }
    body.entry("configuration").or_insert_with(|| {
        json!({
            "collectors": config.inspection_collectors,
            "managers": [{"name": commands::clean::HARDWARE_MANAGER_NAME, "version": commands::clean::HARDWARE_MANAGER_VERSION}],
        })
    });
    if !body.contains_key("error") {
        body.insert(
            "error".into(),
            failure.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    let resp = client
        .post_inspection(&config.inspection_callback_urls, &Value::Object(body))
        .await?;
    if let Some(f) = failure {
        return Err(ClientError::InvalidResponse(f));
    }
    tracing::info!("inspection finished successfully");
    Ok(resp.get("uuid").and_then(Value::as_str).map(str::to_string))
}

/// IPA's `process_lookup_data`: keep the node; take the token when it is a real one (32+
/// characters); `******` with no token of our own is fatal.
fn process_lookup(
    agent: &Agent,
    client: &IronicClient,
    resp: &LookupResponse,
) -> Result<(), RunError> {
    agent.set_node(resp.node.clone());
    match resp.agent_token() {
        Some(t) if t.len() >= 32 => {
            tracing::debug!("agent token recorded as designated by the Ironic installation");
            agent.set_token(Some(t.to_string()));
            client.set_agent_token(Some(t.to_string()));
        }
        Some("******") => {
            tracing::warn!("the agent token has already been retrieved; the deployment may fail depending on Ironic's settings");
            if agent.token().is_none() {
                tracing::error!("no token on file although one should be: possible agent restart outside of Ironic's process. This is fatal.");
                return Err(RunError::TokenAlreadyIssued);
            }
        }
        Some(_) => tracing::info!("an invalid token was received"),
        None => {}
    }
    if let Some(t) = agent.token() {
        client.set_agent_token(Some(t));
    }
    Ok(())
}

async fn bind(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let ip: IpAddr = match host {
        "" | "::" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        h => match h.trim_matches(|c| c == '[' || c == ']').parse() {
            Ok(ip) => ip,
            Err(_) => return tokio::net::TcpListener::bind((h, port)).await,
        },
    };
    match tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await {
        // IPA's wildcard is `::` only when IPv6 is available.
        Err(e) if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {
            tracing::debug!(error = %e, "IPv6 wildcard unavailable, listening on 0.0.0.0");
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
                .await
        }
        r => r,
    }
}

/// `host` and port of an `http(s)://` URL.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = if scheme == "https" { 443 } else { 80 };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map(|p| p.parse().ok())
            .unwrap_or(Some(default))?;
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// The source address of the route to Ironic (IPA runs `ip route get`; a connected UDP socket
/// gives the same answer without sending anything). Link-local addresses are not used.
pub async fn advertise_address(api_urls: &[String], clock: &dyn Clock) -> Result<IpAddr, RunError> {
    let mut last = String::from("no API URL to route to");
    for attempt in 0..IP_LOOKUP_ATTEMPTS {
        for url in api_urls {
            let Some((host, port)) = url_host_port(url) else {
                continue;
            };
            let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(a) => a.collect::<Vec<_>>(),
                Err(e) => {
                    last = format!("cannot resolve {host}: {e}");
                    continue;
                }
            };
            for a in addrs {
                let bind: SocketAddr = if a.is_ipv4() {
                    (Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let src = match tokio::net::UdpSocket::bind(bind).await {
                    Ok(s) => s
                        .connect(a)
                        .await
                        .and_then(|_| s.local_addr())
                        .map(|l| l.ip()),
                    Err(e) => Err(e),
                };
                match src {
                    Ok(ip) if usable(ip) => return Ok(ip),
                    Ok(ip) => last = format!("only the unusable source address {ip} routes to {a}"),
                    Err(e) => last = format!("no route to {a}: {e}"),
                }
            }
        }
        if attempt + 1 < IP_LOOKUP_ATTEMPTS {
            clock.sleep(IP_LOOKUP_SLEEP).await;
        }
    }
    Err(RunError::Advertise(last))
}

/// IPA's heartbeater: right away, then every `heartbeat_timeout × uniform(0.3, 0.6)` (at least
/// 5 s); after an error every `5 × uniform(1, 2)` s; a forced heartbeat (an async command
/// finished) goes out as soon as 5 s have passed since the previous one.
pub struct Heartbeater {
    pub client: Arc<IronicClient>,
    pub uuid: String,
    pub callback_url: String,
    pub heartbeat_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub force: Arc<tokio::sync::Notify>,
}

impl Heartbeater {
    /// One heartbeat; the interval until the next one.
    pub async fn beat(&self) -> Duration {
        match self
            .client
            .heartbeat(&self.uuid, &self.callback_url, &HeartbeatExtra::default())
            .await
        {
            Ok(()) => {
                tracing::debug!("heartbeat successful");
                let j = self.clock.uniform(HEARTBEAT_JITTER.0, HEARTBEAT_JITTER.1);
                self.heartbeat_timeout
                    .mul_f64(j)
                    .max(MIN_HEARTBEAT_INTERVAL)
            }
            Err(e) => {
                match &e {
                    ClientError::Conflict(_) => {
                        tracing::warn!(error = %e, "conflict error sending heartbeat")
                    }
                    _ => tracing::error!(error = %e, "error sending heartbeat"),
                }
                MIN_HEARTBEAT_INTERVAL.mul_f64(
                    self.clock
                        .uniform(HEARTBEAT_ERROR_JITTER.0, HEARTBEAT_ERROR_JITTER.1),
                )
            }
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let interval = tokio::select! {
                i = self.beat() => i,
                _ = stop.wait_for(|s| *s) => return,
            };
            let previous = self.clock.now();
            tracing::info!(
                interval = interval.as_secs_f64(),
                "sleeping before next heartbeat"
            );
            let mut forced = false;
            loop {
                let elapsed = self.clock.now().saturating_sub(previous);
                let due = if forced {
                    interval.min(MIN_HEARTBEAT_INTERVAL)
                } else {
                    interval
                };
                if elapsed >= due {
                    break;
                }
                tokio::select! {
                    _ = self.clock.sleep(due - elapsed) => {}
                    _ = self.force.notified(), if !forced => forced = true,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            url_host_port("http://10.0.0.1:6385"),
            Some(("10.0.0.1".into(), 6385))
        );
        assert_eq!(
            url_host_port("http://ironic.example/baremetal"),
            Some(("ironic.example".into(), 80))
        );
        assert_eq!(
            url_host_port("https://[fd00::1]:6385/x"),
            Some(("fd00::1".into(), 6385))
        );
        assert_eq!(
            url_host_port("https://[fd00::1]"),
            Some(("fd00::1".into(), 443))
        );
    }

    #[test]
    fn link_local_is_not_advertised() {
        assert!(!usable("169.254.3.4".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(usable("10.1.2.3".parse().unwrap()));
        assert!(usable("fd00::5".parse().unwrap()));
    }
}
