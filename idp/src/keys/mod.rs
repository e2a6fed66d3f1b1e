//! Signing key lifecycle: create, publish, activate, retire; JWKS.
//!
//! ```text
//!   created ──publish──▶ published ──activate_at──▶ active ──successor activates──▶ retiring
//!                (in JWKS, not used)                (signs)        (in JWKS, verifies) │
//!                                                                      remove_at ──▶ removed
//! ```
//! A rotation publishes the new key at once but activates it only after `activate_in`, so relying
//! parties that cache the JWKS already know it when the first token signed with it arrives; the
//! old key stays published until every token it signed has expired (`remove_at`).

mod cache;
pub use cache::KeyCache;

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
        let (signer, verifier): (Arc<dyn JwsSigner>, Arc<dyn JwsVerifier>) = match alg {
            "RS256" => (
                Arc::new(RS256.signer_from_jwk(&private)?),
                Arc::new(RS256.verifier_from_jwk(&public)?),
            ),
            "ES256" => (
                Arc::new(ES256.signer_from_jwk(&private)?),
                Arc::new(ES256.verifier_from_jwk(&public)?),
            ),
            "EdDSA" => (
                Arc::new(EdDSA.signer_from_jwk(&private)?),
                Arc::new(EdDSA.verifier_from_jwk(&public)?),
            ),
            _ => {
                return Err(josekit::JoseError::UnsupportedSignatureAlgorithm(
                    anyhow::anyhow!("{alg}"),
                ))
            }
        };
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

impl KeySet {
    /// The key that signs `alg` at `now`: the most recently activated one.
    pub fn resolve_signing_key(&self, alg: &str, now: UnixTime) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.activate_at <= now && k.remove_at.is_none_or(|r| r > now))
            .max_by_key(|k| k.activate_at)
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

/// Plan a rotation: the new key activates after `activate_in`; the current key retires at that
/// moment and stays published for [`MAX_TOKEN_LIFETIME_SECS`] after.
pub fn resolve_rotation(
    current: Option<(&str, Option<UnixTime>)>,
    now: UnixTime,
    activate_in: i64,
) -> RotationPlan {
    let activate_at = now + activate_in.max(0);
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
        let p = resolve_rotation(Some(("k1", None)), 100, 3600);
        assert_eq!(p.activate_at, 3700);
        assert_eq!(
            p.retire,
            Some(("k1".into(), 3700, 3700 + MAX_TOKEN_LIFETIME_SECS))
        );
        assert_eq!(resolve_rotation(None, 100, 0).retire, None);
    }
}
