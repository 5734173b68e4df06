//! Inspection rules at the end of inspection processing (Ironic's `engine.apply_rules(task,
//! inventory, plugin_data, 'main')`, under the node lock, after the hooks). The rules
//! themselves run in the core ([`ferric_core::rules::engine`]); here they are loaded (stored
//! ones, then built-in ones), their effects performed and their log lines logged.
//!
//! The `api-call` action's HTTP GET goes through a [`RuleHttp`] the binary provides (the
//! conductor knows no HTTP), within a bounded time.

use crate::{CResult, Conductor, ConductorError};
use ferric_core::rules::{self, Effect, InspectionRule, LogLine, MaskSecrets};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// One `api-call`: a GET of `url` with Ironic's retry policy (`retries` on connection errors
/// and 429/500/502/503/504, `backoff_factor`), each attempt within `timeout`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub url: String,
    pub headers: ferric_core::Dict,
    pub proxies: ferric_core::Dict,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff_factor: f64,
}

impl ApiCall {
    /// The most a call may take, all attempts and back-offs included (urllib3's back-off is
    /// `backoff_factor * 2**(n-1)`, at most 120 s), capped at [`MAX_API_CALL`].
    pub fn budget(&self) -> Duration {
        let attempts = self.retries.saturating_add(1);
        let backoff: f64 = (1..attempts).map(|n| (self.backoff_factor * 2f64.powi(n as i32 - 1)).min(120.0)).sum();
        (self.timeout * attempts + Duration::from_secs_f64(backoff.max(0.0))).min(MAX_API_CALL)
    }
}

/// The longest an `api-call` may hold up inspection processing (under the node lock).
pub const MAX_API_CALL: Duration = Duration::from_secs(300);

/// Performs `api-call` GETs. `Err` is the reason, as `requests` would word it.
pub trait RuleHttp: Send + Sync {
    fn get<'a>(&'a self, call: &'a ApiCall) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// `[inspection_rules]` settings.
#[derive(Clone, Default)]
pub struct RulesConfig {
    /// `mask_secrets`: always (default), never, sensitive.
    pub mask_secrets: MaskSecrets,
    /// Rules from `built_in_rules`, loaded at start.
    pub built_in: Arc<Vec<InspectionRule>>,
    /// The HTTP client for `api-call`; without one, an `api-call` fails the inspection.
    pub http: Option<Arc<dyn RuleHttp>>,
}

impl std::fmt::Debug for RulesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesConfig")
            .field("mask_secrets", &self.mask_secrets)
            .field("built_in", &self.built_in.len())
            .field("http", &self.http.is_some())
            .finish()
    }
}

impl Conductor {
    /// The rules of phase `main`: stored ones in id order, then the built-in ones.
    pub(crate) async fn inspection_rules(&self) -> CResult<Vec<InspectionRule>> {
        let mut rules = self.store().list_inspection_rules(Some(rules::PHASE_MAIN.into()), Default::default()).await?;
        // ironic-inspector rules (its API on port 5050), translated onto the same engine.
        for doc in self.store().list_inspector_rules().await? {
            match rules::legacy::translate(&doc) {
                Ok(mut r) => {
                    r.uuid = doc.get("uuid").and_then(|u| u.as_str()).unwrap_or_default().to_string();
                    rules.push(r)
                }
                Err(e) => tracing::error!(rule = %doc.get("uuid").unwrap_or(&serde_json::Value::Null), error = %e, "skipping an inspector rule that no longer translates"),
            }
        }
        rules.extend(self.config().inspection_rules.built_in.iter().cloned());
        Ok(rules)
    }

    /// Perform the rules' effects in order; the first failure is the inspection's failure.
    pub(crate) async fn perform_rule_effects(&self, node: &str, effects: &[Effect]) -> CResult<()> {
        for effect in effects {
            let Effect::ApiCall { rule, url, headers, proxies, timeout, retries, backoff_factor } = effect;
            let call = ApiCall {
                url: url.clone(),
                headers: headers.clone(),
                proxies: proxies.clone(),
                timeout: Duration::from_secs_f64(timeout.min(MAX_API_CALL.as_secs_f64())),
                retries: *retries,
                backoff_factor: *backoff_factor,
            };
            let Some(http) = self.config().inspection_rules.http.clone() else {
                return Err(ConductorError::Invalid(effect.failure("no HTTP client is configured for inspection rules")));
            };
            tracing::info!(%node, %rule, "inspection rule api-call");
            let result = match tokio::time::timeout(call.budget(), http.get(&call)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", call.budget().as_secs_f64())),
            };
            if let Err(reason) = result {
                tracing::error!(%node, %rule, error = %reason, "inspection rule api-call failed");
                return Err(ConductorError::Invalid(effect.failure(&reason)));
            }
        }
        Ok(())
    }
}

/// Log what the rules asked to log, at their level.
pub(crate) fn emit_logs(node: &str, logs: &[LogLine]) {
    for l in logs {
        let (rule, msg) = (&l.rule, &l.message);
        match l.level.as_str() {
            "debug" => tracing::debug!(%node, %rule, "{msg}"),
            "info" => tracing::info!(%node, %rule, "{msg}"),
            "warning" => tracing::warn!(%node, %rule, "{msg}"),
            _ => tracing::error!(%node, %rule, "{msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_call_budget_counts_attempts_and_backoff() {
        let call = |timeout: f64, retries: u32, backoff: f64| ApiCall {
            url: "http://x".into(),
            headers: Default::default(),
            proxies: Default::default(),
            timeout: Duration::from_secs_f64(timeout),
            retries,
            backoff_factor: backoff,
        };
        assert_eq!(call(5.0, 0, 0.3).budget(), Duration::from_secs(5));
        // 4 attempts of 5 s plus 0.3 + 0.6 + 1.2 s of back-off.
        assert_eq!(call(5.0, 3, 0.3).budget().as_millis(), 22_100);
        assert_eq!(call(100.0, 10, 1.0).budget(), MAX_API_CALL);
    }
}
