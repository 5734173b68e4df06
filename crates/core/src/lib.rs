//! ferric's domain: records, the provision state machine, microversions and validation.
//!
//! Architecture invariant: this crate does no IO (no files, sockets, clocks other than `now()`
//! passed in by callers where it matters, no threads) and knows nothing of HTTP or SQL.

pub mod boot;
pub mod tftp;
pub mod bulk;
pub mod fsm;
pub mod identity;
pub mod inspection;
pub mod inventory_diff;
pub mod model;
pub mod pxe_filter;
pub mod rules;
pub mod states;
pub mod validate;
pub mod version;

pub use fsm::{Event, Transition};
pub use model::{
    Allocation, Chassis, Conductor, DeployStep, DeployTemplate, Dict, Inspection, InspectionState, Interfaces, Node, NodeHistory, NodeInventory, Port, Portgroup, Runbook, RunbookStep, Timestamp, VolumeConnector, VolumeTarget,
};
pub use states::{PowerState, ProvisionState};
pub use version::Version;
