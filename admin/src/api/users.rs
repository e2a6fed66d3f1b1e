//! Users of a tenant: list, create, show, update, set and remove attributes, set the password,
//! disable / enable, lock / unlock, end their sessions, delete.

use super::auth::{authorize, AdminToken};
use super::error::{err, ApiError};
use super::views::{AttributesView, Done, Revoked, UserView};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::crypto::Secret;
use lanyard_idp::manage::{self, governance, users};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};

pub struct UsersApi {
    pub state: State,
}

#[derive(Object)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[oai(default)]
    pub groups: Vec<String>,
    /// At least 8 characters.
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewUser({}, password: ***)", self.username)
    }
}

/// Profile changes: an absent field stays, `null` removes e-mail or name, `groups` replaces all.
#[derive(Object, Debug)]
pub struct UserChanges {
    pub email: MaybeUndefined<String>,
    pub name: MaybeUndefined<String>,
    pub groups: Option<Vec<String>>,
}

/// Either a password, or `generate: true` for one generated and returned once.
#[derive(Object)]
pub struct PasswordChange {
    pub password: Option<String>,
    #[oai(default)]
    pub generate: bool,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordChange(***, generate: {})", self.generate)
    }
}

#[derive(Object)]
pub struct PasswordSet {
    pub username: String,
    /// The generated password, in this response only.
    pub password: Option<String>,
    /// Sessions the reset ended (reason `credential_changed`).
    pub sessions_ended: u64,
}

impl std::fmt::Debug for PasswordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordSet({}, ***)", self.username)
    }
}

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct AttributeValue {
    /// 1-256 characters on one line.
    pub value: String,
}

/// How long a lock lasts: `for_secs` (1 s to 366 days) or, absent, until unlocked.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct LockRequest {
    pub for_secs: Option<i64>,
}

/// What a lock did.
#[derive(Object, Debug)]
pub struct LockedUserView {
    pub username: String,
    /// `until` (see `locked_until`) or `until_unlocked`.
    pub lock: String,
    pub locked_until: Option<i64>,
    /// Sessions ended (reason `account_locked`).
    pub sessions_ended: u64,
    /// Whether the "account locked" mail to the user was written to the outbox.
    pub user_mailed: bool,
    /// Whether a mail to the tenant's admin address was written (only when one is set).
    pub admin_mailed: bool,
}

#[derive(Object, Debug)]
pub struct UnlockedUser {
    pub username: String,
    /// Whether a lock was in force.
    pub was_locked: bool,
}

#[derive(Object, Debug)]
pub struct DeletedUser {
    pub deleted: String,
    pub sessions_ended: u64,
}

