//! The account portal `/t/{tenant}/account` over HTTP: access with the user's own session (and
//! a sign-in that returns to the portal), ending sessions through the termination path (logout
//! tokens to the RP), "this isn't mine", the recent sign-in that sensitive actions need, a
//! read-only session, grants, TOTP enrolment and the security history.

use crate::harness::{
    field, login_and_redeem, token_request, validate_logout_token, Browser, Landing, NowSecs,
    RecordingRp, Setup, TestServer, PASSWORD, SECRET,
};
use lanyard_idp::session::EndReason;

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

/// Every value of a hidden field named `name`, in page order.
fn fields(html: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    html.match_indices(&marker)
        .filter_map(|(i, _)| {
            let start = i + marker.len();
            html[start..]
                .find('"')
                .map(|end| html[start..start + end].to_string())
        })
        .collect()
}

async fn page(ts: &TestServer, b: &Browser, path: &str) -> (u16, String, String) {
    match b.get(&ts.base, &ts.url(path)).await {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("portal redirected away to {u}"),
    }
}

/// Submit a portal form with the CSRF token of `html`.
async fn submit(
    ts: &TestServer,
    b: &Browser,
    html: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    let csrf = field(html, "csrf").expect("a CSRF token on the page");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(extra);
    match b.post_form(&ts.base, &ts.url(path), &form).await {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("portal redirected away to {u}"),
    }
}

/// Fill the login form the browser landed on.
async fn sign_in_here(ts: &TestServer, b: &Browser, html: &str, password: &str) -> Landing {
    assert!(html.contains("name=\"password\""), "a login form: {html}");
    let csrf = field(html, "csrf").unwrap();
    let req = field(html, "req").unwrap();
    b.post_form(
        &ts.base,
        &ts.url("/login"),
        &[
            ("csrf", &csrf),
            ("req", &req),
            ("username", "alice"),
            ("password", password),
        ],
    )
    .await
}

async fn end_reason(ts: &TestServer, sid: &str) -> Option<EndReason> {
    let s = lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, sid)
        .await
        .unwrap()
        .unwrap();
    match s.state {
        lanyard_idp::session::SessionState::Ended { reason, .. } => Some(reason),
        lanyard_idp::session::SessionState::Active { .. } => None,
    }
}

