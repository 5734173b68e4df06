//! A virtual Redfish BMC for a simulated machine, in the shape sushy-tools serves
//! (`crates/drivers/tests/fixtures/sushy`, `lab/bmc/README.md`) but complete for what the
//! spec has, and with what sushy-tools lacks and real BMCs have: sessions, validation, ETags.
//!
//! Resources, under `<prefix>/redfish/v1` (the prefix is empty when the BMC has its own
//! address, `/bmc/<machine name>` when one listener serves every BMC):
//! - the service root (open, as `/redfish`), with `SessionService` and `Links.Sessions`;
//! - `Systems` with one ComputerSystem: identity, `BiosVersion`, `PowerState`, `Boot` (target,
//!   enabled, mode and their `@Redfish.AllowableValues`), `ProcessorSummary` (`Count` is the
//!   sockets as DMTF defines it, with `CoreCount` and `LogicalProcessorCount`),
//!   `MemorySummary.TotalSystemMemoryGiB`, `#ComputerSystem.Reset` with its allowable values;
//!   its `Processors` (one per socket, `TotalThreads`...), `Memory` (the populated DIMMs;
//!   HPE lists empty slots too, `Absent`), `Storage` (one controller, every drive with
//!   `CapacityBytes`, `SerialNumber`, `Model`, `MediaType`, `Protocol`, its WWN in
//!   `Identifiers`), `EthernetInterfaces` (`MACAddress`, `SpeedMbps`, `LinkStatus`,
//!   `Status.State` `Enabled`) and `SecureBoot`;
//! - `Managers` with the BMC (its own EthernetInterface with the BMC's address and MAC) and
//!   `Chassis`;
//! - `SessionService/Sessions`: POST `{UserName, Password}` gives 201 with `X-Auth-Token`
//!   and `Location`; DELETE ends the session; sessions expire after `SessionTimeout` (30 min)
//!   unused; at most 64 live per [`SessionStore`], the least recently used is dropped past
//!   that (a real BMC would refuse; a lab must survive many conductor restarts). BMCs behind
//!   one listener share their store (see [`SessionStore`]).
//!
//! Everything but the service root and the session login needs a session token or HTTP basic
//! credentials: 401 with a Redfish error and `WWW-Authenticate` otherwise. Errors are Redfish
//! error bodies with DMTF Base messages: 404 unknown resource, 405 (with `Allow`) a method a
//! resource does not take, 400 malformed JSON, unknown or read-only properties, values not in
//! the allowable list, 412 when `If-Match` is stale, 413 past 64 KiB. Every GET answer has an
//! `ETag` (a hash of the body), so a change of state changes it.
//!
//! Vendor quirks, on by default (`LabConfig::vendor_quirks`), the ones ferric's Redfish
//! driver works around (`crates/drivers/src/redfish/quirks.rs`): Supermicro requires
//! `If-Match` on a PATCH of the system (428 without); HPE resets `BootSourceOverrideMode` to
//! UEFI when a boot override PATCH leaves it out; Dell does not offer `Continuous`. The
//! resource ids follow the vendor too (`System.Embedded.1`, `iDRAC.Embedded.1` on Dell).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::machine::{BootEnabled, BootTarget, FirmwareMode, Machine, ResetType};
use crate::profiles::{DiskKind, DiskSpec};

/// The user every BMC of a lab accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials { username: "admin".into(), password: "password".into() }
    }
}

/// The largest request body taken.
pub const MAX_BODY: usize = 64 << 10;
/// `SessionService.SessionTimeout`.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(1800);
/// Live sessions per [`SessionStore`].
pub const MAX_SESSIONS: usize = 64;

const BASE: &str = "Base.1.15";

/// How a vendor's BMC names things and departs from the standard.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    dell: bool,
    lenovo: bool,
    system_id: &'static str,
    manager_id: &'static str,
    chassis_id: &'static str,
    storage_id: &'static str,
    manager_model: &'static str,
    if_match_required: bool,
    mode_reset_without_mode: bool,
    no_continuous: bool,
    list_absent_dimms: bool,
}

fn flavour(vendor: &str, quirks: bool) -> Flavour {
    let v = vendor.to_ascii_lowercase();
    let base = Flavour {
        dell: false,
        lenovo: false,
        system_id: "1",
        manager_id: "1",
        chassis_id: "1",
        storage_id: "1",
        manager_model: "BMC",
        if_match_required: false,
        mode_reset_without_mode: false,
        no_continuous: false,
        list_absent_dimms: false,
    };
    if v.contains("dell") {
        Flavour {
            dell: true,
            system_id: "System.Embedded.1",
            manager_id: "iDRAC.Embedded.1",
            chassis_id: "System.Embedded.1",
            storage_id: "AHCI.Embedded.1-1",
            manager_model: "14G Monolithic",
            no_continuous: quirks,
            ..base
        }
    } else if v.contains("supermicro") {
        Flavour { manager_model: "ASPEED AST2600", if_match_required: quirks, ..base }
    } else if v.contains("hpe") {
        Flavour { manager_model: "iLO 5", mode_reset_without_mode: quirks, list_absent_dimms: true, ..base }
    } else if v.contains("lenovo") {
        Flavour { lenovo: true, manager_model: "Lenovo XClarity Controller 2", ..base }
    } else {
        base
    }
}

#[derive(Debug)]
struct Session {
    id: u64,
    user: String,
    last: Instant,
}

#[derive(Debug, Default)]
struct Sessions {
    next: u64,
    by_token: HashMap<String, Session>,
}

