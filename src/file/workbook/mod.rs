//! Workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods): [`read`] turns one worksheet into the CSV a
//! user file would be, after [`guard`] has bounded the workbook before anything is allocated
//! for it ([`layout`] reads an .xlsx sheet's hidden rows, columns and merged cells, [`xlsb`]
//! walks an .xlsb's records before calamine does); [`write`]
//! writes the workbooks qusers gives out (`template -o`, `export -o`).

mod guard;
mod layout;
mod read;
pub mod write;
mod xlsb;

pub use guard::{MAX_SHEET_CELLS, MAX_SHEET_COLUMNS, MAX_SHEET_ROWS};
pub(crate) use read::reader;
pub use read::{
    is_workbook_bytes, is_workbook_name, read_sheet, CellFact, CellKind, SheetChoice, SheetData,
};
pub use write::{csv_to_workbook, template_workbook, writes_workbook, RULES_SHEET, USERS_SHEET};
