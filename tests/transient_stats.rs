//! Transient-error accounting in the summaries: retries by class, the 5xx rate, and above 4 %
//! the advice to contact Qualtrics support with a few request ids.

use crate::support;

use qusers::sim::{self, SimConfig};
use support::qusers;

const TOKEN: &str = "transient-token-0123456789";

#[test]
fn export_counts_retries_and_asks_for_support_above_four_percent() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 1_000,
        fail_rate: 0.3,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    let out = support::run(
        qusers()
            .args(["export", "--no-details", "--format", "json", "-o"])
            .arg(dir.path().join("users.csv"))
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json summary");
    let t = &v["transient"];
    let failed = h.stats().failed;
    assert!(failed > 0);
    // Every 5xx the client read was retried; the server may also have failed a read-ahead
    // page past the end that the listing no longer waited for.
    let answers = t["answers5xx"].as_u64().expect("answers5xx");
    assert_eq!(t["retries5xx"], answers, "{v}");
    assert!(
        answers > 0 && answers <= failed,
        "{v} ({failed} failed on the server)"
    );
    assert!(t["rate5xx"].as_f64().expect("rate") > 0.04, "{v}");
    let ids = t["failingRequestIds"].as_array().expect("ids");
    assert!(!ids.is_empty() && ids.len() <= 5, "{v}");
    assert_eq!(v["usersSeen"], 1_001);

    let out = support::run(
        qusers()
            .args(["export", "--no-details", "-o"])
            .arg(dir.path().join("users2.csv"))
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("after 5xx"), "{stderr}");
    assert!(stderr.contains("contact support"), "{stderr}");
    assert!(stderr.contains("request ids"), "{stderr}");
}

#[test]
fn a_clean_export_gives_no_support_advice() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 50,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    let out = support::run(
        qusers()
            .args(["export", "-o"])
            .arg(dir.path().join("users.csv"))
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    let stderr = out.stderr.as_str();
    assert!(
        stderr.contains("retries: 0 after 429, 0 after 5xx"),
        "{stderr}"
    );
    assert!(!stderr.contains("support"), "{stderr}");
}

#[test]
fn the_import_summary_carries_the_counts() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        throttle_every: Some(3),
        ..SimConfig::default()
    })
    .expect("sim");
    let user_type = h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("type")
    });
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("users.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for k in 0..12 {
        text.push_str(&format!(
            ",tr{k}@x.example,Tee,Are{k},tr{k}@x.example,,{user_type},active,\n"
        ));
    }
    std::fs::write(&file, text).expect("write");
    let out = support::run(
        qusers()
            .arg("import")
            .arg(&file)
            .arg("--report")
            .arg(dir.path().join("report.csv"))
            .args(["--base-url", &h.url(), "--yes", "--format", "json"])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["transient"]["retries429"], h.stats().rate_limited, "{v}");
    assert!(v["transient"]["retries429"].as_u64().expect("n") >= 4);
}
