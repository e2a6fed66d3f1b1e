//! The `lanyard` binary as an operator runs it: against a database file (SQLite, or a fresh
//! PostgreSQL database when `LANYARD_TEST_POSTGRES_URL` is set), reading what it prints.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lanyard");

/// A scratch directory and a database URL for one test.
struct Scratch {
    dir: PathBuf,
    url: String,
}

impl Scratch {
    /// A SQLite file that does not exist yet.
    fn sqlite() -> Self {
        let dir =
            std::env::temp_dir().join(format!("lanyard-cli-{}", lanyard_idp::crypto::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("lanyard.db").display());
        Self { dir, url }
    }

    /// The test's storage: a fresh PostgreSQL database when configured, else SQLite.
    async fn storage() -> Self {
        let mut s = Self::sqlite();
        if let Ok(pg) = std::env::var("LANYARD_TEST_POSTGRES_URL") {
            let name = format!(
                "lanyard_t_{}",
                lanyard_idp::crypto::random_id()
                    .to_lowercase()
                    .replace(['-', '_'], "")
            );
            let admin = lanyard_idp::store::connect(&pg).await.unwrap();
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = pg.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            s.url = format!("{base}/{name}");
        }
        s
    }

    fn db_file(&self) -> PathBuf {
        self.dir.join("lanyard.db")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.dir)
            .env("LANYARD_DATABASE_URL", &self.url)
            .env("LANYARD_PUBLIC_URL", "https://id.example.test")
            .env("LANYARD_LOG", "warn")
            .env("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback")
            .env_remove("LANYARD_TEMPLATES_DIR")
            .env_remove("LANYARD_BIND");
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Run a command that must succeed; its stdout as JSON.
    fn json(&self, args: &[&str]) -> Value {
        self.json_in(args, None)
    }

    fn json_in(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "lanyard {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "lanyard {}: not JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Run a command that must fail; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            !out.status.success(),
            "lanyard {} should have failed, printed {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Migrate and create tenant `acme`.
    fn with_tenant(self) -> Self {
        self.json(&["tenant", "create", "acme", "--name", "Acme"]);
        self
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_command_on_a_missing_sqlite_file_refuses_in_one_line_and_creates_nothing() {
    let s = Scratch::sqlite();
    let e = s.fails(&["user", "list", "--tenant", "demo"]);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains(&s.db_file().display().to_string()), "{e}");
    assert!(!e.contains("no tenant"), "{e}");
    assert!(!s.db_file().exists());
    // migrate (and tenant create, for scripted setups) create it.
    assert!(s.stdout(&["migrate"]).contains("migrations applied"));
    assert!(s.db_file().exists());
    let e = s.fails(&["user", "list", "--tenant", "demo"]);
    assert_eq!(e, "error: no tenant 'demo'");
}

#[test]
fn an_unreachable_postgres_fails_with_one_line() {
    let s = Scratch::sqlite();
    let port = free_port();
    let out = s
        .command()
        .env(
            "LANYARD_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/nowhere"),
        )
        .args(["tenant", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("PostgreSQL") && e.contains("LANYARD_DATABASE_URL"),
        "{e}"
    );
}

#[test]
fn a_missing_templates_dir_stops_start_up_naming_the_key() {
    let s = Scratch::sqlite();
    let out = s
        .command()
        .env("LANYARD_TEMPLATES_DIR", s.dir.join("themes"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.starts_with("configuration error: LANYARD_TEMPLATES_DIR"),
        "{e}"
    );
    assert!(!s.db_file().exists());
}

#[test]
fn serve_on_a_taken_port_fails_before_seeding_or_printing_credentials() {
    let s = Scratch::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let out = s
        .command()
        .env("LANYARD_BIND", &bind)
        .env_remove("LANYARD_PUBLIC_URL")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("LANYARD_BIND") && e.contains(&bind), "{e}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(!s.db_file().exists(), "nothing was migrated or seeded");
}

/// Start `lanyard serve`, read stdout until it says it listens, stop it; what it printed.
fn serve_banner(s: &Scratch) -> String {
    let port = free_port();
    let mut child = s
        .command()
        .env("LANYARD_BIND", format!("127.0.0.1:{port}"))
        .env("LANYARD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Lanyard listening") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    printed
}

#[test]
fn serve_seeds_once_then_says_how_to_reset_the_demo_password() {
    let s = Scratch::sqlite();
    let first = serve_banner(&s);
    assert!(first.contains("Seeded the demo tenant"), "{first}");
    let second = serve_banner(&s);
    assert!(!second.contains("Seeded"), "{second}");
    assert!(
        second.contains("lanyard user set-password --tenant demo demo --generate"),
        "{second}"
    );
    // And that command does what the banner says.
    let p = s.json(&[
        "user",
        "set-password",
        "--tenant",
        "demo",
        "demo",
        "--generate",
    ]);
    assert!(p["password"].as_str().unwrap().len() >= 16);
}

#[tokio::test]
async fn users_are_managed_by_username_and_deleting_one_ends_their_sessions() {
    let s = Scratch::storage().await.with_tenant();
    let alice = s.json(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--email",
        "alice@acme.test",
        "--name",
        "Alice A.",
        "--group",
        "staff",
        "--password",
        "correct horse battery",
    ]);
    assert_eq!(alice["name"], "Alice A.");
    let e = s.fails(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--password",
        "whatever12",
    ]);
    assert_eq!(e, "error: user 'alice' already exists in 'acme'");

    let list = s.json(&["user", "list", "--tenant", "acme", "--output", "json"]);
    assert_eq!(list[0]["username"], "alice");
    assert!(list[0].get("password_hash").is_none());
    // Piped stdout without --output is JSON; --output table is a table for people.
    assert_eq!(s.json(&["user", "list", "--tenant", "acme"]), list);
    let table = s.stdout(&["user", "list", "--tenant", "acme", "--output", "table"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("USERNAME"));
    assert!(lines.next().unwrap().starts_with("alice"));

    let updated = s.json(&[
        "user", "update", "--tenant", "acme", "alice", "--email", "", "--group", "ops", "--group",
        "admins",
    ]);
    assert_eq!(updated["email"], Value::Null);
    assert_eq!(updated["name"], "Alice A.");
    // Groups are a set: shown sorted.
    assert_eq!(updated["groups"], serde_json::json!(["admins", "ops"]));
    let shown = s.json(&[
        "user", "show", "--tenant", "acme", "alice", "--output", "json",
    ]);
    assert_eq!(shown, updated);
    let e = s.fails(&[
        "user", "update", "--tenant", "acme", "alice", "--email", "nope",
    ]);
    assert!(e.contains("not an e-mail address"), "{e}");

    let set = s.json_in(
        &[
            "user",
            "set-password",
            "--tenant",
            "acme",
            "alice",
            "--password-stdin",
        ],
        Some("a new long password\n"),
    );
    assert_eq!(set["password_set"], true);
    assert!(!set.to_string().contains("a new long password"));
    let e = s.fails(&["user", "set-password", "--tenant", "acme", "alice"]);
    assert!(
        e.contains("--password-stdin") || e.contains("--generate"),
        "{e}"
    );
    let e = s.fails(&[
        "user",
        "set-password",
        "--tenant",
        "acme",
        "ghost",
        "--generate",
    ]);
    assert_eq!(e, "error: no user 'ghost'");

    assert_eq!(
        s.json(&["user", "disable", "--tenant", "acme", "alice"])["disabled"],
        "alice"
    );
    assert_eq!(
        s.json(&["user", "show", "--tenant", "acme", "alice", "--output", "json"])["status"],
        "disabled"
    );
    assert_eq!(
        s.json(&["user", "enable", "--tenant", "acme", "alice"])["changed"],
        true
    );
    let d = s.json(&["user", "delete", "--tenant", "acme", "alice"]);
    assert_eq!(d["deleted"], "alice");
    assert_eq!(d["sessions_ended"], 0);
    assert_eq!(
        s.fails(&["user", "show", "--tenant", "acme", "alice"]),
        "error: no user 'alice'"
    );
}

#[tokio::test]
async fn clients_are_listed_updated_disabled_rotated_and_deleted() {
    let s = Scratch::storage().await.with_tenant();
    let created = s.json(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "web",
        "--redirect-uri",
        "https://app.acme.test/cb",
        "--first-party",
    ]);
    let first_secret = created["client_secret"].as_str().unwrap().to_string();
    // Lifetime validation is the one in idp, shared with the admin API.
    let e = s.fails(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "bad",
        "--access-token-lifetime",
        "0",
    ]);
    assert!(
        e.contains("access token lifetime must be a positive"),
        "{e}"
    );
    let e = s.fails(&[
        "client",
        "update",
        "--tenant",
        "acme",
        "web",
        "--refresh-reuse-grace",
        "-1",
    ]);
    assert!(e.contains("grace"), "{e}");

    let u = s.json(&[
        "client",
        "update",
        "--tenant",
        "acme",
        "web",
        "--redirect-uri",
        "https://app.acme.test/cb2",
        "--backchannel-logout-uri",
        "https://app.acme.test/bc",
        "--access-token-lifetime",
        "120",
        "--first-party",
        "false",
    ]);
    assert_eq!(
        u["redirect_uris"],
        serde_json::json!(["https://app.acme.test/cb2"])
    );
    assert_eq!(u["backchannel_logout_uri"], "https://app.acme.test/bc");
    assert_eq!(u["lifetimes"]["access_token_secs"], 120);
    assert_eq!(u["first_party"], false);
    assert!(!u.to_string().contains(&first_secret));

    let list = s.json(&["client", "list", "--tenant", "acme"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["client_id"], "web");
    assert!(list[0].get("id").is_none(), "no internal row id: {list}");

    assert_eq!(
        s.json(&["client", "disable", "--tenant", "acme", "web"])["changed"],
        true
    );
    assert_eq!(
        s.json(&["client", "show", "--tenant", "acme", "web", "--output", "json"])["disabled"],
        true
    );
    assert_eq!(
        s.json(&["client", "enable", "--tenant", "acme", "web"])["changed"],
        true
    );

    let e = s.fails(&["client", "rotate-secret", "--tenant", "acme", "web"]);
    assert!(e.contains("--overlap"), "{e}");
    let r = s.json(&[
        "client",
        "rotate-secret",
        "--tenant",
        "acme",
        "web",
        "--overlap",
        "300",
    ]);
    let new_secret = r["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, first_secret);
    assert!(r["previous_secret_valid_until"].as_i64().is_some());
    let shown = s.json(&[
        "client", "show", "--tenant", "acme", "web", "--output", "json",
    ]);
    assert_eq!(
        shown["previous_secret_valid_until"],
        r["previous_secret_valid_until"]
    );
    assert!(!shown.to_string().contains(new_secret));

    assert_eq!(
        s.json(&["client", "delete", "--tenant", "acme", "web"])["deleted"],
        "web"
    );
    assert_eq!(
        s.fails(&["client", "show", "--tenant", "acme", "web"]),
        "error: no client 'web'"
    );
}

#[tokio::test]
async fn admin_tokens_are_listed_without_the_token_and_revoked_by_name() {
    let s = Scratch::storage().await.with_tenant();
    let t = s.json(&["admin-token", "create", "--tenant", "acme", "ops"]);
    let token = t["token"].as_str().unwrap().to_string();
    s.json(&["admin-token", "create", "root"]);
    let e = s.fails(&["admin-token", "create", "--tenant", "acme", "ops"]);
    assert!(e.contains("already exists"), "{e}");
    let list = s.json(&["admin-token", "list"]);
    let text = list.to_string();
    assert!(!text.contains(&token), "{text}");
    assert!(!text.contains("token_hash"), "{text}");
    assert_eq!(list.as_array().unwrap().len(), 2);
    let scoped = s.json(&["admin-token", "list", "--tenant", "acme"]);
    assert_eq!(scoped[0]["name"], "ops");
    assert_eq!(scoped[0]["tenant"], "acme");
    assert_eq!(scoped[0]["revoked"], false);
    s.json(&["admin-token", "revoke", "--tenant", "acme", "ops"]);
    assert_eq!(
        s.json(&["admin-token", "list", "--tenant", "acme"])[0]["revoked"],
        true
    );
    assert_eq!(
        s.fails(&["admin-token", "revoke", "--tenant", "acme", "ops"]),
        "error: no live admin token 'ops'"
    );
    // Both audited in the tenant's trail as the CLI, with the name and never the token.
    let ev = s.stdout(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "jsonl",
        "--kind",
        "admin_token.created",
    ]);
    let revoked = s.stdout(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "jsonl",
        "--kind",
        "admin_token.revoked",
    ]);
    for (text, kind) in [
        (ev, "admin_token.created"),
        (revoked, "admin_token.revoked"),
    ] {
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            events.len(),
            1,
            "{kind}: one, the all-tenant token has no tenant trail"
        );
        assert_eq!(events[0]["actor"], "cli");
        assert_eq!(events[0]["detail"]["token"], "ops", "{}", events[0]);
        assert!(!text.contains(&token), "never the token");
    }
}

