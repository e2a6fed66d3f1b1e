//! Finds active sessions past their idle or absolute deadline and ends them through the one
//! termination path, so relying parties hear of timeouts too.

use crate::app::State;
use crate::error::Result;
use crate::events::termination::{end_session, Ender};
use crate::session::{evaluate_liveness, Liveness};
use crate::store;
use std::time::Duration;

/// One sweep at the state's clock; returns how many sessions it ended.
pub async fn sweep_once(state: &State) -> Result<u64> {
    let mut ended = 0;
    loop {
        let now_ms = state.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let expired = store::sessions::list_expired(&state.db, now, 500).await?;
        if expired.is_empty() {
            break;
        }
        let n = expired.len();
        for (tenant_id, id, idle, absolute) in expired {
            if let Liveness::Expired(reason) = evaluate_liveness(true, idle, absolute, now) {
                if end_session(
                    state,
                    &tenant_id,
                    &id,
                    reason,
                    &Ender {
                        actor: "sweeper",
                        ctx: None,
                    },
                    now_ms,
                )
                .await?
                {
                    ended += 1;
                }
            }
        }
        if n < 500 {
            break;
        }
    }
    store::grants::delete_expired(&state.db, state.clock.now()).await?;
    Ok(ended)
}

pub async fn run(state: State) {
    let every = Duration::from_secs(state.config.sweep_interval_secs);
    loop {
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = %e, "sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}
