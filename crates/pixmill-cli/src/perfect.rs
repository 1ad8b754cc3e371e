//! `pixmill perfect ...`: every feature of Perfect's older API, and its style catalogues.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use futures_util::TryStreamExt as _;
use pixmill::perfect::{Client, Feature, OutputFormat, Scale, StyleChoice, TaskRequest};
use pixmill::{Error, ErrorKind, Provider};
use serde_json::json;

use crate::batch::{BoxFuture, Charge, Failed, Item, Produced};
use crate::cli::{Images, Out, Prompts, documented, parse_style};
use crate::op::{Op, image_check, task_result, task_wait_failed, text_check};
use crate::setup::Setup;
use crate::{Plan, Work, inputs, prices};

const PROVIDER: Provider = Provider::Perfect;

/// A feature's name on the command line: `hair-style` or `hair_style`.
pub fn parse_feature<F: std::str::FromStr>(text: &str) -> Result<F, String>
where
    F::Err: std::fmt::Display,
{
    text.trim()
        .replace('-', "_")
        .parse::<F>()
        .map_err(|e| e.to_string())
}

fn outputs() -> impl clap::builder::TypedValueParser<Value = OutputFormat> {
    documented(OutputFormat::ALL.iter().map(|f| f.as_str()))
}

/// A feature that takes a portrait and a catalogue style.
#[derive(Debug, Args)]
pub struct Styled {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
    /// The style, as GROUP:STYLE ids (see `pixmill perfect styles <feature>`).
    #[arg(long, required = true, value_name = "GROUP:STYLE", value_parser = parse_style)]
    style: StyleChoice,
}

/// A feature that takes a photo alone, with a choice of result format where it offers one.
#[derive(Debug, Args)]
pub struct Plain {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
    /// The result's format, among those the feature offers.
    #[arg(long, value_parser = outputs())]
    output: Option<OutputFormat>,
}

/// A feature that takes a second picture besides each input.
#[derive(Debug, Args)]
pub struct Paired {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
    /// The reference photo (makeup transfer) or mask (object removal, white where to erase;
    /// exactly the input's size), used with every input.
    #[arg(long = "with", required = true, value_name = "FILE")]
    with: PathBuf,
    /// The result's format, among those the feature offers.
    #[arg(long, value_parser = outputs())]
    output: Option<OutputFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hairstyle try-on with a catalogue style.
    #[command(
        after_help = "Example:\n  pixmill perfect styles hair-style\n  pixmill perfect hair-style --style 12:345 portraits/ -o styled/"
    )]
    HairStyle(Styled),
    /// Wig try-on with a catalogue style.
    #[command(after_help = "Example:\n  pixmill perfect wig --style 3:40 me.jpg -o wigs/")]
    Wig(Styled),
    /// Hair extension with a catalogue style.
    #[command(after_help = "Example:\n  pixmill perfect hair-extension --style 5:9 me.jpg -o out/")]
    HairExtension(Styled),
    /// Bangs with a catalogue style.
    #[command(after_help = "Example:\n  pixmill perfect hair-bang --style 7:70 me.jpg -o out/")]
    HairBang(Styled),
    /// Hair volume with a catalogue style.
    #[command(after_help = "Example:\n  pixmill perfect hair-volume --style 8:81 me.jpg -o out/")]
    HairVolume(Styled),
    /// A series of the same face at different ages (numbered results).
    #[command(after_help = "Example:\n  pixmill perfect aging selfie.jpg -o ages/")]
    Aging(Plain),
    /// Copy the makeup of a reference photo onto each selfie.
    #[command(
        after_help = "Example:\n  pixmill perfect makeup-transfer --with look.jpg selfies/ -o made-up/"
    )]
    MakeupTransfer(Paired),
    /// Erase what the white part of a mask covers.
    #[command(
        after_help = "Example:\n  pixmill perfect object-removal --with mask.png photo.jpg -o clean/"
    )]
    ObjectRemoval(Paired),
    /// Colourize black-and-white photos.
    #[command(after_help = "Example:\n  pixmill perfect colorize --output webp album/ -o colour/")]
    Colorize(Plain),
    /// Cut the subject out.
    #[command(after_help = "Example:\n  pixmill perfect background-removal products/ -o cutouts/")]
    BackgroundRemoval(Plain),
    /// Enhance and upscale photos.
    #[command(after_help = "Example:\n  pixmill perfect enhance --scale 2 photos/ -o enhanced/")]
    Enhance {
        #[command(flatten)]
        plain: Plain,
        /// The scale (1 enhances without enlarging).
        #[arg(long, required = true, value_parser = documented::<Scale>(Scale::VALUES.iter().copied()))]
        scale: Scale,
    },
    /// Generate an image from each prompt in a catalogue style.
    #[command(
        after_help = "Example:\n  pixmill perfect text-to-image --style 1:2 'a fox in snow' -o art/"
    )]
    TextToImage {
        #[command(flatten)]
        prompts: Prompts,
        #[command(flatten)]
        out: Out,
        /// The style, as GROUP:STYLE ids (see `pixmill perfect styles text-to-image`).
        #[arg(long, required = true, value_name = "GROUP:STYLE", value_parser = parse_style)]
        style: StyleChoice,
    },
    /// List a feature's style catalogue: groups and their styles, as GROUP:STYLE ids.
    #[command(after_help = "Example:\n  pixmill perfect styles hair-style --group 12")]
    Styles {
        /// The feature (`hair-style`, `wig`, `hair-extension`, `hair-bang`, `hair-volume`,
        /// `text-to-image`).
        #[arg(value_parser = parse_feature::<Feature>)]
        feature: Feature,
        /// Only this group's styles.
        #[arg(long)]
        group: Option<i64>,
    },
}

