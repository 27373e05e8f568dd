//! Every integration test, in one binary (one link of the dependency graph, not one per file).
//! Each module below is a topic; its first line says what belongs there. `support` is the
//! harness: the real binary run from a `Workdir` against a target (a `Run` of exit code,
//! stdout and stderr), fixtures, report parsing, the simulator as a process. What every
//! command prints is snapshot in `summaries` (tests/snapshots/).

// Tests print what they saw when they fail, and their helpers are `pub` across topic modules.
#![allow(
    unreachable_pub,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/loopback.rs"]
mod loopback;
mod support;

/// The API client against the simulator
mod api;
/// A real plan's classes of change, counted alike on the terminal, in JSON and on the page
mod change_classes;
/// Output to a closed pipe (`qusers … | head -c1`)
#[cfg(unix)]
mod closed_pipe;
/// A consistent command surface (issue 12 item 5)
mod command_surface;
/// The proxied-datacenter trap
mod datacenter;
/// The encoding corpus (issue 19)
mod encodings;
/// `qusers export` against the simulator
mod export;
/// `export --division NAME`
mod export_division;
/// Files an admin (or an attacker) hands in that used to lose the input or sink the reader
mod file_hardening;
/// `qusers fix` and `qusers split` as an admin uses them
mod fix_split;
/// The client against servers that misbehave on purpose
mod hostile_server;
/// `--report PATH.html` on `qusers import` and `qusers update`, against the simulator
mod html_import;
/// `qusers validate --report r.html`
mod html_report;
/// `qusers import` end to end against the simulator
mod import;
/// The import under the faults of issue 9 (items 12–19) and `--on-taken suffix`
mod import_faults;
/// `qusers import` of files at and past Qualtrics' limits
mod import_memory;
/// `qusers integration-user` against the simulator
mod integration_user;
/// Kill/resume soak (issue 9 acceptance)
mod kill_resume;
/// The messy-file defects of issue 12 item 4 that are rules and fixes
mod messy_files;
/// OAuth client credentials
mod oauth;
/// Links planted at the names qusers writes, in a shared sticky folder (mode 1777) and owned …
mod planted_links;
/// Issue 19, item 6 (the parts about reading records)
mod quoted_line_breaks;
/// The rate controller against 429s that do not come from the rate (every 7th write refused) …
mod rate_control;
/// qusers against the API as the evidence shows it (issue 20 items 3–6, issue 21's server side)
mod real_api;
/// Arbitrary bytes and mutations of a valid file never panic
mod robustness;
/// Safe bulk changes end to end against the simulator
mod safety;
/// `qusers sim --state` acknowledges a write only once it is durable
mod sim_durability;
/// Simulator knobs of issue 10
mod sim_knobs;
/// Workbooks read directly (issue 12 item 1)
mod spreadsheet;
/// SSO brands
mod sso;
/// What every command prints, as snapshots (text, JSON, the HTML pages' text)
mod summaries;
/// `qusers sync`
mod sync;
/// Every name arrives as the admin meant it
mod text_fidelity;
/// Against the simulator's default shape, the real API's (issue 20)
mod thin_list;
/// Transient-error accounting in the summaries
mod transient_stats;
/// `qusers update` against the simulator
mod update;
/// `import --upsert` decided before the tally: an upserted row counts as the update it is
mod upsert_tally;
/// `qusers validate` on every fixture
mod validate;
/// `qusers sim` and `qusers whoami` as an admin runs them, and the token never shown
mod whoami;
/// Workbooks bounded and truthful (issue 21 item 1, issue 19 items 4 and 5, the workbook part …
mod workbooks;
/// .xlsb workbooks bounded before they are read, crafted and mutated (issue 21 item 1)
mod xlsb;
