//! Cross-tenant isolation of every store module (STYLE.md rule 8): rows written as tenant A are
//! invisible to, and unchangeable by, tenant B.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;
use lanyard_idp::store;

#[tokio::test]
async fn store_reads_and_updates_never_cross_tenants() {
    let ts = TestServer::start().await;
    let now = ts.clock.now_secs();
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        PolicyLayer::default(),
        now,
    )
    .await
    .unwrap();
    let b = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let a = &ts.tenant;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let db = &ts.state.db;
    // users
    assert!(store::users::find_by_username(db, &b.id, "alice")
        .await
        .unwrap()
        .is_none());
    assert!(store::users::find(db, &b.id, &ts.alice_id)
        .await
        .unwrap()
        .is_none());
    assert!(
        !store::users::mark_status(db, &b.id, &ts.alice_id, "active", "disabled", now)
            .await
            .unwrap()
    );
    // clients
    let web = store::clients::find_by_client_id(db, &a.id, "web")
        .await
        .unwrap()
        .unwrap();
    assert!(store::clients::find_by_client_id(db, &b.id, "web")
        .await
        .unwrap()
        .is_none());
    assert!(store::clients::find(db, &b.id, &web.id)
        .await
        .unwrap()
        .is_none());
    // sessions and devices
    let s = store::sessions::list(db, &a.id, None, true, 10)
        .await
        .unwrap()
        .remove(0);
    assert!(store::sessions::find(db, &b.id, &s.id)
        .await
        .unwrap()
        .is_none());
    assert!(store::sessions::find_by_sid(db, &b.id, &s.sid)
        .await
        .unwrap()
        .is_none());
    assert!(store::sessions::list(db, &b.id, None, false, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!store::sessions::mark_ended(db, &b.id, &s.id, "x", now)
        .await
        .unwrap());
    assert!(store::sessions::list_participants(db, &b.id, &s.id)
        .await
        .unwrap()
        .is_empty());
    let device = s.device_id.clone().unwrap();
    assert!(store::sessions::find_device(db, &b.id, &device)
        .await
        .unwrap()
        .is_none());
    assert!(
        !store::sessions::mark_device_trust(db, &b.id, &device, "compromised")
            .await
            .unwrap()
    );
    // grants
    let rt_hash = ts
        .state
        .hasher
        .hash("refresh", tok["refresh_token"].as_str().unwrap());
    let rt = store::grants::find_refresh(db, &a.id, &rt_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(store::grants::find_refresh(db, &b.id, &rt_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store::grants::find_family(db, &b.id, &rt.family_id)
        .await
        .unwrap()
        .is_none());
    assert!(
        !store::grants::mark_family_revoked(db, &b.id, &rt.family_id, "x", now)
            .await
            .unwrap()
    );
    assert!(
        !store::grants::mark_refresh_rotated(db, &b.id, &rt_hash, now)
            .await
            .unwrap()
    );
    // audit and outbox
    assert!(store::audit::list_for_session(db, &b.id, &s.id)
        .await
        .unwrap()
        .is_empty());
    assert!(!store::audit::list_for_session(db, &a.id, &s.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store::outbox::list(db, &b.id, None, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Tokens of tenant A are not accepted at tenant B.
    let r = reqwest::Client::new()
        .get(format!("{}/t/other/userinfo", ts.base))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // And A's state is untouched.
    assert_eq!(
        introspect(&ts, tok["access_token"].as_str().unwrap()).await["active"],
        true
    );
}
