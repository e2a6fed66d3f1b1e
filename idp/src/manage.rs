//! Administrative operations shared by the CLI, the admin API and demo seeding: tenants, users,
//! clients, keys, admin tokens, and revocations (which all go through the termination path).

use crate::app::AppState;
use crate::error::{internal, Error, Result};
use crate::events::audit::{self, Event};
use crate::events::termination::{self, Ender, Scope};
use crate::keys::{self, SUPPORTED_ALGS};
use crate::model::{AuthMethod, Lifetimes, Tenant};
use crate::session::{EndReason, PolicyLayer};
use crate::store::{self, to_json_list, TransactionTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

fn invalid(msg: impl Into<String>) -> Error {
    internal(msg)
}

pub fn valid_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

#[derive(Debug, Serialize)]
pub struct CreatedTenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub issuer: String,
}

pub async fn create_tenant(
    db: &DatabaseConnection,
    public_url: &str,
    slug: &str,
    name: Option<&str>,
    policy: PolicyLayer,
    now: i64,
) -> Result<CreatedTenant> {
    if !valid_slug(slug) {
        return Err(invalid(
            "tenant slug must be 1-63 characters of a-z, 0-9 and '-'",
        ));
    }
    if store::tenants::find_by_slug(db, slug).await?.is_some() {
        return Err(invalid(format!("tenant '{slug}' already exists")));
    }
    let id = crate::crypto::random_id();
    let txn = db.begin().await?;
    let t = store::tenants::insert(
        &txn,
        store::tenants::Tenant {
            id: id.clone(),
            slug: slug.to_string(),
            name: name.unwrap_or(slug).to_string(),
            created_at: now,
        },
    )
    .await?;
    store::policies::replace_layer(
        &txn,
        &id,
        "tenant",
        "",
        &policy.to_settings(),
        now,
        "system",
    )
    .await?;
    for alg in SUPPORTED_ALGS {
        insert_key(&txn, &id, alg, now).await?;
    }
    txn.commit().await?;
    Ok(CreatedTenant {
        issuer: format!("{public_url}/t/{slug}"),
        id: t.id,
        slug: t.slug,
        name: t.name,
    })
}

async fn insert_key<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    alg: &str,
    activate_at: i64,
) -> Result<String> {
    let g = keys::generate(alg)?;
    store::keys::insert(
        db,
        store::keys::KeyRow {
            kid: g.kid.clone(),
            tenant_id: tenant_id.to_string(),
            alg: g.alg.to_string(),
            private_jwk: g.private_jwk.clone(),
            public_jwk: g.public_jwk.clone(),
            created_at: activate_at,
            activate_at,
            retire_at: None,
            remove_at: None,
        },
    )
    .await?;
    Ok(g.kid)
}

pub async fn tenant(db: &DatabaseConnection, public_url: &str, slug: &str) -> Result<Tenant> {
    store::tenants::find_by_slug(db, slug)
        .await?
        .map(|t| Tenant::from_row(t, public_url))
        .ok_or_else(|| invalid(format!("no tenant '{slug}'")))
}

/// Change only the tenant-layer fields `policy` sets (the others keep their values).
pub async fn set_policy(
    state: &AppState,
    tenant: &Tenant,
    policy: PolicyLayer,
    actor: &str,
) -> Result<crate::session::service::policy::PolicyChanged> {
    use crate::session::service::policy::{change_layer, FieldChange};
    let changes: Vec<FieldChange> = policy
        .to_settings()
        .into_iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v))
        .collect();
    change_layer(
        state,
        tenant,
        &crate::session::LayerRef::tenant(),
        &changes,
        actor,
    )
    .await
}

#[derive(Debug, Serialize)]
pub struct RotatedKey {
    pub alg: String,
    pub kid: String,
    pub activate_at: i64,
    pub retires: Option<String>,
}

