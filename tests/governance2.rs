//! Session governance II, end to end: binding and its graded responses (a replayed cookie from
//! another network and browser, re-authentication that keeps the session, read-only, alert, the
//! device cookie, a confidential client relaying its user's context), the second factor (TOTP
//! enrolment with a mock clock, replay refusal, recovery codes, step-up of a live session, step
//! down), credential changes ending other sessions, and compromised devices refused.

use crate::governance::start_node;
use crate::harness::*;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::stepup::{ACR_MFA, ACR_PWD};
use lanyard_idp::session::{EndReason, LayerRef, Mode, SessionState};
use reqwest::cookie::CookieStore;
use std::sync::Arc;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

async fn set(ts: &TestServer, layer: LayerRef, kv: &[(&str, &str)]) {
    let changes: Vec<FieldChange> = kv
        .iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v.to_string()))
        .collect();
    change_layer(&ts.state, &ts.tenant, &layer, &changes, "test")
        .await
        .expect("policy change");
}

/// A browser with a user agent, an address its (trusted) proxy reports, and a cookie jar the
/// test can read (to replay the session cookie elsewhere).
struct Device {
    b: Browser,
    jar: Arc<reqwest::cookie::Jar>,
}

fn device(ua: &str, ip: &str) -> Device {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    h.insert("user-agent", ua.parse().unwrap());
    Device {
        b: Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(h)
                .build()
                .unwrap(),
        },
        jar,
    }
}

impl Device {
    fn cookie(&self, node: &str, name: &str) -> Option<String> {
        let all = self.jar.cookies(&url::Url::parse(node).unwrap())?;
        all.to_str()
            .ok()?
            .split("; ")
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
    }

    /// Another device that replays only this device's session cookie.
    fn thief(&self, node: &str, ua: &str, ip: &str) -> Device {
        let t = device(ua, ip);
        let cookie = format!(
            "lanyard-acme-session={}",
            self.cookie(node, "lanyard-acme-session")
                .expect("a session cookie")
        );
        t.jar
            .add_cookie_str(&cookie, &url::Url::parse(node).unwrap());
        t
    }
}

/// Sign in through `node` (behind the trusted proxy) and redeem the code as the RP.
async fn sign_in(ts: &TestServer, node: &str, d: &Device, user: &str) -> serde_json::Value {
    let (url, state, _, verifier) = auth_url(ts, "web", REDIRECT, "openid profile", &[]);
    let url = url.replace(&ts.base, node);
    let (status, body) = d.b.get(node, &url).await.page();
    assert_eq!(status, 200, "{body}");
    let landing =
        d.b.post_form(
            node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", user),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        landing.param("state").as_deref(),
        Some(state.as_str()),
        "{landing:?}"
    );
    redeem(ts, &landing.param("code").unwrap(), &verifier).await
}

async fn redeem(ts: &TestServer, code: &str, verifier: &str) -> serde_json::Value {
    let (status, tok) = token_request(
        ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tok}");
    tok
}

fn claims(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap()
}

fn sid_of(tok: &serde_json::Value) -> String {
    claims(tok["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn session(ts: &TestServer, sid: &str) -> lanyard_idp::session::Session {
    lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, sid)
        .await
        .unwrap()
        .unwrap()
}

async fn events(ts: &TestServer, kind: &str) -> Vec<lanyard_idp::store::audit::EventRow> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 1000)
        .await
        .unwrap()
}

/// `/authorize?prompt=none` through a node: where the browser lands.
async fn silent(ts: &TestServer, node: &str, d: &Device) -> Landing {
    let (url, _, _, _) = auth_url(ts, "web", REDIRECT, "openid profile", &[("prompt", "none")]);
    d.b.get(node, &url.replace(&ts.base, node)).await
}

