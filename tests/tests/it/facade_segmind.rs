//! The Segmind facade end to end against the sandbox: GIF and MP4 generations, the headers they
//! carry, retries without double charges, an empty balance, bad input and credentials.

use std::time::Duration;

use image::AnimationDecoder as _;
use pixmill::segmind::{AnimationFormat, Client, Dimension, Scheduler};
use pixmill::{Error, RetryPolicy};
use pixmill_sandbox::{Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{quick_config, quick_sandbox, spec_violations};

const HOTSHOT: &str = "/hotshot-xl";

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(100))
}

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(sandbox.credentials().segmind_api_key.clone())
        .base_url(sandbox.base_url(Provider::Segmind))
        .retry_policy(fast_retries())
        .build()
        .expect("client builds")
}

/// Width, height and frame count of an animated GIF.
fn gif_frames(bytes: &[u8]) -> (u32, u32, usize) {
    assert!(bytes.starts_with(b"GIF8"), "a GIF header");
    let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).expect("a GIF");
    let frames = decoder
        .into_frames()
        .collect_frames()
        .expect("frames decode");
    let first = frames.first().expect("at least one frame").buffer();
    (first.width(), first.height(), frames.len())
}

#[tokio::test(start_paused = true)]
async fn the_default_request_saves_a_672x384_gif_with_its_headers() {
    let sandbox = Sandbox::start_with(SandboxConfig {
        segmind_price: 2,
        ..quick_config()
    })
    .await
    .expect("sandbox starts");
    let before = sandbox.balance(Provider::Segmind);
    let animation = client(&sandbox)
        .hotshot_xl("a paper boat on a stormy sea")
        .send()
        .await
        .expect("generated");
    assert_eq!(animation.format(), Some(AnimationFormat::Gif));
    assert_eq!(animation.content_type(), Some("image/gif"));
    assert_eq!(before - sandbox.balance(Provider::Segmind), 2);
    assert_eq!(
        animation.remaining_credits(),
        Some(sandbox.balance(Provider::Segmind) as f64)
    );
    assert_eq!(animation.cost(), Some(2.0));
    let random_seed = animation.seed().expect("the seed the service drew");
    assert!(animation.generation_time().is_some());
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    let request_id = animation.request_id().expect("a request id").to_string();
    assert_eq!(charges[0].reference.as_deref(), Some(request_id.as_str()));
    let announced = animation.content_length();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boat.gif");
    let written = animation.save(&path).await.expect("saves");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(written, bytes.len() as u64);
    if let Some(length) = announced {
        assert_eq!(length, written);
    }
    let (width, height, frames) = gif_frames(&bytes);
    assert_eq!((width, height), (672, 384));
    assert!(frames >= 2, "animated: {frames} frames");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["boat.gif"], "no partial file remains");

    // Without a seed every call draws another; the reported one reproduces the animation.
    let client = client(&sandbox);
    let unseeded = client
        .hotshot_xl("a paper boat on a stormy sea")
        .send()
        .await
        .expect("generated");
    assert_ne!(unseeded.seed(), Some(random_seed), "a fresh random seed");
    let replayed = client
        .hotshot_xl("a paper boat on a stormy sea")
        .seed(random_seed)
        .send()
        .await
        .expect("generated")
        .bytes()
        .await
        .expect("reads");
    assert_eq!(
        replayed.as_ref(),
        bytes.as_slice(),
        "the reported seed replays"
    );
    assert_eq!(spec_violations(&sandbox), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn mp4_answers_an_mp4_file() {
    let sandbox = quick_sandbox().await;
    let animation = client(&sandbox)
        .hotshot_xl("a dog running towards you")
        .width(Dimension::Px256)
        .height(Dimension::Px256)
        .steps(5)
        .mp4(true)
        .send()
        .await
        .expect("generated");
    assert_eq!(animation.format(), Some(AnimationFormat::Mp4));
    assert_eq!(animation.content_type(), Some("video/mp4"));
    let bytes = animation.bytes().await.expect("reads");
    assert!(bytes.len() > 8);
    assert_eq!(&bytes[4..8], b"ftyp", "starts with an ftyp box");
    assert_eq!(sandbox.charges().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn options_are_honoured() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);
    let animation = client
        .hotshot_xl("a lighthouse at night")
        .negative_prompt("")
        .width(Dimension::Px256)
        .height(Dimension::Px320)
        .steps(1)
        .seed(-42)
        .scheduler(Scheduler::KarrasDpm)
        .format(AnimationFormat::Gif)
        .send()
        .await
        .expect("generated");
    assert_eq!(animation.seed(), Some(-42));
    let mut bytes = Vec::new();
    let written = animation.write_to(&mut bytes).await.expect("streams");
    assert_eq!(written, bytes.len() as u64);
    let (width, height, frames) = gif_frames(&bytes);
    assert_eq!((width, height), (256, 320));
    assert!(frames >= 2);

    // The same seed and settings reproduce the same file; another seed does not.
    let again = |seed| {
        client
            .hotshot_xl("a lighthouse at night")
            .negative_prompt("")
            .width(Dimension::Px256)
            .height(Dimension::Px320)
            .steps(1)
            .seed(seed)
            .scheduler(Scheduler::KarrasDpm)
            .send()
    };
    let same = again(-42).await.unwrap().bytes().await.unwrap();
    assert_eq!(same.as_ref(), bytes.as_slice());
    let other = again(7).await.unwrap().bytes().await.unwrap();
    assert_ne!(other.as_ref(), bytes.as_slice());
    assert_eq!(sandbox.charges().len(), 3);
    assert_eq!(spec_violations(&sandbox), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn invalid_input_fails_before_any_request() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);
    for steps in [0, 501] {
        let error = client
            .hotshot_xl("a cat")
            .steps(steps)
            .send()
            .await
            .expect_err("out of range");
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("steps must be from 1 to 500, got {steps}")),
            "{error}"
        );
    }
    for prompt in ["", "   "] {
        let error = client
            .hotshot_xl(prompt)
            .send()
            .await
            .expect_err("empty prompt");
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        assert_eq!(error.to_string(), "prompt must not be empty");
    }
    assert!(sandbox.traffic().is_empty(), "the sandbox saw no request");
}

#[tokio::test(start_paused = true)]
async fn an_empty_balance_is_a_406_and_charges_nothing() {
    let sandbox = quick_sandbox().await;
    sandbox.set_balance(Provider::Segmind, 0);
    let error = client(&sandbox)
        .hotshot_xl("a cat")
        .send()
        .await
        .expect_err("out of credits");
    match &error {
        Error::Api {
            provider,
            operation,
            status,
            message,
            ..
        } => {
            assert_eq!(*provider, pixmill::Provider::Segmind);
            assert_eq!(*operation, "hotshot_xl");
            assert_eq!(*status, 406);
            assert_eq!(message, "Not enough credits");
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(
        sandbox.request_count(Provider::Segmind, "POST", HOTSHOT),
        1,
        "a 406 is not retried"
    );
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Segmind), 0);
    assert_eq!(spec_violations(&sandbox), Vec::<String>::new());
}
