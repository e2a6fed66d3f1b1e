//! Refresh-token rotation, reuse detection and lifetimes.

use crate::harness::*;
use lanyard_idp::model::Lifetimes;
use lanyard_idp::session::PolicyLayer;

async fn refresh(ts: &TestServer, rt: &str) -> (u16, serde_json::Value) {
    token_request(
        ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_and_keeps_identity() {
    let ts = TestServer::start().await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    let rt = first["refresh_token"].as_str().unwrap();
    ts.clock.advance_secs(2);
    let (s, second) = refresh(&ts, rt).await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt, rt2, "rotated");
    // RFC 6749 A.17 charset; 256 bits.
    assert!(rt2.len() >= 43 && rt2.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    let claims = |t: &serde_json::Value| -> serde_json::Value {
        let p = t["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_string();
        serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
        )
        .unwrap()
    };
    let (a, b) = (claims(&first), claims(&second));
    for k in ["iss", "sub", "aud", "auth_time", "azp", "sid"] {
        assert_eq!(a[k], b[k], "{k} kept across refresh");
    }
    assert!(b["iat"].as_i64() > a["iat"].as_i64(), "new iat");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn refresh_reused_after_rotation_revokes_family() {
    let ts = TestServer::start_with(Setup {
        policy: PolicyLayer {
            refresh_reuse_ends_session: Some(false),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let (_, r2) = refresh(&ts, &a).await;
    let b = r2["refresh_token"].as_str().unwrap().to_string();
    let (_, r3) = refresh(&ts, &b).await;
    let c = r3["refresh_token"].as_str().unwrap().to_string();
    let at_c = r3["access_token"].as_str().unwrap().to_string();
    // A presented again: refused...
    let (s, e) = refresh(&ts, &a).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // ...and the whole family died, the newest token included (the revocation was committed).
    let (s, e) = refresh(&ts, &c).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        introspect(&ts, &at_c).await["active"],
        false,
        "AT of the revoked family is inactive at once"
    );
    let events = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("refresh.reuse_detected"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "audited");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn refresh_replay_ends_session_by_default_and_notifies_rps() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let browser = Browser::new();
    let first = login_and_redeem(&ts, &browser, "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let (_, _r2) = refresh(&ts, &a).await;
    let (s, _) = refresh(&ts, &a).await;
    assert_eq!(s, 400);
    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    assert_eq!(c["sub"], ts.alice_id.as_str());
    // The browser's SSO session is gone too.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    assert_eq!(
        browser.get(&ts.base, &url).await.param("error").as_deref(),
        Some("login_required")
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn grace_window_tolerates_one_retry_while_successor_unused() {
    let ts = TestServer::start_with(Setup {
        web_lifetimes: Lifetimes {
            refresh_reuse_grace_secs: 10,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let (_, lost) = refresh(&ts, &a).await; // the response "gets lost"
    let lost_rt = lost["refresh_token"].as_str().unwrap().to_string();
    let (s, retry) = refresh(&ts, &a).await;
    assert_eq!(s, 200, "retry within grace while successor unused: {retry}");
    // The lost successor was replaced and no longer works; the new one does.
    let (s, _) = refresh(&ts, &lost_rt).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn other_clients_refresh_token_is_invalid_grant() {
    let ts = TestServer::start().await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let rt = tok["refresh_token"].as_str().unwrap();
    let (s, e) = token_request(
        &ts,
        "other",
        "other-secret-0123456789",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // And it did not hurt the owner.
    assert_eq!(refresh(&ts, rt).await.0, 200);
}

#[tokio::test]
async fn refresh_idle_lifetime_expires() {
    let ts = TestServer::start_with(Setup {
        web_lifetimes: Lifetimes {
            refresh_idle_secs: 100,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    ts.clock.advance_secs(101);
    let (s, e) = refresh(&ts, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn revocation_then_introspection() {
    let ts = TestServer::start().await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let at = tok["access_token"].as_str().unwrap();
    let rt = tok["refresh_token"].as_str().unwrap();
    let live = introspect(&ts, at).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], ts.alice_id.as_str());
    assert_eq!(introspect(&ts, rt).await["active"], true);
    let r = reqwest::Client::new()
        .post(ts.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&ts, rt).await["active"], false);
    assert_eq!(
        introspect(&ts, at).await["active"],
        false,
        "AT from the revoked family"
    );
    // Revoking an access token directly.
    let (_, cc) = token_request(&ts, "web", SECRET, &[("grant_type", "client_credentials")]).await;
    let cc_at = cc["access_token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(ts.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", cc_at), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&ts, cc_at).await["active"], false);
    // Unknown tokens: 200 (RFC 7009 §2.2).
    let r = reqwest::Client::new()
        .post(ts.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_lets_exactly_one_win() {
    let ts = TestServer::start_with(Setup {
        policy: PolicyLayer {
            refresh_reuse_ends_session: Some(false),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let attempts = (0..10).map(|_| {
        let rt = rt.clone();
        let url = ts.url("/token");
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("web", Some(SECRET))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        })
    });
    let results: Vec<(u16, serde_json::Value)> = futures_join(attempts.collect()).await;
    let winners: Vec<&serde_json::Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    assert!(
        winners.len() <= 1,
        "at most one concurrent use may succeed: {results:?}"
    );
    assert!(results
        .iter()
        .all(|(s, v)| *s == 200 || v["error"] == "invalid_grant"));
    // Any parallel reuse is a replay: the family is dead, the winner's successor included.
    if let Some(w) = winners.first() {
        let (s, _) = refresh(&ts, w["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, 400);
    }
    ts.assert_invariants().await;
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
