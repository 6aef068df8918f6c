//! The README's first command and what the server prints then: `cargo run --release` has exactly one binary to
//! run, and the startup banner offers commands that work the way the server was started.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The banner the server prints, up to its blank last line (bounded in time).
fn banner(mut command: Command) -> String {
    let mut child: Child = command
        .args(["--listen", "127.0.0.1:0"])
        .env("MAJLIS_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start majlis");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.is_empty() && text.contains("Majlis is running");
            text.push_str(&line);
            text.push('\n');
            if done {
                break;
            }
        }
        let _ = tx.send(text);
    });
    let text = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    text
}

#[test]
fn under_cargo_the_banner_says_how_to_mint_tokens_with_cargo() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_majlis"));
    command.env("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR")).env_remove("MAJLIS_JWT_SECRET");
    let text = banner(command);
    assert!(text.contains("/moderator.html#token="), "{text}");
    assert!(text.contains("Chat agent console: ") && text.contains("/agent.html#token="), "{text}");
    assert!(text.contains("cargo run --release -- token --role moderator"), "{text}");
    assert!(text.contains("export MAJLIS_JWT_SECRET"), "a generated secret: say how to fix one first\n{text}");
}

#[test]
fn run_by_its_path_the_banner_names_that_path() {
    let path = env!("CARGO_BIN_EXE_majlis");
    let mut command = Command::new(path);
    command.env_remove("CARGO_MANIFEST_DIR").env("MAJLIS_JWT_SECRET", "a-fixed-secret-for-this-test");
    let text = banner(command);
    assert!(text.contains(&format!("{path} token --role moderator")), "{text}");
    assert!(!text.contains("cargo run"), "{text}");
}

#[test]
fn cargo_run_has_exactly_one_binary_to_run() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata json");
    let defaults: Vec<&serde_json::Value> =
        metadata["workspace_default_members"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
    let binaries: Vec<String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| defaults.contains(&&p["id"]))
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(binaries, vec!["majlis".to_string()], "in {:?}", started.elapsed());
}
