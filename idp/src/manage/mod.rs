//! Administrative operations shared by the CLI, the admin API and demo seeding: tenants, users,
//! clients, signing keys and admin tokens, session governance (policy layers, groups,
//! attributes, cohorts, exports), and revocations (which all go through the termination
//! path). Every operation returns a [`ManageError`] named by what went wrong, so each surface maps
//! it once (the CLI to one line, the admin API to 404 / 409 / 400 / 500).

pub mod admins;
pub mod client_metadata;
pub mod clients;
pub mod dashboard;
pub mod demo;
pub mod directory;
pub mod governance;
pub mod mail;
pub mod revocation;
pub mod security;
pub mod sessions;
pub mod tenants;
pub mod tokens;
pub mod users;

pub use clients::{create_client, CreatedClient, NewClient};
pub use demo::seed_demo;
pub use revocation::{
    disable_user, enable_user, retry_delivery, revoke_device, revoke_session,
    revoke_tenant_sessions, revoke_user_sessions,
};
pub use tenants::{create_tenant, set_policy, tenant, valid_slug, CreatedTenant};
pub use tokens::{create_admin_token, rotate_keys, RotatedKey};
pub use users::{create_user, CreatedUser};

use crate::error::Error;

/// Why an administrative operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The named thing does not exist (in this tenant). An empty `kind` means `name` is the
    /// whole message (from a service).
    #[error("{}", not_found_message(kind, name))]
    NotFound { kind: &'static str, name: String },
    /// It would clash with what exists (a second tenant, user or client of that name).
    #[error("{0}")]
    Conflict(String),
    /// The input is wrong; the message says how, for a person to fix it.
    #[error("{0}")]
    Invalid(String),
    /// A client registration's metadata breaks a rule (RFC 7591 §3.2.2 `invalid_client_metadata`).
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// Storage, crypto or another failure that is not the caller's fault.
    #[error(transparent)]
    Internal(Error),
}

/// Service errors keep their cause: a service's "not found" is a manage "not found".
impl From<Error> for ManageError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(m) => ManageError::NotFound { kind: "", name: m },
            Error::Conflict(m) => ManageError::Conflict(m),
            Error::Invalid(m) => ManageError::Invalid(m),
            other => ManageError::Internal(other),
        }
    }
}

/// And back: a page showing a manage operation's outcome maps it as the service's own.
impl From<ManageError> for Error {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound { .. } => Error::NotFound(e.to_string()),
            ManageError::Conflict(m) => Error::Conflict(m),
            ManageError::Invalid(m) | ManageError::InvalidClientMetadata(m) => Error::Invalid(m),
            ManageError::Internal(inner) => inner,
        }
    }
}

pub type Result<T, E = ManageError> = std::result::Result<T, E>;

fn not_found_message(kind: &str, name: &str) -> String {
    if kind.is_empty() {
        name.to_string()
    } else {
        format!("no {kind} '{name}'")
    }
}

impl ManageError {
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> ManageError {
    ManageError::Invalid(msg.into())
}

pub(crate) fn conflict(msg: impl Into<String>) -> ManageError {
    ManageError::Conflict(msg.into())
}

impl From<sea_orm::DbErr> for ManageError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(e.into())
    }
}

impl From<serde_json::Error> for ManageError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<josekit::JoseError> for ManageError {
    fn from(e: josekit::JoseError) -> Self {
        Self::Internal(e.into())
    }
}

/// Turn an error into the one line a CLI user should see.
pub fn describe(e: &ManageError) -> String {
    match e {
        ManageError::Internal(Error::Internal(crate::error::Internal::Other(m))) => m.clone(),
        other => other.to_string(),
    }
}
