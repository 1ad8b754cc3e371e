//! Results: one type for a file held in memory, at a URL, or still streaming from the provider,
//! with the same verbs everywhere.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::header::{CONTENT_RANGE, RANGE};
use tokio::io::{AsyncSeekExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::client::Core;
use crate::error::{Error, Provider};
use crate::image::{ImageFormat, ImageInfo};
use crate::retry::Safety;

/// How far a transfer has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes transferred so far.
    pub done: u64,
    /// The size, when known in advance.
    pub total: Option<u64>,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

enum Source {
    Memory(Bytes),
    Url {
        url: String,
        core: Core,
    },
    /// The answer's body itself; it can be read once.
    Stream(Mutex<Option<BoxStream<'static, reqwest::Result<Bytes>>>>),
}

/// A result file: in memory, at a URL, or streaming from the provider.
///
/// Every provider's results offer the same verbs: [`Output::bytes`], [`Output::save`] (written
/// in full or not at all) and [`Output::write_to`]. Files at a URL are downloaded as a stream,
/// never held whole in memory by `save` and `write_to`, and a download that breaks is resumed
/// (or, where the server cannot resume, restarted) like any other read. A streaming result can
/// be read once: its generation was charged when the answer arrived, so it cannot be fetched
/// again.
///
/// ```no_run
/// # async fn demo(output: pixmill::Output) -> pixmill::Result<()> {
/// let output = output.on_progress(|p| eprintln!("{} of {:?} bytes", p.done, p.total));
/// output.save("result.png").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Output {
    provider: Provider,
    source: Arc<Source>,
    size: Option<u64>,
    format: Option<ImageFormat>,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Output");
        out.field("provider", &self.provider);
        match &*self.source {
            Source::Memory(bytes) => out.field("bytes", &bytes.len()),
            Source::Url { url, .. } => out.field("url", url),
            Source::Stream(_) => out.field("stream", &true),
        };
        out.field("format", &self.format).finish()
    }
}

impl Output {
    pub(crate) fn memory(provider: Provider, bytes: Bytes) -> Output {
        Output {
            provider,
            size: Some(bytes.len() as u64),
            format: ImageFormat::detect(&bytes),
            source: Arc::new(Source::Memory(bytes)),
            progress: None,
        }
    }

    pub(crate) fn url(core: &Core, url: String) -> Output {
        let format = format_from_url(&url);
        Output {
            provider: core.provider(),
            source: Arc::new(Source::Url {
                url,
                core: core.clone(),
            }),
            size: None,
            format,
            progress: None,
        }
    }

    pub(crate) fn stream(
        provider: Provider,
        stream: BoxStream<'static, reqwest::Result<Bytes>>,
        size: Option<u64>,
    ) -> Output {
        Output {
            provider,
            source: Arc::new(Source::Stream(Mutex::new(Some(stream)))),
            size,
            format: None,
            progress: None,
        }
    }

    /// The format, when the provider said it some other way than by the bytes or the URL (a
    /// `Content-Type` header).
    pub(crate) fn with_format(mut self, format: Option<ImageFormat>) -> Output {
        if format.is_some() {
            self.format = format;
        }
        self
    }

