//! Generates a realistic user file for benchmarks: `gen_users ROWS OUT.csv [SEED]`.
//!
//! About 190 bytes a row (99,998 rows ≈ 19 MB), names from many languages, a mix of creates and
//! updates, and about 1 % of rows broken in the ways admins break them.

use std::io::{BufWriter, Write};

use rand::{Rng, SeedableRng};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gen_users ROWS OUT.csv [SEED]";
    let rows: u64 = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let out = args.next().expect(usage);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let file = std::fs::File::create(&out)?;
    let mut w = BufWriter::new(file);
    write_users(&mut w, rows, seed)?;
    w.flush()
}

fn write_users(w: &mut impl Write, rows: u64, seed: u64) -> std::io::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let divisions: Vec<String> = (0..8)
        .map(|_| qusers::fake::id(&mut rng, "DV_", 15))
        .collect();
    let types: Vec<String> = (0..4)
        .map(|_| qusers::fake::id(&mut rng, "UT_", 15))
        .collect();
    writeln!(w, "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate")?;
    for n in 0..rows {
        let p = qusers::fake::person(&mut rng, n);
        let update = rng.random_bool(0.3);
        let id = if update {
            qusers::fake::id(&mut rng, "UR_", 15)
        } else {
            String::new()
        };
        let division = &divisions[rng.random_range(0..divisions.len())];
        let user_type = &types[rng.random_range(0..types.len())];
        let status = if rng.random_bool(0.9) {
            "active"
        } else {
            "disabled"
        };
        let expiration = if rng.random_bool(0.5) {
            format!(
                "{:02}/{:02}/20{}",
                rng.random_range(1..=12),
                rng.random_range(1..=28),
                rng.random_range(30..99)
            )
        } else {
            String::new()
        };
        let (mut username, mut first, mut exp) = (p.username, p.first.to_string(), expiration);
        if rng.random_bool(0.01) {
            match rng.random_range(0..4) {
                0 => username = username.replace('@', "!@"),
                1 => exp = "2031-12-31".into(),
                2 => first.clear(),
                _ => username = username.replace('@', " at "),
            }
        }
        let last = if p.last.contains(' ') {
            format!("\"{}\"", p.last)
        } else {
            p.last.to_string()
        };
        // Excel writes CRLF line ends.
        write!(
            w,
            "{id},{username},{first},{last},{},{division},{user_type},{status},{exp}\r\n",
            p.email
        )?;
    }
    Ok(())
}