/// Publish a new key per algorithm, active after `activate_in` seconds; the current keys retire
/// then and stay published until their tokens have expired.
pub async fn rotate_keys(
    db: &DatabaseConnection,
    tenant: &Tenant,
    activate_in: i64,
    now: i64,
) -> Result<Vec<RotatedKey>> {
    let live = store::keys::list_live(db, &tenant.id, now).await?;
    let txn = db.begin().await?;
    let mut out = Vec::new();
    for alg in SUPPORTED_ALGS {
        // The current key of this alg: newest activated and not already retiring.
        let current = live
            .iter()
            .filter(|k| k.alg == *alg && k.activate_at <= now && k.retire_at.is_none())
            .max_by_key(|k| k.activate_at);
        let plan = keys::resolve_rotation(
            current.map(|k| (k.kid.as_str(), k.retire_at)),
            now,
            activate_in,
        );
        let kid = insert_key(&txn, &tenant.id, alg, plan.activate_at).await?;
        if let Some((old, retire_at, remove_at)) = &plan.retire {
            store::keys::mark_retiring(&txn, &tenant.id, old, *retire_at, *remove_at).await?;
        }
        out.push(RotatedKey {
            alg: alg.to_string(),
            kid,
            activate_at: plan.activate_at,
            retires: plan.retire.map(|r| r.0),
        });
    }
    txn.commit().await?;
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct CreatedUser {
    pub id: String,
    pub tenant: String,
    pub username: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

pub async fn create_user(
    db: &DatabaseConnection,
    tenant: &Tenant,
    username: &str,
    email: Option<&str>,
    groups: &[String],
    password: &str,
    now: i64,
) -> Result<CreatedUser> {
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_whitespace) {
        return Err(invalid("username must be 1-128 characters without spaces"));
    }
    if password.len() < 8 {
        return Err(invalid("password must be at least 8 characters"));
    }
    if store::users::find_by_username(db, &tenant.id, username)
        .await?
        .is_some()
    {
        return Err(invalid(format!(
            "user '{username}' already exists in '{}'",
            tenant.slug
        )));
    }
    let hash = crate::passwords::hash(password.to_string())
        .await
        .map_err(internal)?;
    let u = store::users::insert(
        db,
        store::users::User {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            username: username.to_string(),
            email: email.map(str::to_string),
            email_verified: false,
            name: None,
            password_hash: hash,
            status: store::users::ACTIVE.into(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    store::policies::set_user_groups(db, &tenant.id, &u.id, groups, now).await?;
    Ok(CreatedUser {
        id: u.id,
        tenant: tenant.slug.clone(),
        username: u.username,
        email: u.email,
        groups: groups.to_vec(),
    })
}

/// Everything a new client registration says.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    /// None = generate one (confidential clients).
    pub secret: Option<String>,
    pub public: bool,
    pub auth_method: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    pub jwks: Option<String>,
    pub lifetimes: Lifetimes,
}

#[derive(Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CreatedClient({}, secret: ***)", self.client_id)
    }
}

fn valid_uri(u: &str) -> bool {
    url::Url::parse(u)
        .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.fragment().is_none())
}