/// The sessions of one Redfish service: a BMC's own, or shared by every BMC behind one
/// listener. Shared there because Redfish clients (ferric's driver, Ironic's) cache sessions
/// per `scheme://host:port`, so machines behind one port must accept each other's tokens, as
/// one sushy-tools emulator or a chassis manager does for its systems.
#[derive(Debug, Default)]
pub struct SessionStore(Mutex<Sessions>);

impl SessionStore {
    pub fn new() -> SessionStore {
        SessionStore::default()
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).by_token.values().filter(|x| x.last.elapsed() < SESSION_TIMEOUT).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One machine's BMC.
#[derive(Debug)]
pub struct Bmc {
    pub machine: Arc<Machine>,
    /// `""`, or `/bmc/<name>` behind a shared listener.
    prefix: String,
    flavour: Flavour,
    credentials: Arc<Credentials>,
    sessions: Arc<SessionStore>,
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Versions,
    Root,
    Systems,
    System,
    Reset,
    Processors,
    Processor(usize),
    Memories,
    Memory(usize),
    Storages,
    Storage,
    Drive(usize),
    Nics,
    Nic(usize),
    SecureBoot,
    Managers,
    Manager,
    ManagerNics,
    ManagerNic,
    Chassises,
    Chassis,
    SessionService,
    Sessions,
    Session(u64),
}

impl Res {
    fn methods(self) -> &'static [Method] {
        const GET: &[Method] = &[Method::GET, Method::HEAD];
        const GET_PATCH: &[Method] = &[Method::GET, Method::HEAD, Method::PATCH];
        match self {
            Res::System | Res::SecureBoot => GET_PATCH,
            Res::Reset => &[Method::POST],
            Res::Sessions => &[Method::GET, Method::HEAD, Method::POST],
            Res::Session(_) => &[Method::GET, Method::HEAD, Method::DELETE],
            _ => GET,
        }
    }

    /// Open to anyone, as Redfish wants the service root and the login to be.
    fn open(self, method: &Method) -> bool {
        matches!(self, Res::Versions | Res::Root) || (self == Res::Sessions && method == Method::POST)
    }
}

impl Bmc {
    /// The BMC of `machine`, its resources under `prefix` (`""` on its own address), its
    /// sessions in `sessions`.
    pub fn new(machine: Arc<Machine>, prefix: String, credentials: Arc<Credentials>, sessions: Arc<SessionStore>, vendor_quirks: bool) -> Bmc {
        let flavour = flavour(&machine.spec.system.vendor, vendor_quirks);
        Bmc { machine, prefix, flavour, credentials, sessions }
    }

    /// `<prefix>/redfish/v1`.
    pub fn root(&self) -> String {
        format!("{}/redfish/v1", self.prefix)
    }

    /// The ComputerSystem's path.
    pub fn system_path(&self) -> String {
        format!("{}/Systems/{}", self.root(), self.flavour.system_id)
    }

    fn manager_path(&self) -> String {
        format!("{}/Managers/{}", self.root(), self.flavour.manager_id)
    }

    fn chassis_path(&self) -> String {
        format!("{}/Chassis/{}", self.root(), self.flavour.chassis_id)
    }

    fn storage_path(&self) -> String {
        format!("{}/Storage/{}", self.system_path(), self.flavour.storage_id)
    }

    fn sessions_path(&self) -> String {
        format!("{}/SessionService/Sessions", self.root())
    }

    fn processor_id(&self, socket: usize) -> String {
        if self.flavour.dell {
            format!("CPU.Socket.{}", socket + 1)
        } else if self.flavour.lenovo {
            format!("CPU_{}", socket + 1)
        } else {
            format!("{}", socket + 1)
        }
    }

    fn dimm_id(&self, slot: usize) -> String {
        let loc: String = self.machine.spec.dimms[slot].locator.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        if self.flavour.dell {
            format!("DIMM.Socket.{loc}")
        } else {
            loc
        }
    }

    fn drive_id(&self, i: usize) -> String {
        if self.flavour.dell {
            format!("Disk.Bay.{i}:Enclosure.Internal.0-1")
        } else {
            format!("{i}")
        }
    }

    fn nic_id(&self, i: usize) -> String {
        if self.flavour.dell {
            format!("NIC.Embedded.{}-1-1", i + 1)
        } else {
            format!("{}", i + 1)
        }
    }

    /// The DIMM slots the Memory collection lists.
    fn listed_dimms(&self) -> Vec<usize> {
        let d = &self.machine.spec.dimms;
        (0..d.len()).filter(|&i| self.flavour.list_absent_dimms || !d[i].is_empty()).collect()
    }

