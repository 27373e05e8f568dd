//! The proxied-datacenter trap: reads work through a proxying host, writes fail with a bare
//! 400. `whoami` names the host and flag to use and exits non-zero; import and export refuse
//! (exit 2) unless `--allow-proxied`. And what whoami prints for a partner integration.

use crate::support;

use qusers::sim::{self, SimConfig};
use support::{qusers, SimProcess};

const TOKEN: &str = "dc-test-token-0123456789";

fn users_file(dir: &std::path::Path, user_type: &str) -> std::path::PathBuf {
    let path = dir.join("users.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for k in 0..3 {
        text.push_str(&format!(
            ",dc{k}@x.example,Dee,See{k},dc{k}@x.example,,{user_type},active,\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn whoami_through_a_proxied_host_names_the_host_and_flag_and_fails() {
    let sim = SimProcess::start(&["--proxied-host", "sjc1.qualtrics.com", "--token", TOKEN]);
    let out = support::run(
        qusers()
            .args(["whoami", "--base-url", &sim.url])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(out.code), Some(1));
    let all = out.all();
    assert!(all.contains("sjc1.qualtrics.com"), "{all}");
    assert!(all.contains("--datacenter sjc1"), "{all}");
    let json = support::run(
        qusers()
            .args(["whoami", "--format", "json", "--base-url", &sim.url])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(json.code), Some(1));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["datacenter"]["reported"], "sjc1");
    assert_eq!(v["datacenter"]["verified"], false);
    assert_eq!(v["proxied"]["flag"], "--datacenter sjc1");
}

#[test]
fn import_and_export_refuse_a_proxied_host_unless_allowed() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        proxied_host: Some("sjc1.qualtrics.com".into()),
        demo_users: 5,
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
    let file = users_file(dir.path(), &user_type);
    let report = dir.path().join("report.csv");
    let out = support::run(
        qusers()
            .arg("import")
            .arg(&file)
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &h.url(), "--yes"])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(out.code), Some(2));
    let err = out.stderr.as_str();
    assert!(err.contains("--datacenter sjc1"), "{err}");
    assert_eq!(
        h.stats().requests.get("POST /users"),
        None,
        "nothing written"
    );

    // With --allow-proxied it goes on, and the writes fail as they would on Qualtrics.
    let out = support::run(
        qusers()
            .arg("import")
            .arg(&file)
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &h.url(), "--yes", "--allow-proxied"])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(out.code), Some(1));
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(text.contains("proxied"), "the failures say why: {text}");
    assert_eq!(h.with_store(|s| s.users.len()), 6, "nothing created");

    let out = support::run(
        qusers()
            .args(["export", "-o"])
            .arg(dir.path().join("out.csv"))
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(out.code), Some(2));
    assert!(out.stderr.contains("--datacenter sjc1"));
    let out = support::run(
        qusers()
            .args(["export", "--allow-proxied", "-o"])
            .arg(dir.path().join("out.csv"))
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn whoami_lists_every_directory_and_library_with_qualtrics_labels() {
    let sim = SimProcess::start(&["--token", TOKEN]);
    let out = support::run(
        qusers()
            .args(["whoami", "--format", "json", "--base-url", &sim.url])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(Some(out.code), Some(0));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    // Seven directories over two skipToken pages of five.
    let dirs = v["directoryIds"].as_array().expect("directories");
    assert_eq!(dirs.len(), 7, "{v}");
    assert!(dirs
        .iter()
        .all(|d| d["id"].as_str().is_some_and(|i| i.starts_with("POOL_"))));
    assert_eq!(dirs.iter().filter(|d| d["isDefault"] == true).count(), 1);
    let groups = v["groupLibraryIds"].as_array().expect("libraries");
    assert_eq!(groups.len(), 2);
    assert!(groups
        .iter()
        .all(|g| g["id"].as_str().is_some_and(|i| i.starts_with("GR_"))));
    assert_eq!(v["personalLibraryId"], v["userId"]);
    assert_eq!(v["datacenter"]["reported"], "sim");
    assert_eq!(v["datacenter"]["verified"], true);
    assert_eq!(v["canUseApi"], true);
    assert_eq!(v["canManageUsers"], true);
    for key in ["baseUrl", "userId", "username", "brandId", "accountType"] {
        assert!(v[key].is_string(), "{key} in {v}");
    }

    let out = support::run(
        qusers()
            .args(["whoami", "--base-url", &sim.url])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    let text = out.stdout.as_str();
    for label in [
        "Base URL",
        "Datacenter ID",
        "User ID",
        "Username",
        "Brand ID",
        "Account type",
        "Library ID (personal)",
        "Library IDs (group)",
        "Directory ID",
        "Can use the API",
        "Can manage users",
    ] {
        assert!(text.contains(label), "{label} in {text}");
    }
    assert_eq!(text.matches("POOL_").count(), 7, "{text}");
}
