//! Firmware erase decisions and the exact command lines, fed with the real tool outputs IPA's
//! own unit tests carry (fixtures/erase, see its README). No device is opened: every tool run
//! goes to a script that checks the command line and answers with a recorded output.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use ferric_agent::erase::{ata_erase, nvme_erase, secure_erase};
use ferric_agent::tools::{ToolError, Tools};
use ferric_agent::system::SecureEraseKind;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/erase").join(name)).unwrap()
}

/// IPA's `create_hdparm_info` (tests/unit/test_hardware.py) on the recorded `hdparm -I`.
fn hdparm(supported: bool, enabled: bool, locked: bool, frozen: bool, enhanced: bool) -> String {
    let v = |on: bool, s: &str| if on { format!("\t{s}") } else { format!("not\t{s}") };
    fixture("hdparm-I.template")
        .replace("%(supported)s", &v(supported, "supported"))
        .replace("%(enabled)s", &v(enabled, "enabled"))
        .replace("%(locked)s", &v(locked, "locked"))
        .replace("%(frozen)s", &v(frozen, "frozen"))
        .replace("%(enhanced_erase)s", &v(enhanced, "supported: enhanced erase"))
}

type Answer = Result<String, ToolError>;

/// Expected command lines, in order, each with its answer.
struct Script {
    steps: Mutex<VecDeque<(String, Answer)>>,
    ran: Mutex<Vec<String>>,
}

impl Script {
    fn new(steps: Vec<(&str, Answer)>) -> Script {
        Script { steps: Mutex::new(steps.into_iter().map(|(c, a)| (c.to_string(), a)).collect()), ran: Mutex::new(Vec::new()) }
    }

    fn ran(&self) -> Vec<String> {
        self.ran.lock().unwrap().clone()
    }

    /// Every expected command ran, in order, and nothing else.
    fn done(&self) {
        let left: Vec<String> = self.steps.lock().unwrap().iter().map(|(c, _)| c.clone()).collect();
        assert!(left.is_empty(), "not run: {left:?}; ran: {:?}", self.ran());
    }
}

impl Tools for Script {
    fn run(&self, argv: &[&str]) -> Result<String, ToolError> {
        let line = argv.iter().map(|a| if a.is_empty() { "''".to_string() } else { a.to_string() }).collect::<Vec<_>>().join(" ");
        self.ran.lock().unwrap().push(line.clone());
        let (want, answer) = self.steps.lock().unwrap().pop_front().unwrap_or_else(|| panic!("unexpected command: {line}"));
        assert_eq!(line, want);
        answer
    }
}

fn ok(s: impl Into<String>) -> Answer {
    Ok(s.into())
}

fn failed(code: i32, msg: &str) -> Answer {
    Err(ToolError::Failed { code: Some(code), message: msg.into() })
}

const SDA: &str = "/dev/sda";
const NVME: &str = "/dev/nvme0n1";

// ------------------------------------------------------------------------------------------
// NVMe

#[test]
fn nvme_crypto_erase_when_fna_says_so() {
    let s = Script::new(vec![
        ("nvme id-ctrl /dev/nvme0n1 -o json", ok(fixture("nvme-id-ctrl-crypto.json"))),
        ("nvme format /dev/nvme0n1 -s 2 -f", ok("Success formatting namespace:1\n")),
    ]);
    assert_eq!(nvme_erase(&s, NVME), Ok(true));
    s.done();
}

#[test]
fn nvme_user_data_erase_without_crypto() {
    let s = Script::new(vec![
        ("nvme id-ctrl /dev/nvme0n1 -o json", ok(fixture("nvme-id-ctrl-userdata.json"))),
        ("nvme format /dev/nvme0n1 -s 1 -f", ok("")),
    ]);
    assert_eq!(secure_erase(&s, NVME, SecureEraseKind::Nvme), Ok(true));
    s.done();
}

#[test]
fn nvme_without_format_support_fails_and_formats_nothing() {
    let s = Script::new(vec![("nvme id-ctrl /dev/nvme0n1 -o json", ok(fixture("nvme-id-ctrl-format-unsupported.json")))]);
    assert_eq!(nvme_erase(&s, NVME), Err("nvme-cli did not return any supported format modes for device: /dev/nvme0n1".into()));
    s.done();
}

#[test]
fn nvme_tool_failures() {
    let s = Script::new(vec![("nvme id-ctrl /dev/nvme0n1 -o json", failed(1, "NVMe status: INVALID_OPCODE"))]);
    let e = nvme_erase(&s, NVME).unwrap_err();
    assert!(e.starts_with("Failed to fetch NVMe capabilities for device /dev/nvme0n1: "), "{e}");
    let s = Script::new(vec![("nvme id-ctrl /dev/nvme0n1 -o json", ok(""))]);
    assert_eq!(nvme_erase(&s, NVME), Err("nvme-cli did not return any information for device: /dev/nvme0n1".into()));
    let s = Script::new(vec![
        ("nvme id-ctrl /dev/nvme0n1 -o json", ok(fixture("nvme-id-ctrl-crypto.json"))),
        ("nvme format /dev/nvme0n1 -s 2 -f", failed(22, "NVMe status: INVALID_FORMAT")),
    ]);
    let e = nvme_erase(&s, NVME).unwrap_err();
    assert!(e.starts_with("Failed to nvme format device /dev/nvme0n1: exit code 22"), "{e}");
    s.done();
}

