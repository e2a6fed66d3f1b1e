//! Signing and verifying with a tenant's own keys, by aws-lc-rs (ADR 0023).
//!
//! josekit keeps the JOSE side (JWK parsing, the compact serialisation, header checks); the
//! signature itself is computed here with a key parsed once when the key is loaded. josekit's
//! own signers hand every signature to OpenSSL 3 through a fresh `EVP_DigestSignInit`, which
//! costs more than the ECDSA arithmetic it wraps (measured in ADR 0023). The algorithms are the
//! ones of RFC 7518 §3.1 that Lanyard signs with:
//! - RS256: RSASSA-PKCS1-v1_5 with SHA-256 (§3.3), keys of 2048 bits or more;
//! - ES256: ECDSA P-256 with SHA-256 (§3.4), the signature as the 64-byte `R || S`, not DER;
//! - EdDSA: Ed25519 (RFC 8037 §3.1).
//!
//! Client keys (`private_key_jwt`, DPoP proofs) are not ours and stay with josekit.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsAlgorithm, JwsSigner, JwsVerifier, ES256, RS256};
use josekit::JoseError;
use std::sync::Arc;

/// One of our key pairs, signing and verifying. Cloning shares the parsed key.
#[derive(Clone)]
pub struct KeyPairJws {
    inner: Arc<Inner>,
}

struct Inner {
    kid: String,
    private: Private,
    public: ParsedPublicKey,
    rng: SystemRandom,
}

enum Private {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl std::fmt::Debug for KeyPairJws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyPairJws({}, {}, ***)",
            self.inner.kid,
            self.alg_name()
        )
    }
}

fn bad_key(what: impl std::fmt::Display) -> JoseError {
    JoseError::InvalidKeyFormat(anyhow::anyhow!("{what}"))
}

/// A base64url member of a JWK (RFC 7517 §4, RFC 7518 §6), decoded.
fn member(jwk: &Jwk, name: &str) -> Result<Vec<u8>, JoseError> {
    let value = jwk
        .parameter(name)
        .ok_or_else(|| bad_key(format_args!("the JWK has no \"{name}\"")))?;
    let text = value
        .as_str()
        .ok_or_else(|| bad_key(format_args!("the JWK's \"{name}\" is not a string")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad_key(format_args!("the JWK's \"{name}\" is not base64url")))
}

/// Both JWKs of the pair have `name` (`kty`, `crv`) equal to `expected`.
fn expect_text(private: &Jwk, public: &Jwk, name: &str, expected: &str) -> Result<(), JoseError> {
    for jwk in [private, public] {
        match jwk.parameter(name).and_then(|v| v.as_str()) {
            Some(v) if v == expected => {}
            other => {
                return Err(bad_key(format_args!(
                    "the JWK's \"{name}\" is {other:?}, not \"{expected}\""
                )))
            }
        }
    }
    Ok(())
}

/// The public members `names` of the key, from the public JWK. josekit's private JWKs of EC and
/// OKP keys carry only `d` (RSA ones carry `n` and `e` too): where the private JWK has a member
/// as well, it must be the same, or the stored pair would publish one key and sign with another.
/// Whether `d` belongs to the public key is checked by aws-lc-rs when the pair is built.
fn public_members<const N: usize>(
    private: &Jwk,
    public: &Jwk,
    names: [&str; N],
) -> Result<[Vec<u8>; N], JoseError> {
    let mut out: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    for (slot, name) in out.iter_mut().zip(names) {
        let value = member(public, name)?;
        if private.parameter(name).is_some() && member(private, name)? != value {
            return Err(bad_key(format_args!(
                "the public JWK's \"{name}\" is not the private key's"
            )));
        }
        *slot = value;
    }
    Ok(out)
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> JoseError {
    bad_key(format_args!("the key was rejected: {e}"))
}

impl KeyPairJws {
    /// Parse a stored key pair of `alg` (RS256, ES256 or EdDSA).
    pub fn from_jwk(kid: &str, alg: &str, private: &Jwk, public: &Jwk) -> Result<Self, JoseError> {
        let (private_key, public_key) = match alg {
            "RS256" => {
                expect_text(private, public, "kty", "RSA")?;
                let [n, e] = public_members(private, public, ["n", "e"])?;
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    },
                    d: member(private, "d")?,
                    p: member(private, "p")?,
                    q: member(private, "q")?,
                    dP: member(private, "dp")?,
                    dQ: member(private, "dq")?,
                    qInv: member(private, "qi")?,
                };
                let pair = RsaKeyPair::from_components(&components).map_err(rejected)?;
                // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
                if pair.public_modulus_len() < 256 {
                    return Err(bad_key("an RS256 key must have 2048 bits or more"));
                }
                let public_key = components
                    .public_key
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(rejected)?;
                (Private::Rs256(pair), public_key)
            }
            "ES256" => {
                expect_text(private, public, "kty", "EC")?;
                expect_text(private, public, "crv", "P-256")?;
                let [x, y] = public_members(private, public, ["x", "y"])?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad_key("a P-256 coordinate is not 32 bytes"));
                }
                // SEC 1 §2.3.3 uncompressed point: 0x04 || X || Y.
                let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &member(private, "d")?,
                    &point,
                )
                .map_err(rejected)?;
                let public_key = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                    .map_err(rejected)?;
                (Private::Es256(pair), public_key)
            }
            "EdDSA" => {
                expect_text(private, public, "kty", "OKP")?;
                expect_text(private, public, "crv", "Ed25519")?;
                let [x] = public_members(private, public, ["x"])?;
                let pair = Ed25519KeyPair::from_seed_and_public_key(&member(private, "d")?, &x)
                    .map_err(rejected)?;
                let public_key = ParsedPublicKey::new(&signature::ED25519, &x).map_err(rejected)?;
                (Private::EdDsa(pair), public_key)
            }
            _ => {
                return Err(JoseError::UnsupportedSignatureAlgorithm(anyhow::anyhow!(
                    "{alg}"
                )))
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                kid: kid.to_string(),
                private: private_key,
                public: public_key,
                rng: SystemRandom::new(),
            }),
        })
    }

    fn alg_name(&self) -> &'static str {
        match self.inner.private {
            Private::Rs256(_) => "RS256",
            Private::Es256(_) => "ES256",
            Private::EdDsa(_) => "EdDSA",
        }
    }

    fn jws_algorithm(&self) -> &'static dyn JwsAlgorithm {
        match self.inner.private {
            Private::Rs256(_) => &RS256,
            Private::Es256(_) => &ES256,
            Private::EdDsa(_) => &EdDSA,
        }
    }
}

