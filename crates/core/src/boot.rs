//! The boot server's decision: which iPXE script a machine booting from a NIC gets, as
//! Ironic's `ipxe` boot interface would have prepared it (`ironic/common/pxe_utils.py`,
//! `ironic/drivers/modules/pxe_base.py`, `ipxe_config.template`, `boot.ipxe`).
//!
//! Ironic writes a per-MAC config file when an operation boots the ramdisk
//! (`prepare_ramdisk`) and removes it afterwards; ferric derives the same answer from the node
//! as it is now. A node gets the agent while one of its operations wants the ramdisk:
//!
//! | states | wanted when |
//! |---|---|
//! | `inspecting`, `inspect wait` | the inspect interface is in-band (`agent`, `inspector`) |
//! | `cleaning`, `clean wait`, `clean hold` | the deploy interface cleans through the agent, and not `cleaning_disable_ramdisk` |
//! | `deploying`, `wait call-back`, `deploy hold` | the deploy interface writes the image through the agent, until the instance's boot is prepared (`deploy.prepare_instance_boot` has run) |
//! | `rescuing`, `rescue wait` | the rescue interface is `agent` (the rescue kernel and ramdisk) |
//! | `servicing`, `service wait`, `service hold` | as cleaning, with `service_disable_ramdisk` |
//!
//! and the boot interface boots from the network (`ipxe`, `pxe`, `http-ipxe`, `http`, or
//! `fake`, which stands for "PXE through this server" until ferric has real boot interfaces).
//! Any other node boots from its local disk. A machine no node knows gets the inspection
//! agent for discovery when `[auto_discovery] enabled`, or while some node waits for in-band
//! inspection and managed boot is not required (Ironic's unmanaged inspection, which ferric's
//! PXE filter also lets through); otherwise it boots from its local disk.
//!
//! Everything put into a script is checked first: no control characters anywhere (a newline
//! would start a new iPXE command), URLs without whitespace. Pure: no IO.

use crate::model::Dict;
use crate::states::ProvisionState as S;
use crate::Node;
use serde_json::Value;
use std::fmt::{self, Write as _};

/// Inspect interfaces that boot the ramdisk (in-band inspection).
pub const IN_BAND_INSPECT: &[&str] = &["agent", "inspector"];
/// Boot interfaces whose network boot this server answers.
pub const NETWORK_BOOT: &[&str] = &["ipxe", "pxe", "http-ipxe", "http", "fake"];
/// Deploy interfaces that clean and service through the agent (Ironic's `AgentBaseMixin`).
pub const AGENT_CLEAN: &[&str] = &["direct", "custom-agent", "ansible", "ramdisk", "anaconda"];
/// Deploy interfaces that write the image through the agent while deploying.
pub const AGENT_DEPLOY: &[&str] = &["direct", "custom-agent", "ansible"];
/// Ironic's `[pxe]kernel_append_params` default.
pub const DEFAULT_KERNEL_APPEND_PARAMS: &str = "nofb vga=normal";
/// Ironic's `[conductor]file_url_allowed_paths` default.
pub const DEFAULT_FILE_URL_ALLOWED_PATHS: &[&str] = &["/var/lib/ironic", "/shared/html", "/templates", "/opt/cache/files", "/vagrant"];
/// Never served, whatever the allow list says (Ironic's `BLOCKED_FILE_URL_PATHS`).
pub const BLOCKED_FILE_URL_PATHS: &[&str] = &["/dev", "/sys", "/proc", "/boot", "/etc", "/run"];
/// The agent's callback path for inspection reports.
pub const CONTINUE_INSPECTION_PATH: &str = "/v1/continue_inspection";
/// How many times the agent script retries a failed download (Ironic's template: 10).
pub const DOWNLOAD_ATTEMPTS: u32 = 10;

// ---------------------------------------------------------------------------------------------
// MAC addresses

/// A 48-bit MAC address, parsed strictly from what a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacError;

impl fmt::Display for MacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address as six pairs of hexadecimal digits separated by ':' or '-' (aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff), optionally with pxelinux's 01- prefix")
    }
}

