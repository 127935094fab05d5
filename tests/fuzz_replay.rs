//! The fuzz targets (fuzz/targets.rs) on stable, in CI: every corpus entry (fuzz/corpus/TARGET, seeds and
//! crashes found and fixed), then seeded mutations of them — byte flips, the language's own tokens and
//! bytes that are not UTF-8 inserted, ranges cut, doubled or spliced from another entry. Coverage-guided
//! fuzzing runs with cargo-fuzz on nightly (see fuzz/README.md); this keeps its findings fixed.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::PathBuf;

/// Mutations per target and run.
const MUTATIONS: u64 = 4_000;

/// Tokens worth inserting: the grammar's punctuation and keywords, and bytes that break text.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"'",
    b"\"",
    b"\n",
    b"${",
    b"$$",
    b"[",
    b"]",
    b"(",
    b")",
    b"\\",
    b"\xff",
    b"\0",
    b"\xc3",
    b"named",
    b"verify ",
    b"test ",
    b"at most ",
    b" times every ",
    b"s to get ",
    b"- name: ",
    b"steps:\n",
    b"depends: [",
    b"when: ",
    b" and not ",
    b"for_each: ",
    b"&anchor ",
    b"*anchor",
    b"!!binary ",
    b": ",
    b"@test ",
    b"run ",
    b"$(",
    b"$'",
    b"[ \"$status\" -eq 0 ]",
    b"[[ $output == *",
    b"<<EOF\n",
    b" || ",
    b"() {",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let inputs: Vec<Vec<u8>> = entries.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    inputs
}

/// splitmix64: the n-th draw of a seed.
fn draw(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mutate(inputs: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let mut n = 0;
    let mut next = |below: usize| {
        n += 1;
        (draw(seed, n) % below.max(1) as u64) as usize
    };
    let mut data = inputs[next(inputs.len())].clone();
    for _ in 0..1 + next(4) {
        let at = next(data.len() + 1);
        match next(5) {
            0 if !data.is_empty() => {
                let last = data.len() - 1;
                data[at.min(last)] ^= 1 << next(8);
            }
            1 => {
                let token = TOKENS[next(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + next(64)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + next(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            _ => {
                let other = &inputs[next(inputs.len())];
                let from = next(other.len() + 1);
                let end = (from + next(128)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
        }
    }
    data
}

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = corpus(target);
    for input in &inputs {
        run(input);
    }
    for seed in 0..MUTATIONS {
        let data = mutate(&inputs, seed);
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: mutation {seed} panicked on {:?}", String::from_utf8_lossy(&data));
    }
}

#[test]
fn sentence() {
    replay("sentence", targets::sentence);
}

#[test]
fn check_file() {
    replay("check_file", targets::check_file);
}

#[test]
fn pipeline_file() {
    replay("pipeline_file", targets::pipeline_file);
}

#[test]
fn bats_file() {
    replay("bats_file", targets::bats_file);
}
