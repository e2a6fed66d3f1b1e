//! Every bad input gets the protocol's error code and status; never a 500, never a redirect to an
//! unvalidated URI.

use crate::harness::*;

async fn raw_token(
    ts: &TestServer,
    body: &'static [u8],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut r = reqwest::Client::new()
        .post(ts.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((u, p)) = basic {
        r = r.basic_auth(u, Some(p));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or_default(), www)
}

#[tokio::test]
async fn token_endpoint_client_errors() {
    let ts = TestServer::start().await;
    let (s, e, www) = raw_token(
        &ts,
        b"grant_type=client_credentials",
        Some(("web", "wrong-secret-000000")),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        www.unwrap().starts_with("Basic"),
        "WWW-Authenticate on 401 with Basic"
    );
    let (s, e, _) = raw_token(
        &ts,
        b"grant_type=client_credentials",
        Some(("nobody", "whatever-secret-0000")),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, e, _) = raw_token(
        &ts,
        b"grant_type=client_credentials&client_id=web&client_secret=bad",
        None,
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, e, _) = raw_token(&ts, b"grant_type=client_credentials", None).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn token_endpoint_request_errors() {
    let ts = TestServer::start().await;
    let basic = Some(("web", SECRET));
    for (body, code) in [
        (
            &b"grant_type=client_credentials&grant_type=client_credentials"[..],
            "invalid_request",
        ),
        (
            &b"grant_type=password&username=a&password=b"[..],
            "unsupported_grant_type",
        ),
        (&b"scope=openid"[..], "invalid_request"),
        (
            &b"grant_type=authorization_code&code=nope&redirect_uri=https%3A%2F%2Frp.example%2Fcb"
                [..],
            "invalid_grant",
        ),
        (
            &b"grant_type=refresh_token&refresh_token=nope"[..],
            "invalid_grant",
        ),
        (&b"grant_type=refresh_token"[..], "invalid_request"),
        (
            &b"grant_type=client_credentials&x=%FF%FE"[..],
            "invalid_request",
        ),
        (
            &b"grant_type=client_credentials&x=%Z1"[..],
            "invalid_request",
        ),
    ] {
        let (s, e, _) = raw_token(&ts, body, basic).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some(code)),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(
            !e["error_description"]
                .as_str()
                .unwrap_or("")
                .contains("nope"),
            "never echoes input"
        );
    }
    // Oversized body.
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(70 * 1024)
    );
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .basic_auth("web", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Wrong content type.
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .basic_auth("web", Some(SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Public client cannot use client_credentials.
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "unauthorized_client");
}

#[tokio::test]
async fn code_rules() {
    let ts = TestServer::start().await;
    let browser = Browser::new();
    let (url, _, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let code = browser
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .unwrap();
    // Foreign client.
    let (s, e) = token_request(
        &ts,
        "other",
        "other-secret-0123456789",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // Wrong verifier and missing redirect_uri.
    let (s, e) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x".repeat(43).as_str()),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 400);
    // Still redeemable after those failures; then a replay revokes what it issued.
    let (s, tok) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(introspect(&ts, at).await["active"], true);
    let (s, e) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        introspect(&ts, at).await["active"],
        false,
        "replayed code revokes its access token"
    );
    let (s, _) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 400, "and its refresh token");
}

#[tokio::test]
async fn code_expires_after_60_seconds() {
    let ts = TestServer::start().await;
    let (url, _, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let code = Browser::new()
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .unwrap();
    ts.clock.advance_secs(61);
    let (s, e) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn authorize_errors_are_rendered_or_redirected_correctly() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    // Unregistered redirect URI (suffix appended): rendered, never redirected.
    let (url, _, _, _) = auth_url(&ts, "web", "https://rp.example/cb/extra", "openid", &[]);
    let (s, body) = b.get(&ts.base, &url).await.page();
    assert_eq!(s, 400);
    assert!(body.contains("not registered"));
    // Unknown client: rendered.
    let (url, _, _, _) = auth_url(&ts, "ghost", REDIRECT, "openid", &[]);
    assert_eq!(b.get(&ts.base, &url).await.page().0, 400);
    // Duplicate redirect_uri: rendered.
    let (url, _, _, _) = auth_url(
        &ts,
        "web",
        REDIRECT,
        "openid",
        &[("redirect_uri", REDIRECT)],
    );
    assert_eq!(b.get(&ts.base, &url).await.page().0, 400);
    // Valid client + redirect: errors go back with state and iss.
    for (extra, code) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("scope", "openid")], "invalid_request"), // duplicate
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("request", "eyJ.x.y")], "request_not_supported"),
        (
            vec![("request_uri", "https://x")],
            "request_uri_not_supported",
        ),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("id_token_hint", "not-a-jwt")], "invalid_request"),
    ] {
        let (url, state, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &extra);
        let l = b.get(&ts.base, &url).await;
        assert_eq!(l.param("error").as_deref(), Some(code), "{extra:?}");
        assert_eq!(l.param("state").as_deref(), Some(state.as_str()));
        assert_eq!(l.param("iss").as_deref(), Some(ts.issuer.as_str()));
    }
    // Missing response_type and unknown response_type.
    let u = format!(
        "{}?client_id=web&redirect_uri={}&scope=openid",
        ts.url("/authorize"),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    assert_eq!(
        b.get(&ts.base, &u).await.param("error").as_deref(),
        Some("invalid_request")
    );
    let u2 = format!("{u}&response_type=token");
    assert_eq!(
        b.get(&ts.base, &u2).await.param("error").as_deref(),
        Some("unsupported_response_type")
    );
    // Public client without PKCE.
    let u3 = format!("{}?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=openid", ts.url("/authorize"));
    assert_eq!(
        b.get(&ts.base, &u3).await.param("error").as_deref(),
        Some("invalid_request")
    );
    // Unknown parameters are ignored (RFC 6749 §3.1).
    let (url, _, _, _) = auth_url(
        &ts,
        "web",
        REDIRECT,
        "openid",
        &[
            ("extra", "foobar"),
            ("display", "popup"),
            ("ui_locales", "de"),
            ("claims_locales", "de"),
            ("acr_values", "1"),
            ("login_hint", "alice"),
        ],
    );
    assert!(b
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .is_some());
}