// ------------------------------------------------------------------------------------------
// ATA

#[test]
fn ata_enhanced_erase_from_sec1() {
    // Supported, not enabled, not locked, not frozen, enhanced erase supported (SEC1).
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-set-pass NULL /dev/sda", ok("")),
        ("hdparm --user-master u --security-erase-enhanced NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(true));
    s.done();
}

#[test]
fn ata_plain_erase_when_enhanced_is_not_supported_and_the_password_is_already_set() {
    // SEC5: enabled (a password is set), not locked: no set-pass, plain erase.
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, true, false, false, false))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-erase NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, false))),
    ]);
    assert_eq!(secure_erase(&s, SDA, SecureEraseKind::Ata), Ok(true));
    s.done();
}

#[test]
fn ata_not_supported_or_unavailable_means_overwrite() {
    // Security not supported: hdparm -I and smartctl, then nothing.
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(false, false, false, false, false))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(false));
    s.done();
    // Supported, but smartctl says ATA security is unavailable (a bridge in the way).
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-unavailable.txt"))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(false));
    s.done();
    // smartctl cannot talk ATA to it at all.
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", failed(2, "Read Device Identity failed")),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(false));
    s.done();
    // A disk that does not answer ATA IDENTIFY (virtio, USB) or no hdparm: nothing more runs.
    let s = Script::new(vec![("hdparm -I /dev/vda", failed(25, "HDIO_DRIVE_CMD(identify) failed: Inappropriate ioctl for device"))]);
    assert_eq!(ata_erase(&s, "/dev/vda"), Ok(false));
    s.done();
    let s = Script::new(vec![("hdparm -I /dev/sda", Err(ToolError::NotFound("hdparm: No such file or directory".into())))]);
    assert_eq!(ata_erase(&s, SDA), Ok(false));
    s.done();
}

#[test]
fn ata_without_smartctl_goes_on() {
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", Err(ToolError::NotFound("smartctl: No such file or directory".into()))),
        ("hdparm --user-master u --security-set-pass NULL /dev/sda", ok("")),
        ("hdparm --user-master u --security-erase-enhanced NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(true));
    s.done();
}

#[test]
fn ata_frozen_is_an_error_and_touches_nothing() {
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, true, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Err("Block device /dev/sda is frozen and cannot be erased".into()));
    s.done();
}

#[test]
fn ata_locked_by_an_earlier_attempt_is_unlocked_first() {
    // SEC4 -> unlock with NULL fails, unlock with the empty password works -> SEC5 -> erase.
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, true, true, false, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-unlock NULL /dev/sda", failed(5, "SECURITY_UNLOCK: Input/output error")),
        ("hdparm -I /dev/sda", ok(hdparm(true, true, true, false, true))),
        ("hdparm --user-master u --security-unlock '' /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, true, false, false, true))),
        ("hdparm --user-master u --security-erase-enhanced NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Ok(true));
    s.done();
}

#[test]
fn ata_locked_with_an_unknown_password_is_an_error() {
    let locked = || ok(hdparm(true, true, true, false, true));
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", locked()),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-unlock NULL /dev/sda", failed(5, "")),
        ("hdparm -I /dev/sda", locked()),
        ("hdparm --user-master u --security-unlock '' /dev/sda", failed(5, "")),
        ("hdparm -I /dev/sda", locked()),
    ]);
    assert_eq!(ata_erase(&s, SDA), Err("Block device /dev/sda already has a security password set".into()));
    s.done();
}

#[test]
fn ata_erase_failure_unlocks_for_the_fallback() {
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, false))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-set-pass NULL /dev/sda", ok("")),
        ("hdparm --user-master u --security-erase NULL /dev/sda", failed(5, "SECURITY_ERASE: Input/output error")),
        // The drive is left locked by the failed erase: unlock it so it can be overwritten.
        ("hdparm -I /dev/sda", ok(hdparm(true, true, true, false, false))),
        ("hdparm --user-master u --security-unlock NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, true, false, false, false))),
    ]);
    let e = ata_erase(&s, SDA).unwrap_err();
    assert!(e.starts_with("Erase failed for device /dev/sda: exit code 5"), "{e}");
    s.done();
}

#[test]
fn ata_set_password_failure_and_unverified_erase_are_errors() {
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-set-pass NULL /dev/sda", failed(1, "")),
    ]);
    assert!(ata_erase(&s, SDA).unwrap_err().starts_with("Security password set failed for device /dev/sda"));
    s.done();
    // The erase "worked" but the drive still has security enabled: not trusted.
    let s = Script::new(vec![
        ("hdparm -I /dev/sda", ok(hdparm(true, false, false, false, true))),
        ("smartctl -d ata /dev/sda -g security", ok(fixture("smartctl-normal.txt"))),
        ("hdparm --user-master u --security-set-pass NULL /dev/sda", ok("")),
        ("hdparm --user-master u --security-erase-enhanced NULL /dev/sda", ok("")),
        ("hdparm -I /dev/sda", ok(hdparm(true, true, false, false, true))),
    ]);
    assert_eq!(ata_erase(&s, SDA), Err("An unknown error occurred erasing block device /dev/sda".into()));
    s.done();
}
