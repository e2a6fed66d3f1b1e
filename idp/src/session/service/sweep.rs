//! The sweep: active sessions past their idle, absolute or scheduled deadline, ended through
//! the one termination path (one transaction per tenant and reason of each page), so relying
//! parties hear of timeouts and shift ends too.

use super::end::{end_many, Ender};
use super::resolve::parse;
use crate::app::State;
use crate::error::Result;
use crate::session::Liveness;
use crate::store;
use std::collections::HashMap;

const PAGE: u64 = 500;

/// One sweep at the state's clock; returns how many sessions it ended.
pub async fn sweep_once(state: &State) -> Result<u64> {
    let mut ended = 0;
    loop {
        let now_ms = state.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let expired = store::sessions::list_expired(&state.db, now, PAGE).await?;
        if expired.is_empty() {
            break;
        }
        let n = expired.len();
        // One termination transaction per (tenant, reason) of this page.
        let mut groups: HashMap<(String, crate::session::EndReason), Vec<String>> = HashMap::new();
        let mut by_tenant: HashMap<String, Vec<String>> = HashMap::new();
        for (tenant_id, id) in expired {
            by_tenant.entry(tenant_id).or_default().push(id);
        }
        for (tenant_id, ids) in by_tenant {
            let rows = store::sessions::list_by_ids(&state.db, &tenant_id, &ids).await?;
            for row in rows {
                let s = parse(row)?;
                if let Liveness::Expired(reason) = s.liveness(now) {
                    groups
                        .entry((tenant_id.clone(), reason))
                        .or_default()
                        .push(s.id);
                }
            }
        }
        let mut progressed = 0;
        for ((tenant_id, reason), ids) in groups {
            let e = end_many(
                state,
                &tenant_id,
                &ids,
                reason,
                &Ender::new("sweeper", None),
                now_ms,
            )
            .await?;
            progressed += e.count();
        }
        ended += progressed;
        if n < PAGE as usize || progressed == 0 {
            break;
        }
    }
    store::grants::delete_expired(&state.db, state.clock.now()).await?;
    store::dpop::delete_expired(&state.db, state.clock.now()).await?;
    Ok(ended)
}
