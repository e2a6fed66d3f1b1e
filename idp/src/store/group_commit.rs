//! Group commit for refresh-token rotations, authorization codes and their redemptions.
//!
//! A rotation writes four rows in one transaction, a code's issue two or three, its redemption
//! (the code exchange of RFC 6749 §4.1.3) six. On SQLite every statement goes through the one
//! writer connection, so rotations committed one by one are bounded by round trips, not by the
//! database. Here concurrent rotations are gathered into one transaction: each keeps its own
//! conditional `UPDATE ... WHERE state = 'active'` (so a token presented twice in one batch still
//! loses the race exactly once), and the inserts of the whole batch go out as multi-row INSERTs.
//! A rotation's outcome is reported only after the commit that made it durable.
//!
//! Locks are taken in the order every writer of a grant uses (session, then family, then token),
//! so a rotation racing an end of its session or a revocation of its family is ordered by the
//! database: a rotation refused when either went first, never a success after them (RFC 9700
//! §4.14.2). A redemption locks its session, then marks its code redeemed (`WHERE state =
//! 'issued'`): nothing is issued into a session whose end committed first, and a code presented
//! twice, in one batch or two, is redeemed once. A batch that the database aborts (a PostgreSQL
//! deadlock) is retried whole.

use super::audit::EventRow;
use super::entities::{access_token, audit_event, auth_code, refresh_family, refresh_token};
use super::grants::{self, AccessTokenRow, CodeRow, FamilyRow, RefreshRow};
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

/// Everything one code redemption writes.
#[derive(Debug)]
pub struct Redemption {
    pub tenant_id: String,
    pub code_hash: String,
    /// The session the code was issued in, which must still be active at commit.
    pub session_id: String,
    /// The refresh family the code starts and its first token, when the client refreshes.
    pub refresh: Option<(FamilyRow, RefreshRow)>,
    pub access: AccessTokenRow,
    /// The client (internal id) takes part in the session from `now` (its participation row).
    pub client_row_id: String,
    pub now: i64,
    pub event: EventRow,
}

/// Everything issuing one authorization code writes: the code, the session's activity, and
/// (first codes of a client in the session) its participation, and the consumption of the
/// remembered request it answers.
#[derive(Debug)]
pub struct CodeIssue {
    pub code: CodeRow,
    /// The session's new `(last_active_at, idle_deadline)`.
    pub touch: (i64, i64),
    /// Record the code's client as taking part in the session.
    pub participate: bool,
    /// The remembered authorization request (`auth_requests.id`) to delete.
    pub consumed_request: Option<String>,
}

/// Whether a redemption won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    Committed,
    /// The code was no longer unused: someone redeemed it first (a replay).
    Replayed,
    /// The session ended before this redemption could commit (the code stays unused).
    SessionEnded,
}

/// Attempts at a batch the database aborted before it reports the error.
const ATTEMPTS: usize = 3;

#[derive(Debug)]
enum Work {
    Rotate(Box<Rotation>),
    Issue(Box<CodeIssue>),
    Redeem(Box<Redemption>),
}

#[derive(Debug, Clone, Copy)]
enum Done {
    Rotated(Rotated),
    Issued,
    Redeemed(Redeemed),
}

type Job = (Work, oneshot::Sender<Result<Done, String>>);

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
        match self.submit(Work::Rotate(Box::new(r))).await? {
            Done::Rotated(r) => Ok(r),
            _ => Err(DbErr::Custom("group commit: crossed outcome".into())),
        }
    }

    /// Commit a code's issue (with others issued meanwhile).
    pub async fn issue(&self, c: CodeIssue) -> Result<(), DbErr> {
        match self.submit(Work::Issue(Box::new(c))).await? {
            Done::Issued => Ok(()),
            _ => Err(DbErr::Custom("group commit: crossed outcome".into())),
        }
    }

    pub async fn redeem(&self, r: Redemption) -> Result<Redeemed, DbErr> {
        match self.submit(Work::Redeem(Box::new(r))).await? {
            Done::Redeemed(r) => Ok(r),
            _ => Err(DbErr::Custom("group commit: crossed outcome".into())),
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, DbErr> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((work, tx))
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
                Ok(results) => results
                    .get(i)
                    .copied()
                    .ok_or_else(|| "group commit: no outcome".to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = reply.send(r);
        }
    }
}

