//! What a drive measures while it runs and reports at the end: counters shared by the sending
//! tasks, call latencies and their percentiles, the live progress line, and the [`Report`]
//! (text and JSON) of what was sent, what arrived, throughput and latency.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::truth::Counts;

/// First failure messages kept per error code for the report (the rest are only counted).
const KEPT_MESSAGES_PER_CODE: usize = 3;

/// Counters and latencies of a running drive, updated by every sending task.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Flow-log lines accepted by the transport.
    pub sent_records: AtomicU64,
    /// Payload bytes accepted (as framed for the transport).
    pub sent_bytes: AtomicU64,
    /// Lines given up after the last retry.
    pub failed_records: AtomicU64,
    /// Lines sent again after a partial or whole-call failure (once per retry).
    pub retried_records: AtomicU64,
    /// API calls made (every attempt).
    pub calls: AtomicU64,
    /// Calls that failed as a whole (network, throttling of the call, bad response).
    pub call_errors: AtomicU64,
    latencies_micros: Mutex<Vec<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    results: Mutex<BTreeMap<String, u64>>,
    messages: Mutex<Vec<(String, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveStats {
    /// One call took `took`.
    pub fn latency(&self, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        lock(&self.latencies_micros).push(took.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    /// `n` occurrences of the error `code`; keeps the first few `message`s of each code.
    pub fn error(&self, code: &str, n: u64, message: impl FnOnce() -> String) {
        *lock(&self.errors).entry(code.to_owned()).or_default() += n;
        let mut messages = lock(&self.messages);
        if messages.iter().filter(|(c, _)| c == code).count() < KEPT_MESSAGES_PER_CODE {
            messages.push((code.to_owned(), message()));
        }
    }

    /// `n` records with the transport-specific result `result` (the Lambda's `Ok`, `Dropped`, ...).
    pub fn result(&self, result: &str, n: u64) {
        *lock(&self.results).entry(result.to_owned()).or_default() += n;
    }

    /// Percentiles of the call latencies so far.
    pub fn percentiles(&self) -> Latency {
        let mut values = lock(&self.latencies_micros).clone();
        Latency::of(&mut values)
    }

    fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.sent_records.load(Ordering::Relaxed),
            self.failed_records.load(Ordering::Relaxed),
            self.retried_records.load(Ordering::Relaxed),
            self.call_errors.load(Ordering::Relaxed),
        )
    }

    /// The final report's measured part.
    pub fn report(&self, driver: &str, target: &str, generated: u64, seconds: f64) -> Report {
        let sent = self.sent_records.load(Ordering::Relaxed);
        let bytes = self.sent_bytes.load(Ordering::Relaxed);
        let per_sec = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        Report {
            driver: driver.to_owned(),
            target: target.to_owned(),
            seconds,
            generated,
            sent,
            sent_bytes: bytes,
            failed: self.failed_records.load(Ordering::Relaxed),
            retried: self.retried_records.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            call_errors: self.call_errors.load(Ordering::Relaxed),
            records_per_sec: per_sec(sent),
            mib_per_sec: per_sec(bytes) / (1024.0 * 1024.0),
            latency_ms: self.percentiles(),
            errors: lock(&self.errors).clone(),
            error_samples: lock(&self.messages)
                .iter()
                .map(|(_, m)| m.clone())
                .collect(),
            results: lock(&self.results).clone(),
            arrived: None,
            expected_cross_az: None,
        }
    }
}

/// Call latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `micros` (sorted in place).
    pub fn of(micros: &mut [u64]) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
            micros[i] as f64 / 1000.0
        };
        Latency {
            count: micros.len() as u64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: micros[micros.len() - 1] as f64 / 1000.0,
        }
    }
}

/// What was found at the destination after the drive (read back by the driver or by the test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// Where it was counted (`s3://bucket/prefix`, `kinesis://stream`, a folder).
    pub location: String,
    /// Flow-log lines found there.
    pub records: u64,
    /// Objects, files or shards read.
    pub containers: u64,
}

/// The end-of-run report: what was sent, what arrived, throughput, latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `firehose`, `kinesis`, `files`, `s3`, `lambda`, `in-process`.
    pub driver: String,
    /// Stream, function, folder or prefix driven.
    pub target: String,
    /// Wall-clock seconds of the drive.
    pub seconds: f64,
    /// Flow-log lines generated.
    pub generated: u64,
    /// Lines accepted by the transport.
    pub sent: u64,
    /// Payload bytes accepted.
    pub sent_bytes: u64,
    /// Lines given up after the last retry.
    pub failed: u64,
    /// Line re-sends after partial or whole-call failures.
    pub retried: u64,
    /// API calls (attempts).
    pub calls: u64,
    /// Calls that failed as a whole.
    pub call_errors: u64,
    /// Sent lines per second.
    pub records_per_sec: f64,
    /// Sent payload MiB per second.
    pub mib_per_sec: f64,
    /// Call latency.
    pub latency_ms: Latency,
    /// Errors by code (per-entry codes and whole-call failures), every occurrence.
    pub errors: BTreeMap<String, u64>,
    /// The first failure messages of each error code, naming the batch/record and the reason.
    pub error_samples: Vec<String>,
    /// Transport-specific results per record (Lambda: `Ok`, `Dropped`, `ProcessingFailed`,
    /// and `rows` in the `Ok` data).
    pub results: BTreeMap<String, u64>,
    /// What was read back at the destination, when checked.
    pub arrived: Option<Arrival>,
    /// The generator's cross-AZ truth of the lines sent (what the pipeline must report).
    pub expected_cross_az: Option<Counts>,
}

