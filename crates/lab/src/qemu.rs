//! QEMU mode: the lab's machines are real QEMU VMs (TCG), each behind the same virtual Redfish
//! BMC as a simulated machine. The BMC's [`LabEvent`]s drive QEMU:
//!
//! | BMC does                          | QEMU                                                        |
//! |-----------------------------------|-------------------------------------------------------------|
//! | power on, boot device `Pxe`       | start the VM with only its first NIC bootable (its iPXE ROM) |
//! | power on, boot device `Hdd`, ...  | start the VM with only its SATA disk bootable               |
//! | restart, same boot device         | QMP `system_reset` (the same process; firmware boots again) |
//! | restart, another boot device      | QMP `quit`, start again with the new boot order             |
//! | power off                         | QMP `quit` (killed if it does not go within 5 s)            |
//! | the guest powers itself off       | QEMU exits: the machine reads `Off` ([`Machine::os_power_off`]) |
//!
//! The boot order is fixed when QEMU starts (`bootindex`, `-boot strict=on`), which is why a
//! change of boot device means a new process, as it means a new POST on a real server.
//!
//! A VM is what [`argv`] gives QEMU: the spec's SMBIOS identity (types 0, 1, 2), one vCPU, its
//! DIMM's memory, a SATA SSD on AHCI and an NVMe drive (sparse qcow2 files, kept across boots
//! under the work directory), a virtio-net NIC on slirp whose DHCP names the boot server's
//! `/boot.ipxe` as the boot file, and an e1000 on an isolated slirp network. The serial console
//! (SeaBIOS, iPXE and the kernel) goes to `<work>/<name>.console.log`; every command line QEMU
//! was started with is appended to `<work>/<name>.argv.jsonl`, so that a test can check the
//! stored inventory against what QEMU was really told.
//!
//! Under QEMU's user networking the guest reaches the host's 127.0.0.1 as 10.0.2.2: ferric's
//! API and boot server listen on 127.0.0.1 and give the VMs 10.0.2.2 URLs
//! (`[pxe] http_url`, `api_url`).

use crate::machine::{BootTarget, LabEvent, Machine};
use crate::profiles::{DiskKind, MachineSpec};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// The boot server as the VMs reach it, e.g. `http://10.0.2.2:8088`: slirp's DHCP gives
    /// `<boot_url>/boot.ipxe` as the boot file.
    pub boot_url: String,
    /// The boot server's TFTP as the VMs reach it, e.g. `tftp://10.0.2.2:6969`: when set, the
    /// DHCP boot file is `<tftp_url>/boot.ipxe` (what a network whose DHCP points PXE at TFTP
    /// does), and the rest still comes over HTTP as that script says.
    pub tftp_url: Option<String>,
    /// Disks, QMP sockets, console logs and command lines.
    pub work: PathBuf,
}

/// What the VMs did, for progress lines and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuEvent {
    Started { machine: usize, pid: u32, boot: BootTarget },
    /// Reset in place (QMP `system_reset`).
    Reset { machine: usize },
    /// The process ended: `by_guest` when ferric's lab did not stop it (the guest powered off,
    /// or QEMU failed: see the console log).
    Exited { machine: usize, by_guest: bool, status: String },
    Failed { machine: usize, error: String },
}

/// QEMU's option syntax: a comma inside a value is doubled.
fn opt(v: &str) -> String {
    v.replace(',', ",,")
}

/// A disk's image file.
pub fn disk_path(work: &Path, spec: &MachineSpec, disk: usize) -> PathBuf {
    work.join(format!("{}-{}.qcow2", spec.name, spec.disks[disk].name))
}

pub fn console_path(work: &Path, spec: &MachineSpec) -> PathBuf {
    work.join(format!("{}.console.log", spec.name))
}

pub fn argv_path(work: &Path, spec: &MachineSpec) -> PathBuf {
    work.join(format!("{}.argv.jsonl", spec.name))
}

fn qmp_path(work: &Path, spec: &MachineSpec) -> PathBuf {
    work.join(format!("{}.qmp", spec.name))
}

