//! The QEMU mode's process handling, with a stand-in for `qemu-system-x86_64`: a shell script
//! that records its command line and exits as a guest that powers itself off. The real QEMU
//! runs in `lab/qemu/lab_scenario.sh` (CI), which checks power on, QMP reset, boot order
//! changes and power off on real VMs; this checks what needs a VM to misbehave: a guest that
//! powers off by itself, and a QEMU that cannot start.

use ferric_lab::machine::{BootTarget, PowerDelay, PowerState, ResetType};
use ferric_lab::profiles::{MachineSpec, Profile};
use ferric_lab::qemu::{spawn_qemu_hosts, QemuConfig, QemuEvent};
use ferric_lab::{Bind, Lab, LabConfig};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<QemuEvent>) -> QemuEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a QEMU event in 20 s").expect("the channel is open")
}

fn has_qemu_img() -> bool {
    std::process::Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn a_guest_that_powers_off_reads_off_and_a_missing_qemu_fails_the_power_on() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-qemu");
    // The stand-in: record the arguments, run a moment, exit 0 (the guest's poweroff).
    std::fs::write(&fake, format!("#!/bin/sh\necho \"$@\" > {}/args\nsleep 0.3\nexit 0\n", dir.path().display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let specs = vec![MachineSpec::generate(Profile::Qemu, 0, 1), MachineSpec::generate(Profile::Qemu, 1, 1)];
    let config = LabConfig { bind: Bind::SinglePort { addr: "127.0.0.1:0".parse().unwrap() }, power_delay: PowerDelay::ZERO, ..Default::default() };
    let (lab, events) = Lab::start(specs, config).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let work = dir.path().join("work");
    let hosts = spawn_qemu_hosts(lab.machines().to_vec(), events, QemuConfig { qemu: fake.clone(), boot_url: "http://10.0.2.2:1".into(), tftp_url: None, work: work.clone() }, Some(tx));

    let m = lab.machine(0).clone();
    m.set_boot_override(ferric_lab::BootOverride { target: BootTarget::Pxe, enabled: ferric_lab::BootEnabled::Once, mode: ferric_lab::FirmwareMode::Legacy });
    m.reset(ResetType::On);
    assert_eq!(m.power_state(), PowerState::On);
    assert!(has_qemu_img(), "qemu-img makes the VMs' disks: install qemu-utils");
    {
        assert!(matches!(next(&mut rx).await, QemuEvent::Started { machine: 0, boot: BootTarget::Pxe, .. }));
        let exited = next(&mut rx).await;
        assert!(matches!(exited, QemuEvent::Exited { machine: 0, by_guest: true, .. }), "{exited:?}");
        assert_eq!(m.power_state(), PowerState::Off, "the guest powered off: the BMC reads Off");
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert!(args.contains(&format!("mac={},addr=03,bootindex=1", m.spec.nics[0].mac)), "{args}");
        let recorded = std::fs::read_to_string(work.join(format!("{}.argv.jsonl", m.spec.name))).unwrap();
        assert_eq!(recorded.lines().count(), 1);
        assert!(work.join(format!("{}-sda.qcow2", m.spec.name)).exists() && work.join(format!("{}-nvme0n1.qcow2", m.spec.name)).exists());
    }

    // A QEMU binary that does not exist: the power-on fails and the machine is off again.
    hosts.shutdown().await;
    let (lab2, events2) = Lab::start(
        vec![MachineSpec::generate(Profile::Qemu, 0, 2)],
        LabConfig { bind: Bind::SinglePort { addr: "127.0.0.1:0".parse().unwrap() }, power_delay: PowerDelay::ZERO, ..Default::default() },
    )
    .await
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let hosts = spawn_qemu_hosts(lab2.machines().to_vec(), events2, QemuConfig { qemu: dir.path().join("no-such-qemu"), boot_url: "http://10.0.2.2:1".into(), tftp_url: None, work }, Some(tx));
    let m = lab2.machine(0).clone();
    m.reset(ResetType::On);
    let e = next(&mut rx).await;
    assert!(matches!(&e, QemuEvent::Failed { machine: 0, .. }), "{e:?}");
    assert_eq!(m.power_state(), PowerState::Off);
    hosts.shutdown().await;
    lab.shutdown().await;
    lab2.shutdown().await;
}
