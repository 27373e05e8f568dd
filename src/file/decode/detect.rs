//! Which legacy encoding a file that is not UTF-8 is in — or that nobody can tell.
//!
//! chardetng (Firefox's detector) proposes an encoding from the bytes. It always answers, so
//! its answer alone is no proof: every encoding Excel saves in is tried on the same bytes, and
//! the names each one gives are judged as names (letters, one script per word, capitals only
//! where names have them, no control or symbol characters). The file is read in an encoding
//! only when that settles it: every plausible reading gives the same names, or the detector's
//! choice is plausible and backed by enough names that read differently in the others. Else
//! the file is refused with the likely encodings and a sample of names read each way (F18): a
//! wrong guess would send wrong names to Qualtrics.
//!
//! Only the fields (pieces between delimiters and quotes) that are not UTF-8 are evidence. A
//! file with UTF-8 fields too is UTF-8 but for those fields (Excel saving one typed name in the
//! machine's code page): it stays UTF-8 and only those fields are decoded.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

use super::super::{FileError, Source};
use super::{Decoding, TextEncoding};

/// Bytes of fields that are not UTF-8 fed to the detector, at most: a thousand names or more,
/// enough evidence, and a bound on the time a huge file costs (the sample is read, then
/// decoded in every candidate encoding).
const SAMPLE_BYTES: usize = 16 << 10;

/// Names (words with a character that is not ASCII) the detector must have seen before its
/// choice among plausible readings is trusted. Below that, a few names are too little for a
/// statistical detector: the file is refused instead.
const MIN_EVIDENCE_WORDS: usize = 20;

/// Of them, how many must read differently in each other plausible encoding: a choice that
/// one stray name decides is no choice.
const MIN_DIFFERING: usize = 3;

/// The encodings a spreadsheet saves text in (Excel's "ANSI" code pages, Excel for Mac's
/// "CSV (Macintosh)", and the ISO sets other tools write), in the order they are offered
/// when the detector has no preference.
const CANDIDATES: &[&Encoding] = &[
    encoding_rs::WINDOWS_1252,
    encoding_rs::WINDOWS_1250,
    encoding_rs::WINDOWS_1251,
    encoding_rs::WINDOWS_1253,
    encoding_rs::WINDOWS_1254,
    encoding_rs::WINDOWS_1257,
    encoding_rs::WINDOWS_1258,
    encoding_rs::ISO_8859_2,
    encoding_rs::ISO_8859_15,
    encoding_rs::MACINTOSH,
    encoding_rs::SHIFT_JIS,
    encoding_rs::GBK,
    encoding_rs::BIG5,
    encoding_rs::EUC_KR,
    encoding_rs::EUC_JP,
    encoding_rs::KOI8_R,
    encoding_rs::WINDOWS_1255,
    encoding_rs::WINDOWS_1256,
    encoding_rs::WINDOWS_874,
];

/// Encodings in the list that spreadsheets do not save in (Unix ones): offered when unsure,
/// never chosen on the detector's word.
const NEVER_CHOSEN: &[&Encoding] = &[encoding_rs::EUC_JP, encoding_rs::KOI8_R];

/// A name for summaries: the encoding and what saves in it.
pub(crate) fn describe(e: &'static Encoding) -> String {
    let what = match e.name() {
        "windows-1250" => "Central European Excel",
        "windows-1251" => "Cyrillic Excel",
        "windows-1252" => "Western European Excel",
        "windows-1253" => "Greek Excel",
        "windows-1254" => "Turkish Excel",
        "windows-1255" => "Hebrew Excel",
        "windows-1256" => "Arabic Excel",
        "windows-1257" => "Baltic Excel",
        "windows-1258" => "Vietnamese Excel",
        "windows-874" => "Thai Excel",
        "Shift_JIS" => "Japanese Excel",
        "GBK" | "gb18030" => "Simplified Chinese Excel",
        "Big5" => "Traditional Chinese Excel",
        "EUC-KR" => "Korean Excel",
        "macintosh" => return "Mac Roman (Excel for Mac \"CSV (Macintosh)\")".into(),
        "ISO-8859-2" => "Central European, ISO",
        "ISO-8859-15" => "Western European, ISO",
        "EUC-JP" => "Japanese, Unix",
        "KOI8-R" => "Russian, Unix",
        _ => return e.name().into(),
    };
    // Windows code pages as Windows names them.
    let name = match e.name().strip_prefix("windows-") {
        Some(cp) => format!("Windows-{cp}"),
        None => e.name().into(),
    };
    format!("{name} ({what})")
}

