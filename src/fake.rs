//! Realistic fake users: names from many languages, email-shaped usernames, ids in Qualtrics
//! formats. Used by the simulator's demo users and by the benchmark file generator.

use std::io::Write;

use rand::{Rng, SeedableRng};

const FIRST: &[&str] = &[
    "Maria",
    "James",
    "Wei",
    "Aisha",
    "José",
    "Zoë",
    "Björn",
    "Søren",
    "Chloé",
    "Łukasz",
    "Ngozi",
    "Hiroshi",
    "Priya",
    "Mohammed",
    "Olga",
    "François",
    "Ana",
    "Liam",
    "Emma",
    "Noah",
    "Fatima",
    "Yuki",
    "Carlos",
    "Ingrid",
    "Dmitri",
    "Sven",
    "Amélie",
    "Kwame",
    "Mei",
    "Rafael",
    "Светлана",
    "Ирина",
    "颖",
    "Jürgen",
    "Ölçer",
    "Siobhán",
    "Tomás",
    "Anaïs",
    "Elif",
    "Darius",
];
const LAST: &[&str] = &[
    "Gonzalez",
    "Okafor",
    "Li",
    "Khan",
    "Muñoz",
    "Krüger",
    "Ásgeirsson",
    "Nørgaard",
    "Dubois",
    "Wiśniewski",
    "Adeyemi",
    "Tanaka",
    "Patel",
    "Haddad",
    "Ivanova",
    "Lefèvre",
    "Silva",
    "Murphy",
    "Schmidt",
    "Johansson",
    "Rossi",
    "Nakamura",
    "García",
    "Berg",
    "Volkov",
    "Larsen",
    "Moreau",
    "Mensah",
    "Chen",
    "Costa",
    "Иванова",
    "Петрова",
    "陈",
    "Müller",
    "Yılmaz",
    "O'Brien",
    "Ó Súilleabháin",
    "Fernández",
    "Demir",
    "Karimi",
];
const DOMAINS: &[&str] = &[
    "students.state-university-of-example.edu",
    "faculty.state-university-of-example.edu",
    "research.national-example-institute.org",
    "mail.corp.example-company-group.com",
];

/// ASCII letters for a username: accents dropped, other scripts transliterated to "user".
pub fn ascii_slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let mapped = match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' | 'Ä' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'É' => "e",
            'í' | 'ï' | 'Í' => "i",
            'ó' | 'ö' | 'ô' | 'Ö' | 'Ó' | 'ø' | 'Ø' => "o",
            'ú' | 'ü' | 'Ü' => "u",
            'ñ' => "n",
            'ç' => "c",
            'ł' | 'Ł' => "l",
            'ś' => "s",
            'ı' => "i",
            _ if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => "",
        };
        out.push_str(mapped);
    }
    if out.is_empty() {
        out.push_str("user");
    }
    out
}

/// A Qualtrics-style id: prefix plus `len` letters and digits.
pub fn id(rng: &mut impl Rng, prefix: &str, len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    for _ in 0..len {
        s.push(ALNUM[rng.random_range(0..ALNUM.len())] as char);
    }
    s
}

/// A fake person.
pub struct Person {
    pub first: &'static str,
    pub last: &'static str,
    pub username: String,
    pub email: String,
}

/// The `n`th fake person: deterministic names from `rng`, a username made unique by `n`.
pub fn person(rng: &mut impl Rng, n: u64) -> Person {
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let username = format!("{}.{}{n}@{domain}", ascii_slug(first), ascii_slug(last));
    Person {
        first,
        last,
        email: username.clone(),
        username,
    }
}

/// Writes a user file of `rows` data rows: names from many languages, 30 % updates, about
/// 1 % of rows broken the way admins break them, CRLF line ends as Excel writes. Deterministic
/// for a seed.
pub fn write_users(w: &mut impl Write, rows: u64, seed: u64) -> std::io::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let divisions: Vec<String> = (0..8).map(|_| id(&mut rng, "DV_", 15)).collect();
    let types: Vec<String> = (0..4).map(|_| id(&mut rng, "UT_", 15)).collect();
    writeln!(w, "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate")?;
    for n in 0..rows {
        let p = person(&mut rng, n);
        let update = rng.random_bool(0.3);
        let id = if update {
            id(&mut rng, "UR_", 15)
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