/// The PCI slot of a `0000:00:SS.0` address.
fn slot(pci: &str) -> String {
    pci.rsplit(':').next().and_then(|s| s.split('.').next()).unwrap_or("0").to_string()
}

/// QEMU's command line (without the program) for booting `spec` from `boot`: the network
/// (`Pxe`, `UefiHttp`) or the SATA disk (anything else; the lab's disks hold no OS, so SeaBIOS
/// reports no bootable device and retries, as a server with blank disks does).
pub fn argv(spec: &MachineSpec, config: &QemuConfig, boot: BootTarget) -> Vec<String> {
    let s = &spec.system;
    let b = &spec.bios;
    let mut a: Vec<String> = [
        "-accel", "tcg", "-nodefaults", "-display", "none", "-vga", "none", "-boot", "strict=on",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|x| x.to_string()));
    push(&["-name", &spec.name]);
    push(&["-m", &spec.memory_mib().to_string(), "-smp", &spec.cpu.logical().to_string()]);
    push(&["-smbios", &format!("type=0,vendor={},version={},date={}", opt(&b.vendor), opt(&b.version), opt(&b.date))]);
    push(&[
        "-smbios",
        &format!(
            "type=1,manufacturer={},product={},serial={},uuid={},sku={},family={}",
            opt(&s.vendor),
            opt(&s.product),
            opt(&s.serial),
            s.uuid,
            opt(&s.sku),
            opt(&s.family)
        ),
    ]);
    push(&["-smbios", &format!("type=2,manufacturer={},product={},serial={}", opt(&s.vendor), opt(&s.board_product), opt(&s.board_serial))]);
    push(&["-qmp", &format!("unix:{},server=on,wait=off", qmp_path(&config.work, spec).display())]);
    push(&["-chardev", &format!("file,id=con0,path={},append=on", console_path(&config.work, spec).display()), "-serial", "chardev:con0"]);
    // SeaBIOS and iPXE print on the serial port too (machine-notes: etc/sercon-port).
    push(&["-fw_cfg", &format!("name=etc/sercon-port,file={}", config.work.join("sercon-port").display())]);
    let net_boot = boot.is_network();
    let mut ahci = false;
    for (i, d) in spec.disks.iter().enumerate() {
        let file = disk_path(&config.work, spec, i);
        push(&["-drive", &format!("file={},if=none,id=disk{i},format=qcow2", file.display())]);
        match d.kind {
            DiskKind::Nvme => push(&["-device", &format!("nvme,drive=disk{i},serial={},addr={}", opt(&d.serial), slot(&d.controller_pci))]),
            DiskKind::SataSsd | DiskKind::SasHdd => {
                if !ahci {
                    push(&["-device", &format!("ahci,id=ahci0,addr={}", slot(&d.controller_pci))]);
                    ahci = true;
                }
                let mut dev = format!(
                    "ide-hd,bus=ahci0.{},drive=disk{i},serial={},model={},rotation_rate={}",
                    d.hctl.split(':').next().unwrap_or("0"),
                    opt(&d.serial),
                    opt(&d.model),
                    if d.rotational { 7200 } else { 1 }
                );
                if let Some(w) = d.wwn.strip_prefix("0x") {
                    dev.push_str(&format!(",wwn=0x{w}"));
                }
                if !net_boot && i == 0 {
                    dev.push_str(",bootindex=1");
                }
                push(&["-device", &dev]);
            }
        }
    }
    for (i, n) in spec.nics.iter().enumerate() {
        let model = if n.driver == "e1000" { "e1000" } else { "virtio-net-pci" };
        if i == 0 {
            // IPv6 stays on: with ipv6=off iPXE waits ~16 s for autoconfiguration.
            let base = config.tftp_url.as_deref().unwrap_or(&config.boot_url);
            push(&["-netdev", &format!("user,id=net0,bootfile={}/boot.ipxe", base.trim_end_matches('/'))]);
            let boot_index = if net_boot { ",bootindex=1" } else { "" };
            push(&["-device", &format!("{model},netdev=net0,mac={},addr={}{boot_index}", n.mac, slot(&n.pci_address))]);
        } else {
            push(&["-netdev", &format!("user,id=net{i},restrict=on,ipv6=off,net=10.0.{}.0/24", 2 + i)]);
            // No option ROM: only the first NIC network-boots.
            push(&["-device", &format!("{model},netdev=net{i},mac={},addr={},romfile=", n.mac, slot(&n.pci_address))]);
        }
    }
    a
}