impl Mac {
    /// `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` (iPXE's `:hexhyp`) or pxelinux's
    /// `01-aa-bb-cc-dd-ee-ff`, in either case; one separator throughout; nothing else.
    pub fn parse(s: &str) -> Result<Mac, MacError> {
        // Checked on bytes before anything else: hostile input never gets further.
        let b = s.as_bytes();
        let body = match b.len() {
            17 => b,
            20 if b.starts_with(b"01-") => &b[3..],
            _ => return Err(MacError),
        };
        let sep = body[2];
        if sep != b':' && sep != b'-' {
            return Err(MacError);
        }
        let mut out = [0u8; 6];
        for (i, o) in out.iter_mut().enumerate() {
            let at = i * 3;
            if i < 5 && body[at + 2] != sep {
                return Err(MacError);
            }
            let hi = hex(body[at]).ok_or(MacError)?;
            let lo = hex(body[at + 1]).ok_or(MacError)?;
            *o = hi << 4 | lo;
        }
        Ok(Mac(out))
    }

    /// Lower-case colon form, as ports store it.
    pub fn colon(&self) -> String {
        self.join(':')
    }

    /// Lower-case hyphen form (iPXE's `${mac:hexhyp}`).
    pub fn hyphen(&self) -> String {
        self.join('-')
    }

    /// pxelinux's `BOOTIF` form: `01-aa-bb-cc-dd-ee-ff` (01 = Ethernet).
    pub fn bootif(&self) -> String {
        format!("01-{}", self.hyphen())
    }

    fn join(&self, sep: char) -> String {
        let mut s = String::with_capacity(17);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(sep);
            }
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.colon())
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Settings and inputs

/// The boot server's settings (`[pxe]`, `[inspector]`, `[auto_discovery]`, `[conductor]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BootSettings {
    /// What the machines reach this server at (`[pxe] http_url`), without a trailing slash.
    pub http_url: String,
    /// The Bare Metal API's URL as the machines reach it (`[pxe] api_url`): `ipa-api-url`.
    pub api_url: String,
    /// `[inspector] callback_endpoint_override`; empty: `<api_url>/v1/continue_inspection`.
    pub callback_url: String,
    /// `[pxe] kernel_append_params`, unless the node overrides it.
    pub kernel_append_params: String,
    /// `[inspector] extra_kernel_params`: `key=value` words added for inspection and discovery.
    pub extra_kernel_params: String,
    /// `ipa-inspection-collectors` for inspection and discovery (`[pxe] ipa_inspection_collectors`).
    pub inspection_collectors: String,
    /// Add `ipa-insecure=1` (`[pxe] ipa_insecure`).
    pub insecure: bool,
    /// `[pxe] ipxe_timeout`: seconds for each download; 0: iPXE's own.
    pub ipxe_timeout: u64,
    /// `[pxe] kernel` and `[pxe] ramdisk` are both set: served at `/images/kernel` and
    /// `/images/ramdisk`, for nodes without images of their own and for unknown machines.
    pub default_images: bool,
    /// `[auto_discovery] enabled`.
    pub discovery: bool,
    /// `[inspector] require_managed_boot`: unknown machines never get the agent for a node's
    /// inspection, only for discovery.
    pub require_managed_boot: bool,
    /// `[conductor] file_url_allowed_paths`: where `file://` images in driver_info may be.
    pub file_url_allowed_paths: Vec<String>,
}

