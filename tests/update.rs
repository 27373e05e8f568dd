//! `qusers update` against the simulator: exactly the selected users change, through the
//! brake, and its undo file takes the change back.

use crate::support;

use std::collections::BTreeMap;

use qusers::sim::{self, SimConfig, SimHandle};
use support::{read_report, run_in};

/// id → (division, type, status, first name), every user.
fn state(h: &SimHandle) -> BTreeMap<String, [String; 4]> {
    h.with_store(|s| {
        s.users
            .iter()
            .map(|u| {
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                (
                    u.id.clone(),
                    [
                        o(&u.division_id),
                        o(&u.user_type),
                        o(&u.account_status),
                        o(&u.first_name),
                    ],
                )
            })
            .collect()
    })
}

fn puts(h: &SimHandle) -> u64 {
    h.stats()
        .requests
        .get("PUT /users/{id}")
        .copied()
        .unwrap_or(0)
}

#[test]
fn update_changes_exactly_the_selected_users_and_its_undo_reverts_them() {
    let h = sim::spawn(SimConfig {
        demo_users: 40,
        ..SimConfig::default()
    })
    .expect("sim");
    let before = state(&h);
    let (division, new_type) = h.with_store(|s| {
        (
            s.divisions.keys().next().cloned().expect("division"),
            s.user_types
                .keys()
                .find(|t| *t != "UT_BRANDADMIN")
                .cloned()
                .expect("type"),
        )
    });
    let selected: Vec<String> = before
        .iter()
        .filter(|(_, v)| v[0] == division)
        .map(|(id, _)| id.clone())
        .collect();
    let to_change = selected
        .iter()
        .filter(|id| before[*id][1] != new_type)
        .count();
    assert!(
        to_change > 0,
        "the seed gives the division users of other types"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let set = format!("accountType={new_type}");

    // A dry run: the plan, nothing sent.
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--division",
            &division,
            "--set",
            &set,
            "--dry-run",
            "--max-changes",
            "100",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("user-type changes: {to_change}")),
        "{out}"
    );
    assert_eq!(puts(&h), 0);

    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--division",
            &division,
            "--set",
            &set,
            "--yes",
            "--max-changes",
            "100",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert_eq!(puts(&h), to_change as u64, "one PUT per user that changes");
    let after = state(&h);
    for (id, v) in &after {
        if selected.contains(id) {
            assert_eq!(v[1], new_type, "{id} selected");
            assert_eq!(
                [&v[0], &v[2], &v[3]],
                [&before[id][0], &before[id][2], &before[id][3]]
            );
        } else {
            assert_eq!(v, &before[id], "{id} not selected, not changed");
        }
    }
    let report = read_report(&dir.path().join("update.report.csv"));
    assert_eq!(
        report.len(),
        selected.len(),
        "every selected user has a row"
    );

    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            "update.report.undo.csv",
            "--report",
            "undo.report.csv",
            "--yes",
            "--max-changes",
            "100",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert_eq!(state(&h), before, "the undo reverts every change");
}

#[test]
fn update_is_braked_protects_admins_and_needs_a_selection() {
    let h = sim::spawn(SimConfig {
        demo_users: 40,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &["update", "--set", "accountStatus=disabled", "--yes"],
    )
    .code_all();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--all"), "{out}");

    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--status",
            "active",
            "--set",
            "accountStatus=disabled",
            "--yes",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("disables") && out.contains("--allow-mass-changes"),
        "{out}"
    );
    assert_eq!(puts(&h), 0);

    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--status",
            "active",
            "--set",
            "accountStatus=disabled",
            "--yes",
            "--allow-mass-changes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let admin = h.with_store(|s| s.admin_id.clone());
    let s = state(&h);
    assert_eq!(s[&admin][2], "active", "the token's own account is kept");
    assert!(s
        .iter()
        .filter(|(id, _)| **id != admin)
        .all(|(_, v)| v[2] == "disabled"));
    let report = read_report(&dir.path().join("update.report.csv"));
    let admin_row = report.iter().find(|r| r["userID"] == admin).expect("row");
    assert_eq!(admin_row["outcome"], "skipped");

    let (code, out) = run_in(
        &h,
        dir.path(),
        &["update", "--all", "--set", "userName=x@y.org"],
    )
    .code_all();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot set"), "{out}");
}

#[test]
fn a_division_name_is_refused_rather_than_selecting_every_user() {
    let h = sim::spawn(SimConfig {
        demo_users: 20,
        ..SimConfig::default()
    })
    .expect("sim");
    let before = state(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--division",
            "Business School",
            "--set",
            "accountStatus=disabled",
            "--allow-mass-changes",
            "--yes",
        ],
    )
    .code_all();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("by its id (DV_…)"), "{out}");
    assert!(out.contains("qusers export --division"), "{out}");
    assert_eq!(puts(&h), 0);
    assert_eq!(state(&h), before);
}
