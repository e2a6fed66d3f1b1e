//! Latency recording (HdrHistogram) and the summary that turns one run into figures.
//!
//! Latencies are recorded in microseconds; only successful operations enter the histogram, so
//! a fast-failing provider cannot improve its own percentiles. Errors are counted by a short,
//! stable kind (no per-request values), keeping the first detailed message of each kind.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks exactly; slower samples saturate at this value.
const MAX_TRACKED_MICROS: u64 = 5 * 60 * 1_000_000;
/// Distinct error kinds kept per run; the rest are folded into [`OTHER_ERRORS`].
const MAX_ERROR_KINDS: usize = 24;
/// The kind that collects errors once [`MAX_ERROR_KINDS`] is reached.
const OTHER_ERRORS: &str = "other errors";

/// One failed operation: a stable `kind` used for grouping and a `detail` for diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: String,
    pub detail: String,
}

impl Failure {
    /// A failure whose kind and detail are the same text.
    pub fn new(kind: impl Into<String>) -> Self {
        let kind = kind.into();
        Self {
            detail: kind.clone(),
            kind,
        }
    }

    /// A failure with a grouping kind and a longer, per-occurrence detail.
    pub fn with_detail(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// How often one kind of error happened, with the first example seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorTally {
    pub count: u64,
    pub example: String,
}

/// Per-worker accumulator of successes, errors and latencies; merged after the run.
#[derive(Debug, Clone)]
pub struct Recorder {
    latencies: Histogram<u64>,
    successes: u64,
    errors: u64,
    error_kinds: BTreeMap<String, ErrorTally>,
}

impl Recorder {
    /// An empty recorder with three significant digits of latency precision.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latencies: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)?,
            successes: 0,
            errors: 0,
            error_kinds: BTreeMap::new(),
        })
    }

    /// Counts one successful operation that took `latency`.
    pub fn record_success(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies.saturating_record(micros.max(1));
        self.successes += 1;
    }

    /// Counts one failed operation under its kind.
    pub fn record_failure(&mut self, failure: &Failure) {
        self.errors += 1;
        self.tally(&failure.kind, &failure.detail, 1);
    }

    /// Adds another worker's figures to this one.
    pub fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.latencies.add(&other.latencies)?;
        self.successes += other.successes;
        self.errors += other.errors;
        for (kind, tally) in &other.error_kinds {
            self.tally(kind, &tally.example, tally.count);
        }
        Ok(())
    }

    fn tally(&mut self, kind: &str, example: &str, count: u64) {
        let key = if self.error_kinds.contains_key(kind) || self.error_kinds.len() < MAX_ERROR_KINDS
        {
            kind
        } else {
            OTHER_ERRORS
        };
        self.error_kinds
            .entry(key.to_owned())
            .or_insert_with(|| ErrorTally {
                count: 0,
                example: example.to_owned(),
            })
            .count += count;
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The figures of one measured run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub successes: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    /// Successful operations per second of measured wall time.
    pub rps: f64,
    /// `None` when nothing succeeded.
    pub latency: Option<Latency>,
    pub error_kinds: BTreeMap<String, ErrorTally>,
}

