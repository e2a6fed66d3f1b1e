//! The tenant's directory in the admin area: users (GET `/t/{tenant}/admin/users`, with status,
//! groups, admin badge and live sessions; one user's page with profile, attributes, devices and
//! sessions), the groups with their member counts, and the apps (GET `.../clients`). Actions are
//! POST forms with a confirmation step, each one `manage` operation audited as the admin
//! (`Admin::actor`): disable / enable a user (disabling ends every session through the
//! termination path), grant / revoke the admin role, end all a user's sessions, disable /
//! enable an app.

use super::views::Chrome;
use super::views::Hidden;
use super::{
    confirm_first, confirm_first_with, done, open_form, open_page, segment, Confirm, Notice,
};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::State;
use lanyard_idp::manage::clients::{list_clients, set_client_disabled, ClientView};
use lanyard_idp::manage::directory::{list_directory, user_profile, DirectoryEntry, UserProfile};
use lanyard_idp::manage::governance::{list_groups, GroupView};
use lanyard_idp::manage::{self, admins, ManageError};
use lanyard_idp::store::users as user_store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// A user's status in words and its badge.
fn status_words(s: &str) -> (&'static str, &'static str) {
    match s {
        user_store::ACTIVE => ("Active", "ok"),
        user_store::DISABLED => ("Disabled", "danger"),
        "locked" => ("Locked", "warn"),
        _ => ("Unknown", "danger"),
    }
}

/// One row of the user list.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub username: String,
    pub path: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub status: &'static str,
    pub status_class: &'static str,
    pub groups: Vec<String>,
    pub admin: bool,
    pub live_sessions: u64,
}

impl UserRow {
    fn new(e: DirectoryEntry) -> Self {
        let (status, status_class) = status_words(&e.user.status);
        Self {
            path: segment(&e.user.username),
            username: e.user.username,
            name: e.user.name,
            email: e.user.email,
            status,
            status_class,
            groups: e.user.groups,
            admin: e.admin,
            live_sessions: e.live_sessions,
        }
    }
}

/// `admin/users.html`: the users and the groups.
#[derive(Debug, Clone, Serialize)]
pub struct UsersPage {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub groups: Vec<GroupView>,
}

impl UsersPage {
    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.section = "users";
        let e = |name: &str, status: &str, admin: bool, live: u64| DirectoryEntry {
            user: sample_user(name, status),
            admin,
            live_sessions: live,
        };
        Self {
            chrome,
            users: vec![
                e("alice", user_store::ACTIVE, true, 2),
                e("bob smith", user_store::DISABLED, false, 0),
            ]
            .into_iter()
            .map(UserRow::new)
            .collect(),
            groups: vec![GroupView {
                name: "night-shift".into(),
                description: Some("Ward staff on nights".into()),
                members: 4,
                created_at: 1_700_000_000,
            }],
        }
    }
}

#[cfg(test)]
fn sample_user(name: &str, status: &str) -> lanyard_idp::manage::users::UserView {
    lanyard_idp::manage::users::UserView {
        username: name.into(),
        sub: format!("sub-{name}"),
        email: Some(format!("{}@example.com", name.replace(' ', "."))),
        name: Some("Alice Example".into()),
        groups: vec!["night-shift".into()],
        attributes: [("clearance".to_string(), "high".to_string())]
            .into_iter()
            .collect(),
        status: status.into(),
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        lock: "unlocked",
        locked_until: None,
        lock_reason: None,
    }
}

/// A device on a user's page.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub trust: &'static str,
    pub trust_class: &'static str,
    pub score: u8,
    pub last_seen: TimeText,
    pub last_ip: String,
    pub country: Option<String>,
}

/// A live session on a user's page.
#[derive(Debug, Clone, Serialize)]
pub struct UserSessionRow {
    pub sid: String,
    pub started: TimeText,
    pub last_active: TimeText,
    pub ip: String,
}

/// A group of the tenant on a user's page, ticked when the user is in it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupChoice {
    pub name: String,
    pub checked: bool,
}

/// The "set an attribute" form as it was sent (kept when refused).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttributeForm {
    pub key: String,
    pub value: String,
}

/// `admin/user.html`: one user.
#[derive(Debug, Clone, Serialize)]
pub struct UserPage {
    pub chrome: Chrome,
    pub user: UserRow,
    pub sub: String,
    pub attributes: Vec<(String, String)>,
    /// Every group of the tenant (and any the user is in), for the groups form.
    pub group_choices: Vec<GroupChoice>,
    pub attribute_form: AttributeForm,
    pub created: TimeText,
    pub devices: Vec<DeviceRow>,
    pub sessions: Vec<UserSessionRow>,
    /// The signed-in admin is looking at their own account (no self-lockout buttons).
    pub is_self: bool,
    /// The lock in force, in words (`None`: not locked).
    pub locked: Option<String>,
    /// The lock durations the lock form offers.
    pub lock_choices: Vec<LockChoice>,
}

