//! The admin JSON API: authentication, tenant scoping, revocation and delivery visibility.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;

#[tokio::test]
async fn admin_api_requires_a_valid_token_scoped_to_the_tenant() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tenants/acme/sessions", ts.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("lya_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        PolicyLayer::default(),
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let other = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let scoped = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&other),
        "o",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&scoped)
            .send()
            .await
            .unwrap()
            .status(),
        // The same answer as for an unknown tenant: a token cannot probe which tenants exist.
        404
    );
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        "a",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let spec: serde_json::Value = http
        .get(format!("{}/api/v1/openapi.json", ts.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .any(|p| p.contains("revoke-sessions")));
}

#[tokio::test]
async fn admin_revokes_a_user_and_sees_the_timeline_and_deliveries() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let token = manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        None,
        "ops",
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!(
            "{}/api/v1/tenants/acme/users/alice/revoke-sessions",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["sessions_ended"], 1);
    rp.wait_for(1, &ts).await;
    ts.drain_outbox(10).await;
    let sessions: serde_json::Value = http
        .get(format!(
            "{}/api/v1/tenants/acme/sessions?user=alice",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = sessions[0]["sid"].as_str().unwrap();
    assert_eq!(sessions[0]["end_reason"], "admin_revoked");
    let events: serde_json::Value = http
        .get(format!(
            "{}/api/v1/tenants/acme/sessions/{sid}/events",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"session.created")
            && kinds.contains(&"token.issued")
            && kinds.contains(&"session.ended"),
        "{kinds:?}"
    );
    let deliveries: serde_json::Value = http
        .get(format!("{}/api/v1/tenants/acme/deliveries", ts.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries[0]["state"], "delivered");
    assert!(deliveries[0]["latency_ms"].as_i64().is_some());
    // Unknown user: 404, not 500.
    let r = http
        .post(format!(
            "{}/api/v1/tenants/acme/users/ghost/revoke-sessions",
            ts.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A caller of the admin API with one token.
struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    async fn all_tenants(ts: &TestServer) -> Self {
        let token = manage::create_admin_token(
            &ts.state.db,
            &ts.state.hasher,
            None,
            "root",
            "test",
            ts.clock.now_secs(),
        )
        .await
        .unwrap();
        Self::with(ts, token)
    }

    fn with(ts: &TestServer, token: String) -> Self {
        Self {
            base: format!("{}/api/v1", ts.base),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: not JSON ({status}): {text}"));
        (status, json)
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

async fn userinfo_status(ts: &TestServer, access_token: &str) -> u16 {
    reqwest::Client::new()
        .get(ts.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn introspect_as_other(ts: &TestServer, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(ts.url("/introspect"))
        .basic_auth("other", Some("other-secret-0123456789"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_api_errors_are_json_and_other_tenants_look_unknown() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    // No token at all: poem-openapi's own 401, with the API's JSON body.
    let r = http
        .get(format!("{}/api/v1/tenants/acme/users", ts.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("Bearer"));
    // A wrong token: the same.
    let wrong = Admin::with(&ts, "lya_wrong".into());
    let (status, body) = wrong.get("/tenants/acme/users").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let admin = Admin::all_tenants(&ts).await;
    // A parameter that does not parse: 400 in JSON.
    let (status, body) = admin.get("/tenants/acme/sessions?active=maybe").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // An unknown path under the API: 404 in JSON.
    let (status, body) = admin.get("/no-such-thing").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    // A token of tenant "other" asking about "acme" gets what an unknown tenant gets.
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        PolicyLayer::default(),
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let other = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let scoped = Admin::with(
        &ts,
        manage::create_admin_token(
            &ts.state.db,
            &ts.state.hasher,
            Some(&other),
            "o",
            "test",
            ts.clock.now_secs(),
        )
        .await
        .unwrap(),
    );
    let (s1, foreign) = scoped.get("/tenants/acme/users").await;
    let (s2, unknown) = scoped.get("/tenants/nope/users").await;
    assert_eq!((s1, s2), (404, 404));
    // The same bytes: the slug asked for is not echoed (ADR 0016).
    assert_eq!(foreign, unknown);
    assert_eq!(foreign["message"], "no such tenant for this admin token");
    assert_eq!(scoped.get("/tenants/other/users").await.0, 200);
}

#[tokio::test]
async fn admin_api_manages_users_and_deleting_one_ends_their_sessions() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let admin = Admin::all_tenants(&ts).await;
    let (status, carol) = admin
        .post(
            "/tenants/acme/users",
            serde_json::json!({"username": "carol", "email": "carol@acme.test", "name": "Carol", "groups": ["ops"], "password": "carols password"}),
        )
        .await;
    assert_eq!(status, 200, "{carol}");
    assert_eq!(carol["name"], "Carol");
    assert_eq!(carol["status"], "active");
    assert!(carol.get("password_hash").is_none());
    // Duplicate: 409; too short a password: 400, with the reason.
    let (status, dup) = admin
        .post(
            "/tenants/acme/users",
            serde_json::json!({"username": "carol", "password": "carols password"}),
        )
        .await;
    assert_eq!((status, dup["error"].as_str()), (409, Some("conflict")));
    let (status, short) = admin
        .post(
            "/tenants/acme/users",
            serde_json::json!({"username": "dave", "password": "short"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(short["message"].as_str().unwrap().contains("at least 8"));

    let (_, list) = admin.get("/tenants/acme/users").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);

    // PATCH: null removes, absent keeps, groups replace.
    let (status, u) = admin
        .patch(
            "/tenants/acme/users/carol",
            serde_json::json!({"email": null, "groups": ["staff", "admins"]}),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["email"], serde_json::Value::Null);
    assert_eq!(u["name"], "Carol");
    // Groups are a set: shown sorted.
    assert_eq!(u["groups"], serde_json::json!(["admins", "staff"]));
    let (status, bad) = admin
        .patch(
            "/tenants/acme/users/carol",
            serde_json::json!({"email": "not-an-address"}),
        )
        .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // A generated password is returned once and works at the login form.
    let (status, p) = admin
        .post(
            "/tenants/acme/users/alice/password",
            serde_json::json!({"generate": true}),
        )
        .await;
    assert_eq!(status, 200);
    let new_password = p["password"].as_str().unwrap().to_string();
    let (status, _) = admin
        .post(
            "/tenants/acme/users/alice/password",
            serde_json::json!({"password": "x", "generate": true}),
        )
        .await;
    assert_eq!(status, 400);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let landing = Browser::new()
        .authorize(&ts, &url, "alice", &new_password)
        .await;
    assert!(landing.param("code").is_some());

    // Deleting alice ends her session through the termination path: her RP hears of it.
    let (status, d) = admin.delete("/tenants/acme/users/alice").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["sessions_ended"], 1);
    rp.wait_for(1, &ts).await;
    assert_eq!(admin.get("/tenants/acme/users/alice").await.0, 404);
    let (_, sessions) = admin.get("/tenants/acme/sessions").await;
    assert_eq!(sessions[0]["state"], "ended");
    assert_eq!(sessions[0]["username"], serde_json::Value::Null);
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn disabled_client_is_refused_at_once_and_its_tokens_stop_working() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    let tokens = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // Warm this node's client cache, so "at once" is tested against a cached entry.
    assert_eq!(userinfo_status(&ts, access).await, 200);
    assert_eq!(introspect_as_other(&ts, access).await["active"], true);

    let (status, done) = admin
        .post("/tenants/acme/clients/web/disable", serde_json::json!({}))
        .await;
    assert_eq!((status, done["changed"].as_bool()), (200, Some(true)));
    // No clock movement: the cache's two seconds have not passed.
    let (status, body) = token_request(
        &ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) =
        token_request(&ts, "web", SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 401);
    assert_eq!(userinfo_status(&ts, access).await, 401);
    assert_eq!(introspect_as_other(&ts, access).await["active"], false);
    assert_eq!(introspect_as_other(&ts, refresh).await["active"], false);
    let (_, shown) = admin.get("/tenants/acme/clients/web").await;
    assert_eq!(shown["disabled"], true);

    // Enabled again, the same tokens are live again (they were never revoked).
    let (status, _) = admin
        .post("/tenants/acme/clients/web/enable", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&ts, access).await, 200);
    // Its own refresh token is live again for it (other clients never learn about it, RFC 7662
    // §4).
    assert_eq!(introspect(&ts, refresh).await["active"], true);
    assert_eq!(introspect_as_other(&ts, refresh).await["active"], false);
}

#[tokio::test]
async fn rotated_secret_overlaps_then_the_old_one_never_works_again() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    let cc = [("grant_type", "client_credentials")];
    let (status, r) = admin
        .post(
            "/tenants/acme/clients/web/rotate-secret",
            serde_json::json!({"overlap_secs": 60}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let new_secret = r["client_secret"].as_str().unwrap().to_string();
    assert_eq!(r["previous_secret_valid_until"], ts.clock.now_secs() + 60);
    assert_eq!(token_request(&ts, "web", SECRET, &cc).await.0, 200);
    assert_eq!(token_request(&ts, "web", &new_secret, &cc).await.0, 200);
    ts.clock.advance_secs(59);
    assert_eq!(token_request(&ts, "web", SECRET, &cc).await.0, 200);
    ts.clock.advance_secs(1);
    let (status, body) = token_request(&ts, "web", SECRET, &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(token_request(&ts, "web", &new_secret, &cc).await.0, 200);
    ts.clock.advance_secs(3600);
    assert_eq!(token_request(&ts, "web", SECRET, &cc).await.0, 401);

    // Overlap 0: the old secret stops at once; a public client has no secret to rotate.
    let (_, r2) = admin
        .post(
            "/tenants/acme/clients/web/rotate-secret",
            serde_json::json!({"overlap_secs": 0}),
        )
        .await;
    assert_eq!(r2["previous_secret_valid_until"], serde_json::Value::Null);
    assert_eq!(token_request(&ts, "web", &new_secret, &cc).await.0, 401);
    let newest = r2["client_secret"].as_str().unwrap();
    assert_eq!(token_request(&ts, "web", newest, &cc).await.0, 200);
    let (status, e) = admin
        .post(
            "/tenants/acme/clients/spa/rotate-secret",
            serde_json::json!({"overlap_secs": 0}),
        )
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn admin_api_registers_updates_and_deletes_clients_with_one_validation() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    // Lifetime validation is the same as the CLI's (it lives in manage::client_metadata).
    let (status, e) = admin
        .post(
            "/tenants/acme/clients",
            serde_json::json!({"client_id": "api", "redirect_uris": ["https://api.example/cb"], "lifetimes": {"access_token_secs": 0}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("access token lifetime"));
    let (status, e) = admin
        .post(
            "/tenants/acme/clients",
            serde_json::json!({"client_id": "api", "redirect_uris": ["https://api.example/cb#x"]}),
        )
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, c) = admin
        .post(
            "/tenants/acme/clients",
            serde_json::json!({"client_id": "api", "redirect_uris": ["https://api.example/cb"], "grant_types": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let secret = c["client_secret"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .post(
                "/tenants/acme/clients",
                serde_json::json!({"client_id": "api"})
            )
            .await
            .0,
        409
    );
    let (status, u) = admin
        .patch(
            "/tenants/acme/clients/api",
            serde_json::json!({"backchannel_logout_uri": "https://api.example/bc", "lifetimes": {"access_token_secs": 60}}),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["backchannel_logout_uri"], "https://api.example/bc");
    assert_eq!(u["lifetimes"]["access_token_secs"], 60);
    assert_eq!(u["lifetimes"]["id_token_secs"], 300);
    assert!(u.get("secret_hash").is_none() && u.get("client_secret").is_none());
    let (status, _) = admin
        .patch(
            "/tenants/acme/clients/api",
            serde_json::json!({"lifetimes": {"refresh_reuse_grace_secs": -1}}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, u) = admin
        .patch(
            "/tenants/acme/clients/api",
            serde_json::json!({"backchannel_logout_uri": null}),
        )
        .await;
    assert_eq!(u["backchannel_logout_uri"], serde_json::Value::Null);
    let cc = [("grant_type", "client_credentials")];
    let (status, t) = token_request(&ts, "api", &secret, &cc).await;
    assert_eq!(status, 200);
    assert_eq!(t["expires_in"], 60);
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&ts, &access).await["active"], true);

    let (_, list) = admin.get("/tenants/acme/clients").await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["client_id"] == "api"));
    assert_eq!(admin.delete("/tenants/acme/clients/api").await.0, 200);
    assert_eq!(admin.get("/tenants/acme/clients/api").await.0, 404);
    assert_eq!(token_request(&ts, "api", &secret, &cc).await.0, 401);
    assert_eq!(introspect(&ts, &access).await["active"], false);
}

#[tokio::test]
async fn admin_tokens_are_listed_without_secrets_and_revoked_by_name() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    let (status, created) = admin
        .post(
            "/tenants/acme/admin-tokens",
            serde_json::json!({"name": "deploy"}),
        )
        .await;
    assert_eq!(status, 200);
    let deploy = Admin::with(&ts, created["token"].as_str().unwrap().to_string());
    assert_eq!(deploy.get("/tenants/acme/users").await.0, 200);
    assert_eq!(
        admin
            .post(
                "/tenants/acme/admin-tokens",
                serde_json::json!({"name": "deploy"})
            )
            .await
            .0,
        409
    );
    let (_, list) = admin.get("/tenants/acme/admin-tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "deploy");
    assert_eq!(list[0]["tenant"], "acme");
    assert!(!list
        .to_string()
        .contains(created["token"].as_str().unwrap()));
    assert_eq!(
        admin.delete("/tenants/acme/admin-tokens/deploy").await.0,
        200
    );
    assert_eq!(deploy.get("/tenants/acme/users").await.0, 401);
    assert_eq!(
        admin.delete("/tenants/acme/admin-tokens/deploy").await.0,
        404
    );
    let (_, list) = admin.get("/tenants/acme/admin-tokens").await;
    assert_eq!(list[0]["revoked"], true);
}

#[tokio::test]
async fn tenant_show_and_delete_end_every_session_first() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let admin = Admin::all_tenants(&ts).await;
    let (status, t) = admin.get("/tenants/acme").await;
    assert_eq!(status, 200);
    assert_eq!(t["issuer"], ts.issuer);
    let idle = t["effective_policy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["field"] == "idle_timeout_secs")
        .unwrap()
        .clone();
    assert_eq!(idle["value"], 3600);
    assert_eq!(idle["source"], "default");
    let scoped = Admin::with(
        &ts,
        manage::create_admin_token(
            &ts.state.db,
            &ts.state.hasher,
            Some(&ts.tenant),
            "tenant-admin",
            "test",
            ts.clock.now_secs(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(scoped.get("/tenants/acme").await.0, 200);
    let (status, e) = scoped.delete("/tenants/acme").await;
    assert_eq!((status, e["error"].as_str()), (403, Some("forbidden")));

    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let (status, d) = admin.delete("/tenants/acme").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["sessions_ended"], 1);
    // The owed logout is still delivered after the tenant is gone.
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(admin.get("/tenants/acme").await.0, 404);
    assert_eq!(scoped.get("/tenants/acme").await.0, 401);
    let r = reqwest::get(format!("{}/.well-known/openid-configuration", ts.issuer))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn openapi_document_lists_every_operation_and_swagger_ui_is_served() {
    let ts = TestServer::start().await;
    let spec: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", ts.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/tenants/{slug}",
        "/tenants/{slug}/users",
        "/tenants/{slug}/users/{username}",
        "/tenants/{slug}/users/{username}/password",
        "/tenants/{slug}/clients",
        "/tenants/{slug}/clients/{client_id}",
        "/tenants/{slug}/clients/{client_id}/rotate-secret",
        "/tenants/{slug}/clients/{client_id}/disable",
        "/tenants/{slug}/admin-tokens",
        "/tenants/{slug}/admin-tokens/{name}",
        "/tenants/{slug}/sessions",
        "/tenants/{slug}/deliveries",
        "/tenants/{slug}/policies",
        "/tenants/{slug}/policies/effective",
        "/tenants/{slug}/policies/{layer}",
        "/tenants/{slug}/groups",
        "/tenants/{slug}/groups/{name}",
        "/tenants/{slug}/users/{username}/attributes/{key}",
        "/tenants/{slug}/sessions/revoke",
        "/tenants/{slug}/sessions/export",
        "/tenants/{slug}/events/export",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    // Exports are binary downloads in either format, with their file name.
    let export = &paths["/tenants/{slug}/sessions/export"]["get"]["responses"]["200"];
    assert!(
        export["content"]["text/csv; charset=utf-8"].is_object(),
        "{export}"
    );
    assert!(
        export["content"]["application/x-ndjson"].is_object(),
        "{export}"
    );
    assert!(
        export["headers"]["CONTENT-DISPOSITION"].is_object()
            || export["headers"]["Content-Disposition"].is_object(),
        "{export}"
    );
    let r = reqwest::get(format!("{}/api/v1/docs", ts.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("'sha256-") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle") && html.contains("Lanyard admin API"));
}

/// The live sessions of a user, as the session service sees them.
async fn live_sessions(ts: &TestServer, user_id: &str) -> Vec<lanyard_idp::session::Session> {
    lanyard_idp::session::service::resolve::list(
        &ts.state,
        &ts.tenant.id,
        Some(user_id),
        false,
        100,
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|s| s.is_active())
    .collect()
}

fn field<'a>(fields: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no {name} in {fields}"))
}

#[tokio::test]
async fn admin_api_changes_only_the_keys_given_and_live_sessions_follow_at_once() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let admin = Admin::all_tenants(&ts).await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;

    let (status, t) = admin
        .patch(
            "/tenants/acme/policies/tenant",
            serde_json::json!({"set": {"idle_timeout_secs": "30m", "max_sessions": 3}}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["layer"], "tenant");
    assert_eq!(
        t["settings"],
        serde_json::json!({"idle_timeout_secs": "1800", "max_sessions": "3"})
    );
    assert_eq!(t["sessions_reresolved"], 1);
    // Only the keys given change: max_sessions stays when idle_timeout_secs is cleared.
    let (status, t2) = admin
        .patch(
            "/tenants/acme/policies/tenant",
            serde_json::json!({"unset": ["idle_timeout_secs"]}),
        )
        .await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(t2["settings"], serde_json::json!({"max_sessions": "3"}));
    assert_eq!(t2["version"], t["version"].as_i64().unwrap() + 1);

    // A group rule, URL-encoded, re-resolves alice's live session (she is in staff) at once.
    let (status, g) = admin
        .patch(
            "/tenants/acme/policies/group%3Astaff",
            serde_json::json!({"set": {"idle_timeout_secs": 60}}),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["layer"], "group:staff");
    assert_eq!(g["sessions_reresolved"], 1);
    assert_eq!(
        live_sessions(&ts, &ts.alice_id).await[0]
            .clocks
            .idle_timeout_secs,
        60
    );
    let (status, eff) = admin
        .get("/tenants/acme/policies/effective?user=alice&client=web")
        .await;
    assert_eq!(status, 200, "{eff}");
    assert_eq!(field(&eff, "idle_timeout_secs")["value"], 60);
    assert_eq!(field(&eff, "idle_timeout_secs")["source"], "group:staff");
    assert_eq!(field(&eff, "max_sessions")["source"], "tenant");
    assert_eq!(field(&eff, "absolute_timeout_secs")["source"], "default");
    let (_, eff_bob) = admin.get("/tenants/acme/policies/effective?user=bob").await;
    assert_eq!(field(&eff_bob, "idle_timeout_secs")["source"], "default");
    assert_eq!(
        admin
            .get("/tenants/acme/policies/effective?user=ghost")
            .await
            .0,
        404
    );
    assert_eq!(
        admin
            .get("/tenants/acme/policies/effective?client=ghost")
            .await
            .0,
        404
    );

    // Bad keys and values: 400 naming the field; unknown rules: 404; a bad layer name: 400.
    for (layer, body, status, needle) in [
        (
            "tenant",
            serde_json::json!({"set": {"idle_timeout": "60"}}),
            400,
            "idle_timeout",
        ),
        (
            "tenant",
            serde_json::json!({"set": {"max_sessions": "many"}}),
            400,
            "max_sessions",
        ),
        (
            "tenant",
            serde_json::json!({"set": {"limit_action": ["refuse"]}}),
            400,
            "limit_action",
        ),
        (
            "tenant",
            serde_json::json!({"unset": ["nope"]}),
            400,
            "nope",
        ),
        (
            "tenant",
            serde_json::json!({"sett": {"max_sessions": "1"}}),
            400,
            "sett",
        ),
        ("tenant", serde_json::json!({}), 400, "nothing to change"),
        (
            "group%3Anope",
            serde_json::json!({"set": {"max_sessions": "1"}}),
            404,
            "no group 'nope'",
        ),
        (
            "client%3Aghost",
            serde_json::json!({"set": {"max_sessions": "1"}}),
            404,
            "no client 'ghost'",
        ),
        (
            "galaxy%3Afar",
            serde_json::json!({"set": {"max_sessions": "1"}}),
            400,
            "not a policy layer",
        ),
    ] {
        let (s, e) = admin
            .patch(&format!("/tenants/acme/policies/{layer}"), body.clone())
            .await;
        assert_eq!(s, status, "{layer} {body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{layer} {body}: {e}"
        );
    }

    // Every layer, in fold order, with who changed it.
    let (status, layers) = admin.get("/tenants/acme/policies").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tenant", "group:staff"]);
    assert_eq!(layers[1]["settings"]["idle_timeout_secs"], "60");
    assert_eq!(layers[1]["updated_by"], "admin:root");

    // An attribute rule that ends sessions on entry: setting alice's attribute through the API
    // ends her session, and her RP hears of it.
    let (status, _) = admin
        .patch(
            "/tenants/acme/policies/attribute%3Aclearance%3Dsecret",
            serde_json::json!({"set": {"end_sessions_on_membership_change": true}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, a) = admin
        .call(
            reqwest::Method::PUT,
            "/tenants/acme/users/alice/attributes/clearance",
            Some(serde_json::json!({"value": "secret"})),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["attributes"], serde_json::json!({"clearance": "secret"}));
    assert_eq!(
        a["rules_triggered"],
        serde_json::json!(["attribute:clearance=secret"])
    );
    assert_eq!(a["sessions_ended"], 1);
    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    let sid = lanyard_idp::store::sessions::list(
        &ts.state.db,
        &ts.tenant.id,
        Some(&ts.alice_id),
        false,
        10,
    )
    .await
    .unwrap()[0]
        .sid
        .clone();
    assert_eq!(c["sid"], sid.as_str());
    let (_, u) = admin.get("/tenants/acme/users/alice").await;
    assert_eq!(u["attributes"]["clearance"], "secret");
    let (status, e) = admin
        .call(
            reqwest::Method::PUT,
            "/tenants/acme/users/alice/attributes/a%3Db",
            Some(serde_json::json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        admin
            .delete("/tenants/acme/users/alice/attributes/clearance")
            .await
            .0,
        200
    );
    let (status, e) = admin
        .delete("/tenants/acme/users/alice/attributes/clearance")
        .await;
    assert_eq!(status, 404);
    assert_eq!(e["message"], "user 'alice' has no attribute 'clearance'");
    assert_eq!(
        admin
            .delete("/tenants/acme/users/ghost/attributes/clearance")
            .await
            .0,
        404
    );

    // The audit trail names the token behind every change.
    let changes =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("policy.changed"), 100)
            .await
            .unwrap();
    assert!(!changes.is_empty());
    assert!(
        changes.iter().all(|e| e.actor == "admin:root"),
        "{changes:?}"
    );
    let membership = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("user.membership_changed"),
        100,
    )
    .await
    .unwrap();
    assert!(membership.iter().all(|e| e.actor == "admin:root"));
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn admin_api_manages_groups_with_member_counts() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    let (status, g) = admin
        .post(
            "/tenants/acme/groups",
            serde_json::json!({"name": "contractors", "description": "External staff"}),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["members"], 0);
    let (status, e) = admin
        .post(
            "/tenants/acme/groups",
            serde_json::json!({"name": "contractors"}),
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (409, Some("conflict")));
    let (status, e) = admin
        .post(
            "/tenants/acme/groups",
            serde_json::json!({"name": "two words"}),
        )
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (_, list) = admin.get("/tenants/acme/groups").await;
    let rows: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["members"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("contractors".to_string(), 0), ("staff".to_string(), 1)]
    );
    let (status, d) = admin.delete("/tenants/acme/groups/contractors").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["deleted"], "contractors");
    assert_eq!(
        admin.delete("/tenants/acme/groups/contractors").await.0,
        404
    );
}

#[tokio::test]
async fn admin_api_revokes_a_cohort_exactly_as_its_dry_run_reported() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let admin = Admin::all_tenants(&ts).await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert!(Browser::new()
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .param("code")
        .is_some());

    let (status, dry) = admin
        .post(
            "/tenants/acme/sessions/revoke",
            serde_json::json!({"group": "staff", "client": "web", "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["sessions"], 2);
    assert_eq!(dry["users"], serde_json::json!(["alice"]));
    assert_eq!(dry["clients"], serde_json::json!(["web"]));
    assert_eq!(dry["backchannel_deliveries"], 2);
    assert_eq!(
        dry["selector"],
        serde_json::json!({"group": "staff", "client": "web"})
    );
    assert_eq!(
        live_sessions(&ts, &ts.alice_id).await.len(),
        2,
        "a dry run ends nothing"
    );

    let (status, mut real) = admin
        .post(
            "/tenants/acme/sessions/revoke",
            serde_json::json!({"group": "staff", "client": "web"}),
        )
        .await;
    assert_eq!(status, 200, "{real}");
    assert_eq!(real["dry_run"], false);
    real["dry_run"] = serde_json::json!(true);
    assert_eq!(real, dry, "the real run covers what the dry run reported");
    assert!(live_sessions(&ts, &ts.alice_id).await.is_empty());
    rp.wait_for(2, &ts).await;

    // Times as RFC 3339 or unix seconds; nothing authenticated an hour ago.
    let hour_ago = ts.clock.now_secs() - 3600;
    let rfc = chrono::DateTime::from_timestamp(hour_ago, 0)
        .unwrap()
        .to_rfc3339();
    for before in [serde_json::json!(hour_ago), serde_json::json!(rfc)] {
        let (status, r) = admin
            .post(
                "/tenants/acme/sessions/revoke",
                serde_json::json!({"auth_before": before, "dry_run": true}),
            )
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["sessions"], 0);
        assert_eq!(r["selector"]["auth_before"], hour_ago);
    }
    // A misspelt selector is refused rather than ignored (it would widen the cohort), as are an
    // empty selector, bad values and unknown names.
    for (body, status, needle) in [
        (
            serde_json::json!({"grop": "staff", "user": "bob"}),
            400,
            "grop",
        ),
        (
            serde_json::json!({"dry_run": true}),
            400,
            "at least one selector",
        ),
        (
            serde_json::json!({"auth_before": "yesterday"}),
            400,
            "auth_before",
        ),
        (serde_json::json!({"auth_before": -5}), 400, "auth_before"),
        (
            serde_json::json!({"ip_range": "10.0.0.0/33"}),
            400,
            "ip_range",
        ),
        (
            serde_json::json!({"attribute": "clearance"}),
            400,
            "attribute",
        ),
        (serde_json::json!({"group": "staf"}), 404, "no group 'staf'"),
        (serde_json::json!({"user": "ghost"}), 404, "no user 'ghost'"),
    ] {
        let (s, e) = admin
            .post("/tenants/acme/sessions/revoke", body.clone())
            .await;
        assert_eq!(s, status, "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{body}: {e}"
        );
    }
    let (status, _) = admin
        .post(
            "/tenants/acme/sessions/revoke",
            serde_json::json!({"ip_range": "127.0.0.1"}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("sessions.cohort_revoked"),
        10
    )
    .await
    .unwrap()
    .iter()
    .all(|e| e.actor == "admin:root"));
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn admin_api_streams_exports_as_attachments() {
    let ts = TestServer::start().await;
    let admin = Admin::all_tenants(&ts).await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = lanyard_idp::store::sessions::list(&ts.state.db, &ts.tenant.id, None, false, 10)
        .await
        .unwrap()[0]
        .sid
        .clone();
    assert_eq!(
        admin
            .delete(&format!("/tenants/acme/sessions/{sid}"))
            .await
            .0,
        200
    );
    let today = chrono::DateTime::from_timestamp(ts.clock.now_secs(), 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let get = |path: String| {
        let admin = &admin;
        async move {
            admin
                .http
                .get(format!("{}{path}", admin.base))
                .bearer_auth(&admin.token)
                .send()
                .await
                .unwrap()
        }
    };

    let r = get("/tenants/acme/sessions/export".into()).await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"acme-sessions-{today}.csv\"").as_str()
    );
    // Streamed: no length known up front, the body comes in chunks.
    assert!(h.get("content-length").is_none(), "{h:?}");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("sid,username,state"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");

    let r = get("/tenants/acme/sessions/export?format=jsonl&active=true".into()).await;
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"acme-sessions-{today}.jsonl\"").as_str()
    );
    let live: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["state"], "active");

    let r = get(format!(
        "/tenants/acme/events/export?format=jsonl&session={sid}&kind=session.ended"
    ))
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"acme-events-{today}.jsonl\"").as_str()
    );
    let ev: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["sid"], sid.as_str());
    assert_eq!(ev[0]["actor"], "admin:root");
    let since = ts.clock.now_secs() + 1;
    let r = get(format!(
        "/tenants/acme/events/export?user=alice&since={since}"
    ))
    .await;
    assert_eq!(
        r.text().await.unwrap().lines().count(),
        1,
        "only the header"
    );

    // Errors come before the first byte, as JSON.
    for (path, status, needle) in [
        (
            "/tenants/acme/sessions/export?format=xml",
            400,
            "format 'xml'",
        ),
        (
            "/tenants/acme/events/export?user=ghost",
            404,
            "no user 'ghost'",
        ),
        (
            "/tenants/acme/events/export?session=nope",
            404,
            "no session 'nope'",
        ),
        ("/tenants/acme/events/export?since=soon", 400, "since"),
        (
            "/tenants/acme/events/export?since=20&until=10",
            400,
            "since must be before until",
        ),
    ] {
        let (s, e) = admin.get(path).await;
        assert_eq!(s, status, "{path}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{path}: {e}"
        );
    }
}

#[tokio::test]
async fn governance_endpoints_answer_a_foreign_token_as_for_an_unknown_tenant() {
    let ts = TestServer::start().await;
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        None,
        PolicyLayer::default(),
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let other = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    let scoped = Admin::with(
        &ts,
        manage::create_admin_token(
            &ts.state.db,
            &ts.state.hasher,
            Some(&other),
            "o",
            "test",
            ts.clock.now_secs(),
        )
        .await
        .unwrap(),
    );
    let patch = serde_json::json!({"set": {"max_sessions": "1"}});
    let revoke = serde_json::json!({"user": "alice"});
    let value = serde_json::json!({"value": "x"});
    let group = serde_json::json!({"name": "g"});
    for tenant in ["acme", "nope"] {
        for (method, path, body) in [
            (reqwest::Method::GET, "/policies", None),
            (reqwest::Method::GET, "/policies/effective?user=alice", None),
            (
                reqwest::Method::PATCH,
                "/policies/tenant",
                Some(patch.clone()),
            ),
            (reqwest::Method::GET, "/groups", None),
            (reqwest::Method::POST, "/groups", Some(group.clone())),
            (reqwest::Method::DELETE, "/groups/staff", None),
            (
                reqwest::Method::PUT,
                "/users/alice/attributes/k",
                Some(value.clone()),
            ),
            (reqwest::Method::DELETE, "/users/alice/attributes/k", None),
            (
                reqwest::Method::POST,
                "/sessions/revoke",
                Some(revoke.clone()),
            ),
            (reqwest::Method::GET, "/sessions/export", None),
            (reqwest::Method::GET, "/events/export", None),
        ] {
            let (s, e) = scoped
                .call(method.clone(), &format!("/tenants/{tenant}{path}"), body)
                .await;
            assert_eq!(s, 404, "{method} {tenant}{path}: {e}");
            assert_eq!(e["message"], "no such tenant for this admin token");
        }
    }
    // Nothing changed in acme.
    let layers = manage::governance::list_policies(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert!(layers.iter().all(|l| l.settings.is_empty()), "{layers:?}");
    let alice = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.clock.now_secs())
        .await
        .unwrap();
    assert!(alice.attributes.is_empty());
    let groups = manage::governance::list_groups(&ts.state.db, &ts.tenant)
        .await
        .unwrap();
    assert_eq!(
        groups.len(),
        1,
        "staff is still there and g was not created"
    );
    // The scoped token works on its own tenant.
    assert_eq!(scoped.get("/tenants/other/policies").await.0, 200);
}
