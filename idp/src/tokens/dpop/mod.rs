//! DPoP proofs (RFC 9449): the pure checker of a proof JWT (§4.2 syntax, §4.3 checks), the key
//! thumbprint a token is bound to (`jkt`, RFC 7638), stateless server nonces (§8, §9) and the
//! rule a bound grant imposes on later requests (§5, §10). No I/O: the clock is a parameter, and
//! the one stateful check (a `jti` is used once, §11.1) is the caller's, on [`Proof::replay_key`].

pub mod nonce;
#[cfg(test)]
mod tests;

use crate::clock::UnixTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256, PS256, RS256};
use serde_json::{Map, Value};

/// The JWS `typ` of a DPoP proof (§4.2).
pub const TYP_DPOP: &str = "dpop+jwt";

/// Asymmetric algorithms accepted for proofs (§4.2: never `none` or a MAC), published as
/// `dpop_signing_alg_values_supported` (§5.1).
pub const SUPPORTED_ALGS: &[&str] = &["ES256", "RS256", "PS256", "EdDSA"];

/// A proof is accepted up to this many seconds after its `iat` (§4.3 point 11, §11.1): long
/// enough for one request's round trip, short enough that the replay register stays small.
pub const MAX_AGE_SECS: i64 = 60;

/// A proof dated this many seconds in the future is still accepted (clients' clocks drift).
pub const MAX_FUTURE_SECS: i64 = 5;

/// Longest proof read (an RSA-4096 `jwk` header fits comfortably).
const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted (ours are compared through a hash, but unbounded input is refused).
const MAX_JTI_LEN: usize = 256;

/// What the request a proof accompanies looks like, as the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The HTTP method (§4.3 point 8).
    pub htm: &'a str,
    /// The endpoint's URI as the server publishes it (§4.3 point 9).
    pub htu: &'a str,
    /// The access token presented with the proof at a protected resource (§4.3 point 12, §7).
    pub access_token: Option<&'a str>,
    /// The nonces the server accepts now; `None` when it does not require one (§8, §9).
    pub nonces: Option<&'a [String]>,
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// JWK SHA-256 thumbprint of the proof's key (RFC 7638 §3; RFC 9449 §6.1 `jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: UnixTime,
}

impl Proof {
    /// What identifies this proof in the replay register: its `jti` scoped to its key, so one
    /// client cannot use up another's identifiers.
    pub fn replay_key(&self) -> String {
        format!("{}:{}", self.jkt, self.jti)
    }

    /// Until when the proof must be remembered: after that its `iat` is refused anyway.
    pub fn remember_until(&self) -> UnixTime {
        self.iat + MAX_AGE_SECS
    }
}

/// Why a proof was refused, named by cause (audited by [`ProofRejection::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofRejection {
    /// More than one `DPoP` header (§4.3 point 1).
    Multiple,
    /// Not a compact JWS, or unreadable (§4.3 point 2).
    Malformed,
    /// `typ` is not `dpop+jwt` (§4.3 point 4).
    WrongType,
    /// `alg` is not an asymmetric algorithm Lanyard supports (§4.3 point 5).
    UnsupportedAlg,
    /// `jwk` missing, or not a usable public key for `alg` (§4.2).
    BadKey,
    /// `jwk` carries private key material (§4.3 point 7).
    PrivateKey,
    /// The signature does not verify with the `jwk` (§4.3 point 6).
    BadSignature,
    /// A required claim is missing or of the wrong type (§4.3 point 3).
    MissingClaim(&'static str),
    /// `htm` is not the request's method (§4.3 point 8).
    MethodMismatch,
    /// `htu` is not the request's URI (§4.3 point 9).
    UriMismatch,
    /// `iat` is too far in the past or the future (§4.3 point 11).
    IatOutOfWindow,
    /// The server requires a nonce and the proof has none (§8, §9).
    NonceMissing,
    /// The proof's nonce is not one the server accepts now (§8, §9).
    NonceInvalid,
    /// `ath` is missing or not the hash of the access token presented (§4.3 point 12).
    AthMismatch,
    /// The proof's `jti` was seen before (§11.1; decided by the replay register).
    Replayed,
}

