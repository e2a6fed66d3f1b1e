//! `--setup lanyard`: creates a tenant, clients and a user through the `lanyard` CLI so a fresh
//! checkout runs every plan with one command. The CLI contract is in the README.

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::clock::Randomness;
use crate::ctx::{IdleTarget, User};
use crate::listener::{Rp, BACKCHANNEL, FRONTCHANNEL};
use crate::op::{Client, ClientAuth};

pub struct LanyardSetup {
    pub bin: String,
    pub public_url: String,
    pub idle_secs: u64,
}

/// What setup produced: the run's configuration.
pub struct Provisioned {
    pub issuer: String,
    pub client: Client,
    pub client2: Client,
    pub user: User,
    pub idle: IdleTarget,
}

fn cli(bin: &str, public_url: &str, args: &[String], stdin: Option<&str>) -> Result<Value> {
    // Secrets are passed as arguments only when the CLI has no stdin form; log without them.
    let shown: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with("--secret"))
        .collect();
    eprintln!("setup: {bin} {}", shown.join(" "));
    let mut cmd = Command::new(bin);
    // The CLI derives printed issuers from its own configuration; make it agree with the server.
    if std::env::var_os("LANYARD_PUBLIC_URL").is_none() {
        cmd.env("LANYARD_PUBLIC_URL", public_url);
    }
    // The runner's RP listens on loopback, a destination Lanyard refuses unless allowed.
    if std::env::var_os("LANYARD_ALLOW_PRIVATE_DESTINATIONS").is_none() {
        cmd.env("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback");
    }
    let mut child = cmd
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{bin} {}` failed ({}): {}",
            shown.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let json_line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or(text.trim());
    serde_json::from_str(json_line)
        .with_context(|| format!("`{}` did not print a JSON object: {text}", shown.join(" ")))
}

fn s(v: &str) -> String {
    v.to_owned()
}

impl LanyardSetup {
    fn tenant(&self, slug: &str, idle: Option<u64>) -> Result<String> {
        let mut args = vec![
            s("tenant"),
            s("create"),
            s(slug),
            s("--name"),
            format!("Conformance {slug}"),
        ];
        if let Some(secs) = idle {
            args.extend([s("--session-idle-timeout"), secs.to_string()]);
        }
        let v = cli(&self.bin, &self.public_url, &args, None)?;
        // The contract: the issuer of tenant SLUG is {public_url}/t/{SLUG}.
        let issuer = format!("{}/t/{slug}", self.public_url.trim_end_matches('/'));
        if let Some(printed) = v.get("issuer").and_then(Value::as_str) {
            if printed != issuer {
                eprintln!("setup: warning: the CLI printed issuer {printed}, using {issuer} (--lanyard-url)");
            }
        }
        Ok(issuer)
    }

    fn user(&self, slug: &str, user: &User) -> Result<()> {
        let args = vec![
            s("user"),
            s("create"),
            s("--tenant"),
            s(slug),
            user.username.clone(),
            s("--email"),
            format!("{}@example.test", user.username),
            s("--password-stdin"),
        ];
        cli(
            &self.bin,
            &self.public_url,
            &args,
            Some(&format!("{}\n", user.password)),
        )
        .map(drop)
    }

    fn client(
        &self,
        slug: &str,
        id: &str,
        secret: &str,
        auth: ClientAuth,
        rp: &Rp,
    ) -> Result<Client> {
        let method = match auth {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Post => "client_secret_post",
        };
        let args = vec![
            s("client"),
            s("create"),
            s("--tenant"),
            s(slug),
            s(id),
            s("--redirect-uri"),
            rp.callback().to_string(),
            s("--post-logout-redirect-uri"),
            rp.post_logout().to_string(),
            s("--backchannel-logout-uri"),
            rp.url(BACKCHANNEL).to_string(),
            s("--frontchannel-logout-uri"),
            rp.url(FRONTCHANNEL).to_string(),
            s("--grant-type"),
            s("authorization_code"),
            s("--grant-type"),
            s("refresh_token"),
            s("--token-endpoint-auth-method"),
            s(method),
            // `=` form: a generated secret may start with '-' and must not parse as a flag.
            format!("--secret={secret}"),
        ];
        let v = cli(&self.bin, &self.public_url, &args, None)?;
        let secret = v
            .get("client_secret")
            .and_then(Value::as_str)
            .unwrap_or(secret)
            .to_owned();
        let id = v
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned();
        Ok(Client { id, secret, auth })
    }

    /// Creates `conf-<random>` (normal policy) and `conf-<random>-idle` (short idle timeout).
    pub fn provision(&self, rp: &Rp, rng: Randomness) -> Result<Provisioned> {
        let slug = format!("conf-{}", rng.slug(8));
        let user = User {
            username: s("conformance-user"),
            password: rng.token(18),
        };
        let issuer = self.tenant(&slug, None)?;
        self.user(&slug, &user)?;
        let client = self.client(
            &slug,
            "conformance-1",
            &rng.token(24),
            ClientAuth::Basic,
            rp,
        )?;
        let client2 = self.client(&slug, "conformance-2", &rng.token(24), ClientAuth::Post, rp)?;
        let idle_slug = format!("{slug}-idle");
        let idle_issuer = self.tenant(&idle_slug, Some(self.idle_secs))?;
        self.user(&idle_slug, &user)?;
        let idle_client = self.client(
            &idle_slug,
            "conformance-idle",
            &rng.token(24),
            ClientAuth::Basic,
            rp,
        )?;
        Ok(Provisioned {
            issuer,
            client,
            client2,
            user: user.clone(),
            idle: IdleTarget {
                issuer: idle_issuer,
                client: idle_client,
                user,
                idle_secs: self.idle_secs,
            },
        })
    }
}
