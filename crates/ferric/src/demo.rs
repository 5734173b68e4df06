//! `ferric demo` and `ferric lab`.
//!
//! `ferric demo` is the whole flow on one machine: it starts `ferric serve` (its own data
//! directory, embedded SQLite, the boot server on), a lab of simulated servers whose Redfish
//! BMCs ferric serves on loopback, enrolls them through the public API with the `redfish`
//! driver and the `agent` inspect interface, manages them, bulk-inspects them (the machines
//! really network-boot: iPXE script from the boot server, kernel and ramdisk fetched, the real
//! agent code on each machine's hardware tree), and ends with a fleet table whose last column
//! says whether what ferric stored matches the simulated hardware.
//!
//! `ferric lab` runs the lab alone against a ferric that is already running.

use ferric_lab::host::{spawn_hosts, HostConfig, HostEvent};
use ferric_lab::lab::{Bind, Lab, LabConfig};
use ferric_lab::machine::{Machine, PowerDelay};
use ferric_cli::OutputFormat;
use ferric_lab::profiles::{fleet, MachineSpec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many simulated servers.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub nodes: u64,
    /// Data directory (default: a new one under the system's temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The API's address.
    #[arg(long, default_value = "127.0.0.1:6385")]
    pub listen: String,
    /// The boot server's address.
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub pxe_listen: String,
    /// Also serve TFTP here (UDP); in QEMU mode the VMs then get `boot.ipxe` over TFTP.
    #[arg(long)]
    pub tftp_listen: Option<String>,
    #[command(flatten)]
    pub sim: SimOpts,
    #[command(flatten)]
    pub qemu: QemuOpts,
    /// QEMU mode: the agent's kernel (default: lab/ramdisk/out/vmlinuz, from lab/ramdisk/build.sh).
    #[arg(long, requires = "qemu")]
    pub kernel: Option<PathBuf>,
    /// QEMU mode: the agent's ramdisk (default: lab/ramdisk/out/initramfs.gz).
    #[arg(long, requires = "qemu")]
    pub ramdisk: Option<PathBuf>,
    /// Leave everything running at the end (for the `baremetal` CLI), until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[arg(short = 'f', long = "format", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(clap::Args)]
pub struct LabArgs {
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub nodes: u64,
    /// The boot server the machines network-boot from (`[pxe] http_url` of a running ferric).
    #[arg(long, default_value = "http://127.0.0.1:8088")]
    pub boot_url: String,
    /// QEMU mode: the boot server's TFTP (`[pxe] tftp_listen`), e.g. tftp://127.0.0.1:6969:
    /// the VMs then get `boot.ipxe` over TFTP.
    #[arg(long, requires = "qemu")]
    pub tftp_url: Option<String>,
    #[command(flatten)]
    pub sim: SimOpts,
    /// Where the machines' hardware trees go (default: /dev/shm when it exists).
    #[arg(long)]
    pub trees: Option<PathBuf>,
    #[command(flatten)]
    pub qemu: QemuOpts,
    #[arg(short = 'f', long = "format", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// How the simulated machines behave (both commands).
#[derive(clap::Args)]
pub struct SimOpts {
    /// Seconds a simulated machine takes from power-on to running the agent (0 for benchmarks).
    #[arg(long, default_value_t = 1.0)]
    pub boot_delay: f64,
    /// Power changes take a realistic 0.5-2 s on the virtual BMCs; this makes them instant.
    #[arg(long)]
    pub instant_power: bool,
    /// The fleet's seed (same seed, same machines).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// QEMU mode (both commands): real VMs instead of simulated machines.
#[derive(clap::Args)]
pub struct QemuOpts {
    /// Run this many real QEMU VMs (TCG) instead of simulated servers: they network-boot
    /// through their NIC's iPXE ROM from the boot server (reached as 10.0.2.2 from the VMs)
    /// and run the static agent in the ramdisk. About 250 MiB and one core's worth of CPU
    /// each while they run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    pub qemu: Option<u64>,
    /// The QEMU binary.
    #[arg(long, default_value = "qemu-system-x86_64", requires = "qemu")]
    pub qemu_binary: PathBuf,
    /// QEMU mode: where the VMs' disks, consoles, QMP sockets and command lines go (default:
    /// a new directory; the demo's is `<data dir>/qemu`).
    #[arg(long, requires = "qemu")]
    pub qemu_work: Option<PathBuf>,
}

/// What drives the lab's machines: simulated hosts or QEMU VMs.
enum Hosts {
    Simulated(tokio::task::JoinHandle<()>),
    Qemu(ferric_lab::qemu::QemuHosts),
}

impl Hosts {
    async fn stop(self) {
        match self {
            Hosts::Simulated(h) => h.abort(),
            Hosts::Qemu(q) => q.shutdown().await,
        }
    }
}

/// The lab of `n` QEMU VMs, booting from `boot_url` (and `tftp_url`), given as the host
/// reaches them: the VMs get the 10.0.2.2 forms.
async fn start_qemu(
    n: u64,
    seed: u64,
    qemu: &QemuOpts,
    boot_url: String,
    tftp_url: Option<String>,
    work: PathBuf,
    report: Option<tokio::sync::mpsc::UnboundedSender<ferric_lab::qemu::QemuEvent>>,
) -> Result<(Lab, Hosts), String> {
    let specs: Vec<MachineSpec> = (0..n as usize).map(|i| MachineSpec::generate(ferric_lab::Profile::Qemu, i, seed)).collect();
    // A VM takes its own time to boot and stop: the BMC applies power changes at once.
    let config = LabConfig { bind: Bind::PerMachine { port: ferric_lab::lab::DEFAULT_PORT }, power_delay: PowerDelay::ZERO, ..Default::default() };
    let (lab, events) = Lab::start(specs, config).await.map_err(|e| format!("cannot start the lab: {e}"))?;
    let cfg = ferric_lab::qemu::QemuConfig { qemu: qemu.qemu_binary.clone(), boot_url: as_seen_from_qemu(&boot_url), tftp_url: tftp_url.map(|u| as_seen_from_qemu(&u)), work };
    let hosts = ferric_lab::qemu::spawn_qemu_hosts(lab.machines().to_vec(), events, cfg, report);
    Ok((lab, Hosts::Qemu(hosts)))
}

/// The boot server's URL as a QEMU VM reaches it: slirp's 10.0.2.2 is the host's 127.0.0.1.
fn as_seen_from_qemu(url: &str) -> String {
    url.replacen("://127.0.0.1", "://10.0.2.2", 1).replacen("://localhost", "://10.0.2.2", 1)
}

impl SimOpts {
    /// The lab of `nodes` machines and their hosts, booting from `boot_url`.
    async fn start(
        &self,
        nodes: u64,
        boot_url: String,
        trees: PathBuf,
        report: Option<tokio::sync::mpsc::UnboundedSender<HostEvent>>,
    ) -> Result<(Lab, tokio::task::JoinHandle<()>), String> {
        let config = LabConfig {
            bind: Bind::PerMachine { port: ferric_lab::lab::DEFAULT_PORT },
            power_delay: if self.instant_power { PowerDelay::ZERO } else { PowerDelay::REALISTIC },
            ..Default::default()
        };
        let (lab, events) = Lab::start(fleet(nodes as usize, self.seed), config).await.map_err(|e| format!("cannot start the lab: {e}"))?;
        let boot_delay = Duration::from_secs_f64(self.boot_delay.max(0.0));
        let hosts = spawn_hosts(lab.machines().to_vec(), events, HostConfig { boot_url, trees, boot_delay }, report);
        Ok((lab, hosts))
    }
}

fn trees_dir(base: Option<PathBuf>, fallback: &Path) -> PathBuf {
    base.unwrap_or_else(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            shm.join(format!("ferric-lab-{}", std::process::id()))
        } else {
            fallback.join("trees")
        }
    })
}

/// `ferric lab`: the simulated machines and their BMCs, until Ctrl-C.
pub async fn lab(a: LabArgs) -> Result<(), String> {
    let trees = trees_dir(a.trees, &std::env::temp_dir());
    let (lab, hosts) = match a.qemu.qemu {
        Some(n) => {
            let work = a.qemu.qemu_work.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("ferric-lab-qemu-{}", std::process::id())));
            start_qemu(n, a.sim.seed, &a.qemu, a.boot_url.clone(), a.tftp_url.clone(), work, None).await?
        }
        None => {
            let (lab, h) = a.sim.start(a.nodes, a.boot_url.clone(), trees.clone(), None).await?;
            (lab, Hosts::Simulated(h))
        }
    };
    let rows: Vec<Value> = (0..lab.len())
        .map(|i| {
            let m = lab.machine(i);
            json!({"name": m.spec.name, "profile": m.spec.profile.name(), "pxe_mac": m.spec.pxe_mac(), "driver_info": lab.driver_info(i), "spec": m.spec})
        })
        .collect();
    if a.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        let mut t = ferric_cli::output::new_table(&["Machine", "Profile", "PXE MAC", "redfish_address", "redfish_system_id"]);
        for r in &rows {
            t.add_row(vec![
                r["name"].as_str().unwrap_or("").to_string(),
                r["profile"].as_str().unwrap_or("").to_string(),
                r["pxe_mac"].as_str().unwrap_or("").to_string(),
                r["driver_info"]["redfish_address"].as_str().unwrap_or("").to_string(),
                r["driver_info"]["redfish_system_id"].as_str().unwrap_or("").to_string(),
            ]);
        }
        println!("{t}");
        let boot = if a.qemu.qemu.is_some() { as_seen_from_qemu(&a.boot_url) } else { a.boot_url.clone() };
        eprintln!("{} machines; BMC user admin / password; booting from {boot}. Ctrl-C stops.", lab.len());
    }
    let _ = tokio::signal::ctrl_c().await;
    hosts.stop().await;
    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&trees);
    Ok(())
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

