//! JWS parsing and signature checks against the OP's JWKS, shared by ID-token and logout-token
//! validation (RFC 7515 compact serialization).

use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;
use serde_json::Value;

/// A compact JWS split into its parts; claims are raw JSON so every check sees what was sent.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("invalid base64url: {e}"))
}

impl Jws {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let parts: Vec<&str> = raw.trim().split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(format!(
                "not a compact JWS ({} parts, 5 would be an encrypted JWT)",
                parts.len()
            ));
        };
        let header: Value =
            serde_json::from_slice(&b64(h)?).map_err(|e| format!("header is not JSON: {e}"))?;
        let claims: Value =
            serde_json::from_slice(&b64(p)?).map_err(|e| format!("payload is not JSON: {e}"))?;
        if !claims.is_object() {
            return Err("payload is not a JSON object".into());
        }
        Ok(Jws {
            header,
            claims,
            signing_input: format!("{h}.{p}"),
            signature: b64(s)?,
        })
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// Verifies the signature with the JWKS key the header names (by `kid`, or the only key of
    /// a compatible type when there is no `kid`). `alg: none` and HMAC are refused: an OP's
    /// tokens for a confidential RP here are expected to be asymmetrically signed.
    pub fn verify(&self, jwks: &CoreJsonWebKeySet) -> Result<(), String> {
        let alg_name = self.alg().ok_or("JWS header has no alg")?;
        if alg_name == "none" {
            return Err("JWS is unsigned (alg none)".into());
        }
        let alg: CoreJwsSigningAlgorithm = serde_json::from_value(Value::String(alg_name.into()))
            .map_err(|_| format!("unsupported alg {alg_name}"))?;
        let keys: Vec<_> = jwks
            .keys()
            .iter()
            .filter(|k| match self.kid() {
                Some(kid) => k.key_id().is_some_and(|id| id.as_str() == kid),
                None => true,
            })
            .collect();
        if keys.is_empty() {
            return Err(match self.kid() {
                Some(kid) => format!("kid {kid} not in the OP's JWKS"),
                None => "no key in the OP's JWKS".into(),
            });
        }
        let mut last = String::new();
        for k in keys {
            match k.verify_signature(&alg, self.signing_input.as_bytes(), &self.signature) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!(
            "signature does not verify with the OP's JWKS: {last}"
        ))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Signs test tokens with a fresh RSA key and exposes the matching JWKS.
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use openidconnect::core::CoreJsonWebKeySet;

    pub struct Signer {
        pair: RsaKeyPair,
    }

    impl Signer {
        pub fn new() -> Self {
            Signer {
                pair: RS256.generate_key_pair(2048).unwrap(),
            }
        }

        pub fn jwks(&self) -> CoreJsonWebKeySet {
            let mut jwk = self.pair.to_jwk_public_key();
            jwk.set_key_id("k1");
            jwk.set_algorithm("RS256");
            serde_json::from_value(
                serde_json::json!({ "keys": [serde_json::to_value(jwk.as_ref()).unwrap()] }),
            )
            .unwrap()
        }

        pub fn sign(&self, typ: Option<&str>, claims: serde_json::Value) -> String {
            let mut header = JwsHeader::new();
            header.set_key_id("k1");
            if let Some(t) = typ {
                header.set_token_type(t);
            }
            let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
            let signer = RS256
                .signer_from_jwk(&self.pair.to_jwk_private_key())
                .unwrap();
            jwt::encode_with_signer(&payload, &header, &signer).unwrap()
        }
    }
}
