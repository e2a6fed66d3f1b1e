//! Enrolling, checking and removing second factors, and changing passwords. Every change of a
//! credential is audited and ends the user's OTHER sessions through the termination path
//! (reason `credential_changed`): whoever held them may have held the old credential. Each
//! change also e-mails the user (in the change's transaction), so a change they did not make
//! does not go unnoticed.

use super::{decide_totp, from_base32, normalise_recovery_code, TotpCheck};
use crate::app::AppState;
use crate::error::{internal, invalid, not_found, Result};
use crate::events::audit::{self, Event};
use crate::events::mail::{self, Notice};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::service::{end_matching, revoke_offline, Ender};
use crate::session::EndReason;
use crate::store::{self, factors, TransactionTrait};
use crate::throttle::{self, Counter};
use serde_json::json;

/// What a user has enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct FactorStatus {
    pub totp: bool,
    pub recovery_codes_left: usize,
}

pub async fn status<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<FactorStatus> {
    Ok(FactorStatus {
        totp: !factors::list(db, tenant_id, user_id, factors::TOTP, factors::ACTIVE)
            .await?
            .is_empty(),
        recovery_codes_left: factors::list(
            db,
            tenant_id,
            user_id,
            factors::RECOVERY,
            factors::ACTIVE,
        )
        .await?
        .len(),
    })
}

/// Whether a user has an active TOTP factor (a step-up can be asked for): one read, where
/// [`status`] takes two.
pub async fn has_totp<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<bool> {
    Ok(
        !factors::list(db, tenant_id, user_id, factors::TOTP, factors::ACTIVE)
            .await?
            .is_empty(),
    )
}

/// An enrolment waiting for its first code: shown once (the QR code and the secret).
#[derive(Clone)]
pub struct Enrolment {
    pub factor_id: String,
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Enrolment({}, secret: ***)", self.factor_id)
    }
}

/// Start a TOTP enrolment: a new secret, pending until confirmed with a code from it. An
/// earlier pending enrolment is replaced.
pub async fn start_enrolment(
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
) -> Result<Enrolment> {
    let secret = super::new_secret();
    let account = user.email.clone().unwrap_or_else(|| user.username.clone());
    let uri = super::otpauth_uri(&tenant.name, &account, &secret);
    let qr = super::qr_svg(&uri).ok_or_else(|| internal("QR code"))?;
    let id = crate::crypto::random_id();
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    factors::delete(
        &txn,
        &tenant.id,
        &user.id,
        factors::TOTP,
        Some(factors::PENDING),
    )
    .await?;
    factors::insert(
        &txn,
        factors::FactorRow {
            id: id.clone(),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            kind: factors::TOTP.into(),
            state: factors::PENDING.into(),
            secret: super::base32(&secret),
            last_step: None,
            created_at: now,
            used_at: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Enrolment {
        factor_id: id,
        secret_base32: super::base32(&secret),
        otpauth_uri: uri,
        qr_svg: qr,
    })
}

/// The enrolment still pending as `factor_id`, to show again after a wrong first code (the
/// same browser, before the factor is active; nothing about it is usable yet).
pub async fn pending_enrolment(
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    factor_id: &str,
) -> Result<Option<Enrolment>> {
    let Some(f) = factors::find(&state.db, &tenant.id, &user.id, factor_id)
        .await?
        .filter(|f| f.kind == factors::TOTP && f.state == factors::PENDING)
    else {
        return Ok(None);
    };
    let secret = from_base32(&f.secret).ok_or_else(|| internal("stored TOTP secret"))?;
    let account = user.email.clone().unwrap_or_else(|| user.username.clone());
    let uri = super::otpauth_uri(&tenant.name, &account, &secret);
    let qr = super::qr_svg(&uri).ok_or_else(|| internal("QR code"))?;
    Ok(Some(Enrolment {
        factor_id: f.id,
        secret_base32: f.secret,
        otpauth_uri: uri,
        qr_svg: qr,
    }))
}

/// Recovery codes, shown once.
#[derive(Clone)]
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes: ***)", self.0.len())
    }
}

