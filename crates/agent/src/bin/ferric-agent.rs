//! The agent alone, for the ramdisk (a small static binary; build it with
//! `cargo build --release --target x86_64-unknown-linux-musl -p ferric-agent`). It accepts the
//! same arguments as `ferric agent ...`, with or without the leading `agent`.

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ferric-agent", version, about = "ferric's in-band agent (IPA protocol)")]
struct Cli {
    #[command(flatten)]
    args: ferric_agent::cli::AgentArgs,
}

fn main() -> ExitCode {
    // `/bin/ferric agent --cmdline ...` in the ramdisk: drop the word `agent`.
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("agent") {
        argv.remove(1);
    }
    let cli = Cli::parse_from(argv);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(ferric_agent::cli::main(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
