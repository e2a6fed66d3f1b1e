//! Test harness: a Lanyard server on a random loopback port with a controllable clock, a
//! cookie-carrying "browser" that fills the login form, and an in-process relying party that
//! records back-channel logout tokens.

#![allow(dead_code, clippy::disallowed_methods)]

use lanyard_idp::app::{AppState, State};
use lanyard_idp::clock::MockClock;
use lanyard_idp::config::Config;
use lanyard_idp::manage::{self, NewClient};
use lanyard_idp::model::{Lifetimes, Tenant};
use lanyard_idp::session::PolicyLayer;
use lanyard_idp::store;
use poem::listener::TcpAcceptor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery";
pub const SECRET: &str = "web-secret-0123456789abcdef";
pub const REDIRECT: &str = "https://rp.example/cb";
pub const POST_LOGOUT: &str = "https://rp.example/after-logout";

/// Where the storage for one test lives.
async fn database_url() -> String {
    if let Ok(pg) = std::env::var("LANYARD_TEST_POSTGRES_URL") {
        let name = format!(
            "lanyard_t_{}",
            lanyard_idp::crypto::random_id()
                .to_lowercase()
                .replace(['-', '_'], "")
        );
        let admin = store::connect(&pg).await.expect("postgres reachable");
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let base = pg
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(pg);
        return format!("{base}/{name}");
    }
    let dir =
        std::env::temp_dir().join(format!("lanyard-test-{}", lanyard_idp::crypto::random_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}?mode=rwc", dir.join("t.db").display())
}

pub struct TestServer {
    pub base: String,
    pub state: State,
    pub clock: MockClock,
    pub tenant: Tenant,
    pub issuer: String,
    pub alice_id: String,
    /// The demo user's password as `seed_demo` printed it, when `Setup::demo` seeded the demo tenant.
    pub demo_password: Option<String>,
    /// Every request the server answered (method, path, the provenance headers a browser sets,
    /// and the status), so a browser test can show what the browser really sent and got.
    pub seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub origin: Option<String>,
    pub fetch_site: Option<String>,
    /// The response's status code.
    pub status: u16,
}

pub struct Setup {
    pub policy: PolicyLayer,
    pub web_lifetimes: Lifetimes,
    pub web_backchannel: Option<String>,
    pub web_frontchannel: Option<String>,
    pub dispatcher: bool,
    /// Also seed the `demo` tenant through `manage::seed_demo`, as `lanyard` does on first start.
    pub demo: bool,
    /// More `LANYARD_*` settings (e.g. `LANYARD_SMTP_URL`), over the harness's own.
    pub env: Vec<(&'static str, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            policy: PolicyLayer::default(),
            web_lifetimes: Lifetimes::default(),
            web_backchannel: None,
            web_frontchannel: None,
            dispatcher: true,
            demo: false,
            env: Vec::new(),
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let db_url = database_url().await;
        let vars: HashMap<&str, String> = [
            ("LANYARD_DATABASE_URL", db_url.clone()),
            ("LANYARD_BIND", format!("127.0.0.1:{port}")),
            ("LANYARD_PUBLIC_URL", base.clone()),
            ("LANYARD_DEMO", "false".into()),
            ("LANYARD_DELIVERY_TIMEOUT_MS", "1000".into()),
            // Tests run two at a time against one PostgreSQL (max_connections 100).
            ("LANYARD_DATABASE_MAX_CONNECTIONS", "8".into()),
            // The recording RPs listen on loopback, which Lanyard otherwise refuses to send to.
            ("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback".into()),
        ]
        .into_iter()
        .chain(setup.env.iter().cloned())
        .collect();
        let config = Config::load(None, &move |k| vars.get(k).cloned()).expect("config");
        let db = store::connect_sized(&db_url, Some(8)).await.expect("db");
        store::migrate(&db).await.expect("migrate");
        let clock = MockClock::at(chrono::Utc::now().timestamp());
        let state = AppState::new(db, config, Arc::new(clock.clone()))
            .await
            .expect("state");
        let now = clock.now_secs();
        // Before acme: `seed_demo` seeds only an empty database, as on a first start.
        let demo_password = if setup.demo {
            let printed = manage::seed_demo(&state)
                .await
                .expect("seed demo")
                .expect("demo seeded on an empty database");
            Some(demo_password_from(&printed))
        } else {
            None
        };
        manage::create_tenant(
            &state.db,
            &base,
            "acme",
            Some("Acme"),
            setup.policy.clone(),
            now,
        )
        .await
        .expect("tenant");
        let tenant = manage::tenant(&state.db, &base, "acme")
            .await
            .expect("tenant");
        let alice = manage::create_user(
            &state.db,
            &tenant,
            "alice",
            Some("alice@acme.test"),
            &["staff".into()],
            PASSWORD,
            now,
        )
        .await
        .expect("alice");
        manage::create_user(&state.db, &tenant, "bob", None, &[], PASSWORD, now)
            .await
            .expect("bob");
        manage::create_client(
            &state,
            &tenant,
            NewClient {
                client_id: "web".into(),
                secret: Some(SECRET.into()),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![POST_LOGOUT.into()],
                grant_types: vec![
                    "authorization_code".into(),
                    "refresh_token".into(),
                    "client_credentials".into(),
                ],
                first_party: true,
                backchannel_logout_uri: setup.web_backchannel.clone(),
                frontchannel_logout_uri: setup.web_frontchannel.clone(),
                lifetimes: setup.web_lifetimes.clone(),
                ..Default::default()
            },
            now,
        )
        .await
        .expect("web client");
        manage::create_client(
            &state,
            &tenant,
            NewClient {
                client_id: "other".into(),
                secret: Some("other-secret-0123456789".into()),
                redirect_uris: vec!["https://other.example/cb".into()],
                first_party: true,
                ..Default::default()
            },
            now,
        )
        .await
        .expect("other client");
        manage::create_client(
            &state,
            &tenant,
            NewClient {
                client_id: "spa".into(),
                public: true,
                redirect_uris: vec!["https://spa.example/cb".into()],
                ..Default::default()
            },
            now,
        )
        .await
        .expect("spa client");
        if setup.dispatcher {
            tokio::spawn(lanyard_idp::events::dispatcher::run(state.clone()));
        }
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let app = {
            use poem::{Endpoint, EndpointExt, IntoResponse};
            let seen = seen.clone();
            lanyard_idp::server::app(state.clone(), lanyard_admin::extend(state.clone())).around(
                move |ep, req| {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let mut entry = SeenRequest {
                        method: req.method().to_string(),
                        path: req.uri().path().to_string(),
                        origin: header("origin"),
                        fetch_site: header("sec-fetch-site"),
                        status: 0,
                    };
                    let seen = seen.clone();
                    async move {
                        let resp = ep.call(req).await?.into_response();
                        entry.status = resp.status().as_u16();
                        seen.lock().expect("lock").push(entry);
                        Ok(resp)
                    }
                },
            )
        };
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        let issuer = format!("{base}/t/acme");
        TestServer {
            base,
            state,
            clock,
            tenant,
            issuer,
            alice_id: alice.id,
            demo_password,
            seen,
        }
    }

    /// The requests received so far for `method` and `path`.
    pub fn seen(&self, method: &str, path: &str) -> Vec<SeenRequest> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// Register another client.
    pub async fn client(&self, c: NewClient) -> Option<String> {
        manage::create_client(&self.state, &self.tenant, c, self.clock.now_secs())
            .await
            .expect("client")
            .client_secret
    }

    /// Run the session sweeper once at the mock clock's time.
    pub async fn sweep(&self) -> u64 {
        lanyard_idp::events::sweeper::sweep_once(&self.state)
            .await
            .expect("sweep")
    }

    /// Invariant checks at the end of a scenario (STYLE.md rule 10).
    pub async fn assert_invariants(&self) {
        use sea_orm::{ConnectionTrait, Statement};
        let db = &self.state.db;
        let backend = db.get_database_backend();
        // No active refresh family on an ended session, except `offline_access` families of
        // sessions ended by a reason that leaves them (or a credential change, by policy).
        let keeps: Vec<String> = lanyard_idp::session::EndReason::ALL
            .into_iter()
            .filter(|r| !r.ends_offline_grants())
            .chain([lanyard_idp::session::EndReason::CredentialChanged])
            .map(|r| format!("'{}'", r.as_str()))
            .collect();
        let sql = format!(
            "SELECT f.id FROM refresh_families f JOIN sessions s ON s.id = f.session_id \
             WHERE f.state = 'active' AND s.state = 'ended' \
             AND (f.offline = FALSE OR s.end_reason NOT IN ({}))",
            keeps.join(", ")
        );
        let rows = db
            .query_all(Statement::from_string(backend, sql))
            .await
            .expect("query");
        assert!(rows.is_empty(), "live refresh family on an ended session");
    }

    /// Wait until the outbox holds nothing owed (pending / in flight / retry), nudging the
    /// dispatcher. Bounded: fails after `secs` seconds of real time.
    pub async fn drain_outbox(&self, secs: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let owed = store::outbox::count_owed(&self.state.db)
                .await
                .expect("count");
            if owed == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "outbox still owes {owed} deliveries"
            );
            self.state.outbox_notify.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The password from `seed_demo`'s start-up message (`user:          demo / PASSWORD`), so tests
/// use exactly what a new user is told.
fn demo_password_from(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("user:"))
        .and_then(|l| l.trim().strip_prefix("demo / "))
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("no demo password in the start-up message:\n{printed}"))
}

