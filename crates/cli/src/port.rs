//! `ferric port ...`

use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::error::CliError;
use crate::kv::{parse_kv, to_object, Patch, KV_HELP};
use crate::opts::{ClientOpts, OutputFormat};
use crate::output::{self, render_list, render_object, strip_links, to_json, Out};
use crate::util::{for_each_id, is_mac, is_uuid, list_all};

type Kv = (String, Value);

/// Port commands.
#[derive(clap::Subcommand, Debug)]
pub enum PortCommand {
    /// Create a port (POST /v1/ports).
    Create(PortCreate),
    /// List ports (all pages unless --limit).
    List(PortList),
    /// Show a port by UUID (or by MAC address).
    Show(PortShow),
    /// Set port attributes (JSON Patch "add").
    Set(PortSet),
    /// Remove port attributes (JSON Patch "remove").
    Unset(PortUnset),
    /// Delete ports.
    Delete(PortDelete),
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortCreate {
    /// MAC address of the port.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Node the port belongs to (UUID; a name is resolved to its UUID).
    #[arg(long, required = true)]
    pub node: String,
    /// Whether the port is used for PXE/network boot.
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    pub pxe_enabled: Option<bool>,
    /// Physical network the port is attached to.
    #[arg(long)]
    pub physical_network: Option<String>,
    #[arg(long = "local-link-connection", value_name = "KEY=VALUE", value_parser = parse_kv, help = format!("Switch connection (switch_id, port_id, switch_info): {KV_HELP}"))]
    pub local_link_connection: Vec<Kv>,
    #[arg(long = "extra", value_name = "KEY=VALUE", value_parser = parse_kv, help = format!("Extra: {KV_HELP}"))]
    pub extra: Vec<Kv>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortList {
    /// Only ports of this node (name or UUID).
    #[arg(long)]
    pub node: Option<String>,
    /// Only the port with this MAC address.
    #[arg(long)]
    pub address: Option<String>,
    /// Show detailed information (GET /v1/ports/detail).
    #[arg(long)]
    pub long: bool,
    /// Return at most this many ports (one page; no pagination).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortShow {
    /// Port UUID, or a MAC address (looked up with ?address=).
    #[arg(value_name = "PORT|MAC")]
    pub port: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortSet {
    /// Port UUID.
    #[arg(value_name = "PORT")]
    pub port: String,
    /// New MAC address.
    #[arg(long)]
    pub address: Option<String>,
    /// Move the port to this node (UUID or name).
    #[arg(long)]
    pub node: Option<String>,
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    pub pxe_enabled: Option<bool>,
    #[arg(long)]
    pub physical_network: Option<String>,
    #[arg(long = "local-link-connection", value_name = "KEY=VALUE", value_parser = parse_kv, help = format!("Switch connection: {KV_HELP}"))]
    pub local_link_connection: Vec<Kv>,
    #[arg(long = "extra", value_name = "KEY=VALUE", value_parser = parse_kv, help = format!("Extra: {KV_HELP}"))]
    pub extra: Vec<Kv>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortUnset {
    /// Port UUID.
    #[arg(value_name = "PORT")]
    pub port: String,
    /// Extra key to remove (repeatable).
    #[arg(long = "extra", value_name = "KEY")]
    pub extra: Vec<String>,
    /// Local link connection key to remove (repeatable).
    #[arg(long = "local-link-connection", value_name = "KEY")]
    pub local_link_connection: Vec<String>,
    /// Remove the physical network.
    #[arg(long)]
    pub physical_network: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PortDelete {
    /// Port UUIDs.
    #[arg(value_name = "PORT", required = true)]
    pub ports: Vec<String>,
}

pub(crate) async fn exec(
    opts: &ClientOpts,
    cmd: PortCommand,
    out: &mut Out,
) -> Result<(), CliError> {
    let client = Client::new(opts)?;
    let fmt = opts.format;
    match cmd {
        PortCommand::Create(a) => {
            let node_uuid = resolve_node_uuid(&client, &a.node).await?;
            let port = client
                .post(client.url(&["ports"]), &create_body(&a, &node_uuid))
                .await?;
            print_object(fmt, out, &port);
            Ok(())
        }
        PortCommand::List(a) => {
            let (seg, q) = list_query(&a);
            let ports = list_all(&client, &seg, &q, "ports", a.limit).await?;
            match fmt {
                OutputFormat::Json => {
                    out.line(&to_json(&Value::Array(
                        ports.iter().map(strip_links).collect(),
                    )));
                }
                OutputFormat::Table => {
                    let cols = if a.long {
                        output::PORT_LIST_LONG_COLUMNS
                    } else {
                        output::PORT_LIST_COLUMNS
                    };
                    out.line(&render_list(&ports, cols));
                }
            }
            Ok(())
        }
        PortCommand::Show(a) => {
            let port = if is_mac(&a.port) {
                let mac = a.port.to_ascii_lowercase().replace('-', ":");
                let url = client.url_with_query(&["ports", "detail"], &[("address", mac.clone())]);
                let page = client.get(url).await?;
                page.get("ports")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .cloned()
                    .ok_or(CliError::Api {
                        status: 404,
                        message: format!("Port with address {mac} could not be found."),
                    })?
            } else {
                client.get(client.url(&["ports", &a.port])).await?
            };
            print_object(fmt, out, &port);
            Ok(())
        }
        PortCommand::Set(a) => {
            let node_uuid = match &a.node {
                Some(n) => Some(resolve_node_uuid(&client, n).await?),
                None => None,
            };
            let patch = set_patch(&a, node_uuid.as_deref());
            apply_patch(&client, fmt, out, &a.port, patch).await
        }
        PortCommand::Unset(a) => {
            let patch = unset_patch(&a);
            apply_patch(&client, fmt, out, &a.port, patch).await
        }
        PortCommand::Delete(a) => {
            let c = &client;
            for_each_id(&a.ports, out, |id| async move {
                c.delete(c.url(&["ports", &id])).await?;
                Ok(Some(format!("Deleted port {id}")))
            })
            .await
        }
    }
}

fn print_object(fmt: OutputFormat, out: &mut Out, v: &Value) {
    match fmt {
        OutputFormat::Json => out.line(&to_json(&strip_links(v))),
        OutputFormat::Table => out.line(&render_object(v)),
    }
}

/// A node UUID as given, or the UUID of the named node.
async fn resolve_node_uuid(client: &Client, node: &str) -> Result<String, CliError> {
    if is_uuid(node) {
        return Ok(node.to_string());
    }
    let n = client.get(client.url(&["nodes", node])).await?;
    n.get("uuid")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| CliError::BadResponse {
            url: client.url(&["nodes", node]).to_string(),
            detail: "node without uuid".into(),
        })
}

/// The body of `POST /v1/ports`.
pub fn create_body(a: &PortCreate, node_uuid: &str) -> Value {
    let mut body = Map::new();
    body.insert("address".into(), json!(a.address));
    body.insert("node_uuid".into(), json!(node_uuid));
    if let Some(p) = a.pxe_enabled {
        body.insert("pxe_enabled".into(), json!(p));
    }
    if let Some(p) = &a.physical_network {
        body.insert("physical_network".into(), json!(p));
    }
    if !a.local_link_connection.is_empty() {
        body.insert(
            "local_link_connection".into(),
            Value::Object(to_object(&a.local_link_connection)),
        );
    }
    if !a.extra.is_empty() {
        body.insert("extra".into(), Value::Object(to_object(&a.extra)));
    }
    Value::Object(body)
}

pub fn list_query(a: &PortList) -> (Vec<&'static str>, Vec<(&'static str, String)>) {
    let seg = if a.long {
        vec!["ports", "detail"]
    } else {
        vec!["ports"]
    };
    let mut q = Vec::new();
    if let Some(n) = &a.node {
        q.push(("node", n.clone()));
    }
    if let Some(m) = &a.address {
        q.push(("address", m.clone()));
    }
    (seg, q)
}

pub fn set_patch(a: &PortSet, node_uuid: Option<&str>) -> Patch {
    let mut p = Patch::new();
    if let Some(v) = &a.address {
        p.add_attr("address", json!(v));
    }
    if let Some(v) = node_uuid {
        p.add_attr("node_uuid", json!(v));
    }
    if let Some(v) = a.pxe_enabled {
        p.add_attr("pxe_enabled", json!(v));
    }
    if let Some(v) = &a.physical_network {
        p.add_attr("physical_network", json!(v));
    }
    p.add_keys("local_link_connection", &a.local_link_connection)
        .add_keys("extra", &a.extra);
    p
}

pub fn unset_patch(a: &PortUnset) -> Patch {
    let mut p = Patch::new();
    if a.physical_network {
        p.remove_attr("physical_network");
    }
    p.remove_keys("extra", &a.extra)
        .remove_keys("local_link_connection", &a.local_link_connection);
    p
}

async fn apply_patch(
    client: &Client,
    fmt: OutputFormat,
    out: &mut Out,
    port: &str,
    patch: Patch,
) -> Result<(), CliError> {
    if patch.is_empty() {
        return Err(CliError::Usage(
            "nothing to change: give at least one attribute option".into(),
        ));
    }
    let updated = client
        .patch(client.url(&["ports", port]), &patch.into_value())
        .await?;
    if fmt == OutputFormat::Json {
        out.line(&to_json(&strip_links(&updated)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct TestCli {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: PortCommand,
    }

    fn parse(args: &[&str]) -> PortCommand {
        let mut v = vec!["port"];
        v.extend_from_slice(args);
        TestCli::try_parse_from(v)
            .unwrap_or_else(|e| panic!("{e}"))
            .cmd
    }

    #[test]
    fn create_body_matches_recorded_client_request() {
        // baremetal port create 52:54:00:12:34:56 --node <uuid> sent exactly this body
        // (reference/ironic-responses/cli_http_requests.txt, 02_port_create).
        let PortCommand::Create(a) = parse(&[
            "create",
            "52:54:00:12:34:56",
            "--node",
            "9b812c1b-9caf-4b7d-af00-30d496949682",
        ]) else {
            panic!()
        };
        assert_eq!(
            create_body(&a, &a.node),
            json!({"address": "52:54:00:12:34:56", "node_uuid": "9b812c1b-9caf-4b7d-af00-30d496949682"})
        );
        let PortCommand::Create(a) = parse(&[
            "create",
            "52:54:00:12:34:57",
            "--node",
            "u",
            "--pxe-enabled",
            "false",
            "--physical-network",
            "physnet1",
            "--local-link-connection",
            "switch_id=0a:1b:2c:3d:4e:5f",
            "--local-link-connection",
            "port_id=Ethernet3/1",
        ]) else {
            panic!()
        };
        assert_eq!(
            create_body(&a, "u"),
            json!({"address": "52:54:00:12:34:57", "node_uuid": "u", "pxe_enabled": false, "physical_network": "physnet1",
                   "local_link_connection": {"switch_id": "0a:1b:2c:3d:4e:5f", "port_id": "Ethernet3/1"}})
        );
        assert!(
            TestCli::try_parse_from(["port", "create", "52:54:00:12:34:57"]).is_err(),
            "--node is required"
        );
    }

    #[test]
    fn port_patches_and_query() {
        let PortCommand::Set(a) = parse(&["set", "p", "--pxe-enabled", "true", "--extra", "k=1"])
        else {
            panic!()
        };
        assert_eq!(
            set_patch(&a, Some("nu")).into_value(),
            json!([{"op": "add", "path": "/node_uuid", "value": "nu"},
                   {"op": "add", "path": "/pxe_enabled", "value": true},
                   {"op": "add", "path": "/extra/k", "value": 1}])
        );
        let PortCommand::Unset(a) = parse(&[
            "unset",
            "p",
            "--physical-network",
            "--local-link-connection",
            "port_id",
        ]) else {
            panic!()
        };
        assert_eq!(
            unset_patch(&a).into_value(),
            json!([{"op": "remove", "path": "/physical_network"},
                   {"op": "remove", "path": "/local_link_connection/port_id"}])
        );
        let PortCommand::List(a) = parse(&["list", "--node", "node-0", "--long"]) else {
            panic!()
        };
        assert_eq!(
            list_query(&a),
            (
                vec!["ports", "detail"],
                vec![("node", "node-0".to_string())]
            )
        );
    }
}