impl Default for BootSettings {
    fn default() -> Self {
        BootSettings {
            http_url: String::new(),
            api_url: String::new(),
            callback_url: String::new(),
            kernel_append_params: DEFAULT_KERNEL_APPEND_PARAMS.into(),
            extra_kernel_params: String::new(),
            inspection_collectors: "default,logs".into(),
            insecure: false,
            ipxe_timeout: 0,
            default_images: false,
            discovery: false,
            require_managed_boot: false,
            file_url_allowed_paths: DEFAULT_FILE_URL_ALLOWED_PATHS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl BootSettings {
    /// Check what goes into every script; the text names the option.
    pub fn validate(&self) -> Result<(), String> {
        for (opt, v) in [("[pxe] http_url", &self.http_url), ("[pxe] api_url", &self.api_url)] {
            check_url(v).map_err(|e| format!("{opt}: {e}"))?;
        }
        if !self.callback_url.is_empty() {
            check_url(&self.callback_url).map_err(|e| format!("[inspector] callback_endpoint_override: {e}"))?;
        }
        check_words(&self.kernel_append_params).map_err(|e| format!("[pxe] kernel_append_params: {e}"))?;
        parse_kernel_params(&self.extra_kernel_params).map_err(|e| format!("[inspector] extra_kernel_params: {e}"))?;
        check_words(&self.inspection_collectors).map_err(|e| format!("[pxe] ipa_inspection_collectors: {e}"))?;
        if self.inspection_collectors.split_whitespace().count() > 1 {
            return Err("[pxe] ipa_inspection_collectors: a comma-separated list without spaces is expected".into());
        }
        for p in &self.file_url_allowed_paths {
            if !p.starts_with('/') || p.contains("/../") || p.ends_with("/..") || p.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(format!("[conductor] file_url_allowed_paths: {p:?} is not an absolute path"));
            }
        }
        Ok(())
    }

    fn http(&self) -> &str {
        self.http_url.trim_end_matches('/')
    }

    fn api(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }

    fn callback(&self) -> String {
        if self.callback_url.is_empty() {
            format!("{}{CONTINUE_INSPECTION_PATH}", self.api())
        } else {
            self.callback_url.clone()
        }
    }
}

/// What the server knows about the MAC a machine boots from.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// A port with this MAC belongs to this node; its interfaces are resolved (an empty
    /// interface replaced by the hardware type's default).
    Node(&'a Node),
    /// No port has this MAC. `inspection_pending`: some node is inspecting in-band now.
    Unknown { inspection_pending: bool },
}

// ---------------------------------------------------------------------------------------------
// Decisions

/// Why the agent is booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Inspection,
    Discovery,
    Cleaning,
    Deployment,
    Rescue,
    Servicing,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Inspection => "inspection",
            Purpose::Discovery => "discovery",
            Purpose::Cleaning => "cleaning",
            Purpose::Deployment => "deployment",
            Purpose::Rescue => "rescue",
            Purpose::Servicing => "servicing",
        }
    }

    /// Inspection and discovery post a report, so they get the inspection parameters.
    fn inspects(self) -> bool {
        matches!(self, Purpose::Inspection | Purpose::Discovery)
    }
}

/// The firmware's boot mode, where it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    Bios,
    Uefi,
}

/// The agent to boot: what the script fetches and the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBoot {
    pub purpose: Purpose,
    /// The node's UUID; `None` for a machine no node knows.
    pub node: Option<String>,
    pub kernel_url: String,
    pub ramdisk_url: String,
    /// The kernel parameters after the kernel's URL.
    pub cmdline: String,
}

/// What a machine booting from a NIC gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Agent(AgentBoot),
    /// Boot from the local disk; `reason` goes into the script as a comment.
    LocalBoot { node: Option<String>, reason: String, boot_mode: Option<BootMode> },
    /// The agent is wanted but cannot be booted (missing or unusable images): the script says
    /// why on the console and powers the machine off, as Ironic's template does when it
    /// cannot load the ramdisk.
    Fail { node: Option<String>, reason: String },
}

impl Decision {
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Agent(a) => a.purpose.as_str(),
            Decision::LocalBoot { .. } => "local boot",
            Decision::Fail { .. } => "failure",
        }
    }

    pub fn node(&self) -> Option<&str> {
        match self {
            Decision::Agent(a) => a.node.as_deref(),
            Decision::LocalBoot { node, .. } | Decision::Fail { node, .. } => node.as_deref(),
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Agent(_) => None,
            Decision::LocalBoot { reason, .. } | Decision::Fail { reason, .. } => Some(reason),
        }
    }
}

