//! Workbooks that Excel cannot mangle: every column of the user sheet is formatted as Text (so
//! Excel keeps `03/04/2027`, ids, leading zeros and `+tag` usernames as typed), the header row is
//! frozen, accountStatus offers a list (`active`, `disabled`), and a second sheet holds the rules.
//! Written by `template -o users.xlsx` and `export -o users.xlsx`; read back by [`super::read`].

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{DataValidation, Format, Workbook, XlsxError};

use crate::file::{Col, COLUMNS};
use crate::vocab::rule::{Scope, RULES};

/// The sheet that holds the users.
pub const USERS_SHEET: &str = "Users";
/// The sheet that explains the columns and rules.
pub const RULES_SHEET: &str = "Rules";

/// Whether a path asks for a workbook to be written: `.xlsx`; `Err` for workbook formats that
/// can be read but not written.
pub fn writes_workbook(path: &Path) -> Result<bool, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xlsx" => Ok(true),
        "xls" | "xlsm" | "xlsb" | "ods" => Err(format!(
            "{}: qusers writes workbooks as .xlsx only (or CSV/TSV)",
            path.display()
        )),
        _ => Ok(false),
    }
}

/// What each template column holds, for the rules sheet.
fn column_rule(col: Col) -> &'static str {
    match col {
        Col::UserId => "empty for a new user; for an update the id from an export (UR_…), unedited",
        Col::UserName => {
            "a new user's username, shaped like an email address (on an SSO brand ending in #brandId); unique in any case; ignored on updates"
        }
        Col::FirstName => "required for a new user",
        Col::LastName => "required for a new user",
        Col::Email => "required for a new user: a working address; ignored on updates",
        Col::DivisionId => "a division id (DV_…), or empty",
        Col::AccountType => "a user type id (UT_…), required for a new user",
        Col::AccountStatus => "active or disabled (the list in the cell), or empty",
        Col::ExpirationDate => "MM/DD/YYYY, e.g. 12/31/2027, or empty",
    }
}

/// Writes the CSV `csv` (UTF-8, comma-delimited, header first: what `export` writes) as a
/// workbook to `out`.
pub fn csv_to_workbook(csv: &[u8], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for rec in rdr.records() {
        rows.push(rec?.iter().map(String::from).collect());
    }
    let bytes = build(&rows).map_err(|e| anyhow::anyhow!("cannot build the workbook: {e}"))?;
    out.write_all(&bytes)?;
    Ok(())
}

/// The blank template as a workbook.
pub fn template_workbook(out: &mut dyn Write) -> anyhow::Result<()> {
    let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    let bytes = build(&[header]).map_err(|e| anyhow::anyhow!("cannot build the workbook: {e}"))?;
    out.write_all(&bytes)?;
    Ok(())
}

/// The workbook of `rows` (the first is the header).
fn build(rows: &[Vec<String>]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let text = Format::new().set_num_format_index(49);
    let head = Format::new().set_num_format_index(49).set_bold();
    let width = rows.first().map_or(COLUMNS.len(), Vec::len).max(1);
    let header: &[String] = rows.first().map_or(&[], Vec::as_slice);

    let ws = wb.add_worksheet();
    ws.set_name(USERS_SHEET)?;
    for c in 0..width {
        let c = c as u16;
        ws.set_column_format(c, &text)?;
        ws.set_column_width(c, 22)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let format = if r == 0 { &head } else { &text };
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                ws.write_string_with_format(r as u32, c as u16, value, format)?;
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    if let Some(status) = header.iter().position(|h| h == Col::AccountStatus.name()) {
        let list = DataValidation::new()
            .allow_list_strings(&["active", "disabled"])?
            .set_input_title("accountStatus")?
            .set_input_message("active or disabled, or empty")?;
        ws.add_data_validation(1, status as u16, 1_048_575, status as u16, &list)?;
    }

    let rules = wb.add_worksheet();
    rules.set_name(RULES_SHEET)?;
    let bold = Format::new().set_bold();
    rules.set_column_width(0, 18)?;
    rules.set_column_width(1, 10)?;
    rules.set_column_width(2, 60)?;
    rules.set_column_width(3, 90)?;
    rules.write_string_with_format(
        0,
        0,
        "Qualtrics user import: keep the columns of the Users sheet as they are (formatted as Text); save as .xlsx, or as CSV UTF-8 for the Qualtrics upload page. `qusers validate` checks every rule below.",
        &bold,
    )?;
    rules.write_string_with_format(2, 0, "column", &bold)?;
    rules.write_string_with_format(2, 2, "what it holds", &bold)?;
    let mut r = 3u32;
    for col in Col::ALL {
        rules.write_string(r, 0, col.name())?;
        rules.write_string(r, 2, column_rule(col))?;
        r += 1;
    }
    r += 1;
    for (c, h) in ["rule", "severity", "what it checks", "how to fix it"]
        .iter()
        .enumerate()
    {
        rules.write_string_with_format(r, c as u16, *h, &bold)?;
    }
    r += 1;
    for rule in RULES.iter().filter(|r| r.scope == Scope::Row) {
        rules.write_string(r, 0, rule.id)?;
        rules.write_string(r, 1, rule.severity.as_str())?;
        rules.write_string(r, 2, rule.title)?;
        rules.write_string(r, 3, rule.hint)?;
        r += 1;
    }
    wb.save_to_buffer()
}
