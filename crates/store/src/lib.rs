//! Persistence for ferric: SQLite through rusqlite.
//!
//! * One **writer thread** owns the only write connection. Callers send it closures; it runs
//!   every closure waiting in its queue inside one transaction (each in its own savepoint, so one
//!   failing job does not undo the others), commits once with `synchronous=FULL` (an fsync), and
//!   only then answers each caller. That is group commit: every acknowledged write is on disk,
//!   and concurrent writers never see "database is locked" because there is only one.
//! * A small pool of **reader connections** serves reads concurrently (WAL mode).
//! * Records are JSON documents (the core types' serde form) plus the columns needed for
//!   uniqueness, locking, filtering and sorting.
//!
//! Architecture invariant: the store knows the core's records but not HTTP, microversions or
//! the state machine's rules; it never decides whether a change is allowed, only applies it
//! atomically.

mod db;
mod inspections;
mod records;
mod schema;

pub use db::{Store, StoreConfig};
pub use inspections::InspectionData;
pub use records::{AgentView, AllocationFilter, InspectionWrite, ListQuery, NodeFilter, PortFilter, PortgroupFilter, SortDir, AGENT_TOKEN};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {ident} could not be found.")]
    NotFound { kind: &'static str, ident: String },
    /// A UNIQUE constraint: `field` of `kind` already has `value`.
    #[error("A {kind} with {field} {value} already exists.")]
    Duplicate { kind: &'static str, field: String, value: String },
    #[error("Node {node} is locked by host {holder}, please retry after the current operation is completed.")]
    Locked { node: String, holder: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("the store is shut down")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
