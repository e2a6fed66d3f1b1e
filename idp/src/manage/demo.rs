//! The demo tenant seeded on an empty database: a user, a confidential client and the public
//! client of the built-in demo relying party, and the text that tells the operator how to use them.

use super::{create_client, create_tenant, create_user, tenant, NewClient, Result};
use crate::app::AppState;
use crate::session::PolicyLayer;
use crate::store;

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
    let demo_user = create_user(
        &state.db,
        &tenant,
        "demo",
        Some("demo@example.com"),
        &["staff".to_string()],
        &password,
        now,
    )
    .await?;
    // The demo user is also the demo tenant's admin, so the admin area can be tried at once.
    store::admins::grant(
        &state.db,
        store::admins::TenantAdmin {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            user_id: demo_user.id,
            granted_by: "demo-seed".into(),
            granted_at: now,
        },
    )
    .await?;
    let web = create_client(
        state,
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
        state,
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
        "Seeded the demo tenant.\n  issuer:        {}\n  discovery:     {}/.well-known/openid-configuration\n  demo app:      {}/demo   (click through a real login)\n  your account:  {}/account\n  admin area:    {}/admin   (the demo user is the tenant's admin)\n  user:          demo / {}\n  confidential:  client_id demo-app, client_secret {}\n                 redirect_uri http://127.0.0.1:9000/callback\n  public (PKCE): client_id demo-spa",
        t.issuer, t.issuer, t.issuer, t.issuer, t.issuer, password, web.client_secret.unwrap_or_default()
    )))
}

/// What to tell an operator starting on a database that already holds the demo tenant: the
/// password was printed once, at seeding, so say how to set a new one.
pub async fn existing_demo_hint(state: &AppState) -> Result<Option<String>> {
    let Some(t) = store::tenants::find_by_slug(&state.db, "demo").await? else {
        return Ok(None);
    };
    if store::users::find_by_username(&state.db, &t.id, "demo")
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let issuer = state.config.issuer("demo");
    Ok(Some(format!(
        "Using the existing database (demo tenant {issuer}).\n  demo app:      {issuer}/demo\n  forgot the demo password? lanyard user set-password --tenant demo demo --generate"
    )))
}
