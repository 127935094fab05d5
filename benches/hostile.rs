//! `cargo bench --bench hostile`: how parse time grows with pathological input (a long line, a long
//! pattern, deep nesting), to show it is linear, not quadratic; and whether the trigger API's answer to a
//! wrong token takes longer the more of the token it shares (a timing leak). Prints figures; asserts
//! nothing about speed.

#[path = "../tests/support/serve.rs"]
mod serve;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The best of five runs of `f`, in milliseconds.
fn time_ms(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::MAX, f64::min)
}

fn scaling(name: &str, make: impl Fn(usize) -> String, parse: impl Fn(&str), sizes: [usize; 3]) {
    let times: Vec<(usize, f64)> = sizes
        .iter()
        .map(|&n| {
            let text = make(n);
            (text.len(), time_ms(|| parse(&text)))
        })
        .collect();
    let (first, last) = (times[0], times[2]);
    let growth = (last.1 / first.1.max(1e-6)) / (last.0 as f64 / first.0 as f64);
    let line: Vec<String> = times.iter().map(|(bytes, ms)| format!("{} KiB {ms:.2} ms", bytes / 1024)).collect();
    println!("{name:<34} {}  (time/size growth {growth:.2}; 1.0 = linear)", line.join(", "));
}

fn check_file(text: &str) {
    let _ = precheck_lang::CheckFile::parse(text, &|_| None);
}

fn pipeline_file(text: &str) {
    let _ = precheck_pipeline::Pipeline::parse(Path::new("bench.yaml"), text);
}

fn parsers() {
    println!("parse time against input size (best of 5):");
    scaling(
        "check file, one long garbage line",
        |n| format!("test 'a' {{\n    {}\n}}\n", "x".repeat(n)),
        check_file,
        [1 << 18, 1 << 19, 1 << 20],
    );
    scaling(
        "check file, one long pattern",
        |n| format!("test 'a' {{\n    verify there is 1 pod named '{}'\n}}\n", "a".repeat(n)),
        check_file,
        [1 << 18, 1 << 19, 1 << 20],
    );
    scaling(
        "check file, nested braces",
        |n| format!("test 'a' {}\n", "{".repeat(n)),
        check_file,
        [10_000, 20_000, 40_000],
    );
    scaling(
        "check file, 10k-line file",
        |n| {
            let mut text = String::new();
            for i in 0..n {
                text.push_str(&format!("test 't{i}' {{\n    verify there are 2 pods named '^nginx-'\n}}\n"));
            }
            text
        },
        check_file,
        [2_500, 5_000, 10_000],
    );
    scaling(
        "sentence, long property path",
        |n| format!("'{}' is 'x' for pods named 'a'", ".a".repeat(n)),
        |t| {
            let _ = precheck_lang::parse_sentence(t);
        },
        [1 << 14, 1 << 15, 1 << 16],
    );
    scaling(
        "pipeline, 2k..8k steps",
        |n| {
            let mut text = String::from("name: p\nstages:\n  - name: s\n    steps:\n");
            for i in 0..n {
                text.push_str(&format!("      - {{ name: s{i}, run: [echo, \"${{ITEM}}\"], for_each: [a] }}\n"));
            }
            text
        },
        pipeline_file,
        [2_000, 4_000, 8_000],
    );
    scaling(
        "pipeline, nested `when` parentheses",
        |n| {
            format!(
                "name: p\nstages:\n  - name: s\n    steps:\n      - {{ name: a, run: [echo], when: \"{} X\" }}\n",
                "(".repeat(n)
            )
        },
        pipeline_file,
        [2_500, 5_000, 10_000],
    );
}

/// The time from sending a request with `token` to the end of its 401 answer.
fn time_401(address: &str, token: &str) -> Duration {
    let mut stream = TcpStream::connect(address).unwrap();
    let request =
        format!("GET /runs HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(answer.starts_with(b"HTTP/1.1 401"), "{}", String::from_utf8_lossy(&answer));
    took
}

fn median_us(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

fn trigger_timing() {
    let dir = tempfile::tempdir().unwrap();
    let token = "bench-token-0123456789abcdef0123456789abcdef";
    std::fs::write(
        dir.path().join("p.yaml"),
        "name: p\nstages:\n  - name: s\n    steps:\n      - { name: a, run: [\"true\"] }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), token).unwrap();
    let (mut server, address) = serve::start(
        Command::new(env!("CARGO_BIN_EXE_precheck"))
            .args(["pipeline", "serve", "p.yaml", "--listen", "127.0.0.1:0", "--token-file", "token"])
            .args(["--state-dir", "state"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
    );
    let n = 3_000;
    let mut near = token.to_owned();
    near.pop();
    near.push('X');
    // Two tokens sharing nothing with the right one: their difference is the measurement's noise floor.
    let far = "X".repeat(token.len());
    let other = "Y".repeat(token.len());
    let tokens = [near.as_str(), far.as_str(), other.as_str()];
    let mut times: [Vec<Duration>; 3] = Default::default();
    // Requests interleaved in a shuffled order, so neither drift of the machine nor order favours one.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..n {
        let mut order = [0, 1, 2];
        for i in (1..3).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for k in order {
            times[k].push(time_401(&address, tokens[k]));
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    // The medians over the whole run, and the spread of the differences over 5 consecutive fifths of it.
    let fifths = |k: usize| -> Vec<f64> { times[k].chunks(n / 5).map(|c| median_us(&mut c.to_vec())).collect() };
    let (near5, far5, other5) = (fifths(0), fifths(1), fifths(2));
    let spread = |a: &[f64]| {
        let d: Vec<f64> = a.iter().zip(&far5).map(|(x, y)| x - y).collect();
        let (lo, hi) = d.iter().fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:+.1}..{hi:+.1} µs")
    };
    let [near_us, far_us, other_us] = times.map(|mut t| median_us(&mut t));
    println!(
        "trigger API, 401 for a wrong token ({n} requests each, shuffled, medians): all but the last character \
         right {near_us:.1} µs, nothing right {far_us:.1} µs: difference {:+.1} µs (in fifths of the run {}); \
         noise floor, another token with nothing right ({other_us:.1} µs): {:+.1} µs (in fifths {})",
        near_us - far_us,
        spread(&near5),
        other_us - far_us,
        spread(&other5),
    );
}

fn main() {
    parsers();
    trigger_timing();
}
