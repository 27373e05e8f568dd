//! The rule catalog: every check qusers makes, with its stable code, severity and fix hint,
//! and a [`Problem`] (one broken rule at one place). Pure data: the file reader, the checks,
//! the reports and the importer all name a rule by its [`Code`], and the checks themselves live
//! in `rules`.
//!
//! Codes are part of the contract (reports, scripts and the README refer to them): once
//! released, a code keeps its meaning. New rules get new codes.

use serde::Serialize;

use super::Col;

/// How bad a broken rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file can still be imported; `--strict` makes it an error.
    Warning,
    /// The row (or, for F rules, the whole file) cannot be imported.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    File,
    Row,
}

macro_rules! rules {
    ($( $variant:ident = $code:literal, $scope:ident, $sev:ident, $fix:literal, $title:literal, $hint:literal; )*) => {
        /// A rule's identity. `Code::X.rule()` gives its metadata.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $variant, )* }

        /// Every rule, in catalog order.
        pub static RULES: &[Rule] = &[
            $( Rule { code: Code::$variant, id: $code, scope: Scope::$scope, severity: Severity::$sev,
                      fixable: $fix, title: $title, hint: $hint }, )*
        ];

        impl Code {
            /// The rule's metadata.
            pub fn rule(self) -> &'static Rule {
                &RULES[self as usize]
            }
            /// The stable code, e.g. `U03`.
            pub fn id(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }
        }
    };
}

/// A rule's metadata as `qusers rules` lists it.
#[derive(Debug, Serialize)]
pub struct Rule {
    #[serde(skip)]
    pub code: Code,
    #[serde(rename = "code")]
    pub id: &'static str,
    pub scope: Scope,
    pub severity: Severity,
    /// `qusers fix` repairs it mechanically.
    pub fixable: bool,
    pub title: &'static str,
    pub hint: &'static str,
}

