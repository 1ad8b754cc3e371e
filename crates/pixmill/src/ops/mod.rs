//! Same task, any provider: remove a background, upscale, colorize, restore or generate with
//! whichever provider has credentials, and move to another one when a provider is down.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::Provider;
//! use pixmill::ops::{Providers, RemoveBackground, Task, Upscale};
//!
//! // Every provider whose variables are set (HOTPOT_API_KEY, HITPAW_API_KEY, ...).
//! let providers = Providers::from_env()?;
//! println!("upscalers: {:?}", providers.available(Task::Upscale));
//!
//! // The first provider able to do it; the next only when that one failed without charging.
//! let cutout = providers.run_any(RemoveBackground::new("product.jpg")).await?;
//! println!("cut out by {}", cutout.provider());
//! cutout.output().save("product.png").await?;
//!
//! // A named provider, or an explicit preference list.
//! let large = providers.run_on(Provider::Hotpot, Upscale::new("icon.png", 8)).await?;
//! let large = providers
//!     .run(Upscale::new("photo.jpg", 4), &[Provider::Perfect, Provider::Hitpaw])
//!     .await?;
//! large.output().save("photo-4x.jpg").await?;
//! # Ok(()) }
//! ```
//!
//! A task is a request ([`RemoveBackground`], [`Upscale`], [`Colorize`], [`Restore`],
//! [`Generate`]) whose options mean the same everywhere; each provider maps them onto its own
//! operation through its module ([`crate::hotpot`], [`crate::hitpaw`], ...). An option a
//! provider cannot honour (an 8× upscale on Perfect, a WebP cut-out where only PNG exists) is
//! [`Error::Unsupported`] before anything is sent. The answer is a [`TaskResult`]: the
//! [`Output`], the provider, its job id and the credits spent when known, and the attempts
//! that failed before it.
//!
//! # Tasks and providers
//!
//! What each provider does, with which options and inputs; Perfect's two APIs each have their
//! rows. Every row comes from the specs' facts (enums, `x-limits`, `x-result-formats`,
//! Perfect's feature tables); [`table`] renders it and a test keeps this copy equal to it.
//!
//! | task | provider | operation | options | input |
//! |---|---|---|---|---|
//! | remove background | Hotpot | `remove_background` | result png | an image file |
//! | remove background | HitPaw | `image_segmentation` | result png | jpg, jpeg, png, webp; or a URL |
//! | remove background | Perfect Corp | `background_removal` | result png, webp | jpg, png; at most 10485759 bytes; long side at most 4096 px |
//! | remove background | Perfect Corp (V2) | `background_removal` | – | jpg, png; at most 10485759 bytes; long side at most 4096 px; or a URL |
//! | upscale | Hotpot | `supersize_image` | factor 2, 4, 8, 16 | an image file |
//! | upscale | HitPaw | `photo_enhancer` (`general_2x`, `general_4x`) | factor 2, 4 | bmp, jpeg, jpg, png, jfif, tga, tiff, webp, heif; at most 70 MP; output at most 432 MP; or a URL |
//! | upscale | Perfect Corp | `enhance` | factor 2, 4 | jpg, png; at most 10485759 bytes; long side at most 4096 px |
//! | upscale | Perfect Corp (V2) | `enhance` | factor 2, 4 | jpg, jpeg, png; at most 10485759 bytes; long side at most 4096 px; or a URL |
//! | colorize | Hotpot | `colorize_picture` | – | an image file |
//! | colorize | Perfect Corp | `colorize` | – | jpg, png; at most 10485759 bytes; long side at most 4096 px |
//! | colorize | Perfect Corp (V2) | `colorize` | – | jpg, jpeg, png; at most 10485759 bytes; long side at most 4096 px; or a URL |
//! | restore | Hotpot | `restore_picture` | scratch removal | an image file |
//! | restore | HitPaw | `photo_enhancer` (`sharpen_denoise_1x`) | – | bmp, jpeg, jpg, png, jfif, tga, tiff, webp, heif; at most 70 MP; output at most 432 MP; or a URL |
//! | restore | Perfect Corp | `enhance` (scale 1) | – | jpg, png; at most 10485759 bytes; long side at most 4096 px |
//! | restore | Perfect Corp (V2) | `enhance` (scale 1) | – | jpg, jpeg, png; at most 10485759 bytes; long side at most 4096 px; or a URL |
//! | generate | Segmind | `hotshot_xl` | result gif; animation | a prompt |
//! | generate | Perfect Corp | `text_to_image` | result jpg | a prompt |
//! | generate | Perfect Corp (V2) | `text_to_image` | – | a prompt |
//!
//! Defaults where the providers differ:
//!
//! - **Remove background**: the result comes in the provider's first listed format (PNG
//!   wherever a spec lists one); [`RemoveBackground::format`] picks another where one is
//!   offered. Perfect's V2 spec names no result format, so V2 promises none and refuses any
//!   format asked for.
//! - **Upscale**: Hotpot with its default image style and no noise cancellation; HitPaw with
//!   its `general_*` models; Perfect (both APIs) with the `enhance` scale equal to the
//!   factor. A factor below 2 is no upscale and is refused for every provider.
//! - **Colorize**: Hotpot's render factor is the middle of its documented range; Perfect's V2
//!   gives several variants, of which the result is the first.
//! - **Restore**: Hotpot removes scratches only when asked ([`Restore::remove_scratches`],
//!   which only Hotpot offers); HitPaw denoises with `sharpen_denoise_1x`; Perfect (both
//!   APIs) enhances at scale 1.
//! - **Generate**: Segmind renders a GIF animation with the spec's defaults; Perfect renders a
//!   still image from its template text-to-image feature. Its older API uses the style given
//!   by [`Generate::perfect_style`], or else the first style of the first group of its
//!   catalogue (two catalogue reads, which cost nothing); its V2 API uses the template given
//!   by [`Generate::perfect_v2_template`], or else the first template of its catalogue (one
//!   read). Each API refuses a choice made only for the other's catalogue.
//!   [`Generate::animated`] picks one kind.
//!
//! Where a spec documents a price (`x-cost`) and the answer reports none, as with Perfect,
//! [`TaskResult::credits`] is that price, marked [`CreditBasis::Documented`].
//!
//! # Perfect's two APIs
//!
//! Perfect Corp has an older API ([`crate::perfect`], a client id and an RSA secret) and a
//! current one, V2 ([`crate::perfect::v2`], an API key). They are one provider with one
//! place among the clients, filled by either API:
//!
//! - [`Providers::from_env`] takes V2 when `PERFECT_API_KEY` is set, and the older API only
//!   when `PERFECT_CLIENT_ID` and `PERFECT_CLIENT_SECRET` are set without it. With both set,
//!   V2 wins and the pair is not read (so half a pair beside a key is no error).
//!   [`Providers::with`] keeps the last Perfect client given, of either API.
//! - [`Provider::Perfect`] names whichever API has the client: asking for it with a V2
//!   client runs V2. [`Provider::PerfectV2`] names V2 alone.
//! - What is reported names the API that ran: [`Providers::configured`],
//!   [`Providers::available`], [`TaskResult::provider`] and [`Attempt::provider`] say
//!   [`Provider::PerfectV2`] (`perfect-v2` in reports) for V2, so a result says which API,
//!   and so which credentials, made it.
//! - [`offer`], [`offers`] and [`table`] describe each API apart, since their offers differ
//!   (the older one chooses result formats, V2 takes URLs).
//!
//! # Falling back
//!
//! [`Providers::run`] tries the providers in order and moves to the next one only when the
//! failure charged nothing and another provider may succeed where this one failed:
//!
//! - the failure is retryable ([`Error::is_retryable`]: 429, 503, a connection that never
//!   connected, a free upload that failed), or it is a refusal of this provider only (its own
//!   input limits, an option it cannot honour, no credentials for it);
//! - and nothing may have been charged ([`Charge::Nothing`]): the failure came before the
//!   submission, or the submission certainly did not reach the provider. HitPaw takes its
//!   coins when it accepts a job, so a failure while waiting for a HitPaw job never moves on;
//!   Perfect (both APIs) charges a task only when it succeeds, but a task whose wait failed
//!   may still succeed, so that never moves on either; [`Error::OutcomeUnknown`] never does.
//!   Perfect's V2 run task has no idempotency key, so once it may have reached Perfect (a
//!   connection broken after sending, a 5xx other than 503) it is neither sent again nor
//!   followed by another provider.
//!
//! Input that every provider would refuse (a file that is not an image, an empty prompt, an
//! upscale factor below 2) fails at once, before any provider is tried. Every failed attempt
//! is kept ([`TaskResult::failed_attempts`], or [`Error::TaskFailed`] when none succeeded).

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct as _, Serializer};

