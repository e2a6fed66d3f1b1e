//! Lockout and brute-force protection end to end: per-(account, known device) allowances and
//! progressive delays, 429 with Retry-After for throttled sign-ins and client authentication,
//! account locks (time-limited and manual) through the termination path with their mails,
//! device trust re-scored on live sessions, and a tenant's response chains.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::{LayerRef, Mode};
use lanyard_idp::store;
use std::sync::Arc;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
const BERLIN: (f64, f64) = (52.52, 13.405);
const NEW_YORK: (f64, f64) = (40.7128, -74.006);

fn proxied(extra: &[(&'static str, &str)]) -> Setup {
    let mut env = vec![
        ("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8".to_string()),
        ("LANYARD_GEO_LATITUDE_HEADER", "X-Geo-Lat".to_string()),
        ("LANYARD_GEO_LONGITUDE_HEADER", "X-Geo-Lon".to_string()),
        (
            "LANYARD_DEVICE_POSTURE_HEADER",
            "X-Device-Posture".to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Setup {
        env,
        ..Default::default()
    }
}

/// A browser behind the trusted proxy (its address, place and posture as the proxy reports).
struct Device {
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

fn device(ip: &str, at: Option<(f64, f64)>, posture: Option<&str>) -> Device {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    h.insert("user-agent", CHROME.parse().unwrap());
    if let Some((lat, lon)) = at {
        h.insert("x-geo-lat", lat.to_string().parse().unwrap());
        h.insert("x-geo-lon", lon.to_string().parse().unwrap());
    }
    if let Some(p) = posture {
        h.insert("x-device-posture", p.parse().unwrap());
    }
    Device {
        http: reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap(),
        jar,
    }
}

impl Device {
    fn browser(&self) -> Browser {
        Browser {
            http: self.http.clone(),
        }
    }

    /// The same cookies, seen from another address, place or posture.
    fn elsewhere(
        &self,
        ts: &TestServer,
        ip: &str,
        at: Option<(f64, f64)>,
        posture: Option<&str>,
    ) -> Device {
        use reqwest::cookie::CookieStore;
        let d = device(ip, at, posture);
        let url = url::Url::parse(&ts.base).unwrap();
        if let Some(all) = self.jar.cookies(&url) {
            for kv in all.to_str().unwrap().split("; ") {
                d.jar.add_cookie_str(kv, &url);
            }
        }
        d
    }
}

/// A login attempt's answer: status, Retry-After, body, and the code when it signed in.
struct Attempt {
    status: u16,
    retry_after: Option<i64>,
    body: String,
    code: Option<String>,
}

/// Open `/authorize` (with `extra` parameters) and submit the login form.
async fn attempt(
    ts: &TestServer,
    d: &Device,
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Attempt {
    let (url, _, _, _) = auth_url(ts, "web", REDIRECT, "openid profile", extra);
    let (status, page) = d.browser().get(&ts.base, &url).await.page();
    assert_eq!(status, 200, "{page}");
    let r = d
        .http
        .post(ts.url("/login"))
        .form(&[
            ("csrf", field(&page, "csrf").unwrap().as_str()),
            ("req", field(&page, "req").unwrap().as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    if r.status().is_redirection() {
        let landing = d.browser().follow(&ts.base, r).await;
        return Attempt {
            status,
            retry_after,
            body: String::new(),
            code: landing.param("code"),
        };
    }
    Attempt {
        status,
        retry_after,
        body: r.text().await.unwrap(),
        code: None,
    }
}

async fn events(ts: &TestServer, kind: &str) -> Vec<store::audit::EventRow> {
    store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 1000)
        .await
        .unwrap()
}

fn detail(e: &store::audit::EventRow) -> serde_json::Value {
    serde_json::from_str(&e.detail).unwrap()
}

async fn throttle(ts: &TestServer, changes: serde_json::Value) {
    manage::security::set_throttle(&ts.state, &ts.tenant, &changes, "test")
        .await
        .unwrap();
}

async fn set_policy(ts: &TestServer, kv: &[(&str, &str)]) {
    let changes: Vec<FieldChange> = kv
        .iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v.to_string()))
        .collect();
    change_layer(&ts.state, &ts.tenant, &LayerRef::tenant(), &changes, "test")
        .await
        .unwrap();
}

async fn session_of(ts: &TestServer, sid: &str) -> lanyard_idp::session::Session {
    lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, sid)
        .await
        .unwrap()
        .unwrap()
}

async fn alice_sessions(ts: &TestServer) -> Vec<store::sessions::SessionRow> {
    store::sessions::list(&ts.state.db, &ts.tenant.id, Some(&ts.alice_id), false, 100)
        .await
        .unwrap()
}

#[tokio::test]
async fn attacker_fails_40_times_from_unknown_devices_and_the_user_on_their_known_device_still_gets_in(
) {
    let ts = TestServer::start_with(proxied(&[])).await;
    // The user's laptop has signed alice in before: it holds a device cookie of hers.
    let laptop = device("198.51.100.7", None, None);
    let first = attempt(&ts, &laptop, "alice", PASSWORD, &[]).await;
    assert!(first.code.is_some(), "signed in: {}", first.status);

    // An attacker guesses from 40 fresh browsers over 10 addresses (4 each, under the per-IP
    // limit), waiting out every delay, so all 40 are real wrong-password failures.
    let mut failures = 0;
    let mut waited = Vec::new();
    for i in 0..40 {
        let bot = device(&format!("203.0.113.{}", i % 10), None, None);
        let mut a = attempt(&ts, &bot, "alice", "wrong-guess", &[]).await;
        if a.status == 429 {
            let secs = a.retry_after.expect("Retry-After on 429");
            waited.push(secs);
            ts.clock.advance_secs(secs);
            a = attempt(&ts, &bot, "alice", "wrong-guess", &[]).await;
        }
        assert_eq!(a.status, 401, "attempt {i}: {}", a.body);
        assert!(a.body.contains("Invalid username or password."));
        failures += 1;
    }
    assert_eq!(failures, 40);
    // Delays began after the 5 free failures and doubled up to the cap.
    assert_eq!(&waited[..6], &[30, 60, 120, 240, 480, 900]);
    assert!(waited[6..].iter().all(|w| *w == 900), "{waited:?}");

    // Right after the 40th failure, an unknown device is delayed even with the right password...
    let stranger = device("192.0.2.50", None, None);
    let a = attempt(&ts, &stranger, "alice", PASSWORD, &[]).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.retry_after, Some(900));
    assert!(a.body.contains("Try again in 15 minutes"), "{}", a.body);
    // ...but the user's own laptop, with the right password, gets straight in.
    let a = attempt(&ts, &laptop, "alice", PASSWORD, &[("prompt", "login")]).await;
    assert!(
        a.code.is_some(),
        "known device refused: {} {}",
        a.status,
        a.body
    );

    let failed = events(&ts, "login.failed").await;
    assert_eq!(failed.len(), 40);
    assert!(failed.iter().all(|e| detail(e)["known_device"] == false));
    let throttled = events(&ts, "login.throttled").await;
    assert!(throttled
        .iter()
        .all(|e| detail(e)["scope"] == "account" && detail(e)["known_device"] == false));
    ts.assert_invariants().await;
}

#[tokio::test]
async fn failures_on_the_known_device_count_apart_from_the_unknown_ones() {
    let ts = TestServer::start_with(proxied(&[])).await;
    throttle(&ts, serde_json::json!({ "account_free_failures": 2 })).await;
    let laptop = device("198.51.100.7", None, None);
    assert!(attempt(&ts, &laptop, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    // Two failures on the laptop use its own allowance; the third attempt waits.
    for _ in 0..2 {
        let a = attempt(&ts, &laptop, "alice", "typo", &[("prompt", "login")]).await;
        assert_eq!(a.status, 401);
    }
    let a = attempt(&ts, &laptop, "alice", PASSWORD, &[("prompt", "login")]).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.retry_after, Some(30));
    // An unknown device is not delayed by the laptop's failures.
    let other = device("198.51.100.8", None, None);
    assert!(attempt(&ts, &other, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    ts.clock.advance_secs(30);
    assert!(
        attempt(&ts, &laptop, "alice", PASSWORD, &[("prompt", "login")])
            .await
            .code
            .is_some()
    );
    let f = events(&ts, "login.failed").await;
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|e| detail(e)["known_device"] == true));
}

#[tokio::test]
async fn the_per_ip_limit_answers_429_with_retry_after_and_the_page_says_when() {
    let ts = TestServer::start_with(proxied(&[])).await;
    throttle(
        &ts,
        serde_json::json!({ "ip_max_failures": 3, "ip_lockout_secs": 600 }),
    )
    .await;
    let bot = device("203.0.113.9", None, None);
    for user in ["alice", "bob", "carol"] {
        assert_eq!(attempt(&ts, &bot, user, "guess", &[]).await.status, 401);
    }
    let a = attempt(&ts, &bot, "dave", "guess", &[]).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.retry_after, Some(600));
    assert!(a.body.contains("Try again in 10 minutes"), "{}", a.body);
    // Even the right password waits: the address is refused before any password is checked.
    assert_eq!(attempt(&ts, &bot, "alice", PASSWORD, &[]).await.status, 429);
    let t = events(&ts, "login.throttled").await;
    assert!(t.iter().all(|e| detail(e)["scope"] == "ip"));
    // Another address is not affected; after the lockout the first one may try again.
    let other = device("203.0.113.10", None, None);
    assert!(attempt(&ts, &other, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    ts.clock.advance_secs(600);
    assert!(
        attempt(&ts, &bot, "alice", PASSWORD, &[("prompt", "login")])
            .await
            .code
            .is_some()
    );
}

async fn client_request(ts: &TestServer, endpoint: &str, secret: &str) -> reqwest::Response {
    let form: &[(&str, &str)] = match endpoint {
        "token" => &[
            ("grant_type", "authorization_code"),
            ("code", "no-such-code"),
            ("redirect_uri", REDIRECT),
        ],
        _ => &[("token", "no-such-token")],
    };
    reqwest::Client::new()
        .post(ts.url(&format!("/{endpoint}")))
        .basic_auth("web", Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_client_authentication_is_throttled_per_client_id_with_429_invalid_client() {
    let ts = TestServer::start().await;
    throttle(
        &ts,
        serde_json::json!({ "client_max_failures": 3, "client_lockout_secs": 120 }),
    )
    .await;
    for endpoint in ["token", "introspect", "revoke"] {
        let r = client_request(&ts, endpoint, "wrong-secret").await;
        assert_eq!(r.status().as_u16(), 401, "{endpoint}");
    }
    // The limit is reached: even the right secret is refused, at every endpoint, for a while.
    for endpoint in ["token", "introspect", "revoke"] {
        let r = client_request(&ts, endpoint, SECRET).await;
        assert_eq!(r.status().as_u16(), 429, "{endpoint}");
        assert_eq!(r.headers()["retry-after"], "120");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(
            body["error_description"],
            "Too many failed client authentications. Retry after 120 seconds."
        );
    }
    let e = events(&ts, "client.throttled").await;
    assert_eq!(e.len(), 1);
    assert_eq!(detail(&e[0])["client_id"], "web");
    // Another client is not affected; after the lockout the right secret works again.
    ts.clock.advance_secs(120);
    let r = client_request(&ts, "token", SECRET).await;
    assert_eq!(
        r.status().as_u16(),
        400,
        "an unknown code, past authentication"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

fn mail_setup() -> Setup {
    Setup {
        dispatcher: false,
        env: vec![
            // Mail on, never sent (no dispatcher): the outbox rows are what the test reads.
            ("LANYARD_SMTP_URL", "smtp://127.0.0.1:9".to_string()),
            ("LANYARD_MAIL_FROM", "id@acme.test".to_string()),
        ],
        ..Default::default()
    }
}

async fn mails(ts: &TestServer) -> Vec<serde_json::Value> {
    store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "email")
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn a_locked_user_cannot_sign_in_their_sessions_end_and_the_lock_expires() {
    let ts = TestServer::start_with(mail_setup()).await;
    manage::mail::set(
        &ts.state,
        &ts.tenant,
        None,
        Some(Some("security@acme.test".into())),
        "test",
    )
    .await
    .unwrap();
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();

    let locked =
        manage::revocation::lock_user(&ts.state, &ts.tenant, "alice", Some(1800), "test-admin")
            .await
            .unwrap();
    assert_eq!(locked.lock, "until");
    assert_eq!(locked.locked_until, Some(ts.clock.now_secs() + 1800));
    assert_eq!(locked.sessions_ended, 1);
    assert!(locked.user_mailed && locked.admin_mailed);
    let rows = alice_sessions(&ts).await;
    assert!(rows
        .iter()
        .all(|s| s.end_reason.as_deref() == Some("account_locked")));
    // Its refresh token (offline_access too) is dead.
    let (status, body) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    // The user's mail and the admin address's, in the outbox.
    let m = mails(&ts).await;
    let to: Vec<&str> = m.iter().map(|p| p["to"].as_str().unwrap()).collect();
    assert!(
        to.contains(&"alice@acme.test") && to.contains(&"security@acme.test"),
        "{to:?}"
    );
    assert!(m.iter().any(|p| p["template"] == "account_locked"));
    assert!(m.iter().any(|p| p["template"] == "account_locked_admin"));
    assert_eq!(events(&ts, "user.locked").await.len(), 1);
    let notified = events(&ts, "admin.notified").await;
    assert_eq!(notified[0].outcome, "account_locked");
    // user show reports it.
    let v = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.clock.now_secs())
        .await
        .unwrap();
    assert_eq!(v.lock, "until");
    assert_eq!(v.lock_reason.as_deref(), Some("admin"));

    // Sign-in with the right password: a clear message, audited.
    let d = device("198.51.100.7", None, None);
    let a = attempt(&ts, &d, "alice", PASSWORD, &[]).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("This account is locked until"),
        "{}",
        a.body
    );
    assert_eq!(
        events(&ts, "login.refused").await[0].outcome,
        "account_locked"
    );
    // A wrong password says nothing of the lock.
    let a = attempt(&ts, &d, "alice", "wrong", &[]).await;
    assert_eq!(a.status, 401);
    assert!(!a.body.contains("locked"));
    // Thirty minutes on, the lock has run out.
    ts.clock.advance_secs(1800);
    assert!(attempt(&ts, &d, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_manual_lock_holds_until_an_admin_unlocks() {
    let ts = TestServer::start_with(mail_setup()).await;
    let l = manage::revocation::lock_user(&ts.state, &ts.tenant, "alice", None, "test-admin")
        .await
        .unwrap();
    assert_eq!(l.lock, "until_unlocked");
    assert!(!l.admin_mailed, "no admin address set: audit only");
    let d = device("198.51.100.7", None, None);
    ts.clock.advance_secs(400 * 86_400);
    let a = attempt(&ts, &d, "alice", PASSWORD, &[]).await;
    assert_eq!(a.status, 403);
    assert!(a
        .body
        .contains("This account is locked until an administrator unlocks it."));
    let list = manage::users::list_users(&ts.state.db, &ts.tenant, ts.clock.now_secs())
        .await
        .unwrap();
    let alice = list.iter().find(|u| u.username == "alice").unwrap();
    assert_eq!(alice.lock, "until_unlocked");
    // A shorter automatic lock does not shorten it.
    let again =
        manage::revocation::lock_user(&ts.state, &ts.tenant, "alice", Some(60), "test-admin")
            .await
            .unwrap();
    assert_eq!(again.lock, "until_unlocked");
    assert!(
        manage::revocation::unlock_user(&ts.state, &ts.tenant, "alice", "test-admin")
            .await
            .unwrap()
    );
    assert!(attempt(&ts, &d, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    assert_eq!(events(&ts, "user.unlocked").await.len(), 1);
    assert!(
        !manage::revocation::unlock_user(&ts.state, &ts.tenant, "alice", "test-admin")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_posture_reported_on_a_later_request_re_scores_the_live_session() {
    let ts = TestServer::start_with(proxied(&[])).await;
    set_policy(
        &ts,
        &[
            ("min_device_trust", "40"),
            ("on_low_device_trust", "read_only"),
        ],
    )
    .await;
    let laptop = device("198.51.100.7", None, Some("disk_encryption=on"));
    assert!(attempt(&ts, &laptop, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    let sid = alice_sessions(&ts).await[0].sid.clone();
    assert_eq!(session_of(&ts, &sid).await.mode(), Some(Mode::Normal));
    // Later the gateway reports the disk unencrypted: 50 + 1 (a success) - 30 = 21 < 40 at
    // the next check.
    let now_off = laptop.elsewhere(&ts, "198.51.100.7", None, Some("disk_encryption=off"));
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid profile", &[]);
    let landing = now_off.browser().get(&ts.base, &url).await;
    assert!(landing.param("code").is_some(), "reused, read-only");
    let s = session_of(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReadOnly));
    assert_eq!(s.mode_reason.as_deref(), Some("low_device_trust:21"));
    let e = events(&ts, "device.low_trust").await;
    assert_eq!(e.len(), 1);
    assert_eq!(detail(&e[0])["live"], true);
    assert_eq!(detail(&e[0])["trust_score"]["score"], 21);
    // Seen again in the same state: no second event.
    now_off.browser().get(&ts.base, &url).await;
    assert_eq!(events(&ts, "device.low_trust").await.len(), 1);
}

#[tokio::test]
async fn failed_logins_on_the_device_re_score_its_live_session() {
    let ts = TestServer::start_with(proxied(&[])).await;
    set_policy(
        &ts,
        &[
            ("min_device_trust", "40"),
            ("on_low_device_trust", "read_only"),
        ],
    )
    .await;
    let laptop = device("198.51.100.7", None, None);
    assert!(attempt(&ts, &laptop, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    let sid = alice_sessions(&ts).await[0].sid.clone();
    // Three wrong passwords from this browser: 50 + 1 (a success) - 15 = 36 < 40.
    for _ in 0..3 {
        let a = attempt(&ts, &laptop, "alice", "wrong", &[("prompt", "login")]).await;
        assert_eq!(a.status, 401);
    }
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid profile", &[]);
    laptop.browser().get(&ts.base, &url).await;
    let s = session_of(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReadOnly));
    assert_eq!(s.mode_reason.as_deref(), Some("low_device_trust:36"));
}

const TRAVEL_CHAIN: &str = r#"[{"signal":"impossible_travel","window_secs":86400,"steps":[
    {"occurrence":1,"actions":["step_up"]},
    {"occurrence":2,"actions":["terminate","lock_account","notify_admins"],"lock_for_secs":3600}]}]"#;

#[tokio::test]
async fn impossible_travel_chain_steps_up_then_locks_the_account_and_notifies_admins() {
    let ts = TestServer::start_with(proxied(&[])).await;
    // The policy only alerts; the chain decides.
    set_policy(
        &ts,
        &[
            ("travel_max_speed_kmh", "1000"),
            ("on_impossible_travel", "alert"),
        ],
    )
    .await;
    manage::security::set_chains(&ts.state, &ts.tenant, TRAVEL_CHAIN, "test")
        .await
        .unwrap();
    let berlin = device("198.51.100.10", Some(BERLIN), None);
    assert!(attempt(&ts, &berlin, "alice", PASSWORD, &[])
        .await
        .code
        .is_some());
    let sid = alice_sessions(&ts).await[0].sid.clone();

    // Half an hour later in New York: the first occurrence steps up.
    ts.clock.advance_secs(1800);
    let ny = berlin.elsewhere(&ts, "203.0.113.66", Some(NEW_YORK), None);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid profile", &[]);
    let (status, body) = ny.browser().get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    assert!(body.contains("name=\"password\""));
    let s = session_of(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReauthRequired));
    let e = events(&ts, "session.impossible_travel").await;
    assert_eq!(e[0].outcome, "reauth");
    assert_eq!(detail(&e[0])["chain"]["occurrence"], 1);
    // The user proves presence in New York.
    let landing = ny
        .browser()
        .post_form(
            &ts.base,
            &ts.url("/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(landing.param("code").is_some());

    // Half an hour later back in Berlin: the second occurrence within 24 h ends the session,
    // locks the account for an hour and tells the admins.
    ts.clock.advance_secs(1800);
    let back = ny.elsewhere(&ts, "198.51.100.10", Some(BERLIN), None);
    let (status, _) = back.browser().get(&ts.base, &url).await.page();
    assert_eq!(status, 200, "the login page: the session is gone");
    assert!(alice_sessions(&ts)
        .await
        .iter()
        .all(|s| s.state == "ended" && s.end_reason.as_deref() == Some("account_locked")));
    let v = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.clock.now_secs())
        .await
        .unwrap();
    assert_eq!(v.lock, "until");
    assert_eq!(v.locked_until, Some(ts.clock.now_secs() + 3600));
    assert_eq!(
        v.lock_reason.as_deref(),
        Some("response_chain:impossible_travel")
    );
    let n = events(&ts, "admin.notified").await;
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].outcome, "account_locked");
    let e = events(&ts, "session.impossible_travel").await;
    assert_eq!(e.len(), 2);
    assert!(e.iter().any(|x| x.outcome == "terminate"));
    assert_eq!(
        store::lockout::count_occurrences(&ts.state.db, &ts.tenant.id)
            .await
            .unwrap(),
        2
    );
    // And sign-in is refused for the hour.
    let a = attempt(&ts, &back, "alice", PASSWORD, &[]).await;
    assert_eq!(a.status, 403);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn security_settings_are_validated_and_a_broken_stored_value_names_tenant_and_field() {
    let ts = TestServer::start().await;
    let e = manage::security::set_chains(
        &ts.state,
        &ts.tenant,
        r#"[{"signal":"impossible_travel","window_secs":0,"steps":[{"occurrence":1,"actions":["alert"]}]}]"#,
        "test",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("chains[0].window_secs"), "{e}");
    let e = manage::security::set_throttle(
        &ts.state,
        &ts.tenant,
        &serde_json::json!({ "ip_max_failure": 3 }),
        "test",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("ip_max_failure"), "{e}");
    let e = manage::security::set_throttle(
        &ts.state,
        &ts.tenant,
        &serde_json::json!({ "ip_lockout_secs": 0 }),
        "test",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("ip_lockout_secs"), "{e}");
    // A row someone broke by hand: an error naming the tenant and the field, not a default.
    store::lockout::save_security(
        &ts.state.db,
        store::lockout::SecurityRow {
            tenant_id: ts.tenant.id.clone(),
            response_chains: "[{\"signal\":1}]".into(),
            login_throttle: "{}".into(),
            updated_at: 0,
        },
    )
    .await
    .unwrap();
    let e = manage::security::show(&ts.state, &ts.tenant)
        .await
        .unwrap_err();
    let m = format!("{e:?}");
    assert!(
        m.contains("tenant acme") && m.contains("response_chains"),
        "{m}"
    );
}

#[tokio::test]
async fn the_admin_api_locks_unlocks_and_sets_security_settings() {
    let ts = TestServer::start().await;
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "lockout",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let api = |method: reqwest::Method, path: &str| {
        reqwest::Client::new()
            .request(method, format!("{}/api/v1/tenants/acme{path}", ts.base))
            .bearer_auth(&token)
    };
    let r = api(reqwest::Method::POST, "/users/alice/lock")
        .json(&serde_json::json!({ "for_secs": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["lock"], "until");
    assert_eq!(v["locked_until"], ts.clock.now_secs() + 600);
    let u: serde_json::Value = api(reqwest::Method::GET, "/users/alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["lock"], "until");
    assert_eq!(u["lock_reason"], "admin");
    let v: serde_json::Value = api(reqwest::Method::POST, "/users/alice/unlock")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["was_locked"], true);
    // Chains and throttle.
    let chains: serde_json::Value = serde_json::from_str(TRAVEL_CHAIN).unwrap();
    let r = api(reqwest::Method::PUT, "/security/response-chains")
        .json(&chains)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = api(reqwest::Method::PATCH, "/security/login-throttle")
        .json(&serde_json::json!({ "ip_max_failures": 50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let s: serde_json::Value = api(reqwest::Method::GET, "/security")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["response_chains"], chains);
    assert_eq!(s["login_throttle"]["ip_max_failures"], 50);
    assert_eq!(s["login_throttle"]["account_free_failures"], 5);
    let r = api(reqwest::Method::PUT, "/security/response-chains")
        .json(&serde_json::json!([{ "signal": "nope", "window_secs": 1, "steps": [] }]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("chains[0].signal")
            || e.to_string().contains("chains[0].signal"),
        "{e}"
    );
    let r = api(reqwest::Method::POST, "/users/alice/lock")
        .json(&serde_json::json!({ "for_secs": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
