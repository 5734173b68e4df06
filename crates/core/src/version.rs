//! Bare Metal API microversions (`ironic/api/controllers/v1/versions.py`).
//!
//! ferric advertises [`MAX`]: the highest microversion whose features it really has. Raising it
//! means implementing every feature up to the new value (see docs/microversions.md).

use std::fmt;

/// A `1.N` microversion; the major version is always 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u16);

pub const MIN: Version = Version(1);
/// The highest microversion ferric implements completely. See docs/microversions.md.
pub const MAX: Version = Version(MAX_MINOR);
pub const MAX_MINOR: u16 = 96;

impl Version {
    pub fn minor(self) -> u16 {
        self.0
    }
    /// True when this request's version has the feature introduced at `1.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.0)
    }
}

/// Why a version header was refused (406).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("Invalid value for X-OpenStack-Ironic-API-Version header: {0}")]
    Malformed(String),
    #[error("Version {0} was requested but the minor version is not supported by this service. The supported version range is: [{min}, {max}].", min = MIN, max = MAX)]
    OutOfRange(String),
    #[error("Version {0} was requested but the major version is not supported by this service. The supported version range is: [{min}, {max}].", min = MIN, max = MAX)]
    BadMajor(String),
}

/// Parse a header value such as `1.31` or `latest`. `None` (no header) means 1.1.
pub fn negotiate(header: Option<&str>) -> Result<Version, VersionError> {
    let Some(raw) = header else { return Ok(MIN) };
    let v = raw.trim();
    if v.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let (major, minor) = v.split_once('.').ok_or_else(|| VersionError::Malformed(raw.to_string()))?;
    let major: u16 = major.parse().map_err(|_| VersionError::Malformed(raw.to_string()))?;
    let minor: u16 = minor.parse().map_err(|_| VersionError::Malformed(raw.to_string()))?;
    if major != 1 {
        return Err(VersionError::BadMajor(raw.to_string()));
    }
    let v = Version(minor);
    if v < MIN || v > MAX {
        return Err(VersionError::OutOfRange(raw.to_string()));
    }
    Ok(v)
}

/// Pick the version from the two headers Ironic accepts: `OpenStack-API-Version: baremetal 1.N`
/// wins over `X-OpenStack-Ironic-API-Version`.
pub fn from_headers(openstack_api_version: Option<&str>, x_ironic: Option<&str>) -> Result<Version, VersionError> {
    if let Some(h) = openstack_api_version {
        // The header may name several services: "compute 2.1, baremetal 1.31".
        for part in h.split(',') {
            let mut it = part.split_whitespace();
            if let (Some(service), Some(ver)) = (it.next(), it.next()) {
                if service.eq_ignore_ascii_case("baremetal") {
                    return negotiate(Some(ver));
                }
            }
        }
    }
    negotiate(x_ironic)
}