/// The `--encoding` value admins would type for it.
pub(crate) fn label(e: &'static Encoding) -> String {
    match e.name() {
        "macintosh" => "mac_roman".into(),
        "ISO-8859-2" => "latin2".into(),
        "Shift_JIS" => "shift_jis".into(),
        n => match n.strip_prefix("windows-") {
            Some(cp) => format!("cp{cp}"),
            None => n.to_ascii_lowercase(),
        },
    }
}

/// A piece of a line between delimiters and quotes (`,` `;` tab `"`: never the second byte of
/// a double-byte character, unlike `|`) whose bytes are not UTF-8.
struct Piece {
    line: u64,
    bytes: Vec<u8>,
}

/// The evidence gathered from the file.
#[derive(Default)]
struct Sample {
    bad: Vec<Piece>,
    bad_bytes: usize,
    /// Pieces with characters beyond ASCII that are UTF-8.
    utf8_pieces: usize,
    /// Line ends seen: `\n` (alone or after `\r`), and `\r` alone.
    lf: u64,
    cr_alone: u64,
}

impl Sample {
    /// Reads the file's lines, keeps the pieces that are not UTF-8 (up to [`SAMPLE_BYTES`]).
    fn read(source: &Source) -> Result<Sample, FileError> {
        let io_err = |e| FileError::Io {
            path: source.name(),
            source: e,
        };
        let mut rdr = source.reader()?;
        let mut sample = Sample::default();
        let mut buf = vec![0u8; 1 << 16];
        let mut line: Vec<u8> = Vec::new();
        let mut number = 1u64;
        let mut after_cr = false;
        loop {
            let n = super::super::read_some(&mut rdr, &mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            let mut from = 0;
            for i in memchr::memchr2_iter(b'\n', b'\r', chunk) {
                line.extend_from_slice(&chunk[from..i]);
                from = i + 1;
                let was_cr = if i == 0 {
                    after_cr
                } else {
                    chunk[i - 1] == b'\r'
                };
                if chunk[i] == b'\n' {
                    sample.lf += 1;
                    if was_cr {
                        // The `\n` of a `\r\n`: the line ended at the `\r`.
                        sample.cr_alone = sample.cr_alone.saturating_sub(1);
                        continue;
                    }
                } else {
                    sample.cr_alone += 1;
                }
                sample.line(number, &line);
                line.clear();
                number += 1;
            }
            after_cr = chunk[n - 1] == b'\r';
            line.extend_from_slice(&chunk[from..]);
            // A line that never ends: judge what there is (its first bytes are evidence).
            if line.len() > 1 << 16 {
                let cut = line.iter().rposition(u8::is_ascii).unwrap_or(0);
                let rest = line.split_off(cut);
                sample.line(number, &line);
                line = rest;
            }
            if sample.bad_bytes >= SAMPLE_BYTES {
                break;
            }
        }
        sample.line(number, &line);
        Ok(sample)
    }

    /// Sorts the pieces of one line.
    fn line(&mut self, number: u64, line: &[u8]) {
        if line.is_ascii() || self.bad_bytes >= SAMPLE_BYTES {
            return;
        }
        for piece in line.split(|&b| matches!(b, b',' | b';' | b'\t' | b'"')) {
            if piece.is_ascii() {
                continue;
            }
            if std::str::from_utf8(piece).is_ok() {
                self.utf8_pieces += 1;
            } else {
                self.bad_bytes += piece.len();
                self.bad.push(Piece {
                    line: number,
                    bytes: piece.to_vec(),
                });
            }
        }
    }

    fn cr_only(&self) -> bool {
        self.cr_alone > 0 && self.lf == 0
    }
}

/// One encoding tried on the sample.
struct Reading {
    encoding: &'static Encoding,
    /// Each bad piece decoded (`None`: some piece does not decode at all).
    texts: Option<Vec<String>>,
    /// Words with characters beyond ASCII, and how many of them are no plausible name.
    words: usize,
    implausible: usize,
}

impl Reading {
    fn of(encoding: &'static Encoding, sample: &Sample) -> Reading {
        let mut words = 0;
        let mut implausible = 0;
        let mut texts = Vec::with_capacity(sample.bad.len());
        for p in &sample.bad {
            match encoding.decode_without_bom_handling_and_without_replacement(&p.bytes) {
                None => {
                    return Reading {
                        encoding,
                        texts: None,
                        words: 0,
                        implausible: usize::MAX,
                    }
                }
                Some(text) => {
                    for w in non_ascii_words(&text) {
                        words += 1;
                        implausible += usize::from(!plausible_word(w));
                    }
                    texts.push(text.into_owned());
                    // Past saving (see `plausible`): the rest is not read. `texts` then
                    // covers the first pieces only.
                    if implausible >= 3 {
                        break;
                    }
                }
            }
        }
        Reading {
            encoding,
            texts: Some(texts),
            words,
            implausible,
        }
    }

