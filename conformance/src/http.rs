//! HTTP plumbing: the "browser" (cookie jar, redirects followed by hand) and the back-end client
//! the RP uses for the token, userinfo, revocation and introspection endpoints.

use anyhow::{Context as _, Result};
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::{Certificate, Method};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// TLS trust for the OP: the system roots plus an optional extra CA (`--ca-file`).
#[derive(Clone, Default)]
pub struct Trust {
    extra_root: Option<Certificate>,
}

impl Trust {
    pub fn from_pem_file(path: Option<&std::path::Path>) -> Result<Self> {
        let extra_root = match path {
            Some(p) => {
                let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                Some(Certificate::from_pem(&pem).context("parsing --ca-file")?)
            }
            None => None,
        };
        Ok(Trust { extra_root })
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .user_agent("lanyard-conformance/0.1");
        if let Some(c) = &self.extra_root {
            b = b.add_root_certificate(c.clone());
        }
        b
    }

    /// A client that never follows redirects (openidconnect requires that, against SSRF).
    pub fn backend(&self) -> Result<reqwest::Client> {
        Ok(self.builder().build()?)
    }

    /// A fresh browser: empty cookie jar, no session at the OP.
    pub fn browser(&self) -> Result<Browser> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = self.builder().cookie_provider(jar).build()?;
        Ok(Browser { client })
    }
}

/// A user agent with a cookie jar; each call is one request, redirects are the caller's choice.
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
}

/// One request the browser is about to make.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub form: Option<Vec<(String, String)>>,
}

impl Request {
    pub fn get(url: Url) -> Self {
        Request {
            method: Method::GET,
            url,
            form: None,
        }
    }

    pub fn post_form(url: Url, form: Vec<(String, String)>) -> Self {
        Request {
            method: Method::POST,
            url,
            form: Some(form),
        }
    }
}

/// A response as the browser saw it.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<Url> {
        let raw = self.headers.get(LOCATION)?.to_str().ok()?;
        self.url.join(raw).ok()
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.location().is_some()
    }

    pub fn is_html(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.contains("html"))
    }

    /// A short description for failure messages (status and the start of the visible text).
    pub fn describe(&self) -> String {
        let text = crate::html::visible_text(&self.body);
        let short: String = text.chars().take(160).collect();
        format!(
            "HTTP {} at {} \"{short}\"",
            self.status,
            strip_query(&self.url)
        )
    }
}

/// A URL without its query, for messages that must not echo secrets.
pub fn strip_query(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl Browser {
    pub async fn send(&self, req: &Request) -> Result<Page> {
        let mut rb = self.client.request(req.method.clone(), req.url.clone());
        if let Some(form) = &req.form {
            rb = rb.form(form);
        }
        let resp = rb
            .send()
            .await
            .with_context(|| format!("{} {}", req.method, strip_query(&req.url)))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let url = resp.url().clone();
        let body = resp.text().await.unwrap_or_default();
        Ok(Page {
            url,
            status,
            headers,
            body,
        })
    }
}