/// The decision for a machine booting from the NIC `mac`.
pub fn decide(mac: &Mac, known: Known<'_>, s: &BootSettings) -> Decision {
    match known {
        Known::Node(node) => decide_node(mac, node, s),
        Known::Unknown { inspection_pending } => {
            let purpose = if s.discovery {
                Purpose::Discovery
            } else if inspection_pending && !s.require_managed_boot {
                Purpose::Inspection
            } else {
                let why = if inspection_pending { "auto-discovery is off and managed boot is required" } else { "auto-discovery is off" };
                return Decision::LocalBoot { node: None, reason: format!("no node has a port with MAC address {mac} and {why}"), boot_mode: None };
            };
            if !s.default_images {
                return Decision::Fail {
                    node: None,
                    reason: format!("no node has a port with MAC address {mac}, and [pxe] kernel and ramdisk are not set for {}", purpose.as_str()),
                };
            }
            let kernel = format!("{}/images/kernel", s.http());
            let ramdisk = format!("{}/images/ramdisk", s.http());
            agent(purpose, None, mac, kernel, ramdisk, "ramdisk", &s.kernel_append_params, s)
        }
    }
}

fn decide_node(mac: &Mac, node: &Node, s: &BootSettings) -> Decision {
    let uuid = Some(node.uuid.clone());
    let local = |reason: String| Decision::LocalBoot { node: uuid.clone(), reason, boot_mode: boot_mode(node) };
    let st = node.provision_state;
    let i = &node.interfaces;
    let purpose = match st {
        S::Inspecting | S::InspectWait => {
            if !IN_BAND_INSPECT.contains(&i.inspect.as_str()) {
                return local(format!("node is in {st} with the {} inspect interface, which does not boot the ramdisk", i.inspect));
            }
            Purpose::Inspection
        }
        S::Cleaning | S::CleanWait | S::CleanHold => {
            if !AGENT_CLEAN.contains(&i.deploy.as_str()) {
                return local(format!("node is in {st} with the {} deploy interface, which does not clean through the agent", i.deploy));
            }
            if flag(&node.driver_internal_info, "cleaning_disable_ramdisk") {
                return local(format!("node is in {st} with the ramdisk disabled (cleaning_disable_ramdisk)"));
            }
            Purpose::Cleaning
        }
        S::Deploying | S::DeployWait | S::DeployHold => {
            if !AGENT_DEPLOY.contains(&i.deploy.as_str()) {
                return local(format!("node is in {st} with the {} deploy interface, which does not deploy through the agent", i.deploy));
            }
            if let Some(step) = instance_boot_prepared(node) {
                return local(format!("node is in {st} and its instance's boot is prepared (deploy step {step})"));
            }
            Purpose::Deployment
        }
        S::Rescuing | S::RescueWait => {
            if i.rescue != "agent" {
                return local(format!("node is in {st} with the {} rescue interface, which does not boot the rescue ramdisk", i.rescue));
            }
            Purpose::Rescue
        }
        S::Servicing | S::ServiceWait | S::ServiceHold => {
            if !AGENT_CLEAN.contains(&i.deploy.as_str()) {
                return local(format!("node is in {st} with the {} deploy interface, which does not service through the agent", i.deploy));
            }
            if flag(&node.driver_internal_info, "service_disable_ramdisk") {
                return local(format!("node is in {st} with the ramdisk disabled (service_disable_ramdisk)"));
            }
            Purpose::Servicing
        }
        _ => return local(format!("node is in {st}, which boots nothing from the network")),
    };
    if !NETWORK_BOOT.contains(&i.boot.as_str()) {
        return local(format!("node is in {st} but its {} boot interface does not boot from the network", i.boot));
    }
    let images = match node_images(node, purpose, s) {
        Ok(x) => x,
        Err(e) => return Decision::Fail { node: uuid, reason: e },
    };
    let append = match kernel_append_params(node, &s.kernel_append_params) {
        Ok(a) => a,
        Err(e) => return Decision::Fail { node: uuid, reason: e },
    };
    agent(purpose, uuid, mac, images.kernel, images.ramdisk, &images.initrd_name, &append, s)
}

/// A driver_internal_info flag set to true (JSON `true` or a true-looking string).
fn flag(d: &Dict, key: &str) -> bool {
    match d.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"),
        _ => false,
    }
}