type Build = Arc<dyn Fn(&Client, &Item) -> Result<TaskRequest, Failed> + Send + Sync>;

/// Uploads, submits and waits for one task. Perfect charges a task when it succeeds, so a
/// task whose wait failed other than by the engine's own error may still be charged.
async fn complete(
    request: TaskRequest,
    credits: Option<serde_json::Value>,
) -> Result<Produced, Failed> {
    let task = request.send().await.map_err(|error| {
        let charge = in_doubt(&error);
        Failed::charged(error, charge)
    })?;
    let output = task
        .wait()
        .await
        .map_err(|error| task_wait_failed(error, task.id()))?;
    let files = output
        .files()
        .iter()
        .map(|file| (file.output().clone(), file.res_age))
        .collect();
    Ok(task_result(PROVIDER, task.id(), files, credits))
}

/// Whether a failed run-task may have started a task: it is retried safely thanks to its
/// `request_id`, so a server error or a broken connection leaves it in doubt.
fn in_doubt(error: &Error) -> Charge {
    match error.kind() {
        ErrorKind::ServerError
        | ErrorKind::Transport
        | ErrorKind::Timeout
        | ErrorKind::OutcomeUnknown => Charge::Possible,
        _ => Charge::Nothing,
    }
}

fn feature_op(
    setup: &Setup,
    feature: Feature,
    scale: Option<u32>,
    build: Build,
    prompt: bool,
) -> anyhow::Result<Op> {
    let client = setup.client(Setup::perfect)?;
    let price = prices::of_costs(feature.facts().costs, scale);
    let credits = price.map(prices::to_json);
    let run = move |item: Item| {
        let request = client.get().and_then(|client| build(client, &item));
        let credits = credits.clone();
        Box::pin(async move { complete(request?, credits).await }) as BoxFuture<'static, _>
    };
    let name = feature.name().replace('_', "-");
    let operation = feature.name();
    Ok(if prompt {
        Op::new(PROVIDER, name, run, text_check(PROVIDER, operation, price))
    } else {
        let check = image_check(
            PROVIDER,
            operation,
            feature.facts().limits.first(),
            1,
            price,
        );
        Op::new(PROVIDER, name, run, check)
    })
}

fn with_output(request: TaskRequest, output: Option<OutputFormat>) -> TaskRequest {
    match output {
        Some(output) => request.output(output),
        None => request,
    }
}