/// What a busy server refuses only for now is asked again, as an operator's tool should: 503
/// (no free conductor worker, e.g. thousands of verifications queued) and 409 node locked,
/// after 50 ms, doubling up to 2 s, 40 times at most (about a minute per request).
const RETRY: ferric_cli::client::RetryPolicy =
    ferric_cli::client::RetryPolicy { max_retries: 40, base_delay: Duration::from_millis(50), max_delay: Duration::from_secs(2) };

/// Requests in flight at once when the demo enrolls nodes or reads their inventories.
const IN_FLIGHT: usize = 8;

/// Up to this many nodes the fleet table has a row per node; above, a summary per profile.
const TABLE_ROWS: usize = 50;

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url).header("X-OpenStack-Ironic-API-Version", "1.96");
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| format!("{method} {url}: {e}"))?;
            if status.is_success() {
                return Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) });
            }
            let message = ferric_cli::error::decode_error_body(&text).unwrap_or(text);
            if retry < RETRY.max_retries && ferric_cli::client::is_retriable(status.as_u16(), &message) {
                tokio::time::sleep(RETRY.delay(retry)).await;
                retry += 1;
                continue;
            }
            return Err(format!("{method} {url}: {status}: {message}"));
        }
    }

    /// Every node matching `query` (`fields` only), page after page: a page holds at most
    /// `[api] max_limit`.
    async fn all_nodes(&self, query: &str, fields: &str) -> Result<Vec<Value>, String> {
        let mut nodes: Vec<Value> = Vec::new();
        loop {
            let marker = nodes.last().and_then(|n| n["uuid"].as_str()).map(|u| format!("&marker={u}")).unwrap_or_default();
            let page = self.call(reqwest::Method::GET, &format!("/v1/nodes?{query}fields=uuid,{fields}&limit=1000{marker}"), None).await?;
            let page = page["nodes"].as_array().cloned().unwrap_or_default();
            let last = page.len() < 1000;
            nodes.extend(page);
            if last {
                return Ok(nodes);
            }
        }
    }

    /// Enroll a lab machine with its BMC's `driver_info` (node, PXE port) and ask for
    /// `manage`; its UUID.
    async fn enroll(&self, m: &Machine, driver_info: serde_json::Map<String, Value>) -> Result<String, String> {
        let body = json!({"name": m.spec.name, "driver": "redfish", "inspect_interface": "agent", "driver_info": driver_info,
                          "resource_class": m.spec.profile.name()});
        let node = self.call(reqwest::Method::POST, "/v1/nodes", Some(body)).await?;
        let uuid = node["uuid"].as_str().unwrap_or_default().to_string();
        self.call(reqwest::Method::POST, "/v1/ports", Some(json!({"address": m.spec.pxe_mac(), "node_uuid": uuid, "pxe_enabled": true}))).await?;
        self.call(reqwest::Method::PUT, &format!("/v1/nodes/{uuid}/states/provision"), Some(json!({"target": "manage"}))).await?;
        Ok(uuid)
    }
}

