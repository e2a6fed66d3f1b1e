//! Signatures already verified, so a token presented again (every introspection and userinfo
//! call of a relying party repeats its access token) is not verified again: ES256 verification
//! was a quarter of the server's CPU per introspection (perf, ADR 0017).
//!
//! Only the cryptographic result is kept, never liveness: revocation, the session, the user,
//! the client and expiry are checked on every request, as before. An entry is used only while
//! the key that verified it is still one the tenant's key set accepts with that algorithm, so a
//! key that is withdrawn stops its tokens at once here too. Entries are keyed by the SHA-256 of
//! the whole compact token, so a token that differs in any byte (header, payload or signature)
//! is a different entry and is verified from scratch.

use super::{JwtRejection, Verified};
use crate::clock::UnixTime;
use crate::keys::KeySet;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;

/// At most this many tokens are remembered; past it the map starts over (a miss only costs a
/// verification).
const CAPACITY: usize = 8_192;

#[derive(Clone)]
struct Entry {
    kid: String,
    alg: String,
    typ: Option<String>,
    claims: Map<String, Value>,
    /// The token's `exp`: never served after it.
    exp: i64,
}

/// Cache of verified signatures (shared by the request handlers of one process).
#[derive(Default)]
pub struct VerifiedTokens {
    map: RwLock<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the claims (they name users) nor the digests.
        let n = self.map.read().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("VerifiedTokens")
            .field("entries", &n)
            .finish()
    }
}

impl VerifiedTokens {
    /// [`super::verify`], answered from memory when this exact token was verified before, has
    /// not expired, and its key is still accepted.
    pub fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        now: UnixTime,
    ) -> Result<Verified, JwtRejection> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(e) = self.map.read().ok().and_then(|m| m.get(&digest).cloned()) {
            if e.exp > now && keys.find(&e.kid, now).is_some_and(|k| k.alg == e.alg) {
                return Ok(Verified {
                    typ: e.typ,
                    claims: e.claims,
                });
            }
        }
        let v = super::verify(keys, token, now)?;
        // Only tokens that say when they expire are kept, and only until then.
        let exp = v.claims.get("exp").and_then(Value::as_i64);
        let header = josekit::jwt::decode_header(token).ok();
        let head = |name: &str| {
            header
                .as_ref()
                .and_then(|h| h.claim(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if let (Some(exp), Some(kid), Some(alg)) =
            (exp.filter(|e| *e > now), head("kid"), head("alg"))
        {
            if let Ok(mut m) = self.map.write() {
                if m.len() >= CAPACITY {
                    m.clear();
                }
                m.insert(
                    digest,
                    Entry {
                        kid,
                        alg,
                        typ: v.typ.clone(),
                        claims: v.claims.clone(),
                        exp,
                    },
                );
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, LoadedKey};

    fn keyset() -> KeySet {
        let g = generate("ES256").unwrap();
        KeySet {
            keys: vec![LoadedKey::from_jwk(
                &g.kid,
                "ES256",
                &g.private_jwk,
                &g.public_jwk,
                0,
                None,
                None,
            )
            .unwrap()],
        }
    }

    fn token(ks: &KeySet, exp: i64) -> String {
        let mut c = Map::new();
        c.insert("sub".into(), "u1".into());
        c.insert("exp".into(), exp.into());
        super::super::sign(&ks.keys[0], super::super::TYP_ACCESS, c).unwrap()
    }

    #[test]
    fn a_token_verified_once_is_answered_from_memory_with_the_same_claims() {
        let ks = keyset();
        let cache = VerifiedTokens::default();
        let t = token(&ks, 100);
        let first = cache.verify(&ks, &t, 10).unwrap();
        assert_eq!(cache.map.read().unwrap().len(), 1);
        let again = cache.verify(&ks, &t, 11).unwrap();
        assert_eq!(first.claims, again.claims);
        assert_eq!(again.typ.as_deref(), Some(super::super::TYP_ACCESS));
    }

    #[test]
    fn a_changed_byte_an_expired_token_or_a_withdrawn_key_is_never_served_from_memory() {
        let ks = keyset();
        let cache = VerifiedTokens::default();
        let t = token(&ks, 100);
        cache.verify(&ks, &t, 10).unwrap();
        // One byte of the signature changed: a different entry, verified and refused.
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(cache.verify(&ks, &bad, 10).is_err());
        // Past its exp the entry is not used (verification itself does not check exp, the
        // callers do; what matters is the entry is not what answers).
        assert!(cache.verify(&ks, &t, 100).is_ok());
        // The key is gone from the set: refused, though the entry is still there.
        let other = keyset();
        assert_eq!(
            cache.verify(&other, &t, 10).err(),
            Some(JwtRejection::UnknownKey)
        );
        // A token without exp is verified but not kept.
        let mut c = Map::new();
        c.insert("sub".into(), "u2".into());
        let no_exp = super::super::sign(&ks.keys[0], super::super::TYP_ACCESS, c).unwrap();
        let before = cache.map.read().unwrap().len();
        cache.verify(&ks, &no_exp, 10).unwrap();
        assert_eq!(cache.map.read().unwrap().len(), before);
    }

    #[test]
    fn the_cache_is_bounded() {
        let ks = keyset();
        let cache = VerifiedTokens::default();
        for i in 0..(CAPACITY + 10) {
            let t = token(&ks, 1_000 + i as i64);
            cache.verify(&ks, &t, 10).unwrap();
        }
        assert!(cache.map.read().unwrap().len() <= CAPACITY);
    }
}
