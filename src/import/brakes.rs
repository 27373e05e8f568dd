//! The blast-radius brake: before anything is sent, a plan that disables, re-types or moves
//! more users than a threshold stops whole, so that a filter mistake or a wrong column cannot
//! lock out a faculty. Creates, name changes and expirations are not braked: they are easy to see in
//! the plan and to undo.
//!
//! The default threshold is 100 users or 10 % of the instance, whichever is smaller: the 100
//! bounds the damage on a big instance (10 % of 30,000 would be 3,000 accounts), the 10 % keeps
//! a small instance from losing a large share at once (the figure Okta and Entra use for their
//! accidental-deletion thresholds). A class may reach the threshold; only above it stops.

use std::fmt;

use super::plan::Plan;
use crate::vocab::change::{ChangeClass, ClassCounts};

/// `--max-changes`: the most users a risky class may touch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum MaxChanges {
    /// 100 users or 10 % of the instance, whichever is smaller.
    #[default]
    Default,
    /// At most this many users.
    Count(usize),
    /// At most this share of the instance, in percent.
    Percent(f64),
}

impl std::str::FromStr for MaxChanges {
    type Err = String;

    /// `250` or `5%` (`5 %`, `2.5%`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is neither a number of users (250) nor a percentage (5%)");
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) || p.is_nan() {
                return Err(format!("{s:?}: a percentage is between 0% and 100%"));
            }
            Ok(MaxChanges::Percent(p))
        } else {
            s.parse().map(MaxChanges::Count).map_err(|_| bad())
        }
    }
}

impl MaxChanges {
    /// The threshold for an instance of `instance_users` users, and how it was reached.
    pub fn limit(self, instance_users: usize) -> (usize, String) {
        let share = |p: f64| (instance_users as f64 * p / 100.0).floor() as usize;
        match self {
            MaxChanges::Default => {
                let ten = share(10.0).max(1);
                if ten < 100 {
                    (
                        ten,
                        format!("10 % of the instance's {instance_users} users"),
                    )
                } else {
                    (100, "the default of 100 users".into())
                }
            }
            MaxChanges::Count(n) => (n, format!("--max-changes {n}")),
            MaxChanges::Percent(p) => (
                share(p),
                format!("--max-changes {p}% of the instance's {instance_users} users"),
            ),
        }
    }
}

/// How the brake is set.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrakeOptions {
    pub max: MaxChanges,
    /// `--allow-mass-changes`: no brake.
    pub allow_mass_changes: bool,
}

/// The classes the brake watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskyClass {
    Disables,
    UserTypeChanges,
    DivisionMoves,
}

impl RiskyClass {
    /// The rows of this class among the plan's counts (see [`crate::vocab::change`]).
    pub fn count(self, c: &ClassCounts) -> usize {
        match self {
            RiskyClass::Disables => c.disables(),
            RiskyClass::UserTypeChanges => c.get(ChangeClass::UserType),
            RiskyClass::DivisionMoves => c.get(ChangeClass::Division),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RiskyClass::Disables => "disables",
            RiskyClass::UserTypeChanges => "user-type changes",
            RiskyClass::DivisionMoves => "division moves",
        }
    }
}

/// The brake held: nothing is to be sent.
#[derive(Clone, Debug, PartialEq)]
pub struct BrakeStop {
    /// Each class above the threshold, with its count.
    pub over: Vec<(RiskyClass, usize)>,
    pub limit: usize,
    /// How the limit was reached (`10 % of the instance's 500 users`).
    pub limit_reason: String,
}

impl fmt::Display for BrakeStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let over: Vec<String> = self
            .over
            .iter()
            .map(|(c, n)| format!("{n} {}", c.label()))
            .collect();
        write!(
            f,
            "stopped before sending anything: the plan has {}, above the limit of {} ({}). \
             Check the file and the plan (--dry-run); if the changes are meant, pass \
             --allow-mass-changes, or set the limit with --max-changes N or --max-changes P%",
            over.join(" and "),
            self.limit,
            self.limit_reason
        )
    }
}

