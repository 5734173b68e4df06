//! Options shared by every `ferric node|port` command.

/// Default endpoint when neither `--url`, `FERRIC_URL` nor `OS_ENDPOINT` is set.
pub const DEFAULT_URL: &str = "http://127.0.0.1:6385";

/// Output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// JSON on stdout (lists: an array of objects; show: the object).
    Json,
}

/// Client options. All are `global`, so they may be given before or after the
/// subcommand (`ferric node --url X list` or `ferric node list --url X`).
#[derive(clap::Args, Debug, Clone)]
pub struct ClientOpts {
    /// Bare Metal API endpoint [env: FERRIC_URL, then OS_ENDPOINT] [default: http://127.0.0.1:6385]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Client options"
    )]
    pub url: Option<String>,

    /// Output format.
    #[arg(short = 'f', long = "format", global = true, help_heading = "Client options", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Bare Metal API microversion sent in X-OpenStack-Ironic-API-Version ("latest" or 1.N).
    #[arg(
        long,
        global = true,
        value_name = "VERSION",
        help_heading = "Client options",
        default_value = "latest"
    )]
    pub api_version: String,

    /// Timeout of each HTTP request, in seconds.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Client options",
        default_value_t = 60
    )]
    pub http_timeout: u64,
}

impl ClientOpts {
    /// The endpoint: `--url`, else `FERRIC_URL`, else `OS_ENDPOINT`, else the default.
    ///
    /// (The environment is read here rather than by clap's `env` because clap
    /// supports a single variable per option.)
    pub fn endpoint(&self) -> String {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        self.url
            .clone()
            .or_else(|| from_env("FERRIC_URL"))
            .or_else(|| from_env("OS_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    /// Options pointing at `url` with defaults otherwise (for tests and embedders).
    pub fn for_url(url: &str) -> Self {
        ClientOpts {
            url: Some(url.to_string()),
            format: OutputFormat::Table,
            api_version: "latest".into(),
            http_timeout: 60,
        }
    }
}