#[tokio::test]
async fn tenant_show_has_the_policy_and_delete_needs_yes() {
    let s = Scratch::storage().await;
    s.json(&["tenant", "create", "acme", "--session-idle-timeout", "600"]);
    let t = s.json(&["tenant", "show", "acme", "--output", "json"]);
    assert_eq!(t["issuer"], "https://id.example.test/t/acme");
    assert_eq!(t["policy"]["idle_timeout_secs"], "600");
    let field = |k: &str| {
        t["effective_policy"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["field"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(field("idle_timeout_secs")["value"], 600);
    assert_eq!(field("idle_timeout_secs")["source"], "tenant");
    assert_eq!(field("absolute_timeout_secs")["value"], 43200);
    assert_eq!(field("absolute_timeout_secs")["source"], "default");
    let table = s.stdout(&["tenant", "list", "--output", "table"]);
    assert!(table.starts_with("SLUG"), "{table}");
    assert!(table.contains("acme"), "{table}");

    let e = s.fails(&["tenant", "delete", "acme"]);
    assert!(e.contains("--yes"), "{e}");
    assert_eq!(
        s.json(&["tenant", "show", "acme", "--output", "json"])["slug"],
        "acme"
    );
    let d = s.json(&["tenant", "delete", "acme", "--yes"]);
    assert_eq!(d["deleted"], "acme");
    assert_eq!(
        s.fails(&["tenant", "show", "acme"]),
        "error: no tenant 'acme'"
    );
    // The slug is free again.
    s.json(&["tenant", "create", "acme"]);
}

#[tokio::test]
async fn session_and_delivery_lists_name_users_and_clients_never_row_ids() {
    let s = Scratch::storage().await.with_tenant();
    s.json(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--password",
        "correct horse battery",
    ]);
    s.json(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "web",
        "--redirect-uri",
        "https://app.acme.test/cb",
        "--backchannel-logout-uri",
        "http://127.0.0.1:9/bc",
    ]);
    s.json(&[
        "bench-seed",
        "--tenant",
        "acme",
        "--username",
        "alice",
        "--clients",
        "web",
        "--sessions",
        "2",
        "--sid-prefix",
        "s-",
    ]);
    let sessions = s.json(&["session", "list", "--tenant", "acme", "--user", "alice"]);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    assert_eq!(sessions[0]["username"], "alice");
    assert!(sessions[0].get("user_id").is_none(), "{sessions}");
    s.json(&["session", "revoke", "--tenant", "acme", "s-0"]);
    let deliveries = s.json(&["deliveries", "list", "--tenant", "acme", "--session", "s-0"]);
    assert_eq!(deliveries[0]["sid"], "s-0");
    assert_eq!(deliveries[0]["client_id"], "web");
    let events = s.json(&["session", "events", "--tenant", "acme", "s-0"]);
    let ended = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "session.ended")
        .unwrap();
    assert_eq!(ended["username"], "alice");
    assert_eq!(ended["actor"], "cli");
    let table = s.stdout(&[
        "deliveries",
        "list",
        "--tenant",
        "acme",
        "--output",
        "table",
    ]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("s-0") && table.contains("web"), "{table}");
    let e = s.fails(&["deliveries", "list", "--tenant", "acme", "--state", "lost"]);
    assert!(e.contains("state must be one of"), "{e}");
    // Deleting the tenant ends the remaining session first.
    let d = s.json(&["tenant", "delete", "acme", "--yes"]);
    assert_eq!(d["sessions_ended"], 1);
    assert!(d["deliveries_pending"].as_u64().unwrap() >= 1);
}

