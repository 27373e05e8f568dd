//! `qusers sim` and `qusers whoami` as an admin runs them, and the token never shown.

use crate::support;

use support::{qusers, SimProcess};

#[test]
fn whoami_prints_the_ids_an_integration_needs() {
    let sim = SimProcess::start(&["--users", "500", "--token", "right-token-7f3a"]);
    let out = qusers()
        .args(["whoami", "--base-url", &sim.url])
        .env("QUALTRICS_API_TOKEN", "right-token-7f3a")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "User ID                 UR_",
        "Brand ID                qusers-sim",
        "Account type            UT_BRANDADMIN",
        "Can manage users        yes",
    ] {
        assert!(stdout.contains(want), "{want} in {stdout}");
    }
    let json = qusers()
        .args(["whoami", "--format", "json", "--base-url", &sim.url])
        .env("QUALTRICS_API_TOKEN", "right-token-7f3a")
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["canManageUsers"], true);
    assert!(v["userId"].as_str().is_some_and(|id| id.starts_with("UR_")));
}

#[test]
fn a_rejected_token_exits_2_with_the_hint_and_is_never_shown() {
    let sim = SimProcess::start(&["--token", "the-current-token"]);
    let secret = "OLD-REGENERATED-TOKEN-9c1d2e";
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{secret}\n")).expect("write");
    for via_file in [false, true] {
        let mut cmd = qusers();
        cmd.args(["whoami", "--base-url", &sim.url]);
        if via_file {
            cmd.arg("--token-file").arg(&token_file);
        } else {
            cmd.env("QUALTRICS_API_TOKEN", secret);
        }
        let out = cmd.output().expect("runs");
        assert_eq!(out.status.code(), Some(2));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("rejected"), "{all}");
        assert!(
            all.contains("regenerat") && all.contains("integration"),
            "{all}"
        );
        assert!(!all.contains(secret), "the token leaked: {all}");
        assert!(!all.contains("9c1d2e"), "part of the token leaked: {all}");
    }
}

#[test]
fn no_target_or_no_token_exits_2_naming_the_ways() {
    let out = qusers().arg("whoami").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--base-url") && err.contains("--datacenter") && err.contains("--sim"),
        "{err}"
    );

    let out = qusers()
        .args(["whoami", "--datacenter", "iad1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("QUALTRICS_API_TOKEN"));

    let out = qusers()
        .args(["whoami", "--datacenter", "iad2"])
        .env("QUALTRICS_API_TOKEN", "x")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("iad1"),
        "the list of ids"
    );

    let out = qusers()
        .args(["whoami", "--base-url", "http://example.com"])
        .env("QUALTRICS_API_TOKEN", "x")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "plain http only to loopback");
}

#[test]
fn whoami_on_the_built_in_simulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = qusers()
        .args(["whoami", "--sim"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in simulator"));
    assert!(dir.path().join("qusers-sim.json").exists());
}
