//! `cargo bench --bench preflight`: 50 AWS preflight probes against moto, by Precheck (one set of SDK
//! clients, probes in parallel, identical calls merged) and the BATS way (one `aws … --query` process per
//! probe, in sequence). Prints figures; asserts nothing about speed.

#[path = "../tests/support/moto.rs"]
mod moto;
#[path = "../tests/support/workspace.rs"]
mod workspace;

use std::time::Instant;

use precheck::aws::{Aws, AwsOptions};

/// A probe: the sentence, and the aws CLI call and expected output that check the same thing.
struct Probe {
    sentence: &'static str,
    cli: &'static [&'static str],
    expected: &'static str,
}

const PROBES: [Probe; 5] = [
    Probe {
        sentence: "parameter '/preflight/cluster/name' is 'prod-eu-1'",
        cli: &[
            "ssm",
            "get-parameter",
            "--name",
            "/preflight/cluster/name",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
        ],
        expected: "prod-eu-1",
    },
    Probe {
        sentence: "export 'preflight-PrivateSubnetAId' matches '^subnet-'",
        cli: &[
            "cloudformation",
            "list-exports",
            "--query",
            "Exports[?Name=='preflight-PrivateSubnetAId'].Value | [0]",
            "--output",
            "text",
        ],
        expected: "subnet-",
    },
    Probe {
        sentence: "subnet named 'preflight-private-a' has more than 200 free ip addresses",
        cli: &[
            "ec2",
            "describe-subnets",
            "--filters",
            "Name=tag:Name,Values=preflight-private-a",
            "--query",
            "Subnets[0].AvailableIpAddressCount",
            "--output",
            "text",
        ],
        expected: "251",
    },
    Probe {
        sentence: "stack 'preflight-network' status is 'CREATE_COMPLETE'",
        cli: &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            "preflight-network",
            "--query",
            "Stacks[0].StackStatus",
            "--output",
            "text",
        ],
        expected: "CREATE_COMPLETE",
    },
    Probe {
        sentence: "account is '123456789012'",
        cli: &["sts", "get-caller-identity", "--query", "Account", "--output", "text"],
        expected: "123456789012",
    },
];

const ROUNDS: usize = 10;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches but must not run this one
    }
    // The SDK takes credentials from the environment, which a process cannot change safely once threads
    // run: the Precheck half runs in a child process started with moto's environment.
    if let Ok(url) = std::env::var("PRECHECK_BENCH_MOTO") {
        precheck_half(url);
        return;
    }
    let moto = moto::Moto::start();
    moto.deploy_preflight();
    let out = std::process::Command::new(std::env::current_exe().expect("bench path"))
        .args(std::env::args().skip(1))
        .envs(moto.env())
        .env("PRECHECK_BENCH_MOTO", &moto.url)
        .output()
        .expect("run the Precheck half");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let precheck_seconds: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("precheck_seconds="))
        .and_then(|v| v.parse().ok())
        .expect("the Precheck half prints its time");

    let started = Instant::now();
    for _ in 0..ROUNDS {
        for probe in &PROBES {
            let out = moto.aws_ok(probe.cli);
            assert!(out.contains(probe.expected), "{:?}: {out}", probe.cli);
        }
    }
    let baseline = started.elapsed();
    println!("baseline (aws CLI per probe): {} processes in {:.2}s", ROUNDS * PROBES.len(), baseline.as_secs_f64());
    println!("ratio: precheck is {:.1}x faster", baseline.as_secs_f64() / precheck_seconds);
}

fn precheck_half(url: String) {
    let options = AwsOptions { profile: None, region: Some(moto::REGION.to_owned()), endpoint_url: Some(url) };
    let sentences: Vec<_> = (0..ROUNDS)
        .flat_map(|_| PROBES.iter().map(|p| precheck_lang::parse_sentence(p.sentence).expect("valid probe")))
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let (calls, passed) = runtime.block_on(async {
        let aws = Aws::connect(&options).await.expect("connect");
        let verdicts = futures::future::join_all(sentences.iter().map(|s| aws.check(s))).await;
        (aws.calls(), verdicts.into_iter().filter(|v| matches!(v, Ok(v) if v.passed)).count())
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(passed, sentences.len(), "every probe should pass");
    println!("precheck: {} probes in {elapsed:.3}s, {calls} API calls", sentences.len());
    println!("precheck_seconds={elapsed}");
}
