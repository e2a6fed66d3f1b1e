//! The authorization request as Lanyard remembers it while the user signs in, consents or
//! answers a second-factor or session-limit page, and its server-side progress.

use crate::clock::UnixTime;
use serde::{Deserialize, Serialize};

/// Pending authorization requests expire if the user does not finish within this time.
pub const REQUEST_TTL_SECS: i64 = 30 * 60;

/// A validated authorization request, remembered while the user logs in or consents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    pub acr_values: Option<String>,
    /// The `claims` parameter (OIDC Core §5.5), validated; Lanyard acts on its `acr` member.
    #[serde(default)]
    pub claims: Option<String>,
    /// RFC 9449 §10: the thumbprint of the key the code is to be bound to.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    #[serde(default)]
    pub progress: Progress,
    /// A sign-in for the account portal, not for a relying party: it ends back on this portal
    /// page instead of issuing a code. Set only by [`super::start_portal_sign_in`]; the way back
    /// is a fixed path, never a URL from the request (no open redirect).
    #[serde(default)]
    pub portal: Option<PortalReturn>,
}

/// Where a portal sign-in returns to: a page of the portal, by name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PortalReturn {
    Account,
    Security,
    /// The tenant admin area (`/t/{tenant}/admin`): signs in as [`crate::model::ADMIN_CLIENT_ID`],
    /// so a client-layer policy on that id (e.g. `require_mfa`) governs admins' sign-ins.
    Admin,
}

impl PortalReturn {
    pub fn path(self, tenant_slug: &str) -> String {
        match self {
            Self::Account => format!("/t/{tenant_slug}/account"),
            Self::Security => format!("/t/{tenant_slug}/account/security"),
            Self::Admin => format!("/t/{tenant_slug}/admin"),
        }
    }
}

impl AuthRequest {
    /// What the sign-in page says the user continues to.
    pub fn shown_client(&self) -> &str {
        match self.portal {
            Some(PortalReturn::Admin) => "the admin area",
            Some(_) => "your account",
            None => &self.client_id,
        }
    }

    /// The `acr` member of the `claims` parameter (validated when the request arrived).
    pub fn claims_acr(&self) -> Option<crate::session::stepup::ClaimsAcr> {
        self.claims
            .as_deref()
            .and_then(|c| crate::session::stepup::parse_claims_acr(c).ok().flatten())
    }

    /// Whether the relying party names levels by number (`1`, `2`).
    pub fn numeric_acr(&self) -> bool {
        crate::session::stepup::asks_numeric(self.acr_values.as_deref(), self.claims_acr().as_ref())
    }
}

/// Where a remembered request stands (enforced by the server, never passed as a form flag).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Progress {
    /// The session (internal id) whose login step completed in this request.
    pub authenticated_session: Option<String>,
    /// An admission waiting for the user ("ask": choose sessions to end).
    pub pending: Option<Pending>,
}

/// A step the user must complete on a page of its own: choose a session to end, enter a second
/// factor, enrol one. Bound to the browser that authenticated by a secret cookie (stored hashed),
/// and short-lived.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub kind: PendingKind,
    pub secret_hash: String,
    pub must_end: usize,
    pub limit: u32,
    pub at: UnixTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingKind {
    /// The password was verified; the session is created once the user has chosen.
    Login {
        user_id: String,
        acr: String,
        amr: Vec<String>,
        #[serde(default)]
        mfa_at: Option<UnixTime>,
    },
    /// A live session joining a client limited per (user, client).
    Join { session_id: String },
    /// The second factor is asked: after the password (`session_id` None), or to step up the
    /// browser's live session.
    SecondFactor {
        user_id: String,
        session_id: Option<String>,
    },
    /// A second factor is being enrolled (the policy requires one and the user has none).
    Enrol {
        user_id: String,
        session_id: Option<String>,
        factor_id: String,
    },
    /// Enrolled and verified at `mfa_at`; the recovery codes were shown and the user continues.
    Enrolled {
        user_id: String,
        session_id: Option<String>,
        mfa_at: UnixTime,
    },
    /// The password was verified, but the user must choose a new one first (they reported a
    /// sign-in as not theirs).
    PasswordChange { user_id: String },
}

/// A pending admission older than this is refused (the user signs in again).
pub const PENDING_TTL_SECS: i64 = 10 * 60;

/// Scopes Lanyard knows; others are ignored (RFC 6749 §3.3 lets the server narrow the scope).
pub(super) const KNOWN_SCOPES: &[&str] =
    &["openid", "profile", "email", "offline_access", "groups"];
