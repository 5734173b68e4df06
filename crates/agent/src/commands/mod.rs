//! IPA's command model (`IPA:extensions/base.py`): commands are named `<extension>.<command>`,
//! run synchronously (the answer carries the result) or asynchronously (the answer says
//! RUNNING; the result is polled or awaited with `wait=true`), one at a time.
//!
//! Each command is a [`Command`] registered in a [`Registry`]; an extension is only a name
//! prefix. Image writing (`standby.prepare_image`, `deploy.execute_deploy_step` with
//! `write_image`) slots in as more async commands: a handler gets its params and returns a
//! future, and may run blocking IO through `tokio::task::spawn_blocking`.

pub mod clean;
pub mod log;
pub mod poll;
pub mod standby;

use crate::clock::BoxFuture;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// IPA's `RESTError`: serialised as `{type, code, message, details}` inside `command_error`,
/// and as `{faultcode, faultstring: "<message>: <details>"}` when it is the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestError {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: u16,
    pub message: String,
    pub details: String,
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.details)
    }
}

impl std::error::Error for RestError {}

impl RestError {
    pub fn new(kind: &str, code: u16, message: &str, details: impl Into<String>) -> Self {
        RestError {
            kind: kind.into(),
            code,
            message: message.into(),
            details: details.into(),
        }
    }
    /// 400, answered directly (IPA's `InvalidCommandError`).
    pub fn invalid_command(details: impl Into<String>) -> Self {
        Self::new("InvalidCommandError", 400, "Invalid command", details)
    }
    /// 400, answered directly (IPA's `InvalidCommandParamsError`).
    pub fn invalid_params(details: impl Into<String>) -> Self {
        Self::new(
            "InvalidCommandParamsError",
            400,
            "Invalid command parameters",
            details,
        )
    }
    /// 404 (IPA's `RequestedObjectNotFoundError`).
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            "RequestedObjectNotFoundError",
            404,
            "Not found",
            format!("{what} with id {id} not found."),
        )
    }
    /// 409 (IPA's `AgentIsBusy`).
    pub fn busy(command_name: &str) -> Self {
        Self::new(
            "AgentIsBusy",
            409,
            "Agent is busy",
            format!("executing command {command_name}"),
        )
    }
    /// 500 (IPA's `CommandExecutionError`): any failure that is not a more specific error.
    pub fn execution(details: impl Into<String>) -> Self {
        Self::new(
            "CommandExecutionError",
            500,
            "Command execution failed",
            details,
        )
    }
    pub fn cleaning(details: impl Into<String>) -> Self {
        Self::new("CleaningError", 500, "Clean step failed", details)
    }
    pub fn block_device_erase(details: impl Into<String>) -> Self {
        Self::new(
            "BlockDeviceEraseError",
            500,
            "Error erasing block device",
            details,
        )
    }
    pub fn incompatible_hardware(details: impl Into<String>) -> Self {
        Self::new(
            "IncompatibleHardwareMethodError",
            500,
            "HardwareManager method is not compatible with hardware",
            details,
        )
    }
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            "HardwareManagerMethodNotFound",
            500,
            "No HardwareManager found to handle method",
            format!("Could not find method: {method}"),
        )
    }
    /// IPA's `ProtectedDeviceError` (its message is replaced by the details).
    pub fn protected_device(device: &str, what: &str) -> Self {
        let details = format!(
            "Protected {what} located on device {device}. This volume or contents may be a shared block device. Please consult \
             your storage administrator, and restart cleaning after either detaching the volumes, or instructing IPA to not \
             protect contents. See Ironic Python Agent documentation for more information."
        );
        RestError {
            kind: "ProtectedDeviceError".into(),
            code: 500,
            message: details.clone(),
            details,
        }
    }
    /// 409, recorded as `CLEAN_VERSION_MISMATCH` (IPA's `VersionMismatch`).
    pub fn version_mismatch(agent: &Value, node: &Value) -> Self {
        Self::new(
            "VersionMismatch",
            409,
            "Hardware managers version mismatch, reload agent with correct version",
            format!("Current versions: {agent}, versions used by ironic: {node}"),
        )
    }
    pub fn unknown_node() -> Self {
        Self::new(
            "UnknownNodeError",
            500,
            "Agent is not associated with an Ironic node",
            "An unexpected error occurred. Please try back later.",
        )
    }

    /// IPA's `InvalidContentError` family, which `execute_command` hands straight to the caller.
    pub fn is_invalid_content(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "InvalidContentError" | "InvalidCommandError" | "InvalidCommandParamsError"
        )
    }

    /// The body of an HTTP error answer: `{faultcode, faultstring}` (IPA emulating WSME).
    pub fn fault(&self) -> Value {
        json!({"faultcode": if self.code >= 500 { "Server" } else { "Client" }, "faultstring": self.to_string()})
    }
}

/// `command_status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CommandStatus {
    #[serde(rename = "RUNNING")]
    Running,
    #[serde(rename = "SUCCEEDED")]
    Succeeded,
    #[serde(rename = "FAILED")]
    Failed,
    /// IPA still spells it with `CLEAN_` for compatibility.
    #[serde(rename = "CLEAN_VERSION_MISMATCH")]
    VersionMismatch,
}

