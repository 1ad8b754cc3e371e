//! `pixmill perfect-v2 ...`: every feature of Perfect's V2 API, and its template catalogues.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use futures_util::TryStreamExt as _;
use pixmill::Provider;
use pixmill::perfect::v2::{Client, Feature, HairColor, Hairstyle, ImageSize, Scale, TaskRequest};
use pixmill::raw::perfect_v2::constants::{hair_color, youcam_text_to_image_size};
use serde_json::json;

use crate::batch::{BoxFuture, Failed, Item, Produced};
use crate::cli::{Images, Out, Prompts, documented};
use crate::op::{Op, image_check, task_result, task_wait_failed, text_check};
use crate::perfect::parse_feature;
use crate::setup::Setup;
use crate::{Plan, Work, inputs, prices};

const PROVIDER: Provider = Provider::PerfectV2;

/// A feature that takes a portrait and a catalogue template.
#[derive(Debug, Args)]
pub struct Templated {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
    /// The template id (see `pixmill perfect-v2 templates <feature>`).
    #[arg(long, required = true)]
    template: String,
}

/// A feature that takes a photo alone.
#[derive(Debug, Args)]
pub struct Plain {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
}

/// A feature that takes a second picture besides each input.
#[derive(Debug, Args)]
pub struct Paired {
    #[command(flatten)]
    images: Images,
    #[command(flatten)]
    out: Out,
    /// The reference photo (hairstyle, makeup) or mask (object removal: white where to
    /// erase, exactly the input's size), used with every input.
    #[arg(long = "with", required = true, value_name = "FILE")]
    with: PathBuf,
}

/// Options of the image generators.
#[derive(Debug, Args)]
pub struct Generation {
    /// What the image should not show.
    #[arg(long)]
    negative_prompt: Option<String>,
}

