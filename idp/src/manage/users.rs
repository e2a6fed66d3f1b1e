//! Users of a tenant: create, list, show, update the profile, set the password, delete.
//! (Disable and enable end or restore access and live in `revocation`.)

use super::{conflict, invalid, ManageError, Result};
use crate::app::AppState;
use crate::error::internal;
use crate::events::audit::{self, Event};
use crate::events::termination::{self, Ender, Scope};
use crate::model::Tenant;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_LEN: usize = 8;

/// Everything a new user says.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub password: crate::crypto::Secret,
}

#[derive(Debug, Serialize)]
pub struct CreatedUser {
    pub id: String,
    pub tenant: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// RFC 8265 §3.4 (UsernameCaseMapped): the stored form, or why the name is refused.
fn validate_username(username: &str) -> Result<crate::username::Username> {
    crate::username::resolve_username(username).map_err(|e| invalid(e.to_string()))
}

fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(invalid(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

fn validate_profile(email: Option<&str>, name: Option<&str>, groups: &[String]) -> Result<()> {
    if let Some(e) = email {
        // Only a shape check: the address is the user's, and no mail is sent to verify it here.
        let ok = e.len() <= 254
            && e.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && !d.is_empty() && !e.contains(char::is_whitespace)
            });
        if !ok {
            return Err(invalid(format!("'{e}' is not an e-mail address")));
        }
    }
    if name.is_some_and(|n| n.len() > 256) {
        return Err(invalid("name must be at most 256 characters"));
    }
    if let Some(g) = groups
        .iter()
        .find(|g| g.is_empty() || g.len() > 128 || g.chars().any(char::is_whitespace))
    {
        return Err(invalid(format!(
            "group '{g}' must be 1-128 characters without spaces"
        )));
    }
    Ok(())
}

/// Create a user (the short form the tests and seeding use).
pub async fn create_user(
    db: &DatabaseConnection,
    tenant: &Tenant,
    username: &str,
    email: Option<&str>,
    groups: &[String],
    password: &str,
    now: i64,
) -> Result<CreatedUser> {
    create(
        db,
        tenant,
        NewUser {
            username: username.to_string(),
            email: email.map(str::to_string),
            name: None,
            groups: groups.to_vec(),
            password: crate::crypto::Secret::new(password),
        },
        now,
    )
    .await
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: &Tenant,
    u: NewUser,
    now: i64,
) -> Result<CreatedUser> {
    let username = validate_username(&u.username)?;
    validate_password(u.password.expose())?;
    validate_profile(u.email.as_deref(), u.name.as_deref(), &u.groups)?;
    if let Some(existing) = store::users::find_by_username(db, &tenant.id, username.as_str())
        .await?
        .or(store::users::find_by_skeleton(db, &tenant.id, username.skeleton()).await?)
    {
        return Err(taken(&username, &existing.username, &tenant.slug));
    }
    let hash = crate::passwords::hash(u.password.expose().to_string())
        .await
        .map_err(internal)?;
    let txn = db.begin().await?;
    let skeleton = username.skeleton().to_string();
    let inserted = store::users::insert(
        &txn,
        store::users::User {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            username: username.as_str().to_string(),
            email: u.email,
            email_verified: false,
            name: u.name,
            password_hash: hash,
            status: store::users::ACTIVE.into(),
            created_at: now,
            updated_at: now,
            must_change_password: false,
            username_skeleton: skeleton,
        },
    )
    .await;
    // Two creations can race past the check above; the unique indexes decide (migration
    // 000013), and the loser hears the same answer.
    let row = match inserted {
        Ok(row) => row,
        Err(e) if store::is_unique_violation(&e) => {
            return Err(taken(&username, username.as_str(), &tenant.slug));
        }
        Err(e) => return Err(e.into()),
    };
    store::policies::set_user_groups(&txn, &tenant.id, &row.id, &u.groups, now).await?;
    txn.commit().await?;
    Ok(CreatedUser {
        id: row.id,
        tenant: tenant.slug.clone(),
        username: row.username,
        email: row.email,
        name: row.name,
        groups: u.groups,
    })
}

/// Create a user on an operator's behalf (CLI, admin API, admin area), audited as `user.created`
/// with the actor. `temporary`: the password was made for the user, who must choose their own at
/// the first sign-in (the login asks, as after a reported sign-in).
pub async fn register_user(
    state: &AppState,
    tenant: &Tenant,
    u: NewUser,
    temporary: bool,
    actor: &str,
) -> Result<CreatedUser> {
    let now_ms = state.clock.now_ms();
    let created = create(&state.db, tenant, u, now_ms.div_euclid(1000)).await?;
    if temporary {
        store::users::mark_must_change_password(
            &state.db,
            &tenant.id,
            &created.id,
            now_ms.div_euclid(1000),
        )
        .await?;
    }
    record(state, tenant, "user.created", &created.id, actor, now_ms).await?;
    Ok(created)
}

/// An administrator's password reset: a generated password, which the user must replace at the
/// next sign-in; every session of the user ends (as [`set_password`]). Returns the password (to
/// show once) and how many sessions ended.
pub async fn reset_password(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<(crate::crypto::Secret, u64)> {
    let password = generate_password();
    let ended = set_password(state, tenant, username, &password, actor).await?;
    let u = find(&state.db, tenant, username).await?;
    store::users::mark_must_change_password(&state.db, &tenant.id, &u.id, state.clock.now())
        .await?;
    Ok((password, ended))
}

/// The name is in use, or looks like one in use (UTS #39 §4). Names are shown `{:?}`-escaped so an
/// invisible character is visible in the message.
fn taken(wanted: &crate::username::Username, existing: &str, tenant: &str) -> ManageError {
    if wanted.as_str() == existing {
        conflict(format!("user '{existing}' already exists in '{tenant}'"))
    } else {
        conflict(format!(
            "username {:?} is confusable with the existing user {existing:?} in '{tenant}'",
            wanted.as_str()
        ))
    }
}

/// A user as an operator reads it (never the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub username: String,
    /// The `sub` claim relying parties see for this user.
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Attributes that group rules can select by (`attribute:KEY=VALUE`).
    pub attributes: std::collections::BTreeMap<String, String>,
    pub status: String,
    /// The lock in force (`session::lock`): `unlocked`, `until` (with `locked_until`) or
    /// `until_unlocked` (an administrator must unlock).
    pub lock: &'static str,
    pub locked_until: Option<i64>,
    /// Who or what locked the account (`admin`, `response_chain:impossible_travel`, ...).
    pub lock_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

async fn view(db: &DatabaseConnection, u: store::users::User, now: i64) -> Result<UserView> {
    use crate::session::lock::LockDecision;
    let row = store::lockout::find_lock(db, &u.tenant_id, &u.id).await?;
    let decision = crate::session::service::lockout::lock_state(db, &u.tenant_id, &u.id, now)
        .await
        .map_err(|e| internal(e.to_string()))?;
    let lock = match decision {
        LockDecision::Unlocked => "unlocked",
        LockDecision::Until(_) => "until",
        LockDecision::UntilUnlocked => "until_unlocked",
    };
    Ok(UserView {
        lock,
        locked_until: decision.until(),
        lock_reason: row.filter(|_| decision.is_locked()).map(|r| r.reason),
        groups: store::policies::list_user_groups(db, &u.tenant_id, &u.id).await?,
        attributes: store::policies::list_user_attributes(db, &u.tenant_id, &u.id)
            .await?
            .into_iter()
            .collect(),
        username: u.username,
        sub: u.id,
        email: u.email,
        name: u.name,
        status: u.status,
        created_at: u.created_at,
        updated_at: u.updated_at,
    })
}

/// The user with this username, or `NotFound`.
pub async fn find(
    db: &DatabaseConnection,
    tenant: &Tenant,
    username: &str,
) -> Result<store::users::User> {
    store::users::find_by_username(db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))
}

pub async fn list_users(
    db: &DatabaseConnection,
    tenant: &Tenant,
    now: i64,
) -> Result<Vec<UserView>> {
    let mut out = Vec::new();
    for u in store::users::list(db, &tenant.id).await? {
        out.push(view(db, u, now).await?);
    }
    Ok(out)
}

pub async fn show_user(
    db: &DatabaseConnection,
    tenant: &Tenant,
    username: &str,
    now: i64,
) -> Result<UserView> {
    let u = find(db, tenant, username).await?;
    view(db, u, now).await
}

/// Profile changes; `None` keeps the current value. `Some(None)` clears e-mail or name.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    /// Replaces every group.
    pub groups: Option<Vec<String>>,
}

