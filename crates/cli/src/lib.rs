//! ferric's operator CLI: `ferric node ...` and `ferric port ...`.
//!
//! An HTTP client of the OpenStack Bare Metal API (Ironic v1 wire format); it
//! works the same against real Ironic and against ferric. It knows nothing of
//! ferric's internals: only the wire JSON.
//!
//! Wiring it into a clap tree (the `ferric` binary does this; see also
//! `examples/ferric-cli.rs`):
//!
//! ```text
//! #[derive(clap::Subcommand)]
//! enum Top {
//!     Node { #[command(flatten)] opts: ferric_cli::ClientOpts,
//!            #[command(subcommand)] cmd: ferric_cli::NodeCommand },
//!     Port { #[command(flatten)] opts: ferric_cli::ClientOpts,
//!            #[command(subcommand)] cmd: ferric_cli::PortCommand },
//! }
//! // ...
//! if let Err(e) = ferric_cli::run_node(&opts, cmd).await {
//!     e.report();                      // "Error: <message> (HTTP <status>)" on stderr
//!     std::process::exit(e.exit_code());
//! }
//! ```
//!
//! The options of [`ClientOpts`] are `global`, so they are accepted anywhere
//! after `node`/`port`.

pub mod client;
pub mod error;
pub mod kv;
pub mod inspect;
pub mod node;
pub mod opts;
pub mod output;
pub mod port;
pub mod states;
pub mod util;
pub mod wait;

pub use error::CliError;
pub use node::NodeCommand;
pub use opts::{ClientOpts, OutputFormat};
pub use port::PortCommand;

use output::Out;

/// Run a `node` subcommand, printing to stdout (progress and per-node errors to stderr).
pub async fn run_node(opts: &ClientOpts, cmd: NodeCommand) -> Result<(), CliError> {
    node::exec(opts, cmd, &mut Out::stdout()).await
}

/// Run a `port` subcommand, printing to stdout.
pub async fn run_port(opts: &ClientOpts, cmd: PortCommand) -> Result<(), CliError> {
    port::exec(opts, cmd, &mut Out::stdout()).await
}

/// Like [`run_node`], but returns what would have been printed on stdout.
#[doc(hidden)]
pub async fn run_node_captured(
    opts: &ClientOpts,
    cmd: NodeCommand,
) -> (String, Result<(), CliError>) {
    let mut out = Out::capture();
    let r = node::exec(opts, cmd, &mut out).await;
    (out.into_captured(), r)
}

/// Like [`run_port`], but returns what would have been printed on stdout.
#[doc(hidden)]
pub async fn run_port_captured(
    opts: &ClientOpts,
    cmd: PortCommand,
) -> (String, Result<(), CliError>) {
    let mut out = Out::capture();
    let r = port::exec(opts, cmd, &mut out).await;
    (out.into_captured(), r)
}