    fn route(&self, path: &str) -> Option<Res> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let spec = &self.machine.spec;
        let f = &self.flavour;
        let sys = f.system_id;
        Some(match segs.as_slice() {
            ["redfish"] => Res::Versions,
            ["redfish", "v1"] => Res::Root,
            ["redfish", "v1", "Systems"] => Res::Systems,
            ["redfish", "v1", "Systems", s] if *s == sys => Res::System,
            ["redfish", "v1", "Systems", s, "Actions", "ComputerSystem.Reset"] if *s == sys => Res::Reset,
            ["redfish", "v1", "Systems", s, "Processors"] if *s == sys => Res::Processors,
            ["redfish", "v1", "Systems", s, "Processors", p] if *s == sys => {
                Res::Processor((0..spec.cpu.sockets as usize).find(|&i| self.processor_id(i) == *p)?)
            }
            ["redfish", "v1", "Systems", s, "Memory"] if *s == sys => Res::Memories,
            ["redfish", "v1", "Systems", s, "Memory", m] if *s == sys => Res::Memory(self.listed_dimms().into_iter().find(|&i| self.dimm_id(i) == *m)?),
            ["redfish", "v1", "Systems", s, "Storage"] if *s == sys => Res::Storages,
            ["redfish", "v1", "Systems", s, "Storage", st] if *s == sys && *st == f.storage_id => Res::Storage,
            ["redfish", "v1", "Systems", s, "Storage", st, "Drives", d] if *s == sys && *st == f.storage_id => {
                Res::Drive((0..spec.disks.len()).find(|&i| self.drive_id(i) == *d)?)
            }
            ["redfish", "v1", "Systems", s, "EthernetInterfaces"] if *s == sys => Res::Nics,
            ["redfish", "v1", "Systems", s, "EthernetInterfaces", n] if *s == sys => Res::Nic((0..spec.nics.len()).find(|&i| self.nic_id(i) == *n)?),
            ["redfish", "v1", "Systems", s, "SecureBoot"] if *s == sys => Res::SecureBoot,
            ["redfish", "v1", "Managers"] => Res::Managers,
            ["redfish", "v1", "Managers", m] if *m == f.manager_id => Res::Manager,
            ["redfish", "v1", "Managers", m, "EthernetInterfaces"] if *m == f.manager_id => Res::ManagerNics,
            ["redfish", "v1", "Managers", m, "EthernetInterfaces", n] if *m == f.manager_id && *n == self.manager_nic_id() => Res::ManagerNic,
            ["redfish", "v1", "Chassis"] => Res::Chassises,
            ["redfish", "v1", "Chassis", c] if *c == f.chassis_id => Res::Chassis,
            ["redfish", "v1", "SessionService"] => Res::SessionService,
            ["redfish", "v1", "SessionService", "Sessions"] => Res::Sessions,
            ["redfish", "v1", "SessionService", "Sessions", id] => Res::Session(id.parse().ok()?),
            _ => return None,
        })
    }

    fn manager_nic_id(&self) -> &'static str {
        if self.flavour.dell {
            "NIC.1"
        } else {
            "1"
        }
    }

    /// Answer one request.
    pub async fn handle(&self, req: Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        let Some(res) = self.route(&path) else {
            // Unknown paths need credentials too, as on a real BMC.
            if let Err(r) = self.authorize(&parts.headers, &path) {
                return *r;
            }
            return not_found(&path);
        };
        if !res.open(&method) {
            if let Err(r) = self.authorize(&parts.headers, &path) {
                return *r;
            }
        }
        if !res.methods().contains(&method) {
            return method_not_allowed(res.methods());
        }
        let body = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "GeneralError", &format!("The request body is larger than {MAX_BODY} bytes."), &[]);
            }
        };
        match method {
            Method::GET | Method::HEAD => match self.render(res) {
                Some(v) => ok(&v),
                None => not_found(&path),
            },
            Method::PATCH if res == Res::System => self.patch_system(&parts.headers, &body),
            Method::PATCH => self.patch_secure_boot(&body),
            Method::POST if res == Res::Reset => self.reset(&body),
            Method::POST => self.login(&body),
            Method::DELETE => match res {
                Res::Session(id) => self.logout(id, &path),
                _ => method_not_allowed(res.methods()),
            },
            _ => method_not_allowed(res.methods()),
        }
    }

    // --------------------------------------------------------------------------------------
    // Authentication

    fn authorize(&self, h: &HeaderMap, path: &str) -> Result<(), Box<Response>> {
        if let Some(token) = h.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
            let mut s = self.sessions.lock();
            return match s.by_token.get_mut(token) {
                Some(sess) if sess.last.elapsed() < SESSION_TIMEOUT => {
                    sess.last = Instant::now();
                    Ok(())
                }
                Some(_) => {
                    s.by_token.remove(token);
                    Err(Box::new(self.unauthorized(no_valid_session())))
                }
                None => Err(Box::new(self.unauthorized(no_valid_session()))),
            };
        }
        let Some(auth) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(Box::new(self.unauthorized(no_valid_session())));
        };
        let decoded = auth.strip_prefix("Basic ").and_then(b64decode).and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((u, p)) if self.credentials_match(u, p) => Ok(()),
            _ => Err(Box::new(self.unauthorized(bad_credentials(path)))),
        }
    }

    fn credentials_match(&self, user: &str, password: &str) -> bool {
        // Both compared in full, so the time does not tell which was wrong.
        let u = constant_eq(user.as_bytes(), self.credentials.username.as_bytes());
        let p = constant_eq(password.as_bytes(), self.credentials.password.as_bytes());
        u & p
    }

    fn unauthorized(&self, body: Response) -> Response {
        let mut r = body;
        let realm = format!("Basic realm=\"{} BMC\"", self.flavour.manager_model);
        if let Ok(v) = HeaderValue::from_str(&realm) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }

    fn login(&self, body: &[u8]) -> Response {
        let v = match parse_object(body) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        for k in ["UserName", "Password"] {
            match v.get(k) {
                None => return error(StatusCode::BAD_REQUEST, "PropertyMissing", &format!("The property '{k}' is a required property and must be included in the request."), &[k]),
                Some(Value::String(_)) => {}
                Some(other) => return property_type_error(k, other),
            }
        }
        let user = v["UserName"].as_str().unwrap_or_default();
        let password = v["Password"].as_str().unwrap_or_default();
        if !self.credentials_match(user, password) {
            return self.unauthorized(bad_credentials(&self.sessions_path()));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut s = self.sessions.lock();
        s.by_token.retain(|_, x| x.last.elapsed() < SESSION_TIMEOUT);
        if s.by_token.len() >= MAX_SESSIONS {
            if let Some(oldest) = s.by_token.iter().min_by_key(|(_, x)| x.last).map(|(t, _)| t.clone()) {
                s.by_token.remove(&oldest);
            }
        }
        s.next += 1;
        let id = s.next;
        s.by_token.insert(token.clone(), Session { id, user: user.to_string(), last: Instant::now() });
        drop(s);
        let location = format!("{}/{id}", self.sessions_path());
        let body = self.session_body(id, user);
        let mut r = (StatusCode::CREATED, json_body(&body)).into_response();
        let h = r.headers_mut();
        set_common(h);
        if let (Ok(t), Ok(l)) = (HeaderValue::from_str(&token), HeaderValue::from_str(&location)) {
            h.insert("X-Auth-Token", t);
            h.insert(header::LOCATION, l);
        }
        r
    }

    fn logout(&self, id: u64, path: &str) -> Response {
        let mut s = self.sessions.lock();
        let Some(token) = s.by_token.iter().find(|(_, x)| x.id == id).map(|(t, _)| t.clone()) else {
            return not_found(path);
        };
        s.by_token.remove(&token);
        no_content()
    }

    fn session_body(&self, id: u64, user: &str) -> Value {
        json!({
            "@odata.type": "#Session.v1_7_0.Session",
            "@odata.id": format!("{}/{id}", self.sessions_path()),
            "Id": id.to_string(),
            "Name": "User Session",
            "UserName": user,
        })
    }

    // --------------------------------------------------------------------------------------
    // Resources

    fn link(p: String) -> Value {
        json!({ "@odata.id": p })
    }

    fn collection(&self, kind: &str, name: &str, path: String, members: Vec<String>) -> Value {
        json!({
            "@odata.type": format!("#{kind}Collection.{kind}Collection"),
            "@odata.id": path,
            "Name": name,
            "Members@odata.count": members.len(),
            "Members": members.into_iter().map(Bmc::link).collect::<Vec<_>>(),
        })
    }

    fn render(&self, res: Res) -> Option<Value> {
        let spec = &self.machine.spec;
        let root = self.root();
        let sys = self.system_path();
        let status = json!({"State": "Enabled", "Health": "OK"});
        Some(match res {
            Res::Versions => json!({ "v1": format!("{root}/") }),
            Res::Root => json!({
                "@odata.type": "#ServiceRoot.v1_16_0.ServiceRoot",
                "@odata.id": format!("{root}/"),
                "Id": "RootService",
                "Name": "Root Service",
                "RedfishVersion": "1.17.0",
                "UUID": derived_uuid(&spec.system.uuid, 0x5e41_1ce0),
                "Vendor": spec.system.vendor,
                "Product": self.flavour.manager_model,
                "Systems": Bmc::link(format!("{root}/Systems")),
                "Chassis": Bmc::link(format!("{root}/Chassis")),
                "Managers": Bmc::link(format!("{root}/Managers")),
                "SessionService": Bmc::link(format!("{root}/SessionService")),
                "Links": {"Sessions": Bmc::link(self.sessions_path())},
            }),
            Res::Systems => self.collection("ComputerSystem", "Computer System Collection", format!("{root}/Systems"), vec![sys.clone()]),
            Res::System => self.system(),
            Res::Reset => return None,
            Res::Processors => self.collection(
                "Processor",
                "Processors Collection",
                format!("{sys}/Processors"),
                (0..spec.cpu.sockets as usize).map(|i| format!("{sys}/Processors/{}", self.processor_id(i))).collect(),
            ),
            Res::Processor(i) => {
                let c = &spec.cpu;
                json!({
                    "@odata.type": "#Processor.v1_18_0.Processor",
                    "@odata.id": format!("{sys}/Processors/{}", self.processor_id(i)),
                    "Id": self.processor_id(i),
                    "Name": "Processor",
                    "Socket": format!("CPU {}", i + 1),
                    "ProcessorType": "CPU",
                    "ProcessorArchitecture": "x86",
                    "InstructionSet": "x86-64",
                    "Manufacturer": if c.vendor_id == "AuthenticAMD" { "Advanced Micro Devices, Inc." } else { "Intel(R) Corporation" },
                    "Model": c.model,
                    "MaxSpeedMHz": c.max_mhz,
                    "OperatingSpeedMHz": c.base_mhz,
                    "TotalCores": c.cores,
                    "TotalEnabledCores": c.cores,
                    "TotalThreads": c.cores * c.threads,
                    "ProcessorId": {"VendorId": c.vendor_id, "EffectiveFamily": format!("0x{:X}", c.family), "EffectiveModel": format!("0x{:X}", c.model_number), "Step": format!("0x{:X}", c.stepping)},
                    "Status": status,
                })
            }
            Res::Memories => self.collection("Memory", "Memory Collection", format!("{sys}/Memory"), self.listed_dimms().into_iter().map(|i| format!("{sys}/Memory/{}", self.dimm_id(i))).collect()),
            Res::Memory(i) => {
                let d = &spec.dimms[i];
                let mut m = json!({
                    "@odata.type": "#Memory.v1_17_0.Memory",
                    "@odata.id": format!("{sys}/Memory/{}", self.dimm_id(i)),
                    "Id": self.dimm_id(i),
                    "Name": format!("Memory {}", d.locator),
                    "DeviceLocator": d.locator,
                    "MemoryLocation": {"Socket": d.socket + 1},
                    "Status": if d.is_empty() { json!({"State": "Absent"}) } else { status.clone() },
                });
                if !d.is_empty() {
                    let o = m.as_object_mut().unwrap();
                    o.insert("CapacityMiB".into(), d.size_mib.into());
                    o.insert("OperatingSpeedMhz".into(), d.speed_mts.into());
                    o.insert("MemoryDeviceType".into(), serde_json::to_value(d.memory_type).unwrap_or(Value::Null));
                    o.insert("MemoryType".into(), "DRAM".into());
                    o.insert("Manufacturer".into(), d.manufacturer.as_ref().into());
                    o.insert("SerialNumber".into(), d.serial.clone().into());
                    o.insert("PartNumber".into(), d.part_number.as_ref().into());
                    o.insert("RankCount".into(), 2.into());
                    o.insert("BusWidthBits".into(), 72.into());
                    o.insert("DataWidthBits".into(), 64.into());
                }
                m
            }
            Res::Storages => self.collection("Storage", "Storage Collection", format!("{sys}/Storage"), vec![self.storage_path()]),
            Res::Storage => {
                let st = self.storage_path();
                let ctrl = spec.pci.iter().find(|p| p.class >> 16 == 0x01 && p.class >> 8 != 0x0108);
                let protocols: Vec<&str> = {
                    let mut v: Vec<&str> = spec.disks.iter().map(|d| d.kind.protocol()).collect();
                    v.dedup();
                    v
                };
                let drives: Vec<Value> = (0..spec.disks.len()).map(|i| Bmc::link(format!("{st}/Drives/{}", self.drive_id(i)))).collect();
                json!({
                    "@odata.type": "#Storage.v1_15_0.Storage",
                    "@odata.id": st,
                    "Id": self.flavour.storage_id,
                    "Name": "Storage Controller",
                    "Status": status,
                    "StorageControllers": [{
                        "@odata.id": format!("{st}#/StorageControllers/0"),
                        "MemberId": "0",
                        "Name": ctrl.map(|c| c.description.as_ref()).unwrap_or("Storage Controller"),
                        "Status": status,
                        "SupportedDeviceProtocols": protocols,
                    }],
                    "Drives@odata.count": drives.len(),
                    "Drives": drives,
                })
            }
            Res::Drive(i) => self.drive(i, &spec.disks[i]),
            Res::Nics => self.collection(
                "EthernetInterface",
                "Ethernet Network Interface Collection",
                format!("{sys}/EthernetInterfaces"),
                (0..spec.nics.len()).map(|i| format!("{sys}/EthernetInterfaces/{}", self.nic_id(i))).collect(),
            ),
            Res::Nic(i) => {
                let n = &spec.nics[i];
                let mac = n.mac.to_ascii_uppercase();
                json!({
                    "@odata.type": "#EthernetInterface.v1_12_0.EthernetInterface",
                    "@odata.id": format!("{sys}/EthernetInterfaces/{}", self.nic_id(i)),
                    "Id": self.nic_id(i),
                    "Name": format!("Ethernet Interface {}", i + 1),
                    "MACAddress": mac,
                    "PermanentMACAddress": mac,
                    "SpeedMbps": if n.carrier { json!(n.speed_mbps) } else { Value::Null },
                    "LinkStatus": if n.carrier { "LinkUp" } else { "LinkDown" },
                    "InterfaceEnabled": true,
                    "FullDuplex": true,
                    "Status": status,
                })
            }
            Res::SecureBoot => {
                let on = self.machine.secure_boot();
                let uefi = self.machine.boot_override().mode == FirmwareMode::Uefi;
                json!({
                    "@odata.type": "#SecureBoot.v1_1_0.SecureBoot",
                    "@odata.id": format!("{sys}/SecureBoot"),
                    "Id": "SecureBoot",
                    "Name": "UEFI Secure Boot",
                    "SecureBootEnable": on,
                    "SecureBootCurrentBoot": if on && uefi { "Enabled" } else { "Disabled" },
                    "SecureBootMode": "UserMode",
                })
            }
            Res::Managers => self.collection("Manager", "Manager Collection", format!("{root}/Managers"), vec![self.manager_path()]),
            Res::Manager => {
                let m = self.manager_path();
                json!({
                    "@odata.type": "#Manager.v1_19_0.Manager",
                    "@odata.id": m,
                    "Id": self.flavour.manager_id,
                    "Name": "Manager",
                    "ManagerType": "BMC",
                    "Manufacturer": spec.system.vendor,
                    "Model": self.flavour.manager_model,
                    "FirmwareVersion": spec.bmc.firmware,
                    "UUID": derived_uuid(&spec.system.uuid, 0x0b3c_0000),
                    "PowerState": "On",
                    "Status": status,
                    "EthernetInterfaces": Bmc::link(format!("{m}/EthernetInterfaces")),
                    "Links": {
                        "ManagerForServers": [Bmc::link(sys.clone())],
                        "ManagerForChassis": [Bmc::link(self.chassis_path())],
                    },
                })
            }
            Res::ManagerNics => {
                let m = self.manager_path();
                self.collection("EthernetInterface", "Manager Ethernet Interface Collection", format!("{m}/EthernetInterfaces"), vec![format!("{m}/EthernetInterfaces/{}", self.manager_nic_id())])
            }
            Res::ManagerNic => {
                let m = self.manager_path();
                let mac = spec.bmc.mac.to_ascii_uppercase();
                json!({
                    "@odata.type": "#EthernetInterface.v1_12_0.EthernetInterface",
                    "@odata.id": format!("{m}/EthernetInterfaces/{}", self.manager_nic_id()),
                    "Id": self.manager_nic_id(),
                    "Name": "Manager Ethernet Interface",
                    "HostName": format!("{}-bmc", spec.name),
                    "MACAddress": mac,
                    "PermanentMACAddress": mac,
                    "SpeedMbps": 1000,
                    "LinkStatus": "LinkUp",
                    "InterfaceEnabled": true,
                    "FullDuplex": true,
                    "IPv4Addresses": [{"Address": spec.bmc.address.to_string(), "SubnetMask": "255.0.0.0", "AddressOrigin": "Static", "Gateway": "127.0.0.1"}],
                    "Status": status,
                })
            }
            Res::Chassises => self.collection("Chassis", "Chassis Collection", format!("{root}/Chassis"), vec![self.chassis_path()]),
            Res::Chassis => json!({
                "@odata.type": "#Chassis.v1_23_0.Chassis",
                "@odata.id": self.chassis_path(),
                "Id": self.flavour.chassis_id,
                "Name": "Chassis",
                "ChassisType": "RackMount",
                "Manufacturer": spec.system.vendor,
                "Model": spec.system.product,
                "SerialNumber": spec.system.serial,
                "SKU": spec.system.sku,
                "PowerState": self.machine.power_state().as_str(),
                "Status": status,
                "Links": {"ComputerSystems": [Bmc::link(sys.clone())], "ManagedBy": [Bmc::link(self.manager_path())]},
            }),
            Res::SessionService => json!({
                "@odata.type": "#SessionService.v1_1_9.SessionService",
                "@odata.id": format!("{root}/SessionService"),
                "Id": "SessionService",
                "Name": "Session Service",
                "ServiceEnabled": true,
                "SessionTimeout": SESSION_TIMEOUT.as_secs(),
                "Sessions": Bmc::link(self.sessions_path()),
                "Status": status,
            }),
            Res::Sessions => {
                let s = self.sessions.lock();
                let mut ids: Vec<u64> = s.by_token.values().filter(|x| x.last.elapsed() < SESSION_TIMEOUT).map(|x| x.id).collect();
                ids.sort_unstable();
                drop(s);
                self.collection("Session", "Session Collection", self.sessions_path(), ids.into_iter().map(|i| format!("{}/{i}", self.sessions_path())).collect())
            }
            Res::Session(id) => {
                let s = self.sessions.lock();
                let user = s.by_token.values().find(|x| x.id == id && x.last.elapsed() < SESSION_TIMEOUT)?.user.clone();
                drop(s);
                self.session_body(id, &user)
            }
        })
    }

    fn allowed_targets(&self, mode: FirmwareMode) -> Vec<&'static str> {
        BootTarget::ALL.iter().filter(|t| **t != BootTarget::UefiHttp || mode == FirmwareMode::Uefi).map(|t| t.as_str()).collect()
    }

    fn allowed_enabled(&self) -> Vec<&'static str> {
        BootEnabled::ALL.iter().filter(|e| **e != BootEnabled::Continuous || !self.flavour.no_continuous).map(|e| e.as_str()).collect()
    }

    fn system(&self) -> Value {
        let spec = &self.machine.spec;
        let sys = self.system_path();
        let boot = self.machine.boot_override();
        let c = &spec.cpu;
        let status = json!({"State": "Enabled", "Health": "OK", "HealthRollup": "OK"});
        json!({
            "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
            "@odata.id": sys,
            "Id": self.flavour.system_id,
            "Name": "System",
            "SystemType": "Physical",
            "Manufacturer": spec.system.vendor,
            "Model": spec.system.product,
            "SerialNumber": spec.system.serial,
            "UUID": spec.system.uuid,
            "SKU": spec.system.sku,
            "BiosVersion": spec.bios.version,
            "HostName": "",
            "AssetTag": "",
            "IndicatorLED": "Off",
            "Status": status,
            "PowerState": self.machine.power_state().as_str(),
            "Boot": {
                "BootSourceOverrideEnabled": boot.enabled.as_str(),
                "BootSourceOverrideEnabled@Redfish.AllowableValues": self.allowed_enabled(),
                "BootSourceOverrideTarget": boot.target.as_str(),
                "BootSourceOverrideTarget@Redfish.AllowableValues": self.allowed_targets(boot.mode),
                "BootSourceOverrideMode": boot.mode.as_str(),
                "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"],
            },
            "ProcessorSummary": {
                "Count": c.sockets,
                "CoreCount": c.sockets * c.cores,
                "LogicalProcessorCount": c.logical(),
                "Model": c.model,
                "Status": status,
            },
            "MemorySummary": {
                "TotalSystemMemoryGiB": spec.memory_mib() as f64 / 1024.0,
                "Status": status,
            },
            "Processors": Bmc::link(format!("{sys}/Processors")),
            "Memory": Bmc::link(format!("{sys}/Memory")),
            "Storage": Bmc::link(format!("{sys}/Storage")),
            "EthernetInterfaces": Bmc::link(format!("{sys}/EthernetInterfaces")),
            "SecureBoot": Bmc::link(format!("{sys}/SecureBoot")),
            "Links": {
                "Chassis": [Bmc::link(self.chassis_path())],
                "ManagedBy": [Bmc::link(self.manager_path())],
            },
            "Actions": {
                "#ComputerSystem.Reset": {
                    "target": format!("{sys}/Actions/ComputerSystem.Reset"),
                    "ResetType@Redfish.AllowableValues": ResetType::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                },
            },
        })
    }

    fn drive(&self, i: usize, d: &DiskSpec) -> Value {
        let label = match d.kind {
            DiskKind::SataSsd => "SATA SSD",
            DiskKind::SasHdd => "SAS HDD",
            DiskKind::Nvme => "NVMe SSD",
        };
        let (format, name) = match d.kind {
            DiskKind::Nvme => ("EUI", d.wwn.trim_start_matches("eui.").to_ascii_uppercase()),
            _ => ("NAA", d.wwn.trim_start_matches("0x").to_ascii_uppercase()),
        };
        let mut v = json!({
            "@odata.type": "#Drive.v1_17_0.Drive",
            "@odata.id": format!("{}/Drives/{}", self.storage_path(), self.drive_id(i)),
            "Id": self.drive_id(i),
            "Name": format!("{label} {i}"),
            "Model": d.model,
            "Manufacturer": drive_manufacturer(&d.model),
            "SerialNumber": d.serial,
            "Revision": d.firmware,
            "CapacityBytes": d.size_bytes,
            "BlockSizeBytes": 512,
            "MediaType": d.kind.media_type(),
            "Protocol": d.kind.protocol(),
            "Identifiers": [{"DurableNameFormat": format, "DurableName": name}],
            "PhysicalLocation": {"PartLocation": {"LocationOrdinalValue": i, "LocationType": "Bay"}},
            "Status": {"State": "Enabled", "Health": "OK"},
        });
        if d.rotational {
            v["RotationSpeedRPM"] = 7200.into();
        }
        v
    }

    // --------------------------------------------------------------------------------------
    // Changes

    fn patch_system(&self, h: &HeaderMap, body: &[u8]) -> Response {
        let v = match parse_object(body) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let current = self.system();
        if let Err(r) = self.precondition(h, &current) {
            return *r;
        }
        if v.is_empty() {
            return empty_json();
        }
        for (k, val) in &v {
            if k != "Boot" {
                return if current.get(k).is_some() { not_writable(k) } else { unknown_property(k) };
            }
            if !val.is_object() {
                return property_type_error(k, val);
            }
        }
        let boot = v["Boot"].as_object().unwrap();
        if boot.is_empty() {
            return empty_json();
        }
        let mut new = self.machine.boot_override();
        let mut target_given = None;
        for (k, val) in boot {
            if !matches!(k.as_str(), "BootSourceOverrideTarget" | "BootSourceOverrideEnabled" | "BootSourceOverrideMode") {
                return unknown_or_read_only(&current["Boot"], k);
            }
            let Some(s) = val.as_str() else { return property_type_error(k, val) };
            match k.as_str() {
                "BootSourceOverrideTarget" => match BootTarget::parse(s) {
                    Some(t) => {
                        new.target = t;
                        target_given = Some(s);
                    }
                    None => return not_in_list(s, k),
                },
                "BootSourceOverrideEnabled" => match BootEnabled::parse(s).filter(|_| self.allowed_enabled().contains(&s)) {
                    Some(e) => new.enabled = e,
                    None => return not_in_list(s, k),
                },
                _ => match FirmwareMode::parse(s) {
                    Some(m) => new.mode = m,
                    None => return not_in_list(s, k),
                },
            }
        }
        if self.flavour.mode_reset_without_mode && !boot.contains_key("BootSourceOverrideMode") {
            // iLO 5: an override PATCH without the mode puts the mode back to its default.
            new.mode = FirmwareMode::Uefi;
        }
        let current_target = self.machine.boot_override().target;
        match target_given {
            // A new target must be one the (new) mode offers.
            Some(t) if new.target != current_target && !self.allowed_targets(new.mode).contains(&t) => return not_in_list(t, "BootSourceOverrideTarget"),
            // A mode change that leaves the current target impossible (UefiHttp in Legacy),
            // the target repeated or not: the override target goes.
            _ if !self.allowed_targets(new.mode).contains(&new.target.as_str()) => new.target = BootTarget::None,
            _ => {}
        }
        self.machine.set_boot_override(new);
        no_content()
    }

    fn patch_secure_boot(&self, body: &[u8]) -> Response {
        let v = match parse_object(body) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        if v.is_empty() {
            return empty_json();
        }
        let current = self.render(Res::SecureBoot).unwrap_or(Value::Null);
        for (k, val) in &v {
            if k != "SecureBootEnable" {
                return if current.get(k).is_some() { not_writable(k) } else { unknown_property(k) };
            }
            let Some(on) = val.as_bool() else { return property_type_error(k, val) };
            if on && self.machine.boot_override().mode != FirmwareMode::Uefi {
                return error(
                    StatusCode::BAD_REQUEST,
                    "PropertyValueConflict",
                    "The property 'SecureBootEnable' could not be written because its value would conflict with the value of the 'BootSourceOverrideMode' property.",
                    &["SecureBootEnable", "BootSourceOverrideMode"],
                );
            }
            self.machine.set_secure_boot(on);
        }
        no_content()
    }

    fn precondition(&self, h: &HeaderMap, current: &Value) -> Result<(), Box<Response>> {
        match h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
            Some("*") => Ok(()),
            Some(tag) if tag == etag(&serde_json::to_vec(current).unwrap_or_default()) => Ok(()),
            Some(_) => Err(Box::new(error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.", &[]))),
            None if self.flavour.if_match_required => {
                Err(Box::new(error(StatusCode::PRECONDITION_REQUIRED, "PreconditionRequired", "A precondition header or annotation is required to change this resource.", &[])))
            }
            None => Ok(()),
        }
    }

    fn reset(&self, body: &[u8]) -> Response {
        const ACTION: &str = "ComputerSystem.Reset";
        let v = match parse_object(body) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let kind = match v.get("ResetType") {
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ActionParameterMissing",
                    &format!("The action '{ACTION}' requires the parameter 'ResetType' to be present in the request body."),
                    &[ACTION, "ResetType"],
                )
            }
            Some(Value::String(s)) => match ResetType::parse(s) {
                Some(k) => k,
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ActionParameterValueNotInList",
                        &format!("The value '{s}' for the parameter 'ResetType' in the action '{ACTION}' is not in the list of acceptable values."),
                        &[s, "ResetType", ACTION],
                    )
                }
            },
            Some(other) => {
                let shown = other.to_string();
                return error(
                    StatusCode::BAD_REQUEST,
                    "ActionParameterValueTypeError",
                    &format!("The value '{shown}' for the parameter 'ResetType' in the action '{ACTION}' is not a type that the parameter can accept."),
                    &[&shown, "ResetType", ACTION],
                );
            }
        };
        self.machine.reset(kind);
        no_content()
    }
}

