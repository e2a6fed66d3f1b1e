//! Apps in the admin area over HTTP: register a confidential app (its secret shown once, and
//! it works at the token endpoint), a refused registration shown on the form as typed, edit its
//! redirect URIs, replace the secret after a confirmation (the old one stops working), delete it
//! after a confirmation; every change audited with the admin as actor; 403 for a non-admin.

use crate::admin_pages::{admin_browser, csrf_of, grant, page, post};
use crate::harness::{field, TestServer};
use lanyard_idp::manage;

/// Whether `id`/`secret` can get a client_credentials token.
async fn authenticates(ts: &TestServer, id: &str, secret: &str) -> bool {
    reqwest::Client::new()
        .post(ts.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
}

pub(crate) fn secret_of(body: &str) -> String {
    body.split("id=\"secret\" class=\"secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no secret shown: {body}"))
        .to_string()
}

async fn audited(ts: &TestServer, kind: &str) -> Vec<String> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.actor)
        .collect()
}

#[tokio::test]
async fn an_admin_registers_edits_rotates_and_deletes_an_app() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    let (status, form, _) = page(&b, &ts, &ts.url("/admin/register-app")).await;
    assert_eq!(status, 200, "{form}");
    let csrf = field(&form, "csrf").unwrap();

    // A refused registration (a redirect URI that is not absolute): the form again, as typed.
    let (status, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/register-app"),
        &[
            ("csrf", &csrf),
            ("client_id", "payroll"),
            ("type", "confidential"),
            ("redirect_uri", "not a uri"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(
        body.contains("value=\"payroll\""),
        "typed values stay: {body}"
    );
    assert!(
        manage::clients::show_client(&ts.state, &ts.tenant, "payroll")
            .await
            .is_err()
    );

    // Registered: the secret is shown once and works.
    let (status, body, url) = post(
        &b,
        &ts,
        &ts.url("/admin/register-app"),
        &[
            ("csrf", &csrf),
            ("client_id", "payroll"),
            ("type", "confidential"),
            ("redirect_uri", "https://payroll.example/cb"),
            ("redirect_uri", ""),
            ("grant_authorization_code", "on"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        url.ends_with("/admin/register-app"),
        "no redirect carries the secret: {url}"
    );
    assert!(body.contains("will not be shown again"), "{body}");
    let first = secret_of(&body);
    assert!(
        authenticates(&ts, "payroll", &first).await,
        "the shown secret works"
    );
    assert_eq!(audited(&ts, "client.created").await, ["admin-area:bob"]);
    let (_, app, _) = page(&b, &ts, &ts.url("/admin/clients/payroll")).await;
    assert!(
        !app.contains(&first),
        "the app's page never shows the secret"
    );

    // Edit: the redirect URIs replaced.
    let csrf = csrf_of(&b, &ts, "/admin/clients/payroll").await;
    let (_, body, url) = post(
        &b,
        &ts,
        &ts.url("/admin/clients/payroll/edit"),
        &[
            ("csrf", &csrf),
            ("redirect_uri", "https://payroll.example/cb"),
            ("redirect_uri", "https://payroll.example/other"),
            ("post_logout_redirect_uri", ""),
        ],
    )
    .await;
    assert!(
        url.ends_with("/admin/clients/payroll?done=client_updated"),
        "{url}"
    );
    assert!(body.contains("payroll.example&#x2f;other") || body.contains("payroll.example/other"));
    let c = manage::clients::show_client(&ts.state, &ts.tenant, "payroll")
        .await
        .unwrap();
    assert_eq!(
        c.redirect_uris,
        [
            "https://payroll.example/cb",
            "https://payroll.example/other"
        ]
    );
    assert_eq!(audited(&ts, "client.updated").await, ["admin-area:bob"]);

    // Replace the secret: a confirmation first, then the new one shown once; the old one stops.
    let (status, confirm, _) = post(
        &b,
        &ts,
        &ts.url("/admin/clients/payroll/rotate-secret"),
        &[("csrf", &csrf), ("overlap", "0")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(confirm.contains("stops working now"), "{confirm}");
    assert!(
        authenticates(&ts, "payroll", &first).await,
        "nothing changed before confirming"
    );
    let (status, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/clients/payroll/rotate-secret"),
        &[("csrf", &csrf), ("overlap", "0"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = secret_of(&body);
    assert_ne!(first, second);
    assert!(authenticates(&ts, "payroll", &second).await);
    assert!(
        !authenticates(&ts, "payroll", &first).await,
        "the old secret stopped"
    );
    assert_eq!(
        audited(&ts, "client.secret_rotated").await,
        ["admin-area:bob"]
    );

    // Delete: after a confirmation; then it is gone.
    let (_, confirm, _) = post(
        &b,
        &ts,
        &ts.url("/admin/clients/payroll/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert!(confirm.contains("cannot be undone"), "{confirm}");
    let (_, _, url) = post(
        &b,
        &ts,
        &ts.url("/admin/clients/payroll/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(url.ends_with("/admin/clients?done=client_deleted"), "{url}");
    assert!(
        manage::clients::show_client(&ts.state, &ts.tenant, "payroll")
            .await
            .is_err()
    );
    assert!(!authenticates(&ts, "payroll", &second).await);
    assert_eq!(audited(&ts, "client.deleted").await, ["admin-area:bob"]);
}

#[tokio::test]
async fn a_non_admin_cannot_register_or_change_apps() {
    let ts = TestServer::start().await;
    let alice = admin_browser(&ts, "alice").await;
    for path in ["/admin/register-app", "/admin/clients/web"] {
        let (status, _, _) = page(&alice, &ts, &ts.url(path)).await;
        assert_eq!(status, 403, "{path}");
    }
    let csrf = csrf_of(&alice, &ts, "/account").await;
    let (status, _, _) = post(
        &alice,
        &ts,
        &ts.url("/admin/clients/web/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_ne!(status, 200);
    assert!(manage::clients::show_client(&ts.state, &ts.tenant, "web")
        .await
        .is_ok());
}