impl Report {
    /// Whether everything generated was sent and, when checked, arrived (a failed check is not
    /// complete).
    pub fn complete(&self) -> bool {
        self.failed == 0
            && self.sent == self.generated
            && !self.errors.contains_key(super::ARRIVAL_CHECK)
            && self.arrived.as_ref().is_none_or(|a| a.records == self.sent)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "driver {} -> {}", self.driver, self.target)?;
        writeln!(
            f,
            "  generated {} records; sent {} ({} bytes); failed {}; retried {}",
            self.generated, self.sent, self.sent_bytes, self.failed, self.retried
        )?;
        if let Some(a) = &self.arrived {
            let verdict = if a.records == self.sent {
                "all arrived"
            } else {
                "MISMATCH"
            };
            writeln!(
                f,
                "  arrived {} records in {} objects at {} ({verdict})",
                a.records, a.containers, a.location
            )?;
        }
        writeln!(
            f,
            "  {:.2} s: {:.0} records/s, {:.2} MiB/s",
            self.seconds, self.records_per_sec, self.mib_per_sec
        )?;
        let l = self.latency_ms;
        writeln!(
            f,
            "  {} calls ({} failed whole): latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.calls, self.call_errors, l.p50, l.p90, l.p99, l.max
        )?;
        if !self.results.is_empty() {
            let parts: Vec<String> = self
                .results
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(f, "  results: {}", parts.join(", "))?;
        }
        if let Some(c) = self.expected_cross_az {
            writeln!(
                f,
                "  truth: {} cross-AZ records, {} packets, {} bytes",
                c.records, c.packets, c.bytes
            )?;
        }
        for (code, n) in &self.errors {
            writeln!(f, "  error {code}: {n}")?;
        }
        for message in &self.error_samples {
            writeln!(f, "  e.g. {message}")?;
        }
        Ok(())
    }
}

/// Prints a progress line to stderr every interval: records/s, errors, latency percentiles.
/// On a terminal the line is redrawn in place; otherwise one line per interval.
pub struct Progress {
    started: Instant,
    last: Instant,
    last_sent: u64,
    every: Duration,
    terminal: bool,
    enabled: bool,
}

impl Progress {
    /// A progress printer; `enabled = false` prints nothing.
    pub fn new(every: Duration, enabled: bool) -> Self {
        let now = Instant::now();
        Progress {
            started: now,
            last: now,
            last_sent: 0,
            every,
            terminal: std::io::stderr().is_terminal(),
            enabled,
        }
    }

    /// Prints a line if the interval has passed.
    pub fn tick(&mut self, stats: &LiveStats, generated: u64) {
        if self.enabled && self.last.elapsed() >= self.every {
            self.print(stats, generated);
        }
    }

    fn print(&mut self, stats: &LiveStats, generated: u64) {
        let (sent, failed, retried, call_errors) = stats.snapshot();
        let window = self.last.elapsed().as_secs_f64().max(1e-9);
        let rate = (sent - self.last_sent.min(sent)) as f64 / window;
        let l = stats.percentiles();
        let line = format!(
            "[{:>6.1} s] generated {generated}, sent {sent} ({rate:.0}/s), failed {failed}, retried {retried}, call errors {call_errors}, latency p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} ms",
            self.started.elapsed().as_secs_f64(),
            l.p50,
            l.p90,
            l.p99,
            l.max
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.last = Instant::now();
        self.last_sent = sent;
    }

    /// Ends the line (on a terminal).
    pub fn finish(&mut self, stats: &LiveStats, generated: u64) {
        if self.enabled {
            self.print(stats, generated);
            if self.terminal {
                eprintln!();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!(l.count, 100);
        assert!((l.p50 - 50.0).abs() < f64::EPSILON);
        assert!((l.p90 - 90.0).abs() < f64::EPSILON);
        assert!((l.p99 - 99.0).abs() < f64::EPSILON);
        assert!((l.max - 100.0).abs() < f64::EPSILON);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn report_says_whether_everything_arrived() {
        let stats = LiveStats::default();
        stats.sent_records.store(10, Ordering::Relaxed);
        stats.latency(Duration::from_millis(3));
        let mut report = stats.report("kinesis", "flows", 10, 2.0);
        assert!((report.records_per_sec - 5.0).abs() < f64::EPSILON);
        assert!(report.complete());
        report.arrived = Some(Arrival {
            location: "kinesis://flows".into(),
            records: 9,
            containers: 2,
        });
        assert!(!report.complete());
        assert!(report.to_string().contains("MISMATCH"), "{report}");
    }
}
