//! `offline_access` (OIDC Core §11, Back-Channel Logout §2.7): a refresh family granted it
//! outlives its session's logout and timeouts, and ends on credential change, disable, admin or
//! device revocation and reuse.

use crate::harness::*;
use lanyard_idp::session::PolicyLayer;

fn claims(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap()
}

async fn refresh(ts: &TestServer, rt: &str) -> (u16, serde_json::Value) {
    token_request(
        ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

async fn rp_logout(ts: &TestServer, b: &Browser, tok: &serde_json::Value) {
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", tok["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    let landing = b.get(&ts.base, u.as_str()).await.redirect();
    assert!(landing.as_str().starts_with(POST_LOGOUT), "{landing}");
}

async fn userinfo(ts: &TestServer, at: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn events(ts: &TestServer, kind: &str) -> Vec<lanyard_idp::store::audit::EventRow> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 1000)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_offline_grant_outlives_logout_and_timeouts_and_an_online_one_does_not() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let offline = login_and_redeem(&ts, &b, "openid offline_access").await;
    let online = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = claims(offline["id_token"].as_str().unwrap())["sid"].clone();

    // The user signs out at the RP: the session ends and the RP is told (BCL §2.7 leaves the
    // decision about offline tokens to the RP) ...
    rp_logout(&ts, &b, &offline).await;
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid
    );
    // ... but the offline grant still refreshes, now without a session.
    ts.clock.advance_secs(5);
    let (s, next) = refresh(&ts, offline["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{next}");
    let id = claims(next["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], ts.alice_id.as_str());
    assert!(id.get("sid").is_none(), "no session to name: {id}");
    let at = next["access_token"].as_str().unwrap();
    let i = introspect(&ts, at).await;
    assert_eq!(i["active"], true, "{i}");
    assert!(i.get("sid").is_none());
    let (s, ui) = userinfo(&ts, at).await;
    assert_eq!((s, ui["sub"].as_str()), (200, Some(ts.alice_id.as_str())));
    let rt = next["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&ts, &rt).await["active"], true);

    // A session that times out leaves its offline grant too.
    let later = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    ts.clock.advance_secs(3601);
    ts.sweep().await;
    let (s, body) = refresh(&ts, later["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{body}");

    // The grant without offline_access ended with its session (it timed out as well).
    let (s, body) = refresh(&ts, online["refresh_token"].as_str().unwrap()).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    // And the surviving grant still rotates.
    let (s, body) = refresh(&ts, &rt).await;
    assert_eq!(s, 200, "{body}");
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_logged_out_users_offline_grants_end_when_an_admin_revokes_them() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    rp_logout(&ts, &b, &tok).await;
    let (s, next) = refresh(&ts, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{next}");
    // No session is left, yet "end every session of alice" must reach her offline grant.
    lanyard_idp::manage::revoke_user_sessions(&ts.state, &ts.tenant, "alice", "test")
        .await
        .unwrap();
    let (s, body) = refresh(&ts, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        introspect(&ts, next["access_token"].as_str().unwrap()).await["active"],
        false,
        "its access token dies with the family"
    );
    let e = events(&ts, "grants.offline_revoked").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].outcome, "admin_revoked");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn disabling_the_user_or_revoking_the_device_ends_offline_grants() {
    let ts = TestServer::start().await;
    // Disable.
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    rp_logout(&ts, &b, &tok).await;
    lanyard_idp::manage::disable_user(&ts.state, &ts.tenant, "alice", "test")
        .await
        .unwrap();
    lanyard_idp::manage::enable_user(&ts.state, &ts.tenant, "alice", "test")
        .await
        .unwrap();
    let (s, _) = refresh(&ts, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "re-enabling does not bring a revoked grant back");

    // Device revocation reaches grants made on that device whose session already ended.
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    let elsewhere = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    let sid = claims(tok["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let device =
        lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, &sid)
            .await
            .unwrap()
            .unwrap()
            .device_id
            .unwrap();
    rp_logout(&ts, &b, &tok).await;
    lanyard_idp::manage::revoke_device(&ts.state, &ts.tenant, &device, "test")
        .await
        .unwrap();
    let (s, _) = refresh(&ts, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "the compromised device's grant is gone");
    let (s, body) = refresh(&ts, elsewhere["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "another device's grant stays: {body}");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_credential_change_ends_offline_grants_unless_the_policy_keeps_them() {
    for ends in [true, false] {
        let ts = TestServer::start_with(Setup {
            policy: PolicyLayer {
                credential_change_ends_offline: Some(ends),
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
        let b = Browser::new();
        let gone = login_and_redeem(&ts, &b, "openid offline_access").await;
        rp_logout(&ts, &b, &gone).await;
        let live = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
        lanyard_idp::factors::service::change_password(
            &ts.state,
            &ts.tenant,
            &ts.alice_id,
            "a new long password",
            None,
            "user",
            None,
        )
        .await
        .unwrap();
        for tok in [&gone, &live] {
            let (s, body) = refresh(&ts, tok["refresh_token"].as_str().unwrap()).await;
            if ends {
                assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
            } else {
                assert_eq!(s, 200, "kept by policy: {body}");
            }
        }
        ts.assert_invariants().await;
    }
}

#[tokio::test]
async fn reuse_of_an_offline_refresh_token_revokes_it() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid offline_access").await;
    rp_logout(&ts, &b, &tok).await;
    let first = tok["refresh_token"].as_str().unwrap();
    let (s, next) = refresh(&ts, first).await;
    assert_eq!(s, 200);
    let (s, _) = refresh(&ts, first).await;
    assert_eq!(s, 400, "reuse");
    let (s, _) = refresh(&ts, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "the whole family went (Security BCP §4.14.2)");
    assert_eq!(events(&ts, "refresh.reuse_detected").await.len(), 1);
}
