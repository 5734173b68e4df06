//! The boot server (`[pxe] listen`) over real HTTP on loopback, beside the Bare Metal API on
//! the same conductor and SQLite file: per-MAC iPXE scripts from the nodes' states, the
//! fallback for unknown machines, the kernel and ramdisk byte for byte, and hostile paths.

use ferric_api::boot::BootConfig;
use ferric_conductor::{Conductor, ConductorConfig};
use ferric_core::boot::BootSettings;
use reqwest::Method as M;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server {
    api: String,
    boot: String,
    client: reqwest::Client,
    conductor: Conductor,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

const MAC: &str = "52:54:00:12:34:56";

/// Kernel and ramdisk files (odd sizes, several chunks for the ramdisk) in `<dir>/images`.
fn images(dir: &Path) -> (PathBuf, PathBuf) {
    let d = dir.join("images");
    std::fs::create_dir_all(&d).unwrap();
    let kernel: Vec<u8> = (0..100_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let ramdisk: Vec<u8> = (0..1_234_567u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
    std::fs::write(d.join("vmlinuz"), kernel).unwrap();
    std::fs::write(d.join("initramfs"), ramdisk).unwrap();
    (d.join("vmlinuz"), d.join("initramfs"))
}

async fn start(tweak: impl FnOnce(&mut BootConfig)) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.join("ferric.sqlite"))).unwrap();
    let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() };
    let conductor = Conductor::new(store, ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    let l1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", l1.local_addr().unwrap());
    let boot = format!("http://{}", l2.local_addr().unwrap());
    let (kernel, ramdisk) = images(&dir);
    let mut bc = BootConfig {
        settings: BootSettings {
            http_url: boot.clone(),
            api_url: api.clone(),
            file_url_allowed_paths: vec![dir.join("images").display().to_string()],
            ..Default::default()
        },
        kernel: Some(kernel),
        ramdisk: Some(ramdisk),
    };
    tweak(&mut bc);
    bc.settings.validate().unwrap();
    tokio::spawn(ferric_api::serve(l1, ferric_api::router(conductor.clone(), Default::default()), std::future::pending()));
    tokio::spawn(ferric_api::boot::serve(l2, ferric_api::boot::router(conductor.clone(), bc), std::future::pending()));
    Server { api, boot, client: reqwest::Client::new(), conductor, dir, _tmp: tmp }
}

impl Server {
    async fn ironic(&self, method: M, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.api)).header("X-OpenStack-Ironic-API-Version", "1.84");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let st = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (st, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    /// GET on the boot server: status, content type, body.
    async fn get(&self, path: &str) -> (u16, String, String) {
        let resp = self.client.get(format!("{}{path}", self.boot)).send().await.unwrap();
        let st = resp.status().as_u16();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (st, ct, resp.text().await.unwrap())
    }
    async fn node(&self, name: &str, body: Value, mac: Option<&str>) -> String {
        let mut body = body;
        body["name"] = json!(name);
        let (st, n) = self.ironic(M::POST, "/v1/nodes", Some(body)).await;
        assert_eq!(st, 201, "{n}");
        let uuid = n["uuid"].as_str().unwrap().to_string();
        if let Some(m) = mac {
            let (st, p) = self.ironic(M::POST, "/v1/ports", Some(json!({"node_uuid": uuid, "address": m}))).await;
            assert_eq!(st, 201, "{p}");
        }
        uuid
    }
    async fn provision(&self, name: &str, target: &str, until: &str) {
        let (st, b) = self.ironic(M::PUT, &format!("/v1/nodes/{name}/states/provision"), Some(json!({"target": target}))).await;
        assert_eq!(st, 202, "{target}: {b}");
        for _ in 0..500 {
            let (_, n) = self.ironic(M::GET, &format!("/v1/nodes/{name}"), None).await;
            if n["provision_state"] == until && n["reservation"].is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{name} never reached {until}");
    }
    /// A request with the path exactly as given (reqwest would resolve `..`): status, body.
    async fn raw(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        let addr = self.boot.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => out[i + 4..].to_vec(),
            None => Vec::new(),
        };
        (status, body)
    }
}

