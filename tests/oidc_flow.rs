//! The happy paths as a certified client library sees them (the `openidconnect` crate).

use crate::harness::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn discovery_parses_as_core_provider_metadata() {
    let ts = TestServer::start().await;
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(ts.issuer.clone()).unwrap(), &http())
            .await
            .expect("discovery");
    assert_eq!(meta.issuer().as_str(), ts.issuer);
    assert!(
        meta.jwks().keys().len() >= 3,
        "RS256, ES256 and EdDSA keys published"
    );
    let raw: serde_json::Value = reqwest::get(ts.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        raw["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(raw["backchannel_logout_session_supported"], true);
    assert_eq!(raw["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn code_flow_with_pkce_validates_in_openidconnect() {
    let ts = TestServer::start().await;
    let http = http();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(ts.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("web".into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let landing = browser
        .authorize(&ts, url.as_str(), "alice", PASSWORD)
        .await;
    assert_eq!(
        landing.param("state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        landing.param("iss").as_deref(),
        Some(ts.issuer.as_str()),
        "RFC 9207 iss"
    );
    let code = landing.param("code").expect("code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("id token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("valid ID token");
    assert_eq!(claims.subject().as_str(), ts.alice_id);
    assert!(claims.auth_time().is_some());
    assert!(claims.access_token_hash().is_some(), "at_hash");
    let raw = id_token.to_string();
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            raw.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    for k in ["sid", "acr", "amr", "auth_time", "nonce", "at_hash"] {
        assert!(payload.get(k).is_some(), "ID token lacks {k}");
    }
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            raw.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["alg"], "RS256",
        "OIDC default alg when none registered"
    );
    assert!(tokens.refresh_token().is_some());

    // The access token is an RFC 9068 JWT.
    let at = tokens.access_token().secret();
    let at_header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            at.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(at_header["typ"], "at+jwt");
    assert_eq!(at_header["alg"], "ES256");

    // UserInfo (GET, bearer) through the client library.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), ts.alice_id);
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@acme.test"));
    ts.assert_invariants().await;
}

#[tokio::test]
async fn userinfo_accepts_post_with_header_or_body() {
    let ts = TestServer::start().await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid profile").await;
    let at = tok["access_token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(ts.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .post(ts.url("/userinfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["preferred_username"], "alice");
    assert!(v.get("email").is_none(), "email scope not granted");
}

#[tokio::test]
async fn sso_prompt_none_and_prompt_login() {
    let ts = TestServer::start().await;
    let browser = Browser::new();
    let first = login_and_redeem(&ts, &browser, "openid").await;
    assert!(first["id_token"].is_string());
    // prompt=none with a session: a code without UI.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    let landing = browser.get(&ts.base, &url).await;
    assert!(landing.param("code").is_some(), "SSO code");
    // prompt=none without a session: login_required to the redirect URI.
    let (url, state, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    let landing = Browser::new().get(&ts.base, &url).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    // prompt=login shows the login page again even with a session.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "login")]);
    let (status, body) = browser.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    assert!(body.contains("name=\"password\""));
}

#[tokio::test]
async fn max_age_elapsed_requires_login_again() {
    let ts = TestServer::start().await;
    let browser = Browser::new();
    login_and_redeem(&ts, &browser, "openid").await;
    ts.clock.advance_secs(5);
    let (url, _, _, _) = auth_url(
        &ts,
        "web",
        REDIRECT,
        "openid",
        &[("max_age", "1"), ("prompt", "none")],
    );
    assert_eq!(
        browser.get(&ts.base, &url).await.param("error").as_deref(),
        Some("login_required")
    );
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("max_age", "10000")]);
    assert!(browser.get(&ts.base, &url).await.param("code").is_some());
}

#[tokio::test]
async fn third_party_client_gets_consent_page() {
    let ts = TestServer::start().await;
    let secret = ts
        .client(lanyard_idp::manage::NewClient {
            client_id: "third".into(),
            redirect_uris: vec!["https://third.example/cb".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let browser = Browser::new();
    let (url, state, _, verifier) = auth_url(
        &ts,
        "third",
        "https://third.example/cb",
        "openid email",
        &[],
    );
    let (status, body) = browser.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 200);
    assert!(body.contains("Allow access"));
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();
    let landing = browser
        .post_form(
            &ts.base,
            &ts.url("/consent"),
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let code = landing.param("code").unwrap();
    let (s, _) = token_request(
        &ts,
        "third",
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://third.example/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn client_credentials_and_post_auth() {
    let ts = TestServer::start().await;
    let (s, v) = token_request(&ts, "web", SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, 200);
    assert!(v.get("refresh_token").is_none());
    assert_eq!(
        introspect(&ts, v["access_token"].as_str().unwrap()).await["active"],
        true
    );
    // client_secret_post works as well.
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "web"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn public_client_code_flow_with_pkce() {
    let ts = TestServer::start().await;
    let browser = Browser::new();
    let (url, _, _, verifier) = auth_url(&ts, "spa", "https://spa.example/cb", "openid", &[]);
    let landing = browser.authorize(&ts, &url, "alice", PASSWORD).await;
    // Third-party public client: consent first.
    let (_, body) = landing.page();
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();
    let code = browser
        .post_form(
            &ts.base,
            &ts.url("/consent"),
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await
        .param("code")
        .unwrap();
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", "https://spa.example/cb"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn key_rotation_publishes_before_use_and_keeps_old_keys() {
    let ts = TestServer::start().await;
    let before: serde_json::Value = reqwest::get(ts.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = ts.clock.now_secs();
    let rotated = lanyard_idp::manage::rotate_keys(&ts.state.db, &ts.tenant, 600, now)
        .await
        .unwrap();
    ts.state.keys.invalidate(&ts.tenant.id);
    let after: serde_json::Value = reqwest::get(ts.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        before["keys"].as_array().unwrap().len() * 2,
        "new keys published next to the old"
    );
    // Still signed by the old key until activation.
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let kid_of = |t: &str| -> String {
        let h: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                t.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    let new_rs = rotated
        .iter()
        .find(|r| r.alg == "RS256")
        .unwrap()
        .kid
        .clone();
    assert_ne!(kid_of(tok["id_token"].as_str().unwrap()), new_rs);
    ts.clock.advance_secs(601);
    ts.state.keys.invalidate(&ts.tenant.id);
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    assert_eq!(kid_of(tok["id_token"].as_str().unwrap()), new_rs);
}

#[tokio::test]
async fn built_in_demo_relying_party_signs_in_and_out() {
    let ts = TestServer::start().await;
    ts.client(lanyard_idp::manage::NewClient {
        client_id: "demo-spa".into(),
        public: true,
        redirect_uris: vec![ts.url("/demo/callback")],
        post_logout_redirect_uris: vec![ts.url("/demo/logged-out")],
        first_party: true,
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let (_, home) = b.get(&ts.base, &ts.url("/demo")).await.page();
    let login = home
        .split("href=\"")
        .find(|s| s.contains("authorize?"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    let (status, body) = b.authorize(&ts, &login, "alice", PASSWORD).await.page();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Signed in"), "{body}");
    assert!(body.contains(&ts.alice_id), "decoded ID token shows sub");
    let logout = body
        .split("href=\"")
        .find(|s| s.contains("end_session"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    let (s, page) = b.get(&ts.base, &logout).await.page();
    assert_eq!(s, 200);
    assert!(page.contains("logged out"));
}

/// RFC 6749 §4.1.2: a code is redeemed at most once, and a code presented again revokes what it
/// issued — also when the presentations arrive together and commit in one group
/// (`store::group_commit`). Meanwhile, codes issued concurrently in one session by SSO each
/// redeem once.
#[tokio::test]
async fn a_code_presented_concurrently_is_redeemed_once_and_then_revoked() {
    let ts = TestServer::start().await;
    let browser = Browser::new();
    let (url, _state, _nonce, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let code = browser
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tries =
        futures::future::join_all((0..8).map(|_| token_request(&ts, "web", SECRET, &form))).await;
    let won: Vec<&serde_json::Value> = tries
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(won.len(), 1, "{tries:?}");
    for (status, body) in tries.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400);
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    // The replays revoked the winner's tokens.
    let at = won[0]["access_token"].as_str().expect("access_token");
    assert_eq!(introspect(&ts, at).await["active"], false);
    let rt = won[0]["refresh_token"].as_str().expect("refresh_token");
    let (status, body) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // SSO: eight authorizations at once in alice's session, each code redeemed once.
    let browser = Browser::new();
    let first = login_and_redeem(&ts, &browser, "openid").await;
    assert!(first["access_token"].is_string());
    let flows = futures::future::join_all((0..8).map(|_| async {
        let (url, state, _nonce, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
        let landing = browser.get(&ts.base, &url).await;
        assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
        let code = landing.param("code").expect("an SSO code");
        token_request(
            &ts,
            "web",
            SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await
    }))
    .await;
    let mut sids = std::collections::BTreeSet::new();
    for (status, body) in &flows {
        assert_eq!(*status, 200, "{body}");
        let at = body["access_token"].as_str().expect("access_token");
        let info = introspect(&ts, at).await;
        assert_eq!(info["active"], true, "{info}");
        sids.insert(info["sid"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(sids.len(), 1, "all in the one SSO session: {sids:?}");
    ts.assert_invariants().await;
}
