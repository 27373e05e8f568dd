//! What a valid value of each kind looks like. Shared by the checks, `fix` and the importer.

use jiff::civil::Date;

use super::words;
pub(crate) use crate::text::may_have_invisible;
pub use crate::text::{
    describe_invisible, find_invisible, format_file_date, invisible_name, remove_invisible,
};

/// Symbols Qualtrics forbids in usernames and user fields.
pub const FORBIDDEN: &[char] = &[
    '=', ';', '~', '!', '&', '*', '%', '{', '}', '<', '>', '[', ']', '|', '\\', '"', '^',
];

/// `FORBIDDEN` as a byte table (every forbidden symbol is ASCII).
const FORBIDDEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < FORBIDDEN.len() {
        t[FORBIDDEN[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `bytes` has a control byte (below 0x20, or DEL), eight bytes at a time.
pub(super) fn has_control(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let del = x ^ (ONES * 0x7F);
        let is_del = del.wrapping_sub(ONES) & !del & HIGH;
        if below_space | is_del != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b < 0x20 || b == 0x7F)
}

/// Whether `b` has a control byte (as [`has_control`] has them), and whether it has a UTF-8
/// lead byte other than `C3` (which starts the accented Latin letters, `é` `ü` `ø`): every
/// character that [`may_have_invisible`] or [`has_lead_then_continuation`] looks for starts
/// with such a byte. One pass, without branches (the compiler runs it on two words at once),
/// after which most records need none of the checks for control, invisible or garbled
/// characters.
pub(crate) fn control_and_rare_bytes(b: &[u8]) -> (bool, bool) {
    let (mut control, mut rare) = (0u64, 0u64);
    words::each_word(b, b' ', |_, x| {
        // A lane below 0x20 borrows into its top bit (the lowest one surely does); a lane
        // past ASCII has it already, and is left out.
        control |= (x.wrapping_sub(words::ONES * 0x20) & !x) | words::has_byte(x, 0x7F);
        // A lead byte has its top two bits set: the second, shifted up, meets the first.
        rare |= x & (x << 1) & !words::eq_lanes(x, 0xC3);
    });
    (control & words::HIGH != 0, rare & words::HIGH != 0)
}

/// Whether some byte of `b` is one that `table` marks: eight lookups at a time, without a
/// branch per byte (the usual value has none, and is looked at whole).
fn any_byte_in(b: &[u8], table: &[bool; 256]) -> bool {
    let mut chunks = b.chunks_exact(8);
    let mut any = false;
    for c in &mut chunks {
        for &b in c {
            any |= table[b as usize];
        }
    }
    for &b in chunks.remainder() {
        any |= table[b as usize];
    }
    any
}

/// Each forbidden symbol in `s` with its 1-based character position.
pub fn forbidden_symbols(s: &str) -> Vec<(char, usize)> {
    if !any_byte_in(s.as_bytes(), &FORBIDDEN_BYTES) {
        return Vec::new();
    }
    s.chars()
        .enumerate()
        .filter(|(_, c)| FORBIDDEN.contains(c))
        .map(|(i, c)| (c, i + 1))
        .collect()
}

/// Whether `b` is a plain ASCII address with one `@`, something before it, and a dotted
/// domain without empty parts: every shape check in one pass over the bytes, no allocation.
/// `false` sends the address to the slow path, which says what is wrong (or accepts it, for
/// non-ASCII addresses).
fn plain_address(b: &[u8]) -> bool {
    plain_address_by_words(b).unwrap_or_else(|| plain_address_by_bytes(b))
}

/// [`plain_address_by_bytes`] eight bytes at a time, for the usual address: no byte below `!`
/// or past ASCII (`None` for any other, which the byte loop decides: it tells whitespace from
/// other control bytes). One pass finds the `@`, a second looks at the domain's dots.
fn plain_address_by_words(b: &[u8]) -> Option<bool> {
    let mut odd = 0u64;
    let mut at = None;
    let mut twice = false;
    words::each_word(b, b'a', |i, x| {
        // A lane of 0x80 or more has its top bit; one below 0x21 borrows into it (the lowest
        // such lane surely does, and one is enough).
        odd |= (x | x.wrapping_sub(words::ONES * 0x21)) & words::HIGH;
        let ats = words::eq_lanes(x, b'@');
        // A branch, taken once an address: it also keeps the loop scalar, which for a few
        // words is faster than what the vectoriser makes of it.
        if ats != 0 {
            twice |= at.is_some() || ats & (ats - 1) != 0;
            at.get_or_insert(i + ats.trailing_zeros() as usize / 8);
        }
    });
    if odd != 0 {
        return None;
    }
    let at = match at {
        Some(at) if !twice && at > 0 => at,
        _ => return Some(false),
    };
    let domain = &b[at + 1..];
    // Some dot, none first or last, none right after another (`carry`: the previous word's
    // last lane held one).
    let (mut dots, mut pairs, mut carry) = (0u64, 0u64, 0u64);
    words::each_word(domain, b'a', |_, x| {
        let d = words::eq_lanes(x, b'.');
        pairs |= d & ((d << 8) | carry);
        carry = d >> 56;
        dots |= d;
    });
    Some(dots != 0 && pairs == 0 && domain.first() != Some(&b'.') && domain.last() != Some(&b'.'))
}

/// [`plain_address`] one byte at a time, for any input.
fn plain_address_by_bytes(b: &[u8]) -> bool {
    let mut at = None;
    let mut prev = 0u8;
    let mut dotted = false;
    for (i, &c) in b.iter().enumerate() {
        if c >= 0x80 || c.is_ascii_whitespace() {
            return false;
        }
        if c == b'@' {
            if at.is_some() {
                return false;
            }
            at = Some(i);
        } else if c == b'.' && at.is_some() {
            // A dot right after the @ or after another dot leaves an empty domain part.
            if prev == b'.' || prev == b'@' {
                return false;
            }
            dotted = true;
        }
        prev = c;
    }
    matches!(at, Some(a) if a > 0) && dotted && prev != b'.'
}

/// Why `s` is not shaped like an email address, if it is not.
pub fn email_issue(s: &str) -> Option<String> {
    // The common case, one pass over the bytes.
    if plain_address(s.as_bytes()) {
        return None;
    }
    if let Some(c) = find_invisible(s) {
        return Some(format!(
            "it contains the invisible character {}",
            describe_invisible(c)
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace()) {
        return Some(if c == ' ' {
            "it contains a space".into()
        } else {
            format!("it contains the blank character U+{:04X}", c as u32)
        });
    }
    let ats = s.matches('@').count();
    if ats == 0 {
        return Some("it has no @".into());
    }
    if ats > 1 {
        return Some(format!("it has {ats} @ signs, an address has one"));
    }
    let (local, domain) = s.split_once('@').expect("exactly one @ was counted");
    if local.is_empty() {
        return Some("nothing stands before the @".into());
    }
    if domain.is_empty() {
        return Some("nothing stands after the @".into());
    }
    if !domain.contains('.') {
        return Some(format!("the domain \"{domain}\" has no dot"));
    }
    if domain.split('.').any(str::is_empty) {
        return Some(format!("the domain \"{domain}\" has an empty part"));
    }
    None
}

/// Bytes an id may not hold after its prefix: all but ASCII letters and digits, and (in
/// `NOT_WORD`) `_`.
const NOT_ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = !(b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    t
};
const NOT_WORD: [bool; 256] = {
    let mut t = NOT_ALNUM;
    t[b'_' as usize] = false;
    t
};

fn id_with_prefix(s: &str, prefix: &str, min: usize, max: usize, underscore: bool) -> bool {
    let banned = if underscore { &NOT_WORD } else { &NOT_ALNUM };
    match s.strip_prefix(prefix) {
        Some(rest) => (min..=max).contains(&rest.len()) && !any_byte_in(rest.as_bytes(), banned),
        None => false,
    }
}

/// `UR_` followed by 11–15 letters or digits.
pub fn is_user_id(s: &str) -> bool {
    id_with_prefix(s, "UR_", 11, 15, false)
}

/// `UT_` followed by letters, digits or underscores (`UT_BRANDADMIN`, `UT_4SjjZmbPphZGKDq`).
pub fn is_account_type(s: &str) -> bool {
    id_with_prefix(s, "UT_", 1, 64, true)
}

/// `DV_` followed by letters, digits or underscores.
pub fn is_division_id(s: &str) -> bool {
    id_with_prefix(s, "DV_", 1, 64, true)
}

/// An account status as the file may spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// Words that mean active or disabled: English synonyms and the words of the languages the
/// Qualtrics interface offers, as admins type or paste them (compared ignoring case).
const STATUS_SYNONYMS: &[(&str, Status)] = &[
    ("enabled", Status::Active),
    ("inactive", Status::Disabled),
    // German, French, Spanish, Portuguese, Italian, Dutch, Swedish/Danish/Norwegian, Polish,
    // Finnish, Turkish, Japanese, Korean, Chinese.
    ("aktiviert", Status::Active),
    ("aktiv", Status::Active),
    ("deaktiviert", Status::Disabled),
    ("inaktiv", Status::Disabled),
    ("activé", Status::Active),
    ("actif", Status::Active),
    ("désactivé", Status::Disabled),
    ("inactif", Status::Disabled),
    ("activo", Status::Active),
    ("activado", Status::Active),
    ("inactivo", Status::Disabled),
    ("desactivado", Status::Disabled),
    ("deshabilitado", Status::Disabled),
    ("ativo", Status::Active),
    ("ativado", Status::Active),
    ("inativo", Status::Disabled),
    ("desativado", Status::Disabled),
    ("attivo", Status::Active),
    ("attivato", Status::Active),
    ("disattivato", Status::Disabled),
    ("disabilitato", Status::Disabled),
    ("inattivo", Status::Disabled),
    ("actief", Status::Active),
    ("geactiveerd", Status::Active),
    ("inactief", Status::Disabled),
    ("gedeactiveerd", Status::Disabled),
    ("aktywny", Status::Active),
    ("nieaktywny", Status::Disabled),
    ("aktiivinen", Status::Active),
    ("ei aktiivinen", Status::Disabled),
    ("aktif", Status::Active),
    ("devre dışı", Status::Disabled),
    ("有効", Status::Active),
    ("無効", Status::Disabled),
    ("활성", Status::Active),
    ("비활성", Status::Disabled),
    ("启用", Status::Active),
    ("禁用", Status::Disabled),
    ("已启用", Status::Active),
    ("已禁用", Status::Disabled),
];

/// Whether `s` (`s_ascii`: it is ASCII) equals the lowercase word `lower` ignoring case,
/// without allocating.
fn eq_fold(s: &str, s_ascii: bool, lower: &str) -> bool {
    if s_ascii {
        // ASCII lowercases to ASCII of the same length: it never spells a word of other
        // letters or another length.
        return s.len() == lower.len() && lower.is_ascii() && s.eq_ignore_ascii_case(lower);
    }
    // Other text may (the Kelvin sign lowercases to `k`).
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// `(status, was_synonym)`: `active`/`disabled` in any case, or a synonym (`enabled`/
/// `inactive`, or the word of another interface language such as `Aktiviert`/`Désactivé`);
/// `None` for anything else.
pub fn parse_status(s: &str) -> Option<(Status, bool)> {
    if s.eq_ignore_ascii_case("active") {
        return Some((Status::Active, false));
    }
    if s.eq_ignore_ascii_case("disabled") {
        return Some((Status::Disabled, false));
    }
    let ascii = s.is_ascii();
    STATUS_SYNONYMS
        .iter()
        .find(|(w, _)| eq_fold(s, ascii, w))
        .map(|&(_, st)| (st, true))
}

/// The text a mojibake value stood for: UTF-8 that was decoded as Windows-1252 and saved again
/// (`KrÃ¼ger` → `Krüger`, `Ð¡Ð²ÐµÑ‚` → `Свет`), when `s` is that. It is when every character
/// maps back to a Windows-1252 byte and those bytes are UTF-8 with at least one multi-byte
/// character, which ordinary text practically never is (a UTF-8 lead byte read as `Ã`, `Ð`
/// and the like must be followed by continuation bytes read as `¼`, `¡`, `‚`, …).
pub fn unmojibake(s: &str) -> Option<String> {
    if s.is_ascii() || !has_lead_then_continuation(s) {
        return None;
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
    if unmappable {
        return None;
    }
    let fixed = std::str::from_utf8(&bytes).ok()?;
    (fixed != s).then(|| fixed.to_string())
}

/// Whether a UTF-8 lead byte read as Windows-1252 (`Ã`, `Ð`, …: U+00C2–U+00F4, bytes C3 82–C3 B4)
/// is followed by a continuation byte read so (U+0080–U+00BF, or the Windows-1252 letters and
/// signs of 0x80–0x9F such as `‚` `€` `™`, whose UTF-8 starts with C2, C5, C6, CB or E2): a
/// cheap test on the bytes that real names (Krüger, José) fail.
pub(crate) fn has_lead_then_continuation(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(0xC3, b).any(|i| {
        matches!(b.get(i + 1), Some(0x82..=0xB4))
            && matches!(b.get(i + 2), Some(0xC2 | 0xC5 | 0xC6 | 0xCB | 0xE2))
    })
}

/// Values as Unicode compares them: in normalization form C. `é` typed as `e` + U+0301 (as a
/// Mac may) is the same name as the precomposed `é`. Text already in NFC (nearly all) is
/// returned as it is, without a copy.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    }
}

/// Whether two values are the same text once normalized ([`nfc`]).
pub fn same_text(a: &str, b: &str) -> bool {
    a == b || (!(a.is_ascii() && b.is_ascii()) && nfc(a) == nfc(b))
}

/// A C1 control character (U+0080–U+009F: what a Windows-1252 byte such as 0x81 or 0x9D
/// becomes when read as Latin-1, never typed) or U+FFFD (what a decoder writes for bytes it
/// could not read): text lost in a conversion.
pub fn is_lost_text_char(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9F}' | '\u{FFFD}')
}

/// The first [`is_lost_text_char`] of `s`.
pub fn find_lost_text_char(s: &str) -> Option<char> {
    // Both start with a byte (C2, EF) that ASCII and most accented letters lack.
    memchr::memchr2(0xC2, 0xEF, s.as_bytes())?;
    s.chars().find(|&c| is_lost_text_char(c))
}

/// Whether `s` is a number as Excel shows a long one in a General cell: `2.02312E+11`,
/// `1.23457E+15`, `2,02312E+11` (a European Excel's decimal comma), `1E+15`, lower-case `e`.
/// The digits past the sixth are gone: the value cannot be turned back into the id it was.
pub fn is_scientific_notation(s: &str) -> bool {
    let b = s.as_bytes();
    // Nearly every value fails here.
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let Some(e) = b.iter().position(|&c| c == b'E' || c == b'e') else {
        return false;
    };
    let (mantissa, exponent) = (&b[..e], &b[e + 1..]);
    let int_end = mantissa
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(mantissa.len());
    let mantissa_ok = match &mantissa[int_end..] {
        [] => true,
        [b'.' | b',', frac @ ..] => !frac.is_empty() && frac.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let digits = match exponent {
        [b'+' | b'-', d @ ..] => d,
        d => d,
    };
    mantissa_ok && (1..=3).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
}

/// How a value from a file is a damaged copy of a good one (the value in Qualtrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The good value's UTF-8 read as a legacy encoding and saved again, `rounds` times
    /// (`Krüger` → `KrÃ¼ger` → `KrÃƒÂ¼ger`).
    Mojibake {
        /// The encoding it was read as, as admins know it (`Windows-1252`).
        encoding: &'static str,
        rounds: u8,
    },
    /// C1 control characters or U+FFFD ([`is_lost_text_char`]) the good value lacks.
    LostCharacters(char),
    /// `?` or U+FFFD where the good value has a letter past ASCII (`Dvo?ák` for `Dvořák`): a
    /// save in an encoding that could not hold it.
    Replaced,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Mojibake { encoding, rounds: 1 } => {
                write!(f, "its UTF-8 text read as {encoding} and saved again")
            }
            Damage::Mojibake { encoding, rounds } => write!(
                f,
                "its UTF-8 text read as {encoding} and saved again, {rounds} times over"
            ),
            Damage::LostCharacters(c) => write!(
                f,
                "U+{:04X}, a character that only a wrong text conversion leaves",
                *c as u32
            ),
            Damage::Replaced => f.write_str(
                "letters replaced by ? (saved in an encoding that cannot hold them, such as Excel's \"CSV (Comma delimited)\")",
            ),
        }
    }
}

/// The legacy encodings a UTF-8 file gets read as: Excel's ANSI code pages of each region, Mac
/// Roman, and the East Asian ones; with the name an admin knows.
const MISREAD_AS: [(&encoding_rs::Encoding, &str); 15] = [
    (encoding_rs::WINDOWS_1252, "Windows-1252"),
    (encoding_rs::WINDOWS_1250, "Windows-1250"),
    (encoding_rs::WINDOWS_1251, "Windows-1251"),
    (encoding_rs::MACINTOSH, "Mac Roman"),
    (encoding_rs::WINDOWS_1253, "Windows-1253"),
    (encoding_rs::WINDOWS_1254, "Windows-1254"),
    (encoding_rs::WINDOWS_1257, "Windows-1257"),
    (encoding_rs::ISO_8859_2, "ISO-8859-2"),
    (encoding_rs::ISO_8859_15, "ISO-8859-15"),
    (encoding_rs::KOI8_R, "KOI8-R"),
    (encoding_rs::IBM866, "CP866"),
    (encoding_rs::SHIFT_JIS, "Shift_JIS"),
    (encoding_rs::GBK, "GBK"),
    (encoding_rs::BIG5, "Big5"),
    (encoding_rs::EUC_KR, "EUC-KR"),
];

/// Rounds of misreading looked for: each roughly doubles the text, so more are not met.
const MAX_ROUNDS: u8 = 5;

/// Whether `new` (a value from a file, trimmed) is a damaged copy of `good` (the value in
/// Qualtrics), and how. `None` when they are the same text ([`same_text`]) or `new` is a real
/// edit. Pure: the plan asks it for every field an update would change.
pub fn damage(good: &str, new: &str) -> Option<Damage> {
    if same_text(good, new) {
        return None;
    }
    let good = nfc(good);
    let new = nfc(new);
    let (good, new) = (good.as_ref(), new.as_ref());
    if !good.is_ascii() {
        for (enc, name) in MISREAD_AS {
            let mut garbled = std::borrow::Cow::Borrowed(good);
            for rounds in 1..=MAX_ROUNDS {
                let (next, _) = enc.decode_without_bom_handling(garbled.as_bytes());
                if next == garbled || next.len() > new.len() * 2 + 16 {
                    break;
                }
                let next = next.into_owned();
                if crate::file::trim(&next) == new || same_text(crate::file::trim(&next), new) {
                    return Some(Damage::Mojibake {
                        encoding: name,
                        rounds,
                    });
                }
                garbled = std::borrow::Cow::Owned(next);
            }
        }
    }
    if replaced_letters(good, new) {
        return Some(Damage::Replaced);
    }
    find_lost_text_char(new)
        .filter(|_| find_lost_text_char(good).is_none())
        .map(Damage::LostCharacters)
}

/// Whether `new` is `good` with some of its letters past ASCII each replaced by one to four
/// `?` or U+FFFD (one per character, or one per UTF-8 byte), and nothing else changed.
fn replaced_letters(good: &str, new: &str) -> bool {
    let is_mark = |c: char| c == '?' || c == '\u{FFFD}';
    if good.is_ascii() || !new.chars().any(is_mark) {
        return false;
    }
    let g: Vec<char> = good.chars().collect();
    let n: Vec<char> = new.chars().collect();
    // reach[i][j]: good[..i] can become new[..j]; `replaced` says whether some letter was.
    // Values are short (at most a few hundred characters): a table is cheap.
    let width = n.len() + 1;
    let mut reach = vec![0u8; (g.len() + 1) * width];
    const PLAIN: u8 = 1;
    const REPLACED: u8 = 2;
    reach[0] = PLAIN;
    for i in 0..g.len() {
        for j in 0..=n.len() {
            let here = reach[i * width + j];
            if here == 0 {
                continue;
            }
            if j < n.len() && g[i] == n[j] {
                reach[(i + 1) * width + j + 1] |= here;
            }
            if !g[i].is_ascii() && g[i].is_alphabetic() {
                for k in 1..=4 {
                    if j + k > n.len() || !is_mark(n[j + k - 1]) {
                        break;
                    }
                    reach[(i + 1) * width + j + k] |= REPLACED;
                }
            }
        }
    }
    reach[g.len() * width + n.len()] & REPLACED != 0
}

/// Why an expirationDate is not a good MM/DD/YYYY date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateIssue {
    /// Not a date shape we recognise; the text says what it looks like.
    Format(String),
    /// A shape that exists but a day that does not.
    Impossible(String),
    /// `YYYY-MM-DD`, with the date it means when it is real.
    Iso(Option<Date>),
    /// `DD/MM/YYYY` (day above 12 in front), with the date it would mean.
    DayFirst(Option<Date>),
    /// M/D/YYYY with one-digit parts, with the date it means.
    Unpadded(Date),
}

/// One to four ASCII digits as a number.
fn digits(s: &str) -> Option<i16> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    s.bytes().try_fold(0i16, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i16::from(b - b'0'))
    })
}

