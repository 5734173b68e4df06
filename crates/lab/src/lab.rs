//! Serving a lab: every machine's BMC on loopback, and the channel of what the machines do.
//!
//! Two ways to listen ([`Bind`]):
//! - `PerMachine`: each BMC on its own loopback address (the spec's, `127.0.10.1` + index)
//!   and the same port, as a rack of BMCs each with its own IP; 127.0.0.0/8 is all local on
//!   Linux, so no set-up is needed. One listening socket per machine: 10,000 machines need an
//!   open-files limit above 10,000 plus the connections.
//! - `SinglePort`: one listener; each machine's BMC under `/bmc/<name>`, whose
//!   `redfish_address` carries that path (the driver's root prefix, as Ironic's). The BMCs
//!   share one session store: clients cache a session per host and port.
//!
//! The lab ends with [`Lab::shutdown`] or when it is dropped (listeners stop accepting; the
//! connections still open end after the request they serve). A BMC closes a connection
//! idle for [`IDLE_CONNECTION`], as real BMCs do.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::bmc::{Bmc, Credentials, SessionStore};
use crate::machine::{LabEvent, Machine, PowerDelay};
use crate::profiles::MachineSpec;

/// Where the BMCs listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// Each BMC on its machine's own loopback address, on this port (0: any free port, each
    /// its own).
    PerMachine { port: u16 },
    /// One listener for all, machines routed by the path prefix `/bmc/<name>`.
    SinglePort { addr: SocketAddr },
}

/// How a lab runs.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub bind: Bind,
    /// The user every BMC accepts.
    pub credentials: Credentials,
    /// How long power changes take.
    pub power_delay: PowerDelay,
    /// Emulate the vendor quirks ferric's driver works around (see [`crate::bmc`]).
    pub vendor_quirks: bool,
}

/// The BMCs' default port, as sushy-tools'.
pub const DEFAULT_PORT: u16 = 8000;

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig { bind: Bind::PerMachine { port: DEFAULT_PORT }, credentials: Credentials::default(), power_delay: PowerDelay::REALISTIC, vendor_quirks: true }
    }
}

/// How to reach one machine's BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `driver_info/redfish_address`: `http://127.0.10.1:8000`, or
    /// `http://127.0.0.1:8000/bmc/<name>/redfish/v1` behind a single port.
    pub redfish_address: String,
    /// `driver_info/redfish_system_id`: the ComputerSystem's path.
    pub system_path: String,
    /// The socket that serves it.
    pub listen: SocketAddr,
}

/// A running lab.
pub struct Lab {
    machines: Vec<Arc<Machine>>,
    endpoints: Vec<Endpoint>,
    credentials: Credentials,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn serve_one(State(bmc): State<Arc<Bmc>>, req: Request<Body>) -> Response {
    bmc.handle(req).await
}

async fn serve_routed(State(bmcs): State<Arc<HashMap<String, Arc<Bmc>>>>, req: Request<Body>) -> Response {
    let name = req.uri().path().strip_prefix("/bmc/").and_then(|r| r.split('/').next()).unwrap_or("");
    match bmcs.get(name) {
        Some(b) => b.handle(req).await,
        None => unknown_bmc(req.uri().path()),
    }
}

fn unknown_bmc(path: &str) -> Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"error": {"code": "Base.1.15.ResourceNotFound", "message": format!("No BMC serves '{path}': BMCs are under /bmc/<machine name>/redfish/v1."),
        "@Message.ExtendedInfo": [{"MessageId": "Base.1.15.ResourceNotFound", "Message": format!("The requested resource of type Resource named '{path}' was not found."), "MessageArgs": ["Resource", path]}]}});
    (axum::http::StatusCode::NOT_FOUND, [("Content-Type", "application/json; charset=utf-8")], body.to_string()).into_response()
}

/// How long a BMC keeps an idle connection open. Real BMCs close idle connections after a
/// few seconds (they have few to give); the lab's did not, so a conductor's connection pool
/// kept one open to every BMC, and 10,000 BMCs on their own addresses needed more than
/// 20,000 file descriptors (listeners and connections).
pub const IDLE_CONNECTION: Duration = Duration::from_secs(5);

