//! `import --upsert` decided by the checks: the validation summary counts an upserted row as
//! the update it is, exactly as it counts the same row with its userID filled in.

use std::path::{Path, PathBuf};

use qusers::file::{ReadOptions, Source};
use qusers::import::{
    FileInput, ImportOptions, Importer, InstanceFrom, NoProgress, Planned, PlannedImport,
};
use qusers::validate::FileSummary;

use crate::support::write_user_file;

const ANN: &str = "UR_aaaaaaaaaaa";
const BO: &str = "UR_bbbbbbbbbbb";

fn write(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    write_user_file(&path, rows);
    path
}

/// A dry run of `rows` against an export of Ann and Bo: the plan and the summary it shows.
fn prepare(dir: &Path, name: &str, rows: &[String], upsert: bool) -> PlannedImport {
    let export = write(
        dir,
        "export.csv",
        &[
            format!("{ANN},ann@x.org,Ann,Lee,ann@x.org,,UT_staff,active,"),
            format!("{BO},bo@x.org,Bo,Ng,bo@x.org,,UT_staff,active,"),
        ],
    );
    let input = FileInput {
        source: Source::Path(write(dir, name, rows)),
        read: ReadOptions::default(),
    };
    let mut opts = ImportOptions::new(dir.join(format!("{name}.report.csv")));
    opts.dry_run = true;
    opts.upsert = upsert;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(
        Importer::new(
            &input,
            None,
            InstanceFrom::Export(Source::Path(export)),
            opts,
        )
        .prepare(&NoProgress),
    )
    .expect("prepare")
}

/// What the summary counts, without the file's name and size.
fn figures(s: &FileSummary) -> String {
    let rules: Vec<_> = s.rules.iter().map(|r| (r.code, r.rows, &r.lines)).collect();
    let samples: Vec<_> = s
        .samples
        .iter()
        .map(|p| (p.line, p.code, &p.message))
        .collect();
    format!(
        "valid {} rows {} creates {} updates {} ok {} warning {} error {} rules {rules:?} samples {samples:?}",
        s.valid, s.rows, s.creates, s.updates, s.ok, s.warning, s.error
    )
}

#[test]
fn an_upserted_row_is_counted_as_the_update_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Ann without an email (a new user needs one), Bob with spaces around the username (W01),
    // and a new user; then the same rows with Ann's and Bo's userIDs filled in.
    let rows = |ann: &str, bo: &str| {
        vec![
            format!("{ann},ANN@x.org,Anne,Lee,,,UT_staff,active,"),
            format!("{bo}, bo@x.org ,Bob,Ng,bo@x.org,,UT_staff,active,"),
            ",new@x.org,New,Person,new@x.org,,UT_staff,active,".to_string(),
        ]
    };
    let upserted = prepare(dir.path(), "up.csv", &rows("", ""), true);
    let with_ids = prepare(dir.path(), "ids.csv", &rows(ANN, BO), false);
    assert_eq!(figures(&upserted.validation), figures(&with_ids.validation));
    let v = &upserted.validation;
    assert_eq!(
        (v.creates, v.updates, v.ok, v.warning, v.error),
        (1, 2, 2, 1, 0)
    );
    assert!(v.valid);
    let ids: Vec<_> = upserted.plan.rows.iter().map(|r| r.user_id()).collect();
    assert_eq!(ids, [ANN, BO, ""]);
    assert!(matches!(
        upserted.plan.rows[0].planned,
        Planned::Update { .. }
    ));
    assert_eq!(
        upserted.plan.rows[0].notes,
        [format!("upsert: ANN@x.org exists in the instance as {ANN}")]
    );

    // Without --upsert the same file is two taken usernames and a missing email.
    let plain = prepare(dir.path(), "plain.csv", &rows("", ""), false);
    let v = &plain.validation;
    assert_eq!((v.creates, v.updates, v.error), (3, 0, 2));
    let codes: Vec<_> = v.rules.iter().map(|r| (r.code, r.rows)).collect();
    assert_eq!(codes, [("U05", 2), ("N04", 1), ("W01", 1)]);
}

#[test]
fn a_create_an_interrupted_run_sent_stays_a_create_on_an_upsert_resume() {
    use qusers::api::{BaseUrl, Client, ClientOptions, NewUser, Token};
    use qusers::import::{content_hash, Journal, JournalEntry, Outcome};
    use qusers::sim::{self, SimConfig};

    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ty = h.with_store(|s| {
        let mut types = s.user_types.keys();
        types.find(|t| *t != "UT_BRANDADMIN").cloned()
    });
    let ty = ty.expect("a user type");
    let client = Client::new(
        BaseUrl::parse(&h.url()).expect("url"),
        Token::new(h.token()).expect("token"),
        ClientOptions::default(),
    )
    .expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "late.csv",
        &[format!(",late@x.org,Late,Comer,late@x.org,,{ty},active,")],
    );
    let input = FileInput {
        source: Source::Path(path),
        read: ReadOptions::default(),
    };
    let report = dir.path().join("late.report.csv");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The interrupted run sent the create and lost its answer; the user is there now, so its
    // own create makes the username taken.
    let me = rt.block_on(client.whoami()).expect("whoami");
    let start = JournalEntry::Start {
        input: input.source.name(),
        input_sha256: content_hash(&input.source).expect("hash"),
        target: client.base().to_string(),
        brand_id: me.brand_id,
        user_id: me.user_id,
    };
    let mut journal = Journal::create(&Journal::path_for(&report), start).expect("journal");
    let sending = JournalEntry::Sending {
        row: 1,
        username: "late@x.org".into(),
    };
    journal.append(&sending).expect("append");
    drop(journal);
    let late = NewUser {
        username: "late@x.org".into(),
        first_name: "Late".into(),
        last_name: "Comer".into(),
        user_type: ty.clone(),
        email: "late@x.org".into(),
        language: "EN".into(),
        ..NewUser::default()
    };
    rt.block_on(client.create_user(&late))
        .expect("the create lands");

    let mut opts = ImportOptions::new(&report);
    (opts.resume, opts.dry_run, opts.upsert) = (true, true, true);
    let prepared = rt
        .block_on(
            Importer::new(&input, Some(client.clone()), InstanceFrom::Api, opts)
                .prepare(&NoProgress),
        )
        .expect("prepare");
    // Found as the create it was, not upserted into an update of itself.
    let row = &prepared.plan.rows[0];
    assert_eq!(row.input.action.as_str(), "create");
    match &row.planned {
        Planned::Carried(result) => assert_eq!(result.outcome, Outcome::Created, "{result:?}"),
        other => panic!("{other:?}"),
    }
    assert!(row.notes.is_empty(), "{:?}", row.notes);
}