/// One duration of the lock form.
#[derive(Debug, Clone, Serialize)]
pub struct LockChoice {
    pub value: &'static str,
    pub label: &'static str,
}

/// How long a lock from the admin area lasts: the form's choices, as `lanyard user lock --for`.
pub const LOCK_CHOICES: [(&str, Option<i64>, &str); 4] = [
    ("1h", Some(3600), "for 1 hour"),
    ("24h", Some(86_400), "for 24 hours"),
    ("7d", Some(7 * 86_400), "for 7 days"),
    ("admin", None, "until an admin unlocks it"),
];

/// A lock in words (`UserView::lock`). PURE.
pub fn lock_words(
    lock: &str,
    until: Option<i64>,
    reason: Option<&str>,
    t: Times,
) -> Option<String> {
    let why = reason.map(|r| format!(" ({})", r.replace('_', " ")));
    match (lock, until) {
        ("until", Some(u)) => Some(format!(
            "Locked until {} ({}){}",
            t.at(u).exact,
            t.at(u).words,
            why.unwrap_or_default()
        )),
        ("until_unlocked", _) => Some(format!(
            "Locked until an admin unlocks it{}",
            why.unwrap_or_default()
        )),
        _ => None,
    }
}

impl UserPage {
    pub fn new(chrome: Chrome, p: UserProfile, groups: Vec<GroupView>, times: Times) -> Self {
        let is_self = p.user.username == chrome.username;
        let locked = lock_words(
            p.user.lock,
            p.user.locked_until,
            p.user.lock_reason.as_deref(),
            times,
        );
        let mut names: Vec<String> = groups.into_iter().map(|g| g.name).collect();
        names.extend(p.user.groups.iter().cloned());
        names.sort();
        names.dedup();
        let group_choices = names
            .into_iter()
            .map(|name| GroupChoice {
                checked: p.user.groups.contains(&name),
                name,
            })
            .collect();
        let sub = p.user.sub.clone();
        let created = times.at(p.user.created_at);
        let attributes = p.user.attributes.clone().into_iter().collect();
        let live = p.sessions.len() as u64;
        Self {
            chrome,
            user: UserRow::new(DirectoryEntry {
                user: p.user,
                admin: p.admin,
                live_sessions: live,
            }),
            sub,
            attributes,
            group_choices,
            attribute_form: AttributeForm::default(),
            created,
            devices: p
                .devices
                .into_iter()
                .map(|d| {
                    let (trust, trust_class) = match d.trust.as_str() {
                        "trusted" => ("Trusted", "ok"),
                        "compromised" => ("Compromised", "danger"),
                        _ => ("Unknown", "warn"),
                    };
                    DeviceRow {
                        name: lanyard_idp::session::device::label(
                            d.name.as_deref(),
                            &d.browser,
                            &d.os,
                        ),
                        id: d.id,
                        trust,
                        trust_class,
                        score: d.trust_score,
                        last_seen: times.at(d.last_seen),
                        last_ip: d.last_ip,
                        country: d.last_country,
                    }
                })
                .collect(),
            sessions: p
                .sessions
                .into_iter()
                .map(|s| UserSessionRow {
                    started: times.at(s.created_at),
                    last_active: times.at(s.last_active_at),
                    sid: s.sid,
                    ip: s.ip,
                })
                .collect(),
            is_self,
            locked,
            lock_choices: LOCK_CHOICES
                .iter()
                .map(|(value, _, label)| LockChoice { value, label })
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let mut chrome = Chrome::sample();
        chrome.section = "users";
        chrome.read_only = false;
        let session = lanyard_idp::manage::sessions::SessionView {
            sid: "sid-1".into(),
            username: Some("alice".into()),
            device_id: Some("dev-1".into()),
            state: "active".into(),
            auth_time: now - 600,
            created_at: now - 600,
            last_active_at: now - 60,
            idle_deadline: now + 600,
            absolute_deadline: now + 3600,
            ip: "203.0.113.9".into(),
            user_agent: "Mozilla/5.0".into(),
            ended_at: None,
            end_reason: None,
        };
        let device = lanyard_idp::session::service::devices::DeviceView {
            id: "dev-1".into(),
            name: None,
            browser: "Chrome 131".into(),
            os: "Linux".into(),
            first_seen: now - 86_400,
            last_seen: now - 60,
            last_ip: "203.0.113.9".into(),
            last_country: Some("DE".into()),
            trust: "compromised".into(),
            posture: None,
            logins_ok: 3,
            logins_failed: 1,
            country_changes: 0,
            trust_score: 12,
            trust_parts: Vec::new(),
        };
        Self::new(
            chrome,
            UserProfile {
                user: sample_user("alice", user_store::ACTIVE),
                admin: true,
                devices: vec![device],
                sessions: vec![session],
            },
            vec![
                GroupView {
                    name: "day-shift".into(),
                    description: None,
                    members: 0,
                    created_at: now,
                },
                GroupView {
                    name: "night-shift".into(),
                    description: None,
                    members: 1,
                    created_at: now,
                },
            ],
            Times::utc(now),
        )
    }
}

/// A row of the app list.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRow {
    pub client_id: String,
    pub path: String,
    pub kind: &'static str,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    pub disabled: bool,
}

