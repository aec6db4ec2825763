//! How a running job shows itself: on a terminal (stderr is a TTY) a progress bar — a spinner
//! with the job's latest line, or a bar with counts when the job reports a long step such as
//! photos — with the log lines printed above it; in a pipe or a file, the plain log lines,
//! one per line, as before.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// The progress display of one command run.
pub struct Display {
    bar: Option<ProgressBar>,
}

impl Display {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Display {
        if !std::io::stderr().is_terminal() {
            return Display { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Display { bar: Some(bar) }
    }

    /// Prints a line on stderr (above the bar, when there is one).
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// The job's log-line callback for site `name`.
    pub fn progress(&self, name: &str) -> sync::Progress {
        let bar = self.bar.clone();
        let name = name.to_string();
        Arc::new(move |line: &str| {
            let text = format!("site {name}: {line}");
            match &bar {
                Some(b) => {
                    b.println(&text);
                    b.set_message(text);
                }
                None => eprintln!("{text}"),
            }
        })
    }

    /// The job's step callback for site `name`: the bar's length and position (none in a
    /// pipe, where the log lines say enough).
    pub fn steps(&self, name: &str) -> Option<sync::Steps> {
        let bar = self.bar.clone()?;
        let name = name.to_string();
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}",
        )
        .ok()
        .map(|s| s.progress_chars("=> "));
        Some(Arc::new(move |step: &str, done: u64, total: u64| {
            if bar.length() != Some(total) {
                bar.set_length(total);
                if let Some(s) = &style {
                    bar.set_style(s.clone());
                }
                bar.set_message(format!("site {name}: {step}"));
            }
            bar.set_position(done);
        }))
    }

    /// Removes the bar; what was printed above it stays.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