// ------------------------------------------------------------------------------------------
// Answers

fn set_common(h: &mut HeaderMap) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn json_body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A weak ETag: FNV-1a of the body.
pub fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("W/\"{h:016x}\"")
}

fn ok(v: &Value) -> Response {
    let body = json_body(v);
    let tag = etag(&body);
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    set_common(h);
    if let Ok(t) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, t);
    }
    r
}

fn no_content() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    r
}

/// A Redfish error: `error.code` the DMTF Base message id, `error.message` and one
/// `@Message.ExtendedInfo` entry with the message and its arguments.
fn error(status: StatusCode, id: &str, message: &str, args: &[&str]) -> Response {
    let id = format!("{BASE}.{id}");
    let body = json!({
        "error": {
            "code": id,
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_2.Message",
                "MessageId": id,
                "Message": message,
                "MessageArgs": args,
                "MessageSeverity": if status.is_server_error() { "Critical" } else { "Warning" },
                "Resolution": resolution(status),
            }],
        }
    });
    let mut r = (status, json_body(&body)).into_response();
    set_common(r.headers_mut());
    r
}

fn resolution(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "Log in with valid credentials or create a session, then retry the request.",
        StatusCode::NOT_FOUND => "Check the URI and resubmit the request.",
        StatusCode::METHOD_NOT_ALLOWED => "Use a method the resource's Allow header lists.",
        StatusCode::PRECONDITION_FAILED | StatusCode::PRECONDITION_REQUIRED => "Read the resource again and send its ETag in If-Match.",
        _ => "Correct the request body and resubmit the request.",
    }
}

