//! The OAuth 2.0 wire calls the scenarios repeat: client authentication, the token endpoint,
//! introspection (RFC 7662) and userinfo (OIDC Core §5.3), each mapped to a [`Failure`] whose
//! kind names the stage and the HTTP status / OAuth error code, never a per-request value.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use serde::Deserialize;

use crate::stats::Failure;
use crate::target::Target;

/// Longest piece of a response body quoted in a failure's detail.
const BODY_EXCERPT: usize = 300;

/// A registered client. Confidential clients authenticate with `client_secret_basic`;
/// public ones send `client_id` in the body (RFC 6749 §2.3.1, §3.2.1). `Debug` hides the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ClientCredentials {
    pub fn confidential(client_id: String, secret: String) -> Self {
        Self {
            client_id,
            secret: Some(secret),
        }
    }

    pub fn public(client_id: String) -> Self {
        Self {
            client_id,
            secret: None,
        }
    }

    /// Adds this client's authentication to a token-endpoint style request.
    fn authenticate(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        match &self.secret {
            Some(secret) => request.header(AUTHORIZATION, basic_auth(&self.client_id, secret)),
            None => {
                form.push(("client_id", self.client_id.clone()));
                request
            }
        }
    }
}

/// `client_secret_basic`: RFC 6749 §2.3.1 form-encodes id and secret before Base64.
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// The fields of a successful token response (RFC 6749 §5.1) the bench looks at.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

/// POSTs `form` to the token endpoint as `client`; `stage` names the call in failures.
pub async fn token_request(
    target: &Target,
    client: &ClientCredentials,
    mut form: Vec<(&'static str, String)>,
    stage: &str,
) -> Result<TokenResponse, Failure> {
    let request = target
        .http
        .post(target.endpoints.token.clone())
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    let request = client.authenticate(request, &mut form);
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| transport_failure(stage, &e))?;
    if !response.status().is_success() {
        return Err(failure_from_response(stage, response).await);
    }
    let tokens: TokenResponse = response
        .json()
        .await
        .map_err(|e| Failure::with_detail(format!("{stage}: bad JSON"), format!("{stage}: {e}")))?;
    if tokens.access_token.is_empty() {
        return Err(Failure::new(format!("{stage}: empty access_token")));
    }
    Ok(tokens)
}

/// `grant_type=client_credentials`, no scope: the client's default.
pub async fn client_credentials(
    target: &Target,
    client: &ClientCredentials,
) -> Result<TokenResponse, Failure> {
    let form = vec![("grant_type", "client_credentials".to_owned())];
    token_request(target, client, form, "client_credentials").await
}

#[derive(Deserialize)]
struct IntrospectionResponse {
    active: bool,
}

/// Introspects `token` as `client` and insists the answer is `active: true` (RFC 7662 §2.2).
pub async fn introspect(
    target: &Target,
    client: &ClientCredentials,
    token: &str,
) -> Result<(), Failure> {
    const STAGE: &str = "introspect";
    let Some(endpoint) = target.endpoints.introspection.clone() else {
        return Err(Failure::new("provider has no introspection_endpoint"));
    };
    let mut form = vec![
        ("token", token.to_owned()),
        ("token_type_hint", "access_token".to_owned()),
    ];
    let request = target
        .http
        .post(endpoint)
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    let response = client
        .authenticate(request, &mut form)
        .form(&form)
        .send()
        .await
        .map_err(|e| transport_failure(STAGE, &e))?;
    if !response.status().is_success() {
        return Err(failure_from_response(STAGE, response).await);
    }
    let answer: IntrospectionResponse = response
        .json()
        .await
        .map_err(|e| Failure::with_detail("introspect: bad JSON", format!("introspect: {e}")))?;
    if answer.active {
        Ok(())
    } else {
        Err(Failure::new("introspect: token reported inactive"))
    }
}

#[derive(Deserialize)]
struct UserinfoResponse {
    sub: String,
}

/// GETs userinfo with `access_token` as a Bearer token and checks a `sub` comes back.
pub async fn userinfo(target: &Target, access_token: &str) -> Result<(), Failure> {
    const STAGE: &str = "userinfo";
    let Some(endpoint) = target.endpoints.userinfo.clone() else {
        return Err(Failure::new("provider has no userinfo_endpoint"));
    };
    let response = target
        .http
        .get(endpoint)
        .bearer_auth(access_token)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|e| transport_failure(STAGE, &e))?;
    if !response.status().is_success() {
        return Err(failure_from_response(STAGE, response).await);
    }
    let info: UserinfoResponse = response
        .json()
        .await
        .map_err(|e| Failure::with_detail("userinfo: bad JSON", format!("userinfo: {e}")))?;
    if info.sub.is_empty() {
        return Err(Failure::new("userinfo: empty sub"));
    }
    Ok(())
}

/// A failure for a non-success response: kind `"{stage}: HTTP {status} {error}"`, with
/// `error` taken from an OAuth JSON error body when there is one.
pub async fn failure_from_response(stage: &str, response: reqwest::Response) -> Failure {
    let status = response.status();
    let url = response.url().path().to_owned();
    let body = response.text().await.unwrap_or_default();
    describe_http_failure(stage, status.as_u16(), &url, &body)
}

/// The pure part of [`failure_from_response`].
pub fn describe_http_failure(stage: &str, status: u16, path: &str, body: &str) -> Failure {
    let oauth_error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .filter(|e| e.len() <= 64 && e.chars().all(|c| c.is_ascii_graphic()));
    let kind = match oauth_error {
        Some(error) => format!("{stage}: HTTP {status} {error}"),
        None => format!("{stage}: HTTP {status}"),
    };
    let text = if body.trim_start().starts_with('<') {
        crate::form::visible_text(body)
    } else {
        body.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
    Failure::with_detail(kind.clone(), format!("{kind} at {path}: {excerpt}"))
}

/// A failure for a request that got no HTTP response at all.
pub fn transport_failure(stage: &str, error: &reqwest::Error) -> Failure {
    let class = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "transport error"
    };
    Failure::with_detail(format!("{stage}: {class}"), format!("{stage}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_before_base64() {
        assert_eq!(basic_auth("app", "secret"), "Basic YXBwOnNlY3JldA==");
        // "a:b" -> "a%3Ab", " " -> "+", per RFC 6749 §2.3.1 / Appendix B.
        let expected = format!("Basic {}", STANDARD.encode("a%3Ab:x+y"));
        assert_eq!(basic_auth("a:b", "x y"), expected);
    }

    #[test]
    fn http_failure_uses_oauth_error_code() {
        let f = describe_http_failure(
            "refresh",
            400,
            "/token",
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
        assert_eq!(f.kind, "refresh: HTTP 400 invalid_grant");
        assert!(f.detail.contains("grant request is invalid"));
    }

    #[test]
    fn http_failure_without_json_keeps_status_only() {
        let f = describe_http_failure(
            "authorize",
            500,
            "/auth",
            "<html><head><style>x{}</style></head><body>\n<h1>boom</h1>\n</body></html>",
        );
        assert_eq!(f.kind, "authorize: HTTP 500");
        assert_eq!(f.detail, "authorize: HTTP 500 at /auth: boom");
    }

    #[test]
    fn client_debug_hides_secret() {
        let c = ClientCredentials::confidential("app".into(), "hunter2".into());
        let shown = format!("{c:?}");
        assert!(shown.contains("app") && !shown.contains("hunter2"));
    }
}
