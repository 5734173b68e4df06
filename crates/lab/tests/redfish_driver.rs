//! The lab's virtual BMCs driven by ferric's real Redfish driver, as Ironic's driver tests run
//! against sushy-tools (crates/drivers/tests/redfish_*.rs, conformance/bmc_scenario.py): power
//! on/off/reboot/soft, boot device once and persistent, boot mode, session reuse and renewal,
//! a wrong password, out-of-band inspection against the spec, and what the hardware does
//! (network boot with the PXE NIC's MAC, a one-time override consumed by the boot).

use std::time::{Duration, Instant};

use ferric_core::{Node, PowerState as Power};
use ferric_drivers::redfish::client::RedfishConfig;
use ferric_drivers::{Driver, DriverConfig, Registry};
use ferric_lab::profiles::{MachineSpec, Profile, RACK_SIZE};
use ferric_lab::{Bind, BootEnabled, BootTarget, FirmwareMode, Lab, LabConfig, LabEvent, PowerDelay, PowerState};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

fn registry() -> Registry {
    let redfish = RedfishConfig {
        connection_attempts: 2,
        connection_retry_interval: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(10),
        power_state_change_timeout: Duration::from_secs(10),
        power_state_poll_interval: Duration::from_millis(25),
        ..Default::default()
    };
    Registry::with_config(DriverConfig { redfish, ..Default::default() })
}

/// Machines on their own loopback addresses, any free port (tests run side by side).
fn config(delay: PowerDelay) -> LabConfig {
    LabConfig { bind: Bind::PerMachine { port: 0 }, power_delay: delay, ..Default::default() }
}

fn node(lab: &Lab, i: usize) -> Node {
    let mut n = Node { uuid: format!("1ab00000-0000-4000-8000-{i:012}"), driver: "redfish".into(), ..Default::default() };
    n.driver_info = lab.driver_info(i);
    n
}

/// One of each vendor: Dell compute (0), Supermicro storage (1), Supermicro GPU (2), HPE edge
/// (3), Lenovo compute (4).
fn specs() -> Vec<MachineSpec> {
    let mut v: Vec<MachineSpec> = Profile::ALL.iter().enumerate().map(|(i, p)| MachineSpec::generate(*p, i, 78)).collect();
    let lenovo = MachineSpec::generate(Profile::Compute1u, RACK_SIZE + 4, 78);
    assert_eq!(lenovo.system.vendor, "Lenovo");
    v.push(lenovo);
    v
}

fn drain(rx: &mut UnboundedReceiver<LabEvent>) -> Vec<LabEvent> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

async fn next_event(rx: &mut UnboundedReceiver<LabEvent>) -> LabEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event within 10 s").expect("the lab is running")
}

