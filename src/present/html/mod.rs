//! Self-contained HTML reports for people: one file with its styles, its small script and its
//! charts inline, that opens from an email attachment or a shared drive.
//!
//! Nothing on the page is fetched: a Content-Security-Policy allows no network at all and only
//! the page's own script (by hash), so even a cell that slipped past escaping could not run.
//! Every value that comes from a file or a server goes through [`Esc`].
//!
//! Pages are rendered at the end, when the summary is known, from rows collected as the work
//! proceeds. Only the first [`EMBEDDED_ROWS`] problem rows are embedded (the page stays light);
//! every row goes to a CSV report next to the page, written as the work proceeds.

mod import;

pub use import::{render_import, write_import, FieldChange, ImportPage, ImportRow};

use std::fmt::{self, Write as _};
use std::io;

use crate::numfmt::{count, plural};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::file::{Col, MAX_BYTES, MAX_ROWS};
use crate::report::{ReportKind, ReportSink, ReportWriter};
use crate::rules::{Problem, Severity, RULES};
use crate::validate::{CheckedRow, FileSummary, RowEncoder, RowSink};
use crate::vocab::row::{RowRef, Verdict};

/// Problem rows embedded in a page; the rest are counted and left to the CSV report.
pub const EMBEDDED_ROWS: usize = 1000;

/// Whether two paths name the same file (the second may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let parent = p
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// Displays a string HTML-escaped (safe in text and in quoted attributes).
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    /// HTML-escaped, and every character that would not show (Unicode format characters such
    /// as the right-to-left override, blank-looking letters, control characters) written as a
    /// visible marker, `⟨U+202E⟩`: a value on the page cannot display as another. Tabs and
    /// line ends stay as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let bytes = s.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let rep = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                b'\t' | b'\n' | b'\r' => {
                    i += 1;
                    continue;
                }
                0..0x20 | 0x7F => {
                    f.write_str(&s[start..i])?;
                    write!(f, "⟨U+{b:04X}⟩")?;
                    i += 1;
                    start = i;
                    continue;
                }
                0x80.. => {
                    let c = s[i..].chars().next().unwrap_or('\u{FFFD}');
                    let len = c.len_utf8();
                    if c.is_control() || crate::text::invisible_name(c).is_some() {
                        f.write_str(&s[start..i])?;
                        write!(f, "⟨U+{:04X}⟩", c as u32)?;
                        start = i + len;
                    }
                    i += len;
                    continue;
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            f.write_str(&s[start..i])?;
            f.write_str(rep)?;
            i += 1;
            start = i;
        }
        f.write_str(&s[start..])
    }
}

/// A first-N collector: keeps the first `cap` items and counts the rest.
#[derive(Clone, Debug)]
pub struct Capped<T> {
    pub items: Vec<T>,
    pub omitted: u64,
    cap: usize,
}

impl<T> Capped<T> {
    pub fn new(cap: usize) -> Self {
        Capped {
            items: Vec::new(),
            omitted: 0,
            cap,
        }
    }

    /// Whether the next item would be kept (so callers can skip building it).
    pub fn has_room(&self) -> bool {
        self.items.len() < self.cap
    }

    pub fn push(&mut self, item: T) {
        if self.has_room() {
            self.items.push(item);
        } else {
            self.omitted += 1;
        }
    }

    /// Counts one item that is not kept.
    pub fn skip(&mut self) {
        self.omitted += 1;
    }
}

/// A validate row with problems, as the page shows it.
#[derive(Clone, Debug)]
pub struct ProblemRow {
    pub at: RowRef,
    pub user_id: String,
    pub user_name: String,
    pub verdict: Verdict,
    pub codes: String,
    pub message: String,
}

/// Longest cell a page shows (characters); the CSV report has the whole value.
const CELL_CHARS: usize = 200;
/// Longest message a page shows (characters).
const MESSAGE_CHARS: usize = 2000;
/// Bytes of embedded row text after which a page embeds no more rows, whatever the count: a
/// file of huge cells still makes a light page.
const EMBEDDED_BYTES: usize = 3_000_000;

