//! Second factors: TOTP (RFC 6238) and single-use recovery codes. This module is PURE (time is
//! a parameter, randomness comes from `crypto`); `service` stores and checks them.
//!
//! TOTP uses SHA-1, 6 digits and 30-second steps (RFC 6238 §4, the parameters every
//! authenticator app accepts), with one step of drift either way (§5.2 "allow a window"), and
//! refuses a code whose step is not later than the last one accepted (§5.2: "the verifier MUST
//! NOT accept the second attempt of the same OTP"). Secrets are 160 bits (RFC 4226 §4 R6).

pub mod service;

use crate::clock::UnixTime;
use crate::crypto::constant_time_eq;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
pub const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;

/// A new random TOTP secret.
pub fn new_secret() -> Vec<u8> {
    crate::crypto::random_bytes(SECRET_BYTES)
}

/// Base32 without padding (RFC 4648 §6), as authenticator apps take it.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec())
        .to_encoded()
        .to_string()
        .trim_end_matches('=')
        .to_string()
}

pub fn from_base32(s: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(s.to_string()).to_bytes().ok()
}

fn totp(secret: &[u8]) -> totp_rs::TOTP {
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS as u64,
        secret.to_vec(),
    )
}

/// The code of a time step.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    totp(secret).generate((step.max(0) * STEP_SECS) as u64)
}

/// The Key URI Format authenticator apps scan: `otpauth://totp/ISSUER:ACCOUNT?secret=...`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer).replace('+', "%20"),
        enc(account).replace('+', "%20"),
        base32(secret),
        enc(issuer).replace('+', "%20"),
    )
}

/// The URI as an SVG QR code (for an `<img src="data:image/svg+xml;base64,...">`).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

/// The outcome of checking a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    Accepted {
        step: i64,
    },
    /// Right code, but its step was already used (or an earlier one was used after it).
    Replayed,
    Wrong,
}

/// Check `code` at `now` against `secret`, refusing steps up to `last_step`.
pub fn decide_totp(secret: &[u8], code: &str, last_step: Option<i64>, now: UnixTime) -> TotpCheck {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return TotpCheck::Wrong;
    }
    let current = now.div_euclid(STEP_SECS);
    // Compare every candidate step (no early exit), so timing says nothing about which matched.
    let mut matched: Option<i64> = None;
    for step in [current - 1, current, current + 1] {
        if constant_time_eq(code_at_step(secret, step).as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    match matched {
        None => TotpCheck::Wrong,
        Some(s) if last_step.is_some_and(|l| s <= l) => TotpCheck::Replayed,
        Some(s) => TotpCheck::Accepted { step: s },
    }
}

/// New recovery codes: `xxxx-xxxx-xxxx` of lowercase base32 (60 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let b32 = base32(&crate::crypto::random_bytes(8)).to_lowercase();
            format!("{}-{}-{}", &b32[0..4], &b32[4..8], &b32[8..12])
        })
        .collect()
}

/// A recovery code as typed: case, spaces and dashes do not matter.
pub fn normalise_recovery_code(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (c.len() == 12).then(|| format!("{}-{}-{}", &c[0..4], &c[4..8], &c[8..12]))
}

/// Does this look like a recovery code rather than a TOTP code?
pub fn is_recovery_code_shape(code: &str) -> bool {
    normalise_recovery_code(code).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1, secret "12345678901234567890", 8 digits truncated to the
    /// last 6 (the same HOTP value, RFC 4226 §5.3, mod 10^6).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at_step(secret, t / STEP_SECS), eight[2..], "t={t}");
        }
    }

    #[test]
    fn a_code_is_accepted_in_its_window_once() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_at_step(secret, now / STEP_SECS);
        let step = now / STEP_SECS;
        assert_eq!(
            decide_totp(secret, &code, None, now),
            TotpCheck::Accepted { step }
        );
        // One step of drift either way.
        assert_eq!(
            decide_totp(secret, &code, None, now + 30),
            TotpCheck::Accepted { step }
        );
        assert_eq!(
            decide_totp(secret, &code, None, now - 30),
            TotpCheck::Accepted { step }
        );
        assert_eq!(decide_totp(secret, &code, None, now + 60), TotpCheck::Wrong);
        // Used once: refused after.
        assert_eq!(
            decide_totp(secret, &code, Some(step), now),
            TotpCheck::Replayed
        );
        // An older code after a newer one was used: refused too.
        let older = code_at_step(secret, step - 1);
        assert_eq!(
            decide_totp(secret, &older, Some(step), now),
            TotpCheck::Replayed
        );
        // Spaces are fine, other shapes are wrong.
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(
            decide_totp(secret, &spaced, None, now),
            TotpCheck::Accepted { step }
        );
        for bad in ["", "12345", "1234567", "abcdef", "12345x"] {
            assert_eq!(
                decide_totp(secret, bad, None, now),
                TotpCheck::Wrong,
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_encode_for_authenticator_apps() {
        let s = new_secret();
        assert_eq!(s.len(), 20);
        let b = base32(&s);
        assert_eq!(b.len(), 32);
        assert_eq!(from_base32(&b).unwrap(), s);
        let uri = otpauth_uri("Acme Corp", "alice@acme.test", &s);
        assert!(
            uri.starts_with("otpauth://totp/Acme%20Corp:alice%40acme.test?secret="),
            "{uri}"
        );
        assert!(uri.contains("&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"));
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut d = codes.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), codes.len());
        let c = &codes[0];
        assert_eq!(c.len(), 14);
        assert_eq!(
            normalise_recovery_code(&c.to_uppercase().replace('-', " ")).as_deref(),
            Some(c.as_str())
        );
        assert!(is_recovery_code_shape(c));
        assert!(!is_recovery_code_shape("123456"));
    }
}
