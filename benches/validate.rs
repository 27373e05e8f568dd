//! Validation throughput on generated files (~190 bytes a row, ~1 % invalid rows) of 10,000,
//! 99,998 and 1,000,000 rows, with the report written (as `qusers validate FILE --report R.csv`
//! does, minus process start) and without. The 1,000,000-row file is past Qualtrics' limit
//! (F07): it measures that memory and time stay proportionate far beyond it.

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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
