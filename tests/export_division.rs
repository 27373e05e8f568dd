//! `export --division NAME`: a division's name resolves to its id through the divisions the
//! instance's users are in; an unknown name says which ids exist.

use crate::support;

use qusers::sim::{self, SimConfig};
use support::qusers;

#[test]
fn a_division_name_selects_its_users_and_an_unknown_one_lists_the_ids() {
    let h = sim::spawn(SimConfig {
        token: "division-token-0123456789".into(),
        demo_users: 150,
        ..SimConfig::default()
    })
    .expect("sim");
    let (id, name, count) = h.with_store(|s| {
        let (id, name) = s
            .divisions
            .iter()
            .find(|(id, _)| s.users.iter().any(|u| u.division_id.as_deref() == Some(id)))
            .map(|(i, n)| (i.clone(), n.clone()))
            .expect("a division in use");
        let count = s
            .users
            .iter()
            .filter(|u| u.division_id.as_deref() == Some(id.as_str()))
            .count();
        (id, name, count)
    });
    let out = support::run(
        qusers()
            .args(["export", "--for-update", "--division", &name.to_uppercase()])
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", "division-token-0123456789"),
    );
    assert_eq!(Some(out.code), Some(0));
    let csv = out.stdout.as_str();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), count, "{csv}");
    assert!(rows.iter().all(|r| r.contains(&id)));
    assert!(out.stderr.contains(&id));

    let out = support::run(
        qusers()
            .args(["export", "--for-update", "--division", "No Such Division"])
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", "division-token-0123456789"),
    );
    assert_eq!(Some(out.code), Some(0));
    assert_eq!(out.stdout.lines().count(), 1, "header only");
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("no division named"), "{stderr}");
    assert!(stderr.contains(&id) && stderr.contains(&name), "{stderr}");
}

#[test]
fn a_blank_user_type_name_says_why() {
    let h = sim::spawn(SimConfig {
        token: "division-token-0123456789".into(),
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let out = support::run(
        qusers()
            .args(["export", "--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", "division-token-0123456789"),
    );
    assert_eq!(Some(out.code), Some(0));
    let csv = out.stdout.as_str();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers = r.headers().expect("header").clone();
    let col = headers
        .iter()
        .position(|h| h == "User Type Name")
        .expect("the column");
    let cells: Vec<String> = r
        .records()
        .map(|rec| rec.expect("record")[col].to_string())
        .collect();
    assert_eq!(cells.len(), 6);
    assert_eq!(
        cells.iter().filter(|c| *c == "Brand Administrator").count(),
        1
    );
    assert!(
        cells
            .iter()
            .filter(|c| *c != "Brand Administrator")
            .all(|c| c.contains("no endpoint naming user types")),
        "{cells:?}"
    );
}
