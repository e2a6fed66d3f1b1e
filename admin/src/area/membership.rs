//! A user's groups and attributes on their page in the admin area: replace the set of groups
//! (`manage::users::update_user`, as `lanyard user update --group` does) and set or remove one
//! attribute (`manage::governance::set_attribute`). Both decide policy, so the user's live
//! sessions are re-resolved at once, or ended by a rule that ends sessions on membership change;
//! the notice says how many ended. A refused change is shown on the user's page, in words.

use super::directory::{render_user, AttributeForm};
use super::{done_ending, open_form, segment, Admin, Notice};
use lanyard_idp::app::State;
use lanyard_idp::manage::governance::{list_groups, set_attribute as set_user_attribute};
use lanyard_idp::manage::users::{update_user, UserChanges};
use lanyard_idp::manage::{describe, ManageError};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

macro_rules! form {
    ($state:expr, $slug:expr, $req:expr, $body:expr) => {
        match open_form(&$state, &$slug, $req, $body).await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// A refused change: the user's page again, saying why, with the attribute form as sent.
async fn refused(
    state: &State,
    admin: &Admin,
    username: &str,
    what: &str,
    e: ManageError,
    form: AttributeForm,
) -> Response {
    let status = match &e {
        ManageError::Invalid(_) => StatusCode::BAD_REQUEST,
        ManageError::Conflict(_) => StatusCode::CONFLICT,
        _ => return admin.error(state, e.into()),
    };
    let mut chrome = admin.chrome("users", None);
    chrome.error = Some(format!("{what}: {}.", describe(&e)));
    render_user(state, admin, username, chrome, form, status).await
}

/// Replace the user's groups with the ticked ones (none ticked: no group). Only the tenant's
/// groups can be ticked; a name that is not one is refused rather than created by the back door
/// (the Groups page creates groups).
#[handler]
pub async fn set_groups(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = form!(state, slug, req, body);
    let mut wanted: Vec<String> = params
        .get_all("group")
        .into_iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    wanted.sort();
    wanted.dedup();
    let known = match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => g,
        Err(e) => return admin.error(&state, e.into()),
    };
    if let Some(unknown) = wanted.iter().find(|w| !known.iter().any(|g| &g.name == *w)) {
        let e = ManageError::Invalid(format!(
            "there is no group '{unknown}'; create it on the Groups page first"
        ));
        let what = "The groups were not changed";
        return refused(&state, &admin, &username, what, e, AttributeForm::default()).await;
    }
    let changes = UserChanges {
        groups: Some(wanted),
        ..Default::default()
    };
    let back = format!("/users/{}", segment(&username));
    match update_user(&state, &admin.tenant, &username, changes, &admin.actor()).await {
        Ok(u) => {
            let ended = u.membership.map_or(0, |m| m.sessions_ended);
            done_ending(&admin, &back, Notice::GroupsChanged, ended)
        }
        Err(e) => {
            let what = "The groups were not changed";
            refused(&state, &admin, &username, what, e, AttributeForm::default()).await
        }
    }
}

/// Set one attribute (`key`, `value`); a key the user has gets the new value.
#[handler]
pub async fn set_attribute(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = form!(state, slug, req, body);
    let form = AttributeForm {
        key: params.get("key").unwrap_or("").trim().to_string(),
        value: params.get("value").unwrap_or("").trim().to_string(),
    };
    // An empty value is refused as such (it is not "remove": that is its own button).
    let outcome = set_user_attribute(
        &state,
        &admin.tenant,
        &username,
        &form.key,
        Some(form.value.as_str()),
        &admin.actor(),
    )
    .await;
    match outcome {
        Ok(c) => done_ending(
            &admin,
            &format!("/users/{}", segment(&username)),
            Notice::AttributeSet,
            c.sessions_ended,
        ),
        Err(e) => {
            let what = "The attribute was not set";
            refused(&state, &admin, &username, what, e, form).await
        }
    }
}

/// Remove one attribute (`key`).
#[handler]
pub async fn remove_attribute(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = form!(state, slug, req, body);
    let key = params.get("key").unwrap_or("").trim().to_string();
    let back = format!("/users/{}", segment(&username));
    match set_user_attribute(&state, &admin.tenant, &username, &key, None, &admin.actor()).await {
        Ok(c) => done_ending(&admin, &back, Notice::AttributeRemoved, c.sessions_ended),
        Err(e) => {
            let what = "The attribute was not removed";
            refused(&state, &admin, &username, what, e, AttributeForm::default()).await
        }
    }
}
