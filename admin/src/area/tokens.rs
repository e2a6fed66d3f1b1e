//! The tenant's admin API tokens in the admin area (GET `/t/{tenant}/admin/tokens`): name,
//! created, live or revoked — never a token, only its hash is stored. Create one (the token is
//! shown once, on the answer to the POST itself, `Cache-Control: no-store`, never in a URL or a
//! redirect) and revoke one after a confirmation. Only this tenant's tokens: the all-tenant
//! tokens belong to the operator (CLI) and are neither listed nor reachable here, because every
//! call names this tenant as the scope.

use super::views::Chrome;
use super::{confirm_first, done, open_form, open_page, segment, Confirm, Notice};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::State;
use lanyard_idp::http::respond;
use lanyard_idp::manage::tokens::{
    create_admin_token, list_admin_tokens, revoke_admin_token, AdminTokenView,
};
use lanyard_idp::manage::{describe, ManageError};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// One row of the token list.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub name: String,
    /// The name as a path segment (the revoke action's URL).
    pub path: String,
    pub created: TimeText,
    pub revoked: bool,
}

impl TokenRow {
    fn new(t: AdminTokenView, times: Times) -> Self {
        Self {
            path: segment(&t.name),
            created: times.at(t.created_at),
            name: t.name,
            revoked: t.revoked,
        }
    }
}

/// `admin/tokens.html`: the tenant's tokens and the form that creates one.
#[derive(Debug, Clone, Serialize)]
pub struct TokensPage {
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
    pub live: usize,
    /// The name typed into the create form (kept when it is refused).
    pub name: String,
    /// Where the admin API of this tenant is.
    pub api: String,
}

impl TokensPage {
    fn new(
        chrome: Chrome,
        tokens: Vec<AdminTokenView>,
        name: String,
        api: String,
        times: Times,
    ) -> Self {
        let tokens: Vec<TokenRow> = tokens
            .into_iter()
            .map(|t| TokenRow::new(t, times))
            .collect();
        Self {
            chrome,
            live: tokens.iter().filter(|t| !t.revoked).count(),
            tokens,
            name,
            api,
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let mut chrome = Chrome::sample();
        chrome.section = "tokens";
        chrome.read_only = false;
        let t = |name: &str, revoked| AdminTokenView {
            name: name.into(),
            tenant: Some("demo".into()),
            created_at: now - 3600,
            revoked,
        };
        Self::new(
            chrome,
            vec![t("deploy bot", false), t("old-ci", true)],
            "ci/cd".into(),
            "https://id.example/api/v1/tenants/demo".into(),
            Times::utc(now),
        )
    }
}

/// `admin/token_created.html`: the new token, this once. Holds the token: never in `Debug`.
#[derive(Clone, Serialize)]
pub struct TokenCreatedPage {
    pub chrome: Chrome,
    pub name: String,
    pub token: String,
    pub api: String,
}

impl std::fmt::Debug for TokenCreatedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCreatedPage({}, ***)", self.name)
    }
}

impl TokenCreatedPage {
    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.section = "tokens";
        chrome.read_only = false;
        chrome.notice = None;
        chrome.error = None;
        Self {
            chrome,
            name: "deploy bot".into(),
            token: "lya_sample-token".into(),
            api: "https://id.example/api/v1/tenants/demo".into(),
        }
    }
}

fn api_of(state: &State, slug: &str) -> String {
    format!(
        "{}/api/v1/tenants/{slug}",
        state.config.public_url.trim_end_matches('/')
    )
}

