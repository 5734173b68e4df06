//! Vendor quirks: the small, explicit list of ways real BMCs depart from the Redfish standard
//! that the driver works around. Matched on the ComputerSystem's `Manufacturer`. Each entry
//! says what it does and why; anything not listed gets the standard behaviour, and the
//! generic fall-backs in `mod.rs` (send `BootSourceOverrideEnabled` only when it changes, fall
//! back to a one-time boot device when a persistent one is refused) apply to every vendor.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// PATCH requests must carry `If-Match` with the resource's ETag (else 412/428).
    pub if_match_on_patch: bool,
    /// The boot override PATCH must repeat `BootSourceOverrideMode`, or the BMC resets it.
    pub boot_mode_with_override: bool,
    /// `BootSourceOverrideEnabled=Continuous` is refused: ask for `Once` straight away
    /// instead of trying and failing first.
    pub no_continuous_boot: bool,
}

pub struct Entry {
    /// Case-insensitive substring of the system's `Manufacturer`.
    pub manufacturer: &'static str,
    pub quirks: Quirks,
    pub why: &'static str,
}

pub const TABLE: &[Entry] = &[
    Entry {
        manufacturer: "supermicro",
        quirks: Quirks { if_match_on_patch: true, boot_mode_with_override: false, no_continuous_boot: false },
        why: "X11/X12 BMCs reject a PATCH of the ComputerSystem without If-Match (sushy sends the ETag for them)",
    },
    Entry {
        manufacturer: "hpe",
        quirks: Quirks { if_match_on_patch: false, boot_mode_with_override: true, no_continuous_boot: false },
        why: "iLO 5 drops BootSourceOverrideMode back to its default when a boot override PATCH omits it",
    },
    Entry {
        manufacturer: "dell",
        quirks: Quirks { if_match_on_patch: false, boot_mode_with_override: false, no_continuous_boot: true },
        why: "iDRAC removed BootSourceOverrideEnabled=Continuous (deprecated in Redfish); Ironic falls back to Once",
    },
];

/// The quirks for a system's manufacturer (none when unknown).
pub fn for_manufacturer(manufacturer: Option<&str>) -> Quirks {
    let Some(m) = manufacturer else { return Quirks::default() };
    let m = m.to_ascii_lowercase();
    TABLE.iter().find(|e| m.contains(e.manufacturer)).map(|e| e.quirks).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manufacturers_map_to_their_quirks() {
        assert!(for_manufacturer(Some("Supermicro")).if_match_on_patch);
        assert!(for_manufacturer(Some("HPE")).boot_mode_with_override);
        assert!(for_manufacturer(Some("Dell Inc.")).no_continuous_boot);
        assert_eq!(for_manufacturer(Some("Sushy Emulator")), Quirks::default());
        assert_eq!(for_manufacturer(None), Quirks::default());
        for e in TABLE {
            assert!(!e.why.is_empty());
            assert_eq!(e.manufacturer, e.manufacturer.to_ascii_lowercase());
        }
    }
}