impl ProofRejection {
    /// A fixed reason for audit and logs (never the proof or a token).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Multiple => "multiple_proofs",
            Self::Malformed => "malformed",
            Self::WrongType => "wrong_typ",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::BadKey => "bad_jwk",
            Self::PrivateKey => "private_key_in_jwk",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim(_) => "missing_claim",
            Self::MethodMismatch => "htm_mismatch",
            Self::UriMismatch => "htu_mismatch",
            Self::IatOutOfWindow => "iat_out_of_window",
            Self::NonceMissing => "nonce_missing",
            Self::NonceInvalid => "nonce_invalid",
            Self::AthMismatch => "ath_mismatch",
            Self::Replayed => "jti_replayed",
        }
    }

    /// Whether the answer is "retry with the nonce in `DPoP-Nonce`" (`use_dpop_nonce`, §8).
    pub fn wants_nonce(self) -> bool {
        matches!(self, Self::NonceMissing | Self::NonceInvalid)
    }
}

impl From<ProofRejection> for crate::error::Rejection {
    fn from(r: ProofRejection) -> Self {
        if r.wants_nonce() {
            crate::error::Rejection::DpopNonceRequired
        } else {
            crate::error::Rejection::DpopProofInvalid
        }
    }
}

/// Check a proof against the request it came with (RFC 9449 §4.3, points 2-12; point 1, one
/// header, is the caller's; the `jti` register is the caller's too).
pub fn decide_proof(
    proof: &str,
    expected: &Expected<'_>,
    now: UnixTime,
) -> Result<Proof, ProofRejection> {
    // §4.3 point 2: a well-formed compact JWS.
    if proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err(ProofRejection::Malformed);
    }
    let header = decode_segment(proof.split('.').next().unwrap_or_default())?;
    // §4.3 point 4.
    if header.get("typ").and_then(Value::as_str) != Some(TYP_DPOP) {
        return Err(ProofRejection::WrongType);
    }
    // §4.3 point 5: asymmetric, supported; `none` and MACs never.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| SUPPORTED_ALGS.contains(a))
        .ok_or(ProofRejection::UnsupportedAlg)?;
    let jwk = match header.get("jwk") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(ProofRejection::BadKey),
    };
    // §4.3 point 7 (checked before the key is used at all).
    if has_private_material(&jwk) {
        return Err(ProofRejection::PrivateKey);
    }
    let jkt = thumbprint(&jwk).ok_or(ProofRejection::BadKey)?;
    let verifier = verifier_for(alg, jwk)?;
    // §4.3 point 6.
    let (payload, _) = josekit::jws::deserialize_compact(proof, verifier.as_ref())
        .map_err(|_| ProofRejection::BadSignature)?;
    let claims = match serde_json::from_slice(&payload) {
        Ok(Value::Object(m)) => m,
        _ => return Err(ProofRejection::Malformed),
    };
    // §4.3 point 3: jti, htm, htu, iat (ath and nonce below, when required).
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(ProofRejection::MissingClaim("jti"))?;
    let htm = claims
        .get("htm")
        .and_then(Value::as_str)
        .ok_or(ProofRejection::MissingClaim("htm"))?;
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .ok_or(ProofRejection::MissingClaim("htu"))?;
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
        .ok_or(ProofRejection::MissingClaim("iat"))?;
    // §4.3 point 8: methods are case-sensitive (RFC 9110 §9.1).
    if htm != expected.htm {
        return Err(ProofRejection::MethodMismatch);
    }
    // §4.3 point 9.
    if !same_target_uri(htu, expected.htu) {
        return Err(ProofRejection::UriMismatch);
    }
    // §4.3 point 10 (§8, §9).
    if let Some(accepted) = expected.nonces {
        let Some(n) = claims.get("nonce").and_then(Value::as_str) else {
            return Err(ProofRejection::NonceMissing);
        };
        if !accepted
            .iter()
            .any(|a| crate::crypto::constant_time_eq(a.as_bytes(), n.as_bytes()))
        {
            return Err(ProofRejection::NonceInvalid);
        }
    }
    // §4.3 point 11.
    if iat < now - MAX_AGE_SECS || iat > now + MAX_FUTURE_SECS {
        return Err(ProofRejection::IatOutOfWindow);
    }
    // §4.3 point 12 and §4.2: `ath` is base64url(SHA-256(access token)).
    if let Some(token) = expected.access_token {
        let ath = claims.get("ath").and_then(Value::as_str).unwrap_or("");
        let want = crate::crypto::sha256_b64url(token.as_bytes());
        if !crate::crypto::constant_time_eq(ath.as_bytes(), want.as_bytes()) {
            return Err(ProofRejection::AthMismatch);
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
    })
}

