//! The request context: who is calling from where, and the one clock reading for this request
//! (STYLE.md rule 2).

use crate::clock::{Clock, UnixTime};
use poem::Request;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub ip: String,
    pub user_agent: String,
    pub origin: Option<String>,
    /// Fetch Metadata `Sec-Fetch-Site`, set only by browsers.
    pub fetch_site: Option<String>,
    pub now: UnixTime,
    pub now_ms: i64,
}

impl RequestContext {
    pub fn from_request(req: &Request, clock: &dyn Clock) -> Self {
        let now_ms = clock.now_ms();
        let ip = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        let user_agent = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(512)
            .collect();
        let origin = req
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let fetch_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        Self {
            ip,
            user_agent,
            origin,
            fetch_site,
            now: now_ms.div_euclid(1000),
            now_ms,
        }
    }
}
