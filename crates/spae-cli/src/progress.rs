//! Progress bars with rate and ETA for long work. On a terminal the bar redraws in place; when
//! stderr is not a terminal (a background run, a log file, CI) the same line is logged every
//! [`LOG_EVERY_S`] seconds instead of not at all.

use std::io::{self, IsTerminal};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Seconds between progress lines when stderr is not a terminal.
pub const LOG_EVERY_S: u64 = 30;

/// A bar over `len` items, labelled `what`, showing position, rate and time left.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if !io::stderr().is_terminal() {
        let log = LogLines {
            state: Mutex::new((String::new(), Instant::now())),
        };
        pb.set_draw_target(ProgressDrawTarget::term_like(Box::new(log)));
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>16} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} ({elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// A pretend terminal that writes the bar's latest line to stderr every [`LOG_EVERY_S`] seconds
/// (the first one [`LOG_EVERY_S`] seconds after the start: short work prints nothing).
#[derive(Debug)]
struct LogLines {
    /// The line being drawn and when a line was last written (or the bar started).
    state: Mutex<(String, Instant)>,
}

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        if !s.trim().is_empty() {
            self.state.lock().expect("progress state").0 = s.trim().to_string();
        }
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        let mut state = self.state.lock().expect("progress state");
        if state.1.elapsed() >= Duration::from_secs(LOG_EVERY_S) && !state.0.is_empty() {
            eprintln!("{}", state.0);
            state.1 = Instant::now();
        }
        Ok(())
    }
}

/// Bars for a library's progress callback, which reports `done` of `total` per stage: a new
/// bar whenever a stage starts (`done == 1`), the previous one cleared.
#[derive(Default)]
pub struct Bars {
    bar: Option<ProgressBar>,
}

impl Bars {
    /// Shows `done` of `total`; `label` names the stage when a new bar starts.
    pub fn show(&mut self, done: usize, total: usize, label: impl FnOnce() -> String) {
        if done <= 1 || self.bar.is_none() {
            self.finish();
            self.bar = Some(bar(total as u64, &label()));
        }
        if let Some(pb) = &self.bar {
            pb.set_position(done as u64);
        }
    }

    /// Clears the current bar.
    pub fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }
}
