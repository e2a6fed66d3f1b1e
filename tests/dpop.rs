//! DPoP (RFC 9449) over real HTTP: proofs built with josekit, as a client library would.

use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::{JwsHeader, JwsSigner, ES256};
use lanyard_idp::manage::NewClient;
use serde_json::{json, Value};

const SPA_REDIRECT: &str = "https://spa.example/cb";

/// A client's DPoP key pair.
struct DpopKey {
    signer: Box<dyn JwsSigner>,
    public: serde_json::Map<String, Value>,
}

impl DpopKey {
    fn new() -> Self {
        let kp = ES256.generate_key_pair().unwrap();
        Self {
            signer: Box::new(ES256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap()),
            public: kp.to_jwk_public_key().as_ref().clone(),
        }
    }

    /// RFC 7638 thumbprint of an EC key, computed here independently of the server.
    fn jkt(&self) -> String {
        let c = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            self.public["crv"].as_str().unwrap(),
            self.public["x"].as_str().unwrap(),
            self.public["y"].as_str().unwrap()
        );
        lanyard_idp::crypto::sha256_b64url(c.as_bytes())
    }

    fn proof_with(&self, claims: Value) -> String {
        let mut h = JwsHeader::new();
        h.set_token_type("dpop+jwt");
        h.set_claim("jwk", Some(Value::Object(self.public.clone())))
            .unwrap();
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &h, self.signer.as_ref())
            .unwrap()
    }

    /// A proof for `htm` `htu` at the mock clock's time.
    fn proof(
        &self,
        ts: &TestServer,
        htm: &str,
        htu: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> String {
        let mut c = json!({
            "jti": lanyard_idp::crypto::random_id(),
            "htm": htm,
            "htu": htu,
            "iat": ts.clock.now_secs(),
        });
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        if let Some(t) = access_token {
            c["ath"] = json!(lanyard_idp::crypto::sha256_b64url(t.as_bytes()));
        }
        self.proof_with(c)
    }
}

struct Answer {
    status: u16,
    body: Value,
    nonce: Option<String>,
    www_authenticate: Option<String>,
}

/// POST to the token endpoint: `client` with its secret (basic) or public (client_id in the form).
async fn post_token(
    ts: &TestServer,
    client: (&str, Option<&str>),
    form: &[(&str, &str)],
    proofs: &[&str],
) -> Answer {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut rb = reqwest::Client::new().post(ts.url("/token"));
    match client.1 {
        Some(secret) => rb = rb.basic_auth(client.0, Some(secret)),
        None => form.push(("client_id", client.0)),
    }
    for p in proofs {
        rb = rb.header("DPoP", *p);
    }
    answer(rb.form(&form).send().await.unwrap()).await
}

async fn answer(r: reqwest::Response) -> Answer {
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (nonce, www_authenticate) = (h("dpop-nonce"), h("www-authenticate"));
    let status = r.status().as_u16();
    Answer {
        status,
        body: r.json().await.unwrap_or(Value::Null),
        nonce,
        www_authenticate,
    }
}

