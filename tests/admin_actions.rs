//! The admin area's session page and actions over HTTP: every action asks for confirmation,
//! then does what it said (the session ends with the right reason, the RP gets its logout
//! token, the audit names the admin); refused without CSRF, from a read-only admin session and
//! for a non-admin. Cohort revocation's dry run and run; the live updates' event stream.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::store;

fn sid_of(tok: &serde_json::Value) -> String {
    let p = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let c: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap();
    c["sid"].as_str().unwrap().to_string()
}

async fn grant(ts: &TestServer, username: &str) {
    assert!(
        manage::admins::grant_admin(&ts.state, &ts.tenant, username, "cli")
            .await
            .unwrap()
    );
}

async fn page(b: &Browser, ts: &TestServer, url: &str) -> (u16, String, String) {
    match b.get(&ts.base, url).await {
        Landing::Page { status, body, url } => (status, body.replace("&#x2f;", "/"), url),
        Landing::Redirect(u) => panic!("the admin area redirected away to {u}"),
    }
}

async fn post(
    b: &Browser,
    ts: &TestServer,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    match b.post_form(&ts.base, url, form).await {
        Landing::Page { status, body, url } => (status, body.replace("&#x2f;", "/"), url),
        Landing::Redirect(u) => panic!("the admin area redirected away to {u}"),
    }
}

/// A browser signed in to the admin area as `username`.
async fn sign_in(ts: &TestServer, username: &str) -> Browser {
    let b = Browser::new();
    let (_, html, url) = page(&b, ts, &ts.url("/admin")).await;
    let csrf = field(&html, "csrf").unwrap();
    let req = field(&html, "req").unwrap();
    let action = url.split('?').next().unwrap().to_string();
    post(
        &b,
        ts,
        &action,
        &[
            ("csrf", &csrf),
            ("req", &req),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await;
    b
}

/// Open an action's confirmation page, check what it says, confirm it; the page landed on.
async fn confirm(
    b: &Browser,
    ts: &TestServer,
    sid: &str,
    action: &str,
    says: &str,
) -> (u16, String, String) {
    let path = ts.url(&format!("/admin/sessions/{sid}/{action}"));
    let (status, html, _) = page(b, ts, &path).await;
    assert_eq!(status, 200, "{action}: {html}");
    let text = html.replace("&#x27;", "'");
    assert!(text.contains(says), "{action} says {says:?}: {html}");
    let csrf = field(&html, "csrf").unwrap();
    post(b, ts, &path, &[("csrf", &csrf)]).await
}

async fn row(ts: &TestServer, sid: &str) -> store::sessions::SessionRow {
    store::sessions::find_by_sid(&ts.state.db, &ts.tenant.id, sid)
        .await
        .unwrap()
        .unwrap()
}

async fn actors(ts: &TestServer, sid: &str) -> Vec<(String, String)> {
    manage::sessions::session_events(&ts.state.db, &ts.tenant, sid)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.actor))
        .collect()
}

#[tokio::test]
async fn ending_a_session_confirms_then_ends_it_tells_the_rp_and_audits_the_admin() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    grant(&ts, "bob").await;
    let sid = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let admin = sign_in(&ts, "bob").await;

    // The dashboard links to the session; the session page shows it.
    let (_, dash, _) = page(&admin, &ts, &ts.url("/admin")).await;
    assert!(
        dash.contains(&format!("/t/acme/admin/sessions/{sid}\"")),
        "{dash}"
    );
    let (status, html, _) = page(&admin, &ts, &ts.url(&format!("/admin/sessions/{sid}"))).await;
    assert_eq!(status, 200, "{html}");
    for want in [
        "Session of alice",
        "Bound IP",
        "127.0.0.1",
        "web",
        "Timeline",
        "/end\"",
    ] {
        assert!(html.contains(want), "{want}: {html}");
    }

    let (status, html, url) =
        confirm(&admin, &ts, &sid, "end", "This ends alice's session on").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        url.ends_with(&format!("/admin/sessions/{sid}?done=session_ended")),
        "{url}"
    );
    assert!(html.contains("The session was ended"), "the notice: {html}");
    let r = row(&ts, &sid).await;
    assert_eq!(r.end_reason.as_deref(), Some("admin_revoked"));
    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    assert_eq!(c["sid"], sid.as_str());
    assert!(
        actors(&ts, &sid)
            .await
            .iter()
            .any(|(k, a)| k == "session.ended" && a == "admin-area:bob"),
        "{:?}",
        actors(&ts, &sid).await
    );
    // The session page now shows the end and the delivery.
    ts.drain_outbox(10).await;
    let (_, html, _) = page(&admin, &ts, &ts.url(&format!("/admin/sessions/{sid}"))).await;
    assert!(
        html.contains("admin_revoked") && html.contains("delivered"),
        "{html}"
    );
    assert!(
        !html.contains("/end\""),
        "no end action on an ended session"
    );
    ts.assert_invariants().await;
}

