//! Generates a realistic user file for benchmarks: `gen_users ROWS OUT.csv [SEED]`.
//!
//! About 190 bytes a row (99,998 rows ≈ 19 MB), names from many languages, a mix of creates and
//! updates, and about 1 % of rows broken in the ways admins break them.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gen_users ROWS OUT.csv [SEED]";
    let rows: u64 = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let out = args.next().expect(usage);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let file = std::fs::File::create(&out)?;
    let mut w = BufWriter::new(file);
    qusers::fake::write_users(&mut w, rows, seed)?;
    w.flush()
}