use crate::client::BoxFuture;
use crate::error::{ConfigError, Error, Provider};
use crate::image::{ImageFormat, ImageInput, InputError};
use crate::output::Output;
use pixmill_spec::InputLimits;

#[cfg(feature = "hitpaw")]
mod hitpaw;
#[cfg(feature = "hotpot")]
mod hotpot;
#[cfg(feature = "perfect")]
mod perfect;
#[cfg(feature = "perfect")]
mod perfect_v2;
#[cfg(feature = "segmind")]
mod segmind;

/// The providers that can run tasks, in the order [`Providers::run_any`] tries them. Adding a
/// provider is one entry here and one implementation of `Backend` for its client.
const PROVIDERS: &[Entry] = &[
    #[cfg(feature = "hotpot")]
    hotpot::ENTRY,
    #[cfg(feature = "hitpaw")]
    hitpaw::ENTRY,
    #[cfg(feature = "segmind")]
    segmind::ENTRY,
    #[cfg(feature = "perfect")]
    perfect::ENTRY,
    #[cfg(feature = "perfect")]
    perfect_v2::ENTRY,
];

/// One provider of [`PROVIDERS`]: what it offers and how its client is built from the
/// environment.
struct Entry {
    provider: Provider,
    /// The provider whose name this one also answers to and whose place among the clients it
    /// takes: Perfect's V2 stands for [`Provider::Perfect`].
    stands_for: Option<Provider>,
    offer: fn(Task) -> Option<Offer>,
    /// `Ok(None)` when the provider's variables are not set.
    from_env: fn() -> Result<Option<ProviderClient>, Error>,
}

/// The `from_env` of a provider authenticated by one key: left out when its key variable is
/// unset.
fn keyed_from_env<S>() -> Result<Option<ProviderClient>, Error>
where
    S: crate::client::KeyedService,
    S::Client: Into<ProviderClient>,
{
    match crate::ClientBuilder::<crate::client::KeyConfig<S>>::from_env() {
        Err(Error::Config(ConfigError::MissingVariable(_))) => Ok(None),
        builder => Ok(Some(builder?.build()?.into())),
    }
}

fn entry(provider: Provider) -> Option<&'static Entry> {
    PROVIDERS.iter().find(|entry| entry.provider == provider)
}

/// The place of a provider's client in [`Providers`]: the provider it stands for, or its own.
fn slot(provider: Provider) -> Provider {
    entry(provider)
        .and_then(|entry| entry.stands_for)
        .unwrap_or(provider)
}

/// A task several providers can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Task {
    /// Cut the subject out onto a transparent background.
    RemoveBackground,
    /// Enlarge width and height by a factor.
    Upscale,
    /// Add colour to a black-and-white picture.
    Colorize,
    /// Restore or enhance a photo without enlarging it.
    Restore,
    /// Generate an image or an animation from a prompt.
    Generate,
}