/// A tenant with alice (in staff) and a client `web` with a back-channel logout URI.
async fn governed() -> Scratch {
    let s = Scratch::storage().await.with_tenant();
    s.json(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--group",
        "staff",
        "--password",
        "correct horse battery",
    ]);
    s.json(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "web",
        "--redirect-uri",
        "https://app.acme.test/cb",
        "--backchannel-logout-uri",
        "http://127.0.0.1:9/bc",
    ]);
    s
}

fn field_of(fields: &Value, name: &str) -> Value {
    fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no {name} in {fields}"))
        .clone()
}

#[tokio::test]
async fn policy_is_set_and_unset_key_by_key_per_layer_and_shown_with_its_sources() {
    let s = governed().await;
    let t = s.json(&[
        "policy",
        "set",
        "--tenant",
        "acme",
        "idle_timeout_secs=30m",
        "max_sessions=3",
    ]);
    assert_eq!(t["layer"], "tenant");
    assert_eq!(
        t["settings"],
        serde_json::json!([["idle_timeout_secs", "1800"], ["max_sessions", "3"]])
    );
    // `tenant set-policy` is the old spelling of `policy set` for the tenant layer: it changes
    // only what it is given.
    s.json(&[
        "tenant",
        "set-policy",
        "acme",
        "--session-absolute-timeout",
        "7200",
    ]);
    let g = s.json(&[
        "policy",
        "set",
        "--tenant",
        "acme",
        "--group",
        "staff",
        "idle_timeout_secs=600",
        "schedule=07:00,19:00 Europe/Berlin",
    ]);
    assert_eq!(g["layer"], "group:staff");
    let c = s.json(&[
        "policy",
        "set",
        "--tenant",
        "acme",
        "--client",
        "web",
        "max_sessions=1",
        "limit_action=refuse",
    ]);
    assert_eq!(c["layer"], "client:web");
    s.json(&[
        "policy",
        "set",
        "--tenant",
        "acme",
        "--attribute",
        "clearance=secret",
        "end_sessions_on_membership_change=true",
    ]);

    let shown = s.json(&[
        "policy", "show", "--tenant", "acme", "--user", "alice", "--client", "web",
    ]);
    for (f, value, source) in [
        ("idle_timeout_secs", serde_json::json!(600), "group:staff"),
        ("absolute_timeout_secs", serde_json::json!(7200), "tenant"),
        ("max_sessions", serde_json::json!(1), "client:web"),
        ("limit_action", serde_json::json!("refuse"), "client:web"),
        (
            "refresh_reuse_ends_session",
            serde_json::json!(true),
            "default",
        ),
        (
            "schedule",
            serde_json::json!("07:00,19:00 Europe/Berlin"),
            "group:staff",
        ),
    ] {
        let got = field_of(&shown, f);
        assert_eq!(
            (got["value"].clone(), got["source"].as_str()),
            (value, Some(source)),
            "{f}"
        );
    }
    let tenant_only = s.json(&["policy", "show", "--tenant", "acme"]);
    assert_eq!(field_of(&tenant_only, "idle_timeout_secs")["value"], 1800);
    assert_eq!(field_of(&tenant_only, "max_sessions")["source"], "tenant");
    let table = s.stdout(&[
        "policy", "show", "--tenant", "acme", "--user", "alice", "--output", "table",
    ]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("FIELD"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("idle_timeout_secs") && l.ends_with("group:staff")),
        "{table}"
    );

    let layers = s.json(&["policy", "list", "--tenant", "acme"]);
    let names: Vec<&str> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tenant",
            "group:staff",
            "attribute:clearance=secret",
            "client:web"
        ]
    );
    assert_eq!(
        layers[0]["settings"],
        serde_json::json!({"absolute_timeout_secs": "7200", "idle_timeout_secs": "1800", "max_sessions": "3"})
    );
    assert_eq!(layers[3]["updated_by"], "cli");
    let table = s.stdout(&["policy", "list", "--tenant", "acme", "--output", "table"]);
    assert!(
        table.lines().any(
            |l| l.starts_with("client:web") && l.contains("limit_action=refuse max_sessions=1")
        ),
        "{table}"
    );

    // Unset clears only the keys named; a rule left empty is gone.
    let u = s.json(&["policy", "unset", "--tenant", "acme", "max_sessions"]);
    assert_eq!(
        u["settings"],
        serde_json::json!([
            ["idle_timeout_secs", "1800"],
            ["absolute_timeout_secs", "7200"]
        ])
    );
    s.json(&[
        "policy",
        "unset",
        "--tenant",
        "acme",
        "--client",
        "web",
        "max_sessions",
        "limit_action",
    ]);
    let layers = s.json(&["policy", "list", "--tenant", "acme"]);
    assert_eq!(layers.as_array().unwrap().len(), 3, "{layers}");

    // Every mistake is one line naming what is wrong, and a failure exit.
    for (args, needle) in [
        (
            vec!["idle_timeout=60"],
            "policy field idle_timeout: unknown field",
        ),
        (
            vec!["idle_timeout_secs=soon"],
            "policy field idle_timeout_secs: 'soon'",
        ),
        (vec!["max_sessions"], "'max_sessions' is not FIELD=VALUE"),
        (vec!["--group", "nope", "max_sessions=1"], "no group 'nope'"),
        (
            vec!["--client", "ghost", "max_sessions=1"],
            "no client 'ghost'",
        ),
        (
            vec!["--attribute", "clearance", "max_sessions=1"],
            "--attribute: 'clearance' is not KEY=VALUE",
        ),
        (
            vec!["schedule=07:00 UTC"],
            "schedules belong to group or attribute rules",
        ),
    ] {
        let mut full = vec!["policy", "set", "--tenant", "acme"];
        full.extend(args.iter().copied());
        let e = s.fails(&full);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(
            e.starts_with("error: ") && e.contains(needle),
            "{args:?}: {e}"
        );
    }
    let e = s.fails(&["policy", "unset", "--tenant", "acme", "idle"]);
    assert!(e.contains("policy field idle: unknown field"), "{e}");
    let e = s.fails(&[
        "policy",
        "set",
        "--tenant",
        "acme",
        "--group",
        "staff",
        "--client",
        "web",
        "max_sessions=1",
    ]);
    assert!(e.contains("cannot be used with"), "{e}");

    // The field list is the one the policy parses.
    let fields = s.json(&["policy", "fields"]);
    let names: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    let known: Vec<&str> = lanyard_idp::session::policy::FIELDS
        .iter()
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(names, known);
    assert!(s
        .stdout(&["policy", "fields", "--output", "table"])
        .contains("schedule"));
}

