//! A lab of many machines: every BMC on its own address answers, and (ignored, run by hand)
//! how long 1,000 and 10,000 BMCs take to start, how much memory they hold and how fast they
//! answer:
//!
//! ```sh
//! cargo test -p ferric-lab --test scale -- --ignored --nocapture --test-threads=1
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferric_core::{Node, PowerState as Power};
use ferric_drivers::Registry;
use ferric_lab::{fleet, Bind, Lab, LabConfig, LabEvent, PowerDelay};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// GET the system of every BMC (basic auth, a new connection each), `parallel` at a time.
async fn sweep(lab: &Lab, parallel: usize) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for e in lab.endpoints() {
        let (addr, path) = (e.listen, e.system_path.clone());
        let permit = sem.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let _p = permit;
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            assert!(buf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..buf.len().min(200)]));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

#[tokio::test]
async fn two_hundred_bmcs_each_on_its_own_address() {
    let (lab, mut rx) = Lab::start(fleet(200, 3), LabConfig { bind: Bind::PerMachine { port: 0 }, power_delay: PowerDelay::ZERO, ..Default::default() }).await.unwrap();
    let addrs: std::collections::HashSet<_> = lab.endpoints().iter().map(|e| e.listen.ip()).collect();
    assert_eq!(addrs.len(), 200);
    assert!(lab.endpoints().iter().zip(lab.machines()).all(|(e, m)| e.listen.ip() == m.spec.bmc.address));
    sweep(&lab, 16).await;
    // The driver reaches a few of them, far apart.
    let r = Registry::builtin();
    for i in [0, 57, 199] {
        let mut n = Node { uuid: format!("5ca1e000-0000-4000-8000-{i:012}"), driver: "redfish".into(), ..Default::default() };
        n.driver_info = lab.driver_info(i);
        let d = r.driver_for(&n).unwrap();
        d.management.set_boot_device(&n, "pxe", false).await.unwrap();
        assert_eq!(d.power.set_power_state(&n, Power::On, None).await.unwrap(), Power::On);
        assert_eq!(rx.recv().await.unwrap(), LabEvent::NetBoot { machine: i, mac: lab.machine(i).spec.pxe_mac().to_string() });
    }
    assert_eq!(lab.by_bmc_address(lab.machine(57).spec.bmc.address).unwrap().index, 57);
}

async fn measure(n: usize, bind: Bind) {
    let base = rss_kib();
    let started = Instant::now();
    let specs = fleet(n, 11);
    let specs_took = started.elapsed();
    let after_specs = rss_kib();
    let started = Instant::now();
    let (lab, _rx) = Lab::start(specs, LabConfig { bind, power_delay: PowerDelay::ZERO, ..Default::default() }).await.unwrap();
    let start_took = started.elapsed();
    let after_start = rss_kib();
    let sweep_took = sweep(&lab, 64).await;
    let after_sweep = rss_kib();
    let mode = match bind {
        Bind::PerMachine { .. } => "one address each",
        Bind::SinglePort { .. } => "one port",
    };
    println!(
        "{n:>6} machines ({mode}): specs {:>6.0} ms, {:>6.1} MiB; lab start {:>7.0} ms, {:>6.1} MiB more ({:.1} KiB per BMC); GET of every system {:>6.0} ms ({:.0}/s); RSS then {:.1} MiB",
        specs_took.as_secs_f64() * 1e3,
        (after_specs - base) as f64 / 1024.0,
        start_took.as_secs_f64() * 1e3,
        (after_start - after_specs) as f64 / 1024.0,
        (after_start - after_specs) as f64 / n as f64,
        sweep_took.as_secs_f64() * 1e3,
        n as f64 / sweep_took.as_secs_f64(),
        after_sweep as f64 / 1024.0,
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn scale_1000_per_machine() {
    measure(1000, Bind::PerMachine { port: 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn scale_10000_per_machine() {
    measure(10_000, Bind::PerMachine { port: 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn scale_1000_single_port() {
    measure(1000, Bind::SinglePort { addr: "127.0.0.1:0".parse().unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn scale_10000_single_port() {
    measure(10_000, Bind::SinglePort { addr: "127.0.0.1:0".parse().unwrap() }).await;
}