/// Features and the microversion that introduced them (the `MINOR_*` constants of Ironic).
pub mod feature {
    pub const DRIVER_INTERNAL_INFO: u16 = 3;
    pub const MANAGEABLE: u16 = 4;
    pub const NODE_NAME: u16 = 5;
    pub const INSPECT: u16 = 6;
    pub const CLEAN_STEP: u16 = 7;
    pub const FIELDS: u16 = 8;
    pub const PROVISION_STATE_FILTER: u16 = 9;
    pub const LOGICAL_NAMES: u16 = 10;
    pub const ENROLL: u16 = 11;
    pub const RAID_CONFIG: u16 = 12;
    pub const ABORT: u16 = 13;
    pub const LINKS_STATES_PROPERTIES: u16 = 14;
    pub const MANUAL_CLEAN: u16 = 15;
    pub const DRIVER_FILTER: u16 = 16;
    pub const ADOPT: u16 = 17;
    pub const PORT_INTERNAL_INFO: u16 = 18;
    pub const PORT_ADVANCED_NET: u16 = 19;
    pub const NETWORK_INTERFACE: u16 = 20;
    pub const RESOURCE_CLASS: u16 = 21;
    pub const LOOKUP_HEARTBEAT: u16 = 22;
    pub const PORTGROUPS: u16 = 23;
    pub const PORTGROUP_SUBCONTROLLERS: u16 = 24;
    pub const UNSET_CHASSIS_UUID: u16 = 25;
    pub const PORTGROUP_MODE_PROPERTIES: u16 = 26;
    pub const SOFT_POWER_OFF: u16 = 27;
    pub const VIFS: u16 = 28;
    pub const INJECT_NMI: u16 = 29;
    pub const DYNAMIC_DRIVERS: u16 = 30;
    pub const DYNAMIC_INTERFACES: u16 = 31;
    pub const VOLUME: u16 = 32;
    pub const STORAGE_INTERFACE: u16 = 33;
    pub const PHYSICAL_NETWORK: u16 = 34;
    pub const TRAITS: u16 = 37;
    pub const RESCUE: u16 = 38;
    pub const INSPECT_WAIT: u16 = 39;
    pub const BIOS_INTERFACE: u16 = 40;
    pub const INSPECT_ABORT: u16 = 41;
    pub const FAULT: u16 = 42;
    pub const DETAIL_PARAM: u16 = 43;
    pub const DEPLOY_STEP: u16 = 44;
    pub const RESET_INTERFACES: u16 = 45;
    pub const CONDUCTOR_GROUP: u16 = 46;
    pub const AUTOMATED_CLEAN: u16 = 47;
    pub const PROTECTED: u16 = 48;
    pub const CONDUCTORS: u16 = 49;
    pub const OWNER: u16 = 50;
    pub const DESCRIPTION: u16 = 51;
    pub const ALLOCATIONS: u16 = 52;
    pub const SMARTNIC: u16 = 53;
    pub const EVENTS: u16 = 54;
    pub const BUILD_CONFIGDRIVE: u16 = 56;
    pub const ALLOCATION_UPDATE: u16 = 57;
    pub const ALLOCATION_BACKFILL: u16 = 58;
    pub const CONFIGDRIVE_VENDOR_DATA: u16 = 59;
    pub const ALLOCATION_OWNER: u16 = 60;
    pub const DEPLOY_TEMPLATES: u16 = 55;
    pub const RETIRED: u16 = 61;
    pub const AGENT_TOKEN: u16 = 62;
    pub const INDICATORS: u16 = 63;
    pub const VIF_PORT_UUID: u16 = 67;
    pub const DEPLOY_STEPS: u16 = 69;
    pub const DISABLE_RAMDISK: u16 = 70;
    pub const AGENT_STATUS: u16 = 72;
    pub const BIOS_REGISTRY: u16 = 74;
    pub const CHANGE_BOOT_MODE: u16 = 76;
    pub const DRIVER_FIELDS: u16 = 77;
    pub const ALLOCATION_NAME_MATCH: u16 = 79;
    pub const LESSEE: u16 = 65;
    pub const NETWORK_DATA: u16 = 66;
    pub const DEPLOY_UNDEPLOY_VERBS: u16 = 73;
    pub const BOOT_MODE_FIELDS: u16 = 75;
    pub const NODE_HISTORY: u16 = 78;
    pub const NODE_INVENTORY: u16 = 81;
    pub const SHARD: u16 = 82;
    pub const CONTINUE_INSPECTION: u16 = 84;
    pub const PARENT_NODE: u16 = 83;
    pub const FIRMWARE_INTERFACE: u16 = 86;
    pub const SERVICE: u16 = 87;
    pub const UNHOLD: u16 = 85;
    /// Port `name`; ports are also looked up by name.
    pub const PORT_NAME: u16 = 88;
    /// `POST/DELETE /v1/nodes/{node}/vmedia`.
    pub const VMEDIA: u16 = 89;
    /// OVN VTEP keys (`vtep-logical-switch`, `vtep-physical-switch`) in `local_link_connection`.
    pub const OVN_VTEP: u16 = 90;
    /// A trailing `.json` in a path is no longer stripped (before 1.91 it was).
    pub const DOT_JSON: u16 = 91;
    /// `/v1/runbooks`, and `runbook` for manual cleaning and servicing.
    pub const RUNBOOKS: u16 = 92;
    /// `GET /v1/nodes/{node}/vmedia`.
    pub const GET_VMEDIA: u16 = 93;
    /// `node_ident` (a node UUID or name) when creating a port.
    pub const PORT_NODE_IDENT: u16 = 94;
    /// `disable_ramdisk` for servicing.
    pub const SERVICE_DISABLE_RAMDISK: u16 = 108;
    /// `vendor`, `model`, `serial_number` of firmware components.
    pub const FIRMWARE_IDENTITY: u16 = 114;
    /// Node `disable_power_off`: the conductor never powers the node off (reboots instead).
    pub const DISABLE_POWER_OFF: u16 = 95;
    /// `/v1/inspection_rules` (inspection rules migrated from ironic-inspector).
    pub const RULES: u16 = 96;
    /// `project` in detailed node history entries.
    pub const NODE_HISTORY_PROJECT: u16 = 113;
    /// `state`, `target_provision_state`, `duration_seconds` in detailed node history entries.
    pub const NODE_HISTORY_FIELDS: u16 = 115;
}

