//! The admin JSON API: sessions, users, devices, tenant-wide revocation, delivery state.
//! Handlers translate; every revocation goes through `lanyard_idp::manage` and so through the one
//! termination path.

use lanyard_idp::app::State;
use lanyard_idp::manage;
use lanyard_idp::model::Tenant;
use lanyard_idp::store;
use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};

#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque")]
pub struct AdminToken(Bearer);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

#[derive(Object, Debug)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// Missing or invalid admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token may not act on this tenant.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

fn err(kind: fn(Json<ErrorBody>) -> ApiError, error: &str, message: impl Into<String>) -> ApiError {
    kind(Json(ErrorBody {
        error: error.into(),
        message: message.into(),
    }))
}

fn internal(e: lanyard_idp::error::Error) -> ApiError {
    let m = manage::describe(&e);
    if m.starts_with("no ") {
        return err(ApiError::NotFound, "not_found", m);
    }
    tracing::error!(error = %e, "admin api failure");
    err(ApiError::Internal, "server_error", "internal error")
}

type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Object, Debug)]
pub struct SessionView {
    pub sid: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub state: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_active_at: i64,
    pub idle_deadline: i64,
    pub absolute_deadline: i64,
    pub ip: String,
    pub user_agent: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

#[derive(Object, Debug)]
pub struct EventView {
    pub at_ms: i64,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub client_id: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Object, Debug)]
pub struct DeliveryView {
    pub id: String,
    pub session_id: String,
    pub client_id: String,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// Milliseconds from the session's end to delivery.
    pub latency_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Object, Debug)]
pub struct Revoked {
    /// Sessions this call ended.
    pub sessions_ended: u64,
}

#[derive(Object, Debug)]
pub struct Done {
    pub changed: bool,
}

pub struct AdminApi {
    state: State,
}

pub fn service(state: State) -> OpenApiService<AdminApi, ()> {
    let server = format!("{}/api/v1", state.config.public_url);
    OpenApiService::new(
        AdminApi { state },
        "Lanyard admin API",
        env!("CARGO_PKG_VERSION"),
    )
    .server(server)
}

impl AdminApi {
    /// Authenticate the token and resolve the tenant it acts on.
    async fn authorize(&self, token: &AdminToken, slug: &str) -> Result<Tenant, ApiError> {
        let hash = self.state.hasher.hash("admin_token", &token.0.token);
        let row = store::admin_tokens::find_by_hash(&self.state.db, &hash)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| {
                err(
                    ApiError::Unauthorized,
                    "unauthorized",
                    "invalid admin token",
                )
            })?;
        let tenant = manage::tenant(&self.state.db, &self.state.config.public_url, slug)
            .await
            .map_err(internal)?;
        match row.tenant_id {
            Some(t) if t != tenant.id => Err(err(
                ApiError::Forbidden,
                "forbidden",
                "token is scoped to another tenant",
            )),
            _ => Ok(tenant),
        }
    }
}

fn actor(token: &AdminToken) -> String {
    // Never the token itself: a short, non-reversible label for the audit trail.
    format!(
        "admin:{}",
        &lanyard_idp::crypto::sha256_b64url(token.0.token.as_bytes())[..8]
    )
}