fn pair(text: &str, separator: char) -> Result<(u32, u32), String> {
    let (a, b) = text
        .split_once(separator)
        .ok_or_else(|| format!("`{text}` is not two numbers joined by `{separator}`"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{part}` in `{text}` is not a whole number"))
    };
    Ok((number(a)?, number(b)?))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restyle the hair of portraits with a template.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 templates hair-style\n  pixmill perfect-v2 hair-style --template t-bob portraits/ -o styled/"
    )]
    HairStyle(Templated),
    /// Copy the hairstyle of a reference photo onto portraits.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 hair-transfer --with star.jpg me.jpg -o out/"
    )]
    HairTransfer(Paired),
    /// Restyle hair with the newer engine, from a template or a reference photo.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 hair-restyle --template t-1 --hair-color src me.jpg -o out/"
    )]
    HairRestyle {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// The template id.
        #[arg(long, required_unless_present = "with", conflicts_with = "with")]
        template: Option<String>,
        /// A reference photo whose hairstyle is copied.
        #[arg(long, value_name = "FILE")]
        with: Option<PathBuf>,
        /// With a template: keep the portrait's own colour (`src`) or take the template's.
        #[arg(long, value_parser = documented::<HairColor>(hair_color::VALUES.iter().copied()))]
        hair_color: Option<HairColor>,
    },
    /// Add a hair extension from a template.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 hair-extension --template t-long me.jpg -o out/"
    )]
    HairExtension(Templated),
    /// Add bangs from a template.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 hair-bang --template t-fringe me.jpg -o out/"
    )]
    HairBang(Templated),
    /// Give the hair volume with a template.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 hair-volume --template t-full me.jpg -o out/"
    )]
    HairVolume(Templated),
    /// A series of the same face at different ages (numbered results).
    #[command(after_help = "Example:\n  pixmill perfect-v2 aging selfie.jpg -o ages/")]
    Aging(Plain),
    /// Copy the makeup of a reference photo onto each selfie.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 makeup-transfer --with look.jpg selfies/ -o out/"
    )]
    MakeupTransfer(Paired),
    /// Erase what the white part of a mask covers.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 object-removal --with mask.png photo.jpg -o clean/"
    )]
    ObjectRemoval(Paired),
    /// Colourize photos, in several variants (numbered results).
    #[command(after_help = "Example:\n  pixmill perfect-v2 colorize album/ -o colour/")]
    Colorize(Plain),
    /// Cut the subject out.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 background-removal products/ -o cutouts/"
    )]
    BackgroundRemoval(Plain),
    /// Sharpen, deblur and upscale photos.
    #[command(after_help = "Example:\n  pixmill perfect-v2 enhance --scale 2 photos/ -o enhanced/")]
    Enhance {
        #[command(flatten)]
        plain: Plain,
        /// The scale (1 enhances without enlarging).
        #[arg(long, required = true, value_parser = documented::<Scale>(Scale::VALUES.iter().copied()))]
        scale: Scale,
    },
    /// Generate an image from each prompt in a template's style.
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 text-to-image --template t-anime 'a fox in snow' -o art/"
    )]
    TextToImage {
        #[command(flatten)]
        prompts: Prompts,
        #[command(flatten)]
        out: Out,
        /// The template id (see `pixmill perfect-v2 templates text-to-image`).
        #[arg(long, required = true)]
        template: String,
        #[command(flatten)]
        generation: Generation,
        /// Generation steps.
        #[arg(long)]
        steps: Option<u32>,
        /// How strictly the image follows the prompt.
        #[arg(long)]
        cfg_scale: Option<f64>,
        /// The seed, to reproduce an image.
        #[arg(long)]
        seed: Option<i64>,
        /// The aspect ratio, as W:H (`3:4`).
        #[arg(long, value_name = "W:H", value_parser = |t: &str| pair(t, ':'))]
        aspect_ratio: Option<(u32, u32)>,
    },
    /// Generate an image from each free prompt (youcam-image-v2).
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 youcam-text-to-image --size '1328*1328' 'a lighthouse at dusk' -o art/"
    )]
    YoucamTextToImage {
        #[command(flatten)]
        prompts: Prompts,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        generation: Generation,
        /// The resolution.
        #[arg(long, value_parser = documented::<ImageSize>(youcam_text_to_image_size::VALUES.iter().copied()))]
        size: Option<ImageSize>,
        /// Let the model rewrite the prompt.
        #[arg(long)]
        prompt_extend: bool,
    },
    /// Edit or combine the given images into one result (youcam-image-v2).
    #[command(
        after_help = "Example:\n  pixmill perfect-v2 youcam-image-to-image --prompt 'put the cat on the sofa' cat.jpg sofa.jpg -o out/"
    )]
    YoucamImageToImage {
        /// The images, in the order the prompt refers to them.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// What to do with them.
        #[arg(long, required = true)]
        prompt: String,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        generation: Generation,
        /// The result's size, as WxH pixels.
        #[arg(long, value_name = "WxH", value_parser = |t: &str| pair(t, 'x'))]
        output_size: Option<(u32, u32)>,
        /// Let the model rewrite the prompt.
        #[arg(long)]
        prompt_extend: bool,
    },
    /// List a feature's template catalogue.
    #[command(after_help = "Example:\n  pixmill perfect-v2 templates hair-style --json")]
    Templates {
        /// The feature (`hair-style`, `hair-restyle`, `hair-extension`, ...).
        #[arg(value_parser = parse_feature::<Feature>)]
        feature: Feature,
    },
}

type Build = Arc<dyn Fn(&Client, &Item) -> Result<TaskRequest, Failed> + Send + Sync>;

/// Uploads, submits and waits for one task. A run task is charged when it succeeds; a wait
/// that failed other than by the engine's error may still end in a charged success.
async fn complete(
    request: TaskRequest,
    credits: Option<serde_json::Value>,
) -> Result<Produced, Failed> {
    let task = request.send().await?;
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

enum Takes {
    Images,
    Prompts,
}

fn feature_op(
    setup: &Setup,
    feature: Feature,
    scale: Option<u32>,
    build: Build,
    takes: Takes,
) -> anyhow::Result<Op> {
    let client = setup.client(Setup::perfect_v2)?;
    let price = prices::of_costs(feature.facts().costs, scale);
    let credits = price.map(prices::to_json);
    let run = move |item: Item| {
        let request = client.get().and_then(|client| build(client, &item));
        let credits = credits.clone();
        Box::pin(async move { complete(request?, credits).await }) as BoxFuture<'static, _>
    };
    let name = feature.name().replace('_', "-");
    let operation = feature.name();
    Ok(match takes {
        Takes::Prompts => Op::new(PROVIDER, name, run, text_check(PROVIDER, operation, price)),
        Takes::Images => {
            let check = image_check(
                PROVIDER,
                operation,
                feature.facts().limits.first(),
                1,
                price,
            );
            Op::new(PROVIDER, name, run, check)
        }
    })
}

fn negative(request: TaskRequest, generation: &Generation) -> TaskRequest {
    match &generation.negative_prompt {
        Some(prompt) => request.negative_prompt(prompt.clone()),
        None => request,
    }
}

impl Command {
    pub fn plan(self, setup: &Setup) -> anyhow::Result<Work> {
        let templated =
            |feature: Feature,
             args: Templated,
             method: fn(&Client, PathBuf, String) -> TaskRequest| {
                let template = args.template;
                let build: Build = Arc::new(move |client, item| {
                    Ok(method(
                        client,
                        item.image()?.to_path_buf(),
                        template.clone(),
                    ))
                });
                (feature, args.images, args.out, build, None)
            };
        let paired = |feature: Feature,
                      args: Paired,
                      method: fn(&Client, PathBuf, PathBuf) -> TaskRequest| {
            let with = args.with;
            let build: Build = Arc::new(move |client, item| {
                Ok(method(client, item.image()?.to_path_buf(), with.clone()))
            });
            (feature, args.images, args.out, build, None)
        };
        let plain = |feature: Feature, args: Plain, method: fn(&Client, PathBuf) -> TaskRequest| {
            let build: Build =
                Arc::new(move |client, item| Ok(method(client, item.image()?.to_path_buf())));
            (feature, args.images, args.out, build, None)
        };
        let prompted =
            |feature: Feature, prompts: Prompts, out: Out, build: Build| -> anyhow::Result<Work> {
                let op = feature_op(setup, feature, None, build, Takes::Prompts)?;
                let items = inputs::prompts(
                    &prompts.prompts,
                    &out.out_dir,
                    crate::batch::Action::name(&op),
                );
                Ok(Work::Batch(Plan::new(
                    items,
                    op.boxed(),
                    out.jobs,
                    out.overwrite,
                )))
            };
        let (feature, images, out, build, scale) = match self {
            Command::HairStyle(args) => {
                templated(Feature::HairStyle, args, |c, p, t| c.hair_style(p, t))
            }
            Command::HairExtension(args) => templated(Feature::HairExtension, args, |c, p, t| {
                c.hair_extension(p, t)
            }),
            Command::HairBang(args) => {
                templated(Feature::HairBang, args, |c, p, t| c.hair_bang(p, t))
            }
            Command::HairVolume(args) => {
                templated(Feature::HairVolume, args, |c, p, t| c.hair_volume(p, t))
            }
            Command::HairTransfer(args) => {
                paired(Feature::HairTransfer, args, |c, p, r| c.hair_transfer(p, r))
            }
            Command::MakeupTransfer(args) => paired(Feature::MakeupTransfer, args, |c, p, r| {
                c.makeup_transfer(p, r)
            }),
            Command::ObjectRemoval(args) => paired(Feature::ObjectRemoval, args, |c, p, m| {
                c.object_removal(p, m)
            }),
            Command::Aging(args) => plain(Feature::Aging, args, |c, p| c.aging(p)),
            Command::Colorize(args) => plain(Feature::Colorize, args, |c, p| c.colorize(p)),
            Command::BackgroundRemoval(args) => plain(Feature::BackgroundRemoval, args, |c, p| {
                c.background_removal(p)
            }),
            Command::HairRestyle {
                images,
                out,
                template,
                with,
                hair_color,
            } => {
                let build: Build = Arc::new(move |client, item| {
                    let hairstyle = match (&template, &with) {
                        (Some(template), _) => Hairstyle::Template(template.clone()),
                        (None, Some(with)) => Hairstyle::Reference(with.clone().into()),
                        (None, None) => return Err(Failed::local("give --template or --with")),
                    };
                    let request = client.hair_restyle(item.image()?.to_path_buf(), hairstyle);
                    Ok(match hair_color {
                        Some(color) => request.hair_color(color),
                        None => request,
                    })
                });
                (Feature::HairRestyle, images, out, build, None)
            }
            Command::Enhance { plain, scale } => {
                let build: Build = Arc::new(move |client, item| {
                    Ok(client.enhance(item.image()?.to_path_buf(), scale))
                });
                (
                    Feature::Enhance,
                    plain.images,
                    plain.out,
                    build,
                    u32::try_from(scale.value()).ok(),
                )
            }
            Command::TextToImage {
                prompts,
                out,
                template,
                generation,
                steps,
                cfg_scale,
                seed,
                aspect_ratio,
            } => {
                let build: Build = Arc::new(move |client, item| {
                    let mut request = negative(
                        client.text_to_image(item.prompt(), template.clone()),
                        &generation,
                    );
                    if let Some(steps) = steps {
                        request = request.steps(steps);
                    }
                    if let Some(scale) = cfg_scale {
                        request = request.cfg_scale(scale);
                    }
                    if let Some(seed) = seed {
                        request = request.seed(seed);
                    }
                    if let Some((width, height)) = aspect_ratio {
                        request = request.aspect_ratio(width, height);
                    }
                    Ok(request)
                });
                return prompted(Feature::TextToImage, prompts, out, build);
            }
            Command::YoucamTextToImage {
                prompts,
                out,
                generation,
                size,
                prompt_extend,
            } => {
                let build: Build = Arc::new(move |client, item| {
                    let mut request =
                        negative(client.youcam_text_to_image(item.prompt()), &generation);
                    if let Some(size) = size {
                        request = request.size(size);
                    }
                    if prompt_extend {
                        request = request.prompt_extend(true);
                    }
                    Ok(request)
                });
                return prompted(Feature::YoucamTextToImage, prompts, out, build);
            }
            Command::YoucamImageToImage {
                images,
                prompt,
                out,
                generation,
                output_size,
                prompt_extend,
            } => {
                let label = prompt.clone();
                let build: Build = Arc::new(move |client, _item| {
                    let mut request = negative(
                        client.youcam_image_to_image(images.clone(), prompt.clone()),
                        &generation,
                    );
                    if let Some((width, height)) = output_size {
                        request = request.output_size(width, height);
                    }
                    if prompt_extend {
                        request = request.prompt_extend(true);
                    }
                    Ok(request)
                });
                let feature = Feature::YoucamImageToImage;
                let op = feature_op(setup, feature, None, build, Takes::Prompts)?;
                let name = crate::batch::Action::name(&op).to_string();
                let items = inputs::prompts(&[label], &out.out_dir, &name);
                return Ok(Work::Batch(Plan::new(items, op.boxed(), 1, out.overwrite)));
            }
            Command::Templates { feature } => {
                let client = setup.client(Setup::perfect_v2)?;
                return Ok(Work::List(Box::pin(list_templates(client, feature))));
            }
        };
        let op = feature_op(setup, feature, scale, build, Takes::Images)?;
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

/// Every template of a feature's catalogue.
async fn list_templates(
    client: crate::setup::Lazy<Client>,
    feature: Feature,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let client = client
        .get()
        .map_err(|failed| anyhow::anyhow!(failed.message))?;
    let templates: Vec<_> = client.templates(feature).try_collect().await?;
    Ok(templates
        .into_iter()
        .map(|template| {
            json!({
                "feature": feature.name(),
                "template": template.id,
                "title": template.title.unwrap_or_default(),
                "category": template.category_name.unwrap_or_default(),
            })
        })
        .collect())
}
