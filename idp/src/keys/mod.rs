//! Signing key lifecycle: create, publish, activate, retire; JWKS.
//!
//! ```text
//!   created ──publish──▶ published ──activate_at──▶ active ──successor activates──▶ retiring
//!                (in JWKS, not used)                (signs)        (in JWKS, verifies) │
//!                                                                      remove_at ──▶ removed
//! ```
//! A rotation publishes the new key at once but activates it only after `activate_in` (never less
//! than [`MIN_ACTIVATION_DELAY_SECS`], beyond the clock skew allowed between nodes), so relying
//! parties that cache the JWKS already know it when the first token signed with it arrives, and a
//! node whose clock is a little behind still has an active key (the old one) to sign with; the
//! old key stays published until every token it signed has expired (`remove_at`). The first key
//! of an algorithm (a new tenant's) has no predecessor to fall back on, and no relying party can
//! hold a stale JWKS of a tenant that never had one: its activation is backdated by the same
//! delay instead, so every node within the skew can sign at once (ADR 0016).

mod cache;
mod jws;
pub use cache::KeyCache;
pub use jws::KeyPairJws;

use crate::clock::UnixTime;
use crate::crypto::random_id;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use std::sync::Arc;

/// Algorithms Lanyard signs with. RS256 is the OIDC default for ID tokens (Core §2), ES256 signs
/// access tokens (cheap), EdDSA is available per client.
pub const SUPPORTED_ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// Longest lifetime of any JWT Lanyard signs: a retired key stays published this long.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// The most the clocks of two nodes sharing one database may differ, in seconds. Also the
/// leeway other parties' JWT checks give (RFC 7519 §4.1.4 and §4.1.5 allow "some small leeway").
pub const NODE_CLOCK_SKEW_SECS: i64 = 60;

/// A new key signs no sooner than this after it is published: beyond the allowed skew, so a node
/// whose clock is up to [`NODE_CLOCK_SKEW_SECS`] behind still finds the predecessor active, and
/// beyond every node's key cache lifetime (a few seconds), so each node has read the new key
/// before any token signed with it exists.
pub const MIN_ACTIVATION_DELAY_SECS: i64 = 2 * NODE_CLOCK_SKEW_SECS;
const _: () = assert!(MIN_ACTIVATION_DELAY_SECS > NODE_CLOCK_SKEW_SECS);

/// A freshly generated key pair as JWK JSON.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: &'static str,
    pub private_jwk: String,
    pub public_jwk: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedKey({}, {}, ***)", self.kid, self.alg)
    }
}

/// Generate a new key for `alg`.
pub fn generate(alg: &str) -> Result<GeneratedKey, josekit::JoseError> {
    let kid = random_id();
    let (alg, mut private, mut public): (&'static str, Jwk, Jwk) = match alg {
        "RS256" => {
            let kp = RS256.generate_key_pair(2048)?;
            ("RS256", kp.to_jwk_private_key(), kp.to_jwk_public_key())
        }
        "ES256" => {
            let kp = ES256.generate_key_pair()?;
            ("ES256", kp.to_jwk_private_key(), kp.to_jwk_public_key())
        }
        "EdDSA" => {
            let kp = EdDSA.generate_key_pair(EdCurve::Ed25519)?;
            ("EdDSA", kp.to_jwk_private_key(), kp.to_jwk_public_key())
        }
        _ => {
            return Err(josekit::JoseError::UnsupportedSignatureAlgorithm(
                anyhow::anyhow!("{alg}"),
            ))
        }
    };
    for jwk in [&mut private, &mut public] {
        jwk.set_key_id(&kid);
        jwk.set_algorithm(alg);
        jwk.set_key_use("sig");
    }
    Ok(GeneratedKey {
        kid,
        alg,
        private_jwk: private.to_string(),
        public_jwk: public.to_string(),
    })
}

/// A key ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub alg: String,
    pub activate_at: UnixTime,
    pub retire_at: Option<UnixTime>,
    pub remove_at: Option<UnixTime>,
    pub public_jwk: serde_json::Value,
    pub signer: Arc<dyn JwsSigner>,
    pub verifier: Arc<dyn JwsVerifier>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedKey({}, {})", self.kid, self.alg)
    }
}

