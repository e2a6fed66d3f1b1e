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
            ts.clock.now_secs(),
        )
        .await
        .unwrap(),
    );
    let (s1, foreign) = scoped.get("/tenants/acme/users").await;
    let (s2, unknown) = scoped.get("/tenants/nope/users").await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(foreign["error"], unknown["error"]);
    assert_eq!(foreign["message"], "no tenant 'acme'");
    assert_eq!(unknown["message"], "no tenant 'nope'");
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
    assert_eq!(introspect_as_other(&ts, refresh).await["active"], true);
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
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
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
