//! The import workflow driven as a library against the in-process simulator: no binary, no
//! progress bars, the outcome and the simulator's state asserted directly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use crate::api::{BaseUrl, Client, ClientOptions, Token};
use crate::file::{ReadOptions, Source};
use crate::sim::{self, SimConfig, SimHandle};

pub(crate) const HEADER: &str =
    "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate";

pub(crate) fn client(h: &SimHandle) -> Client {
    Client::new(
        BaseUrl::parse(&h.url()).expect("url"),
        Token::new(h.token()).expect("token"),
        ClientOptions::default(),
    )
    .expect("client")
}

pub(crate) fn user_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a user type")
    })
}

pub(crate) fn write(dir: &Path, rows: &[String]) -> FileInput {
    let path = dir.join("users.csv");
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the file");
    FileInput {
        source: Source::Path(path),
        read: ReadOptions::default(),
    }
}

/// Counts what the workflow reports through [`Progress`].
#[derive(Default)]
struct Counting {
    read: AtomicU64,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Counting {
    fn reading(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn row_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn run_import(
    input: &FileInput,
    client: &Client,
    opts: ImportOptions,
    cancel: &AtomicBool,
) -> anyhow::Result<ImportOutcome> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let prepared = Importer::new(input, Some(client.clone()), InstanceFrom::Api, opts)
            .prepare(&NoProgress)
            .await?;
        prepared.apply(cancel, &NoProgress).await
    })
}

/// The report's rows, each as column → value.
pub(crate) fn report_rows(path: &PathBuf) -> Vec<std::collections::HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).expect("report");
    let header = rdr.headers().expect("header").clone();
    rdr.records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn creates_updates_and_unchanged_rows_without_the_binary() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let ut = user_type(&h);
    let (existing, other) = h.with_store(|s| (s.users[1].clone(), s.users[2].clone()));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows: Vec<String> = (0..12)
        .map(|n| format!(",lib{n}@x.org,Lib,User{n},lib{n}@x.org,,{ut},active,"))
        .collect();
    rows.push(format!(",off@x.org,Off,User,off@x.org,,{ut},disabled,"));
    rows.push(format!(
        "{},{},Renamed,,,,,,",
        existing.id, existing.username
    ));
    rows.push(format!("{},{},,,,,,,", other.id, other.username));
    let input = write(dir.path(), &rows);
    let client = client(&h);
    let report = dir.path().join("r.csv");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let progress = Counting::default();
    let outcome = rt
        .block_on(async {
            let mut opts = ImportOptions::new(&report);
            opts.concurrency = 4;
            let prepared = Importer::new(&input, Some(client.clone()), InstanceFrom::Api, opts)
                .prepare(&progress)
                .await?;
            assert!(prepared.sends_anything());
            assert_eq!(prepared.plan.creates(), 13);
            assert_eq!(prepared.plan.updates(), 1);
            prepared.apply(&AtomicBool::new(false), &progress).await
        })
        .expect("import");

    assert_eq!(outcome.verdict, ImportVerdict::Done);
    assert!(outcome.success());
    assert_eq!(
        outcome.counts,
        Counts {
            created: 13,
            updated: 1,
            unchanged: 1,
            ..Counts::default()
        }
    );
    assert_eq!(outcome.resume_journal, None);
    assert!(!Journal::path_for(&report).exists());
    // The core reports n of m; 6 users (the admin and 5 demo users) were read.
    assert_eq!(progress.read.load(Ordering::Relaxed), 6);
    assert_eq!(progress.total.load(Ordering::Relaxed), 14);
    assert_eq!(progress.done.load(Ordering::Relaxed), 14);

    let rows = report_rows(&report);
    assert_eq!(rows.len(), 15);
    let outcomes: Vec<&str> = rows.iter().map(|r| r["outcome"].as_str()).collect();
    assert_eq!(&outcomes[..13], &["created"; 13]);
    assert_eq!(&outcomes[13..], &["updated", "unchanged"]);
    h.with_store(|s| {
        let off = s.by_username("off@x.org").expect("created");
        assert_eq!(off.account_status.as_deref(), Some("disabled"));
        assert_eq!(
            s.users
                .iter()
                .find(|u| u.id == existing.id)
                .expect("user")
                .first_name
                .as_deref(),
            Some("Renamed")
        );
    });
}

