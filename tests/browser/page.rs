//! One browser test: a fresh Chromium session on the shared driver, step-by-step helpers that say
//! which page and step failed, the console log checked at the end, and on failure a screenshot,
//! the page source and the console saved to a directory named in the panic message.

use super::driver::{self, Driver, REQUIRE_ENV};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one step may wait for the page it expects (bounded waits on another process, not
/// a speed assertion: a healthy page is there in milliseconds).
const WAIT: Duration = Duration::from_secs(10);
/// A whole scenario is cut off after this, so a hung browser fails with artifacts instead of
/// hanging CI.
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// The window the page is shown in.
#[derive(Debug, Clone, Copy)]
pub enum Viewport {
    /// A 1280 x 900 desktop window.
    Desktop,
    /// Chromium's mobile emulation at this CSS width and height (honours `<meta name=viewport>`).
    Phone { width: u32, height: u32 },
}

/// One console entry as chromedriver reports it.
#[derive(Debug, Clone)]
pub struct ConsoleEntry {
    pub level: String,
    pub source: String,
    pub message: String,
    /// The browser's wall-clock time of the entry, in milliseconds since the epoch.
    pub timestamp: i64,
}

impl ConsoleEntry {
    /// An entry that fails the test: any SEVERE entry, and any Content Security Policy report
    /// whatever its level (a violated CSP is a broken page even when Chromium calls it a warning),
    /// except the error status of a document the test declared it would land on.
    fn is_problem(&self, expected: &[(String, u16)]) -> bool {
        let csp = self.message.contains("Content Security Policy")
            || self.message.contains("Content-Security-Policy");
        csp || (self.level == "SEVERE" && !self.is_expected_status(expected))
    }

    /// `URL - Failed to load resource: the server responded with a status of N (Reason)`, for a
    /// declared (path, N).
    fn is_expected_status(&self, expected: &[(String, u16)]) -> bool {
        if self.source != "network" {
            return false;
        }
        let Some((url, rest)) = self.message.split_once(" - ") else {
            return false;
        };
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        expected.iter().any(|(path, status)| {
            url.path() == path
                && rest.starts_with(&format!(
                    "Failed to load resource: the server responded with a status of {status} "
                ))
        })
    }
}

/// A browser session under test.
pub struct Page {
    client: Client,
    test: &'static str,
    /// Every step so far, with the wall-clock time it began (to place console entries in it).
    steps: Mutex<Vec<(i64, String)>>,
    console: Mutex<Vec<ConsoleEntry>>,
    expected_statuses: Mutex<Vec<(String, u16)>>,
}

/// Run `body` as the browser test `test`: skip (or, with `LANYARD_REQUIRE_BROWSER=1`, fail) when
/// there is no browser; fail on a panic in `body`, on a SEVERE console entry or a CSP report,
/// with the artifacts saved.
pub async fn run(test: &'static str, viewport: Viewport, body: impl AsyncFnOnce(&Page)) {
    let driver = match driver::shared() {
        Ok(d) => d,
        Err(why) if driver::required() => {
            panic!("browser test `{test}` cannot run: {why}. {REQUIRE_ENV}=1 requires a browser.")
        }
        Err(why) => {
            driver::announce_skip(test, &why);
            return;
        }
    };
    let profile = std::env::temp_dir().join(format!(
        "lanyard-chromium-{}",
        lanyard_idp::crypto::random_id()
    ));
    let client = match connect(driver, &profile, viewport).await {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&profile);
            panic!(
                "browser test `{test}`: no browser session from chromedriver at {}: {e}\n  chromedriver log: {}",
                driver.url,
                driver::artifacts_root().join("chromedriver.log").display()
            )
        }
    };
    let page = Page {
        client,
        test,
        steps: Mutex::new(vec![(wall_clock_ms(), "open a fresh browser".into())]),
        console: Mutex::new(Vec::new()),
        expected_statuses: Mutex::new(Vec::new()),
    };
    let outcome =
        tokio::time::timeout(SCENARIO_LIMIT, AssertUnwindSafe(body(&page)).catch_unwind()).await;
    let mut failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(payload)) => Some(panic_text(payload.as_ref())),
        Err(_) => Some(format!(
            "the scenario did not finish within {} s",
            SCENARIO_LIMIT.as_secs()
        )),
    };
    match &mut failure {
        None => {
            page.set_step("check the console log");
            failure = page.console_failure().await;
        }
        // The console often holds the cause (a script the CSP blocked, a failed request).
        Some(why) => {
            if let Some(console) = page.console_failure().await {
                why.push_str("\n  and ");
                why.push_str(&console);
            }
        }
    }
    let report = match &failure {
        Some(why) => Some(page.failure_report(why).await),
        None => None,
    };
    let _ = page.client.clone().close().await;
    let _ = std::fs::remove_dir_all(&profile);
    match report {
        Some(report) => panic!("{report}"),
        // A pass leaves no artifacts of an earlier failure behind to mislead.
        None => {
            let _ = std::fs::remove_dir_all(artifacts_dir(test));
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

async fn connect(driver: &Driver, profile: &Path, viewport: Viewport) -> Result<Client, String> {
    std::fs::create_dir_all(profile).map_err(|e| format!("{}: {e}", profile.display()))?;
    let mut args = vec![
        "--headless=new".to_string(),
        // As root (CI, this machine) Chromium refuses to start sandboxed.
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        // Without these Chromium calls Google's services, which the closed network refuses
        // (and which would log errors that are not Lanyard's).
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-extensions".into(),
        "--password-store=basic".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut chrome = json!({ "binary": driver.chromium.to_string_lossy() });
    match viewport {
        Viewport::Desktop => args.push("--window-size=1280,900".into()),
        Viewport::Phone { width, height } => {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "mobile": true, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
            });
        }
    }
    chrome["args"] = json!(args);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": chrome,
        // Every console message, to be read through the log endpoint at the end of the test.
        "goog:loggingPrefs": { "browser": "ALL" },
        "pageLoadStrategy": "normal",
        "timeouts": { "pageLoad": 20000, "script": 5000, "implicit": 0 },
    });
    let Value::Object(caps) = caps else {
        return Err("capabilities are not an object".into());
    };
    // Plain HTTP: chromedriver listens on loopback only.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .map_err(|e| e.to_string())
}

