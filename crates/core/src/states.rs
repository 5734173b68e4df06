//! Provision and power states, with the names Ironic puts on the wire.

use std::fmt;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$variant),)+ _ => None } }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {}: {s}", stringify!($name))))
            }
        }
    };
}

string_enum!(
    /// A node's `provision_state` (`ironic/common/states.py`).
    ProvisionState {
        Enroll => "enroll",
        Verifying => "verifying",
        Manageable => "manageable",
        Available => "available",
        Active => "active",
        Deploying => "deploying",
        DeployWait => "wait call-back",
        DeployFailed => "deploy failed",
        DeployHold => "deploy hold",
        Deleting => "deleting",
        Cleaning => "cleaning",
        CleanWait => "clean wait",
        CleanFailed => "clean failed",
        CleanHold => "clean hold",
        Error => "error",
        Inspecting => "inspecting",
        InspectWait => "inspect wait",
        InspectFailed => "inspect failed",
        Adopting => "adopting",
        AdoptFailed => "adopt failed",
        Rescue => "rescue",
        Rescuing => "rescuing",
        RescueWait => "rescue wait",
        RescueFailed => "rescue failed",
        Unrescuing => "unrescuing",
        UnrescueFailed => "unrescue failed",
        Servicing => "servicing",
        ServiceWait => "service wait",
        ServiceFailed => "service failed",
        ServiceHold => "service hold",
    }
);

string_enum!(
    /// A node's `power_state` and the `target` of a power request.
    PowerState {
        On => "power on",
        Off => "power off",
        Rebooting => "rebooting",
        SoftPowerOff => "soft power off",
        SoftRebooting => "soft rebooting",
    }
);

use ProvisionState as S;

impl ProvisionState {
    /// States that change only on request (`STABLE_STATES`).
    pub fn is_stable(self) -> bool {
        matches!(self, S::Enroll | S::Manageable | S::Available | S::Active | S::Error | S::Rescue)
    }

    /// States in which a node may be deleted without maintenance (`DELETE_ALLOWED_STATES`;
    /// `available` is added by the caller while `allow_deleting_available_nodes` is on).
    pub fn delete_allowed(self) -> bool {
        matches!(self, S::Manageable | S::Enroll | S::AdoptFailed)
    }

    /// Transitional states in which a node may still be updated (`UPDATE_ALLOWED_STATES`).
    pub fn update_allowed(self) -> bool {
        self.is_stable()
            || matches!(
                self,
                S::DeployFailed
                    | S::Inspecting
                    | S::InspectFailed
                    | S::InspectWait
                    | S::CleanFailed
                    | S::Verifying
                    | S::AdoptFailed
                    | S::RescueFailed
                    | S::UnrescueFailed
                    | S::ServiceFailed
            )
    }

    /// Work in these states cannot resume after a conductor dies; on start-up the conductor fails
    /// them (`STUCK_STATES_TREATED_AS_FAIL`, `_correct_stuck_states`).
    pub fn is_stuck_on_restart(self) -> bool {
        matches!(
            self,
            S::Deploying
                | S::Cleaning
                | S::Verifying
                | S::Inspecting
                | S::Adopting
                | S::Rescuing
                | S::Unrescuing
                | S::Deleting
                | S::Servicing
        )
    }

    /// Wait states, each guarded by a timeout in the conductor.
    pub fn is_wait(self) -> bool {
        matches!(self, S::DeployWait | S::CleanWait | S::InspectWait | S::RescueWait | S::ServiceWait)
    }

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            S::DeployFailed
                | S::CleanFailed
                | S::InspectFailed
                | S::RescueFailed
                | S::UnrescueFailed
                | S::AdoptFailed
                | S::ServiceFailed
        )
    }

    /// The agent may look the node up in these states (`LOOKUP_ALLOWED_STATES`).
    pub fn lookup_allowed(self) -> bool {
        matches!(
            self,
            S::Deploying
                | S::DeployWait
                | S::Cleaning
                | S::CleanWait
                | S::Inspecting
                | S::InspectWait
                | S::Rescuing
                | S::RescueWait
        )
    }
}
