//! Risk signals end to end: impossible travel from a trusted proxy's geo headers and from a
//! MaxMind database of the test's own making, through the graded responses.

use crate::governance::start_node;
use crate::harness::*;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::{EndReason, LayerRef, Mode, SessionState};
use std::net::Ipv4Addr;
use std::sync::Arc;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
const BERLIN: (f64, f64) = (52.52, 13.405);
const PARIS: (f64, f64) = (48.8566, 2.3522);
const NEW_YORK: (f64, f64) = (40.7128, -74.006);

async fn set(ts: &TestServer, layer: LayerRef, kv: &[(&str, &str)]) {
    let changes: Vec<FieldChange> = kv
        .iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v.to_string()))
        .collect();
    change_layer(&ts.state, &ts.tenant, &layer, &changes, "test")
        .await
        .expect("policy change");
}

/// A browser behind the trusted proxy, which reports its address and (when given) its place.
struct Device {
    b: Browser,
    jar: Arc<reqwest::cookie::Jar>,
}

fn device(ip: &str, at: Option<(f64, f64)>) -> Device {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    h.insert("user-agent", CHROME.parse().unwrap());
    if let Some((lat, lon)) = at {
        h.insert("x-geo-lat", lat.to_string().parse().unwrap());
        h.insert("x-geo-lon", lon.to_string().parse().unwrap());
    }
    Device {
        b: Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(h)
                .build()
                .unwrap(),
        },
        jar,
    }
}

impl Device {
    /// The same browser (its cookies) seen from another address and place.
    fn elsewhere(&self, node: &str, ip: &str, at: Option<(f64, f64)>) -> Device {
        use reqwest::cookie::CookieStore;
        let d = device(ip, at);
        let url = url::Url::parse(node).unwrap();
        if let Some(all) = self.jar.cookies(&url) {
            for kv in all.to_str().unwrap().split("; ") {
                d.jar.add_cookie_str(kv, &url);
            }
        }
        d
    }
}

async fn sign_in(ts: &TestServer, node: &str, d: &Device) -> String {
    let (url, state, _, verifier) = auth_url(ts, "web", REDIRECT, "openid profile", &[]);
    let (status, body) = d.b.get(node, &url.replace(&ts.base, node)).await.page();
    assert_eq!(status, 200, "{body}");
    let landing =
        d.b.post_form(
            node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let (status, tok) = token_request(
        ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &landing.param("code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tok}");
    let p = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

async fn session(ts: &TestServer, sid: &str) -> lanyard_idp::session::Session {
    lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, sid)
        .await
        .unwrap()
        .unwrap()
}

async fn events(ts: &TestServer, kind: &str) -> Vec<serde_json::Value> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let mut d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            d["outcome"] = e.outcome.into();
            d
        })
        .collect()
}

/// `/authorize` through a node (prompt=none when `silent`): where the browser lands.
async fn authorize(ts: &TestServer, node: &str, d: &Device, silent: bool) -> Landing {
    let extra: &[(&str, &str)] = if silent { &[("prompt", "none")] } else { &[] };
    let (url, _, _, _) = auth_url(ts, "web", REDIRECT, "openid profile", extra);
    d.b.get(node, &url.replace(&ts.base, node)).await
}

const GEO_HEADERS: [(&str, &str); 3] = [
    ("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8"),
    ("LANYARD_GEO_LATITUDE_HEADER", "X-Geo-Lat"),
    ("LANYARD_GEO_LONGITUDE_HEADER", "X-Geo-Lon"),
];

fn near(v: &serde_json::Value, (lat, lon): (f64, f64)) -> bool {
    (v["lat"].as_f64().unwrap() - lat).abs() < 1e-3
        && (v["lon"].as_f64().unwrap() - lon).abs() < 1e-3
}