pub trait NowSecs {
    fn now_secs(&self) -> i64;
}
impl NowSecs for MockClock {
    fn now_secs(&self) -> i64 {
        use lanyard_idp::clock::Clock;
        self.now()
    }
}

/// A cookie-carrying browser that never follows redirects by itself.
pub struct Browser {
    pub http: reqwest::Client,
}

/// Where a browser ended up.
#[derive(Debug)]
pub enum Landing {
    /// Redirected outside Lanyard (to an RP).
    Redirect(url::Url),
    /// A page rendered by Lanyard.
    Page {
        status: u16,
        body: String,
        url: String,
    },
}

impl Landing {
    pub fn redirect(self) -> url::Url {
        match self {
            Landing::Redirect(u) => u,
            Landing::Page { status, body, url } => panic!(
                "expected a redirect, got page {status} at {url}: {}",
                &body[..body.len().min(400)]
            ),
        }
    }
    pub fn page(self) -> (u16, String) {
        match self {
            Landing::Page { status, body, .. } => (status, body),
            Landing::Redirect(u) => panic!("expected a page, got redirect to {u}"),
        }
    }
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Landing::Redirect(u) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string()),
            _ => None,
        }
    }
}

pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// Follow redirects within `base`; stop at a redirect elsewhere or a page.
    pub async fn follow(&self, base: &str, mut resp: reqwest::Response) -> Landing {
        loop {
            let url = resp.url().to_string();
            if resp.status().is_redirection() {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .expect("location")
                    .to_string();
                let next = resp.url().join(&loc).expect("join");
                if !next.as_str().starts_with(base) {
                    return Landing::Redirect(next);
                }
                resp = self.http.get(next).send().await.expect("get");
                continue;
            }
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            return Landing::Page { status, body, url };
        }
    }

    pub async fn get(&self, base: &str, url: &str) -> Landing {
        let r = self.http.get(url).send().await.expect("get");
        self.follow(base, r).await
    }

    pub async fn post_form(&self, base: &str, url: &str, form: &[(&str, &str)]) -> Landing {
        let r = self.http.post(url).form(form).send().await.expect("post");
        self.follow(base, r).await
    }

    /// Open an authorization URL and sign in if asked; returns where it ended.
    pub async fn authorize(
        &self,
        ts: &TestServer,
        auth_url: &str,
        username: &str,
        password: &str,
    ) -> Landing {
        let landing = self.get(&ts.base, auth_url).await;
        match landing {
            Landing::Page {
                ref body,
                status: 200,
                ..
            } if body.contains("name=\"password\"") => {
                let csrf = field(body, "csrf").expect("csrf");
                let req = field(body, "req").expect("req");
                self.post_form(
                    &ts.base,
                    &ts.url("/login"),
                    &[
                        ("csrf", &csrf),
                        ("req", &req),
                        ("username", username),
                        ("password", password),
                    ],
                )
                .await
            }
            other => other,
        }
    }
}

