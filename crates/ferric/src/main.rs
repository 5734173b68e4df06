//! `ferric`: the Bare Metal service (`ferric serve`) and the operator CLI (`ferric node ...`).

mod config;
mod demo;
mod rules_http;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ferric", version, about = "Bare-metal provisioning and inspection, compatible with OpenStack Ironic's API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the conductor in one process.
    Serve(ServeArgs),
    /// Manage nodes through the API.
    Node {
        #[command(flatten)]
        opts: ferric_cli::ClientOpts,
        #[command(subcommand)]
        cmd: ferric_cli::NodeCommand,
    },
    /// Run the in-band agent (IPA protocol), or print this machine's inventory.
    Agent(ferric_agent::cli::AgentArgs),
    /// The whole flow on one machine: ferric, a lab of simulated servers with Redfish BMCs,
    /// enrollment, bulk inspection over a simulated network boot, a fleet table.
    Demo(demo::DemoArgs),
    /// Simulated servers with virtual Redfish BMCs, for a ferric that is already running.
    Lab(demo::LabArgs),
    /// Manage ports through the API.
    Port {
        #[command(flatten)]
        opts: ferric_cli::ClientOpts,
        #[command(subcommand)]
        cmd: ferric_cli::PortCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (environment: FERRIC_<SECTION>__<KEY> overrides it).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Directory for the database (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:6385).
    #[arg(long)]
    listen: Option<String>,
    /// Address of the ironic-inspector API (default 127.0.0.1:5050; "" to not serve it).
    #[arg(long)]
    inspector_listen: Option<String>,
    /// Address of the boot server (iPXE scripts, kernel, ramdisk; default "": not served).
    #[arg(long)]
    pxe_listen: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    log_format: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(async move {
        let client = match cli.command {
            Command::Serve(args) => return serve(args).await,
            Command::Agent(args) => return ferric_agent::cli::main(args).await,
            Command::Demo(args) => {
                init_demo_logging();
                return demo::demo(args).await;
            }
            Command::Lab(args) => {
                init_demo_logging();
                return demo::lab(args).await;
            }
            Command::Node { opts, cmd } => ferric_cli::run_node(&opts, cmd).await,
            Command::Port { opts, cmd } => ferric_cli::run_port(&opts, cmd).await,
        };
        if let Err(e) = &client {
            e.report();
            std::process::exit(e.exit_code());
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo and the lab log only warnings (to stderr), so the progress bars stay readable; the
/// simulated machines' agents are their consoles and stay quiet unless RUST_LOG asks.
fn init_demo_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,ferric_agent=off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut cfg = config::Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = args.data_dir {
        cfg.server.data_dir = d;
    }
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(l) = args.inspector_listen {
        cfg.inspector.listen = l;
    }
    if let Some(l) = args.pxe_listen {
        cfg.pxe.listen = l;
    }
    if let Some(f) = args.log_format {
        cfg.server.log_format = f;
    }
    init_logging(&cfg.server.log_format);

    let conductor_config = cfg.conductor_config()?;
    let boot_config = cfg.boot_config()?;
    let tftp_config = cfg.tftp_config()?;
    let db = cfg.server.data_dir.join("ferric.sqlite");
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(&db)).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let drivers = ferric_drivers::Registry::with_config(cfg.driver_config()?);
    let conductor = ferric_conductor::Conductor::new(store.clone(), drivers, conductor_config);
    let failed = conductor.start_up().await.map_err(|e| format!("conductor start-up failed: {e}"))?;
    if !failed.is_empty() {
        tracing::warn!(nodes = ?failed, "nodes left in transient states by a previous run were failed");
    }
    let periodic = ferric_conductor::periodic::standard(&conductor);
    let pxe_filter = match cfg.pxe_filter.config(cfg.auto_discovery.enabled)? {
        Some(f) => {
            tracing::info!(dir = %f.hostsdir.display(), "keeping the dnsmasq PXE filter");
            Some(conductor.spawn_pxe_filter(f))
        }
        None => None,
    };
    let app = ferric_api::router(conductor.clone(), cfg.api_config());
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.server.listen))?;
    tracing::info!(
        listen = %cfg.server.listen,
        database = %db.display(),
        host = %conductor.host(),
        max_version = %ferric_core::version::MAX,
        "ferric is serving the Bare Metal API"
    );
    // One shutdown signal for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let inspector = if cfg.inspector.listen.is_empty() {
        None
    } else {
        let l = tokio::net::TcpListener::bind(&cfg.inspector.listen)
            .await
            .map_err(|e| format!("cannot listen on {} ([inspector] listen): {e}", cfg.inspector.listen))?;
        tracing::info!(listen = %cfg.inspector.listen, "serving the ironic-inspector API");
        let app = ferric_api::inspector_router(conductor.clone(), cfg.api_config());
        Some(tokio::spawn(ferric_api::serve_inspector(l, app, stopped(stop_rx.clone()))))
    };
    let boot = match boot_config {
        None => None,
        Some(b) => {
            let l = tokio::net::TcpListener::bind(&cfg.pxe.listen)
                .await
                .map_err(|e| format!("cannot listen on {} ([pxe] listen): {e}", cfg.pxe.listen))?;
            tracing::info!(
                listen = %cfg.pxe.listen,
                http_url = %b.settings.http_url,
                api_url = %b.settings.api_url,
                kernel = ?b.kernel,
                ramdisk = ?b.ramdisk,
                "serving the boot server (DHCP boot file: {}/boot.ipxe)",
                b.settings.http_url.trim_end_matches('/')
            );
            let app = ferric_api::boot::router(conductor.clone(), b);
            Some(tokio::spawn(ferric_api::boot::serve(l, app, stopped(stop_rx.clone()))))
        }
    };
    if let Some((listen, t)) = tftp_config {
        let sock = tokio::net::UdpSocket::bind(&listen).await.map_err(|e| format!("cannot listen on {listen} ([pxe] tftp_listen, UDP): {e}"))?;
        tracing::info!(%listen, root = ?t.root, "serving TFTP (boot.ipxe and [pxe] tftp_root)");
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = ferric_api::tftp::serve(sock, t, stop).await {
                tracing::error!(error = %e, "TFTP failed");
            }
        });
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    ferric_api::serve(listener, app, stopped(stop_rx)).await.map_err(|e| e.to_string())?;
    if let Some(h) = inspector {
        match h.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the inspector API listener failed"),
            Err(e) => tracing::error!(error = %e, "the inspector API task failed"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(h) = boot {
        match h.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the boot server listener failed"),
            Err(e) => tracing::error!(error = %e, "the boot server task failed"),
            Ok(Ok(())) => {}
        }
    }
    tracing::info!("shutting down: stopping periodic tasks and flushing the store");
    periodic.shutdown().await;
    if let Some(h) = pxe_filter {
        h.abort();
    }
    let _ = conductor.register(false).await;
    store.close();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
