//! Fault tests of logout propagation against the real `lanyard` binary: the server is SIGKILLed
//! mid fan-out and restarted on the same database, and two nodes share one PostgreSQL database.
//! DESIGN.md "Ending a session": the dispatcher survives restarts (at-least-once; a redelivery is
//! allowed only for what was in flight at the crash) and on several nodes each delivery is claimed
//! by exactly one node.
//!
//! Everything goes through public interfaces: the CLI (`tenant create`, `client create`,
//! `bench-seed`, `tenant revoke-sessions`, `deliveries list`), `lanyard serve`, and HTTP. The RP is
//! an in-test listener that validates every logout token (signature against the tenant JWKS,
//! `typ`, `iss`, `aud`, `events`, `sub`, `sid`, `iat`/`exp`, no `nonce`, unique `jti`).

#![allow(clippy::disallowed_methods)]

use josekit::jwk::JwkSet;
use josekit::jws::{EdDSA, JwsVerifier, ES256, RS256};
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Path, RemoteAddr};
use poem::{handler, post, EndpointExt, Route, Server};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lanyard");
const SLUG: &str = "fault";
const USER: &str = "victim";
const SID_PREFIX: &str = "s-";
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

// ---------------------------------------------------------------------------------------------
// The Lanyard processes
// ---------------------------------------------------------------------------------------------

/// How to run `lanyard` against one database with one public URL (the issuer derives from it, so
/// every node and every CLI call must agree on it).
#[derive(Clone)]
struct Lanyard {
    database_url: String,
    public_url: String,
    /// `LANYARD_DELIVERY_POLL_MS` for the nodes (default: Lanyard's).
    poll_ms: Option<u64>,
}

impl Lanyard {
    fn command(&self, bind_port: u16) -> Command {
        let mut c = Command::new(BIN);
        c.env("LANYARD_DATABASE_URL", &self.database_url)
            .env("LANYARD_BIND", format!("127.0.0.1:{bind_port}"))
            .env("LANYARD_PUBLIC_URL", &self.public_url)
            .env("LANYARD_DEMO", "false")
            .env("LANYARD_LOG", "warn")
            // The recording RPs listen on loopback.
            .env("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback")
            // A killed node's claims are taken over after 10 s instead of 30 s; still longer
            // than an attempt (default 5 s timeout) plus recording it.
            .env("LANYARD_DELIVERY_LEASE_MS", "10000");
        if let Some(ms) = self.poll_ms {
            c.env("LANYARD_DELIVERY_POLL_MS", ms.to_string());
        }
        c
    }

    /// One CLI command; its JSON output.
    fn cli(&self, args: &[&str]) -> Value {
        let out = self
            .command(0)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run lanyard");
        assert!(
            out.status.success(),
            "lanyard {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with(['{', '[']))
            .unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("lanyard {}: output {text:?}: {e}", args.join(" ")))
    }

    /// `lanyard serve` on `port`, once it answers HTTP.
    async fn serve(&self, port: u16) -> Node {
        let child = self
            .command(port)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lanyard serve");
        let node = Node { child };
        let probe = format!("http://127.0.0.1:{port}/api/v1/openapi.json");
        let http = reqwest::Client::new();
        wait_until(
            Duration::from_secs(60),
            "lanyard serve to answer HTTP",
            || {
                let (http, probe) = (http.clone(), probe.clone());
                async move { http.get(&probe).send().await.is_ok() }
            },
        )
        .await;
        node
    }

    /// Tenant, user, `n` ES256 clients with back-channel URIs on `rp_base`, `sessions` seeded
    /// sessions each shared with every client. Returns (issuer, sub, client ids).
    fn setup(&self, rp_base: &str, n: usize, sessions: u64) -> (String, String, Vec<String>) {
        let issuer = self.cli(&["tenant", "create", SLUG])["issuer"]
            .as_str()
            .expect("issuer")
            .to_string();
        let sub = self.cli(&[
            "user",
            "create",
            "--tenant",
            SLUG,
            USER,
            "--password",
            "fault-password-1",
        ])["id"]
            .as_str()
            .expect("user id")
            .to_string();
        let clients: Vec<String> = (0..n).map(|i| format!("rp{i:02}")).collect();
        for c in &clients {
            let uri = format!("{rp_base}/{c}");
            self.cli(&[
                "client",
                "create",
                "--tenant",
                SLUG,
                c,
                "--secret",
                "fault-secret-0123456789",
                "--backchannel-logout-uri",
                &uri,
                "--id-token-signed-response-alg",
                "ES256",
                "--redirect-uri",
                "http://127.0.0.1/cb",
            ]);
        }
        let n = sessions.to_string();
        let seeded = self.cli(&[
            "bench-seed",
            "--tenant",
            SLUG,
            "--username",
            USER,
            "--clients",
            &clients.join(","),
            "--sessions",
            &n,
            "--sid-prefix",
            SID_PREFIX,
        ]);
        assert_eq!(
            seeded["sessions_created"].as_u64(),
            Some(sessions),
            "bench-seed: {seeded}"
        );
        (issuer, sub, clients)
    }

