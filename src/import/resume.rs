//! The command that finishes an interrupted import: a fact (a command line) the summary, the
//! page and a stopped run's error all show.

use std::path::Path;

/// The command to continue an interrupted import: `qusers` with `args` (the command line's
/// words after the program name), `--resume` and `--report` added when missing, each word
/// quoted for a POSIX shell. (The token is never on a command line qusers takes.)
pub fn resume_command(args: impl IntoIterator<Item = String>, report: &Path) -> String {
    let mut words: Vec<String> = args.into_iter().collect();
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".into());
    }
    if !words
        .iter()
        .any(|w| w == "--report" || w.starts_with("--report="))
    {
        words.push("--report".into());
        words.push(report.display().to_string());
    }
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect();
    format!("qusers {}", quoted.join(" "))
}
