//! E-mail through the outbox, against an in-process SMTP server (`tests/smtp.rs`): the
//! new-device notice and its "this wasn't me" link (GET changes nothing, POST ends the session
//! with logout tokens, compromises the device, requires a new password, tells the admin), the
//! link's single use and expiry on the harness clock, SMTP down (retried, then delivered; or
//! dead-lettered after the last attempt), and the password-changed mail.

use crate::harness::*;
use crate::smtp::{Mail, Mode, SmtpServer};
use lanyard_idp::events::mail::LINK_TTL_SECS;
use lanyard_idp::manage;
use lanyard_idp::store;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A browser with a real user agent (the notice names browser and OS).
fn chrome() -> Browser {
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(CHROME)
            .build()
            .unwrap(),
    }
}

async fn start(
    smtp: &SmtpServer,
    backchannel: Option<String>,
    env: &[(&'static str, &str)],
) -> TestServer {
    let mut vars = vec![
        ("LANYARD_SMTP_URL", smtp.url()),
        ("LANYARD_MAIL_FROM", "id@acme.test".to_string()),
    ];
    vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    TestServer::start_with(Setup {
        web_backchannel: backchannel,
        env: vars,
        ..Default::default()
    })
    .await
}

fn claims(tok: &serde_json::Value) -> serde_json::Value {
    let p = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap()
}

async fn email_rows(ts: &TestServer) -> Vec<store::outbox::DeliveryRow> {
    store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "email")
        .collect()
}

/// Wait (bounded, real time) until every e-mail row satisfies `done`, nudging the dispatcher.
async fn wait_rows(ts: &TestServer, done: impl Fn(&store::outbox::DeliveryRow) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let rows = email_rows(ts).await;
        if !rows.is_empty() && rows.iter().all(&done) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "e-mail rows: {rows:?}"
        );
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn new_device_notices(mails: &[Mail]) -> Vec<Mail> {
    mails
        .iter()
        .filter(|m| m.subject().starts_with("New sign-in"))
        .cloned()
        .collect()
}

/// Open the link as the mail's reader would: (status, body) of the GET.
async fn open_link(ts: &TestServer, b: &Browser, link: &str) -> (u16, String) {
    b.get(&ts.base, link).await.page()
}

/// Confirm "this wasn't me" from the page the GET showed.
async fn confirm(ts: &TestServer, b: &Browser, page: &str) -> (u16, String) {
    let csrf = field(page, "csrf").expect("csrf on the page");
    let t = field(page, "t").expect("token in the form");
    b.post_form(&ts.base, &ts.url("/not-me"), &[("csrf", &csrf), ("t", &t)])
        .await
        .page()
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_mails_one_notice_with_a_link() {
    let smtp = SmtpServer::start().await;
    let ts = start(&smtp, None, &[]).await;
    let b = chrome();
    login_and_redeem(&ts, &b, "openid").await;
    ts.drain_outbox(15).await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1, "one notice");
    let m = &mails[0];
    assert_eq!(m.to(), "alice@acme.test");
    assert_eq!(m.raw.mail_from, "id@acme.test");
    assert_eq!(m.subject(), "New sign-in to your Acme account");
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{:?}",
        m.headers
    );
    let (text, html) = (m.text(), m.html());
    for part in [&text, &html] {
        assert!(part.contains("Chrome 120"), "browser: {part}");
        assert!(part.contains("Linux"), "OS: {part}");
        assert!(part.contains("127.0.0.1"), "address: {part}");
        assert!(part.contains(" UTC"), "time in UTC: {part}");
    }
    let link = m.link();
    assert!(
        link.starts_with(&format!("{}/not-me?t=", ts.issuer)),
        "{link}"
    );
    // minijinja escapes '/' in HTML as "&#x2f;", which every mail client reads back as '/'.
    let unescaped = html.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        unescaped.contains(&format!("href=\"{link}\"")),
        "the same link in HTML: {html}"
    );
    // Nothing that makes a link is stored: not in the outbox row, not in mail_links.
    let token = link.split("t=").nth(1).unwrap();
    let row = &email_rows(&ts).await[0];
    assert!(!row.payload.contains(token.split('.').nth(1).unwrap()));

    // The same browser again (a known device): no second notice. Bob has no address: none.
    login_and_redeem(&ts, &b, "openid").await;
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    chrome()
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .redirect();
    ts.drain_outbox(15).await;
    assert_eq!(email_rows(&ts).await.len(), 1);
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn this_wasnt_me_ends_the_session_compromises_the_device_and_requires_a_new_password() {
    let smtp = SmtpServer::start().await;
    let (rp, bc) = RecordingRp::start().await;
    let ts = start(&smtp, Some(bc), &[]).await;
    manage::mail::set(
        &ts.state,
        &ts.tenant,
        None,
        Some(Some("security@acme.test".into())),
        "test",
    )
    .await
    .unwrap();
    let intruder = chrome();
    let tok = login_and_redeem(&ts, &intruder, "openid").await;
    let sid = claims(&tok)["sid"].as_str().unwrap().to_string();
    let access = tok["access_token"].as_str().unwrap().to_string();
    let link = smtp.wait_for(1).await[0].link();

    // GET (what a mail scanner does too) shows the sign-in and changes nothing.
    let reader = Browser::new();
    let (status, page) = open_link(&ts, &reader, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("This wasn't me") && page.contains("Chrome 120"),
        "{page}"
    );
    let (status, again) = open_link(&ts, &reader, &link).await;
    assert_eq!(status, 200, "a second GET still works: {again}");
    assert_eq!(introspect(&ts, &access).await["active"], true);

    // POST without the form's CSRF token is refused.
    let t = field(&page, "t").unwrap();
    let (status, _) = Browser::new()
        .post_form(
            &ts.base,
            &ts.url("/not-me"),
            &[("csrf", "forged"), ("t", &t)],
        )
        .await
        .page();
    assert_eq!(status, 403);
    assert_eq!(introspect(&ts, &access).await["active"], true);

    let (status, done) = confirm(&ts, &reader, &page).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("That device is signed out"), "{done}");

    // Ended through the termination path: the RP got its logout token, the token is dead.
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(introspect(&ts, &access).await["active"], false);
    let s = store::sessions::find_by_sid(&ts.state.db, &ts.tenant.id, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.end_reason.as_deref(), Some("user_reported"));
    let device =
        store::sessions::find_device(&ts.state.db, &ts.tenant.id, s.device_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(device.trust, "compromised");
    let notified = store::audit::list(&ts.state.db, &ts.tenant.id, Some("admin.notified"), 10)
        .await
        .unwrap();
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0].user_id.as_deref(), Some(ts.alice_id.as_str()));

    // The admin address heard of it.
    ts.drain_outbox(15).await;
    let mails = smtp.wait_for(2).await;
    let admin: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.to() == "security@acme.test")
        .collect();
    assert_eq!(
        admin.len(),
        1,
        "{:?}",
        mails.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert!(admin[0].text().contains("alice"));

    // The link is spent.
    let (status, used) = open_link(&ts, &Browser::new(), &link).await;
    assert_eq!(status, 400);
    assert!(used.contains("already used"), "{used}");

    // The intruder's device can never sign in again.
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, body) = intruder
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .page();
    assert_eq!(status, 403, "{body}");

    // Alice, elsewhere: the right password leads to "choose a new password" first.
    let alice = chrome();
    let (url, state, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, form) = alice.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 200);
    assert!(form.contains("Choose a new password"), "{form}");
    let csrf = field(&form, "csrf").unwrap();
    let req = field(&form, "req").unwrap();
    let post = |new: &'static str, repeat: &'static str| {
        let (csrf, req) = (csrf.clone(), req.clone());
        let alice = &alice;
        let ts = &ts;
        async move {
            alice
                .post_form(
                    &ts.base,
                    &ts.url("/login/password"),
                    &[
                        ("csrf", csrf.as_str()),
                        ("req", req.as_str()),
                        ("new_password", new),
                        ("confirm_password", repeat),
                    ],
                )
                .await
        }
    };
    let (status, body) = post("a brand new secret", "a brand new secreT")
        .await
        .page();
    assert_eq!(status, 400);
    assert!(body.contains("do not match"), "{body}");
    let (status, body) = post(PASSWORD, PASSWORD).await.page();
    assert_eq!(status, 400, "the old password may not come back");
    assert!(body.contains("different from your current one"), "{body}");
    let landing = post("a brand new secret", "a brand new secret").await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let code = landing.param("code").expect("a code after the change");
    let (status, _) = token_request(
        &ts,
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
    assert_eq!(status, 200);
    let user = store::users::find(&ts.state.db, &ts.tenant.id, &ts.alice_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!user.must_change_password, "the requirement is met");
    // The old password no longer works; the change was mailed.
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, _) = chrome()
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .page();
    assert_eq!(status, 401);
    ts.drain_outbox(15).await;
    let mails = smtp.messages();
    assert!(
        mails
            .iter()
            .any(|m| m.to() == "alice@acme.test" && m.subject().contains("password was changed")),
        "{:?}",
        mails.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_link_expires_and_a_forged_one_is_refused() {
    let smtp = SmtpServer::start().await;
    let ts = start(&smtp, None, &[]).await;
    let tok = login_and_redeem(&ts, &chrome(), "openid").await;
    let access = tok["access_token"].as_str().unwrap().to_string();
    let link = smtp.wait_for(1).await[0].link();

    // A changed HMAC, or a changed id, is not a link we sent.
    let (id, mac) = link.split_once("t=").unwrap().1.split_once('.').unwrap();
    let flipped = if mac.starts_with('0') { "1" } else { "0" };
    for bad in [
        format!("{}/not-me?t={id}.{flipped}{}", ts.issuer, &mac[1..]),
        format!("{}/not-me?t=X{id}.{mac}", ts.issuer),
        format!("{}/not-me", ts.issuer),
    ] {
        let (status, body) = open_link(&ts, &Browser::new(), &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body.contains("not valid"), "{body}");
    }

    // Shown just before it expires; confirmed just after: refused, and nothing changed.
    ts.clock.advance_secs(LINK_TTL_SECS - 10);
    let reader = Browser::new();
    let (status, page) = open_link(&ts, &reader, &link).await;
    assert_eq!(status, 200, "{page}");
    ts.clock.advance_secs(10);
    let (status, body) = confirm(&ts, &reader, &page).await;
    assert_eq!(status, 400);
    assert!(body.contains("expired"), "{body}");
    let (status, _) = open_link(&ts, &reader, &link).await;
    assert_eq!(status, 400);
    let user = store::users::find(&ts.state.db, &ts.tenant.id, &ts.alice_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!user.must_change_password);
    let s = introspect(&ts, &access).await;
    // The access token itself may have expired by then; the session must not have been ended.
    let sessions = store::sessions::list_active_page(
        &ts.state.db,
        &ts.tenant.id,
        &Default::default(),
        None,
        10,
    )
    .await
    .unwrap();
    assert_eq!(sessions.len(), 1, "{s}");
}

#[tokio::test]
async fn smtp_down_is_retried_and_delivered_when_it_comes_back() {
    let smtp = SmtpServer::start().await;
    smtp.set_mode(Mode::Down);
    let ts = start(&smtp, None, &[]).await;
    login_and_redeem(&ts, &chrome(), "openid").await;
    wait_rows(&ts, |r| r.state == "retry" && r.attempts >= 1).await;
    let row = &email_rows(&ts).await[0];
    assert!(
        row.last_error.as_deref().unwrap_or("").contains("SMTP"),
        "{row:?}"
    );
    assert!(smtp.messages().is_empty());

    smtp.set_mode(Mode::Up);
    // Past the backoff on the harness clock.
    ts.clock.advance_secs(600);
    ts.drain_outbox(15).await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(new_device_notices(&mails).len(), 1);
    let row = &email_rows(&ts).await[0];
    assert_eq!(row.state, "delivered");
    assert!(row.attempts >= 2, "{row:?}");
}

#[tokio::test]
async fn smtp_down_past_the_last_attempt_is_dead_lettered() {
    let smtp = SmtpServer::start().await;
    smtp.set_mode(Mode::Down);
    let ts = start(&smtp, None, &[("LANYARD_DELIVERY_MAX_ATTEMPTS", "2")]).await;
    login_and_redeem(&ts, &chrome(), "openid").await;
    wait_rows(&ts, |r| r.state == "retry").await;
    ts.clock.advance_secs(600);
    wait_rows(&ts, |r| r.state == "dead").await;
    let row = &email_rows(&ts).await[0];
    assert_eq!(row.attempts, 2);
    let failed = store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("email.delivery_failed"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(smtp.messages().is_empty());
    assert!(smtp.connections() >= 2);
}

#[tokio::test]
async fn a_permanent_refusal_is_dead_at_once() {
    let smtp = SmtpServer::start().await;
    smtp.set_mode(Mode::Reject);
    let ts = start(&smtp, None, &[]).await;
    login_and_redeem(&ts, &chrome(), "openid").await;
    wait_rows(&ts, |r| r.state == "dead").await;
    let row = &email_rows(&ts).await[0];
    assert_eq!(row.attempts, 1, "5yz is not retried: {row:?}");
}

#[tokio::test]
async fn a_password_change_is_mailed_and_without_smtp_nothing_is_queued() {
    let smtp = SmtpServer::start().await;
    let ts = start(&smtp, None, &[]).await;
    manage::users::set_password(
        &ts.state,
        &ts.tenant,
        "alice",
        &lanyard_idp::crypto::Secret::new("another good password"),
        "test",
    )
    .await
    .unwrap();
    ts.drain_outbox(15).await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to(), "alice@acme.test");
    assert_eq!(mails[0].subject(), "Your Acme password was changed");
    assert!(
        mails[0].text().contains("was changed on"),
        "{}",
        mails[0].text()
    );

    // No SMTP configured: e-mail is off and nothing is enqueued (so nothing waits forever).
    let off = TestServer::start().await;
    login_and_redeem(&off, &chrome(), "openid").await;
    manage::users::set_password(
        &off.state,
        &off.tenant,
        "alice",
        &lanyard_idp::crypto::Secret::new("another good password"),
        "test",
    )
    .await
    .unwrap();
    assert!(email_rows(&off).await.is_empty());
    assert!(store::mail::find_settings(&off.state.db, &off.tenant.id)
        .await
        .unwrap()
        .is_none());
}

/// STYLE.md rule 8 for `store::mail`, and a link used under another tenant's path is not a link.
#[tokio::test]
async fn mail_links_and_settings_never_cross_tenants() {
    let smtp = SmtpServer::start().await;
    let ts = start(&smtp, None, &[]).await;
    let now = ts.clock.now_secs();
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        Default::default(),
        now,
    )
    .await
    .unwrap();
    let b = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    manage::mail::set(
        &ts.state,
        &ts.tenant,
        Some(Some("acme@acme.test".into())),
        None,
        "test",
    )
    .await
    .unwrap();
    login_and_redeem(&ts, &chrome(), "openid").await;
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(
        mail.raw.mail_from, "acme@acme.test",
        "the tenant's own From"
    );
    let link = mail.link();
    let id = link.split("t=").nth(1).unwrap().split('.').next().unwrap();
    let db = &ts.state.db;
    assert!(store::mail::find_link(db, &ts.tenant.id, id)
        .await
        .unwrap()
        .is_some());
    assert!(store::mail::find_link(db, &b.id, id)
        .await
        .unwrap()
        .is_none());
    assert!(!store::mail::mark_link_used(db, &b.id, id, now)
        .await
        .unwrap());
    assert!(store::mail::find_settings(db, &b.id)
        .await
        .unwrap()
        .is_none());
    let elsewhere = link.replace("/t/acme/", "/t/other/");
    let (status, body) = open_link(&ts, &Browser::new(), &elsewhere).await;
    assert_eq!(status, 400);
    assert!(body.contains("not valid"), "{body}");
    // Still usable where it belongs.
    let (status, _) = open_link(&ts, &Browser::new(), &link).await;
    assert_eq!(status, 200);
}