/// Ironic's `boot_mode_utils.get_boot_mode`, with what ferric knows: the mode the BMC
/// reports, then `instance_info.deploy_boot_mode`, then the `boot_mode` capability.
pub fn boot_mode(node: &Node) -> Option<BootMode> {
    let parse = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "uefi" => Some(BootMode::Uefi),
        "bios" => Some(BootMode::Bios),
        _ => None,
    };
    if let Some(m) = node.boot_mode.as_deref().and_then(parse) {
        return Some(m);
    }
    if let Some(m) = node.instance_info.get("deploy_boot_mode").and_then(Value::as_str).and_then(parse) {
        return Some(m);
    }
    node.properties.get("capabilities").and_then(Value::as_str).and_then(|caps| {
        caps.split(',').filter_map(|kv| kv.split_once(':')).find(|(k, _)| k.trim() == "boot_mode").and_then(|(_, v)| parse(v))
    })
}

/// The deploy step after which the machine boots its instance, once it has run: Ironic's
/// `prepare_instance_boot` switches the node's PXE config to the instance (local disk).
/// Returns the current step's name when the node is past it.
fn instance_boot_prepared(node: &Node) -> Option<String> {
    const AFTER: &[&str] = &["tear_down_agent", "switch_to_tenant_network", "boot_instance"];
    let field = |d: &Dict, k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let current = (field(&node.deploy_step, "interface"), field(&node.deploy_step, "step"));
    if current.1.is_empty() {
        return None;
    }
    let steps: Vec<(String, String)> = node
        .driver_internal_info
        .get("deploy_steps")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).map(|d| (field(d, "interface"), field(d, "step"))).collect())
        .unwrap_or_default();
    let prepare = steps.iter().position(|(i, s)| i == "deploy" && s == "prepare_instance_boot");
    let at = steps.iter().position(|x| *x == current);
    let past = match (prepare, at) {
        (Some(p), Some(c)) => c > p,
        // Without the plan, by name: the deploy interface's steps that come after it.
        _ => current.0 == "deploy" && AFTER.contains(&current.1.as_str()),
    };
    past.then(|| format!("{}.{}", current.0, current.1))
}

/// Ironic's `driver_utils.get_kernel_append_params`: `instance_info`, then `driver_info`
/// `kernel_append_params`, then the setting; `%default%` in a node's value stands for the
/// setting.
fn kernel_append_params(node: &Node, default: &str) -> Result<String, String> {
    for (location, d) in [("instance_info", &node.instance_info), ("driver_info", &node.driver_info)] {
        match d.get("kernel_append_params") {
            None | Some(Value::Null) => continue,
            Some(Value::String(v)) => {
                check_words(v).map_err(|e| format!("{location} kernel_append_params: {e}"))?;
                return Ok(v.replace("%default%", default));
            }
            Some(other) => return Err(format!("{location} kernel_append_params must be a string, not {other}")),
        }
    }
    Ok(default.to_string())
}

// ---------------------------------------------------------------------------------------------
// Images

/// Which driver_info fields hold a purpose's kernel and ramdisk.
pub fn image_labels(purpose: Purpose) -> [&'static str; 2] {
    match purpose {
        Purpose::Rescue => ["rescue_kernel", "rescue_ramdisk"],
        _ => ["deploy_kernel", "deploy_ramdisk"],
    }
}

/// The driver_info labels `/images/<node>/<label>` serves.
pub const IMAGE_LABELS: &[&str] = &["deploy_kernel", "deploy_ramdisk", "rescue_kernel", "rescue_ramdisk"];

struct Images {
    kernel: String,
    ramdisk: String,
    initrd_name: String,
}

/// Where a driver_info image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An http(s) URL the machine fetches itself.
    Url(String),
    /// A local file this server streams, lexically normalised and within the allowed paths.
    File(String),
}