/// The tenant's tokens.
#[handler]
pub async fn tokens_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    // This tenant's scope only: `None` would list every tenant's tokens.
    match list_admin_tokens(&state.db, Some(&admin.tenant)).await {
        Ok(t) => {
            let page = TokensPage::new(
                admin.chrome("tokens", Notice::from_query(req)),
                t,
                String::new(),
                api_of(&state, &admin.tenant.slug),
                admin.times(),
            );
            admin.render(&state, "admin/tokens.html", page, StatusCode::OK)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Create a token for this tenant and show it once, in this response (RFC 6749 §5.1's rule for
/// responses carrying credentials: `no-store`). A refused name is said on the list page.
#[handler]
pub async fn create(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = params.get("name").unwrap_or("").trim().to_string();
    let api = api_of(&state, &admin.tenant.slug);
    let refused = match create_admin_token(
        &state.db,
        &state.hasher,
        Some(&admin.tenant),
        &name,
        &admin.actor(),
        admin.ctx.now,
    )
    .await
    {
        Ok(token) => {
            let page = TokenCreatedPage {
                chrome: admin.chrome("tokens", None),
                name,
                token,
                api,
            };
            return respond::no_store(admin.render(
                &state,
                "admin/token_created.html",
                page,
                StatusCode::OK,
            ));
        }
        Err(e) => e,
    };
    let status = match &refused {
        ManageError::Invalid(_) => StatusCode::BAD_REQUEST,
        ManageError::Conflict(_) => StatusCode::CONFLICT,
        _ => return admin.error(&state, refused.into()),
    };
    let tokens = match list_admin_tokens(&state.db, Some(&admin.tenant)).await {
        Ok(t) => t,
        Err(e) => return admin.error(&state, e.into()),
    };
    let mut chrome = admin.chrome("tokens", None);
    chrome.error = Some(format!("No token was created: {}.", describe(&refused)));
    let page = TokensPage::new(chrome, tokens, name, api, admin.times());
    admin.render(&state, "admin/tokens.html", page, status)
}

/// Revoke this tenant's live token of that name, after the confirmation.
#[handler]
pub async fn revoke(
    state: Data<&State>,
    Path((slug, name)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if params.get("confirm") != Some("yes") {
        let live = match list_admin_tokens(&state.db, Some(&admin.tenant)).await {
            Ok(t) => t.iter().any(|t| t.name == name && !t.revoked),
            Err(e) => return admin.error(&state, e.into()),
        };
        if !live {
            return admin.error(
                &state,
                ManageError::not_found("live admin token", name.as_str()).into(),
            );
        }
        let ask = Confirm {
            section: "tokens",
            title: format!("Revoke the admin token {name}?"),
            what: format!("Whatever uses the token {name} is refused from its next call to the admin API (401). This cannot be undone: to give it access again, create a new token."),
            button: format!("Revoke {name}"),
            danger: true,
            cancel: "/tokens",
        };
        if let Some(r) = confirm_first(&state, &admin, req, &params, ask) {
            return r;
        }
    }
    match revoke_admin_token(
        &state.db,
        Some(&admin.tenant),
        &name,
        &admin.actor(),
        admin.ctx.now,
    )
    .await
    {
        Ok(_) => done(&admin, "/tokens", Notice::TokenRevoked),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_token_list_shows_names_states_and_revoke_for_live_ones_only() {
        let html = render("admin/tokens.html", TokensPage::sample());
        assert!(html.contains("<h1>Admin API tokens</h1>"));
        assert!(html.contains("data-token=\"deploy bot\"") && html.contains("old-ci"));
        assert!(html.contains("Revoked") && html.contains("Live"));
        assert!(html.contains("1 hour ago"), "{html}");
        assert!(
            html.contains("action=\"/t/demo/admin/tokens/deploy%20bot/revoke\""),
            "{html}"
        );
        assert!(
            !html.contains("/old-ci/revoke"),
            "a revoked token has no action"
        );
        assert!(
            html.contains("action=\"/t/demo/admin/tokens\""),
            "create form"
        );
        assert!(html.contains("value=\"ci/cd\""), "a refused name is kept");
        assert!(html.contains("https://id.example/api/v1/tenants/demo"));
        assert!(!html.contains("lya_"), "no token on the list");
    }

    #[test]
    fn the_new_token_is_shown_once_with_a_warning() {
        let html = render("admin/token_created.html", TokenCreatedPage::sample());
        assert!(html.contains("lya_sample-token"));
        assert!(html.contains("Copy it now"), "{html}");
        assert!(html.contains("will not be shown again"));
        assert!(html.contains("href=\"/t/demo/admin/tokens\""), "a way back");
        assert!(html.contains("Authorization: Bearer"));
    }

    #[test]
    fn the_new_token_is_not_in_debug() {
        let s = format!("{:?}", TokenCreatedPage::sample());
        assert!(!s.contains("lya_"), "{s}");
    }
}