/// A user after an update, and what a change of groups did to their live sessions.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatedUser {
    #[serde(flatten)]
    pub user: UserView,
    /// Present when the groups were replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipEffects>,
}

/// What a membership change did: live sessions re-resolved under the new policy, or ended by
/// rules (named) that end sessions on membership change.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipEffects {
    pub rules_triggered: Vec<String>,
    pub sessions_reresolved: u64,
    pub sessions_ended: u64,
}

pub async fn update_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    changes: UserChanges,
    actor: &str,
) -> Result<UpdatedUser> {
    let u = find(&state.db, tenant, username).await?;
    let email = changes.email.unwrap_or(u.email.clone());
    let name = changes.name.unwrap_or(u.name.clone());
    let groups = match &changes.groups {
        Some(g) => g.clone(),
        None => store::policies::list_user_groups(&state.db, &tenant.id, &u.id).await?,
    };
    validate_profile(email.as_deref(), name.as_deref(), &groups)?;
    let now_ms = state.clock.now_ms();
    store::users::update_profile(
        &state.db,
        &tenant.id,
        &u.id,
        store::users::ProfileUpdate { email, name },
        now_ms.div_euclid(1000),
    )
    .await?;
    record(state, tenant, "user.updated", &u.id, actor, now_ms).await?;
    let membership = match changes.groups {
        // Groups decide policy: the user's live sessions are re-resolved (or ended, under a
        // rule that ends sessions on membership change).
        Some(_) => {
            let m = crate::session::service::policy::change_membership(
                state,
                tenant,
                &u.id,
                Some(&groups),
                None,
                actor,
            )
            .await?;
            Some(MembershipEffects {
                rules_triggered: m.rules_triggered,
                sessions_reresolved: m.sessions_reresolved,
                sessions_ended: m.sessions_ended,
            })
        }
        None => None,
    };
    Ok(UpdatedUser {
        user: show_user(&state.db, tenant, username, now_ms.div_euclid(1000)).await?,
        membership,
    })
}

