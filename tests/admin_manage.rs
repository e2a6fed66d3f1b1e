//! The admin area's groups, a user's groups and attributes, and the tenant's admin API tokens
//! over HTTP: a group created (a refused name said on the page) and deleted after a confirmation
//! that counts its members and names its rule; a user's groups replaced and attributes set and
//! removed, with the sessions a rule ends counted in the notice; a token shown once (no-store,
//! never in a URL), working against the admin API, then revoked and refused; a tenant admin who
//! can neither see nor revoke an all-tenant token or another tenant's; every new page and action
//! 403 for a non-admin, refused without its CSRF token and from a read-only session; token
//! creation and revocation audited from the area, the admin API and (in cli.rs) the CLI.

use crate::admin_pages::{admin_browser, csrf_of, grant, page, post};
use crate::harness::{field, login_and_redeem, Browser, NowSecs, TestServer};
use lanyard_idp::manage;
use lanyard_idp::model::Tenant;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::{LayerRef, PolicyLayer};
use lanyard_idp::store;

/// A group rule that ends its members' sessions when they join or leave.
async fn ending_rule(ts: &TestServer, group: &str) {
    change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::group(group),
        &[FieldChange::Set(
            "end_sessions_on_membership_change".into(),
            "true".into(),
        )],
        "test",
    )
    .await
    .unwrap();
}

async fn live_sessions(ts: &TestServer, username: &str) -> usize {
    manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some(username), true, 10)
        .await
        .unwrap()
        .len()
}

async fn groups_of(ts: &TestServer, username: &str) -> Vec<String> {
    manage::users::show_user(&ts.state.db, &ts.tenant, username, ts.state.clock.now())
        .await
        .unwrap()
        .groups
}

async fn attributes_of(ts: &TestServer) -> std::collections::BTreeMap<String, String> {
    manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.state.clock.now())
        .await
        .unwrap()
        .attributes
}

