//! The encoding corpus (issue 19): files as Excel and other tools save them in legacy
//! encodings, built here with encoding_rs's encoders. Every one either reads to exactly the
//! names written, or is refused with F18 naming the likely encodings and their `--encoding`
//! labels. None passes with wrong names.

use crate::support;

use std::path::Path;

use encoding_rs::Encoding;
use support::{qusers, HEADER};

/// (first name, last name) pairs as people of one language write them.
type Names = &'static [(&'static str, &'static str)];

const JAPANESE: Names = &[
    ("太郎", "山田"),
    ("花子", "佐藤"),
    ("一郎", "鈴木"),
    ("美咲", "高橋"),
    ("健太", "田中"),
    ("さくら", "伊藤"),
    ("翔太", "渡辺"),
    ("愛", "中村"),
    ("大輔", "小林"),
    ("陽菜", "加藤"),
    ("拓海", "吉田"),
    ("結衣", "山口"),
];
const CHINESE_SIMPLIFIED: Names = &[
    ("伟", "陈"),
    ("芳", "王"),
    ("娜", "李"),
    ("伟", "张"),
    ("洋", "刘"),
    ("静", "杨"),
    ("磊", "赵"),
    ("敏", "黄"),
    ("杰", "周"),
    ("强", "吴"),
    ("丽", "徐"),
    ("涛", "孙"),
];
const CHINESE_TRADITIONAL: Names = &[
    ("志明", "陳"),
    ("淑芬", "林"),
    ("建宏", "黃"),
    ("雅婷", "張"),
    ("家豪", "李"),
    ("美玲", "王"),
    ("俊傑", "吳"),
    ("怡君", "劉"),
    ("宗翰", "蔡"),
    ("淑惠", "楊"),
];
const KOREAN: Names = &[
    ("민준", "김"),
    ("서연", "이"),
    ("지훈", "박"),
    ("수빈", "최"),
    ("예준", "정"),
    ("하은", "강"),
    ("현우", "조"),
    ("지민", "윤"),
    ("서윤", "장"),
    ("도현", "임"),
];
const CENTRAL_EUROPEAN: Names = &[
    ("Łukasz", "Kołodziej"),
    ("Jiří", "Dvořák"),
    ("Zofia", "Wiśniewska"),
    ("Tomáš", "Novák"),
    ("Eliška", "Černá"),
    ("Małgorzata", "Wójcik"),
    ("Péter", "Kővári"),
    ("Paweł", "Dąbrowski"),
    ("Vojtěch", "Šťastný"),
    ("Żaneta", "Kowalczyk"),
    ("Zoltán", "Horváth"),
    ("Grzegorz", "Brzęczyszczykiewicz"),
];
const RUSSIAN: Names = &[
    ("Светлана", "Иванова"),
    ("Дмитрий", "Петров"),
    ("Ольга", "Смирнова"),
    ("Алексей", "Кузнецов"),
    ("Наталья", "Попова"),
    ("Сергей", "Соколов"),
    ("Екатерина", "Лебедева"),
    ("Андрей", "Козлов"),
];
const WESTERN: Names = &[
    ("Jürgen", "Müller"),
    ("François", "Dubois"),
    ("José", "García"),
    ("Søren", "Kierkegaard"),
    ("Anders", "Ångström"),
    ("Inés", "Núñez"),
    ("Björk", "Guðmundsdóttir"),
    ("Zoë", "Brontë"),
    ("João", "Gonçalves"),
    ("Anke", "Schröder"),
    ("Stefan", "Weiß"),
    ("Hélène", "Lefèvre"),
];
/// What Mac Roman holds of them (no ð).
const WESTERN_MAC: Names = &[
    ("Jürgen", "Müller"),
    ("François", "Dubois"),
    ("José", "García"),
    ("Søren", "Kierkegaard"),
    ("Anders", "Ångström"),
    ("Inés", "Núñez"),
    ("Zoë", "Brontë"),
    ("João", "Gonçalves"),
    ("Stefan", "Weiß"),
    ("Hélène", "Lefèvre"),
];
const GREEK: Names = &[
    ("Γιώργος", "Παπαδόπουλος"),
    ("Μαρία", "Κωνσταντίνου"),
    ("Ελένη", "Νικολάου"),
    ("Δημήτρης", "Γεωργίου"),
    ("Κατερίνα", "Ιωάννου"),
    ("Νίκος", "Αθανασίου"),
];
const TURKISH: Names = &[
    ("Mehmet", "Şahin"),
    ("Ayşe", "Yılmaz"),
    ("Emre", "Öztürk"),
    ("Zeynep", "Çelik"),
    ("Gülşen", "Kaya"),
    ("Barış", "Doğan"),
    ("Elif", "Aydın"),
    ("İbrahim", "Arslan"),
    ("Büşra", "Koç"),
    ("Uğur", "Ekşi"),
];