/// Run `work(i)` for every `i` in `0..n`, at most [`IN_FLIGHT`] at a time; the results in
/// order of `i`. The first error stops it. `done` is called once per finished item.
async fn each<T, F, Fut>(n: usize, work: F, done: impl Fn()) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < IN_FLIGHT {
            let f = work(next);
            let i = next;
            running.spawn(async move { (i, f.await) });
            next += 1;
        }
        if let Some(r) = running.join_next().await {
            let (i, r) = r.map_err(|e| format!("a demo task failed: {e}"))?;
            out[i] = Some(r?);
            done();
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// How often the demo polls the server while it waits: more seldom for a large fleet, whose
/// answers cost the server more.
fn poll_interval(n: u64) -> Duration {
    Duration::from_millis((n / 10).clamp(200, 1000))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let b = ProgressBar::with_draw_target(Some(len), target);
    b.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {what:<10} [{{bar:30}}] {{pos}}/{{len}} {{msg}} [{{elapsed}}]"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        // SIGTERM: ferric flushes its store and stops its listeners.
        // SAFETY: kill(2) on our own child's pid, with a valid signal number.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether what ferric stored for a node matches its machine: CPUs, memory, disks, NICs,
/// the system serial. Mismatches are named.
fn mismatches(spec: &MachineSpec, node: &Value, inv: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let p = &node["properties"];
    let want_cpus = spec.cpu.logical() as u64;
    if p["cpus"].as_u64() != Some(want_cpus) {
        out.push(format!("cpus {} != {want_cpus}", p["cpus"]));
    }
    if p["memory_mb"].as_u64() != Some(spec.memory_mib()) {
        out.push(format!("memory_mb {} != {}", p["memory_mb"], spec.memory_mib()));
    }
    let disks = inv["inventory"]["disks"].as_array().map(Vec::len).unwrap_or(0);
    if disks != spec.disks.len() {
        out.push(format!("{disks} disks != {}", spec.disks.len()));
    }
    let mut got: Vec<String> = inv["inventory"]["disks"].as_array().into_iter().flatten().filter_map(|d| d["serial"].as_str().map(str::to_string)).collect();
    let mut want: Vec<String> = spec.disks.iter().map(|d| d.serial.clone()).collect();
    got.sort();
    want.sort();
    if got != want {
        out.push("disk serials differ".into());
    }
    for d in &spec.disks {
        let found = inv["inventory"]["disks"].as_array().into_iter().flatten().find(|x| x["serial"].as_str() == Some(d.serial.as_str()));
        if let Some(size) = found.and_then(|x| x["size"].as_u64()).filter(|s| *s != d.size_bytes) {
            out.push(format!("disk {} is {size} bytes, not {}", d.serial, d.size_bytes));
        }
    }
    let mut macs: Vec<String> = inv["inventory"]["interfaces"].as_array().into_iter().flatten().filter_map(|i| i["mac_address"].as_str().map(str::to_string)).collect();
    let mut want_macs: Vec<String> = spec.nics.iter().map(|n| n.mac.to_ascii_lowercase()).collect();
    macs.sort();
    want_macs.sort();
    if macs != want_macs {
        out.push(format!("NICs {macs:?} != {want_macs:?}"));
    }
    if inv["inventory"]["system_vendor"]["serial_number"].as_str() != Some(spec.system.serial.as_ref()) {
        out.push(format!("serial {} != {}", inv["inventory"]["system_vendor"]["serial_number"], spec.system.serial));
    }
    out
}

pub async fn demo(a: DemoArgs) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.timeout);
    let data = match &a.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ferric-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let qemu = a.qemu.qemu;
    let (kernel, ramdisk) = if qemu.is_some() {
        // QEMU mode: the VMs really boot these.
        let k = a.kernel.clone().unwrap_or_else(|| PathBuf::from("lab/ramdisk/out/vmlinuz"));
        let r = a.ramdisk.clone().unwrap_or_else(|| PathBuf::from("lab/ramdisk/out/initramfs.gz"));
        for f in [&k, &r] {
            if !f.is_file() {
                return Err(format!("{} is missing: build the agent's kernel and ramdisk with lab/ramdisk/build.sh (see README), or give --kernel and --ramdisk", f.display()));
            }
        }
        let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        (abs(k), abs(r))
    } else {
        // The boot server needs images to name; the simulated machines fetch but never run them.
        let images = data.join("images");
        std::fs::create_dir_all(&images).map_err(|e| e.to_string())?;
        std::fs::write(images.join("kernel"), b"ferric demo: a simulated machine's kernel\n").map_err(|e| e.to_string())?;
        std::fs::write(images.join("ramdisk"), b"ferric demo: a simulated machine's ramdisk\n").map_err(|e| e.to_string())?;
        (images.join("kernel"), images.join("ramdisk"))
    };
    // QEMU's VMs reach the host's loopback as 10.0.2.2; the agent's console on the serial port.
    let qemu_pxe = if qemu.is_some() {
        format!(
            "http_url = \"{}\"\napi_url = \"{}\"\nkernel_append_params = \"nofb vga=normal console=ttyS0 panic=-1\"\n",
            as_seen_from_qemu(&format!("http://{}", a.pxe_listen)),
            as_seen_from_qemu(&format!("http://{}", a.listen))
        )
    } else {
        String::new()
    };
    let config = format!(
        r#"[server]
listen = "{listen}"
data_dir = "{data}"

[api]
# Every simulated machine reports from 127.0.0.1: a per-address limit would throttle the lab.
callback_rate_per_minute = 0

[inspector]
listen = ""
hooks = "$default_hooks,cpus,memory,root-device,boot-mode,parse-lldp,local-link-connection"

[pxe]
listen = "{pxe}"
kernel = "{kernel}"
ramdisk = "{ramdisk}"
ipa_inspection_collectors = "{collectors}"
{qemu_pxe}{tftp}"#,
        listen = a.listen,
        data = data.join("db").display(),
        pxe = a.pxe_listen,
        kernel = kernel.display(),
        ramdisk = ramdisk.display(),
        // No switch behind a VM's slirp NIC: no LLDP to wait for.
        collectors = if qemu.is_some() { "default" } else { "default,lldp" },
        tftp = a.tftp_listen.as_ref().map(|l| format!("tftp_listen = \"{l}\"\n")).unwrap_or_default(),
    );
    let cfg_path = data.join("ferric.toml");
    std::fs::write(&cfg_path, config).map_err(|e| e.to_string())?;
    let log_path = data.join("ferric.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start ferric serve: {e}"))?;
    let mut child = Child(child);
    let api = Api { http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?, base: format!("http://{}", a.listen) };
    let mut up = false;
    for _ in 0..200 {
        if api.call(reqwest::Method::GET, "/", None).await.is_ok() {
            up = true;
            break;
        }
        if let Ok(Some(st)) = child.0.try_wait() {
            return Err(format!("ferric serve exited ({st}); see {}", log_path.display()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return Err(format!("ferric serve did not answer on {}; see {}", a.listen, log_path.display()));
    }
    eprintln!("ferric serve: API http://{}, boot server http://{}, data in {}", a.listen, a.pxe_listen, data.display());

    let trees = trees_dir(None, &data);
    let (htx, mut hrx) = tokio::sync::mpsc::unbounded_channel();
    let (qtx, mut qrx) = tokio::sync::mpsc::unbounded_channel();
    let (lab, hosts) = match qemu {
        Some(n) => {
            let work = a.qemu.qemu_work.clone().unwrap_or_else(|| data.join("qemu"));
            let tftp = a.tftp_listen.as_ref().map(|l| format!("tftp://{l}"));
            let r = start_qemu(n, a.sim.seed, &a.qemu, format!("http://{}", a.pxe_listen), tftp, work.clone(), Some(qtx)).await?;
            eprintln!("lab: {} QEMU VMs (TCG), each with a Redfish BMC on its own loopback address; consoles and disks in {}", r.0.len(), work.display());
            r
        }
        None => {
            drop(qtx);
            let (lab, h) = a.sim.start(a.nodes, format!("http://{}", a.pxe_listen), trees.clone(), Some(htx)).await?;
            eprintln!("lab: {} simulated servers, each with a Redfish BMC on its own loopback address", lab.len());
            (lab, Hosts::Simulated(h))
        }
    };

    // Enroll and manage (verifying talks to every BMC), a few nodes at a time.
    let n = lab.len() as u64;
    let b = bar(n, "enroll");
    let uuids = each(
        lab.len(),
        |i| {
            let (api, m, driver_info) = (api.clone(), lab.machine(i).clone(), lab.driver_info(i));
            async move { api.enroll(&m, driver_info).await }
        },
        || b.inc(1),
    )
    .await?;
    b.finish_and_clear();
    let b = bar(n, "manage");
    loop {
        let verifying = api.all_nodes("provision_state=verifying&", "name").await?.len() as u64;
        b.set_position(n - verifying.min(n));
        if verifying == 0 {
            // A failed verification goes back to enroll with the reason.
            let bad: Vec<String> = api
                .all_nodes("provision_state=enroll&", "last_error")
                .await?
                .iter()
                .map(|x| format!("{}: {}", x["uuid"], x["last_error"]))
                .collect();
            b.finish_and_clear();
            if !bad.is_empty() {
                return Err(format!("{} nodes failed to manage: {}", bad.len(), bad.join("; ")));
            }
            break;
        }
        if Instant::now() > deadline {
            return Err("timed out waiting for the nodes to become manageable".into());
        }
        tokio::time::sleep(poll_interval(n)).await;
    }
    let enrolled = started.elapsed();
    // Inspect: one bulk inspection; the machines network-boot the agent.
    let t_inspect = Instant::now();
    let job = api.call(reqwest::Method::POST, "/v1/bulk_inspections", Some(json!({"concurrency": n.min(100)}))).await?;
    let job_uuid = job["uuid"].as_str().unwrap_or_default().to_string();
    let b = bar(n, "inspect");
    let mut booted = 0u64;
    let job = loop {
        while let Ok(e) = hrx.try_recv() {
            if let HostEvent::AgentStarted { .. } = e {
                booted += 1;
            }
        }
        while let Ok(e) = qrx.try_recv() {
            if let ferric_lab::qemu::QemuEvent::Started { .. } = e {
                booted += 1;
            }
        }
        let job = api.call(reqwest::Method::GET, &format!("/v1/bulk_inspections/{job_uuid}"), None).await?;
        let c = &job["counts"];
        let k = |s: &str| c[s].as_u64().unwrap_or(0);
        b.set_position(k("done") + k("failed"));
        let what = if qemu.is_some() { "VMs started" } else { "agents booted" };
        b.set_message(format!("{} inspecting, {booted} {what}, {} failed", k("inspecting"), k("failed")));
        if job["state"] == "finished" {
            break job;
        }
        if Instant::now() > deadline {
            return Err("timed out waiting for the bulk inspection".into());
        }
        tokio::time::sleep(poll_interval(n)).await;
    };
    b.finish_and_clear();
    let inspected = t_inspect.elapsed();

    // The fleet, checked against the simulated hardware: the nodes in one paged list, the
    // inventories a few at a time.
    let b = bar(n, "check");
    let mut listed: std::collections::HashMap<String, Value> = api
        .all_nodes("", "provision_state,properties")
        .await?
        .into_iter()
        .map(|x| (x["uuid"].as_str().unwrap_or_default().to_string(), x))
        .collect();
    let inventories = each(
        uuids.len(),
        |i| {
            let (api, uuid) = (api.clone(), uuids[i].clone());
            async move { Ok(api.call(reqwest::Method::GET, &format!("/v1/nodes/{uuid}/inventory"), None).await.unwrap_or(Value::Null)) }
        },
        || b.inc(1),
    )
    .await?;
    b.finish_and_clear();
    let items: std::collections::HashMap<&str, &Value> = job["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| Some((x["node_uuid"].as_str()?, x)))
        .collect();
    let mut rows = Vec::new();
    let mut bad = 0;
    for (i, (uuid, inv)) in uuids.iter().zip(&inventories).enumerate() {
        let spec = &lab.machine(i).spec;
        let node = listed.remove(uuid).unwrap_or(Value::Null);
        let item = items.get(uuid.as_str()).copied().cloned().unwrap_or(Value::Null);
        let mut problems = mismatches(spec, &node, inv);
        if node["provision_state"] != "manageable" {
            problems.insert(0, format!("state {}", node["provision_state"]));
        }
        if !problems.is_empty() {
            bad += 1;
        }
        let root = &inv["plugin_data"]["root_disk"];
        rows.push(json!({
            "name": spec.name,
            "profile": spec.profile.name(),
            "provision_state": node["provision_state"],
            "cpus": node["properties"]["cpus"],
            "memory_mb": node["properties"]["memory_mb"],
            "disks": inv["inventory"]["disks"].as_array().map(Vec::len),
            "nics": inv["inventory"]["interfaces"].as_array().map(Vec::len),
            "root_disk": if root.is_object() { json!({"name": root["name"], "size": root["size"]}) } else { Value::Null },
            "error": item["error"],
            "matches": problems.is_empty(),
            "mismatches": problems,
        }));
    }
    let total = started.elapsed();
    if a.format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"nodes": rows, "enroll_and_manage_seconds": enrolled.as_secs_f64(),
                "inspection_seconds": inspected.as_secs_f64(), "total_seconds": total.as_secs_f64(), "mismatched": bad}))
            .unwrap_or_default()
        );
    } else {
        let mut t = ferric_cli::output::new_table(&["Node", "Profile", "State", "CPUs", "RAM (GiB)", "Disks", "NICs", "Root disk", "Matches hardware"]);
        let s = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(x) => x.clone(),
            o => o.to_string(),
        };
        // A large fleet: a line per profile, then the rows that do not match (if any).
        let shown: Vec<&Value> = if rows.len() <= TABLE_ROWS {
            rows.iter().collect()
        } else {
            let mut per_profile: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
            for r in &rows {
                let e = per_profile.entry(s(&r["profile"])).or_default();
                e.0 += 1;
                e.1 += usize::from(r["provision_state"] == "manageable");
                e.2 += usize::from(r["matches"] == true);
            }
            let mut p = ferric_cli::output::new_table(&["Profile", "Nodes", "Manageable", "Match hardware"]);
            for (profile, (nodes, manageable, matching)) in per_profile {
                p.add_row(vec![profile, nodes.to_string(), manageable.to_string(), matching.to_string()]);
            }
            println!("{p}");
            let wrong: Vec<&Value> = rows.iter().filter(|r| r["matches"] != true).collect();
            if wrong.len() > TABLE_ROWS {
                eprintln!("{} nodes do not match their hardware; the first {TABLE_ROWS}:", wrong.len());
            }
            wrong.into_iter().take(TABLE_ROWS).collect()
        };
        for r in &shown {
            let root = if r["root_disk"].is_object() {
                format!("{} ({} GiB)", s(&r["root_disk"]["name"]), r["root_disk"]["size"].as_u64().unwrap_or(0) >> 30)
            } else {
                "-".into()
            };
            let mem = r["memory_mb"].as_u64().map(|m| if m % 1024 == 0 { (m / 1024).to_string() } else { format!("{:.2}", m as f64 / 1024.0) }).unwrap_or("-".into());
            let ok = if r["matches"] == true { "yes".to_string() } else { format!("NO: {}", r["mismatches"].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default()) };
            t.add_row(vec![s(&r["name"]), s(&r["profile"]), s(&r["provision_state"]), s(&r["cpus"]), mem, s(&r["disks"]), s(&r["nics"]), root, ok]);
        }
        if !shown.is_empty() {
            println!("{t}");
        }
        eprintln!(
            "{} servers enrolled and managed in {:.1} s, inspected in {:.1} s over the network boot; {} match their hardware; {:.1} s in all",
            rows.len(),
            enrolled.as_secs_f64(),
            inspected.as_secs_f64(),
            rows.len() - bad,
            total.as_secs_f64()
        );
    }
    if a.keep_running {
        eprintln!(
            "Still running. Try:\n  export OS_ENDPOINT=http://{} OS_AUTH_TYPE=none\n  baremetal node list\nCtrl-C stops the demo.",
            a.listen
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    hosts.stop().await;
    lab.shutdown().await;
    drop(child);
    let _ = std::fs::remove_dir_all(&trees);
    if a.data_dir.is_none() && !a.keep_running {
        let _ = std::fs::remove_dir_all(&data);
    }
    if bad > 0 {
        return Err(format!("{bad} of {} nodes do not match their simulated hardware", rows.len()));
    }
    Ok(())
}
