//! Periodic work: each task runs at its interval on its own tokio task until shutdown. A slow
//! run delays only its own next run. The power-state sync and the power failure recovery see
//! the shutdown signal and start no more nodes once it is set.

use crate::Conductor;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct PeriodicTasks {
    stop: watch::Sender<bool>,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for PeriodicTasks {
    fn default() -> Self {
        Self::new()
    }
}

impl PeriodicTasks {
    pub fn new() -> Self {
        PeriodicTasks { stop: watch::channel(false).0, handles: Vec::new() }
    }

    /// Run `f` every `every` (first run after one interval). A zero interval disables the task.
    pub fn add<F, Fut>(&mut self, name: &'static str, every: Duration, f: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if every.is_zero() {
            tracing::info!(task = name, "periodic task disabled");
            return;
        }
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => f().await,
                    _ = stop.changed() => break,
                }
            }
        });
        self.handles.push((name, handle));
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.handles.iter().map(|(n, _)| *n).collect()
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for (_, h) in self.handles {
            let _ = h.await;
        }
    }
}

/// The conductor's standard periodic tasks.
pub fn standard(conductor: &Conductor) -> PeriodicTasks {
    let mut p = PeriodicTasks::new();
    let c = conductor.clone();
    p.add("conductor_heartbeat", conductor.config().heartbeat_interval, move || {
        let c = c.clone();
        async move {
            if let Err(e) = c.register(true).await {
                tracing::error!(error = %e, "conductor heartbeat failed");
            }
        }
    });
    let c = conductor.clone();
    p.add("check_wait_timeouts", conductor.config().check_timeouts_interval, move || {
        let c = c.clone();
        async move {
            if let Err(e) = c.check_wait_timeouts().await {
                tracing::error!(error = %e, "checking wait timeouts failed");
            }
        }
    });
    let c = conductor.clone();
    let stop = p.stop.subscribe();
    p.add("sync_power_states", conductor.config().sync_power_state_interval, move || {
        let c = c.clone();
        let stop = stop.clone();
        async move {
            if let Err(e) = c.sync_power_states_until(Some(stop)).await {
                tracing::error!(error = %e, "syncing power states failed");
            }
        }
    });
    let c = conductor.clone();
    let stop = p.stop.subscribe();
    p.add("power_failure_recovery", conductor.config().power_failure_recovery_interval, move || {
        let c = c.clone();
        let stop = stop.clone();
        async move {
            if let Err(e) = c.power_failure_recovery_until(Some(stop)).await {
                tracing::error!(error = %e, "power failure recovery failed");
            }
        }
    });
    p
}
