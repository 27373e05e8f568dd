//! `--map MAP.toml`: how a roster's own columns become the template's fields. Each field is a
//! template (`"{NetID}@univ.edu"`, fallbacks `"{Preferred Name|First Name}"`), or a table with a
//! `column` and either a date `format` (read with strftime codes, written MM/DD/YYYY) or a
//! `values` table with an optional `default`. Without a map the roster is in the template
//! layout. `qusers sync --init-map` writes a starting map from the roster's header.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::roster::Roster;
use crate::file::Col;
use crate::rules::{Code, Problem};

/// The map file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    fields: BTreeMap<String, FieldSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldSpec {
    Template(String),
    Table(TableSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableSpec {
    column: Option<String>,
    template: Option<String>,
    format: Option<String>,
    values: Option<BTreeMap<String, String>>,
    default: Option<String>,
}

/// A piece of a template: literal text, or the first non-empty of some columns.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    /// Column indexes and names, in fallback order.
    Columns(Vec<(usize, String)>),
}

/// How one field is made.
#[derive(Clone, Debug)]
enum Rule {
    Template(Vec<Piece>),
    Date {
        column: (usize, String),
        format: String,
    },
    Values {
        column: (usize, String),
        values: BTreeMap<String, String>,
        default: Option<String>,
    },
}

/// A map resolved against a roster's header.
#[derive(Clone, Debug)]
pub struct Map {
    rules: Vec<(Col, Rule)>,
}

/// The fields a map may make: the template's, but the id (how a user is found) and the status
/// (which the sync decides: active, or retired after the grace period).
const MAPPABLE: [Col; 7] = [
    Col::UserName,
    Col::FirstName,
    Col::LastName,
    Col::Email,
    Col::DivisionId,
    Col::AccountType,
    Col::ExpirationDate,
];

impl Map {
    /// The template layout: each template column from the column of that name.
    pub fn identity(roster: &Roster) -> Result<Map, Problem> {
        let mut rules = Vec::new();
        for col in MAPPABLE {
            if let Some(i) = roster.column(col.name()) {
                rules.push((
                    col,
                    Rule::Template(vec![Piece::Columns(vec![(i, col.name().to_string())])]),
                ));
            }
        }
        if !rules.iter().any(|(c, _)| *c == Col::UserName) {
            return Err(Problem::new(
                Code::MapUnknownColumn,
                format!(
                    "without --map the roster must have a userName column; its columns are {}",
                    list(&roster.header)
                ),
            ));
        }
        Ok(Map { rules })
    }

    /// Parses `text` (the map file `name`) against `roster`'s header. An unknown column is M01;
    /// anything else wrong with the map is M05.
    pub fn parse(name: &str, text: &str, roster: &Roster) -> Result<Map, Problem> {
        let bad = |detail: String| Problem::new(Code::MapBadFile, format!("{name}: {detail}"));
        let file: MapFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let column = |field: &str, c: &str| -> Result<(usize, String), Problem> {
            roster.column(c).map(|i| (i, c.to_string())).ok_or_else(|| {
                Problem::new(
                    Code::MapUnknownColumn,
                    format!(
                        "{name}: {field} uses the column \"{c}\", which {} does not have; its columns are {}",
                        roster.name,
                        list(&roster.header)
                    ),
                )
            })
        };
        let mut rules = Vec::new();
        for (field, spec) in &file.fields {
            let Some(col) = MAPPABLE
                .iter()
                .copied()
                .find(|c| c.name().eq_ignore_ascii_case(field))
            else {
                let why = match field.to_ascii_lowercase().as_str() {
                    "userid" => "users are matched by userName; the id is Qualtrics' own",
                    "accountstatus" => {
                        "the sync decides the status (active, or retired after the grace period)"
                    }
                    _ => "not a template field",
                };
                return Err(bad(format!(
                    "[fields] {field}: {why}; fields a map sets: {}",
                    MAPPABLE.map(Col::name).join(", ")
                )));
            };
            let rule = match spec {
                FieldSpec::Template(t) => Rule::Template(template(t, field, &column, &bad)?),
                FieldSpec::Table(t) => match (&t.column, &t.template, &t.format, &t.values) {
                    (None, Some(tpl), None, None) if t.default.is_none() => {
                        Rule::Template(template(tpl, field, &column, &bad)?)
                    }
                    (Some(c), None, Some(f), None) if t.default.is_none() => {
                        if col != Col::ExpirationDate {
                            return Err(bad(format!(
                                "{field}: a date format is for expirationDate only"
                            )));
                        }
                        Rule::Date {
                            column: column(field, c)?,
                            format: f.clone(),
                        }
                    }
                    (Some(c), None, None, Some(v)) => Rule::Values {
                        column: column(field, c)?,
                        values: v.clone(),
                        default: t.default.clone(),
                    },
                    (Some(c), None, None, None) => Rule::Template(vec![Piece::Columns(vec![
                        column(field, c)?,
                    ])]),
                    _ => {
                        return Err(bad(format!(
                            "{field}: give a template string, or {{ column = \"…\" }} with either format = \"%Y-%m-%d\" or values = {{ … }} and an optional default"
                        )))
                    }
                },
            };
            rules.push((col, rule));
        }
        // Problems come in the template's column order.
        rules.sort_by_key(|(c, _)| *c as usize);
        if !rules.iter().any(|(c, _)| *c == Col::UserName) {
            return Err(bad(
                "[fields] has no userName: the roster's users are matched by it".into(),
            ));
        }
        Ok(Map { rules })
    }

