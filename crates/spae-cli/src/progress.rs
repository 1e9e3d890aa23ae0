//! Progress bars with rate and ETA for long work.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` items, labelled `what`, showing position, rate and time left.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
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
