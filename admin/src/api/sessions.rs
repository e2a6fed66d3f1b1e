//! Sessions, their timelines, devices and back-channel deliveries. Every revocation goes through
//! `lanyard_idp::manage` and so through the one termination path.

use super::auth::{authorize, AdminToken};
use super::views::{DeliveryView, Done, EventView, Revoked, SessionView};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::manage::{self, sessions};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

pub struct SessionsApi {
    pub state: State,
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
        let changed = manage::retry_delivery(&self.state, &c.tenant, &id).await?;
        Ok(Json(Done { changed }))
    }
}
