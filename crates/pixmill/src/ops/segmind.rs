//! Segmind's task: one synchronous generation that spends credits when it succeeds.

use pixmill_segmind_api as api;

use super::{
    Backend, CreditUnit, Credits, Done, Entry, Failure, Offer, ProviderClient, Request, Task,
    keyed_from_env, not_offered_failure,
};
use crate::client::BoxFuture;
use crate::error::Provider;
use crate::image::ImageFormat;
use crate::segmind::{AnimationFormat, Client, Service};

const PROVIDER: Provider = Provider::Segmind;

pub(super) const ENTRY: Entry = Entry {
    provider: PROVIDER,
    stands_for: None,
    offer,
    from_env: keyed_from_env::<Service>,
};

fn offer(task: Task) -> Option<Offer> {
    match task {
        Task::Generate => Some(Offer {
            // The answer's image types; a video is no image format.
            formats: api::service::hotshot_xl::RESPONSE_MEDIA_TYPES
                .iter()
                .filter_map(|mime| {
                    ImageFormat::ALL
                        .iter()
                        .copied()
                        .find(|format| format.matches_mime(mime))
                })
                .collect(),
            animated: true,
            ..Offer::new(PROVIDER, task, "`hotshot_xl`")
        }),
        _ => None,
    }
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
            let (Request::Generate(generate), Some(offered)) = (request, offer(request.task()))
            else {
                return Err(not_offered_failure(PROVIDER, request.task()));
            };
            generate
                .check_kind(PROVIDER, offered.animated)
                .map_err(Failure::preparing)?;
            // The spec's defaults, with GIF asked for by name: the result must be an image
            // whatever the default. One call, charged when it answers.
            let animation = self
                .hotshot_xl(generate.prompt.clone())
                .format(AnimationFormat::Gif)
                .send()
                .await
                .map_err(Failure::submitting)?;
            let format = animation
                .format()
                .and_then(|format| ImageFormat::from_extension(format.extension()));
            Ok(Done {
                job_id: animation.request_id().map(str::to_string),
                credits: animation
                    .cost()
                    .map(|cost| Credits::reported(cost, CreditUnit::Credits)),
                output: animation.into_output().with_format(format),
            })
        })
    }
}
