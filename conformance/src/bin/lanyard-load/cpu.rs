//! Server CPU time from `/proc/PID/stat` (proc(5)): user plus system time of the provider's
//! process, read at the start and at the end of a measured window, so a run can say how many
//! operations one CPU-second of the server buys — the figure that stays comparable on a machine
//! where the load generator shares the cores.

use anyhow::{bail, Context};

/// Reads the CPU time of one process.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pid: u32,
    /// `sysconf(_SC_CLK_TCK)`: the unit of `utime` and `stime`.
    ticks_per_second: f64,
}

/// `utime` and `stime` (fields 14 and 15 of proc(5)), in clock ticks. The command name (field
/// 2) is in parentheses and may itself hold spaces or `)`, so fields are counted after the last
/// `)`. PURE.
pub fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the command name come field 3 (state) onwards: utime is the 12th of those.
    let utime = fields.nth(11)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

impl CpuMeter {
    /// A meter for `pid`; fails at once when the process cannot be read.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("running `getconf CLK_TCK` (needed with --server-pid)")?;
        let ticks: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("`getconf CLK_TCK` printed no number")?;
        if ticks <= 0.0 {
            bail!("`getconf CLK_TCK` printed {ticks}");
        }
        let meter = Self {
            pid,
            ticks_per_second: ticks,
        };
        meter.seconds()?;
        Ok(meter)
    }

    /// The process's CPU seconds so far (user + system).
    pub fn seconds(&self) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path)
            .with_context(|| format!("--server-pid {}: reading {path}", self.pid))?;
        let (user, system) =
            parse_stat(&stat).with_context(|| format!("{path}: not in the proc(5) format"))?;
        #[allow(clippy::cast_precision_loss)]
        Ok((user + system) as f64 / self.ticks_per_second)
    }
}

/// The server's CPU over a measured window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ServerCpu {
    pub cpu_seconds: f64,
    /// Average cores busy over the window.
    pub cores: f64,
    /// Successful operations per server CPU-second.
    pub ops_per_cpu_second: Option<f64>,
    /// Server CPU per successful operation, in microseconds.
    pub cpu_us_per_op: Option<f64>,
}

impl ServerCpu {
    /// PURE.
    pub fn over(cpu_seconds: f64, window_seconds: f64, successes: u64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let ops = successes as f64;
        Self {
            cpu_seconds,
            cores: if window_seconds > 0.0 {
                cpu_seconds / window_seconds
            } else {
                0.0
            },
            ops_per_cpu_second: (cpu_seconds > 0.0).then(|| ops / cpu_seconds),
            cpu_us_per_op: (successes > 0).then(|| cpu_seconds * 1e6 / ops),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with spaces and a parenthesis, as proc(5) allows.
        let stat = "4242 (lanyard (x) y) S 1 4242 4242 0 -1 4194560 1024 0 0 0 731 204 0 0 20 0 9 0 12345 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((731, 204)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn cpu_per_operation_and_per_cpu_second() {
        let c = ServerCpu::over(2.0, 8.0, 10_000);
        assert!((c.cores - 0.25).abs() < 1e-9);
        assert_eq!(c.ops_per_cpu_second, Some(5000.0));
        assert_eq!(c.cpu_us_per_op, Some(200.0));
        let idle = ServerCpu::over(0.0, 8.0, 0);
        assert_eq!(idle.ops_per_cpu_second, None);
        assert_eq!(idle.cpu_us_per_op, None);
    }

    #[test]
    fn this_process_can_be_read() {
        let me = CpuMeter::new(std::process::id()).unwrap();
        assert!(me.seconds().unwrap() >= 0.0);
        assert!(CpuMeter::new(u32::MAX).is_err(), "no such process");
    }
}
