//! sea-orm entities, one per table of `lanyard-migrations`. Only `store/` sees them.
//!
//! Models holding secrets (password hashes, client secret hashes, private keys) redact them in
//! `Debug` (STYLE.md rule 12).

macro_rules! entity {
    ($module:ident, $table:tt, debug = $debug:tt, { $($field:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;
            entity!(@model $table, $debug, { $($field)* });
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}
            impl ActiveModelBehavior for ActiveModel {}
        }
    };
    (@model $table:tt, derive, { $($field:tt)* }) => {
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model { $($field)* }
    };
    (@model $table:tt, redacted, { $($field:tt)* }) => {
        #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model { $($field)* }
        impl std::fmt::Debug for Model {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(***)", $table)
            }
        }
    };
}

entity!(setting, "settings", debug = redacted, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub value: String,
});

entity!(tenant, "tenants", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
});

entity!(user, "users", debug = redacted, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub password_hash: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the user reported a sign-in as not theirs: the next login asks for a new one.
    pub must_change_password: bool,
    /// UTS #39 skeleton of `username`, unique per tenant (migration 000013).
    pub username_skeleton: String,
});

entity!(client, "clients", debug = redacted, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub auth_method: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub id_token_alg: String,
    pub jwks: Option<String>,
    pub first_party: bool,
    pub lifetimes: String,
    pub created_at: i64,
    pub disabled: bool,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_until: Option<i64>,
    /// RFC 9449 §5.2: token requests without a DPoP proof are refused.
    pub dpop_bound_access_tokens: bool,
});

entity!(signing_key, "signing_keys", debug = redacted, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub tenant_id: String,
    pub alg: String,
    pub private_jwk: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub activate_at: i64,
    pub retire_at: Option<i64>,
    pub remove_at: Option<i64>,
});

entity!(device, "devices", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub token_hash: String,
    pub user_agent: String,
    pub browser: String,
    pub os: String,
    pub name: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub last_ip: String,
    pub trust: String,
    pub logins_ok: i32,
    pub logins_failed: i32,
    pub country_changes: i32,
    pub last_country: Option<String>,
    pub posture: Option<String>,
    /// personal | shared | kiosk (migration 000008).
    pub category: String,
});

entity!(session, "sessions", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub sid: String,
    pub cookie_hash: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub idle_deadline: i64,
    pub absolute_deadline: i64,
    pub state: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub end_batch: Option<String>,
    pub mode: String,
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
    pub scheduled_end_at: Option<i64>,
    pub policy_snapshot: String,
    pub country: Option<String>,
    pub mode_reason: Option<String>,
    pub mfa_at: Option<i64>,
    pub binding_alert: Option<String>,
    pub geo_lat_e6: Option<i64>,
    pub geo_lon_e6: Option<i64>,
    pub geo_at: Option<i64>,
    pub seen_ctx: Option<String>,
    pub seen_ctx_at: Option<i64>,
});

entity!(session_participant, "session_participants", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub session_id: String,
    pub client_id: String,
    pub first_at: i64,
    pub last_at: i64,
});

entity!(auth_request, "auth_requests", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub params: String,
    pub created_at: i64,
    pub expires_at: i64,
});

entity!(auth_code, "auth_codes", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub tenant_id: String,
    pub client_id: String,
    pub session_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: String,
    pub family_id: Option<String>,
    pub access_jti: Option<String>,
    /// RFC 9449 §10: the `dpop_jkt` of the authorization request.
    pub dpop_jkt: Option<String>,
});

entity!(refresh_family, "refresh_families", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub session_id: Option<String>,
    pub user_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub state: String,
    pub created_at: i64,
    pub absolute_deadline: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    /// Granted `offline_access`: outlives its session's logout and timeouts (migration 000010).
    pub offline: bool,
    /// RFC 9449 §5: the key a public client's refresh tokens are bound to.
    pub dpop_jkt: Option<String>,
});

entity!(refresh_token, "refresh_tokens", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub tenant_id: String,
    pub family_id: String,
    pub generation: i64,
    pub state: String,
    pub created_at: i64,
    pub idle_deadline: i64,
    pub rotated_at: Option<i64>,
});

entity!(access_token, "access_tokens", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    pub tenant_id: String,
    pub client_id: String,
    pub session_id: Option<String>,
    pub family_id: Option<String>,
    pub expires_at: i64,
    pub revoked: bool,
});

entity!(dpop_proof, "dpop_proofs", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub proof_hash: String,
    pub expires_at: i64,
});

entity!(audit_event, "audit_events", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub at_ms: i64,
    pub kind: String,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub actor: String,
    pub outcome: String,
    pub detail: String,
});

entity!(outbox, "outbox", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub session_id: String,
    pub client_id: String,
    pub target: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub lease_until_ms: Option<i64>,
    pub leased_by: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
});

entity!(login_throttle, "login_throttle", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
});

entity!(admin_token, "admin_tokens", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub token_hash: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub revoked: bool,
});

entity!(policy_layer, "policy_layers", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub subject: String,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
});

entity!(policy_setting, "policy_settings", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub layer_id: String,
    pub key: String,
    pub value: String,
});

entity!(group, "groups", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
});

entity!(group_member, "group_members", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub group_name: String,
    pub user_id: String,
});

entity!(user_attribute, "user_attributes", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub key: String,
    pub value: String,
});

entity!(user_factor, "user_factors", debug = redacted, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub kind: String,
    pub state: String,
    pub secret: String,
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub used_at: Option<i64>,
});

entity!(mail_link, "mail_links", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub purpose: String,
    pub user_id: String,
    pub session_id: String,
    pub device_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
});

entity!(tenant_mail_settings, "tenant_mail_settings", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub mail_from: Option<String>,
    pub admin_email: Option<String>,
    pub updated_at: i64,
});

entity!(tenant_admin, "tenant_admins", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub granted_by: String,
    pub granted_at: i64,
});

entity!(user_preference, "user_preferences", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub tenant_id: String,
    pub zoneinfo: Option<String>,
    pub updated_at: i64,
});

entity!(account_lock, "account_locks", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub tenant_id: String,
    pub locked_at: i64,
    /// None: until an administrator unlocks.
    pub locked_until: Option<i64>,
    pub reason: String,
    pub actor: String,
});

entity!(tenant_security, "tenant_security", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// JSON: the response chains (`session::chain`).
    pub response_chains: String,
    /// JSON: the login-throttle thresholds (`throttle::ThrottlePolicy`).
    pub login_throttle: String,
    pub updated_at: i64,
});

entity!(signal_occurrence, "signal_occurrences", debug = derive, {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub signal: String,
    pub at: i64,
});
