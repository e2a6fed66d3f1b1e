//! Cross-node wake-up on PostgreSQL (ADR 0020, revising ADR 0002): every transaction that writes
//! deliveries also runs `NOTIFY lanyard_outbox` (`store::outbox::insert_many`), which PostgreSQL
//! sends to every listening session when the transaction commits. Each node listens on one
//! dedicated connection and wakes its own dispatcher, so work committed by another node or by the
//! CLI is claimed within milliseconds instead of at the next poll. The poll stays: it covers
//! retries coming due, notifications lost while the listening connection was down, and SQLite.

use crate::app::State;
use crate::store::outbox::WAKEUP_CHANNEL;
use sea_orm::sqlx::postgres::PgListener;
use std::time::Duration;

/// How long to wait before listening again after the connection failed.
const RECONNECT: Duration = Duration::from_secs(1);

/// Listen until the process ends; on PostgreSQL only (returns at once on SQLite).
pub async fn run(state: State) {
    let url = state.config.database_url.clone();
    if !url.starts_with("postgres") {
        return;
    }
    loop {
        match listen(&state, &url).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "outbox wake-up: listening failed; polling until it is back");
                // Whatever was announced meanwhile is found by this claim or the next poll.
                state.outbox_notify.notify_one();
                tokio::time::sleep(RECONNECT).await;
            }
        }
    }
}

async fn listen(state: &State, url: &str) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(WAKEUP_CHANNEL).await?;
    tracing::debug!(channel = WAKEUP_CHANNEL, "outbox wake-up: listening");
    loop {
        // `try_recv` reports a lost connection as `None` (and reconnects on the next call):
        // the dispatcher is woken then too, since announcements may have been missed.
        let got = listener.try_recv().await?;
        if got.is_none() {
            tracing::info!("outbox wake-up: connection lost; listening again");
        }
        state.outbox_notify.notify_one();
    }
}
