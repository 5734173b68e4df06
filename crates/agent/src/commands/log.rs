//! `log.collect_system_logs` (`IPA:extensions/log.py`): `{system_logs: <base64 tar.gz>}`.

use super::{blocking, sync_fn, Args, Registry, RestError};
use crate::system::System;
use serde_json::json;
use std::sync::Arc;

pub fn register(reg: &mut Registry, system: Arc<dyn System>) {
    reg.register(
        "log",
        "collect_system_logs",
        sync_fn(move |params| {
            let s = system.clone();
            Box::pin(async move {
                Args::new("collect_system_logs", params)
                    .finish()
                    .map_err(RestError::invalid_params)?;
                let logs = blocking(move || s.collect_system_logs())
                    .await?
                    .map_err(RestError::execution)?;
                Ok(json!({"system_logs": logs}))
            })
        }),
    );
}