    /// Reads as names: nothing that fails to decode, and (in a sample big enough for a stray
    /// symbol) at most one word in fifty that is no name.
    fn plausible(&self) -> bool {
        self.texts.is_some() && self.implausible * 50 <= self.words && self.implausible < 3
    }
}

/// Decides the encoding of a file that is not UTF-8 from `first_line` on.
pub(crate) fn detect(source: &Source, first_line: u64) -> Result<Decoding, FileError> {
    let sample = Sample::read(source)?;
    Ok(decide(&sample, first_line))
}

fn decide(sample: &Sample, first_line: u64) -> Decoding {
    // In a legacy file a field that happens to be UTF-8 is rare (and mojibake-shaped); a
    // UTF-8 file with a few fields saved in a code page has many.
    let mixed = sample.utf8_pieces > 0 && sample.utf8_pieces * 4 >= sample.bad.len();
    // The detector reads the pieces once apart (words of alphabetic scripts stay words) and
    // once run together (CJK names of one or two characters a field read as text).
    let guesses = [&b"\n"[..], b""].map(|sep| {
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
        for p in &sample.bad {
            detector.feed(&p.bytes, false);
            detector.feed(sep, false);
        }
        detector.feed(b"", true);
        detector.guess(None, Utf8Detection::Deny)
    });

    // Mac Roman first for a file with `\r` line ends only (Excel for Mac's "CSV (Macintosh)"),
    // then the detector's choice, then the rest.
    let mut order: Vec<&'static Encoding> = Vec::new();
    if sample.cr_only() {
        order.push(encoding_rs::MACINTOSH);
    }
    order.extend(guesses);
    order.extend(CANDIDATES.iter().copied());
    let mut seen = Vec::new();
    let readings: Vec<Reading> = order
        .into_iter()
        .filter(|e| {
            let new = !seen.contains(e);
            seen.push(*e);
            new
        })
        .map(|e| Reading::of(e, sample))
        .collect();
    let plausible: Vec<&Reading> = readings.iter().filter(|r| r.plausible()).collect();
    let chosen = choose(sample, &guesses, &plausible);
    match chosen {
        Some(encoding) if mixed => Decoding::Text(TextEncoding::Mixed {
            legacy: encoding,
            first_line,
        }),
        Some(encoding) => Decoding::Text(TextEncoding::Legacy {
            encoding,
            first_line,
        }),
        None => Decoding::Unsure(unsure_message(sample, &readings, &plausible, first_line)),
    }
}

/// The encoding the sample is read in with confidence, if any.
fn choose(
    sample: &Sample,
    guesses: &[&'static Encoding],
    plausible: &[&Reading],
) -> Option<&'static Encoding> {
    let first = plausible.first()?;
    if sample.cr_only() && first.encoding == encoding_rs::MACINTOSH {
        return Some(encoding_rs::MACINTOSH);
    }
    // Every plausible reading gives the same names (Müller is the same in every Western and
    // Central European code page): which one it "is" does not matter.
    if plausible.iter().all(|r| r.texts == first.texts) {
        let eligible = || {
            plausible
                .iter()
                .filter(|r| !NEVER_CHOSEN.contains(&r.encoding))
        };
        return eligible()
            .find(|r| guesses.contains(&r.encoding))
            .or_else(|| eligible().next())
            .map(|r| r.encoding);
    }
    let fewest = plausible.iter().map(|r| r.implausible).min()?;
    let words = first.words;
    // The detector's statistics decide only for a reading as good as any, on a sample of
    // enough names, with some that read otherwise in every other plausible encoding. Its
    // reading of the pieces apart comes first; run together (see `decide`) only when that
    // reading is no plausible one.
    let backed = |g: &'static Encoding| {
        if NEVER_CHOSEN.contains(&g) {
            return None;
        }
        let r = plausible.iter().find(|r| r.encoding == g)?;
        let texts = r.texts.as_deref()?;
        let differing = plausible
            .iter()
            .filter(|o| o.texts != r.texts)
            .map(|o| differing_words(texts, o.texts.as_deref().unwrap_or_default()))
            .min()
            .unwrap_or(usize::MAX);
        (r.implausible == fewest && words >= MIN_EVIDENCE_WORDS && differing >= MIN_DIFFERING)
            .then_some(g)
    };
    let apart = guesses.first()?;
    if plausible.iter().any(|r| r.encoding == *apart) {
        backed(apart)
    } else {
        guesses.get(1).and_then(|g| backed(g))
    }
}

