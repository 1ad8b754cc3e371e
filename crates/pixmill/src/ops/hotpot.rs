//! Hotpot's tasks: synchronous calls that each spend a credit when they succeed.

use pixmill_hotpot_api as api;

use super::{
    Backend, Done, Entry, Failure, Offer, ProviderClient, Request, Task, formats, keyed_from_env,
    not_offered_failure,
};
use crate::client::BoxFuture;
use crate::error::Provider;
use crate::hotpot::{Client, Service, SizeFactor};

const PROVIDER: Provider = Provider::Hotpot;

pub(super) const ENTRY: Entry = Entry {
    provider: PROVIDER,
    stands_for: None,
    offer,
    from_env: keyed_from_env::<Service>,
};

fn offer(task: Task) -> Option<Offer> {
    let offer = |operation: &str| Offer::new(PROVIDER, task, operation);
    Some(match task {
        Task::RemoveBackground => Offer {
            formats: formats(
                api::service::remove_background::RESULT_FORMATS
                    .iter()
                    .copied(),
            ),
            ..offer("`remove_background`")
        },
        Task::Upscale => Offer {
            factors: SizeFactor::ALL.iter().filter_map(|f| factor(*f)).collect(),
            ..offer("`supersize_image`")
        },
        Task::Colorize => offer("`colorize_picture`"),
        Task::Restore => Offer {
            removes_scratches: true,
            ..offer("`restore_picture`")
        },
        _ => return None,
    })
}

fn factor(size: SizeFactor) -> Option<u32> {
    u32::try_from(size.value()).ok()
}

impl From<Client> for ProviderClient {
    fn from(client: Client) -> ProviderClient {
        ProviderClient::new(client)
    }
}

/// The render factor in the middle of the documented range: neither the fastest nor the
/// sharpest, for pictures of any quality.
fn middle_render_factor() -> u32 {
    use api::constants::colorize_picture_request::{RENDER_FACTOR_MAXIMUM, RENDER_FACTOR_MINIMUM};
    u32::try_from((RENDER_FACTOR_MINIMUM + RENDER_FACTOR_MAXIMUM) / 2).unwrap_or_default()
}

impl Backend for Client {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Done, Failure>> {
        Box::pin(async move {
            let task = request.task();
            let offered = offer(task).ok_or_else(|| not_offered_failure(PROVIDER, task))?;
            // Each call is one charged request: a failure is either before it was sent or of
            // the submission itself.
            let output = match request {
                Request::RemoveBackground(cutout) => {
                    offered
                        .check_format(cutout.format)
                        .map_err(Failure::preparing)?;
                    self.remove_background(cutout.input.clone()).await
                }
                Request::Upscale(upscale) => {
                    let size = SizeFactor::ALL
                        .iter()
                        .copied()
                        .find(|size| factor(*size) == Some(upscale.factor))
                        .ok_or_else(|| {
                            Failure::preparing(offered.unsupported_factor(upscale.factor))
                        })?;
                    self.supersize(upscale.input.clone())
                        .size_factor(size)
                        .send()
                        .await
                }
                Request::Colorize(colorize) => {
                    self.colorize_picture(colorize.input.clone(), middle_render_factor())
                        .await
                }
                Request::Restore(restore) => {
                    self.restore_picture(restore.input.clone(), restore.remove_scratches)
                        .await
                }
                other => return Err(not_offered_failure(PROVIDER, other.task())),
            }
            .map_err(Failure::submitting)?;
            Ok(Done {
                output,
                job_id: None,
                // Hotpot's spec documents no price and its answers report none.
                credits: None,
            })
        })
    }
}