/// Checks the plan against the brake; `instance_users` is the size of the instance.
pub fn check(plan: &Plan, instance_users: usize, opts: &BrakeOptions) -> Result<(), BrakeStop> {
    if opts.allow_mass_changes {
        return Ok(());
    }
    let counts = plan.class_counts();
    let (limit, limit_reason) = opts.max.limit(instance_users);
    let over: Vec<(RiskyClass, usize)> = [
        RiskyClass::Disables,
        RiskyClass::UserTypeChanges,
        RiskyClass::DivisionMoves,
    ]
    .into_iter()
    .map(|c| (c, c.count(&counts)))
    .filter(|(_, n)| *n > limit)
    .collect();
    if over.is_empty() {
        Ok(())
    } else {
        Err(BrakeStop {
            over,
            limit,
            limit_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserUpdate;
    use crate::import::plan::{Planned, PlannedRow};
    use crate::import::InputRow;
    use crate::rules::Action;
    use crate::validate::Verdict;
    use crate::vocab::change::Change;
    use crate::vocab::Col;

    fn update_row(n: u64, field: Col, new: &str) -> PlannedRow {
        PlannedRow {
            input: InputRow {
                line: n + 1,
                row: n,
                action: Action::Update,
                fields: Default::default(),
                problems: Vec::new(),
                verdict: Verdict::Ok,
                empty: false,
            },
            planned: Planned::Update {
                id: format!("UR_{n:011}"),
                update: UserUpdate::default(),
                changes: vec![Change {
                    field,
                    old: "x".into(),
                    new: new.into(),
                }],
            },
            notes: Vec::new(),
        }
    }

    fn plan_of(rows: Vec<PlannedRow>) -> Plan {
        Plan {
            rows,
            blocked_by_invalid: false,
            ..Default::default()
        }
    }

    #[test]
    fn the_default_is_the_smaller_of_100_and_ten_percent() {
        assert_eq!(MaxChanges::Default.limit(500).0, 50);
        assert_eq!(MaxChanges::Default.limit(30_000).0, 100);
        assert_eq!(MaxChanges::Default.limit(5).0, 1);
        assert_eq!("5%".parse::<MaxChanges>(), Ok(MaxChanges::Percent(5.0)));
        assert_eq!("250".parse::<MaxChanges>(), Ok(MaxChanges::Count(250)));
        assert!("lots".parse::<MaxChanges>().is_err());
        assert!("150%".parse::<MaxChanges>().is_err());
        assert_eq!(MaxChanges::Percent(30.0).limit(500).0, 150);
    }

    #[test]
    fn disables_above_the_limit_stop_and_name_class_count_and_override() {
        let rows = (0..51)
            .map(|n| update_row(n, Col::AccountStatus, "disabled"))
            .collect();
        let plan = plan_of(rows);
        let stop = check(&plan, 500, &BrakeOptions::default()).expect_err("brakes");
        assert_eq!(stop.over, vec![(RiskyClass::Disables, 51)]);
        let msg = stop.to_string();
        assert!(msg.contains("51 disables"), "{msg}");
        assert!(msg.contains("limit of 50"), "{msg}");
        assert!(msg.contains("--allow-mass-changes"), "{msg}");
        assert!(msg.contains("--max-changes"), "{msg}");
        let lifted = BrakeOptions {
            allow_mass_changes: true,
            ..Default::default()
        };
        assert!(check(&plan, 500, &lifted).is_ok());
        let raised = BrakeOptions {
            max: MaxChanges::Count(51),
            ..Default::default()
        };
        assert!(check(&plan, 500, &raised).is_ok());
    }

    #[test]
    fn enables_renames_and_changes_at_the_limit_pass() {
        let mut rows: Vec<PlannedRow> = (0..200)
            .map(|n| update_row(n, Col::AccountStatus, "active"))
            .collect();
        rows.extend((0..200).map(|n| update_row(n, Col::FirstName, "Z")));
        rows.extend((0..50).map(|n| update_row(n, Col::DivisionId, "DV_x")));
        assert!(check(&plan_of(rows), 500, &BrakeOptions::default()).is_ok());
        let moves = (0..51)
            .map(|n| update_row(n, Col::DivisionId, "DV_x"))
            .collect();
        let stop = check(&plan_of(moves), 500, &BrakeOptions::default()).expect_err("brakes");
        assert_eq!(stop.over, vec![(RiskyClass::DivisionMoves, 51)]);
    }

    /// The brake inside the library workflow, against the in-process simulator.
    #[test]
    fn the_importer_stops_before_sending_and_the_override_applies() {
        use crate::import::tests::{client, run_import, write};
        use crate::import::ImportOptions;
        use crate::sim::{self, SimConfig};
        use std::sync::atomic::AtomicBool;

        let h = sim::spawn(SimConfig {
            demo_users: 40,
            ..SimConfig::default()
        })
        .expect("sim");
        let admin = h.with_store(|s| s.admin_id.clone());
        let ids: Vec<String> = h.with_store(|s| {
            s.users
                .iter()
                .filter(|u| u.id != admin && u.account_status.as_deref() == Some("active"))
                .take(10)
                .map(|u| u.id.clone())
                .collect()
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let rows: Vec<String> = ids
            .iter()
            .map(|id| format!("{id},,,,,,,disabled,"))
            .collect();
        let input = write(dir.path(), &rows);
        let report = dir.path().join("r.csv");
        let cancel = AtomicBool::new(false);
        let o =
            run_import(&input, &client(&h), ImportOptions::new(&report), &cancel).expect("import");
        let stop = o.brake.as_ref().expect("the brake held");
        assert_eq!(stop.over, vec![(RiskyClass::Disables, 10)]);
        assert_eq!(stop.limit, 4, "10 % of 41 users");
        assert!(!o.success());
        assert_eq!(h.stats().writes, 0, "nothing sent");

        let mut opts = ImportOptions::new(&report);
        opts.brakes.allow_mass_changes = true;
        let o = run_import(&input, &client(&h), opts, &cancel).expect("import");
        assert!(o.brake.is_none());
        assert_eq!(o.counts.updated, 10);
        assert!(o.success());
        assert_eq!(o.undo_rows, 10);
        assert!(ids.iter().all(|id| h.with_store(|s| s
            .get(id)
            .and_then(|u| u.account_status.clone())
            .as_deref()
            == Some("disabled"))));
    }
}