/// How many words with characters beyond ASCII differ between two readings of the pieces.
fn differing_words(a: &[String], b: &[String]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| {
            non_ascii_words(x)
                .zip(non_ascii_words(y))
                .filter(|(p, q)| p != q)
                .count()
                .max(1)
        })
        .sum()
}

/// The F18 message: the likely encodings, each with its `--encoding` label, and a few names as
/// each reads them.
fn unsure_message(
    sample: &Sample,
    readings: &[Reading],
    plausible: &[&Reading],
    first_line: u64,
) -> String {
    // Readings that differ: two encodings giving the same names are one choice.
    let mut likely: Vec<&Reading> = Vec::new();
    for r in plausible {
        if likely.len() < 3 && likely.iter().all(|l| l.texts != r.texts) {
            likely.push(r);
        }
    }
    let none_plausible = likely.is_empty();
    if none_plausible {
        let mut decodable: Vec<&Reading> = readings.iter().filter(|r| r.texts.is_some()).collect();
        decodable.sort_by_key(|r| r.implausible);
        for r in decodable {
            if likely.len() < 3 && likely.iter().all(|l| l.texts != r.texts) {
                likely.push(r);
            }
        }
    }
    // Pieces that read differently between the likely encodings, first ones first.
    let differs = |i: usize| {
        let texts: Vec<&str> = likely
            .iter()
            .filter_map(|r| r.texts.as_ref().and_then(|t| t.get(i)).map(String::as_str))
            .collect();
        texts.windows(2).any(|w| w[0] != w[1])
    };
    let shown: Vec<usize> = (0..sample.bad.len())
        .filter(|&i| differs(i))
        .take(2)
        .collect();
    let mut msg = format!(
        "line {first_line} has the first byte that is not UTF-8, and the encoding cannot be told for sure from {} name(s) in it{}: ",
        sample.bad.len(),
        if none_plausible {
            " (no encoding reads them all as names)"
        } else {
            ""
        }
    );
    let parts: Vec<String> = likely
        .iter()
        .map(|r| {
            let names: Vec<String> = shown
                .iter()
                .filter_map(|&i| {
                    let text = r.texts.as_ref()?.get(i)?;
                    Some(format!("line {} \"{}\"", sample.bad[i].line, clip(text)))
                })
                .collect();
            format!(
                "as {} (--encoding {}) it reads {}",
                describe(r.encoding),
                label(r.encoding),
                names.join(", ")
            )
        })
        .collect();
    msg.push_str(&parts.join("; "));
    msg.push_str("; pass the right one with --encoding, or save the file from Excel as CSV UTF-8");
    msg
}

/// At most 40 characters of a piece.
fn clip(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Characters that separate words in names (and are never a letter's mojibake alone).
fn separator(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_alphabetic()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{2018}'
                | '\u{2019}'
                | '\u{2013}'
                | '\u{2014}'
                | '\u{00b7}'
                | '\u{30fb}'
                | '\u{00b4}'
                // Punctuation of running text (the export's own "Admin › User Types"), which
                // Excel's code pages share: a separator, not a sign of a wrong reading.
                | '\u{2039}'
                | '\u{203a}'
                | '\u{00ab}'
                | '\u{00bb}'
                | '\u{2026}'
                | '\u{2022}'
                | '\u{201c}'
                | '\u{201d}'
                | '\u{201e}'
        )
}

/// The words of a text that have a character beyond ASCII.
fn non_ascii_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(separator)
        .filter(|w| !w.is_empty() && !w.is_ascii())
}

/// The script of a letter, coarsely (Han and kana together: Japanese names mix them).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Cjk,
    Hangul,
    Hebrew,
    Arabic,
    Thai,
}

