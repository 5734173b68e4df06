//! `standby`: power and sync commands (`IPA:extensions/standby.py`). Image preparation
//! (`prepare_image`) and its partition UUIDs belong here too once image writing lands.

use super::{async_fn, blocking, sync_fn, Args, Registry, RestError};
use crate::system::System;
use serde_json::{json, Value};
use std::sync::Arc;

fn reboot_error(e: String) -> RestError {
    RestError::new("SystemRebootError", 500, "Error rebooting system", e)
}

pub fn register(reg: &mut Registry, system: Arc<dyn System>) {
    let s = system.clone();
    reg.register(
        "standby",
        "power_off",
        async_fn(move |params| {
            let s = s.clone();
            Box::pin(async move {
                Args::new("power_off", params)
                    .finish()
                    .map_err(RestError::execution)?;
                tracing::info!("powering off system");
                blocking(move || s.power_off())
                    .await?
                    .map_err(reboot_error)?;
                Ok(Value::Null)
            })
        }),
    );
    let s = system.clone();
    reg.register(
        "standby",
        "run_image",
        async_fn(move |params| {
            let s = s.clone();
            Box::pin(async move {
                Args::new("run_image", params)
                    .finish()
                    .map_err(RestError::execution)?;
                tracing::info!("rebooting system");
                blocking(move || s.reboot()).await?.map_err(reboot_error)?;
                Ok(Value::Null)
            })
        }),
    );
    let s = system;
    reg.register(
        "standby",
        "sync",
        sync_fn(move |params| {
            let s = s.clone();
            Box::pin(async move {
                Args::new("sync", params)
                    .finish()
                    .map_err(RestError::invalid_params)?;
                blocking(move || s.sync())
                    .await?
                    .map_err(RestError::execution)?;
                Ok(Value::Null)
            })
        }),
    );
    reg.register(
        "standby",
        "get_partition_uuids",
        sync_fn(move |params| {
            Box::pin(async move {
                Args::new("get_partition_uuids", params)
                    .finish()
                    .map_err(RestError::invalid_params)?;
                // No image has been prepared by this agent (IPA answers {} then as well).
                Ok(json!({}))
            })
        }),
    );
}
