//! Validation throughput on a generated 99,998-row file (~19 MB, ~1 % invalid rows), report
//! written, as `qusers validate FILE --report R.csv` does minus process start.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use qusers::file::{ReadOptions, Source};
use qusers::report::{ReportKind, ReportSink, ReportWriter};
use qusers::validate::{validate_source, NullSink, ValidateOptions};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("users.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
    qusers::fake::write_users(&mut file, 99_998, 42).expect("generate");
    drop(file);
    let size = std::fs::metadata(&input).expect("metadata").len();
    let source = Source::from_arg(input.to_str().expect("utf-8 path")).expect("source");
    let opts = ValidateOptions::new(ReadOptions::default(), false);
    let report = dir.path().join("report.csv");

    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    group.bench_function("99998 rows, report", |b| {
        b.iter(|| {
            let writer = ReportWriter::create(&report, ReportKind::Validate).expect("report");
            let mut sink = ReportSink { writer };
            let summary = validate_source(&source, &opts, None, &mut sink).expect("validates");
            assert_eq!(summary.rows, 99_998);
        })
    });
    group.bench_function("99998 rows, no report", |b| {
        b.iter(|| validate_source(&source, &opts, None, &mut NullSink).expect("validates"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