#[tokio::test]
async fn a_session_seen_across_the_ocean_within_the_hour_must_sign_in_again() {
    let ts = TestServer::start().await;
    set(&ts, LayerRef::tenant(), &[("travel_max_speed_kmh", "1000")]).await;
    let node = start_node(&ts, &GEO_HEADERS).await;
    let laptop = device("198.51.100.10", Some(BERLIN));
    let sid = sign_in(&ts, &node, &laptop).await;
    let s = session(&ts, &sid).await;
    let first = s
        .last_seen_at
        .expect("the login's place is recorded")
        .sighting();
    assert!((first.point.lat - BERLIN.0).abs() < 1e-6);

    // Thirty minutes later the same cookie shows up in New York.
    ts.clock.advance_secs(1800);
    let abroad = laptop.elsewhere(&node, "203.0.113.66", Some(NEW_YORK));
    let (status, body) = authorize(&ts, &node, &abroad, false).await.page();
    assert_eq!(status, 200);
    assert!(body.contains("name=\"password\""), "asks for the password");
    let s = session(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReauthRequired), "the default response");
    assert_eq!(s.mode_reason.as_deref(), Some("impossible_travel"));
    // Audited with both places, the distance and the speed it implies.
    let e = events(&ts, "session.impossible_travel").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["outcome"], "reauth");
    assert!(near(&e[0]["from"], BERLIN), "{}", e[0]);
    assert!(near(&e[0]["to"], NEW_YORK), "{}", e[0]);
    assert_eq!(e[0]["to"]["ip"], "203.0.113.66");
    let km = e[0]["distance_km"].as_f64().unwrap();
    assert!((6300.0..6500.0).contains(&km), "{km}");
    assert!(e[0]["speed_kmh"].as_f64().unwrap() > 12_000.0);
    assert_eq!(e[0]["max_speed_kmh"], 1000);

    // Silent authorization is refused meanwhile (OIDC Core §3.1.2.6: login_required).
    assert_eq!(
        authorize(&ts, &node, &abroad, true)
            .await
            .param("error")
            .as_deref(),
        Some("login_required")
    );
    // The user proves presence from New York: the same session continues from there, and a
    // request from there again raises nothing.
    let landing = abroad
        .b
        .post_form(
            &node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    let s = session(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::Normal));
    assert!((s.last_seen_at.unwrap().sighting().point.lat - NEW_YORK.0).abs() < 1e-6);
    ts.clock.advance_secs(60);
    assert!(authorize(&ts, &node, &abroad, true)
        .await
        .param("code")
        .is_some());
    assert_eq!(events(&ts, "session.impossible_travel").await.len(), 1);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_plausible_journey_passes_and_a_terminate_policy_ends_the_session_everywhere() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("idle_timeout_secs", "8h"),
            ("travel_max_speed_kmh", "1000"),
            ("on_impossible_travel", "terminate"),
        ],
    )
    .await;
    let node = start_node(&ts, &GEO_HEADERS).await;
    let laptop = device("198.51.100.10", Some(BERLIN));
    let sid = sign_in(&ts, &node, &laptop).await;
    // Berlin to Paris by train in three hours: fine.
    ts.clock.advance_secs(3 * 3600);
    let paris = laptop.elsewhere(&node, "192.0.2.8", Some(PARIS));
    assert!(authorize(&ts, &node, &paris, true)
        .await
        .param("code")
        .is_some());
    assert!(events(&ts, "session.impossible_travel").await.is_empty());
    // A request with no place known is not evaluated (unknown is never a signal).
    let unplaced = laptop.elsewhere(&node, "192.0.2.9", None);
    assert!(authorize(&ts, &node, &unplaced, true)
        .await
        .param("code")
        .is_some());
    // Ten minutes after Paris, New York: the session ends, and every RP hears of it.
    ts.clock.advance_secs(600);
    let ny = laptop.elsewhere(&node, "203.0.113.66", Some(NEW_YORK));
    assert_eq!(
        authorize(&ts, &node, &ny, true)
            .await
            .param("error")
            .as_deref(),
        Some("login_required")
    );
    let s = session(&ts, &sid).await;
    assert!(
        matches!(
            s.state,
            SessionState::Ended {
                reason: EndReason::ImpossibleTravel,
                ..
            }
        ),
        "{:?}",
        s.state
    );
    let e = events(&ts, "session.impossible_travel").await;
    assert_eq!(e[0]["outcome"], "terminate");
    assert!(
        near(&e[0]["from"], PARIS),
        "compared with the last sighting"
    );
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid.as_str()
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn the_geoip_database_places_client_addresses_no_header_describes() {
    let path = std::env::temp_dir().join(format!(
        "lanyard-test-{}.mmdb",
        lanyard_idp::crypto::random_id()
    ));
    std::fs::write(
        &path,
        crate::mmdb::city_db(&[
            (Ipv4Addr::new(198, 51, 100, 0), 24, "DE", BERLIN.0, BERLIN.1),
            (
                Ipv4Addr::new(203, 0, 113, 0),
                24,
                "US",
                NEW_YORK.0,
                NEW_YORK.1,
            ),
        ]),
    )
    .unwrap();
    // The reader itself: covered addresses, an uncovered one, an IPv6 one.
    let db = lanyard_idp::http::geo::GeoIpDb::open(&path).unwrap();
    let fix = db.lookup("198.51.100.200".parse().unwrap());
    assert_eq!(fix.country.as_deref(), Some("DE"));
    assert_eq!(fix.point.unwrap().lat, BERLIN.0);
    assert_eq!(db.lookup("192.0.2.1".parse().unwrap()), Default::default());
    assert_eq!(
        db.lookup("2001:db8::1".parse().unwrap()),
        Default::default()
    );

    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("travel_max_speed_kmh", "1000"),
            ("on_impossible_travel", "read_only"),
        ],
    )
    .await;
    let node = start_node(
        &ts,
        &[
            ("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8"),
            ("LANYARD_GEOIP_DATABASE", path.to_str().unwrap()),
        ],
    )
    .await;
    let laptop = device("198.51.100.10", None);
    let sid = sign_in(&ts, &node, &laptop).await;
    let s = session(&ts, &sid).await;
    assert_eq!(
        s.binding.country.as_deref(),
        Some("DE"),
        "country from the database"
    );
    assert!(s.last_seen_at.is_some());
    ts.clock.advance_secs(600);
    let ny = laptop.elsewhere(&node, "203.0.113.66", None);
    assert!(
        authorize(&ts, &node, &ny, true)
            .await
            .param("code")
            .is_some(),
        "read-only still signs in"
    );
    let s = session(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReadOnly));
    let e = events(&ts, "session.impossible_travel").await;
    assert_eq!(e[0]["outcome"], "read_only");
    assert_eq!(e[0]["to"]["country"], "US");
    assert!(near(&e[0]["from"], BERLIN));
    let _ = std::fs::remove_file(&path);
    ts.assert_invariants().await;
}

