//! Errors as a person or a program reads them: `error: …`, each distinct cause and the hint
//! on stderr, or one JSON object `{"causes", "error", "exitCode", "hint"}` for
//! `--format json`. The advice comes from the errors themselves through
//! [`Hint`](crate::vocab::hint::Hint); this room holds the one place that walks an error's
//! chain and asks each link, and the `Hint` of the error types whose own rooms do not say it.

use std::error::Error;

use serde::Serialize;

use crate::vocab::hint::Hint;

/// The advice of one link of an error chain: each error type that has advice, once.
fn advice<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a dyn Hint> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(h) = e.downcast_ref::<$t>() {
                return Some(h);
            })*
        };
    }
    first_of!(
        crate::file::FileError,
        crate::validate::ValidateError,
        crate::instance::InstanceError,
        crate::split::SplitError,
        crate::fix::FixError,
        crate::import::JournalError,
        crate::api::ApiError,
        crate::export::ExportError,
        crate::api::NoTarget,
        crate::api::NoToken,
    );
    // `IntegrationError` is left out on purpose: `integration-user` puts its hint in the
    // message it adds, so a second `hint:` line would repeat it.
    None
}

/// An error as it is shown: the top message, each distinct cause, and the hint of the first
/// error of the chain that has one. The messages never hold a secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    // In the order the JSON object has always printed them (by name).
    pub causes: Vec<String>,
    pub error: String,
    pub exit_code: i32,
    pub hint: Option<String>,
}

impl ErrorReport {
    /// Walks the chain of `e` once; `exit_code` is what the process exits with.
    pub fn new(e: &anyhow::Error, exit_code: i32) -> ErrorReport {
        let top = e.to_string();
        let mut shown = top.clone();
        let mut causes = Vec::new();
        let mut hint = None;
        for cause in e.chain() {
            let text = cause.to_string();
            if !shown.contains(&text) {
                shown.push_str(&text);
                causes.push(text);
            }
            if hint.is_none() {
                hint = advice(cause).and_then(Hint::hint);
            }
        }
        ErrorReport {
            causes,
            error: top,
            exit_code,
            hint,
        }
    }

    /// `error: …`, `  cause: …` for each cause, `  hint: …`.
    pub fn text(&self) -> String {
        let mut s = format!("error: {}\n", self.error);
        for cause in &self.causes {
            s.push_str(&format!("  cause: {cause}\n"));
        }
        if let Some(h) = &self.hint {
            s.push_str(&format!("  hint: {h}\n"));
        }
        s
    }

    /// The JSON object, pretty-printed, with a final newline.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Whether some error of the chain refuses the input for what it holds (exit 1, not 2).
pub fn refuses_input(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| advice(c).is_some_and(Hint::refuses_input))
}

/// Prints the error's text on stderr.
pub fn print(e: &anyhow::Error) {
    super::console::err(&ErrorReport::new(e, 0).text());
}

/// Prints the error's JSON object on stdout, or on stderr when stdout carries data.
pub fn print_json(report: &ErrorReport, on_stderr: bool) {
    if on_stderr {
        super::console::err(&report.json());
    } else {
        let _ = super::console::out(&report.json());
    }
}

impl Hint for crate::file::FileError {
    fn hint(&self) -> Option<String> {
        crate::file::FileError::hint(self)
    }

    fn refuses_input(&self) -> bool {
        matches!(self, crate::file::FileError::BadWorkbook { .. })
    }
}

impl Hint for crate::validate::ValidateError {
    fn hint(&self) -> Option<String> {
        match self {
            crate::validate::ValidateError::File(f) => f.hint(),
            _ => None,
        }
    }
}

impl Hint for crate::instance::InstanceError {
    fn hint(&self) -> Option<String> {
        match self {
            crate::instance::InstanceError::File(f) => f.hint(),
            crate::instance::InstanceError::NotAnExport { .. } => {
                Some("give a file exported from Admin › Users, or `qusers export -o FILE`".into())
            }
        }
    }
}

