//! Memory: the peak resident set of a fresh process per mode, over a baseline process that only
//! sets up a client and sends one small request.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::server::{Server, picture};
use crate::{Figure, median};

const PICTURE: usize = 10 * 1000 * 1000;
const DOWNLOAD: usize = 100 * 1000 * 1000;
const RUNS: usize = 3;

/// Peak resident set of this process, in bytes (`VmHWM` of `/proc/self/status`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[derive(Deserialize)]
struct PictureAnswer<'a> {
    #[serde(rename = "imageBase64", borrow)]
    image_base64: &'a str,
}

/// A child process: `memory-child MODE BASE_URL INPUT OUTPUT`; prints its peak RSS.
pub fn child(args: &[String]) -> ExitCode {
    let [mode, base_url, input, output] = args else {
        eprintln!("memory-child MODE BASE_URL INPUT OUTPUT");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (input, output) = (PathBuf::from(input), PathBuf::from(output));
    let outcome = runtime.block_on(run_mode(mode, base_url, &input, &output));
    match outcome {
        Ok(()) => {
            println!("{}", peak_rss());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{mode}: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run_mode(mode: &str, base_url: &str, input: &Path, output: &Path) -> Result<(), String> {
    let http = reqwest::Client::new();
    let hotpot = || {
        pixmill::hotpot::Client::builder()
            .api_key("k")
            .base_url(format!("{base_url}/hotpot"))
            .http_client(http.clone())
            .build()
            .map_err(|e| e.to_string())
    };
    match mode {
        // What every mode does besides its work: a client and one small request.
        "baseline" => {
            let _ = hotpot()?;
            http.post(format!("{base_url}/hitpaw/api/task-status"))
                .body("{}")
                .send()
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
        }
        "raw" => {
            // Raw reqwest, done carefully: the body is built once, the answer parsed in place.
            let bytes = std::fs::read(input).map_err(|e| e.to_string())?;
            let mut body = Vec::with_capacity(bytes.len().div_ceil(3) * 4 + 20);
            body.extend_from_slice(b"{\"imageBase64\":\"");
            let mut text = String::new();
            STANDARD.encode_string(&bytes, &mut text);
            drop(bytes);
            body.extend_from_slice(text.as_bytes());
            drop(text);
            body.extend_from_slice(b"\"}");
            let answer = http
                .post(format!("{base_url}/hotpot/remove-background"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
            let parsed: PictureAnswer =
                serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            let picture = STANDARD
                .decode(parsed.image_base64)
                .map_err(|e| e.to_string())?;
            drop(bytes);
            std::fs::write(output, picture).map_err(|e| e.to_string())?;
        }
        "facade-memory" => {
            let result = hotpot()?
                .remove_background(input)
                .await
                .map_err(|e| e.to_string())?;
            result.save(output).await.map_err(|e| e.to_string())?;
        }
        "facade-file" => {
            hotpot()?
                .remove_background(input)
                .save(output)
                .await
                .map_err(|e| e.to_string())?;
        }
        "download" => {
            let hitpaw = pixmill::hitpaw::Client::builder()
                .api_key("k")
                .base_url(format!("{base_url}/hitpaw"))
                .http_client(http.clone())
                .build()
                .map_err(|e| e.to_string())?;
            let done = hitpaw
                .job("j")
                .wait_with(pixmill::PollPolicy::new(Duration::from_millis(1)))
                .await
                .map_err(|e| e.to_string())?;
            done.result()
                .save(output)
                .await
                .map_err(|e| e.to_string())?;
        }
        other => return Err(format!("unknown mode {other}")),
    }
    Ok(())
}

/// Runs one mode in fresh processes; the median of their peaks.
fn peak_of(mode: &str, server: &Server, input: &Path, output: &Path) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut peaks = Vec::new();
    for _ in 0..RUNS {
        let _ = std::fs::remove_file(output);
        let out = Command::new(&exe)
            .arg("memory-child")
            .arg(mode)
            .arg(&server.base_url)
            .arg(input)
            .arg(output)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("{mode}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let peak: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{mode} printed {text:?}"))?;
        peaks.push(peak);
    }
    Ok(median(&mut peaks) as u64)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn measure_hotpot() -> Result<Vec<Figure>, String> {
    let server = Server::start(PICTURE, 0)?;
    let dir = std::env::temp_dir().join(format!("pixmill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("input.png");
    let output = dir.join("output.png");
    std::fs::write(&input, picture(PICTURE)).map_err(|e| e.to_string())?;
    let baseline = peak_of("baseline", &server, &input, &output)?;
    let mut figures = Vec::new();
    for (mode, name, goal) in [
        (
            "raw",
            "Hotpot 10 MB round trip, raw reqwest (careful)",
            None,
        ),
        (
            "facade-memory",
            "Hotpot 10 MB round trip, bytes in memory",
            Some(2.5),
        ),
        (
            "facade-file",
            "Hotpot 10 MB round trip, straight to a file",
            Some(1.0),
        ),
    ] {
        let peak = peak_of(mode, &server, &input, &output)?;
        let over = peak.saturating_sub(baseline);
        let ratio = over as f64 / PICTURE as f64;
        eprintln!(
            "{mode}: peak {:.1} MiB, {:.1} MiB over the baseline",
            mib(peak),
            mib(over)
        );
        if mode != "raw" {
            let written = std::fs::metadata(&output).map_err(|e| e.to_string())?.len();
            if written != PICTURE as u64 {
                return Err(format!("{mode} wrote {written} bytes, not {PICTURE}"));
            }
        }
        figures.push(Figure {
            name: name.into(),
            measured: format!("{ratio:.2}x the image"),
            goal: goal.map_or("(reference)".into(), |g| format!("at most {g:.1}x")),
            met: goal.is_none_or(|g| ratio <= g),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}

pub fn measure_download() -> Result<Vec<Figure>, String> {
    let server = Server::start(0, DOWNLOAD)?;
    let dir = std::env::temp_dir().join(format!("pixmill-bench-dl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let output = dir.join("download.png");
    let baseline = peak_of("baseline", &server, &output, &output)?;
    let peak = peak_of("download", &server, &output, &output)?;
    let written = std::fs::metadata(&output).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_dir_all(&dir);
    if written != DOWNLOAD as u64 {
        return Err(format!(
            "the download wrote {written} bytes, not {DOWNLOAD}"
        ));
    }
    let over = peak.saturating_sub(baseline);
    Ok(vec![Figure {
        name: "HitPaw 100 MB download to a file".into(),
        measured: format!("{:.1} MiB over baseline", mib(over)),
        goal: "at most 4 MiB".into(),
        met: over <= 4 * 1024 * 1024,
    }])
}
