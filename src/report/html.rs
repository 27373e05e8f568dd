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

use std::fmt::{self, Write as _};
use std::io;

use crate::numfmt::{count, plural};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{ReportKind, ReportSink, ReportWriter};
use crate::file::{Col, MAX_BYTES, MAX_ROWS};
use crate::rules::{Problem, Severity, RULES};
use crate::validate::{CheckedRow, FileSummary, RowEncoder, RowSink, Verdict};

/// Problem rows embedded in a page; the rest are counted and left to the CSV report.
pub const EMBEDDED_ROWS: usize = 1000;

/// `.html`/`.htm` reports are pages.
pub fn is_html_path(path: &Path) -> bool {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// The CSV report with every row that goes with a page: `staff.html` → `staff.rows.csv` (not
/// `staff.csv`, which is likely the very file being checked).
pub fn companion_csv(path: &Path) -> PathBuf {
    path.with_extension("rows.csv")
}

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
                    if c.is_control() || crate::rules::invisible_name(c).is_some() {
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
    pub line: u64,
    pub row: u64,
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
            line: row.line,
            row: row.row,
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
    /// that says so) and its companion CSV report.
    /// Neither may be `input`, the file being checked.
    pub fn create(path: &Path, input: Option<&Path>) -> io::Result<HtmlSink> {
        let csv_path = companion_csv(path);
        for out in [path, &csv_path] {
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
                Esc(&file_name(&csv_path))
            ),
            false,
        );
        // Replaced by the page when the check ends: not worth a sync.
        crate::fsx::write_bytes_unsynced(path, placeholder.as_bytes())?;
        let writer = ReportWriter::create(&csv_path, ReportKind::Validate)?;
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
                r.line,
                r.row,
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

// ---------------------------------------------------------------------------------------------
// The import page.

/// How many rows of each kind the plan holds (all rows, not only the embedded ones).
#[derive(Clone, Debug, Default)]
pub struct PlanCounts {
    pub creates: u64,
    pub renames: u64,
    pub status_changes: u64,
    pub type_changes: u64,
    pub division_moves: u64,
    pub expirations: u64,
    /// Updates of other fields (names, email, …).
    pub other_updates: u64,
    pub unchanged: u64,
    pub invalid: u64,
    pub skipped: u64,
}

/// One field of one user, before and after.
#[derive(Clone, Debug)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// One import report row, as the page shows it.
#[derive(Clone, Debug, Default)]
pub struct ImportRow {
    pub line: Option<u64>,
    pub row: Option<u64>,
    pub user_id: String,
    pub user_name: String,
    /// `create` or `update`.
    pub action: String,
    /// `created | updated | unchanged | invalid | failed | skipped | planned`.
    pub outcome: String,
    pub codes: String,
    pub message: String,
    pub changes: Vec<FieldChange>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
}

/// Everything the import page shows. Counts cover every row; `rows` holds the embedded ones
/// (collect them with a [`Capped`] of [`EMBEDDED_ROWS`]), `rows_omitted` the rest.
#[derive(Clone, Debug, Default)]
pub struct ImportPage {
    /// The user file.
    pub file: String,
    /// Where the users went, e.g. `https://ca1.qualtrics.com (brand acme)` — never a token.
    pub target: String,
    pub dry_run: bool,
    /// The verdict in one sentence (e.g. "All 120 users were imported.").
    pub verdict: String,
    /// `ok`, `warning` or `error`: the verdict's look.
    pub verdict_class: String,
    pub plan: PlanCounts,
    /// Rows per outcome, e.g. `("created", 118)`, `("failed", 2)`.
    pub outcomes: Vec<(String, u64)>,
    pub rows: Vec<ImportRow>,
    pub rows_omitted: u64,
    /// How the embedded rows are ordered, said above the table (e.g. "failed rows first").
    pub rows_order: Option<String>,
    /// Retries per class, e.g. `("429 rate limited", 12)`, `("timeout", 1)`.
    pub retries: Vec<(String, u64)>,
    pub requests: u64,
    pub elapsed: Duration,
    /// The command that resumes an interrupted run.
    pub resume_command: Option<String>,
    /// The CSV report with every row, when one is written next to the page.
    pub csv_report: Option<String>,
}

fn outcome_group(outcome: &str) -> &'static str {
    match outcome {
        "failed" | "invalid" => "problem",
        "created" | "updated" | "planned" => "change",
        _ => "other",
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "failed" | "invalid" => "error",
        "skipped" => "warning",
        _ => "",
    }
}

/// The import (or update) page.
pub fn render_import(p: &ImportPage) -> String {
    let mut b = String::with_capacity(8192 + p.rows.len() * 520);
    let class = match p.verdict_class.as_str() {
        "ok" | "warning" | "error" => p.verdict_class.as_str(),
        _ => "warning",
    };
    let _ = write!(
        b,
        "<main>\n<h1>{} of <code>{}</code></h1>\n<p class=\"verdict {class}\" id=\"verdict\">{} {}</p>\n",
        if p.dry_run { "Dry run of the import" } else { "Import" },
        Esc(&p.file),
        sev_badge(class),
        Esc(&p.verdict),
    );
    if let Some(cmd) = &p.resume_command {
        let _ = writeln!(
            b,
            "<div class=\"resume\" id=\"resume\"><h2>The import was interrupted</h2><p>Users already done stay done; to finish the rest, run:</p><p><code>{}</code></p></div>",
            Esc(cmd)
        );
    }
    let per_second = if p.elapsed.as_secs_f64() > 0.0 {
        format!(
            " ({} per second)",
            crate::numfmt::rate(p.requests as f64 / p.elapsed.as_secs_f64())
        )
    } else {
        String::new()
    };
    let _ = write!(
        b,
        "<h2>Where and when</h2>\n<dl class=\"facts\"><dt>Target</dt><dd>{}</dd><dt>File</dt><dd><code>{}</code></dd><dt>Mode</dt><dd>{}</dd><dt>Time taken</dt><dd>{}</dd><dt>API requests</dt><dd>{}{per_second}</dd></dl>\n",
        Esc(&p.target),
        Esc(&p.file),
        if p.dry_run {
            "dry run: nothing was changed in Qualtrics"
        } else {
            "import: changes were sent to Qualtrics"
        },
        human_duration(p.elapsed),
        count(p.requests),
    );
    if let Some(csv) = &p.csv_report {
        let _ = writeln!(
            b,
            "<p>Every row is in the CSV report <code id=\"csv-report\">{}</code>, next to this page.</p>",
            Esc(csv)
        );
    }

    let c = &p.plan;
    b.push_str("<h2>The plan</h2>\n");
    let classes: [(&str, u64, &str); 10] = [
        ("New users", c.creates, "neutral"),
        ("Username changes", c.renames, "neutral"),
        ("Status changes", c.status_changes, "neutral"),
        ("User type changes", c.type_changes, "neutral"),
        ("Division moves", c.division_moves, "neutral"),
        ("Expiration dates", c.expirations, "neutral"),
        ("Other field updates", c.other_updates, "neutral"),
        ("Unchanged", c.unchanged, "ok"),
        ("Invalid rows", c.invalid, "error"),
        ("Skipped", c.skipped, "warning"),
    ];
    let bars: Vec<Bar> = classes
        .iter()
        .map(|(label, n, kind)| Bar {
            label: label.to_string(),
            value: *n,
            kind,
            note: if *n == 1 { "user" } else { "users" }.into(),
        })
        .collect();
    bar_chart(&mut b, "Users per kind of change", &bars);
    b.push_str("<p class=\"note\">A user can be in several kinds of change (a renamed user whose status also changes counts in both).</p>\n");

    if !p.outcomes.is_empty() {
        b.push_str("<h2>Outcomes</h2>\n<ul class=\"counts\" id=\"counts\">");
        for (outcome, n) in &p.outcomes {
            let badge = match outcome_class(outcome) {
                "" => String::new(),
                cls => format!(" {}", sev_badge(cls)),
            };
            let _ = write!(b, "<li><b>{}</b> {}{badge}</li>", count(*n), Esc(outcome));
        }
        b.push_str("</ul>\n");
    }

    b.push_str("<h2>Retries</h2>\n");
    let retried: u64 = p.retries.iter().map(|(_, n)| n).sum();
    if retried == 0 {
        b.push_str("<p>No request had to be retried.</p>\n");
    } else {
        let _ = write!(
            b,
            "<table class=\"retries\" style=\"width:auto\"><caption>{} by cause</caption><thead><tr><th scope=\"col\">Cause</th><th scope=\"col\" class=\"num\">Retries</th></tr></thead><tbody>",
            plural(retried, "retry", "retries")
        );
        for (class, n) in &p.retries {
            let _ = write!(
                b,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>",
                Esc(class),
                count(*n)
            );
        }
        b.push_str("</tbody></table>\n");
    }

    if !p.rows.is_empty() {
        b.push_str("<h2 id=\"rows-heading\">Users</h2>\n");
        if let Some(order) = &p.rows_order {
            let _ = writeln!(b, "<p class=\"note\" id=\"rows-order\">{}</p>", Esc(order));
        }
        controls(
            &mut b,
            &[
                ("all", "All"),
                ("problem", "Failed or invalid"),
                ("change", "Changed"),
            ],
        );
        let total = p.rows.len() as u64 + p.rows_omitted;
        let _ = write!(
            b,
            "<table id=\"rows\"><caption>{}</caption>\n<colgroup><col style=\"width:6%\"><col style=\"width:5%\"><col style=\"width:15%\"><col style=\"width:8%\"><col style=\"width:10%\"><col style=\"width:21%\"><col style=\"width:8%\"><col style=\"width:10%\"><col></colgroup>\n\
             <thead><tr><th scope=\"col\" class=\"num\">Line</th><th scope=\"col\" class=\"num\">Row</th><th scope=\"col\">User</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th><th scope=\"col\">Changes</th><th scope=\"col\" class=\"num\">HTTP status</th><th scope=\"col\">Request id</th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n",
            if p.rows_omitted > 0 {
                let first = if p.rows_order.is_some() { "" } else { "The first " };
                format!("{first}{} of {} rows", count(p.rows.len() as u64), count(total))
            } else {
                plural(total, "row", "rows")
            }
        );
        for r in &p.rows {
            let class = outcome_class(&r.outcome);
            let _ = write!(
                b,
                "<tr class=\"{class}\" data-group=\"{}\"><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}",
                outcome_group(&r.outcome),
                r.line.map(|l| l.to_string()).unwrap_or_default(),
                r.row.map(|l| l.to_string()).unwrap_or_default(),
                Esc(&r.user_name),
            );
            if !r.user_id.is_empty() {
                let _ = write!(b, "<br><code>{}</code>", Esc(&r.user_id));
            }
            let _ = write!(
                b,
                "</td><td>{}</td><td>{}{}</td><td>",
                Esc(&r.action),
                Esc(&r.outcome),
                match class {
                    "" => String::new(),
                    cls => format!(" {}", sev_badge(cls)),
                },
            );
            if !r.changes.is_empty() {
                b.push_str("<ul class=\"changes\">");
                for ch in &r.changes {
                    let _ = write!(
                        b,
                        "<li>{}: <del>{}</del> → <ins>{}</ins></li>",
                        Esc(&ch.field),
                        Esc(if ch.old.is_empty() {
                            "(empty)"
                        } else {
                            &ch.old
                        }),
                        Esc(if ch.new.is_empty() {
                            "(empty)"
                        } else {
                            &ch.new
                        }),
                    );
                }
                b.push_str("</ul>");
            }
            let _ = writeln!(
                b,
                "</td><td class=\"num\">{}</td><td>{}</td><td>{}{}</td></tr>",
                r.http_status.map(|s| s.to_string()).unwrap_or_default(),
                r.request_id
                    .as_deref()
                    .map(|id| format!("<code>{}</code>", Esc(id)))
                    .unwrap_or_default(),
                if r.codes.is_empty() {
                    String::new()
                } else {
                    format!("<code>{}</code> ", Esc(&r.codes))
                },
                Esc(&r.message),
            );
        }
        b.push_str("</tbody></table>\n");
        if p.rows_omitted > 0 {
            let _ = writeln!(
                b,
                "<p class=\"note\" id=\"more\"><strong>{} more</strong> are not shown here to keep this page light{}.</p>",
                plural(p.rows_omitted, "row", "rows"),
                p.csv_report
                    .as_deref()
                    .map(|c| format!(": every row is in the CSV report <code>{}</code>, next to this page", Esc(c)))
                    .unwrap_or_default(),
            );
        }
    }
    footer(&mut b);
    b.push_str("</main>");
    let title = format!(
        "{} of {} — {}",
        if p.dry_run { "Dry run" } else { "Import" },
        p.file,
        p.verdict
    );
    page(&shorten(&title, 120), &b, !p.rows.is_empty())
}

/// Writes the import page.
pub fn write_import(path: &Path, page: &ImportPage) -> io::Result<()> {
    crate::fsx::write_bytes(path, render_import(page).as_bytes())
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{} h {} min {} s", secs / 3600, secs % 3600 / 60, secs % 60)
    } else if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{FileProblemOut, RuleCount};

    const PAYLOADS: [&str; 3] = [
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
                line: i as u64 + 2,
                row: i as u64 + 1,
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

    fn import_page() -> ImportPage {
        ImportPage {
            file: "staff.csv".into(),
            target: "https://ca1.qualtrics.com (brand acme)".into(),
            dry_run: false,
            verdict: "3 of 4 users were imported; 1 failed.".into(),
            verdict_class: "error".into(),
            plan: PlanCounts {
                creates: 2,
                renames: 1,
                status_changes: 1,
                division_moves: 1,
                unchanged: 1,
                ..Default::default()
            },
            outcomes: vec![
                ("created".into(), 2),
                ("updated".into(), 1),
                ("failed".into(), 1),
            ],
            rows: vec![
                ImportRow {
                    line: Some(2),
                    row: Some(1),
                    user_id: "UR_new1".into(),
                    user_name: "ann@univ.edu".into(),
                    action: "create".into(),
                    outcome: "created".into(),
                    ..Default::default()
                },
                ImportRow {
                    line: Some(3),
                    row: Some(2),
                    user_id: "UR_1aB2cD3eF4gH5iJ".into(),
                    user_name: "bob.new@univ.edu".into(),
                    action: "update".into(),
                    outcome: "updated".into(),
                    changes: vec![
                        FieldChange {
                            field: "userName".into(),
                            old: "bob@univ.edu".into(),
                            new: "bob.new@univ.edu".into(),
                        },
                        FieldChange {
                            field: "divisionId".into(),
                            old: String::new(),
                            new: "DV_<x>".into(),
                        },
                    ],
                    ..Default::default()
                },
                ImportRow {
                    line: Some(4),
                    row: Some(3),
                    user_name: PAYLOADS[1].into(),
                    action: "create".into(),
                    outcome: "failed".into(),
                    codes: "API400".into(),
                    message: PAYLOADS[0].into(),
                    http_status: Some(400),
                    request_id: Some("req-7f3a".into()),
                    ..Default::default()
                },
            ],
            rows_omitted: 1,
            rows_order: None,
            retries: vec![("429 rate limited".into(), 3), ("timeout".into(), 1)],
            requests: 9,
            elapsed: Duration::from_millis(4500),
            resume_command: Some("qusers import staff.csv --resume --report r.html".into()),
            csv_report: Some("r.csv".into()),
        }
    }

    #[test]
    fn import_page_shows_target_plan_changes_failures_retries_and_resume() {
        let html = render_import(&import_page());
        assert!(html.contains("https://ca1.qualtrics.com (brand acme)"));
        assert!(html.contains("3 of 4 users were imported; 1 failed."));
        assert!(html.contains("New users: 2 users"));
        assert!(html.contains("Username changes: 1 user"));
        assert!(html.contains("Division moves: 1 user"));
        assert!(html.contains("userName: <del>bob@univ.edu</del> → <ins>bob.new@univ.edu</ins>"));
        assert!(html.contains("divisionId: <del>(empty)</del> → <ins>DV_&lt;x&gt;</ins>"));
        assert!(html.contains("<td class=\"num\">400</td><td><code>req-7f3a</code></td>"));
        assert!(html.contains("<th scope=\"row\">429 rate limited</th><td class=\"num\">3</td>"));
        assert!(html.contains("4 retries by cause"));
        assert!(html.contains("4.5 s"));
        assert!(html.contains("9 (2.0 per second)"));
        assert!(html.contains("<code>qusers import staff.csv --resume --report r.html</code>"));
        assert!(html.contains("The first 3 of 4 rows"));
        assert!(html.contains("every row is in the CSV report <code>r.csv</code>"));
        for p in PAYLOADS {
            assert!(!html.contains(p), "raw payload {p} in page");
        }
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn import_dry_run_without_rows_has_no_script() {
        let mut p = import_page();
        p.dry_run = true;
        p.rows.clear();
        p.rows_omitted = 0;
        p.resume_command = None;
        p.retries.clear();
        let html = render_import(&p);
        assert!(html.contains("Dry run of the import"));
        assert!(html.contains("dry run: nothing was changed in Qualtrics"));
        assert!(html.contains("No request had to be retried."));
        assert!(!html.contains("id=\"resume\""));
        assert!(!html.contains("<script"));
    }
}
