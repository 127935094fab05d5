//! End-to-end tests of AWS preflight sentences: the `precheck` binary against moto (a local AWS emulator),
//! with the aws CLI beside it, after deploying `checks/preflight/network.yaml` like a build would.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/workspace.rs"]
mod workspace;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy, Faults};
use moto::Moto;
use workspace::repo_root;

fn precheck(moto: &Moto, args: &[&str]) -> Output {
    precheck_with(moto, args, &[])
}

fn precheck_with(moto: &Moto, args: &[&str], extra: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .envs(moto.env())
        .envs(extra.iter().copied())
        .env_remove("AWS_PROFILE")
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn deployed() -> Moto {
    let moto = Moto::start();
    moto.deploy_preflight();
    moto
}

#[test]
fn the_preflight_suite_passes_after_provisioning() {
    let moto = deployed();
    let junit = moto.path("junit.xml");
    let out = precheck(&moto, &["run", "checks/preflight", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(!xml.contains("<failure") && !xml.contains("<error"), "{xml}");
    assert!(xml.contains("free"), "the trace shows the free addresses seen: {xml}");
}

#[test]
fn the_preflight_suite_fails_clearly_when_resources_change() {
    let moto = deployed();
    moto.aws_ok(&["ssm", "delete-parameter", "--name", "/preflight/cluster/name"]);
    let subnet = moto.aws_ok(&[
        "ec2",
        "describe-subnets",
        "--filters",
        "Name=tag:Name,Values=preflight-private-a",
        "--query",
        "Subnets[0].SubnetId",
        "--output",
        "text",
    ]);
    moto.aws_ok(&["ec2", "create-tags", "--resources", &subnet, "--tags", "Key=tier,Value=public"]);
    let out = precheck(&moto, &["run", "checks/preflight"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("parameter '/preflight/cluster/name' does not exist"), "{all}");
    assert!(
        all.contains("subnet exported as 'preflight-PrivateSubnetAId': tag 'tier' = 'private' does not hold"),
        "{all}"
    );
    assert!(all.contains("precheck: 4 passed, 2 failed"), "parameters and the subnet layout fail, nothing else: {all}");
}

/// One sentence of each kind: a form that holds after `deploy_preflight`, and one that does not.
const SENTENCES: [(&str, &str); 13] = [
    ("account is '123456789012'", "account is '000000000000'"),
    ("vpc named 'preflight-vpc' exists", "vpc named 'no-such-vpc' exists"),
    ("vpc 'vpc-00000000' exists", "vpc 'vpc-00000000' exists"),
    (
        "vpc exported as 'preflight-VpcId' dhcp domain name is 'corp.example.internal'",
        "vpc exported as 'preflight-VpcId' dhcp domain name is 'example.com'",
    ),
    (
        "vpc exported as 'preflight-VpcId' dhcp name servers contain '10.20.0.2'",
        "vpc exported as 'preflight-VpcId' dhcp name servers contain '8.8.8.8'",
    ),
    (
        "vpc named 'preflight-vpc' subnets span at least 3 availability zones",
        "vpc named 'preflight-vpc' subnets span at least 4 availability zones",
    ),
    (
        "subnet named 'preflight-private-a' has more than 200 free ip addresses",
        "subnet named 'preflight-private-a' has less than 200 free ip addresses",
    ),
    (
        "every subnet tagged 'tier=private' has more than 200 free ips",
        "every subnet tagged 'tier=nonexistent' has more than 0 free ips",
    ),
    ("export 'preflight-VpcId' matches '^vpc-'", "export 'preflight-Missing' exists"),
    ("stack 'preflight-network' status is 'CREATE_COMPLETE'", "stack 'no-such-stack' exists"),
    ("stack 'preflight-network' output 'ClusterName' is 'prod-eu-1'", "stack 'preflight-network' output 'Nope' is 'x'"),
    ("parameter '/preflight/cluster/name' is 'PROD-EU-1'", "parameter '/preflight/cluster/name' matches '^staging'"),
    ("parameter '/preflight/cluster/azs' has type 'StringList'", "parameter '/preflight/missing' exists"),
];

#[test]
fn each_sentence_passes_and_fails_against_moto() {
    let moto = deployed();
    let code = |sentence: &str| precheck(&moto, &["verify", sentence]).status.code();
    let cases = SENTENCES;
    for (pass, fail) in cases {
        if pass != fail {
            assert_eq!(code(pass), Some(0), "{pass}: {}", text(&precheck(&moto, &["verify", pass])));
        }
        assert_eq!(code(fail), Some(3), "{fail}: {}", text(&precheck(&moto, &["verify", fail])));
    }
    let out = precheck(&moto, &["verify", "parameter '/preflight/missing' exists"]);
    assert!(text(&out).contains("parameter '/preflight/missing' does not exist"), "{}", text(&out));
    let out = precheck(&moto, &["try", "at most 3 times every 1s to verify that export 'preflight-Missing' exists"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn aws_that_cannot_be_asked_is_an_infrastructure_error_naming_the_action() {
    let moto = Moto::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{closed}");
    let out = precheck_with(&moto, &["verify", "parameter '/x' exists"], &[("AWS_ENDPOINT_URL", &url)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("could not ask AWS (ssm:GetParameter)"), "{}", text(&out));

    let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["verify", "--aws-region", "eu-west-1", "--aws-endpoint-url", &moto.url, "account is '123456789012'"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", moto.dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "no credentials: {}", text(&out));
    assert!(text(&out).contains("could not ask AWS (sts:GetCallerIdentity)"), "{}", text(&out));

    let out = precheck_with(
        &moto,
        &["verify", "account is '123456789012'"],
        &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "")],
    );
    assert_eq!(out.status.code(), Some(4), "no region: {}", text(&out));
    assert!(text(&out).contains("no AWS region"), "{}", text(&out));
}

#[test]
fn a_secure_string_never_appears_in_any_output() {
    let moto = deployed();
    let canary = "canary-5ecr3t-Vh9Q2";
    moto.aws_ok(&[
        "ssm",
        "put-parameter",
        "--name",
        "/preflight/db/password",
        "--type",
        "SecureString",
        "--value",
        canary,
    ]);
    std::fs::write(
        moto.path("secret.check"),
        "test 'secret is set' {\n    verify parameter '/preflight/db/password' has type 'SecureString'\n    verify parameter '/preflight/db/password' is '${DB_PASSWORD}'\n}\n\n\
         test 'secret is wrong' {\n    verify parameter '/preflight/db/password' is 'wrong'\n}\n\n\
         test 'secret pattern' {\n    verify parameter '/preflight/db/password' matches '^nope'\n}\n",
    )
    .unwrap();
    let check = moto.path("secret.check");
    let junit = moto.path("secret.xml");
    for format in ["pretty", "tap", "json"] {
        let out = precheck_with(
            &moto,
            &["run", check.to_str().unwrap(), "--format", format, "--junit", junit.to_str().unwrap()],
            &[("DB_PASSWORD", canary)],
        );
        let all = text(&out);
        assert_eq!(out.status.code(), Some(3), "{all}");
        assert!(all.contains("<redacted>"), "{all}");
        assert!(!all.contains(canary), "the SecureString leaked into the {format} output: {all}");
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(!xml.contains(canary), "the SecureString leaked into JUnit: {xml}");
    }
    let out = precheck_with(&moto, &["verify", "parameter '/preflight/db/password' is 'wrong'"], &[]);
    assert!(!text(&out).contains(canary), "{}", text(&out));

    // Answers cut short (the decrypted value in the part that arrives) end as errors that quote nothing.
    let cut = FaultProxy::start(&moto.url, Faults { rate: 1.0, kinds: vec![Fault::Truncated], seed: 3 });
    let out = precheck_with(
        &moto,
        &["verify", "parameter '/preflight/db/password' is 'wrong'"],
        &[("AWS_ENDPOINT_URL", &cut.url)],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(!text(&out).contains(canary), "{}", text(&out));
}

#[test]
fn the_aws_cli_way_and_the_precheck_way_agree() {
    let moto = deployed();
    // The BATS way: one aws process and a --query per check.
    let free = moto.aws_ok(&[
        "ec2",
        "describe-subnets",
        "--filters",
        "Name=tag:Name,Values=preflight-private-a",
        "--query",
        "Subnets[0].AvailableIpAddressCount",
        "--output",
        "text",
    ]);
    let vpc = moto.export("preflight-VpcId");
    let status = moto.aws_ok(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "preflight-network",
        "--query",
        "Stacks[0].StackStatus",
        "--output",
        "text",
    ]);
    let name = moto.aws_ok(&[
        "ssm",
        "get-parameter",
        "--name",
        "/preflight/cluster/name",
        "--query",
        "Parameter.Value",
        "--output",
        "text",
    ]);
    // The Precheck way, with the values the CLI saw.
    let agree = [
        format!("subnet named 'preflight-private-a' has {free} free ip addresses"),
        format!("export 'preflight-VpcId' is '{vpc}'"),
        format!("vpc '{vpc}' exists"),
        format!("stack 'preflight-network' status is '{status}'"),
        format!("parameter '/preflight/cluster/name' is '{name}'"),
    ];
    for sentence in &agree {
        let out = precheck(&moto, &["verify", sentence]);
        assert_eq!(out.status.code(), Some(0), "{sentence}: {}", text(&out));
    }
    let n: u64 = free.parse().expect("a number of free addresses");
    let out = precheck(
        &moto,
        &["verify", &format!("subnet named 'preflight-private-a' has more than {n} free ip addresses")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn a_stack_that_did_not_complete_fails_with_its_status() {
    let moto = Moto::start();
    // moto never rolls back: a resource that fails leaves the stack in CREATE_IN_PROGRESS
    // (checks/preflight/MOTO_NOTES.md), which a preflight must refuse just the same.
    let template = moto.path("broken.yaml");
    std::fs::write(
        &template,
        "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.30.0.0/16}\n  Subnet:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref Vpc, CidrBlock: 192.168.0.0/24}\n",
    )
    .unwrap();
    let body = format!("file://{}", template.display());
    let _ = moto.aws(&["cloudformation", "create-stack", "--stack-name", "broken", "--template-body", &body]);
    let status = moto.aws_ok(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "broken",
        "--query",
        "Stacks[0].StackStatus",
        "--output",
        "text",
    ]);
    assert_ne!(status, "CREATE_COMPLETE");
    let out = precheck(&moto, &["verify", "stack 'broken' status is one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE'"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "stack 'broken' status is '{status}', expected one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE'"
        )),
        "{}",
        text(&out)
    );
    let out =
        precheck(&moto, &["try", "at most 2 times every 1s to verify that stack 'broken' status is 'CREATE_COMPLETE'"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn transient_faults_are_retried_and_never_fail_an_assertion() {
    let moto = deployed();
    // Each fault kind on its own, then all mixed: 500s, 429 + Retry-After, resets and cut bodies.
    let kinds = [Fault::ServerError, Fault::TooManyRequests, Fault::Reset, Fault::Truncated];
    for (seed, faults) in kinds.iter().map(|k| vec![*k]).chain([kinds.to_vec()]).enumerate() {
        let proxy = FaultProxy::start(&moto.url, Faults { rate: 0.2, kinds: faults.clone(), seed: seed as u64 });
        let out = precheck_with(&moto, &["run", "checks/preflight"], &[("AWS_ENDPOINT_URL", &proxy.url)]);
        assert_eq!(out.status.code(), Some(0), "{faults:?}, {} injected: {}", proxy.injected(), text(&out));
        assert!(proxy.injected() >= 2, "{faults:?}: {} of {} requests", proxy.injected(), proxy.requests());
    }

    // A slow answer that fits in the attempt timeout is waited for, not retried.
    let slow =
        FaultProxy::start(&moto.url, Faults { rate: 1.0, kinds: vec![Fault::Slow(Duration::from_secs(2))], seed: 1 });
    let out = precheck_with(&moto, &["verify", "account is '123456789012'"], &[("AWS_ENDPOINT_URL", &slow.url)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(slow.requests(), 1);
}

#[test]
fn with_aws_gone_every_probe_is_an_infrastructure_error_within_its_bound() {
    let moto = deployed();
    let proxy = FaultProxy::start(&moto.url, Faults::all(1.0));
    // The preflight suite, and one test per sentence kind (each test stops at its first error).
    let kinds: String = SENTENCES
        .iter()
        .enumerate()
        .map(|(n, (holds, _))| format!("test 'kind {n}' {{\n    verify {holds}\n}}\n\n"))
        .collect();
    std::fs::write(moto.path("kinds.check"), kinds).unwrap();
    let junit = moto.path("junit.xml");
    let started = Instant::now();
    let out = precheck_with(
        &moto,
        &[
            "run",
            "checks/preflight",
            moto.path("kinds.check").to_str().unwrap(),
            "--test-threads",
            "32",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[("AWS_ENDPOINT_URL", &proxy.url)],
    );
    let took = started.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("could not ask AWS ("), "{all}");
    assert!(!all.contains("does not hold") && !all.contains("does not exist"), "no assertion failed: {all}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(!xml.contains("<failure"), "errors, not failures: {xml}");
    let tests = 6 + SENTENCES.len();
    assert_eq!(xml.matches("<error").count(), tests, "every test is an error: {xml}");
    // Eight attempts per call with backoff of at most 5 s (Retry-After 1 s for the 429s), all tests at
    // once: well below one call's bound of 90 s.
    assert!(took < Duration::from_secs(90), "took {took:?}");
    // Identical calls are merged (all the `exported as` lookups ask for the export list once); each
    // distinct call makes its 8 attempts.
    assert_eq!(proxy.requests() % 8, 0, "{} requests", proxy.requests());
    assert!(proxy.requests() >= 8 * 8, "{} requests", proxy.requests());
}

/// Turns on moto's IAM enforcement and returns keys of a user who may only describe EC2 resources.
fn ec2_reader(moto: &Moto) -> (String, String) {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","sts:GetCallerIdentity"],"Resource":"*"}]}"#;
    moto.aws_ok(&["iam", "create-user", "--user-name", "reader"]);
    moto.aws_ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "reader",
        "--policy-name",
        "ec2",
        "--policy-document",
        policy,
    ]);
    let keys = moto.aws_ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "reader",
        "--query",
        "AccessKey.[AccessKeyId,SecretAccessKey]",
        "--output",
        "text",
    ]);
    let mut keys = keys.split_whitespace().map(str::to_owned);
    let (id, secret) = (keys.next().unwrap(), keys.next().unwrap());
    moto.enforce_iam();
    (id, secret)
}

#[test]
fn access_denied_is_an_infrastructure_error_naming_the_action() {
    let moto = deployed();
    let (id, secret) = ec2_reader(&moto);
    let as_reader =
        [("AWS_ACCESS_KEY_ID", id.as_str()), ("AWS_SECRET_ACCESS_KEY", secret.as_str()), ("AWS_SESSION_TOKEN", "")];

    let out = precheck_with(&moto, &["verify", "subnet named 'preflight-private-a' exists"], &as_reader);
    assert_eq!(out.status.code(), Some(0), "allowed: {}", text(&out));

    let out = precheck_with(&moto, &["verify", "parameter '/preflight/cluster/name' exists"], &as_reader);
    assert_eq!(out.status.code(), Some(4), "denied: {}", text(&out));
    let all = text(&out);
    assert!(all.contains("could not ask AWS (ssm:GetParameter)"), "{all}");
    assert!(all.contains("AccessDenied") && all.contains("not authorized"), "{all}");

    let out = precheck_with(&moto, &["run", "checks/preflight"], &as_reader);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("could not ask AWS (cloudformation:ListExports)"), "{all}");
    assert!(!all.contains("does not exist"), "denied is never 'missing': {all}");

    let out = precheck_with(&moto, &["verify", "account is '123456789012'"], &[("AWS_SECRET_ACCESS_KEY", "wrong")]);
    assert_eq!(out.status.code(), Some(4), "unknown key: {}", text(&out));
    assert!(text(&out).contains("could not ask AWS (sts:GetCallerIdentity)"), "{}", text(&out));
}

#[test]
fn an_unknown_region_is_an_infrastructure_error_naming_region_and_action() {
    let moto = Moto::start();
    // No endpoint URL: the SDK asks AWS's own endpoint for the region, which does not exist.
    let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["verify", "--aws-region", "xx-nowhere-1", "parameter '/x' exists"])
        .envs(moto.env().into_iter().filter(|(k, _)| !k.starts_with("AWS_ENDPOINT_URL") && !k.contains("REGION")))
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("could not ask AWS (ssm:GetParameter)"), "{all}");
    assert!(all.contains("region 'xx-nowhere-1'"), "{all}");
    assert!(!all.contains("DispatchFailure("), "no debug dump: {all}");
}

#[test]
fn a_pipeline_deploys_a_stack_once_then_validates_it() {
    let moto = Moto::start();
    let template = repo_root().join("checks/preflight/network.yaml");
    std::fs::write(
        moto.path("stack.check"),
        "test 'the stack' {\n    verify stack 'net-${CLUSTER}' status is one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE'\n    verify stack 'net-${CLUSTER}' output 'ClusterName' is '${CLUSTER}'\n    verify export 'preflight-VpcId' matches '^vpc-'\n    verify parameter '/preflight/cluster/name' is '${CLUSTER}'\n}\n",
    )
    .unwrap();
    let pipeline = moto.path("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: build\nparameters:\n  - name: CLUSTER\nstages:\n  - name: build\n    steps:\n      - name: network\n        timeout: 5m\n        cloudformation:\n          stack: net-${{CLUSTER}}\n          template: {}\n          parameters: {{ ClusterName: \"${{CLUSTER}}\" }}\n  - name: validation\n    depends: [build]\n    steps:\n      - name: stack\n        checks: [stack.check]\n",
            template.display()
        ),
    )
    .unwrap();
    let state = moto.path("state");
    let run = |cluster: &str| {
        precheck(
            &moto,
            &[
                "pipeline",
                "run",
                pipeline.to_str().unwrap(),
                "-p",
                &format!("CLUSTER={cluster}"),
                "--state-dir",
                state.to_str().unwrap(),
            ],
        )
    };
    let out = run("prod-eu-1");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // The aws CLI sees the stack the step made.
    assert_eq!(
        moto.aws_ok(&[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            "net-prod-eu-1",
            "--query",
            "Stacks[0].StackStatus",
            "--output",
            "text"
        ]),
        "CREATE_COMPLETE"
    );
    let log = |all: &str| {
        let id = all
            .lines()
            .find_map(|l| l.split("run ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned();
        std::fs::read_to_string(state.join("runs").join(id).join("logs/build.network.log")).unwrap()
    };
    assert!(log(&all).contains("stack net-prod-eu-1: CREATE_COMPLETE"), "{}", log(&all));

    // The same again: nothing to do.
    let out = run("prod-eu-1");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(log(&all).contains("stack net-prod-eu-1 is up to date: no changes"), "{}", log(&all));

    // A template that cannot be created: the step fails with AWS's reason, and nothing after it runs.
    std::fs::write(
        moto.path("bad.yaml"),
        "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: { CidrBlock: 10.30.0.0/16 }\n  Subnet:\n    Type: AWS::EC2::Subnet\n    Properties: { VpcId: !Ref Vpc, CidrBlock: 192.168.0.0/24 }\n",
    )
    .unwrap();
    let text_of = std::fs::read_to_string(&pipeline).unwrap().replace(&template.display().to_string(), "bad.yaml");
    std::fs::write(&pipeline, text_of).unwrap();
    let out = run("broken");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("could not ask AWS (cloudformation:CreateStack)") || all.contains("InvalidSubnet"), "{all}");
    assert!(all.contains("⤼ validation/stack skipped: not run: build/network did not succeed"), "{all}");
}

#[test]
fn a_pipeline_that_cannot_ask_aws_is_errored_not_failed() {
    let moto = deployed();
    let template = repo_root().join("checks/preflight/network.yaml");
    std::fs::write(moto.path("ssm.check"), "test 'name' {\n    verify parameter '/preflight/cluster/name' exists\n}\n")
        .unwrap();
    let pipeline = moto.path("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: denied\nstages:\n  - name: build\n    steps:\n      - name: network\n        cloudformation:\n          \
             stack: denied-net\n          template: {}\n          parameters: {{ ClusterName: denied }}\n      \
             - {{ name: ssm, checks: [ssm.check] }}\n      - {{ name: after, depends: [network], run: [echo, never] }}\n",
            template.display()
        ),
    )
    .unwrap();
    let state = moto.path("state");
    let run = |extra: &[(&str, &str)]| {
        let out = precheck_with(
            &moto,
            &["pipeline", "run", pipeline.to_str().unwrap(), "--state-dir", state.to_str().unwrap()],
            extra,
        );
        let status = precheck(&moto, &["pipeline", "status", "--json", "--state-dir", state.to_str().unwrap()]);
        let record: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
        (out, record)
    };
    let step = |record: &serde_json::Value, id: &str| {
        let step = record["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
        (step["status"].as_str().unwrap().to_owned(), step["message"].as_str().unwrap_or_default().to_owned())
    };

    // A user who may not touch CloudFormation or SSM: AWS refused the caller, not the stack.
    let (id, secret) = ec2_reader(&moto);
    let as_reader =
        [("AWS_ACCESS_KEY_ID", id.as_str()), ("AWS_SECRET_ACCESS_KEY", secret.as_str()), ("AWS_SESSION_TOKEN", "")];
    let (out, record) = run(&as_reader);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert_eq!(record["status"], "errored", "{record}");
    let (status, message) = step(&record, "build/network");
    assert_eq!(status, "errored", "{record}");
    assert!(
        message.contains("could not ask AWS (cloudformation:DescribeStacks)") && message.contains("AccessDenied"),
        "{message}"
    );
    let (status, message) = step(&record, "build/ssm");
    assert_eq!(status, "errored", "{record}");
    assert!(message.contains("could not ask AWS (ssm:GetParameter)"), "{message}");
    assert_eq!(step(&record, "build/after").0, "skipped", "{record}");
    assert!(all.contains("⚠ build/network errored after 1 attempt"), "{all}");

    // No AWS at all (nothing listens on the endpoint): the same.
    let (out, record) = run(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(step(&record, "build/network").0, "errored", "{record}");
    assert_eq!(step(&record, "build/ssm").0, "errored", "{record}");
}
