//! Every rule of the proof checker, both outcomes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use josekit::jws::{JwsHeader, JwsSigner};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const HTU: &str = "https://id.example.com/t/acme/token";

struct Key {
    signer: Box<dyn JwsSigner>,
    public: Map<String, Value>,
}

fn es256() -> Key {
    let kp = ES256.generate_key_pair().unwrap();
    Key {
        signer: Box::new(ES256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
        public: kp.to_jwk_public_key().as_ref().clone(),
    }
}

fn eddsa() -> Key {
    let kp = EdDSA
        .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
        .unwrap();
    Key {
        signer: Box::new(EdDSA.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
        public: kp.to_jwk_public_key().as_ref().clone(),
    }
}

fn rsa(ps: bool) -> Key {
    if ps {
        let kp = PS256.generate_key_pair(2048).unwrap();
        Key {
            signer: Box::new(PS256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
            public: kp.to_jwk_public_key().as_ref().clone(),
        }
    } else {
        let kp = RS256.generate_key_pair(2048).unwrap();
        Key {
            signer: Box::new(RS256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
            public: kp.to_jwk_public_key().as_ref().clone(),
        }
    }
}

fn claims(overrides: Value) -> Map<String, Value> {
    let mut c = json!({"jti": "j-1", "htm": "POST", "htu": HTU, "iat": NOW})
        .as_object()
        .unwrap()
        .clone();
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.remove(k);
        } else {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// A proof signed by `key` with the given header `typ` and `jwk`.
fn proof_with(key: &Key, typ: &str, jwk: &Map<String, Value>, c: Map<String, Value>) -> String {
    let mut h = JwsHeader::new();
    h.set_token_type(typ);
    h.set_claim("jwk", Some(Value::Object(jwk.clone())))
        .unwrap();
    josekit::jws::serialize_compact(
        Value::Object(c).to_string().as_bytes(),
        &h,
        key.signer.as_ref(),
    )
    .unwrap()
}

fn proof(key: &Key, overrides: Value) -> String {
    proof_with(key, TYP_DPOP, &key.public, claims(overrides))
}

fn at_token() -> Expected<'static> {
    Expected {
        htm: "POST",
        htu: HTU,
        access_token: None,
        nonces: None,
    }
}

fn check(p: &str) -> Result<Proof, ProofRejection> {
    decide_proof(p, &at_token(), NOW)
}

#[test]
fn a_valid_proof_of_every_supported_alg_is_accepted_with_its_thumbprint() {
    for key in [es256(), eddsa(), rsa(false), rsa(true)] {
        let p = check(&proof(&key, json!({}))).unwrap();
        assert_eq!(p.jkt, thumbprint(&key.public).unwrap());
        assert_eq!(p.jti, "j-1");
        assert_eq!(p.iat, NOW);
        assert_eq!(p.remember_until(), NOW + MAX_AGE_SECS);
    }
}

#[test]
fn not_a_jws_is_malformed() {
    assert_eq!(check("abc"), Err(ProofRejection::Malformed));
    assert_eq!(check("a.b.c"), Err(ProofRejection::Malformed));
    assert_eq!(
        check(&"x".repeat(MAX_PROOF_LEN + 1)),
        Err(ProofRejection::Malformed)
    );
}

#[test]
fn typ_must_be_dpop_jwt() {
    let k = es256();
    for typ in ["JWT", "at+jwt", "DPoP+JWT"] {
        let p = proof_with(&k, typ, &k.public, claims(json!({})));
        assert_eq!(check(&p), Err(ProofRejection::WrongType), "{typ}");
    }
}

#[test]
fn none_and_symmetric_algs_are_refused() {
    let k = es256();
    let header = URL_SAFE_NO_PAD.encode(
        json!({"typ": TYP_DPOP, "alg": "none", "jwk": k.public})
            .to_string()
            .as_bytes(),
    );
    let body = URL_SAFE_NO_PAD.encode(Value::Object(claims(json!({}))).to_string().as_bytes());
    assert_eq!(
        check(&format!("{header}.{body}.")),
        Err(ProofRejection::UnsupportedAlg)
    );
    let hs = Key {
        signer: Box::new(
            josekit::jws::HS256
                .signer_from_bytes(b"0123456789abcdef0123456789abcdef")
                .unwrap(),
        ),
        public: json!({"kty": "oct", "k": "MDEy"})
            .as_object()
            .unwrap()
            .clone(),
    };
    assert_eq!(
        check(&proof(&hs, json!({}))),
        Err(ProofRejection::UnsupportedAlg)
    );
}

#[test]
fn the_jwk_must_be_a_public_key_that_fits_the_alg() {
    let k = es256();
    let mut no_jwk = JwsHeader::new();
    no_jwk.set_token_type(TYP_DPOP);
    let p = josekit::jws::serialize_compact(
        Value::Object(claims(json!({}))).to_string().as_bytes(),
        &no_jwk,
        k.signer.as_ref(),
    )
    .unwrap();
    assert_eq!(check(&p), Err(ProofRejection::BadKey), "no jwk");
    // An Ed25519 key under ES256.
    let ed = eddsa();
    let p = proof_with(&k, TYP_DPOP, &ed.public, claims(json!({})));
    assert_eq!(
        check(&p),
        Err(ProofRejection::BadKey),
        "key of another type"
    );
}

#[test]
fn private_key_material_in_the_jwk_is_refused() {
    let kp = ES256.generate_key_pair().unwrap();
    let key = Key {
        signer: Box::new(ES256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
        public: kp.to_jwk_private_key().as_ref().clone(),
    };
    assert_eq!(
        check(&proof(&key, json!({}))),
        Err(ProofRejection::PrivateKey)
    );
}

#[test]
fn the_signature_must_verify_with_the_jwk() {
    let (a, b) = (es256(), es256());
    let p = proof_with(&a, TYP_DPOP, &b.public, claims(json!({})));
    assert_eq!(check(&p), Err(ProofRejection::BadSignature));
}

#[test]
fn every_required_claim_must_be_present() {
    let k = es256();
    for c in ["jti", "htm", "htu", "iat"] {
        let p = proof(&k, json!({ c: null }));
        assert_eq!(check(&p), Err(ProofRejection::MissingClaim(c)), "{c}");
    }
    let p = proof(&k, json!({"jti": ""}));
    assert_eq!(check(&p), Err(ProofRejection::MissingClaim("jti")));
    let p = proof(&k, json!({"iat": "soon"}));
    assert_eq!(check(&p), Err(ProofRejection::MissingClaim("iat")));
}

#[test]
fn htm_must_be_the_method() {
    let k = es256();
    assert_eq!(
        check(&proof(&k, json!({"htm": "GET"}))),
        Err(ProofRejection::MethodMismatch)
    );
    assert_eq!(
        check(&proof(&k, json!({"htm": "post"}))),
        Err(ProofRejection::MethodMismatch)
    );
}

#[test]
fn htu_is_compared_without_query_and_fragment_after_normalization() {
    let k = es256();
    for same in [
        "https://id.example.com/t/acme/token?x=1",
        "https://id.example.com/t/acme/token#f",
        "HTTPS://ID.EXAMPLE.COM:443/t/acme/token",
        "https://id.example.com/t/./acme/token",
    ] {
        assert!(check(&proof(&k, json!({ "htu": same }))).is_ok(), "{same}");
    }
    for other in [
        "https://id.example.com/t/acme/userinfo",
        "http://id.example.com/t/acme/token",
        "https://id.example.com:8443/t/acme/token",
        "https://evil.example/t/acme/token",
        "/t/acme/token",
    ] {
        assert_eq!(
            check(&proof(&k, json!({ "htu": other }))),
            Err(ProofRejection::UriMismatch),
            "{other}"
        );
    }
}

#[test]
fn iat_must_be_inside_the_window() {
    let k = es256();
    for ok in [NOW - MAX_AGE_SECS, NOW, NOW + MAX_FUTURE_SECS] {
        assert!(check(&proof(&k, json!({ "iat": ok }))).is_ok(), "{ok}");
    }
    for bad in [NOW - MAX_AGE_SECS - 1, NOW + MAX_FUTURE_SECS + 1] {
        assert_eq!(
            check(&proof(&k, json!({ "iat": bad }))),
            Err(ProofRejection::IatOutOfWindow),
            "{bad}"
        );
    }
}

#[test]
fn a_required_nonce_must_be_present_and_current() {
    let k = es256();
    let accepted = vec!["n-now".to_string(), "n-before".to_string()];
    let e = Expected {
        nonces: Some(&accepted),
        ..at_token()
    };
    let r = |p: &str| decide_proof(p, &e, NOW);
    assert_eq!(r(&proof(&k, json!({}))), Err(ProofRejection::NonceMissing));
    assert_eq!(
        r(&proof(&k, json!({"nonce": "n-old"}))),
        Err(ProofRejection::NonceInvalid)
    );
    assert!(r(&proof(&k, json!({"nonce": "n-now"}))).is_ok());
    assert!(r(&proof(&k, json!({"nonce": "n-before"}))).is_ok());
    assert!(ProofRejection::NonceMissing.wants_nonce());
    assert!(!ProofRejection::BadSignature.wants_nonce());
    // Not required: a nonce in the proof is not a reason to refuse it.
    assert!(check(&proof(&k, json!({"nonce": "anything"}))).is_ok());
}

#[test]
fn at_a_resource_ath_must_hash_the_presented_token() {
    let k = es256();
    let e = Expected {
        htm: "GET",
        htu: "https://id.example.com/t/acme/userinfo",
        access_token: Some("the-token"),
        nonces: None,
    };
    let base = json!({"htm": "GET", "htu": "https://id.example.com/t/acme/userinfo"});
    let with = |ath: Option<&str>| {
        let mut o = base.clone();
        if let Some(a) = ath {
            o["ath"] = json!(a);
        }
        decide_proof(&proof(&k, o), &e, NOW)
    };
    assert_eq!(with(None), Err(ProofRejection::AthMismatch));
    assert_eq!(
        with(Some(&crate::crypto::sha256_b64url(b"another-token"))),
        Err(ProofRejection::AthMismatch)
    );
    assert!(with(Some(&crate::crypto::sha256_b64url(b"the-token"))).is_ok());
}

#[test]
fn thumbprint_matches_rfc_8037_appendix_a3() {
    let jwk =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).as_deref(),
        Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    );
    // Members beyond the required ones do not change it; a missing one or another kty has none.
    let with_extra = json!({"kty": "OKP", "crv": "Ed25519", "kid": "x", "use": "sig",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(
        thumbprint(with_extra.as_object().unwrap()).as_deref(),
        Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    );
    assert_eq!(
        thumbprint(json!({"kty": "OKP", "crv": "Ed25519"}).as_object().unwrap()),
        None
    );
    assert_eq!(
        thumbprint(json!({"kty": "oct", "k": "x"}).as_object().unwrap()),
        None
    );
}

#[test]
fn replay_keys_are_scoped_to_the_key() {
    let a = Proof {
        jkt: "A".into(),
        jti: "1".into(),
        iat: NOW,
    };
    let b = Proof {
        jkt: "B".into(),
        ..a.clone()
    };
    assert_ne!(a.replay_key(), b.replay_key());
}

#[test]
fn a_bound_grant_needs_a_proof_of_its_key() {
    assert_eq!(decide_key_binding(None, None), Ok(()));
    assert_eq!(decide_key_binding(None, Some("k")), Ok(()));
    assert_eq!(decide_key_binding(Some("k"), Some("k")), Ok(()));
    assert_eq!(
        decide_key_binding(Some("k"), None),
        Err(BindingRejection::ProofRequired)
    );
    assert_eq!(
        decide_key_binding(Some("k"), Some("other")),
        Err(BindingRejection::OtherKey)
    );
}

#[test]
fn only_public_clients_refresh_tokens_are_bound() {
    let p = Proof {
        jkt: "k".into(),
        jti: "1".into(),
        iat: NOW,
    };
    assert_eq!(decide_refresh_binding(true, Some(&p)).as_deref(), Some("k"));
    assert_eq!(decide_refresh_binding(false, Some(&p)), None);
    assert_eq!(decide_refresh_binding(true, None), None);
}

#[test]
fn dpop_jkt_must_look_like_a_sha256_thumbprint() {
    assert!(is_thumbprint("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"));
    assert!(!is_thumbprint("short"));
    assert!(!is_thumbprint(
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4="
    ));
}

#[test]
fn rejections_map_to_rfc_9449_errors() {
    use crate::error::Rejection;
    let e = |r: Rejection| r.oauth().error;
    assert_eq!(e(ProofRejection::BadSignature.into()), "invalid_dpop_proof");
    assert_eq!(e(ProofRejection::Replayed.into()), "invalid_dpop_proof");
    assert_eq!(e(ProofRejection::NonceMissing.into()), "use_dpop_nonce");
    assert_eq!(e(ProofRejection::NonceInvalid.into()), "use_dpop_nonce");
    assert_eq!(
        e(BindingRejection::ProofRequired.into()),
        "invalid_dpop_proof"
    );
    assert_eq!(e(BindingRejection::OtherKey.into()), "invalid_grant");
}