/// A user file's lines: the header, then `rows` users cycling through `names`, some rows
/// plain ASCII between them (as in a real list).
fn lines(names: Names, rows: usize) -> Vec<String> {
    let mut out = vec![HEADER.to_string()];
    for i in 0..rows {
        let (first, last) = if i % 3 == 2 {
            ("Anna", "Smith")
        } else {
            names[i % names.len()]
        };
        out.push(format!(
            ",u{i}@uni.edu,{first},{last},u{i}@uni.edu,,UT_4SjjZmbPphZGKDq,active,"
        ));
    }
    out
}

/// The (firstName, lastName) of every data line.
fn names_of(lines: &[String]) -> Vec<(String, String)> {
    lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].to_string(), f[3].to_string())
        })
        .collect()
}

/// The text encoded, every line ended by `end`.
fn encode(lines: &[String], enc: &'static Encoding, end: &str) -> Vec<u8> {
    let text: String = lines.iter().map(|l| format!("{l}{end}")).collect();
    let (bytes, _, unmappable) = enc.encode(&text);
    assert!(!unmappable, "{} cannot hold the names", enc.name());
    bytes.into_owned()
}

/// What qusers made of a file.
#[derive(Debug)]
enum Outcome {
    /// Read: `fix -o` wrote these names, and validate named this encoding.
    Read {
        names: Vec<(String, String)>,
        encoding: String,
    },
    /// Refused with F18: the message.
    Refused(String),
}

fn run(dir: &Path, name: &str, bytes: &[u8], extra: &[&str]) -> Outcome {
    let input = dir.join(name);
    std::fs::write(&input, bytes).expect("write");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&input)
            .args(["--format", "json"])
            .args(extra),
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json summary");
    let f = &v["files"][0];
    let problems = f["file_problems"].as_array().expect("problems").clone();
    if let Some(p) = problems.iter().find(|p| p["code"] == "F18") {
        assert_eq!(out.code, 1, "F18 is an error: {out:?}");
        assert_eq!(p["severity"], "error");
        let msg = p["message"].as_str().expect("message").to_string();
        // fix refuses it too, and writes nothing.
        let fixed = dir.join(format!("{name}.fixed.csv"));
        let fix = support::run(
            qusers()
                .arg("fix")
                .arg(&input)
                .arg("-o")
                .arg(&fixed)
                .args(extra),
        );
        assert_ne!(Some(fix.code), Some(0), "{fix:?}");
        assert!(!fixed.exists(), "fix wrote a copy of a file it cannot read");
        return Outcome::Refused(msg);
    }
    let encoding = f["encoding"].as_str().unwrap_or_default().to_string();
    let fixed = dir.join(format!("{name}.fixed.csv"));
    let fix = support::run(
        qusers()
            .arg("fix")
            .arg(&input)
            .arg("-o")
            .arg(&fixed)
            .args(extra),
    );
    assert_eq!(fix.code, 0, "{fix:?}");
    let text = std::fs::read_to_string(&fixed).expect("the copy is UTF-8");
    let copy: Vec<String> = text.lines().map(String::from).collect();
    Outcome::Read {
        names: names_of(&copy),
        encoding,
    }
}

