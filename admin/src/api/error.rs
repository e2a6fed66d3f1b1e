//! The admin API's one error shape: `{"error": CODE, "message": TEXT}` with the status that fits,
//! mapped once from `manage::ManageError` (never by reading its message). Failures poem itself
//! raises before a handler runs (missing bearer token, an unparsable parameter, an unknown path)
//! get the same JSON body through [`json_errors`].

use lanyard_idp::manage::{self, ManageError};
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

#[derive(Object, Debug, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable: unauthorized, forbidden, not_found, conflict, invalid_request,
    /// server_error, temporarily_unavailable.
    pub error: String,
    /// For a person.
    pub message: String,
}

#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The input is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such tenant (or not one this token may see), user, client, session or token.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// It already exists, or changed meanwhile.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database cannot be reached right now: retry after the seconds in `Retry-After`.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

/// RFC 9110 §15.6.4 and §10.2.3: an unreachable store is 503 with `Retry-After`, never an
/// answer about what exists.
pub fn unavailable() -> ApiError {
    ApiError::Unavailable(
        Json(ErrorBody {
            error: "temporarily_unavailable".into(),
            message:
                "the database cannot be reached right now; retry after the seconds in Retry-After"
                    .into(),
        }),
        lanyard_idp::error::STORE_RETRY_AFTER_SECS,
    )
}

pub fn err(
    kind: fn(Json<ErrorBody>) -> ApiError,
    error: &str,
    message: impl Into<String>,
) -> ApiError {
    kind(Json(ErrorBody {
        error: error.into(),
        message: message.into(),
    }))
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match &e {
            ManageError::NotFound { .. } => err(ApiError::NotFound, "not_found", e.to_string()),
            ManageError::Conflict(m) => err(ApiError::Conflict, "conflict", m.clone()),
            ManageError::Invalid(m) => err(ApiError::BadRequest, "invalid_request", m.clone()),
            ManageError::InvalidClientMetadata(m) => {
                err(ApiError::BadRequest, "invalid_client_metadata", m.clone())
            }
            ManageError::Internal(inner) if inner.is_store_unavailable() => {
                tracing::warn!(error = %inner, "admin api: store unavailable");
                unavailable()
            }
            ManageError::Internal(inner) => {
                tracing::error!(error = %manage::describe(&e), detail = ?inner, "admin api failure");
                err(ApiError::Internal, "server_error", "internal error")
            }
        }
    }
}

/// Session-service errors map by variant, exactly as manage errors do.
impl From<lanyard_idp::error::Error> for ApiError {
    fn from(e: lanyard_idp::error::Error) -> Self {
        ManageError::from(e).into()
    }
}

/// Give every error poem raises outside the handlers (bearer token missing, a parameter that does
/// not parse, an unknown path or method) the API's JSON error body.
pub fn json_errors(ep: impl Endpoint + 'static) -> impl Endpoint {
    ep.catch_all_error(|e: poem::Error| async move {
        // A handler's own `ApiError` arrives here as a response already: keep it as it is.
        if e.is_from_response() {
            return e.into_response();
        }
        let status = e.status();
        let code = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            s if s.is_client_error() => "invalid_request",
            _ => "server_error",
        };
        let message = if status == StatusCode::UNAUTHORIZED {
            // poem's text names the scheme only; say what to send.
            "missing or invalid admin token (Authorization: Bearer <admin token>)".to_string()
        } else if status.is_server_error() {
            tracing::error!(error = %e, "admin api failure");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        let body = ErrorBody {
            error: code.into(),
            message,
        };
        let mut r: Response = poem::web::Json(body).into_response();
        r.set_status(status);
        r
    })
}