fn script(c: char) -> Option<Script> {
    Some(match c as u32 {
        0x41..=0x5A | 0x61..=0x7A | 0xAA | 0xBA | 0xC0..=0x24F | 0x1E00..=0x1EFF => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F => Script::Cyrillic,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F => {
            Script::Cjk
        }
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
        0x590..=0x5FF => Script::Hebrew,
        0x600..=0x6FF => Script::Arabic,
        0xE00..=0xE7F => Script::Thai,
        _ => return None,
    })
}

/// Whether a word could be (part of) a person's name: letters of one script only, combining
/// marks after letters, and a capital beyond ASCII only first or in a word in capitals
/// (`MŸller` is Mac Roman misread, `Ko³odziej` Windows-1250 misread as Windows-1252).
fn plausible_word(word: &str) -> bool {
    let mut first_script = None;
    let mut lower = false;
    let mut inner_capital = false;
    let mut han = 0;
    for (i, c) in word.chars().enumerate() {
        // A combining mark after a letter of its script (NFD accents, Thai vowels and tones).
        let thai_mark = ('\u{e31}'..='\u{e4e}').contains(&c)
            && !('\u{e32}'..='\u{e33}').contains(&c)
            && !('\u{e40}'..='\u{e46}').contains(&c);
        if ('\u{300}'..='\u{36f}').contains(&c) || thai_mark {
            let fits = match first_script {
                Some(Script::Thai) => thai_mark,
                Some(Script::Latin | Script::Greek | Script::Cyrillic) => !thai_mark,
                _ => false,
            };
            if !fits {
                return false;
            }
            continue;
        }
        if !c.is_alphabetic() {
            return false;
        }
        let Some(s) = script(c) else {
            return false;
        };
        match first_script {
            None => first_script = Some(s),
            Some(f) if f != s => return false,
            _ => {}
        }
        if s == Script::Cjk {
            if !common_han(c) {
                return false;
            }
            han += usize::from(!('\u{3040}'..='\u{30ff}').contains(&c));
        }
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() && i > 0 && !c.is_ascii() {
            inner_capital = true;
        }
    }
    // Latin names are mostly ASCII letters: a word of accented letters only is another
    // script read in a Latin code page (Ñâåòëàíà is Светлана).
    let latin_accented = first_script == Some(Script::Latin) && {
        let ascii = word.chars().filter(char::is_ascii_alphabetic).count();
        let all = word.chars().count();
        all >= 3 && (all - ascii) > ascii
    };
    let odd_capital = lower && inner_capital;
    // Han names are short: a family name of one or two characters, a given name of one to
    // three (長谷川健太郎 written without a space is six). Longer runs are another script's
    // bytes read as Han (Светлана in EUC-KR read as Big5).
    if han > 6 {
        return false;
    }
    !odd_capital && !latin_accented
}

