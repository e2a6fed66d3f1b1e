//! The OpenID Connect / OAuth 2.0 endpoints of every tenant, one module per endpoint.
//! Each endpoint reads as its pipeline: parse -> decide -> act -> respond.

pub mod authorize;
pub mod client_auth;
pub mod client_throttle;
pub mod consent;
pub mod demo;
pub mod discovery;
pub mod dpop;
pub mod end_session;
pub mod introspect;
pub mod issue;
pub mod login;
pub mod login_guard;
pub mod not_me;
pub mod password_change;
pub mod pending;
pub mod revoke;
pub mod second_factor;
pub mod session_limit;
pub mod token;
pub mod userinfo;

use crate::app::AppState;
use crate::error::{Error, Rejection, Result};
use crate::http::{respond, Params, RequestContext};
use crate::model::{Client, Tenant};
use crate::store;
use poem::http::StatusCode;
use poem::{get, post, Request, Response, Route};

/// Every tenant route, under `/t/:slug`.
pub fn routes() -> Route {
    Route::new()
        .at(
            "/t/:slug/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .at("/t/:slug/jwks", get(discovery::jwks))
        .at(
            "/t/:slug/authorize",
            get(authorize::handle).post(authorize::handle),
        )
        .at("/t/:slug/login", get(login::page).post(login::submit))
        .at("/t/:slug/login/choose", post(session_limit::choose))
        .at("/t/:slug/login/factor", post(second_factor::submit_code))
        .at("/t/:slug/login/password", post(password_change::submit))
        .at("/t/:slug/not-me", get(not_me::page).post(not_me::confirm))
        .at(
            "/t/:slug/login/enrol",
            post(second_factor::submit_enrolment),
        )
        .at(
            "/t/:slug/login/continue",
            post(second_factor::continue_after_codes),
        )
        .at("/t/:slug/consent", post(consent::submit))
        .at("/t/:slug/token", post(token::handle))
        .at(
            "/t/:slug/userinfo",
            get(userinfo::handle).post(userinfo::handle),
        )
        .at("/t/:slug/revoke", post(revoke::handle))
        .at("/t/:slug/introspect", post(introspect::handle))
        .at(
            "/t/:slug/end_session",
            get(end_session::handle).post(end_session::handle),
        )
        .at("/t/:slug/end_session/confirm", post(end_session::confirm))
        .at("/t/:slug/demo", get(demo::home))
        .at("/t/:slug/demo/callback", get(demo::callback))
        .at("/t/:slug/demo/logged-out", get(demo::logged_out))
}

/// Resolve the tenant named in the path.
pub async fn load_tenant(state: &AppState, slug: &str) -> Result<Option<Tenant>> {
    if slug.len() > 64 {
        return Ok(None);
    }
    let now_ms = state.clock.now_ms();
    if let Some(t) = state.cache.tenant(slug, now_ms) {
        return Ok(Some(t));
    }
    let t = store::tenants::find_by_slug(&state.read, slug)
        .await?
        .map(|t| Tenant::from_row(t, &state.config.public_url));
    if let Some(t) = &t {
        state.cache.put_tenant(t, now_ms);
    }
    Ok(t)
}

pub async fn load_client(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<Client>> {
    if client_id.len() > 255 {
        return Ok(None);
    }
    let now_ms = state.clock.now_ms();
    if let Some(c) = state.cache.client(&tenant.id, client_id, now_ms) {
        return Ok(Some(c));
    }
    let c = store::clients::find_by_client_id(&state.read, &tenant.id, client_id)
        .await?
        .map(Client::from_row)
        .transpose()?;
    if let Some(c) = &c {
        state.cache.put_client(&tenant.id, c, now_ms);
    }
    Ok(c)
}

/// Read parameters from the query (GET) or the form body (POST).
pub async fn read_params(
    req: &Request,
    body: poem::Body,
) -> std::result::Result<Params, Rejection> {
    if req.method() == poem::http::Method::POST {
        let ct = req.content_type().unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(Rejection::Malformed(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = body
            .into_bytes_limit(crate::http::params::MAX_BODY_BYTES)
            .await
            .map_err(|_| Rejection::Malformed("request too large"))?;
        Params::parse(&bytes)
    } else {
        Params::parse(req.uri().query().unwrap_or("").as_bytes())
    }
}

/// The request context of a handler: client IP behind trusted proxies, cookies, the clock.
pub fn context(state: &AppState, req: &Request) -> RequestContext {
    RequestContext::from_request(
        req,
        state.clock.as_ref(),
        &state.config.trusted_proxies,
        crate::http::context::ProxyFacts {
            country_header: state.config.geo_country_header.as_deref(),
            point_headers: state
                .config
                .geo_latitude_header
                .as_deref()
                .zip(state.config.geo_longitude_header.as_deref()),
            db: state.geoip.as_deref(),
            posture_header: state.config.device_posture_header.as_deref(),
        },
    )
}

/// A rendered error page. It names the request id ("Reference: ...", the id in this request's
/// log line) so a user's report can be matched to the log, and points the way back: without a
/// trustworthy Referer (our Referrer-Policy withholds it from other sites) and with no inline
/// script allowed, the honest way back is the application the user came from.
pub fn error_page(
    state: &AppState,
    tenant: Option<&Tenant>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let request_id = crate::http::request_id::current();
    let body = state
        .templates
        .render(
            "error.html",
            serde_json::json!({
                "tenant": tenant.map(|t| serde_json::json!({"name": t.name, "slug": t.slug})),
                "title": title, "message": message,
                "request_id": request_id,
                "home": format!("{}/", state.config.public_url),
            }),
        )
        .unwrap_or_else(|_| {
            // The id is hex, safe to put in HTML as is.
            format!(
                "<!doctype html><html><body><h1>{}</h1><p>Reference: {}</p></body></html>",
                status.as_u16(),
                request_id.as_deref().unwrap_or("-")
            )
        });
    respond::html(status, body)
}

/// What an unknown path gets: under `/api/` the admin API's JSON error shape (API clients parse
/// it), everywhere else an error page in the site's look. Known endpoints answer their own
/// errors, so only paths no route matches come here.
pub fn not_found(state: &AppState, path: &str) -> Response {
    if path == "/api" || path.starts_with("/api/") {
        return respond::json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not_found", "message": "no such endpoint"}),
        );
    }
    error_page(
        state,
        None,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
    )
}

/// The tenant of a browser-facing request, or the page to answer with: 404 only when the store
/// says there is no such tenant; an unreachable store is 503 ([`page_error`]).
pub async fn tenant_page(state: &AppState, slug: &str) -> std::result::Result<Tenant, Response> {
    match load_tenant(state, slug).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(tenant_not_found(state)),
        Err(e) => Err(page_error(state, None, e)),
    }
}

pub fn tenant_not_found(state: &AppState) -> Response {
    error_page(
        state,
        None,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such tenant.",
    )
}

/// Map an error from a browser-facing endpoint to a rendered page.
pub fn page_error(state: &AppState, tenant: Option<&Tenant>, e: Error) -> Response {
    match e {
        Error::Rejected(r) => error_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            "Request refused",
            r.oauth().description,
        ),
        Error::Invalid(m) => error_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            "Request refused",
            &m,
        ),
        Error::NotFound(m) => error_page(state, tenant, StatusCode::NOT_FOUND, "Not found", &m),
        Error::Conflict(m) => error_page(state, tenant, StatusCode::CONFLICT, "Conflict", &m),
        // RFC 9110 §15.6.4: the store is unreachable; say so and when to retry, never that
        // the tenant, client or session does not exist.
        Error::StoreUnavailable(_) => {
            tracing::warn!(error = %e, "page: store unavailable");
            respond::with_store_retry_after(error_page(
                state,
                tenant,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service cannot reach its database right now. Please try again in a few seconds.",
            ))
        }
        Error::Internal(_) => {
            tracing::error!(error = %e, "page failed");
            error_page(
                state,
                tenant,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}

/// The start of every browser form submission: the tenant, its parameters, and the CSRF token and
/// Origin check. `Err` is the page to answer with.
pub async fn read_form(
    state: &AppState,
    slug: &str,
    req: &Request,
    body: poem::Body,
    ctx: &RequestContext,
) -> std::result::Result<(Tenant, Params), Response> {
    let tenant = tenant_page(state, slug).await?;
    let params = match read_params(req, body).await {
        Ok(p) => p,
        Err(r) => return Err(page_error(state, Some(&tenant), r.into())),
    };
    let purpose = crate::http::csrf::purpose_of_path(req.uri().path());
    let expected = ctx
        .cookies
        .get(&state.cookies.csrf_name(&tenant.slug))
        .filter(|c| c.len() >= 32)
        .map(|c| crate::http::csrf::bind_token(&state.hasher, c, purpose));
    let from = crate::http::csrf::Provenance {
        origin: ctx.origin.as_deref(),
        fetch_site: ctx.fetch_site.as_deref(),
    };
    if let Err(why) = crate::http::csrf::decide_form_submission(
        expected.as_deref(),
        params.get("csrf"),
        from,
        &crate::http::csrf::origin_of(&state.config.public_url),
    ) {
        tracing::warn!(
            event = "form.refused",
            reason = why.as_str(),
            purpose = purpose.as_str(),
            path = %req.uri().path(),
            ip = %ctx.ip,
            "form submission refused"
        );
        // Audited (the tenant's security history), never with the token or the form's values.
        let event = crate::events::audit::Event {
            tenant_id: &tenant.id,
            kind: "form.refused",
            actor: "anonymous",
            outcome: why.as_str(),
            detail: Some(serde_json::json!({
                "purpose": purpose.as_str(),
                "path": req.uri().path(),
                "origin": ctx.origin,
                "sec_fetch_site": ctx.fetch_site,
            })),
            ..Default::default()
        };
        if let Err(e) = crate::events::audit::record(&state.db, event, Some(ctx), ctx.now_ms).await
        {
            tracing::warn!(error = %e, "recording a refused form failed");
        }
        return Err(error_page(
            state,
            Some(&tenant),
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form expired or came from another site. Go back and try again.",
        ));
    }
    Ok((tenant, params))
}

/// The start of every client-authenticated JSON endpoint (token, revocation, introspection):
/// the tenant, parameters without repeats (RFC 6749 §3.2), and the authenticated client.
/// `Err` is the protocol error response.
pub async fn read_client_request(
    state: &AppState,
    slug: &str,
    req: &Request,
    body: poem::Body,
    endpoint: &str,
    now: i64,
) -> std::result::Result<(Tenant, Params, Client), Response> {
    let tenant = match load_tenant(state, slug).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(respond::json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "not_found"}),
            ))
        }
        Err(e) => return Err(respond::server_error(&e)),
    };
    // RFC 6749 §2.3.1 / §3.2: credentials and grants travel in the body, never in the URL.
    if crate::http::params::credential_in_query(req.uri().query()).is_some() {
        return Err(respond::oauth_json(
            &Rejection::Malformed("credentials in the URL"),
            false,
        ));
    }
    let params = match read_params(req, body)
        .await
        .and_then(|p| p.reject_duplicates().map(|_| p))
    {
        Ok(p) => p,
        Err(r) => return Err(respond::oauth_json(&r, false)),
    };
    let url = format!("{}/{endpoint}", tenant.issuer);
    let claimed = client_auth::claimed_client_id(req, &params);
    if let Some(id) = &claimed {
        match client_throttle::check(state, &tenant, id, now).await {
            Ok(None) => {}
            Ok(Some(retry_after)) => return Err(respond::throttled(retry_after)),
            Err(e) => return Err(respond::server_error(&e)),
        }
    }
    let client = match client_auth::authenticate(state, &tenant, req, &params, &url, now).await {
        Ok(Ok(a)) => a.client,
        Ok(Err(client_auth::AuthFailure { rejection, basic })) => {
            if let (Rejection::ClientAuthFailed, Some(id)) = (&rejection, &claimed) {
                if let Err(e) = client_throttle::record_failure(state, &tenant, id, now).await {
                    return Err(respond::server_error(&e));
                }
            }
            return Err(respond::oauth_json(&rejection, basic));
        }
        Err(e) => return Err(respond::server_error(&e)),
    };
    Ok((tenant, params, client))
}

pub fn tenant_json(t: &Tenant) -> serde_json::Value {
    serde_json::json!({ "name": t.name, "slug": t.slug })
}
