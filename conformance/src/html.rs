//! Reads OP pages the way a person's browser would, without a JS engine: login and consent
//! forms, logout confirmations, front-channel iframes, continuation links, "you are logged out".

use scraper::{ElementRef, Html, Selector};
use url::Url;

/// How a form is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormMethod {
    Get,
    Post,
}

/// A submit button that belongs to a form (inside it, or outside with `form="id"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub name: Option<String>,
    pub value: Option<String>,
    pub text: String,
}

impl Button {
    fn words(&self) -> String {
        format!(
            "{} {} {}",
            self.name.as_deref().unwrap_or(""),
            self.value.as_deref().unwrap_or(""),
            self.text
        )
        .to_lowercase()
    }
}

/// A form as found on a page, with the values a browser would send without user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub action: Url,
    pub method: FormMethod,
    /// Successful controls with their default values (hidden inputs such as CSRF tokens,
    /// pre-filled text inputs, checked boxes, selects' selected options).
    pub fields: Vec<(String, String)>,
    pub password_field: Option<String>,
    pub username_field: Option<String>,
    pub buttons: Vec<Button>,
}

impl Form {
    /// Fields to send for a login: defaults plus username and password.
    pub fn login_submission(&self, username: &str, password: &str) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        for (name, value) in [
            (&self.username_field, username),
            (&self.password_field, password),
        ] {
            if let Some(name) = name {
                fields.retain(|(n, _)| n != name);
                fields.push((name.clone(), value.to_owned()));
            }
        }
        // The first submit button, as pressing Enter would.
        if let Some(Button {
            name: Some(n),
            value,
            ..
        }) = self.buttons.first()
        {
            fields.push((n.clone(), value.clone().unwrap_or_default()));
        }
        fields
    }

    /// Fields to send when pressing `button`.
    pub fn submission_with(&self, button: Option<&Button>) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        if let Some(Button {
            name: Some(n),
            value,
            ..
        }) = button
        {
            fields.push((n.clone(), value.clone().unwrap_or_default()));
        }
        fields
    }
}

fn selector(s: &str) -> Option<Selector> {
    Selector::parse(s).ok()
}

fn select<'a>(root: ElementRef<'a>, s: &str) -> Vec<ElementRef<'a>> {
    match selector(s) {
        Some(sel) => root.select(&sel).collect(),
        None => Vec::new(),
    }
}

const USERNAME_NAMES: [&str; 8] = [
    "username",
    "login",
    "email",
    "user",
    "user_name",
    "userid",
    "identifier",
    "j_username",
];

/// Every form on the page, in document order.
pub fn forms(html: &str, page: &Url) -> Vec<Form> {
    let doc = Html::parse_document(html);
    let root = doc.root_element();
    let all_buttons = select(root, "button, input[type=submit], input[type=image]");
    select(root, "form")
        .into_iter()
        .filter_map(|form| extract_form(form, page, &all_buttons))
        .collect()
}

