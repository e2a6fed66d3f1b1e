//! Finds the login or consent form on a provider's HTML page and fills it as a browser would.
//!
//! Provider-independent by design: the login form is the first form holding an
//! `input type=password`; the username goes into the input named `username`/`login`/`email`
//! (or the first text/email input); hidden inputs (CSRF tokens, interaction ids) are kept.
//! A page without a password field is treated as consent: the form whose submit button reads
//! allow/accept/continue/yes (and not deny/cancel) is submitted with that button.
//! Pure: HTML text and the page URL in, a [`Submission`] out.

use scraper::{ElementRef, Html, Selector};
use url::Url;

/// Input names that identify the username field, checked case-insensitively.
const USERNAME_NAMES: &[&str] = &["username", "login", "email", "user", "user_name", "userid"];
/// Words on a submit button that approve (consent) or sign in.
const APPROVE_WORDS: &[&str] = &[
    "allow",
    "accept",
    "continue",
    "yes",
    "approve",
    "authorize",
    "authorise",
    "grant",
    "confirm",
    "consent",
    "agree",
    "ok",
    "login",
    "signin",
    "sign",
    "submit",
    "next",
];
/// Words on a submit button that refuse; such a button is never pressed.
const DENY_WORDS: &[&str] = &[
    "deny", "cancel", "reject", "abort", "no", "decline", "refuse", "back",
];
/// Approve words strong enough to pick a form on a page without a password field.
const CONSENT_WORDS: &[&str] = &[
    "allow",
    "accept",
    "continue",
    "yes",
    "approve",
    "authorize",
    "authorise",
    "grant",
    "confirm",
    "consent",
    "agree",
];

/// How a form is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormMethod {
    Get,
    Post,
}

/// A filled form, ready to send: where, how, and the fields in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub method: FormMethod,
    pub action: Url,
    pub fields: Vec<(String, String)>,
}

/// What a page asks of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageForm {
    /// A login form, filled with the credentials.
    Login(Submission),
    /// A form without a password field, submitted with its approving button.
    Consent(Submission),
    /// Neither: the flow cannot continue from this page.
    Nothing,
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormRejection {
    /// A CSS selector failed to parse (a bug in this module).
    Selector(String),
    /// A form's action could not be resolved against the page URL.
    BadAction(String),
}

impl std::fmt::Display for FormRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Selector(s) => write!(f, "bad selector {s}"),
            Self::BadAction(a) => write!(f, "form action {a:?} does not resolve"),
        }
    }
}

/// The credentials typed into a login form.
#[derive(Clone, Copy)]
pub struct Typed<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// Finds what `html` (served at `page_url`) asks for and fills it with `typed`.
pub fn resolve_page_form(
    html: &str,
    page_url: &Url,
    typed: Typed<'_>,
) -> Result<PageForm, FormRejection> {
    let doc = Html::parse_document(html);
    let form_sel = selector("form")?;
    let password_sel = selector("input")?;
    let forms: Vec<ElementRef<'_>> = doc.select(&form_sel).collect();

    let login_form = forms.iter().find(|form| {
        form.select(&password_sel)
            .any(|input| input_type(input) == "password")
    });
    if let Some(form) = login_form {
        return fill_login(*form, page_url, typed).map(PageForm::Login);
    }

    for form in &forms {
        let buttons = submit_buttons(*form)?;
        let approving = buttons.iter().find(|b| {
            let words = label_words(**b);
            !words.iter().any(|w| DENY_WORDS.contains(&w.as_str()))
                && words.iter().any(|w| CONSENT_WORDS.contains(&w.as_str()))
        });
        if let Some(button) = approving {
            let fields = collect_fields(*form, None)?;
            return submission(*form, Some(*button), page_url, fields).map(PageForm::Consent);
        }
    }
    Ok(PageForm::Nothing)
}

fn fill_login(
    form: ElementRef<'_>,
    page_url: &Url,
    typed: Typed<'_>,
) -> Result<Submission, FormRejection> {
    let mut fields = collect_fields(form, Some(typed))?;
    let username_name = username_field(form)?;
    if let Some(name) = username_name {
        for (field, value) in &mut fields {
            if *field == name {
                typed.username.clone_into(value);
                break;
            }
        }
    }
    // Press the sign-in button; failing a recognisable label, the first one that does not refuse.
    let buttons = submit_buttons(form)?;
    let has = |b: &ElementRef<'_>, list: &[&str]| {
        label_words(*b).iter().any(|w| list.contains(&w.as_str()))
    };
    let button = buttons
        .iter()
        .find(|b| !has(b, DENY_WORDS) && has(b, APPROVE_WORDS))
        .or_else(|| buttons.iter().find(|b| !has(b, DENY_WORDS)))
        .copied();
    submission(form, button, page_url, fields)
}

