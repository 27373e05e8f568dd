//! What an import holds per row: `import_memory FILE`. Validates FILE into the importer's
//! sink (the load stage) and plans it against an empty instance (`--skip-invalid`, so the valid
//! rows become creates and updates), counting the bytes allocated and still live after each
//! step with a counting allocator: the heap an import keeps for its rows, per row.
//!
//! ```text
//! cargo run --release --example gen_users -- 99998 /tmp/users.csv
//! cargo run --release --example import_memory -- /tmp/users.csv
//! ```

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use qusers::file::{ReadOptions, Source};
use qusers::import::{plan, Collect, InputRow, PlanOptions, PlannedRow};
use qusers::instance::Instance;
use qusers::validate::{validate_source, ValidateOptions};

/// The system allocator, counting the bytes it has out (and the most it had).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as it came.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as it came.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as it came.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: import_memory FILE"))?;
    let source = Source::from_arg(&path)?;
    let instance = Instance::new();
    let opts = ValidateOptions::new(ReadOptions::default(), false);
    // Rayon's pool and the like, before counting.
    let _ = validate_source(
        &source,
        &opts,
        Some(&instance),
        &mut qusers::validate::NullSink,
    )?;
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);

    let mut collect = Collect::default();
    let summary = validate_source(&source, &opts, Some(&instance), &mut collect)?;
    let loaded = LIVE.load(Ordering::Relaxed) - before;
    let load_peak = PEAK.load(Ordering::Relaxed) - before;
    let rows = collect.rows.len().max(1);
    println!(
        "{} rows read ({} held{}), InputRow {} bytes",
        summary.rows,
        collect.rows.len(),
        if collect.file_problems.iter().any(|(_, _, error)| *error) {
            ", the file is refused"
        } else {
            ""
        },
        std::mem::size_of::<InputRow>()
    );
    println!(
        "load:  {:.1} MiB live ({} bytes a held row), {:.1} MiB at the peak",
        mib(loaded),
        loaded / rows,
        mib(load_peak)
    );

    let plan_opts = PlanOptions {
        skip_invalid: true,
        ..PlanOptions::default()
    };
    let plan = plan(
        std::mem::take(&mut collect.rows),
        &instance,
        &plan_opts,
        HashMap::new(),
    );
    let planned = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "plan:  {:.1} MiB live ({} bytes a row: {} creates, {} updates), {:.1} MiB at the peak; PlannedRow {} bytes",
        mib(planned),
        planned / rows,
        plan.creates(),
        plan.updates(),
        mib(PEAK.load(Ordering::Relaxed) - before),
        std::mem::size_of::<PlannedRow>()
    );
    Ok(())
}