/// Create the work directory, the console port file and any missing disk image (sparse).
pub async fn prepare(spec: &MachineSpec, config: &QemuConfig) -> io::Result<()> {
    std::fs::create_dir_all(&config.work)?;
    std::fs::write(config.work.join("sercon-port"), [0xf8u8, 0x03])?;
    for (i, d) in spec.disks.iter().enumerate() {
        let file = disk_path(&config.work, spec, i);
        if file.exists() {
            continue;
        }
        let out = tokio::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&file)
            .arg(d.size_bytes.to_string())
            .output()
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("qemu-img: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!("qemu-img create {}: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim())));
        }
    }
    Ok(())
}

/// One QMP command on a fresh connection (greeting, `qmp_capabilities`, the command); the
/// answer's `return` or the error's text.
pub async fn qmp(socket: &Path, command: &str) -> Result<serde_json::Value, String> {
    let run = async {
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| format!("QMP {}: {e}", socket.display()))?;
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await.map_err(|e| e.to_string())?;
        answer(&mut lines).await?;
        w.write_all(format!("{{\"execute\":\"{command}\"}}\n").as_bytes()).await.map_err(|e| e.to_string())?;
        match answer(&mut lines).await {
            // `quit` may close the socket before its answer arrives.
            Err(e) if command == "quit" && e.contains("closed") => Ok(serde_json::Value::Null),
            r => r,
        }
    };
    tokio::time::timeout(Duration::from_secs(5), run).await.map_err(|_| format!("QMP {command}: no answer in 5 s"))?
}

async fn answer(lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>) -> Result<serde_json::Value, String> {
    loop {
        let line = lines.next_line().await.map_err(|e| e.to_string())?.ok_or("QMP closed the connection")?;
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("QMP: {e}: {line}"))?;
        if v.get("QMP").is_some() || v.get("event").is_some() {
            continue;
        }
        if let Some(e) = v.get("error") {
            return Err(format!("QMP: {}", e["desc"].as_str().unwrap_or("error")));
        }
        return Ok(v["return"].clone());
    }
}

struct Vm {
    epoch: u64,
    boot: BootTarget,
    pid: u32,
    /// Set before the lab stops it: its exit is not the guest's power-off.
    stopping: Arc<AtomicBool>,
    exited: tokio::sync::watch::Receiver<bool>,
}

type Vms = Arc<Mutex<HashMap<usize, Vm>>>;

