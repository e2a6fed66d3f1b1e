//! The outbox: side effects owed to other parties, written in the same transaction as the change
//! that implies them, and claimed by exactly one dispatcher at a time.
//!
//! A claim selects a bounded window of due rows, then claims the ones it admits in one
//! conditional `UPDATE ... WHERE id IN (...) AND attempts = <as selected>` that stamps a unique
//! claim token ([`claim_rows`]), so two nodes can never both claim a row: the database decides.
//! On PostgreSQL the select adds `FOR UPDATE SKIP LOCKED` so competing nodes take different rows
//! instead of queueing on the same ones ([`ids_query`]). Outcomes are written only while the
//! writer's claim still holds the row; deliveries in one statement per batch
//! ([`mark_delivered_many`]).

use super::entities::outbox;
use sea_orm::sea_query::{
    CaseStatement, Expr, LockBehavior, LockType, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{HashMap, HashSet};

pub use outbox::Model as DeliveryRow;

pub const PENDING: &str = "pending";
pub const IN_FLIGHT: &str = "in_flight";
pub const RETRY: &str = "retry";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

pub async fn insert<C: ConnectionTrait>(db: &C, d: DeliveryRow) -> Result<(), DbErr> {
    insert_many(db, vec![d]).await
}

/// Insert many rows with multi-row INSERTs (chunked below SQLite's bound-parameter limit).
pub async fn insert_many<C: ConnectionTrait>(db: &C, rows: Vec<DeliveryRow>) -> Result<(), DbErr> {
    let any = !rows.is_empty();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<outbox::ActiveModel> = rows.by_ref().take(400).map(Into::into).collect();
        outbox::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    // PostgreSQL: wake every node's dispatcher (`events::wakeup`). Inside a transaction the
    // notification is sent when it commits, and not at all if it rolls back; repeats within one
    // transaction are folded into one.
    if any && super::is_postgres(db) {
        db.execute_unprepared(&format!("NOTIFY {WAKEUP_CHANNEL}"))
            .await?;
    }
    Ok(())
}

/// The PostgreSQL channel on which committed deliveries are announced.
pub const WAKEUP_CHANNEL: &str = "lanyard_outbox";

/// Rows in `state` waiting for their (next) attempt. One state per query, so the index on
/// (state, next_attempt_at_ms) serves it in order without sorting the backlog.
fn waiting(state: &'static str, now_ms: i64) -> Condition {
    Condition::all()
        .add(outbox::Column::State.eq(state))
        .add(outbox::Column::NextAttemptAtMs.lte(now_ms))
}

fn pending(now_ms: i64) -> Condition {
    waiting(PENDING, now_ms)
}

fn retrying(now_ms: i64) -> Condition {
    waiting(RETRY, now_ms)
}

/// Claimed rows whose node died: the lease ran out.
fn abandoned(now_ms: i64) -> Condition {
    Condition::all()
        .add(outbox::Column::State.eq(IN_FLIGHT))
        .add(outbox::Column::LeaseUntilMs.lt(now_ms))
}

/// The ids of up to `limit` rows matching `cond`; on PostgreSQL locking them and skipping rows
/// other nodes hold locked. Each condition is a single index range.
fn ids_query(postgres: bool, cond: Condition, full: &[String], limit: u64) -> SelectStatement {
    let mut q = Query::select();
    q.column(outbox::Column::Id)
        .column(outbox::Column::Attempts)
        .column(outbox::Column::Target)
        .from(outbox::Entity)
        .cond_where(cond)
        .limit(limit);
    if !full.is_empty() {
        q.and_where(outbox::Column::Target.is_not_in(full.iter().cloned()));
    }
    if postgres {
        // No ORDER BY here: right after a bulk revocation PostgreSQL's statistics still describe
        // an empty table, and it sorted the whole backlog on every claim (measured: 92 s instead
        // of 22 s for 100,000 deliveries). Fairness comes from every due row being claimed soon.
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    } else {
        // Oldest due first; SQLite reads it in order from ix_outbox_due, no sort.
        q.order_by(outbox::Column::NextAttemptAtMs, sea_orm::Order::Asc);
    }
    q.to_owned()
}

/// Selects per due condition before a widened claim gives up on targets at their limit.
const CLAIM_ROUNDS: usize = 4;

/// How many due rows a claim reads from the head of the queue for `free` slots. While some
/// destination is at its limit (`crowded`), a few per slot, so rows of other destinations just
/// behind a full destination's are still found; otherwise a few beyond the free slots, since
/// every row read costs (measured: reading four per slot was the largest statement cost of a
/// 10,000-delivery fan-out, 40,000 rows read for 10,000 claimed). Bounded either way, so a claim
/// costs the same however large the backlog is.
fn head_window(free: u64, crowded: bool) -> u64 {
    if crowded {
        free.saturating_mul(4).clamp(16, 256)
    } else {
        free.saturating_add(8).min(256)
    }
}

/// Per-destination limits for [`claim_due`].
#[derive(Debug, Clone)]
pub struct Fairness<'a> {
    /// Deliveries in flight on this node, by target.
    pub busy: &'a HashMap<String, usize>,
    /// At most this many in flight per destination (the target's origin,
    /// `events::fairness::destination_of`).
    pub per_destination: usize,
    /// Whether this claim may look past the head of the queue for destinations that are not at
    /// their limit (a select that leaves the full targets out, which reads every row of theirs
    /// it passes over). The dispatcher allows it when new work arrived and a few times a second,
    /// not on every freed slot: with a 100,000-row backlog owed to one host, widening on every
    /// slot read the whole backlog per delivery (measured: 456 s and 449 s of server CPU for
    /// 100,000 deliveries to one origin).
    pub widen: bool,
}