fn extract_form(form: ElementRef<'_>, page: &Url, all_buttons: &[ElementRef<'_>]) -> Option<Form> {
    let el = form.value();
    let action = match el.attr("action").map(str::trim) {
        Some(a) if !a.is_empty() => page.join(a).ok()?,
        _ => page.clone(),
    };
    let method = match el.attr("method").map(str::to_ascii_lowercase).as_deref() {
        Some("post") => FormMethod::Post,
        _ => FormMethod::Get,
    };
    let mut fields = Vec::new();
    let mut password_field = None;
    let mut text_inputs = Vec::new();
    for input in select(form, "input") {
        let a = input.value();
        let Some(name) = a.attr("name").map(str::to_owned) else {
            continue;
        };
        let value = a.attr("value").unwrap_or("").to_owned();
        match a
            .attr("type")
            .map(str::to_ascii_lowercase)
            .as_deref()
            .unwrap_or("text")
        {
            "password" => {
                if password_field.is_none() {
                    password_field = Some(name);
                }
            }
            "submit" | "image" | "button" | "reset" | "file" => {}
            "checkbox" | "radio" => {
                if a.attr("checked").is_some() {
                    let value = if value.is_empty() {
                        "on".to_owned()
                    } else {
                        value
                    };
                    fields.push((name, value));
                }
            }
            "hidden" => fields.push((name, value)),
            kind @ ("text" | "email" | "tel" | "search") => {
                text_inputs.push((name.clone(), kind == "email"));
                fields.push((name, value));
            }
            _ => fields.push((name, value)),
        }
    }
    for sel in select(form, "select") {
        let Some(name) = sel.value().attr("name") else {
            continue;
        };
        let options = select(sel, "option");
        let chosen = options
            .iter()
            .find(|o| o.value().attr("selected").is_some())
            .or_else(|| options.first());
        if let Some(o) = chosen {
            let value = o
                .value()
                .attr("value")
                .map(str::to_owned)
                .unwrap_or_else(|| text_of(*o));
            fields.push((name.to_owned(), value));
        }
    }
    let username_field = text_inputs
        .iter()
        .find(|(n, _)| USERNAME_NAMES.contains(&n.to_ascii_lowercase().as_str()))
        .or_else(|| text_inputs.first())
        .map(|(n, _)| n.clone());
    let form_id = el.attr("id");
    let inside: Vec<_> = select(form, "button, input[type=submit], input[type=image]");
    let mut buttons = Vec::new();
    for b in all_buttons {
        let a = b.value();
        let owned_by_attr = matches!((a.attr("form"), form_id), (Some(f), Some(id)) if f == id);
        let owned_inside = a.attr("form").is_none() && inside.iter().any(|i| i.id() == b.id());
        let kind = a.attr("type").map(str::to_ascii_lowercase);
        let is_submit = matches!(
            (a.name(), kind.as_deref()),
            ("button", None | Some("submit")) | ("input", Some("submit" | "image"))
        );
        if (owned_by_attr || owned_inside) && is_submit {
            buttons.push(Button {
                name: a.attr("name").map(str::to_owned),
                value: a.attr("value").map(str::to_owned),
                text: text_of(*b),
            });
        }
    }
    Some(Form {
        action,
        method,
        fields,
        password_field,
        username_field,
        buttons,
    })
}

