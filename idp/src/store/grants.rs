//! Pending authorization requests, authorization codes, refresh-token families and the register
//! of issued access tokens (so introspection answers from live state).

use super::entities::{access_token, auth_code, auth_request, refresh_family, refresh_token};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use access_token::Model as AccessTokenRow;
pub use auth_code::Model as CodeRow;
pub use auth_request::Model as AuthRequestRow;
pub use refresh_family::Model as FamilyRow;
pub use refresh_token::Model as RefreshRow;

pub const CODE_ISSUED: &str = "issued";
pub const CODE_REDEEMED: &str = "redeemed";
pub const FAMILY_ACTIVE: &str = "active";
pub const FAMILY_REVOKED: &str = "revoked";
pub const RT_ACTIVE: &str = "active";
pub const RT_ROTATED: &str = "rotated";

// --- authorization requests -------------------------------------------------------------

pub async fn insert_request<C: ConnectionTrait>(db: &C, r: AuthRequestRow) -> Result<(), DbErr> {
    let am: auth_request::ActiveModel = r.into();
    auth_request::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find_request<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<AuthRequestRow>, DbErr> {
    auth_request::Entity::find()
        .filter(auth_request::Column::TenantId.eq(tenant_id))
        .filter(auth_request::Column::Id.eq(id))
        .filter(auth_request::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Save a remembered request's parameters and progress.
pub async fn update_request<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    params: String,
) -> Result<bool, DbErr> {
    let r = auth_request::Entity::update_many()
        .col_expr(auth_request::Column::Params, Expr::value(params))
        .filter(auth_request::Column::TenantId.eq(tenant_id))
        .filter(auth_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn delete_request<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<(), DbErr> {
    auth_request::Entity::delete_many()
        .filter(auth_request::Column::TenantId.eq(tenant_id))
        .filter(auth_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Housekeeping: drop expired requests and long-dead codes.
pub async fn delete_expired<C: ConnectionTrait>(db: &C, now: i64) -> Result<(), DbErr> {
    auth_request::Entity::delete_many()
        .filter(auth_request::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    // Codes are kept an hour past expiry so a late replay is still recognised as a replay.
    auth_code::Entity::delete_many()
        .filter(auth_code::Column::ExpiresAt.lte(now - 3600))
        .exec(db)
        .await?;
    access_token::Entity::delete_many()
        .filter(access_token::Column::ExpiresAt.lte(now - 60))
        .exec(db)
        .await?;
    Ok(())
}

// --- codes ------------------------------------------------------------------------------

pub async fn find_code<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    code_hash: &str,
) -> Result<Option<CodeRow>, DbErr> {
    auth_code::Entity::find()
        .filter(auth_code::Column::TenantId.eq(tenant_id))
        .filter(auth_code::Column::CodeHash.eq(code_hash))
        .one(db)
        .await
}

/// Redeem a code exactly once, recording what it issued. False if someone redeemed it first.
pub async fn mark_code_redeemed<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    code_hash: &str,
    family_id: Option<&str>,
    access_jti: &str,
) -> Result<bool, DbErr> {
    let r = auth_code::Entity::update_many()
        .col_expr(auth_code::Column::State, Expr::value(CODE_REDEEMED))
        .col_expr(
            auth_code::Column::FamilyId,
            Expr::value(family_id.map(str::to_string)),
        )
        .col_expr(auth_code::Column::AccessJti, Expr::value(access_jti))
        .filter(auth_code::Column::TenantId.eq(tenant_id))
        .filter(auth_code::Column::CodeHash.eq(code_hash))
        .filter(auth_code::Column::State.eq(CODE_ISSUED))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

// --- refresh families -------------------------------------------------------------------

pub async fn find_family<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<FamilyRow>, DbErr> {
    refresh_family::Entity::find()
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::Id.eq(id))
        .one(db)
        .await
}

/// Bind a family to a DPoP key (RFC 9449 §5) unless it is bound already; returns whether this
/// call bound it.
pub async fn mark_family_dpop_bound<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    jkt: &str,
) -> Result<bool, DbErr> {
    let r = refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::DpopJkt, Expr::value(jkt))
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::Id.eq(id))
        .filter(refresh_family::Column::DpopJkt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Take a family's row lock while it is active; false when it is not (revoked meanwhile).
///
/// A write that changes nothing: on PostgreSQL it holds the row lock until commit, so a rotation,
/// a grace reissue and a revocation of the same family run one after another and each sees what
/// the one before committed (READ COMMITTED re-reads per statement); on SQLite the one writer
/// already serialises them. Every writer of a family's tokens calls this first.
pub async fn lock_active_family<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let r = refresh_family::Entity::update_many()
        .col_expr(
            refresh_family::Column::State,
            Expr::col(refresh_family::Column::State).into(),
        )
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::Id.eq(id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Take a family's row lock whatever its state; false when there is no such family.
pub async fn lock_family<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let r = refresh_family::Entity::update_many()
        .col_expr(
            refresh_family::Column::State,
            Expr::col(refresh_family::Column::State).into(),
        )
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Revoke one family. False if it was already revoked.
pub async fn mark_family_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::State, Expr::value(FAMILY_REVOKED))
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .col_expr(refresh_family::Column::RevokeReason, Expr::value(reason))
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::Id.eq(id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Revoke the active families of several sessions; returns how many. `offline_too` decides
/// whether families granted `offline_access` go as well (`EndReason::ends_offline_grants`).
pub async fn mark_sessions_families_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_ids: &[String],
    offline_too: bool,
    reason: &str,
    now: i64,
) -> Result<u64, DbErr> {
    let mut q = refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::State, Expr::value(FAMILY_REVOKED))
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .col_expr(refresh_family::Column::RevokeReason, Expr::value(reason))
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::SessionId.is_in(session_ids.iter().cloned()))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE));
    if !offline_too {
        q = q.filter(refresh_family::Column::Offline.eq(false));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Revoke the active families one client holds in one session (signing out of that application
/// only); `offline_too` as for [`mark_sessions_families_revoked`]. Returns how many.
pub async fn mark_session_client_families_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
    client_row_id: &str,
    offline_too: bool,
    reason: &str,
    now: i64,
) -> Result<u64, DbErr> {
    let mut q = refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::State, Expr::value(FAMILY_REVOKED))
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .col_expr(refresh_family::Column::RevokeReason, Expr::value(reason))
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::SessionId.eq(session_id))
        .filter(refresh_family::Column::ClientId.eq(client_row_id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE));
    if !offline_too {
        q = q.filter(refresh_family::Column::Offline.eq(false));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Whose `offline_access` families an end revokes beyond those of the sessions it ended (their
/// sessions may have ended long ago, by logout or timeout).
#[derive(Debug, Clone, Copy)]
pub enum OfflineScope<'a> {
    User(&'a str),
    /// Families granted in a session on this device.
    Device(&'a str),
    Tenant,
}

/// Revoke every active `offline_access` family in scope; returns how many.
pub async fn mark_offline_families_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    scope: OfflineScope<'_>,
    reason: &str,
    now: i64,
) -> Result<u64, DbErr> {
    use super::entities::session;
    use sea_orm::sea_query::Query;
    let mut q = refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::State, Expr::value(FAMILY_REVOKED))
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .col_expr(refresh_family::Column::RevokeReason, Expr::value(reason))
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .filter(refresh_family::Column::Offline.eq(true));
    q = match scope {
        OfflineScope::User(u) => q.filter(refresh_family::Column::UserId.eq(u)),
        OfflineScope::Device(d) => q.filter(
            refresh_family::Column::SessionId.in_subquery(
                Query::select()
                    .column(session::Column::Id)
                    .from(session::Entity)
                    .and_where(session::Column::TenantId.eq(tenant_id))
                    .and_where(session::Column::DeviceId.eq(d))
                    .to_owned(),
            ),
        ),
        OfflineScope::Tenant => q,
    };
    Ok(q.exec(db).await?.rows_affected)
}

/// The active `offline_access` families of a user, newest first (the portal lists them).
pub async fn list_offline_families<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<FamilyRow>, DbErr> {
    use sea_orm::QueryOrder;
    refresh_family::Entity::find()
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::UserId.eq(user_id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .filter(refresh_family::Column::Offline.eq(true))
        .order_by_desc(refresh_family::Column::CreatedAt)
        .all(db)
        .await
}

// --- refresh tokens ---------------------------------------------------------------------

pub async fn insert_refresh<C: ConnectionTrait>(db: &C, r: RefreshRow) -> Result<(), DbErr> {
    let am: refresh_token::ActiveModel = r.into();
    refresh_token::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find_refresh<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    token_hash: &str,
) -> Result<Option<RefreshRow>, DbErr> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// The token of `generation` in a family, if any (used to check whether a successor was used).
pub async fn find_refresh_by_generation<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    family_id: &str,
    generation: i64,
) -> Result<Option<RefreshRow>, DbErr> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::Generation.eq(generation))
        .one(db)
        .await
}