/// What one claim took, and whether it left due rows behind because their destinations were at
/// their limit (the caller then waits for a slot or new work rather than claiming again).
#[derive(Debug, Default)]
pub struct Claimed {
    pub rows: Vec<DeliveryRow>,
    pub held_back: bool,
    /// Rows found only by widening (past the head of the queue).
    pub past_head: u64,
}

/// Claim the selected rows `(id, attempts it was selected with, target)` in one statement;
/// returns the rows claimed, as they are now (read back by the same statement).
///
/// Each row is claimed by key *and* the attempt count it was selected with: every claim
/// increments `attempts`, so a row another node claimed (or claimed and delivered) since our
/// select is left alone, whatever the isolation level or lock behaviour. Repeating the due
/// condition instead made PostgreSQL walk every waiting row per claim (measured), and updating by
/// key alone let two nodes claim one row (caught by the two-node test). SQLite accepts a row
/// value on the right of `IN` only from a subquery, so the per-row attempt count is a `CASE`.
async fn claim_rows<C: ConnectionTrait>(
    db: &C,
    rows: &[(String, i64, String)],
    claim: &str,
    lease_until_ms: i64,
) -> Result<HashMap<String, DeliveryRow>, DbErr> {
    use sea_orm::FromQueryResult;
    let mut took = HashMap::with_capacity(rows.len());
    // Three bound values per row: well inside SQLite's limit of 32,766 for any claim window.
    for chunk in rows.chunks(256) {
        let mut expected = CaseStatement::new();
        for (id, attempts, _) in chunk {
            expected = expected.case(Expr::col(outbox::Column::Id).eq(id.as_str()), *attempts);
        }
        let mut q = Query::update();
        q.table(outbox::Entity)
            .value(outbox::Column::State, IN_FLIGHT)
            .value(outbox::Column::LeaseUntilMs, lease_until_ms)
            .value(outbox::Column::LeasedBy, claim)
            .value(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .and_where(outbox::Column::Id.is_in(chunk.iter().map(|r| r.0.clone())))
            .and_where(Expr::col(outbox::Column::Attempts).eq(Into::<SimpleExpr>::into(expected)))
            .returning_all();
        let backend = db.get_database_backend();
        for r in db.query_all(backend.build(&q)).await? {
            let row = DeliveryRow::from_query_result(&r, "")?;
            took.insert(row.id.clone(), row);
        }
    }
    Ok(took)
}

/// Claim up to `limit` due deliveries for `claim` (a token unique to this claim) until
/// `lease_until_ms`, counting the attempt. Returns the claimed rows.
///
/// The ids are selected first and then updated by primary key: an `UPDATE ... WHERE id IN
/// (subquery)` let SQLite walk every waiting row per claim, which made a 100,000-delivery
/// backlog quadratic (measured 2,100 tokens/s against 7,700 for a 10,000 backlog).
///
/// Fair to destinations: no destination (a URI's origin: every logout URI on one host counts
/// together) gets more than `fair.per_destination` deliveries in flight (counting `fair.busy`,
/// those this node has in flight already), so one slow or dead RP host cannot take every slot
/// while a healthy RP's logout waits behind its backlog. Each condition first reads a bounded
/// window at the head of its queue and admits what fits (`events::fairness::FairShare`); only a
/// widened claim (`fair.widen`) then selects again without the targets at their limit.
pub async fn claim_due(
    db: &DatabaseConnection,
    claim: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u64,
    fair: &Fairness<'_>,
) -> Result<Claimed, DbErr> {
    let postgres = super::is_postgres(db);
    let txn = db.begin().await?;
    let mut claimed = 0;
    let mut held_back = false;
    let mut past_head = 0;
    let mut rows: Vec<DeliveryRow> = Vec::new();
    let mut share = crate::events::fairness::FairShare::new(fair.busy, fair.per_destination);
    for cond in [abandoned as fn(i64) -> Condition, retrying, pending] {
        for round in 0..CLAIM_ROUNDS {
            if claimed >= limit {
                break;
            }
            // The head of the queue, whoever it is owed to; then (widened) past the full ones.
            let (full, n) = if round == 0 {
                (Vec::new(), head_window(limit - claimed, share.any_full()))
            } else if fair.widen {
                (share.full_targets(), limit - claimed)
            } else {
                break;
            };
            let select = ids_query(postgres, cond(now_ms), &full, n);
            let builder = txn.get_database_backend();
            let candidates: Vec<(String, i64, String)> = txn
                .query_all(builder.build(&select))
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String>("", "id")?,
                        r.try_get::<i64>("", "attempts")?,
                        r.try_get::<String>("", "target")?,
                    ))
                })
                .collect::<Result<_, DbErr>>()?;
            if candidates.is_empty() {
                break;
            }
            let mut skipped = false;
            let mut admitted: Vec<(String, i64, String)> = Vec::with_capacity(candidates.len());
            for (id, attempts, target) in candidates {
                if claimed + admitted.len() as u64 >= limit {
                    break;
                }
                if !share.decide_admit(&target) {
                    skipped = true;
                    continue;
                }
                // Provisionally counted, so later candidates of this round see it; released
                // below if another node claimed the row first.
                share.take(&target);
                admitted.push((id, attempts, target));
            }
            let mut took = claim_rows(&txn, &admitted, claim, lease_until_ms).await?;
            for (id, _, target) in &admitted {
                if let Some(row) = took.remove(id) {
                    rows.push(row);
                    claimed += 1;
                    if round > 0 {
                        past_head += 1;
                    }
                } else {
                    share.release(target);
                }
            }
            if !skipped {
                break;
            }
            held_back = true;
        }
    }
    txn.commit().await?;
    Ok(Claimed {
        rows,
        held_back,
        past_head,
    })
}

