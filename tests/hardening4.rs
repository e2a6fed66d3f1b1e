//! Security hardening, fourth round: CSP `form-action` limited to the hand-off origin, admin API
//! tenant probing, store outages answered 503, signing-key activation, per-host delivery
//! fairness. Each test fails on the code before its fix.

use crate::harness::*;
use lanyard_idp::keys::{MIN_ACTIVATION_DELAY_SECS, NODE_CLOCK_SKEW_SECS};
use lanyard_idp::manage::{self, NewClient};
use lanyard_idp::session::PolicyLayer;

/// The `form-action` directive of a response's CSP.
fn form_action(r: &reqwest::Response) -> String {
    let csp = r
        .headers()
        .get("content-security-policy")
        .expect("a CSP")
        .to_str()
        .unwrap()
        .to_string();
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or_else(|| panic!("no form-action in {csp}"))
        .to_string()
}

/// GET `url` with the browser's cookies, following redirects within Lanyard; the last response.
async fn open(ts: &TestServer, b: &Browser, url: &str) -> reqwest::Response {
    let mut r = b.http.get(url).send().await.unwrap();
    while r.status().is_redirection() {
        let next = r
            .url()
            .join(r.headers()["location"].to_str().unwrap())
            .unwrap();
        assert!(next.as_str().starts_with(&ts.base), "left Lanyard: {next}");
        r = b.http.get(next).send().await.unwrap();
    }
    r
}

