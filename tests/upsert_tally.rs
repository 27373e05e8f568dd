//! `import --upsert` decided by the checks: the validation summary counts an upserted row as
//! the update it is, exactly as it counts the same row with its userID filled in.

use qusers::file::{ReadOptions, Source};
use qusers::import::{
    FileInput, ImportOptions, Importer, InstanceFrom, NoProgress, Planned, PlannedImport,
};
use qusers::validate::FileSummary;

use crate::support::HEADER;

const ANN: &str = "UR_aaaaaaaaaaa";
const BO: &str = "UR_bbbbbbbbbbb";

fn write(dir: &std::path::Path, name: &str, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the file");
    path
}

/// A dry run of `rows` against an export of Ann and Bo: the plan and the summary it shows.
fn prepare(dir: &std::path::Path, name: &str, rows: &[String], upsert: bool) -> PlannedImport {
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
