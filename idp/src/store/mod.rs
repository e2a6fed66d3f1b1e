//! Persistence: sea-orm entities and repositories. The only place that talks SQL.
//!
//! Every repository function takes the tenant id and filters by it, so one tenant can never read
//! or change another's rows (see the cross-tenant tests in `tests/store_*`). State changes are
//! conditional updates (`... WHERE state = 'active'`) whose affected-row count says who won a race.

pub mod admin_tokens;
pub mod admins;
pub mod audit;
pub mod clients;
pub mod dpop;
pub mod entities;
pub mod factors;
pub mod grants;
pub mod group_commit;
pub mod keys;
pub mod lockout;
pub mod mail;
pub mod outbox;
pub mod policies;
pub mod sessions;
pub mod tenants;
pub mod throttle;
pub mod users;

use crate::crypto::random_bytes;
use lanyard_migrations::sea_orm_migration::MigratorTrait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, Set,
};
use std::time::Duration;

pub use sea_orm::{DatabaseTransaction, TransactionTrait};

/// Connections per node on PostgreSQL when `LANYARD_DATABASE_MAX_CONNECTIONS` is not set (the
/// reader pool gets a third of it).
pub const DEFAULT_PG_CONNECTIONS: u32 = 24;

/// Open the database named by `url` (`sqlite:` or `postgres://`).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    open(url, false, None).await
}

/// [`connect`] with the PostgreSQL pool size set (SQLite keeps its one writer).
pub async fn connect_sized(url: &str, max: Option<u32>) -> Result<DatabaseConnection, DbErr> {
    open(url, false, max).await
}

/// A pool for reads on hot paths. On SQLite, WAL readers run in parallel with the one writer
/// connection of [`connect`] and never block it; on PostgreSQL it is simply another pool.
/// Anything read here is committed state; writes always go through [`connect`]'s pool.
pub async fn connect_reader(url: &str, max: Option<u32>) -> Result<DatabaseConnection, DbErr> {
    open(url, true, max).await
}

/// Whether a database error means the store cannot be reached right now (so the request may
/// succeed later: 503), rather than that a statement failed. Connection and pool errors of
/// sea-orm and sqlx (a closed or exhausted pool, a refused or broken connection, a TLS failure),
/// PostgreSQL's connection-exception class `08`, `57P01`–`57P03` (shutdown, crash, starting up)
/// and `53300` (too many connections), and SQLite's `SQLITE_BUSY` (5) once its busy timeout is
/// spent (Appendix A of the PostgreSQL manual; sqlite.org/rescode.html).
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => x,
        _ => return false,
    };
    match sqlx {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300" | "5")
        }),
        _ => false,
    }
}

/// How long start-up waits for PostgreSQL to answer before giving up.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fail fast, with the real cause, when PostgreSQL cannot be reached. The pool itself retries a
/// refused connection silently until its acquire timeout (30 s, sized for load, not start-up), and
/// then reports only "pool timed out"; one direct connection attempt says why within seconds.
async fn probe_postgres(url: &str) -> Result<(), DbErr> {
    use sea_orm::sqlx::{postgres::PgConnection, Connection};
    match tokio::time::timeout(REACH_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
            "cannot connect to PostgreSQL: {e}"
        )))),
        Err(_) => Err(DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
            "PostgreSQL did not answer within {} s",
            REACH_TIMEOUT.as_secs()
        )))),
    }
}

