//! The flags of safe bulk changes, shared by `import` and `update`: the blast-radius brake and
//! protected accounts (both), the three-way merge and upsert (import only).

use std::path::PathBuf;

use crate::import::brakes::{BrakeOptions, MaxChanges};
use crate::import::{ImportOptions, Prefer};

/// The brakes `import` and `update` share.
#[derive(Debug, clap::Args)]
pub(crate) struct GuardArgs {
    /// Most users one run may disable, re-type or move, as a number (250) or a share of the
    /// instance (5%); default: 100 users or 10 % of the instance, whichever is smaller
    #[arg(long, value_name = "N|P%")]
    max_changes: Option<MaxChanges>,
    /// Lift the blast-radius brake (--max-changes) for this run
    #[arg(long)]
    allow_mass_changes: bool,
    /// Let this run disable, re-type or move the token's own account and Brand Administrators
    #[arg(long)]
    allow_admin_changes: bool,
}

impl GuardArgs {
    /// Sets the brake and the protection of `opts`.
    pub(crate) fn apply(&self, opts: &mut ImportOptions) {
        opts.brakes = BrakeOptions {
            max: self.max_changes.unwrap_or_default(),
            allow_mass_changes: self.allow_mass_changes,
        };
        opts.allow_admin_changes = self.allow_admin_changes;
    }
}

/// `import`'s flags of safe bulk changes.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportSafetyArgs {
    /// A row with an empty userID whose userName exists in the instance (any case) updates
    /// that user instead of failing to create it
    #[arg(long)]
    upsert: bool,
    /// The export's base snapshot to merge with three ways (default: FILE.qusers-base beside
    /// the file, when there is one)
    #[arg(long, value_name = "PATH")]
    base: Option<PathBuf>,
    /// Who wins a field changed both in the file and in Qualtrics since the export (default:
    /// neither, the row is a conflict)
    #[arg(long, value_enum, value_name = "SIDE")]
    prefer: Option<Prefer>,
    #[command(flatten)]
    guard: GuardArgs,
}

impl ImportSafetyArgs {
    /// Sets the safety options of `opts`.
    pub(crate) fn apply(&self, opts: &mut ImportOptions) {
        opts.upsert = self.upsert;
        opts.base = self.base.clone();
        opts.prefer = self.prefer;
        self.guard.apply(opts);
    }
}