#[tokio::test]
async fn groups_and_attributes_are_managed_by_name_and_shown_on_the_user() {
    let s = governed().await;
    let g = s.json(&[
        "group",
        "create",
        "--tenant",
        "acme",
        "contractors",
        "--description",
        "External staff",
    ]);
    assert_eq!(g["name"], "contractors");
    assert_eq!(g["members"], 0);
    assert_eq!(
        s.fails(&["group", "create", "--tenant", "acme", "contractors"]),
        "error: group 'contractors' already exists"
    );
    assert!(s
        .fails(&["group", "create", "--tenant", "acme", "two words"])
        .contains("a group name is"));
    s.json(&[
        "user",
        "update",
        "--tenant",
        "acme",
        "alice",
        "--group",
        "staff",
        "--group",
        "contractors",
    ]);
    let list = s.json(&["group", "list", "--tenant", "acme"]);
    let rows: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().into(),
                g["members"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("contractors".into(), 1), ("staff".into(), 1)]);
    let table = s.stdout(&["group", "list", "--tenant", "acme", "--output", "table"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("External staff"), "{table}");

    let a = s.json(&[
        "user",
        "set-attr",
        "--tenant",
        "acme",
        "alice",
        "clearance=top=secret",
    ]);
    assert_eq!(
        a["attributes"],
        serde_json::json!({"clearance": "top=secret"})
    );
    assert_eq!(a["sessions_ended"], 0);
    let shown = s.json(&[
        "user", "show", "--tenant", "acme", "alice", "--output", "json",
    ]);
    assert_eq!(shown["attributes"]["clearance"], "top=secret");
    let table = s.stdout(&[
        "user", "show", "--tenant", "acme", "alice", "--output", "table",
    ]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("attributes.clearance") && l.ends_with("top=secret")),
        "{table}"
    );
    for (args, needle) in [
        (
            vec!["set-attr", "--tenant", "acme", "alice", "clearance"],
            "not KEY=VALUE",
        ),
        (
            vec!["set-attr", "--tenant", "acme", "alice", "a b=c"],
            "attribute key 'a b'",
        ),
        (
            vec!["set-attr", "--tenant", "acme", "ghost", "k=v"],
            "no user 'ghost'",
        ),
        (
            vec!["unset-attr", "--tenant", "acme", "alice", "clearence"],
            "user 'alice' has no attribute 'clearence'",
        ),
    ] {
        let mut full = vec!["user"];
        full.extend(args.iter().copied());
        let e = s.fails(&full);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    let a = s.json(&[
        "user",
        "unset-attr",
        "--tenant",
        "acme",
        "alice",
        "clearance",
    ]);
    assert_eq!(a["attributes"], serde_json::json!({}));

    let d = s.json(&["group", "delete", "--tenant", "acme", "contractors"]);
    assert_eq!(d["deleted"], "contractors");
    assert_eq!(
        s.json(&["user", "show", "--tenant", "acme", "alice", "--output", "json"])["groups"],
        serde_json::json!(["staff"])
    );
    assert_eq!(
        s.fails(&["group", "delete", "--tenant", "acme", "contractors"]),
        "error: no group 'contractors'"
    );
}

