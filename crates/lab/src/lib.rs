//! The lab: simulated servers for testing ferric the way it is used, on one machine.
//!
//! - [`profiles`]: what a machine is made of ([`MachineSpec`]), four realistic hardware
//!   profiles and [`fleet`], deterministic from a seed.
//!
//! **Invariant:** the lab is a test peer. It talks to ferric only over HTTP, as real machines
//! and their BMCs would, never through the store or the conductor; ferric cannot tell it from
//! a rack of servers.

pub mod profiles;

pub use profiles::{fleet, BootMode, DiskKind, MachineSpec, Profile};