/// Confirm a pending enrolment with a code from the app. On success the factor is active, any
/// earlier TOTP factor and recovery codes are replaced, new recovery codes are returned (once),
/// and the user's other sessions end (`keep` stays). `Ok(None)`: the code was wrong.
pub async fn confirm_enrolment(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    factor_id: &str,
    code: &str,
    keep: Option<&str>,
    ctx: &RequestContext,
) -> Result<Option<RecoveryCodes>> {
    let f = factors::find(&state.db, &tenant.id, user_id, factor_id)
        .await?
        .filter(|f| f.kind == factors::TOTP && f.state == factors::PENDING)
        .ok_or_else(|| not_found("no pending enrolment"))?;
    let secret = from_base32(&f.secret).ok_or_else(|| internal("stored TOTP secret"))?;
    let TotpCheck::Accepted { step } = decide_totp(&secret, code, None, ctx.now) else {
        return Ok(None);
    };
    let codes = super::new_recovery_codes();
    let rows: Vec<factors::FactorRow> = codes
        .iter()
        .map(|c| factors::FactorRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            user_id: user_id.to_string(),
            kind: factors::RECOVERY.into(),
            state: factors::ACTIVE.into(),
            secret: state.hasher.hash("recovery", c),
            last_step: None,
            created_at: ctx.now,
            used_at: None,
        })
        .collect();
    let txn = state.db.begin().await?;
    factors::delete(
        &txn,
        &tenant.id,
        user_id,
        factors::TOTP,
        Some(factors::ACTIVE),
    )
    .await?;
    factors::delete(&txn, &tenant.id, user_id, factors::RECOVERY, None).await?;
    if !factors::mark_step(&txn, &tenant.id, &f.id, step, ctx.now).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    factors::insert_many(&txn, rows).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "factor.added",
            user_id: Some(user_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({ "factor": "totp", "recovery_codes": codes.len() })),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    let notice = Notice::FactorAdded {
        factor: "totp".into(),
    };
    let mailed = mail::notify_user_id(&txn, state, tenant, user_id, &notice, ctx.now_ms).await?;
    txn.commit().await?;
    if mailed {
        state.outbox_notify.notify_one();
    }
    end_other_sessions(state, tenant, user_id, keep, "user", Some(ctx)).await?;
    Ok(Some(RecoveryCodes(codes)))
}

/// Replace a user's recovery codes with new ones (shown once). `Ok(None)`: the user has no active
/// authenticator, so recovery codes would have nothing to recover.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    ctx: &RequestContext,
) -> Result<Option<RecoveryCodes>> {
    let txn = state.db.begin().await?;
    if factors::list(&txn, &tenant.id, user_id, factors::TOTP, factors::ACTIVE)
        .await?
        .is_empty()
    {
        txn.rollback().await?;
        return Ok(None);
    }
    let codes = super::new_recovery_codes();
    let rows: Vec<factors::FactorRow> = codes
        .iter()
        .map(|c| factors::FactorRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            user_id: user_id.to_string(),
            kind: factors::RECOVERY.into(),
            state: factors::ACTIVE.into(),
            secret: state.hasher.hash("recovery", c),
            last_step: None,
            created_at: ctx.now,
            used_at: None,
        })
        .collect();
    factors::delete(&txn, &tenant.id, user_id, factors::RECOVERY, None).await?;
    factors::insert_many(&txn, rows).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "factor.recovery_codes_replaced",
            user_id: Some(user_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({ "recovery_codes": codes.len() })),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(RecoveryCodes(codes)))
}

/// The outcome of a second-factor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Accepted. Both are one-time codes (RFC 8176 `amr` value `otp`); the audit trail says
    /// whether a recovery code was spent.
    Ok {
        recovery: bool,
    },
    Wrong,
    Replayed,
    Throttled,
}