/// The microversion from which an interface kind is visible (in `validate`, driver details).
pub fn interface_min(kind: &str) -> u16 {
    match kind {
        "storage" => feature::STORAGE_INTERFACE,
        "rescue" => feature::RESCUE,
        "bios" => feature::BIOS_INTERFACE,
        "firmware" => feature::FIRMWARE_INTERFACE,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_header_is_the_minimum() {
        assert_eq!(negotiate(None), Ok(Version(1)));
    }

    #[test]
    fn latest_is_the_maximum() {
        assert_eq!(negotiate(Some("latest")), Ok(MAX));
        assert_eq!(negotiate(Some("LATEST")), Ok(MAX));
    }

    #[test]
    fn in_range_versions_parse() {
        assert_eq!(negotiate(Some("1.11")), Ok(Version(11)));
        assert_eq!(negotiate(Some(" 1.1 ")), Ok(Version(1)));
        assert_eq!(negotiate(Some(&MAX.to_string())), Ok(MAX));
    }

    #[test]
    fn out_of_range_and_garbage_are_refused() {
        assert!(matches!(negotiate(Some("1.0")), Err(VersionError::OutOfRange(_))));
        assert!(matches!(negotiate(Some("1.200")), Err(VersionError::OutOfRange(_))));
        assert!(matches!(negotiate(Some(&format!("1.{}", MAX_MINOR + 1))), Err(VersionError::OutOfRange(_))));
        assert!(matches!(negotiate(Some("2.1")), Err(VersionError::BadMajor(_))));
        assert!(matches!(negotiate(Some("abc")), Err(VersionError::Malformed(_))));
        assert!(matches!(negotiate(Some("1.x")), Err(VersionError::Malformed(_))));
        assert!(matches!(negotiate(Some("")), Err(VersionError::Malformed(_))));
    }

    #[test]
    fn openstack_api_version_header_wins() {
        assert_eq!(from_headers(Some("baremetal 1.20"), Some("1.5")), Ok(Version(20)));
        assert_eq!(from_headers(Some("compute 2.1, baremetal 1.7"), None), Ok(Version(7)));
        assert_eq!(from_headers(Some("compute 2.1"), Some("1.5")), Ok(Version(5)));
        assert_eq!(from_headers(None, None), Ok(MIN));
    }

    #[test]
    fn error_message_matches_ironic() {
        let e = negotiate(Some("1.200")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Version 1.200 was requested but the minor version is not supported by this service. The supported version range is: [1.1, {MAX}].")
        );
    }
}