fn text_of(el: ElementRef<'_>) -> String {
    el.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The login form: the first form with a password input.
pub fn login_form(html: &str, page: &Url) -> Option<Form> {
    forms(html, page)
        .into_iter()
        .find(|f| f.password_field.is_some())
}

const ALLOW_WORDS: [&str; 8] = [
    "allow",
    "accept",
    "approve",
    "continue",
    "yes",
    "authorize",
    "consent",
    "grant",
];
const DENY_WORDS: [&str; 6] = ["deny", "cancel", "reject", "decline", "abort", "stay"];
const LOGOUT_WORDS: [&str; 7] = [
    "logout", "log out", "sign out", "signout", "sign-out", "yes", "confirm",
];

fn means(button: &Button, words: &[&str]) -> bool {
    let w = button.words();
    words.iter().any(|word| w.contains(word))
}

/// Picks the form and button that agree to something: the first password-less form with a button
/// saying one of `yes_words` and none of the deny words; else a lone form whose only button is
/// not a refusal.
fn agreeing_form(html: &str, page: &Url, yes_words: &[&str]) -> Option<(Form, Option<Button>)> {
    let candidates: Vec<Form> = forms(html, page)
        .into_iter()
        .filter(|f| f.password_field.is_none())
        .collect();
    for form in &candidates {
        let chosen = form
            .buttons
            .iter()
            .find(|b| {
                // "No, stay signed in" says "sign" and "no": a refusal wins over a match.
                means(b, yes_words) && !means(b, &DENY_WORDS) && !b.words().trim().starts_with("no")
            })
            .cloned();
        if chosen.is_some() {
            return Some((form.clone(), chosen));
        }
    }
    match candidates.as_slice() {
        [only]
            if only.buttons.len() <= 1 && !only.buttons.iter().any(|b| means(b, &DENY_WORDS)) =>
        {
            Some((only.clone(), only.buttons.first().cloned()))
        }
        _ => None,
    }
}

/// A consent page: a form without a password field with an allow/accept/continue button.
pub fn consent_form(html: &str, page: &Url) -> Option<(Form, Option<Button>)> {
    agreeing_form(html, page, &ALLOW_WORDS)
}

/// A logout confirmation ("do you want to sign out?") and its confirming button.
pub fn logout_confirmation(html: &str, page: &Url) -> Option<(Form, Option<Button>)> {
    agreeing_form(html, page, &LOGOUT_WORDS)
}

/// `src` of every iframe, resolved against the page (front-channel logout, §3 of the spec).
pub fn iframe_sources(html: &str, page: &Url) -> Vec<Url> {
    let doc = Html::parse_document(html);
    select(doc.root_element(), "iframe[src]")
        .into_iter()
        .filter_map(|f| f.value().attr("src").and_then(|s| page.join(s.trim()).ok()))
        .collect()
}

/// Where a page would send the browser next without a click: a meta refresh, or else any link,
/// form action or script string that points under `target` (the RP's base URL). JavaScript is
/// not executed; a URL literal in a script is taken as the place the script navigates to.
pub fn continuation(html: &str, page: &Url, target: &Url) -> Option<Url> {
    let doc = Html::parse_document(html);
    let root = doc.root_element();
    for meta in select(root, "meta[http-equiv]") {
        let a = meta.value();
        if a.attr("http-equiv")
            .is_some_and(|h| h.eq_ignore_ascii_case("refresh"))
        {
            if let Some(content) = a.attr("content") {
                let lower = content.to_ascii_lowercase();
                if let Some(i) = lower.find("url=") {
                    let raw = content[i + 4..]
                        .trim()
                        .trim_matches(|c| c == '\'' || c == '"');
                    if let Ok(u) = page.join(raw) {
                        return Some(u);
                    }
                }
            }
        }
    }
    // Front-channel iframes also point at the RP; they are loaded, not navigated to.
    let frames: Vec<String> = iframe_sources(html, page)
        .iter()
        .map(|u| u.to_string())
        .collect();
    let under =
        |u: &Url| u.as_str().starts_with(target.as_str()) && !frames.contains(&u.to_string());
    for a in select(root, "a[href]") {
        if let Some(u) = a
            .value()
            .attr("href")
            .and_then(|h| page.join(h.trim()).ok())
        {
            if under(&u) {
                return Some(u);
            }
        }
    }
    for f in forms(html, page) {
        if under(&f.action) {
            let mut u = f.action.clone();
            if f.method == FormMethod::Get && !f.fields.is_empty() {
                u.query_pairs_mut().extend_pairs(f.fields.iter());
            }
            return Some(u);
        }
    }
    let text = html
        .replace("\\/", "/")
        .replace("\\u0026", "&")
        .replace("&amp;", "&");
    let needle = target.as_str();
    let mut from = 0;
    while let Some(i) = text[from..].find(needle) {
        let start = from + i;
        let end = text[start..]
            .find(|c: char| c == '"' || c == '\'' || c == '<' || c == '`' || c.is_whitespace())
            .map_or(text.len(), |e| start + e);
        if let Ok(u) = Url::parse(&text[start..end]) {
            if under(&u) {
                return Some(u);
            }
        }
        from = end.max(start + 1);
    }
    None
}

/// Visible text of a page, whitespace-collapsed and lower-cased (script and style excluded).
pub fn visible_text(html: &str) -> String {
    let doc = Html::parse_document(html);
    let mut out = String::new();
    if let Some(body) = selector("body").and_then(|s| doc.select(&s).next()) {
        collect_text(body, &mut out);
    } else {
        collect_text(doc.root_element(), &mut out);
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn collect_text(el: ElementRef<'_>, out: &mut String) {
    for child in el.children() {
        if let Some(e) = ElementRef::wrap(child) {
            if !matches!(
                e.value().name(),
                "script" | "style" | "noscript" | "template"
            ) {
                collect_text(e, out);
            }
        } else if let Some(t) = child.value().as_text() {
            out.push(' ');
            out.push_str(t);
        }
    }
}

/// The human check of the official suite's logout modules ("screenshot of the logged-out page"),
/// made observable: the page says the user is logged/signed out.
pub fn says_logged_out(html: &str) -> bool {
    let text = visible_text(html).replace('-', " ");
    [
        "logged out",
        "signed out",
        "log out success",
        "sign out success",
        "logout success",
        "signout success",
    ]
    .iter()
    .any(|p| text.contains(p))
        || text.contains("sign out") && text.contains("successful")
        || text.contains("log out") && text.contains("successful")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://op.example/t/x/login?flow=1").unwrap()
    }

    const LOGIN: &str = r#"<html><body><form method="POST" action="/t/x/login">
        <input type="hidden" name="csrf" value="tok123">
        <input type="text" name="username">
        <input type="password" name="password">
        <button type="submit">Sign in</button></form></body></html>"#;

    #[test]
    fn login_form_keeps_hidden_fields_and_fills_credentials() {
        let f = login_form(LOGIN, &page()).unwrap();
        assert_eq!(f.action.as_str(), "https://op.example/t/x/login");
        assert_eq!(f.method, FormMethod::Post);
        let s = f.login_submission("alice", "pw");
        assert!(s.contains(&("csrf".into(), "tok123".into())));
        assert!(s.contains(&("username".into(), "alice".into())));
        assert!(s.contains(&("password".into(), "pw".into())));
    }

    #[test]
    fn username_falls_back_to_first_text_input_and_action_defaults_to_page() {
        let html = r#"<form method=post><input name="q" type="email"><input name="pw" type=password></form>"#;
        let f = login_form(html, &page()).unwrap();
        assert_eq!(f.username_field.as_deref(), Some("q"));
        assert_eq!(f.password_field.as_deref(), Some("pw"));
        assert_eq!(f.action, page());
    }

    #[test]
    fn known_username_name_wins_over_first_text_input() {
        let html = r#"<form><input name="tenant"><input name="login"><input name="p" type=password></form>"#;
        assert_eq!(
            login_form(html, &page()).unwrap().username_field.as_deref(),
            Some("login")
        );
    }

    #[test]
    fn consent_prefers_allow_button_and_sends_its_value() {
        let html = r#"<form method="post" action="/consent"><input type=hidden name=csrf value=c>
            <button name="decision" value="deny">Deny</button>
            <button name="decision" value="allow">Allow</button></form>"#;
        let (f, b) = consent_form(html, &page()).unwrap();
        let s = f.submission_with(b.as_ref());
        assert!(s.contains(&("decision".into(), "allow".into())));
        assert!(!s.contains(&("decision".into(), "deny".into())));
        assert!(s.contains(&("csrf".into(), "c".into())));
    }

    #[test]
    fn consent_accepts_lone_continue_form() {
        let html = r#"<form method="post" action="/i/1/confirm"><input type=hidden name=prompt value=consent>
            <button autofocus type="submit">Continue</button></form>"#;
        let (f, b) = consent_form(html, &page()).unwrap();
        assert_eq!(
            f.submission_with(b.as_ref()),
            vec![("prompt".to_string(), "consent".to_string())]
        );
    }

    #[test]
    fn logout_confirmation_finds_buttons_outside_the_form() {
        let html = r#"<form id="op.logoutForm" method="post" action="/session/end/confirm">
            <input type="hidden" name="xsrf" value="x1"/></form>
            <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
            <button type="submit" form="op.logoutForm">No, stay signed in</button>"#;
        let (f, b) = logout_confirmation(html, &page()).unwrap();
        let s = f.submission_with(b.as_ref());
        assert!(s.contains(&("logout".into(), "yes".into())));
        assert!(s.contains(&("xsrf".into(), "x1".into())));
    }

    #[test]
    fn error_page_without_forms_has_no_consent() {
        assert!(consent_form("<p>invalid redirect_uri</p>", &page()).is_none());
    }

    #[test]
    fn iframes_and_continuation_are_resolved() {
        let rp = Url::parse("http://127.0.0.1:9/").unwrap();
        let html = r#"<iframe src="http://127.0.0.1:9/frontchannel-logout?iss=a&amp;sid=b"></iframe>
            <script>window.location.href = "http:\/\/127.0.0.1:9\/post-logout?state=s1";</script>"#;
        let src = iframe_sources(html, &page());
        assert_eq!(src[0].query(), Some("iss=a&sid=b"));
        let next = continuation(html, &page(), &rp).unwrap();
        assert_eq!(next.as_str(), "http://127.0.0.1:9/post-logout?state=s1");
        let meta = r#"<meta http-equiv="refresh" content="0; url=/done">"#;
        assert_eq!(
            continuation(meta, &page(), &rp).unwrap().as_str(),
            "https://op.example/done"
        );
    }

    #[test]
    fn logged_out_text_is_recognised_and_scripts_ignored() {
        assert!(says_logged_out("<h1>You have been signed out</h1>"));
        assert!(says_logged_out(
            "<h1>Sign-out Success</h1><p>Your sign-out was successful.</p>"
        ));
        assert!(says_logged_out("<p>You are now Logged-Out.</p>"));
        assert!(!says_logged_out(
            "<script>var s='logged out'</script><p>Welcome</p>"
        ));
    }
}