/// Serve a listener's BMC(s) over HTTP/1.1 until `stop`, as `axum::serve` does, except that
/// a connection waiting for its next request is closed after [`IDLE_CONNECTION`] (hyper's
/// header-read timeout runs from the moment a connection waits for a request).
async fn serve_bmcs(listener: tokio::net::TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "lab BMC cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(IDLE_CONNECTION);
            let mut conn = std::pin::pin!(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn listen_error(addr: SocketAddr, e: io::Error) -> io::Error {
    let hint = if e.raw_os_error() == Some(24) { " (too many open files: raise the limit, ulimit -n)" } else { "" };
    io::Error::new(e.kind(), format!("lab BMC cannot listen on {addr}: {e}{hint}"))
}

impl Lab {
    /// Start a BMC for every spec (machine `i` is `specs[i]`, off, with no boot override)
    /// and return the lab and the receiver of its machines' events.
    pub async fn start(specs: Vec<MachineSpec>, config: LabConfig) -> io::Result<(Lab, mpsc::UnboundedReceiver<LabEvent>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let credentials = Arc::new(config.credentials.clone());
        let machines: Vec<Arc<Machine>> = specs.into_iter().enumerate().map(|(i, s)| Arc::new(Machine::new(i, s, config.power_delay, tx.clone()))).collect();
        drop(tx);
        let mut lab = Lab { machines, endpoints: Vec::new(), credentials: config.credentials.clone(), stop, tasks: Vec::new() };
        match config.bind {
            Bind::PerMachine { port } => {
                for m in &lab.machines {
                    let addr = SocketAddr::from((m.spec.bmc.address, port));
                    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| listen_error(addr, e))?;
                    let local = listener.local_addr()?;
                    let bmc = Arc::new(Bmc::new(m.clone(), String::new(), credentials.clone(), Arc::new(SessionStore::new()), config.vendor_quirks));
                    lab.endpoints.push(Endpoint { redfish_address: format!("http://{local}"), system_path: bmc.system_path(), listen: local });
                    let app = Router::new().fallback(serve_one).with_state(bmc);
                    lab.tasks.push(tokio::spawn(serve_bmcs(listener, app, stopped.clone())));
                }
            }
            Bind::SinglePort { addr } => {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| listen_error(addr, e))?;
                let local = listener.local_addr()?;
                let mut map = HashMap::with_capacity(lab.machines.len());
                let sessions = Arc::new(SessionStore::new());
                for m in &lab.machines {
                    let prefix = format!("/bmc/{}", m.spec.name);
                    let bmc = Arc::new(Bmc::new(m.clone(), prefix, credentials.clone(), sessions.clone(), config.vendor_quirks));
                    lab.endpoints.push(Endpoint { redfish_address: format!("http://{local}{}", bmc.root()), system_path: bmc.system_path(), listen: local });
                    if map.insert(m.spec.name.clone(), bmc).is_some() {
                        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("two machines are named {}", m.spec.name)));
                    }
                }
                let app = Router::new().fallback(serve_routed).with_state(Arc::new(map));
                lab.tasks.push(tokio::spawn(serve_bmcs(listener, app, stopped.clone())));
            }
        }
        tracing::info!(machines = lab.machines.len(), "lab BMCs listening");
        Ok((lab, rx))
    }

    pub fn len(&self) -> usize {
        self.machines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.machines.is_empty()
    }

    pub fn machines(&self) -> &[Arc<Machine>] {
        &self.machines
    }

    pub fn machine(&self, i: usize) -> &Arc<Machine> {
        &self.machines[i]
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn endpoint(&self, i: usize) -> &Endpoint {
        &self.endpoints[i]
    }

    /// The `driver_info` of machine `i` for the `redfish` driver.
    pub fn driver_info(&self, i: usize) -> Map<String, Value> {
        let e = &self.endpoints[i];
        let mut m = Map::new();
        m.insert("redfish_address".into(), e.redfish_address.clone().into());
        m.insert("redfish_system_id".into(), e.system_path.clone().into());
        m.insert("redfish_username".into(), self.credentials.username.clone().into());
        m.insert("redfish_password".into(), self.credentials.password.clone().into());
        m
    }

    /// The machine whose BMC has this address (PerMachine).
    pub fn by_bmc_address(&self, addr: Ipv4Addr) -> Option<&Arc<Machine>> {
        self.machines.iter().find(|m| m.spec.bmc.address == addr)
    }

    /// Stop every listener and wait until they stopped (open connections are closed once
    /// idle).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