/// Builds the submission for `form`, pressing `button` (its name/value and any
/// `formaction`/`formmethod` override apply, as in a browser).
fn submission(
    form: ElementRef<'_>,
    button: Option<ElementRef<'_>>,
    page_url: &Url,
    mut fields: Vec<(String, String)>,
) -> Result<Submission, FormRejection> {
    let attr = |name: &str| {
        button
            .and_then(|b| b.value().attr(name))
            .or_else(|| form.value().attr(name.trim_start_matches("form")))
    };
    let action = match attr("formaction").map(str::trim) {
        None | Some("") => page_url.clone(),
        Some(action) => page_url
            .join(action)
            .map_err(|_| FormRejection::BadAction(action.to_owned()))?,
    };
    let method = match attr("formmethod") {
        Some(m) if m.eq_ignore_ascii_case("post") => FormMethod::Post,
        _ => FormMethod::Get,
    };
    if let Some(b) = button {
        if let Some(name) = b.value().attr("name").filter(|n| !n.is_empty()) {
            let value = b.value().attr("value").unwrap_or("");
            fields.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(Submission {
        method,
        action,
        fields,
    })
}

/// The successful controls of `form` in document order (HTML "constructing the entry list"),
/// without buttons. When `typed` is given, password inputs receive the password.
fn collect_fields(
    form: ElementRef<'_>,
    typed: Option<Typed<'_>>,
) -> Result<Vec<(String, String)>, FormRejection> {
    let controls = selector("input, select, textarea")?;
    let options = selector("option")?;
    let mut fields = Vec::new();
    for control in form.select(&controls) {
        let el = control.value();
        let Some(name) = el.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        if el.attr("disabled").is_some() {
            continue;
        }
        let value = match el.name() {
            "select" => {
                let mut all = control.select(&options);
                let chosen = control
                    .select(&options)
                    .find(|o| o.value().attr("selected").is_some())
                    .or_else(|| all.next());
                match chosen {
                    Some(o) => o
                        .value()
                        .attr("value")
                        .map(str::to_owned)
                        .unwrap_or_else(|| o.text().collect::<String>().trim().to_owned()),
                    None => continue,
                }
            }
            "textarea" => control.text().collect(),
            _ => match input_type(control).as_str() {
                "submit" | "image" | "button" | "reset" | "file" => continue,
                "checkbox" | "radio" => {
                    if el.attr("checked").is_none() {
                        continue;
                    }
                    el.attr("value").unwrap_or("on").to_owned()
                }
                "password" => match typed {
                    Some(t) => t.password.to_owned(),
                    None => el.attr("value").unwrap_or("").to_owned(),
                },
                _ => el.attr("value").unwrap_or("").to_owned(),
            },
        };
        fields.push((name.to_owned(), value));
    }
    Ok(fields)
}

/// The name of the field that takes the username: a visible input whose name says so,
/// else the first text or email input.
fn username_field(form: ElementRef<'_>) -> Result<Option<String>, FormRejection> {
    let inputs = selector("input")?;
    let candidates: Vec<(String, String)> = form
        .select(&inputs)
        .filter_map(|i| {
            let name = i.value().attr("name").filter(|n| !n.is_empty())?;
            Some((name.to_owned(), input_type(i)))
        })
        .filter(|(_, kind)| matches!(kind.as_str(), "text" | "email" | "tel" | "search"))
        .collect();
    let by_name = candidates
        .iter()
        .find(|(name, _)| USERNAME_NAMES.contains(&name.to_ascii_lowercase().as_str()));
    Ok(by_name
        .or_else(|| candidates.first())
        .map(|(name, _)| name.clone()))
}

/// The form's submit buttons: `<input type=submit|image>` and `<button>` (default type submit).
fn submit_buttons(form: ElementRef<'_>) -> Result<Vec<ElementRef<'_>>, FormRejection> {
    let sel = selector("input, button")?;
    Ok(form
        .select(&sel)
        .filter(|el| el.value().attr("disabled").is_none())
        .filter(|el| match el.value().name() {
            "button" => el
                .value()
                .attr("type")
                .is_none_or(|t| t.eq_ignore_ascii_case("submit")),
            _ => matches!(input_type(*el).as_str(), "submit" | "image"),
        })
        .collect())
}

/// Lower-case words of a button's visible label, value, name and id.
fn label_words(button: ElementRef<'_>) -> Vec<String> {
    let el = button.value();
    let text: String = button.text().collect();
    [
        text.as_str(),
        el.attr("value").unwrap_or(""),
        el.attr("name").unwrap_or(""),
        el.attr("id").unwrap_or(""),
    ]
    .iter()
    .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()))
    .filter(|w| !w.is_empty())
    .map(str::to_lowercase)
    .collect()
}

/// An input's `type`, lower-cased, defaulting to `text`.
fn input_type(input: ElementRef<'_>) -> String {
    input
        .value()
        .attr("type")
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "text".to_owned())
}

