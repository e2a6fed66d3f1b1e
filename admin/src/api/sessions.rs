//! Sessions, their timelines, cohort revocation, devices, back-channel deliveries, and exports of
//! sessions and audit events. Every revocation goes through `lanyard_idp::manage` or the session
//! service and so through the one termination path.

use super::auth::{authorize, AdminToken};
use super::error::{err, ApiError};
use super::export::Export;
use super::views::{
    CohortReportView, DeliveryView, DeviceView, Done, EventView, Revoked, SessionView,
};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::manage::{self, governance, sessions};
use lanyard_idp::session::service::{cohort, export};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

/// A cohort: every field given must match (AND). Unknown fields are refused, so a misspelt
/// selector can never widen a revocation.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct CohortRequest {
    /// Sessions of this user (username).
    pub user: Option<String>,
    /// Sessions of members of this group.
    pub group: Option<String>,
    /// Sessions this client (client_id) took part in.
    pub client: Option<String>,
    /// Sessions on this device (device id).
    pub device: Option<String>,
    /// Sessions that logged in from this network (CIDR; a bare address is one host).
    pub ip_range: Option<String>,
    /// Sessions of users with this attribute (`key=value`).
    pub attribute: Option<String>,
    /// Sessions authenticated strictly before this time: an RFC 3339 string or unix seconds.
    pub auth_before: Option<serde_json::Value>,
    /// Report what the selector covers; end nothing.
    #[oai(default)]
    pub dry_run: bool,
}

/// `auth_before` as text: a string as it is, a whole number as unix seconds.
fn instant_text(v: Option<serde_json::Value>) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(err(
            ApiError::BadRequest,
            "invalid_request",
            format!("auth_before: {other} is not a time: give RFC 3339 or unix seconds"),
        )),
    }
}

/// The `format` parameter of the exports (CSV unless asked).
fn export_format(f: Option<&str>) -> Result<export::Format, ApiError> {
    match f {
        None => Ok(export::Format::Csv),
        Some(s) => export::Format::parse(s).ok_or_else(|| {
            err(
                ApiError::BadRequest,
                "invalid_request",
                format!("format '{s}' is not csv or jsonl"),
            )
        }),
    }
}

pub struct SessionsApi {
    pub state: State,
}

impl SessionsApi {
    /// Today's date (UTC) for export file names.
    fn today(&self) -> String {
        chrono::DateTime::from_timestamp(self.state.clock.now(), 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Sessions of a tenant, newest first.
    #[oai(path = "/tenants/:slug/sessions", method = "get")]
    async fn list_sessions(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// Only this user's sessions (username).
        user: Query<Option<String>>,
        /// Only sessions still active.
        active: Query<Option<bool>>,
        /// At most this many (default 100, at most 1000).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Vec<SessionView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = sessions::list_sessions(
            &self.state.db,
            &c.tenant,
            user.0.as_deref(),
            active.0.unwrap_or(false),
            limit.0.unwrap_or(100),
        )
        .await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// End every live session a selector covers (or, with `dry_run`, report what would end).
    /// A dry run and the real run that follows it cover the same sessions when nothing changed.
    #[oai(path = "/tenants/:slug/sessions/revoke", method = "post")]
    async fn revoke_cohort(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<CohortRequest>,
    ) -> ApiResult<CohortReportView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        let selector = governance::selector(governance::SelectorInput {
            user: b.user,
            group: b.group,
            client: b.client,
            device: b.device,
            ip_range: b.ip_range,
            attribute: b.attribute,
            auth_before: instant_text(b.auth_before)?,
        })?;
        let report = cohort::run(&self.state, &c.tenant, &selector, !b.dry_run, &c.actor).await?;
        Ok(Json(report.into()))
    }

    /// Every session of the tenant (or only active ones), oldest first, streamed as CSV or JSON
    /// lines. Users are named by username; times are RFC 3339 UTC.
    #[oai(path = "/tenants/:slug/sessions/export", method = "get")]
    async fn export_sessions(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// csv (default) or jsonl.
        format: Query<Option<String>>,
        /// Only sessions still active.
        active: Query<Option<bool>>,
    ) -> Result<Export, ApiError> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let format = export_format(format.0.as_deref())?;
        let stem = format!("{}-sessions-{}", c.tenant.slug, self.today());
        Ok(Export::new(
            export::sessions(
                self.state.clone(),
                c.tenant,
                format,
                active.0.unwrap_or(false),
            ),
            format,
            &stem,
        ))
    }

