//! `pixmill-sandbox`: runs the emulator until stopped and prints the settings that point
//! pixmill (or any client) at it, one `export NAME=value` line each.
//!
//! ```text
//! eval "$(cargo run -p pixmill-sandbox -- --listen 127.0.0.1:8080 | head -n 10)"
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pixmill_sandbox::{FaultRule, PerfectKey, RateLimit, Sandbox, SandboxConfig};

/// A local emulator of the Hotpot, HitPaw, Segmind and Perfect Corp APIs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Inject a fault: PROVIDER:[METHOD ]PATH=FAULT[*TIMES], e.g.
    /// `hitpaw:/api/task-status=503*3`, `perfect:POST /s2s/v1.0/task/enhance=drop-after`.
    /// FAULT is a 4xx/5xx status, 429@SECS, malformed, delay@MILLIS (before processing),
    /// slow@MILLIS (after processing), drop or drop-after.
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<FaultRule>,
    /// How long HitPaw jobs stay CONVERTING, in milliseconds.
    #[arg(long, default_value_t = 500)]
    hitpaw_job_ms: u64,
    /// How long Perfect tasks stay running, in milliseconds.
    #[arg(long, default_value_t = 500)]
    perfect_task_ms: u64,
    /// The polling_interval Perfect status answers carry, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    perfect_polling_interval_ms: u64,
    /// Seconds without a poll after which a Perfect task is lost [default: the spec's
    /// `x-polling`].
    #[arg(long)]
    perfect_task_loss_secs: Option<u64>,
    /// Lifetime of Perfect access tokens, in seconds [default: the spec's token lifetime].
    #[arg(long)]
    perfect_token_ttl_secs: Option<u64>,
    /// Perfect's per-token limit as REQUESTS/SECONDS [default: the spec's `x-rate-limits`].
    #[arg(long, value_parser = parse_limit)]
    perfect_token_limit: Option<RateLimit>,
    /// Perfect's per-IP limit as REQUESTS/SECONDS [default: the spec's `x-rate-limits`].
    #[arg(long, value_parser = parse_limit)]
    perfect_ip_limit: Option<RateLimit>,
    /// Turn off both Perfect rate limits.
    #[arg(long)]
    no_rate_limits: bool,
    /// Let HitPaw jobs fetch input URLs from hosts other than loopback.
    #[arg(long)]
    allow_remote_fetch: bool,
    /// Make a Perfect key pair for this run instead of using the committed one, so the client
    /// secret is unique (start-up takes a moment longer).
    #[arg(long)]
    fresh_key: bool,
}

fn parse_limit(text: &str) -> Result<RateLimit, String> {
    let (max, secs) = text
        .split_once('/')
        .ok_or("expected REQUESTS/SECONDS, e.g. 100/60")?;
    Ok(RateLimit {
        max: max.parse().map_err(|_| format!("`{max}` is not a count"))?,
        window: Duration::from_secs(
            secs.parse()
                .map_err(|_| format!("`{secs}` is not a number of seconds"))?,
        ),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "pixmill_sandbox=info".into()),
        )
        .init();
    let args = Args::parse();
    // Every setting left out keeps the documented value of `SandboxConfig::default()`.
    let documented = SandboxConfig::default();
    let limit = |given: Option<RateLimit>, documented: Option<RateLimit>| {
        if args.no_rate_limits {
            None
        } else {
            given.or(documented)
        }
    };
    let config = SandboxConfig {
        listen: args.listen,
        hitpaw_job_duration: Duration::from_millis(args.hitpaw_job_ms),
        perfect_task_duration: Duration::from_millis(args.perfect_task_ms),
        perfect_polling_interval: Duration::from_millis(args.perfect_polling_interval_ms),
        perfect_task_loss_after: args
            .perfect_task_loss_secs
            .map_or(documented.perfect_task_loss_after, Duration::from_secs),
        perfect_token_ttl: args
            .perfect_token_ttl_secs
            .map_or(documented.perfect_token_ttl, Duration::from_secs),
        perfect_token_limit: limit(args.perfect_token_limit, documented.perfect_token_limit),
        perfect_ip_limit: limit(args.perfect_ip_limit, documented.perfect_ip_limit),
        allow_remote_fetch: args.allow_remote_fetch,
        perfect_key: if args.fresh_key {
            PerfectKey::Fresh
        } else {
            PerfectKey::Fixed
        },
        ..documented
    };
    let sandbox = match Sandbox::start_with(config).await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!(
                "error: cannot start the sandbox on {}: {error}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    for rule in args.faults {
        sandbox.inject(rule);
    }
    print!("{}", sandbox.exports());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!("serving on {}; stop with Ctrl-C", sandbox.addr());
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
