//! Files an admin (or an attacker) hands in that used to lose the input or sink the reader:
//! outputs that are the input, outputs that are devices, pipes, NUL bytes, Mac line ends,
//! split parts in the way.

use crate::support;

use std::path::{Path, PathBuf};

use support::{fixture, qusers};

fn tmp_copy(dir: &Path, name: &str, fixture_name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(fixture(fixture_name), &p).expect("copy fixture");
    p
}

/// `validate X --report X` (and the same through ./, a symlink, a hard link) leaves X as it was.
#[test]
fn validate_refuses_a_report_that_is_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "valid_create.csv");
    let before = std::fs::read(&input).expect("read");
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).expect("hard link");
    let mut reports: Vec<PathBuf> =
        vec![input.clone(), dir.path().join(".").join("users.csv"), hard];
    #[cfg(unix)]
    {
        let soft = dir.path().join("soft.csv");
        std::os::unix::fs::symlink(&input, &soft).expect("symlink");
        reports.push(soft);
    }
    for report in reports {
        let out = qusers()
            .current_dir(dir.path())
            .arg("validate")
            .arg("users.csv")
            .arg("--report")
            .arg(&report)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "report {}", report.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is the input file"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert_eq!(std::fs::read(&input).expect("read"), before, "input intact");
    }
}

/// `import X --report X` refuses before anything is written (offline: `--dry-run --existing`).
#[test]
fn import_refuses_a_report_or_journal_that_is_an_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "valid_create.csv");
    let existing = tmp_copy(dir.path(), "export.csv", "existing_export.csv");
    let before = std::fs::read(&input).expect("read");
    let before_existing = std::fs::read(&existing).expect("read");
    for report in [input.clone(), existing.clone()] {
        let out = qusers()
            .arg("import")
            .arg(&input)
            .arg("--existing")
            .arg(&existing)
            .arg("--dry-run")
            .arg("--report")
            .arg(&report)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is the input file"));
    }
    // The journal (REPORT.journal) may not be the input either.
    let journaled = dir.path().join("r.csv.journal");
    std::fs::copy(&input, &journaled).expect("copy");
    let out = qusers()
        .arg("import")
        .arg(&journaled)
        .arg("--existing")
        .arg(&existing)
        .arg("--dry-run")
        .arg("--report")
        .arg(dir.path().join("r.csv"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&input).expect("read"), before);
    assert_eq!(std::fs::read(&existing).expect("read"), before_existing);
}

/// `fix X -o ./X` through a hard link is refused too.
#[test]
fn fix_refuses_an_output_that_is_a_hard_link_to_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "fixable_cells.csv");
    let before = std::fs::read(&input).expect("read");
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).expect("hard link");
    let out = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&hard)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&input).expect("read"), before);
}

/// An old part in the way stops split before any part is written.
#[test]
fn split_refuses_before_writing_when_a_part_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for i in 0..10 {
        text.push_str(&format!(
            ",u{i}@x.edu,A,B,u{i}@x.edu,,UT_4SjjZmbPphZGKDq,active,\n"
        ));
    }
    let input = dir.path().join("users.csv");
    std::fs::write(&input, &text).expect("write");
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).expect("mkdir");
    std::fs::write(parts.join("users.part-002.csv"), "old").expect("write");
    let out = qusers()
        .arg("split")
        .arg(&input)
        .arg("--out-dir")
        .arg(&parts)
        .args(["--rows", "5"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        !parts.join("users.part-001.csv").exists(),
        "no part written"
    );
    assert_eq!(
        std::fs::read(parts.join("users.part-002.csv")).expect("read"),
        b"old"
    );
}