/// CSP Level 3 §6.4.1 with Chromium's check of the redirect after a form submission: a page
/// whose form hands off to a client names exactly that client's redirect origin; every other
/// page lets forms post to Lanyard only.
#[tokio::test]
async fn form_action_names_only_the_origin_a_page_hands_off_to() {
    let ts = TestServer::start().await;
    ts.client(NewClient {
        client_id: "third".into(),
        redirect_uris: vec!["https://third.example:8443/cb".into()],
        ..Default::default()
    })
    .await;
    // A JSON endpoint and an error page: 'self' only (was `'self' http: https:`).
    let r = reqwest::get(ts.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(form_action(&r), "form-action 'self'");
    let r = reqwest::get(format!("{}/no/such/page", ts.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(form_action(&r), "form-action 'self'");

    // The login page of a request of `web` hands off to rp.example, not to other clients.
    let b = Browser::new();
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let r = open(&ts, &b, &url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(form_action(&r), "form-action 'self' https://rp.example");
    // A wrong password shows the form again, still handing off.
    let body = r.text().await.unwrap();
    let r = b
        .http
        .post(ts.url("/login"))
        .form(&[
            ("csrf", field(&body, "csrf").unwrap().as_str()),
            ("req", field(&body, "req").unwrap().as_str()),
            ("username", "alice"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(form_action(&r), "form-action 'self' https://rp.example");

    // The consent page of a third-party client: its redirect origin, port included.
    let b = Browser::new();
    let (url, ..) = auth_url(&ts, "third", "https://third.example:8443/cb", "openid", &[]);
    let r = open(&ts, &b, &url).await;
    let body = r.text().await.unwrap();
    let r = b
        .http
        .post(ts.url("/login"))
        .form(&[
            ("csrf", field(&body, "csrf").unwrap().as_str()),
            ("req", field(&body, "req").unwrap().as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        form_action(&r),
        "form-action 'self' https://third.example:8443"
    );
    assert!(r.text().await.unwrap().contains("/consent"));

    // The logout confirmation: the post-logout redirect URI's origin when there is one ...
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    let r = open(&ts, &b, u.as_str()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(form_action(&r), "form-action 'self' https://rp.example");
    // ... and Lanyard only when the answer cannot leave it.
    let r = open(&ts, &b, &ts.url("/end_session")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-security-policy").is_some());
    assert_eq!(form_action(&r), "form-action 'self'");

    // The account portal (forms post to Lanyard and land on Lanyard).
    let r = open(&ts, &b, &ts.url("/account")).await;
    assert_eq!(form_action(&r), "form-action 'self'");
}

/// A tenant-scoped admin token asking about another tenant gets exactly what it gets for a tenant
/// that does not exist, on every tenant path of the API (status and body).
#[tokio::test]
async fn a_scoped_admin_token_cannot_tell_other_tenants_from_unknown_ones() {
    let ts = TestServer::start().await;
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        PolicyLayer::default(),
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "acme-only",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let spec: serde_json::Value = http
        .get(format!("{}/api/v1/openapi.json", ts.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut probed = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/tenants/{slug}") {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let answer = |slug: &str| {
                let concrete = path
                    .replace("{slug}", slug)
                    .split('/')
                    .map(|seg| {
                        if seg.starts_with('{') {
                            "x".to_string()
                        } else {
                            seg.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let req = http
                    .request(m, format!("{}/api/v1{concrete}", ts.base))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body("{}");
                async move {
                    let r = req.send().await.unwrap();
                    (r.status().as_u16(), r.text().await.unwrap())
                }
            };
            let other = answer("other").await;
            let unknown = answer("no-such-tenant").await;
            assert_eq!(other, unknown, "{method} {path}");
            assert_ne!(other.0, 403, "{method} {path}: {}", other.1);
            probed += 1;
        }
    }
    assert!(probed > 30, "only {probed} operations probed");
    // The plain show, explicitly: 404 with one fixed body, while the own tenant is 200.
    let show = |slug: &str| {
        http.get(format!("{}/api/v1/tenants/{slug}", ts.base))
            .bearer_auth(&token)
            .send()
    };
    let r = show("other").await.unwrap();
    assert_eq!(r.status(), 404);
    let other_body = r.text().await.unwrap();
    assert!(
        !other_body.contains("other"),
        "the slug is not echoed: {other_body}"
    );
    assert_eq!(show("acme").await.unwrap().status(), 200);
}

/// Make the store unreachable for this server (both pools closed) and let the tenant and client
/// caches run out, so every request needs the database.
async fn outage(ts: &TestServer) {
    ts.state.db.close_by_ref().await.unwrap();
    ts.state.read.close_by_ref().await.unwrap();
    ts.clock.advance_secs(10);
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}", r.url()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// RFC 9110 §15.6.4: while the store is unreachable every endpoint answers 503 with
/// `Retry-After`; none claims that the tenant, client or session does not exist.
#[tokio::test]
async fn during_a_store_outage_every_endpoint_answers_503_with_retry_after() {
    let ts = TestServer::start_with(Setup {
        dispatcher: false,
        ..Default::default()
    })
    .await;
    let admin_token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        None,
        "ops",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let b = Browser::new();
    let tokens = login_and_redeem(&ts, &b, "openid").await;
    // A sign-in form opened before the outage, submitted during it.
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "login")]);
    let r = open(&ts, &b, &url).await;
    let login_form = r.text().await.unwrap();
    outage(&ts).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Discovery, of the tenant and of a slug nobody knows (it cannot be known not to exist).
    for slug in ["acme", "no-such-tenant"] {
        let r = http
            .get(format!(
                "{}/t/{slug}/.well-known/openid-configuration",
                ts.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "discovery of {slug}");
        assert!(retry_after(&r) >= 1);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    // Authorization: a page (the redirect URI cannot be validated), 503.
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r) >= 1);
    assert!(r.text().await.unwrap().contains("Temporarily unavailable"));
    // The token endpoint: 503 with a JSON error body.
    let r = http
        .post(ts.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r) >= 1);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // RP-initiated logout: 503, not 404 "unknown tenant".
    let r = b.http.get(ts.url("/end_session")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r) >= 1);
    assert!(!r.text().await.unwrap().contains("no such tenant"));
    // A form POST.
    let r = b
        .http
        .post(ts.url("/login"))
        .form(&[
            ("csrf", field(&login_form, "csrf").unwrap().as_str()),
            ("req", field(&login_form, "req").unwrap().as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r) >= 1);
    // Userinfo, introspection and revocation.
    let r = http
        .get(ts.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    for endpoint in ["/introspect", "/revoke"] {
        let r = http
            .post(ts.url(endpoint))
            .basic_auth("web", Some(SECRET))
            .form(&[("token", tokens["access_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{endpoint}");
        assert!(retry_after(&r) >= 1, "{endpoint}");
    }
    // The admin API.
    let r = http
        .get(format!("{}/api/v1/tenants/acme", ts.base))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r) >= 1);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The portal.
    let r = b.http.get(ts.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 503);
}

/// With the client and tenant known (cached) and the store gone, an authorization request goes
/// back to the validated redirect URI as `temporarily_unavailable` (RFC 6749 §4.1.2.1).
#[tokio::test]
async fn an_authorization_request_the_store_cannot_keep_returns_temporarily_unavailable() {
    let ts = TestServer::start_with(Setup {
        dispatcher: false,
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let (url, state, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    // Caches the tenant and the client.
    assert_eq!(open(&ts, &b, &url).await.status(), 200);
    ts.state.db.close_by_ref().await.unwrap();
    ts.state.read.close_by_ref().await.unwrap();
    let landing = Browser::new().get(&ts.base, &url).await;
    assert_eq!(
        landing.param("error").as_deref(),
        Some("temporarily_unavailable")
    );
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    assert_eq!(landing.param("iss").as_deref(), Some(ts.issuer.as_str()));
}

fn kid_of(jwt: &str) -> String {
    let h: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap().to_string()
}

async fn jwks_kids(ts: &TestServer) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(ts.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Publish before use: a rotation that would sign at once is refused; a rotated key is in the
/// JWKS at once and signs only from its activation, beyond the clock skew between nodes.
#[tokio::test]
async fn a_rotated_key_is_published_at_once_and_signs_only_after_the_activation_delay() {
    let ts = TestServer::start().await;
    let now = ts.clock.now_secs();
    let refused = manage::rotate_keys(&ts.state.db, &ts.tenant, 0, now).await;
    assert!(
        matches!(refused, Err(manage::ManageError::Invalid(_))),
        "{refused:?}"
    );
    let refused = manage::rotate_keys(&ts.state.db, &ts.tenant, NODE_CLOCK_SKEW_SECS, now).await;
    assert!(refused.is_err(), "a delay within the skew is refused");
    let before = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let old_kid = kid_of(before["id_token"].as_str().unwrap());

    let rotated = manage::rotate_keys(&ts.state.db, &ts.tenant, MIN_ACTIVATION_DELAY_SECS, now)
        .await
        .unwrap();
    let new_kid = rotated
        .iter()
        .find(|k| k.alg == "RS256")
        .unwrap()
        .kid
        .clone();
    assert_eq!(
        rotated
            .iter()
            .find(|k| k.alg == "RS256")
            .unwrap()
            .activate_at,
        now + MIN_ACTIVATION_DELAY_SECS
    );
    // The key caches live a few seconds: move past them, not past the activation.
    ts.clock.advance_secs(6);
    let kids = jwks_kids(&ts).await;
    assert!(
        kids.contains(&new_kid) && kids.contains(&old_kid),
        "{kids:?}"
    );
    let t = login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(kid_of(t["id_token"].as_str().unwrap()), old_kid);
    // A node whose clock is the whole skew behind still signs with the old key after activation.
    ts.clock
        .advance_secs(MIN_ACTIVATION_DELAY_SECS - 6 - NODE_CLOCK_SKEW_SECS);
    let t = login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(kid_of(t["id_token"].as_str().unwrap()), old_kid);
    // From its activation on, the new key signs, and the old one is still published.
    ts.clock.advance_secs(NODE_CLOCK_SKEW_SECS);
    let t = login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(kid_of(t["id_token"].as_str().unwrap()), new_kid);
    assert!(jwks_kids(&ts).await.contains(&old_kid));
}

/// The first keys of a new tenant have no predecessor: their activation is backdated, so a node
/// whose clock is behind the creating node's signs at once (it answered 500 before).
#[tokio::test]
async fn a_new_tenants_first_keys_sign_on_a_node_whose_clock_is_behind() {
    let ts = TestServer::start().await;
    // The harness created acme at the mock clock's time; this node is the skew behind.
    ts.clock.advance_secs(-NODE_CLOCK_SKEW_SECS);
    let t = login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert!(t["id_token"].as_str().is_some());
    let (s, body) =
        token_request(&ts, "web", SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, 200, "{body}");
}

/// A relying-party host that accepts connections and never answers: it counts them.
async fn hanging_host() -> (std::sync::Arc<std::sync::atomic::AtomicUsize>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    (seen, format!("http://127.0.0.1:{port}"))
}

async fn sign_in(ts: &TestServer, client_id: &str, secret: &str, user: &str) {
    let (url, _, _, verifier) = auth_url(ts, client_id, REDIRECT, "openid", &[]);
    let code = Browser::new()
        .authorize(ts, &url, user, PASSWORD)
        .await
        .param("code")
        .unwrap();
    let (s, body) = token_request(
        ts,
        client_id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

async fn end_user(ts: &TestServer, username: &str) {
    use lanyard_idp::session::service::{end_scope, Ender, Scope};
    let id = lanyard_idp::store::users::find_by_username(&ts.state.db, &ts.tenant.id, username)
        .await
        .unwrap()
        .unwrap()
        .id;
    end_scope(
        &ts.state,
        &ts.tenant.id,
        Scope::User(&id),
        lanyard_idp::session::EndReason::AdminRevoked,
        &Ender::new("admin", None),
    )
    .await
    .unwrap();
}

/// Two logout URIs on one dead host share that host's delivery limit: with a limit of 2 per
/// destination and 4 slots, the host never has more than 2 deliveries in flight (it had 2 per
/// URI, all 4 slots, before), and a healthy RP's logout goes out meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_logout_uris_on_one_dead_host_share_its_delivery_limit() {
    let (dead_seen, dead) = hanging_host().await;
    let (healthy, healthy_url) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(format!("{dead}/a")),
        env: vec![
            ("LANYARD_DELIVERY_CONCURRENCY", "4".into()),
            ("LANYARD_DELIVERY_PER_DESTINATION", "2".into()),
            // Nothing at the dead host times out during the test: its deliveries stay in flight.
            ("LANYARD_DELIVERY_TIMEOUT_MS", "120000".into()),
            ("LANYARD_DELIVERY_LEASE_MS", "180000".into()),
        ],
        ..Default::default()
    })
    .await;
    for (id, bc) in [
        ("web-b", format!("{dead}/b")),
        ("healthy", healthy_url.clone()),
    ] {
        ts.client(NewClient {
            client_id: id.into(),
            secret: Some(format!("{id}-secret-0123456789")),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into()],
            first_party: true,
            backchannel_logout_uri: Some(bc),
            ..Default::default()
        })
        .await;
    }
    sign_in(&ts, "healthy", "healthy-secret-0123456789", "bob").await;
    for _ in 0..3 {
        login_and_redeem(&ts, &Browser::new(), "openid").await;
        sign_in(&ts, "web-b", "web-b-secret-0123456789", "alice").await;
    }
    end_user(&ts, "alice").await;
    ts.clock.advance_secs(1);
    end_user(&ts, "bob").await;
    healthy.wait_for(1, &ts).await;
    // The dead host got its share, and no more, however many URIs it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dead_seen.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead host got no attempt"
        );
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // More claim rounds, with slots free: none of them may go to the dead host.
    for _ in 0..25 {
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let seen = dead_seen.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(seen, 2, "deliveries in flight to the dead host");
    }
}

/// An outbox row owed to `target`, due at `due_ms`.
fn owed(ts: &TestServer, target: &str, due_ms: i64) -> lanyard_idp::store::outbox::DeliveryRow {
    lanyard_idp::store::outbox::DeliveryRow {
        id: lanyard_idp::crypto::random_id(),
        tenant_id: ts.tenant.id.clone(),
        kind: "backchannel_logout".into(),
        session_id: "s".into(),
        client_id: "c".into(),
        target: target.into(),
        payload: "{}".into(),
        state: lanyard_idp::store::outbox::PENDING.into(),
        attempts: 0,
        created_at_ms: due_ms,
        next_attempt_at_ms: due_ms,
        lease_until_ms: None,
        leased_by: None,
        last_error: None,
        delivered_at_ms: None,
    }
}

/// A claim reads a bounded window at the head of the queue; only a widened claim looks past a
/// full destination's backlog. Before, every claim searched past the full destinations, which
/// read a 100,000-row backlog owed to one host once per delivery (456 s of server CPU for
/// 100,000 deliveries to one origin, against 48.7 s now).
#[tokio::test]
async fn a_claim_reads_the_head_of_the_queue_and_only_a_widened_one_looks_past_a_full_host() {
    use lanyard_idp::store::outbox::{claim_due, insert_many, Fairness};
    let ts = TestServer::start_with(Setup {
        dispatcher: false,
        ..Default::default()
    })
    .await;
    let busy_host = "https://busy.example/bc";
    let other = "https://other.example/bc";
    let mut rows: Vec<_> = (0..300).map(|i| owed(&ts, busy_host, 1_000 + i)).collect();
    rows.push(owed(&ts, other, 5_000));
    insert_many(&ts.state.db, rows).await.unwrap();
    let busy: std::collections::HashMap<String, usize> = [(busy_host.to_string(), 2)].into();
    let claim = |widen: bool, n: &'static str| {
        let busy = &busy;
        let db = &ts.state.db;
        async move {
            let fair = Fairness {
                busy,
                per_destination: 2,
                widen,
            };
            claim_due(db, n, 10_000, 60_000, 4, &fair).await.unwrap()
        }
    };
    // The busy host is at its limit and its backlog fills the head: nothing is taken, the rows
    // are reported held back, and the other host's row (300 rows in) is not searched for.
    let c = claim(false, "c1").await;
    assert!(c.rows.is_empty(), "{:?}", c.rows.len());
    assert!(c.held_back);
    // Widened, the claim finds it past the backlog, and only it.
    let c = claim(true, "c2").await;
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.rows[0].target, other);
    assert_eq!(c.past_head, 1);
    // With room at the busy host, the head serves it up to its limit and no further.
    let c = {
        let none = std::collections::HashMap::new();
        let fair = Fairness {
            busy: &none,
            per_destination: 2,
            widen: false,
        };
        claim_due(&ts.state.db, "c3", 10_000, 60_000, 4, &fair)
            .await
            .unwrap()
    };
    assert_eq!(c.rows.len(), 2);
    assert!(c.rows.iter().all(|r| r.target == busy_host));
    assert!(c.held_back);
}

/// Claims and outcomes are written for many rows per statement, and each row still only for
/// the claim that holds it: a row whose lease ran out and was claimed by another node keeps its
/// new holder's claim when the first holder's outcome arrives late, while the first holder's
/// other rows are recorded, each with its own delivery time.
#[tokio::test]
async fn batched_claims_and_outcomes_touch_only_the_rows_their_claim_holds() {
    use lanyard_idp::store::outbox::{
        claim_due, find, insert_many, mark_delivered_many, Fairness, DELIVERED, IN_FLIGHT, PENDING,
    };
    let ts = TestServer::start_with(Setup {
        dispatcher: false,
        ..Default::default()
    })
    .await;
    let db = &ts.state.db;
    let rows: Vec<_> = (0..5)
        .map(|i| owed(&ts, &format!("https://rp{i}.example/bc"), 1_000 + i))
        .collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    insert_many(db, rows).await.unwrap();
    let none = std::collections::HashMap::new();
    let fair = Fairness {
        busy: &none,
        per_destination: 8,
        widen: false,
    };
    // Node A claims the oldest row with a short lease, then two more with a long one.
    let a1 = claim_due(db, "a1", 10_000, 11_000, 1, &fair).await.unwrap();
    let a2 = claim_due(db, "a2", 10_000, 90_000, 2, &fair).await.unwrap();
    assert_eq!(a1.rows.len(), 1);
    assert_eq!(a1.rows[0].id, ids[0]);
    let mut a2_ids: Vec<_> = a2.rows.iter().map(|r| r.id.clone()).collect();
    a2_ids.sort();
    let mut want = vec![ids[1].clone(), ids[2].clone()];
    want.sort();
    assert_eq!(
        a2_ids, want,
        "one claim statement took exactly the two oldest left"
    );
    assert!(a2
        .rows
        .iter()
        .all(|r| r.attempts == 1 && r.state == IN_FLIGHT));
    // A's short lease runs out; node B claims that row again (an abandoned row comes first).
    let b = claim_due(db, "b", 12_000, 40_000, 1, &fair).await.unwrap();
    assert_eq!(b.rows.len(), 1);
    assert_eq!(b.rows[0].id, ids[0]);
    assert_eq!(
        b.rows[0].attempts, 2,
        "the re-claim counts a second attempt"
    );
    // A's outcomes arrive in one batch: its stale claim on row 0 is refused, its two live
    // claims are recorded, each with its own time; a pair naming the wrong claim is refused.
    let took = mark_delivered_many(
        db,
        &[
            (ids[0].as_str(), "a1", 12_500),
            (ids[1].as_str(), "a2", 12_600),
            (ids[2].as_str(), "a2", 12_700),
            (ids[3].as_str(), "a2", 12_800),
        ],
    )
    .await
    .unwrap();
    let mut took: Vec<_> = took.into_iter().collect();
    took.sort();
    let mut want = vec![
        (ids[1].clone(), "a2".to_string()),
        (ids[2].clone(), "a2".to_string()),
    ];
    want.sort();
    assert_eq!(took, want);
    let tenant_id = ts.tenant.id.as_str();
    let row = |i: usize| {
        let id = ids[i].clone();
        async move { find(db, tenant_id, &id).await.unwrap().unwrap() }
    };
    let r0 = row(0).await;
    assert_eq!(
        (r0.state.as_str(), r0.leased_by.as_deref()),
        (IN_FLIGHT, Some("b"))
    );
    assert_eq!(r0.delivered_at_ms, None);
    let (r1, r2) = (row(1).await, row(2).await);
    assert_eq!(
        (r1.state.as_str(), r1.delivered_at_ms),
        (DELIVERED, Some(12_600))
    );
    assert_eq!(
        (r2.state.as_str(), r2.delivered_at_ms),
        (DELIVERED, Some(12_700))
    );
    assert_eq!(r1.lease_until_ms, None);
    let r3 = row(3).await;
    assert_eq!((r3.state.as_str(), r3.leased_by), (PENDING, None));
    // B's own outcome for row 0 is recorded.
    let took = mark_delivered_many(db, &[(ids[0].as_str(), "b", 13_000)])
        .await
        .unwrap();
    assert!(took.contains(&(ids[0].clone(), "b".to_string())));
    assert_eq!(row(0).await.state, DELIVERED);
    // Rows already delivered are not claimed again, whatever the lease said.
    let c = claim_due(db, "c", 100_000, 200_000, 10, &fair)
        .await
        .unwrap();
    let mut c_ids: Vec<_> = c.rows.iter().map(|r| r.id.clone()).collect();
    c_ids.sort();
    let mut want = vec![ids[3].clone(), ids[4].clone()];
    want.sort();
    assert_eq!(c_ids, want);
}
