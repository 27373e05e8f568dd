//! Progress on stderr: the spinner while the instance is read, the bar while rows are sent,
//! and the talk between them (drawn only on a terminal; nothing with `--quiet`). The workflows
//! report through [`crate::import::Progress`]; only this room draws.

/// A progress style from `template`, where `{rate}` is the rate with one decimal and thousands
/// separators, and `{count}` and `{total}` the position and length with separators, as every
/// summary prints them.
pub(crate) fn style(template: &str) -> Option<indicatif::ProgressStyle> {
    use crate::numfmt::{count, rate};
    let style = indicatif::ProgressStyle::with_template(template).ok()?;
    Some(
        style
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", rate(s.per_sec()));
                },
            )
            .with_key(
                "count",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", count(s.pos()));
                },
            )
            .with_key(
                "total",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", count(s.len().unwrap_or(0)));
                },
            ),
    )
}

/// A spinner counting items, drawn only on a terminal.
pub(crate) fn spinner(quiet: bool, message: &'static str) -> indicatif::ProgressBar {
    if quiet || !super::console::stderr_is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        style("{spinner} {msg}: {count} ({rate})")
            .unwrap_or_else(indicatif::ProgressStyle::default_spinner),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Talk on stderr, a spinner while reading the instance and a bar while applying (drawn only
/// on a terminal); nothing with `--quiet`.
pub(crate) struct Bars {
    quiet: bool,
    bar: std::sync::Mutex<indicatif::ProgressBar>,
}

impl Bars {
    /// A spinner with `message` until the first bar starts.
    pub(crate) fn new(quiet: bool, message: &'static str) -> Bars {
        Bars {
            quiet,
            bar: std::sync::Mutex::new(spinner(quiet, message)),
        }
    }

    fn set(&self, bar: indicatif::ProgressBar) {
        let mut old = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        old.finish_and_clear();
        *old = bar;
    }
}

impl crate::import::Progress for Bars {
    fn note(&self, message: &str) {
        if !self.quiet {
            crate::present::console::err_line(message);
        }
    }
    fn reading(&self, n: u64) {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).inc(n);
    }
    fn start(&self, total: u64) {
        if self.quiet || !super::console::stderr_is_terminal() || total == 0 {
            return self.set(indicatif::ProgressBar::hidden());
        }
        let template = "{bar:30} {count}/{total} rows  {rate}  ETA {eta}  {msg}";
        self.set(
            indicatif::ProgressBar::new(total)
                .with_style(style(template).unwrap_or_else(indicatif::ProgressStyle::default_bar)),
        );
    }
    fn row_done(&self) {
        self.reading(1);
    }
    fn details_start(&self, total: u64) {
        if self.quiet || !super::console::stderr_is_terminal() || total == 0 {
            return self.set(indicatif::ProgressBar::hidden());
        }
        let template = "{bar:30} {count}/{total} user records  {rate}  ETA {eta}";
        self.set(
            indicatif::ProgressBar::new(total)
                .with_style(style(template).unwrap_or_else(indicatif::ProgressStyle::default_bar)),
        );
    }
    fn detail_read(&self) {
        self.reading(1);
    }
    fn details_done(&self) {
        self.set(indicatif::ProgressBar::hidden());
    }
    fn finish(&self) {
        self.set(indicatif::ProgressBar::hidden());
    }
}