async fn open(url: &str, reader: bool, max: Option<u32>) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_string());
    let sqlite = url.starts_with("sqlite:");
    if !sqlite && !reader {
        probe_postgres(url).await?;
    }
    // SQLite has one writer at a time. With several pooled connections, writers that collide
    // wait in SQLite's busy handler, which sleeps in steps of up to 100 ms (measured: p99 stalls
    // of 0.5-1.6 s under load). One connection makes every statement queue fairly on the pool
    // instead, and a statement takes tens of microseconds. Other processes (the CLI) still
    // coordinate through the file lock and busy_timeout. Code holding a transaction must not
    // use the pool itself while it is open (it would wait for its own connection).
    let pg = max.unwrap_or(DEFAULT_PG_CONNECTIONS).max(2);
    opts.max_connections(match (sqlite, reader) {
        (true, false) => 1,
        (true, true) => 4,
        (false, false) => pg,
        (false, true) => (pg / 3).max(2),
    })
    .min_connections(1)
    .connect_timeout(Duration::from_secs(10))
    .acquire_timeout(Duration::from_secs(30))
    // sqlx pings a connection on acquire (a round trip to SQLite's worker thread, or to the
    // server) and again on release. A SQLite connection is a local file that cannot go stale;
    // the ping on release still catches a broken one.
    .test_before_acquire(!sqlite)
    .sqlx_logging(std::env::var_os("LANYARD_SQL_TRACE").is_some());
    // Per-connection SQLite settings, applied to every pooled connection: WAL lets the CLI and
    // the server share the file; synchronous=NORMAL is durable in WAL mode across process
    // crashes (fsync at checkpoints); busy_timeout makes writers queue instead of failing.
    opts.map_sqlx_sqlite_opts(|o| {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
    });
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// The text of a statement that depends only on the backend, built by sea-query once per
/// backend and reused. Building the joined reads of the hot paths (introspection, userinfo, the
/// refresh grant) cost more CPU than SQLite took to run them (ADR 0024); only the bound values
/// change from one call to the next. A caller passes the values in the order the built statement
/// binds them; a unit test per statement compares the reused statement with a freshly built one
/// on both backends.
#[derive(Debug, Default)]
pub struct SqlOnce {
    sqlite: std::sync::OnceLock<String>,
    postgres: std::sync::OnceLock<String>,
    mysql: std::sync::OnceLock<String>,
}

impl SqlOnce {
    pub const fn new() -> Self {
        Self {
            sqlite: std::sync::OnceLock::new(),
            postgres: std::sync::OnceLock::new(),
            mysql: std::sync::OnceLock::new(),
        }
    }

    /// The statement for `backend` with `values` bound; `build` runs on the first use per
    /// backend only.
    pub fn statement<S: sea_orm::StatementBuilder>(
        &self,
        backend: DatabaseBackend,
        build: impl FnOnce() -> S,
        values: Vec<sea_orm::Value>,
    ) -> sea_orm::Statement {
        let cell = match backend {
            DatabaseBackend::Sqlite => &self.sqlite,
            DatabaseBackend::Postgres => &self.postgres,
            DatabaseBackend::MySql => &self.mysql,
        };
        let sql = cell.get_or_init(|| backend.build(&build()).sql);
        sea_orm::Statement::from_sql_and_values(backend, sql.as_str(), values)
    }
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    lanyard_migrations::Migrator::up(db, None).await
}

/// Is this PostgreSQL? Used only by the helpers that hide dialect differences.
pub fn is_postgres<C: ConnectionTrait>(db: &C) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// The deployment-wide HMAC key for stored secrets, created once and shared by every node.
pub async fn hashing_key<C: ConnectionTrait>(db: &C) -> Result<Vec<u8>, DbErr> {
    use entities::setting;
    const KEY: &str = "secret_hash_key";
    if let Some(row) = setting::Entity::find_by_id(KEY.to_string()).one(db).await? {
        return hex::decode(&row.value).map_err(|e| DbErr::Custom(format!("settings.{KEY}: {e}")));
    }
    let value = hex::encode(random_bytes(32));
    // Two nodes may race here; the loser's insert fails on the primary key and re-reads.
    let _ = setting::Entity::insert(setting::ActiveModel {
        key: Set(KEY.into()),
        value: Set(value),
    })
    .exec(db)
    .await;
    let row = setting::Entity::find_by_id(KEY.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("settings.{KEY}")))?;
    hex::decode(&row.value).map_err(|e| DbErr::Custom(format!("settings.{KEY}: {e}")))
}

/// JSON list column helpers.
pub fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Whether a write was refused by a unique index (a race the database decided).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