/// Rotate: the presented token stops being current. False if it was not (a concurrent use).
pub async fn mark_refresh_rotated<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    token_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::State, Expr::value(RT_ROTATED))
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(now))
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::State.eq(RT_ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Discard an unused successor (grace-window retry replaces it).
pub async fn delete_refresh<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    token_hash: &str,
) -> Result<bool, DbErr> {
    let r = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::State.eq(RT_ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

// --- access tokens ----------------------------------------------------------------------

/// Revoke the registered access tokens of ended sessions, except those of families that are
/// still active (`offline_access` grants an end leaves); returns how many.
///
/// With `client`, only the tokens of that client (signing out of one application).
pub async fn mark_sessions_access_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_ids: &[String],
    client: Option<&str>,
) -> Result<u64, DbErr> {
    use sea_orm::sea_query::{Condition, Query};
    let live_families = Query::select()
        .column(refresh_family::Column::Id)
        .from(refresh_family::Entity)
        .and_where(refresh_family::Column::TenantId.eq(tenant_id))
        .and_where(refresh_family::Column::SessionId.is_in(session_ids.iter().cloned()))
        .and_where(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .to_owned();
    let mut q = access_token::Entity::update_many()
        .col_expr(access_token::Column::Revoked, Expr::value(true))
        .filter(access_token::Column::TenantId.eq(tenant_id))
        .filter(access_token::Column::SessionId.is_in(session_ids.iter().cloned()))
        .filter(access_token::Column::Revoked.eq(false))
        .filter(
            Condition::any()
                .add(access_token::Column::FamilyId.is_null())
                .add(access_token::Column::FamilyId.not_in_subquery(live_families)),
        );
    if let Some(c) = client {
        q = q.filter(access_token::Column::ClientId.eq(c));
    }
    Ok(q.exec(db).await?.rows_affected)
}

pub async fn insert_access<C: ConnectionTrait>(db: &C, a: AccessTokenRow) -> Result<(), DbErr> {
    let am: access_token::ActiveModel = a.into();
    access_token::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find_access<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    jti: &str,
) -> Result<Option<AccessTokenRow>, DbErr> {
    access_token::Entity::find()
        .filter(access_token::Column::TenantId.eq(tenant_id))
        .filter(access_token::Column::Jti.eq(jti))
        .one(db)
        .await
}

/// Record a revoked access token that has no register row (client_credentials tokens are not
/// registered at issuance; see `protocol::userinfo::check_access_token`).
pub async fn insert_revoked_access<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    jti: &str,
    client_id: &str,
    expires_at: i64,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    let am: access_token::ActiveModel = AccessTokenRow {
        jti: jti.to_string(),
        tenant_id: tenant_id.to_string(),
        client_id: client_id.to_string(),
        session_id: None,
        family_id: None,
        expires_at,
        revoked: true,
    }
    .into();
    access_token::Entity::insert(am)
        .on_conflict(
            OnConflict::column(access_token::Column::Jti)
                .update_column(access_token::Column::Revoked)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn mark_access_revoked<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    jti: &str,
) -> Result<bool, DbErr> {
    let r = access_token::Entity::update_many()
        .col_expr(access_token::Column::Revoked, Expr::value(true))
        .filter(access_token::Column::TenantId.eq(tenant_id))
        .filter(access_token::Column::Jti.eq(jti))
        .filter(access_token::Column::Revoked.eq(false))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// A user's active refresh families (long-lived grants), newest first.
pub async fn list_active_families_of_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    limit: u64,
) -> Result<Vec<FamilyRow>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    refresh_family::Entity::find()
        .filter(refresh_family::Column::TenantId.eq(tenant_id))
        .filter(refresh_family::Column::UserId.eq(user_id))
        .filter(refresh_family::Column::State.eq(FAMILY_ACTIVE))
        .order_by_desc(refresh_family::Column::CreatedAt)
        .order_by_asc(refresh_family::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// An access token's register row with what its liveness depends on, read in one statement:
/// its session, its refresh family, and its user (the session's, or for a token refreshed from
/// an `offline_access` family after its session ended, the family's).
#[derive(Debug)]
pub struct AccessView {
    pub access: AccessTokenRow,
    pub session: Option<super::sessions::SessionRow>,
    pub family: Option<FamilyRow>,
    pub user: Option<super::users::User>,
}

/// Every column of `E` from table alias `alias`, selected as `{alias}_{column}`.
fn prefixed<E: sea_orm::EntityTrait>(q: &mut sea_orm::sea_query::SelectStatement, alias: &str) {
    use sea_orm::sea_query::{Alias, Expr};
    use sea_orm::{IdenStatic, Iterable};
    for c in E::Column::iter() {
        q.expr_as(
            Expr::col((Alias::new(alias), Alias::new(c.as_str()))),
            Alias::new(format!("{alias}_{}", c.as_str())),
        );
    }
}

/// `alias.{column}` as an expression.
fn col(alias: &str, column: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Alias, Expr};
    Expr::col((Alias::new(alias), Alias::new(column))).into()
}

/// `LEFT JOIN E AS alias` on the row of the same tenant as `from` whose `id` is `id`.
fn left_join_by_id<E: sea_orm::EntityName + Default>(
    q: &mut sea_orm::sea_query::SelectStatement,
    alias: &str,
    from: &str,
    id: sea_orm::sea_query::SimpleExpr,
) {
    use sea_orm::sea_query::{Alias, JoinType};
    q.join_as(
        JoinType::LeftJoin,
        E::default().table_ref(),
        Alias::new(alias),
        col(alias, "tenant_id")
            .eq(col(from, "tenant_id"))
            .and(col(alias, "id").eq(id)),
    );
}

/// The select of [`find_access_view`], binding `tenant_id`, `jti` and the limit 1 in that order.
fn access_view_query(tenant_id: &str, jti: &str) -> sea_orm::sea_query::SelectStatement {
    use super::entities::{session, user};
    use sea_orm::sea_query::{Alias, Func, Query};
    use sea_orm::EntityName;
    let mut q = Query::select();
    prefixed::<access_token::Entity>(&mut q, "a");
    prefixed::<session::Entity>(&mut q, "s");
    prefixed::<refresh_family::Entity>(&mut q, "f");
    prefixed::<user::Entity>(&mut q, "u");
    q.from_as(access_token::Entity.table_ref(), Alias::new("a"));
    left_join_by_id::<session::Entity>(&mut q, "s", "a", col("a", "session_id"));
    left_join_by_id::<refresh_family::Entity>(&mut q, "f", "a", col("a", "family_id"));
    let owner = Func::coalesce([col("s", "user_id"), col("f", "user_id")]);
    left_join_by_id::<user::Entity>(&mut q, "u", "a", owner.into());
    q.and_where(col("a", "tenant_id").eq(tenant_id))
        .and_where(col("a", "jti").eq(jti))
        .limit(1);
    q
}

/// [`find_access`] plus the rows of [`AccessView`], in one round trip instead of four (each
/// query on SQLite is a hand-off to the connection's worker thread and back; introspection and
/// userinfo of a user's token read all four every time).
pub async fn find_access_view<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    jti: &str,
) -> Result<Option<AccessView>, DbErr> {
    use sea_orm::FromQueryResult;
    static SQL: super::SqlOnce = super::SqlOnce::new();
    let statement = SQL.statement(
        db.get_database_backend(),
        || access_view_query(tenant_id, jti),
        vec![tenant_id.into(), jti.into(), 1u64.into()],
    );
    let Some(row) = db.query_one(statement).await? else {
        return Ok(None);
    };
    Ok(Some(AccessView {
        access: AccessTokenRow::from_query_result(&row, "a_")?,
        session: joined(&row, "s_")?,
        family: joined(&row, "f_")?,
        user: joined(&row, "u_")?,
    }))
}

/// A presented refresh token with the rows its grant is decided on.
#[derive(Debug, Clone)]
pub struct RefreshView {
    pub token: RefreshRow,
    pub family: Option<FamilyRow>,
    /// The family's session, in any state (none for a family without one).
    pub session: Option<super::sessions::SessionRow>,
    pub user: Option<super::users::User>,
}

/// The select of [`find_refresh_view`], binding `tenant_id`, `token_hash` and the limit 1 in that
/// order.
fn refresh_view_query(tenant_id: &str, token_hash: &str) -> sea_orm::sea_query::SelectStatement {
    use super::entities::{session, user};
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::EntityName;
    let mut q = Query::select();
    prefixed::<refresh_token::Entity>(&mut q, "t");
    prefixed::<refresh_family::Entity>(&mut q, "f");
    prefixed::<session::Entity>(&mut q, "s");
    prefixed::<user::Entity>(&mut q, "u");
    q.from_as(refresh_token::Entity.table_ref(), Alias::new("t"));
    left_join_by_id::<refresh_family::Entity>(&mut q, "f", "t", col("t", "family_id"));
    left_join_by_id::<session::Entity>(&mut q, "s", "t", col("f", "session_id"));
    left_join_by_id::<user::Entity>(&mut q, "u", "t", col("f", "user_id"));
    q.and_where(col("t", "tenant_id").eq(tenant_id))
        .and_where(col("t", "token_hash").eq(token_hash))
        .limit(1);
    q
}

/// [`find_refresh`] with its family, the family's session and its user, in one round trip
/// instead of four (the refresh grant reads all four every time).
pub async fn find_refresh_view<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    token_hash: &str,
) -> Result<Option<RefreshView>, DbErr> {
    use sea_orm::FromQueryResult;
    static SQL: super::SqlOnce = super::SqlOnce::new();
    let statement = SQL.statement(
        db.get_database_backend(),
        || refresh_view_query(tenant_id, token_hash),
        vec![tenant_id.into(), token_hash.into(), 1u64.into()],
    );
    let Some(row) = db.query_one(statement).await? else {
        return Ok(None);
    };
    Ok(Some(RefreshView {
        token: RefreshRow::from_query_result(&row, "t_")?,
        family: joined(&row, "f_")?,
        session: joined(&row, "s_")?,
        user: joined(&row, "u_")?,
    }))
}