/// GET with basic auth, straight over HTTP (what the BMC itself holds).
async fn get(url: &str, path: &str) -> Value {
    let (status, _, body) = raw(url, "GET", path, &[("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")], "").await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// One HTTP/1.1 request on its own connection; (status, headers, body).
async fn raw(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut s = tokio::net::TcpStream::connect(authority).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    (status, headers, body.to_string())
}

#[tokio::test]
async fn power_on_off_reboot_and_soft_power_reach_the_machine() {
    // A realistic delay: the driver waits for the BMC to report the change.
    let (lab, mut rx) = Lab::start(specs(), config(PowerDelay::fixed(Duration::from_millis(300)))).await.unwrap();
    let r = registry();
    for i in 0..lab.len() {
        let n = node(&lab, i);
        let d = r.driver_for(&n).unwrap();
        let m = lab.machine(i);
        assert_eq!(d.power.get_power_state(&n).await.unwrap(), Power::Off, "{}", m.spec.name);
        assert_eq!(d.power.set_power_state(&n, Power::On, None).await.unwrap(), Power::On);
        // The BMC reports PoweringOn at once (which Ironic counts as On); the machine boots
        // its disk when the change lands.
        assert_eq!(next_event(&mut rx).await, LabEvent::LocalBoot { machine: i, device: BootTarget::Hdd });
        assert!(m.is_on());
        assert_eq!(d.power.set_power_state(&n, Power::Rebooting, None).await.unwrap(), Power::On);
        assert_eq!(next_event(&mut rx).await, LabEvent::Reset { machine: i });
        assert_eq!(next_event(&mut rx).await, LabEvent::LocalBoot { machine: i, device: BootTarget::Hdd });
        assert_eq!(d.power.set_power_state(&n, Power::SoftRebooting, None).await.unwrap(), Power::On);
        assert_eq!(next_event(&mut rx).await, LabEvent::Reset { machine: i });
        assert_eq!(next_event(&mut rx).await, LabEvent::LocalBoot { machine: i, device: BootTarget::Hdd });
        assert_eq!(d.power.set_power_state(&n, Power::SoftPowerOff, None).await.unwrap(), Power::Off);
        assert_eq!(next_event(&mut rx).await, LabEvent::PowerOff { machine: i });
        assert_eq!(m.power_state(), PowerState::Off);
        // Off when off: nothing is sent to the machine.
        assert_eq!(d.power.set_power_state(&n, Power::Off, None).await.unwrap(), Power::Off);
        assert_eq!(m.boots(), 3);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(drain(&mut rx).is_empty());
    // A reboot of a machine that is off powers it on, as Ironic's driver does.
    let n = node(&lab, 0);
    assert_eq!(registry().driver_for(&n).unwrap().power.set_power_state(&n, Power::Rebooting, None).await.unwrap(), Power::On);
    assert_eq!(next_event(&mut rx).await, LabEvent::LocalBoot { machine: 0, device: BootTarget::Hdd });
    lab.shutdown().await;
}

#[tokio::test]
async fn boot_device_once_persistent_and_boot_mode_per_vendor() {
    let (lab, _rx) = Lab::start(specs(), config(PowerDelay::ZERO)).await.unwrap();
    let r = registry();
    let dev = |d: &Driver, n: &Node| {
        let (d, n) = (d.clone(), n.clone());
        async move { d.management.get_boot_device(&n).await.unwrap() }
    };
    for i in 0..lab.len() {
        let n = node(&lab, i);
        let d = r.driver_for(&n).unwrap();
        let m = lab.machine(i);
        let who = format!("{} ({})", m.spec.name, m.spec.system.vendor);
        let mode = m.boot_override().mode;
        assert_eq!(dev(&d, &n).await, (None, Some(false)), "{who}: no override at first");

        d.management.set_boot_device(&n, "pxe", false).await.unwrap();
        assert_eq!((m.boot_override().target, m.boot_override().enabled), (BootTarget::Pxe, BootEnabled::Once), "{who}");
        assert_eq!(dev(&d, &n).await, (Some("pxe".into()), Some(false)), "{who}");
        // HPE would have dropped the mode back to UEFI had the driver not repeated it.
        assert_eq!(m.boot_override().mode, mode, "{who}: the boot mode is kept");

        d.management.set_boot_device(&n, "disk", true).await.unwrap();
        let b = m.boot_override();
        if m.spec.system.vendor == "Dell Inc." {
            // iDRAC offers no Continuous: the driver asks for Once straight away.
            assert_eq!((b.target, b.enabled), (BootTarget::Hdd, BootEnabled::Once), "{who}");
        } else {
            assert_eq!((b.target, b.enabled), (BootTarget::Hdd, BootEnabled::Continuous), "{who}");
            assert_eq!(dev(&d, &n).await, (Some("disk".into()), Some(true)), "{who}");
        }
        d.management.set_boot_device(&n, "cdrom", false).await.unwrap();
        assert_eq!(m.boot_override().target, BootTarget::Cd, "{who}");
        let e = d.management.set_boot_device(&n, "floppy-disk", false).await.unwrap_err().to_string();
        assert!(e.contains("Invalid boot device"), "{e}");

        d.management.set_boot_mode(&n, "bios").await.unwrap();
        assert_eq!(m.boot_override().mode, FirmwareMode::Legacy, "{who}");
        d.management.set_boot_mode(&n, "uefi").await.unwrap();
        assert_eq!(m.boot_override().mode, FirmwareMode::Uefi, "{who}");
        let e = d.management.set_boot_mode(&n, "efi").await.unwrap_err().to_string();
        assert!(e.contains("Invalid boot mode"), "{e}");

        // UEFI HTTP boot exists in UEFI mode only; secure boot too.
        d.management.set_boot_device(&n, "uefi http", false).await.unwrap();
        assert_eq!(m.boot_override().target, BootTarget::UefiHttp, "{who}");
        d.management.set_secure_boot(&n, true).await.unwrap();
        assert!(m.secure_boot(), "{who}");
        d.management.set_secure_boot(&n, false).await.unwrap();
        d.management.set_boot_mode(&n, "bios").await.unwrap();
        assert_eq!((m.boot_override().mode, m.boot_override().target), (FirmwareMode::Legacy, BootTarget::None), "{who}: UefiHttp is gone with UEFI");
        let e = d.management.set_boot_device(&n, "uefi http", false).await.unwrap_err().to_string();
        assert!(e.contains("returned code 400") && e.contains("UefiHttp"), "{who}: {e}");
    }
}

#[tokio::test]
async fn a_session_is_made_once_reused_and_renewed_after_logout() {
    let (lab, _rx) = Lab::start(specs()[..1].to_vec(), config(PowerDelay::ZERO)).await.unwrap();
    let url = lab.endpoint(0).redfish_address.clone();
    let sessions = "/redfish/v1/SessionService/Sessions";
    let r = registry();
    let n = node(&lab, 0);
    let d = r.driver_for(&n).unwrap();
    for _ in 0..5 {
        assert_eq!(d.power.get_power_state(&n).await.unwrap(), Power::Off);
    }
    d.management.set_boot_device(&n, "pxe", false).await.unwrap();
    let list = get(&url, sessions).await;
    assert_eq!(list["Members@odata.count"], 1, "one session for six requests: {list}");
    let session = list["Members"][0]["@odata.id"].as_str().unwrap().to_string();
    assert_eq!(get(&url, &session).await["UserName"], "admin");
    // The session ends on the BMC: the driver's next request gets 401, logs in again once.
    let (status, _, _) = raw(&url, "DELETE", &session, &[("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")], "").await;
    assert_eq!(status, 204);
    assert_eq!(d.power.get_power_state(&n).await.unwrap(), Power::Off);
    let list = get(&url, sessions).await;
    assert_eq!(list["Members@odata.count"], 1);
    assert_ne!(list["Members"][0]["@odata.id"], session.as_str());
    // Basic auth: no session at all.
    let mut b = node(&lab, 0);
    b.driver_info.insert("redfish_auth_type".into(), "basic".into());
    b.driver_info.insert("redfish_username".into(), "admin".into());
    let r2 = registry();
    let d2 = r2.driver_for(&b).unwrap();
    assert_eq!(d2.power.set_power_state(&b, Power::On, None).await.unwrap(), Power::On);
    assert_eq!(get(&url, sessions).await["Members@odata.count"], 1);
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_the_bmcs_answer_and_no_secret() {
    let (lab, mut rx) = Lab::start(specs()[..1].to_vec(), config(PowerDelay::ZERO)).await.unwrap();
    for auth in ["auto", "session", "basic"] {
        let r = registry();
        let mut n = node(&lab, 0);
        n.driver_info.insert("redfish_password".into(), "wrong-hunter2".into());
        n.driver_info.insert("redfish_auth_type".into(), auth.into());
        let started = Instant::now();
        let e = r.driver_for(&n).unwrap().power.set_power_state(&n, Power::On, None).await.unwrap_err().to_string();
        assert!(e.contains("returned code 401"), "{auth}: {e}");
        assert!(e.contains("Invalid username or password"), "{auth}: the BMC's message: {e}");
        assert!(!e.contains("hunter2"), "{auth}: the password leaked: {e}");
        assert!(started.elapsed() < Duration::from_secs(10), "{auth}: not retried");
    }
    assert!(!lab.machine(0).is_on());
    assert!(drain(&mut rx).is_empty());
}

#[tokio::test]
async fn out_of_band_inspection_finds_the_spec() {
    let (lab, _rx) = Lab::start(specs(), config(PowerDelay::ZERO)).await.unwrap();
    let r = registry();
    for i in 0..lab.len() {
        let spec = &lab.machine(i).spec;
        let who = &spec.name;
        let mut n = node(&lab, i);
        // The only ComputerSystem is found without redfish_system_id too.
        n.driver_info.remove("redfish_system_id");
        let d = r.driver_for(&n).unwrap();
        let oob = d.interface("inspect").unwrap().inspect_out_of_band(&n).await.unwrap().expect("redfish inspects out of band");
        let inv = &oob.inventory;

        assert_eq!(inv["cpu"]["architecture"], "x86_64", "{who}");
        assert_eq!(inv["cpu"]["model_name"], spec.cpu.model.as_ref(), "{who}");
        assert_eq!(inv["cpu"]["frequency"], spec.cpu.max_mhz.to_string(), "{who}");

        assert_eq!(inv["memory"]["physical_mb"], spec.memory_mib(), "{who}");
        assert_eq!(oob.properties["memory_mb"], spec.memory_mib(), "{who}");

        let disks = inv["disks"].as_array().unwrap();
        assert_eq!(disks.len(), spec.disks.len(), "{who}");
        for (d, got) in spec.disks.iter().zip(disks) {
            assert_eq!(got["size"], d.size_bytes, "{who} {}", d.name);
            assert_eq!(got["serial"], d.serial, "{who} {}", d.name);
            assert_eq!(got["model"], d.model.as_ref(), "{who} {}", d.name);
            assert_eq!(got["rotational"], d.rotational, "{who} {}", d.name);
        }
        // Ironic's local_gb: the first drive of at least 4 GiB, in GiB less one.
        let first = spec.disks.iter().find(|d| d.size_bytes >= 4 << 30).unwrap();
        assert_eq!(oob.properties["local_gb"], ((first.size_bytes >> 30) - 1).to_string(), "{who}");

        let macs: Vec<String> = spec.nics.iter().map(|n| n.mac.clone()).collect();
        let got: Vec<&str> = inv["interfaces"].as_array().unwrap().iter().map(|i| i["mac_address"].as_str().unwrap()).collect();
        assert_eq!(got, macs, "{who}");
        assert_eq!(oob.enabled_macs, macs, "{who}: every NIC is Enabled, cabled or not");
        for (nic, got) in spec.nics.iter().zip(inv["interfaces"].as_array().unwrap()) {
            assert_eq!(got.get("speed_mbps").cloned().unwrap_or(Value::Null), if nic.carrier { json!(nic.speed_mbps) } else { Value::Null }, "{who}");
        }

        let sv = &inv["system_vendor"];
        assert_eq!(sv["manufacturer"], spec.system.vendor.as_ref(), "{who}");
        assert_eq!(sv["product_name"], spec.system.product.as_ref(), "{who}");
        assert_eq!(sv["serial_number"], spec.system.serial, "{who}");
        assert_eq!(sv["sku"], spec.system.sku.as_ref(), "{who}");
        assert_eq!(sv["system_uuid"], spec.system.uuid, "{who}");
        assert_eq!(inv["boot"]["current_boot_mode"], spec.boot_mode.as_str(), "{who}");
        assert_eq!(oob.boot_mode.as_deref(), Some(spec.boot_mode.as_str()), "{who}");

        // What the BMC serves about itself and the CPUs, straight from the resources.
        let url = &lab.endpoint(i).redfish_address;
        let sys = get(url, &lab.endpoint(i).system_path).await;
        assert_eq!(sys["ProcessorSummary"]["Count"], spec.cpu.sockets, "{who}: DMTF's Count is the processors");
        assert_eq!(sys["ProcessorSummary"]["LogicalProcessorCount"], spec.cpu.logical(), "{who}");
        let mgr = get(url, sys["Links"]["ManagedBy"][0]["@odata.id"].as_str().unwrap()).await;
        let nics = get(url, mgr["EthernetInterfaces"]["@odata.id"].as_str().unwrap()).await;
        let nic = get(url, nics["Members"][0]["@odata.id"].as_str().unwrap()).await;
        assert_eq!(nic["IPv4Addresses"][0]["Address"], spec.bmc.address.to_string(), "{who}");
        assert_eq!(nic["MACAddress"].as_str().unwrap().to_ascii_lowercase(), spec.bmc.mac, "{who}");
    }
}

/// Ironic's CPU count out of band is sushy's `processors.summary`: the sum of the Processor
/// members' `TotalThreads` (logical CPUs). ferric's driver (crates/drivers/src/redfish/
/// inspect.rs) takes `ProcessorSummary.Count` first, which DMTF defines, and real BMCs
/// report, as the number of processors (sockets).
#[tokio::test]
async fn out_of_band_cpu_count_is_the_logical_cpus_as_ironics() {
    let (lab, _rx) = Lab::start(specs(), config(PowerDelay::ZERO)).await.unwrap();
    let r = registry();
    for i in 0..lab.len() {
        let n = node(&lab, i);
        let oob = r.driver_for(&n).unwrap().interface("inspect").unwrap().inspect_out_of_band(&n).await.unwrap().unwrap();
        assert_eq!(oob.inventory["cpu"]["count"], lab.machine(i).spec.cpu.logical(), "{}", lab.machine(i).spec.name);
    }
}

#[tokio::test]
async fn power_on_with_pxe_boots_the_network_and_consumes_a_one_time_override() {
    let (lab, mut rx) = Lab::start(specs(), config(PowerDelay::ZERO)).await.unwrap();
    let r = registry();
    for i in 0..lab.len() {
        let n = node(&lab, i);
        let d = r.driver_for(&n).unwrap();
        let m = lab.machine(i);
        let mac = m.spec.pxe_mac().to_string();
        d.management.set_boot_device(&n, "pxe", false).await.unwrap();
        d.power.set_power_state(&n, Power::On, None).await.unwrap();
        assert_eq!(drain(&mut rx), [LabEvent::NetBoot { machine: i, mac: mac.clone() }], "{}", m.spec.name);
        // Consumed: the BMC reads Disabled, the next boot is the disk.
        assert_eq!(m.boot_override().enabled, BootEnabled::Disabled);
        assert_eq!(d.management.get_boot_device(&n).await.unwrap(), (None, Some(false)));
        d.power.set_power_state(&n, Power::Rebooting, None).await.unwrap();
        assert_eq!(drain(&mut rx), [LabEvent::Reset { machine: i }, LabEvent::LocalBoot { machine: i, device: BootTarget::Hdd }]);
        // Persistent (Once on Dell, which has no Continuous): every boot while it lasts.
        d.management.set_boot_device(&n, "pxe", true).await.unwrap();
        d.power.set_power_state(&n, Power::Rebooting, None).await.unwrap();
        d.power.set_power_state(&n, Power::Rebooting, None).await.unwrap();
        let netboots = drain(&mut rx).into_iter().filter(|e| matches!(e, LabEvent::NetBoot { mac: m, .. } if *m == mac)).count();
        assert_eq!(netboots, if m.spec.system.vendor == "Dell Inc." { 1 } else { 2 }, "{}", m.spec.name);
        d.power.set_power_state(&n, Power::Off, None).await.unwrap();
        assert_eq!(drain(&mut rx), [LabEvent::PowerOff { machine: i }]);
        assert_eq!(m.boots(), 4);
    }
}

#[tokio::test]
async fn one_port_for_all_with_a_path_per_machine() {
    let bind = Bind::SinglePort { addr: "127.0.0.1:0".parse().unwrap() };
    let (lab, mut rx) = Lab::start(specs(), LabConfig { bind, power_delay: PowerDelay::ZERO, ..Default::default() }).await.unwrap();
    let r = registry();
    let listen = lab.endpoint(0).listen;
    for i in 0..lab.len() {
        let e = lab.endpoint(i);
        assert_eq!(e.listen, listen);
        assert_eq!(e.redfish_address, format!("http://{listen}/bmc/{}/redfish/v1", lab.machine(i).spec.name));
        let mut n = node(&lab, i);
        n.driver_info.remove("redfish_system_id");
        let d = r.driver_for(&n).unwrap();
        d.management.set_boot_device(&n, "pxe", false).await.unwrap();
        assert_eq!(d.power.set_power_state(&n, Power::On, None).await.unwrap(), Power::On);
        assert_eq!(drain(&mut rx), [LabEvent::NetBoot { machine: i, mac: lab.machine(i).spec.pxe_mac().to_string() }]);
        let oob = d.interface("inspect").unwrap().inspect_out_of_band(&n).await.unwrap().unwrap();
        assert_eq!(oob.inventory["system_vendor"]["serial_number"], lab.machine(i).spec.system.serial);
    }
    // One session for the port, whichever machine: clients cache sessions per host:port.
    let sessions = get(&format!("http://{listen}"), &format!("/bmc/{}/redfish/v1/SessionService/Sessions", lab.machine(3).spec.name)).await;
    assert_eq!(sessions["Members@odata.count"], 1, "{sessions}");
    // Many machines at once, through the one cached session.
    let all: Vec<_> = (0..lab.len())
        .map(|i| {
            let (r, n) = (r.clone(), node(&lab, i));
            tokio::spawn(async move { r.driver_for(&n).unwrap().power.set_power_state(&n, Power::Rebooting, None).await })
        })
        .collect();
    for t in all {
        assert_eq!(t.await.unwrap().unwrap(), Power::On);
    }
    assert_eq!(get(&format!("http://{listen}"), &format!("/bmc/{}/redfish/v1/SessionService/Sessions", lab.machine(0).spec.name)).await["Members@odata.count"], 1);
    // A path no BMC has.
    let (status, _, body) = raw(&format!("http://{listen}"), "GET", "/bmc/nonexistent/redfish/v1/", &[], "").await;
    assert_eq!(status, 404, "{body}");
}