/// chromedriver's log endpoint (not in W3C WebDriver; chromedriver serves it under `/se/log`).
/// Each call returns the entries since the previous one.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (poem::http::Method, Option<String>) {
        (
            poem::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

impl Page {
    /// Name the step that follows; a failure reports it.
    pub fn step(&self, what: impl Into<String>) {
        self.set_step(what);
    }

    /// Declare that the test deliberately lands on `path` answered with `status` (an error page,
    /// a refused form). Chromium logs every error status as a SEVERE console entry, the
    /// document's own included; this one is then expected. Every other error still fails.
    pub fn expect_error_status(&self, path: &str, status: u16) {
        self.expected_statuses
            .lock()
            .unwrap()
            .push((path.to_string(), status));
    }

    fn set_step(&self, what: impl Into<String>) {
        self.steps
            .lock()
            .unwrap()
            .push((wall_clock_ms(), what.into()));
    }

    fn current_step(&self) -> String {
        self.steps
            .lock()
            .unwrap()
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// The step during which the browser logged at `timestamp`.
    fn step_at(&self, timestamp: i64) -> String {
        let steps = self.steps.lock().unwrap();
        steps
            .iter()
            .rev()
            .find(|(began, _)| *began <= timestamp)
            .or(steps.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn describe(&self, e: &ConsoleEntry) -> String {
        format!(
            "[{} {}] during \"{}\": {}",
            e.level,
            e.source,
            self.step_at(e.timestamp),
            e.message
        )
    }

    /// Where the browser is now.
    /// Save a screenshot of the viewport as a PNG at `path` (for docs/screenshots/).
    pub async fn save_screenshot(&self, path: &std::path::Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("no screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    pub async fn url(&self) -> url::Url {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("could not read the current URL: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("could not open {url}: {e}"));
    }

    /// Wait until `css` matches an element.
    pub async fn find(&self, css: &str) -> Element {
        self.find_by(Locator::Css(css), css).await
    }

    async fn find_by(&self, locator: Locator<'_>, what: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.client.find(locator).await {
                Ok(e) => return e,
                Err(e) if Instant::now() > deadline => {
                    panic!("no element `{what}` on {}: {e}", self.url().await)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Whether `css` matches an element right now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The button whose visible text is exactly `label`.
    pub async fn button(&self, label: &str) -> Element {
        let xpath = format!("//button[normalize-space(.)='{label}']");
        self.find_by(Locator::XPath(&xpath), &format!("button \"{label}\""))
            .await
    }

    /// Click the button labelled `label`, as a user would.
    pub async fn click_button(&self, label: &str) {
        let b = self.button(label).await;
        b.click()
            .await
            .unwrap_or_else(|e| panic!("could not click button \"{label}\": {e}"));
    }

    /// Click the link whose visible text is exactly `text`.
    pub async fn click_link(&self, text: &str) {
        let a = self
            .find_by(Locator::LinkText(text), &format!("link \"{text}\""))
            .await;
        a.click()
            .await
            .unwrap_or_else(|e| panic!("could not click link \"{text}\": {e}"));
    }

    /// Type into the field `css` (replacing what it holds).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear()
            .await
            .unwrap_or_else(|err| panic!("could not clear `{css}`: {err}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("could not type into `{css}`: {err}"));
    }

    /// Press keys in whatever element has the focus (keyboard-only use).
    pub async fn type_keys(&self, keys: &str) {
        let e = self
            .client
            .active_element()
            .await
            .unwrap_or_else(|err| panic!("no focused element: {err}"));
        e.send_keys(keys)
            .await
            .unwrap_or_else(|err| panic!("could not type into the focused element: {err}"));
    }

    /// The `name` attribute of the focused element.
    pub async fn focused_name(&self) -> Option<String> {
        let e = self.client.active_element().await.ok()?;
        e.attr("name").await.ok().flatten()
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("could not read the text of `{css}`: {e}"))
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("could not read `{name}` of `{css}`: {e}"))
    }

    /// The computed CSS value of `prop` on the first element matching `css`.
    pub async fn css(&self, css: &str, prop: &str) -> String {
        self.find(css)
            .await
            .css_value(prop)
            .await
            .unwrap_or_else(|e| panic!("could not read CSS `{prop}` of `{css}`: {e}"))
    }

    /// Every element matching `css`, with its rectangle `(x, y, width, height)` in CSS pixels.
    pub async fn rects(&self, css: &str) -> Vec<(f64, f64, f64, f64)> {
        self.find(css).await;
        let all = self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("could not list `{css}`: {e}"));
        let mut out = Vec::new();
        for e in all {
            out.push(
                e.rectangle()
                    .await
                    .unwrap_or_else(|err| panic!("no rectangle for `{css}`: {err}")),
            );
        }
        out
    }

    pub async fn title(&self) -> String {
        self.client
            .title()
            .await
            .unwrap_or_else(|e| panic!("could not read the title: {e}"))
    }

    /// Wait until the page's `h1` reads `heading` (the page a step expects has loaded).
    pub async fn expect_heading(&self, heading: &str) {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(h) = self.client.find(Locator::Css("h1")).await {
                if let Ok(t) = h.text().await {
                    if t.trim() == heading {
                        return;
                    }
                    last = t;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "expected the page headed \"{heading}\", but {} shows \"{last}\"",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Read the console entries logged since the last read, and keep them for the report.
    async fn drain_console(&self) -> Result<(), String> {
        let v = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .map_err(|e| format!("could not read the browser console log: {e}"))?;
        let entries = v
            .as_array()
            .ok_or_else(|| format!("console log is not a list: {v}"))?;
        let mut kept = self.console.lock().unwrap();
        for e in entries {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            kept.push(ConsoleEntry {
                level: s("level"),
                source: s("source"),
                message: s("message"),
                timestamp: e.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
            });
        }
        Ok(())
    }

    async fn console_failure(&self) -> Option<String> {
        if let Err(e) = self.drain_console().await {
            return Some(e);
        }
        let expected = self.expected_statuses.lock().unwrap().clone();
        let entries = self.console.lock().unwrap().clone();
        let problems: Vec<String> = entries
            .iter()
            .filter(|e| e.is_problem(&expected))
            .map(|e| format!("    {}", self.describe(e)))
            .collect();
        if problems.is_empty() {
            None
        } else {
            Some(format!(
                "the browser console has {} error(s) or CSP report(s):\n{}",
                problems.len(),
                problems.join("\n")
            ))
        }
    }

    /// Save the screenshot, page source and console, and describe the failure.
    async fn failure_report(&self, why: &str) -> String {
        let url = match self.client.current_url().await {
            Ok(u) => u.to_string(),
            Err(e) => format!("(unknown: {e})"),
        };
        let title = self.client.title().await.unwrap_or_default();
        let _ = self.drain_console().await;
        let dir = artifacts_dir(self.test);
        let saved = self.save_artifacts(&dir, &url).await;
        let mut r = String::new();
        let _ = writeln!(r, "browser test `{}` failed", self.test);
        let _ = writeln!(r, "  step:      {}", self.current_step());
        let _ = writeln!(r, "  page:      {url} (title \"{title}\")");
        let _ = writeln!(r, "  failure:   {why}");
        match saved {
            Ok(files) => {
                let _ = write!(r, "  artifacts: {} ({})", dir.display(), files.join(", "));
            }
            Err(e) => {
                let _ = write!(r, "  artifacts: could not save to {}: {e}", dir.display());
            }
        }
        r
    }

    async fn save_artifacts(&self, dir: &Path, url: &str) -> Result<Vec<String>, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join("screenshot.png"), png).map_err(|e| e.to_string())?;
            files.push("screenshot.png".to_string());
        }
        if let Ok(html) = self.client.source().await {
            std::fs::write(dir.join("page.html"), html).map_err(|e| e.to_string())?;
            files.push("page.html".to_string());
        }
        let mut console = format!("url: {url}\nstep: {}\n\n", self.current_step());
        let entries = self.console.lock().unwrap().clone();
        if entries.is_empty() {
            console.push_str("(no console entries)\n");
        }
        for e in &entries {
            let _ = writeln!(console, "{}", self.describe(e));
        }
        std::fs::write(dir.join("console.txt"), console).map_err(|e| e.to_string())?;
        files.push("console.txt".to_string());
        Ok(files)
    }
}

/// Wall-clock milliseconds, to compare with the browser's own console timestamps (which are wall
/// clock too; the server's mock clock has nothing to do with them).
#[allow(clippy::disallowed_methods)]
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One directory per test and storage backend (CI runs the suite on SQLite, then PostgreSQL).
fn artifacts_dir(test: &str) -> PathBuf {
    let backend = if std::env::var_os("LANYARD_TEST_POSTGRES_URL").is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    driver::artifacts_root().join(format!("{test}-{backend}"))
}