/// Reset a user's password (an administrator; `--generate` included). Every session of the user
/// ends through the termination path (reason `credential_changed`): whoever held them may have
/// held the old password. Returns how many ended.
pub async fn set_password(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    password: &crate::crypto::Secret,
    actor: &str,
) -> Result<u64> {
    validate_password(password.expose())?;
    let u = find(&state.db, tenant, username).await?;
    Ok(crate::factors::service::change_password(
        state,
        tenant,
        &u.id,
        password.expose(),
        None,
        actor,
        None,
    )
    .await?)
}

/// A password for `--generate`: 128 bits, base64url (22 characters).
pub fn generate_password() -> crate::crypto::Secret {
    crate::crypto::Secret::new(crate::crypto::random_id())
}

#[derive(Debug, Clone, Serialize)]
pub struct DeletedUser {
    pub deleted: String,
    pub sessions_ended: u64,
}

/// Delete a user: disable first (so no new session can begin), end every session they hold
/// through the termination path (their relying parties are told), then delete the row. Their
/// ended sessions and audit trail stay, naming a user who no longer exists.
pub async fn delete_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<DeletedUser> {
    let u = find(&state.db, tenant, username).await?;
    let now_ms = state.clock.now_ms();
    store::users::mark_status(
        &state.db,
        &tenant.id,
        &u.id,
        store::users::ACTIVE,
        store::users::DISABLED,
        now_ms.div_euclid(1000),
    )
    .await?;
    let sessions_ended = termination::end_sessions(
        state,
        &tenant.id,
        Scope::User(&u.id),
        EndReason::UserDisabled,
        &Ender { actor, ctx: None },
    )
    .await?;
    let txn = state.db.begin().await?;
    store::users::delete(&txn, &tenant.id, &u.id).await?;
    store::policies::delete_user_facts(&txn, &tenant.id, &u.id).await?;
    txn.commit().await?;
    record(state, tenant, "user.deleted", &u.id, actor, now_ms).await?;
    Ok(DeletedUser {
        deleted: u.username,
        sessions_ended,
    })
}

pub(crate) async fn record(
    state: &AppState,
    tenant: &Tenant,
    kind: &str,
    user_id: &str,
    actor: &str,
    now_ms: i64,
) -> Result<()> {
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind,
            user_id: Some(user_id),
            actor,
            outcome: "ok",
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    Ok(())
}