/// The running VMs' driver ([`spawn_qemu_hosts`]).
pub struct QemuHosts {
    task: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl QemuHosts {
    /// Stop every VM (QMP `quit`, killed after 5 s) and wait until they are gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Run the VMs of `machines`, driven by their BMCs' events, until [`QemuHosts::shutdown`] or
/// the event channel closes; then stop every VM.
pub fn spawn_qemu_hosts(
    machines: Vec<Arc<Machine>>,
    mut events: UnboundedReceiver<LabEvent>,
    config: QemuConfig,
    report: Option<UnboundedSender<QemuEvent>>,
) -> QemuHosts {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let vms: Vms = Arc::default();
        let send = Arc::new(move |e: QemuEvent| {
            if let Some(r) = &report {
                let _ = r.send(e);
            }
        });
        let mut resetting: HashMap<usize, bool> = HashMap::new();
        let mut epoch = 0u64;
        loop {
            let ev = tokio::select! {
                ev = events.recv() => match ev { Some(ev) => ev, None => break },
                _ = stop_rx.wait_for(|s| *s) => break,
            };
            let (machine, boot) = match ev {
                LabEvent::PowerOff { machine } => {
                    stop(&vms, machine, &config, &machines).await;
                    continue;
                }
                LabEvent::Reset { machine } => {
                    resetting.insert(machine, true);
                    continue;
                }
                LabEvent::NetBoot { machine, .. } => (machine, BootTarget::Pxe),
                LabEvent::LocalBoot { machine, device } => (machine, device),
            };
            let Some(m) = machines.get(machine).cloned() else { continue };
            let warm = resetting.remove(&machine).unwrap_or(false);
            let running = vms.lock().unwrap().get(&machine).map(|v| v.boot.is_network() == boot.is_network());
            if warm && running == Some(true) {
                match qmp(&qmp_path(&config.work, &m.spec), "system_reset").await {
                    Ok(_) => {
                        send(QemuEvent::Reset { machine });
                        continue;
                    }
                    Err(e) => tracing::warn!(machine = %m.spec.name, error = %e, "QMP system_reset failed; starting the VM again"),
                }
            }
            stop(&vms, machine, &config, &machines).await;
            epoch += 1;
            match start(&m, &config, boot, epoch, &vms, send.clone()).await {
                Ok(pid) => send(QemuEvent::Started { machine, pid, boot }),
                Err(error) => {
                    tracing::warn!(machine = %m.spec.name, %error, "cannot start the VM");
                    send(QemuEvent::Failed { machine, error });
                    // Power on failed: the hardware is off.
                    m.os_power_off();
                }
            }
        }
        let all: Vec<usize> = vms.lock().unwrap().keys().copied().collect();
        for machine in all {
            stop(&vms, machine, &config, &machines).await;
        }
    });
    QemuHosts { task, stop: stop_tx }
}

async fn start(m: &Arc<Machine>, config: &QemuConfig, boot: BootTarget, epoch: u64, vms: &Vms, send: Arc<dyn Fn(QemuEvent) + Send + Sync>) -> Result<u32, String> {
    prepare(&m.spec, config).await.map_err(|e| e.to_string())?;
    let args = argv(&m.spec, config, boot);
    let mut line = serde_json::to_string(&std::iter::once(config.qemu.display().to_string()).chain(args.iter().cloned()).collect::<Vec<_>>()).unwrap_or_default();
    line.push('\n');
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(argv_path(&config.work, &m.spec)).map_err(|e| e.to_string())?;
        f.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
    }
    let log_path = config.work.join(format!("{}.qemu.log", m.spec.name));
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(&config.qemu)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", config.qemu.display()))?;
    let pid = child.id().unwrap_or(0);
    let stopping = Arc::new(AtomicBool::new(false));
    let (done, exited) = tokio::sync::watch::channel(false);
    vms.lock().unwrap().insert(m.index, Vm { epoch, boot, pid, stopping: stopping.clone(), exited });
    let (m, vms) = (m.clone(), vms.clone());
    tokio::spawn(async move {
        let (status, clean) = match child.wait().await {
            Ok(s) => (s.to_string(), s.success()),
            Err(e) => (e.to_string(), false),
        };
        let by_guest = !stopping.load(Ordering::SeqCst);
        let current = {
            let mut v = vms.lock().unwrap();
            let current = v.get(&m.index).is_some_and(|x| x.epoch == epoch);
            if current {
                v.remove(&m.index);
            }
            current
        };
        let _ = done.send(true);
        if by_guest && current {
            if clean {
                tracing::info!(machine = %m.spec.name, "the VM powered off");
            } else {
                tracing::warn!(machine = %m.spec.name, %status, log = %log_path.display(), "QEMU ended on its own: the machine is off");
            }
            m.os_power_off();
        }
        send(QemuEvent::Exited { machine: m.index, by_guest, status });
    });
    Ok(pid)
}

