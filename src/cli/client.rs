//! `lanyard client ...`: create, list, show, update, disable, enable, rotate-secret, delete.
//! Validation is `lanyard_idp::manage::client_metadata`'s, the same as the admin API's.

use super::output::{print_json, print_list, print_object, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::{Args, Subcommand};
use lanyard_idp::manage::client_metadata::LifetimeChanges;
use lanyard_idp::manage::clients::{self, ClientChanges, NewClient};
use lanyard_idp::model::Lifetimes;

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client. Prints client_id and, for confidential clients, the secret.
    Create(CreateArgs),
    /// List the clients of a tenant.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one client's registration (never its secret).
    Show {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        client_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change a client's URIs, lifetimes or first-party flag (what is not given stays).
    Update(UpdateArgs),
    /// Disable a client: the token endpoint refuses it and its tokens stop working (at once on
    /// a server's own admin API; a running server sees a CLI change within 2 seconds).
    Disable {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        client_id: String,
    },
    /// Re-enable a disabled client.
    Enable {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        client_id: String,
    },
    /// Issue a new secret (printed once); the old one keeps working for --overlap seconds.
    RotateSecret {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        client_id: String,
        /// Seconds the old secret keeps working (0: it stops now).
        #[arg(long, allow_negative_numbers = true)]
        overlap: i64,
    },
    /// Delete a client; its tokens stop working.
    Delete {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        client_id: String,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct LifetimeArgs {
    /// Access token lifetime, seconds (default 300).
    #[arg(long, allow_negative_numbers = true)]
    access_token_lifetime: Option<i64>,
    /// ID token lifetime, seconds (default 300).
    #[arg(long, allow_negative_numbers = true)]
    id_token_lifetime: Option<i64>,
    /// Refresh token absolute lifetime, seconds (default 30 days).
    #[arg(long, allow_negative_numbers = true)]
    refresh_token_absolute_lifetime: Option<i64>,
    /// Refresh token idle lifetime, seconds (default 7 days).
    #[arg(long, allow_negative_numbers = true)]
    refresh_token_idle_lifetime: Option<i64>,
    /// Seconds a rotated refresh token may be retried while its successor is unused (default 0).
    #[arg(long, allow_negative_numbers = true)]
    refresh_reuse_grace: Option<i64>,
}

impl LifetimeArgs {
    fn changes(&self) -> LifetimeChanges {
        LifetimeChanges {
            access_token_secs: self.access_token_lifetime,
            id_token_secs: self.id_token_lifetime,
            refresh_absolute_secs: self.refresh_token_absolute_lifetime,
            refresh_idle_secs: self.refresh_token_idle_lifetime,
            refresh_reuse_grace_secs: self.refresh_reuse_grace,
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The tenant (slug).
    #[arg(long)]
    tenant: String,
    client_id: String,
    /// Client secret (at least 16 characters); generated when omitted.
    #[arg(long, conflicts_with = "public")]
    secret: Option<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    /// A redirect URI, matched exactly (repeat for several).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long)]
    frontchannel_logout_uri: Option<String>,
    /// authorization_code, refresh_token, client_credentials (default: the first two).
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// Skip the consent page (the tenant's own application).
    #[arg(long)]
    first_party: bool,
    /// client_secret_basic (default), client_secret_post, private_key_jwt, none.
    #[arg(long)]
    token_endpoint_auth_method: Option<String>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    id_token_signed_response_alg: Option<String>,
    /// JWK Set (JSON) with the client's public keys, for private_key_jwt.
    #[arg(long)]
    jwks: Option<String>,
    /// Refuse token requests without a DPoP proof (RFC 9449 §5.2 dpop_bound_access_tokens).
    #[arg(long)]
    dpop_bound_access_tokens: bool,
    #[command(flatten)]
    lifetimes: LifetimeArgs,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The tenant (slug).
    #[arg(long)]
    tenant: String,
    client_id: String,
    /// Replace the redirect URIs with these (repeat for several).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Replace the post-logout redirect URIs with these (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// New back-channel logout URI ('' removes it).
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// New front-channel logout URI ('' removes it).
    #[arg(long)]
    frontchannel_logout_uri: Option<String>,
    /// Whether the client skips the consent page.
    #[arg(long)]
    first_party: Option<bool>,
    #[command(flatten)]
    lifetimes: LifetimeArgs,
}

const COLUMNS: &[Column] = &[
    ("CLIENT_ID", "client_id", Cell::Text),
    ("AUTH", "token_endpoint_auth_method", Cell::Text),
    ("DISABLED", "disabled", Cell::Text),
    ("FIRST_PARTY", "first_party", Cell::Text),
    ("REDIRECT_URIS", "redirect_uris", Cell::Text),
    ("BACKCHANNEL", "backchannel_logout_uri", Cell::Text),
];

fn optional(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| (!s.is_empty()).then_some(s))
}

fn replace(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

pub async fn run(ctx: &Ctx, cmd: ClientCmd) -> anyhow::Result<()> {
    let state = &ctx.state;
    match cmd {
        ClientCmd::Create(a) => {
            let t = ctx.tenant(&a.tenant).await?;
            let c = NewClient {
                client_id: a.client_id,
                secret: a.secret,
                public: a.public || a.token_endpoint_auth_method.as_deref() == Some("none"),
                auth_method: a.token_endpoint_auth_method,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                backchannel_logout_uri: a.backchannel_logout_uri,
                frontchannel_logout_uri: a.frontchannel_logout_uri,
                grant_types: a.grant_types,
                first_party: a.first_party,
                id_token_alg: a.id_token_signed_response_alg,
                jwks: a.jwks,
                lifetimes: a.lifetimes.changes().apply(&Lifetimes::default()),
                dpop_bound_access_tokens: a.dpop_bound_access_tokens,
            };
            print_json(
                &clients::register_client(state, &t, c, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        ClientCmd::List { tenant, output } => {
            let t = ctx.tenant(&tenant).await?;
            let list = clients::list_clients(state, &t).await.map_err(m)?;
            print_list(&list, COLUMNS, output.format())
        }
        ClientCmd::Show {
            tenant,
            client_id,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let c = clients::show_client(state, &t, &client_id)
                .await
                .map_err(m)?;
            print_object(&c, output.format())
        }
        ClientCmd::Update(a) => {
            let t = ctx.tenant(&a.tenant).await?;
            let changes = ClientChanges {
                redirect_uris: replace(a.redirect_uris),
                post_logout_redirect_uris: replace(a.post_logout_redirect_uris),
                backchannel_logout_uri: optional(a.backchannel_logout_uri),
                frontchannel_logout_uri: optional(a.frontchannel_logout_uri),
                first_party: a.first_party,
                lifetimes: a.lifetimes.changes(),
            };
            print_json(
                &clients::update_client(state, &t, &a.client_id, changes, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        ClientCmd::Disable { tenant, client_id } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = clients::set_client_disabled(state, &t, &client_id, true, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "disabled": client_id, "changed": changed }))
        }
        ClientCmd::Enable { tenant, client_id } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = clients::set_client_disabled(state, &t, &client_id, false, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "enabled": client_id, "changed": changed }))
        }
        ClientCmd::RotateSecret {
            tenant,
            client_id,
            overlap,
        } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &clients::rotate_secret(state, &t, &client_id, overlap, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        ClientCmd::Delete { tenant, client_id } => {
            let t = ctx.tenant(&tenant).await?;
            clients::delete_client(state, &t, &client_id, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "deleted": client_id }))
        }
    }
}