/// Settle a claimed delivery. Conditional on still holding the claim, so a delivery whose lease
/// expired and was re-claimed elsewhere is not overwritten.
async fn settle<C: ConnectionTrait>(
    db: &C,
    id: &str,
    claim: &str,
    state: &str,
    next_attempt_at_ms: Option<i64>,
    error: Option<&str>,
    delivered_at_ms: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value(state))
        .col_expr(
            outbox::Column::LeaseUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            outbox::Column::LastError,
            Expr::value(error.map(str::to_string)),
        )
        .col_expr(outbox::Column::DeliveredAtMs, Expr::value(delivered_at_ms));
    if let Some(n) = next_attempt_at_ms {
        q = q.col_expr(outbox::Column::NextAttemptAtMs, Expr::value(n));
    }
    let r = q
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::LeasedBy.eq(claim))
        .filter(outbox::Column::State.eq(IN_FLIGHT))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Record several deliveries `(id, claim, delivered_at_ms)` as delivered in one statement per
/// chunk; returns the `(id, claim)` pairs recorded. As for [`settle`], each row only while its
/// own claim still holds it, so a row whose lease ran out and was claimed elsewhere is left to
/// its new holder.
pub async fn mark_delivered_many<C: ConnectionTrait>(
    db: &C,
    rows: &[(&str, &str, i64)],
) -> Result<HashSet<(String, String)>, DbErr> {
    let mut took = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(200) {
        let mut holder = CaseStatement::new();
        let mut at = CaseStatement::new();
        for &(id, claim, at_ms) in chunk {
            holder = holder.case(Expr::col(outbox::Column::Id).eq(id), claim);
            at = at.case(Expr::col(outbox::Column::Id).eq(id), at_ms);
        }
        let mut q = Query::update();
        q.table(outbox::Entity)
            .value(outbox::Column::State, DELIVERED)
            .value(outbox::Column::LeaseUntilMs, Option::<i64>::None)
            .value(outbox::Column::LastError, Option::<String>::None)
            .value(outbox::Column::DeliveredAtMs, Into::<SimpleExpr>::into(at))
            .and_where(outbox::Column::Id.is_in(chunk.iter().map(|r| r.0.to_string())))
            .and_where(outbox::Column::State.eq(IN_FLIGHT))
            .and_where(Expr::col(outbox::Column::LeasedBy).eq(Into::<SimpleExpr>::into(holder)))
            // `returning_col` twice would keep only the last column.
            .returning(Query::returning().columns([outbox::Column::Id, outbox::Column::LeasedBy]));
        let backend = db.get_database_backend();
        for r in db.query_all(backend.build(&q)).await? {
            took.insert((
                r.try_get::<String>("", "id")?,
                r.try_get::<String>("", "leased_by")?,
            ));
        }
    }
    Ok(took)
}