/// `s` cut to `max` characters, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

impl ProblemRow {
    pub fn of(row: &CheckedRow) -> ProblemRow {
        ProblemRow {
            at: row.at,
            user_id: clip(row.field(Col::UserId), CELL_CHARS),
            user_name: clip(row.field(Col::UserName), CELL_CHARS),
            verdict: row.verdict,
            codes: row.codes(),
            message: clip(&row.message(), MESSAGE_CHARS),
        }
    }

    fn text_bytes(&self) -> usize {
        self.user_id.len() + self.user_name.len() + self.codes.len() + self.message.len()
    }
}

/// A validate report page: every row goes to the companion CSV as the work proceeds; rows with
/// problems are collected (capped) for the page, rendered by [`HtmlSink::finish`].
pub struct HtmlSink {
    csv: ReportSink,
    path: PathBuf,
    rows: Capped<ProblemRow>,
    /// Text bytes of the rows kept.
    kept_bytes: usize,
    /// Rows kept, rows left out and their bytes at [`RowSink::mark`].
    marked: (usize, u64, usize),
}

impl HtmlSink {
    /// Creates the page (a placeholder until [`HtmlSink::finish`]: a run that dies leaves a page
    /// that says so) and its companion CSV report at `csv_path` (see [`crate::report::Destination`]).
    /// Neither may be `input`, the file being checked.
    pub fn create(path: &Path, csv_path: &Path, input: Option<&Path>) -> io::Result<HtmlSink> {
        for out in [path, csv_path] {
            if input.is_some_and(|input| same_file(input, out)) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: the report would overwrite the file being checked; give the report another name",
                        out.display()
                    ),
                ));
            }
        }
        let placeholder = page(
            "qusers report (unfinished)",
            &format!(
                "<main><h1>The check did not finish</h1><p>The rows checked so far are in <code>{}</code>.</p></main>",
                Esc(&file_name(csv_path))
            ),
            false,
        );
        // Replaced by the page when the check ends: not worth a sync.
        crate::fsx::write_bytes_unsynced(path, placeholder.as_bytes())?;
        let writer = ReportWriter::create(csv_path, ReportKind::Validate)?;
        Ok(HtmlSink {
            csv: ReportSink { writer },
            path: path.to_path_buf(),
            rows: Capped::new(EMBEDDED_ROWS),
            kept_bytes: 0,
            marked: (0, 0, 0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The CSV report with every row.
    pub fn csv_path(&self) -> &Path {
        self.csv.writer.path()
    }

    /// Flushes the CSV report and writes the page.
    pub fn finish(mut self, summary: &FileSummary) -> io::Result<()> {
        self.csv.writer.flush()?;
        let csv_name = file_name(self.csv.writer.path());
        // Errors first, then warnings, each in the order of the file.
        self.rows
            .items
            .sort_by_key(|r| u8::from(r.verdict != Verdict::Error));
        let html = render_validate(summary, &self.rows.items, self.rows.omitted, &csv_name);
        crate::fsx::write_bytes(&self.path, html.as_bytes())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl RowSink for HtmlSink {
    fn file_problem(&mut self, line: Option<u64>, p: &Problem, strict: bool) -> io::Result<()> {
        // The page takes file problems from the summary.
        self.csv.file_problem(line, p, strict)
    }

    fn encoder(&self) -> Option<Arc<RowEncoder>> {
        self.csv.encoder()
    }

    fn row(&mut self, row: &CheckedRow, encoded: Option<&[u8]>) -> io::Result<()> {
        if row.verdict != Verdict::Ok {
            // An error row takes the place of the last warning row kept when the page is full:
            // the page lists errors first, however many warnings came before them.
            let full = !self.rows.has_room() || self.kept_bytes >= EMBEDDED_BYTES;
            if full && row.verdict == Verdict::Error {
                if let Some(at) =
                    (self.rows.items.iter()).rposition(|r| r.verdict == Verdict::Warning)
                {
                    let gone = self.rows.items.remove(at);
                    self.kept_bytes -= gone.text_bytes();
                    self.rows.skip();
                }
            }
            if self.rows.has_room() && self.kept_bytes < EMBEDDED_BYTES {
                let kept = ProblemRow::of(row);
                self.kept_bytes += kept.text_bytes();
                self.rows.push(kept);
            } else {
                self.rows.skip();
            }
        }
        self.csv.row(row, encoded)
    }

    fn chunk_done(&mut self) -> io::Result<()> {
        self.csv.chunk_done()
    }

    fn mark(&mut self) -> io::Result<bool> {
        self.marked = (self.rows.items.len(), self.rows.omitted, self.kept_bytes);
        self.csv.mark()
    }

    fn rewind(&mut self) -> io::Result<()> {
        let (kept, omitted, bytes) = self.marked;
        self.rows.items.truncate(kept);
        self.rows.omitted = omitted;
        self.kept_bytes = bytes;
        self.csv.rewind()
    }
}

// ---------------------------------------------------------------------------------------------
// The page frame: styles, the filter script and the security policy.

const STYLE: &str = r#"
:root{--err:#a4161a;--warn:#8a4b00;--ok:#1b5e20;--ink:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--bg:#fff;--soft:#f4f4f4}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--ink);background:var(--bg);margin:0}
main{max-width:72rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:0 0 .25rem}
h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:2px solid var(--line);padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}
.verdict{font-size:1.2rem;padding:.8rem 1rem;border-left:.5rem solid;background:var(--soft);margin:1rem 0}
.verdict.error{border-color:var(--err)}.verdict.warning{border-color:var(--warn)}.verdict.ok{border-color:var(--ok)}
.verdict strong{display:inline-block;margin-right:.4rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1.2rem;margin:0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.counts{display:flex;flex-wrap:wrap;gap:.8rem;list-style:none;padding:0;margin:.5rem 0}
.counts li{border:1px solid var(--line);padding:.4rem .8rem;min-width:8rem}
.counts b{display:block;font-size:1.4rem}
.counts li.ok{border-top:4px solid var(--ok)}.counts li.warning{border-top:4px dashed var(--warn)}.counts li.error{border-top:4px solid var(--err)}
.sev{display:inline-block;font-weight:700;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;padding:0 .35rem;border:2px solid;border-radius:3px;white-space:nowrap}
.sev.error{color:var(--err)}.sev.warning{color:var(--warn)}.sev.ok{color:var(--ok)}
.sev.error::before{content:"\2716\00a0"}.sev.warning::before{content:"\26a0\00a0"}
svg.bars text{font:13px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
.rule{border-left:4px solid var(--line);padding:.1rem 0 .1rem .8rem;margin:.8rem 0;break-inside:avoid}
.rule.error{border-left-color:var(--err)}.rule.warning{border-left-color:var(--warn);border-left-style:dashed}
.rule p{margin:.2rem 0}
code{font-family:ui-monospace,SFMono-Regular,Consolas,monospace;font-size:.92em;background:var(--soft);padding:0 .2rem;overflow-wrap:anywhere}
.controls{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin:.6rem 0;padding:.6rem;border:1px solid var(--line)}
.controls[hidden]{display:none}
.controls fieldset{border:0;margin:0;padding:0;display:flex;gap:.8rem}
.controls legend{float:left;font-weight:600;margin-right:.6rem}
.controls input[type=search]{font:inherit;padding:.25rem .4rem;min-width:16rem;border:1px solid var(--muted)}
table{border-collapse:collapse;width:100%;table-layout:fixed}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid var(--line);padding:.3rem .45rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
thead th{background:var(--soft);overflow-wrap:normal}
tr.error td:first-child{box-shadow:inset 4px 0 var(--err)}
tr.warning td:first-child{box-shadow:inset 4px 0 var(--warn)}
tr[hidden]{display:none}
td.num,th.num{text-align:right}
ul.changes{margin:0;padding-left:1rem}
.note{color:var(--muted)}
.resume{border:2px solid var(--warn);padding:.6rem 1rem;background:var(--soft)}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@media print{
 @page{margin:12mm}
 body{font-size:9.5pt}
 main{max-width:none;padding:0}
 .controls{border:0;padding:0;margin:.2rem 0}
 .controls>label,.controls>input,.controls>fieldset{display:none}
 h2{break-after:avoid}
 thead{display:table-header-group}
 tr{break-inside:avoid}
 .verdict,code,thead th{background:none}
 .verdict{border:2px solid;border-left-width:.5rem}
}
"#;

/// Shows the controls, then filters the table's rows by text and by group. Rows carry their
/// groups in `data-group`; the radio buttons name one group or `all`.
const SCRIPT: &str = r#"(function(){
var c=document.getElementById('controls');if(!c)return;
var table=document.getElementById('rows');if(!table)return;
var rows=Array.prototype.slice.call(table.tBodies[0].rows);
var text=rows.map(function(r){return r.textContent.toLowerCase();});
var f=document.getElementById('filter'),shown=document.getElementById('shown');
function apply(){
var q=f.value.trim().toLowerCase(),pick=c.querySelector('input[name=show]:checked'),g=pick?pick.value:'all',n=0;
for(var i=0;i<rows.length;i++){
var ok=(g==='all'||(' '+rows[i].getAttribute('data-group')+' ').indexOf(' '+g+' ')>=0)&&(q===''||text[i].indexOf(q)>=0);
rows[i].hidden=!ok;if(ok)n++;}
shown.textContent=n+' of '+rows.length+' rows shown';}
f.addEventListener('input',apply);
Array.prototype.forEach.call(c.querySelectorAll('input[name=show]'),function(r){r.addEventListener('change',apply);});
c.hidden=false;apply();})();"#;

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The policy: no fetch of any kind, inline styles, and only [`SCRIPT`] may run.
fn content_security_policy() -> String {
    let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'"
    )
}

/// A whole page around `body` (already escaped markup).
fn page(title: &str, body: &str, script: bool) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + SCRIPT.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"qusers {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        content_security_policy(),
        env!("CARGO_PKG_VERSION"),
        Esc(title),
    );
    out.push_str(body);
    if script {
        let _ = write!(out, "\n<script>{SCRIPT}</script>");
    }
    out.push_str("\n</body>\n</html>\n");
    out
}

/// Hatch patterns so that the severity reads in grey print and for the colour blind; the
/// bars also carry the severity as a word.
const PATTERNS: &str = r##"<defs>
<pattern id="p-error" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#a4161a"/><rect width="2" height="6" fill="#fff" fill-opacity=".45"/></pattern>
<pattern id="p-warning" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#f0b35a"/><circle cx="3" cy="3" r="1.3" fill="#3a2000"/></pattern>
<pattern id="p-ok" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#2e7d32"/></pattern>
<pattern id="p-neutral" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#5a6b7b"/><rect width="6" height="2" fill="#fff" fill-opacity=".4"/></pattern>
</defs>"##;

/// One labelled bar in a chart.
struct Bar<'a> {
    label: String,
    value: u64,
    /// `error`, `warning`, `ok` or `neutral`: the fill pattern.
    kind: &'a str,
    /// Words after the count (e.g. "rows · error").
    note: String,
}

