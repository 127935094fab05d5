//! `precheck pipeline serve` started for a test or a bench, and the address it says it listens on.

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// Spawns `command` (a `precheck pipeline serve … --listen 127.0.0.1:0`; its stdout is taken here) and
/// reads the address from the first line it prints (`listening on http://ADDRESS`); the rest of its stdout
/// is left in `child.stdout`. The caller stops the server (kill and wait).
pub fn start(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("precheck starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    child.stdout = Some(stdout);
    let line = String::from_utf8_lossy(&line).into_owned();
    match line.strip_prefix("listening on http://") {
        Some(address) => (child, address.to_owned()),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`pipeline serve` printed no address: {line:?}")
        }
    }
}