/// Ironic's `parse_driver_info` for a purpose: both images from driver_info, or neither
/// (then `[pxe] kernel`/`ramdisk`), never one of each.
fn node_images(node: &Node, purpose: Purpose, s: &BootSettings) -> Result<Images, String> {
    let labels = image_labels(purpose);
    let present: Vec<bool> = labels.iter().map(|l| present(&node.driver_info, l)).collect();
    if present.iter().all(|p| !p) {
        if !s.default_images {
            return Err(format!(
                "Cannot boot the agent for {}: the node has no driver_info {} and {}, and [pxe] kernel and ramdisk are not set",
                purpose.as_str(),
                labels[0],
                labels[1]
            ));
        }
        return Ok(Images {
            kernel: format!("{}/images/kernel", s.http()),
            ramdisk: format!("{}/images/ramdisk", s.http()),
            initrd_name: "ramdisk".into(),
        });
    }
    if present.iter().any(|p| !p) {
        let missing: Vec<String> = labels.iter().zip(&present).filter(|(_, p)| !**p).map(|(l, _)| format!("'{l}'")).collect();
        return Err(format!(
            "Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. Missing are: [{}]",
            missing.join(", ")
        ));
    }
    if !crate::validate::is_uuid_like(&node.uuid) {
        return Err(format!("node UUID {:?} cannot be put into an image URL", sanitize(&node.uuid)));
    }
    let mut urls = Vec::new();
    for label in labels {
        let url = match image_source(node, label, &s.file_url_allowed_paths)? {
            ImageSource::Url(u) => u,
            ImageSource::File(_) => format!("{}/images/{}/{label}", s.http(), node.uuid),
        };
        urls.push(url);
    }
    let initrd_name = basename(&urls[1]);
    if initrd_name.is_empty() {
        return Err(format!("driver_info {} {:?} names no file", labels[1], urls[1]));
    }
    let ramdisk = urls.pop().unwrap_or_default();
    let kernel = urls.pop().unwrap_or_default();
    Ok(Images { kernel, ramdisk, initrd_name })
}

fn present(d: &Dict, key: &str) -> bool {
    match d.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Where the node's driver_info `label` image is: an http(s) URL, or a local file (`file://`
/// URL or absolute path) inside `allowed` and outside the blocked system paths. Anything else
/// (Glance UUIDs, relative paths, other schemes) is refused: ferric has no image service.
pub fn image_source(node: &Node, label: &str, allowed: &[String]) -> Result<ImageSource, String> {
    let v = match node.driver_info.get(label) {
        Some(Value::String(v)) if !v.is_empty() => v,
        None | Some(Value::Null) => return Err(format!("driver_info {label} is not set")),
        Some(Value::String(_)) => return Err(format!("driver_info {label} is empty")),
        Some(other) => return Err(format!("driver_info {label} must be a string, not {other}")),
    };
    if v.starts_with("http://") || v.starts_with("https://") {
        check_url(v).map_err(|e| format!("driver_info {label}: {e}"))?;
        return Ok(ImageSource::Url(v.clone()));
    }
    let path = if let Some(rest) = v.strip_prefix("file://") {
        // file:///path (empty host) or file://localhost/path.
        rest.strip_prefix("localhost").unwrap_or(rest)
    } else {
        v.as_str()
    };
    if !path.starts_with('/') {
        return Err(format!(
            "driver_info {label} {:?} is neither an http(s) URL nor a local file: ferric has no image service",
            sanitize(v)
        ));
    }
    let p = normalize_path(path).ok_or_else(|| format!("driver_info {label}: {:?} is not a plain absolute path", sanitize(path)))?;
    path_allowed(&p, allowed).map_err(|e| format!("driver_info {label}: {e}"))?;
    Ok(ImageSource::File(p))
}

/// An absolute path with `.` and empty components dropped; `None` for relative paths, `..`,
/// control characters or NUL. Lexical only: the caller resolves symbolic links and checks
/// the result again with [`path_allowed`].
pub fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') || path.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Ironic's check for `file://` images: never under a blocked system path, always under an
/// allowed one. `path` must be normalised ([`normalize_path`]).
pub fn path_allowed(path: &str, allowed: &[String]) -> Result<(), String> {
    if let Some(bad) = BLOCKED_FILE_URL_PATHS.iter().find(|b| under(path, b)) {
        return Err(format!("Security: The path {bad} is not permitted in file URLs"));
    }
    let ok = allowed.iter().filter_map(|a| normalize_path(a)).any(|a| a != "/" && under(path, &a));
    if !ok {
        return Err(format!("Security: Path {} is not allowed for image source file URLs", sanitize(path)));
    }
    Ok(())
}

/// The last path component of a URL, as iPXE names a downloaded image.
fn basename(url: &str) -> String {
    let no_frag = url.split('#').next().unwrap_or_default();
    let path = no_frag.split('?').next().unwrap_or_default();
    let after_scheme = path.split_once("://").map(|(_, r)| r).unwrap_or(path);
    match after_scheme.split_once('/') {
        Some((_, p)) => p.rsplit('/').next().unwrap_or_default().to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel command line

/// Ironic's `parse_kernel_params` for `[inspector] extra_kernel_params`: whitespace-separated
/// `key=value` words (ferric takes no shell quoting: IPA does not read quotes either).
pub fn parse_kernel_params(s: &str) -> Result<Vec<(String, String)>, String> {
    check_words(s)?;
    s.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("Invalid key-value pair in extra_kernel_params: {w}")),
        })
        .collect()
}