fn maybe(v: MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// The tenant's users, by username.
    #[oai(path = "/tenants/:slug/users", method = "get")]
    async fn list_users(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<Vec<UserView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = users::list_users(&self.state.db, &c.tenant, self.state.clock.now()).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Create a user.
    #[oai(path = "/tenants/:slug/users", method = "post")]
    async fn create_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<NewUser>,
    ) -> ApiResult<UserView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        let username = b.username.clone();
        users::register_user(
            &self.state,
            &c.tenant,
            users::NewUser {
                username: b.username,
                email: b.email,
                name: b.name,
                groups: b.groups,
                password: Secret::new(b.password),
            },
            false,
            &c.actor,
        )
        .await?;
        let u =
            users::show_user(&self.state.db, &c.tenant, &username, self.state.clock.now()).await?;
        Ok(Json(u.into()))
    }

    /// One user.
    #[oai(path = "/tenants/:slug/users/:username", method = "get")]
    async fn show_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<UserView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        Ok(Json(
            users::show_user(&self.state.db, &c.tenant, &username, self.state.clock.now())
                .await?
                .into(),
        ))
    }

    /// Change e-mail, name or groups.
    #[oai(path = "/tenants/:slug/users/:username", method = "patch")]
    async fn update_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
        body: Json<UserChanges>,
    ) -> ApiResult<UserView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        let changes = users::UserChanges {
            email: maybe(b.email),
            name: maybe(b.name),
            groups: b.groups,
        };
        let u = users::update_user(&self.state, &c.tenant, &username, changes, &c.actor).await?;
        Ok(Json(u.user.into()))
    }

    /// Set one attribute of a user. Attribute rules apply to the user's live sessions at once; a
    /// rule that ends sessions on membership change ends them.
    #[oai(
        path = "/tenants/:slug/users/:username/attributes/:key",
        method = "put"
    )]
    async fn set_attribute(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
        key: Path<String>,
        body: Json<AttributeValue>,
    ) -> ApiResult<AttributesView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let a = governance::set_attribute(
            &self.state,
            &c.tenant,
            &username,
            &key,
            Some(&body.value),
            &c.actor,
        )
        .await?;
        Ok(Json(a.into()))
    }

    /// Remove one attribute of a user (404 when the user does not have it).
    #[oai(
        path = "/tenants/:slug/users/:username/attributes/:key",
        method = "delete"
    )]
    async fn remove_attribute(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
        key: Path<String>,
    ) -> ApiResult<AttributesView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let a = governance::set_attribute(&self.state, &c.tenant, &username, &key, None, &c.actor)
            .await?;
        Ok(Json(a.into()))
    }

    /// Set the password (given, or generated and returned once). Sessions stay.
    #[oai(path = "/tenants/:slug/users/:username/password", method = "post")]
    async fn set_password(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
        body: Json<PasswordChange>,
    ) -> ApiResult<PasswordSet> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let (password, shown) = match (body.0.password, body.0.generate) {
            (Some(p), false) => (Secret::new(p), false),
            (None, true) => (users::generate_password(), true),
            _ => {
                return Err(err(
                    ApiError::BadRequest,
                    "invalid_request",
                    "give either password or generate: true",
                ))
            }
        };
        let ended =
            users::set_password(&self.state, &c.tenant, &username, &password, &c.actor).await?;
        Ok(Json(PasswordSet {
            username: username.0,
            password: shown.then(|| password.expose().to_string()),
            sessions_ended: ended,
        }))
    }

    /// Delete a user: every session is ended first (their RPs are told).
    #[oai(path = "/tenants/:slug/users/:username", method = "delete")]
    async fn delete_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<DeletedUser> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let d = users::delete_user(&self.state, &c.tenant, &username, &c.actor).await?;
        Ok(Json(DeletedUser {
            deleted: d.deleted,
            sessions_ended: d.sessions_ended,
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
        let c = authorize(&self.state, &auth, &slug).await?;
        let n = manage::revoke_user_sessions(&self.state, &c.tenant, &username, &c.actor).await?;
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
        let c = authorize(&self.state, &auth, &slug).await?;
        let n = manage::disable_user(&self.state, &c.tenant, &username, &c.actor).await?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// Lock a user: every session ends (reason `account_locked`), sign-in is refused until
    /// `for_secs` has passed or an admin unlocks; the user and the admin address are mailed.
    #[oai(path = "/tenants/:slug/users/:username/lock", method = "post")]
    async fn lock_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
        body: Json<LockRequest>,
    ) -> ApiResult<LockedUserView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let l = manage::revocation::lock_user(
            &self.state,
            &c.tenant,
            &username,
            body.0.for_secs,
            &c.actor,
        )
        .await?;
        Ok(Json(LockedUserView {
            username: l.username,
            lock: l.lock.into(),
            locked_until: l.locked_until,
            sessions_ended: l.sessions_ended,
            user_mailed: l.user_mailed,
            admin_mailed: l.admin_mailed,
        }))
    }

    /// Unlock a user.
    #[oai(path = "/tenants/:slug/users/:username/unlock", method = "post")]
    async fn unlock_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<UnlockedUser> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let was_locked =
            manage::revocation::unlock_user(&self.state, &c.tenant, &username, &c.actor).await?;
        Ok(Json(UnlockedUser {
            username: username.0,
            was_locked,
        }))
    }

    /// Re-enable a disabled user.
    #[oai(path = "/tenants/:slug/users/:username/enable", method = "post")]
    async fn enable_user(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        username: Path<String>,
    ) -> ApiResult<Done> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let changed = manage::enable_user(&self.state, &c.tenant, &username, &c.actor).await?;
        Ok(Json(Done { changed }))
    }
}
