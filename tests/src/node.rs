//! The Node.js test providers: their npm dependencies installed once from the committed lock
//! file, and a provider process started and waited for until it prints its ready line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

static NPM_CI: Mutex<()> = Mutex::new(());

/// `npm ci` in `dir` unless `node_modules/<package>` is there already.
pub fn ensure_node_modules(dir: &Path, package: &str) {
    let _guard = NPM_CI.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join("node_modules").join(package).is_dir() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm must be installed to run the OIDC tests");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// Spawns `command` (stdin and stdout piped) and returns it with the JSON object of its first
/// stdout line. The rest of stdout is drained, so the provider's own logging never writes into
/// a closed pipe (which kills a Node process).
pub fn spawn_provider(mut command: Command) -> (Child, Value) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be installed to run the OIDC tests");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first);
        lines.for_each(drop);
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) => line,
        Err(error) => {
            // Not left running after the test: it would never read its stdin's end.
            let _ = child.kill();
            let _ = child.wait();
            panic!("the OIDC provider did not report ready: {error:?}");
        }
    };
    let ready = serde_json::from_str(&line).expect("ready line is JSON");
    (child, ready)
}
