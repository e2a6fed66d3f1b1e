//! JSON with unique member names. RFC 8259 §4 says names SHOULD be unique and leaves duplicates'
//! meaning to the parser; RFC 7515 §5.2 / RFC 7519 §4 require a JOSE header or JWT claims set
//! with duplicate names to be rejected (or the last one used) — Lanyard rejects, so a token can
//! never mean one thing to Lanyard and another to the party that made or checks it.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Walks any JSON value, failing on an object that repeats a member name at any depth.
struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !seen.insert(k) {
                return Err(de::Error::custom("duplicate member name"));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

/// Whether `bytes` are one JSON value whose objects all have unique member names.
pub fn has_unique_members(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Unique>(bytes).is_ok()
}

/// Whether every segment of a compact JWS that carries JSON (header and payload) decodes from
/// base64url and has unique member names.
pub fn jws_has_unique_members(compact: &str) -> bool {
    use base64::Engine;
    let mut parts = compact.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return false;
    };
    [h, p].iter().all(|seg| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .is_ok_and(|b| has_unique_members(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert!(has_unique_members(br#"{"a":1,"b":{"c":[{"d":1}]}}"#));
        assert!(!has_unique_members(br#"{"a":1,"a":2}"#));
        assert!(!has_unique_members(br#"{"a":{"b":1,"b":1}}"#));
        assert!(!has_unique_members(br#"[{"x":1,"x":1}]"#));
        // The same name in sibling objects is fine.
        assert!(has_unique_members(br#"[{"x":1},{"x":2}]"#));
        assert!(!has_unique_members(b"{not json"));
    }

    #[test]
    fn both_jws_segments_are_checked() {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let ok = format!("{}.{}.sig", e(r#"{"alg":"ES256"}"#), e(r#"{"sub":"a"}"#));
        assert!(jws_has_unique_members(&ok));
        let bad_payload = format!(
            "{}.{}.sig",
            e(r#"{"alg":"ES256"}"#),
            e(r#"{"sub":"a","sub":"b"}"#)
        );
        assert!(!jws_has_unique_members(&bad_payload));
        let bad_header = format!("{}.{}.sig", e(r#"{"alg":"ES256","alg":"none"}"#), e("{}"));
        assert!(!jws_has_unique_members(&bad_header));
        assert!(!jws_has_unique_members("no-dots"));
    }
}
