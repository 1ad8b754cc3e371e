//! The command line: every command, its options and its help.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use pixmill::Provider;

/// A value parser for a type whose documented values the generated crates list: the help shows
/// them, and anything else is a usage error.
pub fn documented<T>(
    values: impl IntoIterator<Item = &'static str>,
) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    PossibleValuesParser::new(values).try_map(|text| text.parse::<T>().map_err(|e| e.to_string()))
}

fn providers() -> impl TypedValueParser<Value = Provider> {
    documented(Provider::ALL.iter().map(|p| p.id()))
}

fn formats() -> impl TypedValueParser<Value = pixmill::ImageFormat> {
    PossibleValuesParser::new(pixmill::ImageFormat::ALL.iter().map(|f| f.extension())).try_map(
        |text| pixmill::ImageFormat::from_extension(&text).ok_or(format!("`{text}` is no format")),
    )
}

const EXAMPLES: &str = "\
Examples:
  pixmill --sandbox remove-background photos/ -o out/
  pixmill upscale --factor 4 --provider hitpaw 'shots/*.jpg' -o large/ --jobs 8
  pixmill --dry-run restore --recursive archive/ -o restored/
  pixmill hotpot palette '#585858' '#c82828'
  pixmill perfect styles hair-style
  pixmill completions bash > /etc/bash_completion.d/pixmill

Without --sandbox, credentials come from the providers' variables (HOTPOT_API_KEY,
HITPAW_API_KEY, SEGMIND_API_KEY, PERFECT_CLIENT_ID with PERFECT_CLIENT_SECRET,
PERFECT_API_KEY; each *_BASE_URL when set).

Exit status: 0 when every item succeeded, 1 when some failed (or were interrupted),
2 on a usage or setup error (nothing was run).";

/// Batch image work on Hotpot.ai, HitPaw, Segmind and Perfect Corp.
///
/// Runs a task on every input file, writes the results to an output directory with
/// predictable names, and skips results already there so a batch can be resumed.
#[derive(Debug, Parser)]
#[command(name = "pixmill", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Run everything against a local sandbox started inside this process: no keys, no
    /// network, no credits.
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// Check every input against the documented limits and print what would be sent and
    /// what it would cost; send nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print one JSON object per item on stdout, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress and no summary on stderr; failures are still reported.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Input files, read as files, directories or glob patterns.
#[derive(Debug, Args)]
pub struct Images {
    /// Image files, directories (their files) and glob patterns (`'shots/*.jpg'`).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Also take the files of subdirectories of a directory input (mirrored in OUT_DIR).
    #[arg(short, long)]
    pub recursive: bool,
}

/// Prompts, one item each.
#[derive(Debug, Args)]
pub struct Prompts {
    /// One or more prompts; each makes one result.
    #[arg(required = true, value_name = "PROMPT")]
    pub prompts: Vec<String>,
}

/// Where results go and how the batch runs.
#[derive(Debug, Args)]
pub struct Out {
    /// The directory results are written to (created when missing).
    #[arg(
        short = 'o',
        long,
        value_name = "OUT_DIR",
        default_value = "pixmill-out"
    )]
    pub out_dir: PathBuf,
    /// Redo items whose result is already in OUT_DIR (they are skipped otherwise).
    #[arg(long)]
    pub overwrite: bool,
    /// How many items run at once. Each provider's client is shared by all of them and keeps
    /// to the provider's rate limits.
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// The providers a unified task may use.
#[derive(Debug, Args)]
pub struct Choice {
    /// A provider to use, tried in the order given (repeat the option for a fallback list).
    /// Default: every provider with credentials that offers the task.
    #[arg(short, long = "provider", value_name = "PROVIDER", value_parser = providers())]
    pub providers: Vec<Provider>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cut the subject out onto a transparent background.
    #[command(after_help = "Example:\n  pixmill --sandbox remove-background photos/ -o out/")]
    RemoveBackground {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        choice: Choice,
        /// The result's format (default: the provider's first; PNG everywhere).
        #[arg(long, value_parser = formats())]
        format: Option<pixmill::ImageFormat>,
    },
    /// Enlarge width and height by a factor.
    #[command(
        after_help = "Example:\n  pixmill upscale --factor 4 -p perfect -p hotpot shots/ -o large/"
    )]
    Upscale {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        choice: Choice,
        /// How many times larger per side; each provider offers its own factors.
        #[arg(short = 'x', long, default_value_t = 2)]
        factor: u32,
    },
    /// Add colour to black-and-white pictures.
    #[command(after_help = "Example:\n  pixmill colorize --recursive family-album/ -o colour/")]
    Colorize {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        choice: Choice,
    },
    /// Restore or enhance photos at their own size.
    #[command(
        after_help = "Example:\n  pixmill restore --remove-scratches -p hotpot old.jpg -o restored/"
    )]
    Restore {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        choice: Choice,
        /// Also remove scratches (Hotpot only).
        #[arg(long)]
        remove_scratches: bool,
    },
    /// Generate an image or an animation from each prompt.
    #[command(
        after_help = "Example:\n  pixmill generate --still 'a lighthouse at dusk' 'a fox in snow' -o art/"
    )]
    Generate {
        #[command(flatten)]
        prompts: Prompts,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        choice: Choice,
        /// Only providers that animate (Segmind).
        #[arg(long, conflicts_with = "still")]
        animated: bool,
        /// Only providers that make still images (Perfect).
        #[arg(long)]
        still: bool,
        /// Perfect's text-to-image style, as GROUP:STYLE ids (see `pixmill perfect styles
        /// text-to-image`); default: its first style.
        #[arg(long, value_name = "GROUP:STYLE", value_parser = parse_style)]
        perfect_style: Option<pixmill::perfect::StyleChoice>,
    },
    /// Hotpot.ai's operations.
    #[command(subcommand)]
    Hotpot(crate::hotpot::Command),
    /// HitPaw's operations.
    #[command(subcommand)]
    Hitpaw(crate::hitpaw::Command),
    /// Segmind's operations.
    #[command(subcommand)]
    Segmind(crate::segmind::Command),
    /// Perfect Corp's operations (the API with a client id and secret).
    #[command(subcommand)]
    Perfect(crate::perfect::Command),
    /// Perfect Corp's V2 operations (the API with an API key).
    #[command(subcommand, name = "perfect-v2")]
    PerfectV2(crate::perfect_v2::Command),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  pixmill completions zsh > ~/.zfunc/_pixmill")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `GROUP:STYLE`, two catalogue ids.
pub fn parse_style(text: &str) -> Result<pixmill::perfect::StyleChoice, String> {
    let (group, style) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not GROUP:STYLE"))?;
    let id = |part: &str| {
        part.trim()
            .parse::<i64>()
            .map_err(|_| format!("`{part}` in `{text}` is not a catalogue id"))
    };
    Ok(pixmill::perfect::StyleChoice {
        group_id: id(group)?,
        style_id: id(style)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn styles_are_two_ids() {
        let style = parse_style("12:345").unwrap();
        assert_eq!((style.group_id, style.style_id), (12, 345));
        assert!(parse_style("12").is_err());
        assert!(parse_style("a:1").is_err());
    }
}
