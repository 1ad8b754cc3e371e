//! The binary prints one `export` line per setting and then serves until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const NAMES: [&str; 9] = [
    "HOTPOT_BASE_URL",
    "HOTPOT_API_KEY",
    "HITPAW_BASE_URL",
    "HITPAW_API_KEY",
    "SEGMIND_BASE_URL",
    "SEGMIND_API_KEY",
    "PERFECT_BASE_URL",
    "PERFECT_CLIENT_ID",
    "PERFECT_CLIENT_SECRET",
];

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` and reads its export lines, checking their names and order.
fn start(args: &[&str]) -> (KillOnDrop, Vec<(String, String)>) {
    let child = Command::new(env!("CARGO_BIN_EXE_pixmill-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut settings = Vec::new();
    for expected in NAMES {
        let line = lines.next().expect("a line per setting").expect("UTF-8");
        let rest = line.strip_prefix("export ").expect("an export line");
        let (name, value) = rest.split_once('=').expect("NAME=value");
        assert_eq!(name, expected);
        assert!(!value.is_empty() && !value.contains(' '), "{line}");
        settings.push((name.to_string(), value.to_string()));
    }
    (child, settings)
}

fn setting(settings: &[(String, String)], name: &str) -> String {
    settings
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .expect("setting present")
}

#[tokio::test]
async fn prints_exports_then_serves_with_injected_faults() {
    let (_child, settings) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "segmind:/hotshot-xl=503*1",
    ]);
    let get = |name: &str| setting(&settings, name);
    let base = get("SEGMIND_BASE_URL");
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/segmind/v1"));

    let http = reqwest::Client::new();
    let call = || {
        http.post(format!("{base}/hotshot-xl"))
            .header("x-api-key", get("SEGMIND_API_KEY"))
            .json(&serde_json::json!({ "prompt": "a red ball", "width": 256, "height": 256 }))
            .send()
    };
    let first = call().await.expect("the sandbox answers");
    assert_eq!(first.status(), 503, "the --fault flag applies once");
    let second = call().await.expect("the sandbox answers");
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["content-type"], "image/gif");
    let bytes = second.bytes().await.expect("body");
    assert!(bytes.starts_with(b"GIF89a"));
}

#[test]
fn rejects_a_bad_fault_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_pixmill-sandbox"))
        .args(["--fault", "hitpaw:/api/task-status=teapot"])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown fault `teapot`"), "{stderr}");
}

#[test]
fn the_committed_key_is_the_default_and_fresh_key_makes_another() {
    let secret = |args: &[&str]| setting(&start(args).1, "PERFECT_CLIENT_SECRET");
    let fixed = secret(&[]);
    assert_eq!(
        secret(&[]),
        fixed,
        "every default run shares the committed key"
    );
    let fresh = secret(&["--fresh-key"]);
    assert_ne!(fresh, fixed);
    assert_ne!(secret(&["--fresh-key"]), fresh, "each fresh key is new");
}