/// `-o` naming a device, a FIFO or a symlink to one writes into it; the path stays what it was.
#[cfg(unix)]
#[test]
fn output_to_devices_fifos_and_stdout_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "fixable_cells.csv");

    // /dev/null, directly and through a symlink that must stay a symlink.
    let link = dir.path().join("null.csv");
    std::os::unix::fs::symlink("/dev/null", &link).expect("symlink");
    // (Only through a symlink: were this ever to regress, a rename replaces the link, not the
    // machine's /dev/null.)
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("still there")
        .file_type()
        .is_symlink());

    // A FIFO: its reader gets the copy, and it is still a FIFO afterwards.
    let fifo = dir.path().join("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).expect("read fifo"))
    };
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    if o.status.code() != Some(0) {
        // Unblock the reader (still waiting for a writer) before failing.
        let _ = nonblocking_open(&fifo, true);
    }
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let got = reader.join().expect("reader");
    assert!(
        got.starts_with(b"userID,userName"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type()
        .is_fifo());

    // `-o -` is stdout; the summary goes to stderr.
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .args(["-o", "-"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stdout.starts_with(b"userID,userName"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be read back"));

    // template -o LINK-TO-/dev/null
    let o = qusers()
        .args(["template", "-o"])
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("still there")
        .file_type()
        .is_symlink());
}

const HEADER: &str =
    "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n";

/// A header and `n` valid create rows.
fn users(n: usize) -> String {
    let mut text = String::from(HEADER);
    for i in 0..n {
        text.push_str(&format!(
            ",u{i}@x.edu,A,B,u{i}@x.edu,,UT_4SjjZmbPphZGKDq,active,\n"
        ));
    }
    text
}

fn json_summary(out: &std::process::Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    v["files"][0].clone()
}

/// A FIFO (what `<(cat users.csv)` is) is read once, as a stream, by every command.
#[cfg(unix)]
#[test]
fn fifos_are_read_once_by_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = users(3000);
    let make_fifo = |name: &str| {
        let fifo = dir.path().join(name);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            let text = text.clone();
            // Writes once; a reader that opened the FIFO again would wait for ever (the
            // command's timeout ends that).
            std::thread::spawn(move || {
                let _ = std::fs::write(&fifo, text);
            })
        };
        (fifo, writer)
    };
    // A writer still waiting for a reader (the command failed before opening the FIFO) is let
    // go, so that a failure fails the test instead of hanging it.
    let release = |fifo: &Path, w: std::thread::JoinHandle<()>| {
        if !w.is_finished() {
            let _ = nonblocking_open(fifo, false);
        }
        w.join().expect("writer");
    };
    let timeout = std::time::Duration::from_secs(120);

    let (fifo, w) = make_fifo("v.csv");
    let out = qusers()
        .arg("validate")
        .arg(&fifo)
        .args(["--format", "json"])
        .timeout(timeout)
        .output()
        .expect("runs");
    release(&fifo, w);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_summary(&out)["rows"], 3000);

    let (fifo, w) = make_fifo("s.csv");
    let parts = dir.path().join("parts");
    let out = qusers()
        .arg("split")
        .arg(&fifo)
        .arg("--out-dir")
        .arg(&parts)
        .args(["--rows", "1000", "--format", "json"])
        .timeout(timeout)
        .output()
        .expect("runs");
    release(&fifo, w);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["parts"].as_array().expect("parts").len(), 3);

    let (fifo, w) = make_fifo("f.csv");
    let out = qusers()
        .arg("fix")
        .arg(&fifo)
        .arg("-o")
        .arg(dir.path().join("fixed.csv"))
        .timeout(timeout)
        .output()
        .expect("runs");
    release(&fifo, w);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("fixed.csv")).expect("copy"),
        text
    );

    let (fifo, w) = make_fifo("i.csv");
    let out = qusers()
        .arg("import")
        .arg(&fifo)
        .arg("--existing")
        .arg(fixture("existing_export.csv"))
        .arg("--dry-run")
        .arg("--report")
        .arg(dir.path().join("import-report.csv"))
        .timeout(timeout)
        .output()
        .expect("runs");
    release(&fifo, w);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rows = support::report_rows(&dir.path().join("import-report.csv"));
    assert_eq!(rows.len(), 3000);
}

/// stdin is streamed: endless NUL bytes end at once as "not a text file".
#[cfg(unix)]
#[test]
fn stdin_of_dev_zero_is_not_text() {
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
        .args(["validate", "-", "--format", "json"])
        .stdin(zero)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    // Bounded wait: it must end by itself (today it reads /dev/zero into memory for ever).
    let mut status = None;
    for _ in 0..1200 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
        panic!("validate - < /dev/zero did not end");
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let f = json_summary(&out);
    assert_eq!(f["file_problems"][0]["code"], "F02");
    // The path of the device itself, too.
    let out = qusers()
        .args(["validate", "/dev/zero", "--format", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_summary(&out)["file_problems"][0]["code"], "F02");
}

/// stdin is counted like a file.
#[test]
fn stdin_is_read_like_a_file() {
    let out = qusers()
        .args(["validate", "-", "--format", "json"])
        .write_stdin(users(500))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_summary(&out)["rows"], 500);
}

