//! Module results: findings collected while a module runs, folded into one verdict per module,
//! and rendered as the run's table and JSON report.

use serde::Serialize;
use std::fmt::Write as _;

/// How bad one observation is, mirroring the official suite's condition levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The official suite only warns (a SHOULD, or a check not required for certification).
    Warning,
    /// A MUST was violated; the module fails.
    Failure,
}

/// One observation a module made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// A module's verdict, ordered from best to worst so aggregation is a `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Skipped,
    Warning,
    Failed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Skipped => "SKIPPED",
            Verdict::Warning => "WARNING",
            Verdict::Failed => "FAILED",
        }
    }
}

/// Collects findings while a module runs. A module that skips stops collecting: a skip is only
/// recorded when nothing has failed yet, so a precondition check cannot hide an earlier failure.
#[derive(Debug, Default)]
pub struct Checks {
    findings: Vec<Finding>,
    skipped: Option<String>,
}

impl Checks {
    pub fn fail(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Failure,
            message: message.into(),
        });
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            message: message.into(),
        });
    }

    /// Records a failure unless `ok`; returns `ok` so callers can stop early.
    pub fn require(&mut self, ok: bool, message: impl Into<String>) -> bool {
        if !ok {
            self.fail(message);
        }
        ok
    }

    /// Records a warning unless `ok`.
    pub fn expect(&mut self, ok: bool, message: impl Into<String>) -> bool {
        if !ok {
            self.warn(message);
        }
        ok
    }

    pub fn skip(&mut self, reason: impl Into<String>) {
        self.skipped = Some(reason.into());
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.findings.extend(findings);
    }

    pub fn finish(self) -> (Option<String>, Vec<Finding>) {
        (self.skipped, self.findings)
    }
}

/// The result of one module, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    pub plan: String,
    pub module: String,
    pub result: Verdict,
    pub reasons: Vec<String>,
    pub findings: Vec<Finding>,
    pub duration_ms: u128,
}

/// Folds a module's findings into its verdict: the worst finding wins; a skip counts only when
/// nothing failed or warned before it.
pub fn resolve_verdict(skipped: Option<&str>, findings: &[Finding]) -> Verdict {
    let worst = findings.iter().map(|f| f.severity).max();
    match (worst, skipped) {
        (Some(Severity::Failure), _) => Verdict::Failed,
        (Some(Severity::Warning), _) => Verdict::Warning,
        (None, Some(_)) => Verdict::Skipped,
        (None, None) => Verdict::Pass,
    }
}

impl ModuleReport {
    pub fn new(plan: &str, module: &str, checks: Checks, duration_ms: u128) -> Self {
        let (skipped, findings) = checks.finish();
        let result = resolve_verdict(skipped.as_deref(), &findings);
        let mut reasons: Vec<String> = match result {
            Verdict::Failed => select(&findings, Severity::Failure),
            Verdict::Warning => select(&findings, Severity::Warning),
            Verdict::Skipped => skipped.into_iter().collect(),
            Verdict::Pass => Vec::new(),
        };
        reasons.dedup();
        ModuleReport {
            plan: plan.to_owned(),
            module: module.to_owned(),
            result,
            reasons,
            findings,
            duration_ms,
        }
    }
}

fn select(findings: &[Finding], severity: Severity) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.message.clone())
        .collect()
}

/// Counts per verdict, in table order.
pub fn summarize(reports: &[ModuleReport]) -> [(Verdict, usize); 4] {
    let count = |v| reports.iter().filter(|r| r.result == v).count();
    [
        (Verdict::Pass, count(Verdict::Pass)),
        (Verdict::Warning, count(Verdict::Warning)),
        (Verdict::Failed, count(Verdict::Failed)),
        (Verdict::Skipped, count(Verdict::Skipped)),
    ]
}

/// Renders the markdown-compatible table: module | result | reason.
pub fn render_table(reports: &[ModuleReport]) -> String {
    let mut out = String::new();
    let mut plan = "";
    for r in reports {
        if r.plan != plan {
            plan = &r.plan;
            let _ = writeln!(
                out,
                "\n### {plan}\n\n| module | result | reason |\n|---|---|---|"
            );
        }
        let reason = r.reasons.join("; ").replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(out, "| {} | {} | {} |", r.module, r.result.label(), reason);
    }
    let totals = summarize(reports)
        .iter()
        .map(|(v, n)| format!("{} {n}", v.label()))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "\nTotal: {totals}");
    out
}

pub fn any_failed(reports: &[ModuleReport]) -> bool {
    reports.iter().any(|r| r.result == Verdict::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(severity: Severity) -> Finding {
        Finding {
            severity,
            message: "m".into(),
        }
    }

    #[test]
    fn no_findings_is_pass() {
        assert_eq!(resolve_verdict(None, &[]), Verdict::Pass);
    }

    #[test]
    fn worst_finding_wins() {
        assert_eq!(
            resolve_verdict(None, &[f(Severity::Warning)]),
            Verdict::Warning
        );
        assert_eq!(
            resolve_verdict(
                None,
                &[
                    f(Severity::Warning),
                    f(Severity::Failure),
                    f(Severity::Warning)
                ]
            ),
            Verdict::Failed
        );
    }

    #[test]
    fn skip_does_not_hide_a_failure() {
        assert_eq!(resolve_verdict(Some("x"), &[]), Verdict::Skipped);
        assert_eq!(
            resolve_verdict(Some("x"), &[f(Severity::Failure)]),
            Verdict::Failed
        );
        assert_eq!(
            resolve_verdict(Some("x"), &[f(Severity::Warning)]),
            Verdict::Warning
        );
    }

    #[test]
    fn report_keeps_only_reasons_of_the_verdict_level() {
        let mut c = Checks::default();
        c.warn("a warning");
        c.fail("a failure");
        let r = ModuleReport::new("p", "m", c, 1);
        assert_eq!(r.result, Verdict::Failed);
        assert_eq!(r.reasons, vec!["a failure".to_string()]);
        assert_eq!(r.findings.len(), 2);
    }

    #[test]
    fn table_groups_by_plan_and_counts() {
        let mut c = Checks::default();
        c.skip("no check_session_iframe");
        let reports = vec![
            ModuleReport::new("plan-a", "m1", Checks::default(), 1),
            ModuleReport::new("plan-b", "m2", c, 1),
        ];
        let t = render_table(&reports);
        assert!(t.contains("### plan-a"));
        assert!(t.contains("| m2 | SKIPPED | no check_session_iframe |"));
        assert!(t.contains("PASS 1, WARNING 0, FAILED 0, SKIPPED 1"));
        assert!(!any_failed(&reports));
    }
}