#[OpenApi]
impl AdminApi {
    /// Sessions of a tenant, newest first.
    #[oai(path = "/tenants/:slug/sessions", method = "get")]
    async fn list_sessions(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        user: Query<Option<String>>,
        active: Query<Option<bool>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Vec<SessionView>> {
        let t = self.authorize(&auth, &slug).await?;
        let user_id = match user.0 {
            Some(u) => Some(
                store::users::find_by_username(&self.state.db, &t.id, &u)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .ok_or_else(|| err(ApiError::NotFound, "not_found", "no such user"))?
                    .id,
            ),
            None => None,
        };
        let rows = store::sessions::list(
            &self.state.db,
            &t.id,
            user_id.as_deref(),
            active.0.unwrap_or(false),
            limit.0.unwrap_or(100).min(1000),
        )
        .await
        .map_err(|e| internal(e.into()))?;
        Ok(Json(
            rows.into_iter()
                .map(|s| SessionView {
                    sid: s.sid,
                    user_id: s.user_id,
                    device_id: s.device_id,
                    state: s.state,
                    auth_time: s.auth_time,
                    created_at: s.created_at,
                    last_active_at: s.last_active_at,
                    idle_deadline: s.idle_deadline,
                    absolute_deadline: s.absolute_deadline,
                    ip: s.ip,
                    user_agent: s.user_agent,
                    ended_at: s.ended_at,
                    end_reason: s.end_reason,
                })
                .collect(),
        ))
    }

    /// One session's audit timeline.
    #[oai(path = "/tenants/:slug/sessions/:sid/events", method = "get")]
    async fn session_events(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
    ) -> ApiResult<Vec<EventView>> {
        let t = self.authorize(&auth, &slug).await?;
        let s = store::sessions::find_by_sid(&self.state.db, &t.id, &sid)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| err(ApiError::NotFound, "not_found", "no such session"))?;
        let rows = store::audit::list_for_session(&self.state.db, &t.id, &s.id)
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(Json(
            rows.into_iter()
                .map(|e| EventView {
                    at_ms: e.at_ms,
                    kind: e.kind,
                    actor: e.actor,
                    outcome: e.outcome,
                    ip: e.ip,
                    user_agent: e.user_agent,
                    client_id: e.client_id,
                    detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
        ))
    }

    /// End one session now (back-channel logout to every participating RP).
    #[oai(path = "/tenants/:slug/sessions/:sid", method = "delete")]
    async fn revoke_session(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
    ) -> ApiResult<Revoked> {
        let t = self.authorize(&auth, &slug).await?;
        let ended = manage::revoke_session(&self.state, &t, &sid, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Revoked {
            sessions_ended: u64::from(ended),
        }))
    }

    /// End every session of a user.
    #[oai(
        path = "/tenants/:slug/users/:username/revoke-sessions",
        method = "post"
    )]
    async fn revoke_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<Revoked> {
        let t = self.authorize(&auth, &slug).await?;
        let n = manage::revoke_user_sessions(&self.state, &t, &username, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// Disable a user and end every session they hold (HR termination).
    #[oai(path = "/tenants/:slug/users/:username/disable", method = "post")]
    async fn disable_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<Revoked> {
        let t = self.authorize(&auth, &slug).await?;
        let n = manage::disable_user(&self.state, &t, &username, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// Re-enable a disabled user.
    #[oai(path = "/tenants/:slug/users/:username/enable", method = "post")]
    async fn enable_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<Done> {
        let t = self.authorize(&auth, &slug).await?;
        let changed = manage::enable_user(&self.state, &t, &username, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Done { changed }))
    }

    /// Mark a device compromised and end every session on it.
    #[oai(path = "/tenants/:slug/devices/:device_id/revoke", method = "post")]
    async fn revoke_device(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        device_id: Path<String>,
    ) -> ApiResult<Revoked> {
        let t = self.authorize(&auth, &slug).await?;
        let n = manage::revoke_device(&self.state, &t, &device_id, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// End every session of the tenant.
    #[oai(path = "/tenants/:slug/revoke-sessions", method = "post")]
    async fn revoke_tenant(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<Revoked> {
        let t = self.authorize(&auth, &slug).await?;
        let n = manage::revoke_tenant_sessions(&self.state, &t, &actor(&auth))
            .await
            .map_err(internal)?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// Back-channel logout deliveries and their state.
    #[oai(path = "/tenants/:slug/deliveries", method = "get")]
    async fn list_deliveries(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        state: Query<Option<String>>,
        session: Query<Option<String>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Vec<DeliveryView>> {
        let t = self.authorize(&auth, &slug).await?;
        let session_id = match session.0 {
            Some(sid) => store::sessions::find_by_sid(&self.state.db, &t.id, &sid)
                .await
                .map_err(|e| internal(e.into()))?
                .map(|s| s.id),
            None => None,
        };
        let rows = store::outbox::list(
            &self.state.db,
            &t.id,
            state.0.as_deref(),
            session_id.as_deref(),
            limit.0.unwrap_or(100).min(1000),
        )
        .await
        .map_err(|e| internal(e.into()))?;
        Ok(Json(rows.into_iter().map(delivery_view).collect()))
    }

    /// Deliver a dead or retrying delivery again now.
    #[oai(path = "/tenants/:slug/deliveries/:id/retry", method = "post")]
    async fn retry_delivery(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Done> {
        let t = self.authorize(&auth, &slug).await?;
        let changed = manage::retry_delivery(&self.state, &t, &id)
            .await
            .map_err(internal)?;
        Ok(Json(Done { changed }))
    }
}

pub fn delivery_view(d: store::outbox::DeliveryRow) -> DeliveryView {
    DeliveryView {
        latency_ms: d.delivered_at_ms.map(|at| at - d.created_at_ms),
        id: d.id,
        session_id: d.session_id,
        client_id: d.client_id,
        target: d.target,
        state: d.state,
        attempts: d.attempts,
        created_at_ms: d.created_at_ms,
        next_attempt_at_ms: d.next_attempt_at_ms,
        delivered_at_ms: d.delivered_at_ms,
        last_error: d.last_error,
    }
}
