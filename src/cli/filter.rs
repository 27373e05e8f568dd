//! The user filters `export` and `update` share (the admin UI's search criteria, AND-ed).

use crate::export::ExportFilter;
use crate::rules::Status;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StatusArg {
    Active,
    Disabled,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FilterArgs {
    /// Only usernames containing this (any case)
    #[arg(long, value_name = "S")]
    username: Option<String>,
    /// Only first names containing this (any case)
    #[arg(long, value_name = "S")]
    first_name: Option<String>,
    /// Only last names containing this (any case)
    #[arg(long, value_name = "S")]
    last_name: Option<String>,
    /// Only emails containing this (any case)
    #[arg(long, value_name = "S")]
    email: Option<String>,
    /// Only users with this account status
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only users of this user type (UT_…)
    #[arg(long, value_name = "UT_…")]
    account_type: Option<String>,
    /// Only users of this division: its id (DV_…); export also takes its name (any case)
    #[arg(long, value_name = "DV_…|NAME")]
    pub division: Option<String>,
}

impl FilterArgs {
    /// The filter, as export applies it.
    pub(crate) fn filter(&self) -> ExportFilter {
        ExportFilter {
            username: self.username.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            status: self.status.map(|s| match s {
                StatusArg::Active => Status::Active,
                StatusArg::Disabled => Status::Disabled,
            }),
            account_type: self.account_type.clone(),
            division: self.division.clone(),
        }
    }

    /// The filters given, as flags (`--division DV_x --status active`); empty when none is.
    pub(crate) fn describe(&self) -> String {
        let mut words = Vec::new();
        for (flag, v) in [
            ("--username", &self.username),
            ("--first-name", &self.first_name),
            ("--last-name", &self.last_name),
            ("--email", &self.email),
            ("--account-type", &self.account_type),
            ("--division", &self.division),
        ] {
            if let Some(v) = v {
                words.push(format!("{flag} {v}"));
            }
        }
        if let Some(s) = self.filter().status {
            words.push(format!("--status {}", s.as_str()));
        }
        words.join(" ")
    }
}
