//! The one `chromedriver` process of this test binary: found on the machine, started lazily on a
//! free loopback port, shared by every browser test, and gone when the test binary exits.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Set to `1` (CI does) to make a missing chromedriver or Chromium a failure instead of a skip.
pub const REQUIRE_ENV: &str = "LANYARD_REQUIRE_BROWSER";

/// A running chromedriver and the browser binary it drives.
pub struct Driver {
    /// `http://127.0.0.1:PORT/`, the WebDriver endpoint.
    pub url: String,
    /// The Chromium (or Chrome) binary each session starts.
    pub chromium: PathBuf,
    /// Kept open for the life of the process: when the test binary exits, the pipe closes and the
    /// watchdog shell that started chromedriver ends it and everything it started (see `start`).
    _lifeline: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();

/// The shared driver, started on first use. `Err` says what is missing.
pub fn shared() -> Result<&'static Driver, String> {
    DRIVER.get_or_init(start).as_ref().map_err(Clone::clone)
}

/// Whether a missing browser must fail the test (CI) rather than skip it (a laptop without one).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn from_env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        _ => on_path(names),
    }
}

/// Where failure artifacts go: `LANYARD_BROWSER_ARTIFACTS`, else `$CARGO_TARGET_DIR/browser-artifacts`,
/// else `target/browser-artifacts` in the workspace.
pub fn artifacts_root() -> PathBuf {
    if let Some(d) = std::env::var_os("LANYARD_BROWSER_ARTIFACTS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-artifacts")
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start() -> Result<Driver, String> {
    let chromedriver = from_env_or_path("LANYARD_CHROMEDRIVER", &["chromedriver"]).ok_or(
        "no chromedriver (install Debian's `chromium-driver`, or set LANYARD_CHROMEDRIVER)",
    )?;
    let chromium = from_env_or_path(
        "LANYARD_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )
    .ok_or("no chromium (install Debian's `chromium`, or set LANYARD_CHROMIUM)")?;
    let root = artifacts_root();
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let log = root.join("chromedriver.log");
    let port = free_port()?;
    // chromedriver outlives a killed parent, and `unsafe` (prctl) is forbidden here, so a shell
    // in its own process group watches our stdin: at end of file (this process is gone, however it
    // ended) it signals the whole group, chromedriver and every Chromium it started.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" --port="$1" --log-path="$2" --log-level=WARNING & read _; kill -TERM 0"#)
        .arg(&chromedriver)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", chromedriver.display()))?;
    let lifeline = child.stdin.take().ok_or("no stdin pipe to chromedriver")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} exited at start ({status}); see {}",
                chromedriver.display(),
                log.display()
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "{} did not listen on {addr} within 20 s; see {}",
                chromedriver.display(),
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Driver {
        url: format!("http://{addr}/"),
        chromium,
        _lifeline: Mutex::new(lifeline),
        _child: Mutex::new(child),
    })
}

/// Say loudly, past the test harness's output capture, that a browser test did not run.
pub fn announce_skip(test: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** browser test `{test}` skipped: {why}; with {REQUIRE_ENV}=1 this is a failure ***"
    );
}
