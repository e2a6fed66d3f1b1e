//! The tenant's groups in the admin area (GET `/t/{tenant}/admin/groups`): each with its
//! description, member count and creation time; a form that creates one (a refused name is said
//! on the page, in words); and delete, after a confirmation that says what it does to the
//! members. Each action is one `manage::governance` operation audited as the admin.

use super::views::Chrome;
use super::{confirm_first, done, done_ending, open_form, open_page, segment, Confirm, Notice};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::State;
use lanyard_idp::manage::governance::{
    create_group, delete_group, list_groups, list_policies, GroupView,
};
use lanyard_idp::manage::{describe, ManageError};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// One row of the group list.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub name: String,
    /// The name as a path segment (the delete action's URL).
    pub path: String,
    pub description: Option<String>,
    pub members: u64,
    pub created: TimeText,
}

impl GroupRow {
    fn new(g: GroupView, times: Times) -> Self {
        Self {
            path: segment(&g.name),
            created: times.at(g.created_at),
            name: g.name,
            description: g.description,
            members: g.members,
        }
    }
}

/// What the create form holds (kept when the name is refused).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupForm {
    pub name: String,
    pub description: String,
}

/// `admin/groups.html`: the groups and the form that creates one.
#[derive(Debug, Clone, Serialize)]
pub struct GroupsPage {
    pub chrome: Chrome,
    pub groups: Vec<GroupRow>,
    pub form: GroupForm,
}

impl GroupsPage {
    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let mut chrome = Chrome::sample();
        chrome.section = "groups";
        chrome.read_only = false;
        Self {
            chrome,
            groups: vec![GroupRow::new(
                GroupView {
                    name: "night-shift".into(),
                    description: Some("Ward staff on nights".into()),
                    members: 4,
                    created_at: now - 86_400,
                },
                Times::utc(now),
            )],
            form: GroupForm {
                name: "bad name".into(),
                description: "Kept".into(),
            },
        }
    }
}

/// The confirmation's words for deleting a group with `members` members, whose policy rule
/// (if it has one) may end sessions on membership change.
fn delete_words(name: &str, members: u64, rule: Option<bool>) -> String {
    let who = match members {
        0 => "It has no members.".to_string(),
        1 => "Its 1 member loses the membership.".to_string(),
        n => format!("Its {n} members lose the membership."),
    };
    let rule = match rule {
        None => "It has no policy rule.".to_string(),
        Some(false) => format!(
            "Its policy rule (group:{name}) is deleted, and the members' live sessions are re-resolved at once under the policy left."
        ),
        Some(true) => format!(
            "Its policy rule (group:{name}) is deleted; that rule ends sessions on membership change, so every live session of its members ends now (the apps are told)."
        ),
    };
    format!("{who} {rule} This cannot be undone.")
}

macro_rules! page {
    ($state:expr, $slug:expr, $req:expr) => {
        match open_page(&$state, &$slug, $req).await {
            Ok(a) => a,
            Err(r) => return r,
        }
    };
}