/// `s` split on the ASCII `sep` into exactly three parts (no allocation, no searcher: dates
/// are short).
fn split3(s: &str, sep: u8) -> Option<[&str; 3]> {
    let mut cuts = [0usize; 2];
    let mut n = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == sep {
            *cuts.get_mut(n)? = i;
            n += 1;
        }
    }
    // Cutting at an ASCII byte keeps every part UTF-8.
    (n == 2).then(|| [&s[..cuts[0]], &s[cuts[0] + 1..cuts[1]], &s[cuts[1] + 1..]])
}

/// Parses a file date, which must be MM/DD/YYYY.
pub fn parse_date(s: &str) -> Result<Date, DateIssue> {
    // The usual shape first, without splitting.
    if let Some((m, d, y)) = two_digit_date(s) {
        return month_day_year(i16::from(m), i16::from(d), y, true);
    }
    if let Some(parts) = split3(s, b'/') {
        let (m, d, y) = match (digits(parts[0]), digits(parts[1]), digits(parts[2])) {
            (Some(m), Some(d), Some(y)) => (m, d, y),
            _ => return Err(DateIssue::Format("the parts are not all numbers".into())),
        };
        if parts[2].len() != 4 {
            return Err(DateIssue::Format("the year needs four digits".into()));
        }
        return month_day_year(m, d, y, parts[0].len() == 2 && parts[1].len() == 2);
    }
    if let Some(dashes) = split3(s, b'-').filter(|d| d[0].len() == 4) {
        if let (Some(y), Some(m), Some(d)) =
            (digits(dashes[0]), digits(dashes[1]), digits(dashes[2]))
        {
            return Err(DateIssue::Iso(
                Date::new(y, m.clamp(0, 99) as i8, d.clamp(0, 99) as i8).ok(),
            ));
        }
    }
    // A full ISO timestamp, as an API dump might hold.
    if s.len() > 10 && s.as_bytes().get(10) == Some(&b'T') {
        if let Err(DateIssue::Iso(d)) = parse_date(&s[..10]) {
            return Err(DateIssue::Iso(d));
        }
    }
    if s.bytes().all(|b| b.is_ascii_digit()) && (4..=6).contains(&s.len()) {
        return Err(DateIssue::Format(
            "it looks like an Excel date serial number: format the column as text".into(),
        ));
    }
    if s.split('.').count() == 3 {
        return Err(DateIssue::Format(
            "it uses dots, as in the German DD.MM.YYYY".into(),
        ));
    }
    Err(DateIssue::Format("it is not a date in MM/DD/YYYY".into()))
}

