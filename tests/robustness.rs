//! Arbitrary bytes and mutations of a valid file never panic: in-process through the library
//! (many cases), and through the binary (a few), which always exits 0, 1 or 2.

use crate::support;

use std::sync::Arc;

use proptest::prelude::*;
use qusers::file::{ReadOptions, Source};
use qusers::validate::{validate_source, NullSink, ValidateOptions};

const VALID: &[u8] = include_bytes!("../fixtures/valid_create.csv");

/// Bytes that matter to a CSV reader, a decoder and the rules.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b','),
        Just(b';'),
        Just(b'\t'),
        Just(b'"'),
        Just(b'\n'),
        Just(b'\r'),
        Just(0u8),
        Just(0xFFu8),
        Just(0xFEu8),
        Just(0xEFu8),
        Just(0xC3u8),
        Just(b'@'),
        Just(b'/'),
        Just(b' '),
        any::<u8>(),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn mutate(edits: &[Edit]) -> Vec<u8> {
    let mut v = VALID.to_vec();
    for e in edits {
        let n = v.len().max(1);
        match *e {
            Edit::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Edit::Delete(i) if !v.is_empty() => {
                v.remove(i % n);
            }
            Edit::Replace(i, b) if !v.is_empty() => v[i % n] = b,
            _ => {}
        }
    }
    v
}

fn validate_bytes(bytes: Vec<u8>) {
    let source = Source::Stdin(Arc::new(bytes));
    let mut opts = ValidateOptions::new(ReadOptions::default(), false);
    opts.block_bytes = 64; // many blocks, so that block edges meet every kind of byte
    let summary = validate_source(&source, &opts, None, &mut NullSink).expect("in memory");
    assert!(summary.rows == summary.ok + summary.warning + summary.error);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        validate_bytes(bytes);
    }

    #[test]
    fn mutations_of_a_valid_file_never_panic(edits in proptest::collection::vec(edit(), 1..12)) {
        validate_bytes(mutate(&edits));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn the_binary_exits_0_1_or_2(edits in proptest::collection::vec(edit(), 1..20)) {
        let out = support::qusers()
            .args(["validate", "-"])
            .write_stdin(mutate(&edits))
            .output()
            .expect("runs");
        let code = out.status.code().expect("exited, not killed");
        prop_assert!((0..=2).contains(&code), "exit {code}");
        prop_assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}