#[derive(Debug, Clone)]
struct ResultState {
    status: CommandStatus,
    error: Option<RestError>,
    result: Option<Value>,
}

/// One command's record, as served by `/v1/commands`.
#[derive(Debug)]
pub struct CommandResult {
    pub id: String,
    pub command_name: String,
    pub params: Map<String, Value>,
    state: Mutex<ResultState>,
    done: watch::Sender<bool>,
}

impl CommandResult {
    fn new(command_name: &str, params: Map<String, Value>) -> Self {
        CommandResult {
            id: uuid::Uuid::new_v4().to_string(),
            command_name: command_name.into(),
            params,
            state: Mutex::new(ResultState {
                status: CommandStatus::Running,
                error: None,
                result: None,
            }),
            done: watch::channel(false).0,
        }
    }

    fn finish(&self, status: CommandStatus, result: Option<Value>, error: Option<RestError>) {
        *self.state.lock().unwrap() = ResultState {
            status,
            error,
            result,
        };
        self.done.send_replace(true);
    }

    pub fn status(&self) -> CommandStatus {
        self.state.lock().unwrap().status
    }

    pub fn is_done(&self) -> bool {
        self.status() != CommandStatus::Running
    }

    /// Wait until the command is no longer RUNNING (IPA's `join()`).
    pub async fn wait(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// `{id, command_name, command_status, command_error, command_result}`.
    pub fn to_json(&self) -> Value {
        let st = self.state.lock().unwrap().clone();
        json!({
            "id": self.id,
            "command_name": self.command_name,
            "command_status": st.status,
            "command_error": st.error,
            "command_result": st.result,
        })
    }
}

/// Whether a command answers with its result or runs in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sync,
    Async,
}

pub type Params = Map<String, Value>;
pub type CommandOutput = Result<Value, RestError>;

/// A command handler. For `Kind::Sync`, an error of the `InvalidContentError` family becomes
/// the HTTP answer (400) and any other error a FAILED result; for `Kind::Async`, `validate`
/// runs first with the same rule and then `run` goes to the background.
pub trait Command: Send + Sync + 'static {
    fn kind(&self) -> Kind;
    fn validate(&self, _params: &Params) -> Result<(), RestError> {
        Ok(())
    }
    fn run(&self, params: Params) -> BoxFuture<CommandOutput>;
}

/// A command from a closure.
pub struct FnCommand<F> {
    kind: Kind,
    f: F,
}

impl<F> Command for FnCommand<F>
where
    F: Fn(Params) -> BoxFuture<CommandOutput> + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        self.kind
    }
    fn run(&self, params: Params) -> BoxFuture<CommandOutput> {
        (self.f)(params)
    }
}

pub fn sync_fn<F>(f: F) -> Arc<dyn Command>
where
    F: Fn(Params) -> BoxFuture<CommandOutput> + Send + Sync + 'static,
{
    Arc::new(FnCommand {
        kind: Kind::Sync,
        f,
    })
}

pub fn async_fn<F>(f: F) -> Arc<dyn Command>
where
    F: Fn(Params) -> BoxFuture<CommandOutput> + Send + Sync + 'static,
{
    Arc::new(FnCommand {
        kind: Kind::Async,
        f,
    })
}

/// The known commands, by extension and name.
#[derive(Default, Clone)]
pub struct Registry {
    extensions: BTreeMap<String, BTreeMap<String, Arc<dyn Command>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(
        &mut self,
        extension: &str,
        command: &str,
        handler: Arc<dyn Command>,
    ) -> &mut Self {
        self.extensions
            .entry(extension.into())
            .or_default()
            .insert(command.into(), handler);
        self
    }

    /// `ext.cmd` names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.extensions
            .iter()
            .flat_map(|(e, cmds)| cmds.keys().map(move |c| format!("{e}.{c}")))
            .collect()
    }

    fn lookup(&self, name: &str) -> Result<(String, Arc<dyn Command>), RestError> {
        let (ext, cmd) = name.split_once('.').ok_or_else(|| {
            RestError::invalid_command("Command name must be of the form <extension>.<name>")
        })?;
        let commands = self
            .extensions
            .get(ext)
            .ok_or_else(|| RestError::not_found("Extension", ext))?;
        let handler = commands
            .get(cmd)
            .ok_or_else(|| RestError::invalid_command(format!("Unknown command: {cmd}")))?;
        Ok((cmd.to_string(), handler.clone()))
    }
}

