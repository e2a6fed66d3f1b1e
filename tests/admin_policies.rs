//! The admin area's policies pages over HTTP: a tenant-default change through the form and its
//! confirmation (only the fields changed, audited with the admin as actor, applied to the live
//! session at once), a value the field's parser refuses shown on the form before anything
//! changes, the effective policy of a user in an app with the layer behind each value, a
//! group's schedule with its next run, the admin's own time zone, and 403 for a non-admin.

use crate::admin_pages::{admin_browser, csrf_of, grant, page, post};
use crate::harness::{field, login_and_redeem, Browser, NowSecs, TestServer};
use lanyard_idp::manage;
use lanyard_idp::session::policy::LayerRef;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};

fn hidden_fields(body: &str) -> Vec<(String, String)> {
    // The confirmation re-posts every value of the form as a hidden input.
    body.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), value.replace("&#x2f;", "/")))
        })
        .collect()
}

/// A group `night-shift` whose rule sets `settings` and ends sessions at 07:00 and 19:00 Berlin
/// time, with alice in it.
pub(crate) async fn night_shift(ts: &TestServer, settings: &[(&str, &str)]) {
    manage::governance::create_group(&ts.state, &ts.tenant, "night-shift", None, "test")
        .await
        .unwrap();
    let mut changes: Vec<FieldChange> = settings
        .iter()
        .map(|(k, v)| FieldChange::Set((*k).into(), (*v).into()))
        .collect();
    changes.push(FieldChange::Set(
        "schedule".into(),
        "07:00,19:00 Europe/Berlin".into(),
    ));
    change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::group("night-shift"),
        &changes,
        "test",
    )
    .await
    .unwrap();
    manage::users::update_user(
        &ts.state,
        &ts.tenant,
        "alice",
        manage::users::UserChanges {
            groups: Some(vec!["night-shift".into()]),
            ..Default::default()
        },
        "test",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_admin_changes_the_tenant_default_after_seeing_what_changes() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    // alice has a live session the change must reach at once.
    let alice = Browser::new();
    login_and_redeem(&ts, &alice, "openid").await;
    let b = admin_browser(&ts, "bob").await;

    let (status, body, _) = page(&b, &ts, &ts.url("/admin/policies")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Session policies") && body.contains("Edit the tenant default"));

    let (status, form, _) = page(&b, &ts, &ts.url("/admin/policies/layer?layer=tenant")).await;
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("name=\"idle_timeout_secs\""), "{form}");
    assert!(
        !form.contains("name=\"schedule\""),
        "no schedule on the tenant"
    );
    let csrf = field(&form, "csrf").unwrap();

    // A value its field's parser refuses: the form again, with the reason, nothing changed.
    let (status, body, _) = post(
        &b,
        &ts,
        &ts.url("/admin/policies/layer"),
        &[
            ("csrf", &csrf),
            ("layer", "tenant"),
            ("max_sessions", "lots"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("role=\"alert\"") && body.contains("max_sessions"),
        "{body}"
    );
    assert!(
        body.contains("value=\"lots\""),
        "what was typed stays: {body}"
    );

    // A real change: first the confirmation, which says what changes.
    let (status, confirm, _) = post(
        &b,
        &ts,
        &ts.url("/admin/policies/layer"),
        &[
            ("csrf", &csrf),
            ("layer", "tenant"),
            ("idle_timeout_secs", "5m"),
            ("max_sessions", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{confirm}");
    assert!(
        confirm.contains("idle_timeout_secs to 5m") || confirm.contains("idle_timeout_secs from"),
        "{confirm}"
    );
    assert!(confirm.contains("live sessions at once"), "{confirm}");
    let unchanged = manage::governance::list_policies(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert!(
        !unchanged
            .iter()
            .any(|l| l.settings.get("idle_timeout_secs").map(String::as_str) == Some("300")),
        "nothing changes before the confirmation"
    );
    let fields = hidden_fields(&confirm);
    assert!(
        fields.iter().any(|(k, v)| k == "confirm" && v == "yes"),
        "{fields:?}"
    );
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body, url) = post(&b, &ts, &ts.url("/admin/policies/layer"), &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        url.ends_with("/admin/policies?done=policy_changed"),
        "{url}"
    );
    assert!(body.contains("5 minutes"), "the new value in words: {body}");
    assert!(body.contains("admin-area:bob"), "who changed it: {body}");

    // Stored, versioned, audited with the admin as actor, and alice's live session re-resolved.
    let layers = manage::governance::list_policies(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    let tenant = layers.iter().find(|l| l.layer == "tenant").unwrap();
    assert_eq!(
        tenant.settings.get("idle_timeout_secs").map(String::as_str),
        Some("300")
    );
    assert_eq!(tenant.updated_by, "admin-area:bob");
    let audit =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("policy.changed"), 10)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "admin-area:bob");
    let eff =
        manage::governance::effective_policy(&ts.state, &ts.tenant, Some("alice"), Some("web"))
            .await
            .unwrap();
    let idle = eff.iter().find(|f| f.field == "idle_timeout_secs").unwrap();
    assert_eq!(idle.value, serde_json::json!(300));
    assert_eq!(idle.source, "tenant");

    // Submitting the same values again changes nothing.
    let csrf = csrf_of(&b, &ts, "/admin/policies/layer?layer=tenant").await;
    let (_, _, url) = post(
        &b,
        &ts,
        &ts.url("/admin/policies/layer"),
        &[
            ("csrf", &csrf),
            ("layer", "tenant"),
            ("idle_timeout_secs", "300"),
        ],
    )
    .await;
    assert!(url.ends_with("done=unchanged"), "{url}");
}

#[tokio::test]
async fn the_effective_policy_names_its_layers_and_schedules_show_their_next_run() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    night_shift(&ts, &[("idle_timeout_secs", "900")]).await;
    // bob reads times in Berlin.
    let bob = manage::users::find(&ts.state.db, &ts.tenant, "bob")
        .await
        .unwrap();
    lanyard_idp::store::users::set_zoneinfo(
        &ts.state.db,
        &ts.tenant.id,
        &bob.id,
        Some("Europe/Berlin"),
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let b = admin_browser(&ts, "bob").await;

    let (status, body, _) = page(&b, &ts, &ts.url("/admin/policies?user=alice&client=web")).await;
    assert_eq!(status, 200, "{body}");
    // Auto-escaping writes `/` as `&#x2f;` (browsers read it back as `/`).
    let body = body.replace("&#x2f;", "/");
    assert!(body.contains("Effective policy for alice in web"), "{body}");
    let idle_row = body
        .split("data-field=\"idle_timeout_secs\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no idle row: {body}"));
    assert!(
        idle_row.contains("15 minutes") && idle_row.contains("Group night-shift"),
        "{idle_row}"
    );
    let mfa_row = body
        .split("data-field=\"require_mfa\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap();
    assert!(mfa_row.contains("built-in default"), "{mfa_row}");

    // The schedule, its next run in bob's zone (Berlin: CET or CEST).
    assert!(body.contains("07:00,19:00 Europe/Berlin"), "{body}");
    let sched = body.split("id=\"schedules\"").nth(1).unwrap();
    assert!(sched.contains(" CET") || sched.contains(" CEST"), "{sched}");
    assert!(sched.contains("in "), "the next run in words: {sched}");
    assert!(body.contains("Times are in Europe/Berlin"), "{body}");

    // Someone who does not exist: said on the page.
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/policies?user=nobody")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("role=\"alert\"") && body.contains("nobody"),
        "{body}"
    );

    // A new rule from "add a rule" opens an empty form for it.
    let (status, body, _) = page(
        &b,
        &ts,
        &ts.url("/admin/policies/layer?kind=attribute&subject=clearance%3Dsecret"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Users whose clearance is secret"), "{body}");
    assert!(
        body.contains("name=\"layer\" value=\"attribute:clearance=secret\""),
        "{body}"
    );
}

#[tokio::test]
async fn a_non_admin_cannot_see_or_change_policies() {
    let ts = TestServer::start().await;
    let alice = admin_browser(&ts, "alice").await;
    let (status, body, _) = page(&alice, &ts, &ts.url("/admin/policies")).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = page(&alice, &ts, &ts.url("/admin/policies/layer?layer=tenant")).await;
    assert_eq!(status, 403);
    // Her own CSRF token (from her account pages) does not make her an admin.
    let csrf = csrf_of(&alice, &ts, "/account").await;
    let (status, _, _) = post(
        &alice,
        &ts,
        &ts.url("/admin/policies/layer"),
        &[
            ("csrf", &csrf),
            ("layer", "tenant"),
            ("idle_timeout_secs", "60"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_ne!(status, 200);
    let layers = manage::governance::list_policies(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert!(
        layers
            .iter()
            .all(|l| l.settings.get("idle_timeout_secs").map(String::as_str) != Some("60")),
        "nothing changed"
    );
}
