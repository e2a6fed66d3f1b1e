//! Adding and managing people in the admin area — what `lanyard user` does beyond the user
//! page's actions: add a user (GET/POST `/t/{tenant}/admin/add-user`) with a temporary password
//! shown once, which the user replaces at the first sign-in; change a user's name and e-mail
//! (POST `.../users/{username}/profile`); reset the password (`.../reset-password`: a new
//! temporary one shown once, every session ends) and delete the user (`.../delete`), both after a
//! confirmation. Each is one `manage::users` operation audited with the admin as actor.

use super::apps::{show_secret, SecretPage};
use super::views::Chrome;
use super::{confirm_first, done, open_form, open_page, segment, Confirm, Notice};
use lanyard_idp::app::State;
use lanyard_idp::http::Params;
use lanyard_idp::manage::governance::list_groups;
use lanyard_idp::manage::users::{
    delete_user, generate_password, register_user, reset_password, update_user, NewUser,
    UserChanges,
};
use lanyard_idp::manage::ManageError;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// An optional text field: empty means none. PURE.
fn optional(p: &Params, name: &str) -> Option<String> {
    p.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A tenant group offered on the form.
#[derive(Debug, Clone, Serialize)]
pub struct GroupBox {
    pub name: String,
    pub checked: bool,
}

/// `admin/add_user.html`.
#[derive(Debug, Clone, Serialize)]
pub struct AddUserPage {
    pub chrome: Chrome,
    pub username: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<GroupBox>,
}

impl AddUserPage {
    fn new(chrome: Chrome, groups: Vec<String>, typed: Option<&Params>) -> Self {
        let get = |k: &str| {
            typed
                .and_then(|p| p.get(k))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let chosen: Vec<&str> = typed.map(|p| p.get_all("group")).unwrap_or_default();
        Self {
            chrome,
            username: get("username"),
            name: get("name"),
            email: get("email"),
            groups: groups
                .into_iter()
                .map(|name| GroupBox {
                    checked: chosen.contains(&name.as_str()),
                    name,
                })
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.read_only = false;
        let typed = Params::parse(b"username=carol&group=nurses").unwrap();
        Self::new(
            chrome,
            vec!["nurses".into(), "night-shift".into()],
            Some(&typed),
        )
    }
}

/// The add-user form.
#[handler]
pub async fn add_form(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => {
            let groups = g.into_iter().map(|g| g.name).collect();
            let page = AddUserPage::new(admin.chrome("users", None), groups, None);
            admin.render(&state, "admin/add_user.html", page, StatusCode::OK)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Add a user with a temporary password, shown once.
#[handler]
pub async fn add(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let username = p.get("username").unwrap_or("").trim().to_string();
    let password = generate_password();
    let new = NewUser {
        username: username.clone(),
        name: optional(&p, "name"),
        email: optional(&p, "email"),
        groups: p.get_all("group").into_iter().map(str::to_string).collect(),
        password: password.clone(),
    };
    match register_user(&state, &admin.tenant, new, true, &admin.actor()).await {
        Ok(created) => show_secret(
            &state,
            &admin,
            SecretPage {
                chrome: admin.chrome("users", None),
                title: format!("{} can sign in", created.username),
                next: admin.path(&format!("/users/{}", segment(&created.username))),
                subject_label: "Username",
                subject: created.username,
                secret_label: "Temporary password",
                secret: password.expose().to_string(),
                previous: Some(
                    "Give it to them by a safe way; at their first sign-in they choose their own password."
                        .into(),
                ),
            },
        ),
        Err(e @ (ManageError::Invalid(_) | ManageError::Conflict(_))) => {
            let groups = match list_groups(&state.db, &admin.tenant).await {
                Ok(g) => g.into_iter().map(|g| g.name).collect(),
                Err(e) => return admin.error(&state, e.into()),
            };
            let mut chrome = admin.chrome("users", None);
            chrome.error = Some(e.to_string());
            let page = AddUserPage::new(chrome, groups, Some(&p));
            admin.render(&state, "admin/add_user.html", page, StatusCode::BAD_REQUEST)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Save a user's name and e-mail (the user page's profile form).
#[handler]
pub async fn profile(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let changes = UserChanges {
        name: Some(optional(&p, "name")),
        email: Some(optional(&p, "email")),
        groups: None,
    };
    let back = format!("/users/{}", segment(&username));
    match update_user(&state, &admin.tenant, &username, changes, &admin.actor()).await {
        Ok(_) => done(&admin, &back, Notice::ProfileSaved),
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Reset the password, after a confirmation: a temporary one, shown once.
#[handler]
pub async fn reset(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = format!("/users/{}", segment(&username));
    let ask = Confirm {
        section: "users",
        title: format!("Reset {username}'s password?"),
        what: format!("A temporary password is made and shown to you once; {username}'s old password stops working and every session of theirs ends now (the apps are told). At the next sign-in they choose their own password."),
        button: "Reset the password".into(),
        danger: true,
        cancel: &back,
    };
    if let Some(r) = confirm_first(&state, &admin, req, &p, ask) {
        return r;
    }
    match reset_password(&state, &admin.tenant, &username, &admin.actor()).await {
        Ok((password, ended)) => show_secret(
            &state,
            &admin,
            SecretPage {
                chrome: admin.chrome("users", None),
                title: format!("{username}'s temporary password"),
                next: admin.path(&back),
                subject_label: "Username",
                subject: username.clone(),
                secret_label: "Temporary password",
                secret: password.expose().to_string(),
                previous: Some(format!(
                    "{ended} session{} ended. At the next sign-in {username} chooses their own password.",
                    if ended == 1 { "" } else { "s" }
                )),
            },
        ),
        Err(e) => admin.error(&state, e.into()),
    }
}

/// Delete the user, after a confirmation.
#[handler]
pub async fn delete(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if username == admin.user.username {
        return admin.error(
            &state,
            ManageError::Invalid("you cannot delete your own account here".into()).into(),
        );
    }
    let back = format!("/users/{}", segment(&username));
    let ask = Confirm {
        section: "users",
        title: format!("Delete {username}?"),
        what: format!("{username} can no longer sign in, every session of theirs ends now (the apps are told), and the account is removed. Their ended sessions and audit events stay. This cannot be undone; to stop them for a while, disable or lock them instead."),
        button: format!("Delete {username}"),
        danger: true,
        cancel: &back,
    };
    if let Some(r) = confirm_first(&state, &admin, req, &p, ask) {
        return r;
    }
    match delete_user(&state, &admin.tenant, &username, &admin.actor()).await {
        Ok(_) => done(&admin, "/users", Notice::UserDeleted),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_add_user_form_keeps_what_was_typed() {
        let html = render("admin/add_user.html", AddUserPage::sample());
        assert!(html.contains("name=\"username\"") && html.contains("value=\"carol\""));
        assert!(html.contains("value=\"nurses\" checked"), "{html}");
        assert!(!html.contains("value=\"night-shift\" checked"));
        assert!(
            !html.contains("name=\"password\""),
            "the password is made, not typed"
        );
    }

    #[test]
    fn empty_fields_are_none() {
        let p = Params::parse(b"name=+&email=a%40b.example").unwrap();
        assert_eq!(optional(&p, "name"), None);
        assert_eq!(optional(&p, "email").as_deref(), Some("a@b.example"));
        assert_eq!(optional(&p, "missing"), None);
    }
}
