//! Registering and managing apps (relying parties) in the admin area — what `lanyard client`
//! does: register (GET/POST `/t/{tenant}/admin/register-app`), one app's page with its
//! registration and an edit form (`.../clients/{client_id}`, POST `.../edit`), replace the
//! secret (`.../rotate-secret`, with an overlap during which the old one still works) and delete
//! (`.../delete`), both after a confirmation. Each is one `manage::clients` operation, audited
//! with the admin as actor. A secret is shown exactly once, on the page that answers the POST
//! that made it (`Cache-Control: no-store`), never in a URL or a redirect.

use super::views::{Chrome, Hidden};
use super::{confirm_first_with, done, open_form, open_page, segment, Admin, Confirm, Notice};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::{AppState, State};
use lanyard_idp::http::{respond, Params};
use lanyard_idp::manage::clients::{
    delete_client, register_client, rotate_secret, show_client, update_client, ClientChanges,
    ClientView, NewClient,
};
use lanyard_idp::manage::ManageError;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// A list of URIs as the form sends it: one input per URI, all named `name` (no form field is
/// multi-line: parameters never carry control characters, `http::params`); empty ones ignored.
/// PURE.
pub fn uri_list(p: &Params, name: &str) -> Vec<String> {
    p.get_all(name)
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// An optional single URI field: empty means none. PURE.
fn optional(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The grant types the registration form offers.
const GRANTS: [(&str, &str); 3] = [
    (
        "authorization_code",
        "Sign users in (authorization code with PKCE)",
    ),
    ("refresh_token", "Refresh tokens"),
    (
        "client_credentials",
        "Its own tokens (client credentials, no user)",
    ),
];

/// How long the old secret keeps working after a rotation, as the form offers it.
const OVERLAPS: [(&str, i64, &str); 3] = [
    ("0", 0, "stops working now"),
    ("3600", 3600, "keeps working for 1 hour"),
    ("86400", 86_400, "keeps working for 24 hours"),
];

/// A new registration as the form typed it. PURE.
pub fn new_client_from(p: &Params) -> NewClient {
    let public = p.get("type") == Some("public");
    NewClient {
        client_id: p.get("client_id").unwrap_or("").trim().to_string(),
        public,
        redirect_uris: uri_list(p, "redirect_uri"),
        post_logout_redirect_uris: uri_list(p, "post_logout_redirect_uri"),
        backchannel_logout_uri: optional(p.get("backchannel_logout_uri")),
        frontchannel_logout_uri: optional(p.get("frontchannel_logout_uri")),
        grant_types: GRANTS
            .iter()
            .filter(|(g, _)| p.get(&format!("grant_{g}")) == Some("on"))
            .map(|(g, _)| (*g).to_string())
            .collect(),
        first_party: p.get("first_party") == Some("on"),
        ..Default::default()
    }
}

/// Changes to a registration as the edit form typed them (every field replaces). PURE.
pub fn changes_from(p: &Params) -> ClientChanges {
    ClientChanges {
        redirect_uris: Some(uri_list(p, "redirect_uri")),
        post_logout_redirect_uris: Some(uri_list(p, "post_logout_redirect_uri")),
        backchannel_logout_uri: Some(optional(p.get("backchannel_logout_uri"))),
        frontchannel_logout_uri: Some(optional(p.get("frontchannel_logout_uri"))),
        first_party: Some(p.get("first_party") == Some("on")),
        ..Default::default()
    }
}

/// One grant checkbox.
#[derive(Debug, Clone, Serialize)]
pub struct GrantBox {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// `admin/client_new.html`: the registration form, again with what was typed after a refusal.
#[derive(Debug, Clone, Serialize)]
pub struct NewClientPage {
    pub chrome: Chrome,
    pub client_id: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: String,
    pub frontchannel_logout_uri: String,
    pub first_party: bool,
    pub grants: Vec<GrantBox>,
}

impl NewClientPage {
    fn new(chrome: Chrome, c: &NewClient) -> Self {
        let fresh = c.client_id.is_empty() && c.grant_types.is_empty();
        Self {
            chrome,
            client_id: c.client_id.clone(),
            public: c.public,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone().unwrap_or_default(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone().unwrap_or_default(),
            first_party: c.first_party,
            grants: GRANTS
                .iter()
                .map(|(name, label)| GrantBox {
                    name,
                    label,
                    // A new form starts with the usual sign-in grants ticked.
                    checked: if fresh {
                        *name != "client_credentials"
                    } else {
                        c.grant_types.iter().any(|g| g == name)
                    },
                })
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.read_only = false;
        Self::new(chrome, &NewClient::default())
    }
}

/// One overlap choice of the rotation form.
#[derive(Debug, Clone, Serialize)]
pub struct OverlapOption {
    pub value: &'static str,
    pub label: &'static str,
}

/// `admin/client.html`: one app.
#[derive(Debug, Clone, Serialize)]
pub struct ClientPage {
    pub chrome: Chrome,
    pub client_id: String,
    pub path: String,
    pub auth_method: String,
    pub confidential: bool,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: String,
    pub frontchannel_logout_uri: String,
    pub first_party: bool,
    pub disabled: bool,
    pub created: TimeText,
    /// While a rotated-out secret still works.
    pub previous_secret_until: Option<TimeText>,
    pub overlaps: Vec<OverlapOption>,
}

impl ClientPage {
    fn new(chrome: Chrome, c: ClientView, t: Times) -> Self {
        Self {
            chrome,
            path: segment(&c.client_id),
            confidential: c.token_endpoint_auth_method.starts_with("client_secret"),
            auth_method: c.token_endpoint_auth_method,
            grant_types: c.grant_types,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            backchannel_logout_uri: c.backchannel_logout_uri.unwrap_or_default(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.unwrap_or_default(),
            first_party: c.first_party,
            disabled: c.disabled,
            created: t.at(c.created_at),
            previous_secret_until: c.previous_secret_valid_until.map(|u| t.at(u)),
            overlaps: OVERLAPS
                .iter()
                .map(|(value, _, label)| OverlapOption { value, label })
                .collect(),
            client_id: c.client_id,
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.read_only = false;
        let now = 1_800_000_000;
        let view = ClientView {
            client_id: "payroll".into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            redirect_uris: vec!["https://payroll.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            backchannel_logout_uri: Some("https://payroll.example/bc".into()),
            frontchannel_logout_uri: None,
            id_token_signed_response_alg: "ES256".into(),
            first_party: false,
            lifetimes: Default::default(),
            disabled: false,
            previous_secret_valid_until: Some(now + 3600),
            dpop_bound_access_tokens: false,
            created_at: now - 86_400,
        };
        Self::new(chrome, view, Times::utc(now))
    }
}

/// `admin/secret.html`: a secret (an app's, or a user's temporary password), shown this once.
/// No `Debug`: it holds the secret.
#[derive(Serialize)]
pub struct SecretPage {
    pub chrome: Chrome,
    pub title: String,
    /// "Client id" / "Username", and whose secret it is.
    pub subject_label: &'static str,
    pub subject: String,
    /// "Client secret" / "Temporary password".
    pub secret_label: &'static str,
    pub secret: String,
    /// What else to know (the previous secret, the first sign-in).
    pub previous: Option<String>,
    pub next: String,
}

/// Render the page that shows a secret once: never cached (RFC 6749 §5.1's reasoning).
pub(crate) fn show_secret(state: &AppState, admin: &Admin, page: SecretPage) -> Response {
    respond::no_store(admin.render(state, "admin/secret.html", &page, StatusCode::OK))
}

/// The registration form.
#[handler]
pub async fn new_form(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let page = NewClientPage::new(admin.chrome("clients", None), &NewClient::default());
    admin.render(&state, "admin/client_new.html", page, StatusCode::OK)
}

/// Register an app (POST of the form); a confidential one's secret is shown once.
#[handler]
pub async fn create(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let typed = new_client_from(&p);
    match register_client(&state, &admin.tenant, typed.clone(), &admin.actor()).await {
        Ok(created) => match created.client_secret {
            Some(secret) => show_secret(
                &state,
                &admin,
                SecretPage {
                    chrome: admin.chrome("clients", None),
                    title: format!("{} is registered", created.client_id),
                    next: admin.path(&format!("/clients/{}", segment(&created.client_id))),
                    subject_label: "Client id",
                    subject: created.client_id,
                    secret_label: "Client secret",
                    secret,
                    previous: None,
                },
            ),
            None => done(
                &admin,
                &format!("/clients/{}", segment(&created.client_id)),
                Notice::ClientCreated,
            ),
        },
        Err(
            e @ (ManageError::Invalid(_)
            | ManageError::InvalidClientMetadata(_)
            | ManageError::Conflict(_)),
        ) => {
            let mut chrome = admin.chrome("clients", None);
            chrome.error = Some(e.to_string());
            let page = NewClientPage::new(chrome, &typed);
            admin.render(
                &state,
                "admin/client_new.html",
                page,
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// One app's page.
#[handler]
pub async fn client_page(
    state: Data<&State>,
    Path((slug, client_id)): Path<(String, String)>,
    req: &Request,
) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match show_client(&state, &admin.tenant, &client_id).await {
        Ok(c) => {
            let page = ClientPage::new(
                admin.chrome("clients", Notice::from_query(req)),
                c,
                admin.times(),
            );
            admin.render(&state, "admin/client.html", page, StatusCode::OK)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Save the edit form (URIs, first party).
#[handler]
pub async fn edit(
    state: Data<&State>,
    Path((slug, client_id)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = format!("/clients/{}", segment(&client_id));
    match update_client(
        &state,
        &admin.tenant,
        &client_id,
        changes_from(&p),
        &admin.actor(),
    )
    .await
    {
        Ok(_) => done(&admin, &back, Notice::ClientUpdated),
        Err(e @ (ManageError::Invalid(_) | ManageError::InvalidClientMetadata(_))) => {
            // The page again, with the registration as stored and why the change was refused.
            match show_client(&state, &admin.tenant, &client_id).await {
                Ok(c) => {
                    let mut chrome = admin.chrome("clients", None);
                    chrome.error = Some(e.to_string());
                    let page = ClientPage::new(chrome, c, admin.times());
                    admin.render(&state, "admin/client.html", page, StatusCode::BAD_REQUEST)
                }
                Err(e) => admin.error(&state, e.into()),
            }
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Replace the secret, after a confirmation; the new one is shown once.
#[handler]
pub async fn rotate(
    state: Data<&State>,
    Path((slug, client_id)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some((value, overlap, label)) = OVERLAPS
        .iter()
        .find(|(v, _, _)| Some(*v) == p.get("overlap"))
        .copied()
    else {
        return admin.error(
            &state,
            ManageError::Invalid("choose how long the old secret keeps working".into()).into(),
        );
    };
    let back = format!("/clients/{}", segment(&client_id));
    let ask = Confirm {
        section: "clients",
        title: format!("Replace {client_id}'s secret?"),
        what: format!("A new secret is made and shown to you once; the old one {label}. Until the app is given the new secret it cannot authenticate once the old one stops working."),
        button: "Replace the secret".into(),
        danger: true,
        cancel: &back,
    };
    let keep = vec![Hidden {
        name: "overlap",
        value: value.to_string(),
    }];
    if let Some(r) = confirm_first_with(&state, &admin, req, &p, ask, keep) {
        return r;
    }
    match rotate_secret(&state, &admin.tenant, &client_id, overlap, &admin.actor()).await {
        Ok(r) => show_secret(
            &state,
            &admin,
            SecretPage {
                chrome: admin.chrome("clients", None),
                title: format!("{client_id}'s new secret"),
                previous: Some(format!("The old secret {label}.")),
                next: admin.path(&back),
                subject_label: "Client id",
                subject: r.client_id.clone(),
                secret_label: "Client secret",
                secret: r.client_secret.clone(),
            },
        ),
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Delete the app, after a confirmation.
#[handler]
pub async fn delete(
    state: Data<&State>,
    Path((slug, client_id)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = format!("/clients/{}", segment(&client_id));
    let ask = Confirm {
        section: "clients",
        title: format!("Delete {client_id}?"),
        what: format!("{client_id}'s registration is removed: its tokens stop working at once and it can no longer sign anyone in. Sessions it took part in stay, and logout deliveries already owed to it are still made. This cannot be undone; to stop it for a while, disable it instead."),
        button: format!("Delete {client_id}"),
        danger: true,
        cancel: &back,
    };
    if let Some(r) = confirm_first_with(&state, &admin, req, &p, ask, Vec::new()) {
        return r;
    }
    match delete_client(&state, &admin.tenant, &client_id, &admin.actor()).await {
        Ok(()) => done(&admin, "/clients", Notice::ClientDeleted),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::area::views::tests::render;

    fn params(q: &str) -> Params {
        Params::parse(q.as_bytes()).unwrap()
    }

    #[test]
    fn the_registration_form_reads_lines_boxes_and_type() {
        let c = new_client_from(&params(
            "client_id=+payroll+&type=confidential&redirect_uri=https%3A%2F%2Fa.example%2Fcb&redirect_uri=&redirect_uri=++https%3A%2F%2Fb.example%2Fcb+&grant_authorization_code=on&grant_client_credentials=on&backchannel_logout_uri=&first_party=on",
        ));
        assert_eq!(c.client_id, "payroll");
        assert!(!c.public && c.first_party);
        assert_eq!(
            c.redirect_uris,
            ["https://a.example/cb", "https://b.example/cb"]
        );
        assert_eq!(c.grant_types, ["authorization_code", "client_credentials"]);
        assert_eq!(c.backchannel_logout_uri, None, "an empty field is no URI");
        assert!(new_client_from(&params("client_id=spa&type=public")).public);
    }

    #[test]
    fn the_edit_form_replaces_every_field_it_shows() {
        let ch = changes_from(&params(
            "redirect_uri=https%3A%2F%2Fa.example%2Fcb&redirect_uri=&frontchannel_logout_uri=+",
        ));
        assert_eq!(ch.redirect_uris.unwrap(), ["https://a.example/cb"]);
        assert_eq!(ch.post_logout_redirect_uris.unwrap(), Vec::<String>::new());
        assert_eq!(ch.frontchannel_logout_uri, Some(None), "emptied: removed");
        assert_eq!(ch.first_party, Some(false), "an unticked box is false");
    }

    #[test]
    fn the_app_pages_render_with_their_forms() {
        let html = render("admin/client_new.html", NewClientPage::sample());
        assert!(html.contains("name=\"client_id\"") && html.contains("name=\"redirect_uri\""));
        assert!(
            html.contains("name=\"grant_authorization_code\" value=\"on\" checked"),
            "{html}"
        );
        assert!(!html.contains("name=\"grant_client_credentials\" value=\"on\" checked"));
        let html = render("admin/client.html", ClientPage::sample());
        assert!(
            html.contains("https://payroll.example/bc")
                || html.contains("https:&#x2f;&#x2f;payroll.example&#x2f;bc")
        );
        assert!(html.contains("/admin/clients/payroll/rotate-secret"));
        assert!(html.contains("/admin/clients/payroll/delete"));
        assert!(html.contains("name=\"overlap\""));
        assert!(
            html.contains("old secret still works"),
            "the overlap is said: {html}"
        );
    }

    #[test]
    fn a_secret_page_says_it_is_shown_once() {
        let page = SecretPage {
            chrome: Chrome::sample(),
            title: "payroll is registered".into(),
            subject_label: "Client id",
            subject: "payroll".into(),
            secret_label: "Client secret",
            secret: "s3cr3t-value".into(),
            previous: None,
            next: "/t/demo/admin/clients/payroll".into(),
        };
        let html = render("admin/secret.html", page);
        assert!(html.contains("s3cr3t-value") && html.contains("will not be shown again"));
    }
}