#[tokio::test]
async fn every_session_action_does_what_its_confirmation_says() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let admin = sign_in(&ts, "bob").await;
    let sid = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);

    for (action, says, mode) in [
        ("step-up", "until alice signs in again", "reauth_required"),
        ("read-only", "safe scopes", "read_only"),
        ("normal", "issues tokens as usual", "normal"),
    ] {
        let (status, _, url) = confirm(&admin, &ts, &sid, action, says).await;
        assert_eq!(status, 200);
        assert!(url.ends_with("done=mode_changed"), "{url}");
        assert_eq!(row(&ts, &sid).await.mode, mode, "{action}");
    }
    let (_, _, url) = confirm(&admin, &ts, &sid, "resync", "current policy").await;
    assert!(url.ends_with("done=resynced"), "{url}");
    assert!(row(&ts, &sid).await.ended_at.is_none());

    // Marking the device compromised ends its sessions.
    let device = row(&ts, &sid).await.device_id.unwrap();
    let (_, _, url) = confirm(&admin, &ts, &sid, "compromise-device", "compromised").await;
    assert!(url.ends_with("done=device_compromised"), "{url}");
    assert_eq!(
        row(&ts, &sid).await.end_reason.as_deref(),
        Some("device_revoked")
    );
    let d = store::sessions::find_device(&ts.state.db, &ts.tenant.id, &device)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.trust, "compromised");

    // Ending all of a user's sessions: two of alice's, in two browsers.
    let a = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let b = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let (_, _, url) = confirm(&admin, &ts, &a, "end-user", "2 live sessions of alice's").await;
    assert!(url.ends_with("done=sessions_ended"), "{url}");
    for s in [&a, &b] {
        assert_eq!(
            row(&ts, s).await.end_reason.as_deref(),
            Some("admin_revoked")
        );
    }
    assert!(actors(&ts, &a)
        .await
        .iter()
        .any(|(_, actor)| actor == "admin-area:bob"));

    // Disabling the user ends her sessions and keeps her out.
    let c = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let (_, _, url) = confirm(&admin, &ts, &c, "disable-user", "can no longer sign in").await;
    assert!(url.ends_with("done=user_disabled"), "{url}");
    assert_eq!(
        row(&ts, &c).await.end_reason.as_deref(),
        Some("user_disabled")
    );
    let alice = store::users::find_by_username(&ts.state.db, &ts.tenant.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.status, store::users::DISABLED);
    // The admin's own session is untouched by all this.
    let (status, _, _) = page(&admin, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn actions_are_refused_without_csrf_from_read_only_and_for_non_admins() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let sid = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let admin = sign_in(&ts, "bob").await;
    let path = ts.url(&format!("/admin/sessions/{sid}/end"));

    // No CSRF token, or a wrong one: refused, nothing ends.
    let (status, _, _) = post(&admin, &ts, &path, &[]).await;
    assert!((400..500).contains(&status), "{status}");
    let (status, _, _) = post(&admin, &ts, &path, &[("csrf", "forged")]).await;
    assert!((400..500).contains(&status), "{status}");
    assert!(row(&ts, &sid).await.ended_at.is_none());

    // An unknown action is a 404, not a guess.
    let (status, _, _) = page(
        &admin,
        &ts,
        &ts.url(&format!("/admin/sessions/{sid}/explode")),
    )
    .await;
    assert_eq!(status, 404);

    // The admin's own session made read-only: the page shows no actions, the POST is refused.
    let (_, html, _) = page(&admin, &ts, &path).await;
    let csrf = field(&html, "csrf").unwrap();
    let own = manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("bob"), true, 10)
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    manage::revocation::set_session_mode(&ts.state, &ts.tenant, &own[0].sid, "read_only", "cli")
        .await
        .unwrap();
    let (_, html, _) = page(&admin, &ts, &ts.url(&format!("/admin/sessions/{sid}"))).await;
    assert!(
        html.contains("read-only") && !html.contains("/end\""),
        "{html}"
    );
    let (status, html, _) = post(&admin, &ts, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("This session is read-only"));
    assert!(row(&ts, &sid).await.ended_at.is_none());

    // A signed-in non-admin: 403 on the page, the confirmation and the action.
    let carol = sign_in(&ts, "alice").await;
    let (status, _, _) = page(&carol, &ts, &ts.url(&format!("/admin/sessions/{sid}"))).await;
    assert_eq!(status, 403);
    let (status, html, _) = page(&carol, &ts, &path).await;
    assert_eq!(status, 403);
    let csrf = field(&html, "csrf").unwrap_or_default();
    let (status, _, _) = post(&carol, &ts, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 403);
    assert!(row(&ts, &sid).await.ended_at.is_none());
    // A session of another tenant's id, or none: 404.
    let (status, _, _) = page(&admin, &ts, &ts.url("/admin/sessions/no-such-sid")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cohort_is_previewed_then_ended_on_confirmation() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let a = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let b = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    let admin = sign_in(&ts, "bob").await;

    let (status, html, _) = page(&admin, &ts, &ts.url("/admin/cohort")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Dry run"), "no dry run without a filter");
    let (status, html, _) = page(&admin, &ts, &ts.url("/admin/cohort?client=web")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("ends <strong>2</strong> live sessions of <strong>1</strong> user"),
        "{html}"
    );
    assert!(html.contains("type=\"hidden\" name=\"client\" value=\"web\""));
    // The dry run ended nothing.
    assert!(row(&ts, &a).await.ended_at.is_none());
    // A filter that names nothing, or the status filter: said, not guessed.
    let (status, html, _) = page(&admin, &ts, &ts.url("/admin/cohort?user=nobody")).await;
    assert_eq!(status, 400);
    assert!(html.contains("nobody"), "{html}");
    let (status, _, _) = page(
        &admin,
        &ts,
        &ts.url("/admin/cohort?client=web&status=normal"),
    )
    .await;
    assert_eq!(status, 400);

    // Confirm: without CSRF refused; with it, both end (reason cohort_revoked), admin audited.
    let (_, html, _) = page(&admin, &ts, &ts.url("/admin/cohort?client=web")).await;
    let csrf = field(&html, "csrf").unwrap();
    let (status, _, _) = post(&admin, &ts, &ts.url("/admin/cohort"), &[("client", "web")]).await;
    assert!((400..500).contains(&status));
    assert!(row(&ts, &a).await.ended_at.is_none());
    let (status, html, url) = post(
        &admin,
        &ts,
        &ts.url("/admin/cohort"),
        &[("csrf", &csrf), ("client", "web")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(url.ends_with("/admin?done=cohort_ended"), "{url}");
    assert!(html.contains("The sessions of the cohort were ended"));
    for s in [&a, &b] {
        assert_eq!(
            row(&ts, s).await.end_reason.as_deref(),
            Some("cohort_revoked")
        );
        assert!(actors(&ts, s)
            .await
            .iter()
            .any(|(_, x)| x == "admin-area:bob"));
    }
    // The admin's own session was in no app, so not in the cohort.
    let (status, _, _) = page(&admin, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200);
}

/// Read the event stream until an event of `kind` arrives (bounded by real time).
async fn next_event(resp: &mut reqwest::Response, buf: &mut String, kind: &str) {
    let want = format!("event: {kind}\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(i) = buf.find(&want) {
            buf.drain(..i + want.len());
            return;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no '{kind}' event; got {buf:?}");
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(c))) => buf.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => panic!("the stream ended; got {buf:?}"),
            Ok(Err(e)) => panic!("stream error {e}"),
            Err(_) => panic!("no '{kind}' event; got {buf:?}"),
        }
    }
}

#[tokio::test]
async fn the_live_stream_sends_an_event_when_a_session_starts_or_ends() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let admin = sign_in(&ts, "bob").await;
    let mut resp = admin.http.get(ts.url("/admin/live")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    next_event(&mut resp, &mut buf, "ready").await;
    let sid = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    next_event(&mut resp, &mut buf, "sessions").await;
    manage::revoke_session(&ts.state, &ts.tenant, &sid, "cli")
        .await
        .unwrap();
    next_event(&mut resp, &mut buf, "sessions").await;

    // Not for a non-admin, nor without a session.
    let alice = sign_in(&ts, "alice").await;
    let r = alice.http.get(ts.url("/admin/live")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = Browser::new()
        .http
        .get(ts.url("/admin/live"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
}
