//! Perfect's tasks on its older API: uploads, then a task Perfect charges only when it
//! succeeds.

use futures_util::TryStreamExt as _;

use super::{
    Backend, Credits, Done, Entry, Failure, Offer, ProviderClient, Request, Task, formats,
    not_offered_failure,
};
use crate::client::{BoxFuture, KeyedService as _, env};
use crate::error::{Error, Provider};
use crate::perfect::{
    CLIENT_ID_VAR, CLIENT_SECRET_VAR, Client, ClientBuilder, Feature, OutputFormat, Scale,
    StyleChoice, TaskRequest,
};

const PROVIDER: Provider = Provider::Perfect;

pub(super) const ENTRY: Entry = Entry {
    provider: PROVIDER,
    stands_for: None,
    offer,
    from_env,
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
        ..Offer::new(PROVIDER, task, format!("`{}`", feature.name()))
    };
    Some(match task {
        Task::RemoveBackground | Task::Generate => Offer {
            formats: formats(feature.outputs().iter().map(|f| f.as_str())),
            ..base
        },
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
        Task::Colorize => base,
    })
}

fn from_env() -> Result<Option<ProviderClient>, Error> {
    // With an API key, Perfect is its V2 API and the pair is not read.
    if env(crate::perfect::v2::Service::KEY_VAR).is_some() {
        return Ok(None);
    }
    // Half of the pair set is a mistake to report, not a provider to leave out.
    if env(CLIENT_ID_VAR).is_none() && env(CLIENT_SECRET_VAR).is_none() {
        return Ok(None);
    }
    Ok(Some(ClientBuilder::from_env()?.build()?.into()))
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

/// The output format standing for `format`, among those the feature offers.
fn output_format(
    feature: Feature,
    offered: &Offer,
    format: Option<crate::ImageFormat>,
) -> Result<Option<OutputFormat>, Error> {
    offered.check_format(format)?;
    // No format asked for: the first one the feature lists, so a cut-out keeps its
    // transparency whatever Perfect's own default is.
    let wanted = format.or_else(|| offered.formats.first().copied());
    Ok(wanted.and_then(|wanted| {
        feature
            .outputs()
            .iter()
            .copied()
            .find(|output| crate::ImageFormat::from_extension(output.as_str()) == Some(wanted))
    }))
}

impl Client {
    /// The first style of the first group of `feature`'s catalogue. Catalogue pages are free
    /// reads.
    async fn first_style(&self, feature: Feature) -> Result<StyleChoice, Error> {
        let missing = |what: &str| Error::MissingResult {
            provider: PROVIDER,
            job_id: String::new(),
            what: format!("the {feature} catalogue has no {what}"),
        };
        let group = self
            .style_groups(feature)
            .try_next()
            .await?
            .ok_or_else(|| missing("style group"))?;
        let style = self
            .styles(feature, Some(group.id))
            .try_next()
            .await?
            .ok_or_else(|| missing("style in its first group"))?;
        Ok(StyleChoice {
            group_id: group.id,
            style_id: style.id,
        })
    }

    /// Uploads, submits and waits for one task.
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
                    let output = output_format(feature, &offered, cutout.format)
                        .map_err(Failure::preparing)?;
                    let mut request = self.background_removal(cutout.input.clone());
                    if let Some(output) = output {
                        request = request.output(output);
                    }
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
                    if generate.perfect_v2_template.is_some() && generate.perfect_style.is_none() {
                        return Err(Failure::preparing(Error::Unsupported {
                            provider: PROVIDER,
                            option: "generate with a template of Perfect's V2 catalogue".into(),
                            reason: "its older API takes styles of its own catalogue \
                                     (`Generate::perfect_style`)"
                                .into(),
                        }));
                    }
                    let style = match generate.perfect_style {
                        Some(style) => style,
                        None => self
                            .first_style(feature)
                            .await
                            .map_err(Failure::preparing)?,
                    };
                    let request = self.text_to_image(generate.prompt.clone(), style);
                    self.complete(request, credits(None)).await
                }
            }
        })
    }
}