pub async fn create_client(
    db: &DatabaseConnection,
    hasher: &crate::crypto::SecretHasher,
    tenant: &Tenant,
    c: NewClient,
    now: i64,
) -> Result<CreatedClient> {
    if c.client_id.is_empty()
        || c.client_id.len() > 128
        || !c
            .client_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b':')
    {
        return Err(invalid(
            "client_id must be 1-128 visible ASCII characters without ':'",
        ));
    }
    for u in c
        .redirect_uris
        .iter()
        .chain(&c.post_logout_redirect_uris)
        .chain(&c.backchannel_logout_uri)
        .chain(&c.frontchannel_logout_uri)
    {
        if !valid_uri(u) {
            return Err(invalid(format!(
                "'{u}' is not an absolute http(s) URI without fragment"
            )));
        }
    }
    let method = match (&c.auth_method, c.public) {
        (Some(m), _) => {
            AuthMethod::parse(m).ok_or_else(|| invalid(format!("unknown auth method '{m}'")))?
        }
        (None, true) => AuthMethod::None,
        (None, false) => AuthMethod::ClientSecretBasic,
    };
    if c.public && method != AuthMethod::None {
        return Err(invalid(
            "public clients use token_endpoint_auth_method none",
        ));
    }
    if method == AuthMethod::PrivateKeyJwt && c.jwks.is_none() {
        return Err(invalid("private_key_jwt needs --jwks"));
    }
    let alg = c.id_token_alg.clone().unwrap_or_else(|| "RS256".into());
    if !SUPPORTED_ALGS.contains(&alg.as_str()) {
        return Err(invalid(format!(
            "id_token_signed_response_alg must be one of {SUPPORTED_ALGS:?}"
        )));
    }
    let mut grants = if c.grant_types.is_empty() {
        vec![
            "authorization_code".to_string(),
            "refresh_token".to_string(),
        ]
    } else {
        c.grant_types.clone()
    };
    grants.dedup();
    for g in &grants {
        if !matches!(
            g.as_str(),
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            return Err(invalid(format!("unsupported grant type '{g}'")));
        }
    }
    if c.public && grants.iter().any(|g| g == "client_credentials") {
        return Err(invalid("public clients cannot use client_credentials"));
    }
    if store::clients::find_by_client_id(db, &tenant.id, &c.client_id)
        .await?
        .is_some()
    {
        return Err(invalid(format!(
            "client '{}' already exists in '{}'",
            c.client_id, tenant.slug
        )));
    }
    let secret = match method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            Some(c.secret.clone().unwrap_or_else(crate::crypto::random_token))
        }
        _ => None,
    };
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(invalid("client secrets must be at least 16 characters"));
    }
    store::clients::insert(
        db,
        store::clients::ClientRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            client_id: c.client_id.clone(),
            secret_hash: secret.as_ref().map(|s| hasher.hash("client_secret", s)),
            auth_method: method.as_str().into(),
            redirect_uris: to_json_list(&c.redirect_uris),
            post_logout_redirect_uris: to_json_list(&c.post_logout_redirect_uris),
            grant_types: to_json_list(&grants),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
            id_token_alg: alg,
            jwks: c.jwks.clone(),
            first_party: c.first_party,
            lifetimes: serde_json::to_string(&c.lifetimes)?,
            created_at: now,
        },
    )
    .await?;
    Ok(CreatedClient {
        client_id: c.client_id,
        client_secret: secret,
        token_endpoint_auth_method: method.as_str().into(),
        redirect_uris: c.redirect_uris,
        grant_types: grants,
    })
}

/// Create an admin API token; scoped to one tenant or (None) all tenants. Returns the token once.
pub async fn create_admin_token(
    db: &DatabaseConnection,
    hasher: &crate::crypto::SecretHasher,
    tenant: Option<&Tenant>,
    name: &str,
    now: i64,
) -> Result<String> {
    let token = format!("lya_{}", crate::crypto::random_token());
    store::admin_tokens::insert(
        db,
        store::admin_tokens::AdminTokenRow {
            id: crate::crypto::random_id(),
            token_hash: hasher.hash("admin_token", &token),
            tenant_id: tenant.map(|t| t.id.clone()),
            name: name.to_string(),
            created_at: now,
            revoked: false,
        },
    )
    .await?;
    Ok(token)
}

/// Disable a user (the HR-termination case) and end every session they hold.
pub async fn disable_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<u64> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| invalid(format!("no user '{username}'")))?;
    let now_ms = state.clock.now_ms();
    if store::users::mark_status(
        &state.db,
        &tenant.id,
        &user.id,
        store::users::ACTIVE,
        store::users::DISABLED,
        now_ms / 1000,
    )
    .await?
    {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "user.disabled",
                user_id: Some(&user.id),
                actor,
                outcome: "ok",
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::User(&user.id),
        EndReason::UserDisabled,
        &Ender { actor, ctx: None },
    )
    .await
}

pub async fn enable_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<bool> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| invalid(format!("no user '{username}'")))?;
    let now_ms = state.clock.now_ms();
    let changed = store::users::mark_status(
        &state.db,
        &tenant.id,
        &user.id,
        store::users::DISABLED,
        store::users::ACTIVE,
        now_ms / 1000,
    )
    .await?;
    if changed {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "user.enabled",
                user_id: Some(&user.id),
                actor,
                outcome: "ok",
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    Ok(changed)
}

/// End every session of a user.
pub async fn revoke_user_sessions(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<u64> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| invalid(format!("no user '{username}'")))?;
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::User(&user.id),
        EndReason::AdminRevoked,
        &Ender { actor, ctx: None },
    )
    .await
}