pub async fn mark_retry<C: ConnectionTrait>(
    db: &C,
    id: &str,
    claim: &str,
    next_attempt_at_ms: i64,
    error: &str,
) -> Result<bool, DbErr> {
    settle(
        db,
        id,
        claim,
        RETRY,
        Some(next_attempt_at_ms),
        Some(error),
        None,
    )
    .await
}

pub async fn mark_dead<C: ConnectionTrait>(
    db: &C,
    id: &str,
    claim: &str,
    error: &str,
) -> Result<bool, DbErr> {
    settle(db, id, claim, DEAD, None, Some(error), None).await
}

/// An admin asks for another try of a dead or retrying delivery: due now, attempts reset.
pub async fn mark_pending_again<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let r = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value(PENDING))
        .col_expr(outbox::Column::NextAttemptAtMs, Expr::value(now_ms))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::CreatedAtMs, Expr::value(now_ms))
        .filter(outbox::Column::TenantId.eq(tenant_id))
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::State.is_in([DEAD, RETRY]))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::TenantId.eq(tenant_id))
        .filter(outbox::Column::Id.eq(id))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    state: Option<&str>,
    session_id: Option<&str>,
    limit: u64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let mut q = outbox::Entity::find().filter(outbox::Column::TenantId.eq(tenant_id));
    if let Some(s) = state {
        q = q.filter(outbox::Column::State.eq(s));
    }
    if let Some(s) = session_id {
        q = q.filter(outbox::Column::SessionId.eq(s));
    }
    q.order_by_desc(outbox::Column::CreatedAtMs)
        .limit(limit)
        .all(db)
        .await
}

/// Deliveries not yet settled (pending, in flight or waiting to retry), across tenants.
pub async fn count_owed<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::State.is_in([PENDING, IN_FLIGHT, RETRY]))
        .count(db)
        .await
}

/// Deliveries not delivered, `(kind, state, count)` for pending, in flight, retry and dead,
/// across tenants: the `lanyard_outbox_depth` gauge. Counts only.
pub async fn count_undelivered_by_kind_and_state<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Kind)
        .column(outbox::Column::State)
        .column_as(outbox::Column::Id.count(), "n")
        .filter(outbox::Column::State.is_in([PENDING, IN_FLIGHT, RETRY, DEAD]))
        .group_by(outbox::Column::Kind)
        .group_by(outbox::Column::State)
        .into_tuple()
        .all(db)
        .await
}

/// When the oldest delivery still owed (pending, in flight or retry) was written, across
/// tenants; `None` when nothing is owed. An admin retry counts from the retry.
pub async fn oldest_owed_created_at_ms<C: ConnectionTrait>(db: &C) -> Result<Option<i64>, DbErr> {
    let oldest: Option<Option<i64>> = outbox::Entity::find()
        .select_only()
        .column_as(outbox::Column::CreatedAtMs.min(), "oldest")
        .filter(outbox::Column::State.is_in([PENDING, IN_FLIGHT, RETRY]))
        .into_tuple()
        .one(db)
        .await?;
    Ok(oldest.flatten())
}