impl ClientRow {
    fn new(c: ClientView) -> Self {
        let logout_uris = c
            .backchannel_logout_uri
            .iter()
            .map(|u| format!("back-channel: {u}"))
            .chain(
                c.frontchannel_logout_uri
                    .iter()
                    .map(|u| format!("front-channel: {u}")),
            )
            .chain(
                c.post_logout_redirect_uris
                    .iter()
                    .map(|u| format!("after logout: {u}")),
            )
            .collect();
        Self {
            path: segment(&c.client_id),
            // RFC 6749 §2.1: a client that cannot keep a secret is public.
            kind: if c.token_endpoint_auth_method == "none" {
                "Public"
            } else {
                "Confidential"
            },
            client_id: c.client_id,
            auth_method: c.token_endpoint_auth_method,
            redirect_uris: c.redirect_uris,
            logout_uris,
            disabled: c.disabled,
        }
    }
}

/// `admin/clients.html`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsPage {
    pub chrome: Chrome,
    pub clients: Vec<ClientRow>,
}

impl ClientsPage {
    #[cfg(test)]
    pub fn sample() -> Self {
        let mut chrome = Chrome::sample();
        chrome.section = "clients";
        chrome.read_only = false;
        Self {
            chrome,
            clients: vec![ClientRow {
                client_id: "payroll".into(),
                path: "payroll".into(),
                kind: "Confidential",
                auth_method: "client_secret_basic".into(),
                redirect_uris: vec!["https://payroll.example/cb".into()],
                logout_uris: vec!["back-channel: https://payroll.example/bc".into()],
                disabled: true,
            }],
        }
    }
}

macro_rules! page {
    ($state:expr, $slug:expr, $req:expr) => {
        match open_page(&$state, &$slug, $req).await {
            Ok(a) => a,
            Err(r) => return r,
        }
    };
}

/// The users and groups.
#[handler]
pub async fn users_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = page!(state, slug, req);
    let now = admin.ctx.now;
    let users = match list_directory(&state, &admin.tenant, now).await {
        Ok(u) => u,
        Err(e) => return admin.error(&state, e.into()),
    };
    let groups = match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => g,
        Err(e) => return admin.error(&state, e.into()),
    };
    let page = UsersPage {
        chrome: admin.chrome("users", Notice::from_query(req)),
        users: users.into_iter().map(UserRow::new).collect(),
        groups,
    };
    admin.render(&state, "admin/users.html", page, StatusCode::OK)
}

/// One user.
#[handler]
pub async fn user_page(
    state: Data<&State>,
    Path((slug, username)): Path<(String, String)>,
    req: &Request,
) -> Response {
    let admin = page!(state, slug, req);
    let chrome = admin.chrome("users", Notice::from_query(req));
    render_user(
        &state,
        &admin,
        &username,
        chrome,
        AttributeForm::default(),
        StatusCode::OK,
    )
    .await
}

/// The user's page with `chrome` (a notice, or the error of a refused change) and the
/// attribute form as it was sent.
pub(super) async fn render_user(
    state: &State,
    admin: &super::Admin,
    username: &str,
    chrome: Chrome,
    form: AttributeForm,
    status: StatusCode,
) -> Response {
    let now = admin.ctx.now;
    let profile = match user_profile(state, &admin.tenant, username, now).await {
        Ok(p) => p,
        Err(e) => return admin.error(state, e.into()),
    };
    let groups = match list_groups(&state.db, &admin.tenant).await {
        Ok(g) => g,
        Err(e) => return admin.error(state, e.into()),
    };
    let mut page = UserPage::new(chrome, profile, groups, admin.times());
    page.attribute_form = form;
    admin.render(state, "admin/user.html", page, status)
}

