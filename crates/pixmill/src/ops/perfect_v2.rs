//! Perfect's tasks on its V2 API: uploads (or URLs passed as they are), then a task Perfect
//! charges only when it succeeds, started by a run task that has no idempotency key.

use futures_util::TryStreamExt as _;

use super::{
    Backend, Credits, Done, Entry, Failure, Offer, ProviderClient, Request, Task, keyed_from_env,
    not_offered_failure,
};
use crate::client::BoxFuture;
use crate::error::{Error, Provider};
use crate::perfect::v2::{Client, Feature, Scale, Service, TaskRequest};

const PROVIDER: Provider = Provider::PerfectV2;

pub(super) const ENTRY: Entry = Entry {
    provider: PROVIDER,
    // With an API key, "Perfect" means this API.
    stands_for: Some(Provider::Perfect),
    offer,
    from_env: keyed_from_env::<Service>,
};

/// The feature that does `task`.
fn feature(task: Task) -> Option<Feature> {
    Some(match task {
        Task::RemoveBackground => Feature::BackgroundRemoval,
        Task::Upscale | Task::Restore => Feature::Enhance,
        Task::Colorize => Feature::Colorize,
        Task::Generate => Feature::TextToImage,
    })
}

/// The enhance scale of an upscale factor; scale 1 is no upscale (it restores).
fn upscale_scale(factor: u32) -> Option<Scale> {
    Scale::ALL
        .iter()
        .copied()
        .filter(|scale| scale.value() > 1)
        .find(|scale| scale.value() == i64::from(factor))
}

fn offer(task: Task) -> Option<Offer> {
    let feature = feature(task)?;
    let facts = feature.facts();
    let base = Offer {
        limits: facts.limits.first(),
        // An input slot with a URL field lets Perfect fetch the image itself.
        takes_urls: facts
            .inputs
            .first()
            .is_some_and(|slot| slot.url_field.is_some()),
        ..Offer::new(PROVIDER, task, format!("`{}`", feature.name()))
    };
    // The spec names no result format for these features: no format is promised.
    Some(match task {
        Task::Upscale => Offer {
            factors: Scale::ALL
                .iter()
                .filter_map(|scale| u32::try_from(scale.value()).ok())
                .filter(|factor| upscale_scale(*factor).is_some())
                .collect(),
            ..base
        },
        Task::Restore => Offer {
            operation: format!("{} (scale {})", base.operation, Scale::X1),
            ..base
        },
        Task::RemoveBackground | Task::Colorize | Task::Generate => base,
    })
}

impl From<Client> for ProviderClient {
    fn from(client: Client) -> ProviderClient {
        ProviderClient::new(client)
    }
}

/// The documented price of a result of `feature`, when its spec states one that applies to
/// every request (or to the request's `scale`).
fn documented_credits(feature: Feature, scale: Option<Scale>) -> Option<Credits> {
    let scale = scale.map(|scale| scale.value().to_string());
    Credits::documented(
        feature.facts().costs,
        scale.as_deref().map(|value| ("scale", value)),
    )
}

impl Client {
    /// The first template of `feature`'s catalogue: one page read, which costs nothing.
    async fn first_template(&self, feature: Feature) -> Result<String, Error> {
        let template = self.templates(feature).try_next().await?;
        template
            .map(|template| template.id)
            .ok_or_else(|| Error::MissingResult {
                provider: PROVIDER,
                job_id: String::new(),
                what: format!("the {feature} catalogue has no template"),
            })
    }

    /// Uploads, submits and waits for one task. The run task is sent at most once when it may
    /// have reached Perfect (see [`TaskRequest::send`]), so a failure of it is in doubt and
    /// stops the run.
    async fn complete(
        &self,
        request: TaskRequest,
        credits: Option<Credits>,
    ) -> Result<Done, Failure> {
        let prepared = request.prepare().await.map_err(Failure::preparing)?;
        let task = prepared.submit().await.map_err(Failure::submitting)?;
        let output = task
            .wait()
            .await
            .map_err(|error| Failure::waiting_for_success(error, task.id()))?;
        Ok(Done {
            // Colorize gives several variants: the first is the result.
            output: output.result().clone(),
            job_id: Some(task.id().to_string()),
            credits,
        })
    }
}

impl Backend for Client {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Done, Failure>> {
        Box::pin(async move {
            let task = request.task();
            let (Some(feature), Some(offered)) = (feature(task), offer(task)) else {
                return Err(not_offered_failure(PROVIDER, task));
            };
            let credits = |scale| documented_credits(feature, scale);
            match request {
                Request::RemoveBackground(cutout) => {
                    offered
                        .check_format(cutout.format)
                        .map_err(Failure::preparing)?;
                    let request = self.background_removal(cutout.input.clone());
                    self.complete(request, credits(None)).await
                }
                Request::Upscale(upscale) => {
                    let scale = upscale_scale(upscale.factor).ok_or_else(|| {
                        Failure::preparing(offered.unsupported_factor(upscale.factor))
                    })?;
                    let request = self.enhance(upscale.input.clone(), scale);
                    self.complete(request, credits(Some(scale))).await
                }
                Request::Colorize(colorize) => {
                    let request = self.colorize(colorize.input.clone());
                    self.complete(request, credits(None)).await
                }
                Request::Restore(restore) => {
                    if restore.remove_scratches {
                        return Err(Failure::preparing(Error::Unsupported {
                            provider: PROVIDER,
                            option: "remove scratches".into(),
                            reason: "its enhance feature has no such setting".into(),
                        }));
                    }
                    let request = self.enhance(restore.input.clone(), Scale::X1);
                    self.complete(request, credits(Some(Scale::X1))).await
                }
                Request::Generate(generate) => {
                    generate
                        .check_kind(PROVIDER, offered.animated)
                        .map_err(Failure::preparing)?;
                    if generate.perfect_style.is_some() && generate.perfect_v2_template.is_none() {
                        return Err(Failure::preparing(Error::Unsupported {
                            provider: PROVIDER,
                            option: "generate with a style of Perfect's older catalogue".into(),
                            reason: "its V2 API takes templates of its own catalogue \
                                     (`Generate::perfect_v2_template`)"
                                .into(),
                        }));
                    }
                    let template = match &generate.perfect_v2_template {
                        Some(template) => template.clone(),
                        None => self
                            .first_template(feature)
                            .await
                            .map_err(Failure::preparing)?,
                    };
                    let request = self.text_to_image(generate.prompt.clone(), template);
                    self.complete(request, credits(None)).await
                }
            }
        })
    }
}
