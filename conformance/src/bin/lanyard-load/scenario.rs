//! The measured operations and the state each worker prepares before repeating one.
//!
//! | scenario            | setup (not measured)                  | one measured operation            |
//! |---------------------|---------------------------------------|-----------------------------------|
//! | login               | —                                     | full code + PKCE login, new jar   |
//! | login-public        | — (needs `--public-client-id`)        | same, as the public client        |
//! | refresh             | one login per worker                  | rotate the worker's own chain     |
//! | client-credentials  | —                                     | client_credentials grant          |
//! | introspect          | one client_credentials token, shared  | introspect it, expect active      |
//! | introspect-user     | one login, its access token shared    | introspect it, expect active      |
//! | userinfo            | one login, its access token shared    | GET userinfo with Bearer          |
//! | sso                 | one login per worker, jar kept        | authorize with the session cookie |
//! |                     |                                       | (no form), then the code exchange |

use std::sync::Arc;

use reqwest::cookie::Jar;

use clap::ValueEnum;
use serde::Serialize;

use crate::login::{self, LoginRequest};
use crate::oauth::{self, ClientCredentials};
use crate::stats::Failure;
use crate::target::Target;

/// One kind of measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Login,
    LoginPublic,
    Refresh,
    ClientCredentials,
    Introspect,
    IntrospectUser,
    Userinfo,
    Sso,
}

impl Scenario {
    /// The scenarios `--scenario all` runs, in order; `login-public` only with a public client.
    pub fn all(with_public_client: bool) -> Vec<Scenario> {
        let mut list = vec![Scenario::Login];
        if with_public_client {
            list.push(Scenario::LoginPublic);
        }
        list.extend([
            Scenario::Refresh,
            Scenario::ClientCredentials,
            Scenario::Introspect,
            Scenario::IntrospectUser,
            Scenario::Userinfo,
            Scenario::Sso,
        ]);
        list
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::LoginPublic => "login-public",
            Scenario::Refresh => "refresh",
            Scenario::ClientCredentials => "client-credentials",
            Scenario::Introspect => "introspect",
            Scenario::IntrospectUser => "introspect-user",
            Scenario::Userinfo => "userinfo",
            Scenario::Sso => "sso",
        }
    }
}

/// Whether an operation's outcome counts in the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A measured operation succeeded.
    Done,
    /// The worker re-established its state (a new login after a broken refresh chain); not
    /// counted as a success, error or latency sample.
    Recovered,
}

/// One worker's state for its scenario.
#[derive(Debug)]
pub enum Worker {
    Login {
        client: ClientCredentials,
    },
    /// `None` after a failed rotation: the chain is broken and the next step logs in again
    /// rather than replaying the old token (which a rotating provider treats as theft).
    Refresh {
        refresh_token: Option<String>,
        /// Successful refreshes, and how many of them returned a new refresh token.
        refreshed: u64,
        rotated: u64,
    },
    ClientCredentials,
    Introspect {
        access_token: Arc<str>,
    },
    Userinfo {
        access_token: Arc<str>,
    },
    /// The worker's own browser: its cookie jar holds the provider's session cookie.
    Sso {
        jar: Jar,
    },
}

/// Prepares `count` workers for `scenario`: shared tokens once, per-worker logins concurrently.
/// Also returns notes for the report on what setup chose.
pub async fn prepare_workers(
    target: &Target,
    scenario: Scenario,
    count: usize,
) -> Result<(Vec<Worker>, Vec<String>), Failure> {
    let mut notes = Vec::new();
    let workers = match scenario {
        Scenario::Login => vec_of(count, || Worker::Login {
            client: target.confidential.clone(),
        }),
        Scenario::LoginPublic => {
            let Some(public) = &target.public else {
                return Err(Failure::new("login-public needs --public-client-id"));
            };
            vec_of(count, || Worker::Login {
                client: public.clone(),
            })
        }
        Scenario::ClientCredentials => vec_of(count, || Worker::ClientCredentials),
        Scenario::Introspect => {
            if target.endpoints.introspection.is_none() {
                return Err(Failure::new(
                    "provider advertises no introspection_endpoint",
                ));
            }
            let token = oauth::client_credentials(target, &target.confidential).await?;
            let access_token: Arc<str> = token.access_token.into();
            vec_of(count, || Worker::Introspect {
                access_token: access_token.clone(),
            })
        }
        Scenario::IntrospectUser => {
            if target.endpoints.introspection.is_none() {
                return Err(Failure::new(
                    "provider advertises no introspection_endpoint",
                ));
            }
            // A user's access token, bound to a session: what relying parties introspect.
            let token = login::login(target, openid(target)).await?;
            let access_token: Arc<str> = token.access_token.into();
            vec_of(count, || Worker::Introspect {
                access_token: access_token.clone(),
            })
        }
        Scenario::Sso => {
            let logins = (0..count).map(|_| async {
                let jar = Jar::default();
                login::login_with(target, &jar, openid(target)).await?;
                Ok::<_, Failure>(Worker::Sso { jar })
            });
            futures::future::try_join_all(logins).await?
        }
        Scenario::Userinfo => {
            if target.endpoints.userinfo.is_none() {
                return Err(Failure::new("provider advertises no userinfo_endpoint"));
            }
            let request = LoginRequest {
                client: &target.confidential,
                scope: "openid",
            };
            let token = login::login(target, request).await?;
            let access_token: Arc<str> = token.access_token.into();
            vec_of(count, || Worker::Userinfo {
                access_token: access_token.clone(),
            })
        }
        Scenario::Refresh => {
            let scope = target.refresh_scope();
            notes.push(format!("refresh chains started with scope {scope:?}"));
            let logins = (0..count).map(|_| first_refresh_token(target, scope));
            let tokens = futures::future::try_join_all(logins).await?;
            tokens
                .into_iter()
                .map(|t| Worker::Refresh {
                    refresh_token: Some(t),
                    refreshed: 0,
                    rotated: 0,
                })
                .collect()
        }
    };
    Ok((workers, notes))
}

