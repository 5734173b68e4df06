//! The lab: simulated servers for testing ferric the way it is used, on one machine.
//!
//! - [`profiles`]: what a machine is made of ([`MachineSpec`]), four realistic hardware
//!   profiles and [`fleet`], deterministic from a seed.
//! - [`tree`]: a machine's fixture tree, the /proc, /sys, /dev and /run/udev files the agent's
//!   collectors read, so that the real agent code inspects the simulated hardware.
//!
//! **Invariant:** the lab is a test peer. It talks to ferric only over HTTP, as real machines
//! and their BMCs would, never through the store or the conductor; ferric cannot tell it from
//! a rack of servers.

pub mod profiles;
pub mod tree;

pub use profiles::{fleet, BootMode, DiskKind, MachineSpec, Profile};
pub use tree::{write_tree, write_tree_with, TreeOptions};
