//! Kernel parameters, read as IPA reads /proc/cmdline.

use ferric_agent::config::{Config, ConfigError};
use std::time::Duration;

#[test]
fn defaults_are_ipas() {
    let c = Config::from_cmdline("BOOT_IMAGE=/vmlinuz ro quiet").unwrap();
    assert!(c.api_urls.is_empty());
    assert!(!c.inspection_enabled());
    assert_eq!(c.inspection_collectors, ["default", "logs"]);
    assert_eq!(c.listen_host, "::");
    assert_eq!((c.listen_port, c.advertise_port), (9999, 9999));
    assert_eq!(c.advertise_host, None);
    assert_eq!(c.lookup_timeout, Duration::from_secs(600));
    assert_eq!(c.lookup_interval, Duration::from_secs(1));
    assert_eq!(c.http_request_timeout, Duration::from_secs(30));
    assert!(!c.insecure && !c.collect_lldp && c.guard_special_filesystems);
    assert_eq!(
        (c.debug, c.agent_token.as_deref(), c.bootif.as_deref()),
        (None, None, None)
    );
}

#[test]
fn a_typical_pxe_command_line() {
    let cmdline = "nofb nomodeset vga=normal ipa-api-url=http://10.0.0.1:6385/ ipa-inspection-collectors=default,logs,lldp \
                   BOOTIF=01-52-54-00-AB-CD-EF ipa-insecure=1 ipa-debug=1 ipa-lookup-timeout=300 ipa-lookup-interval=2 \
                   ipa-advertise-host=10.0.0.50 ipa-advertise-port=8999 ipa-listen-port=8998 ipa-collect-lldp=True \
                   ipa-global-request-id=req-3e5a8c44-4a5b-4c2b-9fd8-2a3d1c7b5e61 ipa-agent-token=pregenerated-token \
                   initrd=agent.initramfs\n";
    let c = Config::from_cmdline(cmdline).unwrap();
    assert_eq!(c.api_urls, ["http://10.0.0.1:6385"]);
    // Only collectors + api-url: IPA derives the call-back from the API URL.
    assert_eq!(
        c.inspection_callback_urls,
        ["http://10.0.0.1:6385/v1/continue_inspection"]
    );
    assert_eq!(c.inspection_collectors, ["default", "logs", "lldp"]);
    assert_eq!(c.bootif.as_deref(), Some("52:54:00:ab:cd:ef"));
    assert!(c.insecure && c.collect_lldp);
    assert_eq!(c.debug, Some(true));
    assert_eq!(c.lookup_timeout, Duration::from_secs(300));
    assert_eq!(c.lookup_interval, Duration::from_secs(2));
    assert_eq!(c.advertise_host.as_deref(), Some("10.0.0.50"));
    assert_eq!((c.advertise_port, c.listen_port), (8999, 8998));
    assert_eq!(
        c.global_request_id.as_deref(),
        Some("req-3e5a8c44-4a5b-4c2b-9fd8-2a3d1c7b5e61")
    );
    assert_eq!(c.agent_token.as_deref(), Some("pregenerated-token"));
}

#[test]
fn explicit_callback_wins_and_several_urls_are_split() {
    let c = Config::from_cmdline(
        "ipa-api-url=http://a:6385,http://b:6385/ ipa-inspection-callback-url=http://insp:5050/v1/continue,http://insp2:5050/v1/continue",
    )
    .unwrap();
    assert_eq!(c.api_urls, ["http://a:6385", "http://b:6385"]);
    assert_eq!(
        c.inspection_callback_urls,
        [
            "http://insp:5050/v1/continue",
            "http://insp2:5050/v1/continue"
        ]
    );
    // Default collectors when only the call-back URL is set.
    assert_eq!(c.inspection_collectors, ["default", "logs"]);
    // An API URL alone does not enable inspection; collectors alone without an API URL neither.
    assert!(!Config::from_cmdline("ipa-api-url=http://a:6385")
        .unwrap()
        .inspection_enabled());
    assert!(!Config::from_cmdline("ipa-inspection-collectors=default")
        .unwrap()
        .inspection_enabled());
    // Derived for every API URL.
    let c = Config::from_cmdline(
        "ipa-api-url=http://a:6385,http://b:6385 ipa-inspection-collectors=default",
    )
    .unwrap();
    assert_eq!(
        c.inspection_callback_urls,
        [
            "http://a:6385/v1/continue_inspection",
            "http://b:6385/v1/continue_inspection"
        ]
    );
}