#[tokio::test]
async fn sessions_revoke_a_cohort_after_a_dry_run_and_one_sid_still_works() {
    let s = governed().await;
    s.json(&[
        "bench-seed",
        "--tenant",
        "acme",
        "--username",
        "alice",
        "--clients",
        "web",
        "--sessions",
        "3",
        "--sid-prefix",
        "s-",
    ]);
    let live = |s: &Scratch| {
        s.json(&["session", "list", "--tenant", "acme", "--active"])
            .as_array()
            .unwrap()
            .len()
    };
    // `session revoke SID` as before, also spelt `sessions`.
    assert_eq!(
        s.json(&["session", "revoke", "--tenant", "acme", "s-0"])["sessions_ended"],
        1
    );
    assert_eq!(live(&s), 2);

    let dry = s.json(&[
        "sessions",
        "revoke",
        "--tenant",
        "acme",
        "--group",
        "staff",
        "--client",
        "web",
        "--dry-run",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["sessions"], 2);
    assert_eq!(dry["users"], serde_json::json!(["alice"]));
    assert_eq!(dry["clients"], serde_json::json!(["web"]));
    assert_eq!(dry["backchannel_deliveries"], 2);
    assert_eq!(live(&s), 2, "a dry run ends nothing");
    let table = s.stdout(&[
        "sessions",
        "revoke",
        "--tenant",
        "acme",
        "--user",
        "alice",
        "--dry-run",
        "--output",
        "table",
    ]);
    assert!(table.starts_with("Dry run: nothing was ended"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("sessions would end") && l.ends_with(" 2")),
        "{table}"
    );
    assert!(
        table.contains("\nUSER\nalice\n") && table.contains("\nCLIENT\nweb\n"),
        "{table}"
    );

    // Selectors that select nothing end nothing; an unknown name is an error, not "nothing".
    let none = s.json(&[
        "sessions",
        "revoke",
        "--tenant",
        "acme",
        "--ip-range",
        "10.0.0.0/8",
        "--auth-before",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(none["sessions"], 0);
    assert_eq!(none["selector"]["ip_range"], "10.0.0.0/8");
    for (args, needle) in [
        (vec!["--group", "staf"], "error: no group 'staf'"),
        (
            vec!["--auth-before", "yesterday"],
            "'yesterday' is not a time",
        ),
        (vec!["--ip-range", "10.0.0.0/33"], "is not an IP network"),
        (
            vec!["--attribute", "clearance"],
            "'clearance' is not KEY=VALUE",
        ),
    ] {
        let mut full = vec!["sessions", "revoke", "--tenant", "acme"];
        full.extend(args.iter().copied());
        let e = s.fails(&full);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    // Neither a sid nor a selector, or both: refused by the parser, nothing ended.
    assert!(s
        .fails(&["sessions", "revoke", "--tenant", "acme"])
        .contains("required"));
    assert!(s
        .fails(&["sessions", "revoke", "--tenant", "acme", "--dry-run"])
        .contains("required"));
    assert!(s
        .fails(&["sessions", "revoke", "--tenant", "acme", "s-1", "--user", "alice"])
        .contains("cannot be used with"));
    assert_eq!(live(&s), 2);

    let real = s.json(&[
        "sessions", "revoke", "--tenant", "acme", "--group", "staff", "--client", "web",
    ]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(real["sessions"], dry["sessions"]);
    assert_eq!(
        real["backchannel_deliveries"],
        dry["backchannel_deliveries"]
    );
    assert_eq!(live(&s), 0);
    let ended = s.json(&["session", "list", "--tenant", "acme"]);
    let reasons: Vec<&str> = ended
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["end_reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "cohort_revoked").count(),
        2,
        "{reasons:?}"
    );
    let deliveries = s.json(&["deliveries", "list", "--tenant", "acme"]);
    assert_eq!(
        deliveries.as_array().unwrap().len(),
        3,
        "one per ended session"
    );
}

#[tokio::test]
async fn exports_stream_every_page_to_stdout() {
    let s = governed().await;
    // More than two export pages (1000 rows each).
    s.json(&[
        "bench-seed",
        "--tenant",
        "acme",
        "--username",
        "alice",
        "--clients",
        "web",
        "--sessions",
        "2100",
        "--sid-prefix",
        "s-",
    ]);
    s.json(&["session", "revoke", "--tenant", "acme", "s-7"]);
    let csv = s.stdout(&["sessions", "export", "--tenant", "acme"]);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("sid,username,state,mode,created_at"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2100, "one header, then every session once");
    assert!(
        !rows.iter().any(|r| r.starts_with("sid,")),
        "the header comes once"
    );
    let mut sids: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 2100);

    let active = s.stdout(&[
        "session", "export", "--tenant", "acme", "--format", "jsonl", "--active",
    ]);
    let parsed: Vec<Value> = active
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), 2099);
    assert!(parsed
        .iter()
        .all(|p| p["username"] == "alice" && p["state"] == "active"));

    let ev = s.stdout(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "jsonl",
        "--session",
        "s-7",
    ]);
    let ev: Vec<Value> = ev
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["kind"], "session.ended");
    assert_eq!(ev[0]["sid"], "s-7");
    assert_eq!(ev[0]["actor"], "cli");
    let by_kind = s.stdout(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--kind",
        "session.ended",
        "--user",
        "alice",
        "--since",
        "0",
        "--until",
        "4102444800",
    ]);
    assert_eq!(
        by_kind.lines().count(),
        2,
        "header and one event: {by_kind}"
    );
    let later = s.stdout(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--since",
        "2100-01-01T00:00:00Z",
    ]);
    assert_eq!(later.lines().count(), 1, "only the header: {later}");
    for (args, needle) in [
        (vec!["--user", "ghost"], "error: no user 'ghost'"),
        (vec!["--session", "nope"], "error: no session 'nope'"),
        (vec!["--since", "soon"], "since: 'soon' is not a time"),
        (
            vec!["--since", "20", "--until", "10"],
            "since must be before until",
        ),
    ] {
        let mut full = vec!["audit", "export", "--tenant", "acme"];
        full.extend(args.iter().copied());
        let e = s.fails(&full);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    assert!(s
        .fails(&["sessions", "export", "--tenant", "acme", "--format", "xml"])
        .contains("invalid value 'xml'"));

    // A reader that stops early ends the export quietly.
    let mut child = s
        .command()
        .args(["sessions", "export", "--tenant", "acme"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("sid,"));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
