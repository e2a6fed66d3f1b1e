//! A tiny relying party on its own loopback port, for what a browser does at an RP: its callback
//! page shows the authorization response, its front-channel logout page records each hit and may
//! be framed, its post-logout page shows `state`, and its `/attack` page is a form on another
//! origin that posts to Lanyard (the cross-site request forgery a browser must not get through).

use crate::harness::TestServer;
use lanyard_idp::manage::NewClient;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Query};
use poem::{get, handler, EndpointExt, Response, Route};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Params = BTreeMap<String, String>;

#[derive(Clone, Default)]
pub struct WebRp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    callbacks: Arc<Mutex<Vec<Params>>>,
    frontchannel: Arc<Mutex<Vec<Params>>>,
    logged_out: Arc<Mutex<Vec<Params>>>,
}

/// A client registered for this RP, with its secret when confidential.
pub struct RpClient {
    pub client_id: String,
    pub secret: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page of the RP. The `data:` icon keeps Chromium from asking the RP for `/favicon.ico`.
fn page(title: &str, body: &str) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><link rel=\"icon\" href=\"data:,\"></head><body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

fn param_list(p: &Params) -> String {
    let items: String = p
        .iter()
        .map(|(k, v)| {
            format!(
                "<dt>{k}</dt><dd id=\"param-{k}\">{v}</dd>",
                k = escape(k),
                v = escape(v)
            )
        })
        .collect();
    format!("<dl>{items}</dl>")
}

#[handler]
fn callback(rp: Data<&WebRp>, Query(p): Query<Params>) -> Response {
    rp.callbacks.lock().unwrap().push(p.clone());
    page("RP callback", &param_list(&p))
}

#[handler]
fn frontchannel(rp: Data<&WebRp>, Query(p): Query<Params>) -> Response {
    rp.frontchannel.lock().unwrap().push(p);
    // Front-Channel Logout 1.0 §2: the RP's page is rendered in an iframe on the OP, so it must
    // not forbid framing (no X-Frame-Options, no frame-ancestors).
    page("RP front-channel logout", "<p>Local session cleared.</p>")
}

#[handler]
fn logged_out(rp: Data<&WebRp>, Query(p): Query<Params>) -> Response {
    rp.logged_out.lock().unwrap().push(p.clone());
    page("RP signed out", &param_list(&p))
}

/// `?action=URL&field=value...`: a form posting every other parameter as a hidden field to
/// `action`, submitted when the user clicks its button.
#[handler]
fn attack(Query(mut p): Query<Params>) -> Response {
    let action = p.remove("action").unwrap_or_default();
    let fields: String = p
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    page(
        "You won a prize",
        &format!(
            "<form method=\"post\" action=\"{}\">{fields}<button type=\"submit\">Claim the prize</button></form>",
            escape(&action)
        ),
    )
}

impl WebRp {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let rp = WebRp {
            base: format!("http://127.0.0.1:{port}"),
            ..Default::default()
        };
        let app = Route::new()
            .at("/callback", get(callback))
            .at("/frontchannel", get(frontchannel))
            .at("/logged-out", get(logged_out))
            .at("/attack", get(attack))
            .data(rp.clone());
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        rp
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.base)
    }

    pub fn post_logout_uri(&self) -> String {
        format!("{}/logged-out", self.base)
    }

    pub fn frontchannel_uri(&self) -> String {
        format!("{}/frontchannel", self.base)
    }

    /// The same RP under the name `localhost`: another site than `127.0.0.1` to a browser.
    pub fn cross_site_base(&self) -> String {
        self.base.replace("127.0.0.1", "localhost")
    }

    /// Register a confidential client of this RP in the test server's tenant.
    pub async fn register(
        &self,
        ts: &TestServer,
        client_id: &str,
        first_party: bool,
        with_frontchannel: bool,
    ) -> RpClient {
        let secret = format!("{client_id}-secret-0123456789abcdef");
        ts.client(NewClient {
            client_id: client_id.into(),
            secret: Some(secret.clone()),
            redirect_uris: vec![self.redirect_uri()],
            post_logout_redirect_uris: vec![self.post_logout_uri()],
            grant_types: vec!["authorization_code".into()],
            first_party,
            frontchannel_logout_uri: with_frontchannel.then(|| self.frontchannel_uri()),
            ..Default::default()
        })
        .await;
        RpClient {
            client_id: client_id.into(),
            secret,
        }
    }

    /// The query of every authorization response received so far.
    pub fn callbacks(&self) -> Vec<Params> {
        self.callbacks.lock().unwrap().clone()
    }

    /// The query of the last authorization response (fails if none arrived).
    pub fn last_callback(&self) -> Params {
        self.callbacks()
            .last()
            .cloned()
            .expect("the RP received no authorization response")
    }

    /// Every front-channel logout hit (its `iss` and `sid`).
    pub fn frontchannel_hits(&self) -> Vec<Params> {
        self.frontchannel.lock().unwrap().clone()
    }

    /// Every arrival at the post-logout redirect URI.
    pub fn logged_out_hits(&self) -> Vec<Params> {
        self.logged_out.lock().unwrap().clone()
    }
}
