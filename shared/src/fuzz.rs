//! Mutation fuzzing of everything that parses client bytes: the create request and the pay
//! form. The stable toolchain here rules out cargo-fuzz (it needs nightly), so proptest
//! mutates the seed corpus in `shared/fuzz/corpus/` (flips, inserts, deletes, splices).
//!
//! CI runs a short pass; the long run is
//! `PAYLINKS_FUZZ_CASES=1000000 cargo test --release -p paylinks-core --lib fuzz::`.

use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::checkout::card::parse_card;
use crate::checkout::pay::PayForm;
use crate::validate::validate_create;

fn corpus(extension: &str) -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("the seed corpus")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no *.{extension} seeds in {dir}");
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Copies a slice of another seed over this one (structure-aware enough for JSON).
    Splice(usize, usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b"\"".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"[".to_vec(),
        b"]".to_vec(),
        b",".to_vec(),
        b":".to_vec(),
        b"null".to_vec(),
        b"-1".to_vec(),
        b"1e308".to_vec(),
        b"0.000000001".to_vec(),
        b"99999999999999999999".to_vec(),
        b"\\u0000".to_vec(),
        "\u{202e}".as_bytes().to_vec(),
        b"%".to_vec(),
        b"&".to_vec(),
        b"=".to_vec(),
        b"+".to_vec(),
        vec![0xff, 0xfe],
        b"\"amount\":".to_vec(),
        b"javascript:".to_vec(),
        b"</style>".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        (any::<usize>(), prop_oneof![interesting, prop::collection::vec(any::<u8>(), 1..8)])
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(s, a, b, l)| Mutation::Splice(s, a, b, l)),
    ]
}

fn mutate(seeds: &[Vec<u8>], seed: usize, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seeds[seed % seeds.len()].clone();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(at, bit) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= 1 << (bit % 8);
                }
            }
            Mutation::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Splice(other, from, to, n) => {
                let source = &seeds[other % seeds.len()];
                let from = from % source.len().max(1);
                let piece: Vec<u8> = source[from..(from + n).min(source.len())].to_vec();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("PAYLINKS_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3_000)
}

/// Every mutated create body is either a valid request or a list of field errors, each
/// starting with a field path; nothing panics.
#[test]
fn fuzz_create_request() {
    let seeds = corpus("json");
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let strategy = (any::<usize>(), prop::collection::vec(mutation(), 0..6));
    runner
        .run(&strategy, |(seed, mutations)| {
            let body = mutate(&seeds, seed, &mutations);
            if let Err(errors) = validate_create(&body) {
                prop_assert!(!errors.0.is_empty(), "a refusal names what is wrong");
                for message in &errors.0 {
                    let (path, what) = message.split_once(": ").unwrap_or(("", ""));
                    prop_assert!(!path.is_empty() && !what.is_empty(), "{message:?} is not \"<path>: <problem>\"");
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Every mutated pay form parses, and its card fields are accepted or refused with a
/// customer-facing message; nothing panics.
#[test]
fn fuzz_pay_form() {
    let seeds = corpus("txt");
    let now = Utc::now();
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let strategy = (any::<usize>(), prop::collection::vec(mutation(), 0..6));
    runner
        .run(&strategy, |(seed, mutations)| {
            let form = PayForm::parse(&mutate(&seeds, seed, &mutations));
            if let Err(error) = parse_card(&form.card_number, &form.expiry, &form.cvc, &form.cardholder_name, now) {
                prop_assert!(!error.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}
