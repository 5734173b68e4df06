//! ferric's in-band agent (ferric's ironic-python-agent): it runs in the ramdisk on the machine
//! being inspected or deployed, reads the hardware, talks to the Bare Metal API with IPA's
//! protocol and serves IPA's agent API.
//!
//! Architecture invariant: the agent depends on no other ferric crate; it speaks to the server
//! only over HTTP, exactly as IPA does, so either can replace the other.

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod disk;
pub mod erase;
pub mod hardware;
pub mod inventory;
pub mod run;
pub mod system;
pub mod tools;
pub mod vmedia;
