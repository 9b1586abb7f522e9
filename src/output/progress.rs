//! Progress on stderr: indicatif bars (points with ETA and the current
//! point's parameters; the current point's requests) on a terminal, plain
//! `progress k/N (p%) elapsed=… last=…` lines otherwise, as mlx-knife's
//! benchmark scripts (the predecessor mlxrun was created from) print them.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

enum Mode {
    Bars {
        multi: MultiProgress,
        points: ProgressBar,
        requests: ProgressBar,
    },
    Plain,
}

/// Progress of a run.
pub struct Progress {
    mode: Mode,
    total: usize,
    start: Instant,
}

impl Progress {
    /// Bars when stderr is a terminal (and `plain` is false), else lines.
    pub fn new(total_points: usize, plain: bool) -> Progress {
        let mode = if !plain && std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let points = multi.add(ProgressBar::new(total_points as u64));
            points.set_style(
                ProgressStyle::with_template(
                    "points   {bar:30.cyan/blue} {pos}/{len} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let requests = multi.add(ProgressBar::new(0));
            requests.set_style(
                ProgressStyle::with_template(
                    "requests {bar:30.green/white} {pos}/{len} {per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            points.enable_steady_tick(Duration::from_millis(200));
            Mode::Bars {
                multi,
                points,
                requests,
            }
        } else {
            Mode::Plain
        };
        Progress {
            mode,
            total: total_points,
            start: Instant::now(),
        }
    }

    /// A point begins.
    pub fn start_point(&self, params: &str, requests: u64) {
        if let Mode::Bars {
            points,
            requests: bar,
            ..
        } = &self.mode
        {
            points.set_message(params.to_string());
            bar.set_length(requests);
            bar.set_position(0);
            bar.reset_elapsed();
        }
    }

    /// A status message for the current phase (starting servers, warmup).
    pub fn phase(&self, msg: &str) {
        match &self.mode {
            Mode::Bars { requests, .. } => requests.set_message(msg.to_string()),
            Mode::Plain if !msg.is_empty() => eprintln!("{msg}"),
            Mode::Plain => {}
        }
    }

    /// One request of the current point finished.
    pub fn request_done(&self) {
        if let Mode::Bars { requests, .. } = &self.mode {
            requests.inc(1);
        }
    }

    /// `done` points are finished; `last` describes the latest.
    pub fn point_done(&self, done: usize, last: &str) {
        match &self.mode {
            Mode::Bars { points, .. } => points.set_position(done as u64),
            Mode::Plain => {
                let pct = if self.total == 0 {
                    100.0
                } else {
                    done as f64 * 100.0 / self.total as f64
                };
                eprintln!(
                    "progress {done}/{} ({pct:.1}%) elapsed={:.1}s last={last}",
                    self.total,
                    self.start.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// Print a line on stdout without tearing the bars.
    pub fn println(&self, line: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => multi.suspend(|| println!("{line}")),
            Mode::Plain => println!("{line}"),
        }
    }

    /// Print a line on stderr without tearing the bars.
    pub fn eprintln(&self, line: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => multi.suspend(|| eprintln!("{line}")),
            Mode::Plain => eprintln!("{line}"),
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        if let Mode::Bars {
            points, requests, ..
        } = &self.mode
        {
            requests.finish_and_clear();
            points.finish_and_clear();
        }
    }
}