/// A NUL byte far past the first 8 KiB, in a column no rule looks into, still makes the file
/// "not a text file", naming its line; fix and split refuse it and write nothing.
#[test]
fn a_nul_byte_anywhere_is_not_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, prefix, nul_line) in [
        ("plain.csv", &b""[..], 1002),
        ("bom.csv", &b"\xEF\xBB\xBF"[..], 1002),
        // Not UTF-8 from line 3 on (read as Windows-1252): the NUL is still found.
        ("latin.csv", &b""[..], 1002),
    ] {
        let mut text = prefix.to_vec();
        text.extend_from_slice(users(1000).as_bytes());
        if name == "latin.csv" {
            text.extend_from_slice(b",jos\xE9@x.edu,A,B,j@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
        } else {
            text.extend_from_slice(b",late@x.edu,A,B,late@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
        }
        text.extend_from_slice(b",z@x.edu,A,B,z@x.edu,,UT_4SjjZmbPphZGKDq,active,\0\n");
        let path = dir.path().join(name);
        std::fs::write(&path, &text).expect("write");
        let out = qusers()
            .arg("validate")
            .arg(&path)
            .args(["--format", "json"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let f = json_summary(&out);
        assert_eq!(f["file_problems"][0]["code"], "F02", "{name}: {f}");
        let msg = f["file_problems"][0]["message"].as_str().expect("message");
        assert!(
            msg.contains(&format!("line {}", nul_line + 1)),
            "{name}: {msg}"
        );

        let fixed = dir.path().join(format!("fixed-{name}"));
        let out = qusers()
            .arg("fix")
            .arg(&path)
            .arg("-o")
            .arg(&fixed)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(!fixed.exists());
        let parts = dir.path().join(format!("parts-{name}"));
        let out = qusers()
            .arg("split")
            .arg(&path)
            .arg("--out-dir")
            .arg(&parts)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
    }
}

/// Opens a FIFO without waiting for the other end (and so releases a thread waiting at the
/// other end; writing fails at once when no reader waits).
#[cfg(unix)]
fn nonblocking_open(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(target_os = "linux")]
    const O_NONBLOCK: i32 = 0o4000;
    #[cfg(not(target_os = "linux"))]
    const O_NONBLOCK: i32 = 0x4;
    std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

/// Excel for Mac's "CSV (Macintosh)" ends lines with CR alone: split cuts it like any other
/// file (the parts get `\n` line ends), and the rows add up to what validate counts.
#[test]
fn split_cuts_a_cr_only_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("mac.csv");
    std::fs::write(&input, users(25).replace('\n', "\r")).expect("write");
    let out = qusers()
        .arg("validate")
        .arg(&input)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(json_summary(&out)["rows"], 25);
    let parts = dir.path().join("parts");
    let out = qusers()
        .arg("split")
        .arg(&input)
        .arg("--out-dir")
        .arg(&parts)
        .args(["--rows", "10", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows: Vec<u64> = v["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["rows"].as_u64().expect("rows"))
        .collect();
    assert_eq!(rows, [10, 10, 5]);
    let mut joined = String::new();
    for n in 1..=3 {
        let part =
            std::fs::read_to_string(parts.join(format!("mac.part-{n:03}.csv"))).expect("part");
        assert!(part.starts_with(HEADER), "{part}");
        joined.push_str(&part[HEADER.len()..]);
    }
    assert_eq!(joined, users(25)[HEADER.len()..]);
}

/// Item 9: a header far too long ends at once with an error naming its line; a record far
/// too long is a row error naming its line and the lines after it are still read.
#[test]
fn records_and_headers_past_the_size_limit_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = dir.path().join("header.csv");
    let mut text = ",".repeat(3 << 20);
    text.push('\n');
    text.push_str(&users(2)[HEADER.len()..]);
    std::fs::write(&header, &text).expect("write");
    let out = qusers()
        .arg("validate")
        .arg(&header)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let f = json_summary(&out);
    assert_eq!(f["file_problems"][0]["code"], "F17", "{f}");
    assert!(f["file_problems"][0]["message"]
        .as_str()
        .expect("message")
        .contains("line 1"));

    // A quoted field of 3 MiB on one line (line 3), between good rows.
    let long = dir.path().join("long.csv");
    let mut text = users(1);
    text.push_str(",\"");
    text.push_str(&"x".repeat(3 << 20));
    text.push_str("\",A,B,c@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    text.push_str(",d@x.edu,A,B,d@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    std::fs::write(&long, &text).expect("write");
    let report = dir.path().join("r.csv");
    let out = qusers()
        .arg("validate")
        .arg(&long)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = support::report_rows(&report);
    assert_eq!(
        rows,
        [
            support::row("2", "1", "ok", ""),
            support::row("3", "2", "error", "R09"),
            support::row("4", "3", "ok", ""),
        ]
    );
    // fix names it and leaves it out; split stops naming it.
    let out = qusers()
        .arg("fix")
        .arg(&long)
        .arg("-o")
        .arg(dir.path().join("fixed.csv"))
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("line 3 is"),
        "{out:?}"
    );
    let out = qusers()
        .arg("split")
        .arg(&long)
        .arg("--out-dir")
        .arg(dir.path().join("parts"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{out:?}"
    );
}

/// Issue 12: a quote that never closes swallows no line. The line where it opens is an error
/// that says so; every line after it is a row of its own, in the counts and the report.
#[test]
fn an_unclosed_quote_loses_no_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.csv");
    let mut text = users(1);
    text.push_str(",\"b@x.edu,A,B,b@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    text.push_str(&users(3)[HEADER.len()..].replace("u", "v"));
    std::fs::write(&path, &text).expect("write");
    let report = dir.path().join("r.csv");
    let out = qusers()
        .arg("validate")
        .arg(&path)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = support::report_rows(&report);
    assert_eq!(
        rows,
        [
            support::row("2", "1", "ok", ""),
            support::row("3", "2", "error", "R10"),
            support::row("4", "3", "ok", ""),
            support::row("5", "4", "ok", ""),
            support::row("6", "5", "ok", ""),
        ]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("a quote opens on line 3 and never closes"),
        "{stdout}"
    );

    // A quote that closes lines later: the row names the lines read into its cell.
    let path = dir.path().join("late.csv");
    let mut text = users(1);
    text.push_str(",\"b@x.edu,A,B,b@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    text.push_str(",c@x.edu,A,B,c@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    text.push_str(",d@x.edu\",A,B,d@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    std::fs::write(&path, &text).expect("write");
    let out = qusers().arg("validate").arg(&path).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "a quote opens on line 3 and closes only on line 5: lines 4–5 were read into one cell"
        ),
        "{stdout}"
    );
}

/// Excel's `sep=;` first line: its delimiter is used, a warning names line 1, the header is
/// line 2 and every row is read.
#[test]
fn excel_sep_line_is_recognised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r.csv");
    let out = qusers()
        .arg("validate")
        .arg(fixture("sep_line_excel.csv"))
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    let rows = support::report_rows(&report);
    assert_eq!(
        rows,
        [
            support::row("1", "", "warning", "F16"),
            support::row("2", "", "error", "F05"),
            support::row("3", "1", "ok", ""),
            support::row("4", "2", "ok", ""),
        ],
        "{out:?}"
    );
    // Read with the delimiter it names, the file is valid with a warning.
    let out = qusers()
        .arg("validate")
        .arg(fixture("sep_line_excel.csv"))
        .args(["--delimiter", ";"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// F04 names the right line in a CR-only (old Mac) file.
#[test]
fn f04_names_the_line_in_a_cr_only_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mac.csv");
    let mut bytes = users(3).replace('\n', "\r").into_bytes();
    bytes.extend_from_slice(b",jos\xE9@x.edu,Jos\xE9,B,jose@x.edu,,UT_4SjjZmbPphZGKDq,active,\r");
    std::fs::write(&path, &bytes).expect("write");
    let out = qusers()
        .arg("validate")
        .arg(&path)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let f = json_summary(&out);
    let f04 = f["file_problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["code"] == "F04")
        .expect("F04")
        .clone();
    assert_eq!(f04["line"], 5, "{f04}");
    // The message quotes the line as read, so the admin can judge it from the report alone.
    assert!(
        f04["message"].as_str().expect("message").contains("José"),
        "{f04}"
    );
}

/// The encoding is decided as the records are checked, with no pass over the file first: a
/// byte that is not UTF-8 far into the file (past the first batches of blocks) starts the
/// validation over in Windows-1252. The report then holds the F04 row naming that line and
/// every data row once, read in the new encoding, exactly as when the report goes to a pipe
/// (which cannot be rewound, so the file is read once before the records instead).
#[cfg(unix)]
#[test]
fn a_late_byte_that_is_not_utf8_restarts_in_windows_1252() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = users(60_000).into_bytes();
    text.extend_from_slice(b",jos\xE9@x.edu,Jos\xE9,B,jose@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    for i in 0..10 {
        text.extend_from_slice(
            format!(",tail{i}@x.edu,A,B,t{i}@x.edu,,UT_4SjjZmbPphZGKDq,active,\n").as_bytes(),
        );
    }
    let input = dir.path().join("late.csv");
    std::fs::write(&input, &text).expect("write");
    let report = dir.path().join("late-report.csv");
    let out = validate_with_report(&input, &report);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Windows-1252"), "{stdout}");
    let rows = support::read_report(&report);
    assert_eq!(
        rows.len(),
        1 + 60_011,
        "one F04 row and every data row once"
    );
    assert_eq!(rows[0]["codes"], "F04");
    assert!(rows[0]["message"].contains("line 60002 "), "{:?}", rows[0]);
    assert_eq!(rows[60_001]["userName"], "josé@x.edu");
    let lines: Vec<&str> = rows[1..].iter().map(|r| r["line"].as_str()).collect();
    assert_eq!(lines.first(), Some(&"2"));
    assert_eq!(lines.last(), Some(&"60012"));

    // Through a pipe (the summary follows the report there): the same rows.
    let piped = qusers()
        .arg("validate")
        .arg(&input)
        .args(["--report", "/dev/stdout"])
        .output()
        .expect("runs");
    assert_eq!(piped.status.code(), Some(0), "{piped:?}");
    let report = std::fs::read_to_string(&report).expect("report");
    assert!(String::from_utf8_lossy(&piped.stdout).starts_with(&report));

    // The page's companion CSV holds the same rows, and the page names line 60002 once.
    let page = dir.path().join("late.html");
    let out = validate_with_report(&input, &page);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rows_csv = dir.path().join("late.rows.csv");
    assert_eq!(std::fs::read_to_string(rows_csv).expect("rows"), report);
    let html = std::fs::read_to_string(&page).expect("page");
    assert_eq!(html.matches("line 60002 has the first byte").count(), 1);
}

/// A NUL byte found in a late block, after rows were already written to the report, leaves a
/// report with the F02 row alone: the rows of the first reading are taken back.
#[test]
fn a_late_nul_byte_takes_back_the_rows_already_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = users(60_000).into_bytes();
    text.extend_from_slice(b",z@x.edu,A,B,z@x.edu,,UT_4SjjZmbPphZGKDq,active,\0\n");
    let input = dir.path().join("nul.csv");
    std::fs::write(&input, &text).expect("write");
    let report = dir.path().join("nul-report.csv");
    let out = validate_with_report(&input, &report);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = support::read_report(&report);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["codes"], "F02");
    assert!(rows[0]["message"].contains("line 60002 "), "{:?}", rows[0]);
}

/// A line too long to read (R09) is skipped, but its bytes still decide: a NUL in it makes
/// the file not text, a byte that is not UTF-8 makes it Windows-1252, each naming that line.
#[test]
fn the_bytes_of_a_skipped_line_still_decide_the_encoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (odd, code) in [(0u8, "F02"), (0xE9, "F04")] {
        let mut text = users(100).into_bytes();
        text.extend_from_slice(b",long@x.edu,");
        text.extend(std::iter::repeat_n(b'a', 1_500_000));
        text.push(odd);
        text.extend(std::iter::repeat_n(b'b', 600_000));
        text.extend_from_slice(b",\n,last@x.edu,A,B,last@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
        let input = dir.path().join(format!("long-{odd}.csv"));
        std::fs::write(&input, &text).expect("write");
        let report = dir.path().join(format!("long-{odd}-report.csv"));
        let out = qusers()
            .arg("validate")
            .arg(&input)
            .arg("--report")
            .arg(&report)
            .output()
            .expect("runs");
        let rows = support::read_report(&report);
        assert_eq!(rows[0]["codes"], code, "{out:?}");
        assert!(rows[0]["message"].contains("line 102 "), "{:?}", rows[0]);
    }
}

/// `qusers validate INPUT --report REPORT`.
fn validate_with_report(input: &Path, report: &Path) -> std::process::Output {
    qusers()
        .arg("validate")
        .arg(input)
        .arg("--report")
        .arg(report)
        .output()
        .expect("runs")
}

/// A quote that opens on one line and closes many lines later makes one record too big for a
/// part: split says so, naming the lines, instead of blaming the line ends.
#[test]
fn split_names_the_quote_that_makes_a_record_too_big() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(HEADER);
    for i in 0..200 {
        text.push_str(&match i {
            5 => ",u5@x.edu,\"Ann,B,u5@x.edu,,UT_4SjjZmbPphZGKDq,active,\n".to_string(),
            150 => ",u150@x.edu,Ann\",B,u150@x.edu,,UT_4SjjZmbPphZGKDq,active,\n".to_string(),
            _ => format!(",u{i}@x.edu,A,B,u{i}@x.edu,,UT_4SjjZmbPphZGKDq,active,\n"),
        });
    }
    let input = dir.path().join("quoted.csv");
    std::fs::write(&input, text).expect("write");
    let parts = dir.path().join("parts");
    let out = qusers()
        .arg("split")
        .arg(&input)
        .arg("--out-dir")
        .arg(&parts)
        .args(["--bytes", "2000"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // Line 1 is the header: data row 5 (from 0) is line 7, row 150 is line 152.
    assert!(
        err.contains("a quote opens on line 7 and does not close until line 152"),
        "{err}"
    );
    assert!(err.contains("close the quote on line 7"), "{err}");
    assert!(!err.contains("Mac"), "{err}");
}

/// A right-to-left override (and other invisible format characters) in a cell shows on the
/// HTML page as a visible marker, never raw, and the row carries R04.
#[test]
fn invisible_format_characters_show_on_the_page_and_are_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bidi.csv");
    let text = format!(
        "{HEADER},adm\u{202E}nimda@x.edu,A,B,a@x.edu,,UT_4SjjZmbPphZGKDq,active,\n\
         ,b\u{2028}@x.edu,Bo\u{2028}b,C,b@x.edu,,UT_4SjjZmbPphZGKDq,active,\n\
         ,\u{3164}c@x.edu,\u{3164},C,c@x.edu,,UT_4SjjZmbPphZGKDq,active,\n"
    );
    std::fs::write(&input, text).expect("write");
    let page = dir.path().join("bidi.html");
    let out = validate_with_report(&input, &page);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let html = std::fs::read_to_string(&page).expect("page");
    for (raw, marker) in [
        ('\u{202E}', "⟨U+202E⟩"),
        ('\u{2028}', "⟨U+2028⟩"),
        ('\u{3164}', "⟨U+3164⟩"),
    ] {
        assert!(!html.contains(raw), "U+{:04X} raw on the page", raw as u32);
        assert!(html.contains(marker), "{marker} missing");
    }
    assert!(html.contains("adm⟨U+202E⟩nimda@x.edu"));
    let rows = support::read_report(&dir.path().join("bidi.rows.csv"));
    for line in ["2", "3", "4"] {
        let row = rows.iter().find(|r| r["line"] == line).expect("the row");
        assert!(row["codes"].contains("R04"), "{row:?}");
    }
}

/// Several files of the same name (and stems that would give a page the rows file of another)
/// each get a report of their own: none is written over another's.
#[test]
fn several_files_never_share_a_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["a", "b"] {
        std::fs::create_dir(dir.path().join(d)).expect("dir");
    }
    let good = format!("{HEADER},good@x.edu,A,B,good@x.edu,,UT_4SjjZmbPphZGKDq,active,\n");
    let bad = format!("{HEADER},bad,A,B,bad,,UT_4SjjZmbPphZGKDq,active,\n");
    std::fs::write(dir.path().join("a/users.csv"), &good).expect("write");
    std::fs::write(dir.path().join("b/users.csv"), &bad).expect("write");
    std::fs::write(dir.path().join("users.tsv"), good.replace(',', "\t")).expect("write");
    for (report, expect) in [
        ("r.csv", ["r.users.csv", "r.users-2.csv", "r.users-3.csv"]),
        (
            "r.html",
            ["r.users.html", "r.users-2.html", "r.users-3.html"],
        ),
    ] {
        let out = qusers()
            .current_dir(dir.path())
            .args([
                "validate",
                "a/users.csv",
                "b/users.csv",
                "users.tsv",
                "--report",
                report,
            ])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let csv = |name: &str| {
            let p = dir.path().join(name);
            if name.ends_with(".html") {
                assert!(std::fs::read_to_string(&p).expect("page").contains("<html"));
                dir.path().join(name.replace(".html", ".rows.csv"))
            } else {
                p
            }
        };
        // a/users.csv is clean, b/users.csv has an error, users.tsv is clean: each report
        // holds its own file's row.
        let rows: Vec<_> = expect
            .iter()
            .map(|n| support::read_report(&csv(n)))
            .collect();
        assert_eq!(rows[0][0]["outcome"], "ok", "{:?}", rows[0]);
        assert_ne!(rows[1][0]["outcome"], "ok", "{:?}", rows[1]);
        assert_eq!(rows[2][0]["outcome"], "ok", "{:?}", rows[2]);
        assert_eq!(rows[0][0]["userName"], "good@x.edu");
        assert_eq!(rows[1][0]["userName"], "bad");
    }
}

/// A disk that fills up during an import (a small tmpfs holds the report, the journal and the
/// undo file): the error names the file and gives the command that resumes; once there is room,
/// that command finishes the import with every row once. Needs root to mount the tmpfs (the
/// tests and CI run as root); skipped with a note otherwise.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_names_the_file_and_the_resume_command() {
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small");
    std::fs::create_dir(&small).expect("dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96k", "tmpfs"])
        .arg(&small)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "note: cannot mount a small tmpfs here (not root?): the full-disk test is skipped"
        );
        return;
    }
    let _unmount = Mounted(small.clone());
    let state = dir.path().join("sim.json");
    let (store, ut) = support::sim_state_and_user_type(&state, &dir.path().join("before.csv"));
    let before = store.users.len();
    let rows: Vec<String> = (0..1500)
        .map(|i| format!(",full{i}@x.edu,Ful,L{i},full{i}@x.edu,,{ut},active,"))
        .collect();
    let input = dir.path().join("users.csv");
    support::write_user_file(&input, &rows);
    let report = small.join("r.csv");
    let args = |cmd: &mut assert_cmd::Command| {
        cmd.current_dir(dir.path())
            .args([
                "import",
                "users.csv",
                "--sim",
                "--sim-state",
                "sim.json",
                "--yes",
            ])
            .args(support::NO_CEILING)
            .arg("--report")
            .arg(&report);
    };
    let mut cmd = qusers();
    args(&mut cmd);
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("the import stopped"), "{err}");
    assert!(
        err.contains(&format!("{}/r.", small.display())),
        "names the file: {err}"
    );
    let hint = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("hint: free some space (or fix the cause), then resume: ")
        })
        .unwrap_or_else(|| panic!("the resume command: {err}"));
    assert!(hint.starts_with("qusers import users.csv "), "{hint}");
    assert!(hint.ends_with(" --resume"), "{hint}");

    // Room again: the command given finishes the import.
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&small)
        .status()
        .expect("remount");
    assert!(grown.success());
    let mut cmd = qusers();
    cmd.current_dir(dir.path())
        .args(hint.split(' ').skip(1).collect::<Vec<_>>());
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report_rows = support::read_report(&report);
    assert_eq!(report_rows.len(), 1500);
    assert!(
        report_rows.iter().all(|r| r["outcome"] == "created"),
        "every row created"
    );
    let after = qusers::sim::Store::load(&state).expect("state");
    assert_eq!(after.users.len(), before + 1500, "each user once");
}
