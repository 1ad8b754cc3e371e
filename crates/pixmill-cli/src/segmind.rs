//! `pixmill segmind ...`: Hotshot-XL animations from prompts.

use clap::Subcommand;
use pixmill::Provider;
use pixmill::raw::segmind::constants::hotshot_xl_request::SCHEDULER_VALUES;
use pixmill::segmind::{AnimationFormat, Dimension, Scheduler};

use crate::batch::{BoxFuture, Item, Produced, Product};
use crate::cli::{Out, Prompts, documented};
use crate::op::{Op, reported, text_check};
use crate::setup::Setup;
use crate::{Plan, inputs};

const PROVIDER: Provider = Provider::Segmind;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Animate each prompt (`hotshot_xl`); unset options take the spec's defaults.
    #[command(
        after_help = "Example:\n  pixmill segmind animate --steps 30 --seed 42 'a paper boat on a stormy sea' -o gifs/"
    )]
    Animate {
        #[command(flatten)]
        prompts: Prompts,
        #[command(flatten)]
        out: Out,
        /// What the animation should avoid.
        #[arg(long)]
        negative_prompt: Option<String>,
        /// Width in pixels.
        #[arg(long, value_parser = documented::<Dimension>(Dimension::VALUES.iter().copied()))]
        width: Option<Dimension>,
        /// Height in pixels.
        #[arg(long, value_parser = documented::<Dimension>(Dimension::VALUES.iter().copied()))]
        height: Option<Dimension>,
        /// Denoising steps.
        #[arg(long)]
        steps: Option<u32>,
        /// The seed, to reproduce an animation.
        #[arg(long)]
        seed: Option<i64>,
        /// The diffusion sampler.
        #[arg(long, value_parser = documented::<Scheduler>(SCHEDULER_VALUES.iter().copied()))]
        scheduler: Option<Scheduler>,
        /// An MP4 video instead of a GIF.
        #[arg(long)]
        mp4: bool,
    },
}

impl Command {
    pub fn plan(self, setup: &Setup) -> anyhow::Result<Plan> {
        let client = setup.client(Setup::segmind)?;
        let Command::Animate {
            prompts,
            out,
            negative_prompt,
            width,
            height,
            steps,
            seed,
            scheduler,
            mp4,
        } = self;
        let run = move |item: Item| {
            let client = match client.get() {
                Ok(client) => client,
                Err(failed) => {
                    return Box::pin(async move { Err(failed) }) as BoxFuture<'static, _>;
                }
            };
            let mut request = client.hotshot_xl(item.prompt()).mp4(mp4);
            if let Some(negative) = &negative_prompt {
                request = request.negative_prompt(negative.clone());
            }
            if let Some(width) = width {
                request = request.width(width);
            }
            if let Some(height) = height {
                request = request.height(height);
            }
            if let Some(steps) = steps {
                request = request.steps(steps);
            }
            if let Some(seed) = seed {
                request = request.seed(seed);
            }
            if let Some(scheduler) = scheduler {
                request = request.scheduler(scheduler);
            }
            Box::pin(async move {
                let animation = request.send().await?;
                let mut produced = Produced::new(PROVIDER);
                produced.job_id = animation.request_id().map(str::to_string);
                produced.credits = animation.cost().map(|cost| reported(cost, "credits"));
                let extension = animation.format().map(AnimationFormat::extension);
                produced.files.push(Product {
                    suffix: None,
                    output: animation.into_output(),
                    extension,
                });
                Ok(produced)
            }) as BoxFuture<'static, _>
        };
        let op = Op::new(
            PROVIDER,
            "animate",
            run,
            text_check(PROVIDER, "hotshot_xl", None),
        );
        let items = inputs::prompts(
            &prompts.prompts,
            &out.out_dir,
            crate::batch::Action::name(&op),
        );
        Ok(Plan::new(items, op.boxed(), out.jobs, out.overwrite))
    }
}