/// A browser behind the trusted proxy whose device-management gateway reports `posture`.
fn managed(ip: &str, posture: &str) -> Device {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    h.insert("user-agent", CHROME.parse().unwrap());
    h.insert("x-device-posture", posture.parse().unwrap());
    Device {
        b: Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(h)
                .build()
                .unwrap(),
        },
        jar,
    }
}

async fn devices_api(ts: &TestServer, query: &str) -> (u16, serde_json::Value) {
    let token = lanyard_idp::manage::create_admin_token(
        &ts.state.db,
        &ts.state.hasher,
        Some(&ts.tenant),
        &format!("risk-{}", lanyard_idp::crypto::random_id()),
        "test",
        ts.clock.now_secs(),
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/tenants/acme/devices{query}", ts.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn an_unencrypted_device_below_the_minimum_trust_gets_a_read_only_session_and_admins_see_why()
{
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("min_device_trust", "40"),
            ("on_low_device_trust", "read_only"),
        ],
    )
    .await;
    let node = start_node(
        &ts,
        &[
            ("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8"),
            ("LANYARD_DEVICE_POSTURE_HEADER", "X-Device-Posture"),
        ],
    )
    .await;
    // An encrypted laptop: 50, fine.
    let good = managed("198.51.100.10", "disk_encryption=on, screen_lock=on");
    let sid = sign_in(&ts, &node, &good).await;
    assert_eq!(session(&ts, &sid).await.mode(), Some(Mode::Normal));
    // An unencrypted one: 50 - 30 = 20 < 40.
    let bad = managed("198.51.100.11", "disk_encryption=off");
    let sid = sign_in(&ts, &node, &bad).await;
    let s = session(&ts, &sid).await;
    assert_eq!(s.mode(), Some(Mode::ReadOnly));
    assert_eq!(s.mode_reason.as_deref(), Some("low_device_trust:20"));
    let e = events(&ts, "device.low_trust").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["outcome"], "read_only");
    assert_eq!(e[0]["trust_score"]["score"], 20);
    assert_eq!(e[0]["min_device_trust"], 40);

    // A wrong password from the unencrypted browser counts against its device.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "login")]);
    let (_, body) = bad.b.get(&node, &url.replace(&ts.base, &node)).await.page();
    let (status, _) = bad
        .b
        .post_form(
            &node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", "not the password"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 401);

    // Admins see every device with its score and the parts it is made of.
    let (status, list) = devices_api(&ts, "?user=alice").await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let weak = list
        .iter()
        .find(|d| d["posture"] == "disk_encryption=off")
        .expect("the unencrypted device");
    assert_eq!(weak["logins_ok"], 1);
    assert_eq!(weak["logins_failed"], 1);
    // 50 base + 1 login - 5 failure - 30 unencrypted.
    assert_eq!(weak["trust_score"], 16, "{weak}");
    let parts: Vec<&str> = weak["trust_parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert!(parts.contains(&"posture_disk_encryption_off"), "{parts:?}");
    let strong = list
        .iter()
        .find(|d| d["posture"] == "disk_encryption=on,screen_lock=on")
        .expect("the encrypted device");
    assert_eq!(strong["trust_score"], 51);
    // bob has had no session on either.
    let (status, none) = devices_api(&ts, "?user=bob").await;
    assert_eq!(status, 200);
    assert_eq!(none.as_array().unwrap().len(), 0);
    let (status, unknown) = devices_api(&ts, "?user=nobody").await;
    assert_eq!(status, 404, "{unknown}");

    // The CLI lists the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lanyard"))
        .args([
            "device", "list", "--tenant", "acme", "--user", "alice", "--output", "json",
        ])
        .env("LANYARD_DATABASE_URL", &*ts.state.config.database_url)
        .env("LANYARD_PUBLIC_URL", &ts.base)
        .env("LANYARD_LOG", "warn")
        .env_remove("LANYARD_TEMPLATES_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut scores: Vec<u64> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["trust_score"].as_u64().unwrap())
        .collect();
    scores.sort();
    assert_eq!(scores, vec![16, 51]);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_new_device_below_the_minimum_trust_must_set_up_a_second_factor() {
    let ts = TestServer::start().await;
    set(&ts, LayerRef::tenant(), &[("min_device_trust", "60")]).await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let d = device("198.51.100.10", None);
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (_, body) = d.b.get(&node, &url.replace(&ts.base, &node)).await.page();
    let (status, body) =
        d.b.post_form(
            &node,
            &format!("{node}/t/acme/login"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    // A new device scores 50 < 60: the default response is a step-up, and alice has no
    // second factor yet, so she is asked to set one up; no session began.
    assert!(body.contains("Set up a second factor"), "{body}");
    assert!(
        lanyard_idp::store::sessions::list(&ts.state.db, &ts.tenant.id, None, true, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_session_cookie_used_from_two_networks_at_once_is_a_duplicate() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("duplicate_window_secs", "60"),
            ("on_duplicate_session", "terminate"),
        ],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let laptop = device("198.51.100.10", None);
    let sid = sign_in(&ts, &node, &laptop).await;
    // The real browser keeps working.
    ts.clock.advance_secs(20);
    assert!(authorize(&ts, &node, &laptop, true)
        .await
        .param("code")
        .is_some());
    // Five seconds later the copied cookie is used from elsewhere.
    ts.clock.advance_secs(5);
    let copy = laptop.elsewhere(&node, "203.0.113.66", None);
    assert_eq!(
        authorize(&ts, &node, &copy, true)
            .await
            .param("error")
            .as_deref(),
        Some("login_required")
    );
    let s = session(&ts, &sid).await;
    assert!(
        matches!(
            s.state,
            SessionState::Ended {
                reason: EndReason::DuplicateSession,
                ..
            }
        ),
        "{:?}",
        s.state
    );
    let e = events(&ts, "session.duplicate_detected").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["outcome"], "terminate");
    assert_eq!(e[0]["previous"]["ip"], "198.51.100.10");
    assert_eq!(e[0]["current"]["ip"], "203.0.113.66");
    assert_eq!(e[0]["window_secs"], 60);
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid.as_str()
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_network_change_after_the_window_is_not_a_duplicate_but_switching_back_at_once_is() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[
            ("duplicate_window_secs", "60"),
            ("on_duplicate_session", "alert"),
        ],
    )
    .await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let office = device("198.51.100.10", None);
    let sid = sign_in(&ts, &node, &office).await;
    // Two minutes later on the train's network: a move, not a copy.
    ts.clock.advance_secs(120);
    let train = office.elsewhere(&node, "192.0.2.50", None);
    assert!(authorize(&ts, &node, &train, true)
        .await
        .param("code")
        .is_some());
    assert!(events(&ts, "session.duplicate_detected").await.is_empty());
    // The office network again three seconds later: two places at once. `alert` records it
    // and changes nothing else.
    ts.clock.advance_secs(3);
    assert!(authorize(&ts, &node, &office, true)
        .await
        .param("code")
        .is_some());
    let e = events(&ts, "session.duplicate_detected").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["outcome"], "alert");
    assert_eq!(e[0]["previous"]["ip"], "192.0.2.50");
    assert_eq!(session(&ts, &sid).await.mode(), Some(Mode::Normal));
    ts.assert_invariants().await;
}