    /// The template fields of the record on `line`, and what went wrong making them (each
    /// naming the line and the roster column).
    pub fn apply(&self, line: u64, fields: &[String]) -> ([String; 9], Vec<Problem>) {
        let mut out: [String; 9] = Default::default();
        let mut problems = Vec::new();
        let cell = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
        for (col, rule) in &self.rules {
            let value = match rule {
                Rule::Template(pieces) => {
                    let mut s = String::new();
                    let mut empty = None;
                    for p in pieces {
                        match p {
                            Piece::Text(t) => s.push_str(t),
                            Piece::Columns(cols) => {
                                match cols.iter().map(|(i, _)| cell(*i)).find(|v| !v.is_empty()) {
                                    Some(v) => s.push_str(v),
                                    None => {
                                        empty.get_or_insert_with(|| {
                                            cols.iter()
                                                .map(|(_, n)| format!("\"{n}\""))
                                                .collect::<Vec<_>>()
                                                .join(" and ")
                                        });
                                    }
                                }
                            }
                        }
                    }
                    match empty {
                        // A template with a part missing makes no value: the field is left empty.
                        Some(names) => {
                            if *col == Col::UserName {
                                problems.push(Problem::new(
                                    Code::MapEmptyUserName,
                                    format!("line {line}: column {names} is empty, so no userName"),
                                ));
                            }
                            String::new()
                        }
                        None => s,
                    }
                }
                Rule::Date {
                    column: (i, name),
                    format,
                } => {
                    let v = cell(*i);
                    if v.is_empty() {
                        String::new()
                    } else {
                        match jiff::civil::Date::strptime(format, v) {
                            Ok(d) => format!("{:02}/{:02}/{:04}", d.month(), d.day(), d.year()),
                            Err(_) => {
                                problems.push(Problem::new(
                                    Code::MapBadDate,
                                    format!(
                                        "line {line}, column \"{name}\": \"{v}\" is not a date in the format {format}"
                                    ),
                                ));
                                String::new()
                            }
                        }
                    }
                }
                Rule::Values {
                    column: (i, name),
                    values,
                    default,
                } => {
                    let v = cell(*i);
                    let found = values.get(v).or_else(|| {
                        values
                            .iter()
                            .find(|(k, _)| k.trim().eq_ignore_ascii_case(v))
                            .map(|(_, x)| x)
                    });
                    match (found, default) {
                        (Some(x), _) => x.clone(),
                        (None, Some(d)) => d.clone(),
                        (None, None) => {
                            problems.push(Problem::new(
                                Code::MapValueMissing,
                                format!(
                                    "line {line}, column \"{name}\": \"{v}\" is not in the {} table ({})",
                                    col.name(),
                                    list(&values.keys().cloned().collect::<Vec<_>>())
                                ),
                            ));
                            String::new()
                        }
                    }
                }
            };
            out[*col as usize] = value;
        }
        (out, problems)
    }
}

/// Finds a roster column for a field: (index, name), or the M01 problem.
type ColumnOf<'a> = dyn Fn(&str, &str) -> Result<(usize, String), Problem> + 'a;

