//! Group commit for refresh-token rotations.
//!
//! A rotation writes four rows in one transaction. On SQLite every statement goes through the one
//! writer connection, so rotations committed one by one are bounded by round trips, not by the
//! database. Here concurrent rotations are gathered into one transaction: each keeps its own
//! conditional `UPDATE ... WHERE state = 'active'` (so a token presented twice in one batch still
//! loses the race exactly once), and the inserts of the whole batch go out as multi-row INSERTs.
//! A rotation's outcome is reported only after the commit that made it durable.
//!
//! Locks are taken in the order every writer of a grant uses (session, then family, then token),
//! so a rotation racing an end of its session or a revocation of its family is ordered by the
//! database: a rotation refused when either went first, never a success after them (RFC 9700
//! §4.14.2). A batch that the database aborts (a PostgreSQL deadlock) is retried whole.

use super::audit::EventRow;
use super::entities::{access_token, audit_event, refresh_token};
use super::grants::{self, AccessTokenRow, RefreshRow};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

/// Everything one rotation writes.
#[derive(Debug)]
pub struct Rotation {
    pub tenant_id: String,
    pub presented_hash: String,
    /// The session governing the refresh, which must still be active at commit.
    pub session_id: Option<String>,
    pub now: i64,
    pub next: RefreshRow,
    pub access: AccessTokenRow,
    /// `(session_id, now, idle_deadline)` when the session's activity should be recorded.
    pub touch: Option<(String, i64, i64)>,
    pub event: EventRow,
}

/// Whether a rotation won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotated {
    Committed,
    /// The presented token was no longer active: someone else used it first.
    Lost,
    /// The family was revoked before this rotation could commit.
    FamilyRevoked,
    /// The governing session ended before this rotation could commit.
    SessionEnded,
}

/// Attempts at a batch the database aborted before it reports the error.
const ATTEMPTS: usize = 3;

type Job = (Rotation, oneshot::Sender<Result<Rotated, String>>);

#[derive(Debug, Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

const MAX_BATCH: usize = 256;

impl GroupCommit {
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(run(db, rx));
        Self { tx }
    }

    pub async fn rotate(&self, r: Rotation) -> Result<Rotated, DbErr> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((r, tx))
            .await
            .map_err(|_| DbErr::Custom("group commit stopped".into()))?;
        rx.await
            .map_err(|_| DbErr::Custom("group commit dropped".into()))?
            .map_err(DbErr::Custom)
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut outcome = commit(&db, &jobs).await;
        for _ in 1..ATTEMPTS {
            if outcome.is_ok() {
                break;
            }
            outcome = commit(&db, &jobs).await;
        }
        for (i, (_, reply)) in jobs.drain(..).enumerate() {
            let r = match &outcome {
                Ok(results) => Ok(results.get(i).copied().unwrap_or(Rotated::Lost)),
                Err(e) => Err(e.to_string()),
            };
            let _ = reply.send(r);
        }
    }
}

async fn commit(db: &DatabaseConnection, jobs: &[Job]) -> Result<Vec<Rotated>, DbErr> {
    let txn = db.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    let (mut rts, mut ats, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for (r, _) in jobs {
        // First statement of the transaction writes (SQLite takes the write lock up front).
        if let Some(sid) = &r.session_id {
            if !super::sessions::lock_active(&txn, &r.tenant_id, sid).await? {
                results.push(Rotated::SessionEnded);
                continue;
            }
        }
        if !grants::lock_active_family(&txn, &r.tenant_id, &r.next.family_id).await? {
            results.push(Rotated::FamilyRevoked);
            continue;
        }
        if grants::mark_refresh_rotated(&txn, &r.tenant_id, &r.presented_hash, r.now).await? {
            results.push(Rotated::Committed);
            rts.push(refresh_token::ActiveModel::from(r.next.clone()));
            ats.push(access_token::ActiveModel::from(r.access.clone()));
            events.push(audit_event::ActiveModel::from(r.event.clone()));
            if let Some((sid, now, idle)) = &r.touch {
                super::sessions::mark_active(&txn, &r.tenant_id, sid, *now, *idle).await?;
            }
        } else {
            results.push(Rotated::Lost);
        }
    }
    if !rts.is_empty() {
        refresh_token::Entity::insert_many(rts)
            .exec_without_returning(&txn)
            .await?;
        access_token::Entity::insert_many(ats)
            .exec_without_returning(&txn)
            .await?;
        audit_event::Entity::insert_many(events)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(results)
}