/// Insert or replace, keeping the first position (IPA reads the last occurrence anyway).
fn set(params: &mut Vec<(String, String)>, k: &str, v: String) {
    match params.iter_mut().find(|(key, _)| key == k) {
        Some(p) => p.1 = v,
        None => params.push((k.to_string(), v)),
    }
}

#[allow(clippy::too_many_arguments)]
fn agent(purpose: Purpose, node: Option<String>, mac: &Mac, kernel: String, ramdisk: String, initrd: &str, append: &str, s: &BootSettings) -> Decision {
    let mut params: Vec<(String, String)> = Vec::new();
    if purpose.inspects() {
        set(&mut params, "ipa-inspection-callback-url", s.callback());
        if !s.inspection_collectors.is_empty() {
            set(&mut params, "ipa-inspection-collectors", s.inspection_collectors.clone());
        }
        // Validated with the settings; a bad value there never reaches this point.
        for (k, v) in parse_kernel_params(&s.extra_kernel_params).unwrap_or_default() {
            if k != "ipa-inspection-callback-url" {
                set(&mut params, &k, v);
            }
        }
    }
    set(&mut params, "ipa-api-url", s.api().to_string());
    if s.insecure {
        set(&mut params, "ipa-insecure", "1".into());
    }
    set(&mut params, "boot_method", "pxe".into());
    let mut words: Vec<String> = vec!["selinux=0".into(), "troubleshoot=0".into(), "text".into()];
    words.extend(append.split_whitespace().map(str::to_string));
    words.extend(params.into_iter().map(|(k, v)| format!("{k}={v}")));
    words.push(format!("BOOTIF={}", mac.bootif()));
    // The EFI stub loads the initrd by the name iPXE gave the image (its URL's file name).
    words.push(format!("initrd={initrd}"));
    Decision::Agent(AgentBoot { purpose, node, kernel_url: kernel, ramdisk_url: ramdisk, cmdline: words.join(" ") })
}

/// No control characters (a newline would end the iPXE command).
fn check_words(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != ' ') {
        return Err(format!("control character {:?} is not allowed", c));
    }
    Ok(())
}

/// An http(s) URL that can be put on an iPXE command line as it is.
fn check_url(u: &str) -> Result<(), String> {
    let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
    match rest {
        None => Err(format!("{:?} is not an http:// or https:// URL", sanitize(u))),
        Some("") => Err(format!("{:?} has no host", sanitize(u))),
        Some(_) if u.chars().any(|c| c.is_whitespace() || c.is_control() || c == '$') => {
            Err(format!("{:?} contains whitespace, control characters or '$'", sanitize(u)))
        }
        Some(_) => Ok(()),
    }
}

/// Text safe for an iPXE comment or `echo`: printable ASCII without `$` (no expansion).
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if (' '..='~').contains(&c) && c != '$' { c } else { '?' }).collect()
}

// ---------------------------------------------------------------------------------------------
// Scripts