impl JwsSigner for KeyPairJws {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        self.jws_algorithm()
    }

    fn key_id(&self) -> Option<&str> {
        Some(&self.inner.kid)
    }

    fn signature_len(&self) -> usize {
        match &self.inner.private {
            Private::Rs256(pair) => pair.public_modulus_len(),
            Private::Es256(_) | Private::EdDsa(_) => 64,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::InvalidSignature(anyhow::anyhow!("signing failed"));
        match &self.inner.private {
            Private::Rs256(pair) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.inner.rng,
                    message,
                    &mut out,
                )
                .map_err(failed)?;
                Ok(out)
            }
            Private::Es256(pair) => Ok(pair
                .sign(&self.inner.rng, message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Private::EdDsa(pair) => Ok(pair.try_sign(message).map_err(failed)?.as_ref().to_vec()),
        }
    }

    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(self.clone())
    }
}

impl JwsVerifier for KeyPairJws {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        self.jws_algorithm()
    }

    fn key_id(&self) -> Option<&str> {
        Some(&self.inner.kid)
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        self.inner
            .public
            .verify_sig(message, signature)
            .map_err(|_| JoseError::InvalidSignature(anyhow::anyhow!("the signature is invalid")))
    }

    fn box_clone(&self) -> Box<dyn JwsVerifier> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use aws_lc_rs::signature::KeyPair;

    fn pair(alg: &str) -> (Jwk, Jwk) {
        let g = generate(alg).unwrap();
        (
            Jwk::from_bytes(g.private_jwk.as_bytes()).unwrap(),
            Jwk::from_bytes(g.public_jwk.as_bytes()).unwrap(),
        )
    }

    fn josekit_signer(alg: &str, private: &Jwk) -> Box<dyn JwsSigner> {
        match alg {
            "RS256" => Box::new(RS256.signer_from_jwk(private).unwrap()),
            "ES256" => Box::new(ES256.signer_from_jwk(private).unwrap()),
            _ => Box::new(EdDSA.signer_from_jwk(private).unwrap()),
        }
    }

    fn josekit_verifier(alg: &str, public: &Jwk) -> Box<dyn JwsVerifier> {
        match alg {
            "RS256" => Box::new(RS256.verifier_from_jwk(public).unwrap()),
            "ES256" => Box::new(ES256.verifier_from_jwk(public).unwrap()),
            _ => Box::new(EdDSA.verifier_from_jwk(public).unwrap()),
        }
    }

    #[test]
    fn signatures_interoperate_with_openssl_both_ways() {
        for alg in ["RS256", "ES256", "EdDSA"] {
            let (private, public) = pair(alg);
            let ours = KeyPairJws::from_jwk("k1", alg, &private, &public).unwrap();
            assert_eq!(JwsSigner::algorithm(&ours).name(), alg);
            let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";

            // Ours, checked by josekit over OpenSSL.
            let sig = ours.sign(message).unwrap();
            assert_eq!(sig.len(), ours.signature_len(), "{alg}");
            josekit_verifier(alg, &public)
                .verify(message, &sig)
                .unwrap();
            // josekit's, checked by ours.
            let theirs = josekit_signer(alg, &private).sign(message).unwrap();
            JwsVerifier::verify(&ours, message, &theirs).unwrap();
            // And ours by ours.
            JwsVerifier::verify(&ours, message, &sig).unwrap();

            // A changed message or signature fails.
            assert!(
                JwsVerifier::verify(&ours, b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ", &sig)
                    .is_err()
            );
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(JwsVerifier::verify(&ours, message, &bad).is_err(), "{alg}");
            assert!(JwsVerifier::verify(&ours, message, &sig[..sig.len() - 1]).is_err());
        }
    }

    #[test]
    fn a_whole_jwt_round_trips_through_josekit() {
        for alg in ["RS256", "ES256", "EdDSA"] {
            let (private, public) = pair(alg);
            let kid = public.key_id().unwrap().to_string();
            let ours = KeyPairJws::from_jwk(&kid, alg, &private, &public).unwrap();
            let mut payload = josekit::jwt::JwtPayload::new();
            payload.set_subject("alice");
            let header = josekit::jws::JwsHeader::new();
            let token = josekit::jwt::encode_with_signer(&payload, &header, &ours).unwrap();
            let (back, header) =
                josekit::jwt::decode_with_verifier(&token, josekit_verifier(alg, &public).as_ref())
                    .unwrap();
            assert_eq!(back.subject(), Some("alice"));
            assert_eq!(header.algorithm(), Some(alg));
            assert_eq!(header.key_id(), Some(kid.as_str()));
            josekit::jwt::decode_with_verifier(&token, &ours).unwrap();
        }
    }

    #[test]
    fn a_public_key_that_is_not_the_private_keys_is_refused() {
        for alg in ["RS256", "ES256", "EdDSA"] {
            let (private, _) = pair(alg);
            let (_, other_public) = pair(alg);
            // RSA: n differs; EC and OKP: aws-lc-rs finds that d is not the point's scalar.
            let err = KeyPairJws::from_jwk("k", alg, &private, &other_public).unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.contains("not the private key's") || shown.contains("InconsistentComponents"),
                "{alg}: {shown}"
            );
        }
    }

    #[test]
    fn a_key_of_another_kind_or_a_damaged_key_is_refused() {
        let (es_private, es_public) = pair("ES256");
        assert!(KeyPairJws::from_jwk("k", "RS256", &es_private, &es_public).is_err());
        assert!(KeyPairJws::from_jwk("k", "EdDSA", &es_private, &es_public).is_err());
        assert!(KeyPairJws::from_jwk("k", "HS256", &es_private, &es_public).is_err());

        // A private scalar that does not belong to the published point.
        let (other_private, _) = pair("ES256");
        let mut mixed = es_private.clone();
        mixed
            .set_parameter("d", other_private.parameter("d").cloned())
            .unwrap();
        assert!(KeyPairJws::from_jwk("k", "ES256", &mixed, &es_public).is_err());

        // An RSA key without its CRT members, or with one from another key.
        let (rs_private, rs_public) = pair("RS256");
        let (rs_other, _) = pair("RS256");
        let mut no_crt = rs_private.clone();
        no_crt.set_parameter("qi", None).unwrap();
        assert!(KeyPairJws::from_jwk("k", "RS256", &no_crt, &rs_public).is_err());
        let mut wrong_crt = rs_private.clone();
        wrong_crt
            .set_parameter("dq", rs_other.parameter("dq").cloned())
            .unwrap();
        assert!(KeyPairJws::from_jwk("k", "RS256", &wrong_crt, &rs_public).is_err());
    }

    #[test]
    fn an_ed25519_pair_is_built_from_the_stored_public_key() {
        let (private, public) = pair("EdDSA");
        let ours = KeyPairJws::from_jwk("k", "EdDSA", &private, &public).unwrap();
        let Private::EdDsa(p) = &ours.inner.private else {
            panic!("not an Ed25519 pair")
        };
        assert_eq!(
            p.public_key().as_ref(),
            member(&public, "x").unwrap().as_slice()
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        for alg in ["RS256", "ES256", "EdDSA"] {
            let (private, public) = pair(alg);
            let ours = KeyPairJws::from_jwk("kid-9", alg, &private, &public).unwrap();
            let shown = format!("{ours:?}");
            assert_eq!(shown, format!("KeyPairJws(kid-9, {alg}, ***)"));
            let d = private.parameter("d").and_then(|v| v.as_str()).unwrap();
            assert!(!shown.contains(d));
        }
    }
}
