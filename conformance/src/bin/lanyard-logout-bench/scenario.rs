//! The two measurements: one user's sessions revoked (latency to the last RP, many runs) and one
//! tenant-wide revocation (time to drain every token, and the server's peak memory).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::rp::{self, Recorder};
use crate::server::{free_port, Database, Lanyard, Server};
use crate::verify::{self, Expectation, Keys, Verdict};

const CLIENT_SECRET: &str = "bench-client-secret-0123456789";
const USERNAME: &str = "bench";

pub fn backend(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

/// Shared by every measurement: the RP listener, an HTTP client, how to start Lanyard.
#[derive(Debug)]
pub struct Bench {
    bin: PathBuf,
    database_url: String,
    server_env: Vec<(String, String)>,
    timeout: Duration,
    http: reqwest::Client,
    rec: Arc<Recorder>,
    /// RP listener base URLs; RP `i` uses `rp_bases[i % len]`.
    rp_bases: Vec<String>,
}

/// A running server on a fresh database with one tenant set up for a measurement.
struct Setup {
    lanyard: Lanyard,
    server: Server,
    db: Database,
    slug: String,
    issuer: String,
    sub: String,
    admin_token: String,
    clients: Vec<String>,
    keys: Keys,
}

impl Setup {
    async fn teardown(self) {
        self.server.stop().await;
        self.db.drop_db().await;
    }

    async fn seed(&self, sessions: u64, spread: bool, sid_prefix: &str) -> anyhow::Result<()> {
        let clients = self.clients.join(",");
        let n = sessions.to_string();
        let mut args = vec![
            "bench-seed",
            "--tenant",
            &self.slug,
            "--username",
            USERNAME,
            "--clients",
            &clients,
            "--sessions",
            &n,
            "--sid-prefix",
            sid_prefix,
        ];
        if spread {
            args.push("--spread");
        }
        let out = self.lanyard.cli(&args).await?;
        if out["sessions_created"].as_u64() != Some(sessions) {
            bail!(
                "bench-seed created {} sessions, wanted {sessions}",
                out["sessions_created"]
            );
        }
        Ok(())
    }

    fn expectation(&self, sid_prefix: &str, sessions: u64, spread: bool) -> Expectation {
        Expectation {
            issuer: self.issuer.clone(),
            sub: self.sub.clone(),
            sid_prefix: sid_prefix.to_string(),
            sessions,
            clients: self.clients.clone(),
            spread,
        }
    }

    /// POST an admin revocation; returns `sessions_ended`.
    async fn revoke(&self, http: &reqwest::Client, path: &str) -> anyhow::Result<u64> {
        let url = format!(
            "{}/api/v1/tenants/{}/{path}",
            self.lanyard.base_url(),
            self.slug
        );
        let res = http
            .post(&url)
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {url}: HTTP {status} {body}");
        }
        Ok(body["sessions_ended"].as_u64().unwrap_or_default())
    }

    /// `POST .../sessions/revoke` with a selector; returns the sessions the report counts.
    async fn revoke_cohort(&self, http: &reqwest::Client, selector: Value) -> anyhow::Result<u64> {
        let url = format!(
            "{}/api/v1/tenants/{}/sessions/revoke",
            self.lanyard.base_url(),
            self.slug
        );
        let res = http
            .post(&url)
            .bearer_auth(&self.admin_token)
            .json(&selector)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {url}: HTTP {status} {body}");
        }
        Ok(body["sessions"].as_u64().unwrap_or_default())
    }
}

/// Wall-clock seconds, read once per verification to judge `iat`/`exp`: the bench is an outside
/// observer of the provider, so it has no injected clock to take them from.
#[allow(clippy::disallowed_methods)]
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn print_verdict(v: &Verdict) {
    println!(
        "  tokens: {} received, {} valid, {} invalid, {} missing, {} duplicate, {} jti reused",
        v.received, v.valid, v.invalid, v.missing, v.duplicates, v.jti_reused
    );
    for (reason, n) in &v.invalid_reasons {
        println!("    invalid ({reason}): {n}");
    }
}

impl Bench {
    pub async fn new(
        bin: PathBuf,
        database_url: String,
        server_env: Vec<(String, String)>,
        timeout: Duration,
        rp_hosts: usize,
    ) -> anyhow::Result<Self> {
        if !bin.exists() {
            bail!(
                "{} not found; build it with `cargo build --release -p lanyard`",
                bin.display()
            );
        }
        // Generous: a tenant-wide revocation answers only once every session has ended.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(4)
            .build()?;
        let rec = Arc::new(Recorder::default());
        let rp_bases = rp::start_many(rec.clone(), rp_hosts).await?;
        Ok(Bench {
            bin,
            database_url,
            server_env,
            timeout,
            http,
            rec,
            rp_bases,
        })
    }

