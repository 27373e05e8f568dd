//! The header line: which column holds which template field, and what is wrong with it.
//!
//! A header that is not exactly the template is a file-level error, but the file is still read
//! by column name where the names are recognisable, so that every row problem shows up in the
//! same run (the reading that loses nothing).

use super::{Col, Record, COLUMNS, DIVISION_NAME, USER_TYPE_NAME};
use crate::text::{describe_invisible, find_invisible, invisible_name};
use crate::vocab::rule::{Code, Problem};

/// Where each template column sits in the file's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    pub pos: [Option<usize>; 9],
    /// Fields in the header: the width every record should have.
    pub width: usize,
    /// Positions of the export's name columns, when present.
    pub division_name: Option<usize>,
    pub user_type_name: Option<usize>,
}

impl ColumnMap {
    /// The template layout.
    pub fn template() -> Self {
        ColumnMap {
            pos: std::array::from_fn(Some),
            width: COLUMNS.len(),
            division_name: None,
            user_type_name: None,
        }
    }

    /// A template column's field, untrimmed; empty when the file lacks the column or the
    /// record is short.
    // Called for every field of every row, from the checks in another module.
    #[inline]
    pub fn field<'r>(&self, rec: Record<'r>, col: Col) -> &'r str {
        self.pos[col as usize]
            .and_then(|i| rec.get(i))
            .unwrap_or("")
    }

    /// True when the header is exactly the template.
    pub fn is_template(&self) -> bool {
        *self == ColumnMap::template()
    }
}

/// The outcome of reading the header line.
#[derive(Debug)]
pub struct HeaderAnalysis {
    pub map: ColumnMap,
    pub problems: Vec<Problem>,
    /// The first line holds data, not names: it is checked as the first data row.
    pub header_is_data: bool,
}

/// Spreadsheet name of a 0-based column: 0 → "1 (A)", 27 → "28 (AB)".
pub(super) fn column_label(i: usize) -> String {
    format!("{} ({})", i + 1, column_letters(i))
}

/// Spreadsheet letters of a 0-based column: 0 → "A", 27 → "AB".
pub fn column_letters(i: usize) -> String {
    let mut letters = Vec::new();
    let mut n = i + 1;
    while n > 0 {
        let r = (n - 1) % 26;
        letters.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8_lossy(&letters).into_owned()
}

/// The characters of a column name that count: no spaces, `_ - .`, BOM or invisible
/// characters, in lowercase (no allocation).
fn significant(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !matches!(c, '_' | '-' | '.' | '\u{feff}')
                && invisible_name(*c).is_none()
        })
        .flat_map(char::to_lowercase)
}

/// Whether two column names are the same but for case, spacing and separators.
fn same_name(a: &str, b: &str) -> bool {
    significant(a).eq(significant(b))
}

