//! The unified tasks (`remove-background`, `upscale`, ...), run through `pixmill::ops` on the
//! first provider able to do them.

use pixmill::ops::{
    Colorize, Generate, Offer, Providers, RemoveBackground, Request, Restore, Task, Upscale, offer,
};
use pixmill::{ImageFormat, ImageInput, Provider};

use crate::batch::{Action, BoxFuture, Checked, Failed, Item, Price, Produced};
use crate::prices;

/// A unified task and its options.
pub enum Options {
    RemoveBackground {
        format: Option<ImageFormat>,
    },
    Upscale {
        factor: u32,
    },
    Colorize,
    Restore {
        remove_scratches: bool,
    },
    Generate {
        animated: Option<bool>,
        style: Option<pixmill::perfect::StyleChoice>,
    },
}

impl Options {
    pub fn task(&self) -> Task {
        match self {
            Options::RemoveBackground { .. } => Task::RemoveBackground,
            Options::Upscale { .. } => Task::Upscale,
            Options::Colorize => Task::Colorize,
            Options::Restore { .. } => Task::Restore,
            Options::Generate { .. } => Task::Generate,
        }
    }

    fn request(&self, item: &Item) -> Result<Request, Failed> {
        Ok(match self {
            Options::RemoveBackground { format } => {
                let mut request = RemoveBackground::new(item.image()?);
                if let Some(format) = format {
                    request = request.format(*format);
                }
                request.into()
            }
            Options::Upscale { factor } => Upscale::new(item.image()?, *factor).into(),
            Options::Colorize => Colorize::new(item.image()?).into(),
            Options::Restore { remove_scratches } => Restore::new(item.image()?)
                .remove_scratches(*remove_scratches)
                .into(),
            Options::Generate { animated, style } => {
                let mut request = Generate::new(item.prompt());
                if let Some(animated) = animated {
                    request = request.animated(*animated);
                }
                if let Some(style) = style {
                    request = request.perfect_style(*style);
                }
                request.into()
            }
        })
    }

    /// Why `offer` cannot take these options, before looking at the input.
    fn refusal(&self, offer: &Offer) -> Option<String> {
        let provider = offer.provider;
        match self {
            Options::RemoveBackground {
                format: Some(format),
            } if !offer.formats.contains(format) => {
                Some(format!("{provider} gives no {format} cut-outs"))
            }
            Options::Upscale { factor } if !offer.factors.contains(factor) => Some(format!(
                "{provider} upscales by {:?} only, not {factor}",
                offer.factors
            )),
            Options::Restore {
                remove_scratches: true,
            } if !offer.removes_scratches => Some(format!("{provider} removes no scratches")),
            Options::Generate {
                animated: Some(animated),
                ..
            } if *animated != offer.animated => Some(format!(
                "{provider} makes {}",
                if offer.animated {
                    "animations only"
                } else {
                    "still images only"
                }
            )),
            _ => None,
        }
    }

    /// The output's scale per side, for output-size limits.
    fn scale(&self) -> u32 {
        match self {
            Options::Upscale { factor } => *factor,
            _ => 1,
        }
    }
}

/// A unified task on a list of providers.
pub struct TaskAction {
    pub options: Options,
    pub providers: Providers,
    pub preference: Vec<Provider>,
}

impl Action for TaskAction {
    fn name(&self) -> &str {
        self.options.task().id()
    }

    fn provider(&self) -> Option<Provider> {
        match self.preference.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    fn run<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Result<Produced, Failed>> {
        Box::pin(async move {
            let request = self.options.request(item)?;
            let result = self.providers.run(request, &self.preference).await?;
            let mut produced = Produced::new(result.provider()).file(result.output().clone());
            produced.job_id = result.job_id().map(str::to_string);
            produced.credits = result.credits().and_then(|c| serde_json::to_value(c).ok());
            if !result.failed_attempts().is_empty() {
                produced.extra.insert(
                    "failed_attempts".into(),
                    serde_json::to_value(result.failed_attempts()).unwrap_or_default(),
                );
            }
            Ok(produced)
        })
    }

    fn check<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Checked> {
        Box::pin(async move {
            let task = self.options.task();
            let info = match &self.options {
                Options::Generate { .. } => None,
                _ => match item.image() {
                    Ok(path) => match ImageInput::from_path(path).info().await {
                        Ok(info) => Some(info),
                        Err(error) => return refused(error.to_string()),
                    },
                    Err(failed) => return refused(failed.message),
                },
            };
            if info.is_none() && item.prompt().trim().is_empty() {
                return refused("the prompt is empty".into());
            }
            // The first provider whose offer takes the input is the one a run would use.
            let mut refusals = Vec::new();
            for provider in &self.preference {
                let Some(offer) = offer(*provider, task) else {
                    continue;
                };
                if let Some(refusal) = self.options.refusal(&offer) {
                    refusals.push(refusal);
                    continue;
                }
                if let (Some(info), Some(limits)) = (&info, offer.limits)
                    && let Err(error) = info.check(task.id(), limits, self.options.scale())
                {
                    refusals.push(format!("{provider}: {error}"));
                    continue;
                }
                let input = match &info {
                    Some(info) => format!(
                        "{} {}x{}, {} bytes",
                        info.format, info.width, info.height, info.bytes
                    ),
                    None => format!("prompt {:?}", item.prompt()),
                };
                return Checked {
                    provider: Some(*provider),
                    sends: format!("{input} to {provider} {}", offer.operation.replace('`', "")),
                    price: price(&offer, &self.options),
                    refusal: None,
                };
            }
            refused(refusals.join("; "))
        })
    }
}

fn refused(reason: String) -> Checked {
    Checked {
        provider: None,
        sends: String::new(),
        price: None,
        refusal: Some(reason),
    }
}

/// The documented price of `offer`'s operation, when its spec states one.
fn price(offer: &Offer, options: &Options) -> Option<Price> {
    // The offer names its operation first, in backticks.
    let operation = offer.operation.split('`').nth(1)?;
    let scale = match options {
        Options::Upscale { factor } => Some(*factor),
        Options::Restore { .. } => Some(1),
        _ => None,
    };
    prices::of_operation(offer.provider, operation, scale)
}