fn throttle_key(tenant: &Tenant, user_id: &str) -> String {
    format!("otp:{}:{user_id}", tenant.id)
}

/// Check a TOTP code (or a recovery code) for a user, throttled per user (the same rule as
/// passwords per account), replay-safe, audited.
pub async fn verify(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    code: &str,
    ctx: &RequestContext,
) -> Result<Verified> {
    let key = throttle_key(tenant, user_id);
    let counter = store::throttle::find(&state.db, &key)
        .await?
        .map(|r| Counter {
            failures: r.failures,
            window_start: r.window_start,
            locked_until: r.locked_until,
        })
        .unwrap_or_default();
    if !throttle::evaluate_attempt(&counter, ctx.now) {
        record(state, tenant, user_id, "factor.throttled", "refused", ctx).await?;
        return Ok(Verified::Throttled);
    }
    let outcome = if super::is_recovery_code_shape(code) {
        match normalise_recovery_code(code) {
            Some(c) => {
                let hash = state.hasher.hash("recovery", &c);
                if factors::mark_recovery_used(&state.db, &tenant.id, user_id, &hash, ctx.now)
                    .await?
                {
                    Verified::Ok { recovery: true }
                } else {
                    Verified::Wrong
                }
            }
            None => Verified::Wrong,
        }
    } else {
        let active = factors::list(
            &state.db,
            &tenant.id,
            user_id,
            factors::TOTP,
            factors::ACTIVE,
        )
        .await?;
        let mut out = Verified::Wrong;
        for f in active {
            let secret = from_base32(&f.secret).ok_or_else(|| internal("stored TOTP secret"))?;
            match decide_totp(&secret, code, f.last_step, ctx.now) {
                TotpCheck::Accepted { step } => {
                    out = if factors::mark_step(&state.db, &tenant.id, &f.id, step, ctx.now).await?
                    {
                        Verified::Ok { recovery: false }
                    } else {
                        // The same code won elsewhere a moment ago.
                        Verified::Replayed
                    };
                    break;
                }
                TotpCheck::Replayed => out = Verified::Replayed,
                TotpCheck::Wrong => {}
            }
        }
        out
    };
    match outcome {
        Verified::Ok { recovery } => {
            if counter.failures > 0 {
                store::throttle::delete(&state.db, &key).await?;
            }
            let outcome = if recovery { "recovery_code" } else { "totp" };
            record(state, tenant, user_id, "factor.verified", outcome, ctx).await?;
        }
        Verified::Wrong | Verified::Replayed => {
            let n = throttle::after_failure(&counter, &throttle::PER_ACCOUNT, ctx.now);
            store::throttle::save(
                &state.db,
                store::throttle::ThrottleRow {
                    key,
                    failures: n.failures,
                    window_start: n.window_start,
                    locked_until: n.locked_until,
                },
            )
            .await?;
            let why = if outcome == Verified::Replayed {
                "replayed"
            } else {
                "wrong"
            };
            record(state, tenant, user_id, "factor.failed", why, ctx).await?;
        }
        Verified::Throttled => {}
    }
    Ok(outcome)
}

async fn record(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    kind: &str,
    outcome: &str,
    ctx: &RequestContext,
) -> Result<()> {
    tracing::info!(event = kind, tenant = %tenant.slug, outcome, "second factor");
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind,
            user_id: Some(user_id),
            actor: "user",
            outcome,
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    Ok(())
}