/// A horizontal bar chart as inline SVG, with the same data as text for screen readers.
fn bar_chart(out: &mut String, title: &str, bars: &[Bar]) {
    if bars.is_empty() {
        return;
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (310.0_f64, 240.0_f64, 26.0_f64);
    let width = label_w + bar_w + 150.0;
    let height = row_h * bars.len() as f64 + 6.0;
    let desc: Vec<String> = bars
        .iter()
        .map(|b| format!("{}: {} {}", b.label, count(b.value), b.note))
        .collect();
    let _ = write!(
        out,
        "<figure><svg class=\"bars\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {width} {height}\" width=\"100%\" style=\"max-width:{width}px\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>{PATTERNS}",
        Esc(&format!("{title}. {}", desc.join("; "))),
        Esc(title),
    );
    for (i, b) in bars.iter().enumerate() {
        let y = row_h * i as f64 + 3.0;
        // A bar for any count at all stays visible.
        let w = if b.value == 0 {
            0.0
        } else {
            (bar_w * b.value as f64 / max as f64).max(3.0)
        };
        let _ = write!(
            out,
            "<g><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"url(#p-{})\" stroke=\"#1a1a1a\" stroke-width=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{} {}</text></g>",
            label_w - 8.0,
            y + row_h * 0.62,
            Esc(&b.label),
            y + 3.0,
            row_h - 8.0,
            b.kind,
            if b.value == 0 { 0 } else { 1 },
            label_w + w + 6.0,
            y + row_h * 0.62,
            count(b.value),
            Esc(&b.note),
        );
    }
    out.push_str("</svg></figure>\n");
}

/// The filter box and the group toggle, hidden until the script shows them.
fn controls(out: &mut String, groups: &[(&str, &str)]) {
    out.push_str(
        "<div class=\"controls\" id=\"controls\" hidden>\
         <label for=\"filter\">Filter rows</label> \
         <input type=\"search\" id=\"filter\" placeholder=\"username, code or words\" autocomplete=\"off\">\
         <fieldset><legend>Show</legend>",
    );
    for (i, (value, label)) in groups.iter().enumerate() {
        let _ = write!(
            out,
            "<label><input type=\"radio\" name=\"show\" value=\"{value}\"{}> {label}</label>",
            if i == 0 { " checked" } else { "" }
        );
    }
    out.push_str(
        "</fieldset><span id=\"shown\" role=\"status\" aria-live=\"polite\"></span></div>\n",
    );
}

fn footer(out: &mut String) {
    let _ = writeln!(
        out,
        "<footer>Made by qusers {} on {}. This page is self-contained: it fetches nothing and can be mailed or printed as is.</footer>",
        env!("CARGO_PKG_VERSION"),
        jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z"),
    );
}

fn sev_badge(sev: &str) -> String {
    let word = match sev {
        "error" => "Error",
        "warning" => "Warning",
        _ => "OK",
    };
    format!("<span class=\"sev {sev}\">{word}</span>")
}

// ---------------------------------------------------------------------------------------------
// The validate page.

/// The one-sentence verdict of a validation, and its severity class.
pub fn validate_verdict(s: &FileSummary) -> (String, &'static str) {
    let file_errors = s
        .file_problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count() as u64;
    let file_warnings = s.file_problems.len() as u64 - file_errors;
    if s.encoding.is_none() {
        let why = s
            .file_problems
            .first()
            .map(|p| p.message.as_str())
            .unwrap_or("it could not be read");
        return (format!("This file cannot be imported: {why}."), "error");
    }
    if !s.valid {
        let mut parts = Vec::new();
        if s.error > 0 {
            parts.push(format!(
                "{} {} errors",
                plural(s.error, "row", "rows"),
                if s.error == 1 { "has" } else { "have" }
            ));
        }
        if file_errors > 0 {
            parts.push(format!(
                "the file itself has {}",
                plural(file_errors, "problem", "problems")
            ));
        }
        return (
            format!(
                "This file cannot be imported yet: {}. Fix them below, then check the file again.",
                parts.join(" and ")
            ),
            "error",
        );
    }
    if s.warning > 0 || file_warnings > 0 {
        let n = s.warning + file_warnings;
        let what = if n == 1 {
            "1 warning is".to_string()
        } else {
            format!("{} warnings are", count(n))
        };
        return (
            format!("This file can be imported, but {what} worth a look before you do."),
            "warning",
        );
    }
    (
        format!(
            "This file is ready to import: {} passed every check.",
            if s.rows == 1 {
                "its one row".to_string()
            } else {
                format!("all {} rows", count(s.rows))
            }
        ),
        "ok",
    )
}

/// The validate page of one file.
pub fn render_validate(
    s: &FileSummary,
    rows: &[ProblemRow],
    omitted: u64,
    csv_name: &str,
) -> String {
    let (verdict, class) = validate_verdict(s);
    let mut b = String::with_capacity(4096 + rows.len() * 420);
    let _ = write!(
        b,
        "<main>\n<h1>Check of <code>{}</code></h1>\n<p class=\"verdict {class}\" id=\"verdict\">{} {}</p>\n",
        Esc(&s.file),
        sev_badge(class),
        Esc(&verdict),
    );

    // The facts.
    b.push_str("<h2>The file</h2>\n<dl class=\"facts\">");
    let _ = write!(b, "<dt>File</dt><dd><code>{}</code></dd>", Esc(&s.file));
    match (&s.encoding, &s.delimiter) {
        (Some(enc), Some(delim)) => {
            let _ = write!(
                b,
                "<dt>Read as</dt><dd>{}</dd><dt>Delimiter</dt><dd>{}</dd>",
                Esc(enc),
                Esc(delim)
            );
        }
        _ => b.push_str("<dt>Read as</dt><dd>not read</dd>"),
    }
    let max_data_rows = MAX_ROWS - 2;
    let _ = write!(
        b,
        "<dt>Data rows</dt><dd>{} ({} new, {} updates) — Qualtrics takes at most {} ({}%)</dd>",
        count(s.rows),
        count(s.creates),
        count(s.updates),
        count(max_data_rows),
        percent(s.rows, max_data_rows),
    );
    let _ = writeln!(
        b,
        "<dt>Size</dt><dd>{} — Qualtrics takes under {} bytes ({}%)</dd></dl>",
        plural(s.bytes, "byte", "bytes"),
        count(MAX_BYTES),
        percent(s.bytes, MAX_BYTES),
    );

    // The counts.
    let _ = write!(
        b,
        "<h2>Rows</h2>\n<ul class=\"counts\" id=\"counts\"><li><b>{}</b> rows checked</li><li class=\"ok\"><b>{}</b> ok</li><li class=\"warning\"><b>{}</b> with warnings</li><li class=\"error\"><b>{}</b> with errors</li></ul>\n",
        count(s.rows),
        count(s.ok),
        count(s.warning),
        count(s.error),
    );

    if !s.file_problems.is_empty() {
        b.push_str("<h2>Problems with the whole file</h2>\n");
        for p in &s.file_problems {
            let sev = p.severity.as_str();
            let at = p.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            let _ = writeln!(
                b,
                "<div class=\"rule {sev}\"><p>{} <strong>{}</strong>{at}: {}</p></div>",
                sev_badge(sev),
                Esc(p.code),
                Esc(&p.message)
            );
        }
    }

    if !s.rules.is_empty() {
        b.push_str("<h2>Rules broken</h2>\n");
        // Errors first, then the most-broken: that is where fixing pays most.
        let mut rules: Vec<_> = s.rules.iter().collect();
        rules.sort_by_key(|r| (std::cmp::Reverse(r.severity), std::cmp::Reverse(r.rows)));
        let bars: Vec<Bar> = rules
            .iter()
            .map(|r| Bar {
                label: format!("{} {}", r.code, shorten(r.title, 34)),
                value: r.rows,
                kind: r.severity.as_str(),
                note: format!(
                    "{} · {}",
                    if r.rows == 1 { "row" } else { "rows" },
                    r.severity.as_str()
                ),
            })
            .collect();
        bar_chart(&mut b, "Rows per broken rule", &bars);
        for r in rules {
            let sev = r.severity.as_str();
            let hint = RULES
                .iter()
                .find(|rule| rule.id == r.code)
                .map(|rule| rule.hint)
                .unwrap_or("");
            let lines: Vec<String> = r.lines.iter().map(|l| l.to_string()).collect();
            let more = if r.rows > r.lines.len() as u64 {
                " and more"
            } else {
                ""
            };
            let _ = writeln!(
                b,
                "<section class=\"rule {sev}\"><h3>{} {} — {}</h3><p>{}: first on line{} {}{more}.</p><p><strong>How to fix:</strong> {}</p></section>",
                sev_badge(sev),
                Esc(r.code),
                Esc(r.title),
                plural(r.rows, "row", "rows"),
                if r.lines.len() == 1 { "" } else { "s" },
                lines.join(", "),
                with_code(hint),
            );
        }
    }

    let problem_rows = s.warning + s.error;
    if problem_rows > 0 {
        b.push_str("<h2 id=\"rows-heading\">Rows with problems</h2>\n");
        controls(
            &mut b,
            &[("all", "All"), ("error", "Errors"), ("warning", "Warnings")],
        );
        let _ = write!(
            b,
            "<table id=\"rows\"><caption>{}</caption>\n<colgroup><col style=\"width:6%\"><col style=\"width:6%\"><col style=\"width:20%\"><col style=\"width:10%\"><col style=\"width:9%\"><col></colgroup>\n\
             <thead><tr><th scope=\"col\" class=\"num\">Line</th><th scope=\"col\" class=\"num\">Row</th><th scope=\"col\">Username</th><th scope=\"col\">Outcome</th><th scope=\"col\">Codes</th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n",
            if omitted > 0 {
                format!(
                    "The first {} of {} rows with problems",
                    count(rows.len() as u64),
                    count(rows.len() as u64 + omitted)
                )
            } else {
                format!("{} with problems", plural(rows.len() as u64, "row", "rows"))
            }
        );
        for r in rows {
            let sev = r.verdict.as_str();
            let _ = writeln!(
                b,
                "<tr class=\"{sev}\" data-group=\"{sev}\"><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.at.line,
                r.at.row,
                Esc(&r.user_name),
                sev_badge(sev),
                Esc(&r.codes),
                Esc(&r.message),
            );
        }
        b.push_str("</tbody></table>\n");
        if omitted > 0 {
            let _ = writeln!(
                b,
                "<p class=\"note\" id=\"more\"><strong>{} more</strong> are not shown here to keep this page light: every row is in the CSV report <code>{}</code>, next to this page.</p>",
                plural(omitted, "row with problems", "rows with problems"),
                Esc(csv_name),
            );
        } else {
            let _ = writeln!(
                b,
                "<p class=\"note\">Every row, ok ones included, is in the CSV report <code>{}</code>, next to this page.</p>",
                Esc(csv_name)
            );
        }
    } else {
        let _ = writeln!(
            b,
            "<p class=\"note\">Every row is in the CSV report <code>{}</code>, next to this page.</p>",
            Esc(csv_name)
        );
    }
    footer(&mut b);
    b.push_str("</main>");
    let title = format!(
        "{} — {}",
        s.file,
        match class {
            "error" => "cannot be imported yet",
            "warning" => "ready, with warnings",
            _ => "ready to import",
        }
    );
    page(&title, &b, problem_rows > 0)
}

/// Catalog text, escaped, with its `backticked` commands as code.
fn with_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", Esc(part));
        } else {
            let _ = write!(out, "{}", Esc(part));
        }
    }
    out
}