/// The date of a file's month, day and four-digit year; `padded`: the month and day were
/// written with two digits.
fn month_day_year(m: i16, d: i16, y: i16, padded: bool) -> Result<Date, DateIssue> {
    if m > 12 && (1..=12).contains(&d) {
        // Read day-first it must still be a real date; if not, it is simply impossible.
        return match Date::new(y, d as i8, m as i8) {
            Ok(date) => Err(DateIssue::DayFirst(Some(date))),
            Err(_) => Err(DateIssue::Impossible(format!(
                "neither month {m}, day {d} nor (read as DD/MM/YYYY) day {m} of month {d} of {y} exists"
            ))),
        };
    }
    let date = Date::new(y, m.clamp(0, 99) as i8, d.clamp(0, 99) as i8)
        .map_err(|_| DateIssue::Impossible(format!("month {m}, day {d} of {y} does not exist")))?;
    if !padded {
        return Err(DateIssue::Unpadded(date));
    }
    Ok(date)
}

/// The numbers of a date written `NN/NN/NNNN`, as nearly every date is: read straight off the
/// bytes.
pub(crate) fn two_digit_date(date: &str) -> Option<(i8, i8, i16)> {
    let b: &[u8; 10] = date.as_bytes().try_into().ok()?;
    let digit = |i: usize| b[i].is_ascii_digit().then(|| b[i] - b'0');
    if b[2] != b'/' || b[5] != b'/' {
        return None;
    }
    let two = |i: usize| Some((digit(i)? * 10 + digit(i + 1)?) as i8);
    let year = (6..10).try_fold(0i16, |y, i| Some(y * 10 + i16::from(digit(i)?)))?;
    Some((two(0)?, two(3)?, year))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = |y, m, dd| Date::new(y, m, dd).expect("valid");
        assert_eq!(parse_date("12/31/2027"), Ok(d(2027, 12, 31)));
        assert_eq!(parse_date("02/29/2028"), Ok(d(2028, 2, 29)));
        assert!(matches!(
            parse_date("02/29/2027"),
            Err(DateIssue::Impossible(_))
        ));
        assert!(matches!(
            parse_date("02/30/2028"),
            Err(DateIssue::Impossible(_))
        ));
        assert_eq!(
            parse_date("2027-12-31"),
            Err(DateIssue::Iso(Some(d(2027, 12, 31))))
        );
        assert_eq!(
            parse_date("31/12/2027"),
            Err(DateIssue::DayFirst(Some(d(2027, 12, 31))))
        );
        assert_eq!(
            parse_date("3/4/2027"),
            Err(DateIssue::Unpadded(d(2027, 3, 4)))
        );
        assert!(matches!(parse_date("12/31/27"), Err(DateIssue::Format(_))));
        assert!(matches!(
            parse_date("31.12.2027"),
            Err(DateIssue::Format(_))
        ));
        assert!(matches!(parse_date("46752"), Err(DateIssue::Format(_))));
        assert!(matches!(
            parse_date("00/10/2027"),
            Err(DateIssue::Impossible(_))
        ));
        assert!(matches!(
            parse_date("13/13/2027"),
            Err(DateIssue::Impossible(_))
        ));
        assert_eq!(format_file_date(d(2027, 3, 4)), "03/04/2027");
    }

    /// The fast path as it was (six scans and a substring searcher per call).
    fn old_fast_path(s: &str) -> bool {
        if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_whitespace()) {
            if let Some(at) = memchr::memchr(b'@', s.as_bytes()) {
                let domain = &s.as_bytes()[at + 1..];
                return at > 0
                    && memchr::memchr(b'@', domain).is_none()
                    && domain.first() != Some(&b'.')
                    && domain.last().is_some_and(|&b| b != b'.')
                    && memchr::memchr(b'.', domain).is_some()
                    && memchr::memmem::find(domain, b"..").is_none();
            }
        }
        false
    }

    /// The date helpers as they were (a searcher and `str::parse`).
    fn old_split3(s: &str, sep: char) -> Option<[&str; 3]> {
        let mut it = s.split(sep);
        let parts = [it.next()?, it.next()?, it.next()?];
        it.next().is_none().then_some(parts)
    }

    fn old_digits(s: &str) -> Option<i16> {
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }

    proptest::proptest! {
        #[test]
        fn status_words_compare_as_before(s in "(?i)(devre dışı|aktiv|désactivé|enabled|有効|[a-zé ıİK]{0,8})") {
            let old = |s: &str, lower: &str| {
                if s.is_ascii() && lower.is_ascii() {
                    return s.eq_ignore_ascii_case(lower);
                }
                s.chars().flat_map(char::to_lowercase).eq(lower.chars())
            };
            for (w, _) in STATUS_SYNONYMS {
                proptest::prop_assert_eq!(eq_fold(&s, s.is_ascii(), w), old(&s, w), "{:?} {:?}", s, w);
            }
        }

        #[test]
        fn one_pass_address_check_agrees_with_the_old_one(s in "[a.@ +é\t]{0,12}") {
            proptest::prop_assert_eq!(plain_address(s.as_bytes()), old_fast_path(&s));
        }

        #[test]
        fn address_check_by_words_agrees_with_bytes(
            s in "[a.@ +é\t\x0B\x01~-]{0,70}",
            plain in "[a-z]{1,30}@[a-z]{1,10}(\\.[a-z]{1,8}){0,4}",
        ) {
            for s in [s.as_str(), plain.as_str()] {
                let bytes = plain_address_by_bytes(s.as_bytes());
                if let Some(words) = plain_address_by_words(s.as_bytes()) {
                    proptest::prop_assert_eq!(words, bytes, "{:?}", s);
                }
                proptest::prop_assert_eq!(plain_address(s.as_bytes()), bytes);
            }
        }

        #[test]
        fn one_pass_finds_controls_and_rare_bytes(s in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let (control, rare) = control_and_rare_bytes(&s);
            proptest::prop_assert_eq!(control, has_control(&s));
            proptest::prop_assert_eq!(rare, s.iter().any(|&b| b >= 0xC0 && b != 0xC3));
        }

        #[test]
        fn rare_bytes_cover_invisible_and_garbled_text(s in "[aé\u{a0}\u{200b}\u{2060}\u{feff}\u{61c}\u{180e}\u{34f}\u{3164}\u{2028}\u{e0041}\u{1d173}ÃÂ¼‚€™ÐÑ]{0,12}") {
            let (_, rare) = control_and_rare_bytes(s.as_bytes());
            if may_have_invisible(&s) || has_lead_then_continuation(&s) {
                proptest::prop_assert!(rare, "{:?}", s);
            }
        }

        #[test]
        fn date_parts_as_before(s in "[0-9/a-]{0,12}") {
            proptest::prop_assert_eq!(split3(&s, b'/'), old_split3(&s, '/'));
            proptest::prop_assert_eq!(split3(&s, b'-'), old_split3(&s, '-'));
            proptest::prop_assert_eq!(digits(&s), old_digits(&s));
        }
    }

    /// Realistic names, accented and not Latin, some with letters Windows-1252 lacks.
    const NAMES: [&str; 14] = [
        "Krüger",
        "Müller",
        "Dvořák",
        "Светлана",
        "陈伟",
        "José María",
        "Łukasz Wróbel",
        "Αλέξανδρος",
        "Çağlar Öztürk",
        "Søren Ærø",
        "山田太郎",
        "김민준",
        "Zoë",
        "Nguyễn Thị",
    ];

    /// `s`'s UTF-8 read as `enc` and saved as UTF-8, `rounds` times: what Excel does to a
    /// UTF-8 CSV opened without a BOM and saved as "CSV UTF-8".
    fn garble(s: &str, enc: &'static encoding_rs::Encoding, rounds: usize) -> String {
        let mut t = s.to_string();
        for _ in 0..rounds {
            t = enc.decode_without_bom_handling(t.as_bytes()).0.into_owned();
        }
        t
    }

    #[test]
    fn damage_finds_mojibake_of_any_round_and_encoding() {
        assert_eq!(
            damage("Krüger", "KrÃ¼ger"),
            Some(Damage::Mojibake {
                encoding: "Windows-1252",
                rounds: 1
            })
        );
        assert_eq!(
            damage("Krüger", "KrÃƒÂ¼ger"),
            Some(Damage::Mojibake {
                encoding: "Windows-1252",
                rounds: 2
            })
        );
        assert!(matches!(
            damage("Müller", "MÃ¼ller"),
            Some(Damage::Mojibake { .. })
        ));
        assert!(matches!(
            damage("Светлана", "Ð¡Ð²ÐµÑ‚Ð»Ð°Ð½Ð°"),
            Some(Damage::Mojibake { .. })
        ));
        for name in NAMES {
            for (enc, label) in MISREAD_AS {
                for rounds in 1..=3 {
                    let bad = garble(name, enc, rounds);
                    if same_text(&bad, name) {
                        continue;
                    }
                    let found = damage(name, crate::file::trim(&bad));
                    assert!(found.is_some(), "{name} as {label} ×{rounds}: {bad:?}");
                }
            }
        }
    }

    #[test]
    fn damage_finds_lost_and_replaced_letters() {
        assert_eq!(damage("Dvořák", "Dvo?ák"), Some(Damage::Replaced));
        assert_eq!(damage("Светлана", "????????"), Some(Damage::Replaced));
        assert_eq!(damage("陈伟", "??"), Some(Damage::Replaced));
        assert_eq!(damage("Krüger", "Kr??ger"), Some(Damage::Replaced));
        assert_eq!(damage("Krüger", "Kr\u{FFFD}ger"), Some(Damage::Replaced));
        assert_eq!(
            damage("Lee", "Le\u{9D}e"),
            Some(Damage::LostCharacters('\u{9D}'))
        );
        assert_eq!(
            damage("Łukasz", "Å\u{81}ukasz"),
            Some(Damage::Mojibake {
                encoding: "Windows-1252",
                rounds: 1
            })
        );
    }

    #[test]
    fn real_edits_and_normalization_are_not_damage() {
        for (good, new) in [
            ("Krüger", "Krueger"),
            ("Krüger", "Kröger"),
            ("Anne", "Ann"),
            ("Dvořák", "Dvorak"),
            ("Lee", "Le?"),
            ("O'Neil", "O?Neil"),
            ("KrÃ¼ger", "Krüger"),
            ("Zoe", "Zoë"),
            ("Светлана", "Светлана Петрова"),
            ("Krüger", "Kru\u{308}ger"),
            ("", "José"),
        ] {
            assert_eq!(damage(good, new), None, "{good} → {new}");
        }
        assert!(same_text("Kru\u{308}ger", "Krüger"));
        assert!(!same_text("Kruger", "Krüger"));
        assert_eq!(nfc("e\u{301}"), "é");
        assert!(matches!(nfc("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn scientific_notation_as_excel_shows_numbers() {
        for s in [
            "2.02312E+11",
            "1.23457E+15",
            "2,02312E+11",
            "2.02312e+11",
            "1E+15",
            "9.9E-05",
            "3E5",
        ] {
            assert!(is_scientific_notation(s), "{s}");
        }
        for s in [
            "202312345678",
            "2.02312E+11@x.org",
            "e1",
            "E+11",
            "2.E+11",
            "2.0E+",
            "2.0E+1234",
            "ann@x.org",
            "2e5a",
            "",
        ] {
            assert!(!is_scientific_notation(s), "{s}");
        }
    }

    #[test]
    fn lost_text_characters() {
        assert_eq!(find_lost_text_char("Kr\u{81}ger"), Some('\u{81}'));
        assert_eq!(find_lost_text_char("Kr\u{FFFD}ger"), Some('\u{FFFD}'));
        assert_eq!(find_lost_text_char("Krüger \u{a0}颖"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_rounds_of_misreading_are_damage(
            name in proptest::sample::select(NAMES.to_vec()),
            enc in 0usize..4,
            rounds in 1usize..=4,
        ) {
            let (enc, _) = MISREAD_AS[enc];
            let bad = garble(name, enc, rounds);
            proptest::prop_assume!(!same_text(&bad, name));
            proptest::prop_assert!(damage(name, crate::file::trim(&bad)).is_some(), "{:?}", bad);
        }

        #[test]
        fn edits_that_keep_every_letter_are_not_damage(
            name in proptest::sample::select(NAMES.to_vec()),
            extra in "[a-zA-Z -]{1,8}",
        ) {
            // An admin's edit: letters added to the name, its accents kept.
            let edited = format!("{name}{extra}");
            proptest::prop_assert_eq!(damage(name, edited.trim()), None);
            let nfd: String = unicode_normalization::UnicodeNormalization::nfd(name).collect();
            proptest::prop_assert_eq!(damage(name, &nfd), None);
            proptest::prop_assert!(same_text(name, &nfd));
        }
    }

    #[test]
    fn the_quick_check_sees_every_invisible_character() {
        let all = (0..=0x10FFFFu32).filter_map(char::from_u32);
        for c in all.filter(|&c| invisible_name(c).is_some()) {
            let s = format!("a{c}b");
            assert!(may_have_invisible(&s), "U+{:04X}", c as u32);
            assert_eq!(find_invisible(&s), Some(c));
        }
    }

    #[test]
    fn mojibake_is_reversed() {
        assert_eq!(unmojibake("KrÃ¼ger").as_deref(), Some("Krüger"));
        assert_eq!(unmojibake("BjÃ¶rn").as_deref(), Some("Björn"));
        assert_eq!(unmojibake("Ð¡Ð²ÐµÑ‚").as_deref(), Some("Свет"));
        assert_eq!(
            unmojibake("FranÃ§ois MÃ¼ller").as_deref(),
            Some("François Müller")
        );
        assert_eq!(unmojibake("Ã\u{a0}Paris").as_deref(), Some("àParis"));
        for fine in [
            "Krüger", "Björn", "Свет", "Ãgata", "plain", "Øyvind", "Â", "颖",
        ] {
            assert_eq!(unmojibake(fine), None, "{fine}");
        }
    }

    #[test]
    fn control_bytes() {
        assert!(!has_control(b"plain ascii text, and more of it"));
        assert!(!has_control("Zoë Krüger ~ 颖".as_bytes()));
        for bad in [0u8, b'\n', b'\r', b'\t', 0x1F, 0x7F] {
            for pos in 0..17 {
                let mut v = vec![b'a'; 17];
                v[pos] = bad;
                assert!(has_control(&v), "{bad} at {pos}");
            }
        }
    }

    #[test]
    fn emails_and_ids() {
        assert_eq!(email_issue("a@b.org"), None);
        assert_eq!(email_issue("joel+1@demo.com"), None);
        assert!(email_issue("a b@c.org").is_some());
        assert!(email_issue("ab.org").is_some());
        assert!(email_issue("a@@b.org").is_some());
        assert!(email_issue("@b.org").is_some());
        assert!(email_issue("a@borg").is_some());
        assert!(email_issue("a@b..org").is_some());
        for bad in [
            "a@.b.org",
            "a@b.org.",
            "a@b",
            "@",
            "a@",
            "a@@b.org",
            "a@b@c.org",
            "a\tb@c.org",
        ] {
            assert!(email_issue(bad).is_some(), "{bad}");
        }
        assert_eq!(email_issue("a.b@c.d.org"), None);
        assert_eq!(
            email_issue("zoë@bü.org"),
            None,
            "non-ASCII by the slow path"
        );
        assert!(is_user_id("UR_0Ab3cD4eF5g"));
        assert!(!is_user_id("UR_short"));
        assert!(!is_user_id("UR_0123456789abcdef"));
        assert!(is_account_type("UT_BRANDADMIN"));
        assert!(!is_account_type("Brand Admin"));
        assert!(is_division_id("DV_abc123"));
        assert_eq!(forbidden_symbols("a!b"), vec![('!', 2)]);
        assert_eq!(parse_status("Enabled"), Some((Status::Active, true)));
        assert_eq!(parse_status("ACTIVE"), Some((Status::Active, false)));
        assert_eq!(parse_status("yes"), None);
    }
}