/// The script for a decision. `mac` is the NIC it was asked for.
pub fn render(d: &Decision, mac: &Mac, s: &BootSettings) -> String {
    let mut out = String::from("#!ipxe\n\n");
    match d {
        Decision::Agent(a) => {
            let whom = match &a.node {
                Some(n) => format!("node {}", sanitize(n)),
                None => "a machine no node knows".into(),
            };
            let _ = writeln!(out, "# ferric: the agent for {} of {whom}, booting from {mac}", a.purpose.as_str());
            let t = if s.ipxe_timeout > 0 { format!("--timeout {} ", s.ipxe_timeout.saturating_mul(1000)) } else { String::new() };
            let _ = write!(
                out,
                "\nset attempts:int32 {DOWNLOAD_ATTEMPTS}\nset i:int32 0\n\n\
                 :deploy\nimgfree\nkernel {t}{kernel} {cmdline} || goto retry\ninitrd {t}{ramdisk} || goto retry\nboot\n\n\
                 :retry\niseq ${{i}} ${{attempts}} && goto fail ||\ninc i\necho No response, retrying in ${{i}} seconds.\nsleep ${{i}}\ngoto deploy\n\n\
                 :fail\necho Failed to get a response after ${{attempts}} attempts\necho Powering off in 30 seconds.\nsleep 30\npoweroff\n",
                kernel = a.kernel_url,
                cmdline = a.cmdline,
                ramdisk = a.ramdisk_url,
            );
        }
        Decision::LocalBoot { node, reason, boot_mode } => {
            let whom = node.as_deref().map(|n| format!("node {}", sanitize(n))).unwrap_or_else(|| format!("MAC {mac}"));
            let _ = writeln!(out, "# ferric: {whom} boots from its local disk: {}", sanitize(reason));
            out.push_str(&local_boot(*boot_mode));
        }
        Decision::Fail { node, reason } => {
            let whom = node.as_deref().map(|n| format!("node {}", sanitize(n))).unwrap_or_else(|| format!("MAC {mac}"));
            let _ = write!(
                out,
                "# ferric: {whom} cannot boot the agent\n\necho ferric cannot boot the agent: {}\necho Powering off in 30 seconds.\nsleep 30\npoweroff\n",
                sanitize(reason)
            );
        }
    }
    out
}

/// Booting the local disk, as Ironic's `boot_whole_disk`: `sanboot` of the first disk in
/// BIOS mode; UEFI firmware is given back control (`exit`) to boot its next entry, since
/// iPXE's `sanboot` of a local disk does not work there. An unknown mode is asked of iPXE.
fn local_boot(mode: Option<BootMode>) -> String {
    let pick = match mode {
        Some(BootMode::Uefi) => "goto exit\n",
        Some(BootMode::Bios) => "",
        None => "iseq ${platform} efi && goto exit ||\n",
    };
    format!("\n{pick}sanboot --no-describe || goto exit\n\n:exit\nexit 0\n")
}

/// `/boot.ipxe`, what DHCP's boot file points at (Ironic's `boot.ipxe`): each network device
/// in turn asks for `/ipxe/<its MAC>`, which only a node's port answers; a machine no node
/// knows gets `/ipxe/fallback/<MAC>`.
pub fn entry_script(s: &BootSettings) -> String {
    let u = s.http();
    format!(
        "#!ipxe\n\n\
         # ferric: try each network device in turn; the first whose MAC belongs to a node gets\n\
         # that node's script. A machine no node knows gets the fallback script.\n\
         set netid:int32 -1\n\
         :loop\n\
         inc netid || goto old_rom\n\
         isset ${{net${{netid}}/mac}} || goto loop_done\n\
         echo Attempting to boot from MAC ${{net${{netid}}/mac:hexhyp}}\n\
         chain {u}/ipxe/${{net${{netid}}/mac:hexhyp}} || goto loop\n\n\
         # The chained script returned: its local boot did not take (UEFI), so the firmware\n\
         # carries on with its next boot device.\n\
         echo Exiting to let the firmware boot the next device\n\
         exit 0\n\n\
         :loop_done\n\
         chain {u}/ipxe/fallback/${{mac:hexhyp}} || goto boot_failed\n\
         exit 0\n\n\
         :old_rom\n\
         chain {u}/ipxe/${{mac:hexhyp}} || chain {u}/ipxe/fallback/${{mac:hexhyp}} || goto boot_failed\n\
         exit 0\n\n\
         :boot_failed\n\
         echo PXE boot failed! No configuration found for any of the present NICs.\n\
         echo Press any key to reboot...\n\
         prompt --timeout 180\n\
         reboot\n"
    )
}

#[cfg(test)]
#[path = "boot_tests.rs"]
mod tests;