/// Runs commands one at a time and keeps their results (IPA's `ExecuteCommandMixin`).
pub struct CommandRunner {
    registry: Registry,
    results: Mutex<Vec<Arc<CommandResult>>>,
    lock: tokio::sync::Mutex<()>,
    on_async_done: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl CommandRunner {
    pub fn new(registry: Registry) -> Self {
        CommandRunner {
            registry,
            results: Mutex::new(Vec::new()),
            lock: tokio::sync::Mutex::new(()),
            on_async_done: None,
        }
    }

    /// Called whenever an async command finishes (the agent forces a heartbeat, as IPA does).
    pub fn with_async_done_hook(mut self, hook: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.on_async_done = Some(hook);
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn list(&self) -> Vec<Arc<CommandResult>> {
        self.results.lock().unwrap().clone()
    }

    pub fn get(&self, id: &str) -> Result<Arc<CommandResult>, RestError> {
        self.results
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| RestError::not_found("Command Result", id))
    }

    fn record(&self, r: Arc<CommandResult>) -> Arc<CommandResult> {
        self.results.lock().unwrap().push(r.clone());
        r
    }

    /// Execute `ext.cmd`. `Err` is the HTTP error answer; a command that fails is an `Ok`
    /// FAILED result.
    pub async fn execute(
        &self,
        name: &str,
        params: Params,
    ) -> Result<Arc<CommandResult>, RestError> {
        let _guard = self.lock.lock().await;
        tracing::debug!(command = %name, "executing command");
        if !name.contains('.') {
            return Err(RestError::invalid_command(
                "Command name must be of the form <extension>.<name>",
            ));
        }
        if let Some(last) = self.results.lock().unwrap().last() {
            if !last.is_done() {
                tracing::error!(command = %name, running = %last.command_name, "agent is busy");
                return Err(RestError::busy(&last.command_name));
            }
        }
        let (short, handler) = self.registry.lookup(name)?;
        // Failures before the command runs are recorded under the full name, as IPA does.
        let failed = |e: RestError| -> Result<Arc<CommandResult>, RestError> {
            if e.is_invalid_content() {
                return Err(e);
            }
            let r = Arc::new(CommandResult::new(name, params.clone()));
            r.finish(CommandStatus::Failed, None, Some(e));
            Ok(self.record(r))
        };
        if let Err(e) = handler.validate(&params) {
            return failed(e);
        }
        match handler.kind() {
            Kind::Sync => match handler.run(params.clone()).await {
                Ok(v) => {
                    let v = match v {
                        Value::String(s) => json!({"result": s}),
                        v => v,
                    };
                    let r = Arc::new(CommandResult::new(&short, params));
                    r.finish(CommandStatus::Succeeded, Some(v), None);
                    tracing::info!(command = %name, "synchronous command completed");
                    Ok(self.record(r))
                }
                Err(e) => failed(e),
            },
            Kind::Async => {
                let r = self.record(Arc::new(CommandResult::new(&short, params.clone())));
                let fut = handler.run(params);
                let rec = r.clone();
                let hook = self.on_async_done.clone();
                let task = tokio::spawn(fut);
                tokio::spawn(async move {
                    match task.await {
                        Ok(Ok(v)) => {
                            let v = match v {
                                Value::String(s) => {
                                    json!({"result": format!("{}: {s}", rec.command_name)})
                                }
                                v => v,
                            };
                            tracing::info!(command = %rec.command_name, "asynchronous command completed");
                            rec.finish(CommandStatus::Succeeded, Some(v), None);
                        }
                        Ok(Err(e)) if e.kind == "VersionMismatch" => {
                            tracing::error!(command = %rec.command_name, "clean version mismatch");
                            rec.finish(CommandStatus::VersionMismatch, None, Some(e));
                        }
                        Ok(Err(e)) => {
                            tracing::error!(command = %rec.command_name, error = %e, "command failed");
                            rec.finish(CommandStatus::Failed, None, Some(e));
                        }
                        Err(join) => {
                            tracing::error!(command = %rec.command_name, error = %join, "command panicked");
                            rec.finish(
                                CommandStatus::Failed,
                                None,
                                Some(RestError::execution(format!(
                                    "the command panicked: {join}"
                                ))),
                            );
                        }
                    }
                    if let Some(h) = hook {
                        h();
                    }
                });
                tracing::info!(command = %name, "asynchronous command started");
                Ok(r)
            }
        }
    }
}

/// Parameter handling with Python's keyword-argument errors, so a command refuses what IPA's
/// function signature would refuse.
pub struct Args {
    func: &'static str,
    map: Params,
}

impl Args {
    pub fn new(func: &'static str, map: Params) -> Self {
        Args { func, map }
    }
    /// A required parameter (`<func>() missing 1 required positional argument: '<key>'`).
    pub fn require(&mut self, key: &str) -> Result<Value, String> {
        self.map.remove(key).ok_or_else(|| {
            format!(
                "{}() missing 1 required positional argument: '{key}'",
                self.func
            )
        })
    }
    pub fn optional(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }
    /// Refuse anything left (`<func>() got an unexpected keyword argument '<key>'`).
    pub fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            Some(k) => Err(format!(
                "{}() got an unexpected keyword argument '{k}'",
                self.func
            )),
            None => Ok(()),
        }
    }
    /// Whatever was not taken (IPA's `**kwargs`).
    pub fn rest(self) -> Params {
        self.map
    }
}

/// Run blocking work off the async threads, turning a panic into a command error.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RestError::execution(format!("the command panicked: {e}")))
}
