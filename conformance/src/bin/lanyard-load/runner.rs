//! Runs one scenario at one concurrency: setup, a warm-up whose samples are dropped, then the
//! measured window, bounded by time and optionally by a total operation count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cpu::{CpuMeter, ServerCpu};
use crate::report::ScenarioReport;
use crate::scenario::{self, Outcome, Scenario, Worker};
use crate::stats::{self, Recorder};
use crate::target::Target;

/// Pause after a failed operation, so a provider that refuses instantly is not hammered by a
/// spinning loop (and the error count stays meaningful).
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// When measuring starts and stops.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub warmup: Duration,
    /// Hard limit of the measured window.
    pub duration: Duration,
    /// Stop after this many measured operations (all workers together).
    pub max_requests: Option<u64>,
}

/// The instants one run's workers share.
#[derive(Debug, Clone, Copy)]
struct Window {
    measure_from: Instant,
    stop_at: Instant,
    max_requests: Option<u64>,
}

/// What a worker hands back: its figures, its final state, when its last measured operation
/// ended, and the first failure seen during warm-up (those are not in the figures).
struct WorkerResult {
    recorder: Recorder,
    worker: Worker,
    last_end: Instant,
    warmup_failures: u64,
    first_warmup_failure: Option<String>,
}

/// Prepares `concurrency` workers, runs them, and summarises the measured window.
pub async fn run_scenario(
    target: Arc<Target>,
    scenario: Scenario,
    concurrency: usize,
    bounds: Bounds,
    server: Option<&CpuMeter>,
) -> anyhow::Result<ScenarioReport> {
    let (workers, mut notes) = match scenario::prepare_workers(&target, scenario, concurrency).await
    {
        Ok(prepared) => prepared,
        Err(failure) => {
            return Ok(ScenarioReport::setup_failed(
                scenario,
                concurrency,
                failure.detail,
            ))
        }
    };

    let started = Instant::now();
    let measure_from = started + bounds.warmup;
    let window = Window {
        measure_from,
        stop_at: measure_from + bounds.duration,
        max_requests: bounds.max_requests,
    };
    let budget = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|worker| tokio::spawn(work(target.clone(), worker, budget.clone(), window)))
        .collect();
    // The server's CPU clock at the start of the measured window (after the warm-up).
    let cpu_at_start = match server {
        Some(meter) => {
            tokio::time::sleep_until(measure_from.into()).await;
            Some(meter.seconds()?)
        }
        None => None,
    };

    let mut total = Recorder::new()?;
    let mut last_end = measure_from;
    let mut finished = Vec::with_capacity(concurrency);
    let mut warmup_failures = 0;
    let mut first_warmup_failure = None;
    for joined in futures::future::join_all(tasks).await {
        let result = joined??;
        total.merge(&result.recorder)?;
        last_end = last_end.max(result.last_end);
        warmup_failures += result.warmup_failures;
        first_warmup_failure = first_warmup_failure.or(result.first_warmup_failure);
        finished.push(result.worker);
    }
    if let Some(first) = first_warmup_failure {
        notes.push(format!(
            "{warmup_failures} operations failed during warm-up (not counted), e.g. {first}"
        ));
    }
    let cpu_at_end = match server {
        Some(meter) => Some(meter.seconds()?),
        None => None,
    };
    notes.extend(scenario::rotation_note(&finished));
    let window = last_end.saturating_duration_since(measure_from);
    let summary = stats::summarize(&total, window);
    let successes = summary.successes;
    let mut report = ScenarioReport::measured(scenario, concurrency, summary, notes);
    if let (Some(a), Some(b)) = (cpu_at_start, cpu_at_end) {
        report.server_cpu = Some(ServerCpu::over(b - a, window.as_secs_f64(), successes));
    }
    Ok(report)
}

/// One worker's loop: repeat the scenario's operation until the window closes.
async fn work(
    target: Arc<Target>,
    mut worker: Worker,
    budget: Arc<AtomicU64>,
    window: Window,
) -> anyhow::Result<WorkerResult> {
    let mut recorder = Recorder::new()?;
    let mut last_end = window.measure_from;
    let mut warmup_failures = 0;
    let mut first_warmup_failure = None;
    loop {
        let began = Instant::now();
        if began >= window.stop_at {
            break;
        }
        let measuring = began >= window.measure_from;
        if measuring {
            if let Some(max) = window.max_requests {
                if budget.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
            }
        }
        let result = worker.step(&target).await;
        let took = began.elapsed();
        let failed = result.is_err();
        match result {
            Ok(Outcome::Done) if measuring => recorder.record_success(took),
            Err(failure) if measuring => recorder.record_failure(&failure),
            Err(failure) => {
                warmup_failures += 1;
                first_warmup_failure.get_or_insert(failure.detail);
            }
            Ok(_) => {}
        }
        if measuring {
            last_end = Instant::now();
        }
        if failed {
            tokio::time::sleep(ERROR_BACKOFF).await;
        }
    }
    Ok(WorkerResult {
        recorder,
        worker,
        last_end,
        warmup_failures,
        first_warmup_failure,
    })
}