/// The CLI: `user set-email`, `tenant set-mail-from`, `tenant set-admin-email` ('' clears).
#[test]
fn mail_settings_and_user_email_from_the_cli() {
    let dir = std::env::temp_dir().join(format!(
        "lanyard-mail-cli-{}",
        lanyard_idp::crypto::random_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("l.db").display());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lanyard"))
            .current_dir(&dir)
            .env("LANYARD_DATABASE_URL", &url)
            .env("LANYARD_PUBLIC_URL", "https://id.example.test")
            .env("LANYARD_LOG", "warn")
            .env_remove("LANYARD_SMTP_URL")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let json = |args: &[&str]| {
        let (ok, out, err) = run(args);
        assert!(ok, "lanyard {}: {err}", args.join(" "));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    json(&["tenant", "create", "acme"]);
    json(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--email",
        "a@acme.test",
        "--password",
        "long enough password",
    ]);
    let u = json(&[
        "user",
        "set-email",
        "--tenant",
        "acme",
        "alice",
        "alice@acme.test",
    ]);
    assert_eq!(u["email"], "alice@acme.test");
    let (ok, _, err) = run(&["user", "set-email", "--tenant", "acme", "alice", "nope"]);
    assert!(!ok && err.contains("not an e-mail address"), "{err}");

    let m = json(&["tenant", "set-mail-from", "acme", "id@acme.test"]);
    assert_eq!(m["mail_from"], "id@acme.test");
    assert_eq!(m["email_enabled"], false);
    let m = json(&["tenant", "set-admin-email", "acme", "security@acme.test"]);
    assert_eq!(m["mail_from"], "id@acme.test", "the other setting stays");
    assert_eq!(m["admin_email"], "security@acme.test");
    let (ok, _, err) = run(&["tenant", "set-admin-email", "acme", "a b@c"]);
    assert!(!ok && err.contains("admin_email"), "{err}");
    let m = json(&["tenant", "set-mail-from", "acme", ""]);
    assert_eq!(m["mail_from"], serde_json::Value::Null);
    assert_eq!(m["admin_email"], "security@acme.test");
    let u = json(&["user", "set-email", "--tenant", "acme", "alice", ""]);
    assert_eq!(u["email"], serde_json::Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin API: `GET` / `PATCH /api/v1/tenants/{slug}/mail` (absent stays, null clears, a bad
/// address is a 400), and a user's e-mail through the user routes.
#[tokio::test]
async fn mail_settings_through_the_admin_api() {
    let smtp = SmtpServer::start().await;
    let ts = start(&smtp, None, &[]).await;
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        None,
        "ops",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tenants/acme/mail", ts.base);
    let patch = |body: serde_json::Value| http.patch(&url).bearer_auth(&token).json(&body).send();
    let r = patch(serde_json::json!({ "admin_email": "security@acme.test" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m["admin_email"], "security@acme.test");
    assert_eq!(m["email_enabled"], true);
    let r = patch(serde_json::json!({ "mail_from": "not an address" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = patch(serde_json::json!({ "admin_email": null }))
        .await
        .unwrap();
    let m: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m["admin_email"], serde_json::Value::Null);
    let shown: serde_json::Value = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown, m);
    let r = http
        .patch(format!("{}/api/v1/tenants/acme/users/bob", ts.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "bob@acme.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Bob now hears of his new-device sign-in.
    let (url, ..) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    chrome()
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .redirect();
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to(), "bob@acme.test");
}
