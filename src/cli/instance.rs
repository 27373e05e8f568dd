//! Knowing the instance: its users from the API (or an export), and which divisions exist.
//! Shared by `import`, `sync` and `validate --check-instance`; the bars it draws meanwhile are
//! in [`super::progress`].

use std::collections::BTreeSet;

use anyhow::Context;

use crate::api::Client;
use crate::file::{ReadOptions, Source};
use crate::instance::Instance;
use crate::present::console;

use crate::present::progress::spinner;
// `import` and `update` name the bars here still.
pub(crate) use crate::present::progress::Bars;

/// Every user of the instance, page by page, with a spinner on a terminal.
pub(crate) async fn fetch_instance(client: &Client, quiet: bool) -> anyhow::Result<Instance> {
    let bar = spinner(quiet, "reading the instance's users");
    let instance = crate::instance::fetch(client, |n| bar.inc(n))
        .await
        .context("cannot read the instance's users")?;
    bar.finish_and_clear();
    if !quiet {
        console::err_line(&format!("instance: {} users", instance.len()));
    }
    Ok(instance)
}

/// An `--existing` export.
pub(crate) fn read_existing(path: &str, quiet: bool) -> anyhow::Result<Instance> {
    let source = Source::from_arg(path)?;
    let inst = Instance::from_export(&source, &ReadOptions::default())
        .with_context(|| format!("reading the instance export {path}"))?;
    if !quiet {
        console::err_line(&format!("instance: {} users read from {path}", inst.len()));
    }
    Ok(inst)
}

/// The division ids a file uses (one pass, no checks).
pub(crate) fn division_ids(
    source: &Source,
    opts: &ReadOptions,
) -> anyhow::Result<BTreeSet<String>> {
    Ok(crate::instance::division_ids(source, opts)?)
}

/// Asks the API once for each division the file uses that no user of the instance is in.
pub(crate) async fn check_divisions(
    client: &Client,
    instance: &mut Instance,
    used: &BTreeSet<String>,
) -> anyhow::Result<()> {
    crate::instance::check_divisions(client, instance, used)
        .await
        .context("cannot check the divisions the file uses")
}