async fn commit(db: &DatabaseConnection, jobs: &[Job]) -> Result<Vec<Done>, DbErr> {
    let txn = db.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    let (mut rts, mut ats, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let (mut families, mut participants, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    for (work, _) in jobs {
        let done = match work {
            Work::Rotate(r) => {
                Done::Rotated(rotate(&txn, r, &mut rts, &mut ats, &mut events).await?)
            }
            Work::Issue(c) => {
                let (t, s) = (c.code.tenant_id.as_str(), c.code.session_id.as_str());
                // Using the session at the authorization endpoint is activity (an ended
                // session's row is left as it is; its code is refused at the exchange).
                let (at, idle_deadline) = c.touch;
                super::sessions::mark_active(&txn, t, s, at, idle_deadline).await?;
                if let Some(id) = &c.consumed_request {
                    grants::delete_request(&txn, t, id).await?;
                }
                if c.participate {
                    participants.push((t, s, c.code.client_id.as_str(), c.code.created_at));
                }
                codes.push(auth_code::ActiveModel::from(c.code.clone()));
                Done::Issued
            }
            Work::Redeem(r) => {
                // First statement of the transaction writes (SQLite takes the write lock up front).
                if !super::sessions::lock_active(&txn, &r.tenant_id, &r.session_id).await? {
                    Done::Redeemed(Redeemed::SessionEnded)
                } else if !grants::mark_code_redeemed(
                    &txn,
                    &r.tenant_id,
                    &r.code_hash,
                    r.refresh.as_ref().map(|(f, _)| f.id.as_str()),
                    &r.access.jti,
                )
                .await?
                {
                    Done::Redeemed(Redeemed::Replayed)
                } else {
                    if let Some((family, first)) = &r.refresh {
                        families.push(refresh_family::ActiveModel::from(family.clone()));
                        rts.push(refresh_token::ActiveModel::from(first.clone()));
                    }
                    ats.push(access_token::ActiveModel::from(r.access.clone()));
                    events.push(audit_event::ActiveModel::from(r.event.clone()));
                    participants.push((
                        r.tenant_id.as_str(),
                        r.session_id.as_str(),
                        r.client_row_id.as_str(),
                        r.now,
                    ));
                    Done::Redeemed(Redeemed::Committed)
                }
            }
        };
        results.push(done);
    }
    if !codes.is_empty() {
        auth_code::Entity::insert_many(codes)
            .exec_without_returning(&txn)
            .await?;
    }
    // Families before their first tokens.
    if !families.is_empty() {
        refresh_family::Entity::insert_many(families)
            .exec_without_returning(&txn)
            .await?;
    }
    if !rts.is_empty() {
        refresh_token::Entity::insert_many(rts)
            .exec_without_returning(&txn)
            .await?;
    }
    if !ats.is_empty() {
        access_token::Entity::insert_many(ats)
            .exec_without_returning(&txn)
            .await?;
    }
    super::sessions::upsert_participants(&txn, &participants).await?;
    if !events.is_empty() {
        audit_event::Entity::insert_many(events)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(results)
}

/// One rotation inside the batch's transaction; its rows join the batch's inserts.
async fn rotate(
    txn: &sea_orm::DatabaseTransaction,
    r: &Rotation,
    rts: &mut Vec<refresh_token::ActiveModel>,
    ats: &mut Vec<access_token::ActiveModel>,
    events: &mut Vec<audit_event::ActiveModel>,
) -> Result<Rotated, DbErr> {
    // First statement of the transaction writes (SQLite takes the write lock up front).
    if let Some(sid) = &r.session_id {
        if !super::sessions::lock_active(txn, &r.tenant_id, sid).await? {
            return Ok(Rotated::SessionEnded);
        }
    }
    if !grants::lock_active_family(txn, &r.tenant_id, &r.next.family_id).await? {
        return Ok(Rotated::FamilyRevoked);
    }
    if !grants::mark_refresh_rotated(txn, &r.tenant_id, &r.presented_hash, r.now).await? {
        return Ok(Rotated::Lost);
    }
    rts.push(refresh_token::ActiveModel::from(r.next.clone()));
    ats.push(access_token::ActiveModel::from(r.access.clone()));
    events.push(audit_event::ActiveModel::from(r.event.clone()));
    if let Some((sid, now, idle)) = &r.touch {
        super::sessions::mark_active(txn, &r.tenant_id, sid, *now, *idle).await?;
    }
    Ok(Rotated::Committed)
}