impl Command {
    pub fn plan(self, setup: &Setup) -> anyhow::Result<Work> {
        let styled =
            |feature: Feature,
             args: Styled,
             method: fn(&Client, PathBuf, StyleChoice) -> TaskRequest| {
                let style = args.style;
                let build: Build = Arc::new(move |client, item| {
                    Ok(method(client, item.image()?.to_path_buf(), style))
                });
                Ok::<_, anyhow::Error>((feature, args.images, args.out, build, None))
            };
        let plain = |feature: Feature, args: Plain, method: fn(&Client, PathBuf) -> TaskRequest| {
            let output = args.output;
            let build: Build = Arc::new(move |client, item| {
                Ok(with_output(
                    method(client, item.image()?.to_path_buf()),
                    output,
                ))
            });
            (feature, args.images, args.out, build, None)
        };
        let (feature, images, out, build, scale) = match self {
            Command::HairStyle(args) => {
                styled(Feature::HairStyle, args, |c, p, s| c.hair_style(p, s))?
            }
            Command::Wig(args) => styled(Feature::Wig, args, |c, p, s| c.wig(p, s))?,
            Command::HairExtension(args) => styled(Feature::HairExtension, args, |c, p, s| {
                c.hair_extension(p, s)
            })?,
            Command::HairBang(args) => {
                styled(Feature::HairBang, args, |c, p, s| c.hair_bang(p, s))?
            }
            Command::HairVolume(args) => {
                styled(Feature::HairVolume, args, |c, p, s| c.hair_volume(p, s))?
            }
            Command::Aging(args) => plain(Feature::Aging, args, |c, p| c.aging(p)),
            Command::Colorize(args) => plain(Feature::Colorize, args, |c, p| c.colorize(p)),
            Command::BackgroundRemoval(args) => plain(Feature::BackgroundRemoval, args, |c, p| {
                c.background_removal(p)
            }),
            Command::MakeupTransfer(Paired {
                images,
                out,
                with,
                output,
            }) => {
                let build: Build = Arc::new(move |client, item| {
                    let request = client.makeup_transfer(item.image()?.to_path_buf(), with.clone());
                    Ok(with_output(request, output))
                });
                (Feature::MakeupTransfer, images, out, build, None)
            }
            Command::ObjectRemoval(Paired {
                images,
                out,
                with,
                output,
            }) => {
                let build: Build = Arc::new(move |client, item| {
                    let request = client.object_removal(item.image()?.to_path_buf(), with.clone());
                    Ok(with_output(request, output))
                });
                (Feature::ObjectRemoval, images, out, build, None)
            }
            Command::Enhance { plain, scale } => {
                let Plain {
                    images,
                    out,
                    output,
                } = plain;
                let build: Build = Arc::new(move |client, item| {
                    Ok(with_output(
                        client.enhance(item.image()?.to_path_buf(), scale),
                        output,
                    ))
                });
                let factor = u32::try_from(scale.value()).ok();
                (Feature::Enhance, images, out, build, factor)
            }
            Command::TextToImage {
                prompts,
                out,
                style,
            } => {
                let build: Build =
                    Arc::new(move |client, item| Ok(client.text_to_image(item.prompt(), style)));
                let op = feature_op(setup, Feature::TextToImage, None, build, true)?;
                let items = inputs::prompts(
                    &prompts.prompts,
                    &out.out_dir,
                    crate::batch::Action::name(&op),
                );
                return Ok(Work::Batch(Plan::new(
                    items,
                    op.boxed(),
                    out.jobs,
                    out.overwrite,
                )));
            }
            Command::Styles { feature, group } => {
                let client = setup.client(Setup::perfect)?;
                return Ok(Work::List(Box::pin(list_styles(client, feature, group))));
            }
        };
        let op = feature_op(setup, feature, scale, build, false)?;
        let name = crate::batch::Action::name(&op).to_string();
        let items = inputs::images(&images.inputs, images.recursive, &out.out_dir, &name)?;
        Ok(Work::Batch(Plan::new(
            items,
            op.boxed(),
            out.jobs,
            out.overwrite,
        )))
    }
}

/// Prints a style catalogue: each group, then its styles as GROUP:STYLE.
async fn list_styles(
    client: crate::setup::Lazy<Client>,
    feature: Feature,
    only: Option<i64>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let client = client
        .get()
        .map_err(|failed| anyhow::anyhow!(failed.message))?;
    let groups: Vec<_> = client.style_groups(feature).try_collect().await?;
    let mut rows = Vec::new();
    for group in groups.iter().filter(|g| only.is_none_or(|id| g.id == id)) {
        let group_title = group
            .info
            .as_ref()
            .and_then(|i| i.title.clone())
            .unwrap_or_default();
        let styles: Vec<_> = client.styles(feature, Some(group.id)).try_collect().await?;
        for style in styles {
            let title = style
                .info
                .as_ref()
                .and_then(|i| i.title.clone())
                .unwrap_or_default();
            rows.push(json!({
                "feature": feature.name(),
                "style": format!("{}:{}", group.id, style.id),
                "group": group_title,
                "title": title,
            }));
        }
    }
    Ok(rows)
}