fn openid(target: &Target) -> LoginRequest<'_> {
    LoginRequest {
        client: &target.confidential,
        scope: "openid",
    }
}

fn vec_of(count: usize, make: impl FnMut() -> Worker) -> Vec<Worker> {
    std::iter::repeat_with(make).take(count).collect()
}

async fn first_refresh_token(target: &Target, scope: &str) -> Result<String, Failure> {
    let request = LoginRequest {
        client: &target.confidential,
        scope,
    };
    let tokens = login::login(target, request).await?;
    tokens.refresh_token.ok_or_else(|| {
        Failure::new(format!(
            "login with scope {scope:?} issued no refresh_token"
        ))
    })
}

/// A report note on refresh-token rotation, for the refresh scenario's workers.
pub fn rotation_note(workers: &[Worker]) -> Option<String> {
    let (mut refreshed, mut rotated) = (0, 0);
    for worker in workers {
        if let Worker::Refresh {
            refreshed: r,
            rotated: n,
            ..
        } = worker
        {
            refreshed += r;
            rotated += n;
        }
    }
    (refreshed > 0).then(|| {
        format!("{rotated} of {refreshed} refreshes (warm-up included) rotated the refresh token")
    })
}

impl Worker {
    /// Performs one operation of this worker's scenario.
    pub async fn step(&mut self, target: &Target) -> Result<Outcome, Failure> {
        match self {
            Worker::Login { client } => {
                let request = LoginRequest {
                    client,
                    scope: "openid",
                };
                login::login(target, request).await.map(|_| Outcome::Done)
            }
            Worker::Refresh {
                refresh_token,
                refreshed,
                rotated,
            } => {
                let Some(current) = refresh_token.take() else {
                    let fresh = first_refresh_token(target, target.refresh_scope()).await?;
                    *refresh_token = Some(fresh);
                    return Ok(Outcome::Recovered);
                };
                let form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", current.clone()),
                ];
                let tokens =
                    oauth::token_request(target, &target.confidential, form, "refresh").await?;
                // Always continue from the newest token; a provider that does not rotate
                // returns none and the current one stays valid.
                *refreshed += 1;
                *refresh_token = Some(match tokens.refresh_token {
                    Some(new) if new != current => {
                        *rotated += 1;
                        new
                    }
                    _ => current,
                });
                Ok(Outcome::Done)
            }
            Worker::ClientCredentials => oauth::client_credentials(target, &target.confidential)
                .await
                .map(|_| Outcome::Done),
            Worker::Introspect { access_token } => {
                oauth::introspect(target, &target.confidential, access_token)
                    .await
                    .map(|()| Outcome::Done)
            }
            Worker::Userinfo { access_token } => oauth::userinfo(target, access_token)
                .await
                .map(|()| Outcome::Done),
            Worker::Sso { jar } => login::sso(target, jar, openid(target))
                .await
                .map(|_| Outcome::Done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_includes_login_public_only_with_a_public_client() {
        assert!(!Scenario::all(false).contains(&Scenario::LoginPublic));
        assert_eq!(Scenario::all(true)[1], Scenario::LoginPublic);
        assert_eq!(Scenario::all(false).len(), 7);
    }

    #[test]
    fn names_match_the_cli_spelling() {
        for s in Scenario::all(true) {
            let parsed = Scenario::from_str(s.name(), false).unwrap();
            assert_eq!(parsed, s);
        }
    }
}
