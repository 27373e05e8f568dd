//! `qusers sync ROSTER`: flags → [`crate::sync::SyncOptions`], the prompt, the summary and the
//! exit code (3 when the guard held the run). `--init-map` and `--history` are answered here
//! from the library's pieces. The workflow is [`crate::sync::run`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};

use super::target::{runtime, TargetArgs};
use super::{Exit, Format};
use crate::file::Source;
use crate::import::{ImportOptions, Progress as _};
use crate::present::progress::Bars;
use crate::present::{self, console};
use crate::sync::scope::ScopeRule;
use crate::sync::{Deprovision, Grace, SyncOptions};

#[derive(Debug, clap::Args)]
#[command(mut_arg("oauth_scope", |a| a.alias(None)))]
pub struct Args {
    /// The roster: CSV, TSV or workbook, any columns (mapped with --map)
    #[arg(value_name = "ROSTER")]
    roster: String,
    /// How the roster's columns become user fields (TOML); without it the roster is in the
    /// template layout
    #[arg(long, value_name = "MAP.toml")]
    map: Option<PathBuf>,
    /// Write a starting MAP.toml guessed from the roster's columns (to PATH, or stdout) and stop
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
    init_map: Option<String>,
    /// Print the run history of the state and stop
    #[arg(long)]
    history: bool,
    /// The users the roster owns (repeatable, any one takes a user): username:GLOB,
    /// division:DV_…, or managed (created or seen by this sync; the default)
    #[arg(long, value_name = "RULE")]
    scope: Vec<ScopeRule>,
    /// How long a user may be missing from the roster before it is retired: N runs or Nd days
    #[arg(long, value_name = "N|Nd", default_value = "3")]
    grace: Grace,
    /// What happens to a user past the grace period
    #[arg(long, value_enum, default_value = "disable")]
    deprovision: Deprovision,
    /// With --deprovision expire: the expiration date is this many days from today
    #[arg(long, value_name = "Nd", default_value = "30d", value_parser = crate::sync::parse_days)]
    expire_after: i64,
    /// Re-enable every disabled user the roster names, not only those the sync disabled
    #[arg(long)]
    reenable_all: bool,
    /// Hold the run when the roster has fewer rows than the last successful run by more than
    /// this share
    #[arg(long, value_name = "P%", default_value = "10%", value_parser = parse_percent)]
    max_roster_drop: f64,
    /// Hold the run when the roster file is older than this (e.g. 2d)
    #[arg(long, value_name = "Nd", value_parser = crate::sync::parse_days)]
    max_age: Option<i64>,
    /// Take the roster as it is this once, although the guard would hold it
    #[arg(long)]
    accept_roster: bool,
    /// The state folder (default ROSTER-STEM.qusers-sync beside the roster)
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// The per-row report (.csv, .jsonl or .html); default report.csv in the state folder, the
    /// undo file beside it
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Plan and print the plan; change nothing (the state neither)
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking (for schedulers)
    #[arg(short, long)]
    yes: bool,
    /// Post a JSON summary (with a `text` field for Slack and Teams) to this webhook
    #[arg(long, value_name = "URL")]
    notify: Option<String>,
    /// Mail the summary to this address (repeatable); needs --smtp
    #[arg(long, value_name = "ADDR", requires = "smtp")]
    mail_to: Vec<String>,
    /// The mail server, smtp://HOST:PORT (STARTTLS when offered); credentials from
    /// QUSERS_SMTP_USER and QUSERS_SMTP_PASSWORD or --smtp-password-file
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// The sender of the mail
    #[arg(long, value_name = "ADDR", default_value = "qusers@localhost")]
    mail_from: String,
    /// A file holding the SMTP password (user in QUSERS_SMTP_USER)
    #[arg(long, value_name = "PATH")]
    smtp_password_file: Option<PathBuf>,
    /// Notify after every run, not only when something changed, failed or was held
    #[arg(long)]
    notify_always: bool,
    /// The licence's seats: the plan shows active users before and after against N and, when
    /// over, lists the users longest without a login (listed, never changed)
    #[arg(long, value_name = "N")]
    seats: Option<u64>,
    /// Create users without a password (SSO brands)
    #[arg(long)]
    no_password: bool,
    #[command(flatten)]
    guard: super::safety::GuardArgs,
    #[command(flatten)]
    read: super::ReadArgs,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: TargetArgs,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    s.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{s:?} is not a percentage (e.g. 10%)"))
}

