//! A stand-alone driver of the CLI library, wired the way the `ferric` binary
//! wires it (`ferric node ...`, `ferric port ...`):
//!
//! ```text
//! cargo run -p ferric-cli --example ferric-cli -- node list --url http://127.0.0.1:6385
//! ```

use clap::{Parser, Subcommand};
use ferric_cli::{ClientOpts, NodeCommand, PortCommand};

#[derive(Parser, Debug)]
#[command(
    name = "ferric",
    about = "Bare Metal API client (ferric-cli example driver)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage nodes.
    Node {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: NodeCommand,
    },
    /// Manage ports.
    Port {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: PortCommand,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node { opts, cmd } => ferric_cli::run_node(&opts, cmd).await,
        Command::Port { opts, cmd } => ferric_cli::run_port(&opts, cmd).await,
    };
    if let Err(e) = result {
        e.report();
        std::process::exit(e.exit_code());
    }
}
