//! `ferric agent` (and the standalone `ferric-agent` binary used in the ramdisk): run the agent,
//! or print this machine's inventory. Settings come from the kernel command line with IPA's
//! parameter names, and the same names work as flags (`--ipa-api-url URL`), which win.

use crate::config::{parse_kernel_params, Config};
use crate::hardware;
use crate::inventory::{InventoryData, InventorySource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub cmd: Option<AgentCmd>,
    /// Kernel command line to read IPA parameters from (a missing file counts as empty).
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
    /// Read the hardware under this directory instead of `/` (fixture trees, tests).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    #[arg(long = "ipa-api-url")]
    pub api_url: Option<String>,
    #[arg(long = "ipa-inspection-callback-url")]
    pub inspection_callback_url: Option<String>,
    /// Comma-separated collectors, e.g. `default,logs,pci-devices,lldp`.
    #[arg(long = "ipa-inspection-collectors")]
    pub inspection_collectors: Option<String>,
    #[arg(long = "ipa-agent-token")]
    pub agent_token: Option<String>,
    /// The MAC of the PXE interface (`01-aa-bb-cc-dd-ee-ff` or plain).
    #[arg(long = "BOOTIF", alias = "bootif")]
    pub bootif: Option<String>,
    #[arg(long = "ipa-advertise-host")]
    pub advertise_host: Option<String>,
    #[arg(long = "ipa-advertise-port")]
    pub advertise_port: Option<u16>,
    #[arg(long = "ipa-listen-port")]
    pub listen_port: Option<u16>,
    #[arg(long = "ipa-insecure")]
    pub insecure: Option<bool>,
    /// PEM CA certificates to verify HTTPS servers with, besides the system's (IPA's `cafile`).
    #[arg(long)]
    pub cafile: Option<PathBuf>,
    /// A PEM client certificate for HTTPS, with --keyfile (IPA's `certfile`).
    #[arg(long, requires = "keyfile")]
    pub certfile: Option<PathBuf>,
    /// The client certificate's PEM private key (IPA's `keyfile`).
    #[arg(long, requires = "certfile")]
    pub keyfile: Option<PathBuf>,
    /// Seconds to keep trying lookup.
    #[arg(long = "ipa-lookup-timeout")]
    pub lookup_timeout: Option<u64>,
    #[arg(long = "ipa-collect-lldp")]
    pub collect_lldp: Option<bool>,
    #[arg(long = "ipa-debug")]
    pub debug: Option<bool>,
    /// Any other IPA parameter, as `name=value`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum AgentCmd {
    /// Print this machine's inventory (IPA's schema) as JSON.
    Inventory {
        /// Collectors to run (IPA's names).
        #[arg(long, value_delimiter = ',', default_value = "default")]
        collectors: Vec<String>,
        /// Also print the collectors' plugin data and the warnings.
        #[arg(long)]
        all: bool,
    },
    /// Copy the files the collectors read (from `--root`, `/` by default) into a fixture tree:
    /// a directory, or a tar archive when OUT ends in `.tar` or is `-` (standard output).
    /// `ferric agent --root DIR inventory` reads it back; attach it to a bug report.
    Capture {
        /// Where to write: a new directory, `FILE.tar`, or `-`.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The hardware side as the protocol side consumes it.
pub fn inventory_source(root: PathBuf) -> InventorySource {
    Arc::new(move |collectors: &[String]| {
        let names: Vec<&str> = if collectors.is_empty() { vec!["default"] } else { collectors.iter().map(String::as_str).collect() };
        let c = hardware::collect(&root, &names);
        InventoryData { inventory: c.inventory, plugin_data: c.plugin_data, warnings: c.warnings }
    })
}

/// The IPA parameters: the kernel command line, the virtual media's `parameters.txt` when
/// booted from virtual media, then the flags.
pub fn params(args: &AgentArgs) -> Result<BTreeMap<String, String>, String> {
    let cmdline = std::fs::read_to_string(&args.cmdline).unwrap_or_default();
    let mut p = parse_kernel_params(&cmdline);
    // boot_method=vmedia: parameters.txt on the virtual media device wins over the command line.
    crate::vmedia::merge_vmedia_params(&mut p, &crate::tools::HostTools, &args.root);
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            p.insert(k.to_string(), v);
        }
    };
    set("ipa-api-url", args.api_url.clone());
    set("ipa-inspection-callback-url", args.inspection_callback_url.clone());
    set("ipa-inspection-collectors", args.inspection_collectors.clone());
    set("ipa-agent-token", args.agent_token.clone());
    set("BOOTIF", args.bootif.clone());
    set("ipa-advertise-host", args.advertise_host.clone());
    set("ipa-advertise-port", args.advertise_port.map(|v| v.to_string()));
    set("ipa-listen-port", args.listen_port.map(|v| v.to_string()));
    set("ipa-insecure", args.insecure.map(|v| v.to_string()));
    set("ipa-lookup-timeout", args.lookup_timeout.map(|v| v.to_string()));
    set("ipa-collect-lldp", args.collect_lldp.map(|v| v.to_string()));
    set("ipa-debug", args.debug.map(|v| v.to_string()));
    for kv in &args.params {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("--param expects NAME=VALUE, got {kv:?}"))?;
        p.insert(k.to_string(), v.to_string());
    }
    Ok(p)
}

fn init_logging(debug: bool) {
    use std::io::IsTerminal;
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Run `ferric agent ...`.
pub async fn main(args: AgentArgs) -> Result<(), String> {
    let root = args.root.clone();
    match &args.cmd {
        Some(AgentCmd::Inventory { collectors, all }) => {
            let names: Vec<String> = collectors.clone();
            let root2 = root.clone();
            let c = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                hardware::collect(Path::new(&root2), &refs)
            })
            .await
            .map_err(|e| e.to_string())?;
            let out = if *all {
                serde_json::json!({"inventory": c.inventory, "plugin_data": c.plugin_data, "warnings": c.warnings})
            } else {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                c.inventory
            };
            println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
            Ok(())
        }
        Some(AgentCmd::Capture { out }) => {
            use hardware::capture;
            let sum = if out == Path::new("-") {
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::new(stdout.lock());
                capture::capture_to_tar(&root, &mut w)
            } else if out.extension().is_some_and(|e| e == "tar") {
                std::fs::File::create(out).and_then(|f| capture::capture_to_tar(&root, &mut std::io::BufWriter::new(f)))
            } else {
                capture::capture_to_dir(&root, out)
            }
            .map_err(|e| format!("capture into {}: {e}", out.display()))?;
            eprintln!(
                "captured {} files ({} bytes), {} links, {} directories from {} into {}",
                sum.files,
                sum.bytes,
                sum.links,
                sum.dirs,
                root.display(),
                out.display()
            );
            Ok(())
        }
        None => {
            let p = params(&args)?;
            let mut config = Config::from_params(&p).map_err(|e| e.to_string())?;
            config.cafile = args.cafile.clone();
            config.certfile = args.certfile.clone();
            config.keyfile = args.keyfile.clone();
            init_logging(config.debug.unwrap_or(false));
            tracing::info!(api = ?config.api_urls, callback = ?config.inspection_callback_urls, "ferric agent starting");
            crate::run::run(config, inventory_source(root), Arc::new(crate::system::LinuxSystem)).await.map_err(|e| e.to_string())
        }
    }
}