fn decode_segment(seg: &str) -> Result<Map<String, Value>, ProofRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(seg)
        .map_err(|_| ProofRejection::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ProofRejection::Malformed),
    }
}

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
fn has_private_material(jwk: &Map<String, Value>) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| jwk.contains_key(*m))
}

fn verifier_for(
    alg: &str,
    jwk: Map<String, Value>,
) -> Result<Box<dyn JwsVerifier>, ProofRejection> {
    let jwk = Jwk::from_map(jwk).map_err(|_| ProofRejection::BadKey)?;
    let v: Box<dyn JwsVerifier> = match alg {
        "ES256" => Box::new(
            ES256
                .verifier_from_jwk(&jwk)
                .map_err(|_| ProofRejection::BadKey)?,
        ),
        "RS256" => Box::new(
            RS256
                .verifier_from_jwk(&jwk)
                .map_err(|_| ProofRejection::BadKey)?,
        ),
        "PS256" => Box::new(
            PS256
                .verifier_from_jwk(&jwk)
                .map_err(|_| ProofRejection::BadKey)?,
        ),
        "EdDSA" => Box::new(
            EdDSA
                .verifier_from_jwk(&jwk)
                .map_err(|_| ProofRejection::BadKey)?,
        ),
        _ => return Err(ProofRejection::UnsupportedAlg),
    };
    Ok(v)
}

/// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members of the key type, in
/// lexicographic order, without whitespace (§3.2, §3.3), hashed and base64url-encoded.
/// `None` when the key type is not one Lanyard accepts or a required member is missing.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        // RFC 8037 §2.
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m).and_then(Value::as_str)?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a string with exactly the escaping RFC 7638 §3.3 asks for.
        canonical.push_str(&serde_json::to_string(m).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(v).ok()?);
    }
    canonical.push('}');
    Some(crate::crypto::sha256_b64url(canonical.as_bytes()))
}

/// §4.3 point 9: the `htu` names the request's target URI, compared without query and fragment
/// after syntax- and scheme-based normalization (RFC 3986 §6.2.2, §6.2.3: case of scheme and
/// host, default port, percent-encoding, dot segments).
pub fn same_target_uri(htu: &str, expected: &str) -> bool {
    let norm = |s: &str| -> Option<String> {
        let mut u = url::Url::parse(s).ok()?;
        if !matches!(u.scheme(), "http" | "https") {
            return None;
        }
        u.set_query(None);
        u.set_fragment(None);
        Some(u.to_string())
    };
    matches!((norm(htu), norm(expected)), (Some(a), Some(b)) if a == b)
}

/// `dpop_jkt` at the authorization endpoint (§10): a base64url SHA-256 thumbprint.
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a bound grant refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingRejection {
    /// The grant is bound to a key and the request has no proof.
    ProofRequired,
    /// The request's proof is made with another key.
    OtherKey,
}

impl From<BindingRejection> for crate::error::Rejection {
    fn from(r: BindingRejection) -> Self {
        match r {
            BindingRejection::ProofRequired => crate::error::Rejection::DpopProofRequired,
            BindingRejection::OtherKey => crate::error::Rejection::DpopKeyMismatch,
        }
    }
}

/// A code bound by `dpop_jkt` (§10.1) or a public client's refresh token bound at issuance (§5)
/// is used only with a proof from that same key. Unbound grants accept any proof or none.
pub fn decide_key_binding(
    bound: Option<&str>,
    presented: Option<&str>,
) -> Result<(), BindingRejection> {
    match (bound, presented) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(BindingRejection::ProofRequired),
        (Some(b), Some(p)) if crate::crypto::constant_time_eq(b.as_bytes(), p.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err(BindingRejection::OtherKey),
    }
}

/// §5: a refresh token issued to a public client with a proof is bound to the proof's key;
/// a confidential client's is not (it authenticates itself on every refresh).
pub fn decide_refresh_binding(public_client: bool, proof: Option<&Proof>) -> Option<String> {
    proof.filter(|_| public_client).map(|p| p.jkt.clone())
}
