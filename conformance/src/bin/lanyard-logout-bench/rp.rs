//! The relying parties: in-process HTTP listeners whose `/rp/{client_id}` paths are the
//! back-channel logout URIs of the bench clients, one listener (its own port, so its own origin)
//! per RP by default, as RPs on their own hosts are (Lanyard limits deliveries in flight per
//! origin: `--one-rp-host` puts every RP on one listener to measure that limit). The hot path only stamps the arrival time,
//! keeps the body and answers 200; tokens are verified afterwards ([`crate::verify`]), so
//! verification CPU does not slow the provider it shares the machine with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Path};
use poem::{handler, post, EndpointExt, Route, Server};

/// One back-channel request as received.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// The client the request was addressed to (the path segment).
    pub client_id: String,
    /// The raw `application/x-www-form-urlencoded` body.
    pub body: String,
}

#[derive(Debug, Default)]
pub struct Recorder {
    arrivals: Mutex<Vec<Arrival>>,
    count: AtomicU64,
    changed: tokio::sync::Notify,
}

impl Recorder {
    /// Requests received since the last [`Recorder::take`].
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Everything received so far; resets the count.
    pub fn take(&self) -> Vec<Arrival> {
        let mut a = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
        self.count.store(0, Ordering::Release);
        std::mem::take(&mut *a)
    }

    /// Wait until at least `n` requests arrived, or `limit` passed. Returns the count reached.
    pub async fn wait_for(&self, n: u64, limit: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            let c = self.count();
            if c >= n {
                return c;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count();
            }
        }
    }

    fn record(&self, a: Arrival) {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(a);
        self.count.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

#[handler]
async fn backchannel(
    Path(client_id): Path<String>,
    body: String,
    Data(rec): Data<&Arc<Recorder>>,
) -> StatusCode {
    // The arrival is the moment the whole request is in: the OP has done its part.
    rec.record(Arrival {
        at: Instant::now(),
        client_id,
        body,
    });
    StatusCode::OK
}

/// Start `n` listeners on 127.0.0.1 (any free ports). Returns their base URLs for
/// `/rp/{client_id}`.
pub async fn start_many(rec: Arc<Recorder>, n: usize) -> anyhow::Result<Vec<String>> {
    let mut bases = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        bases.push(start(rec.clone()).await?);
    }
    Ok(bases)
}

/// Start one listener on 127.0.0.1 (any free port). Returns its base URL for `/rp/{client_id}`.
pub async fn start(rec: Arc<Recorder>) -> anyhow::Result<String> {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the RP listener")?;
    let port = tcp.local_addr()?.port();
    let acceptor = TcpAcceptor::from_tokio(tcp)?;
    let app = Route::new()
        .at("/rp/:client_id", post(backchannel))
        .data(rec);
    tokio::spawn(async move {
        if let Err(e) = Server::new_with_acceptor(acceptor).run(app).await {
            eprintln!("RP listener stopped: {e}");
        }
    });
    Ok(format!("http://127.0.0.1:{port}/rp"))
}
