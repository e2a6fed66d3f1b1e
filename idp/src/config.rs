//! Typed configuration from `lanyard.toml` and `LANYARD_*` environment variables.
//!
//! Precedence: environment over file over defaults. Validation reports the first wrong key in one
//! line naming the key and why, so start-up fails clearly rather than half-working.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:...` or `postgres://...`.
    pub database_url: UrlWithSecret,
    /// PostgreSQL connections per node (writer pool; the reader pool gets a third). SQLite
    /// always has one writer connection.
    pub database_max_connections: Option<u32>,
    pub bind: String,
    /// Base URL every issuer hangs off: `{public_url}/t/{slug}`. No trailing slash.
    pub public_url: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Directory whose templates override the embedded ones (operators theme their pages).
    pub templates_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    /// How often the sweeper looks for expired sessions.
    pub sweep_interval_secs: u64,
    pub delivery: DeliveryConfig,
    /// Seed the demo tenant on an empty database.
    pub demo: bool,
    /// Peers whose `Forwarded` / `X-Forwarded-For` headers are believed (`http::client_ip`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A header trusted proxies set to the client's ISO 3166 country (binding by country).
    pub geo_country_header: Option<String>,
    /// Headers trusted proxies set to the client's latitude and longitude (decimal degrees),
    /// for impossible-travel checks; both or neither.
    pub geo_latitude_header: Option<String>,
    pub geo_longitude_header: Option<String>,
    /// A MaxMind-format (`.mmdb`) city or country database: country and location of client
    /// addresses that no trusted proxy header describes.
    pub geoip_database: Option<PathBuf>,
    /// A header trusted proxies set to the device's posture (`disk_encryption=off,...`), for
    /// the device trust score.
    pub device_posture_header: Option<String>,
    /// A separate listen address for `/metrics`; when set, the main address does not serve it.
    pub metrics_bind: Option<String>,
    /// Whether DPoP proofs must carry a server-provided nonce (RFC 9449 §8, §9).
    pub dpop_nonce_required: bool,
    pub mail: MailConfig,
    /// Non-global ranges Lanyard may still send to (`LANYARD_ALLOW_PRIVATE_DESTINATIONS`): none
    /// by default, loopback for development and tests (`http::destination`).
    pub allow_private_destinations: crate::http::destination::DestinationPolicy,
}

/// Outgoing e-mail (delivered through the outbox like logout tokens).
#[derive(Debug, Clone, Default)]
pub struct MailConfig {
    /// `smtp://` (STARTTLS when the server offers it; `?tls=required` insists), `smtps://`
    /// (implicit TLS), credentials in the URL. None: e-mail is off and nothing is enqueued.
    pub smtp_url: Option<SmtpUrl>,
    /// The From address when a tenant has none of its own.
    pub from: Option<String>,
}

/// An SMTP URL. Its password never reaches `Debug` or a log line (STYLE.md rule 12).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(u.scheme(), "smtp" | "smtps") {
            return Err("must start with smtp:// or smtps://".into());
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        Ok(Self(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Scheme, host and port only, for log lines.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => format!(
                "{}://{}:{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port()
                    .unwrap_or(if u.scheme() == "smtps" { 465 } else { 587 })
            ),
            Err(_) => "***".into(),
        }
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpUrl({})", self.redacted())
    }
}

/// The shape check for a single mailbox (`name@domain`), the same for every address setting.
pub fn valid_mailbox(s: &str) -> bool {
    s.len() <= 254
        && !s.contains(char::is_whitespace)
        && !s.contains(['<', '>', ',', '"'])
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
}

/// A URL that may carry a password (`postgres://user:secret@host/db`): used as the `&str` it
/// is, but `Debug` and `Display` print it with the password replaced, so a `{:?}` of the config
/// or the application state never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlWithSecret(String);

impl UrlWithSecret {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, secret included (to hand to a child process's environment).
    pub fn to_string_unredacted(&self) -> String {
        self.0.clone()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
            // Not parseable as a URL: it may still hold a secret somewhere; show only the scheme.
            Err(_) => match self.0.split_once(':') {
                Some((scheme, _)) => format!("{scheme}:***"),
                None => "***".into(),
            },
        }
    }
}

