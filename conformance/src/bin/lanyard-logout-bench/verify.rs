//! Verifies every received logout token as its RP must (Back-Channel Logout 1.0 §2.6): signature
//! against the tenant JWKS, `typ`, `iss`, `aud` = the addressed RP's client_id, the `events`
//! member, `sid` naming a session that owes this RP a logout, `sub`, `iat`/`exp`, no `nonce`, and
//! `jti` unique across the whole run. Then checks the set: every owed (sid, client) arrived.
//! Runs after the measured window, on every core.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use josekit::jwk::JwkSet;
use josekit::jws::{EdDSA, JwsVerifier, ES256, RS256};
use serde_json::Value;

use crate::rp::Arrival;

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The tenant's published verification keys, by `kid`.
#[derive(Debug)]
pub struct Keys {
    by_kid: HashMap<String, Box<dyn JwsVerifier>>,
}

impl Keys {
    /// Fetch `{issuer}/jwks` and build a verifier per key.
    pub async fn fetch(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Self> {
        let body = http
            .get(format!("{issuer}/jwks"))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let set = JwkSet::from_bytes(&body).context("the JWKS does not parse")?;
        let mut by_kid: HashMap<String, Box<dyn JwsVerifier>> = HashMap::new();
        for jwk in set.keys() {
            let Some(kid) = jwk.key_id() else { continue };
            let v: Box<dyn JwsVerifier> = match jwk.algorithm() {
                Some("ES256") => Box::new(ES256.verifier_from_jwk(jwk)?),
                Some("RS256") => Box::new(RS256.verifier_from_jwk(jwk)?),
                Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(jwk)?),
                _ => continue,
            };
            by_kid.insert(kid.to_string(), v);
        }
        anyhow::ensure!(
            !by_kid.is_empty(),
            "the JWKS at {issuer}/jwks has no usable key"
        );
        Ok(Keys { by_kid })
    }
}

/// Which logout tokens a run owes: sessions `{sid_prefix}0 .. {sid_prefix}{sessions-1}` of `sub`,
/// each to every client, or (spread) session i only to client `i mod len(clients)`.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub issuer: String,
    pub sub: String,
    pub sid_prefix: String,
    pub sessions: u64,
    pub clients: Vec<String>,
    pub spread: bool,
}

impl Expectation {
    pub fn owed(&self) -> u64 {
        if self.spread {
            self.sessions
        } else {
            self.sessions * self.clients.len() as u64
        }
    }

    fn is_owed(&self, session: u64, client: usize) -> bool {
        session < self.sessions
            && (!self.spread || (session % self.clients.len() as u64) as usize == client)
    }
}

/// The verdict on one run's arrivals.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub received: u64,
    pub valid: u64,
    pub invalid: u64,
    /// Why tokens were invalid (first problem of each), with counts.
    pub invalid_reasons: BTreeMap<String, u64>,
    /// Owed (sid, client) pairs with no valid token.
    pub missing: u64,
    /// Valid tokens beyond the first for a pair (at-least-once redeliveries).
    pub duplicates: u64,
    /// The same `jti` seen twice.
    pub jti_reused: u64,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.invalid == 0 && self.missing == 0 && self.jti_reused == 0
    }
}

/// Verify every arrival, in parallel on every core.
pub fn verify_all(arrivals: &[Arrival], keys: &Keys, expect: &Expectation, now: i64) -> Verdict {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(1);
    let chunk = arrivals.len().div_ceil(threads).max(1);
    let results: Vec<Result<(usize, u64, String), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = arrivals
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|a| check_one(a, keys, expect, now))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut v = Verdict {
        received: arrivals.len() as u64,
        ..Default::default()
    };
    let mut jtis = HashSet::with_capacity(results.len());
    let mut seen: HashMap<(usize, u64), u64> = HashMap::with_capacity(results.len());
    for r in results {
        match r {
            Ok((client, session, jti)) => {
                v.valid += 1;
                if !jtis.insert(jti) {
                    v.jti_reused += 1;
                }
                *seen.entry((client, session)).or_default() += 1;
            }
            Err(reason) => {
                v.invalid += 1;
                *v.invalid_reasons.entry(reason).or_default() += 1;
            }
        }
    }
    v.duplicates = seen.values().map(|n| n - 1).sum();
    v.missing = expect.owed().saturating_sub(seen.len() as u64);
    v
}

/// One token, as the RP it was addressed to must check it. Ok = (client index, session index, jti).
fn check_one(
    a: &Arrival,
    keys: &Keys,
    expect: &Expectation,
    now: i64,
) -> Result<(usize, u64, String), String> {
    let token = url::form_urlencoded::parse(a.body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or("no logout_token parameter")?;
    let (payload, header) = josekit::jwt::decode_with_verifier_selector(&token, |h| {
        Ok(h.key_id()
            .and_then(|kid| keys.by_kid.get(kid))
            .map(|v| v.as_ref()))
    })
    .map_err(|e| {
        format!(
            "signature: {}",
            e.to_string().split(':').next().unwrap_or_default()
        )
    })?;
    if header.token_type() != Some("logout+jwt") {
        return Err("typ is not logout+jwt".into());
    }
    let claims = payload.claims_set();
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(expect.issuer.as_str()) {
        return Err("iss".into());
    }
    let client = expect
        .clients
        .iter()
        .position(|c| *c == a.client_id)
        .ok_or("addressed to an unknown client")?;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(x)) => *x == a.client_id,
        Some(Value::Array(xs)) => xs.iter().any(|x| x.as_str() == Some(a.client_id.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err("aud is not the addressed client".into());
    }
    let events_ok = matches!(claims.get("events"), Some(Value::Object(e))
        if e.len() == 1 && e.get(BACKCHANNEL_EVENT).and_then(Value::as_object).is_some_and(|o| o.is_empty()));
    if !events_ok {
        return Err("events".into());
    }
    if claims.contains_key("nonce") {
        return Err("nonce present".into());
    }
    if s("sub") != Some(expect.sub.as_str()) {
        return Err("sub".into());
    }
    let session = s("sid")
        .and_then(|sid| sid.strip_prefix(expect.sid_prefix.as_str()))
        .and_then(|i| i.parse::<u64>().ok())
        .ok_or("sid names no seeded session")?;
    if !expect.is_owed(session, client) {
        return Err("sid's session owes this client nothing".into());
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or("no iat")?;
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or("no exp")?;
    if iat > now + 300 || exp <= iat || exp < now - 600 {
        return Err("iat/exp out of range".into());
    }
    let jti = s("jti").filter(|j| !j.is_empty()).ok_or("no jti")?;
    Ok((client, session, jti.to_string()))
}
