//! `qusers fix`: a repaired copy of a user file, and what could not be repaired.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{write_atomically, Exit, Format, Output};
use crate::file::{Delimiter, ReadOptions, Source};
use crate::fix::{fix, FixOptions};
use crate::validate::{validate_source, NullSink, ValidateOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to repair (never changed; `-` reads stdin)
    #[arg(value_name = "FILE")]
    file: String,
    /// Where to write the repaired copy (.tsv or --tsv for tab-separated)
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Write tab-separated
    #[arg(long)]
    tsv: bool,
    /// Start the output with a UTF-8 byte-order mark (some Excel versions want one)
    #[arg(long)]
    bom: bool,
    /// The file's dates are DD/MM/YYYY: convert every one to MM/DD/YYYY (run once)
    #[arg(long)]
    day_first: bool,
    #[command(flatten)]
    read: super::ReadArgs,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    crate::file::ensure_outputs_distinct(&[Path::new(&args.file)], &[&args.output])?;
    let source = Source::from_arg(&args.file)?;
    let tsv = args.tsv || Delimiter::for_name(&args.output.to_string_lossy()) == Delimiter::TAB;
    let opts = FixOptions {
        read: args.read.options()?,
        tsv,
        bom: args.bom,
        day_first: args.day_first,
    };
    let report = write_atomically(&args.output, |out| Ok(fix(&source, out, &opts)?))?;

    // What is left: validate the copy (not when it went to stdout, a device or a pipe).
    let in_place = super::writes_in_place(&args.output);
    let check = ValidateOptions::new(
        ReadOptions {
            encoding: None,
            delimiter: Some(if tsv {
                Delimiter::TAB
            } else {
                Delimiter::COMMA
            }),
            sso_brand: opts.read.sso_brand.clone(),
            sheet: None,
            include_hidden: false,
        },
        false,
    );
    // Streamed within a small memory budget: past the row limit the copy is invalid anyway
    // (F07), so duplicates are looked for in the rows a valid file can have.
    let check = ValidateOptions {
        duplicate_rows: Some(crate::file::MAX_ROWS),
        ..check
    };
    let summary = if in_place {
        None
    } else {
        let fixed = Source::from_arg(&args.output.to_string_lossy())?;
        Some(validate_source(&fixed, &check, None, &mut NullSink)?)
    };

    let text = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "input": source.name(),
                "output": args.output.display().to_string(),
                "changes": report,
                "remaining": summary,
            }))? + "\n"
        }
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "{} → {}: {} rows, {} cells changed",
                source.name(),
                args.output.display(),
                crate::numfmt::count(report.rows),
                crate::numfmt::count(report.total_cell_changes())
            );
            for c in &report.file_changes {
                let _ = writeln!(s, "  {c}");
            }
            const SHOWN: usize = 30;
            for c in report.cell_changes.iter().take(SHOWN) {
                let _ = writeln!(
                    s,
                    "  line {}, {}: \"{}\" → \"{}\"",
                    c.line, c.column, c.before, c.after
                );
            }
            if report.total_cell_changes() > SHOWN as u64 {
                let counts: Vec<String> = report
                    .counts
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect();
                let _ = writeln!(s, "  … in all: {}", counts.join(", "));
            }
            for n in &report.not_fixed {
                let _ = writeln!(s, "  not fixed: {n}");
            }
            if !report.lost_lines.is_empty() {
                let lines: Vec<String> = report.lost_lines.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    s,
                    "the copy lacks input line(s) {}: they could not be read (see above); mend them in the input and run fix again",
                    lines.join(", ")
                );
            }
            match &summary {
                None => {
                    let _ = writeln!(
                        s,
                        "the copy went to {}, which cannot be read back: save it to a file and run `qusers validate` on it",
                        args.output.display()
                    );
                }
                Some(summary) if summary.valid => {
                    let _ = writeln!(
                        s,
                        "the copy validates{}",
                        if summary.warning > 0 {
                            " (with warnings)"
                        } else {
                            ""
                        }
                    );
                }
                Some(summary) => {
                    let _ = writeln!(
                        s,
                        "still to fix by hand (`qusers validate {}` shows every line):",
                        args.output.display()
                    );
                    for p in summary
                        .file_problems
                        .iter()
                        .filter(|p| p.severity == crate::rules::Severity::Error)
                    {
                        let _ = writeln!(s, "  {}", p.message);
                    }
                    for r in summary
                        .rules
                        .iter()
                        .filter(|r| r.severity == crate::rules::Severity::Error)
                    {
                        let lines: Vec<String> = r.lines.iter().map(u64::to_string).collect();
                        let _ = writeln!(
                            s,
                            "  {} {} ({} rows: lines {})",
                            r.code,
                            r.title,
                            r.rows,
                            lines.join(", ")
                        );
                    }
                }
            }
            s
        }
    };
    let on_stdout = ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
        .iter()
        .any(|p| args.output.as_os_str() == *p);
    if on_stdout {
        // The copy is on stdout: the summary goes beside it, on stderr.
        if !args.quiet || args.format == Format::Json {
            eprint!("{text}");
        }
    } else {
        Output::stdout(&text)?;
    }
    // A copy without every input record is no fixed file, whatever it validates as.
    Ok(
        if report.lost_lines.is_empty() && summary.as_ref().is_none_or(|s| s.valid) {
            Exit::Ok
        } else {
            Exit::Invalid
        },
    )
}