/// The visible text of an HTML page (no `<script>`/`<style>`), whitespace collapsed: what an
/// error page says, for failure messages.
pub fn visible_text(html: &str) -> String {
    let doc = Html::parse_document(html);
    let mut words = Vec::new();
    for node in doc.root_element().descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let hidden = node
            .ancestors()
            .filter_map(|a| a.value().as_element())
            .any(|e| matches!(e.name(), "script" | "style" | "head" | "template"));
        if !hidden {
            words.extend(text.split_whitespace());
        }
    }
    words.join(" ")
}

fn selector(css: &str) -> Result<Selector, FormRejection> {
    Selector::parse(css).map_err(|e| FormRejection::Selector(format!("{css}: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPED: Typed<'static> = Typed {
        username: "alice",
        password: "s3cret",
    };

    fn page() -> Url {
        Url::parse("http://127.0.0.1:3000/interaction/abc").unwrap()
    }

    fn field<'a>(s: &'a Submission, name: &str) -> Option<&'a str> {
        s.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn oidc_provider_dev_login_form() {
        let html = r#"<html><body><div class="login-card"><h1>Sign-in</h1>
            <form autocomplete="off" action="/interaction/abc/login" method="post">
              <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
              <input required type="password" name="password" placeholder="and password">
              <button type="submit" class="login login-submit">Sign-in</button>
            </form>
            <div class="login-help"><a href="/interaction/abc/abort">[ Abort ]</a></div>
            </div></body></html>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(s.method, FormMethod::Post);
        assert_eq!(
            s.action.as_str(),
            "http://127.0.0.1:3000/interaction/abc/login"
        );
        assert_eq!(
            s.fields,
            vec![
                ("login".to_owned(), "alice".to_owned()),
                ("password".to_owned(), "s3cret".to_owned())
            ]
        );
    }

    #[test]
    fn lanyard_login_then_consent() {
        let login = r#"<h1>Sign in</h1><form method="post" action="/t/demo/login">
            <input type="hidden" name="csrf" value="c">
            <input type="hidden" name="req" value="r">
            <label>Username <input type="text" name="username" value="" autocomplete="username" required autofocus></label>
            <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
            <button type="submit">Sign in</button></form>"#;
        let PageForm::Login(s) = resolve_page_form(login, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(s.action.as_str(), "http://127.0.0.1:3000/t/demo/login");
        let names: Vec<_> = s.fields.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(
            names,
            ["csrf=c", "req=r", "username=alice", "password=s3cret"]
        );

        let consent = r#"<h1>Allow access?</h1><form method="post" action="/t/demo/consent">
            <input type="hidden" name="csrf" value="c"><input type="hidden" name="req" value="r">
            <button type="submit" name="decision" value="allow">Allow</button>
            <button type="submit" name="decision" value="deny" class="secondary">Deny</button></form>"#;
        let PageForm::Consent(s) = resolve_page_form(consent, &page(), TYPED).unwrap() else {
            panic!("expected consent form");
        };
        assert_eq!(field(&s, "decision"), Some("allow"));
        assert_eq!(s.action.path(), "/t/demo/consent");
    }

    #[test]
    fn keeps_csrf_and_prefers_named_username_field() {
        let html = r#"<form method="POST" action="login?x=1">
            <input type="hidden" name="csrf_token" value="tok&amp;en">
            <input type="text" name="display" value="keep">
            <input type="email" name="Username">
            <input type="password" name="pw">
            <input type="checkbox" name="remember" checked>
            <input type="checkbox" name="unchecked">
            <button name="action" value="cancel">Cancel</button>
            <button name="action" value="login">Sign in</button>
          </form>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(
            s.action.as_str(),
            "http://127.0.0.1:3000/interaction/login?x=1"
        );
        assert_eq!(field(&s, "csrf_token"), Some("tok&en"));
        assert_eq!(field(&s, "display"), Some("keep"));
        assert_eq!(field(&s, "Username"), Some("alice"));
        assert_eq!(field(&s, "pw"), Some("s3cret"));
        assert_eq!(field(&s, "remember"), Some("on"));
        assert_eq!(field(&s, "unchecked"), None);
        assert_eq!(field(&s, "action"), Some("login"));
    }

    #[test]
    fn first_text_input_when_no_named_username() {
        let html =
            r#"<form method="post"><input name="ident"><input type="password" name="p"></form>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(s.action, page());
        assert_eq!(field(&s, "ident"), Some("alice"));
    }

    #[test]
    fn picks_the_password_form_among_several() {
        let html = r#"<form action="/search"><input name="q"></form>
            <form action="/signin" method="post"><input name="email" type="email">
            <input name="password" type="password"></form>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(s.action.path(), "/signin");
        assert_eq!(field(&s, "email"), Some("alice"));
    }

    #[test]
    fn consent_form_uses_the_approving_button() {
        let html = r#"<form action="/consent" method="post">
            <input type="hidden" name="csrf" value="c1">
            <select name="remember"><option value="0">no</option><option value="30" selected>30 days</option></select>
            <button type="submit" name="decision" value="deny">Deny</button>
            <button type="submit" name="decision" value="allow">Allow</button>
          </form>"#;
        let PageForm::Consent(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected consent form");
        };
        assert_eq!(s.method, FormMethod::Post);
        assert_eq!(
            s.fields,
            vec![
                ("csrf".to_owned(), "c1".to_owned()),
                ("remember".to_owned(), "30".to_owned()),
                ("decision".to_owned(), "allow".to_owned()),
            ]
        );
    }

    #[test]
    fn oidc_provider_dev_consent_form() {
        let html = r#"<form autocomplete="off" action="/interaction/abc/confirm" method="post">
            <button autofocus type="submit" class="login login-submit">Continue</button></form>"#;
        let PageForm::Consent(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected consent form");
        };
        assert_eq!(s.action.path(), "/interaction/abc/confirm");
        assert!(s.fields.is_empty());
    }

    #[test]
    fn consent_in_separate_forms_skips_the_deny_form() {
        let html = r#"<form action="/deny" method="post"><input type="submit" value="Cancel"></form>
            <form action="/allow" method="post"><input type="submit" name="ok" value="Yes, allow"></form>"#;
        let PageForm::Consent(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected consent form");
        };
        assert_eq!(s.action.path(), "/allow");
        assert_eq!(field(&s, "ok"), Some("Yes, allow"));
    }

    #[test]
    fn button_formaction_overrides_form_action() {
        let html = r#"<form action="/a" method="get"><button formaction="/b" formmethod="post">Accept</button></form>"#;
        let PageForm::Consent(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected consent form");
        };
        assert_eq!(s.action.path(), "/b");
        assert_eq!(s.method, FormMethod::Post);
    }

    #[test]
    fn visible_text_skips_head_script_and_style() {
        let html = r#"<html><head><title>oops</title><style>a { b: c }</style></head>
            <body><h1>oops! something went wrong</h1><script>var x;</script>
            <pre><code>error</code>: invalid_request
            <code>error_description</code>: interaction session id cookie not found</pre></body></html>"#;
        assert_eq!(
            visible_text(html),
            "oops! something went wrong error : invalid_request error_description : interaction session id cookie not found"
        );
    }

    #[test]
    fn page_without_forms_is_nothing() {
        let html = "<html><body><h1>oops</h1><form><button>Deny</button></form></body></html>";
        assert_eq!(
            resolve_page_form(html, &page(), TYPED).unwrap(),
            PageForm::Nothing
        );
    }

    #[test]
    fn default_method_is_get_and_disabled_fields_are_skipped() {
        let html = r#"<form><input name="u"><input name="gone" disabled value="x">
            <input type="password" name="p"></form>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(s.method, FormMethod::Get);
        assert_eq!(field(&s, "gone"), None);
    }

    #[test]
    fn login_presses_the_sign_in_button_not_the_first() {
        let html = r#"<form method="post"><input name="username"><input type="password" name="p">
            <button name="go" value="passkey">Use a passkey</button>
            <button name="go" value="password">Sign in</button></form>"#;
        let PageForm::Login(s) = resolve_page_form(html, &page(), TYPED).unwrap() else {
            panic!("expected login form");
        };
        assert_eq!(field(&s, "go"), Some("password"));
    }
}