#[tokio::test]
async fn without_a_session_the_portal_signs_in_and_returns_to_itself() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (status, login, url) = page(&ts, &b, "/account").await;
    assert_eq!(status, 200);
    assert!(url.contains("/t/acme/login?req="), "sent to sign in: {url}");
    assert!(
        login.contains("your account"),
        "the login page says where to"
    );
    let Landing::Page { status, body, url } = sign_in_here(&ts, &b, &login, PASSWORD).await else {
        panic!("the portal sign-in left Lanyard");
    };
    assert_eq!(status, 200, "{url}: {body}");
    // Back on the portal's own fixed path (the way back is never taken from the request).
    assert_eq!(url, format!("{}/t/acme/account", ts.base));
    assert!(body.contains("<h1>Devices and sessions</h1>"), "{body}");
    assert!(body.contains("Signed in as <strong>alice</strong>"));
    assert!(body.contains("This device"));
    assert!(body.contains("This session"));
    assert!(body.contains("Times are in UTC"));
    // The sign-in made a session that took part in no client: the portal is not an RP.
    assert!(body.contains("Apps: none yet"), "{body}");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn ending_another_session_logs_it_out_at_the_rp_with_user_choice() {
    let (rp, uri) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(uri),
        ..Default::default()
    })
    .await;
    let (b1, b2) = (Browser::new(), Browser::new());
    login_and_redeem(&ts, &b1, "openid").await;
    let other = sid_of(&login_and_redeem(&ts, &b2, "openid").await);
    let (_, html, _) = page(&ts, &b1, "/account").await;
    assert!(
        html.contains(&format!("data-sid=\"{other}\"")),
        "the other session is listed"
    );
    assert!(html.contains("Apps: web"));
    assert!(html.contains("End all other sessions (1)"));

    // A form without its token is refused like every Lanyard form (ADR 0007).
    let r = b1
        .http
        .post(ts.url("/account/sessions/end"))
        .form(&[("sid", other.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(end_reason(&ts, &other).await, None);

    let (status, body, url) =
        submit(&ts, &b1, &html, "/account/sessions/end", &[("sid", &other)]).await;
    assert_eq!(status, 200);
    assert!(url.ends_with("/account?done=session_ended"), "{url}");
    assert!(body.contains("The session was ended."));
    assert!(!body.contains(&format!("data-sid=\"{other}\"")));
    assert_eq!(end_reason(&ts, &other).await, Some(EndReason::UserChoice));
    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    assert_eq!(
        c["sid"],
        other.as_str(),
        "the RP hears of exactly that session"
    );

    let (_, again, url) = page(&ts, &b2, "/account").await;
    assert!(
        url.contains("/login?req="),
        "the ended browser must sign in"
    );
    assert!(again.contains("name=\"password\""));

    // Nothing else to end: said so, not a false "ended".
    let (_, body, _) = submit(&ts, &b1, &html, "/account/sessions/end-others", &[]).await;
    assert!(body.contains("There was nothing left to end."), "{body}");
    // An already-ended session is "not found", never a 500.
    let (status, _, _) = submit(&ts, &b1, &html, "/account/sessions/end", &[("sid", &other)]).await;
    assert_eq!(status, 404);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn end_all_other_sessions_keeps_this_one() {
    let ts = TestServer::start().await;
    let (b1, b2, b3) = (Browser::new(), Browser::new(), Browser::new());
    let mine = sid_of(&login_and_redeem(&ts, &b1, "openid").await);
    let two = sid_of(&login_and_redeem(&ts, &b2, "openid").await);
    let three = sid_of(&login_and_redeem(&ts, &b3, "openid").await);
    let (_, html, _) = page(&ts, &b1, "/account").await;
    assert!(html.contains("End all other sessions (2)"));
    let (_, body, _) = submit(&ts, &b1, &html, "/account/sessions/end-others", &[]).await;
    assert!(body.contains("Your other sessions were ended."));
    assert_eq!(end_reason(&ts, &two).await, Some(EndReason::UserChoice));
    assert_eq!(end_reason(&ts, &three).await, Some(EndReason::UserChoice));
    assert_eq!(end_reason(&ts, &mine).await, None, "this session stays");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn this_isnt_mine_ends_the_device_and_refuses_its_next_sign_in() {
    let ts = TestServer::start().await;
    let (b1, b2) = (Browser::new(), Browser::new());
    login_and_redeem(&ts, &b1, "openid").await;
    let theirs = sid_of(&login_and_redeem(&ts, &b2, "openid").await);
    let (_, html, _) = page(&ts, &b1, "/account").await;
    let devices = fields(&html, "device");
    // This device comes first; each device's forms name it (rename, sign out, report).
    let mine = devices[0].clone();
    let other = devices
        .iter()
        .find(|d| **d != mine)
        .expect("the other device")
        .clone();

    // Another user cannot act on alice's devices: "not found", and nothing changes.
    let bob = Browser::new();
    let (_, login, _) = page(&ts, &bob, "/account").await;
    let csrf = field(&login, "csrf").unwrap();
    let req = field(&login, "req").unwrap();
    let (_, bob_page) = bob
        .post_form(
            &ts.base,
            &ts.url("/login"),
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("username", "bob"),
                ("password", PASSWORD),
            ],
        )
        .await
        .page();
    let (status, _, _) = submit(
        &ts,
        &bob,
        &bob_page,
        "/account/devices/report",
        &[("device", &other)],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(end_reason(&ts, &theirs).await, None);

    let (status, body, _) = submit(
        &ts,
        &b1,
        &html,
        "/account/devices/report",
        &[("device", &other), ("note", "left it at a café")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("can no longer sign in"), "{body}");
    assert!(body.contains("Reported as not yours"));
    assert_eq!(end_reason(&ts, &theirs).await, Some(EndReason::UserChoice));

    // That browser can no longer sign in at all.
    let (url, ..) = crate::harness::auth_url(&ts, "web", crate::harness::REDIRECT, "openid", &[]);
    let (status, body) = b2.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 403);
    assert!(body.contains("This device cannot sign in"));

    let (_, history, _) = page(&ts, &b1, "/account/history").await;
    assert!(
        history.contains("Reported a device as not yours"),
        "{history}"
    );
    assert!(history.contains("A session ended: you ended it in your account page"));
    ts.assert_invariants().await;
}

#[tokio::test]
async fn renaming_a_device_keeps_its_words_and_refuses_bad_input() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (_, html, _) = page(&ts, &b, "/account").await;
    let device = field(&html, "device").unwrap();
    let (_, body, _) = submit(
        &ts,
        &b,
        &html,
        "/account/devices/rename",
        &[
            ("device", &device),
            ("name", "  Kitchen <tablet> "),
            ("category", "shared"),
        ],
    )
    .await;
    assert!(body.contains("The device was saved."));
    assert!(
        body.contains("Kitchen &lt;tablet&gt;"),
        "escaped, trimmed: {body}"
    );
    assert!(body.contains("<option value=\"shared\" selected>"));
    let (status, _, _) = submit(
        &ts,
        &b,
        &html,
        "/account/devices/rename",
        &[
            ("device", &device),
            ("name", "x"),
            ("category", "spaceship"),
        ],
    )
    .await;
    assert_eq!(status, 400, "an unknown category is refused");
}

#[tokio::test]
async fn password_change_needs_a_fresh_sign_in_and_ends_the_other_sessions() {
    let ts = TestServer::start().await;
    let (b1, b2) = (Browser::new(), Browser::new());
    let mine = sid_of(&login_and_redeem(&ts, &b1, "openid").await);
    let other = sid_of(&login_and_redeem(&ts, &b2, "openid").await);
    ts.clock.advance_secs(10 * 60);
    let (_, security, _) = page(&ts, &b1, "/account/security").await;
    let new = "a much better passphrase";
    let (status, body, _) = submit(
        &ts,
        &b1,
        &security,
        "/account/password",
        &[("new_password", new), ("confirm", new)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Confirm it is you"), "{body}");
    assert_eq!(end_reason(&ts, &other).await, None, "nothing changed yet");

    let (_, login, url) = submit(&ts, &b1, &body, "/account/reauth", &[("then", "security")]).await;
    assert!(url.contains("/login?req="), "asked for the password: {url}");
    let (status, back) = sign_in_here(&ts, &b1, &login, PASSWORD).await.page();
    assert_eq!(status, 200);
    assert!(
        back.contains("<h1>Security</h1>"),
        "back on the security page: {back}"
    );

    let (status, body, url) = submit(
        &ts,
        &b1,
        &back,
        "/account/password",
        &[("new_password", new), ("confirm", new)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        url.ends_with("/account/security?done=password_changed"),
        "{url}"
    );
    assert_eq!(
        end_reason(&ts, &other).await,
        Some(EndReason::CredentialChanged)
    );
    assert_eq!(
        end_reason(&ts, &mine).await,
        None,
        "the changing session stays"
    );

    let (url, ..) = crate::harness::auth_url(&ts, "web", crate::harness::REDIRECT, "openid", &[]);
    let (status, _) = Browser::new()
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .page();
    assert_eq!(status, 401, "the old password no longer signs in");
    let landing = Browser::new().authorize(&ts, &url, "alice", new).await;
    assert!(landing.param("code").is_some(), "the new one does");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn mismatched_passwords_are_refused_with_words() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (_, security, _) = page(&ts, &b, "/account/security").await;
    let (status, body, _) = submit(
        &ts,
        &b,
        &security,
        "/account/password",
        &[
            ("new_password", "one long password"),
            ("confirm", "another long one"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("The passwords differ"));
    let (status, body, _) = submit(
        &ts,
        &b,
        &security,
        "/account/password",
        &[("new_password", "short"), ("confirm", "short")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("at least 8 characters"), "{body}");
}

#[tokio::test]
async fn a_read_only_session_can_view_but_not_act() {
    let ts = TestServer::start().await;
    let (b1, b2) = (Browser::new(), Browser::new());
    let mine = sid_of(&login_and_redeem(&ts, &b1, "openid").await);
    let other = sid_of(&login_and_redeem(&ts, &b2, "openid").await);
    // The token of a page from before the mode changed (a read-only page has no forms).
    let (_, before, _) = page(&ts, &b1, "/account").await;
    lanyard_idp::manage::revocation::set_session_mode(
        &ts.state,
        &ts.tenant,
        &mine,
        "read_only",
        "cli",
    )
    .await
    .unwrap();
    let (status, html, _) = page(&ts, &b1, "/account").await;
    assert!(!html.contains("<form"), "no forms: {html}");
    assert_eq!(status, 200);
    assert!(html.contains("This session is read-only"));
    assert!(!html.contains("End this session"), "no actions offered");
    // A hand-made submission is refused too.
    let (status, body, _) = submit(
        &ts,
        &b1,
        &before,
        "/account/sessions/end",
        &[("sid", &other)],
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("read-only"));
    assert_eq!(end_reason(&ts, &other).await, None);
}

#[tokio::test]
async fn signing_out_everywhere_shows_the_logged_out_page_with_front_channel_frames() {
    let ts = TestServer::start_with(Setup {
        web_frontchannel: Some("https://rp.example/fc".into()),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let mine = sid_of(&login_and_redeem(&ts, &b, "openid").await);
    let (_, html, _) = page(&ts, &b, "/account").await;
    let csrf = field(&html, "csrf").unwrap();
    let r = b
        .http
        .post(ts.url("/account/sessions/end-all"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-src https://rp.example"), "{csp}");
    let body = r.text().await.unwrap().replace("&#x2f;", "/");
    assert!(body.contains("You are logged out"));
    assert!(
        body.contains("https://rp.example/fc"),
        "the RP's frame: {body}"
    );
    assert!(body.contains(&mine), "the frame names the session");
    assert_eq!(end_reason(&ts, &mine).await, Some(EndReason::UserChoice));
    let (_, _, url) = page(&ts, &b, "/account").await;
    assert!(url.contains("/login?req="), "signed out here too");
}

#[tokio::test]
async fn long_lived_grants_are_listed_and_revocable() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    let refresh = tok["refresh_token"].as_str().unwrap().to_string();
    let (_, html, _) = page(&ts, &b, "/account").await;
    assert!(html.contains("Offline access"), "{html}");
    let grant = field(&html, "grant").unwrap();
    let (_, body, _) = submit(
        &ts,
        &b,
        &html,
        "/account/grants/revoke",
        &[("grant", &grant)],
    )
    .await;
    assert!(body.contains("long-lived access was revoked"));
    assert!(body.contains("No app holds long-lived access"));
    let (status, err) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn totp_enrolment_from_the_portal_then_history_tells_it() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (_, security, _) = page(&ts, &b, "/account/security").await;
    assert!(security.contains("No second factor yet"));
    let (status, enrol, _) = submit(&ts, &b, &security, "/account/totp/start", &[]).await;
    assert_eq!(status, 200);
    let start = enrol.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let end = enrol[start..].find('<').unwrap() + start;
    let secret = lanyard_idp::factors::from_base32(&enrol[start..end].replace(' ', "")).unwrap();
    let factor = field(&enrol, "factor").unwrap();
    let (status, _, _) = submit(
        &ts,
        &b,
        &enrol,
        "/account/totp/confirm",
        &[("factor", &factor), ("code", "000000")],
    )
    .await;
    assert_eq!(status, 400, "a wrong code is refused");
    let code = lanyard_idp::factors::code_at_step(&secret, ts.clock.now_secs() / 30);
    let (status, codes, _) = submit(
        &ts,
        &b,
        &enrol,
        "/account/totp/confirm",
        &[("factor", &factor), ("code", &code)],
    )
    .await;
    assert_eq!(status, 200, "{codes}");
    assert!(codes.contains("Save your recovery codes"));
    let (_, security, _) = page(&ts, &b, "/account/security").await;
    assert!(security.contains("An authenticator app is set up"));
    assert!(
        security.contains("10 unused recovery codes") || security.contains("unused recovery code")
    );
    let (_, fresh, _) = submit(&ts, &b, &security, "/account/recovery-codes", &[]).await;
    assert!(fresh.contains("Save your recovery codes"));
    assert_ne!(fresh, codes, "new codes");
    let (_, history, _) = page(&ts, &b, "/account/history").await;
    assert!(history.contains("Set up an authenticator app"), "{history}");
    assert!(history.contains("Replaced the recovery codes"));
    assert!(history.contains("Signed in"));
    let (_, removed, _) = submit(&ts, &b, &security, "/account/totp/remove", &[]).await;
    assert!(removed.contains("The authenticator app was removed."));
    assert!(removed.contains("No second factor yet"));
}

#[tokio::test]
async fn history_pages_and_refuses_a_forged_cursor() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    // Enough events for two pages, as failed sign-ins would record them (argon2 thirty times
    // over would only make the test slow).
    for i in 0..30 {
        lanyard_idp::events::audit::record(
            &ts.state.db,
            lanyard_idp::events::audit::Event {
                tenant_id: &ts.tenant.id,
                kind: "login.failed",
                user_id: Some(&ts.alice_id),
                actor: "user",
                outcome: "bad_credentials",
                ..Default::default()
            },
            None,
            (ts.clock.now_secs() - 100 + i) * 1000,
        )
        .await
        .unwrap();
    }
    login_and_redeem(&ts, &b, "openid").await;
    let (_, first, _) = page(&ts, &b, "/account/history").await;
    assert!(first.contains("Failed sign-in attempt (wrong password)"));
    let next = first
        .split("history?before=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an older page")
        .to_string();
    let (status, older, _) = page(&ts, &b, &format!("/account/history?before={next}")).await;
    assert_eq!(status, 200);
    assert!(older.contains("Newest"));
    let (status, _, _) = page(&ts, &b, "/account/history?before=nonsense").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn portal_queries_never_cross_tenants() {
    use lanyard_idp::store;
    let ts = TestServer::start().await;
    let now = ts.clock.now_secs();
    lanyard_idp::manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        lanyard_idp::session::PolicyLayer::default(),
        now,
    )
    .await
    .unwrap();
    let other = lanyard_idp::manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid offline_access").await;
    let db = &ts.state.db;
    let (a, o) = (&ts.tenant.id, &other.id);
    let devices = store::sessions::list_devices_of_user(db, a, &ts.alice_id)
        .await
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert!(store::sessions::list_devices_of_user(db, o, &ts.alice_id)
        .await
        .unwrap()
        .is_empty());
    assert!(
        !store::sessions::mark_device_details(db, o, &devices[0].id, Some("x"), "kiosk")
            .await
            .unwrap()
    );
    assert_eq!(
        store::sessions::find_device(db, a, &devices[0].id)
            .await
            .unwrap()
            .unwrap()
            .category,
        "personal"
    );
    assert_eq!(
        store::grants::list_active_families_of_user(db, a, &ts.alice_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store::grants::list_active_families_of_user(db, o, &ts.alice_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store::audit::list_for_user_page(db, a, &ts.alice_id, &[], None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store::audit::list_for_user_page(db, o, &ts.alice_id, &[], None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Over HTTP: acme's session cookie means nothing at the other tenant's portal.
    let Landing::Page { url, .. } = b
        .get(&ts.base, &format!("{}/t/other/account", ts.base))
        .await
    else {
        panic!("left Lanyard");
    };
    assert!(url.contains("/t/other/login?req="), "{url}");
}

/// Auto-escaping writes `/` as `&#x2f;` (browsers read it back as `/`).
fn unescape(h: String) -> String {
    h.replace("&#x2f;", "/")
}

#[tokio::test]
async fn times_are_shown_in_the_time_zone_the_user_chose() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (_, login, _) = page(&ts, &b, "/account/security").await;
    sign_in_here(&ts, &b, &login, PASSWORD).await;
    let (_, security, _) = page(&ts, &b, "/account/security").await;
    let security = unescape(security);
    assert!(
        security.contains("shown in <strong>UTC</strong>"),
        "{security}"
    );
    assert!(security.contains("<option value=\"Europe/Berlin\">"));
    // A name that is not a zone is refused and nothing changes.
    let (status, body, _) = submit(
        &ts,
        &b,
        &security,
        "/account/time-zone",
        &[("zoneinfo", "Mars/Olympus")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, saved, _) = submit(
        &ts,
        &b,
        &security,
        "/account/time-zone",
        &[("zoneinfo", "Europe/Berlin")],
    )
    .await;
    assert_eq!(status, 200);
    let saved = unescape(saved);
    assert!(saved.contains("Your time zone was saved"), "{saved}");
    assert!(saved.contains("shown in <strong>Europe/Berlin</strong>"));
    assert!(saved.contains("<option value=\"Europe/Berlin\" selected>"));
    // The devices page writes exact times in Berlin time (CET or CEST), and says so.
    let (_, overview, _) = page(&ts, &b, "/account").await;
    let overview = unescape(overview);
    assert!(
        overview.contains("Times are in Europe/Berlin"),
        "{overview}"
    );
    assert!(
        overview.contains(" CET\"") || overview.contains(" CEST\""),
        "exact times carry the zone's abbreviation: {overview}"
    );
    assert!(!overview.contains(" UTC\""), "no UTC time left: {overview}");
    // Audited like every change to the account.
    let (_, history, _) = page(&ts, &b, "/account/history").await;
    let history = unescape(history);
    assert!(
        history.contains("Chose the time zone Europe/Berlin"),
        "{history}"
    );
    // Back to UTC with the empty choice.
    let (_, security, _) = page(&ts, &b, "/account/security").await;
    let (_, utc, _) = submit(
        &ts,
        &b,
        &security,
        "/account/time-zone",
        &[("zoneinfo", "")],
    )
    .await;
    assert!(utc.contains("shown in <strong>UTC</strong>"));
}
