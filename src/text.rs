//! Small facts about the text of a user's values that the file reader, the checks and the
//! reports all need: which characters are invisible (and how to name them), and how the file
//! writes a date. Below `file` and `rules`, so that neither reaches into the other for them.

use jiff::civil::Date;

/// The name of an invisible character that Excel, web pages and chat tools slip into values
/// (Unicode format characters and no-break spaces), when `c` is one.
pub fn invisible_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00A0}' => "no-break space",
        '\u{00AD}' => "soft hyphen",
        '\u{061C}' => "Arabic letter mark",
        '\u{180E}' => "Mongolian vowel separator",
        '\u{2007}' => "figure space",
        '\u{200B}' => "zero-width space",
        '\u{200C}' => "zero-width non-joiner",
        '\u{200D}' => "zero-width joiner",
        '\u{200E}' => "left-to-right mark",
        '\u{200F}' => "right-to-left mark",
        '\u{202A}'..='\u{202E}' => "bidirectional formatting character",
        '\u{202F}' => "narrow no-break space",
        '\u{2060}' => "word joiner",
        '\u{2061}'..='\u{2064}' => "invisible operator",
        '\u{2066}'..='\u{2069}' => "bidirectional isolate",
        '\u{FEFF}' => "zero-width no-break space (byte-order mark)",
        '\u{FFF9}'..='\u{FFFB}' => "interlinear annotation character",
        // Blank-looking letters and the rest of Unicode's format characters: each can make a
        // name display as another.
        '\u{034F}' => "combining grapheme joiner",
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => "Hangul filler",
        '\u{17B4}' | '\u{17B5}' => "Khmer inherent vowel",
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        '\u{206A}'..='\u{206F}' => "deprecated format character",
        '\u{1D173}'..='\u{1D17A}' => "musical formatting character",
        '\u{E0001}' | '\u{E0020}'..='\u{E007F}' => "tag character",
        _ => return None,
    })
}

/// `U+200B zero-width space`.
pub fn describe_invisible(c: char) -> String {
    match invisible_name(c) {
        Some(name) => format!("U+{:04X} {name}", c as u32),
        None => format!("U+{:04X}", c as u32),
    }
}

/// Whether `s` may hold an invisible character: each of them starts with one of these bytes in
/// UTF-8 (most accented letters start with C3).
pub(crate) fn may_have_invisible(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr3(0xC2, 0xE2, 0xEF, b).is_some()
        || memchr::memchr3(0xD8, 0xE1, 0xCD, b).is_some()
        || memchr::memchr3(0xE3, 0xF0, 0xF3, b).is_some()
}

/// The first invisible character of `s` (ASCII text has none: checked first).
pub fn find_invisible(s: &str) -> Option<char> {
    if !may_have_invisible(s) {
        return None;
    }
    s.chars().find(|&c| invisible_name(c).is_some())
}

/// `s` without its invisible characters: no-break spaces become spaces, the others go (the
/// joiners only where `keep_joiners` is false: some scripts spell names with them).
pub fn remove_invisible(s: &str, keep_joiners: bool) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\u{00A0}' | '\u{2007}' | '\u{202F}' => Some(' '),
            '\u{200C}' | '\u{200D}' if keep_joiners => Some(c),
            c if invisible_name(c).is_some() => None,
            c => Some(c),
        })
        .collect()
}

/// Formats a date as the file wants it.
pub fn format_file_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.month(), d.day(), d.year())
}