    /// Fresh database, server, tenant, user, `rps` ES256 clients and an admin token.
    async fn setup(&self, label: &str, rps: usize) -> anyhow::Result<Setup> {
        let db = Database::fresh(&self.database_url, label).await?;
        let lanyard = Lanyard {
            bin: self.bin.clone(),
            database_url: db.url.clone(),
            port: free_port()?,
            server_env: self.server_env.clone(),
        };
        // Migrate and create everything before the server starts, so its caches start cold but
        // its process memory counts only serving.
        let slug = "bench";
        let t = lanyard.cli(&["tenant", "create", slug]).await?;
        let issuer = t["issuer"]
            .as_str()
            .context("tenant create printed no issuer")?
            .to_string();
        let u = lanyard
            .cli(&[
                "user",
                "create",
                "--tenant",
                slug,
                USERNAME,
                "--password",
                "bench-password-1",
            ])
            .await?;
        let sub = u["id"]
            .as_str()
            .context("user create printed no id")?
            .to_string();
        let mut clients = Vec::with_capacity(rps);
        for i in 0..rps {
            let id = format!("rp-{i:03}");
            let uri = format!("{}/{id}", self.rp_bases[i % self.rp_bases.len()]);
            lanyard
                .cli(&[
                    "client",
                    "create",
                    "--tenant",
                    slug,
                    &id,
                    "--secret",
                    CLIENT_SECRET,
                    "--backchannel-logout-uri",
                    &uri,
                    "--id-token-signed-response-alg",
                    "ES256",
                    "--redirect-uri",
                    "http://127.0.0.1/cb",
                ])
                .await?;
            clients.push(id);
        }
        let a = lanyard
            .cli(&["admin-token", "create", "--tenant", slug, "bench"])
            .await?;
        let admin_token = a["token"]
            .as_str()
            .context("admin-token create printed no token")?
            .to_string();
        let server = lanyard.serve(&self.http).await?;
        let keys = Keys::fetch(&self.http, &issuer).await?;
        Ok(Setup {
            lanyard,
            server,
            db,
            slug: slug.to_string(),
            issuer,
            sub,
            admin_token,
            clients,
            keys,
        })
    }

    /// Revoke one user holding `sessions` sessions, session i shared with RP i; `runs` times.
    pub async fn user_revocation(
        &self,
        sessions: u64,
        warmup: u32,
        runs: u32,
    ) -> anyhow::Result<bool> {
        println!("\n## user revocation: {sessions} sessions over {sessions} RPs, {runs} runs (+{warmup} warm-up)");
        let s = self.setup("user", sessions as usize).await?;
        let mut last_rp = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let mut api = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let mut first_rp = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let mut total = Verdict::default();
        let mut failed_runs = 0;
        for r in 0..warmup + runs {
            let prefix = format!("u{r}-");
            s.seed(sessions, true, &prefix).await?;
            self.rec.take();
            let t0 = Instant::now();
            let ended = s
                .revoke(&self.http, &format!("users/{USERNAME}/revoke-sessions"))
                .await?;
            let api_took = t0.elapsed();
            if ended != sessions {
                bail!("run {r}: the revocation ended {ended} sessions, expected {sessions}");
            }
            let got = self.rec.wait_for(sessions, Duration::from_secs(10)).await;
            let arrivals = self.rec.take();
            let v = verify::verify_all(
                &arrivals,
                &s.keys,
                &s.expectation(&prefix, sessions, true),
                now_unix(),
            );
            if got < sessions || !v.ok() {
                failed_runs += 1;
                println!("  run {r}: {got}/{sessions} arrived within 10 s");
                print_verdict(&v);
            }
            if r < warmup {
                continue;
            }
            let last = arrivals
                .iter()
                .map(|a| a.at)
                .max()
                .map_or(Duration::ZERO, |at| at - t0);
            let first = arrivals
                .iter()
                .map(|a| a.at)
                .min()
                .map_or(Duration::ZERO, |at| at - t0);
            last_rp.record(last.as_micros().max(1) as u64)?;
            first_rp.record(first.as_micros().max(1) as u64)?;
            api.record(api_took.as_micros().max(1) as u64)?;
            total.received += v.received;
            total.valid += v.valid;
            total.invalid += v.invalid;
            total.missing += v.missing;
            total.duplicates += v.duplicates;
            total.jti_reused += v.jti_reused;
            for (k, n) in v.invalid_reasons {
                *total.invalid_reasons.entry(k).or_default() += n;
            }
        }
        let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
        println!(
            "  admin call → last RP   p50 {:7.1} ms   p99 {:7.1} ms   max {:7.1} ms",
            q(&last_rp, 0.5),
            q(&last_rp, 0.99),
            last_rp.max() as f64 / 1000.0
        );
        println!(
            "  admin call → first RP  p50 {:7.1} ms   p99 {:7.1} ms",
            q(&first_rp, 0.5),
            q(&first_rp, 0.99)
        );
        println!(
            "  admin call returns     p50 {:7.1} ms   p99 {:7.1} ms",
            q(&api, 0.5),
            q(&api, 0.99)
        );
        // Issue 12: one user with 25 sessions in 25 RPs, admin call to the last receipt.
        println!(
            "  target p99 < 25 ms: {}",
            if q(&last_rp, 0.99) < 25.0 {
                "met"
            } else {
                "MISSED"
            }
        );
        print_verdict(&total);
        s.teardown().await;
        Ok(failed_runs == 0 && total.ok())
    }

