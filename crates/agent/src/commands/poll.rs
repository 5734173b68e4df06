//! `poll.get_hardware_info` (`IPA:extensions/poll.py`): the inventory.

use super::{blocking, sync_fn, Args, Registry, RestError};
use crate::inventory::InventorySource;

pub fn register(reg: &mut Registry, source: InventorySource) {
    reg.register(
        "poll",
        "get_hardware_info",
        sync_fn(move |params| {
            let source = source.clone();
            Box::pin(async move {
                Args::new("get_hardware_info", params)
                    .finish()
                    .map_err(RestError::invalid_params)?;
                let data = blocking(move || source(&[])).await?;
                Ok(data.inventory)
            })
        }),
    );
}