impl Task {
    /// Every task.
    pub const ALL: &'static [Task] = &[
        Task::RemoveBackground,
        Task::Upscale,
        Task::Colorize,
        Task::Restore,
        Task::Generate,
    ];

    /// The kebab-case name used on the command line (`remove-background`).
    pub const fn id(self) -> &'static str {
        match self {
            Task::RemoveBackground => "remove-background",
            Task::Upscale => "upscale",
            Task::Colorize => "colorize",
            Task::Restore => "restore",
            Task::Generate => "generate",
        }
    }
}

impl fmt::Display for Task {
    /// The name in words (`remove background`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id().replace('-', " "))
    }
}

impl std::str::FromStr for Task {
    type Err = Error;

    /// Parses [`Task::id`] (any case).
    fn from_str(text: &str) -> Result<Task, Error> {
        Task::ALL
            .iter()
            .copied()
            .find(|task| task.id().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                let ids: Vec<&str> = Task::ALL.iter().map(|t| t.id()).collect();
                ConfigError::Invalid(format!(
                    "`{text}` is not a task (one of: {})",
                    ids.join(", ")
                ))
                .into()
            })
    }
}

/// Cuts the subject of a picture out onto a transparent background.
///
/// ```
/// use pixmill::ImageFormat;
/// use pixmill::ops::RemoveBackground;
///
/// let cutout = RemoveBackground::new("product.jpg").format(ImageFormat::Webp);
/// # let _ = cutout;
/// ```
#[derive(Clone, Debug)]
pub struct RemoveBackground {
    input: ImageInput,
    format: Option<ImageFormat>,
}

impl RemoveBackground {
    /// A cut-out of `input` (a path, bytes, or a URL where the provider takes one).
    pub fn new(input: impl Into<ImageInput>) -> RemoveBackground {
        RemoveBackground {
            input: input.into(),
            format: None,
        }
    }

    /// The result's format (default: the provider's first, PNG everywhere). A provider that
    /// cannot produce it refuses before anything is sent ([`Offer::formats`]).
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = Some(format);
        self
    }
}

/// Enlarges width and height by a factor.
///
/// ```
/// use pixmill::ops::Upscale;
///
/// let large = Upscale::new("icon.png", 4);
/// # let _ = large;
/// ```
#[derive(Clone, Debug)]
pub struct Upscale {
    input: ImageInput,
    factor: u32,
}

impl Upscale {
    /// `input` enlarged `factor` times per side. Each provider offers its own factors
    /// ([`Offer::factors`]); one it lacks is refused before anything is sent, and a factor
    /// below 2 is refused for every provider.
    pub fn new(input: impl Into<ImageInput>, factor: u32) -> Upscale {
        Upscale {
            input: input.into(),
            factor,
        }
    }

    /// The factor asked for.
    pub fn factor(&self) -> u32 {
        self.factor
    }
}

/// Adds colour to a black-and-white picture.
#[derive(Clone, Debug)]
pub struct Colorize {
    input: ImageInput,
}

impl Colorize {
    /// A colourised `input`.
    pub fn new(input: impl Into<ImageInput>) -> Colorize {
        Colorize {
            input: input.into(),
        }
    }
}

/// Restores or enhances a photo at its own size.
///
/// ```
/// use pixmill::ops::Restore;
///
/// let restored = Restore::new("1950s.jpg").remove_scratches(true);
/// # let _ = restored;
/// ```
#[derive(Clone, Debug)]
pub struct Restore {
    input: ImageInput,
    remove_scratches: bool,
}

impl Restore {
    /// A restored `input`.
    pub fn new(input: impl Into<ImageInput>) -> Restore {
        Restore {
            input: input.into(),
            remove_scratches: false,
        }
    }

    /// Also remove scratches (default false). Only providers that offer it
    /// ([`Offer::removes_scratches`]) accept `true`.
    pub fn remove_scratches(mut self, remove: bool) -> Self {
        self.remove_scratches = remove;
        self
    }
}

/// Generates an image or an animation from a prompt.
///
/// ```
/// use pixmill::ops::Generate;
///
/// let any = Generate::new("a lighthouse at dusk");
/// let moving = Generate::new("waves breaking on rocks").animated(true);
/// # let _ = (any, moving);
/// ```
#[derive(Clone, Debug)]
pub struct Generate {
    prompt: String,
    animated: Option<bool>,
    #[cfg(feature = "perfect")]
    perfect_style: Option<crate::perfect::StyleChoice>,
    #[cfg(feature = "perfect")]
    perfect_v2_template: Option<String>,
}

impl Generate {
    /// A generation from `prompt`; its kind is the provider's (see [`Offer::animated`]).
    pub fn new(prompt: impl Into<String>) -> Generate {
        Generate {
            prompt: prompt.into(),
            animated: None,
            #[cfg(feature = "perfect")]
            perfect_style: None,
            #[cfg(feature = "perfect")]
            perfect_v2_template: None,
        }
    }

    /// Asks for an animation (`true`) or a still image (`false`); a provider producing the
    /// other kind refuses before anything is sent.
    pub fn animated(mut self, animated: bool) -> Self {
        self.animated = Some(animated);
        self
    }

    /// The text-to-image style Perfect's older API uses (default: the first style of the first
    /// group of its catalogue). Providers without a catalogue ignore it; Perfect's V2 API, whose
    /// catalogue is another, refuses it unless [`Generate::perfect_v2_template`] is also given.
    #[cfg(feature = "perfect")]
    pub fn perfect_style(mut self, style: crate::perfect::StyleChoice) -> Self {
        self.perfect_style = Some(style);
        self
    }