#[tokio::test]
async fn a_replayed_cookie_from_another_network_and_browser_is_caught_on_its_first_request() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("bind_ip", "prefix"),
            ("on_ip_mismatch", "terminate"),
            ("bind_user_agent", "family"),
            ("on_user_agent_mismatch", "terminate"),
        ],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let laptop = device(CHROME, "198.51.100.10");
    let tok = sign_in(&ts, &node, &laptop, "alice").await;
    let sid = sid_of(&tok);
    // The same browser, another address in its /24: still fine.
    let same = laptop.thief(&node, CHROME, "198.51.100.77");
    assert!(silent(&ts, &node, &same).await.param("code").is_some());

    // The cookie, stolen, from another network and browser.
    let thief = laptop.thief(&node, FIREFOX, "203.0.113.66");
    let landing = silent(&ts, &node, &thief).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));
    let s = session(&ts, &sid).await;
    assert!(
        matches!(
            s.state,
            SessionState::Ended {
                reason: EndReason::BindingMismatch,
                ..
            }
        ),
        "{:?}",
        s.state
    );
    // Every RP hears of it, and the real browser is signed out too.
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid.as_str()
    );
    assert_eq!(
        silent(&ts, &node, &laptop).await.param("error").as_deref(),
        Some("login_required")
    );
    // Audited with the bound and observed values.
    let e = &events(&ts, "session.binding_mismatch").await[0];
    assert_eq!(e.outcome, "terminate");
    let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
    let m = d["mismatches"].as_array().unwrap();
    assert_eq!(m[0]["field"], "ip");
    assert_eq!(m[0]["bound"], "198.51.100.10");
    assert_eq!(m[0]["observed"], "203.0.113.66");
    assert_eq!(m[1]["field"], "user_agent");
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn reauthentication_keeps_the_session_and_refuses_refresh_until_done() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("bind_ip", "exact"), ("on_ip_mismatch", "reauth")],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let home = device(CHROME, "198.51.100.10");
    let tok = sign_in(&ts, &node, &home, "alice").await;
    let sid = sid_of(&tok);
    // The user's laptop moves to another network.
    let cafe = home.thief(&node, CHROME, "192.0.2.44");
    let (status, body) = cafe
        .b
        .get(
            &node,
            &auth_url(&ts, "web", REDIRECT, "openid", &[])
                .0
                .replace(&ts.base, &node),
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        body.contains("name=\"password\""),
        "asks for the password again"
    );
    assert_eq!(session(&ts, &sid).await.mode(), Some(Mode::ReauthRequired));
    // A confidential RP relaying the new address is refused a refresh meanwhile.
    let (status, err) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tok["refresh_token"].as_str().unwrap_or("none"),
            ),
            ("end_user_ip", "192.0.2.44"),
        ],
    )
    .await;
    if tok["refresh_token"].is_string() {
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"], "invalid_grant");
        assert!(err["error_description"]
            .as_str()
            .unwrap()
            .contains("authenticate again"));
    }
    // The user signs in again: the same session continues, bound to the new address.
    let landing = cafe
        .b
        .post_form(
            &node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let code = landing
        .param("code")
        .expect("a code after re-authentication");
    let _ = code;
    let s = session(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::Normal));
    assert_eq!(s.binding.ip, "192.0.2.44");
    assert!(s.is_active(), "the same session, not a new one");
    assert_eq!(
        events(&ts, "session.binding_mismatch").await[0].outcome,
        "reauth"
    );
}

#[tokio::test]
async fn a_read_only_session_gets_only_safe_scopes_and_says_so() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("bind_user_agent", "family"),
            ("on_user_agent_mismatch", "read_only"),
            ("read_only_scopes", "openid"),
        ],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let laptop = device(CHROME, "198.51.100.10");
    let first = sign_in(&ts, &node, &laptop, "alice").await;
    let sid = sid_of(&first);
    let other = laptop.thief(&node, FIREFOX, "198.51.100.10");
    let (url, _, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid profile", &[]);
    let landing = other.b.get(&node, &url.replace(&ts.base, &node)).await;
    let tok = redeem(
        &ts,
        &landing.param("code").expect("SSO still works"),
        &verifier,
    )
    .await;
    assert_eq!(sid_of(&tok), sid);
    assert_eq!(tok["scope"], "openid", "profile is not a safe scope");
    let at = claims(tok["access_token"].as_str().unwrap());
    assert_eq!(at["session_mode"], "read_only");
    assert_eq!(at["scope"], "openid");
    // Introspection reports the session's mode now, also for the token issued before it.
    let i = introspect(&ts, first["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["session_mode"], "read_only");
    assert_eq!(session(&ts, &sid).await.mode(), Some(Mode::ReadOnly));
    // Seen again from the same context: no second event.
    other.b.get(&node, &url.replace(&ts.base, &node)).await;
    assert_eq!(events(&ts, "session.binding_mismatch").await.len(), 1);
}

#[tokio::test]
async fn an_alert_records_once_per_new_context_and_changes_nothing() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("bind_ip", "exact"), ("on_ip_mismatch", "alert")],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let laptop = device(CHROME, "198.51.100.10");
    let tok = sign_in(&ts, &node, &laptop, "alice").await;
    let elsewhere = laptop.thief(&node, CHROME, "192.0.2.1");
    for _ in 0..3 {
        assert!(silent(&ts, &node, &elsewhere).await.param("code").is_some());
    }
    let again = laptop.thief(&node, CHROME, "192.0.2.2");
    assert!(silent(&ts, &node, &again).await.param("code").is_some());
    let alerts = events(&ts, "session.binding_mismatch").await;
    assert_eq!(alerts.len(), 2, "one per new context");
    assert!(alerts.iter().all(|e| e.outcome == "alert"));
    assert_eq!(session(&ts, &sid_of(&tok)).await.mode(), Some(Mode::Normal));
}