macro_rules! form {
    ($state:expr, $slug:expr, $req:expr, $body:expr) => {
        match open_form(&$state, &$slug, $req, $body).await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// The groups.
#[handler]
pub async fn groups_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = page!(state, slug, req);
    match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => {
            let page = GroupsPage {
                chrome: admin.chrome("groups", Notice::from_query(req)),
                groups: g
                    .into_iter()
                    .map(|g| GroupRow::new(g, admin.times()))
                    .collect(),
                form: GroupForm::default(),
            };
            admin.render(&state, "admin/groups.html", page, StatusCode::OK)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Create a group from the form; a refused name or description is shown on the page with the
/// form as it was sent.
#[handler]
pub async fn create(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = form!(state, slug, req, body);
    let form = GroupForm {
        name: params.get("name").unwrap_or("").trim().to_string(),
        description: params.get("description").unwrap_or("").trim().to_string(),
    };
    let refused = match create_group(
        &state,
        &admin.tenant,
        &form.name,
        Some(form.description.as_str()),
        &admin.actor(),
    )
    .await
    {
        Ok(_) => return done(&admin, "/groups", Notice::GroupCreated),
        Err(e) => e,
    };
    let status = match &refused {
        ManageError::Invalid(_) => StatusCode::BAD_REQUEST,
        ManageError::Conflict(_) => StatusCode::CONFLICT,
        _ => return admin.error(&state, refused.into()),
    };
    let groups = match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => g,
        Err(e) => return admin.error(&state, e.into()),
    };
    let mut chrome = admin.chrome("groups", None);
    chrome.error = Some(format!(
        "The group was not created: {}.",
        describe(&refused)
    ));
    let page = GroupsPage {
        chrome,
        groups: groups
            .into_iter()
            .map(|g| GroupRow::new(g, admin.times()))
            .collect(),
        form,
    };
    admin.render(&state, "admin/groups.html", page, status)
}

/// Delete a group, after the confirmation that says what happens to its members.
#[handler]
pub async fn delete(
    state: Data<&State>,
    Path((slug, name)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = form!(state, slug, req, body);
    if params.get("confirm") != Some("yes") {
        let group = match list_groups(&state.db, &admin.tenant).await {
            Ok(g) => g.into_iter().find(|g| g.name == name),
            Err(e) => return admin.error(&state, e.into()),
        };
        let Some(group) = group else {
            return admin.error(
                &state,
                ManageError::not_found("group", name.as_str()).into(),
            );
        };
        let rule = match list_policies(&state.db, &admin.tenant).await {
            Ok(layers) => layers
                .into_iter()
                .find(|l| l.kind == "group" && l.subject == name)
                .map(|l| {
                    l.settings
                        .get("end_sessions_on_membership_change")
                        .is_some_and(|v| v == "true")
                }),
            Err(e) => return admin.error(&state, e.into()),
        };
        let ask = Confirm {
            section: "groups",
            title: format!("Delete the group {name}?"),
            what: delete_words(&name, group.members, rule),
            button: format!("Delete {name}"),
            danger: true,
            cancel: "/groups",
        };
        if let Some(r) = confirm_first(&state, &admin, req, &params, ask) {
            return r;
        }
    }
    match delete_group(&state, &admin.tenant, &name, &admin.actor()).await {
        Ok(d) => done_ending(&admin, "/groups", Notice::GroupDeleted, d.sessions_ended),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_group_list_shows_members_created_and_a_delete_action() {
        let html = render("admin/groups.html", GroupsPage::sample());
        assert!(html.contains("<h1>Groups</h1>"));
        assert!(html.contains("night-shift") && html.contains("Ward staff on nights"));
        assert!(html.contains("data-group=\"night-shift\""));
        assert!(html.contains(">4<"), "member count: {html}");
        assert!(html.contains("1 day ago"), "created in words: {html}");
        assert!(html.contains("action=\"/t/demo/admin/groups/night-shift/delete\""));
        assert!(
            html.contains("action=\"/t/demo/admin/groups\""),
            "create form"
        );
        assert!(
            html.contains("value=\"bad name\"") && html.contains("value=\"Kept\""),
            "a refused form keeps its values: {html}"
        );
        assert!(html.contains("<label>Name "), "labelled");
    }

    #[test]
    fn a_read_only_session_sees_no_forms() {
        let mut page = GroupsPage::sample();
        page.chrome.read_only = true;
        let html = render("admin/groups.html", page);
        assert!(!html.contains("<form method=\"post\""), "{html}");
    }

    #[test]
    fn the_delete_confirmation_says_what_happens_to_members_and_the_rule() {
        let s = delete_words("nurses", 3, Some(true));
        assert!(s.contains("Its 3 members lose the membership"), "{s}");
        assert!(s.contains("group:nurses") && s.contains("ends now"), "{s}");
        let s = delete_words("nurses", 1, Some(false));
        assert!(
            s.contains("Its 1 member loses") && s.contains("re-resolved"),
            "{s}"
        );
        assert!(!s.contains("ends now"));
        let s = delete_words("nurses", 0, None);
        assert!(
            s.contains("no members") && s.contains("no policy rule"),
            "{s}"
        );
    }

    #[test]
    fn a_notice_says_how_many_sessions_a_rule_ended() {
        let req = |q: &str| Request::builder().uri_str(format!("/x?{q}")).finish();
        let m = Notice::from_query(&req("done=group_deleted&ended=2")).unwrap();
        assert!(m.ends_with("ended 2 sessions."), "{m}");
        let m = Notice::from_query(&req("done=groups_changed&ended=1")).unwrap();
        assert!(m.ends_with("ended 1 session."), "{m}");
        let m = Notice::from_query(&req("done=group_deleted")).unwrap();
        assert!(!m.contains("ended"), "{m}");
        // Only a number, and only on a notice of a membership change.
        let m = Notice::from_query(&req("done=group_deleted&ended=%3Cb%3E")).unwrap();
        assert!(!m.contains('<') && !m.contains("ended"), "{m}");
        let m = Notice::from_query(&req("done=user_enabled&ended=5")).unwrap();
        assert!(!m.contains("ended 5"), "{m}");
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.name()), Some(n));
        }
    }
}