fn kernel_line(script: &str) -> &str {
    script.lines().find(|l| l.starts_with("kernel ")).unwrap_or_else(|| panic!("no kernel line in:\n{script}"))
}

#[tokio::test]
async fn a_node_in_inspect_wait_gets_the_agent_with_its_parameters() {
    let s = start(|b| b.settings.insecure = true).await;
    let uuid = s.node("insp", json!({"driver": "fake-hardware", "inspect_interface": "agent"}), Some(MAC)).await;
    // Manageable: nothing to boot from the network.
    s.provision("insp", "manage", "manageable").await;
    let (st, _, body) = s.get("/ipxe/52-54-00-12-34-56").await;
    assert_eq!(st, 200);
    assert!(body.starts_with(&format!("#!ipxe\n\n# ferric: node {uuid} boots from its local disk: node is in manageable")), "{body}");
    assert!(body.contains("sanboot --no-describe || goto exit\n"));
    // Inspecting in-band: the agent, with what it needs to report.
    s.provision("insp", "inspect", "inspect wait").await;
    let resp = s.client.get(format!("{}/ipxe/52-54-00-12-34-56", s.boot)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = resp.text().await.unwrap();
    assert!(body.starts_with(&format!("#!ipxe\n\n# ferric: the agent for inspection of node {uuid}, booting from {MAC}\n")), "{body}");
    assert_eq!(
        kernel_line(&body),
        format!(
            "kernel {b}/images/kernel selinux=0 troubleshoot=0 text nofb vga=normal ipa-inspection-callback-url={a}/v1/continue_inspection \
             ipa-inspection-collectors=default,logs ipa-api-url={a} ipa-insecure=1 boot_method=pxe BOOTIF=01-52-54-00-12-34-56 initrd=ramdisk || goto retry",
            b = s.boot,
            a = s.api
        )
    );
    assert!(body.contains(&format!("\ninitrd {}/images/ramdisk || goto retry\nboot\n", s.boot)));
    assert!(body.contains("\n:fail\n") && body.ends_with("poweroff\n"));
    // Every spelling of the MAC gets the same script.
    for m in ["52:54:00:12:34:56", "52-54-00-12-34-56", "52:54:00:12:34:56".to_uppercase().as_str(), "01-52-54-00-12-34-56"] {
        assert_eq!(s.get(&format!("/ipxe/{m}")).await.2, body, "{m}");
    }
    // The fallback of a known MAC is that node's script too.
    assert_eq!(s.get("/ipxe/fallback/52-54-00-12-34-56").await.2, body);
    // The node's own images, from local files: served from its own URLs.
    let k = s.dir.join("images/vmlinuz").display().to_string();
    let r = s.dir.join("images/initramfs").display().to_string();
    let (st, b) = s
        .ironic(
            M::PATCH,
            "/v1/nodes/insp",
            Some(json!([{"op": "add", "path": "/driver_info/deploy_kernel", "value": format!("file://{k}")}, {"op": "add", "path": "/driver_info/deploy_ramdisk", "value": r}])),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let body = s.get(&format!("/ipxe/{MAC}")).await.2;
    assert!(kernel_line(&body).starts_with(&format!("kernel {}/images/{uuid}/deploy_kernel selinux=0 ", s.boot)), "{body}");
    assert!(kernel_line(&body).ends_with(" initrd=deploy_ramdisk || goto retry"));
    assert!(body.contains(&format!("\ninitrd {}/images/{uuid}/deploy_ramdisk || goto retry\n", s.boot)));
    // Inspection ends (aborted here): back to the local disk.
    s.provision("insp", "abort", "inspect failed").await;
    let body = s.get(&format!("/ipxe/{MAC}")).await.2;
    assert!(body.contains("boots from its local disk: node is in inspect failed, which boots nothing from the network"), "{body}");
    // Out-of-band inspection never boots the agent.
    s.node("oob", json!({"driver": "fake-hardware", "inspect_interface": "fake"}), Some("52:54:00:00:00:02")).await;
    s.provision("oob", "manage", "manageable").await;
    let body = s.get("/ipxe/52:54:00:00:00:02").await.2;
    assert!(body.contains("boots from its local disk"), "{body}");
}

#[tokio::test]
async fn unknown_macs_get_a_404_then_local_boot_or_discovery() {
    let s = start(|_| {}).await;
    let (st, ct, body) = s.get("/ipxe/52:54:00:99:99:99").await;
    assert_eq!((st, ct.as_str()), (404, "text/plain; charset=utf-8"));
    assert_eq!(body, "No node has a port with MAC address 52:54:00:99:99:99. A machine no node knows gets /ipxe/fallback/52-54-00-99-99-99.\n");
    let (st, _, body) = s.get("/ipxe/fallback/52-54-00-99-99-99").await;
    assert_eq!(st, 200);
    assert_eq!(
        body,
        "#!ipxe\n\n# ferric: MAC 52:54:00:99:99:99 boots from its local disk: no node has a port with MAC address 52:54:00:99:99:99 and auto-discovery is off\n\n\
         iseq ${platform} efi && goto exit ||\nsanboot --no-describe || goto exit\n\n:exit\nexit 0\n"
    );
    // A node without ports waits for in-band inspection: an unknown machine may be it
    // (Ironic's unmanaged inspection), so it gets the inspection agent.
    s.node("portless", json!({"driver": "fake-hardware", "inspect_interface": "agent"}), None).await;
    s.provision("portless", "manage", "manageable").await;
    s.provision("portless", "inspect", "inspect wait").await;
    let body = s.get("/ipxe/fallback/52-54-00-99-99-99").await.2;
    assert!(body.starts_with("#!ipxe\n\n# ferric: the agent for inspection of a machine no node knows, booting from 52:54:00:99:99:99\n"), "{body}");
    assert!(kernel_line(&body).contains(&format!(" ipa-inspection-callback-url={}/v1/continue_inspection ", s.api)));
    assert_eq!(s.get("/ipxe/52-54-00-99-99-99").await.0, 404, "the per-NIC answer stays 404");

    // Managed boot required: the local disk again.
    let strict = start(|b| b.settings.require_managed_boot = true).await;
    strict.node("portless", json!({"driver": "fake-hardware", "inspect_interface": "agent"}), None).await;
    strict.provision("portless", "manage", "manageable").await;
    strict.provision("portless", "inspect", "inspect wait").await;
    let body = strict.get("/ipxe/fallback/52-54-00-99-99-99").await.2;
    assert!(body.contains("boots from its local disk: no node has a port with MAC address 52:54:00:99:99:99 and auto-discovery is off and managed boot is required"), "{body}");

    // Discovery on: the discovery agent.
    let d = start(|b| b.settings.discovery = true).await;
    assert_eq!(d.get("/ipxe/52-54-00-99-99-99").await.0, 404);
    let (st, _, body) = d.get("/ipxe/fallback/52-54-00-99-99-99").await;
    assert_eq!(st, 200);
    assert!(body.starts_with("#!ipxe\n\n# ferric: the agent for discovery of a machine no node knows, booting from 52:54:00:99:99:99\n"), "{body}");
    assert_eq!(
        kernel_line(&body),
        format!(
            "kernel {b}/images/kernel selinux=0 troubleshoot=0 text nofb vga=normal ipa-inspection-callback-url={a}/v1/continue_inspection \
             ipa-inspection-collectors=default,logs ipa-api-url={a} boot_method=pxe BOOTIF=01-52-54-00-99-99-99 initrd=ramdisk || goto retry",
            b = d.boot,
            a = d.api
        )
    );
    // Discovery without [pxe] kernel and ramdisk: the machine is told why and powers off.
    let bare = start(|b| {
        b.settings.discovery = true;
        b.kernel = None;
        b.ramdisk = None;
    })
    .await;
    let body = bare.get("/ipxe/fallback/52-54-00-99-99-99").await.2;
    assert!(body.contains("\necho ferric cannot boot the agent: no node has a port with MAC address 52:54:00:99:99:99, and [pxe] kernel and ramdisk are not set for discovery\n"), "{body}");
    assert!(body.ends_with("sleep 30\npoweroff\n"));
    assert_eq!(bare.get("/images/kernel").await.0, 404);
}

#[tokio::test]
async fn the_entry_script_chains_per_mac_then_the_fallback() {
    let s = start(|_| {}).await;
    let (st, _, body) = s.get("/boot.ipxe").await;
    assert_eq!(st, 200);
    assert!(body.starts_with("#!ipxe\n"));
    assert!(body.contains(&format!("\nchain {}/ipxe/${{net${{netid}}/mac:hexhyp}} || goto loop\n", s.boot)), "{body}");
    assert!(body.contains(&format!("\nchain {}/ipxe/fallback/${{mac:hexhyp}} || goto boot_failed\n", s.boot)));
}

#[tokio::test]
async fn kernel_and_ramdisk_are_served_byte_exact() {
    let s = start(|_| {}).await;
    for (path, file) in [("/images/kernel", "vmlinuz"), ("/images/ramdisk", "initramfs")] {
        let want = std::fs::read(s.dir.join("images").join(file)).unwrap();
        let resp = s.client.get(format!("{}{path}", s.boot)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], want.len().to_string().as_str(), "{path}");
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        let got = resp.bytes().await.unwrap();
        assert_eq!(got.len(), want.len(), "{path}");
        assert!(got[..] == want[..], "{path}: bytes differ");
        // HEAD: the length, no body.
        let resp = s.client.head(format!("{}{path}", s.boot)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], want.len().to_string().as_str(), "HEAD {path}");
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    // A node's own image from an allowed local file.
    let k = s.dir.join("images/vmlinuz");
    let r = s.dir.join("images/initramfs");
    let uuid = s
        .node("own", json!({"driver": "fake-hardware", "driver_info": {"deploy_kernel": k.display().to_string(), "deploy_ramdisk": format!("file://{}", r.display())}}), None)
        .await;
    for (label, file) in [("deploy_kernel", &k), ("deploy_ramdisk", &r)] {
        let want = std::fs::read(file).unwrap();
        let resp = s.client.get(format!("{}/images/{uuid}/{label}", s.boot)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{label}");
        assert_eq!(resp.headers()["content-length"], want.len().to_string().as_str());
        assert!(resp.bytes().await.unwrap()[..] == want[..], "{label}: bytes differ");
    }
    // Many machines at once.
    let want = std::fs::read(&r).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url) = (s.client.clone(), format!("{}/images/ramdisk", s.boot));
        tasks.push(tokio::spawn(async move { c.get(url).send().await.unwrap().bytes().await.unwrap() }));
    }
    for t in tasks {
        assert!(t.await.unwrap()[..] == want[..]);
    }
    // Images a node does not have, or has as URLs.
    let (st, _, body) = s.get(&format!("/images/{uuid}/rescue_kernel")).await;
    assert_eq!(st, 404);
    assert_eq!(body, format!("Node {uuid} has no rescue_kernel this server can serve: driver_info rescue_kernel is not set.\n"));
    let url = s.node("remote", json!({"driver": "fake-hardware", "driver_info": {"deploy_kernel": "http://images/k", "deploy_ramdisk": "http://images/r"}}), None).await;
    let (st, _, body) = s.get(&format!("/images/{url}/deploy_kernel")).await;
    assert_eq!((st, body), (404, format!("Node {url}'s deploy_kernel is a URL, which the machine fetches itself.\n")));
    assert_eq!(s.get("/images/00000000-0000-0000-0000-000000000000/deploy_kernel").await.0, 404);
    // A file that went away.
    std::fs::remove_file(&k).unwrap();
    assert_eq!(s.get(&format!("/images/{uuid}/deploy_kernel")).await.0, 404);
}