/// Parses a template: `{A}` or `{A|B}` placeholders in literal text.
fn template(
    t: &str,
    field: &str,
    column: &ColumnOf<'_>,
    bad: &dyn Fn(String) -> Problem,
) -> Result<Vec<Piece>, Problem> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(bad(format!("{field} = \"{t}\": a {{ without its }}")));
        };
        let inner = &rest[open + 1..open + close];
        let mut cols = Vec::new();
        for name in inner.split('|').map(str::trim) {
            if name.is_empty() {
                return Err(bad(format!(
                    "{field} = \"{t}\": an empty column name in {{}}"
                )));
            }
            cols.push(column(field, name)?);
        }
        pieces.push(Piece::Columns(cols));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(bad(format!("{field} = \"{t}\": a }} without its {{")));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a new map at `path` (`--init-map PATH`): never over an existing file, and never
/// through a link planted at the name (the file is created with `O_EXCL`, through [`crate::fsx`]).
pub fn write_new_map(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let exists = || {
        anyhow::anyhow!(
            "{} exists: --init-map does not overwrite a map",
            path.display()
        )
    };
    if path.exists() {
        return Err(exists());
    }
    let mut file = match crate::fsx::open(path, crate::fsx::Open::CreateNew) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        r => r.with_context(|| format!("cannot write {}", path.display()))?,
    };
    (file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A starting map for `roster`: the columns whose names say what they hold, the rest as
/// comments to fill in.
pub fn init_map(roster: &Roster) -> String {
    let find = |names: &[&str]| -> Option<String> {
        names
            .iter()
            .find_map(|n| roster.column(n).map(|i| roster.header[i].clone()))
    };
    let mut out = String::from(
        "# qusers sync map: how this roster's columns become Qualtrics user fields.\n\
         # Templates: \"{Column}\", fallbacks \"{Preferred Name|First Name}\", literal text around them.\n\
         # Tables: { column = \"Role\", values = { Student = \"UT_…\" }, default = \"UT_…\" }\n\
         # Dates:  { column = \"End Date\", format = \"%Y-%m-%d\" } (written MM/DD/YYYY)\n\
         # Check it with: qusers sync ROSTER --map MAP.toml --dry-run\n\n[fields]\n",
    );
    let mut line = |field: &str, value: Option<String>, hint: &str| match value {
        Some(v) => out.push_str(&format!("{field} = {v}\n")),
        None => out.push_str(&format!("# {field} = {hint}\n")),
    };
    let q = |c: String| format!("\"{{{c}}}\"");
    let user = find(&["userName", "username", "user name", "login"]).map(q);
    let email = find(&["email", "e-mail", "email address", "mail"]);
    let user = user.or_else(|| {
        let id = find(&[
            "NetID",
            "net id",
            "uid",
            "login id",
            "user id",
            "sAMAccountName",
        ]);
        id.map(|c| {
            format!("\"{{{c}}}@EXAMPLE.EDU\"  # your domain (SSO brands: \"{{{c}}}#BRANDID\")")
        })
    });
    let user = user.or_else(|| email.clone().map(q));
    line("userName", user, "\"{NetID}@example.edu\"");
    let first = match (
        find(&["preferred name", "preferred first name", "nickname"]),
        find(&[
            "firstName",
            "first name",
            "given name",
            "givenName",
            "forename",
        ]),
    ) {
        (Some(p), Some(f)) => Some(format!("\"{{{p}|{f}}}\"")),
        (p, f) => p.or(f).map(q),
    };
    line("firstName", first, "\"{First Name}\"");
    line(
        "lastName",
        find(&["lastName", "last name", "surname", "family name", "sn"]).map(q),
        "\"{Last Name}\"",
    );
    line("email", email.map(q), "\"{Email}\"");
    let table = |c: String, what: &str| {
        let mut seen: Vec<String> = Vec::new();
        if let Some(i) = roster.column(&c) {
            for (_, r) in &roster.records {
                if let Some(v) = r.get(i).filter(|v| !v.is_empty()) {
                    if !seen.contains(v) && seen.len() < 20 {
                        seen.push(v.clone());
                    }
                }
            }
        }
        let values: Vec<String> = seen
            .iter()
            .map(|v| format!("\"{}\" = \"{what}_…\"", v.replace('"', "\\\"")))
            .collect();
        format!(
            "{{ column = \"{c}\", values = {{ {} }} }}  # fill in the {what}_ ids",
            values.join(", ")
        )
    };
    line(
        "accountType",
        find(&["accountType", "role", "user type", "type", "affiliation"]).map(|c| table(c, "UT")),
        "{ column = \"Role\", values = { Student = \"UT_…\" }, default = \"UT_…\" }",
    );
    line(
        "divisionId",
        find(&[
            "divisionId",
            "department",
            "division",
            "dept",
            "faculty",
            "school",
        ])
        .map(|c| table(c, "DV")),
        "{ column = \"Department\", values = { Biology = \"DV_…\" } }",
    );
    line(
        "expirationDate",
        find(&[
            "expirationDate",
            "expiration date",
            "end date",
            "graduation",
            "expiry",
        ])
        .map(|c| {
            format!("{{ column = \"{c}\", format = \"%Y-%m-%d\" }}  # the roster's date format")
        }),
        "{ column = \"End Date\", format = \"%Y-%m-%d\" }",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        Roster {
            name: "students.csv".into(),
            header: [
                "NetID",
                "Preferred Name",
                "First Name",
                "Last Name",
                "Role",
                "Graduation",
            ]
            .map(String::from)
            .to_vec(),
            ..Roster::default()
        }
    }

    const MAP: &str = r#"
[fields]
userName  = "{NetID}@univ.edu"
firstName = "{Preferred Name|First Name}"
lastName  = "{Last Name}"
expirationDate = { column = "Graduation", format = "%Y-%m-%d" }
accountType = { column = "Role", values = { Student = "UT_student" }, default = "UT_other" }
divisionId = { column = "Role", values = { Staff = "DV_staff" } }
"#;

    fn row(v: [&str; 6]) -> Vec<String> {
        v.map(String::from).to_vec()
    }

    #[test]
    fn templates_fallbacks_tables_and_dates_make_the_fields() {
        let m = Map::parse("map.toml", MAP, &roster()).expect("parses");
        let (f, p) = m.apply(2, &row(["ab1", "", "Ann", "Lee", "Staff", "2027-06-30"]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(f[Col::UserName as usize], "ab1@univ.edu");
        assert_eq!(f[Col::FirstName as usize], "Ann");
        assert_eq!(f[Col::AccountType as usize], "UT_other");
        assert_eq!(f[Col::DivisionId as usize], "DV_staff");
        assert_eq!(f[Col::ExpirationDate as usize], "06/30/2027");
        let (f, _) = m.apply(3, &row(["cd2", "Cat", "Catherine", "Lee", "student", ""]));
        assert_eq!(f[Col::FirstName as usize], "Cat");
        assert_eq!(f[Col::AccountType as usize], "UT_student");
    }

    #[test]
    fn mapping_errors_name_the_line_and_the_column() {
        let m = Map::parse("map.toml", MAP, &roster()).expect("parses");
        let (_, p) = m.apply(7, &row(["", "", "Ann", "Lee", "Dean", "30/06/2027"]));
        let codes: Vec<&str> = p.iter().map(|p| p.code.id()).collect();
        assert_eq!(codes, ["M03", "M02", "M04"]);
        assert!(p[0].detail.contains("line 7") && p[0].detail.contains("NetID"));
        assert!(p[1].detail.contains("\"Dean\"") && p[1].detail.contains("\"Role\""));
        assert!(p[2].detail.contains("\"Graduation\""));

        let e = Map::parse(
            "map.toml",
            "[fields]\nuserName = \"{Net ID2}@x.org\"\n",
            &roster(),
        )
        .expect_err("unknown column");
        assert_eq!(e.code, Code::MapUnknownColumn);
        assert!(e.detail.contains("Net ID2"), "{}", e.detail);
        let e = Map::parse(
            "map.toml",
            "[fields]\naccountStatus = \"{Role}\"\n",
            &roster(),
        )
        .expect_err("status is the sync's");
        assert_eq!(e.code, Code::MapBadFile);
    }

    #[test]
    fn the_starting_map_guesses_the_obvious_columns_and_parses() {
        let text = init_map(&roster());
        assert!(
            text.contains("userName = \"{NetID}@EXAMPLE.EDU\""),
            "{text}"
        );
        assert!(
            text.contains("firstName = \"{Preferred Name|First Name}\""),
            "{text}"
        );
        assert!(text.contains("column = \"Graduation\""), "{text}");
        Map::parse("init.toml", &text, &roster()).expect("the starting map is a map");
    }
}