pub(crate) fn run(args: Args) -> anyhow::Result<Exit> {
    let source = Source::from_arg(&args.roster)?;
    let read = args.read.options()?;
    let roster_path = source
        .path()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("stdin"));
    let state_dir = args
        .state
        .clone()
        .unwrap_or_else(|| crate::sync::state::StateDir::default_for(&roster_path));
    if let Some(out) = &args.init_map {
        let roster = crate::sync::roster::read(&source, &read)?;
        let text = crate::sync::map::init_map(&roster);
        if out == "-" {
            console::out(&text)?;
        } else {
            crate::sync::map::write_new_map(std::path::Path::new(out), &text)?;
            console::err_line(&format!(
                "wrote {out}: check it, then run qusers sync {} --map {out} --dry-run",
                args.roster
            ));
        }
        return Ok(Exit::Ok);
    }
    if args.history {
        return history(&state_dir, args.format);
    }
    let map = match &args.map {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the map {}", p.display()))?,
        )),
        None => None,
    };
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| state_dir.join("report.csv"));
    let mut import = ImportOptions::new(report);
    import.dry_run = args.dry_run;
    import.passwords = !args.no_password;
    import.concurrency = usize::from(args.target.concurrency) * 2;
    args.guard.apply(&mut import);
    let outputs = import.outputs();
    let outputs: Vec<&std::path::Path> = outputs.iter().map(|p| p.as_path()).collect();
    let mut inputs = vec![std::path::Path::new(&args.roster)];
    if let Some(m) = &args.map {
        inputs.push(m.as_path());
    }
    crate::file::ensure_outputs_distinct(&inputs, &outputs)?;
    let mail = match (&args.smtp, args.mail_to.is_empty()) {
        (Some(server), false) => Some(crate::sync::notify::Mail {
            server: server.clone(),
            to: args.mail_to.clone(),
            from: args.mail_from.clone(),
            credentials: smtp_credentials(&args)?,
        }),
        (Some(_), true) => bail!("--smtp needs --mail-to ADDR"),
        _ => None,
    };
    let target = args.target.resolve()?;
    let progress = Bars::new(args.quiet, "reading the instance's users");
    progress.note(&format!("target: {}", target.description));
    let opts = SyncOptions {
        roster: source,
        read,
        map,
        scope: args.scope.clone(),
        grace: args.grace,
        deprovision: args.deprovision,
        expire_after_days: args.expire_after,
        reenable_all: args.reenable_all,
        guard: crate::sync::guard::GuardOptions {
            max_drop_percent: args.max_roster_drop,
            max_age_days: args.max_age,
        },
        accept_roster: args.accept_roster,
        state_dir,
        import,
        today: crate::sync::today()?,
        notify: args.notify.clone(),
        mail: mail.clone(),
        notify_always: args.notify_always,
        target: target.description.clone(),
        seats: args.seats,
    };
    let rt = runtime()?;
    if target.sim.is_none() {
        target.check_direct(&args.target, &rt)?;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let yes = args.yes;
    let confirm_target = &target;
    let confirm =
        move |p: &crate::import::PlannedImport| super::import::confirm(p, confirm_target, yes);
    let outcome = rt.block_on(async {
        let watcher = tokio::spawn(async move {
            super::target::shutdown_signal().await;
            flag.store(true, Ordering::Relaxed);
        });
        let out = crate::sync::run(opts, target.client.clone(), &progress, &cancel, &confirm).await;
        watcher.abort();
        out
    })?;
    progress.finish();
    // The notifications carry the summary the presentation words; a dry run sends none.
    let notify_errors = match outcome.eventful {
        Some(eventful) => {
            let to = crate::sync::Notify {
                webhook: args.notify.as_deref(),
                mail: mail.as_ref(),
                always: args.notify_always,
            };
            let notice = present::sync::notice(&outcome, &target.description);
            rt.block_on(crate::sync::notify_all(&to, &notice, eventful))
        }
        None => Vec::new(),
    };
    for e in &notify_errors {
        console::err_line(&format!("warning: the notification was not sent: {e}"));
    }
    let text = match args.format {
        Format::Json => present::sync::json(&outcome, &target.description)?,
        Format::Text => present::sync::text(&outcome, &target.description),
    };
    console::out(&text)?;
    if let Some(sim) = target.sim {
        sim.stop()?;
    }
    Ok(match outcome.exit_code() {
        0 => Exit::Ok,
        3 => Exit::Held,
        130 => Exit::Interrupted,
        _ => Exit::Invalid,
    })
}

/// SMTP credentials: QUSERS_SMTP_USER, and QUSERS_SMTP_PASSWORD or --smtp-password-file.
fn smtp_credentials(args: &Args) -> anyhow::Result<Option<(String, String)>> {
    let user = std::env::var("QUSERS_SMTP_USER")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let password = match &args.smtp_password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the SMTP password file {}", p.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        None => std::env::var("QUSERS_SMTP_PASSWORD").ok(),
    };
    match (user, password) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        (None, None) => Ok(None),
        (Some(_), None) => bail!("QUSERS_SMTP_USER is set but no password: set QUSERS_SMTP_PASSWORD or pass --smtp-password-file"),
        (None, Some(_)) => bail!("an SMTP password but no user: set QUSERS_SMTP_USER"),
    }
}

/// `--history`: the runs, as text or JSON.
fn history(dir: &std::path::Path, format: Format) -> anyhow::Result<Exit> {
    let state = crate::sync::state::read(dir)?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&state.runs)? + "\n",
        Format::Text => present::sync::history(dir, &state),
    };
    console::out(&text)?;
    Ok(Exit::Ok)
}
