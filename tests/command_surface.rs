//! A consistent command surface (issue 12 item 5): `--format json` prints a JSON object even
//! when the command cannot run; every command takes `-q`; each command's help lists only the
//! flags it uses; an interrupted run exits 130; counts and rates are printed with thousands
//! separators and one decimal. Also `fix` dropping Excel's `sep=` line, and import naming the
//! SSO brand it detected.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qusers::sim::{self, SimConfig, SimHandle, Store};
use support::{qusers, HEADER};

const COMMANDS: &[&str] = &[
    "validate",
    "import",
    "export",
    "fix",
    "rules",
    "split",
    "template",
    "whoami",
    "integration-user",
    "update",
    "sim",
];

/// Runs qusers; (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = qusers();
    cmd.args(args)
        .env_remove("QUALTRICS_CLIENT_ID")
        .env_remove("QUALTRICS_CLIENT_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, stdout, stderr) = support::run(&mut cmd).parts();
    // A signal is no exit code.
    (Some(code).filter(|c| *c >= 0), stdout, stderr)
}

/// Stdout parsed as one JSON object.
fn json_of(stdout: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout:?}"));
    assert!(v.is_object(), "{stdout}");
    v
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn json_errors_when_the_command_cannot_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.csv");
    let file = write(
        dir.path(),
        "a.csv",
        &format!("{HEADER}\n,a@x.org,A,B,a@x.org,,UT_BRANDADMIN,active,\n"),
    );

    // A missing file.
    let (code, out, err) = run(&["validate", s(&missing), "--format", "json"], &[]);
    assert_eq!(code, Some(2), "{err}");
    let v = json_of(&out);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{out}");
    assert_eq!(v["exitCode"], 2);
    assert!(v["causes"].is_array(), "{out}");
    assert!(
        err.contains("error:"),
        "the text error stays on stderr: {err}"
    );

    // No target: the hint names the flags.
    let (code, out, _) = run(&["import", s(&file), "--format=json", "--yes"], &[]);
    assert_eq!(code, Some(2));
    let v = json_of(&out);
    assert_eq!(v["error"], "no Qualtrics instance given", "{out}");
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("--base-url")),
        "{out}"
    );

    // No credentials.
    let (code, out, _) = run(
        &[
            "whoami",
            "--format",
            "json",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert_eq!(json_of(&out)["error"], "no API token given", "{out}");

    // The server is unreachable; the token is never in the JSON.
    let secret = "SECRETtoken0123456789abcdefSECRET";
    let (code, out, _) = run(
        &[
            "export",
            "--format",
            "json",
            "--base-url",
            "http://127.0.0.1:9",
            "-o",
            s(&dir.path().join("e.csv")),
        ],
        &[("QUALTRICS_API_TOKEN", secret)],
    );
    assert_eq!(code, Some(2));
    let v = json_of(&out);
    assert_eq!(v["exitCode"], 2);
    assert!(!out.contains(secret), "{out}");

    // Bad arguments for the command: clap's error, as JSON.
    let (code, out, err) = run(&["split", s(&file), "--format", "json"], &[]);
    assert_eq!(code, Some(2), "{err}");
    let v = json_of(&out);
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("--out-dir")),
        "{out}"
    );
    assert!(
        v["hint"]
            .as_str()
            .is_some_and(|h| h.contains("Usage") || h.contains("usage")),
        "{out}"
    );
    let (code, out, _) = run(
        &["validate", "--format=json", "--no-such-flag", s(&file)],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(json_of(&out)["error"]
        .as_str()
        .is_some_and(|e| e.contains("--no-such-flag")));

    // Text stays text: nothing on stdout.
    let (code, out, _) = run(&["validate", s(&missing)], &[]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
}

#[test]
fn every_command_with_a_summary_takes_format_and_every_command_takes_quiet() {
    for cmd in COMMANDS {
        let (code, help, _) = run(&[cmd, "--help"], &[]);
        assert_eq!(code, Some(0));
        assert!(help.contains("-q, --quiet"), "{cmd} --help: {help}");
        if *cmd != "sim" {
            assert!(help.contains("--format"), "{cmd} --help: {help}");
        }
    }
    // template: the summary as JSON on stdout, nothing on stderr with -q.
    let dir = tempfile::tempdir().expect("tmp");
    let t = dir.path().join("t.csv");
    let (code, out, err) = run(&["template", "-o", s(&t), "--format", "json"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let v = json_of(&out);
    assert_eq!(v["output"], s(&t));
    assert_eq!(v["columns"][1], "userName");
    let (code, out, err) = run(&["template", "-q", "-o", s(&t)], &[]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    // rules and split accept -q.
    let (code, out, _) = run(&["rules", "-q"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("F16"));
}

#[test]
fn help_lists_only_the_flags_the_command_uses() {
    let help = |cmd: &str| run(&[cmd, "--help"], &[]).1;
    let flags = |text: &str, names: &[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| text.contains(&format!("--{n}")))
            .map(|n| n.to_string())
            .collect()
    };
    let bulk = ["concurrency", "max-rps", "allow-proxied"];
    // The bulk commands list the rate flags.
    for cmd in ["import", "export"] {
        assert_eq!(flags(&help(cmd), &bulk).len(), 3, "{cmd}");
    }
    // The others do not.
    for cmd in ["validate", "whoami"] {
        assert_eq!(flags(&help(cmd), &bulk), Vec::<String>::new(), "{cmd}");
    }
    let iu = help("integration-user");
    assert_eq!(flags(&iu, &bulk), vec!["allow-proxied".to_string()]);
    // split reads files but checks no username: no --sso-brand.
    let split = help("split");
    assert_eq!(
        flags(&split, &["sso-brand", "sheet", "encoding", "delimiter"]),
        vec!["sheet", "encoding", "delimiter"]
    );
    for cmd in ["validate", "import", "fix"] {
        assert!(help(cmd).contains("--sso-brand"), "{cmd}");
    }
    // A flag not listed is not taken either.
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(dir.path(), "a.csv", &format!("{HEADER}\n"));
    let (code, _, err) = run(
        &[
            "split",
            s(&file),
            "--out-dir",
            s(&dir.path().join("p")),
            "--sso-brand",
            "univ",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, _) = run(&["whoami", "--concurrency", "3", "--sim"], &[]);
    assert_eq!(code, Some(2));
}

fn sim_with_latency(ms: u64, demo_users: usize) -> SimHandle {
    sim::spawn(SimConfig {
        latency: Duration::from_millis(ms),
        demo_users,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn an_interrupted_import_exits_130_and_says_it_was_interrupted() {
    let h = sim_with_latency(30, 0);
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = format!("{HEADER}\n");
    for n in 0..300 {
        text.push_str(&format!(
            ",int{n}@x.org,Int,User{n},int{n}@x.org,,UT_BRANDADMIN,active,\n"
        ));
    }
    let file = write(dir.path(), "int.csv", &text);
    let report = dir.path().join("int-report.csv");
    let journal = PathBuf::from(format!("{}.journal", report.display()));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
        .arg("import")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .args([
            "--base-url",
            &h.url(),
            "--yes",
            "--concurrency",
            "2",
            "--max-rps",
            "20",
        ])
        .args(["--format", "json"])
        .env("QUALTRICS_API_TOKEN", h.token())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    wait_for("the journal", || journal.exists());
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "-INT");
    let out = child.wait_with_output().expect("exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    let v = json_of(&stdout);
    assert_eq!(v["verdict"], "interrupted", "{stdout}");
    assert_eq!(v["interruptedBy"], "signal", "{stdout}");
    assert!(v["resumeCommand"]
        .as_str()
        .is_some_and(|c| c.contains("--resume")));
}

#[cfg(unix)]
#[test]
fn an_interrupted_export_exits_130_and_leaves_no_file() {
    // 2,000 users at 100 a page and 300 ms an answer: several seconds of paging.
    let h = sim_with_latency(300, 2000);
    let dir = tempfile::tempdir().expect("tmp");
    let out_file = dir.path().join("e.csv");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
        .args(["export", "--base-url", &h.url(), "-o"])
        .arg(&out_file)
        .args(["--format", "json"])
        .env("QUALTRICS_API_TOKEN", h.token())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let partial = |d: &Path| {
        std::fs::read_dir(d)
            .expect("dir")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(".partial-"))
    };
    wait_for("the partial file", || partial(dir.path()));
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().expect("exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert_eq!(json_of(&stdout)["exitCode"], 130);
    assert!(!out_file.exists(), "no output that looks complete");
    assert!(!partial(dir.path()), "the partial file is removed");
}

#[test]
fn counts_and_rates_have_thousands_separators_and_one_decimal() {
    let h = sim_with_latency(0, 0);
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = format!("{HEADER}\n");
    for n in 0..1234 {
        text.push_str(&format!(
            ",big{n}@x.org,Big,User{n},big{n}@x.org,,UT_BRANDADMIN,active,\n"
        ));
    }
    let file = write(dir.path(), "big.csv", &text);

    let (code, out, _) = run(&["validate", s(&file)], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("1,234 data rows (1,234 create, 0 update)"),
        "{out}"
    );
    assert!(out.contains("rows: 1,234 ok"), "{out}");

    let (code, out, _) = run(
        &[
            "split",
            s(&file),
            "--out-dir",
            s(&dir.path().join("parts")),
            "--rows",
            "1000",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1,234 data rows in 2 parts"), "{out}");
    assert!(out.contains("1,000 rows"), "{out}");

    let report = dir.path().join("r.csv");
    let (code, out, err) = run(
        &[
            "import",
            s(&file),
            "--yes",
            "--base-url",
            &h.url(),
            "--report",
            s(&report),
            // Past the polite default ceiling (35/s): the formatting, not the pace, is tested.
            "--max-rps",
            "5000",
        ],
        &[("QUALTRICS_API_TOKEN", h.token())],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1,234 created"), "{out}");
    let rate_line = out
        .lines()
        .find(|l| l.contains("rows/s"))
        .unwrap_or_else(|| panic!("a rate line: {out}"));
    // "  2.3 s, 1,236 requests, 536.5 rows/s"
    let words: Vec<&str> = rate_line.split_whitespace().collect();
    assert!(words[2].contains(','), "{rate_line}");
    let rate = words[4];
    let (int, frac) = rate.split_once('.').expect("one decimal");
    assert_eq!(frac.len(), 1, "{rate_line}");
    assert!(
        int.len() <= 3 || int.contains(','),
        "thousands separated: {rate_line}"
    );

    let e = dir.path().join("e.csv");
    let (code, _, err) = run(
        &[
            "export",
            "--base-url",
            &h.url(),
            "-o",
            s(&e),
            "--max-rps",
            "5000",
        ],
        &[("QUALTRICS_API_TOKEN", h.token())],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("exported 1,235 of 1,235 users"), "{err}");
    assert!(err.contains(" users/s)"), "{err}");
}

#[test]
fn fix_drops_excels_sep_line_and_says_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "sep.csv",
        &format!(
            "sep=;\n{}\n;a@x.org;A;B;a@x.org;;UT_BRANDADMIN;active;\n",
            HEADER.replace(',', ";")
        ),
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, out, err) = run(&["fix", s(&file), "-o", s(&fixed)], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("dropped Excel's \"sep=;\" first line"),
        "{out}"
    );
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(text.starts_with("userID,userName,"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
    let (_, out, _) = run(&["fix", s(&file), "-o", s(&fixed), "--format", "json"], &[]);
    let v = json_of(&out);
    assert!(
        v["changes"]["file_changes"]
            .as_array()
            .or(v["changes"]["fileChanges"].as_array())
            .is_some_and(|c| c
                .iter()
                .any(|c| c.as_str().is_some_and(|c| c.contains("sep=;")))),
        "{out}"
    );
    // The rule says fix repairs it.
    let (_, out, _) = run(&["rules", "--format", "json"], &[]);
    let rules: serde_json::Value = serde_json::from_str(&out).expect("json");
    let f16 = rules
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["code"] == "F16")
        .expect("F16");
    assert_eq!(f16["fixable"], true, "{f16}");
}

#[test]
fn import_names_the_sso_brand_it_detected() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("sim.json");
    let mut rng = Store::rng(7);
    let mut store = Store::new(&mut rng, 12);
    for u in store.users.iter_mut() {
        if u.username != sim::ADMIN_USERNAME {
            u.username = format!("{}#univ", u.username);
        }
    }
    store.save(&state).expect("state");
    let h = sim::spawn(SimConfig {
        state: Some(state),
        ..SimConfig::default()
    })
    .expect("sim");
    let file = write(
        dir.path(),
        "new.csv",
        &format!("{HEADER}\n,new@univ.edu#univ,New,User,new@univ.edu,,UT_BRANDADMIN,active,\n"),
    );
    let report = dir.path().join("r.csv");
    let env = [("QUALTRICS_API_TOKEN", h.token())];
    let args = [
        "import",
        s(&file),
        "--dry-run",
        "--base-url",
        &h.url(),
        "--report",
        s(&report),
    ];
    let (code, out, err) = run(&args, &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("SSO brand univ detected"), "{out}");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let (_, out, _) = run(&json_args, &env);
    assert_eq!(json_of(&out)["ssoBrand"]["id"], "univ", "{out}");
}