impl LoadedKey {
    pub fn from_jwk(
        kid: &str,
        alg: &str,
        private_jwk: &str,
        public_jwk: &str,
        activate_at: UnixTime,
        retire_at: Option<UnixTime>,
        remove_at: Option<UnixTime>,
    ) -> Result<Self, josekit::JoseError> {
        let private = Jwk::from_bytes(private_jwk.as_bytes())?;
        let public = Jwk::from_bytes(public_jwk.as_bytes())?;
        // One parsed key pair signs and verifies (aws-lc-rs, ADR 0023).
        let pair = Arc::new(KeyPairJws::from_jwk(kid, alg, &private, &public)?);
        let signer: Arc<dyn JwsSigner> = pair.clone();
        let verifier: Arc<dyn JwsVerifier> = pair;
        let public_jwk = serde_json::from_str(public_jwk)
            .map_err(|e| josekit::JoseError::InvalidJson(e.into()))?;
        Ok(Self {
            kid: kid.to_string(),
            alg: alg.to_string(),
            activate_at,
            retire_at,
            remove_at,
            public_jwk,
            signer,
            verifier,
        })
    }
}

/// Every live key of a tenant.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<LoadedKey>,
}

/// The key that signs `alg` at `now`: of the keys still published, the most recently activated
/// one whose activation time has come. A published key not yet active is never used (it is in
/// the JWKS for relying parties to fetch first); a retiring key still signs on a node whose clock
/// has not reached its successor's activation.
pub fn decide_signing_key<'k>(
    keys: &'k [LoadedKey],
    alg: &str,
    now: UnixTime,
) -> Option<&'k LoadedKey> {
    keys.iter()
        .filter(|k| k.alg == alg && k.activate_at <= now && k.remove_at.is_none_or(|r| r > now))
        .max_by_key(|k| k.activate_at)
}

impl KeySet {
    /// The key that signs `alg` at `now` ([`decide_signing_key`]).
    pub fn resolve_signing_key(&self, alg: &str, now: UnixTime) -> Option<&LoadedKey> {
        decide_signing_key(&self.keys, alg, now)
    }