    /// The text-to-image template Perfect's V2 API uses, an id from
    /// [`crate::perfect::v2::Client::templates`] (default: the first template of its
    /// catalogue). Providers without a catalogue ignore it; Perfect's older API refuses it
    /// unless [`Generate::perfect_style`] is also given.
    #[cfg(feature = "perfect")]
    pub fn perfect_v2_template(mut self, template_id: impl Into<String>) -> Self {
        self.perfect_v2_template = Some(template_id.into());
        self
    }

    /// Refuses a provider producing the other kind of result than asked for.
    fn check_kind(&self, provider: Provider, animated: bool) -> Result<(), Error> {
        match self.animated {
            Some(wanted) if wanted != animated => Err(Error::Unsupported {
                provider,
                option: if wanted {
                    "generate an animation".into()
                } else {
                    "generate a still image".into()
                },
                reason: if animated {
                    "it generates animations only".into()
                } else {
                    "it generates still images only".into()
                },
            }),
            _ => Ok(()),
        }
    }
}

/// One task with its input and options: what [`Providers`] runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Request {
    /// See [`RemoveBackground`].
    RemoveBackground(RemoveBackground),
    /// See [`Upscale`].
    Upscale(Upscale),
    /// See [`Colorize`].
    Colorize(Colorize),
    /// See [`Restore`].
    Restore(Restore),
    /// See [`Generate`].
    Generate(Generate),
}

impl Request {
    /// The task.
    pub fn task(&self) -> Task {
        match self {
            Request::RemoveBackground(_) => Task::RemoveBackground,
            Request::Upscale(_) => Task::Upscale,
            Request::Colorize(_) => Task::Colorize,
            Request::Restore(_) => Task::Restore,
            Request::Generate(_) => Task::Generate,
        }
    }

    fn input_mut(&mut self) -> Option<&mut ImageInput> {
        match self {
            Request::RemoveBackground(r) => Some(&mut r.input),
            Request::Upscale(r) => Some(&mut r.input),
            Request::Colorize(r) => Some(&mut r.input),
            Request::Restore(r) => Some(&mut r.input),
            Request::Generate(_) => None,
        }
    }

    /// Refuses what every provider would refuse, and reads a local input once, so the
    /// providers tried in turn share it.
    async fn checked(mut self) -> Result<Request, Error> {
        match &self {
            Request::Upscale(upscale) if upscale.factor < 2 => {
                return Err(InputError::OutOfRange {
                    field: "factor",
                    expected: "at least 2 (an upscale enlarges)".into(),
                    actual: upscale.factor.to_string(),
                }
                .into());
            }
            Request::Generate(generate) if generate.prompt.trim().is_empty() => {
                return Err(InputError::Empty { field: "prompt" }.into());
            }
            _ => {}
        }
        if let Some(input) = self.input_mut()
            && input.url().is_none()
        {
            let loaded = input.load().await?;
            *input = ImageInput::from_bytes(loaded.bytes).with_file_name(loaded.file_name);
        }
        Ok(self)
    }
}

macro_rules! request_from {
    ($($task:ident),*) => {$(
        impl From<$task> for Request {
            fn from(request: $task) -> Request {
                Request::$task(request)
            }
        }
    )*};
}

request_from!(RemoveBackground, Upscale, Colorize, Restore, Generate);

/// What one provider offers for one task, from its spec's facts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Offer {
    /// The provider.
    pub provider: Provider,
    /// The task.
    pub task: Task,
    /// The provider's operation (and the model or setting it runs with).
    pub operation: String,
    /// Upscale factors, smallest first.
    pub factors: Vec<u32>,
    /// Formats the result can come in, the first being the default; empty where the spec
    /// does not say.
    pub formats: Vec<ImageFormat>,
    /// Whether [`Restore::remove_scratches`] is honoured.
    pub removes_scratches: bool,
    /// Whether the result is an animation.
    pub animated: bool,
    /// The documented limits on the input, when there are any.
    pub limits: Option<&'static InputLimits>,
    /// Whether the input may be a URL the provider fetches itself.
    pub takes_urls: bool,
}

impl Offer {
    fn new(provider: Provider, task: Task, operation: impl Into<String>) -> Offer {
        Offer {
            provider,
            task,
            operation: operation.into(),
            factors: Vec::new(),
            formats: Vec::new(),
            removes_scratches: false,
            animated: false,
            limits: None,
            takes_urls: false,
        }
    }

    /// The options column of [`table`].
    fn options(&self) -> String {
        let mut options = Vec::new();
        if !self.factors.is_empty() {
            let factors: Vec<String> = self.factors.iter().map(u32::to_string).collect();
            options.push(format!("factor {}", factors.join(", ")));
        }
        if !self.formats.is_empty() {
            let formats: Vec<&str> = self.formats.iter().map(|f| f.extension()).collect();
            options.push(format!("result {}", formats.join(", ")));
        }
        if self.removes_scratches {
            options.push("scratch removal".into());
        }
        if self.animated {
            options.push("animation".into());
        }
        if options.is_empty() {
            "–".into()
        } else {
            options.join("; ")
        }
    }

    /// The input column of [`table`].
    fn input(&self) -> String {
        if self.task == Task::Generate {
            return "a prompt".into();
        }
        let mut parts = Vec::new();
        if let Some(limits) = self.limits {
            if !limits.formats.is_empty() {
                parts.push(limits.formats.join(", "));
            }
            if let Some(bytes) = limits.max_bytes {
                parts.push(format!("at most {bytes} bytes"));
            }
            if let Some(side) = limits.max_long_side {
                parts.push(format!("long side at most {side} px"));
            }
            if let Some(side) = limits.min_short_side {
                parts.push(format!("short side at least {side} px"));
            }
            if let Some(side) = limits.max_short_side {
                parts.push(format!("short side at most {side} px"));
            }
            if let Some(megapixels) = limits.max_megapixels {
                parts.push(format!("at most {megapixels} MP"));
            }
            if let Some(megapixels) = limits.max_output_megapixels {
                parts.push(format!("output at most {megapixels} MP"));
            }
        }
        if parts.is_empty() {
            parts.push("an image file".into());
        }
        if self.takes_urls {
            parts.push("or a URL".into());
        }
        parts.join("; ")
    }