#[tokio::test]
async fn a_session_cookie_without_its_device_cookie_is_refused() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("bind_device", "required"),
            ("on_device_mismatch", "terminate"),
        ],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let laptop = device(CHROME, "198.51.100.10");
    let tok = sign_in(&ts, &node, &laptop, "alice").await;
    // Same network and browser, but only the session cookie: the device cookie stayed behind.
    let copy = laptop.thief(&node, CHROME, "198.51.100.10");
    assert_eq!(
        silent(&ts, &node, &copy).await.param("error").as_deref(),
        Some("login_required")
    );
    let s = session(&ts, &sid_of(&tok)).await;
    assert!(matches!(
        s.state,
        SessionState::Ended {
            reason: EndReason::BindingMismatch,
            ..
        }
    ));
}

#[tokio::test]
async fn a_confidential_client_relaying_its_users_address_gets_the_binding_checked() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("bind_ip", "exact"), ("on_ip_mismatch", "terminate")],
    )
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    // Without a relayed context nothing is evaluated (the RP's own address means nothing).
    let (status, next) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    // With the user's address, a mismatch ends the session.
    let (status, err) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next["refresh_token"].as_str().unwrap()),
            ("end_user_ip", "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
    let s = session(&ts, &sid_of(&tok)).await;
    assert!(matches!(
        s.state,
        SessionState::Ended {
            reason: EndReason::BindingMismatch,
            ..
        }
    ));
}