    /// The tenant's audit events in time order, filtered, streamed as CSV or JSON lines.
    #[oai(path = "/tenants/:slug/events/export", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn export_events(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// csv (default) or jsonl.
        format: Query<Option<String>>,
        /// Only events about this user (username).
        user: Query<Option<String>>,
        /// Only events of this session (sid).
        session: Query<Option<String>>,
        /// Only events of this kind (e.g. session.ended).
        kind: Query<Option<String>>,
        /// From this time on (RFC 3339 or unix seconds).
        since: Query<Option<String>>,
        /// Before this time (RFC 3339 or unix seconds).
        until: Query<Option<String>>,
    ) -> Result<Export, ApiError> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let format = export_format(format.0.as_deref())?;
        let filter = governance::event_filter(
            &self.state.db,
            &c.tenant,
            governance::EventQuery {
                user: user.0,
                session: session.0,
                kind: kind.0,
                since: since.0,
                until: until.0,
            },
        )
        .await?;
        let stem = format!("{}-events-{}", c.tenant.slug, self.today());
        Ok(Export::new(
            export::events(self.state.clone(), c.tenant, format, filter),
            format,
            &stem,
        ))
    }

    /// One session's audit timeline, oldest first.
    #[oai(path = "/tenants/:slug/sessions/:sid/events", method = "get")]
    async fn session_events(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
    ) -> ApiResult<Vec<EventView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = sessions::session_events(&self.state.db, &c.tenant, &sid).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// End one session now (back-channel logout to every participating RP).
    #[oai(path = "/tenants/:slug/sessions/:sid", method = "delete")]
    async fn revoke_session(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
    ) -> ApiResult<Revoked> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let ended = manage::revoke_session(&self.state, &c.tenant, &sid, &c.actor).await?;
        Ok(Json(Revoked {
            sessions_ended: u64::from(ended),
        }))
    }

    /// Re-evaluate one session now: its policy is resolved again from the current layers,
    /// groups and attributes; what it requires takes effect at its next refresh or authorization.
    #[oai(path = "/tenants/:slug/sessions/:sid/resync", method = "post")]
    async fn resync_session(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
    ) -> ApiResult<ResyncView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let r = manage::revocation::resync_session(&self.state, &c.tenant, &sid, &c.actor).await?;
        Ok(Json(ResyncView {
            sessions_reresolved: r.sessions_reresolved,
            sessions_ended: r.sessions_ended,
        }))
    }

    /// Re-evaluate every session of a user now.
    #[oai(path = "/tenants/:slug/users/:username/resync", method = "post")]
    async fn resync_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<ResyncView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let r =
            manage::revocation::resync_user(&self.state, &c.tenant, &username, &c.actor).await?;
        Ok(Json(ResyncView {
            sessions_reresolved: r.sessions_reresolved,
            sessions_ended: r.sessions_ended,
        }))
    }

    /// Force a session's mode: `read_only`, `reauth_required` or `normal`.
    #[oai(path = "/tenants/:slug/sessions/:sid/mode", method = "put")]
    async fn set_session_mode(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        sid: Path<String>,
        body: Json<ModeBody>,
    ) -> ApiResult<Done> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let changed = manage::revocation::set_session_mode(
            &self.state,
            &c.tenant,
            &sid,
            &body.0.mode,
            &c.actor,
        )
        .await?;
        Ok(Json(Done { changed }))
    }

    /// A tenant's devices with their trust score (0-100) and the parts it is made of, most
    /// recently seen first.
    #[oai(path = "/tenants/:slug/devices", method = "get")]
    async fn list_devices(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// Only devices this user has had sessions on (username).
        user: Query<Option<String>>,
        /// At most this many (default 100, at most 1000).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Vec<DeviceView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = sessions::list_devices(
            &self.state,
            &c.tenant,
            user.0.as_deref(),
            limit.0.unwrap_or(100),
        )
        .await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Mark a device compromised and end every session on it.
    #[oai(path = "/tenants/:slug/devices/:device_id/revoke", method = "post")]
    async fn revoke_device(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        device_id: Path<String>,
    ) -> ApiResult<Revoked> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let n = manage::revoke_device(&self.state, &c.tenant, &device_id, &c.actor).await?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// Back-channel logout deliveries and their state, newest first.
    #[oai(path = "/tenants/:slug/deliveries", method = "get")]
    async fn list_deliveries(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// pending, in_flight, retry, delivered or dead.
        state: Query<Option<String>>,
        /// Only deliveries for this session (sid).
        session: Query<Option<String>>,
        /// At most this many (default 100, at most 1000).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Vec<DeliveryView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = sessions::list_deliveries(
            &self.state.db,
            &c.tenant,
            state.0.as_deref(),
            session.0.as_deref(),
            limit.0.unwrap_or(100),
        )
        .await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Deliver a dead or retrying delivery again now.
    #[oai(path = "/tenants/:slug/deliveries/:id/retry", method = "post")]
    async fn retry_delivery(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Done> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let changed = manage::retry_delivery(&self.state, &c.tenant, &id, &c.actor).await?;
        Ok(Json(Done { changed }))
    }
}

/// What a re-sync did.
#[derive(poem_openapi::Object, Debug)]
pub struct ResyncView {
    pub sessions_reresolved: u64,
    /// Sessions already past a deadline under the re-resolved policy (ended now).
    pub sessions_ended: u64,
}

/// A session mode to force.
#[derive(poem_openapi::Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct ModeBody {
    /// `normal`, `read_only` or `reauth_required`.
    pub mode: String,
}