/// Build an authorization URL for `client` with PKCE. Returns (url, state, nonce, verifier).
pub fn auth_url(
    ts: &TestServer,
    client_id: &str,
    redirect: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String, String, String) {
    let state = lanyard_idp::crypto::random_token();
    let nonce = lanyard_idp::crypto::random_token();
    let verifier = lanyard_idp::crypto::random_token();
    let challenge = lanyard_idp::crypto::sha256_b64url(verifier.as_bytes());
    let mut u = url::Url::parse(&ts.url("/authorize")).expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    (u.to_string(), state, nonce, verifier)
}

/// Log alice in with the `web` client and redeem the code. Returns the token response JSON.
pub async fn login_and_redeem(
    ts: &TestServer,
    browser: &Browser,
    scope: &str,
) -> serde_json::Value {
    let (url, state, _nonce, verifier) = auth_url(ts, "web", REDIRECT, scope, &[]);
    let landing = browser.authorize(ts, &url, "alice", PASSWORD).await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let code = landing.param("code").expect("code");
    let r = token_request(
        ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.0, 200, "token response: {}", r.1);
    r.1
}

/// POST to the token endpoint with client_secret_basic. Returns (status, json).
pub async fn token_request(
    ts: &TestServer,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn introspect(ts: &TestServer, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(ts.url("/introspect"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json")
}

/// An in-process relying party that records every back-channel logout POST.
#[derive(Clone, Default)]
pub struct RecordingRp {
    pub received: Arc<Mutex<Vec<String>>>,
    /// Answer 503 to this many requests first.
    pub fail_first: Arc<Mutex<u32>>,
}

impl RecordingRp {
    /// Start on a random port; returns the RP and its back-channel URL.
    pub async fn start() -> (Self, String) {
        use poem::{handler, post, web::Data, EndpointExt, Route};
        #[handler]
        async fn logout(rp: Data<&RecordingRp>, body: String) -> poem::Response {
            {
                let mut f = rp.fail_first.lock().expect("lock");
                if *f > 0 {
                    *f -= 1;
                    return poem::Response::builder()
                        .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
                        .finish();
                }
            }
            rp.received.lock().expect("lock").push(body);
            poem::Response::builder()
                .status(poem::http::StatusCode::OK)
                .header("cache-control", "no-store")
                .finish()
        }
        let rp = RecordingRp::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nb");
        let port = listener.local_addr().expect("addr").port();
        let app = Route::new().at("/bc", post(logout)).data(rp.clone());
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        (rp, format!("http://127.0.0.1:{port}/bc"))
    }

    /// The logout tokens received so far.
    pub fn tokens(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|b| {
                url::form_urlencoded::parse(b.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.to_string())
            })
            .collect()
    }

    pub async fn wait_for(&self, n: usize, ts: &TestServer) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let t = self.tokens();
            if t.len() >= n {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "RP received {} of {n} logout tokens",
                t.len()
            );
            ts.state.outbox_notify.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Validate a logout token strictly per Back-Channel Logout 1.0 §2.6 against the OP's JWKS.
/// Returns its claims.
pub async fn validate_logout_token(
    ts: &TestServer,
    token: &str,
    client_id: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let jwks: serde_json::Value = reqwest::get(ts.url("/jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let header = josekit::jwt::decode_header(token).expect("header");
    assert_eq!(
        header.claim("typ").and_then(|v| v.as_str()),
        Some("logout+jwt"),
        "typ"
    );
    let kid = header.claim("kid").and_then(|v| v.as_str()).expect("kid");
    let alg = header.claim("alg").and_then(|v| v.as_str()).expect("alg");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid in JWKS");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string().as_bytes()).expect("jwk");
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match alg {
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).expect("v")),
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).expect("v")),
        "EdDSA" => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&jwk).expect("v")),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) =
        josekit::jwt::decode_with_verifier(token, verifier.as_ref()).expect("signature");
    let c = payload.claims_set().clone();
    assert_eq!(c["iss"], ts.issuer.as_str(), "iss");
    let aud_ok = match &c["aud"] {
        serde_json::Value::String(s) => s == client_id,
        serde_json::Value::Array(a) => a.iter().any(|v| v == client_id),
        _ => false,
    };
    assert!(aud_ok, "aud");
    assert!(c.get("iat").and_then(|v| v.as_i64()).is_some(), "iat");
    assert!(c.get("exp").and_then(|v| v.as_i64()).is_some(), "exp");
    assert!(c.get("jti").and_then(|v| v.as_str()).is_some(), "jti");
    assert!(!c.contains_key("nonce"), "no nonce");
    let events = c["events"].as_object().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events["http://schemas.openid.net/event/backchannel-logout"],
        serde_json::json!({})
    );
    assert!(c.contains_key("sid") || c.contains_key("sub"), "sub or sid");
    c
}
