//! The background sweeper: every `LANYARD_SWEEP_INTERVAL_SECS`, the session service ends
//! sessions past a deadline (`session::service::sweep`) and expired requests are dropped.

use crate::app::State;
use std::time::Duration;

pub use crate::session::service::sweep::sweep_once;

pub async fn run(state: State) {
    let every = Duration::from_secs(state.config.sweep_interval_secs);
    loop {
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = %e, "sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}