#[test]
fn quoting_and_repetition_follow_ipas_plain_split() {
    // IPA does not interpret quotes: the value keeps them, and fails the URL check.
    let err = Config::from_cmdline("ipa-api-url=\"http://10.0.0.1:6385\"").unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { ref param, .. } if param == "ipa-api-url"),
        "{err:?}"
    );
    // A quoted value with a space ends at the space.
    let c = Config::from_cmdline("ipa-global-request-id=\"req-1 2\" ipa-api-url=http://x").unwrap();
    assert_eq!(c.global_request_id.as_deref(), Some("\"req-1"));
    // The last occurrence wins; words without '=' are ignored; values may contain '='.
    let c = Config::from_cmdline(
        "ipa-lookup-timeout=10 ipa-debug ipa-lookup-timeout=20 ipa-agent-token=a=b",
    )
    .unwrap();
    assert_eq!(c.lookup_timeout, Duration::from_secs(20));
    assert_eq!(c.debug, None);
    assert_eq!(c.agent_token.as_deref(), Some("a=b"));
}

#[test]
fn booleans_like_oslo() {
    for (v, want) in [
        ("1", true),
        ("true", true),
        ("On", true),
        ("yes", true),
        ("0", false),
        ("False", false),
        ("off", false),
        ("no", false),
    ] {
        assert_eq!(
            Config::from_cmdline(&format!("ipa-insecure={v}"))
                .unwrap()
                .insecure,
            want,
            "{v}"
        );
    }
    assert!(Config::from_cmdline("ipa-insecure=maybe").is_err());
    // ipa-debug goes through bool_from_string: unknown words are false, not errors.
    assert_eq!(
        Config::from_cmdline("ipa-debug=t").unwrap().debug,
        Some(true)
    );
    assert_eq!(
        Config::from_cmdline("ipa-debug=maybe").unwrap().debug,
        Some(false)
    );
}

#[test]
fn invalid_values_are_errors() {
    for bad in [
        "ipa-lookup-timeout=soon",
        "ipa-lookup-timeout=-1",
        "ipa-lookup-interval=1.5",
        "ipa-listen-port=70000",
        "ipa-advertise-port=http",
        "ipa-api-url=ftp://x",
        "ipa-api-url=http://",
        "ipa-inspection-callback-url=10.0.0.1:5050",
        "ipa-advertise-protocol=https",
        "ipa-http-request-timeout=0",
    ] {
        assert!(Config::from_cmdline(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn mdns_is_not_supported() {
    assert_eq!(
        Config::from_cmdline("ipa-api-url=mdns").unwrap_err(),
        ConfigError::MdnsUnsupported {
            param: "ipa-api-url".into()
        }
    );
    assert_eq!(
        Config::from_cmdline("ipa-api-url=http://x ipa-inspection-callback-url=mdns").unwrap_err(),
        ConfigError::MdnsUnsupported {
            param: "ipa-inspection-callback-url".into()
        }
    );
}

#[test]
fn api_version_override() {
    assert_eq!(
        Config::from_cmdline("ipa-ironic-api-version=1.70")
            .unwrap()
            .ironic_api_version,
        Some((1, 70))
    );
    // IPA falls back to discovery when the override does not parse.
    assert_eq!(
        Config::from_cmdline("ipa-ironic-api-version=latest")
            .unwrap()
            .ironic_api_version,
        None
    );
}
