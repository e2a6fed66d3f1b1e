//! The runner's only readers of the wall clock and of randomness (STYLE.md rule 1): everything
//! else takes `now` or a `Randomness` as an argument, so the pure checks are testable.

use base64::Engine as _;
use rand::RngCore as _;

/// Seconds since the Unix epoch, as JWT `iat`/`exp` are expressed.
#[allow(clippy::disallowed_methods)]
pub fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Random URL-safe strings for state, nonce, PKCE verifiers, slugs and jti comparisons.
#[derive(Debug, Clone, Copy, Default)]
pub struct Randomness;

impl Randomness {
    /// `bytes` random bytes, base64url without padding.
    pub fn token(self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        rand::rngs::OsRng.fill_bytes(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// A lowercase alphanumeric suffix, for tenant slugs and client ids.
    pub fn slug(self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut buf = vec![0u8; len];
        rand::rngs::OsRng.fill_bytes(&mut buf);
        buf.iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect()
    }
}
