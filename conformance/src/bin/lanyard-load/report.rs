//! What a run reports: one row per (scenario, concurrency), rendered as a text table for the
//! terminal and as JSON for files.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenario::Scenario;
use crate::stats::Summary;

/// The figures of one scenario at one concurrency, or why it could not run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub concurrency: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The provider's CPU over the measured window (`--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<crate::cpu::ServerCpu>,
}

impl ScenarioReport {
    pub fn measured(
        scenario: Scenario,
        concurrency: usize,
        summary: Summary,
        notes: Vec<String>,
    ) -> Self {
        Self {
            scenario,
            concurrency,
            summary: Some(summary),
            setup_error: None,
            notes,
            server_cpu: None,
        }
    }

    /// Whether setup worked and at least one measured operation succeeded.
    pub fn succeeded_at_all(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s.successes > 0)
    }

    pub fn setup_failed(scenario: Scenario, concurrency: usize, error: String) -> Self {
        Self {
            scenario,
            concurrency,
            summary: None,
            setup_error: Some(error),
            notes: Vec::new(),
            server_cpu: None,
        }
    }
}

/// The whole run, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub tool: &'static str,
    pub label: Option<String>,
    pub issuer: String,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub max_requests: Option<u64>,
    pub results: Vec<ScenarioReport>,
}

/// The table's column header.
pub fn table_header() -> String {
    format!(
        "{:<20} {:>5} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "conc", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    )
}

/// One table row, followed by indented lines for setup errors, error kinds and notes.
pub fn table_row(report: &ScenarioReport) -> String {
    let name = report.scenario.name();
    let mut out = String::new();
    match &report.summary {
        None => {
            let _ = write!(out, "{name:<20} {:>5}  setup failed", report.concurrency);
        }
        Some(s) => {
            let ms = |f: fn(&crate::stats::Latency) -> f64| {
                s.latency
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| format!("{:.2}", f(l)))
            };
            let _ = write!(
                out,
                "{name:<20} {:>5} {:>9} {:>7} {:>10.1} {:>9} {:>9} {:>9} {:>9}",
                report.concurrency,
                s.successes,
                s.errors,
                s.rps,
                ms(|l| l.p50_ms),
                ms(|l| l.p90_ms),
                ms(|l| l.p99_ms),
                ms(|l| l.max_ms),
            );
            for (kind, tally) in &s.error_kinds {
                let _ = write!(
                    out,
                    "\n    error x{}: {kind} — e.g. {}",
                    tally.count, tally.example
                );
            }
        }
    }
    if let Some(c) = &report.server_cpu {
        let _ = write!(
            out,
            "\n    server cpu: {:.2} s ({:.2} cores); {} us per operation; {} operations per cpu-second",
            c.cpu_seconds,
            c.cores,
            c.cpu_us_per_op.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}")),
            c.ops_per_cpu_second.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}")),
        );
    }
    if let Some(error) = &report.setup_error {
        let _ = write!(out, "\n    setup: {error}");
    }
    for note in &report.notes {
        let _ = write!(out, "\n    note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::{ErrorTally, Latency};

    fn summary() -> Summary {
        Summary {
            successes: 1200,
            errors: 3,
            elapsed_s: 10.0,
            rps: 120.0,
            latency: Some(Latency {
                p50_ms: 1.5,
                p90_ms: 2.25,
                p99_ms: 9.0,
                max_ms: 20.126,
                mean_ms: 1.7,
            }),
            error_kinds: BTreeMap::from([(
                "token: HTTP 429".to_owned(),
                ErrorTally {
                    count: 3,
                    example: "token: HTTP 429 at /token: slow down".to_owned(),
                },
            )]),
        }
    }

    #[test]
    fn row_lines_up_with_header_and_lists_errors() {
        let report = ScenarioReport::measured(Scenario::Refresh, 16, summary(), vec!["n".into()]);
        let row = table_row(&report);
        let first = row.lines().next().unwrap();
        assert_eq!(first.len(), table_header().len());
        assert!(first.starts_with("refresh"));
        assert!(first.contains("120.0") && first.contains("20.13"));
        assert!(row.contains("error x3: token: HTTP 429"));
        assert!(row.ends_with("note: n"));
    }

    #[test]
    fn setup_failure_row() {
        let report = ScenarioReport::setup_failed(Scenario::Introspect, 64, "no endpoint".into());
        let row = table_row(&report);
        assert!(row.contains("setup failed") && row.contains("setup: no endpoint"));
    }

    #[test]
    fn json_uses_kebab_case_scenarios_and_skips_empty_parts() {
        let report = ScenarioReport::measured(Scenario::ClientCredentials, 1, summary(), vec![]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenario"], "client-credentials");
        assert_eq!(json["summary"]["latency"]["p99_ms"], 9.0);
        assert!(json.get("notes").is_none() && json.get("setup_error").is_none());
    }
}
