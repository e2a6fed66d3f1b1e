//! Which interaction a remembered request needs next (OIDC Core §3.1.2.1 `prompt`, `max_age`,
//! §3.1.2.3 authentication, §3.1.2.4 consent). PURE, but for reading the request's progress.

use super::request::AuthRequest;
use crate::clock::UnixTime;
use crate::error::Rejection;
use crate::session::Session;

/// What the user has just done in this flow (so `prompt=login` / `prompt=consent` are satisfied).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fresh {
    pub authenticated: bool,
    pub consented: bool,
}

/// What must happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Login,
    Consent,
    Issue,
    Fail(Rejection),
}

/// The session facts the decision needs.
#[derive(Debug, Clone)]
pub struct SessionFacts<'a> {
    pub user_id: &'a str,
    pub auth_time: UnixTime,
    /// The session's binding response asked for re-authentication.
    pub reauth_required: bool,
}

/// Decide the interaction (OIDC Core §3.1.2.1 prompt and max_age, §3.1.2.3).
pub fn decide_interaction(
    session: Option<&SessionFacts<'_>>,
    r: &AuthRequest,
    first_party: bool,
    consented_before: bool,
    fresh: Fresh,
    now: UnixTime,
) -> Interaction {
    let prompt_none = r.prompt.iter().any(|p| p == "none");
    let need_login = match session {
        None => true,
        Some(s) if fresh.authenticated => r.hint_sub.as_deref().is_some_and(|h| h != s.user_id),
        Some(s) => {
            s.reauth_required
                || r.prompt
                    .iter()
                    .any(|p| p == "login" || p == "select_account")
                // §3.1.2.1: max_age=0 is prompt=login; otherwise re-authenticate once the
                // elapsed time is greater than max_age.
                || r.max_age.is_some_and(|m| m == 0 || now - s.auth_time > m)
                || r.hint_sub.as_deref().is_some_and(|h| h != s.user_id)
        }
    };
    if need_login {
        return if prompt_none {
            Interaction::Fail(Rejection::LoginRequired)
        } else {
            Interaction::Login
        };
    }
    let need_consent = !first_party
        && !fresh.consented
        && (!consented_before || r.prompt.iter().any(|p| p == "consent"));
    if need_consent {
        return if prompt_none {
            Interaction::Fail(Rejection::ConsentRequired)
        } else {
            Interaction::Consent
        };
    }
    Interaction::Issue
}

/// What the user has done in this request, from its server-side progress.
pub fn fresh_for(r: &AuthRequest, session: Option<&Session>, consented_now: bool) -> Fresh {
    Fresh {
        authenticated: session
            .is_some_and(|s| r.progress.authenticated_session.as_deref() == Some(s.id.as_str())),
        consented: consented_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::authorize::Progress;

    fn req(prompt: &[&str], max_age: Option<i64>) -> AuthRequest {
        AuthRequest {
            client_id: "c".into(),
            redirect_uri: "https://rp/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: prompt.iter().map(|s| s.to_string()).collect(),
            max_age,
            login_hint: None,
            hint_sub: None,
            acr_values: None,
            claims: None,
            dpop_jkt: None,
            progress: Progress::default(),
            portal: None,
        }
    }
    const S: SessionFacts<'static> = SessionFacts {
        user_id: "u1",
        auth_time: 100,
        reauth_required: false,
    };
    const NOW: i64 = 200;
    fn none() -> Fresh {
        Fresh::default()
    }

    #[test]
    fn no_session_needs_login_or_fails_with_prompt_none() {
        assert_eq!(
            decide_interaction(None, &req(&[], None), true, false, none(), NOW),
            Interaction::Login
        );
        assert_eq!(
            decide_interaction(None, &req(&["none"], None), true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
    }

    #[test]
    fn sso_session_issues_without_ui() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), true, false, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], None), true, false, none(), NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn prompt_login_forces_reauthentication_once() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&["login"], None), true, false, none(), NOW),
            Interaction::Login
        );
        let fresh = Fresh {
            authenticated: true,
            consented: false,
        };
        assert_eq!(
            decide_interaction(Some(&S), &req(&["login"], None), true, false, fresh, NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn max_age_elapsed_forces_login() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(100)), true, false, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(99)), true, false, none(), NOW),
            Interaction::Login
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], Some(1)), true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(0)), true, false, none(), NOW),
            Interaction::Login
        );
    }

    #[test]
    fn max_age_zero_is_prompt_login_even_right_after_a_login() {
        let just_now = SessionFacts {
            user_id: "u1",
            auth_time: NOW,
            reauth_required: false,
        };
        assert_eq!(
            decide_interaction(
                Some(&just_now),
                &req(&[], Some(0)),
                true,
                false,
                none(),
                NOW
            ),
            Interaction::Login
        );
        let fresh = Fresh {
            authenticated: true,
            consented: false,
        };
        assert_eq!(
            decide_interaction(Some(&just_now), &req(&[], Some(0)), true, false, fresh, NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn a_session_that_must_reauthenticate_asks_for_the_password_once() {
        let s = SessionFacts {
            user_id: "u1",
            auth_time: 100,
            reauth_required: true,
        };
        assert_eq!(
            decide_interaction(Some(&s), &req(&[], None), true, false, none(), NOW),
            Interaction::Login
        );
        assert_eq!(
            decide_interaction(Some(&s), &req(&["none"], None), true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
        let fresh = Fresh {
            authenticated: true,
            consented: false,
        };
        assert_eq!(
            decide_interaction(Some(&s), &req(&[], None), true, false, fresh, NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn a_login_counts_only_for_the_session_it_created_in_this_request() {
        let mut r = req(&["login"], None);
        let s = crate::session::model::sample("s1", 0);
        assert!(!fresh_for(&r, Some(&s), false).authenticated);
        r.progress.authenticated_session = Some("other".into());
        assert!(!fresh_for(&r, Some(&s), false).authenticated);
        r.progress.authenticated_session = Some("s1".into());
        assert!(fresh_for(&r, Some(&s), false).authenticated);
        assert!(!fresh_for(&r, None, false).authenticated);
    }

    #[test]
    fn id_token_hint_for_another_user_needs_login() {
        let mut r = req(&["none"], None);
        r.hint_sub = Some("u2".into());
        assert_eq!(
            decide_interaction(Some(&S), &r, true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
        r.hint_sub = Some("u1".into());
        assert_eq!(
            decide_interaction(Some(&S), &r, true, false, none(), NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn third_party_clients_need_consent_once_per_session() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), false, false, none(), NOW),
            Interaction::Consent
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), false, true, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["consent"], None), false, true, none(), NOW),
            Interaction::Consent
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], None), false, false, none(), NOW),
            Interaction::Fail(Rejection::ConsentRequired)
        );
        let fresh = Fresh {
            authenticated: false,
            consented: true,
        };
        assert_eq!(
            decide_interaction(Some(&S), &req(&["consent"], None), false, true, fresh, NOW),
            Interaction::Issue
        );
    }
}
