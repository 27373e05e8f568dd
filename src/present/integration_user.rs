//! `qusers integration-user` in words: what was done, step by step, and what to send the
//! partner (never the token). The JSON is the [`IntegrationReport`] itself.

use std::fmt::Write as _;

use crate::integration::{IntegrationReport, Step};

fn step_text(step: &Step) -> &'static str {
    match step {
        Step::Found => "already so",
        Step::ThroughUserType => "already has API access through its user type (left as it is)",
        Step::Created => "created",
        Step::WouldCreate => "would be created (dry run)",
        Step::Granted => "granted",
        Step::WouldGrant => "would be granted (dry run)",
        Step::Kept => "the user already has one: kept, not regenerated",
        Step::Generated => "generated",
        Step::WouldGenerate => "would be generated (dry run)",
        Step::Regenerated => "regenerated: the old token no longer works",
        Step::WouldRegenerate => "would be regenerated (dry run): the old token would stop working",
    }
}

/// The steps as labelled lines, then what the partner needs.
pub fn text(report: &IntegrationReport) -> String {
    let mut s = String::new();
    let line = |s: &mut String, label: &str, value: &str| {
        let _ = writeln!(s, "{label:<18}{value}");
    };
    line(&mut s, "User", step_text(&report.user));
    line(&mut s, "API access", step_text(&report.api_access));
    line(&mut s, "API token", step_text(&report.token));
    if let Some(f) = &report.token_file {
        line(
            &mut s,
            "Token file",
            &format!("{f} (mode 0600; send it to the partner over a secure channel)"),
        );
    }
    s.push_str("\nFor the partner:\n");
    line(&mut s, "Base URL", &report.base_url);
    line(&mut s, "User ID", &report.user_id);
    line(&mut s, "Library ID", &report.library_id);
    for (n, d) in report.directories.iter().enumerate() {
        let default = if d.is_default == Some(true) {
            "  (default)"
        } else {
            ""
        };
        line(
            &mut s,
            if n == 0 { "Directory ID" } else { "" },
            &format!("{}  {}{default}", d.directory_id, d.name),
        );
    }
    if report.token == Step::Kept {
        s.push_str("\nThe token was not regenerated: --regenerate would replace it, and every integration that uses the old token would break at once.\n");
    }
    s
}
