//! Regressions for the security findings (one test per finding, each failing before its fix):
//! loopback redirect ports (RFC 8252 §7.3), other clients' refresh tokens at introspection
//! (RFC 7662 §4), a logout token as `id_token_hint`, and client assertions with future `nbf` /
//! `iat` or duplicate members (RFC 7523 §3, RFC 7515 §5.2).

use crate::harness::*;
use lanyard_idp::manage::NewClient;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn a_native_apps_loopback_redirect_may_use_any_port_and_nothing_else_changes() {
    let ts = TestServer::start().await;
    ts.client(NewClient {
        client_id: "cli-app".into(),
        public: true,
        auth_method: Some("none".into()),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec!["authorization_code".into()],
        first_party: true,
        ..Default::default()
    })
    .await;
    let redirect = "http://127.0.0.1:53682/callback";
    let (url, state, _, verifier) = auth_url(&ts, "cli-app", redirect, "openid", &[]);
    let landing = Browser::new().authorize(&ts, &url, "alice", PASSWORD).await;
    let to = landing.redirect();
    assert_eq!(
        (to.host_str(), to.port(), to.path()),
        (Some("127.0.0.1"), Some(53682), "/callback")
    );
    assert_eq!(
        to.query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.to_string()),
        Some(state)
    );
    let code = to
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap();
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "cli-app"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Another path on the same loopback address is still refused, before any redirect.
    let (url, _, _, _) = auth_url(
        &ts,
        "cli-app",
        "http://127.0.0.1:53682/other",
        "openid",
        &[],
    );
    let (status, body) = Browser::new().get(&ts.base, &url).await.page();
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn introspection_does_not_tell_one_client_about_anothers_refresh_token() {
    let ts = TestServer::start().await;
    ts.client(NewClient {
        client_id: "resource".into(),
        secret: Some("resource-secret-0123456789abcdef".into()),
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let rt = tok["refresh_token"].as_str().unwrap();
    let ask = |who: &'static str, secret: &'static str, token: String| {
        let url = ts.url("/introspect");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(who, Some(secret))
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", "refresh_token"),
                ])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(ask("web", SECRET, rt.to_string()).await["active"], true);
    let other = ask(
        "resource",
        "resource-secret-0123456789abcdef",
        rt.to_string(),
    )
    .await;
    assert_eq!(
        other,
        serde_json::json!({"active": false}),
        "nothing about it"
    );
    // A resource server may still introspect the access tokens presented to it.
    let at = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        ask("resource", "resource-secret-0123456789abcdef", at).await["active"],
        true
    );
}

#[tokio::test]
async fn a_logout_token_is_not_an_id_token_hint() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    lanyard_idp::manage::revoke_user_sessions(&ts.state, &ts.tenant, "alice", "test")
        .await
        .unwrap();
    let logout_token = rp.wait_for(1, &ts).await.remove(0);
    // Signed by us, our issuer, the client's audience: still not an ID token.
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", &logout_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    let (status, body) = b.get(&ts.base, u.as_str()).await.page();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a valid ID token"), "{body}");
    // The real ID token still works as a hint.
    let _ = tok;
    ts.drain_outbox(10).await;
}

#[tokio::test]
async fn client_assertions_from_the_future_or_with_duplicate_members_are_refused() {
    let ts = TestServer::start().await;
    let kp = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut public = kp.to_jwk_public_key();
    public.set_key_id("k1");
    let jwks = serde_json::json!({
        "keys": [serde_json::from_str::<serde_json::Value>(&public.to_string()).unwrap()]
    })
    .to_string();
    ts.client(NewClient {
        client_id: "pkj".into(),
        auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks),
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    })
    .await;
    let signer = josekit::jws::ES256
        .signer_from_jwk(&kp.to_jwk_private_key())
        .unwrap();
    // Signed by hand so the JSON text (duplicates included) is exactly what is written here.
    let sign_raw = |payload: String| {
        let input = format!("{}.{}", b64(r#"{"alg":"ES256","kid":"k1"}"#), b64(&payload));
        use josekit::jws::JwsSigner;
        let sig = signer.sign(input.as_bytes()).unwrap();
        use base64::Engine;
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        )
    };
    let now = ts.clock.now_secs();
    let aud = ts.url("/token");
    let claims = |extra: &str| {
        format!(
            r#"{{"iss":"pkj","sub":"pkj","aud":"{aud}","exp":{},"jti":"{}"{extra}}}"#,
            now + 60,
            lanyard_idp::crypto::random_id()
        )
    };
    let post = |assertion: String| {
        let url = ts.url("/token");
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(sign_raw(claims(""))).await,
        200,
        "a well-formed assertion"
    );
    assert_eq!(
        post(sign_raw(claims(&format!(r#","iat":{}"#, now - 5)))).await,
        200
    );
    assert_eq!(
        post(sign_raw(claims(&format!(r#","nbf":{}"#, now + 600)))).await,
        401,
        "not yet valid"
    );
    assert_eq!(
        post(sign_raw(claims(&format!(
            r#","iat":{}"#,
            now + 10 * 365 * 86400
        ))))
        .await,
        401,
        "issued in the future"
    );
    assert_eq!(
        post(sign_raw(claims(r#","sub":"someone-else""#))).await,
        401,
        "a duplicate member (the last would win in a lenient parser)"
    );
    assert_eq!(
        post(sign_raw(format!(
            r#"{{"iss":"pkj","sub":"pkj","aud":"{aud}","exp":{},"jti":"x"}}"#,
            now + 30 * 86400
        )))
        .await,
        401,
        "exp unreasonably far in the future"
    );
}

#[tokio::test]
async fn credentials_in_the_token_endpoints_url_are_refused() {
    let ts = TestServer::start().await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let rt = tok["refresh_token"].as_str().unwrap();
    for (endpoint, query) in [
        ("/token", format!("refresh_token={rt}")),
        ("/token", "code=abc".to_string()),
        ("/introspect", format!("token={rt}")),
        ("/revoke", "client_secret=x".to_string()),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}?{query}", ts.url(endpoint)))
            .basic_auth("web", Some(SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("token", rt),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{endpoint}?{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // The refresh token was never used by those refused requests.
    let (s, body) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn pages_carry_coop_and_object_src_and_hsts_only_on_https() {
    let ts = TestServer::start().await;
    let r = reqwest::get(ts.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("object-src 'none'"));
    assert!(
        h.get("strict-transport-security").is_none(),
        "the test server's public URL is http"
    );
}

#[tokio::test]
async fn revoking_a_users_sessions_leaves_one_user_level_record() {
    let ts = TestServer::start().await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let n = lanyard_idp::manage::revoke_user_sessions(&ts.state, &ts.tenant, "alice", "admin:hr")
        .await
        .unwrap();
    assert_eq!(n, 2);
    let e = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("user.sessions_revoked"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].actor, "admin:hr");
    assert_eq!(e[0].user_id.as_deref(), Some(ts.alice_id.as_str()));
    assert!(
        e[0].detail.contains("\"sessions_ended\":2"),
        "{}",
        e[0].detail
    );
}