    /// The refusal of an upscale factor this offer does not list.
    fn unsupported_factor(&self, factor: u32) -> Error {
        let factors: Vec<String> = self.factors.iter().map(u32::to_string).collect();
        Error::Unsupported {
            provider: self.provider,
            option: format!("upscale by {factor}"),
            reason: format!("it upscales by {} only", factors.join(", ")),
        }
    }

    /// Refuses a result format this offer does not list; with no format listed, any format
    /// asked for, since none is promised.
    fn check_format(&self, format: Option<ImageFormat>) -> Result<(), Error> {
        match format {
            Some(format) if !self.formats.contains(&format) => Err(Error::Unsupported {
                provider: self.provider,
                option: format!("{} as {format}", self.task),
                reason: if self.formats.is_empty() {
                    "its spec names no format for the result, nor a way to choose one".into()
                } else {
                    format!("its result comes as {}", list(&self.formats))
                },
            }),
            _ => Ok(()),
        }
    }
}

fn list(formats: &[ImageFormat]) -> String {
    let names: Vec<&str> = formats.iter().map(|f| f.extension()).collect();
    names.join(" or ")
}

/// The formats of a spec list (`["png", "webp"]`) that pixmill knows.
fn formats<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<ImageFormat> {
    names
        .into_iter()
        .filter_map(ImageFormat::from_extension)
        .collect()
}

/// What `provider` offers for `task`, if anything (whether or not it has credentials).
///
/// ```
/// use pixmill::Provider;
/// use pixmill::ops::{Task, offer};
///
/// if let Some(upscale) = offer(Provider::Hotpot, Task::Upscale) {
///     println!("Hotpot upscales by {:?}", upscale.factors);
/// }
/// ```
pub fn offer(provider: Provider, task: Task) -> Option<Offer> {
    entry(provider).and_then(|entry| (entry.offer)(task))
}

/// Every provider's offer for `task`, in the order [`Providers::run_any`] tries them.
pub fn offers(task: Task) -> Vec<Offer> {
    PROVIDERS
        .iter()
        .filter_map(|entry| (entry.offer)(task))
        .collect()
}

/// The task-by-provider table of the module docs, as Markdown, rendered from the specs'
/// facts.
pub fn table() -> String {
    let mut out =
        String::from("| task | provider | operation | options | input |\n|---|---|---|---|---|\n");
    for task in Task::ALL {
        for offer in offers(*task) {
            out.push_str(&format!(
                "| {task} | {} | {} | {} | {} |\n",
                offer.provider,
                offer.operation,
                offer.options(),
                offer.input()
            ));
        }
    }
    out
}

/// Where in a provider's work an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Checks, uploads and catalogue reads: nothing is charged yet.
    Preparing,
    /// The request that starts the (charged) work.
    Submitting,
    /// Waiting for a job the provider accepted.
    Waiting,
}

impl Stage {
    /// A stable snake_case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Preparing => "preparing",
            Stage::Submitting => "submitting",
            Stage::Waiting => "waiting",
        }
    }
}

/// Whether an attempt may have cost credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Charge {
    /// Certainly nothing was charged.
    Nothing,
    /// The provider may have charged (check the account).
    Possible,
    /// The provider charged (HitPaw takes coins when it accepts a job).
    Certain,
}

impl Charge {
    /// A stable snake_case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Charge::Nothing => "nothing",
            Charge::Possible => "possible",
            Charge::Certain => "certain",
        }
    }
}

/// A failed attempt of a task on one provider.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The provider tried.
    pub provider: Provider,
    /// Where it failed.
    pub stage: Stage,
    /// Whether it may have cost credits.
    pub charge: Charge,
    /// The provider's job or task id, when the provider accepted one.
    pub job_id: Option<String>,
    /// Why it failed.
    pub error: Error,
}

impl Attempt {
    /// Whether the next provider may be tried after this attempt: nothing was charged, and
    /// another provider may succeed (the failure is retryable, or a refusal of this provider
    /// only).
    pub fn allows_fallback(&self) -> bool {
        self.charge == Charge::Nothing && (self.error.is_retryable() || refused_here(&self.error))
    }
}

/// A refusal particular to the provider that raised it: its own input limits (input every
/// provider refuses is caught before any is tried), an option it lacks, missing credentials.
fn refused_here(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidInput(_) | Error::Unsupported { .. } | Error::Config(_)
    )
}

impl Serialize for Attempt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Attempt", 8)?;
        out.serialize_field("provider", self.provider.id())?;
        out.serialize_field("stage", self.stage.name())?;
        out.serialize_field("charge", self.charge.name())?;
        out.serialize_field("job_id", &self.job_id)?;
        out.serialize_field("kind", self.error.kind().name())?;
        out.serialize_field("status", &self.error.status())?;
        out.serialize_field("retryable", &self.error.is_retryable())?;
        out.serialize_field("message", &self.error.to_string())?;
        out.end()
    }
}

/// Credits a result cost.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Credits {
    /// How many.
    pub amount: f64,
    /// In which unit.
    pub unit: CreditUnit,
    /// How pixmill knows.
    pub basis: CreditBasis,
}

/// The unit a provider counts its price in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CreditUnit {
    /// HitPaw's coins.
    Coins,
    /// Credits (Segmind, Perfect).
    Credits,
}

/// Where a credit amount comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CreditBasis {
    /// The provider's answer reported it (HitPaw's `consume_coins`, Segmind's `x-cost`).
    Reported,
    /// The spec documents the price (`x-cost`).
    Documented,
}