rules! {
    EmptyFile = "F01", File, Error, false, "the file is empty",
        "export the sheet again — the file must start with the header line userID,userName,…";
    NotText = "F02", File, Error, false, "not a text file",
        "open it in Excel and use File › Save As › CSV UTF-8 (Comma delimited)";
    Utf16 = "F03", File, Warning, true, "UTF-16 text (Excel \"Unicode text\"), Qualtrics wants UTF-8",
        "save as CSV UTF-8, or run `qusers fix` to re-encode";
    LegacyEncoding = "F04", File, Warning, true, "not UTF-8: read in the legacy encoding detected",
        "check the text this message quotes from that line (é, ü, ñ, 山田): if it looks wrong pass --encoding; then save as CSV UTF-8 or run `qusers fix`";
    WrongDelimiter = "F05", File, Error, true, "the file uses another delimiter",
        "save as CSV UTF-8 (Comma delimited), or run `qusers fix`, or pass --delimiter";
    TooLarge = "F06", File, Error, false, "the file is 20 MB or larger",
        "cut it into parts with `qusers split`";
    TooManyRows = "F07", File, Error, false, "100,000 rows or more (header included)",
        "cut it into parts with `qusers split`";
    MissingColumn = "F08", File, Error, false, "a template column is missing",
        "start from `qusers template` and keep all nine columns, even empty ones";
    ExtraColumn = "F09", File, Error, false, "a column that is not in the template",
        "delete the column — the template has exactly nine columns";
    ColumnOrder = "F10", File, Error, true, "the columns are out of order",
        "put the columns in template order: userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate (`qusers fix` does it)";
    ColumnSpelling = "F11", File, Error, true, "a column name differs from the template in case or spacing",
        "rename the column exactly as in the template (`qusers fix` does it)";
    ExportNameColumns = "F12", File, Error, true, "the export's \"Division Name\"/\"User Type Name\" columns are still there",
        "delete those two columns (their ids stay), or run `qusers fix`";
    NoDataRows = "F13", File, Warning, false, "the file has a header but no data rows",
        "add one row per user below the header";
    NoHeader = "F14", File, Error, false, "the first line is data, not the header",
        "insert the header line userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate (`qusers template`)";
    DayFirstFile = "F15", File, Warning, false, "the dates look DD/MM/YYYY, and some can be read either way",
        "if the file is day-first, run `qusers fix --day-first`; otherwise check the dates named";
    FieldCount = "R01", Row, Error, false, "wrong number of fields",
        "a value with a comma needs quotes — an extra or missing delimiter shifts every later column";
    ControlChar = "R02", Row, Error, false, "a control character or line break inside a field",
        "remove the line break or invisible character (Alt+Enter in Excel makes one)";
    EmptyRow = "R03", Row, Warning, false, "a row with no values",
        "delete the empty row — it is skipped";
    InvisibleChar = "R04", Row, Warning, true, "an invisible character (zero-width space, no-break space, …) in a value",
        "delete it: retype the value, or run `qusers fix` (in userName and email it is an error)";
    RepeatedHeader = "R05", Row, Error, true, "the header line again, inside the data",
        "two files pasted together? delete this line (`qusers fix` does)";
    TextPrefix = "R06", Row, Error, true, "a value starts with Excel's text prefix (')",
        "delete the apostrophe: Excel shows it only as a marker, but it was saved into the value (`qusers fix` does)";
    Mojibake = "R08", Row, Warning, true, "garbled accents: UTF-8 text that was read as Windows-1252 and saved again (KrÃ¼ger)",
        "run `qusers fix` to restore the text; next time export with --bom or to .xlsx, or open the CSV in Excel through Data › From Text/CSV with UTF-8";
    TooLong = "R07", Row, Error, false, "a value longer than Qualtrics holds (255 characters)",
        "shorten it to at most 255 characters";
    UserNameMissing = "U01", Row, Error, false, "userName missing on a new user",
        "give every new user a username shaped like an email address";
    UserNameShape = "U02", Row, Error, false, "userName is not shaped like an email address",
        "write it as name@domain.tld: one @, no spaces, a dot in the domain";
    UserNameSymbol = "U03", Row, Error, false, "a forbidden symbol in userName",
        "remove it — Qualtrics forbids = ; ~ ! & * % { } < > [ ] | \\ \" ^ (a +tag such as joel+1@demo.com is allowed)";
    UserNameDuplicate = "U04", Row, Error, false, "the same userName as an earlier row",
        "usernames are unique regardless of case: keep one row, or tag one as name+1@domain";
    UserNameTaken = "U05", Row, Error, false, "userName already taken in the instance",
        "use another username (name+1@domain), or update the existing user with its userID";
    SsoSuffixMissing = "U06", Row, Error, true, "userName lacks the SSO brand's #brandId suffix",
        "on this SSO brand usernames end in #brandId: append it (`qusers fix --sso-brand ID` does it)";
    SsoUserNameShape = "U07", Row, Error, false, "the part of an SSO userName before #brandId is empty or has a blank",
        "write the person's SSO login before #brandId, with no spaces (e.g. jdoe@univ.edu#univ)";
    UserIdFormat = "I01", Row, Error, false, "userID is not UR_ followed by 11-15 letters or digits",
        "leave userID empty for a new user — for an update copy the id from an export, unedited";
    UserIdDuplicate = "I02", Row, Error, false, "the same userID as an earlier row",
        "keep one row per user: merge the two rows";
    UserIdUnknown = "I03", Row, Error, false, "userID not found in the instance",
        "take the id from a fresh export, or empty it to create a new user";
    FirstNameMissing = "N01", Row, Error, false, "firstName missing on a new user",
        "fill in the first name";
    LastNameMissing = "N02", Row, Error, false, "lastName missing on a new user",
        "fill in the last name";
    NameSymbol = "N03", Row, Error, false, "a forbidden symbol in firstName or lastName",
        "remove it — Qualtrics forbids = ; ~ ! & * % { } < > [ ] | \\ \" ^ in user fields";
    EmailMissing = "N04", Row, Error, false, "email missing on a new user",
        "fill in a working email address";
    EmailShape = "N05", Row, Error, false, "email is not a valid address",
        "write it as name@domain.tld: one @, no spaces, a dot in the domain";
    AccountTypeMissing = "A01", Row, Error, false, "accountType missing on a new user",
        "fill in a user type id (UT_…) — an export shows the ids in use";
    AccountTypeFormat = "A02", Row, Error, false, "accountType is not a user type id (UT_…)",
        "use the id (UT_…), not the user type's name — an export shows the ids in use";
    DivisionFormat = "A03", Row, Error, false, "divisionId is not a division id (DV_…)",
        "use the id (DV_…), not the division's name, or leave it empty";
    StatusValue = "A04", Row, Error, false, "accountStatus is not active or disabled",
        "write active or disabled (or leave it empty)";
    StatusSynonym = "A05", Row, Warning, true, "accountStatus synonym (enabled/inactive, or another language's word such as Aktiviert)",
        "write active or disabled — `qusers fix` maps the synonyms";
    DivisionUnknown = "A06", Row, Warning, false, "divisionId not used by any user of the instance",
        "check the id under Admin › Divisions (the list seen among existing users may be incomplete)";
    AccountTypeUnknown = "A07", Row, Warning, false, "accountType not used by any user of the instance",
        "check the id under Admin › User Types (the list seen among existing users may be incomplete)";
    DivisionNotFound = "A08", Row, Error, false, "divisionId does not exist in the instance",
        "take the division id from Admin › Divisions or from an export";
    DateFormat = "D01", Row, Error, false, "expirationDate is not MM/DD/YYYY",
        "write the date as MM/DD/YYYY, e.g. 12/31/2027, or leave it empty";
    DateImpossible = "D02", Row, Error, false, "expirationDate is not a real date",
        "check month and day: 02/30 and 02/29 of a non-leap year do not exist";
    DateIso = "D03", Row, Error, true, "expirationDate is YYYY-MM-DD",
        "write it as MM/DD/YYYY (`qusers fix` converts it)";
    DateDayFirst = "D04", Row, Error, false, "expirationDate looks like DD/MM/YYYY",
        "swap day and month: the file wants MM/DD/YYYY (`qusers fix --day-first` converts a DD/MM file)";
    DatePast = "D05", Row, Warning, false, "expirationDate is in the past",
        "the account would expire at once: give a future date or leave it empty";
    DateUnpadded = "D06", Row, Error, true, "expirationDate month or day has one digit",
        "write two digits each, e.g. 03/04/2027 (`qusers fix` pads it)";
    Whitespace = "W01", Row, Warning, true, "leading or trailing spaces",
        "delete the spaces around the value (`qusers fix` trims them)";
    UpdateUserName = "W02", Row, Warning, false, "an update row changes userName",
        "bulk update ignores userName: it stays as in the instance";
    UpdateEmail = "W03", Row, Warning, false, "an update row changes email",
        "bulk update ignores email: it stays as in the instance";
    SheetDateCell = "S01", Row, Warning, false, "a date cell in the spreadsheet",
        "it was read as MM/DD/YYYY; Excel's own CSV would write the computer's date format — format the column as Text and type MM/DD/YYYY";
    SheetErrorCell = "S02", Row, Error, false, "an error cell (#N/A, #REF!, …) in the spreadsheet",
        "the formula of that cell failed: fix it, or paste the values you mean";
    SheetBoolCell = "S03", Row, Warning, false, "a TRUE/FALSE cell in the spreadsheet",
        "no template column holds TRUE/FALSE: check the value (format the column as Text)";
    SepLine = "F16", File, Warning, true, "the file starts with Excel's \"sep=\" line",
        "delete the first line (sep=…), or run `qusers fix`: Qualtrics would read it as the header";
    HeaderTooLong = "F17", File, Error, false, "the header is longer than 1 MiB",
        "this is not a user file, or its first line is broken: start from `qusers template`";
    EncodingUnsure = "F18", File, Error, false, "not UTF-8, and the encoding cannot be told for sure",
        "pass the right encoding with --encoding (the message names the likely ones and how names read in each), or save the file from Excel as CSV UTF-8";
    LegacyField = "F19", Row, Warning, true, "a field not in UTF-8 like the rest of the file",
        "Excel saved this value in the computer's code page: check it reads right, then save the file as CSV UTF-8 or run `qusers fix`";
    RecordTooLong = "R09", Row, Error, false, "a line longer than 1 MiB",
        "no user's values are this long: look at the line (a quote that never closes?); it was skipped";
    DamagedText = "T01", Row, Error, false, "an update would write a garbled copy of the value in Qualtrics (KrÃ¼ger, Dvo?ák)",
        "keep the value Qualtrics has (empty the cell, or copy it from a fresh export); save the file as CSV UTF-8 or .xlsx; pass --allow-damaged-text only if the new text is really meant";
    LostText = "T02", Row, Error, false, "a C1 control character (U+0080–U+009F) or U+FFFD in a value: text lost in a conversion",
        "retype the value, or export again and save the file as CSV UTF-8 or .xlsx (a wrong encoding left this character)";
    ScientificNumber = "T03", Row, Error, false, "a userName, userID or email in Excel's scientific notation (2.02312E+11)",
        "Excel turned a long number into 2.02312E+11 and dropped its last digits: format the column as Text and type the values again (`qusers template -o x.xlsx` gives such a workbook)";
    SheetTooBig = "F23", File, Error, false, "a workbook larger than any user file (used area, cells, parts, a zip bomb, a huge string)",
        "a user file has under 100,000 rows and about 10 columns: copy the users' rows into a new workbook (`qusers template -o users.xlsx`), or save the sheet as CSV UTF-8; nothing of it was read";
    SheetEmpty = "F24", File, Error, false, "the sheet read is empty; the users are on another sheet",
        "pass --sheet with the name of the sheet that holds the users (or move that sheet to the front)";
    HiddenRows = "F25", File, Warning, false, "hidden rows in the sheet",
        "hidden rows are left out unless --include-hidden is given: unhide them in Excel (select the rows around them, right-click › Unhide) to see what they hold";
    HiddenColumns = "F26", File, Warning, false, "hidden columns in the sheet",
        "their values were read: unhide them in Excel (right-click the column letters › Unhide) to check what is imported";
    SheetMerged = "S04", Row, Error, false, "a merged cell: the value is only in the range's first cell",
        "unmerge the cells (Home › Merge & Center › Unmerge Cells) and fill the value into every row that needs it";
    SheetNumberId = "S05", Row, Error, false, "a userName, userID or email in a number cell",
        "format the column as Text (select it, Format Cells › Text) and type or paste the ids again as they are; `qusers template -o users.xlsx` gives a workbook whose columns are Text";
    QuoteAcrossLines = "R10", Row, Error, false, "a quote opens on this line and never closes",
        "close the quote or delete it: the line was read with its quotes as characters, and the lines after it as rows of their own";
    MapUnknownColumn = "M01", File, Error, false, "the sync map names a column the roster does not have",
        "correct the column name in MAP.toml (names are matched exactly, then ignoring case and spaces), or run `qusers sync --init-map ROSTER` to see the roster's columns";
    MapValueMissing = "M02", Row, Error, false, "a roster value missing from the map's table, and the table has no default",
        "add the value to the table in MAP.toml, or give the table a `default`";
    MapEmptyUserName = "M03", Row, Error, false, "the roster column the userName is made from is empty",
        "fill the column in the roster's source system: without a username the row cannot be matched";
    MapBadDate = "M04", Row, Error, false, "a roster date the map's format cannot read",
        "correct the date in the roster, or the `format` in MAP.toml (strftime codes, e.g. %Y-%m-%d)";
    MapBadFile = "M05", File, Error, false, "the sync map cannot be used",
        "correct MAP.toml as the message says (fields are the template columns but userID and accountStatus)";
}

