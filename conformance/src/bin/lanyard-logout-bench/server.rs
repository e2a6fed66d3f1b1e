//! The Lanyard under test, driven from outside: the `lanyard` binary as a child process on a
//! database of our choosing, its CLI for setup (tenant, user, clients, admin token, bench-seed),
//! and its peak memory from `/proc/PID/status`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::process::{Child, Command};

/// How to run `lanyard`: the binary, the database and the public URL every command shares (the
/// issuer in logout tokens derives from the public URL, so CLI and server must agree on it).
#[derive(Debug, Clone)]
pub struct Lanyard {
    pub bin: PathBuf,
    pub database_url: String,
    pub port: u16,
    /// Extra `LANYARD_*` variables for the server (e.g. delivery concurrency).
    pub server_env: Vec<(String, String)>,
}

impl Lanyard {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("LANYARD_DATABASE_URL", &self.database_url)
            .env("LANYARD_BIND", format!("127.0.0.1:{}", self.port))
            .env("LANYARD_PUBLIC_URL", self.base_url())
            .env("LANYARD_DEMO", "false")
            // The bench's RPs listen on loopback.
            .env("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback")
            .env("LANYARD_LOG", "warn")
            .kill_on_drop(true);
        c
    }

    /// Run one CLI command and parse the JSON object it prints.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "lanyard {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_default();
        serde_json::from_str(line)
            .with_context(|| format!("lanyard {}: unexpected output {text:?}", args.join(" ")))
    }

    /// Start `lanyard serve` and wait until it answers HTTP.
    pub async fn serve(&self, http: &reqwest::Client) -> anyhow::Result<Server> {
        let mut cmd = self.command();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in &self.server_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let pid = child.id().context("server exited at once")?;
        let probe = format!("{}/api/v1/openapi.json", self.base_url());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("lanyard serve exited during start-up: {status}");
            }
            if http.get(&probe).send().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("lanyard serve did not answer {probe} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server { child, pid })
    }
}

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub pid: u32,
}

/// Resident memory of a process, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Current resident set.
    pub rss_kib: u64,
    /// Peak resident set since the process started (the kernel's high-water mark).
    pub hwm_kib: u64,
}

impl Server {
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("cannot read /proc/PID/status (Linux only)")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        })
    }

    /// CPU seconds (user + system) the server has used so far, from `/proc/PID/stat`.
    pub fn cpu_secs(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return 0.0;
        };
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // CLK_TCK is 100 on every Linux this runs on.
        (ticks(11) + ticks(12)) / 100.0
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough on a quiet machine).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A fresh, empty database for one measurement: a new SQLite file, or a new PostgreSQL database
/// created next to the one `base` names (dropped again by [`Database::drop_db`]).
#[derive(Debug)]
pub struct Database {
    pub url: String,
    postgres_admin: Option<(String, String)>,
}

impl Database {
    pub async fn fresh(base: &str, label: &str) -> anyhow::Result<Self> {
        let tag = format!("lanyard_bench_{}_{}", label, std::process::id());
        if base.starts_with("sqlite:") {
            let dir = std::env::temp_dir().join(format!("{tag}_{}", rand::random::<u32>()));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}/lanyard.db?mode=rwc", dir.display());
            return Ok(Database {
                url,
                postgres_admin: None,
            });
        }
        if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
            bail!("--database-url must start with sqlite: or postgres://");
        }
        let parsed = url::Url::parse(base).context("--database-url is not a URL")?;
        let name = format!("{tag}_{}", rand::random::<u32>());
        let mut admin = parsed.clone();
        admin.set_path("/postgres");
        let mut url = parsed;
        url.set_path(&format!("/{name}"));
        psql(admin.as_str(), &format!("CREATE DATABASE {name}")).await?;
        Ok(Database {
            url: url.to_string(),
            postgres_admin: Some((admin.to_string(), name)),
        })
    }

    pub async fn drop_db(self) {
        if let Some((admin, name)) = self.postgres_admin {
            let _ = psql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// Run one statement with `psql` (the bench keeps no PostgreSQL driver of its own).
async fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .await
        .context("cannot run psql (needed to create a scratch PostgreSQL database)")?;
    if !out.status.success() {
        bail!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
