//! `oidcc-config-certification-test-plan` and the discovery checks the logout plans share
//! (OpenID Connect Discovery 1.0 §3 and §4).

use anyhow::Result;
use openidconnect::core::CoreProviderMetadata;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::op::discovery_url;
use crate::report::Checks;

pub const MODULES: &[&str] = &["oidcc-discovery-endpoint-verification"];

pub async fn run(_module: &str, ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let resp = ctx.http.get(discovery_url(&ctx.op.issuer)).send().await?;
    c.require(
        resp.status().as_u16() == 200,
        format!("discovery returned HTTP {}", resp.status()),
    );
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    c.require(
        ct.contains("application/json"),
        format!("discovery content-type is {ct:?}"),
    );
    let doc = &ctx.op.doc;
    if let Err(e) = serde_json::from_value::<CoreProviderMetadata>(doc.clone()) {
        c.fail(format!("discovery does not match the metadata schema: {e}"));
    }
    c.require(
        doc.get("issuer").and_then(Value::as_str) == Some(ctx.op.issuer.as_str()),
        "issuer in discovery differs from the issuer it was fetched for (Discovery §4.3)",
    );
    if let Some(iss) = ctx.op.str("issuer").and_then(|i| url::Url::parse(i).ok()) {
        c.require(
            iss.query().is_none() && iss.fragment().is_none(),
            "issuer has a query or fragment",
        );
    } else {
        c.fail("issuer is not a valid URL");
    }
    for key in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        c.require(
            doc.get(key)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()),
            format!("{key} missing or empty"),
        );
    }
    c.require(
        ctx.op.lists("response_types_supported", "code"),
        "response_types_supported lacks code",
    );
    c.require(
        ctx.op
            .lists("id_token_signing_alg_values_supported", "RS256"),
        "id_token_signing_alg_values_supported lacks RS256",
    );
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        c.require(
            ctx.op.endpoint(key).is_ok(),
            format!("{key} missing or not a URL"),
        );
    }
    crate::op::check_jwks_kids(c, &ctx.op);
    match doc.get("scopes_supported").and_then(Value::as_array) {
        Some(scopes) => {
            c.require(
                ctx.op.lists("scopes_supported", "openid"),
                "scopes_supported lacks openid",
            );
            for s in scopes {
                let ok = s.as_str().is_some_and(is_scope_token);
                c.require(
                    ok,
                    format!(
                        "scopes_supported entry {s} is not a valid scope token (RFC 6749 §3.3)"
                    ),
                );
            }
        }
        None => c.fail("scopes_supported missing"),
    }
    for key in ["claims_locales_supported", "ui_locales_supported"] {
        if let Some(v) = doc.get(key) {
            let ok = v
                .as_array()
                .is_some_and(|a| a.iter().all(|l| l.as_str().is_some_and(is_language_tag)));
            c.require(ok, format!("{key} is not an array of BCP 47 language tags"));
        }
    }
    if let Some(v) = doc.get("code_challenge_methods_supported") {
        c.require(
            v.is_array(),
            "code_challenge_methods_supported is not an array",
        );
    }
    check_https(c, &ctx.op.doc);
    Ok(())
}

/// RFC 6749 §3.3 scope-token = 1*NQCHAR.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// A permissive BCP 47 shape: alphanumeric subtags of 1-8 characters joined by '-'.
pub fn is_language_tag(s: &str) -> bool {
    !s.is_empty()
        && s.split('-')
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The official suite's "all endpoints https" checks (FAILURE level): issuer and every
/// `*_endpoint`, `*_uri` and `*_iframe` URL in discovery must use https.
pub fn check_https(c: &mut Checks, doc: &Value) {
    let Some(map) = doc.as_object() else { return };
    for (k, v) in map {
        let is_location =
            k == "issuer" || k.ends_with("_endpoint") || k == "jwks_uri" || k.ends_with("_iframe");
        if let (true, Some(s)) = (is_location, v.as_str()) {
            c.require(s.starts_with("https://"), format!("{k} is not https"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_token_syntax() {
        assert!(is_scope_token("openid"));
        assert!(is_scope_token("offline_access"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token(""));
    }

    #[test]
    fn language_tags() {
        assert!(is_language_tag("en"));
        assert!(is_language_tag("en-GB"));
        assert!(!is_language_tag("en_GB"));
    }

    #[test]
    fn https_check_names_each_http_endpoint() {
        let mut c = Checks::default();
        check_https(
            &mut c,
            &json!({"issuer": "https://a", "token_endpoint": "http://a/t", "scopes_supported": ["x"]}),
        );
        let (_, f) = c.finish();
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("token_endpoint"));
    }
}