/// Whether a CJK character is kana, or a Han character among the most used of Chinese,
/// Taiwanese or Japanese (the first level of GB 2312, Big5 or JIS X 0208): a name of rare
/// characters only is what a double-byte encoding gives for another's bytes (`処剅刾` is
/// Cyrillic in Shift_JIS read as GBK).
fn common_han(c: char) -> bool {
    let han = matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF);
    if !han {
        return true;
    }
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<char, bool>> =
            Default::default();
    }
    SEEN.with(|seen| {
        *seen.borrow_mut().entry(c).or_insert_with(|| {
            let mut buf = [0u8; 4];
            let text = c.encode_utf8(&mut buf);
            let first_level = |enc: &'static Encoding, lead: std::ops::RangeInclusive<u8>| {
                let (bytes, _, unmappable) = enc.encode(text);
                !unmappable && bytes.len() == 2 && lead.contains(&bytes[0])
            };
            first_level(encoding_rs::GBK, 0xB0..=0xD7)
                || first_level(encoding_rs::BIG5, 0xA4..=0xC6)
                || first_level(encoding_rs::SHIFT_JIS, 0x88..=0x98)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_of(names: &[&str], enc: &'static Encoding) -> Sample {
        let mut s = Sample::default();
        for (i, n) in names.iter().enumerate() {
            let (bytes, _, _) = enc.encode(n);
            s.line(i as u64 + 2, &bytes);
        }
        s
    }

    fn decided(names: &[&str], enc: &'static Encoding) -> Decoding {
        decide(&sample_of(names, enc), 2)
    }

    #[test]
    fn words_are_judged_as_names() {
        for ok in [
            "Müller",
            "Kołodziej",
            "ŁUKASZ",
            "Светлана",
            "山田",
            "김민준",
            "Zoë",
            "Þórður",
            "Šťastný",
            "Nguyễn",
        ] {
            assert!(plausible_word(ok), "{ok}");
        }
        for bad in [
            "MŸller",
            "Ko³odziej",
            "Koіodziej",
            "JosÃ",
            "a\u{80}b",
            "Ã©",
            "Mâ€ller",
            "Ñâåòëàíà",
        ] {
            assert!(!plausible_word(bad), "{bad}");
        }
    }

    #[test]
    fn one_accent_that_reads_the_same_everywhere_is_decided() {
        let d = decided(&["Müller,Jörg"], encoding_rs::WINDOWS_1252);
        let Decoding::Text(TextEncoding::Legacy { encoding, .. }) = d else {
            panic!("{d:?}")
        };
        let bytes = encoding_rs::WINDOWS_1252.encode("Müller,Jörg").0;
        let (text, _, _) = encoding.decode(&bytes);
        assert_eq!(text, "Müller,Jörg");
    }

    #[test]
    fn one_name_that_reads_two_ways_is_refused() {
        let d = decided(&["Dvořák"], encoding_rs::WINDOWS_1250);
        let Decoding::Unsure(msg) = d else {
            panic!("{d:?}")
        };
        assert!(msg.contains("cp1250") && msg.contains("cp1252"), "{msg}");
        assert!(msg.contains("Dvořák") && msg.contains("Dvoøák"), "{msg}");
    }

    /// Every name set in every encoding that holds it, from one row to many: the decision is
    /// the names written, or a refusal. Never other names.
    #[test]
    fn no_size_and_no_encoding_gives_wrong_names() {
        let sets: &[&[&str]] = &[
            &[
                "Müller,Jürgen",
                "Søren,Ångström",
                "Núñez,Inés",
                "Gonçalves,João",
                "Weiß,Zoë",
            ],
            &[
                "Kołodziej,Łukasz",
                "Dvořák,Jiří",
                "Šťastný,Vojtěch",
                "Kővári,Péter",
                "Wójcik,Małgorzata",
            ],
            &["Иванова,Светлана", "Петров,Дмитрий", "Смирнова,Ольга"],
            &["Παπαδόπουλος,Γιώργος", "Νικολάου,Ελένη"],
            &["Şahin,Mehmet", "Yılmaz,Ayşe", "Öztürk,Emre", "Doğan,Barış"],
            &["山田,太郎", "佐藤,花子", "伊藤,さくら"],
            &["陈,伟", "王,芳", "张,伟"],
            &["陳,志明", "林,淑芬", "黃,建宏"],
            &["김,민준", "이,서연", "박,지훈"],
        ];
        let mut wrong = Vec::new();
        for set in sets {
            for enc in CANDIDATES {
                for rows in [1usize, 2, 3, 5, 8, 13, 30, 80] {
                    let mut s = Sample::default();
                    let mut lines = Vec::new();
                    let mut fits = true;
                    for i in 0..rows {
                        let line = format!(
                            ",u{i}@x.edu,{},u{i}@x.edu,,UT_4,active,",
                            set[i % set.len()]
                        );
                        let (bytes, _, unmappable) = enc.encode(&line);
                        let bytes = bytes.into_owned();
                        fits &= !unmappable;
                        s.line(i as u64 + 2, &bytes);
                        lines.push((line, bytes));
                    }
                    if !fits || s.bad.is_empty() {
                        continue;
                    }
                    let read_as = match decide(&s, 2) {
                        Decoding::Text(TextEncoding::Legacy { encoding, .. }) => encoding,
                        Decoding::Text(TextEncoding::Mixed { legacy, .. }) => legacy,
                        _ => continue,
                    };
                    for (line, bytes) in &lines {
                        let (text, _) = read_as.decode_without_bom_handling(bytes);
                        if text != *line {
                            wrong.push(format!(
                                "{} rows of {} read as {}: {text}",
                                rows,
                                enc.name(),
                                read_as.name()
                            ));
                            break;
                        }
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn labels_round_trip() {
        for e in CANDIDATES {
            let l = label(e);
            assert_eq!(super::super::encoding_for_label(&l).ok(), Some(*e), "{l}");
        }
    }
}