    /// Outbox rows of the tenant in `state` (the CLI lists at most 1000).
    fn deliveries(&self, state: &str) -> usize {
        self.cli(&["deliveries", "list", "--tenant", SLUG, "--state", state])
            .as_array()
            .map_or(0, Vec::len)
    }
}

struct Node {
    child: Child,
}

impl Node {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL lanyard");
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(format!(
        "lanyard-fault-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}?mode=rwc", dir.join("lanyard.db").display())
}

/// Poll `ready` every 100 ms until it holds; fail naming `what` after `limit`.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !ready().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {}s waiting for {what}",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The relying party
// ---------------------------------------------------------------------------------------------

/// What the RP must expect: the issuer, the user's `sub`, the seeded sids and the client ids.
struct Expect {
    issuer: String,
    sub: String,
    sessions: u64,
    clients: Vec<String>,
    keys: HashMap<String, Box<dyn JwsVerifier>>,
}

/// One back-channel request.
#[derive(Debug, Clone)]
struct Hit {
    /// (session index, client index) when the token was valid.
    pair: Option<(u64, usize)>,
    invalid: Option<String>,
    jti: Option<String>,
    /// When the handler answered; None if the OP went away first.
    finished: Option<Instant>,
    /// The Lanyard process that sent it, when it could be told (two-node test).
    node: Option<u32>,
}

#[derive(Default)]
struct RpState {
    hits: Mutex<Vec<Hit>>,
    expect: OnceLock<Expect>,
    delay: Duration,
    /// Processes whose sockets the RP attributes requests to (two-node test).
    nodes: Mutex<Vec<u32>>,
    by_port: Mutex<HashMap<u16, Option<u32>>>,
}

impl RpState {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Owed pairs with at least one valid token.
    fn covered(&self) -> usize {
        self.hits()
            .iter()
            .filter_map(|h| h.pair)
            .collect::<HashSet<_>>()
            .len()
    }
}

/// Validate a logout token as RP `client` must (Back-Channel Logout 1.0 §2.6).
fn validate(e: &Expect, client: &str, body: &str) -> Result<((u64, usize), String), String> {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or("no logout_token")?;
    let (payload, header) = josekit::jwt::decode_with_verifier_selector(&token, |h| {
        Ok(h.key_id().and_then(|k| e.keys.get(k)).map(|v| v.as_ref()))
    })
    .map_err(|err| format!("signature: {err}"))?;
    if header.token_type() != Some("logout+jwt") {
        return Err("typ".into());
    }
    let c = payload.claims_set();
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    let ci = e
        .clients
        .iter()
        .position(|x| x == client)
        .ok_or("unknown client")?;
    if s("iss") != Some(&e.issuer) {
        return Err(format!("iss {:?}", s("iss")));
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == client,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(client)),
        _ => false,
    };
    if !aud_ok {
        return Err("aud".into());
    }
    let events_ok = matches!(c.get("events"), Some(Value::Object(ev)) if ev.len() == 1 && ev.get(BACKCHANNEL_EVENT).and_then(Value::as_object).is_some_and(|o| o.is_empty()));
    if !events_ok || c.contains_key("nonce") {
        return Err("events/nonce".into());
    }
    if s("sub") != Some(&e.sub) {
        return Err("sub".into());
    }
    let session = s("sid")
        .and_then(|x| x.strip_prefix(SID_PREFIX))
        .and_then(|x| x.parse::<u64>().ok())
        .filter(|i| *i < e.sessions)
        .ok_or("sid")?;
    let iat = c.get("iat").and_then(Value::as_i64).ok_or("iat")?;
    let exp = c.get("exp").and_then(Value::as_i64).ok_or("exp")?;
    if exp <= iat {
        return Err("exp".into());
    }
    let jti = s("jti").filter(|j| !j.is_empty()).ok_or("jti")?;
    Ok(((session, ci), jti.to_string()))
}

