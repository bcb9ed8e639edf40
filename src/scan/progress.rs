//! Progress on standard error while a scan runs: values judged, keys/s, findings so far and, when
//! the total is known (DBSIZE), an ETA labelled as an estimate. `auto` draws a bar only when stderr
//! is a terminal; `log` prints a plain line every few seconds for CI logs; `none` prints nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    Auto,
    Bar,
    Log,
    None,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "bar" => Some(Mode::Bar),
            "log" => Some(Mode::Log),
            "none" => Some(Mode::None),
            _ => None,
        }
    }
}

pub struct Progress {
    mode: Mode,
    total: Option<u64>,
    start: Instant,
    last: Option<Instant>,
    every: Duration,
    drawn: bool,
}

impl Progress {
    /// `total`: the number of values expected (e.g. from DBSIZE), when known.
    pub fn new(mode: Mode, total: Option<u64>) -> Progress {
        let mode = match mode {
            Mode::Auto if std::io::stderr().is_terminal() => Mode::Bar,
            Mode::Auto => Mode::None,
            m => m,
        };
        Progress {
            mode,
            total,
            start: Instant::now(),
            last: None,
            every: if mode == Mode::Log {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(100)
            },
            drawn: false,
        }
    }

    /// A line describing the state, without a trailing newline.
    pub fn line(&self, read: u64, judged: u64, findings: u64, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let rate = judged as f64 / secs;
        let mut s = match self.total {
            Some(t) if t > 0 => format!(
                "{judged}/{t} values judged ({:.0}%)",
                (judged as f64 * 100.0 / t as f64).min(100.0)
            ),
            _ => format!("{judged} values judged"),
        };
        s.push_str(&format!(
            ", {read} read, {rate:.0} values/s, {findings} with findings"
        ));
        if let Some(t) = self.total
            && rate > 0.0
            && t > judged
        {
            let eta = ((t - judged) as f64 / rate).round() as u64;
            s.push_str(&format!(", ETA ~{} (estimate)", hms(eta)));
        }
        s
    }

    pub fn tick(&mut self, read: u64, judged: u64, findings: u64) {
        if self.mode == Mode::None {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < self.every) {
            return;
        }
        if self.last.is_none() && self.mode == Mode::Log {
            // The first log line after one interval, not at once.
            self.last = Some(now);
            return;
        }
        self.last = Some(now);
        self.draw(read, judged, findings);
    }

    fn draw(&mut self, read: u64, judged: u64, findings: u64) {
        let line = self.line(read, judged, findings, self.start.elapsed());
        let mut e = std::io::stderr().lock();
        let _ = match self.mode {
            Mode::Bar => write!(
                e,
                "\r\x1b[2Kcache-compat: {}{}",
                bar(judged, self.total),
                line
            ),
            _ => writeln!(e, "cache-compat: {line}"),
        };
        let _ = e.flush();
        self.drawn = true;
    }

    /// Clear the bar (or log the final count).
    pub fn finish(&mut self, judged: u64, findings: u64) {
        match self.mode {
            Mode::Bar if self.drawn => {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
            Mode::Log => {
                let line = self.line(judged, judged, findings, self.start.elapsed());
                let _ = writeln!(std::io::stderr(), "cache-compat: done: {line}");
            }
            _ => {}
        }
    }
}

fn bar(done: u64, total: Option<u64>) -> String {
    let Some(t) = total.filter(|t| *t > 0) else {
        return String::new();
    };
    let w = 20usize;
    let filled = ((done.min(t) as f64 / t as f64) * w as f64) as usize;
    format!("[{}{}] ", "#".repeat(filled), "-".repeat(w - filled))
}

fn hms(s: u64) -> String {
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_labelled_an_estimate() {
        let p = Progress::new(Mode::None, Some(1000));
        let l = p.line(200, 100, 3, Duration::from_secs(10));
        assert!(l.starts_with("100/1000 values judged (10%)"), "{l}");
        assert!(l.contains("10 values/s"), "{l}");
        assert!(l.ends_with("ETA ~1m30s (estimate)"), "{l}");
        let p = Progress::new(Mode::None, None);
        assert!(!p.line(1, 1, 0, Duration::from_secs(1)).contains("ETA"));
    }
}