#[tokio::test]
async fn authorization_request_by_post() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let query = url.split_once('?').unwrap().1.to_string();
    let r = b
        .http
        .post(ts.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    let landing = b.follow(&ts.base, r).await;
    assert!(
        matches!(landing, Landing::Page { status: 200, .. }),
        "login page"
    );
}

#[tokio::test]
async fn login_failures_are_generic_and_throttled() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (s1, wrong_pw) = b
        .authorize(&ts, &url, "alice", "wrong password")
        .await
        .page();
    let (s2, no_user) = b
        .authorize(&ts, &url, "mallory", "wrong password")
        .await
        .page();
    assert_eq!((s1, s2), (401, 401));
    assert!(wrong_pw.contains("Invalid username or password."));
    assert!(
        no_user.contains("Invalid username or password."),
        "same message for unknown users"
    );
    for _ in 0..4 {
        b.authorize(&ts, &url, "alice", "wrong password").await;
    }
    let (_, locked) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert!(
        locked.contains("Too many failed attempts"),
        "locked even with the right password"
    );
    ts.clock.advance_secs(901);
    assert!(b
        .authorize(&ts, &url, "alice", PASSWORD)
        .await
        .param("code")
        .is_some());
}

#[tokio::test]
async fn login_form_requires_csrf() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (_, body) = b.get(&ts.base, &url).await.page();
    let req = field(&body, "req").unwrap();
    let (s, _) = b
        .post_form(
            &ts.base,
            &ts.url("/login"),
            &[
                ("csrf", "forged-forged-forged-forged-forged"),
                ("req", &req),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await
        .page();
    assert_eq!(s, 403);
    // A fresh browser (no CSRF cookie) with a copied token fails too.
    let csrf = field(&body, "csrf").unwrap();
    let (s, _) = Browser::new()
        .post_form(
            &ts.base,
            &ts.url("/login"),
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await
        .page();
    assert_eq!(s, 403);
}

#[tokio::test]
async fn private_key_jwt_client_auth() {
    let ts = TestServer::start().await;
    let kp = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut public = kp.to_jwk_public_key();
    public.set_key_id("k1");
    let jwks = serde_json::json!({ "keys": [serde_json::from_str::<serde_json::Value>(&public.to_string()).unwrap()] }).to_string();
    ts.client(lanyard_idp::manage::NewClient {
        client_id: "pkj".into(),
        auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks),
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    })
    .await;
    let sign = |aud: &str, exp_offset: i64| {
        let mut h = josekit::jws::JwsHeader::new();
        h.set_key_id("k1");
        let mut p = josekit::jwt::JwtPayload::new();
        p.set_issuer("pkj");
        p.set_subject("pkj");
        p.set_audience(vec![aud]);
        p.set_jwt_id(lanyard_idp::crypto::random_id());
        p.set_expires_at(
            &(std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs((ts.clock.now_secs() + exp_offset) as u64)),
        );
        let signer = josekit::jws::ES256
            .signer_from_jwk(&kp.to_jwk_private_key())
            .unwrap();
        josekit::jwt::encode_with_signer(&p, &h, &signer).unwrap()
    };
    let post = |assertion: String| {
        let url = ts.url("/token");
        async move {
            let r = reqwest::Client::new()
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
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(post(sign(&ts.url("/token"), 60)).await.0, 200);
    assert_eq!(post(sign(&ts.issuer, 60)).await.0, 200);
    let (s, e) = post(sign("https://elsewhere", 60)).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(
        post(sign(&ts.url("/token"), -10)).await.0,
        401,
        "expired assertion"
    );
    let (s, e) = post("not.a.jwt".into()).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, _) = post("garbage".into()).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn userinfo_rejects_bad_tokens_with_bearer_challenge() {
    let ts = TestServer::start().await;
    let r = reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let r = reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A client_credentials token has no openid scope and no user.
    let (_, cc) = token_request(&ts, "web", SECRET, &[("grant_type", "client_credentials")]).await;
    let r = reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn unknown_tenant_is_404_everywhere() {
    let ts = TestServer::start().await;
    for p in [
        "/t/nope/.well-known/openid-configuration",
        "/t/nope/jwks",
        "/t/nope/authorize",
    ] {
        let r = reqwest::get(format!("{}{p}", ts.base)).await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/t/nope/token", ts.base))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