/// End every session on a device and mark the device compromised.
pub async fn revoke_device(
    state: &AppState,
    tenant: &Tenant,
    device_id: &str,
    actor: &str,
) -> Result<u64> {
    if store::sessions::find_device(&state.db, &tenant.id, device_id)
        .await?
        .is_none()
    {
        return Err(invalid(format!("no device '{device_id}'")));
    }
    store::sessions::mark_device_trust(&state.db, &tenant.id, device_id, "compromised").await?;
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::Device(device_id),
        EndReason::DeviceRevoked,
        &Ender { actor, ctx: None },
    )
    .await
}

/// End one session, by its public `sid`.
pub async fn revoke_session(
    state: &AppState,
    tenant: &Tenant,
    sid: &str,
    actor: &str,
) -> Result<bool> {
    let s = store::sessions::find_by_sid(&state.db, &tenant.id, sid)
        .await?
        .ok_or_else(|| invalid(format!("no session '{sid}'")))?;
    termination::end_session(
        state,
        &tenant.id,
        &s.id,
        EndReason::AdminRevoked,
        &Ender { actor, ctx: None },
        state.clock.now_ms(),
    )
    .await
}

/// End every session of the tenant.
pub async fn revoke_tenant_sessions(state: &AppState, tenant: &Tenant, actor: &str) -> Result<u64> {
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::Tenant,
        EndReason::TenantRevoked,
        &Ender { actor, ctx: None },
    )
    .await
}

/// Retry a dead (or waiting) back-channel delivery now.
pub async fn retry_delivery(state: &AppState, tenant: &Tenant, id: &str) -> Result<bool> {
    let ok =
        store::outbox::mark_pending_again(&state.db, &tenant.id, id, state.clock.now_ms()).await?;
    if ok {
        state.outbox_notify.notify_one();
    }
    Ok(ok)
}

/// Seed the demo tenant on an empty database. Returns what to print.
pub async fn seed_demo(state: &AppState) -> Result<Option<String>> {
    if store::tenants::count(&state.db).await? > 0 {
        return Ok(None);
    }
    let now = state.clock.now();
    let public = state.config.public_url.clone();
    let t = create_tenant(
        &state.db,
        &public,
        "demo",
        Some("Demo"),
        PolicyLayer::default(),
        now,
    )
    .await?;
    let tenant = tenant(&state.db, &public, "demo").await?;
    let password = crate::crypto::random_token()[..16].to_string();
    create_user(
        &state.db,
        &tenant,
        "demo",
        Some("demo@example.com"),
        &["staff".to_string()],
        &password,
        now,
    )
    .await?;
    let web = create_client(
        &state.db,
        &state.hasher,
        &tenant,
        NewClient {
            client_id: "demo-app".into(),
            redirect_uris: vec![
                "http://127.0.0.1:9000/callback".into(),
                "http://localhost:9000/callback".into(),
            ],
            post_logout_redirect_uris: vec!["http://127.0.0.1:9000/".into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            first_party: true,
            ..Default::default()
        },
        now,
    )
    .await?;
    create_client(
        &state.db,
        &state.hasher,
        &tenant,
        NewClient {
            client_id: crate::protocol::demo::DEMO_CLIENT.into(),
            public: true,
            redirect_uris: vec![format!("{}/demo/callback", t.issuer)],
            post_logout_redirect_uris: vec![format!("{}/demo/logged-out", t.issuer)],
            first_party: true,
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(Some(format!(
        "Seeded the demo tenant.\n  issuer:        {}\n  discovery:     {}/.well-known/openid-configuration\n  demo app:      {}/demo   (click through a real login)\n  user:          demo / {}\n  confidential:  client_id demo-app, client_secret {}\n                 redirect_uri http://127.0.0.1:9000/callback\n  public (PKCE): client_id demo-spa",
        t.issuer, t.issuer, t.issuer, password, web.client_secret.unwrap_or_default()
    )))
}

/// Turn an error into the one line a CLI user should see.
pub fn describe(e: &Error) -> String {
    match e {
        Error::Internal(crate::error::Internal::Other(m)) => m.clone(),
        other => other.to_string(),
    }
}