    /// Calls `report` as the transfer of [`Output::save`], [`Output::write_to`] or
    /// [`Output::bytes`] advances.
    pub fn on_progress(mut self, report: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(report));
        self
    }

    /// The provider that produced it.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Where the file can be downloaded, when it is at a URL.
    pub fn url_str(&self) -> Option<&str> {
        match &*self.source {
            Source::Url { url, .. } => Some(url),
            _ => None,
        }
    }

    /// The format, when known from the bytes or the URL.
    pub fn format(&self) -> Option<ImageFormat> {
        self.format
    }

    /// Format and dimensions from the file header, for results in memory.
    pub fn info(&self) -> Option<ImageInfo> {
        match &*self.source {
            Source::Memory(bytes) => ImageInfo::read(bytes).ok(),
            _ => None,
        }
    }

    /// The bytes, when the result is held in memory.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &*self.source {
            Source::Memory(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The whole file in memory (downloaded first when it is at a URL).
    pub async fn bytes(&self) -> Result<Bytes, Error> {
        if let Source::Memory(bytes) = &*self.source {
            self.report(bytes.len() as u64, Some(bytes.len() as u64));
            return Ok(bytes.clone());
        }
        let capacity = self.size.unwrap_or(0).min(64 << 20);
        let mut buffer = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        self.write_to(&mut buffer).await?;
        Ok(Bytes::from(buffer))
    }

    /// Writes the file into `writer`; returns its size.
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        writer: &mut W,
    ) -> Result<u64, Error> {
        // A writer cannot be rewound: a download that cannot resume fails instead.
        self.write_into(writer, async |_: &mut W| Ok(false)).await
    }

    /// Writes the file to `path` through a temporary file renamed into place, so the file is
    /// written in full or not at all; returns its size.
    pub async fn save(&self, path: impl AsRef<Path>) -> Result<u64, Error> {
        atomically(path.as_ref(), |mut file| async move {
            // A download that cannot resume starts the file over.
            let written = self
                .write_into(&mut file, async |file: &mut tokio::fs::File| {
                    file.set_len(0).await?;
                    file.seek(std::io::SeekFrom::Start(0)).await?;
                    Ok(true)
                })
                .await?;
            file.sync_all().await.map_err(|e| Error::io(None, e))?;
            Ok(written)
        })
        .await
    }

    async fn write_into<W, R>(&self, writer: &mut W, restart: R) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
        R: AsyncFnMut(&mut W) -> std::io::Result<bool>,
    {
        let written = match &*self.source {
            Source::Memory(bytes) => {
                writer
                    .write_all(bytes)
                    .await
                    .map_err(|e| Error::io(None, e))?;
                self.report(bytes.len() as u64, Some(bytes.len() as u64));
                bytes.len() as u64
            }
            Source::Url { url, core } => self.download(core, url, writer, restart).await?,
            Source::Stream(stream) => {
                let stream = stream
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or_else(|| Error::MissingResult {
                        provider: self.provider,
                        job_id: String::new(),
                        what: "this streamed result was already read".into(),
                    })?;
                self.copy(stream, writer, 0, self.size)
                    .await
                    .map_err(|(error, _)| match error {
                        // The generation was charged when the answer arrived.
                        Error::Transport {
                            provider,
                            operation,
                            source,
                        } => Error::OutcomeUnknown {
                            provider,
                            operation,
                            status: Some(200),
                            reason: format!("the answer broke off while it was read ({source})"),
                            source: Some(source),
                        },
                        other => other,
                    })?
            }
        };
        writer.flush().await.map_err(|e| Error::io(None, e))?;
        Ok(written)
    }

    fn report(&self, done: u64, total: Option<u64>) {
        if let Some(report) = &self.progress {
            report(Progress { done, total });
        }
    }

    /// Downloads `url` into `writer`, resuming with `Range` after a broken transfer. When the
    /// server does not resume, `restart` may rewind the writer (files) or refuse (other
    /// writers, which then fail).
    async fn download<W, R>(
        &self,
        core: &Core,
        url: &str,
        writer: &mut W,
        mut restart: R,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
        R: AsyncFnMut(&mut W) -> std::io::Result<bool>,
    {
        let mut written = 0u64;
        let mut breaks = 0u32;
        loop {
            let from = written;
            let response = core
                .send("download", Safety::Idempotent, || {
                    let request = core.http().get(url);
                    if from > 0 {
                        request.header(RANGE, format!("bytes={from}-"))
                    } else {
                        request
                    }
                })
                .await?;
            if from > 0 && !resumes_at(&response, from) {
                if !restart(writer).await.map_err(|e| Error::io(None, e))? {
                    return Err(Error::MissingResult {
                        provider: self.provider,
                        job_id: String::new(),
                        what: format!(
                            "the download broke off after {from} bytes and the server cannot resume it"
                        ),
                    });
                }
                written = 0;
            }
            let total = response.content_length().map(|n| n + written);
            match self
                .copy(response.bytes_stream().boxed(), writer, written, total)
                .await
            {
                Ok(done) => return Ok(done),
                Err((Error::Transport { source, .. }, done))
                    if breaks + 1 < core.retry().max_attempts() =>
                {
                    breaks += 1;
                    tracing::warn!(provider = %self.provider, error = %source, done, "download broke off; resuming");
                    written = done;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Copies a body into `writer`, counting from `start`; on failure, also says how far it got.
    async fn copy<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        mut stream: BoxStream<'static, reqwest::Result<Bytes>>,
        writer: &mut W,
        start: u64,
        total: Option<u64>,
    ) -> Result<u64, (Error, u64)> {
        let mut done = start;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| {
                (
                    Error::Transport {
                        provider: self.provider,
                        operation: "download",
                        source,
                    },
                    done,
                )
            })?;
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| (Error::io(None, e), done))?;
            done += chunk.len() as u64;
            self.report(done, total);
        }
        if let Some(total) = total
            && done < total
        {
            // The connection closed cleanly before the announced length: a cut body.
            return Err((
                Error::MissingResult {
                    provider: self.provider,
                    job_id: String::new(),
                    what: format!("the download ended after {done} of {total} bytes"),
                },
                done,
            ));
        }
        Ok(done)
    }
}

/// Whether a ranged answer continues exactly at `from`.
fn resumes_at(response: &reqwest::Response, from: u64) -> bool {
    response.status() == reqwest::StatusCode::PARTIAL_CONTENT
        && response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|range| range.starts_with(&format!("bytes {from}-")))
}

/// The format a URL's path names by its extension.
fn format_from_url(url: &str) -> Option<ImageFormat> {
    let path = reqwest::Url::parse(url).ok()?.path().to_string();
    let extension = Path::new(&path).extension()?.to_str()?;
    ImageFormat::from_extension(extension)
}

/// Writes through a temporary file next to `path`, renamed into place only when complete, so a
/// failure never leaves a truncated file behind.
pub(crate) async fn atomically<F, Fut>(path: &Path, fill: F) -> Result<u64, Error>
where
    F: FnOnce(tokio::fs::File) -> Fut,
    Fut: std::future::Future<Output = Result<u64, Error>>,
{
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(
            path.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.part", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| Error::io(temp.clone(), e))?;
    match fill(file).await {
        Ok(written) => {
            tokio::fs::rename(&temp, path)
                .await
                .map_err(|e| Error::io(path.to_path_buf(), e))?;
            Ok(written)
        }
        Err(error) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(match error {
                Error::Io { path: None, source } => Error::io(path.to_path_buf(), source),
                other => other,
            })
        }
    }
}