fn not_found(path: &str) -> Response {
    error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The requested resource of type Resource named '{path}' was not found."), &["Resource", path])
}

fn method_not_allowed(methods: &[Method]) -> Response {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "OperationNotAllowed", "The operation was not successful because the HTTP method is not allowed on this resource.", &[]);
    let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    if let Ok(v) = HeaderValue::from_str(&allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

fn no_valid_session() -> Response {
    error(StatusCode::UNAUTHORIZED, "NoValidSession", "There is no valid session established with the implementation.", &[])
}

fn bad_credentials(path: &str) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "ResourceAtUriUnauthorized",
        &format!("While accessing the resource at '{path}', the service received an authorization error 'Invalid username or password'."),
        &[path, "Invalid username or password"],
    )
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Box::new(error(StatusCode::BAD_REQUEST, "MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.", &[]))),
    }
}

fn empty_json() -> Response {
    error(StatusCode::BAD_REQUEST, "EmptyJSON", "The request body submitted contained an empty JSON object and the service is unable to process it.", &[])
}

fn unknown_property(k: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "PropertyUnknown", &format!("The property '{k}' is not in the list of valid properties for the resource."), &[k])
}

fn not_writable(k: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "PropertyNotWritable", &format!("The property '{k}' is a read-only property and cannot be assigned a value."), &[k])
}