impl std::ops::Deref for UrlWithSecret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for UrlWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl std::fmt::Display for UrlWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Back-channel logout dispatcher settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub concurrency: usize,
    /// Deliveries in flight per target (back-channel logout URI or mail recipient) per node.
    pub per_destination: usize,
    pub timeout_ms: u64,
    pub max_attempts: i64,
    pub max_age_secs: i64,
    pub base_backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub lease_ms: i64,
    pub poll_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_destination: 8,
            timeout_ms: 5_000,
            max_attempts: 12,
            max_age_secs: 24 * 3600,
            base_backoff_ms: 500,
            max_backoff_ms: 5 * 60_000,
            lease_ms: 30_000,
            poll_ms: 500,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    log_format: Option<String>,
    sweep_interval_secs: Option<u64>,
    demo: Option<bool>,
    delivery_concurrency: Option<usize>,
    delivery_per_destination: Option<usize>,
    delivery_timeout_ms: Option<u64>,
    delivery_max_attempts: Option<i64>,
    delivery_max_age_secs: Option<i64>,
    delivery_lease_ms: Option<i64>,
    delivery_poll_ms: Option<u64>,
    trusted_proxies: Option<StrOrList>,
    metrics_bind: Option<String>,
    geo_country_header: Option<String>,
    geo_latitude_header: Option<String>,
    geo_longitude_header: Option<String>,
    geoip_database: Option<PathBuf>,
    device_posture_header: Option<String>,
    database_max_connections: Option<u32>,
    dpop_nonce_required: Option<bool>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    allow_private_destinations: Option<StrOrList>,
}

/// A list in the file may be written as a TOML array or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StrOrList {
    Str(String),
    List(Vec<String>),
}

/// A configuration error: the key and the reason, printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

