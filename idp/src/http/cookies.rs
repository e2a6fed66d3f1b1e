//! Cookie names and attributes. HttpOnly and SameSite=Lax always; Secure and the `__Host-` prefix
//! when the public URL is https (RFC 6265bis §4.1.3.2).

use poem::http::header::SET_COOKIE;
use poem::http::HeaderValue;
use poem::Request;

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    pub fn session_name(&self, slug: &str) -> String {
        self.name(&format!("lanyard-{slug}-session"))
    }
    pub fn device_name(&self, slug: &str) -> String {
        self.name(&format!("lanyard-{slug}-device"))
    }
    pub fn csrf_name(&self, slug: &str) -> String {
        self.name(&format!("lanyard-{slug}-csrf"))
    }
    /// Binds a pending "choose a session to end" admission to the browser that authenticated.
    pub fn admission_name(&self, slug: &str) -> String {
        self.name(&format!("lanyard-{slug}-admission"))
    }

    /// A `Set-Cookie` value. `max_age` None = browser-session cookie.
    pub fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            s.push_str("; Secure");
        }
        if let Some(m) = max_age {
            s.push_str(&format!("; Max-Age={m}"));
        }
        HeaderValue::from_str(&s).ok()
    }

    pub fn clear(&self, name: &str) -> Option<HeaderValue> {
        self.set(name, "", Some(0))
    }
}

/// Read one cookie value from a request a handler holds (the demo relying party). Lanyard's own
/// cookies are read from `RequestContext::cookies`.
pub fn read(req: &Request, name: &str) -> Option<String> {
    super::context::Cookies::parse(
        req.headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .get(name)
    .map(str::to_string)
}

/// Does a response already set (or clear) this cookie?
pub fn sets(resp: &poem::Response, name: &str) -> bool {
    let prefix = format!("{name}=");
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.starts_with(&prefix)))
}

/// Append a cookie to a response builder.
pub fn append(resp: &mut poem::Response, value: Option<HeaderValue>) {
    if let Some(v) = value {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}
