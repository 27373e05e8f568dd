//! Knowing the instance: its users from the API (or an export), and which divisions exist.
//! Shared by `import` and `validate --check-instance`.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use anyhow::Context;
use csv::ByteRecord;

use crate::api::{Client, UserFilter};
use crate::file::{self, trim, Col, Opening, ReadOptions, RecordBuf, Source};
use crate::instance::{Instance, InstanceUser};

/// Every user of the instance, page by page, with a spinner on a terminal.
pub async fn fetch_instance(client: &Client, quiet: bool) -> anyhow::Result<Instance> {
    let bar = spinner(quiet, "reading the instance's users");
    let mut instance = Instance::new();
    client
        .users(&UserFilter::default(), |page| {
            bar.inc(page.len() as u64);
            for u in page {
                instance.insert(InstanceUser::from_api(u));
            }
        })
        .await
        .context("cannot read the instance's users")?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!("instance: {} users", instance.len());
    }
    Ok(instance)
}

/// An `--existing` export.
pub fn read_existing(path: &str, quiet: bool) -> anyhow::Result<Instance> {
    let source = Source::from_arg(path)?;
    let inst = Instance::from_export(&source, &ReadOptions::default())
        .with_context(|| format!("reading the instance export {path}"))?;
    if !quiet {
        eprintln!("instance: {} users read from {path}", inst.len());
    }
    Ok(inst)
}

/// The division ids a file uses (one pass, no checks).
pub fn division_ids(source: &Source, opts: &ReadOptions) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let opened = match file::open(source, opts)? {
        Opening::Refused { .. } => return Ok(ids),
        Opening::Ready(o) => o,
    };
    let map = opened.header.map.clone();
    let mut records = opened.into_records();
    let mut rec = ByteRecord::new();
    let mut one = RecordBuf::new();
    while records
        .read_byte_record(&mut rec)
        .map_err(|e| file::csv_error(source, e))?
    {
        one.clear();
        one.push(&rec, 0);
        let d = trim(map.field(one.get(0), Col::DivisionId));
        if crate::rules::is_division_id(d) {
            ids.insert(d.to_string());
        }
    }
    Ok(ids)
}

/// Asks the API once for each division the file uses that no user of the instance is in, and
/// records the answers (a 404 makes rows using it fail A08).
pub async fn check_divisions(
    client: &Client,
    instance: &mut Instance,
    used: &BTreeSet<String>,
) -> anyhow::Result<()> {
    for id in used {
        if instance.knows_division(id) == Some(true) {
            continue;
        }
        let found = client
            .get_division(id)
            .await
            .with_context(|| format!("cannot check the division {id}"))?;
        instance.set_division_exists(id, found.is_some());
    }
    Ok(())
}

/// A spinner counting items, drawn only on a terminal.
pub fn spinner(quiet: bool, message: &'static str) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