/// A LEFT JOINed row: absent when the join found none (its `id` is NULL). Any other failure to
/// read it is an error, never an absent row.
fn joined<M: sea_orm::FromQueryResult>(
    row: &sea_orm::QueryResult,
    pre: &str,
) -> Result<Option<M>, DbErr> {
    if row.try_get::<Option<String>>(pre, "id")?.is_none() {
        return Ok(None);
    }
    M::from_query_result(row, pre).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DatabaseBackend;

    /// The reused text with the values a call passes is exactly the statement sea-query builds
    /// for those values, on both backends and on every use after the first.
    #[test]
    fn reused_view_statements_equal_freshly_built_ones() {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            let once = crate::store::SqlOnce::new();
            for (tenant, jti) in [("t-1", "j-1"), ("t-2", "jti'; --")] {
                let reused = once.statement(
                    backend,
                    || access_view_query("other", "values"),
                    vec![tenant.into(), jti.into(), 1u64.into()],
                );
                assert_eq!(reused, backend.build(&access_view_query(tenant, jti)));
            }
            let once = crate::store::SqlOnce::new();
            for (tenant, hash) in [("t-1", "h-1"), ("t-2", "h-2")] {
                let reused = once.statement(
                    backend,
                    || refresh_view_query("other", "values"),
                    vec![tenant.into(), hash.into(), 1u64.into()],
                );
                assert_eq!(reused, backend.build(&refresh_view_query(tenant, hash)));
            }
        }
    }
}
