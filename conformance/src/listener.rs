//! The RP's own HTTP listener on 127.0.0.1: redirect URI, post-logout redirect URI, back-channel
//! logout endpoint and front-channel logout URI. It records what arrives; the modules judge it.

use anyhow::{Context as _, Result};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Query};
use poem::{get, handler, post, EndpointExt, Response, Route, Server};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use url::Url;

/// Paths under the listener's base URL; operators register these at the OP.
pub const CALLBACK: &str = "callback";
pub const POST_LOGOUT: &str = "post-logout";
pub const BACKCHANNEL: &str = "backchannel-logout";
pub const FRONTCHANNEL: &str = "frontchannel-logout";
/// Request objects served by reference (`request_uri`, OIDC Core §6.2).
pub const REQUEST_OBJECTS: &str = "request-object";

/// One back-channel logout request as received (§2.5 of Back-Channel Logout 1.0).
#[derive(Debug, Clone)]
pub struct BackchannelHit {
    pub seq: u64,
    pub content_type: Option<String>,
    pub params: Vec<(String, String)>,
    /// The status the listener answered with.
    pub answered: u16,
    pub received_at: i64,
}

impl BackchannelHit {
    pub fn logout_token(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.as_str())
    }
}

/// One front-channel logout request (§2 of Front-Channel Logout 1.0), by its query parameters.
#[derive(Debug, Clone)]
pub struct FrontchannelHit {
    pub seq: u64,
    pub query: Vec<(String, String)>,
}

#[derive(Default)]
struct Recorded {
    seq: u64,
    backchannel: Vec<BackchannelHit>,
    frontchannel: Vec<FrontchannelHit>,
}

/// Shared between the handlers and the modules.
#[derive(Default)]
pub struct ListenerState {
    recorded: Mutex<Recorded>,
    /// How many coming back-channel requests are answered 503 (to exercise the OP's retries).
    fail_backchannel: AtomicU32,
    request_objects: Mutex<BTreeMap<String, String>>,
}

/// A running listener.
#[derive(Clone)]
pub struct Rp {
    pub base: Url,
    state: Arc<ListenerState>,
}

impl Rp {
    pub fn url(&self, path: &str) -> Url {
        // `base` always ends with '/', so join keeps it.
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    pub fn callback(&self) -> Url {
        self.url(CALLBACK)
    }

    pub fn post_logout(&self) -> Url {
        self.url(POST_LOGOUT)
    }

    pub fn is_ours(&self, u: &Url) -> bool {
        u.as_str().starts_with(self.base.as_str())
    }

    /// A marker: only hits recorded after it are looked at by `*_since`.
    pub fn mark(&self) -> u64 {
        self.lock().seq
    }

    /// Serves `jwt` at a fresh URL under the listener and returns that URL.
    pub fn host_request_object(&self, id: &str, jwt: String) -> Url {
        self.state
            .request_objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), jwt);
        self.url(&format!("{REQUEST_OBJECTS}/{id}"))
    }

    pub fn fail_next_backchannel(&self, n: u32) {
        self.state.fail_backchannel.store(n, Ordering::SeqCst);
    }

    pub fn backchannel_since(&self, mark: u64) -> Vec<BackchannelHit> {
        self.lock()
            .backchannel
            .iter()
            .filter(|h| h.seq > mark)
            .cloned()
            .collect()
    }

    pub fn frontchannel_since(&self, mark: u64) -> Vec<FrontchannelHit> {
        self.lock()
            .frontchannel
            .iter()
            .filter(|h| h.seq > mark)
            .cloned()
            .collect()
    }

    /// Waits until `enough` holds for the back-channel hits since `mark`, or `timeout` passes.
    pub async fn wait_backchannel(
        &self,
        mark: u64,
        timeout: Duration,
        enough: impl Fn(&[BackchannelHit]) -> bool,
    ) -> Vec<BackchannelHit> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let hits = self.backchannel_since(mark);
            if enough(&hits) || tokio::time::Instant::now() >= deadline {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Binds `addr` (e.g. 127.0.0.1:0) and serves the RP endpoints in the background.
pub async fn start(addr: &str) -> Result<Rp> {
    let acceptor = TcpListener::bind(addr.to_owned())
        .into_acceptor()
        .await
        .with_context(|| format!("binding the RP listener on {addr}"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let base = Url::parse(&format!("http://{local}/"))?;
    let state = Arc::new(ListenerState::default());
    let app = Route::new()
        .at(format!("/{CALLBACK}"), get(landing).post(landing))
        .at(format!("/{POST_LOGOUT}"), get(landing))
        .at(format!("/{BACKCHANNEL}"), post(backchannel))
        .at(format!("/{FRONTCHANNEL}"), get(frontchannel))
        .at(format!("/{REQUEST_OBJECTS}/:id"), get(request_object))
        .data(state.clone());
    tokio::spawn(async move {
        if let Err(e) = Server::new_with_acceptor(acceptor).run(app).await {
            eprintln!("RP listener stopped: {e}");
        }
    });
    Ok(Rp { base, state })
}

#[handler]
fn landing() -> &'static str {
    "lanyard-conformance RP: response received"
}

#[handler]
fn backchannel(
    Data(state): Data<&Arc<ListenerState>>,
    headers: &poem::http::HeaderMap,
    body: String,
) -> Response {
    let answered = if state
        .fail_backchannel
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let content_type = headers
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    {
        let mut rec = state
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rec.seq += 1;
        let seq = rec.seq;
        rec.backchannel.push(BackchannelHit {
            seq,
            content_type,
            params,
            answered: answered.as_u16(),
            received_at: crate::clock::now_epoch(),
        });
    }
    // §2.8: the RP answers 200 and SHOULD send Cache-Control: no-store, as the suite does.
    Response::builder()
        .status(answered)
        .header("Cache-Control", "no-store")
        .finish()
}

#[handler]
fn request_object(
    Data(state): Data<&Arc<ListenerState>>,
    poem::web::Path(id): poem::web::Path<String>,
) -> Response {
    let found = state
        .request_objects
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned();
    match found {
        Some(jwt) => Response::builder()
            .content_type("application/oauth-authz-req+jwt")
            .body(jwt),
        None => Response::builder().status(StatusCode::NOT_FOUND).finish(),
    }
}

#[handler]
fn frontchannel(
    Data(state): Data<&Arc<ListenerState>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    {
        let mut rec = state
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rec.seq += 1;
        let seq = rec.seq;
        rec.frontchannel.push(FrontchannelHit {
            seq,
            query: query.into_iter().collect(),
        });
    }
    Response::builder()
        .header("Cache-Control", "no-store")
        .body("<html><body>front-channel logout received</body></html>")
}
