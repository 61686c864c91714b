//! What a backup command shows while it works: progress bars on a terminal
//! (indicatif), one plain line per step otherwise (cron mails, CI logs), and
//! log events inside the server.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    /// Bars on standard error when it is a terminal, plain lines otherwise.
    Command,
    /// `tracing` events (the scheduled job inside the server).
    Log,
}

impl Reporter {
    /// A step of `total` bytes (unknown: `None`) named `label`.
    pub(crate) fn start(self, label: impl Into<String>, total: Option<u64>) -> Step {
        let label = label.into();
        let bar = (self == Self::Command && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(
                        "{msg:32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            self.line(&format!("{label} ..."));
        }
        Step {
            reporter: self,
            label,
            bar,
            started: Instant::now(),
        }
    }

    #[allow(
        clippy::print_stderr,
        reason = "a command's progress, for a person or cron"
    )]
    pub(crate) fn line(self, text: &str) {
        match self {
            Self::Command => eprintln!("{text}"),
            Self::Log => tracing::info!("backup: {text}"),
        }
    }
}

/// One step in progress; [`Step::done`] ends it.
#[derive(Debug)]
pub(crate) struct Step {
    reporter: Reporter,
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    /// Bytes done so far.
    pub(crate) fn set(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Ends the step, saying what it did.
    pub(crate) fn done(self, what: &str) {
        let text = format!(
            "{}: {what} ({:.1} s)",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
        // The bar gives way to the same plain line a log would get.
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.reporter.line(&text);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step dropped on an error leaves no half-drawn bar behind.
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// `1234567` as `1.2 MB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
