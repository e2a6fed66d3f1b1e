//! What operators and support see: request ids on every response and error page, HTML and JSON
//! 404s, a root page that names no tenant, Prometheus series after a real scenario, a separate
//! metrics address, and logs that never carry a secret.

use crate::harness::*;
use lanyard_idp::app::AppState;
use lanyard_idp::config::Config;
use lanyard_idp::manage::{self, NewClient};
use lanyard_idp::session::PolicyLayer;
use lanyard_idp::store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn unknown_paths_get_a_404_page_with_the_request_id() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/no/such/page", ts.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let id = request_id(&r);
    assert!(
        id.len() >= 8 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key("content-security-policy"));
    let body = r.text().await.unwrap();
    assert!(body.contains("Page not found"), "{body}");
    assert!(
        body.contains(&format!("Reference: <code>{id}</code>")),
        "{body}"
    );
    assert!(body.contains("go back to it and start again"), "{body}");
    // The way back: the service's own root page (minijinja escapes `/` in attributes).
    assert!(
        body.replace("&#x2f;", "/").contains(&format!(
            "<a href=\"{}/\">About this sign-in service</a>",
            ts.base
        )),
        "{body}"
    );

    // Under /api/ an unknown path answers in the admin API's JSON shape.
    let r = http
        .get(format!("{}/api/v1/no-such-thing", ts.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "not_found");

    // Known JSON endpoints keep their own error shape, with a request id too.
    let r = http
        .post(ts.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-request-id"));
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");

    // Every error page carries its request's id, each request a different one.
    let r = http.get(ts.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let id2 = request_id(&r);
    assert_ne!(id, id2);
    let body = r.text().await.unwrap();
    assert!(body.contains("Nothing to sign in to"));
    assert!(body.contains(&format!("Reference: <code>{id2}</code>")));
    let r = http
        .get(format!("{}/t/nosuchtenant/login?req=x", ts.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let id3 = request_id(&r);
    assert!(r.text().await.unwrap().contains(&id3));
}

#[tokio::test]
async fn the_root_page_says_what_it_is_without_naming_tenants() {
    let ts = TestServer::start().await;
    let r = reqwest::get(format!("{}/", ts.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let body = r.text().await.unwrap();
    assert!(body.contains("Lanyard is running"), "{body}");
    assert!(!body.contains("acme"), "no tenant named: {body}");
    assert!(!body.contains("Acme"), "no tenant named: {body}");
}

/// One sample line of a Prometheus text scrape: name, labels, value.
fn samples(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once("=\"")?;
                    Some((k.to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value))
        })
        .collect()
}

/// The value of the one series `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches several series");
    found.first().copied()
}

async fn scrape(ts: &TestServer) -> String {
    let r = reqwest::get(format!("{}/metrics", ts.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// A tenant of its own (metric series are per process, and every other test uses `acme`),
/// with alice and the `web` client, seen through the harness's helpers.
async fn own_tenant(ts: &TestServer, backchannel: Option<String>) -> TestServer {
    let slug = format!(
        "m{}",
        lanyard_idp::crypto::random_id()
            .to_lowercase()
            .replace(['-', '_'], "")
    );
    let now = ts.clock.now_secs();
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        &slug,
        None,
        PolicyLayer::default(),
        now,
    )
    .await
    .unwrap();
    let tenant = manage::tenant(&ts.state.db, &ts.base, &slug).await.unwrap();
    let alice = manage::create_user(&ts.state.db, &tenant, "alice", None, &[], PASSWORD, now)
        .await
        .unwrap();
    manage::create_client(
        &ts.state,
        &tenant,
        NewClient {
            client_id: "web".into(),
            secret: Some(SECRET.into()),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![POST_LOGOUT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            first_party: true,
            backchannel_logout_uri: backchannel,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    TestServer {
        base: ts.base.clone(),
        state: ts.state.clone(),
        clock: ts.clock.clone(),
        issuer: format!("{}/t/{slug}", ts.base),
        tenant,
        alice_id: alice.id,
        demo_password: None,
        seen: ts.seen.clone(),
    }
}

async fn logout_with_hint(ts: &TestServer, b: &Browser, id_token: &str) {
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    let landing = b.get(&ts.base, u.as_str()).await.redirect();
    assert_eq!(landing.as_str(), POST_LOGOUT);
}

#[tokio::test]
async fn metrics_count_logins_grants_reuse_sessions_and_deliveries() {
    let (rp, bc) = RecordingRp::start().await;
    // No dispatcher at first, so the owed deliveries can be seen in the gauges.
    let host = TestServer::start_with(Setup {
        dispatcher: false,
        ..Default::default()
    })
    .await;
    let ts = own_tenant(&host, Some(bc)).await;
    let slug = ts.tenant.slug.clone();
    let t = slug.as_str();

    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, _) = Browser::new()
        .authorize(&ts, &url, "alice", "wrong password")
        .await
        .page();
    assert_eq!(status, 401);
    let first = login_and_redeem(&ts, &b, "openid").await;
    lanyard_idp::server::refresh_gauges(&ts.state)
        .await
        .unwrap();
    let m = scrape(&ts).await;
    assert_eq!(
        value(&m, "lanyard_active_sessions", &[("tenant", t)]),
        Some(1.0)
    );
    // Counted per tenant: the host's own tenant has none.
    assert_eq!(
        value(&m, "lanyard_active_sessions", &[("tenant", "acme")]),
        Some(0.0)
    );

    // Rotate, then present the rotated token again: reuse ends the session (default policy).
    let rt = first["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    assert_eq!(token_request(&ts, "web", SECRET, &form).await.0, 200);
    assert_eq!(token_request(&ts, "web", SECRET, &form).await.0, 400);

    // A second session, ended by RP-initiated logout.
    let second = login_and_redeem(&ts, &b, "openid").await;
    logout_with_hint(&ts, &b, second["id_token"].as_str().unwrap()).await;

    ts.clock.advance_secs(30);
    lanyard_idp::server::refresh_gauges(&ts.state)
        .await
        .unwrap();
    let m = scrape(&ts).await;
    let login = |o: &str| value(&m, "lanyard_logins_total", &[("tenant", t), ("outcome", o)]);
    assert_eq!(login("succeeded"), Some(2.0));
    assert_eq!(login("bad_credentials"), Some(1.0));
    assert_eq!(login("throttled"), None);
    let grant = |g: &str, o: &str| {
        value(
            &m,
            "lanyard_token_grants_total",
            &[("tenant", t), ("grant_type", g), ("outcome", o)],
        )
    };
    assert_eq!(grant("authorization_code", "ok"), Some(2.0));
    assert_eq!(grant("refresh_token", "ok"), Some(1.0));
    assert_eq!(grant("refresh_token", "invalid_grant"), Some(1.0));
    assert_eq!(
        value(&m, "lanyard_refresh_reuse_detected_total", &[("tenant", t)]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lanyard_active_sessions", &[("tenant", t)]),
        Some(0.0)
    );
    let depth = |s: &str| {
        value(
            &m,
            "lanyard_outbox_depth",
            &[("kind", "backchannel_logout"), ("state", s)],
        )
    };
    assert_eq!(depth("pending"), Some(2.0), "one per ended session");
    assert_eq!(depth("dead"), Some(0.0));
    assert_eq!(
        value(&m, "lanyard_outbox_oldest_owed_seconds", &[]),
        Some(30.0)
    );
    // Durations by normalised route; no raw path (with the tenant slug) as a label.
    assert!(
        value(
            &m,
            "lanyard_http_request_duration_seconds_count",
            &[
                ("route", "/t/:slug/token"),
                ("method", "POST"),
                ("status", "200")
            ],
        )
        .unwrap()
            >= 3.0
    );
    assert!(!m.contains(&format!("route=\"/t/{t}")), "raw path as label");

    // Deliver: the latency histogram and outcome counters appear, the gauges drain.
    tokio::spawn(lanyard_idp::events::dispatcher::run(ts.state.clone()));
    rp.wait_for(2, &ts).await;
    ts.drain_outbox(10).await;
    lanyard_idp::server::refresh_gauges(&ts.state)
        .await
        .unwrap();
    let m = scrape(&ts).await;
    let kind = [("kind", "backchannel_logout")];
    assert!(value(&m, "lanyard_delivery_latency_seconds_count", &kind).unwrap() >= 2.0);
    assert!(
        value(
            &m,
            "lanyard_delivery_outcomes_total",
            &[("kind", "backchannel_logout"), ("outcome", "delivered")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        value(
            &m,
            "lanyard_delivery_attempts_total",
            &[("kind", "backchannel_logout"), ("result", "2xx")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        value(
            &m,
            "lanyard_outbox_depth",
            &[("kind", "backchannel_logout"), ("state", "pending")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "lanyard_outbox_oldest_owed_seconds", &[]),
        Some(0.0)
    );
    ts.assert_invariants().await;
}

#[tokio::test]
async fn metrics_bind_moves_metrics_off_the_main_address() {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (main_port, metrics_port) = (free_port(), free_port());
    let dir =
        std::env::temp_dir().join(format!("lanyard-test-{}", lanyard_idp::crypto::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let vars: HashMap<&str, String> = [
        ("LANYARD_DATABASE_URL", db_url.clone()),
        ("LANYARD_BIND", format!("127.0.0.1:{main_port}")),
        ("LANYARD_METRICS_BIND", format!("127.0.0.1:{metrics_port}")),
    ]
    .into_iter()
    .collect();
    let config = Config::load(None, &move |k| vars.get(k).cloned()).unwrap();
    let db = store::connect(&db_url).await.unwrap();
    store::migrate(&db).await.unwrap();
    let state = AppState::new(db, config, Arc::new(lanyard_idp::clock::SystemClock))
        .await
        .unwrap();
    let metrics = lanyard_idp::server::spawn_metrics_listener(&state)
        .await
        .unwrap();
    assert!(metrics.is_some());
    let app = lanyard_idp::server::app(state.clone(), |r| r);
    let listener = poem::listener::TcpListener::bind(format!("127.0.0.1:{main_port}"));
    tokio::spawn(async move {
        let _ = poem::Server::new(listener).run(app).await;
    });
    let main = format!("http://127.0.0.1:{main_port}");
    // Wait for the main listener (spawned above) to accept.
    let mut healthy = false;
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{main}/healthz")).await {
            healthy = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(healthy);
    assert_eq!(
        reqwest::get(format!("{main}/metrics"))
            .await
            .unwrap()
            .status(),
        404
    );
    let r = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("lanyard_http_request_duration_seconds"));
    // Taking the port again fails with a message naming the setting.
    let e = lanyard_idp::server::spawn_metrics_listener(&state)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("LANYARD_METRICS_BIND"), "{e:#}");
}

/// Test-only log capture: a writer for `tracing_subscriber::fmt` into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every `Set-Cookie` value of a response.
fn cookie_values(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Sign in through the login form, keeping every cookie value and the code as secrets.
/// Returns the token response.
async fn sign_in(ts: &TestServer, b: &Browser, secrets: &mut Vec<String>) -> serde_json::Value {
    let (url, _, _, verifier) = auth_url(ts, "web", REDIRECT, "openid", &[]);
    let (_, page) = b.get(&ts.base, &url).await.page();
    let csrf = field(&page, "csrf").unwrap();
    let req = field(&page, "req").unwrap();
    secrets.push(csrf.clone());
    let r = b
        .http
        .post(ts.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("req", req.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let cookies = cookie_values(&r);
    assert!(
        !cookies.is_empty(),
        "a session cookie (and a device cookie the first time)"
    );
    secrets.extend(cookies);
    let code = b.follow(&ts.base, r).await.param("code").unwrap();
    secrets.push(code.clone());
    let (s, tok) = token_request(
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
    assert_eq!(s, 200, "{tok}");
    for k in ["access_token", "refresh_token", "id_token"] {
        secrets.push(tok[k].as_str().unwrap().to_string());
    }
    tok
}

#[tokio::test]
async fn logs_carry_security_events_and_request_ids_but_never_a_secret() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::builder()
                .parse("info,lanyard=debug,lanyard_idp=debug,lanyard_admin=debug")
                .unwrap(),
        )
        .with_writer(capture.clone())
        .finish();
    // This test's runtime runs on this thread only, so the server's tasks log here too. While
    // exactly one dispatcher is registered, tracing-core computes the interest of a callsite
    // first reached on another thread (another test) from that thread's dispatcher alone and
    // caches "never" for ours; a second registered dispatcher makes it ask every dispatcher.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let guard = tracing::subscriber::set_default(subscriber);

    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), SECRET.into()];

    // A failed login.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (s, _) = Browser::new()
        .authorize(&ts, &url, "alice", "not the password at all")
        .await
        .page();
    assert_eq!(s, 401);
    secrets.push("not the password at all".into());

    // Login, code exchange, refresh, reuse (ends the session, back-channel logout).
    let b = Browser::new();
    let first = sign_in(&ts, &b, &mut secrets).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let (s, rotated) = token_request(&ts, "web", SECRET, &form).await;
    assert_eq!(s, 200);
    for k in ["access_token", "refresh_token", "id_token"] {
        secrets.push(rotated[k].as_str().unwrap().to_string());
    }
    assert_eq!(token_request(&ts, "web", SECRET, &form).await.0, 400);

    // A second session, ended by RP-initiated logout with back-channel delivery.
    let second = sign_in(&ts, &b, &mut secrets).await;
    logout_with_hint(&ts, &b, second["id_token"].as_str().unwrap()).await;
    secrets.extend(rp.wait_for(2, &ts).await);

    // An admin API call that changes something, then a login refused because of it.
    let admin = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "ops",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    secrets.push(admin.clone());
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/tenants/acme/users/bob/disable", ts.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let admin_request = request_id(&r);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (s, _) = Browser::new()
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .page();
    assert_eq!(s, 401);

    // An error page: its reference is the request id in the log.
    let r = reqwest::get(ts.url("/login")).await.unwrap();
    let error_request = request_id(&r);
    ts.drain_outbox(10).await;
    drop(guard);

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    for s in &secrets {
        assert!(s.len() >= 8, "a real secret: {s:?}");
        assert!(
            !log.contains(s.as_str()),
            "a secret reached the log: {s:?} in {}",
            log.lines().find(|l| l.contains(s.as_str())).unwrap()
        );
    }
    let events = |name: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["event"] == name)
            .collect()
    };
    let reasons: Vec<&str> = events("login.failed")
        .iter()
        .filter_map(|l| l["fields"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"bad_credentials"), "{reasons:?}");
    assert!(reasons.contains(&"inactive"), "{reasons:?}");
    assert_eq!(events("login.succeeded").len(), 2);
    assert_eq!(events("refresh.reuse_detected").len(), 1);
    let action = events("admin.action");
    assert!(
        action
            .iter()
            .any(|l| l["fields"]["action"] == "user.disabled"
                && l["fields"]["actor"].as_str().unwrap().starts_with("admin:")),
        "{action:?}"
    );
    // Events inside a request carry its id, from the request span.
    let in_request = |l: &serde_json::Value, id: &str| l["span"]["request_id"] == id;
    assert!(events("admin.request")
        .iter()
        .any(|l| in_request(l, &admin_request) && l["span"]["route"].is_string()));
    assert!(action.iter().any(|l| in_request(l, &admin_request)));
    assert!(events("http.request")
        .iter()
        .any(|l| in_request(l, &error_request) && l["fields"]["status"] == 400));
    for l in events("login.failed")
        .iter()
        .chain(events("refresh.reuse_detected").iter())
    {
        assert!(l["span"]["request_id"].is_string(), "{l}");
    }
    ts.assert_invariants().await;
}