impl Code {
    /// The one template column a row rule is about, when there is one.
    pub fn column(self) -> Option<Col> {
        Some(match self {
            Code::UserNameMissing
            | Code::UserNameShape
            | Code::UserNameSymbol
            | Code::UserNameDuplicate
            | Code::UserNameTaken
            | Code::SsoSuffixMissing
            | Code::SsoUserNameShape
            | Code::UpdateUserName => Col::UserName,
            Code::UserIdFormat | Code::UserIdDuplicate | Code::UserIdUnknown => Col::UserId,
            Code::FirstNameMissing => Col::FirstName,
            Code::LastNameMissing => Col::LastName,
            Code::EmailMissing | Code::EmailShape | Code::UpdateEmail => Col::Email,
            Code::AccountTypeMissing | Code::AccountTypeFormat | Code::AccountTypeUnknown => {
                Col::AccountType
            }
            Code::DivisionFormat | Code::DivisionUnknown | Code::DivisionNotFound => {
                Col::DivisionId
            }
            Code::StatusValue | Code::StatusSynonym => Col::AccountStatus,
            // Named with the cell by the sheet itself (see `file::SheetData::annotate`).
            Code::SheetNumberId | Code::SheetMerged => return None,
            Code::DateFormat
            | Code::DateImpossible
            | Code::DateIso
            | Code::DateDayFirst
            | Code::DatePast
            | Code::DateUnpadded => Col::ExpirationDate,
            _ => return None,
        })
    }
}

