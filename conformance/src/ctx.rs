//! What every module is given: the OP, its clients and test user, the RP listener, HTTP trust.

use crate::clock::Randomness;
use crate::http::{Browser, Trust};
use crate::listener::Rp;
use crate::op::{Client, Op};

/// The test user's credentials; the password never reaches `Debug`.
#[derive(Clone)]
pub struct User {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// An OP (or tenant) configured with a short session idle timeout, for the timeout module.
#[derive(Debug, Clone)]
pub struct IdleTarget {
    pub issuer: String,
    pub client: Client,
    pub user: User,
    pub idle_secs: u64,
}

#[derive(Clone)]
pub struct Ctx {
    pub op: Op,
    pub client: Client,
    /// A second client, registered with `client_secret_post` (see README).
    pub client2: Option<Client>,
    pub user: User,
    pub rp: Rp,
    pub trust: Trust,
    pub http: reqwest::Client,
    pub rng: Randomness,
    pub idle: Option<IdleTarget>,
}

impl Ctx {
    pub fn browser(&self) -> anyhow::Result<Browser> {
        self.trust.browser()
    }
}
