//! Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at userinfo), stateless so
//! that every node issues and accepts the same values: the nonce of a time window is the keyed
//! hash (the server's hashing key, `crypto::SecretHasher`) of the tenant and the window number.
//! A nonce is accepted in its own window and the next, so it lives between one and two windows.

use crate::clock::UnixTime;
use crate::crypto::SecretHasher;

/// Length of a nonce window, seconds.
pub const WINDOW_SECS: i64 = 300;

fn for_window(hasher: &SecretHasher, tenant_id: &str, window: i64) -> String {
    hasher.hash("dpop_nonce", &format!("{tenant_id}:{window}"))
}

/// The nonce a client should use now (sent in `DPoP-Nonce`).
pub fn current(hasher: &SecretHasher, tenant_id: &str, now: UnixTime) -> String {
    for_window(hasher, tenant_id, now.div_euclid(WINDOW_SECS))
}

/// The nonces accepted now: this window's and the previous one's.
pub fn accepted(hasher: &SecretHasher, tenant_id: &str, now: UnixTime) -> Vec<String> {
    let w = now.div_euclid(WINDOW_SECS);
    vec![
        for_window(hasher, tenant_id, w),
        for_window(hasher, tenant_id, w - 1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> SecretHasher {
        SecretHasher::new(b"k".to_vec())
    }

    #[test]
    fn a_nonce_lives_one_to_two_windows_and_is_per_tenant() {
        let t0 = 1_800_000_000 - 1_800_000_000 % WINDOW_SECS;
        let n = current(&h(), "t", t0);
        assert!(accepted(&h(), "t", t0).contains(&n));
        assert!(
            accepted(&h(), "t", t0 + WINDOW_SECS).contains(&n),
            "next window"
        );
        assert!(
            !accepted(&h(), "t", t0 + 2 * WINDOW_SECS).contains(&n),
            "two windows on: stale"
        );
        assert!(!accepted(&h(), "u", t0).contains(&n), "another tenant's");
        assert_ne!(n, current(&SecretHasher::new(b"other".to_vec()), "t", t0));
    }
}
