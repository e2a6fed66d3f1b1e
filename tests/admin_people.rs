//! People in the admin area over HTTP: add a user (a temporary password shown once, which the
//! user must replace at the first sign-in), edit the profile, lock for a while and unlock (the
//! lock ends their sessions), reset the password (the old one stops, sessions end), delete after a
//! confirmation; every change audited with the admin as actor; 403 for a non-admin.

use crate::admin_apps::secret_of;
use crate::admin_pages::{admin_browser, csrf_of, grant, page, post};
use crate::harness::{login_and_redeem, Browser, TestServer, PASSWORD};
use lanyard_idp::manage;
use lanyard_idp::store::users as user_store;

async fn stored(ts: &TestServer, username: &str) -> Option<user_store::User> {
    user_store::find_by_username(&ts.state.db, &ts.tenant.id, username)
        .await
        .unwrap()
}

async fn password_is(ts: &TestServer, username: &str, password: &str) -> bool {
    let u = stored(ts, username).await.unwrap();
    lanyard_idp::passwords::verify(password.to_string(), Some(u.password_hash)).await
}

async fn actors(ts: &TestServer, kind: &str) -> Vec<String> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.actor)
        .collect()
}

async fn live(ts: &TestServer, username: &str) -> u64 {
    manage::directory::user_profile(&ts.state, &ts.tenant, username, ts.state.clock.now())
        .await
        .unwrap()
        .sessions
        .len() as u64
}

#[tokio::test]
async fn an_admin_adds_a_user_and_manages_their_account() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;

    // Add carol: the temporary password is shown once and must be replaced at first sign-in.
    let csrf = csrf_of(&b, &ts, "/admin/add-user").await;
    let (status, body, url) = post(
        &b,
        &ts,
        &ts.url("/admin/add-user"),
        &[
            ("csrf", &csrf),
            ("username", "carol"),
            ("name", "Carol C"),
            ("email", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        url.ends_with("/admin/add-user"),
        "no redirect carries it: {url}"
    );
    assert!(body.contains("will not be shown again"), "{body}");
    let temporary = secret_of(&body);
    assert!(password_is(&ts, "carol", &temporary).await);
    let carol = stored(&ts, "carol").await.unwrap();
    assert!(
        carol.must_change_password,
        "the first sign-in asks for her own password"
    );
    assert_eq!(carol.name.as_deref(), Some("Carol C"));
    assert_eq!(actors(&ts, "user.created").await, ["admin-area:bob"]);

    // A name in use is said on the form.
    let (status, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/add-user"),
        &[("csrf", &csrf), ("username", "ALICE")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("role=\"alert\"") && body.contains("alice"),
        "{body}"
    );

    // Profile.
    let csrf = csrf_of(&b, &ts, "/admin/users/alice").await;
    let (_, _, url) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/profile"),
        &[
            ("csrf", &csrf),
            ("name", "Alice A"),
            ("email", "alice@example.com"),
        ],
    )
    .await;
    assert!(
        url.ends_with("/admin/users/alice?done=profile_saved"),
        "{url}"
    );
    let alice = stored(&ts, "alice").await.unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));

    // Lock for an hour: a confirmation first (the duration travels with it); her session ends.
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(live(&ts, "alice").await, 1);
    let (status, confirm, _) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/lock"),
        &[("csrf", &csrf), ("for", "1h")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("for 1 hour") && confirm.contains("name=\"for\" value=\"1h\""),
        "{confirm}"
    );
    assert_eq!(
        live(&ts, "alice").await,
        1,
        "nothing before the confirmation"
    );
    let (_, body, url) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/lock"),
        &[("csrf", &csrf), ("for", "1h"), ("confirm", "yes")],
    )
    .await;
    assert!(url.ends_with("done=user_locked"), "{url}");
    assert!(body.contains("Locked until"), "{body}");
    assert_eq!(live(&ts, "alice").await, 0, "the lock ended her session");
    let (_, _, url) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/unlock"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(url.ends_with("done=user_unlocked"), "{url}");

    // Reset: the old password stops, a temporary one is shown once.
    assert!(password_is(&ts, "alice", PASSWORD).await);
    let (_, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/reset-password"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    let fresh = secret_of(&body);
    assert!(
        !password_is(&ts, "alice", PASSWORD).await,
        "the old one stopped"
    );
    assert!(password_is(&ts, "alice", &fresh).await);
    assert!(stored(&ts, "alice").await.unwrap().must_change_password);

    // Delete carol after the confirmation.
    let (_, confirm, _) = post(
        &b,
        &ts,
        &ts.url("/admin/users/carol/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert!(confirm.contains("cannot be undone"), "{confirm}");
    assert!(stored(&ts, "carol").await.is_some());
    let (_, _, url) = post(
        &b,
        &ts,
        &ts.url("/admin/users/carol/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(url.ends_with("/admin/users?done=user_deleted"), "{url}");
    assert!(stored(&ts, "carol").await.is_none());
    assert_eq!(actors(&ts, "user.deleted").await, ["admin-area:bob"]);
    // An admin cannot delete themself here.
    let (status, _, _) = post(
        &b,
        &ts,
        &ts.url("/admin/users/bob/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(stored(&ts, "bob").await.is_some());
}

#[tokio::test]
async fn a_non_admin_cannot_add_or_change_users() {
    let ts = TestServer::start().await;
    let alice = admin_browser(&ts, "alice").await;
    let (status, _, _) = page(&alice, &ts, &ts.url("/admin/add-user")).await;
    assert_eq!(status, 403);
    let csrf = csrf_of(&alice, &ts, "/account").await;
    for path in ["/admin/users/bob/delete", "/admin/users/bob/reset-password"] {
        let (status, _, _) = post(
            &alice,
            &ts,
            &ts.url(path),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
        assert_ne!(status, 200, "{path}");
    }
    assert!(stored(&ts, "bob").await.is_some());
    assert!(password_is(&ts, "bob", PASSWORD).await);
}