#[test]
fn a_dry_run_sends_no_write_and_a_cancel_leaves_a_journal_to_resume() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..30)
        .map(|n| format!(",c{n}@x.org,C,User{n},c{n}@x.org,,{ut},active,"))
        .collect();
    let input = write(dir.path(), &rows);
    let client = client(&h);
    let report = dir.path().join("r.csv");

    let mut opts = ImportOptions::new(&report);
    opts.dry_run = true;
    let outcome = run_import(&input, &client, opts, &AtomicBool::new(false)).expect("dry run");
    assert_eq!(outcome.verdict, ImportVerdict::Planned);
    assert_eq!(outcome.counts.planned, 30);
    assert_eq!(h.stats().writes, 0);

    // Cancelled before it starts: nothing is sent, every row is skipped, the journal stays.
    let opts = ImportOptions::new(&report);
    let outcome = run_import(&input, &client, opts, &AtomicBool::new(true)).expect("cancelled");
    assert_eq!(
        outcome.verdict,
        ImportVerdict::Interrupted(Interruption::Signal)
    );
    assert_eq!(outcome.counts.skipped, 30);
    assert_eq!(outcome.resume_journal, Some(Journal::path_for(&report)));
    assert_eq!(h.stats().writes, 0);

    // Without --resume the journal is in the way; with it, the rest is done.
    let err = run_import(
        &input,
        &client,
        ImportOptions::new(&report),
        &AtomicBool::new(false),
    )
    .expect_err("a journal is there");
    assert!(err.downcast_ref::<JournalError>().is_some(), "{err:#}");
    let mut opts = ImportOptions::new(&report);
    opts.resume = true;
    let outcome = run_import(&input, &client, opts, &AtomicBool::new(false)).expect("resumed");
    assert_eq!(outcome.verdict, ImportVerdict::Done);
    assert_eq!(outcome.counts.created, 30);
    assert_eq!(h.stats().writes, 30);
    assert!(!Journal::path_for(&report).exists());
}

#[test]
fn durations_as_people_write_them() {
    use std::time::Duration;
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    assert!(parse_duration("5 minutes").is_err());
    assert!(parse_duration("").is_err());
    assert!(parse_duration("m").is_err());
}

#[test]
fn a_journal_target_matches_its_instance_and_account_only() {
    let t = |url: &str, brand: &str, user: &str| JournalTarget {
        base_url: url.into(),
        brand_id: brand.into(),
        user_id: user.into(),
    };
    let journal = t("http://127.0.0.1:4100/API/v3/", "b", "UR_1");
    // The simulator's port changes from run to run.
    assert!(t("http://127.0.0.1:5200/API/v3/", "b", "UR_1").same_as(&journal));
    assert!(!t("http://127.0.0.1:5200/API/v3/", "b", "UR_2").same_as(&journal));
    let iad = t("https://iad1.qualtrics.com/API/v3/", "b", "UR_1");
    assert!(iad.same_as(&iad));
    assert!(!t("https://fra1.qualtrics.com/API/v3/", "b", "UR_1").same_as(&iad));
    assert!(!t("https://iad1.qualtrics.com:8443/API/v3/", "b", "UR_1").same_as(&iad));
    // A journal from before the account was recorded: the URL decides.
    assert!(iad.same_as(&t("https://iad1.qualtrics.com/API/v3/", "", "")));
}

#[cfg(unix)]
#[test]
fn a_report_behind_a_symlink_is_refused_and_its_target_kept() {
    // The link may have been planted in a shared folder: the report never goes through it.
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..6)
        .map(|n| format!(",link{n}@x.org,Li,Nk{n},link{n}@x.org,,{ut},active,"))
        .collect();
    let input = write(dir.path(), &rows);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    let target = elsewhere.join("real.csv");
    std::fs::write(&target, "old").expect("target");
    let link = dir.path().join("r.csv");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let err = run_import(
        &input,
        &client(&h),
        ImportOptions::new(&link),
        &AtomicBool::new(false),
    )
    .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("r.csv is a symbolic link"), "{text}");
    assert_eq!(std::fs::read(&target).expect("target"), b"old");
    assert_eq!(
        std::fs::read_dir(&elsewhere).expect("dir").count(),
        1,
        "nothing written beside the target"
    );
    assert_eq!(h.stats().writes, 0, "nothing sent");
}