/// One broken rule at one place, with the details that make the message specific.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    /// What exactly is wrong here, e.g. `userName "a!b@x.org": '!' at position 2`.
    pub detail: String,
}

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: detail.into(),
        }
    }

    /// Severity after `--strict`.
    pub fn severity(&self, strict: bool) -> Severity {
        if strict {
            Severity::Error
        } else {
            self.code.rule().severity
        }
    }

    /// The message as reports show it: what is wrong, then how to fix it.
    pub fn message(&self) -> String {
        let mut s = String::new();
        self.write_message(&mut s);
        s
    }

    /// Appends [`Problem::message`] to `out` (a row's messages go into one string).
    pub fn write_message(&self, out: &mut String) {
        let hint = self.code.rule().hint;
        let parts = [self.code.id(), ": ", &self.detail, " (fix: ", hint, ")"];
        out.reserve(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            out.push_str(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_index_matches_enum_and_codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.code as usize, i);
            assert_eq!(rule.code.id(), rule.id);
            assert!(seen.insert(rule.id), "duplicate code {}", rule.id);
            let family = &rule.id[..1];
            // F19 is the one row rule of the F family: it names a field of a file whose
            // encoding is mixed (the file's encoding is F-family business). The sync map's
            // file-level findings are M rules.
            let file_level =
                (family == "F" && rule.id != "F19") || ["M01", "M05"].contains(&rule.id);
            assert_eq!(rule.scope == Scope::File, file_level, "{}", rule.id);
        }
    }
}