fn percent(n: u64, of: u64) -> String {
    let p = n as f64 * 100.0 / of.max(1) as f64;
    if p > 0.0 && p < 1.0 {
        "under 1".into()
    } else {
        format!("{p:.0}")
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{FileProblemOut, RuleCount};

    pub(super) const PAYLOADS: [&str; 3] = [
        "<script>document.title='PWNED'</script>",
        "\"><img src=x onerror=alert(1)>",
        "' onmouseover='alert(1)",
    ];

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(
            Esc("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(Esc("Zoë Müller").to_string(), "Zoë Müller");
        // Invisible characters show: a right-to-left override cannot turn `gnp.exe` around.
        assert_eq!(
            Esc("ann\u{202E}gnp.exe\u{200B}\u{FEFF}x\u{7}\u{85}\u{E0041}").to_string(),
            "ann⟨U+202E⟩gnp.exe⟨U+200B⟩⟨U+FEFF⟩x⟨U+0007⟩⟨U+0085⟩⟨U+E0041⟩"
        );
        assert_eq!(Esc("a\tb\nc — ü").to_string(), "a\tb\nc — ü");
        assert_eq!(Esc("").to_string(), "");
    }

    fn summary() -> FileSummary {
        FileSummary {
            file: "dept<b>.csv".into(),
            valid: false,
            bytes: 1234,
            encoding: Some("UTF-8".into()),
            delimiter: Some("comma".into()),
            rows: 3,
            creates: 3,
            updates: 0,
            ok: 1,
            warning: 1,
            error: 1,
            file_problems: vec![FileProblemOut {
                code: "F04",
                severity: Severity::Warning,
                line: Some(3),
                message: "F04: <odd> bytes".into(),
            }],
            rules: vec![RuleCount {
                code: "U03",
                severity: Severity::Error,
                title: "userName is not a valid username",
                rows: 1,
                lines: vec![2],
            }],
            samples: vec![],
            notes: vec![],
            sso_brand: None,
        }
    }

    fn problem_rows() -> Vec<ProblemRow> {
        PAYLOADS
            .iter()
            .enumerate()
            .map(|(i, p)| ProblemRow {
                at: RowRef {
                    line: i as u64 + 2,
                    row: i as u64 + 1,
                },
                user_id: p.to_string(),
                user_name: p.to_string(),
                verdict: Verdict::Error,
                codes: "U03".into(),
                message: format!("U03: {p} is not valid"),
            })
            .collect()
    }

    /// No file-supplied text reaches the page unescaped: not in text, not in attributes.
    #[test]
    fn validate_page_escapes_every_cell() {
        let html = render_validate(&summary(), &problem_rows(), 0, "r&d.csv");
        for p in PAYLOADS {
            assert!(!html.contains(p), "raw payload {p} in page");
            assert!(html.contains(&Esc(p).to_string()), "escaped {p} missing");
        }
        assert!(!html.contains("<b>.csv"));
        assert!(html.contains("dept&lt;b&gt;.csv"));
        assert!(html.contains("r&amp;d.csv"));
        assert!(html.contains("&lt;odd&gt;"));
        // Only the page's own script tag.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(!html.contains("<img"));
    }

    #[test]
    fn validate_page_has_verdict_facts_rules_and_rows() {
        let html = render_validate(&summary(), &problem_rows(), 4321, "r.csv");
        assert!(html.contains("This file cannot be imported yet: 1 row has errors."));
        assert!(html.contains("Qualtrics takes at most 99,998"));
        assert!(html.contains("under 20,000,000 bytes"));
        assert!(html.contains("U03 userName is not a valid username"));
        assert!(html.contains("How to fix:"));
        assert_eq!(
            with_code("run `qusers fix` <now>"),
            "run <code>qusers fix</code> &lt;now&gt;"
        );
        assert!(html.contains("<th scope=\"col\">Username</th>"));
        assert!(html.contains("The first 3 of 4,324 rows with problems"));
        assert!(html.contains("4,321 rows with problems more"));
        assert!(html.contains("@media print"));
        // The policy allows the page's script and nothing else.
        let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
        assert!(html.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn verdict_sentences() {
        let mut s = summary();
        s.file_problems.clear();
        s.valid = true;
        s.error = 0;
        s.warning = 2;
        assert_eq!(
            validate_verdict(&s).0,
            "This file can be imported, but 2 warnings are worth a look before you do."
        );
        s.warning = 1;
        assert_eq!(
            validate_verdict(&s).0,
            "This file can be imported, but 1 warning is worth a look before you do."
        );
        s.warning = 0;
        assert_eq!(
            validate_verdict(&s).0,
            "This file is ready to import: all 3 rows passed every check."
        );
        s.encoding = None;
        s.file_problems.push(FileProblemOut {
            code: "F02",
            severity: Severity::Error,
            line: None,
            message: "F02: not a text file".into(),
        });
        assert!(validate_verdict(&s)
            .0
            .starts_with("This file cannot be imported: F02"));
    }

    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééé€x", 4), "ééé€…");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn capped_keeps_the_first_and_counts_the_rest() {
        let mut c = Capped::new(2);
        for i in 0..5 {
            c.push(i);
        }
        assert_eq!(c.items, vec![0, 1]);
        assert_eq!(c.omitted, 3);
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(99_998), "99,998");
        assert_eq!(count(20_000_000), "20,000,000");
    }
}