/// Which of the watched Lanyard processes owns the TCP connection from local port `port`
/// (Linux: the socket inode in /proc/net/tcp, then /proc/PID/fd).
fn owner_of(port: u16, pids: &[u32]) -> Option<u32> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = f
            .get(1)?
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())?;
        (local_port == port)
            .then(|| f.get(9).map(|s| s.to_string()))
            .flatten()
    })?;
    let want = format!("socket:[{inode}]");
    pids.iter().copied().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten().any(|e| {
                    std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == want)
                })
            })
            .unwrap_or(false)
    })
}

#[handler]
async fn backchannel(
    Path(client): Path<String>,
    remote: &RemoteAddr,
    body: String,
    Data(rp): Data<&Arc<RpState>>,
) -> StatusCode {
    let verdict = match rp.expect.get() {
        Some(e) => validate(e, &client, &body),
        None => Err("token before the RP knew the JWKS".into()),
    };
    let node = {
        let pids = rp.nodes.lock().unwrap().clone();
        match (pids.is_empty(), remote.as_socket_addr()) {
            (false, Some(addr)) => *rp
                .by_port
                .lock()
                .unwrap()
                .entry(addr.port())
                .or_insert_with(|| owner_of(addr.port(), &pids)),
            _ => None,
        }
    };
    let (pair, jti, invalid) = match verdict {
        Ok((p, j)) => (Some(p), Some(j), None),
        Err(e) => (None, None, Some(e)),
    };
    let index = {
        let mut hits = rp.hits.lock().unwrap();
        hits.push(Hit {
            pair,
            invalid: invalid.clone(),
            jti,
            finished: None,
            node,
        });
        hits.len() - 1
    };
    // If the OP dies while we wait, the connection drops and this future is never resumed:
    // `finished` stays None, marking the request as in flight at the crash.
    tokio::time::sleep(rp.delay).await;
    rp.hits.lock().unwrap()[index].finished = Some(Instant::now());
    if invalid.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// Start the RP; returns its state and the base of its back-channel URIs (`{base}/{client_id}`).
async fn start_rp(delay: Duration) -> (Arc<RpState>, String) {
    let rp = Arc::new(RpState {
        delay,
        ..Default::default()
    });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let app = Route::new()
        .at("/bc/:client", post(backchannel))
        .data(rp.clone());
    tokio::spawn(Server::new_with_acceptor(TcpAcceptor::from_tokio(tcp).unwrap()).run(app));
    (rp, format!("http://127.0.0.1:{port}/bc"))
}

async fn fetch_keys(issuer: &str) -> HashMap<String, Box<dyn JwsVerifier>> {
    let body = reqwest::get(format!("{issuer}/jwks"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let set = JwkSet::from_bytes(&body).unwrap();
    let mut keys: HashMap<String, Box<dyn JwsVerifier>> = HashMap::new();
    for k in set.keys() {
        let Some(kid) = k.key_id() else { continue };
        let v: Box<dyn JwsVerifier> = match k.algorithm() {
            Some("ES256") => Box::new(ES256.verifier_from_jwk(k).unwrap()),
            Some("RS256") => Box::new(RS256.verifier_from_jwk(k).unwrap()),
            Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(k).unwrap()),
            _ => continue,
        };
        keys.insert(kid.to_string(), v);
    }
    keys
}

/// No invalid token, no reused jti; returns valid tokens per owed pair.
fn tally(hits: &[Hit], owed: usize) -> BTreeMap<(u64, usize), usize> {
    let invalid: Vec<_> = hits.iter().filter_map(|h| h.invalid.as_deref()).collect();
    assert!(
        invalid.is_empty(),
        "{} invalid logout tokens, e.g. {:?}",
        invalid.len(),
        &invalid[..invalid.len().min(5)]
    );
    let mut jtis = HashSet::new();
    for j in hits.iter().filter_map(|h| h.jti.as_deref()) {
        assert!(jtis.insert(j), "jti {j} delivered twice");
    }
    let mut per_pair = BTreeMap::new();
    for p in hits.iter().filter_map(|h| h.pair) {
        *per_pair.entry(p).or_default() += 1;
    }
    assert_eq!(
        per_pair.len(),
        owed,
        "{} of {owed} owed (sid, client) logouts arrived",
        per_pair.len()
    );
    per_pair
}

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_survives_kill_during_fan_out() {
    const CLIENTS: usize = 20;
    const SESSIONS: u64 = 30;
    let owed = SESSIONS as usize * CLIENTS;
    let (rp, rp_base) = start_rp(Duration::from_millis(300)).await;
    let port = free_port();
    let lanyard = Lanyard {
        database_url: sqlite_url(),
        public_url: format!("http://127.0.0.1:{port}"),
        poll_ms: None,
    };
    let (issuer, sub, clients) = lanyard.setup(&rp_base, CLIENTS, SESSIONS);
    let node = lanyard.serve(port).await;
    let keys = fetch_keys(&issuer).await;
    assert!(rp
        .expect
        .set(Expect {
            issuer,
            sub,
            sessions: SESSIONS,
            clients,
            keys
        })
        .is_ok());

    let ended = lanyard.cli(&["tenant", "revoke-sessions", SLUG]);
    assert_eq!(ended["sessions_ended"].as_u64(), Some(SESSIONS));
    // Kill once a quarter of the fan-out has arrived: well before the end at 64 concurrent
    // deliveries of 300 ms each.
    wait_until(Duration::from_secs(60), "the first deliveries", || {
        let n = rp.hits().len();
        async move { n >= owed / 4 }
    })
    .await;
    node.kill();
    let killed_at = Instant::now();
    let before = rp.hits();
    assert!(
        before.len() < owed,
        "every delivery arrived before the kill; the test proves nothing"
    );
    // In flight at the kill: the RP had the request but the OP may not have recorded the answer
    // (unanswered, or answered within the last 250 ms).
    let in_flight: HashSet<(u64, usize)> = before
        .iter()
        .filter(|h| {
            h.finished
                .is_none_or(|f| killed_at.duration_since(f) < Duration::from_millis(250))
        })
        .filter_map(|h| h.pair)
        .collect();

    let node = lanyard.serve(port).await;
    // Leases of rows claimed by the dead node expire after 30 s; allow for that.
    wait_until(
        Duration::from_secs(60),
        "every owed logout after the restart",
        || {
            let n = rp.covered();
            async move { n >= owed }
        },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "the outbox to settle as delivered",
        || {
            let l = lanyard.clone();
            async move {
                ["pending", "in_flight", "retry"]
                    .iter()
                    .all(|s| l.deliveries(s) == 0)
            }
        },
    )
    .await;
    assert_eq!(lanyard.deliveries("dead"), 0, "dead deliveries");
    assert_eq!(
        lanyard.deliveries("delivered"),
        owed,
        "one delivered row per (session, client)"
    );
    drop(node);

    let hits = rp.hits();
    let per_pair = tally(&hits, owed);
    let duplicated: Vec<_> = per_pair
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| *p)
        .collect();
    let redelivered: usize = per_pair.values().map(|n| n - 1).sum();
    for p in &duplicated {
        assert!(
            in_flight.contains(p),
            "{p:?} was delivered twice though it was not in flight at the kill"
        );
    }
    assert!(
        redelivered <= in_flight.len(),
        "{redelivered} redeliveries but only {} in flight at the kill",
        in_flight.len()
    );
    assert!(
        hits.len() > before.len(),
        "nothing arrived after the restart"
    );
    println!("kill during fan-out: {} arrived before the kill, {} in flight, {redelivered} redelivered, {} total", before.len(), in_flight.len(), hits.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_deliver_each_logout_once() {
    let Ok(pg) = std::env::var("LANYARD_TEST_POSTGRES_URL") else {
        println!("two_nodes_on_postgres_deliver_each_logout_once: skipped (LANYARD_TEST_POSTGRES_URL not set)");
        return;
    };
    const CLIENTS: usize = 10;
    const SESSIONS: u64 = 100;
    let owed = SESSIONS as usize * CLIENTS;
    let (database_url, name) = fresh_pg_database(&pg).await;
    let (rp, rp_base) = start_rp(Duration::from_millis(20)).await;
    let (port_a, port_b) = (free_port(), free_port());
    // One public URL (as behind a load balancer), so both nodes sign with the same issuer.
    let lanyard = Lanyard {
        database_url,
        public_url: format!("http://127.0.0.1:{port_a}"),
        poll_ms: None,
    };
    let (issuer, sub, clients) = lanyard.setup(&rp_base, CLIENTS, SESSIONS);
    let a = lanyard.serve(port_a).await;
    let b = lanyard.serve(port_b).await;
    *rp.nodes.lock().unwrap() = vec![a.pid(), b.pid()];
    let keys = fetch_keys(&issuer).await;
    assert!(rp
        .expect
        .set(Expect {
            issuer,
            sub,
            sessions: SESSIONS,
            clients,
            keys
        })
        .is_ok());

    let ended = lanyard.cli(&["tenant", "revoke-sessions", SLUG]);
    assert_eq!(ended["sessions_ended"].as_u64(), Some(SESSIONS));
    wait_until(Duration::from_secs(60), "every owed logout", || {
        let n = rp.covered();
        async move { n >= owed }
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "the outbox to settle as delivered",
        || {
            let l = lanyard.clone();
            async move {
                ["pending", "in_flight", "retry"]
                    .iter()
                    .all(|s| l.deliveries(s) == 0)
            }
        },
    )
    .await;
    assert_eq!(lanyard.deliveries("dead"), 0, "dead deliveries");
    let hits = rp.hits();
    let per_pair = tally(&hits, owed);
    let twice: Vec<_> = per_pair.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} (sid, client) logouts delivered more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    let by_a = hits.iter().filter(|h| h.node == Some(a.pid())).count();
    let by_b = hits.iter().filter(|h| h.node == Some(b.pid())).count();
    if by_a == 0 || by_b == 0 {
        println!(
            "note: only one node delivered (node A {by_a}, node B {by_b}, unattributed {})",
            hits.len() - by_a - by_b
        );
    }
    println!("two nodes: {owed} logouts delivered exactly once; node A {by_a}, node B {by_b}");
    drop((a, b));
    drop_pg_database(&pg, &name).await;
}

/// A new database on the server of `pg`: its URL and name.
async fn fresh_pg_database(pg: &str) -> (String, String) {
    use sea_orm::ConnectionTrait;
    let name = format!(
        "lanyard_fault_{}_{:x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let admin = sea_orm::Database::connect(pg)
        .await
        .expect("postgres reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = pg.rsplit_once('/').map_or(pg, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

async fn drop_pg_database(pg: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    if let Ok(admin) = sea_orm::Database::connect(pg).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Work committed elsewhere (here the CLI, another process) wakes the nodes through PostgreSQL
/// LISTEN/NOTIFY: with polling set to ten minutes, every logout still arrives. Without the
/// wake-up none would before the nodes' next poll, long after this test gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_committed_by_the_cli_wake_both_postgres_nodes_without_polling() {
    let Ok(pg) = std::env::var("LANYARD_TEST_POSTGRES_URL") else {
        println!("deliveries_committed_by_the_cli_wake_both_postgres_nodes_without_polling: skipped (LANYARD_TEST_POSTGRES_URL not set)");
        return;
    };
    const CLIENTS: usize = 3;
    const SESSIONS: u64 = 2;
    let (database_url, name) = fresh_pg_database(&pg).await;
    let (rp, rp_base) = start_rp(Duration::from_millis(0)).await;
    let (port_a, port_b) = (free_port(), free_port());
    let lanyard = Lanyard {
        database_url,
        public_url: format!("http://127.0.0.1:{port_a}"),
        poll_ms: Some(600_000),
    };
    let (issuer, sub, clients) = lanyard.setup(&rp_base, CLIENTS, SESSIONS);
    let a = lanyard.serve(port_a).await;
    let b = lanyard.serve(port_b).await;
    *rp.nodes.lock().unwrap() = vec![a.pid(), b.pid()];
    let keys = fetch_keys(&issuer).await;
    assert!(rp
        .expect
        .set(Expect {
            issuer,
            sub,
            sessions: SESSIONS,
            clients,
            keys
        })
        .is_ok());
    // Both nodes have made their first claim (found nothing) and wait for the next poll, ten
    // minutes away, or a wake-up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ended = lanyard.cli(&["tenant", "revoke-sessions", SLUG]);
    assert_eq!(ended["sessions_ended"].as_u64(), Some(SESSIONS));
    let committed = std::time::Instant::now();
    let owed = SESSIONS as usize * CLIENTS;
    wait_until(Duration::from_secs(30), "every owed logout", || {
        let n = rp.covered();
        async move { n >= owed }
    })
    .await;
    assert_eq!(rp.hits().len(), owed, "each logout once");
    println!(
        "woken by NOTIFY: {owed} logouts received {} ms after the CLI returned",
        committed.elapsed().as_millis()
    );
    drop((a, b));
    drop_pg_database(&pg, &name).await;
}
