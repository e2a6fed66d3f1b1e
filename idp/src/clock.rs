//! The one place that reads the wall clock. Everything else takes `now` as an argument.
//!
//! Services receive an `Arc<dyn Clock>` from the application state; tests use [`MockClock`] and
//! move time forward instead of sleeping (STYLE.md rule 1).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Unix time in seconds, the unit of every deadline Lanyard stores and every JWT NumericDate.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Seconds since the Unix epoch.
    fn now(&self) -> UnixTime {
        self.now_ms().div_euclid(1000)
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct MockClock {
    ms: Arc<AtomicI64>,
}

impl MockClock {
    pub fn at(unix_secs: UnixTime) -> Self {
        Self {
            ms: Arc::new(AtomicI64::new(unix_secs * 1000)),
        }
    }
    pub fn advance_secs(&self, secs: i64) {
        self.ms.fetch_add(secs * 1000, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;