/// An action on a user: `disable`, `enable`, `grant-admin`, `revoke-admin`, `end-sessions`.
#[handler]
pub async fn user_action(
    state: Data<&State>,
    Path((slug, username, action)): Path<(String, String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = format!("/users/{}", segment(&username));
    let (title, what, button, danger) = match action.as_str() {
        "disable" => (
            format!("Disable {username}?"),
            format!("{username} will not be able to sign in, and every session of theirs ends now; the apps they used are told (back-channel logout)."),
            format!("Disable {username}"),
            true,
        ),
        "enable" => (
            format!("Enable {username}?"),
            format!("{username} will be able to sign in again."),
            format!("Enable {username}"),
            false,
        ),
        "grant-admin" => (
            format!("Make {username} an admin?"),
            format!("{username} will be able to use this admin area: see every session and audit event, and end sessions, disable users and change policies."),
            "Grant the admin role".to_string(),
            false,
        ),
        "revoke-admin" => (
            format!("Remove {username}'s admin role?"),
            format!("{username} will no longer be able to use this admin area."),
            "Revoke the admin role".to_string(),
            true,
        ),
        "lock" => {
            let Some((_, _, label)) = LOCK_CHOICES
                .iter()
                .find(|(v, _, _)| Some(*v) == params.get("for"))
            else {
                return admin.error(
                    &state,
                    ManageError::Invalid("choose how long the lock lasts".into()).into(),
                );
            };
            (
                format!("Lock {username}'s account?"),
                format!("{username} cannot sign in {label}: every session of theirs ends now (the apps are told), and they and the organisation's admin address are mailed."),
                format!("Lock {username}"),
                true,
            )
        }
        "unlock" => (
            format!("Unlock {username}'s account?"),
            format!("{username} can sign in again."),
            format!("Unlock {username}"),
            false,
        ),
        "end-sessions" => (
            format!("End all of {username}'s sessions?"),
            format!("Every session of {username} ends now, on every device, and the apps are told. They can sign in again."),
            "End all sessions".to_string(),
            true,
        ),
        _ => {
            return admin.error(
                &state,
                ManageError::not_found("action", action.as_str()).into(),
            )
        }
    };
    let ask = Confirm {
        section: "users",
        title,
        what,
        button,
        danger,
        cancel: &back,
    };
    // The lock's duration travels with the confirmation.
    let keep = params
        .get("for")
        .map(|v| Hidden {
            name: "for",
            value: v.to_string(),
        })
        .into_iter()
        .collect();
    if let Some(r) = confirm_first_with(&state, &admin, req, &params, ask, keep) {
        return r;
    }
    let (t, actor) = (&admin.tenant, admin.actor());
    let outcome = match action.as_str() {
        "disable" => manage::disable_user(&state, t, &username, &actor)
            .await
            .map(|_| Notice::UserDisabled),
        "enable" => manage::enable_user(&state, t, &username, &actor)
            .await
            .map(|c| changed(c, Notice::UserEnabled)),
        "grant-admin" => admins::grant_admin(&state, t, &username, &actor)
            .await
            .map(|c| changed(c, Notice::AdminGranted)),
        "revoke-admin" => admins::revoke_admin(&state, t, &username, &actor)
            .await
            .map(|c| changed(c, Notice::AdminRevoked)),
        "lock" => {
            let for_secs = LOCK_CHOICES
                .iter()
                .find(|(v, _, _)| Some(*v) == params.get("for"))
                .and_then(|(_, secs, _)| *secs);
            manage::revocation::lock_user(&state, t, &username, for_secs, &actor)
                .await
                .map(|_| Notice::UserLocked)
        }
        "unlock" => manage::revocation::unlock_user(&state, t, &username, &actor)
            .await
            .map(|c| changed(c, Notice::UserUnlocked)),
        _ => manage::revoke_user_sessions(&state, t, &username, &actor)
            .await
            .map(|_| Notice::SessionsEnded),
    };
    match outcome {
        Ok(n) => done(&admin, &back, n),
        Err(e) => admin.error(&state, e.into()),
    }
}

fn changed(did: bool, n: Notice) -> Notice {
    if did {
        n
    } else {
        Notice::Unchanged
    }
}

/// The apps.
#[handler]
pub async fn clients_page(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
) -> Response {
    let admin = page!(state, slug, req);
    match list_clients(&state, &admin.tenant).await {
        Ok(c) => {
            let page = ClientsPage {
                chrome: admin.chrome("clients", Notice::from_query(req)),
                clients: c.into_iter().map(ClientRow::new).collect(),
            };
            admin.render(&state, "admin/clients.html", page, StatusCode::OK)
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// `disable` or `enable` an app.
#[handler]
pub async fn client_action(
    state: Data<&State>,
    Path((slug, client_id, action)): Path<(String, String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let disable = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return admin.error(
                &state,
                ManageError::not_found("action", action.as_str()).into(),
            )
        }
    };
    let ask = if disable {
        Confirm {
            section: "clients",
            title: format!("Disable {client_id}?"),
            what: format!("{client_id} can no longer get tokens, and the access tokens it holds stop working at once (UserInfo refuses them, introspection says inactive)."),
            button: format!("Disable {client_id}"),
            danger: true,
            cancel: "/clients",
        }
    } else {
        Confirm {
            section: "clients",
            title: format!("Enable {client_id}?"),
            what: format!("{client_id} can get tokens again."),
            button: format!("Enable {client_id}"),
            danger: false,
            cancel: "/clients",
        }
    };
    if let Some(r) = confirm_first(&state, &admin, req, &params, ask) {
        return r;
    }
    let notice = if disable {
        Notice::ClientDisabled
    } else {
        Notice::ClientEnabled
    };
    match set_client_disabled(&state, &admin.tenant, &client_id, disable, &admin.actor()).await {
        Ok(c) => done(&admin, "/clients", changed(c, notice)),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_user_list_shows_status_groups_admins_and_sessions() {
        let html = render("admin/users.html", UsersPage::sample());
        assert!(html.contains("href=\"/t/demo/admin/users/alice\""));
        assert!(
            html.contains("href=\"/t/demo/admin/users/bob%20smith\""),
            "encoded"
        );
        assert!(html.contains("Disabled") && html.contains("Active"));
        assert!(html.contains(">Admin</span>"));
        assert!(html.contains("night-shift") && html.contains("Ward staff on nights"));
        assert!(
            html.contains("admin?user=alice"),
            "sessions link to the dashboard"
        );
    }

    #[test]
    fn the_user_page_shows_devices_sessions_and_actions() {
        let html = render("admin/user.html", UserPage::sample());
        assert!(html.contains("<h1>alice</h1>"));
        assert!(html.contains("clearance") && html.contains("high"));
        assert!(html.contains("Chrome 131 on Linux") && html.contains("Compromised"));
        assert!(html.contains("sid-1"));
        assert!(html.contains("admin?user=alice"));
        for a in ["disable", "revoke-admin", "end-sessions"] {
            assert!(
                html.contains(&format!("action=\"/t/demo/admin/users/alice/{a}\"")),
                "{a}"
            );
        }
        assert!(!html.contains("/alice/enable\""), "active: no enable");
    }

    #[test]
    fn the_user_page_offers_the_groups_and_attribute_forms() {
        let html = render("admin/user.html", UserPage::sample());
        assert!(html.contains("action=\"/t/demo/admin/users/alice/groups\""));
        assert!(
            html.contains("name=\"group\" value=\"night-shift\" checked"),
            "a member's group is ticked: {html}"
        );
        assert!(
            html.contains("name=\"group\" value=\"day-shift\">"),
            "{html}"
        );
        assert!(html.contains("action=\"/t/demo/admin/users/alice/attributes\""));
        assert!(html.contains("action=\"/t/demo/admin/users/alice/attributes/remove\""));
        assert!(
            html.contains("name=\"key\" value=\"clearance\""),
            "remove names the key"
        );
        assert!(
            html.contains("ends sessions on membership change"),
            "effects said"
        );
        let mut ro = UserPage::sample();
        ro.chrome.read_only = true;
        let html = render("admin/user.html", ro);
        assert!(
            !html.contains("<form method=\"post\""),
            "read-only: no forms"
        );
        assert!(html.contains("night-shift") && html.contains("clearance"));
    }

    #[test]
    fn the_app_list_shows_uris_and_enable() {
        let html = render("admin/clients.html", ClientsPage::sample());
        assert!(html.contains("payroll") && html.contains("https://payroll.example/cb"));
        assert!(html.contains("back-channel: https://payroll.example/bc"));
        assert!(html.contains("action=\"/t/demo/admin/clients/payroll/enable\""));
    }

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(status_words("active").0, "Active");
        assert_eq!(status_words("disabled").0, "Disabled");
        assert_eq!(status_words("locked").0, "Locked");
        assert_eq!(status_words("zzz").0, "Unknown");
    }
}