    /// One tenant-wide revocation of `sessions` sessions, each with all `rps` RPs; with `cohort`,
    /// a cohort revocation selecting their user instead.
    pub async fn tenant_revocation(
        &self,
        sessions: u64,
        rps: usize,
        cohort: bool,
    ) -> anyhow::Result<bool> {
        let owed = sessions * rps as u64;
        let what = if cohort { "cohort" } else { "tenant" };
        println!("\n## {what} revocation: {sessions} sessions × {rps} RPs = {owed} logout tokens");
        let s = self.setup(&format!("tenant{sessions}"), rps).await?;
        let seed_t = Instant::now();
        s.seed(sessions, false, "t-").await?;
        println!("  seeded in {:.1} s", seed_t.elapsed().as_secs_f64());
        self.rec.take();
        let before = s.server.memory()?;
        let cpu_before = s.server.cpu_secs();
        let sampler = RssSampler::start(s.server.pid);
        let t0 = Instant::now();
        let ended = if cohort {
            s.revoke_cohort(&self.http, serde_json::json!({ "user": USERNAME }))
                .await?
        } else {
            s.revoke(&self.http, "revoke-sessions").await?
        };
        let api_took = t0.elapsed();
        let got = self
            .rec
            .wait_for(owed, self.timeout.saturating_sub(api_took))
            .await;
        let drained = t0.elapsed();
        let after = s.server.memory()?;
        let cpu = s.server.cpu_secs() - cpu_before;
        let peak_sampled = sampler.stop();
        let arrivals = self.rec.take();
        let last = arrivals
            .iter()
            .map(|a| a.at)
            .max()
            .map_or(drained, |at| at - t0);
        println!(
            "  sessions ended by the admin call: {ended} (call returned after {:.2} s)",
            api_took.as_secs_f64()
        );
        println!(
            "  {got}/{owed} tokens arrived; last after {:.2} s ({:.0} tokens/s)",
            last.as_secs_f64(),
            got as f64 / last.as_secs_f64().max(1e-9)
        );
        println!("  server CPU during the run: {cpu:.1} s");
        println!(
            "  server memory: VmHWM {} → {} MiB (VmRSS before {} MiB, peak sampled {} MiB)",
            before.hwm_kib / 1024,
            after.hwm_kib / 1024,
            before.rss_kib / 1024,
            peak_sampled / 1024
        );
        // Issue 12: 100,000 deliveries in < 15 s on SQLite, < 20 s on PostgreSQL; other sizes
        // pro rata.
        let per_100k = if backend(&self.database_url) == "SQLite" {
            15.0
        } else {
            20.0
        };
        let target = per_100k * owed as f64 / 100_000.0;
        println!(
            "  target < {target:.1} s: {}",
            if got >= owed && last.as_secs_f64() < target {
                "met"
            } else {
                "MISSED"
            }
        );
        let vt = Instant::now();
        let v = verify::verify_all(
            &arrivals,
            &s.keys,
            &s.expectation("t-", sessions, false),
            now_unix(),
        );
        println!(
            "  verified {} tokens in {:.1} s",
            arrivals.len(),
            vt.elapsed().as_secs_f64()
        );
        print_verdict(&v);
        s.teardown().await;
        Ok(got >= owed && v.ok())
    }
}

/// Samples the server's VmRSS every 50 ms, keeping the maximum (VmHWM is the kernel's own peak;
/// the sample shows whether the peak belongs to the revocation or to start-up).
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (st, pk) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !st.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let rss = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    pk.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssSampler { stop, peak }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}
