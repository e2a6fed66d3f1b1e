//! One OAuth error type and one mapping table (STYLE.md rule 7).
//!
//! Domain code returns a [`Rejection`] named by its cause; [`Rejection::oauth`] maps each cause to
//! the RFC 6749 §5.2 / OIDC Core §3.1.2.6 error code, the HTTP status and a fixed description that
//! never echoes input. Whether an authorization error may be redirected is decided by the
//! authorization pipeline (only after the client and redirect URI are validated).

use thiserror::Error;

/// Why a request was refused, named by cause.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("parameter repeated: {0}")]
    DuplicateParameter(&'static str),
    #[error("unknown client")]
    UnknownClient,
    #[error("client authentication failed")]
    ClientAuthFailed,
    #[error("client authentication method not allowed")]
    ClientAuthMethodNotAllowed,
    /// Too many failed authentications of this client_id: refused before the credentials are
    /// looked at, for the seconds in `Retry-After` (ADR 0013).
    #[error("client authentication throttled")]
    ClientThrottled,
    #[error("grant type not allowed for client")]
    UnauthorizedGrant,
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    #[error("unsupported response type")]
    UnsupportedResponseType,
    #[error("invalid scope")]
    InvalidScope,
    #[error("code unknown, expired or redeemed")]
    CodeInvalid,
    #[error("code replayed")]
    CodeReplayed,
    #[error("code issued to another client")]
    ClientMismatch,
    #[error("redirect_uri does not match the authorization request")]
    RedirectMismatch,
    #[error("PKCE verification failed")]
    PkceFailed,
    #[error("PKCE required")]
    PkceRequired,
    #[error("refresh token unknown or expired")]
    RefreshInvalid,
    #[error("refresh token replayed")]
    RefreshReplayed,
    #[error("session ended")]
    SessionEnded,
    #[error("user not active")]
    UserInactive,
    #[error("login required")]
    LoginRequired,
    #[error("consent required")]
    ConsentRequired,
    #[error("invalid access token")]
    InvalidToken,
    #[error("request object not supported")]
    RequestNotSupported,
    #[error("request_uri not supported")]
    RequestUriNotSupported,
    #[error("registration not supported")]
    RegistrationNotSupported,
    #[error("access denied")]
    AccessDenied,
    #[error("temporarily unavailable")]
    Unavailable,
    /// The requested authentication level cannot be met (an essential `acr` the user cannot
    /// reach, or one Lanyard does not offer).
    #[error("unmet authentication requirements")]
    UnmetAuthentication,
    /// The session must be re-authenticated (binding mismatch, step-up now required) before
    /// it issues anything new.
    #[error("re-authentication required")]
    ReauthRequired,
    /// RFC 9449 §4.3: the DPoP proof failed a check (the cause is audited, not answered).
    #[error("invalid DPoP proof")]
    DpopProofInvalid,
    /// RFC 9449 §8, §9: the server requires a nonce; the answer carries one in `DPoP-Nonce`.
    #[error("DPoP nonce required")]
    DpopNonceRequired,
    /// RFC 9449 §5, §5.2, §10.1: the client or the grant requires a DPoP proof and none came.
    #[error("DPoP proof required")]
    DpopProofRequired,
    /// RFC 9449 §5, §10.1: the grant is bound to another key than the proof's.
    #[error("grant bound to another DPoP key")]
    DpopKeyMismatch,
}

/// The wire form of a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: &'static str,
    pub status: u16,
}

impl Rejection {
    /// The one mapping table from cause to protocol error.
    pub fn oauth(&self) -> OAuthError {
        use Rejection::*;
        let (error, description, status) = match self {
            Malformed(_) => (
                "invalid_request",
                "The request is missing a required parameter or is malformed.",
                400,
            ),
            DuplicateParameter(_) => (
                "invalid_request",
                "A parameter was included more than once.",
                400,
            ),
            UnknownClient | ClientAuthFailed | ClientAuthMethodNotAllowed => {
                ("invalid_client", "Client authentication failed.", 401)
            }
            // RFC 6749 §5.2 has no throttle code: the failure is the client's authentication,
            // so `invalid_client`, with RFC 6585 §4's 429 and Retry-After (ADR 0013).
            ClientThrottled => (
                "invalid_client",
                "Too many failed client authentications. Retry after the number of seconds in the Retry-After header.",
                429,
            ),
            UnauthorizedGrant => (
                "unauthorized_client",
                "The client is not allowed to use this grant type.",
                400,
            ),
            UnsupportedGrantType => (
                "unsupported_grant_type",
                "The grant type is not supported.",
                400,
            ),
            UnsupportedResponseType => (
                "unsupported_response_type",
                "Only response_type=code is supported.",
                400,
            ),
            InvalidScope => ("invalid_scope", "The requested scope is invalid.", 400),
            CodeInvalid | CodeReplayed | ClientMismatch | RedirectMismatch => (
                "invalid_grant",
                "The authorization code is invalid, expired or already used.",
                400,
            ),
            PkceFailed => ("invalid_grant", "PKCE verification failed.", 400),
            PkceRequired => (
                "invalid_request",
                "PKCE with code_challenge_method=S256 is required.",
                400,
            ),
            RefreshInvalid | RefreshReplayed | SessionEnded | UserInactive => (
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.",
                400,
            ),
            LoginRequired => ("login_required", "The user must authenticate.", 400),
            ConsentRequired => ("consent_required", "The user must consent.", 400),
            InvalidToken => (
                "invalid_token",
                "The access token is invalid, expired or revoked.",
                401,
            ),
            RequestNotSupported => (
                "request_not_supported",
                "Request objects are not supported.",
                400,
            ),
            RequestUriNotSupported => (
                "request_uri_not_supported",
                "request_uri is not supported.",
                400,
            ),
            RegistrationNotSupported => (
                "registration_not_supported",
                "The registration parameter is not supported.",
                400,
            ),
            AccessDenied => (
                "access_denied",
                "The resource owner denied the request.",
                400,
            ),
            Unavailable => (
                "temporarily_unavailable",
                "The server is temporarily unavailable.",
                503,
            ),
            // OpenID Connect Core Unmet Authentication Requirements 1.0 §3.
            UnmetAuthentication => (
                "unmet_authentication_requirements",
                "The requested authentication requirements cannot be met.",
                400,
            ),
            ReauthRequired => (
                "invalid_grant",
                "The user must authenticate again at the authorization endpoint.",
                400,
            ),
            // RFC 9449 §5 and §12.2 (token endpoint); a protected resource answers 401 (§7.1).
            DpopProofInvalid => ("invalid_dpop_proof", "The DPoP proof is invalid.", 400),
            DpopProofRequired => (
                "invalid_dpop_proof",
                "A DPoP proof is required for this request.",
                400,
            ),
            DpopNonceRequired => (
                "use_dpop_nonce",
                "Use the nonce in the DPoP-Nonce header in the DPoP proof.",
                400,
            ),
            DpopKeyMismatch => (
                "invalid_grant",
                "The grant is bound to another DPoP key.",
                400,
            ),
        };
        OAuthError {
            error,
            description,
            status,
        }
    }
}