/// Stop a machine's VM if it runs: QMP `quit`, then SIGKILL after 5 s; returns once it exited.
async fn stop(vms: &Vms, machine: usize, config: &QemuConfig, machines: &[Arc<Machine>]) {
    let Some((pid, mut exited)) = vms.lock().unwrap().get(&machine).map(|v| {
        v.stopping.store(true, Ordering::SeqCst);
        (v.pid, v.exited.clone())
    }) else {
        return;
    };
    if let Some(m) = machines.get(machine) {
        if let Err(e) = qmp(&qmp_path(&config.work, &m.spec), "quit").await {
            tracing::debug!(machine = %m.spec.name, error = %e, "QMP quit");
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|x| *x)).await.is_err() {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped (the watcher
        // task has not seen it exit).
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|x| *x)).await;
    }
    let mut v = vms.lock().unwrap();
    if v.get(&machine).is_some_and(|x| x.pid == pid) {
        v.remove(&machine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::Profile;

    fn config() -> QemuConfig {
        QemuConfig { qemu: "qemu-system-x86_64".into(), boot_url: "http://10.0.2.2:8088/".into(), tftp_url: None, work: "/w".into() }
    }

    fn arg_after<'a>(a: &'a [String], flag: &str) -> Vec<&'a str> {
        a.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
    }

    #[test]
    fn the_command_line_is_the_spec() {
        let spec = MachineSpec::generate(Profile::Qemu, 1, 7);
        let a = argv(&spec, &config(), BootTarget::Pxe);
        assert_eq!(arg_after(&a, "-m"), ["768"]);
        assert_eq!(arg_after(&a, "-smp"), ["1"]);
        let smbios = arg_after(&a, "-smbios");
        assert!(smbios[1].contains(&format!("serial={}", spec.system.serial)) && smbios[1].contains(&spec.system.uuid), "{smbios:?}");
        assert!(smbios[1].starts_with("type=1,manufacturer=Ferric Lab,product=QEMU TCG VM,"));
        let devices = arg_after(&a, "-device");
        let net = devices.iter().find(|d| d.starts_with("virtio-net-pci")).unwrap();
        assert_eq!(*net, format!("virtio-net-pci,netdev=net0,mac={},addr=03,bootindex=1", spec.nics[0].mac));
        assert!(devices.iter().any(|d| *d == format!("e1000,netdev=net1,mac={},addr=04,romfile=", spec.nics[1].mac)));
        assert!(devices.iter().any(|d| d.starts_with("nvme,drive=disk1,serial=FLN")));
        let sata = devices.iter().find(|d| d.starts_with("ide-hd")).unwrap();
        assert!(sata.contains(&format!("serial={}", spec.disks[0].serial)) && sata.contains("rotation_rate=1") && !sata.contains("bootindex"));
        assert_eq!(arg_after(&a, "-netdev")[0], "user,id=net0,bootfile=http://10.0.2.2:8088/boot.ipxe");
        assert_eq!(arg_after(&a, "-qmp"), ["unix:/w/qemu-vm-r001-02.qmp,server=on,wait=off"]);
        // Booting the disk: the NIC is not bootable, the SATA disk is.
        let d = argv(&spec, &config(), BootTarget::Hdd);
        let devices = arg_after(&d, "-device");
        assert!(devices.iter().any(|x| x.starts_with("ide-hd") && x.ends_with(",bootindex=1")));
        assert!(!devices.iter().any(|x| x.starts_with("virtio-net") && x.contains("bootindex")));
        // With TFTP: the boot file from there.
        let t = argv(&spec, &QemuConfig { tftp_url: Some("tftp://10.0.2.2:6969".into()), ..config() }, BootTarget::Pxe);
        assert_eq!(arg_after(&t, "-netdev")[0], "user,id=net0,bootfile=tftp://10.0.2.2:6969/boot.ipxe");
    }

    #[test]
    fn commas_in_values_are_doubled_and_vms_differ() {
        assert_eq!(opt("a,b"), "a,,b");
        let a = MachineSpec::generate(Profile::Qemu, 0, 1);
        let b = MachineSpec::generate(Profile::Qemu, 1, 1);
        assert_ne!(a.system.serial, b.system.serial);
        assert_ne!(a.nics[0].mac, b.nics[0].mac);
        assert_ne!(a.nics[1].mac, b.nics[0].mac);
        assert_ne!(a.disks[0].serial, b.disks[0].serial);
        assert!(a.disks.iter().all(|d| d.serial.len() <= 20), "QEMU's NVMe serials are at most 20 characters");
    }
}