/// Remove every second factor of a user (self-service with a recent re-authentication, or an
/// administrator); the user's other sessions end.
pub async fn remove(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    keep: Option<&str>,
    actor: &str,
    ctx: Option<&RequestContext>,
) -> Result<bool> {
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    let n = factors::delete(&txn, &tenant.id, user_id, factors::TOTP, None).await?
        + factors::delete(&txn, &tenant.id, user_id, factors::RECOVERY, None).await?;
    let mut mailed = false;
    if n > 0 {
        let notice = Notice::FactorRemoved {
            factor: "totp".into(),
        };
        mailed = mail::notify_user_id(&txn, state, tenant, user_id, &notice, now_ms).await?;
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind: "factor.removed",
                user_id: Some(user_id),
                actor,
                outcome: "ok",
                detail: Some(json!({ "factor": "totp" })),
                ..Default::default()
            },
            ctx,
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    if mailed {
        state.outbox_notify.notify_one();
    }
    if n > 0 {
        end_other_sessions(state, tenant, user_id, keep, actor, ctx).await?;
    }
    Ok(n > 0)
}

/// Set a new password (argon2id off the runtime). The user's other sessions end; `keep` (the
/// session that changed it, in self-service) stays.
pub async fn change_password(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    new_password: &str,
    keep: Option<&str>,
    actor: &str,
    ctx: Option<&RequestContext>,
) -> Result<u64> {
    if new_password.chars().count() < crate::manage::users::MIN_PASSWORD_LEN {
        return Err(invalid(format!(
            "password must be at least {} characters",
            crate::manage::users::MIN_PASSWORD_LEN
        )));
    }
    let hash = crate::passwords::hash(new_password.to_string())
        .await
        .map_err(internal)?;
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    if !store::users::update_password_hash(&txn, &tenant.id, user_id, hash, now_ms / 1000).await? {
        txn.rollback().await?;
        return Err(not_found("no such user"));
    }
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "user.password_changed",
            user_id: Some(user_id),
            actor,
            outcome: "ok",
            ..Default::default()
        },
        ctx,
        now_ms,
    )
    .await?;
    let notice = Notice::PasswordChanged;
    let mailed = mail::notify_user_id(&txn, state, tenant, user_id, &notice, now_ms).await?;
    txn.commit().await?;
    if mailed {
        state.outbox_notify.notify_one();
    }
    end_other_sessions(state, tenant, user_id, keep, actor, ctx).await
}

/// End a user's sessions other than `keep` (reason `credential_changed`).
pub async fn end_other_sessions(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    keep: Option<&str>,
    actor: &str,
    ctx: Option<&RequestContext>,
) -> Result<u64> {
    let filter = store::sessions::SessionFilter {
        user_id: Some(user_id.to_string()),
        ..Default::default()
    };
    // The policy decides whether offline grants end too: the user's tenant and group layers
    // with the client layers of every app holding one (most restrictive wins).
    let offline = store::grants::list_offline_families(&state.db, &tenant.id, user_id).await?;
    let client_rows: Vec<String> = offline.iter().map(|f| f.client_id.clone()).collect();
    let clients = if client_rows.is_empty() {
        Vec::new()
    } else {
        store::clients::list_by_ids(&state.db, &tenant.id, client_rows).await?
    };
    let client_ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
    let layers = crate::session::service::policy::load_layers(&state.db, tenant).await?;
    let who = crate::session::service::policy::membership(&state.db, &tenant.id, user_id).await?;
    let ends_offline = crate::session::service::policy::effective(&layers, &who, &client_ids)
        .credential_change_ends_offline
        .value;
    let by = Ender {
        keep_offline: !ends_offline,
        ..Ender::new(actor, ctx)
    };
    let keep = keep.map(str::to_string);
    let ended = end_matching(
        state,
        &tenant.id,
        &filter,
        &move |r| Some(&r.id) != keep.as_ref(),
        EndReason::CredentialChanged,
        &by,
    )
    .await?;
    if ends_offline && !offline.is_empty() {
        revoke_offline(
            state,
            &tenant.id,
            store::grants::OfflineScope::User(user_id),
            EndReason::CredentialChanged,
            &by,
        )
        .await?;
    }
    Ok(ended)
}