impl Credits {
    pub(crate) fn reported(amount: f64, unit: CreditUnit) -> Credits {
        Credits {
            amount,
            unit,
            basis: CreditBasis::Reported,
        }
    }

    /// The documented price in credits of one result, when `costs` (a spec's `x-cost`) has one
    /// that applies to every request, or to a request whose `setting` (field, value) it names.
    #[cfg_attr(not(feature = "perfect"), allow(dead_code))]
    pub(crate) fn documented(
        costs: &[pixmill_spec::Cost],
        setting: Option<(&str, &str)>,
    ) -> Option<Credits> {
        let cost = match setting {
            Some((field, value)) => pixmill_spec::Cost::select(costs, field, value),
            None => costs.iter().find(|cost| cost.applies_to.is_none()),
        }?;
        Some(Credits {
            amount: cost.units,
            unit: CreditUnit::Credits,
            basis: CreditBasis::Documented,
        })
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Credits", 3)?;
        out.serialize_field("amount", &self.amount)?;
        out.serialize_field(
            "unit",
            match self.unit {
                CreditUnit::Coins => "coins",
                CreditUnit::Credits => "credits",
            },
        )?;
        out.serialize_field(
            "basis",
            match self.basis {
                CreditBasis::Reported => "reported",
                CreditBasis::Documented => "documented",
            },
        )?;
        out.end()
    }
}

/// The result of a task: the file, who made it, and what it cost when known.
///
/// Serializes (for reports) to the task, the provider, the job id, the credits, the result's
/// URL and format when known, and every failed attempt before it.
#[derive(Debug)]
pub struct TaskResult {
    task: Task,
    provider: Provider,
    output: Output,
    job_id: Option<String>,
    credits: Option<Credits>,
    failed_attempts: Vec<Attempt>,
}

impl TaskResult {
    /// The task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The provider that produced the result.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The result file.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// The result file, by value.
    pub fn into_output(self) -> Output {
        self.output
    }

    /// The provider's job or task id (HitPaw, Perfect) or request id (Segmind), when there is
    /// one.
    pub fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }

    /// What the result cost, when the provider reported it or its spec documents it.
    pub fn credits(&self) -> Option<Credits> {
        self.credits
    }

    /// The attempts on other providers that failed before this one succeeded.
    pub fn failed_attempts(&self) -> &[Attempt] {
        &self.failed_attempts
    }
}

impl Serialize for TaskResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("TaskResult", 7)?;
        out.serialize_field("task", self.task.id())?;
        out.serialize_field("provider", self.provider.id())?;
        out.serialize_field("job_id", &self.job_id)?;
        out.serialize_field("credits", &self.credits)?;
        out.serialize_field("url", &self.output.url_str())?;
        out.serialize_field("format", &self.output.format().map(ImageFormat::extension))?;
        out.serialize_field("failed_attempts", &self.failed_attempts)?;
        out.end()
    }
}

/// What a provider's implementation hands back on success.
pub(crate) struct Done {
    output: Output,
    job_id: Option<String>,
    credits: Option<Credits>,
}

/// What a provider's implementation hands back on failure.
pub(crate) struct Failure {
    error: Error,
    stage: Stage,
    charge: Charge,
    job_id: Option<String>,
}

impl Failure {
    /// A failure before the submission: nothing was charged.
    fn preparing(error: Error) -> Failure {
        Failure {
            error,
            stage: Stage::Preparing,
            charge: Charge::Nothing,
            job_id: None,
        }
    }

    /// A failure of the submission: charged only if the request may have been processed.
    fn submitting(error: Error) -> Failure {
        let charge = if may_have_been_processed(&error) {
            Charge::Possible
        } else {
            Charge::Nothing
        };
        Failure {
            error,
            stage: Stage::Submitting,
            charge,
            job_id: None,
        }
    }

    /// A failure while waiting for a task of a provider that charges only success (Perfect,
    /// both APIs): a task that ended in error cost nothing; one whose wait failed otherwise may
    /// still succeed, and then it is charged.
    #[cfg_attr(not(feature = "perfect"), allow(dead_code))]
    fn waiting_for_success(error: Error, job_id: &str) -> Failure {
        let charge = if matches!(error, Error::JobFailed { .. }) {
            Charge::Nothing
        } else {
            Charge::Possible
        };
        Failure::waiting(error, job_id, charge)
    }

    /// A failure while waiting for an accepted job.
    fn waiting(error: Error, job_id: &str, charge: Charge) -> Failure {
        Failure {
            error,
            stage: Stage::Waiting,
            charge,
            job_id: Some(job_id.to_string()),
        }
    }
}

/// Whether a failed submission may have been received and processed. Calls that spend credits
/// already turn every doubt into [`Error::OutcomeUnknown`]; a submission the provider
/// deduplicates (Perfect's run-task) is retried on 5xx and broken connections, so those stay
/// in doubt here.
fn may_have_been_processed(error: &Error) -> bool {
    match error {
        // Raised before sending.
        Error::InvalidInput(_)
        | Error::Unsupported { .. }
        | Error::Config(_)
        | Error::Io { .. } => false,
        // 429 and 503 mean the provider did not take the request; other 4xx are refusals.
        Error::Api { status, .. } => *status >= 500 && *status != 503,
        Error::Throttled { .. } => false,
        Error::Transport { source, .. } => !source.is_connect(),
        Error::Timeout { last_error, .. } => {
            last_error.as_deref().is_none_or(may_have_been_processed)
        }
        _ => true,
    }
}

/// How a provider's client runs tasks: one arm per task it offers, each calling the
/// provider's module.
pub(crate) trait Backend: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Done, Failure>>;
}

