//! `pixmill hitpaw ...`: HitPaw's enhancement and segmentation jobs.

use clap::Subcommand;
use pixmill::Provider;
use pixmill::hitpaw::{Job, Model, model_limits, model_scale};
use pixmill::raw::hitpaw::constants::photo_enhancer_request::MODEL_NAME_VALUES;
use pixmill::raw::hitpaw::limits::IMAGE_SEGMENTATION;

use crate::batch::{BoxFuture, Charge, Failed, Item, Produced, Product};
use crate::cli::{Images, Out, documented};
use crate::op::{Op, image_check, reported};
use crate::setup::Setup;
use crate::{Plan, inputs};

const PROVIDER: Provider = Provider::Hitpaw;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enhance or upscale photos with a model (`photo_enhancer`).
    #[command(
        after_help = "Example:\n  pixmill hitpaw enhance --model face_2x portraits/ -o enhanced/"
    )]
    Enhance {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// The model; its suffix is the output's scale (default: general_2x).
        #[arg(long, value_parser = documented::<Model>(MODEL_NAME_VALUES.iter().copied()))]
        model: Option<Model>,
        /// DPI metadata of the result.
        #[arg(long)]
        dpi: Option<u32>,
        /// Keep the input's EXIF data.
        #[arg(long)]
        keep_exif: bool,
    },
    /// Cut the subject out, with its mask (`image_segmentation`).
    #[command(
        after_help = "Example:\n  pixmill hitpaw segment products/ -o cutouts/   # <name>-hitpaw-segment.png and <name>-hitpaw-segment-mask.png"
    )]
    Segment {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
    },
}

/// Waits for an accepted job: HitPaw took its coins on acceptance, so a failure from here on
/// has been charged.
async fn finish(job: Job, with_mask: bool) -> Result<Produced, Failed> {
    let output = job
        .wait()
        .await
        .map_err(|error| Failed::waiting(error, Charge::Certain, job.id()))?;
    let mut produced = Produced::new(PROVIDER).file(output.result().clone());
    if with_mask && let Ok(mask) = output.mask() {
        produced.files.push(Product {
            suffix: Some("mask".into()),
            output: mask.clone(),
            extension: None,
        });
    }
    produced.job_id = Some(job.id().to_string());
    // Coins are whole numbers far below 2^53: the conversion is exact.
    produced.credits = job
        .coins_consumed()
        .map(|coins| reported(coins as f64, "coins"));
    Ok(produced)
}

impl Command {
    pub fn plan(self, setup: &Setup) -> anyhow::Result<Plan> {
        let client = setup.client(Setup::hitpaw)?;
        let (images, out, op) = match self {
            Command::Enhance {
                images,
                out,
                model,
                dpi,
                keep_exif,
            } => {
                let model = model.unwrap_or(Model::General2x);
                let run = move |item: Item| {
                    let client = client.clone();
                    Box::pin(async move {
                        let mut request = client
                            .get()?
                            .enhance(item.image()?)
                            .model(model)
                            .exif(keep_exif);
                        if let Some(dpi) = dpi {
                            request = request.dpi(dpi);
                        }
                        let job = request.send().await?;
                        finish(job, false).await
                    }) as BoxFuture<'static, _>
                };
                let check = image_check(
                    PROVIDER,
                    "photo_enhancer",
                    model_limits(model),
                    model_scale(model),
                    None,
                );
                (images, out, Op::new(PROVIDER, "enhance", run, check))
            }
            Command::Segment { images, out } => {
                let run = move |item: Item| {
                    let client = client.clone();
                    Box::pin(async move {
                        let job = client.get()?.segment(item.image()?).send().await?;
                        finish(job, true).await
                    }) as BoxFuture<'static, _>
                };
                let check = image_check(
                    PROVIDER,
                    "image_segmentation",
                    IMAGE_SEGMENTATION.first(),
                    1,
                    None,
                );
                (images, out, Op::new(PROVIDER, "segment", run, check))
            }
        };
        let name = crate::batch::Action::name(&op).to_string();
        let items = inputs::images(&images.inputs, images.recursive, &out.out_dir, &name)?;
        Ok(Plan::new(items, op.boxed(), out.jobs, out.overwrite))
    }
}