/// The enrolment page's secret (shown in groups of four).
fn secret_of(body: &str) -> Vec<u8> {
    let start = body.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let end = body[start..].find("</code>").unwrap() + start;
    let b32: String = body[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    lanyard_idp::factors::from_base32(&b32).unwrap()
}

fn code_now(ts: &TestServer, secret: &[u8]) -> String {
    lanyard_idp::factors::code_at_step(secret, ts.clock.now_secs() / 30)
}

/// Password, then whatever second-factor page follows; returns that page.
async fn password(
    ts: &TestServer,
    b: &Browser,
    extra: &[(&str, &str)],
) -> (u16, String, String, String) {
    let (url, state, _, verifier) = auth_url(ts, "web", REDIRECT, "openid", extra);
    let (status, body) = b.authorize(ts, &url, "alice", PASSWORD).await.page();
    (status, body, state, verifier)
}

#[tokio::test]
async fn a_required_second_factor_is_enrolled_then_asked_at_every_login_and_used_once() {
    let ts = TestServer::start().await;
    set(&ts, LayerRef::tenant(), &[("require_mfa", "true")]).await;
    let b = Browser::new();
    let (status, body, state, verifier) = password(&ts, &b, &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("Set up a second factor"), "{body}");
    // The QR code is an image from a data: URI (the template escapes `/` as `&#x2f;`).
    assert!(
        body.contains("class=\"qr\" src=\"data:image") && body.contains("base64,"),
        "QR code shown"
    );
    let secret = secret_of(&body);
    // A wrong first code shows the same key again, with the reason.
    let (wrong_status, again) = b
        .post_form(
            &ts.base,
            &ts.url("/login/enrol"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("code", "000000"),
            ],
        )
        .await
        .page();
    assert_eq!(wrong_status, 400);
    assert!(again.contains("That code did not match"), "{again}");
    let secret2 = secret_of(&again);
    assert_eq!(secret, secret2, "the key already scanned stays valid");
    let (status, codes_page) = b
        .post_form(
            &ts.base,
            &ts.url("/login/enrol"),
            &[
                ("csrf", &field(&again, "csrf").unwrap()),
                ("req", &field(&again, "req").unwrap()),
                ("code", &code_now(&ts, &secret2)),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(codes_page.contains("Save your recovery codes"));
    let recovery: Vec<String> = codes_page
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let landing = b
        .post_form(
            &ts.base,
            &ts.url("/login/continue"),
            &[
                ("csrf", &field(&codes_page, "csrf").unwrap()),
                ("req", &field(&codes_page, "req").unwrap()),
            ],
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let tok = redeem(&ts, &landing.param("code").unwrap(), &verifier).await;
    let id = claims(tok["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], ACR_MFA);
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(events(&ts, "factor.added").await.len(), 1);

    // The next login (another browser) asks for the code; the code just used is refused.
    let b2 = Browser::new();
    let (_, otp_page, _, verifier2) = password(&ts, &b2, &[]).await;
    assert!(otp_page.contains("Enter your code"), "{otp_page}");
    let post = |page: &str, code: &str| {
        let (csrf, req) = (field(page, "csrf").unwrap(), field(page, "req").unwrap());
        let code = code.to_string();
        let b2 = &b2;
        let ts = &ts;
        async move {
            b2.post_form(
                &ts.base,
                &ts.url("/login/factor"),
                &[("csrf", &csrf), ("req", &req), ("code", &code)],
            )
            .await
        }
    };
    let (status, refused) = post(&otp_page, &code_now(&ts, &secret2)).await.page();
    assert_eq!(status, 401, "a TOTP code is accepted once (RFC 6238 §5.2)");
    assert!(refused.contains("not right"));
    ts.clock.advance_secs(30);
    let landing = post(&refused, &code_now(&ts, &secret2)).await;
    let tok2 = redeem(
        &ts,
        &landing.param("code").expect("the next code works"),
        &verifier2,
    )
    .await;
    assert_eq!(claims(tok2["id_token"].as_str().unwrap())["acr"], ACR_MFA);

    // A recovery code works once instead of the app.
    let b3 = Browser::new();
    let (_, otp_page, _, _) = password(&ts, &b3, &[]).await;
    let form = |p: &str, code: &str| {
        vec![
            ("csrf".to_string(), field(p, "csrf").unwrap()),
            ("req".to_string(), field(p, "req").unwrap()),
            ("code".to_string(), code.to_string()),
        ]
    };
    let f: Vec<(String, String)> = form(&otp_page, &recovery[0].to_uppercase());
    let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let landing = b3.post_form(&ts.base, &ts.url("/login/factor"), &f).await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    let b4 = Browser::new();
    let (_, otp_page, _, _) = password(&ts, &b4, &[]).await;
    let f: Vec<(String, String)> = form(&otp_page, &recovery[0]);
    let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (status, _) = b4
        .post_form(&ts.base, &ts.url("/login/factor"), &f)
        .await
        .page();
    assert_eq!(status, 401, "a recovery code is spent");
    let spent = events(&ts, "factor.verified").await;
    assert!(spent.iter().any(|e| e.outcome == "recovery_code"));
}

#[tokio::test]
async fn a_sensitive_client_steps_up_the_same_session_and_it_decays() {
    let ts = TestServer::start().await;
    // alice has a second factor, enrolled after her password-only session began.
    let b = Browser::new();
    let first = login_and_redeem(&ts, &b, "openid").await;
    let sid = sid_of(&first);
    assert_eq!(claims(first["id_token"].as_str().unwrap())["acr"], ACR_PWD);
    let user = lanyard_idp::store::users::find(&ts.state.db, &ts.tenant.id, &ts.alice_id)
        .await
        .unwrap()
        .unwrap();
    let e = lanyard_idp::factors::service::start_enrolment(&ts.state, &ts.tenant, &user)
        .await
        .unwrap();
    let secret = lanyard_idp::factors::from_base32(&e.secret_base32).unwrap();
    let s = session(&ts, &sid).await;
    let ctx = lanyard_idp::http::RequestContext::system(ts.clock.now_secs() * 1000);
    assert!(lanyard_idp::factors::service::confirm_enrolment(
        &ts.state,
        &ts.tenant,
        &ts.alice_id,
        &e.factor_id,
        &code_now(&ts, &secret),
        Some(&s.id),
        &ctx,
    )
    .await
    .unwrap()
    .is_some());
    ts.clock.advance_secs(30);
    // The web client now requires a second factor for 10 minutes at a time.
    set(
        &ts,
        LayerRef::client("web"),
        &[("require_mfa", "true"), ("mfa_max_age_secs", "10m")],
    )
    .await;
    // A refresh cannot step up: it is refused until the user does.
    let (status, err) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                first["refresh_token"].as_str().unwrap_or("x"),
            ),
        ],
    )
    .await;
    if first["refresh_token"].is_string() {
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (url, state, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, page) = b.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    assert!(
        page.contains("Confirm it&#x27;s you") || page.contains("Confirm it's you"),
        "{page}"
    );
    assert!(
        !page.contains("name=\"password\""),
        "no password for a step-up"
    );
    let landing = b
        .post_form(
            &ts.base,
            &ts.url("/login/factor"),
            &[
                ("csrf", &field(&page, "csrf").unwrap()),
                ("req", &field(&page, "req").unwrap()),
                ("code", &code_now(&ts, &secret)),
            ],
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let up = redeem(&ts, &landing.param("code").unwrap(), &verifier).await;
    assert_eq!(sid_of(&up), sid, "the same session continues");
    let id = claims(up["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], ACR_MFA);
    // Within ten minutes SSO needs nothing more; after them the client asks again.
    ts.clock.advance_secs(5 * 60);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert!(b.get(&ts.base, &url).await.param("code").is_some());
    ts.clock.advance_secs(6 * 60);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, page) = b.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    assert!(page.contains("name=\"code\""), "step-down: asked again");
}

#[tokio::test]
async fn an_essential_acr_the_user_cannot_reach_is_unmet_and_numbers_name_levels() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let claims_param =
        r#"{"id_token":{"acr":{"essential":true,"values":["urn:lanyard:acr:mfa"]}}}"#;
    let (url, state, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("claims", claims_param)]);
    let landing = b.authorize(&ts, &url, "alice", PASSWORD).await;
    assert_eq!(
        landing.param("error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    // A voluntary request is answered with what the session holds, in the RP's naming.
    let (url, _, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[("acr_values", "2 1")]);
    let landing = Browser::new().authorize(&ts, &url, "alice", PASSWORD).await;
    let tok = redeem(&ts, &landing.param("code").unwrap(), &verifier).await;
    assert_eq!(claims(tok["id_token"].as_str().unwrap())["acr"], "1");
    // A malformed claims parameter is invalid_request.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("claims", "{nope")]);
    assert_eq!(
        Browser::new()
            .get(&ts.base, &url)
            .await
            .param("error")
            .as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn changing_a_credential_ends_the_other_sessions_everywhere() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let here = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let there = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let keep = session(&ts, &sid_of(&here)).await;
    let n = lanyard_idp::factors::service::change_password(
        &ts.state,
        &ts.tenant,
        &ts.alice_id,
        "a new long password",
        Some(&keep.id),
        "user",
        None,
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let other = session(&ts, &sid_of(&there)).await;
    assert!(matches!(
        other.state,
        SessionState::Ended {
            reason: EndReason::CredentialChanged,
            ..
        }
    ));
    assert!(
        session(&ts, &sid_of(&here)).await.is_active(),
        "the changing session stays"
    );
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid_of(&there).as_str()
    );
    assert_eq!(events(&ts, "user.password_changed").await.len(), 1);
    // The old password no longer works; the new one does.
    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, _) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 401);
    let landing = b.authorize(&ts, &url, "alice", "a new long password").await;
    assert!(landing.param("code").is_some());
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_compromised_device_is_never_let_back_in() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    let s = session(&ts, &sid_of(&tok)).await;
    let device = s.device_id.clone().unwrap();
    lanyard_idp::manage::revoke_device(&ts.state, &ts.tenant, &device, "test")
        .await
        .unwrap();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, body) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("This device cannot sign in"));
    let refused = events(&ts, "login.refused").await;
    assert_eq!(refused[0].outcome, "compromised_device");
    // Another browser (another device) signs in fine.
    assert!(Browser::new()
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .is_some());
    // A first-seen device is recorded.
    assert_eq!(events(&ts, "device.first_seen").await.len(), 2);
}