/// The client of one provider, for [`Providers::with`]. Every provider's `Client` converts
/// into one.
///
/// ```
/// use pixmill::ops::Providers;
///
/// let hotpot = pixmill::hotpot::Client::new("my-key")?;
/// let providers = Providers::new().with(hotpot);
/// # Ok::<(), pixmill::Error>(())
/// ```
#[derive(Clone)]
pub struct ProviderClient {
    backend: Arc<dyn Backend>,
}

impl ProviderClient {
    fn new(backend: impl Backend) -> ProviderClient {
        ProviderClient {
            backend: Arc::new(backend),
        }
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.backend.provider()
    }
}

impl fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProviderClient")
            .field(&self.provider())
            .finish()
    }
}

/// The providers a program can use, and the tasks they run. Cheap to clone.
///
/// Build it from the environment ([`Providers::from_env`]) or from clients
/// ([`Providers::with`]); see the [module docs](self) for the tasks and the fallback rule.
#[derive(Clone, Default)]
pub struct Providers {
    /// At most one client per provider, in the order of [`PROVIDERS`].
    clients: Vec<ProviderClient>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("configured", &self.configured())
            .finish()
    }
}

impl Providers {
    /// No provider yet; add clients with [`Providers::with`].
    pub fn new() -> Providers {
        Providers::default()
    }

    /// A client for every provider whose variables are set, each built by its module's
    /// `ClientBuilder::from_env()` (`HOTPOT_API_KEY`, `HITPAW_API_KEY`, `SEGMIND_API_KEY`;
    /// for Perfect, `PERFECT_API_KEY` for its V2 API or else `PERFECT_CLIENT_ID` with
    /// `PERFECT_CLIENT_SECRET` for the older one; each `*_BASE_URL` when set). A provider
    /// without its variables is left out; one whose variables are set but unusable (half of
    /// Perfect's pair, a malformed secret or URL) is an error. With `PERFECT_API_KEY` set,
    /// Perfect's pair is not read at all (see [Perfect's two APIs](self#perfects-two-apis)).
    pub fn from_env() -> Result<Providers, Error> {
        let mut providers = Providers::new();
        for entry in PROVIDERS {
            if let Some(client) = (entry.from_env)()? {
                providers = providers.with(client);
            }
        }
        Ok(providers)
    }

    /// Adds a provider's client, replacing any earlier one of the same provider. Perfect's two
    /// APIs count as one provider: a V2 client replaces an older one, and the other way round.
    pub fn with(mut self, client: impl Into<ProviderClient>) -> Providers {
        let client = client.into();
        let place = slot(client.provider());
        self.clients.retain(|c| slot(c.provider()) != place);
        self.clients.push(client);
        let position =
            |c: &ProviderClient| PROVIDERS.iter().position(|e| e.provider == c.provider());
        self.clients.sort_by_key(position);
        self
    }

    /// The providers with a client ([`Provider::PerfectV2`] for a client of Perfect's V2 API).
    pub fn configured(&self) -> Vec<Provider> {
        self.clients.iter().map(ProviderClient::provider).collect()
    }

    /// The providers with a client that offer `task`, in the order [`Providers::run_any`]
    /// tries them.
    pub fn available(&self, task: Task) -> Vec<Provider> {
        self.configured()
            .into_iter()
            .filter(|provider| offer(*provider, task).is_some())
            .collect()
    }

    fn client(&self, provider: Provider) -> Option<&ProviderClient> {
        self.clients.iter().find(|c| c.provider() == provider)
    }

    /// The provider that runs what is asked of `provider`: the configured one standing for it
    /// (Perfect's V2 for [`Provider::Perfect`]), or else `provider` itself.
    fn resolve(&self, provider: Provider) -> Provider {
        self.configured()
            .into_iter()
            .find(|configured| entry(*configured).and_then(|e| e.stands_for) == Some(provider))
            .unwrap_or(provider)
    }

    /// Runs `request` on `provider` alone; its failure is returned as it is.
    /// [`Provider::Perfect`] is whichever of Perfect's APIs has a client.
    pub async fn run_on(
        &self,
        provider: Provider,
        request: impl Into<Request>,
    ) -> Result<TaskResult, Error> {
        let request = request.into().checked().await?;
        self.attempt(self.resolve(provider), &request)
            .await
            .map_err(|attempt| attempt.error)
    }

    /// Runs `request` on the first provider of `preference` that succeeds, moving on only as
    /// the [module docs](self#falling-back) say. [`Provider::Perfect`] is whichever of
    /// Perfect's APIs has a client; a provider named twice is tried once. When none succeeds,
    /// the error is [`Error::TaskFailed`] with every attempt.
    pub async fn run(
        &self,
        request: impl Into<Request>,
        preference: &[Provider],
    ) -> Result<TaskResult, Error> {
        let request = request.into();
        let task = request.task();
        let request = request.checked().await?;
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut tried: Vec<Provider> = Vec::new();
        for provider in preference {
            let provider = self.resolve(*provider);
            if tried.contains(&provider) {
                continue;
            }
            tried.push(provider);
            match self.attempt(provider, &request).await {
                Ok(mut result) => {
                    result.failed_attempts = attempts;
                    return Ok(result);
                }
                Err(attempt) => {
                    let fallback = attempt.allows_fallback();
                    tracing::warn!(%task, provider = %attempt.provider, stage = attempt.stage.name(), error = %attempt.error, fallback, "task attempt failed");
                    attempts.push(attempt);
                    if !fallback {
                        break;
                    }
                }
            }
        }
        if attempts.is_empty() {
            return Err(self.nobody_offers(task));
        }
        Err(Error::TaskFailed { task, attempts })
    }

    /// Runs `request` on the providers of [`Providers::available`], in that order, as
    /// [`Providers::run`] does.
    pub async fn run_any(&self, request: impl Into<Request>) -> Result<TaskResult, Error> {
        let request = request.into();
        let preference = self.available(request.task());
        self.run(request, &preference).await
    }

