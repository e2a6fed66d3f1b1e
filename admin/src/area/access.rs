//! Who may use a tenant's admin area. PURE.
//!
//! The area is signed in with the browser's own Lanyard session of that tenant (never an admin
//! token, never another tenant's session: the session cookie is the tenant's own). The rule, in
//! order: no live session, or one that must re-authenticate, signs in first; a user without the
//! tenant's admin role is refused (403) whatever else holds, so the refusal says nothing about
//! the admin policy; an admin whose session lacks what the policy of the client `lanyard:admin`
//! requires (a second factor) signs in again with it; a read-only session views but does not
//! act; otherwise the admin views and acts.

use lanyard_idp::session::stepup::StepDecision;
use lanyard_idp::session::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// View and act.
    Full,
    /// View only: the admin's session is read-only.
    ViewOnly,
    /// Sign in (no live session, or it must re-authenticate).
    SignIn,
    /// Sign in again to prove the second factor the admin policy requires.
    StepUp,
    /// The signed-in user is not an admin of this tenant.
    Forbidden,
}

/// `mode` is the live session's mode (`None`: no live session); `is_admin` whether its user
/// holds the tenant's admin role; `step` what the admin policy asks of the session's
/// authentication level.
pub fn decide_admin_access(mode: Option<Mode>, is_admin: bool, step: StepDecision) -> AdminAccess {
    match mode {
        None | Some(Mode::ReauthRequired) => AdminAccess::SignIn,
        Some(_) if !is_admin => AdminAccess::Forbidden,
        Some(_) if step != StepDecision::Satisfied => AdminAccess::StepUp,
        Some(Mode::ReadOnly) => AdminAccess::ViewOnly,
        Some(Mode::Normal) => AdminAccess::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [Option<Mode>; 4] = [
        None,
        Some(Mode::Normal),
        Some(Mode::ReadOnly),
        Some(Mode::ReauthRequired),
    ];
    const STEPS: [StepDecision; 4] = [
        StepDecision::Satisfied,
        StepDecision::StepUp,
        StepDecision::Unmet { enrol: true },
        StepDecision::Unmet { enrol: false },
    ];

    #[test]
    fn every_combination() {
        for mode in MODES {
            for admin in [false, true] {
                for step in STEPS {
                    let got = decide_admin_access(mode, admin, step);
                    let want = match (mode, admin, step) {
                        (None | Some(Mode::ReauthRequired), _, _) => AdminAccess::SignIn,
                        (_, false, _) => AdminAccess::Forbidden,
                        (_, true, s) if s != StepDecision::Satisfied => AdminAccess::StepUp,
                        (Some(Mode::ReadOnly), true, _) => AdminAccess::ViewOnly,
                        (Some(Mode::Normal), true, _) => AdminAccess::Full,
                    };
                    assert_eq!(got, want, "{mode:?} admin={admin} {step:?}");
                }
            }
        }
    }

    #[test]
    fn a_non_admin_is_refused_before_any_step_up_is_asked() {
        assert_eq!(
            decide_admin_access(Some(Mode::Normal), false, StepDecision::StepUp),
            AdminAccess::Forbidden
        );
    }

    #[test]
    fn a_read_only_admin_views_but_does_not_act() {
        assert_eq!(
            decide_admin_access(Some(Mode::ReadOnly), true, StepDecision::Satisfied),
            AdminAccess::ViewOnly
        );
    }
}