    /// The key with this `kid`, if still published at `now`.
    pub fn find(&self, kid: &str, now: UnixTime) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.remove_at.is_none_or(|r| r > now))
    }

    /// The JWKS document: every published key, including ones not active yet.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .filter(|k| k.remove_at.is_none_or(|r| r > now))
            .map(|k| k.public_jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// What a rotation of one algorithm's key does.
#[derive(Debug, PartialEq, Eq)]
pub struct RotationPlan {
    pub activate_at: UnixTime,
    /// `(kid, retire_at, remove_at)` of the key being replaced.
    pub retire: Option<(String, UnixTime, UnixTime)>,
}

/// When a new key of one algorithm starts to sign. With another live key of that algorithm
/// (`predecessor`), after `activate_in` but never sooner than [`MIN_ACTIVATION_DELAY_SECS`]: the
/// predecessor signs meanwhile. Without one (the first key of a tenant), backdated by that delay,
/// so a node whose clock is behind by less than the delay can sign at once; nothing can have
/// cached a JWKS without it.
pub fn decide_activation(predecessor: bool, now: UnixTime, activate_in: i64) -> UnixTime {
    if predecessor {
        now.saturating_add(activate_in.max(MIN_ACTIVATION_DELAY_SECS))
    } else {
        now - MIN_ACTIVATION_DELAY_SECS
    }
}

/// Plan a rotation: the new key activates per [`decide_activation`]; the current key retires at
/// that moment and stays published for [`MAX_TOKEN_LIFETIME_SECS`] after. `any_live` says
/// whether any live key of the algorithm exists (current, retiring or not yet active).
pub fn resolve_rotation(
    current: Option<(&str, Option<UnixTime>)>,
    any_live: bool,
    now: UnixTime,
    activate_in: i64,
) -> RotationPlan {
    let activate_at = decide_activation(any_live || current.is_some(), now, activate_in);
    let retire = match current {
        Some((kid, None)) => Some((
            kid.to_string(),
            activate_at,
            activate_at + MAX_TOKEN_LIFETIME_SECS,
        )),
        _ => None,
    };
    RotationPlan {
        activate_at,
        retire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, alg: &str, activate_at: i64, remove_at: Option<i64>) -> LoadedKey {
        let g = generate(alg).unwrap();
        let mut k = LoadedKey::from_jwk(
            &g.kid,
            alg,
            &g.private_jwk,
            &g.public_jwk,
            activate_at,
            None,
            remove_at,
        )
        .unwrap();
        k.kid = kid.into();
        k
    }

    #[test]
    fn newest_active_key_signs_and_unpublished_future_is_not_used() {
        let set = KeySet {
            keys: vec![
                key("old", "ES256", 0, Some(5000)),
                key("new", "ES256", 1000, None),
            ],
        };
        assert_eq!(set.resolve_signing_key("ES256", 999).unwrap().kid, "old");
        assert_eq!(set.resolve_signing_key("ES256", 1000).unwrap().kid, "new");
        assert!(set.resolve_signing_key("RS256", 1000).is_none());
    }

    #[test]
    fn jwks_publishes_future_keys_and_drops_removed_ones() {
        let set = KeySet {
            keys: vec![
                key("old", "ES256", 0, Some(5000)),
                key("new", "ES256", 1000, None),
            ],
        };
        assert_eq!(set.jwks(10)["keys"].as_array().unwrap().len(), 2);
        assert_eq!(set.jwks(5000)["keys"].as_array().unwrap().len(), 1);
        assert!(set.find("old", 4999).is_some());
        assert!(set.find("old", 5000).is_none());
    }

    #[test]
    fn public_jwk_has_no_private_parts() {
        for alg in SUPPORTED_ALGS {
            let g = generate(alg).unwrap();
            let v: serde_json::Value = serde_json::from_str(&g.public_jwk).unwrap();
            assert!(v.get("d").is_none(), "{alg}");
            assert_eq!(v["kid"], g.kid.as_str());
            assert_eq!(v["alg"], *alg);
        }
    }

    #[test]
    fn rotation_retires_current_when_successor_activates() {
        let p = resolve_rotation(Some(("k1", None)), true, 100, 3600);
        assert_eq!(p.activate_at, 3700);
        assert_eq!(
            p.retire,
            Some(("k1".into(), 3700, 3700 + MAX_TOKEN_LIFETIME_SECS))
        );
        assert_eq!(resolve_rotation(None, true, 100, 3600).retire, None);
    }

    #[test]
    fn a_successor_never_activates_within_the_skew() {
        for activate_in in [
            -5,
            0,
            1,
            NODE_CLOCK_SKEW_SECS,
            MIN_ACTIVATION_DELAY_SECS - 1,
        ] {
            assert_eq!(
                decide_activation(true, 1000, activate_in),
                1000 + MIN_ACTIVATION_DELAY_SECS,
                "{activate_in}"
            );
        }
        assert_eq!(decide_activation(true, 1000, 3600), 4600);
        let p = resolve_rotation(Some(("k1", None)), true, 1000, 0);
        assert_eq!(p.activate_at, 1000 + MIN_ACTIVATION_DELAY_SECS);
    }

    #[test]
    fn a_first_key_is_backdated_so_a_node_behind_can_sign() {
        let at = decide_activation(false, 1000, 3600);
        assert_eq!(at, 1000 - MIN_ACTIVATION_DELAY_SECS);
        assert_eq!(resolve_rotation(None, false, 1000, 3600).activate_at, at);
        let set = KeySet {
            keys: vec![key("first", "ES256", at, None)],
        };
        // The node that created it, and one whose clock is the whole skew behind.
        for now in [1000, 1000 - NODE_CLOCK_SKEW_SECS] {
            assert_eq!(set.resolve_signing_key("ES256", now).unwrap().kid, "first");
        }
    }

    #[test]
    fn decide_signing_key_over_a_rotation() {
        // old: active since 0, retiring at 1000 (its successor's activation), removed at 5000.
        let keys = vec![
            key("old", "ES256", 0, Some(5000)),
            key("new", "ES256", 1000, None),
            key("rsa", "RS256", 0, None),
        ];
        // Published but not active: the old key signs, also on a node behind.
        assert_eq!(decide_signing_key(&keys, "ES256", 500).unwrap().kid, "old");
        assert_eq!(decide_signing_key(&keys, "ES256", 999).unwrap().kid, "old");
        // From its activation on, the new one.
        assert_eq!(decide_signing_key(&keys, "ES256", 1000).unwrap().kid, "new");
        assert_eq!(decide_signing_key(&keys, "ES256", 9000).unwrap().kid, "new");
        // Per algorithm; none before any activation; none once removed.
        assert_eq!(decide_signing_key(&keys, "RS256", 1000).unwrap().kid, "rsa");
        assert!(decide_signing_key(&keys, "EdDSA", 1000).is_none());
        assert!(decide_signing_key(&keys[1..2], "ES256", 999).is_none());
        assert!(decide_signing_key(&keys[0..1], "ES256", 5000).is_none());
    }
}
