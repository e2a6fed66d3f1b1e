//! Strict parsing of `application/x-www-form-urlencoded` query strings and bodies.
//!
//! RFC 6749 §3.1 / §3.2: "Request and response parameters MUST NOT be included more than once",
//! and parameters sent without a value are treated as omitted. Invalid UTF-8 and oversized input
//! are refused with `invalid_request`, never a 500.

use crate::error::Rejection;
use std::collections::HashMap;

/// Upper bounds that keep hostile input cheap to refuse.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct Params {
    map: HashMap<String, String>,
    /// Every non-empty pair in order (for fields a form legitimately repeats, like checkboxes).
    all: Vec<(String, String)>,
    duplicate: Option<String>,
}

impl Params {
    /// Parse; remembers the first repeated name so the caller can decide when to refuse it
    /// (authorization errors may only be redirected once the client is validated).
    pub fn parse(input: &[u8]) -> Result<Self, Rejection> {
        if input.len() > MAX_BODY_BYTES {
            return Err(Rejection::Malformed("request too large"));
        }
        let mut map = HashMap::new();
        let mut all = Vec::new();
        let mut duplicate = None;
        for (i, (k, v)) in form_urlencoded_pairs(input)?.into_iter().enumerate() {
            if i >= MAX_PARAMS {
                return Err(Rejection::Malformed("too many parameters"));
            }
            if v.len() > MAX_VALUE_BYTES {
                return Err(Rejection::Malformed("parameter too long"));
            }
            if has_control_character(&k, &v) {
                // Never echoed: a NUL or a line break in `state` or `username` would otherwise
                // travel into redirects, pages, logs and audit rows.
                return Err(Rejection::Malformed("control character in a parameter"));
            }
            if v.is_empty() {
                // §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
                continue;
            }
            all.push((k.clone(), v.clone()));
            if map.insert(k.clone(), v).is_some() && duplicate.is_none() {
                duplicate = Some(k);
            }
        }
        Ok(Self {
            map,
            all,
            duplicate,
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Every value of a repeatable field, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.all
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn duplicate(&self) -> Option<&str> {
        self.duplicate.as_deref()
    }

    /// Refuse repeated parameters now.
    pub fn reject_duplicates(&self) -> Result<(), Rejection> {
        match self.duplicate {
            Some(_) => Err(Rejection::DuplicateParameter("parameter")),
            None => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }

    pub fn into_map(self) -> HashMap<String, String> {
        self.map
    }
}

/// Parameters whose value is JSON (OIDC Core §5.5 `claims`), where tab, line feed and carriage
/// return are insignificant whitespace (RFC 8259 §2); every other control is still refused.
const JSON_VALUED: &[&str] = &["claims"];

/// Whether a name or value holds a control character (Unicode `Cc`: C0, DEL, C1). No form
/// Lanyard serves has a multi-line field, and no OAuth or OIDC parameter (RFC 6749 Appendix A:
/// `state`, `scope`, `nonce`, ... are printable) may carry one.
fn has_control_character(name: &str, value: &str) -> bool {
    let json_ws = |c: char| JSON_VALUED.contains(&name) && matches!(c, '\t' | '\n' | '\r');
    name.chars().any(char::is_control) || value.chars().any(|c| c.is_control() && !json_ws(c))
}

/// Decode pairs, refusing bytes that do not decode to UTF-8.
fn form_urlencoded_pairs(input: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let mut out = Vec::new();
    for part in input.split(|b| *b == b'&') {
        if part.is_empty() {
            continue;
        }
        let mut it = part.splitn(2, |b| *b == b'=');
        let k = decode(it.next().unwrap_or_default())?;
        let v = decode(it.next().unwrap_or_default())?;
        out.push((k, v));
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Result<String, Rejection> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = raw.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        bytes.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return Err(Rejection::Malformed("bad percent-encoding")),
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| Rejection::Malformed("invalid UTF-8"))
}

/// Parameters that carry a credential or a grant, never to be sent in a URL: URLs end up in
/// logs, histories and Referer headers. RFC 6749 §2.3.1 (client credentials "MUST NOT" be in
/// the request URI), §3.2 (the token endpoint takes POST, parameters in the body), RFC 9700 §4.3.
pub const NEVER_IN_URL: &[&str] = &[
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "password",
    "token",
    "access_token",
];

/// The first credential-bearing parameter in a query string, if any.
pub fn credential_in_query(query: Option<&str>) -> Option<&'static str> {
    let q = query?;
    url::form_urlencoded::parse(q.as_bytes())
        .find_map(|(k, _)| NEVER_IN_URL.iter().copied().find(|n| *n == k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_in_names_and_values() {
        for raw in [
            &b"state=a%00b"[..],
            b"nonce=a%0Ab",
            b"username=al%0Dice",
            b"state=%09",
            b"state=%7F",
            b"state=%C2%85",
            b"st%00ate=x",
            b"claims=%00",
        ] {
            assert!(
                matches!(Params::parse(raw), Err(Rejection::Malformed(_))),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // JSON whitespace in `claims` is whitespace; other values keep printable text.
        let p =
            Params::parse(b"claims=%7B%0A%09%22id_token%22%3A%7B%7D%0D%0A%7D&state=a+b").unwrap();
        assert_eq!(p.get("claims"), Some("{\n\t\"id_token\":{}\r\n}"));
        assert_eq!(p.get("state"), Some("a b"));
    }

    #[test]
    fn parses_and_decodes() {
        let p = Params::parse(b"a=1&b=x+y&c=%2F%C3%A9").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("c"), Some("/é"));
    }

    #[test]
    fn duplicates_are_remembered_and_refusable() {
        let p = Params::parse(b"scope=a&scope=b").unwrap();
        assert_eq!(p.duplicate(), Some("scope"));
        assert!(p.reject_duplicates().is_err());
    }

    #[test]
    fn repeatable_fields_keep_every_value() {
        let p = Params::parse(b"end=a&csrf=t&end=b&end=").unwrap();
        assert_eq!(p.get_all("end"), vec!["a", "b"]);
        assert_eq!(p.get_all("none"), Vec::<&str>::new());
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::parse(b"state=&nonce=n").unwrap();
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("nonce"), Some("n"));
    }

    #[test]
    fn invalid_utf8_and_bad_escapes_are_invalid_request() {
        assert!(Params::parse(b"a=%FF%FE").is_err());
        assert!(Params::parse(b"a=%G1").is_err());
        assert!(Params::parse(b"a=%4").is_err());
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert!(Params::parse(&big).is_err());
        let long = format!("a={}", "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(Params::parse(long.as_bytes()).is_err());
    }

    #[test]
    fn credentials_in_the_query_string_are_found() {
        use super::credential_in_query as c;
        assert_eq!(c(None), None);
        assert_eq!(c(Some("")), None);
        assert_eq!(c(Some("foo=1&bar=2")), None);
        assert_eq!(c(Some("code=abc")), Some("code"));
        assert_eq!(c(Some("x=1&client_secret=s")), Some("client_secret"));
        assert_eq!(c(Some("refresh%5Ftoken=r")), Some("refresh_token"));
        assert_eq!(c(Some("codex=1&mycode=2")), None);
    }
}
