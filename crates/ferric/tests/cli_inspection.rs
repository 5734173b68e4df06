//! The `ferric` binary end to end: `ferric serve` on a real SQLite file, and the operator
//! commands `ferric node bulk-inspect` and `ferric node inventory history|diff` run as
//! processes against it, while this test plays the ramdisks (real inventories posted to
//! `/v1/continue_inspection`).

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferric");

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--data-dir", dir.path().to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--inspector-listen", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Server { child, url, _dir: dir }
}

fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

async fn api(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, format!("{url}{path}")).header("X-OpenStack-Ironic-API-Version", "1.84");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ferric(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["node", "--url", url]).args(args);
    c
}

/// A report with MACs of its own per node.
fn report_for(base: &Value, n: usize) -> Value {
    let mut r = base.clone();
    let pxe = r["inventory"]["boot"]["pxe_interface"].clone();
    let mut new_pxe = pxe.clone();
    for (k, i) in r["inventory"]["interfaces"].as_array_mut().unwrap().iter_mut().enumerate() {
        let mac = json!(format!("52:54:00:{n:02x}:{k:02x}:02"));
        if i["mac_address"] == pxe {
            new_pxe = mac.clone();
        }
        i["mac_address"] = mac;
    }
    r["inventory"]["boot"]["pxe_interface"] = new_pxe;
    r
}

/// Answer every node that waits for its ramdisk, until `until` returns true.
async fn play_ramdisks(url: &str, reports: &[(String, Value)], mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        for (uuid, report) in reports {
            let (_, n) = api(url, reqwest::Method::GET, &format!("/v1/nodes/{uuid}"), None).await;
            if n["provision_state"] == "inspect wait" && n["reservation"].is_null() {
                api(url, reqwest::Method::POST, &format!("/v1/continue_inspection?node_uuid={uuid}"), Some(report.clone())).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test]
async fn bulk_inspect_then_inventory_history_and_diff() {
    let s = serve().await;
    let base = fixture("metal3-inspector-data-kvm-vm.json");
    let mut reports = Vec::new();
    for i in 0..4 {
        let (st, n) = api(&s.url, reqwest::Method::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": format!("r{i}"), "inspect_interface": "agent"}))).await;
        assert_eq!(st, 201, "{n}");
        reports.push((n["uuid"].as_str().unwrap().to_string(), report_for(&base, i)));
    }
    let st = ferric(&s.url, &["manage", "r0", "r1", "r2", "r3", "--wait", "30"]).status().unwrap();
    assert!(st.success());

    // One command inspects the fleet, two at a time; the ramdisks answer meanwhile.
    let child = ferric(&s.url, &["bulk-inspect", "--all", "--concurrency", "2", "--poll-interval", "0.1", "-f", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = finished.clone();
    let url = s.url.clone();
    let reps = reports.clone();
    let player = tokio::spawn(async move { play_ramdisks(&url, &reps, || f2.load(std::sync::atomic::Ordering::Relaxed)).await });
    let out = tokio::time::timeout(Duration::from_secs(60), waiter).await.unwrap_or_else(|_| panic!("bulk-inspect (pid {pid}) hung")).unwrap();
    finished.store(true, std::sync::atomic::Ordering::Relaxed);
    player.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = table["nodes"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let cpus = base["inventory"]["cpu"]["count"].clone();
    let nics = base["inventory"]["interfaces"].as_array().unwrap().len();
    for r in rows {
        assert_eq!((r["status"].as_str(), r["provision_state"].as_str()), (Some("done"), Some("manageable")), "{r}");
        assert_eq!(r["nics"], nics, "{r}");
        assert_eq!(r["cpus"], cpus, "{r}");
        assert!(r["error"].is_null());
    }
    // The table form prints the same fleet.
    let (st, _) = api(&s.url, reqwest::Method::GET, "/v1/bulk_inspections", None).await;
    assert_eq!(st, 200);

    // Inspect r0 again with a disk added; history shows both, diff names the disk.
    let mut changed = reports[0].1.clone();
    changed["inventory"]["disks"].as_array_mut().unwrap().push(json!({"name": "/dev/vdz", "size": 107374182400u64, "serial": "ADDED-DISK-1", "model": "QEMU HARDDISK"}));
    let st = ferric(&s.url, &["inspect", "r0"]).status().unwrap();
    assert!(st.success());
    answer_once(&s.url, &reports[0].0, changed).await;
    for _ in 0..200 {
        let (_, n) = api(&s.url, reqwest::Method::GET, "/v1/nodes/r0", None).await;
        if n["provision_state"] == "manageable" && n["reservation"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = ferric(&s.url, &["inventory", "history", "r0", "-f", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hist: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hist.as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect::<Vec<_>>(), ["finished", "finished"]);
    let out = ferric(&s.url, &["inventory", "diff", "r0"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("disk ADDED-DISK-1 added (/dev/vdz, 107 GB, QEMU HARDDISK)"), "{text}");
    assert_eq!(text.matches(" added (").count() + text.matches(" removed (").count() + text.matches("| changed").count(), 1, "only the disk changed: {text}");
    let out = ferric(&s.url, &["inventory", "diff", "r1"]).output().unwrap();
    assert!(!out.status.success(), "one inspection only: nothing to compare");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no finished inspection before"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Wait for the node to wait for its ramdisk, then post its report once.
async fn answer_once(url: &str, uuid: &str, report: Value) {
    for _ in 0..500 {
        let (_, n) = api(url, reqwest::Method::GET, &format!("/v1/nodes/{uuid}"), None).await;
        if n["provision_state"] == "inspect wait" && n["reservation"].is_null() {
            let (st, b) = api(url, reqwest::Method::POST, &format!("/v1/continue_inspection?node_uuid={uuid}"), Some(report)).await;
            assert_eq!(st, 202, "{b}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("node {uuid} never waited for its ramdisk");
}