async fn events(ts: &TestServer, tenant_id: &str, kind: &str) -> Vec<store::audit::EventRow> {
    store::audit::list(&ts.state.db, tenant_id, Some(kind), 20)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_group_is_created_and_deleted_after_a_confirmation_that_counts_its_members() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/groups")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("data-group=\"staff\""),
        "alice's group: {body}"
    );
    let csrf = field(&body, "csrf").unwrap();
    let groups = ts.url("/admin/groups");

    // Created: back on the list with the notice.
    let (status, body, url) = post(
        &b,
        &ts,
        &groups,
        &[
            ("csrf", &csrf),
            ("name", "nurses"),
            ("description", "Ward nurses"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(url.ends_with("/admin/groups?done=group_created"), "{url}");
    assert!(body.contains("The group was created"), "{body}");
    assert!(body.contains("data-group=\"nurses\"") && body.contains("Ward nurses"));
    let created = events(&ts, &ts.tenant.id, "group.created").await;
    assert_eq!(created[0].actor, "admin-area:bob");

    // Refused, in words, on the page, with the form as sent.
    let (status, body, _) = post(&b, &ts, &groups, &[("csrf", &csrf), ("name", "nurses")]).await;
    assert_eq!(status, 409);
    assert!(
        body.contains("role=\"alert\"") && body.contains("already exists"),
        "{body}"
    );
    let (status, body, _) = post(
        &b,
        &ts,
        &groups,
        &[
            ("csrf", &csrf),
            ("name", "night shift"),
            ("description", "kept"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("letters, digits"), "{body}");
    assert!(body.contains("value=\"night shift\"") && body.contains("value=\"kept\""));

    // alice joins; the group's rule ends sessions on membership change.
    manage::users::update_user(
        &ts.state,
        &ts.tenant,
        "alice",
        manage::users::UserChanges {
            groups: Some(vec!["staff".into(), "nurses".into()]),
            ..Default::default()
        },
        "test",
    )
    .await
    .unwrap();
    ending_rule(&ts, "nurses").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(live_sessions(&ts, "alice").await, 1);

    // The first POST asks, saying what happens; nothing happens yet.
    let delete = ts.url("/admin/groups/nurses/delete");
    let (status, ask, _) = post(&b, &ts, &delete, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(ask.contains("Delete the group nurses?"), "{ask}");
    assert!(ask.contains("Its 1 member loses the membership"), "{ask}");
    assert!(
        ask.contains("group:nurses") && ask.contains("ends now"),
        "{ask}"
    );
    assert!(ask.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(groups_of(&ts, "alice").await, ["nurses", "staff"]);

    // Confirmed: gone, alice's membership and the rule with it; the rule ended her session.
    let (status, body, url) = post(&b, &ts, &delete, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200);
    assert!(
        url.ends_with("/admin/groups?done=group_deleted&ended=1"),
        "{url}"
    );
    assert!(body.contains("ended 1 session."), "{body}");
    assert!(!body.contains("data-group=\"nurses\""));
    assert_eq!(groups_of(&ts, "alice").await, ["staff"]);
    assert_eq!(live_sessions(&ts, "alice").await, 0);
    let layers = manage::governance::list_policies(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert!(!layers.iter().any(|l| l.layer == "group:nurses"));
    let deleted = events(&ts, &ts.tenant.id, "group.deleted").await;
    assert_eq!(deleted[0].actor, "admin-area:bob");

    // A group that does not exist.
    let (status, _, _) = post(
        &b,
        &ts,
        &ts.url("/admin/groups/ghosts/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = post(
        &b,
        &ts,
        &ts.url("/admin/groups/ghosts/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 404);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_users_groups_are_replaced_and_attributes_set_and_removed_on_their_page() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    for g in ["day", "night"] {
        manage::governance::create_group(&ts.state, &ts.tenant, g, None, "test")
            .await
            .unwrap();
    }
    ending_rule(&ts, "night").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let b = admin_browser(&ts, "bob").await;
    let (status, profile, _) = page(&b, &ts, &ts.url("/admin/users/alice")).await;
    assert_eq!(status, 200);
    assert!(
        profile.contains("name=\"group\" value=\"staff\" checked"),
        "{profile}"
    );
    assert!(
        profile.contains("name=\"group\" value=\"night\">"),
        "{profile}"
    );
    let csrf = field(&profile, "csrf").unwrap();
    let act = |a: &str| ts.url(&format!("/admin/users/alice/{a}"));

    // Replaced by day: no rule ends sessions, the session is re-resolved and stays.
    let (status, body, url) = post(
        &b,
        &ts,
        &act("groups"),
        &[("csrf", &csrf), ("group", "day")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        url.ends_with("/admin/users/alice?done=groups_changed"),
        "{url}"
    );
    assert!(
        body.contains("resolved again") && !body.contains("ended 1"),
        "{body}"
    );
    assert_eq!(groups_of(&ts, "alice").await, ["day"]);
    assert_eq!(live_sessions(&ts, "alice").await, 1);
    let changed = events(&ts, &ts.tenant.id, "user.membership_changed").await;
    assert_eq!(changed[0].actor, "admin-area:bob");

    // Joining night, whose rule ends sessions on membership change: the notice counts them.
    let (_, body, url) = post(
        &b,
        &ts,
        &act("groups"),
        &[("csrf", &csrf), ("group", "day"), ("group", "night")],
    )
    .await;
    assert!(url.ends_with("?done=groups_changed&ended=1"), "{url}");
    assert!(body.contains("ended 1 session."), "{body}");
    assert_eq!(groups_of(&ts, "alice").await, ["day", "night"]);
    assert_eq!(live_sessions(&ts, "alice").await, 0);

    // A group that does not exist is refused, not created.
    let (status, body, _) = post(
        &b,
        &ts,
        &act("groups"),
        &[("csrf", &csrf), ("group", "ghosts")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(unescape(&body).contains("no group 'ghosts'"), "{body}");
    assert_eq!(groups_of(&ts, "alice").await, ["day", "night"]);
    // Nothing ticked: in no group.
    post(&b, &ts, &act("groups"), &[("csrf", &csrf)]).await;
    assert!(groups_of(&ts, "alice").await.is_empty());

    // An attribute set, shown, replaced and removed.
    let (status, body, url) = post(
        &b,
        &ts,
        &act("attributes"),
        &[("csrf", &csrf), ("key", "clearance"), ("value", "high")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        url.ends_with("/admin/users/alice?done=attribute_set"),
        "{url}"
    );
    assert!(body.contains("data-attribute=\"clearance\"") && body.contains("<code>high</code>"));
    assert_eq!(
        attributes_of(&ts)
            .await
            .get("clearance")
            .map(String::as_str),
        Some("high")
    );
    post(
        &b,
        &ts,
        &act("attributes"),
        &[("csrf", &csrf), ("key", "clearance"), ("value", "top")],
    )
    .await;
    assert_eq!(
        attributes_of(&ts)
            .await
            .get("clearance")
            .map(String::as_str),
        Some("top")
    );

    // Refused in words, with the form as sent: a key holding '=', an empty value.
    let (status, body, _) = post(
        &b,
        &ts,
        &act("attributes"),
        &[("csrf", &csrf), ("key", "a=b"), ("value", "c")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("The attribute was not set") && body.contains("role=\"alert\""));
    assert!(
        body.contains("value=\"a=b\""),
        "the form keeps its values: {body}"
    );
    let (status, body, _) = post(
        &b,
        &ts,
        &act("attributes"),
        &[("csrf", &csrf), ("key", "site")],
    )
    .await;
    assert_eq!(status, 400, "an empty value is not a removal");
    assert!(body.contains("1-256 characters"), "{body}");

    let (_, body, url) = post(
        &b,
        &ts,
        &act("attributes/remove"),
        &[("csrf", &csrf), ("key", "clearance")],
    )
    .await;
    assert!(url.ends_with("?done=attribute_removed"), "{url}");
    assert!(!body.contains("data-attribute=\"clearance\""), "{body}");
    assert!(attributes_of(&ts).await.is_empty());
    let (status, _, _) = post(
        &b,
        &ts,
        &act("attributes/remove"),
        &[("csrf", &csrf), ("key", "clearance")],
    )
    .await;
    assert_eq!(status, 404, "removing what is not there does not look done");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn an_attribute_rule_that_ends_sessions_is_counted_when_the_attribute_changes() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::attribute("clearance", "secret"),
        &[FieldChange::Set(
            "end_sessions_on_membership_change".into(),
            "true".into(),
        )],
        "test",
    )
    .await
    .unwrap();
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let b = admin_browser(&ts, "bob").await;
    let csrf = csrf_of(&b, &ts, "/admin/users/alice").await;
    let (_, body, url) = post(
        &b,
        &ts,
        &ts.url("/admin/users/alice/attributes"),
        &[("csrf", &csrf), ("key", "clearance"), ("value", "secret")],
    )
    .await;
    assert!(url.ends_with("?done=attribute_set&ended=2"), "{url}");
    assert!(body.contains("ended 2 sessions."), "{body}");
    assert_eq!(live_sessions(&ts, "alice").await, 0);
    ts.assert_invariants().await;
}

async fn mk(ts: &TestServer, tenant: Option<&Tenant>, name: &str) -> String {
    manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        tenant,
        name,
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap()
}

/// The live tokens of a scope (`None`: every token) as (tenant slug, name).
async fn live(ts: &TestServer, tenant: Option<&Tenant>) -> Vec<(Option<String>, String)> {
    manage::tokens::list_admin_tokens(&ts.state.db, tenant)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| !t.revoked)
        .map(|t| (t.tenant, t.name))
        .collect()
}

/// A page's text with the HTML escapes of `/` and `'` undone, to compare with plain text.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&#x27;", "'")
}

/// The value of the shown-once token on the created page.
fn shown_token(body: &str) -> String {
    let marker = "id=\"new-token-value\" value=\"";
    let start = body.find(marker).expect("the token is shown") + marker.len();
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_string()
}

async fn api_status(ts: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/tenants/acme/sessions", ts.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_admin_token_is_shown_once_works_and_stops_working_when_revoked() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/tokens")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("No admin tokens"), "{body}");
    let csrf = field(&body, "csrf").unwrap();

    // Created: the answer to the POST itself shows it, no-store, no redirect.
    let r = b
        .http
        .post(ts.url("/admin/tokens"))
        .form(&[("csrf", csrf.as_str()), ("name", "ci / deploy")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "shown on the answer, not after a redirect");
    assert!(r.headers().get("location").is_none());
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.url().as_str(), ts.url("/admin/tokens"), "not in a URL");
    let body = r.text().await.unwrap();
    assert!(body.contains("Copy it now") && body.contains("will not be shown again"));
    let token = shown_token(&body);
    assert!(token.starts_with("lya_"), "{token}");
    assert_eq!(api_status(&ts, &token).await, 200, "it works at once");

    // The list names it, never shows it.
    let (_, list, _) = page(&b, &ts, &ts.url("/admin/tokens")).await;
    let list = unescape(&list);
    assert!(list.contains("data-token=\"ci / deploy\""), "{list}");
    assert!(list.contains(">Live<"));
    assert!(!list.contains(&token) && !list.contains("lya_"));
    // The same name again is refused on the page.
    let (status, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/tokens"),
        &[("csrf", &csrf), ("name", "ci / deploy")],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body.contains("already exists") && !body.contains("lya_"),
        "{body}"
    );
    let (status, _, _) = post(&b, &ts, &ts.url("/admin/tokens"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 400, "a token needs a name");

    // Revoked, through the list's own form action (the name percent-encoded in the path).
    let action = "/t/acme/admin/tokens/ci%20%2F%20deploy/revoke";
    assert!(list.contains(&format!("action=\"{action}\"")), "{list}");
    let url = format!("{}{action}", ts.base);
    let (status, ask, _) = post(&b, &ts, &url, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    let ask = unescape(&ask);
    assert!(ask.contains("Revoke the admin token ci / deploy?"), "{ask}");
    assert!(ask.contains("This cannot be undone"));
    assert_eq!(
        api_status(&ts, &token).await,
        200,
        "not before the confirmation"
    );
    let (status, body, back) = post(&b, &ts, &url, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200);
    assert!(back.ends_with("/admin/tokens?done=token_revoked"), "{back}");
    assert!(body.contains("it no longer works") && body.contains(">Revoked<"));
    assert_eq!(
        api_status(&ts, &token).await,
        401,
        "refused after the revocation"
    );
    let (status, _, _) = post(&b, &ts, &url, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 404, "revoked already");

    // Audited with the actor and the name, never the token.
    let created = events(&ts, &ts.tenant.id, "admin_token.created").await;
    let revoked = events(&ts, &ts.tenant.id, "admin_token.revoked").await;
    assert_eq!((created.len(), revoked.len()), (1, 1));
    for e in created.iter().chain(&revoked) {
        assert_eq!(e.actor, "admin-area:bob");
        assert!(e.detail.contains("\"ci / deploy\""), "{}", e.detail);
        assert!(!e.detail.contains("lya_"));
    }
    let (_, audit, _) = page(&b, &ts, &ts.url("/admin/audit?kind=admin_token.revoked")).await;
    assert!(
        unescape(&audit).contains("The admin API token \u{201c}ci / deploy\u{201d} was revoked"),
        "in words: {audit}"
    );
}

#[tokio::test]
async fn a_tenant_admin_neither_sees_nor_revokes_all_tenant_or_other_tenants_tokens() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
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
    let root = mk(&ts, None, "root-ops").await;
    let theirs = mk(&ts, Some(&other), "other-ci").await;
    mk(&ts, Some(&ts.tenant), "ours").await;

    let b = admin_browser(&ts, "bob").await;
    let (_, list, _) = page(&b, &ts, &ts.url("/admin/tokens")).await;
    assert!(list.contains("data-token=\"ours\""), "{list}");
    assert!(
        !list.contains("root-ops") && !list.contains("other-ci"),
        "{list}"
    );
    let csrf = field(&list, "csrf").unwrap();
    for name in ["root-ops", "other-ci"] {
        let url = ts.url(&format!("/admin/tokens/{name}/revoke"));
        let (status, _, _) = post(&b, &ts, &url, &[("csrf", &csrf)]).await;
        assert_eq!(status, 404, "{name}: not even asked about");
        let (status, _, _) = post(&b, &ts, &url, &[("csrf", &csrf), ("confirm", "yes")]).await;
        assert_eq!(status, 404, "{name}");
    }
    // A name the other scopes share with this tenant's revokes only this tenant's.
    mk(&ts, None, "shared").await;
    mk(&ts, Some(&other), "shared").await;
    mk(&ts, Some(&ts.tenant), "shared").await;
    post(
        &b,
        &ts,
        &ts.url("/admin/tokens/shared/revoke"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    let all = live(&ts, None).await;
    assert!(all.contains(&(None, "shared".into())), "{all:?}");
    assert!(
        all.contains(&(Some("other".into()), "shared".into())),
        "{all:?}"
    );
    assert!(
        !all.contains(&(Some("acme".into()), "shared".into())),
        "{all:?}"
    );
    assert_eq!(
        live(&ts, Some(&ts.tenant)).await,
        [(Some("acme".into()), "ours".into())]
    );
    // Both still work.
    for t in [&root, &theirs] {
        let who = manage::tokens::authenticate_admin_token(&ts.state.db, &ts.state.hasher, t)
            .await
            .unwrap();
        assert!(who.is_some());
    }
    // The other tenant's trail holds its own token's creation; none of ours.
    assert_eq!(events(&ts, &other.id, "admin_token.created").await.len(), 2);
    assert_eq!(
        events(&ts, &ts.tenant.id, "admin_token.revoked")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_admin_api_audits_token_creation_and_revocation_with_its_token_as_actor() {
    let ts = TestServer::start().await;
    let deploy = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "deploy",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1/tenants/acme/admin-tokens", ts.base);
    let r = http
        .post(&api)
        .bearer_auth(&deploy)
        .json(&serde_json::json!({ "name": "made-by-api" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(format!("{api}/made-by-api"))
        .bearer_auth(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created = events(&ts, &ts.tenant.id, "admin_token.created").await;
    let by_api: Vec<_> = created
        .iter()
        .filter(|e| e.actor == "admin:deploy")
        .collect();
    assert_eq!(by_api.len(), 1, "{created:?}");
    assert!(by_api[0].detail.contains("made-by-api"));
    let revoked = events(&ts, &ts.tenant.id, "admin_token.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor, "admin:deploy");
}

/// Every page and action this file covers.
const PAGES: &[&str] = &["/admin/groups", "/admin/tokens"];
const ACTIONS: &[&str] = &[
    "/admin/groups",
    "/admin/groups/staff/delete",
    "/admin/users/alice/groups",
    "/admin/users/alice/attributes",
    "/admin/users/alice/attributes/remove",
    "/admin/tokens",
    "/admin/tokens/ours/revoke",
];

/// What the actions would change, to show nothing did.
async fn unchanged(ts: &TestServer) {
    let g = manage::governance::list_groups(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(groups_of(ts, "alice").await, ["staff"]);
    let t = manage::tokens::list_admin_tokens(&ts.state.db, Some(&ts.tenant))
        .await
        .unwrap();
    assert_eq!(t.len(), 1);
    assert!(!t[0].revoked);
}

#[tokio::test]
async fn a_non_admin_gets_403_and_a_form_without_its_csrf_token_or_from_a_read_only_session_is_refused(
) {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "ours",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let form = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("confirm".into(), "yes".into()),
            ("name".into(), "made".into()),
            ("group".into(), "staff".into()),
            ("key".into(), "k".into()),
            ("value".into(), "v".into()),
        ]
    };
    let send = |b: &Browser, path: &str, fields: Vec<(String, String)>| {
        let r = b.http.post(ts.url(path)).form(&fields).send();
        async move { r.await.unwrap().status().as_u16() }
    };

    // alice is signed in but no admin.
    let alice = admin_browser(&ts, "alice").await;
    let csrf = csrf_of(&alice, &ts, "/account").await;
    for p in PAGES {
        let r = alice.http.get(ts.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{p}");
    }
    for a in ACTIONS {
        assert_eq!(send(&alice, a, form(&csrf)).await, 403, "{a}");
    }
    unchanged(&ts).await;

    // bob is, but a form without its token, or with a forged one, is refused.
    let bob = admin_browser(&ts, "bob").await;
    for a in ACTIONS {
        let no_token: Vec<_> = form("").into_iter().skip(1).collect();
        let s = send(&bob, a, no_token).await;
        assert!(s == 400 || s == 403, "{a}: {s}");
        let s = send(&bob, a, form("forged")).await;
        assert!(s == 400 || s == 403, "{a}: {s}");
    }
    unchanged(&ts).await;

    // And from a read-only session bob may look but not act.
    let csrf = csrf_of(&bob, &ts, "/admin/tokens").await;
    let sid = manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("bob"), true, 10)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .sid;
    manage::revocation::set_session_mode(&ts.state, &ts.tenant, &sid, "read_only", "test")
        .await
        .unwrap();
    let (status, list, _) = page(&bob, &ts, &ts.url("/admin/tokens")).await;
    assert_eq!(status, 200);
    assert!(list.contains("data-token=\"ours\"") && !list.contains("<form method=\"post\""));
    for a in ACTIONS {
        assert_eq!(send(&bob, a, form(&csrf)).await, 403, "{a}");
    }
    unchanged(&ts).await;
}
