//! Validation throughput on generated files (~190 bytes a row, ~1 % invalid rows) of 10,000,
//! 99,998 and 1,000,000 rows, with the report written (as `qusers validate FILE --report R.csv`
//! does, minus process start) and without. The 1,000,000-row file is past Qualtrics' limit
//! (F07): it measures that memory and time stay proportionate far beyond it. The 99,998-row
//! file once more as a Central European Excel saves it (Windows-1250, Polish and Czech names
//! in every other row): the encoding is detected, then the file read decoded.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use qusers::file::{ReadOptions, Source};
use qusers::report::{ReportKind, ReportSink, ReportWriter};
use qusers::validate::{validate_source, NullSink, ValidateOptions};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ValidateOptions::new(ReadOptions::default(), false);
    let report = dir.path().join("report.csv");
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    for rows in [10_000u64, 99_998, 1_000_000] {
        let input = dir.path().join(format!("users-{rows}.csv"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
        qusers::fake::write_users(&mut file, rows, 42).expect("generate");
        drop(file);
        let size = std::fs::metadata(&input).expect("metadata").len();
        let source = Source::from_arg(input.to_str().expect("utf-8 path")).expect("source");
        group.throughput(Throughput::Bytes(size));
        group.bench_function(format!("{rows} rows, report"), |b| {
            b.iter(|| {
                let writer = ReportWriter::create(&report, ReportKind::Validate).expect("report");
                let mut sink = ReportSink { writer };
                let summary = validate_source(&source, &opts, None, &mut sink).expect("validates");
                assert_eq!(summary.rows, rows);
            })
        });
        group.bench_function(format!("{rows} rows, no report"), |b| {
            b.iter(|| {
                let summary =
                    validate_source(&source, &opts, None, &mut NullSink).expect("validates");
                assert_eq!(summary.rows, rows);
            })
        });
    }
    let input = dir.path().join("users-99998-cp1250.csv");
    write_windows_1250(&input, 99_998);
    let size = std::fs::metadata(&input).expect("metadata").len();
    let source = Source::from_arg(input.to_str().expect("utf-8 path")).expect("source");
    group.throughput(Throughput::Bytes(size));
    group.bench_function("99998 rows windows-1250, report", |b| {
        b.iter(|| {
            let writer = ReportWriter::create(&report, ReportKind::Validate).expect("report");
            let mut sink = ReportSink { writer };
            let summary = validate_source(&source, &opts, None, &mut sink).expect("validates");
            assert_eq!(summary.rows, 99_998);
        })
    });
    group.bench_function("99998 rows windows-1250, no report", |b| {
        b.iter(|| {
            let summary = validate_source(&source, &opts, None, &mut NullSink).expect("validates");
            assert_eq!(summary.rows, 99_998);
            let encoding = summary.encoding.unwrap_or_default();
            assert!(encoding.contains("Windows-1250"), "{encoding}");
        })
    });
    group.finish();
}

/// The generated users as Windows-1250, every other first name a Polish or Czech one (names
/// the code page cannot hold become character references, as Excel would make them `?`).
pub fn write_windows_1250(path: &std::path::Path, rows: u64) {
    const NAMES: [&str; 8] = [
        "Łukasz",
        "Jiří",
        "Małgorzata",
        "Tomáš",
        "Eliška",
        "Paweł",
        "Vojtěch",
        "Żaneta",
    ];
    let mut utf8 = Vec::new();
    qusers::fake::write_users(&mut utf8, rows, 42).expect("generate");
    let text = String::from_utf8(utf8).expect("the generator writes UTF-8");
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let mut fields: Vec<&str> = line.split(',').collect();
        if i > 0 && i % 2 == 0 && fields.len() == 9 {
            fields[2] = NAMES[i % NAMES.len()];
        }
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(&out);
    std::fs::write(path, &bytes).expect("write");
}

criterion_group!(benches, bench);
criterion_main!(benches);
