//! The `precheck` binary as the tests start it: with a kubeconfig, in a scratch directory (its
//! working directory and kube cache), without the caller's DETIK namespace or colours, stdin closed.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `precheck ARGS` against the cluster of `kubeconfig`, in `dir`.
pub fn precheck(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Output {
    command(kubeconfig, dir, args).output().expect("run precheck")
}

/// `precheck ARGS` as [`precheck`] runs it, for a caller to add to (an environment variable).
pub fn command(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_precheck"));
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", dir.join("kube-cache"))
        .env("NO_COLOR", "1")
        .env_remove("DETIK_CLIENT_NAMESPACE")
        .env_remove("DETIK_CLIENT_NAMESPACE_ALL")
        .current_dir(dir)
        .stdin(Stdio::null());
    command
}

/// Its stdout and stderr, one after the other.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