#[tokio::test]
async fn malformed_macs_and_path_traversal_are_refused() {
    let s = start(|_| {}).await;
    for bad in ["zz", "52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00-12-34-56", "..%2F..%2Fetc%2Fpasswd", "%0a", "52%3A54%3A00%3A12%3A34%3A5"] {
        for route in ["/ipxe", "/ipxe/fallback"] {
            let (st, body) = s.raw("GET", &format!("{route}/{bad}")).await;
            let body = String::from_utf8_lossy(&body).to_string();
            assert_eq!(st, 400, "{route}/{bad}: {body}");
            assert!(body.starts_with("Invalid MAC address "), "{body}");
            assert!(!body.contains('\n') || body.ends_with(".\n") && body.matches('\n').count() == 1, "one line: {body:?}");
        }
    }
    // Percent-encoded, a well-formed MAC is still a MAC.
    assert_eq!(s.raw("GET", "/ipxe/52%3A54%3A00%3A12%3A34%3A56").await.0, 404);
    // Paths outside the routes.
    for path in [
        "/images/../../etc/passwd",
        "/images/%2e%2e/%2e%2e/etc/passwd",
        "/images/kernel/../../../etc/passwd",
        "/images/..%2F..%2Fetc/passwd",
        "/images/passwd",
        "/../etc/passwd",
        "/ipxe/52:54:00:12:34:56/../../x",
        "/etc/passwd",
    ] {
        let (st, body) = s.raw("GET", path).await;
        assert!(st == 404 || st == 400, "{path}: {st}");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{path}");
    }
    let (st, body) = s.raw("GET", "/images/..%2F..%2Fetc%2Fpasswd/deploy_kernel").await;
    assert_eq!((st, String::from_utf8_lossy(&body).as_ref()), (400, "Invalid node UUID \"../../etc/passwd\".\n"));
    let id = s.node("n", json!({"driver": "fake-hardware"}), None).await;
    assert_eq!(s.raw("GET", &format!("/images/{id}/..%2F..%2F..%2Fetc%2Fpasswd")).await.0, 404);
    assert_eq!(s.raw("GET", &format!("/images/{id}/config")).await.0, 404);
    // driver_info pointing at system files, or out of the allowed directory.
    let allowed = s.dir.join("images");
    std::os::unix::fs::symlink("/etc/hostname", allowed.join("link")).unwrap();
    std::fs::write(s.dir.join("outside"), b"secret").unwrap();
    for (value, status, text) in [
        ("/etc/passwd".to_string(), 404, "Security: The path /etc is not permitted in file URLs"),
        ("file:///proc/self/environ".to_string(), 404, "Security: The path /proc is not permitted in file URLs"),
        (s.dir.join("outside").display().to_string(), 404, "is not allowed for image source file URLs"),
        (format!("{}/../outside", allowed.display()), 404, "is not a plain absolute path"),
        (allowed.join("link").display().to_string(), 403, "resolves outside [conductor] file_url_allowed_paths"),
        ("ipa.kernel".to_string(), 404, "is neither an http(s) URL nor a local file"),
    ] {
        let (st, b) = s
            .ironic(M::PATCH, "/v1/nodes/n", Some(json!([{"op": "add", "path": "/driver_info/deploy_kernel", "value": value}])))
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, body) = s.raw("GET", &format!("/images/{id}/deploy_kernel")).await;
        let body = String::from_utf8_lossy(&body).to_string();
        assert_eq!(st, status, "{value}: {body}");
        assert!(body.contains(text), "{value}: {body}");
        assert!(!body.contains("secret") && !body.contains("root:"), "{body}");
        // HEAD is refused the same way.
        assert_eq!(s.raw("HEAD", &format!("/images/{id}/deploy_kernel")).await.0, status);
    }
    // The conductor's view is read-only: nothing above changed a node.
    let n = s.conductor.store().get_node(&id).await.unwrap();
    assert_eq!(n.provision_state.as_str(), "enroll");
}
