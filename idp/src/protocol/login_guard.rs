//! The credential check of the login form: throttles (NIST SP 800-63B-4 §3.2.2; OWASP ASVS
//! V6), the password, and the account lock.
//!
//! - Per IP: too many failures within the window refuse further attempts from it for a while
//!   (HTTP 429 with `Retry-After`, RFC 6585 §4).
//! - Per account: progressive delays (`throttle::Progressive`), never a hard lock. Failures
//!   from a device that has signed this account in before are counted for that device alone;
//!   all other failures (unknown devices, no device cookie) share one counter. So an attacker
//!   guessing from elsewhere delays only the unknown-device counter, and the user on their own
//!   device with the right password still gets in.
//! - Timing: an unknown username costs the same argon2id work as a known one
//!   (`passwords::verify` hashes against a dummy), and a throttled attempt costs none for both.
//! - A locked account (`session::lock`) is told so only after the right password, so the lock
//!   does not reveal which usernames exist.
//!
//! Thresholds are tenant policy (`throttle::ThrottlePolicy`).

use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::lock::LockDecision;
use crate::session::service::{devices, lockout};
use crate::store;
use crate::throttle::{self, Counter};
use serde_json::json;

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRejection {
    /// Wrong username or password, or an inactive account (one generic message).
    BadCredentials,
    /// Too many failures: try again in `retry_after` seconds. `scope` is `ip` or `account`.
    Throttled {
        retry_after: i64,
        scope: &'static str,
    },
    /// The password was right but the account is locked.
    Locked(LockDecision),
}

fn key(kind: &str, tenant: &Tenant, value: &str) -> String {
    format!("{kind}:{}:{}", tenant.id, value.to_lowercase())
}

/// The counter key of an account's failures from this browser: its own when the device has
/// signed the account in before, else the one shared by all unknown devices.
async fn account_key(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    user: Option<&store::users::User>,
    ctx: &RequestContext,
) -> Result<String> {
    // The account throttle counts per account, so it keys on the name's PRECIS form (RFC 8265
    // §3.4): `ALICE` and `ａｌｉｃｅ` share `alice`'s counter. A name no account can have keeps
    // its own (lower-cased) key.
    let account = crate::username::lookup_form(username);
    let shared = key("acct", tenant, account.as_deref().unwrap_or(username));
    let (Some(u), Some(d)) = (user, devices::of_browser(state, tenant, ctx).await?) else {
        return Ok(shared);
    };
    if store::lockout::has_signed_in_on_device(&state.db, &tenant.id, &u.id, &d.id).await? {
        Ok(format!("{shared}:dev:{}", d.id))
    } else {
        Ok(shared)
    }
}

async fn load(state: &AppState, key: &str) -> Result<Counter> {
    Ok(store::throttle::find(&state.db, key)
        .await?
        .map(|r| Counter {
            failures: r.failures,
            window_start: r.window_start,
            locked_until: r.locked_until,
        })
        .unwrap_or_default())
}

async fn save(state: &AppState, key: &str, n: Counter) -> Result<()> {
    store::throttle::save(
        &state.db,
        store::throttle::ThrottleRow {
            key: key.to_string(),
            failures: n.failures,
            window_start: n.window_start,
            locked_until: n.locked_until,
        },
    )
    .await?;
    Ok(())
}

async fn record(
    state: &AppState,
    tenant: &Tenant,
    kind: &str,
    user: Option<&store::users::User>,
    outcome: &str,
    detail: serde_json::Value,
    ctx: &RequestContext,
) -> Result<()> {
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind,
            user_id: user.map(|u| u.id.as_str()),
            actor: "user",
            outcome,
            detail: Some(detail),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    Ok(())
}

/// Check the throttles, verify the password, check the lock, and record the outcome.
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    password: String,
    ctx: &RequestContext,
) -> Result<std::result::Result<store::users::User, LoginRejection>> {
    let policy = lockout::security(&state.db, tenant).await?.throttle;
    let now = ctx.now;
    let ip_key = key("ip", tenant, &ctx.ip);
    let ip = load(state, &ip_key).await?;
    let user = store::users::find_by_username(&state.db, &tenant.id, username).await?;
    let acct_key = account_key(state, tenant, username, user.as_ref(), ctx).await?;
    let acct = load(state, &acct_key).await?;
    let known_device = acct_key.contains(":dev:");
    for (scope, c) in [("ip", &ip), ("account", &acct)] {
        if !throttle::evaluate_attempt(c, now) {
            let retry_after = throttle::retry_after(c, now);
            record(
                state,
                tenant,
                "login.throttled",
                user.as_ref(),
                "refused",
                json!({ "username": username, "scope": scope, "retry_after": retry_after, "known_device": known_device }),
                ctx,
            )
            .await?;
            super::login::observe_login(tenant, "throttled", ctx);
            return Ok(Err(LoginRejection::Throttled { retry_after, scope }));
        }
    }
    let ok =
        crate::passwords::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let active = user
        .as_ref()
        .is_some_and(|u| u.status == store::users::ACTIVE);
    if let (true, true, Some(u)) = (ok, active, user.as_ref()) {
        let lock = lockout::lock_state(&state.db, &tenant.id, &u.id, now).await?;
        if lock.is_locked() {
            record(
                state,
                tenant,
                "login.refused",
                Some(u),
                "account_locked",
                json!({ "username": username, "lock": lock }),
                ctx,
            )
            .await?;
            super::login::observe_login(tenant, "account_locked", ctx);
            return Ok(Err(LoginRejection::Locked(lock)));
        }
        if acct.failures > 0 {
            store::throttle::delete(&state.db, &acct_key).await?;
        }
        super::login::observe_login(tenant, "succeeded", ctx);
        return Ok(Ok(u.clone()));
    }
    save(
        state,
        &ip_key,
        throttle::after_failure(&ip, &policy.ip(), now),
    )
    .await?;
    let next = throttle::after_failure_progressive(&acct, &policy.account(), now);
    save(state, &acct_key, next).await?;
    // Device trust counts failures from a known browser (`session::trust`); the device's live
    // sessions are re-scored at their next check.
    devices::record_failed_login(state, tenant, ctx).await?;
    let outcome = if ok { "inactive" } else { "bad_credentials" };
    record(
        state,
        tenant,
        "login.failed",
        user.as_ref(),
        outcome,
        json!({ "username": username, "known_device": known_device, "account_failures": next.failures, "next_attempt_in": throttle::retry_after(&next, now) }),
        ctx,
    )
    .await?;
    super::login::observe_login(tenant, outcome, ctx);
    Ok(Err(LoginRejection::BadCredentials))
}