/// Turns a merged recorder and the measured wall time into the reported figures.
pub fn summarize(recorder: &Recorder, elapsed: Duration) -> Summary {
    let elapsed_s = elapsed.as_secs_f64();
    let rps = if elapsed_s > 0.0 {
        recorder.successes as f64 / elapsed_s
    } else {
        0.0
    };
    let hist = &recorder.latencies;
    let latency = (!hist.is_empty()).then(|| Latency {
        p50_ms: micros_to_ms(hist.value_at_quantile(0.50)),
        p90_ms: micros_to_ms(hist.value_at_quantile(0.90)),
        p99_ms: micros_to_ms(hist.value_at_quantile(0.99)),
        max_ms: micros_to_ms(hist.max()),
        mean_ms: hist.mean() / 1000.0,
    });
    Summary {
        successes: recorder.successes,
        errors: recorder.errors,
        elapsed_s,
        rps,
        latency,
        error_kinds: recorder.error_kinds.clone(),
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder_with(latencies_ms: impl IntoIterator<Item = u64>) -> Recorder {
        let mut rec = Recorder::new().unwrap();
        for ms in latencies_ms {
            rec.record_success(Duration::from_millis(ms));
        }
        rec
    }

    fn close(actual: f64, expected: f64) -> bool {
        // Three significant digits: relative error under 0.1 %.
        (actual - expected).abs() <= expected * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_one_to_hundred_ms() {
        let summary = summarize(&recorder_with(1..=100), Duration::from_secs(2));
        let lat = summary.latency.unwrap();
        assert!(close(lat.p50_ms, 50.0), "p50 {}", lat.p50_ms);
        assert!(close(lat.p90_ms, 90.0), "p90 {}", lat.p90_ms);
        assert!(close(lat.p99_ms, 99.0), "p99 {}", lat.p99_ms);
        assert!(close(lat.max_ms, 100.0), "max {}", lat.max_ms);
        assert!(close(lat.mean_ms, 50.5), "mean {}", lat.mean_ms);
        assert_eq!(summary.successes, 100);
        assert!(close(summary.rps, 50.0));
    }

    #[test]
    fn errors_are_counted_but_not_timed() {
        let mut rec = recorder_with([10]);
        rec.record_failure(&Failure::with_detail(
            "token: HTTP 400 invalid_grant",
            "first",
        ));
        rec.record_failure(&Failure::with_detail(
            "token: HTTP 400 invalid_grant",
            "second",
        ));
        let summary = summarize(&rec, Duration::from_secs(1));
        assert_eq!(summary.errors, 2);
        assert_eq!(summary.successes, 1);
        let tally = &summary.error_kinds["token: HTTP 400 invalid_grant"];
        assert_eq!(tally.count, 2);
        assert_eq!(tally.example, "first");
        assert!(close(summary.latency.unwrap().max_ms, 10.0));
    }

    #[test]
    fn nothing_succeeded_means_no_latency() {
        let mut rec = Recorder::new().unwrap();
        rec.record_failure(&Failure::new("connect refused"));
        let summary = summarize(&rec, Duration::from_secs(1));
        assert_eq!(summary.latency, None);
        assert_eq!(summary.rps, 0.0);
    }

    #[test]
    fn zero_elapsed_gives_zero_rate() {
        let summary = summarize(&recorder_with([1]), Duration::ZERO);
        assert_eq!(summary.rps, 0.0);
    }

    #[test]
    fn merge_adds_counts_histograms_and_kinds() {
        let mut a = recorder_with([1, 2, 3]);
        a.record_failure(&Failure::new("x"));
        let mut b = recorder_with([100]);
        b.record_failure(&Failure::new("x"));
        b.record_failure(&Failure::new("y"));
        a.merge(&b).unwrap();
        let summary = summarize(&a, Duration::from_secs(1));
        assert_eq!(summary.successes, 4);
        assert_eq!(summary.errors, 3);
        assert_eq!(summary.error_kinds["x"].count, 2);
        assert_eq!(summary.error_kinds["y"].count, 1);
        assert!(close(summary.latency.unwrap().max_ms, 100.0));
    }

    #[test]
    fn error_kinds_are_capped() {
        let mut rec = Recorder::new().unwrap();
        for i in 0..(MAX_ERROR_KINDS + 5) {
            rec.record_failure(&Failure::new(format!("kind {i}")));
        }
        let summary = summarize(&rec, Duration::from_secs(1));
        assert_eq!(summary.error_kinds.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(summary.error_kinds[OTHER_ERRORS].count, 5);
        assert_eq!(summary.errors, (MAX_ERROR_KINDS + 5) as u64);
    }

    #[test]
    fn huge_latency_saturates_instead_of_failing() {
        let mut rec = Recorder::new().unwrap();
        rec.record_success(Duration::from_secs(3600));
        let summary = summarize(&rec, Duration::from_secs(1));
        assert!(summary.latency.unwrap().max_ms >= 299_000.0);
    }
}
