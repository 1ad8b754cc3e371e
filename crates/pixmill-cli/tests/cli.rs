//! The `pixmill` command against a sandbox started in this process: its variables are handed
//! to the command, and its traffic and ledger say what the command sent.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pixmill_sandbox::Sandbox;
use predicates::prelude::PredicateBooleanExt as _;
use serde_json::Value;

/// A runtime that keeps serving the sandbox while the test waits for the command.
struct World {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime.block_on(Sandbox::start()).unwrap();
        World {
            runtime,
            sandbox: Some(sandbox),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    /// The command with the sandbox's variables and nothing else from the environment.
    fn pixmill(&self) -> Command {
        let mut command = bare();
        command.envs(self.sandbox().env_vars());
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A folder of ten files: eight pictures, a text file and an empty file.
    fn folder_of_ten(&self) -> PathBuf {
        let folder = self.path("pictures");
        std::fs::create_dir_all(&folder).unwrap();
        for n in 1..=8 {
            std::fs::copy(sample(), folder.join(format!("photo{n}.png"))).unwrap();
        }
        std::fs::write(folder.join("notes.png"), "not a picture at all").unwrap();
        std::fs::write(folder.join("empty.jpg"), b"").unwrap();
        folder
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.shutdown());
        }
    }
}

/// The command with an empty environment: no real key can leak in.
fn bare() -> Command {
    let mut command = Command::cargo_bin("pixmill").unwrap();
    command.env_clear();
    command
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pixmill/examples/data/sample.png")
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn with_status<'a>(lines: &'a [Value], status: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["status"] == status).collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_folder_with_two_bad_files_gives_eight_results_and_resumes() {
    let world = World::new();
    let folder = world.folder_of_ten();
    let out = world.path("out");
    let run = || {
        world
            .pixmill()
            .args(["--json", "remove-background", "--jobs", "3"])
            .arg(&folder)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap()
    };

    let first = run();
    assert_eq!(first.status.code(), Some(1), "some items failed");
    let lines = json_lines(&first.stdout);
    assert_eq!(lines.len(), 10, "one JSON object per item");
    let done = with_status(&lines, "done");
    assert_eq!(done.len(), 8);
    for line in &done {
        let output = line["output"].as_str().unwrap();
        assert!(Path::new(output).is_file(), "{output}");
        assert!(output.ends_with("-remove-background.png"), "{output}");
        assert_eq!(line["provider"], "hotpot");
        assert!(line["error"].is_null());
    }
    let failed = with_status(&lines, "failed");
    let mut failed_inputs: Vec<&str> = failed
        .iter()
        .map(|l| l["input"].as_str().unwrap())
        .collect();
    failed_inputs.sort();
    assert!(failed_inputs[0].ends_with("empty.jpg") && failed_inputs[1].ends_with("notes.png"));
    for line in &failed {
        let error = line["error"].as_str().unwrap();
        assert!(error.contains("not a recognisable image"), "{error}");
        assert!(line["output"].is_null());
        assert_eq!(line["charge"], "nothing");
    }
    assert_eq!(files_in(&out).len(), 8);
    // Refused inputs cost nothing and never reached the provider.
    assert_eq!(world.sandbox().charges().len(), 8);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("10 items: 8 done, 2 failed"), "{stderr}");

    let requests = world.sandbox().traffic().len();
    let second = run();
    assert_eq!(second.status.code(), Some(1), "the bad files still fail");
    let lines = json_lines(&second.stdout);
    assert_eq!(with_status(&lines, "skipped").len(), 8);
    assert_eq!(with_status(&lines, "failed").len(), 2);
    assert_eq!(
        world.sandbox().traffic().len(),
        requests,
        "done items send nothing"
    );
    assert_eq!(world.sandbox().charges().len(), 8);
}

#[test]
fn overwrite_redoes_items_whose_results_exist() {
    let world = World::new();
    let out = world.path("out");
    let run = |extra: &[&str]| {
        world
            .pixmill()
            .args(["--quiet", "upscale", "--provider", "hotpot"])
            .args(extra)
            .arg(sample())
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
    };
    run(&[]);
    assert_eq!(files_in(&out), ["sample-upscale.png"]);
    run(&[]);
    assert_eq!(
        world.sandbox().charges().len(),
        1,
        "skipped the second time"
    );
    run(&["--overwrite"]);
    assert_eq!(
        world.sandbox().charges().len(),
        2,
        "done again with --overwrite"
    );
    assert_eq!(files_in(&out), ["sample-upscale.png"]);
}

