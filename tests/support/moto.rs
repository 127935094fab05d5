//! Starts moto (`moto_server`, a local AWS emulator from the test venv) for a test, on 127.0.0.1 with a
//! port chosen at run time, and stops it when dropped. Include `emulator.rs` beside it (for the venv).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::{python, repo_root};

/// The region every test uses.
pub const REGION: &str = "eu-west-1";

/// A running moto server and a scratch directory.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Self {
        let bin = python().with_file_name("moto_server");
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("moto.log");
        for _ in 0..5 {
            // A port free a moment ago; moto cannot report the port it picked itself.
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("moto log"))
                .spawn()
                .expect("start moto_server");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken in between: try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, url: format!("http://127.0.0.1:{port}"), dir };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment that points the SDK and the aws CLI at this server, with fake credentials and no
    /// user configuration.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let none = self.dir.path().join("none").display().to_string();
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_SESSION_TOKEN", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs the aws CLI (v1, from the test venv) against this server.
    pub fn aws(&self, args: &[&str]) -> Output {
        Command::new(python().with_file_name("aws"))
            .args(["--endpoint-url", &self.url])
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .expect("run the aws CLI")
    }

    /// Runs the aws CLI and asserts it succeeded; returns stdout.
    pub fn aws_ok(&self, args: &[&str]) -> String {
        let out = self.aws(args);
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Provisions `checks/preflight/network.yaml` as stack `preflight-network`, as a build would, with two
    /// moto workarounds (see checks/preflight/MOTO_NOTES.md): `create-stack` rather than `deploy` (moto
    /// fills in no outputs or exports on the change-set path), and the DHCP options created with the CLI
    /// (moto's CloudFormation ignores `AWS::EC2::DHCPOptions`).
    pub fn deploy_preflight(&self) {
        let template = format!("file://{}", repo_root().join("checks/preflight/network.yaml").display());
        self.aws_ok(&[
            "cloudformation",
            "create-stack",
            "--stack-name",
            "preflight-network",
            "--template-body",
            &template,
        ]);
        self.aws_ok(&["cloudformation", "wait", "stack-create-complete", "--stack-name", "preflight-network"]);
        let vpc = self.export("preflight-VpcId");
        let dhcp = self.aws_ok(&[
            "ec2",
            "create-dhcp-options",
            "--dhcp-configurations",
            "Key=domain-name,Values=corp.example.internal",
            "Key=domain-name-servers,Values=10.20.0.2,AmazonProvidedDNS",
            "--query",
            "DhcpOptions.DhcpOptionsId",
            "--output",
            "text",
        ]);
        self.aws_ok(&["ec2", "associate-dhcp-options", "--dhcp-options-id", &dhcp, "--vpc-id", &vpc]);
    }

    /// The value of a CloudFormation export, read with the aws CLI.
    pub fn export(&self, name: &str) -> String {
        let query = format!("Exports[?Name=='{name}'].Value | [0]");
        self.aws_ok(&["cloudformation", "list-exports", "--query", &query, "--output", "text"])
    }

    /// Makes moto check every later request against IAM (signatures, users' policies), as AWS does;
    /// moto allows everything until told so.
    pub fn enforce_iam(&self) {
        let post = "import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=b'0', method='POST', headers={'Content-Type': 'text/plain'}))";
        let out = Command::new(python())
            .args(["-c", post, &format!("{}/moto-api/reset-auth", self.url)])
            .output()
            .expect("run python");
        assert!(out.status.success(), "reset-auth: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The path of a file in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