/// Every corpus file reads right or is refused naming the candidates; returns the outcome.
fn check(dir: &Path, name: &str, bytes: &[u8], written: &[String]) -> Outcome {
    let outcome = run(dir, name, bytes, &[]);
    match &outcome {
        Outcome::Read { names, encoding } => {
            assert_eq!(
                names,
                &names_of(written),
                "{name} passed with wrong names (read as {encoding})"
            );
        }
        Outcome::Refused(msg) => {
            assert!(
                msg.matches("--encoding ").count() >= 2,
                "{name}: F18 names at least two candidates with their labels: {msg}"
            );
        }
    }
    outcome
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The realistic files: a few dozen to a few hundred rows in each Excel code page. Each must
/// read right (these have evidence enough), and the summary names the encoding.
#[test]
fn legacy_files_of_realistic_size_read_exactly() {
    let dir = tempdir();
    let cases: &[(&str, Names, &'static Encoding, usize, &str)] = &[
        (
            "sjis.csv",
            JAPANESE,
            encoding_rs::SHIFT_JIS,
            120,
            "Shift_JIS (Japanese Excel)",
        ),
        (
            "gbk.csv",
            CHINESE_SIMPLIFIED,
            encoding_rs::GBK,
            200,
            "GBK (Simplified Chinese Excel)",
        ),
        (
            "big5.csv",
            CHINESE_TRADITIONAL,
            encoding_rs::BIG5,
            150,
            "Big5",
        ),
        (
            "euckr.csv",
            KOREAN,
            encoding_rs::EUC_KR,
            150,
            "EUC-KR (Korean Excel)",
        ),
        (
            "cp1250.csv",
            CENTRAL_EUROPEAN,
            encoding_rs::WINDOWS_1250,
            90,
            "Central European",
        ),
        (
            "cp1251.csv",
            RUSSIAN,
            encoding_rs::WINDOWS_1251,
            60,
            "Windows-1251 (Cyrillic Excel)",
        ),
        (
            "cp1252.csv",
            WESTERN,
            encoding_rs::WINDOWS_1252,
            90,
            "Western European",
        ),
        (
            "cp1253.csv",
            GREEK,
            encoding_rs::WINDOWS_1253,
            60,
            "Windows-1253 (Greek Excel)",
        ),
        (
            "cp1254.csv",
            TURKISH,
            encoding_rs::WINDOWS_1254,
            90,
            "Windows-1254 (Turkish Excel)",
        ),
        (
            "latin2.csv",
            CENTRAL_EUROPEAN,
            encoding_rs::ISO_8859_2,
            90,
            "Central European",
        ),
    ];
    let mut refused = Vec::new();
    for &(name, names, enc, rows, want) in cases {
        let written = lines(names, rows);
        let bytes = encode(&written, enc, "\r\n");
        match check(dir.path(), name, &bytes, &written) {
            Outcome::Read { encoding, .. } => {
                assert!(encoding.contains(want), "{name}: {encoding}");
            }
            Outcome::Refused(msg) => refused.push(format!("{name}: {msg}")),
        }
    }
    // A file of this size is evidence enough: refusing it would be no help.
    assert!(refused.is_empty(), "{refused:#?}");
}

/// Excel for Mac's "CSV (Macintosh)": Mac Roman, lines ended by `\r` alone.
#[test]
fn mac_roman_with_cr_line_ends_reads_exactly() {
    let dir = tempdir();
    let written = lines(WESTERN_MAC, 40);
    let bytes = encode(&written, encoding_rs::MACINTOSH, "\r");
    match check(dir.path(), "mac.csv", &bytes, &written) {
        Outcome::Read { encoding, .. } => assert!(encoding.contains("Mac Roman"), "{encoding}"),
        Outcome::Refused(msg) => panic!("{msg}"),
    }
}

/// UTF-16 without a byte-order mark (Excel "Unicode text" re-saved by another tool), both
/// byte orders: decoded, not refused as "not a text file".
#[test]
fn utf16_without_bom_reads_exactly() {
    let dir = tempdir();
    let mut mixed: Vec<(&str, &str)> = Vec::new();
    for names in [WESTERN, JAPANESE, RUSSIAN, KOREAN] {
        mixed.extend_from_slice(&names[..4]);
    }
    let names: Names = Box::leak(mixed.into_boxed_slice());
    let written = lines(names, 50);
    let text: String = written.iter().map(|l| format!("{l}\r\n")).collect();
    for (name, big_endian) in [("le.csv", false), ("be.csv", true)] {
        let bytes: Vec<u8> = text
            .encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect();
        match check(dir.path(), name, &bytes, &written) {
            Outcome::Read { encoding, .. } => {
                assert!(encoding.contains("UTF-16"), "{name}: {encoding}")
            }
            Outcome::Refused(msg) => panic!("{name}: {msg}"),
        }
    }
}

/// UTF-16 without a BOM through stdin (a stream, copied as it is read): all of it is read.
#[test]
fn utf16_without_bom_from_stdin_is_read_whole() {
    let written = lines(KOREAN, 30);
    let text: String = written.iter().map(|l| format!("{l}\n")).collect();
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let out = support::run(
        qusers()
            .args(["validate", "-", "--format", "json"])
            .write_stdin(bytes),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["files"][0]["rows"], 30);
    assert_eq!(v["files"][0]["encoding"], "UTF-16 LE without BOM");
}

/// Small files with one or two names beyond ASCII, the hard case: read right when every
/// likely encoding gives the same names, refused (never guessed) when they differ.
#[test]
fn small_files_read_right_or_are_refused() {
    let dir = tempdir();
    let few = |names: Names| {
        let mut l = lines(&[("Anna", "Smith")], 6);
        for (i, (first, last)) in names.iter().enumerate() {
            l.push(format!(
                ",x{i}@uni.edu,{first},{last},x{i}@uni.edu,,UT_4SjjZmbPphZGKDq,active,"
            ));
        }
        l
    };
    // Müller reads the same in every Western and Central European code page: read.
    let written = few(&[("Jürgen", "Müller")]);
    let bytes = encode(&written, encoding_rs::WINDOWS_1252, "\r\n");
    assert!(matches!(
        check(dir.path(), "mueller.csv", &bytes, &written),
        Outcome::Read { .. }
    ));
    // Dvořák is Dvoøák in Windows-1252: refused, both readings shown.
    let written = few(&[("Jiří", "Dvořák")]);
    let bytes = encode(&written, encoding_rs::WINDOWS_1250, "\r\n");
    match check(dir.path(), "dvorak.csv", &bytes, &written) {
        Outcome::Refused(msg) => {
            assert!(msg.contains("--encoding cp1250"), "{msg}");
            assert!(msg.contains("Dvořák"), "{msg}");
            assert!(msg.contains("--encoding cp1252"), "{msg}");
            // And named, it reads right.
            let input = dir.path().join("dvorak.csv");
            for label in ["cp1250", "windows-1250", "latin2"] {
                let outcome = run(dir.path(), "dvorak.csv", &bytes, &["--encoding", label]);
                let Outcome::Read { names, .. } = outcome else {
                    panic!("{label}: {outcome:?}")
                };
                assert_eq!(names, names_of(&written), "{label} {}", path_str(&input));
            }
        }
        Outcome::Read { .. } => {}
    }
    // Two Turkish names and two Greek ones: whatever happens, never wrong names.
    for (name, names, enc) in [
        ("turkish.csv", &TURKISH[..2], encoding_rs::WINDOWS_1254),
        ("greek.csv", &GREEK[..2], encoding_rs::WINDOWS_1253),
        ("russian.csv", &RUSSIAN[..1], encoding_rs::WINDOWS_1251),
        ("japanese.csv", &JAPANESE[..2], encoding_rs::SHIFT_JIS),
        ("korean.csv", &KOREAN[..1], encoding_rs::EUC_KR),
        (
            "polish.csv",
            &CENTRAL_EUROPEAN[..1],
            encoding_rs::WINDOWS_1250,
        ),
    ] {
        let written = few(names);
        let bytes = encode(&written, enc, "\r\n");
        check(dir.path(), name, &bytes, &written);
    }
}

/// Excel's "CSV (Comma delimited)" after one typed name: UTF-8 throughout but for that name.
/// The UTF-8 names stay as they are (not re-read as Windows-1252), the typed one is decoded
/// and named with its line and column (F19).
#[test]
fn a_mixed_file_is_read_field_by_field() {
    let dir = tempdir();
    let mut names: Vec<(&str, &str)> = Vec::new();
    for n in [RUSSIAN, CHINESE_SIMPLIFIED, WESTERN, GREEK] {
        names.extend_from_slice(&n[..5]);
    }
    let names: Names = Box::leak(names.into_boxed_slice());
    let written = lines(names, 30);
    let mut bytes = Vec::new();
    for l in &written {
        bytes.extend_from_slice(l.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    // The row the admin typed: Windows-1252.
    let typed = ",typed@uni.edu,Jörg,Müller,typed@uni.edu,,UT_4SjjZmbPphZGKDq,active,";
    bytes.extend_from_slice(&encoding_rs::WINDOWS_1252.encode(typed).0);
    bytes.extend_from_slice(b"\r\n");
    let mut all = written.clone();
    all.push(typed.to_string());
    let Outcome::Read { encoding, .. } = check(dir.path(), "mixed.csv", &bytes, &all) else {
        panic!("a mixed file with one typed name is read")
    };
    assert!(
        encoding.contains("UTF-8, with some fields in"),
        "{encoding}"
    );

    // The report names the typed fields, each with its line and column.
    let input = dir.path().join("mixed.csv");
    let report = dir.path().join("mixed-report.csv");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&input)
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(out.code, 0, "warnings only: {out:?}");
    let rows = support::read_report(&report);
    let typed_row = rows
        .iter()
        .find(|r| r["line"] == "32" && !r["row"].is_empty())
        .expect("the typed row");
    assert_eq!(typed_row["codes"], "F19 F19", "{typed_row:?}");
    assert!(
        typed_row["message"].contains("line 32, firstName: \"Jörg\""),
        "{typed_row:?}"
    );
    assert!(
        typed_row["message"].contains("line 32, lastName: \"Müller\""),
        "{typed_row:?}"
    );
    let f19_rows = rows.iter().filter(|r| r["codes"].contains("F19")).count();
    assert_eq!(f19_rows, 1, "only the typed row");
}

/// `--encoding` takes the names admins know as well as WHATWG labels; an unknown one is
/// refused naming it.
#[test]
fn encoding_labels_admins_know() {
    let dir = tempdir();
    let cases: &[(&[&str], Names, &'static Encoding, &str)] = &[
        (
            &["mac_roman", "macroman", "macintosh"],
            WESTERN_MAC,
            encoding_rs::MACINTOSH,
            "\r",
        ),
        (
            &["cp1250", "windows-1250", "CP1250"],
            CENTRAL_EUROPEAN,
            encoding_rs::WINDOWS_1250,
            "\n",
        ),
        (
            &["cp1251", "windows_1251"],
            RUSSIAN,
            encoding_rs::WINDOWS_1251,
            "\n",
        ),
        (
            &["latin1", "cp1252", "iso-8859-1"],
            WESTERN,
            encoding_rs::WINDOWS_1252,
            "\n",
        ),
        (
            &["latin2", "iso8859-2", "iso-8859-2"],
            CENTRAL_EUROPEAN,
            encoding_rs::ISO_8859_2,
            "\n",
        ),
        (
            &["shift-jis", "sjis", "cp932", "shift_jis"],
            JAPANESE,
            encoding_rs::SHIFT_JIS,
            "\n",
        ),
        (
            &["gbk", "cp936", "gb2312"],
            CHINESE_SIMPLIFIED,
            encoding_rs::GBK,
            "\n",
        ),
        (
            &["big5", "cp950"],
            CHINESE_TRADITIONAL,
            encoding_rs::BIG5,
            "\n",
        ),
        (
            &["euc-kr", "cp949", "euc_kr"],
            KOREAN,
            encoding_rs::EUC_KR,
            "\n",
        ),
    ];
    for &(labels, names, enc, end) in cases {
        let written = lines(names, 12);
        let bytes = encode(&written, enc, end);
        for label in labels {
            let outcome = run(dir.path(), "labelled.csv", &bytes, &["--encoding", label]);
            let Outcome::Read { names, encoding } = outcome else {
                panic!("{label}: {outcome:?}")
            };
            assert_eq!(names, names_of(&written), "--encoding {label}");
            assert!(encoding.contains("--encoding"), "{encoding}");
        }
    }
    // UTF-16 LE by label, no BOM.
    let written = lines(KOREAN, 12);
    let text: String = written.iter().map(|l| format!("{l}\n")).collect();
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for label in ["utf-16le", "utf16le", "UTF-16LE"] {
        let Outcome::Read { names, .. } =
            run(dir.path(), "u16.csv", &bytes, &["--encoding", label])
        else {
            panic!("{label}")
        };
        assert_eq!(names, names_of(&written), "{label}");
    }
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(dir.path().join("u16.csv"))
            .args(["--encoding", "klingon"]),
    );
    assert_eq!(out.code, 2, "{out:?}");
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("klingon"), "{stderr}");
    assert!(
        stderr.contains("cp1250"),
        "the hint names admin labels: {stderr}"
    );
}

/// `fix` converts only what was detected with confidence or named: a file it cannot be sure
/// of is not re-encoded on a guess (nothing is written), and the same file with `--encoding`
/// is converted, after which the copy is UTF-8 and validates without F04.
#[test]
fn fix_never_reencodes_a_guess() {
    let dir = tempdir();
    let mut written = lines(&[("Anna", "Smith")], 4);
    written.push(",d@uni.edu,Jiří,Dvořák,d@uni.edu,,UT_4SjjZmbPphZGKDq,active,".into());
    let bytes = encode(&written, encoding_rs::WINDOWS_1250, "\r\n");
    let input = dir.path().join("guess.csv");
    std::fs::write(&input, &bytes).expect("write");
    let fixed = dir.path().join("guess-fixed.csv");
    let out = support::run(qusers().arg("fix").arg(&input).arg("-o").arg(&fixed));
    assert_ne!(Some(out.code), Some(0), "{out:?}");
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("--encoding cp1250"), "{stderr}");
    assert!(!fixed.exists());

    let out = support::run(
        qusers()
            .arg("fix")
            .arg(&input)
            .arg("-o")
            .arg(&fixed)
            .args(["--encoding", "cp1250"]),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let stdout = out.stdout.as_str();
    assert!(stdout.contains("re-encoded from windows-1250"), "{stdout}");
    let copy = std::fs::read_to_string(&fixed).expect("UTF-8");
    assert!(copy.contains(",Jiří,Dvořák,"), "{copy}");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&fixed)
            .args(["--format", "json"]),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["files"][0]["encoding"], "UTF-8");
}