/// Failures that are not the client's fault: storage, crypto, configuration.
#[derive(Debug, Error)]
pub enum Internal {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("jose: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Other(String),
}

/// A protocol rejection, the outcome of an administrative operation that cannot be carried
/// out as asked (named by cause, so the CLI, the API and the pages map them without reading
/// messages), or an internal failure.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The input is not acceptable (a message for the person who sent it).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The store cannot be reached right now (connection or pool failure,
    /// [`crate::store::is_unavailable`]): nothing can be said about what exists, so every
    /// endpoint answers 503 with `Retry-After` (RFC 9110 §15.6.4, §10.2.3), never "not found".
    #[error("store unavailable: {0}")]
    StoreUnavailable(sea_orm::DbErr),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Seconds a client is asked to wait (`Retry-After`) while the store is unavailable: long enough
/// not to hammer a recovering database, short enough for a pool reconnect or a fail-over.
pub const STORE_RETRY_AFTER_SECS: u64 = 5;

impl Error {
    /// Whether this is [`Error::StoreUnavailable`]: the answer is 503, never a verdict.
    pub fn is_store_unavailable(&self) -> bool {
        matches!(self, Error::StoreUnavailable(_))
    }
}

/// The one classification of database errors: unreachable store, or an internal failure.
impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::is_unavailable(&e) {
            Error::StoreUnavailable(e)
        } else {
            Error::Internal(Internal::Db(e))
        }
    }
}
impl From<josekit::JoseError> for Error {
    fn from(e: josekit::JoseError) -> Self {
        Error::Internal(Internal::Jose(e))
    }
}
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(Internal::Json(e))
    }
}

pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

pub fn not_found(msg: impl Into<String>) -> Error {
    Error::NotFound(msg.into())
}

pub fn conflict(msg: impl Into<String>) -> Error {
    Error::Conflict(msg.into())
}

pub fn internal(msg: impl Into<String>) -> Error {
    Error::Internal(Internal::Other(msg.into()))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_client_is_429_invalid_client() {
        let e = Rejection::ClientThrottled.oauth();
        assert_eq!((e.error, e.status), ("invalid_client", 429));
        assert!(e.description.contains("Retry-After"));
    }

    #[test]
    fn client_failures_are_401_invalid_client() {
        for r in [Rejection::UnknownClient, Rejection::ClientAuthFailed] {
            assert_eq!(r.oauth().error, "invalid_client");
            assert_eq!(r.oauth().status, 401);
        }
    }

    #[test]
    fn grant_failures_are_400_invalid_grant() {
        for r in [
            Rejection::CodeReplayed,
            Rejection::RefreshReplayed,
            Rejection::PkceFailed,
            Rejection::SessionEnded,
        ] {
            assert_eq!(r.oauth().error, "invalid_grant");
            assert_eq!(r.oauth().status, 400);
        }
    }

    #[test]
    fn connection_and_pool_failures_are_store_unavailable() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlxError};
        for e in [
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::Internal("refused".into())),
            DbErr::Query(RuntimeErr::SqlxError(SqlxError::PoolClosed)),
            DbErr::Exec(RuntimeErr::SqlxError(SqlxError::PoolTimedOut)),
            DbErr::Query(RuntimeErr::SqlxError(SqlxError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))),
        ] {
            let shown = e.to_string();
            assert!(Error::from(e).is_store_unavailable(), "{shown}");
        }
        for e in [
            DbErr::RecordNotFound("x".into()),
            DbErr::Query(RuntimeErr::SqlxError(SqlxError::RowNotFound)),
            DbErr::Exec(RuntimeErr::Internal("syntax".into())),
            DbErr::Custom("x".into()),
        ] {
            let shown = e.to_string();
            assert!(
                matches!(Error::from(e), Error::Internal(Internal::Db(_))),
                "{shown}"
            );
        }
    }

    #[test]
    fn descriptions_never_echo_input() {
        let d = Rejection::Malformed("redirect_uri").oauth().description;
        assert!(!d.contains("redirect_uri"));
    }
}