    fn nobody_offers(&self, task: Task) -> Error {
        let able: Vec<String> = offers(task)
            .iter()
            .map(|offer| offer.provider.to_string())
            .collect();
        ConfigError::Invalid(format!(
            "no provider was given to {task}; it needs credentials for one of: {}",
            able.join(", ")
        ))
        .into()
    }

    /// One provider's attempt, with what went wrong and where.
    async fn attempt(&self, provider: Provider, request: &Request) -> Result<TaskResult, Attempt> {
        let task = request.task();
        let refused = |error: Error| Attempt {
            provider,
            stage: Stage::Preparing,
            charge: Charge::Nothing,
            job_id: None,
            error,
        };
        let Some(client) = self.client(provider) else {
            return Err(refused(
                ConfigError::Invalid(format!("{provider} has no credentials here")).into(),
            ));
        };
        if offer(provider, task).is_none() {
            return Err(refused(not_offered(provider, task)));
        }
        match client.backend.run(request).await {
            Ok(done) => Ok(TaskResult {
                task,
                provider,
                output: done.output,
                job_id: done.job_id,
                credits: done.credits,
                failed_attempts: Vec::new(),
            }),
            Err(failure) => Err(Attempt {
                provider,
                stage: failure.stage,
                charge: failure.charge,
                job_id: failure.job_id,
                error: failure.error,
            }),
        }
    }
}

/// The error for a task a provider does not offer.
fn not_offered(provider: Provider, task: Task) -> Error {
    Error::Unsupported {
        provider,
        option: task.to_string(),
        reason: "it offers no such operation".into(),
    }
}

/// [`not_offered`] as a failure, for the arms of a provider's `run`.
fn not_offered_failure(provider: Provider, task: Task) -> Failure {
    Failure::preparing(not_offered(provider, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(
        feature = "hotpot",
        feature = "hitpaw",
        feature = "segmind",
        feature = "perfect"
    ))]
    #[test]
    fn the_table_in_the_docs_is_the_one_the_facts_give() {
        let docs: String = include_str!("mod.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//!"))
            .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
            .collect();
        let table = table();
        assert!(
            docs.contains(&table),
            "the table in the module docs differs from the facts; it should read:\n{table}"
        );
    }

    #[test]
    fn every_task_is_named_and_parsed_back() {
        for task in Task::ALL {
            assert_eq!(task.id().parse::<Task>().unwrap(), *task);
        }
        assert_eq!(Task::RemoveBackground.to_string(), "remove background");
        assert!("sharpen".parse::<Task>().is_err());
    }

    #[test]
    fn only_failures_that_never_reached_the_provider_leave_the_charge_out() {
        let api = |status| Error::Api {
            provider: Provider::Perfect,
            operation: "run_task",
            status,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(!may_have_been_processed(&api(429)));
        assert!(!may_have_been_processed(&api(503)));
        assert!(!may_have_been_processed(&api(400)));
        assert!(may_have_been_processed(&api(500)));
        let timeout = |last: Option<Error>| Error::Timeout {
            provider: Provider::Perfect,
            operation: "run_task",
            elapsed: std::time::Duration::ZERO,
            deadline: std::time::Duration::ZERO,
            last_error: last.map(Box::new),
        };
        assert!(!may_have_been_processed(&timeout(Some(api(503)))));
        assert!(may_have_been_processed(&timeout(Some(api(502)))));
        assert!(may_have_been_processed(&timeout(None)));
        let unknown = Error::OutcomeUnknown {
            provider: Provider::Hotpot,
            operation: "supersize_image",
            status: Some(500),
            reason: String::new(),
            source: None,
        };
        assert!(may_have_been_processed(&unknown));
        assert_eq!(Failure::submitting(unknown).charge, Charge::Possible);
        assert_eq!(Failure::submitting(api(503)).charge, Charge::Nothing);
    }

    #[test]
    fn fallback_needs_no_charge_and_a_reason_to_hope() {
        let attempt = |error: Error, charge| Attempt {
            provider: Provider::Hitpaw,
            stage: Stage::Waiting,
            charge,
            job_id: None,
            error,
        };
        let unavailable = || Error::Api {
            provider: Provider::Hitpaw,
            operation: "task_status",
            status: 503,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(attempt(unavailable(), Charge::Nothing).allows_fallback());
        assert!(!attempt(unavailable(), Charge::Certain).allows_fallback());
        assert!(!attempt(unavailable(), Charge::Possible).allows_fallback());
        let limit = Error::from(InputError::Empty { field: "prompt" });
        assert!(attempt(limit, Charge::Nothing).allows_fallback());
        let refused = Error::Api {
            provider: Provider::Hitpaw,
            operation: "photo_enhancer",
            status: 401,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(!attempt(refused, Charge::Nothing).allows_fallback());
    }

    #[tokio::test]
    async fn input_every_provider_refuses_fails_before_any_is_tried() {
        let providers = Providers::new();
        for request in [
            Request::from(RemoveBackground::new(b"not an image".to_vec())),
            Request::from(Upscale::new(b"\x89PNG".to_vec(), 1)),
            Request::from(Generate::new("  ")),
        ] {
            let error = providers
                .run(request, &[Provider::Hotpot])
                .await
                .unwrap_err();
            assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        }
    }

    #[tokio::test]
    async fn no_provider_at_all_names_those_that_could() {
        let error = Providers::new()
            .run_any(Colorize::new(b"x".to_vec()))
            .await
            .unwrap_err();
        // The input is checked first: it is not an image.
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        let error = Providers::new()
            .run_any(Generate::new("a cat"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Configuration, "{error}");
        for offer in offers(Task::Generate) {
            assert!(
                error.to_string().contains(&offer.provider.to_string()),
                "{error}"
            );
        }
    }
}
