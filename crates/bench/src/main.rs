//! `ferric-bench`: drives the same workloads against any Bare Metal API (ferric or OpenStack
//! Ironic) over HTTP and prints one JSON object per workload. `bench/run.sh` runs it against
//! both side by side and writes the comparison (BENCHMARKS.md explains the figures).
//!
//! Workloads (each creates its own nodes, named `bench-<run>-...`):
//! - `create`: POST /v1/nodes, N nodes at concurrency C: rate and latency percentiles;
//! - `list`: GET /v1/nodes/detail, R times: median / min / max milliseconds and bytes;
//! - `provision`: N fake-hardware nodes through manage, provide, deploy, undeploy: each step
//!   for the whole group (every node's PUT, C at a time, then the list polled until all are there);
//! - `inspect`: N nodes with the agent inspect interface in `inspect wait` get a real
//!   inventory at /v1/continue_inspection: reports per second until all are `manageable`;
//! - `heartbeat`: N agents (lookup once, then heartbeats) for D seconds at concurrency C;
//! - `rss`: resident memory of a process (from /proc).

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmark a Bare Metal API (ferric or Ironic) over HTTP")]
struct Cli {
    /// The API's root URL.
    #[arg(long, default_value = "http://127.0.0.1:6385", global = true)]
    url: String,
    /// A label copied into the output (e.g. ferric, ironic).
    #[arg(long, default_value = "", global = true)]
    label: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Create {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    List {
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Create nodes first until there are at least this many.
        #[arg(long, default_value_t = 0)]
        ensure: usize,
    },
    Provision {
        #[arg(long, default_value_t = 500)]
        count: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    Inspect {
        #[arg(long, default_value_t = 500)]
        count: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// An inspection report (JSON with "inventory"); MACs are made unique per node.
        #[arg(long)]
        fixture: std::path::PathBuf,
    },
    Heartbeat {
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        fixture: std::path::PathBuf,
    },
    Rss {
        #[arg(long)]
        pid: u32,
    },
}

type R<T> = Result<T, String>;

const API_VERSION: &str = "1.84";

#[derive(Default)]
struct Listing {
    items: Vec<Value>,
    bytes: usize,
    pages: usize,
    fetch_ms: f64,
    first_ms: f64,
}

#[derive(Clone)]
struct Api {
    c: reqwest::Client,
    url: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> R<(u16, Value)> {
        let mut r = self.c.request(method, format!("{}{path}", self.url)).header("X-OpenStack-Ironic-API-Version", API_VERSION);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.map_err(|e| format!("{path}: {e}"))?;
        let st = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((st, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<&Value>, want: &[u16]) -> R<Value> {
        let (st, b) = self.call(method, path, body).await?;
        if want.contains(&st) {
            Ok(b)
        } else {
            Err(format!("{path}: HTTP {st}: {b}"))
        }
    }
    /// Follow `next` links from `path`. Returns the items, bytes, pages, and the time spent
    /// fetching (request sent to last byte received, summed over pages; parsing the pages to
    /// find the next link is the client's work and is not counted) with the first page's.
    async fn pages(&self, path: &str) -> R<Listing> {
        let mut url = format!("{}{path}", self.url);
        let mut l = Listing::default();
        loop {
            let t = Instant::now();
            let resp = self.c.get(&url).header("X-OpenStack-Ironic-API-Version", API_VERSION).send().await.map_err(|e| format!("{url}: {e}"))?;
            let st = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
            let took = ms(t.elapsed());
            if l.pages == 0 {
                l.first_ms = took;
            }
            l.fetch_ms += took;
            if st != 200 {
                return Err(format!("{url}: HTTP {st}"));
            }
            let mut v: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
            let page = match v["nodes"].take() {
                Value::Array(a) => a,
                _ => Vec::new(),
            };
            let n = page.len();
            l.items.extend(page);
            l.bytes += body.len();
            l.pages += 1;
            match v["next"].as_str() {
                // Ironic's link names its own host (127.0.0.1 or localhost); keep our base URL.
                Some(next) if n > 0 => {
                    let q = next.find("/v1/").map(|i| &next[i..]).unwrap_or(next);
                    url = format!("{}{q}", self.url);
                }
                _ => return Ok(l),
            }
        }
    }
    /// Wait until every node of `group` (their resource_class) is in `want` and unlocked,
    /// polling the list (one request a poll for the whole group, as a fleet tool would).
    async fn wait_all(&self, group: &str, count: usize, want: &str, timeout: Duration) -> R<()> {
        let t0 = Instant::now();
        loop {
            let l = self.pages(&format!("/v1/nodes?resource_class={group}&fields=uuid,provision_state,target_provision_state,reservation,last_error")).await?;
            if l.items.len() != count {
                return Err(format!("group {group}: {} nodes listed, {count} expected", l.items.len()));
            }
            let mut done = 0;
            for n in &l.items {
                let st = n["provision_state"].as_str().unwrap_or_default();
                if st.ends_with("failed") || (st == "enroll" && !n["last_error"].is_null()) {
                    return Err(format!("{}: {st}: {}", n["uuid"], n["last_error"]));
                }
                // A wait state keeps its target ("inspect wait" -> manageable); a stable one has none.
                if st == want && (n["target_provision_state"].is_null() || want.ends_with(" wait")) && n["reservation"].is_null() {
                    done += 1;
                }
            }
            if done == count {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                return Err(format!("group {group}: {done} of {count} in {want} after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn create_node(&self, name: &str, extra: Value) -> R<String> {
        let mut body = json!({"driver": "fake-hardware", "name": name});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        let n = self.ok(reqwest::Method::POST, "/v1/nodes", Some(&body), &[201]).await?;
        n["uuid"].as_str().map(str::to_string).ok_or_else(|| format!("no uuid in {n}"))
    }
    async fn provision(&self, uuid: &str, target: &str) -> R<()> {
        let path = format!("/v1/nodes/{uuid}/states/provision");
        // A node briefly locked by the previous step's end is retried, as clients do.
        for _ in 0..200 {
            let (st, b) = self.call(reqwest::Method::PUT, &path, Some(&json!({"target": target}))).await?;
            match st {
                202 => return Ok(()),
                409 | 503 => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => return Err(format!("{target} on {uuid}: HTTP {st}: {b}")),
            }
        }
        Err(format!("{target} on {uuid}: still locked"))
    }
}

fn run_id() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0) % 0xffffff)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Run `n` jobs with at most `c` at a time; returns each job's latency (ms) and the wall time.
async fn pool<F, Fut>(n: usize, c: usize, job: F) -> R<(Vec<f64>, Duration)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..c.max(1) {
        let (job, next) = (job.clone(), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(lat);
                }
                let t = Instant::now();
                job(i).await?;
                lat.push(ms(t.elapsed()));
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| e.to_string())??);
    }
    let wall = t0.elapsed();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok((all, wall))
}

fn lat_json(l: &[f64]) -> Value {
    json!({"p50_ms": percentile(l, 0.5), "p99_ms": percentile(l, 0.99), "max_ms": l.last().copied().unwrap_or(0.0)})
}

/// The report with MACs of its own (a port's MAC belongs to one node).
fn unique_report(base: &Value, n: usize) -> Value {
    let mut r = base.clone();
    let pxe = r["inventory"]["boot"]["pxe_interface"].clone();
    let mut new_pxe = pxe.clone();
    if let Some(ifaces) = r["inventory"]["interfaces"].as_array_mut() {
        for (k, i) in ifaces.iter_mut().enumerate() {
            let mac = json!(format!("02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, k));
            if i["mac_address"] == pxe {
                new_pxe = mac.clone();
            }
            i["mac_address"] = mac;
        }
    }
    r["inventory"]["boot"]["pxe_interface"] = new_pxe;
    if let Some(o) = r.as_object_mut() {
        o.remove("logs");
        o.remove("error");
    }
    r
}

/// Create `count` nodes in `group` (their resource_class) with `extra` fields, `concurrency`
/// at a time; their UUIDs in creation order.
async fn create_group(api: &Api, group: &str, count: usize, concurrency: usize, extra: Value) -> R<Arc<Vec<String>>> {
    let uuids = Arc::new(std::sync::Mutex::new(vec![String::new(); count]));
    let (a, u, g) = (api.clone(), uuids.clone(), group.to_string());
    let extra = Arc::new(extra);
    pool(count, concurrency, move |i| {
        let (a, u, g, mut x) = (a.clone(), u.clone(), g.clone(), (*extra).clone());
        async move {
            x["resource_class"] = json!(g);
            let id = a.create_node(&format!("{g}-{i}"), x).await?;
            u.lock().map_err(|e| e.to_string())?[i] = id;
            Ok(())
        }
    })
    .await?;
    let v = uuids.lock().map_err(|e| e.to_string())?.clone();
    Ok(Arc::new(v))
}

/// One step for the whole group: the provision verb for every node (`concurrency` requests
/// at a time), then wait until all are in `state`. Returns the PUTs' latencies.
async fn group_step(api: &Api, group: &str, ids: &Arc<Vec<String>>, concurrency: usize, verb: &str, state: &str) -> R<Vec<f64>> {
    let (a, ids2, verb) = (api.clone(), ids.clone(), verb.to_string());
    let (lat, _) = pool(ids.len(), concurrency, move |i| {
        let (a, ids, verb) = (a.clone(), ids2.clone(), verb.clone());
        async move { a.provision(&ids[i], &verb).await }
    })
    .await?;
    api.wait_all(group, ids.len(), state, Duration::from_secs(600)).await?;
    Ok(lat)
}

async fn nodes_in_inspect_wait(api: &Api, group: &str, count: usize, concurrency: usize) -> R<Arc<Vec<String>>> {
    let ids = create_group(api, group, count, concurrency, json!({"inspect_interface": "agent"})).await?;
    group_step(api, group, &ids, concurrency, "manage", "manageable").await?;
    group_step(api, group, &ids, concurrency, "inspect", "inspect wait").await?;
    Ok(ids)
}

async fn run(cli: Cli) -> R<Value> {
    let api = Api { c: reqwest::Client::builder().pool_max_idle_per_host(256).build().map_err(|e| e.to_string())?, url: cli.url.trim_end_matches('/').to_string() };
    let run = run_id();
    let out = match cli.cmd {
        Cmd::Create { count, concurrency } => {
            let a = api.clone();
            let p = format!("bench-{run}");
            let (lat, wall) = pool(count, concurrency, move |i| {
                let (a, p) = (a.clone(), p.clone());
                async move { a.create_node(&format!("{p}-{i}"), json!({})).await.map(|_| ()) }
            })
            .await?;
            json!({"workload": "create", "count": count, "concurrency": concurrency, "seconds": wall.as_secs_f64(),
                   "per_second": count as f64 / wall.as_secs_f64(), "latency": lat_json(&lat)})
        }
        Cmd::List { repeat, ensure } => {
            let have = api.pages("/v1/nodes?fields=uuid").await?.items.len();
            if ensure > have {
                let a = api.clone();
                let p = format!("bench-{run}");
                pool(ensure - have, 8, move |i| {
                    let (a, p) = (a.clone(), p.clone());
                    async move { a.create_node(&format!("{p}-{i}"), json!({})).await.map(|_| ()) }
                })
                .await?;
            }
            // The whole fleet, page after page (both servers cap a page at [api] max_limit,
            // 1,000 by default, and link the next one), as a client listing everything does.
            let mut times = Vec::new();
            let mut first_page = Vec::new();
            let (mut bytes, mut nodes, mut pages) = (0, 0, 0);
            for _ in 0..repeat.max(1) {
                let l = api.pages("/v1/nodes/detail").await?;
                times.push(l.fetch_ms);
                first_page.push(l.first_ms);
                (nodes, bytes, pages) = (l.items.len(), l.bytes, l.pages);
            }
            if nodes < ensure {
                return Err(format!("listed {nodes} nodes, expected at least {ensure}"));
            }
            let sort = |v: &mut Vec<f64>| v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            sort(&mut times);
            sort(&mut first_page);
            json!({"workload": "list_detail", "nodes": nodes, "bytes": bytes, "pages": pages, "repeat": times.len(),
                   "median_ms": percentile(&times, 0.5), "min_ms": times[0], "max_ms": times[times.len() - 1],
                   "first_page_median_ms": percentile(&first_page, 0.5)})
        }
        Cmd::Provision { count, concurrency } => {
            // The whole group through each step (every node's PUT, then until all are there):
            // what a fleet tool does, and what keeps the client's polling out of the figure.
            let group = format!("bench-{run}");
            let ids = create_group(&api, &group, count, concurrency, json!({})).await?;
            let t0 = Instant::now();
            let mut put_lat = Vec::new();
            let mut steps = serde_json::Map::new();
            for (verb, state) in [("manage", "manageable"), ("provide", "available"), ("active", "active"), ("deleted", "available")] {
                let t = Instant::now();
                put_lat.extend(group_step(&api, &group, &ids, concurrency, verb, state).await?);
                steps.insert(verb.to_string(), json!(t.elapsed().as_secs_f64()));
            }
            let wall = t0.elapsed();
            put_lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            json!({"workload": "provision", "count": count, "concurrency": concurrency, "seconds": wall.as_secs_f64(),
                   "round_trips_per_second": count as f64 / wall.as_secs_f64(),
                   "transitions_per_second": 4.0 * count as f64 / wall.as_secs_f64(), "step_seconds": steps, "put_latency": lat_json(&put_lat)})
        }
        Cmd::Inspect { count, concurrency, fixture } => {
            let base: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).map_err(|e| format!("{}: {e}", fixture.display()))?)
                .map_err(|e| e.to_string())?;
            let group = format!("bench-{run}");
            let ids = nodes_in_inspect_wait(&api, &group, count, concurrency).await?;
            let reports: Arc<Vec<Value>> = Arc::new((0..count).map(|i| unique_report(&base, i)).collect());
            let a = api.clone();
            let (ids2, reps) = (ids.clone(), reports.clone());
            let t0 = Instant::now();
            let (lat, _) = pool(count, concurrency, move |i| {
                let (a, ids, reps) = (a.clone(), ids2.clone(), reps.clone());
                async move {
                    a.ok(reqwest::Method::POST, &format!("/v1/continue_inspection?node_uuid={}", ids[i]), Some(&reps[i]), &[200, 202]).await.map(|_| ())
                }
            })
            .await?;
            let accepted = t0.elapsed();
            api.wait_all(&group, count, "manageable", Duration::from_secs(600)).await?;
            let wall = t0.elapsed();
            json!({"workload": "inspect", "count": count, "concurrency": concurrency, "inventory_bytes": serde_json::to_vec(&base).map(|v| v.len()).unwrap_or(0),
                   "accept_seconds": accepted.as_secs_f64(), "seconds": wall.as_secs_f64(),
                   "per_second": count as f64 / wall.as_secs_f64(), "post_latency": lat_json(&lat)})
        }
        Cmd::Heartbeat { agents, seconds, concurrency, fixture } => {
            let base: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).map_err(|e| format!("{}: {e}", fixture.display()))?)
                .map_err(|e| e.to_string())?;
            let ids = nodes_in_inspect_wait(&api, &format!("bench-{run}"), agents, concurrency).await?;
            // Each agent looks its node up once (getting its token), then heartbeats.
            let tokens = Arc::new(std::sync::Mutex::new(vec![String::new(); agents]));
            let (a, ids2, tk) = (api.clone(), ids.clone(), tokens.clone());
            let base = Arc::new(base);
            pool(agents, concurrency, move |i| {
                let (a, ids, tk, base) = (a.clone(), ids2.clone(), tk.clone(), base.clone());
                async move {
                    let r = unique_report(&base, i);
                    let macs: Vec<String> = r["inventory"]["interfaces"].as_array().into_iter().flatten().filter_map(|x| x["mac_address"].as_str().map(str::to_string)).collect();
                    let l = a.ok(reqwest::Method::GET, &format!("/v1/lookup?node_uuid={}&addresses={}", ids[i], macs.join(",")), None, &[200]).await?;
                    tk.lock().map_err(|e| e.to_string())?[i] = l["config"]["agent_token"].as_str().unwrap_or_default().to_string();
                    Ok(())
                }
            })
            .await?;
            let tokens = Arc::new(tokens.lock().map_err(|e| e.to_string())?.clone());
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let count = Arc::new(AtomicUsize::new(0));
            let mut set = tokio::task::JoinSet::new();
            let t0 = Instant::now();
            for w in 0..concurrency.max(1) {
                let (a, ids, tokens, count) = (api.clone(), ids.clone(), tokens.clone(), count.clone());
                set.spawn(async move {
                    let mut lat = Vec::new();
                    let mut i = w;
                    while Instant::now() < deadline {
                        let k = i % ids.len();
                        let body = json!({"callback_url": format!("http://127.0.0.1:{}", 10000 + (k % 50000)), "agent_token": tokens[k], "agent_version": "13.0.0"});
                        let t = Instant::now();
                        a.ok(reqwest::Method::POST, &format!("/v1/heartbeat/{}", ids[k]), Some(&body), &[202]).await?;
                        lat.push(ms(t.elapsed()));
                        count.fetch_add(1, Ordering::Relaxed);
                        i += concurrency.max(1);
                    }
                    Ok::<_, String>(lat)
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.extend(r.map_err(|e| e.to_string())??);
            }
            let wall = t0.elapsed();
            all.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            let n = count.load(Ordering::Relaxed);
            json!({"workload": "heartbeat", "agents": agents, "concurrency": concurrency, "heartbeats": n, "seconds": wall.as_secs_f64(),
                   "per_second": n as f64 / wall.as_secs_f64(), "latency": lat_json(&all)})
        }
        Cmd::Rss { pid } => {
            // A Python server's memory includes its children (Ironic's API workers): the sum
            // over the process and all its descendants.
            let (kib, procs) = tree_rss_kib(pid)?;
            json!({"workload": "rss", "pid": pid, "processes": procs, "rss_mib": kib as f64 / 1024.0})
        }
    };
    Ok(out)
}

/// VmRSS (KiB) summed over `pid` and its descendants, and how many processes that is.
fn tree_rss_kib(pid: u32) -> R<(u64, usize)> {
    let rss = |p: u32| -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
    };
    let parent = |p: u32| -> Option<u32> {
        let s = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        s[s.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc").map_err(|e| e.to_string())?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    let mut tree = vec![pid];
    let mut k = 0;
    while k < tree.len() {
        let p = tree[k];
        tree.extend(all.iter().copied().filter(|&c| parent(c) == Some(p)));
        k += 1;
    }
    let total: u64 = tree.iter().filter_map(|&p| rss(p)).sum();
    if rss(pid).is_none() {
        return Err(format!("pid {pid}: no such process"));
    }
    Ok((total, tree.len()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let label = cli.label.clone();
    match run(cli).await {
        Ok(mut v) => {
            v["label"] = json!(label);
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferric-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_get_unique_macs_and_keep_the_pxe_interface() {
        let base = json!({"inventory": {"interfaces": [{"mac_address": "aa"}, {"mac_address": "bb"}], "boot": {"pxe_interface": "bb"}}, "logs": "x"});
        let a = unique_report(&base, 1);
        let b = unique_report(&base, 2);
        assert_ne!(a["inventory"]["interfaces"][0]["mac_address"], b["inventory"]["interfaces"][0]["mac_address"]);
        assert_eq!(a["inventory"]["boot"]["pxe_interface"], a["inventory"]["interfaces"][1]["mac_address"]);
        assert!(a.get("logs").is_none());
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
