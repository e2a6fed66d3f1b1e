//! Responses shared by endpoints: OAuth JSON errors, redirected authorization errors, rendered
//! error pages, and redirects.

use crate::error::{Error, Rejection};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde_json::json;

/// `Cache-Control: no-store` on anything carrying tokens or errors about them (RFC 6749 §5.1).
pub fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "cache-control",
        poem::http::HeaderValue::from_static("no-store"),
    );
    h.insert("pragma", poem::http::HeaderValue::from_static("no-cache"));
    r
}

pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// RFC 6749 §5.2 error response. `basic_challenge` adds `WWW-Authenticate` on 401 (§5.2: required
/// when the client attempted authentication via the Authorization header).
pub fn oauth_json(rej: &Rejection, basic_challenge: bool) -> Response {
    let e = rej.oauth();
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json(
        status,
        &json!({ "error": e.error, "error_description": e.description }),
    );
    if status == StatusCode::UNAUTHORIZED && basic_challenge {
        r.headers_mut().insert(
            "www-authenticate",
            poem::http::HeaderValue::from_static("Basic realm=\"lanyard\", charset=\"UTF-8\""),
        );
    }
    no_store(r)
}

/// A throttled client (`Rejection::ClientThrottled`): 429 with `Retry-After` in seconds
/// (RFC 6585 §4, RFC 9110 §10.2.3); the description says when, too.
pub fn throttled(retry_after: i64) -> Response {
    let e = Rejection::ClientThrottled.oauth();
    let secs = retry_after.max(1);
    let mut r = json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({
            "error": e.error,
            "error_description": format!("Too many failed client authentications. Retry after {secs} seconds."),
        }),
    );
    if let Ok(v) = poem::http::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(poem::http::header::RETRY_AFTER, v);
    }
    no_store(r)
}

/// RFC 6750 §3 error for protected resources (userinfo).
pub fn bearer_error(rej: &Rejection) -> Response {
    let e = rej.oauth();
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let challenge = format!(
        "Bearer error=\"{}\", error_description=\"{}\"",
        e.error, e.description
    );
    let mut r = json(
        status,
        &json!({ "error": e.error, "error_description": e.description }),
    );
    if let Ok(v) = poem::http::HeaderValue::from_str(&challenge) {
        r.headers_mut().insert("www-authenticate", v);
    }
    no_store(r)
}

/// `Retry-After` in seconds (RFC 9110 §10.2.3) on a 503 while the store is unavailable.
pub fn with_store_retry_after(mut r: Response) -> Response {
    r.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from(crate::error::STORE_RETRY_AFTER_SECS),
    );
    r
}

/// The JSON answer while the store is unreachable: 503 (RFC 9110 §15.6.4) with `Retry-After`,
/// error `temporarily_unavailable` (the RFC 6749 §4.1.2.1 code; §5.2 has none for the token
/// endpoint, whose clients read the status), never a verdict on what the request named.
pub fn store_unavailable() -> Response {
    let e = Rejection::Unavailable.oauth();
    with_store_retry_after(no_store(json(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "error": e.error, "error_description": e.description }),
    )))
}

/// Internal failures are logged with detail and answered without it; an unreachable store is
/// [`store_unavailable`].
pub fn server_error(err: &Error) -> Response {
    if err.is_store_unavailable() {
        tracing::warn!(error = %err, "store unavailable");
        return store_unavailable();
    }
    tracing::error!(error = %err, "request failed");
    no_store(json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "error": "server_error", "error_description": "The server encountered an error." }),
    ))
}

pub fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .header("cache-control", "no-store")
        .finish()
}

/// An authorization response or error sent back to a validated redirect URI (query mode),
/// with RFC 9207 `iss`.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            redirect(u.as_str())
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// A page whose form's submission hands off to a client at `target` (a redirect URI or a
/// post-logout redirect URI): its CSP `form-action` names that origin too
/// (`headers::decide_form_action`). Every other page keeps the default `form-action 'self'`.
pub fn hand_off(mut r: Response, target: Option<&str>) -> Response {
    let csp = crate::http::headers::csp_handing_off_to(target);
    if let Ok(v) = poem::http::HeaderValue::from_str(&csp) {
        r.headers_mut().insert("content-security-policy", v);
    }
    r
}

pub fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(body)
}