impl Hint for crate::split::SplitError {
    fn hint(&self) -> Option<String> {
        match self {
            crate::split::SplitError::File(f) => f.hint(),
            _ => None,
        }
    }

    fn refuses_input(&self) -> bool {
        matches!(self, crate::split::SplitError::File(f) if Hint::refuses_input(f))
    }
}

impl Hint for crate::fix::FixError {
    fn hint(&self) -> Option<String> {
        match self {
            crate::fix::FixError::File(f) => f.hint(),
            _ => None,
        }
    }

    fn refuses_input(&self) -> bool {
        matches!(self, crate::fix::FixError::File(f) if Hint::refuses_input(f))
    }
}

impl Hint for crate::import::JournalError {
    fn hint(&self) -> Option<String> {
        crate::import::JournalError::hint(self)
    }
}

/// Prints clap's own message as clap would (`--help` and `--version` on stdout, usage errors
/// on stderr, styled only on a terminal), through the console.
pub fn print_usage(e: &clap::Error) {
    let styled = e.render();
    if e.use_stderr() {
        match super::console::stderr_is_terminal() {
            true => super::console::err(&styled.ansi().to_string()),
            false => super::console::err(&styled.to_string()),
        }
    } else {
        let text = match super::console::stdout_is_terminal() {
            true => styled.ansi().to_string(),
            false => styled.to_string(),
        };
        let _ = super::console::out(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiError, ErrorKind};
    use crate::file::FileError;

    #[test]
    fn the_hint_comes_from_the_first_link_that_has_one_and_each_cause_shows_once() {
        let api = ApiError::new(ErrorKind::RejectedToken, "GET /whoami", "");
        let e = anyhow::Error::new(api).context("cannot ask the API whose token this is");
        let report = ErrorReport::new(&e, 2);
        assert_eq!(report.error, "cannot ask the API whose token this is");
        assert_eq!(report.causes, ["GET /whoami: the API token was rejected"]);
        let text = report.text();
        assert!(text.starts_with("error: cannot ask the API whose token this is\n  cause: GET /whoami: the API token was rejected\n  hint: regenerating a token"), "{text}");
        // A cause whose words the message already holds is not repeated.
        let e = anyhow::anyhow!("outer: inner").context("outer: inner");
        assert!(ErrorReport::new(&e, 2).causes.is_empty());
    }

    #[test]
    fn the_json_object_keeps_its_keys_in_order() {
        let e = anyhow::Error::new(crate::api::NoToken);
        let json = ErrorReport::new(&e, 2).json();
        assert!(json.starts_with("{\n  \"causes\": [],\n  \"error\": \"no API token given\",\n  \"exitCode\": 2,\n  \"hint\": \"set QUALTRICS_API_TOKEN"), "{json}");
        assert!(json.ends_with("}\n"), "{json}");
        let e = anyhow::anyhow!("no advice for this");
        let json = ErrorReport::new(&e, 1).json();
        assert!(json.contains("\"hint\": null"), "{json}");
    }

    #[test]
    fn a_refused_workbook_is_invalid_input_wherever_it_is_wrapped() {
        let bad = || FileError::BadWorkbook {
            path: "u.xlsx".into(),
            code: crate::rules::Code::NotText,
            message: "damaged".into(),
        };
        assert!(refuses_input(&anyhow::Error::new(bad())));
        let fix = crate::fix::FixError::File(bad());
        assert!(refuses_input(&anyhow::Error::new(fix).context("fix")));
        let split = crate::split::SplitError::File(bad());
        assert!(refuses_input(&anyhow::Error::new(split)));
        let missing = FileError::Io {
            path: "u.csv".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        let e = anyhow::Error::new(missing);
        assert!(!refuses_input(&e));
        assert_eq!(
            ErrorReport::new(&e, 2).hint.as_deref(),
            Some("check the path; run `ls` in the folder you think it is in")
        );
    }
}
