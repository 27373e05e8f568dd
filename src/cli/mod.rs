//! The command line: one file per subcommand, each with its clap `Args` and a `run`.

mod export;
mod filter;
mod fix;
mod import;
mod instance;
mod integration_user;
mod rules;
mod safety;
mod sim;
mod split;
mod sync;
pub mod target;
mod template;
mod update;
pub mod validate;
mod whoami;

use clap::{Parser, Subcommand, ValueEnum};

use crate::present::error::ErrorReport;

pub use crate::present::output::{write_atomically, writes_in_place, Output};

/// Validate, import and export Qualtrics users from CSV/TSV files.
#[derive(Debug, Parser)]
#[command(name = "qusers", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pre-flight check of user files against every Qualtrics rule
    Validate(validate::Args),
    /// Validate, plan and apply a user file through the API, with a per-row report
    Import(import::Args),
    /// Set fields on the users export's filters select, through import's plan, brakes and undo
    Update(update::Args),
    /// Every user of the instance (or those matching filters) to an import-ready CSV
    Export(export::Args),
    /// Write a repaired copy of a file: what can be fixed mechanically is fixed
    Fix(fix::Args),
    /// List every validation rule: code, severity, what it checks, how to fix it
    Rules(rules::Args),
    /// Cut a file that breaks the size or row limits into parts that do not
    Split(split::Args),
    /// Write the blank import template
    Template(template::Args),
    /// Check the credentials and print the ids an integration needs
    Whoami(whoami::Args),
    /// Find or create a partner platform's integration user, with API access and a token file
    IntegrationUser(integration_user::Args),
    /// Keep the users a roster owns in step with it: create, update, retire leavers after a
    /// grace period; unattended
    Sync(sync::Args),
    /// Serve the Qualtrics-compatible simulator on loopback
    Sim(sim::Args),
}

/// How to read a user file, when the detection should be overridden.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Read the file in this encoding (a label such as windows-1252, utf-16le) instead of
    /// detecting it
    #[arg(long, value_name = "LABEL")]
    encoding: Option<String>,
    /// Field delimiter (comma, tab, semicolon or one character) instead of the one the file
    /// name implies
    #[arg(long, value_parser = crate::file::Delimiter::parse, value_name = "D")]
    delimiter: Option<crate::file::Delimiter>,
    /// The brand uses single sign-on: usernames end in #BRANDID and need not be email-shaped
    /// (detected from the instance when most of its usernames end so)
    #[arg(long, value_name = "BRANDID")]
    sso_brand: Option<String>,
    /// The worksheet to read from an .xlsx/.xls/.ods workbook (default: the first)
    #[arg(long, value_name = "NAME")]
    sheet: Option<String>,
    /// Read a workbook's hidden rows too (by default they are left out, with a warning)
    #[arg(long)]
    include_hidden: bool,
}

impl ReadArgs {
    /// The settings, resolved once.
    pub fn options(&self) -> anyhow::Result<crate::file::ReadOptions> {
        Ok(crate::file::ReadOptions {
            encoding: self
                .encoding
                .as_deref()
                .map(crate::file::decode_label)
                .transpose()?,
            delimiter: self.delimiter,
            sso_brand: self
                .sso_brand
                .as_deref()
                .map(|b| {
                    let b = b.strip_prefix('#').unwrap_or(b);
                    if crate::rules::is_brand_id(b) {
                        Ok(b.to_string())
                    } else {
                        Err(anyhow::anyhow!(
                            "--sso-brand `{b}` is not a brand id: give the id after # in the usernames (letters, digits, _ - .)"
                        ))
                    }
                })
                .transpose()?,
            sheet: self.sheet.clone(),
            include_hidden: self.include_hidden,
        })
    }
}

/// How to read a user file, for a command that does not check usernames (`split`): the
/// [`ReadArgs`] without `--sso-brand`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlainReadArgs {
    /// Read the file in this encoding (a label such as windows-1252, utf-16le) instead of
    /// detecting it
    #[arg(long, value_name = "LABEL")]
    encoding: Option<String>,
    /// Field delimiter (comma, tab, semicolon or one character) instead of the one the file
    /// name implies
    #[arg(long, value_parser = crate::file::Delimiter::parse, value_name = "D")]
    delimiter: Option<crate::file::Delimiter>,
    /// The worksheet to read from an .xlsx/.xls/.ods workbook (default: the first)
    #[arg(long, value_name = "NAME")]
    sheet: Option<String>,
    /// Read a workbook's hidden rows too (by default they are left out, with a warning)
    #[arg(long)]
    include_hidden: bool,
}