/// Maps a header record onto the template and lists what differs from it.
pub fn analyze_header(fields: &[&str]) -> HeaderAnalysis {
    let mut map = ColumnMap {
        pos: [None; 9],
        width: fields.len(),
        division_name: None,
        user_type_name: None,
    };
    let mut problems = Vec::new();
    let mut name_columns = Vec::new();
    let mut misspelled = Vec::new();
    for (i, raw) in fields.iter().enumerate() {
        if let Some(t) = COLUMNS.iter().position(|c| same_name(raw, c)) {
            if map.pos[t].is_some() {
                problems.push(Problem::new(
                    Code::ExtraColumn,
                    format!("column {} repeats \"{}\"", column_label(i), COLUMNS[t]),
                ));
                continue;
            }
            map.pos[t] = Some(i);
            if *raw != COLUMNS[t] {
                misspelled.push(format!("{} → {}", shown(raw), COLUMNS[t]));
            }
        } else if same_name(raw, DIVISION_NAME) {
            map.division_name = Some(i);
            name_columns.push(format!("\"{}\" (column {})", raw, column_label(i)));
        } else if same_name(raw, USER_TYPE_NAME) {
            map.user_type_name = Some(i);
            name_columns.push(format!("\"{}\" (column {})", raw, column_label(i)));
        } else if significant(raw).next().is_none() {
            problems.push(Problem::new(
                Code::ExtraColumn,
                format!(
                    "column {} has no name (a stray delimiter at the end of the header?)",
                    column_label(i)
                ),
            ));
        } else {
            problems.push(Problem::new(
                Code::ExtraColumn,
                format!(
                    "column {} \"{}\" is not a template column",
                    column_label(i),
                    raw
                ),
            ));
        }
    }

    let found = map.pos.iter().filter(|p| p.is_some()).count();
    if found == 0 && looks_like_data(fields) {
        // No names at all but values: read positionally and check line 1 as data.
        let positional = ColumnMap {
            pos: std::array::from_fn(|i| (i < fields.len()).then_some(i)),
            width: fields.len(),
            division_name: None,
            user_type_name: None,
        };
        return HeaderAnalysis {
            map: positional,
            problems: vec![Problem::new(
                Code::NoHeader,
                "line 1 holds values, not the column names; read in template order",
            )],
            header_is_data: true,
        };
    }

    if !misspelled.is_empty() {
        problems.push(Problem::new(
            Code::ColumnSpelling,
            format!("rename {}", misspelled.join(", ")),
        ));
    }
    if !name_columns.is_empty() {
        problems.push(Problem::new(
            Code::ExportNameColumns,
            format!(
                "the export's name column{} {} must be removed before import",
                if name_columns.len() > 1 { "s" } else { "" },
                name_columns.join(" and ")
            ),
        ));
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(map.pos.iter())
        .filter(|(_, p)| p.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        problems.push(Problem::new(
            Code::MissingColumn,
            format!(
                "missing column{}: {}",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            ),
        ));
    }
    let present: Vec<(usize, usize)> = map
        .pos
        .iter()
        .enumerate()
        .filter_map(|(t, p)| p.map(|p| (t, p)))
        .collect();
    if present.windows(2).any(|w| w[0].1 > w[1].1) {
        let mut order = present.clone();
        order.sort_by_key(|&(_, p)| p);
        let names: Vec<&str> = order.iter().map(|&(t, _)| COLUMNS[t]).collect();
        problems.push(Problem::new(
            Code::ColumnOrder,
            format!("the columns are in the order {}", names.join(",")),
        ));
    }
    HeaderAnalysis {
        map,
        problems,
        header_is_data: false,
    }
}

/// A header name in quotes, its invisible characters named: `"email" (with U+200B zero-width
/// space)`.
fn shown(raw: &str) -> String {
    match find_invisible(raw) {
        Some(c) => format!(
            "\"{}\" (with {})",
            raw.chars()
                .filter(|c| invisible_name(*c).is_none())
                .collect::<String>(),
            describe_invisible(c)
        ),
        None => format!("\"{raw}\""),
    }
}

fn looks_like_data(fields: &[&str]) -> bool {
    fields.iter().any(|f| {
        let f = f.trim();
        f.contains('@') || f.starts_with("UR_") || f.starts_with("UT_") || f.starts_with("DV_")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(h: &HeaderAnalysis) -> Vec<&'static str> {
        h.problems.iter().map(|p| p.code.id()).collect()
    }

    #[test]
    fn template_header_is_clean() {
        let h = analyze_header(&COLUMNS);
        assert!(h.problems.is_empty());
        assert!(h.map.is_template());
    }

    #[test]
    fn export_header_maps_by_name() {
        let h = analyze_header(&[
            "userID",
            "userName",
            "firstName",
            "lastName",
            "email",
            "divisionId",
            "Division Name",
            "accountType",
            "User Type Name",
            "accountStatus",
            "expirationDate",
        ]);
        assert_eq!(codes(&h), vec!["F12"]);
        assert_eq!(h.map.pos[Col::AccountType as usize], Some(7));
        assert_eq!(h.map.division_name, Some(6));
    }

    #[test]
    fn misspelled_reordered_missing_and_extra() {
        let h = analyze_header(&["User Name", "userID", "firstName", "Dept", ""]);
        assert_eq!(codes(&h), vec!["F09", "F09", "F11", "F08", "F10"]);
    }

    #[test]
    fn data_in_first_line() {
        let h = analyze_header(&["", "a@b.org", "A", "B", "a@b.org", "", "UT_X", "", ""]);
        assert!(h.header_is_data);
        assert_eq!(codes(&h), vec!["F14"]);
    }

    #[test]
    fn invisible_characters_in_names_are_named() {
        let mut names = COLUMNS.to_vec();
        names[4] = "email\u{200b}";
        let h = analyze_header(&names);
        assert_eq!(codes(&h), vec!["F11"]);
        assert!(
            h.problems[0]
                .detail
                .contains("\"email\" (with U+200B zero-width space) → email"),
            "{}",
            h.problems[0].detail
        );
        assert_eq!(h.map.pos[Col::Email as usize], Some(4));
    }

    #[test]
    fn labels() {
        assert_eq!(column_label(0), "1 (A)");
        assert_eq!(column_label(25), "26 (Z)");
        assert_eq!(column_label(27), "28 (AB)");
    }
}