/// The server's current nonce: a proof without one is answered `use_dpop_nonce` (§8).
async fn fetch_nonce(ts: &TestServer, key: &DpopKey) -> String {
    let p = key.proof(ts, "POST", &ts.url("/token"), None, None);
    let a = post_token(ts, ("spa", None), &[("grant_type", "refresh_token")], &[&p]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    a.nonce.expect("DPoP-Nonce header")
}

/// A token request with a proof from `key`, answering the nonce challenge as a client does.
async fn dpop_token(
    ts: &TestServer,
    key: &DpopKey,
    client: (&str, Option<&str>),
    form: &[(&str, &str)],
) -> Answer {
    let nonce = fetch_nonce(ts, key).await;
    let p = key.proof(ts, "POST", &ts.url("/token"), Some(&nonce), None);
    post_token(ts, client, form, &[&p]).await
}

/// Sign alice in through `client` and return (code, verifier).
async fn code_for(
    ts: &TestServer,
    client: &str,
    redirect: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (url, _state, _nonce, verifier) =
        auth_url(ts, client, redirect, "openid offline_access", extra);
    let browser = Browser::new();
    let mut landing = browser.authorize(ts, &url, "alice", PASSWORD).await;
    // Third-party clients ask for consent first.
    if let Landing::Page { body, .. } = &landing {
        if body.contains("Allow access") {
            let csrf = field(body, "csrf").unwrap();
            let req = field(body, "req").unwrap();
            landing = browser
                .post_form(
                    &ts.base,
                    &ts.url("/consent"),
                    &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
                )
                .await;
        }
    }
    (landing.param("code").expect("code"), verifier)
}

fn code_form<'a>(code: &'a str, verifier: &'a str, redirect: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

fn jwt_claims(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

async fn userinfo(ts: &TestServer, authorization: &str, proof: Option<&str>) -> Answer {
    let mut rb = reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .header("authorization", authorization);
    if let Some(p) = proof {
        rb = rb.header("DPoP", p);
    }
    answer(rb.send().await.unwrap()).await
}

/// Userinfo under the DPoP scheme, answering the resource's nonce challenge (§9).
async fn dpop_userinfo(ts: &TestServer, key: &DpopKey, at: &str) -> Answer {
    let auth = format!("DPoP {at}");
    let p = key.proof(ts, "GET", &ts.url("/userinfo"), None, Some(at));
    let first = userinfo(ts, &auth, Some(&p)).await;
    assert_eq!(first.status, 401);
    let challenge = first.www_authenticate.unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = first.nonce.expect("DPoP-Nonce from the resource");
    let p = key.proof(ts, "GET", &ts.url("/userinfo"), Some(&nonce), Some(at));
    userinfo(ts, &auth, Some(&p)).await
}

/// A public client's tokens, bound to `key`.
async fn spa_tokens(ts: &TestServer, key: &DpopKey) -> Value {
    let (code, verifier) = code_for(ts, "spa", SPA_REDIRECT, &[]).await;
    let a = dpop_token(
        ts,
        key,
        ("spa", None),
        &code_form(&code, &verifier, SPA_REDIRECT),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

#[tokio::test]
async fn dpop_code_refresh_and_userinfo_with_ath() {
    let ts = TestServer::start().await;
    let discovery: Value = reqwest::get(ts.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "PS256", "EdDSA"])
    );
    let key = DpopKey::new();
    let t = spa_tokens(&ts, &key).await;
    // §5: token_type DPoP; §6.1: the access token names the key.
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&at)["cnf"], json!({"jkt": key.jkt()}));
    // §6.2: introspection reports the type and key, of the refresh token too.
    let i = introspect(&ts, &at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "DPoP");
    assert_eq!(i["cnf"]["jkt"], key.jkt());
    // The public client's refresh token is its own: another client introspecting it learns
    // nothing (RFC 7662 §4), and a public client may not introspect (§2.1).
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&ts, &rt).await, json!({"active": false}));
    // §7: userinfo under the DPoP scheme with ath.
    let u = dpop_userinfo(&ts, &key, &at).await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(u.body["sub"], ts.alice_id.as_str());
    assert!(u.nonce.is_some(), "a fresh nonce with the answer (§9)");
    // §5: the refresh, with a proof of the same key.
    ts.clock.advance_secs(2);
    let r = dpop_token(
        &ts,
        &key,
        ("spa", None),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "DPoP");
    let at2 = r.body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at2)["cnf"]["jkt"], key.jkt());
    assert_eq!(dpop_userinfo(&ts, &key, at2).await.status, 200);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn public_refresh_with_another_key_or_without_proof_is_refused() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let t = spa_tokens(&ts, &key).await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let thief = DpopKey::new();
    let a = dpop_token(&ts, &thief, ("spa", None), &form).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let a = post_token(&ts, ("spa", None), &form, &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    // The refusals left the family alone: the key's holder refreshes.
    let a = dpop_token(&ts, &key, ("spa", None), &form).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn a_public_family_begun_without_proof_is_bound_by_its_first_proof() {
    let ts = TestServer::start().await;
    let (code, verifier) = code_for(&ts, "spa", SPA_REDIRECT, &[]).await;
    let a = post_token(
        &ts,
        ("spa", None),
        &code_form(&code, &verifier, SPA_REDIRECT),
        &[],
    )
    .await;
    assert_eq!(
        (a.status, a.body["token_type"].as_str()),
        (200, Some("Bearer"))
    );
    let rt = a.body["refresh_token"].as_str().unwrap().to_string();
    let key = DpopKey::new();
    let a = dpop_token(
        &ts,
        &key,
        ("spa", None),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rt2 = a.body["refresh_token"].as_str().unwrap().to_string();
    // Bound now (the family records the key; only the public client itself could ask about its
    // refresh token, and public clients may not introspect).
    let stored = lanyard_idp::store::grants::find_refresh(
        &ts.state.db,
        &ts.tenant.id,
        &ts.state.hasher.hash("refresh", &rt2),
    )
    .await
    .unwrap()
    .unwrap();
    let family =
        lanyard_idp::store::grants::find_family(&ts.state.db, &ts.tenant.id, &stored.family_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(family.dpop_jkt.as_deref(), Some(key.jkt().as_str()));
    let a = post_token(
        &ts,
        ("spa", None),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        &[],
    )
    .await;
    assert_eq!(a.body["error"], "invalid_dpop_proof", "bound now");
}

#[tokio::test]
async fn replayed_proof_is_refused_and_audited_then_swept() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let t = spa_tokens(&ts, &key).await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let nonce = fetch_nonce(&ts, &key).await;
    let p = key.proof(&ts, "POST", &ts.url("/token"), Some(&nonce), None);
    let first = post_token(&ts, ("spa", None), &form, &[&p]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let rt2 = first.body["refresh_token"].as_str().unwrap().to_string();
    let again = post_token(
        &ts,
        ("spa", None),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        &[&p],
    )
    .await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let events = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("dpop.proof_refused"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "audited");
    assert!(
        events[0].detail.contains("jti_replayed"),
        "{}",
        events[0].detail
    );
    assert!(!events[0].detail.contains(&p[..20]), "never the proof");
    // Once a proof is too old to be accepted anyway, the register forgets it.
    use sea_orm::{ConnectionTrait, Statement};
    let count = |ts: &TestServer| {
        let db = ts.state.db.clone();
        async move {
            let b = db.get_database_backend();
            db.query_one(Statement::from_string(
                b,
                "SELECT COUNT(*) AS n FROM dpop_proofs".to_string(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };
    assert!(count(&ts).await >= 1);
    ts.clock.advance_secs(61);
    ts.sweep().await;
    assert_eq!(count(&ts).await, 0, "swept");
}

#[tokio::test]
async fn missing_or_stale_nonce_is_answered_with_the_nonce_to_use() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let old = fetch_nonce(&ts, &key).await;
    // Two nonce windows later the nonce is stale.
    ts.clock.advance_secs(600);
    let (code, verifier) = code_for(&ts, "spa", SPA_REDIRECT, &[]).await;
    let form = code_form(&code, &verifier, SPA_REDIRECT);
    let p = key.proof(&ts, "POST", &ts.url("/token"), Some(&old), None);
    let a = post_token(&ts, ("spa", None), &form, &[&p]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let fresh = a.nonce.expect("DPoP-Nonce");
    assert_ne!(fresh, old);
    let p = key.proof(&ts, "POST", &ts.url("/token"), Some(&fresh), None);
    let a = post_token(&ts, ("spa", None), &form, &[&p]).await;
    assert_eq!(
        a.status, 200,
        "the code was not used up by the nonce round: {}",
        a.body
    );
    assert_eq!(a.body["token_type"], "DPoP");
}

#[tokio::test]
async fn wrong_htu_htm_or_iat_is_an_invalid_proof() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let (code, verifier) = code_for(&ts, "spa", SPA_REDIRECT, &[]).await;
    let form = code_form(&code, &verifier, SPA_REDIRECT);
    let nonce = fetch_nonce(&ts, &key).await;
    let now = ts.clock.now_secs();
    let base = |htm: &str, htu: String, iat: i64| {
        key.proof_with(json!({
            "jti": lanyard_idp::crypto::random_id(), "htm": htm, "htu": htu,
            "iat": iat, "nonce": nonce,
        }))
    };
    for (why, p) in [
        (
            "htu of another endpoint",
            base("POST", ts.url("/userinfo"), now),
        ),
        (
            "htu of another server",
            base("POST", "https://evil.example/t/acme/token".into(), now),
        ),
        ("htm GET", base("GET", ts.url("/token"), now)),
        (
            "iat two minutes ago",
            base("POST", ts.url("/token"), now - 120),
        ),
        (
            "iat a minute ahead",
            base("POST", ts.url("/token"), now + 60),
        ),
    ] {
        let a = post_token(&ts, ("spa", None), &form, &[&p]).await;
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{why}"
        );
    }
    // Two DPoP headers (§4.3 point 1).
    let p = base("POST", ts.url("/token"), now);
    let q = base("POST", ts.url("/token"), now);
    let a = post_token(&ts, ("spa", None), &form, &[&p, &q]).await;
    assert_eq!(a.body["error"], "invalid_dpop_proof", "two headers");
    // htu with a query still names the endpoint; the code is still good.
    let p = base("POST", format!("{}?x=1", ts.url("/token")), now);
    let a = post_token(&ts, ("spa", None), &form, &[&p]).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn dpop_token_is_refused_as_bearer_and_needs_its_proof() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let t = spa_tokens(&ts, &key).await;
    let at = t["access_token"].as_str().unwrap().to_string();
    // §7.1: never as a bearer token.
    let a = userinfo(&ts, &format!("Bearer {at}"), None).await;
    assert_eq!(a.status, 401);
    let c = a.www_authenticate.unwrap_or_default();
    assert!(c.starts_with("DPoP error=\"invalid_token\""), "{c}");
    assert!(c.contains("algs=\"ES256"), "{c}");
    // The DPoP scheme without a proof, with a proof of another key, with a wrong ath.
    let a = userinfo(&ts, &format!("DPoP {at}"), None).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    let other = DpopKey::new();
    let u = dpop_userinfo(&ts, &other, &at).await;
    assert_eq!(
        (u.status, u.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let nonce = dpop_userinfo(&ts, &key, &at).await.nonce.unwrap();
    let p = key.proof(
        &ts,
        "GET",
        &ts.url("/userinfo"),
        Some(&nonce),
        Some("another-token"),
    );
    let a = userinfo(&ts, &format!("DPoP {at}"), Some(&p)).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    // A bearer token under the DPoP scheme is not a DPoP token.
    let bearer = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let bt = bearer["access_token"].as_str().unwrap();
    assert_eq!(bearer["token_type"], "Bearer");
    let p = key.proof(&ts, "GET", &ts.url("/userinfo"), Some(&nonce), Some(bt));
    let a = userinfo(&ts, &format!("DPoP {bt}"), Some(&p)).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(
        userinfo(&ts, &format!("Bearer {bt}"), None).await.status,
        200
    );
    // Without any token both schemes are offered.
    let r = reqwest::get(ts.url("/userinfo")).await.unwrap();
    let challenges: Vec<_> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("DPoP algs=")),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn confidential_client_refresh_is_not_bound() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let (code, verifier) = code_for(&ts, "web", REDIRECT, &[]).await;
    let a = dpop_token(
        &ts,
        &key,
        ("web", Some(SECRET)),
        &code_form(&code, &verifier, REDIRECT),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP", "the access token is bound");
    let rt = a.body["refresh_token"].as_str().unwrap().to_string();
    assert!(
        introspect(&ts, &rt).await.get("cnf").is_none(),
        "the refresh token is not"
    );
    // Refreshed without a proof: a bearer token.
    let r = post_token(
        &ts,
        ("web", Some(SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(jwt_claims(r.body["access_token"].as_str().unwrap())
        .get("cnf")
        .is_none());
    // Refreshed with another key: bound to that one.
    let rt2 = r.body["refresh_token"].as_str().unwrap().to_string();
    let other = DpopKey::new();
    let r = dpop_token(
        &ts,
        &other,
        ("web", Some(SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        jwt_claims(r.body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        other.jkt()
    );
}

#[tokio::test]
async fn dpop_bound_access_tokens_client_refuses_requests_without_proof() {
    let ts = TestServer::start().await;
    ts.client(NewClient {
        client_id: "bound-spa".into(),
        public: true,
        redirect_uris: vec![SPA_REDIRECT.into()],
        dpop_bound_access_tokens: true,
        ..Default::default()
    })
    .await;
    let (code, verifier) = code_for(&ts, "bound-spa", SPA_REDIRECT, &[]).await;
    let form = code_form(&code, &verifier, SPA_REDIRECT);
    let a = post_token(&ts, ("bound-spa", None), &form, &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let key = DpopKey::new();
    let a = dpop_token(&ts, &key, ("bound-spa", None), &form).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_to_the_key() {
    let ts = TestServer::start().await;
    let key = DpopKey::new();
    let jkt = key.jkt();
    let (code, verifier) = code_for(&ts, "spa", SPA_REDIRECT, &[("dpop_jkt", &jkt)]).await;
    let form = code_form(&code, &verifier, SPA_REDIRECT);
    let a = post_token(&ts, ("spa", None), &form, &[]).await;
    assert_eq!(a.body["error"], "invalid_dpop_proof", "no proof");
    let a = dpop_token(&ts, &DpopKey::new(), ("spa", None), &form).await;
    assert_eq!(a.body["error"], "invalid_grant", "another key");
    let a = dpop_token(&ts, &key, ("spa", None), &form).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        jwt_claims(a.body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt
    );
    // A dpop_jkt that is no thumbprint is refused at the authorization endpoint.
    let (url, ..) = auth_url(&ts, "spa", SPA_REDIRECT, "openid", &[("dpop_jkt", "nope")]);
    let landing = Browser::new().get(&ts.base, &url).await;
    assert_eq!(landing.param("error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn the_replay_register_is_per_tenant() {
    let ts = TestServer::start().await;
    let db = &ts.state.db;
    use lanyard_idp::store::dpop::insert_seen;
    let until = ts.clock.now_secs() + 60;
    assert!(insert_seen(db, &ts.tenant.id, "h", until).await.unwrap());
    assert!(
        !insert_seen(db, &ts.tenant.id, "h", until).await.unwrap(),
        "seen twice in one tenant: a replay"
    );
    assert!(
        insert_seen(db, "another-tenant", "h", until).await.unwrap(),
        "another tenant's register is its own"
    );
}