impl PlainReadArgs {
    /// The settings, resolved once.
    pub fn options(&self) -> anyhow::Result<crate::file::ReadOptions> {
        ReadArgs {
            encoding: self.encoding.clone(),
            delimiter: self.delimiter,
            sso_brand: None,
            sheet: self.sheet.clone(),
            include_hidden: self.include_hidden,
        }
        .options()
    }
}

/// How a summary is printed on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// The process exit code: the same meaning for every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Success (warnings allowed).
    Ok = 0,
    /// The input is invalid or at least one row failed.
    Invalid = 1,
    /// The command could not run.
    CouldNotRun = 2,
    /// `sync`: a safety check held the run; nothing was sent.
    Held = 3,
    /// Stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + SIGINT, as shells report it.
    Interrupted = 130,
}

/// The run was stopped by Ctrl-C or SIGTERM before it finished: `main` exits with 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C or SIGTERM): stopped before the end")]
pub struct Interrupted;

impl Command {
    /// The `--format` the command was given (text for a command without one).
    pub fn format(&self) -> Format {
        match self {
            Command::Validate(a) => a.format,
            Command::Import(a) => a.format,
            Command::Export(a) => a.format,
            Command::Fix(a) => a.format,
            Command::Rules(a) => a.format,
            Command::Split(a) => a.format,
            Command::Template(a) => a.format,
            Command::Whoami(a) => a.format,
            Command::IntegrationUser(a) => a.format,
            Command::Update(a) => a.format,
            Command::Sync(a) => a.format,
            Command::Sim(_) => Format::Text,
        }
    }

    /// Where a JSON error goes: stderr when stdout carries the command's data (`export`
    /// without `-o FILE`, whose JSON summary goes to stderr too), else stdout.
    fn json_on_stderr(&self) -> bool {
        matches!(self, Command::Export(a) if a.writes_stdout())
    }
}

/// `--format json` (or `--format=json`) among the words of a command line that clap refused.
fn argv_asks_json(args: &[std::ffi::OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    words.iter().enumerate().any(|(i, w)| {
        *w == "--format=json" || (*w == "--format" && words.get(i + 1) == Some(&"json"))
    })
}

/// Parses the arguments, runs the command, prints any error and returns the exit code.
pub fn main() -> i32 {
    crate::sim::set_log(crate::present::console::err_line);
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            crate::present::error::print_usage(&e);
            if !e.use_stderr() {
                return 0;
            }
            if argv_asks_json(&argv) {
                let text = e.render().to_string();
                // The message is every line before the usage, e.g. "the following required
                // arguments were not provided: --out-dir <DIR>".
                let message: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Usage:"))
                    .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                    .collect();
                let message = message.join(" ");
                let message = message.strip_prefix("error: ").unwrap_or(&message);
                let usage = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Usage: "))
                    .map(|u| format!("usage: {u}; see --help"));
                let report = ErrorReport {
                    causes: Vec::new(),
                    error: message.to_string(),
                    exit_code: Exit::CouldNotRun as i32,
                    hint: usage,
                };
                crate::present::error::print_json(&report, false);
            }
            return Exit::CouldNotRun as i32;
        }
    };
    let format = cli.command.format();
    let json_on_stderr = cli.command.json_on_stderr();
    match run(cli) {
        Ok(exit) => exit as i32,
        Err(e) => {
            if crate::present::output::is_broken_pipe(&e) {
                return Exit::Ok as i32;
            }
            let exit = if e.chain().any(|c| c.is::<Interrupted>()) {
                Exit::Interrupted
            } else if crate::present::error::refuses_input(&e) {
                // The same exit as validate's F02/F23/F24 for the same workbook.
                Exit::Invalid
            } else {
                Exit::CouldNotRun
            };
            let report = ErrorReport::new(&e, exit as i32);
            crate::present::console::err(&report.text());
            if format == Format::Json {
                crate::present::error::print_json(&report, json_on_stderr);
            }
            exit as i32
        }
    }
}

/// An error as `--format json` prints it: `{"causes", "error", "exitCode", "hint"}`.
pub(crate) fn error_json(e: &anyhow::Error, exit: Exit) -> serde_json::Value {
    serde_json::to_value(crate::present::error::ErrorReport::new(e, exit as i32))
        .unwrap_or_default()
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Import(args) => import::run(args),
        Command::Update(args) => update::run(args),
        Command::Export(args) => export::run(args),
        Command::Fix(args) => fix::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Split(args) => split::run(args),
        Command::Template(args) => template::run(args),
        Command::Whoami(args) => whoami::run(args),
        Command::IntegrationUser(args) => integration_user::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Sim(args) => sim::run(args),
    }
}

/// Prints `error: …`, each distinct cause, and the hint of the first error that has one.
pub fn print_error(e: &anyhow::Error) {
    crate::present::error::print(e);
}