fn unknown_or_read_only(current: &Value, k: &str) -> Response {
    if current.get(k).is_some() {
        not_writable(k)
    } else {
        unknown_property(k)
    }
}

fn property_type_error(k: &str, v: &Value) -> Response {
    let shown = v.to_string();
    error(StatusCode::BAD_REQUEST, "PropertyValueTypeError", &format!("The value '{shown}' for the property '{k}' is not a type that the property can accept."), &[&shown, k])
}

fn not_in_list(v: &str, k: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "PropertyValueNotInList", &format!("The value '{v}' for the property '{k}' is not in the list of acceptable values."), &[v, k])
}

fn drive_manufacturer(model: &str) -> &'static str {
    let m = model.to_ascii_uppercase();
    if m.starts_with("INTEL") {
        "Intel"
    } else if m.starts_with("MICRON") {
        "Micron"
    } else if m.starts_with("SAMSUNG") {
        "Samsung"
    } else if m.starts_with("ST") {
        "Seagate"
    } else {
        "Unknown"
    }
}

/// Another stable UUID from the system's (the manager's, the service's).
fn derived_uuid(system: &str, salt: u32) -> String {
    let v = uuid::Uuid::parse_str(system).map(|u| u.as_u128()).unwrap_or(0);
    let mixed = v ^ (u128::from(salt) << 96) ^ (u128::from(salt) << 16);
    uuid::Builder::from_random_bytes(mixed.to_be_bytes()).into_uuid().to_string()
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Standard base64 (padding optional), `None` when malformed.
fn b64decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_basic_credentials() {
        assert_eq!(b64decode("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(b64decode("YQ==").unwrap(), b"a");
        assert_eq!(b64decode("YWI=").unwrap(), b"ab");
        assert!(b64decode("!!").is_none());
    }

    #[test]
    fn comparisons_and_tags() {
        assert!(constant_eq(b"abc", b"abc"));
        assert!(!constant_eq(b"abc", b"abd"));
        assert!(!constant_eq(b"abc", b"abcd"));
        assert_ne!(etag(b"{}"), etag(b"{ }"));
        assert!(etag(b"x").starts_with("W/\""));
        let u = derived_uuid("4c4c4544-004b-5810-8051-b7c04f4b4733", 7);
        assert_eq!(u.len(), 36);
        assert_ne!(u, "4c4c4544-004b-5810-8051-b7c04f4b4733");
    }
}
