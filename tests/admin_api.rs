//! The admin JSON API: authentication, tenant scoping, revocation and delivery visibility.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;

#[tokio::test]
async fn admin_api_requires_a_valid_token_scoped_to_the_tenant() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tenants/acme/sessions", ts.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("lya_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
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
    let other = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let scoped = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&other),
        "o",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&scoped)
            .send()
            .await
            .unwrap()
            .status(),
        // The same answer as for an unknown tenant: a token cannot probe which tenants exist.
        404
    );
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "a",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let spec: serde_json::Value = http
        .get(format!("{}/api/v1/openapi.json", ts.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .any(|p| p.contains("revoke-sessions")));
}

#[tokio::test]
async fn admin_revokes_a_user_and_sees_the_timeline_and_deliveries() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        None,
        "ops",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!(
            "{}/api/v1/tenants/acme/users/alice/revoke-sessions",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["sessions_ended"], 1);
    rp.wait_for(1, &ts).await;
    ts.drain_outbox(10).await;
    let sessions: serde_json::Value = http
        .get(format!(
            "{}/api/v1/tenants/acme/sessions?user=alice",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = sessions[0]["sid"].as_str().unwrap();
    assert_eq!(sessions[0]["end_reason"], "admin_revoked");
    let events: serde_json::Value = http
        .get(format!(
            "{}/api/v1/tenants/acme/sessions/{sid}/events",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"session.created")
            && kinds.contains(&"token.issued")
            && kinds.contains(&"session.ended"),
        "{kinds:?}"
    );
    let deliveries: serde_json::Value = http
        .get(format!("{}/api/v1/tenants/acme/deliveries", ts.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries[0]["state"], "delivered");
    assert!(deliveries[0]["latency_ms"].as_i64().is_some());
    // Unknown user: 404, not 500.
    let r = http
        .post(format!(
            "{}/api/v1/tenants/acme/users/ghost/revoke-sessions",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
