//! HitPaw's tasks: jobs whose coins are taken when HitPaw accepts them.

use pixmill_hitpaw_api as api;

use super::{
    Backend, Charge, CreditUnit, Credits, Done, Entry, Failure, Offer, ProviderClient, Request,
    Task, formats, keyed_from_env, not_offered_failure,
};
use crate::client::BoxFuture;
use crate::error::{Error, Provider};
use crate::hitpaw::{Client, Job, Model, Service, model_limits, model_scale};

const PROVIDER: Provider = Provider::Hitpaw;

/// The model family that upscales, named by one of its models: `general_2x` stands for every
/// `general_*` model of the spec.
const UPSCALE_FAMILY: Model = Model::General2x;

/// The model that restores at the input's size (a 1x denoising model).
const RESTORE_MODEL: Model = Model::SharpenDenoise1x;

pub(super) const ENTRY: Entry = Entry {
    provider: PROVIDER,
    stands_for: None,
    offer,
    from_env: keyed_from_env::<Service>,
};

/// The family of a model: its name without the scale suffix (`face_v2_4x` → `face_v2`).
fn family(model: Model) -> String {
    let name = model.to_string();
    match name.rsplit_once('_') {
        Some((family, _)) => family.to_string(),
        None => name,
    }
}

/// The upscaling models, smallest scale first, from the spec's model list.
fn upscale_models() -> Vec<Model> {
    let upscalers = family(UPSCALE_FAMILY);
    let mut models: Vec<Model> = api::constants::photo_enhancer_request::MODEL_NAME_VALUES
        .iter()
        .filter_map(|name| name.parse().ok())
        .filter(|model| family(*model) == upscalers)
        .collect();
    models.sort_by_key(|model| model_scale(*model));
    models
}

fn offer(task: Task) -> Option<Offer> {
    let offer = |operation: String| Offer {
        takes_urls: true,
        ..Offer::new(PROVIDER, task, operation)
    };
    Some(match task {
        Task::RemoveBackground => Offer {
            formats: formats(
                api::service::image_segmentation::RESULT_FORMATS
                    .iter()
                    .copied(),
            ),
            limits: api::limits::IMAGE_SEGMENTATION.first(),
            ..offer("`image_segmentation`".into())
        },
        Task::Upscale => {
            let models = upscale_models();
            let names: Vec<String> = models.iter().map(|m| format!("`{m}`")).collect();
            Offer {
                factors: models.iter().map(|m| model_scale(*m)).collect(),
                limits: model_limits(UPSCALE_FAMILY),
                ..offer(format!("`photo_enhancer` ({})", names.join(", ")))
            }
        }
        Task::Restore => Offer {
            limits: model_limits(RESTORE_MODEL),
            ..offer(format!("`photo_enhancer` (`{RESTORE_MODEL}`)"))
        },
        _ => return None,
    })
}

impl From<Client> for ProviderClient {
    fn from(client: Client) -> ProviderClient {
        ProviderClient::new(client)
    }
}

impl Backend for Client {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Done, Failure>> {
        Box::pin(async move {
            let task = request.task();
            let offered = offer(task).ok_or_else(|| not_offered_failure(PROVIDER, task))?;
            let job = match request {
                Request::RemoveBackground(cutout) => {
                    offered
                        .check_format(cutout.format)
                        .map_err(Failure::preparing)?;
                    let prepared = self
                        .segment(cutout.input.clone())
                        .prepare()
                        .await
                        .map_err(Failure::preparing)?;
                    prepared.submit().await
                }
                Request::Upscale(upscale) => {
                    let model = upscale_models()
                        .into_iter()
                        .find(|model| model_scale(*model) == upscale.factor)
                        .ok_or_else(|| {
                            Failure::preparing(offered.unsupported_factor(upscale.factor))
                        })?;
                    let prepared = self
                        .enhance(upscale.input.clone())
                        .model(model)
                        .prepare()
                        .await
                        .map_err(Failure::preparing)?;
                    prepared.submit().await
                }
                Request::Restore(restore) => {
                    if restore.remove_scratches {
                        return Err(Failure::preparing(Error::Unsupported {
                            provider: PROVIDER,
                            option: "remove scratches".into(),
                            reason: "no HitPaw model removes scratches".into(),
                        }));
                    }
                    let prepared = self
                        .enhance(restore.input.clone())
                        .model(RESTORE_MODEL)
                        .prepare()
                        .await
                        .map_err(Failure::preparing)?;
                    prepared.submit().await
                }
                other => return Err(not_offered_failure(PROVIDER, other.task())),
            }
            .map_err(Failure::submitting)?;
            finish(job).await
        })
    }
}

/// Waits for an accepted job. HitPaw took the coins on acceptance, so any failure from here
/// on has been charged.
async fn finish(job: Job) -> Result<Done, Failure> {
    let output = job
        .wait()
        .await
        .map_err(|error| Failure::waiting(error, job.id(), Charge::Certain))?;
    Ok(Done {
        output: output.result().clone(),
        job_id: Some(job.id().to_string()),
        // Coins are whole numbers far below 2^53: the conversion is exact.
        credits: job
            .coins_consumed()
            .map(|coins| Credits::reported(coins as f64, CreditUnit::Coins)),
    })
}