#[test]
fn a_dry_run_sends_no_request() {
    let world = World::new();
    let folder = world.folder_of_ten();
    let out = world.path("out");
    let output = world
        .pixmill()
        .args([
            "--dry-run",
            "--json",
            "upscale",
            "--factor",
            "4",
            "--provider",
            "hitpaw",
        ])
        .arg(&folder)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "two inputs would be refused");
    let lines = json_lines(&output.stdout);
    let planned = with_status(&lines, "planned");
    assert_eq!(planned.len(), 8);
    for line in &planned {
        let sends = line["sends"].as_str().unwrap();
        assert!(
            sends.contains("png 320x240") && sends.contains("HitPaw"),
            "{sends}"
        );
        assert!(
            sends.contains("general_4x"),
            "the model chosen for the factor: {sends}"
        );
    }
    assert_eq!(with_status(&lines, "invalid").len(), 2);
    assert!(
        world.sandbox().traffic().is_empty(),
        "{:?}",
        world.sandbox().traffic()
    );
    assert!(!out.exists(), "nothing is written");

    // A documented price is shown; a limit the input breaks is named.
    let perfect = world
        .pixmill()
        .args([
            "--dry-run",
            "--json",
            "perfect-v2",
            "enhance",
            "--scale",
            "2",
        ])
        .arg(sample())
        .output()
        .unwrap();
    assert_eq!(perfect.status.code(), Some(0));
    let line = &json_lines(&perfect.stdout)[0];
    let documented = pixmill::perfect::v2::Feature::Enhance.facts().costs[0].units;
    assert_eq!(line["credits"]["amount"].as_f64(), Some(documented));
    let aging = world
        .pixmill()
        .args(["--dry-run", "--json", "perfect-v2", "aging"])
        .arg(sample())
        .output()
        .unwrap();
    assert_eq!(aging.status.code(), Some(1));
    let error = json_lines(&aging.stdout)[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("png images are not accepted"), "{error}");
    assert!(world.sandbox().traffic().is_empty());
}

#[test]
fn a_dry_run_needs_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    bare()
        .args(["--dry-run", "restore"])
        .arg(sample())
        .arg("-o")
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("1 planned"));
}

#[test]
fn usage_errors_exit_with_2() {
    bare().arg("upscale").assert().code(2);
    bare().arg("sharpen").assert().code(2);
    bare()
        .args(["upscale", "--jobs", "0", "x.png"])
        .assert()
        .code(2);
    bare()
        .args(["hotpot", "supersize", "--factor", "3", "x.png"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("possible values: 2, 4, 8, 16"));
    bare()
        .args(["--sandbox", "upscale", "no-such-file.png"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no-such-file.png"));
}

#[test]
fn a_missing_credential_names_its_variable() {
    bare()
        .args(["hitpaw", "enhance"])
        .arg(sample())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("HITPAW_API_KEY"));
    bare()
        .args(["upscale", "--provider", "perfect"])
        .arg(sample())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("PERFECT_CLIENT_ID"));
    // Without a provider named, every variable that would do is listed.
    bare()
        .args(["remove-background"])
        .arg(sample())
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("HOTPOT_API_KEY")
                .and(predicates::str::contains("HITPAW_API_KEY")),
        );
}

#[test]
fn the_sandbox_mode_runs_jobs_and_catalogues_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = bare()
        .args(["--sandbox", "--json", "hitpaw", "segment"])
        .arg(sample())
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        files_in(dir.path()),
        [
            "sample-hitpaw-segment-mask.png",
            "sample-hitpaw-segment.png"
        ]
    );
    let line = &json_lines(&output.stdout)[0];
    assert_eq!(line["credits"]["unit"], "coins");
    assert!(line["job_id"].is_string());

    let styles = bare()
        .args(["--sandbox", "--json", "perfect", "styles", "hair-style"])
        .output()
        .unwrap();
    assert_eq!(styles.status.code(), Some(0));
    let rows = json_lines(&styles.stdout);
    assert!(!rows.is_empty());
    let style = rows[0]["style"].as_str().unwrap();
    assert!(style.split_once(':').is_some(), "{style}");

    let animated = bare()
        .args(["--sandbox", "generate", "--animated", "a paper boat"])
        .arg("-o")
        .arg(dir.path())
        .assert()
        .success();
    drop(animated);
    assert!(dir.path().join("a-paper-boat-generate.gif").is_file());
}

/// Ctrl-C while a HitPaw job runs: nothing new starts, the summary still comes, and the
/// job that was paid for is listed.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_batch_and_lists_what_may_have_been_charged() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let world = World::new();
    let folder = world.folder_of_ten();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .env_clear()
        .envs(world.sandbox().env_vars())
        .args(["hitpaw", "enhance", "--jobs", "1"])
        .arg(&folder)
        .arg("-o")
        .arg(world.path("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // HitPaw polls its jobs seconds apart, so the first job is still running when it says so.
    while !seen.contains(": processing") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen.push_str(&line);
    }
    // The stage is reported as the submission leaves; stop once HitPaw has taken the job.
    for _ in 0..500 {
        if !world.sandbox().charges().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let signal = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("1 interrupted"), "{rest}");
    // Which items got the single slot before the stop is up to the scheduler; none started
    // after it.
    let rows = |status: &str| rest.lines().filter(|l| l.starts_with(status)).count();
    assert_eq!(rows("cancelled ") + rows("failed "), 9, "{rest}");
    assert_eq!(rows("done "), 0, "{rest}");
    assert!(rest.contains(".png (HitPaw, charge possible)"), "{rest}");
    assert!(
        rest.contains("may have been charged without a result"),
        "{rest}"
    );
    assert_eq!(world.sandbox().charges().len(), 1, "one job was accepted");
}

#[test]
fn completions_are_printed_for_a_shell() {
    bare()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("remove-background")
                .and(predicates::str::contains("perfect-v2")),
        );
    bare().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn every_command_has_an_example_in_its_help() {
    for command in [
        vec!["remove-background"],
        vec!["generate"],
        vec!["hotpot", "palette"],
        vec!["hitpaw", "enhance"],
        vec!["segmind", "animate"],
        vec!["perfect", "hair-style"],
        vec!["perfect-v2", "templates"],
    ] {
        bare()
            .args(&command)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicates::str::contains("Example:\n  pixmill"));
    }
}
