//! Randomness, hashing and constant-time comparison for secrets.
//!
//! Every bearer secret Lanyard hands out (codes, refresh tokens, session and device cookies,
//! client secrets, admin tokens) is 256 bits from the OS CSPRNG and stored only as a keyed
//! HMAC-SHA-256, so a database dump yields nothing usable. Client secrets are high-entropy, so a
//! fast keyed hash is as strong as a password KDF for them and does not cap token throughput.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret value that never reaches `Debug` or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut v);
    v
}

/// A 256-bit random token, base64url without padding (43 characters, within the RFC 6749
/// Appendix A.17 `VSCHAR` set).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

/// A random identifier for rows and `jti`s (128 bits).
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(16))
}

/// Keyed hash of a bearer secret for storage and lookup.
#[derive(Clone)]
pub struct SecretHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(***)")
    }
}

impl SecretHasher {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// HMAC-SHA-256 of `purpose || 0 || value`, hex encoded. The purpose separates domains so
    /// a refresh token can never be looked up as a session cookie.
    pub fn hash(&self, purpose: &str, value: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of `value` against a stored hash.
    pub fn verify(&self, purpose: &str, value: &str, stored_hash: &str) -> bool {
        constant_time_eq(self.hash(purpose, value).as_bytes(), stored_hash.as_bytes())
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// base64url(SHA-256(input)), as used by PKCE S256 (RFC 7636 §4.2).
pub fn sha256_b64url(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input))
}

/// Left half of a hash of the token, base64url: `at_hash` (OIDC Core §3.1.3.6).
pub fn left_half_hash(alg: &str, token: &str) -> String {
    let digest: Vec<u8> = match alg {
        "RS384" | "ES384" | "PS384" => sha2::Sha384::digest(token.as_bytes()).to_vec(),
        "RS512" | "ES512" | "PS512" | "EdDSA" => sha2::Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }

    #[test]
    fn hash_is_domain_separated_and_verifies() {
        let h = SecretHasher::new(b"k".to_vec());
        let a = h.hash("refresh", "abc");
        assert_ne!(a, h.hash("session", "abc"));
        assert!(h.verify("refresh", "abc", &a));
        assert!(!h.verify("refresh", "abd", &a));
    }

    #[test]
    fn random_token_has_256_bits() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token());
    }

    #[test]
    fn pkce_rfc7636_appendix_b_vector() {
        assert_eq!(
            sha256_b64url(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
