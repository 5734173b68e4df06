//! The lab: simulated servers for testing ferric the way it is used, on one machine.
//!
//! - [`profiles`]: what a machine is made of ([`MachineSpec`]), four realistic hardware
//!   profiles and [`fleet`], deterministic from a seed.
//! - [`tree`]: a machine's fixture tree, the /proc, /sys, /dev and /run/udev files the agent's
//!   collectors read, so that the real agent code inspects the simulated hardware.
//! - [`machine`]: a machine's state (power, boot override, boots), shared by its BMC and the
//!   rest of the lab, and the [`LabEvent`]s its hardware emits (network boot, power off).
//! - [`bmc`]: its virtual Redfish BMC (sessions, basic auth, validation, ETags, vendor quirks).
//! - [`lab`]: [`Lab::start`] serves every machine's BMC on loopback (one address per machine,
//!   or one port with a path per machine).
//! - [`qemu`]: QEMU mode, the machines as real QEMU VMs that network-boot through iPXE, their
//!   BMCs' power and boot device mapped onto QEMU processes and QMP.
//!
//! **Invariant:** the lab is a test peer. It talks to ferric only over HTTP, as real machines
//! and their BMCs would, never through the store or the conductor; ferric cannot tell it from
//! a rack of servers.

pub mod bmc;
pub mod lab;
pub mod host;
pub mod machine;
pub mod profiles;
pub mod qemu;
pub mod tree;

pub use bmc::{Credentials, SessionStore};
pub use lab::{Bind, Endpoint, Lab, LabConfig};
pub use machine::{BootEnabled, BootOverride, BootTarget, FirmwareMode, LabEvent, Machine, PowerDelay, PowerState, ResetType};
pub use profiles::{fleet, BootMode, DiskKind, MachineSpec, Profile};
pub use tree::{write_tree, write_tree_with, TreeOptions};