impl Config {
    /// Load from an optional file and the given environment lookup.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (fc, explicit) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("lanyard.toml"), false),
        };
        let file_cfg: FileConfig = if fc.exists() {
            let text = std::fs::read_to_string(&fc)
                .map_err(|e| err(&fc.display().to_string(), format!("cannot read: {e}")))?;
            toml::from_str(&text)
                .map_err(|e| err(&fc.display().to_string(), e.message().to_string()))?
        } else if explicit {
            return Err(err(&fc.display().to_string(), "file not found"));
        } else {
            FileConfig::default()
        };

        let database_url = env("LANYARD_DATABASE_URL")
            .or(file_cfg.database_url)
            .unwrap_or_else(|| "sqlite://lanyard.db?mode=rwc".to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(err(
                "LANYARD_DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        let bind = env("LANYARD_BIND")
            .or(file_cfg.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "LANYARD_BIND",
                "must be an address:port such as 127.0.0.1:8080",
            ));
        }
        let tls_cert = env("LANYARD_TLS_CERT")
            .map(PathBuf::from)
            .or(file_cfg.tls_cert);
        let tls_key = env("LANYARD_TLS_KEY")
            .map(PathBuf::from)
            .or(file_cfg.tls_key);
        if tls_cert.is_some() != tls_key.is_some() {
            return Err(err(
                "LANYARD_TLS_CERT",
                "LANYARD_TLS_CERT and LANYARD_TLS_KEY must be set together",
            ));
        }
        let scheme = if tls_cert.is_some() { "https" } else { "http" };
        let public_url = env("LANYARD_PUBLIC_URL")
            .or(file_cfg.public_url)
            .unwrap_or_else(|| format!("{scheme}://{bind}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        match url::Url::parse(&public_url) {
            Ok(u)
                if (u.scheme() == "http" || u.scheme() == "https")
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.host().is_some() => {}
            _ => {
                return Err(err(
                    "LANYARD_PUBLIC_URL",
                    "must be an absolute http(s) URL without query or fragment",
                ))
            }
        }
        let log_format = match env("LANYARD_LOG_FORMAT").or(file_cfg.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(err("LANYARD_LOG_FORMAT", "must be text or json")),
        };
        let sweep_interval_secs = parse_num(
            env,
            "LANYARD_SWEEP_INTERVAL_SECS",
            file_cfg.sweep_interval_secs,
            5,
        )?;
        if sweep_interval_secs == 0 {
            return Err(err("LANYARD_SWEEP_INTERVAL_SECS", "must be at least 1"));
        }
        let demo = match env("LANYARD_DEMO").as_deref() {
            None => file_cfg.demo.unwrap_or(true),
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(err("LANYARD_DEMO", "must be true or false")),
        };
        let dpop_nonce_required = match env("LANYARD_DPOP_NONCE_REQUIRED").as_deref() {
            None => file_cfg.dpop_nonce_required.unwrap_or(true),
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(err("LANYARD_DPOP_NONCE_REQUIRED", "must be true or false")),
        };
        let d = DeliveryConfig::default();
        let delivery = DeliveryConfig {
            concurrency: parse_num(
                env,
                "LANYARD_DELIVERY_CONCURRENCY",
                file_cfg.delivery_concurrency,
                d.concurrency,
            )?,
            per_destination: parse_num(
                env,
                "LANYARD_DELIVERY_PER_DESTINATION",
                file_cfg.delivery_per_destination,
                d.per_destination,
            )?,
            timeout_ms: parse_num(
                env,
                "LANYARD_DELIVERY_TIMEOUT_MS",
                file_cfg.delivery_timeout_ms,
                d.timeout_ms,
            )?,
            max_attempts: parse_num(
                env,
                "LANYARD_DELIVERY_MAX_ATTEMPTS",
                file_cfg.delivery_max_attempts,
                d.max_attempts,
            )?,
            max_age_secs: parse_num(
                env,
                "LANYARD_DELIVERY_MAX_AGE_SECS",
                file_cfg.delivery_max_age_secs,
                d.max_age_secs,
            )?,
            lease_ms: parse_num(
                env,
                "LANYARD_DELIVERY_LEASE_MS",
                file_cfg.delivery_lease_ms,
                d.lease_ms,
            )?,
            poll_ms: parse_num(
                env,
                "LANYARD_DELIVERY_POLL_MS",
                file_cfg.delivery_poll_ms,
                d.poll_ms,
            )?,
            ..d
        };
        if delivery.poll_ms < 10 {
            return Err(err("LANYARD_DELIVERY_POLL_MS", "must be at least 10"));
        }
        if delivery.lease_ms < 1000 || delivery.lease_ms <= delivery.timeout_ms as i64 {
            return Err(err(
                "LANYARD_DELIVERY_LEASE_MS",
                "must be at least 1000 and longer than LANYARD_DELIVERY_TIMEOUT_MS",
            ));
        }
        if delivery.concurrency == 0 {
            return Err(err("LANYARD_DELIVERY_CONCURRENCY", "must be at least 1"));
        }
        if delivery.per_destination == 0 {
            return Err(err(
                "LANYARD_DELIVERY_PER_DESTINATION",
                "must be at least 1",
            ));
        }
        let trusted_proxies = match env("LANYARD_TRUSTED_PROXIES") {
            Some(v) => v,
            None => match file_cfg.trusted_proxies {
                Some(StrOrList::Str(s)) => s,
                Some(StrOrList::List(l)) => l.join(","),
                None => String::new(),
            },
        };
        let trusted_proxies = crate::http::client_ip::parse_trusted(&trusted_proxies)
            .map_err(|e| err("LANYARD_TRUSTED_PROXIES", e))?;
        let allow_private_destinations = match env("LANYARD_ALLOW_PRIVATE_DESTINATIONS") {
            Some(v) => v,
            None => match file_cfg.allow_private_destinations {
                Some(StrOrList::Str(s)) => s,
                Some(StrOrList::List(l)) => l.join(","),
                None => String::new(),
            },
        };
        let allow_private_destinations =
            crate::http::destination::DestinationPolicy::parse(&allow_private_destinations)
                .map_err(|e| err("LANYARD_ALLOW_PRIVATE_DESTINATIONS", e))?;
        let metrics_bind = env("LANYARD_METRICS_BIND").or(file_cfg.metrics_bind);
        if let Some(m) = &metrics_bind {
            if m.parse::<std::net::SocketAddr>().is_err() {
                return Err(err(
                    "LANYARD_METRICS_BIND",
                    "must be an address:port such as 127.0.0.1:9090",
                ));
            }
            if *m == bind {
                return Err(err(
                    "LANYARD_METRICS_BIND",
                    "must differ from LANYARD_BIND (unset it to serve /metrics on the main port)",
                ));
            }
        }
        let templates_dir = env("LANYARD_TEMPLATES_DIR")
            .map(PathBuf::from)
            .or(file_cfg.templates_dir);
        if let Some(dir) = &templates_dir {
            if !dir.is_dir() {
                return Err(err(
                    "LANYARD_TEMPLATES_DIR",
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        let geo_country_header = env("LANYARD_GEO_COUNTRY_HEADER").or(file_cfg.geo_country_header);
        if let Some(h) = &geo_country_header {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(err(
                    "LANYARD_GEO_COUNTRY_HEADER",
                    "must be an HTTP header name",
                ));
            }
        }
        let geo_latitude_header =
            env("LANYARD_GEO_LATITUDE_HEADER").or(file_cfg.geo_latitude_header);
        let geo_longitude_header =
            env("LANYARD_GEO_LONGITUDE_HEADER").or(file_cfg.geo_longitude_header);
        let device_posture_header =
            env("LANYARD_DEVICE_POSTURE_HEADER").or(file_cfg.device_posture_header);
        for (key, h) in [
            ("LANYARD_GEO_LATITUDE_HEADER", &geo_latitude_header),
            ("LANYARD_GEO_LONGITUDE_HEADER", &geo_longitude_header),
            ("LANYARD_DEVICE_POSTURE_HEADER", &device_posture_header),
        ] {
            if let Some(h) = h {
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(err(key, "must be an HTTP header name"));
                }
            }
        }
        if geo_latitude_header.is_some() != geo_longitude_header.is_some() {
            return Err(err(
                "LANYARD_GEO_LATITUDE_HEADER",
                "set both LANYARD_GEO_LATITUDE_HEADER and LANYARD_GEO_LONGITUDE_HEADER, or neither",
            ));
        }
        let geoip_database = env("LANYARD_GEOIP_DATABASE")
            .map(PathBuf::from)
            .or(file_cfg.geoip_database);
        if let Some(p) = &geoip_database {
            if !p.is_file() {
                return Err(err(
                    "LANYARD_GEOIP_DATABASE",
                    format!("{} is not a file", p.display()),
                ));
            }
        }
        let database_max_connections = match env("LANYARD_DATABASE_MAX_CONNECTIONS") {
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (2..=1000).contains(n))
                    .ok_or_else(|| {
                        err(
                            "LANYARD_DATABASE_MAX_CONNECTIONS",
                            "must be a number from 2 to 1000",
                        )
                    })?,
            ),
            None => file_cfg.database_max_connections,
        };
        let smtp_url = match env("LANYARD_SMTP_URL")
            .or(file_cfg.smtp_url)
            .filter(|u| !u.is_empty())
        {
            Some(u) => Some(SmtpUrl::parse(&u).map_err(|e| err("LANYARD_SMTP_URL", e))?),
            None => None,
        };
        let mail_from = env("LANYARD_MAIL_FROM").or(file_cfg.mail_from);
        if let Some(f) = &mail_from {
            if !valid_mailbox(f) {
                return Err(err(
                    "LANYARD_MAIL_FROM",
                    "must be an address like id@example.com",
                ));
            }
        }
        Ok(Config {
            mail: MailConfig {
                smtp_url,
                from: mail_from,
            },
            database_max_connections,
            trusted_proxies,
            geo_country_header: geo_country_header.map(|h| h.to_ascii_lowercase()),
            geo_latitude_header: geo_latitude_header.map(|h| h.to_ascii_lowercase()),
            geo_longitude_header: geo_longitude_header.map(|h| h.to_ascii_lowercase()),
            geoip_database,
            device_posture_header: device_posture_header.map(|h| h.to_ascii_lowercase()),
            database_url: UrlWithSecret::new(database_url),
            bind,
            public_url,
            tls_cert,
            tls_key,
            templates_dir,
            log_format,
            sweep_interval_secs,
            delivery,
            demo,
            metrics_bind,
            dpop_nonce_required,
            allow_private_destinations,
        })
    }

    /// The issuer identifier of a tenant.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/t/{}", self.public_url, slug)
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn parse_num<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    file: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match env(key) {
        Some(v) => v
            .parse()
            .map_err(|_| err(key, "must be a non-negative integer")),
        None => Ok(file.unwrap_or(default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(None, &move |k| m.get(k).cloned())
    }

    #[test]
    fn debug_never_prints_the_database_password() {
        let c = load(&[(
            "LANYARD_DATABASE_URL",
            "postgres://lanyard:hunter2-secret@db:5432/l",
        )])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2-secret"), "{printed}");
        assert!(
            printed.contains("postgres://lanyard:***@db:5432/l"),
            "{printed}"
        );
        assert_eq!(
            &*c.database_url,
            "postgres://lanyard:hunter2-secret@db:5432/l"
        );
        assert_eq!(
            format!("{}", c.database_url),
            "postgres://lanyard:***@db:5432/l"
        );
        let plain = UrlWithSecret::new("sqlite://lanyard.db?mode=rwc");
        assert_eq!(plain.redacted(), "sqlite://lanyard.db?mode=rwc");
    }

    #[test]
    fn defaults_serve_sqlite_on_loopback() {
        let c = load(&[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite:"));
        assert_eq!(c.issuer("demo"), "http://127.0.0.1:8080/t/demo");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load(&[("LANYARD_BIND", "nope")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_BIND");
        let e = load(&[("LANYARD_PUBLIC_URL", "ftp://x")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_PUBLIC_URL");
        let e = load(&[("LANYARD_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_DATABASE_URL");
        assert!(e
            .to_string()
            .starts_with("configuration error: LANYARD_DATABASE_URL"));
    }

    #[test]
    fn trusted_proxies_parse_or_name_the_key() {
        assert!(load(&[]).unwrap().trusted_proxies.is_empty());
        let c = load(&[("LANYARD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let e = load(&[("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "intranet")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_ALLOW_PRIVATE_DESTINATIONS");
        let c = load(&[("LANYARD_ALLOW_PRIVATE_DESTINATIONS", "loopback")]).unwrap();
        assert!(c
            .allow_private_destinations
            .evaluate_address("127.0.0.1".parse().unwrap())
            .is_ok());
        assert!(load(&[])
            .unwrap()
            .allow_private_destinations
            .evaluate_address("127.0.0.1".parse().unwrap())
            .is_err());
        let e = load(&[("LANYARD_TRUSTED_PROXIES", "10.0.0.0/99")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_TRUSTED_PROXIES");
        let f = std::env::temp_dir().join(format!("lanyard-proxies-{}.toml", std::process::id()));
        std::fs::write(&f, "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        let c = Config::load(Some(&f), &|_| None).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let _ = std::fs::remove_file(&f);
    }

    #[test]
    fn metrics_bind_is_an_address_other_than_bind() {
        assert_eq!(load(&[]).unwrap().metrics_bind, None);
        let c = load(&[("LANYARD_METRICS_BIND", "127.0.0.1:9090")]).unwrap();
        assert_eq!(c.metrics_bind.as_deref(), Some("127.0.0.1:9090"));
        let e = load(&[("LANYARD_METRICS_BIND", "9090")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_METRICS_BIND");
        let e = load(&[("LANYARD_METRICS_BIND", "127.0.0.1:8080")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_METRICS_BIND");
    }

    /// docs/lanyard.example.toml cannot drift: as shipped it loads to exactly the defaults, and
    /// with its `#key = value` lines enabled it sets every key the file accepts.
    #[test]
    fn the_example_file_has_every_key_and_the_real_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lanyard.example.toml");
        let shipped = Config::load(Some(&path), &|_| None).unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{:?}", load(&[]).unwrap()));
        let text = std::fs::read_to_string(&path).unwrap();
        let enabled: Vec<&str> = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .collect();
        let all: FileConfig = toml::from_str(&enabled.join("\n")).unwrap();
        // No `..`: a key added to FileConfig does not compile here until it is handled, and
        // the assertion below makes the example carry it.
        let FileConfig {
            database_url,
            bind,
            public_url,
            tls_cert,
            tls_key,
            templates_dir,
            log_format,
            sweep_interval_secs,
            demo,
            delivery_concurrency,
            delivery_per_destination,
            delivery_timeout_ms,
            delivery_max_attempts,
            delivery_max_age_secs,
            delivery_lease_ms,
            delivery_poll_ms,
            metrics_bind,
            trusted_proxies,
            geo_country_header,
            geo_latitude_header,
            geo_longitude_header,
            geoip_database,
            device_posture_header,
            database_max_connections,
            dpop_nonce_required,
            smtp_url,
            mail_from,
            allow_private_destinations,
        } = all;
        let set = [
            database_url.is_some(),
            bind.is_some(),
            public_url.is_some(),
            tls_cert.is_some(),
            tls_key.is_some(),
            templates_dir.is_some(),
            log_format.is_some(),
            sweep_interval_secs.is_some(),
            demo.is_some(),
            delivery_concurrency.is_some(),
            delivery_per_destination.is_some(),
            delivery_timeout_ms.is_some(),
            delivery_max_attempts.is_some(),
            delivery_max_age_secs.is_some(),
            delivery_lease_ms.is_some(),
            delivery_poll_ms.is_some(),
            metrics_bind.is_some(),
            trusted_proxies.is_some(),
            geo_country_header.is_some(),
            geo_latitude_header.is_some(),
            geo_longitude_header.is_some(),
            geoip_database.is_some(),
            device_posture_header.is_some(),
            database_max_connections.is_some(),
            dpop_nonce_required.is_some(),
            smtp_url.is_some(),
            mail_from.is_some(),
            allow_private_destinations.is_some(),
        ];
        assert!(set.iter().all(|s| *s), "every key in the example: {set:?}");
    }

    #[test]
    fn a_missing_templates_dir_names_the_key_and_the_path() {
        let e = load(&[("LANYARD_TEMPLATES_DIR", "/nonexistent/lanyard-themes")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_TEMPLATES_DIR");
        assert!(e.reason.contains("/nonexistent/lanyard-themes"), "{e}");
        let dir = std::env::temp_dir();
        let c = load(&[("LANYARD_TEMPLATES_DIR", dir.to_str().unwrap())]).unwrap();
        assert_eq!(c.templates_dir.as_deref(), Some(dir.as_path()));
    }

    #[test]
    fn dpop_nonces_are_required_unless_switched_off() {
        assert!(load(&[]).unwrap().dpop_nonce_required);
        assert!(
            !load(&[("LANYARD_DPOP_NONCE_REQUIRED", "false")])
                .unwrap()
                .dpop_nonce_required
        );
        let e = load(&[("LANYARD_DPOP_NONCE_REQUIRED", "maybe")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_DPOP_NONCE_REQUIRED");
    }

    #[test]
    fn geo_headers_come_in_pairs_and_the_database_must_exist() {
        let c = load(&[
            ("LANYARD_GEO_LATITUDE_HEADER", "X-Geo-Lat"),
            ("LANYARD_GEO_LONGITUDE_HEADER", "X-Geo-Lon"),
        ])
        .unwrap();
        assert_eq!(c.geo_latitude_header.as_deref(), Some("x-geo-lat"));
        assert_eq!(c.geo_longitude_header.as_deref(), Some("x-geo-lon"));
        let e = load(&[("LANYARD_GEO_LATITUDE_HEADER", "X-Geo-Lat")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_GEO_LATITUDE_HEADER");
        let e = load(&[
            ("LANYARD_GEO_LATITUDE_HEADER", "X-Geo-Lat"),
            ("LANYARD_GEO_LONGITUDE_HEADER", "bad header"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "LANYARD_GEO_LONGITUDE_HEADER");
        let e = load(&[("LANYARD_GEOIP_DATABASE", "/nonexistent/city.mmdb")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_GEOIP_DATABASE");
        assert!(e.reason.contains("/nonexistent/city.mmdb"), "{e}");
    }

    #[test]
    fn smtp_url_is_checked_and_never_shown_with_its_password() {
        assert!(load(&[]).unwrap().mail.smtp_url.is_none());
        let c = load(&[
            (
                "LANYARD_SMTP_URL",
                "smtps://mailer:hunter2@mail.example.com",
            ),
            ("LANYARD_MAIL_FROM", "id@example.com"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("smtps://mail.example.com:465"), "{dbg}");
        assert_eq!(c.mail.from.as_deref(), Some("id@example.com"));
        let e = load(&[("LANYARD_SMTP_URL", "http://mail.example.com")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_SMTP_URL");
        let e = load(&[("LANYARD_MAIL_FROM", "not an address")]).unwrap_err();
        assert_eq!(e.key, "LANYARD_MAIL_FROM");
    }

    #[test]
    fn trailing_slash_is_trimmed() {
        let c = load(&[("LANYARD_PUBLIC_URL", "https://id.example.com/")]).unwrap();
        assert_eq!(c.issuer("acme"), "https://id.example.com/t/acme");
    }
}
