//! Streaming downloads of result files: to a path (atomically) or to any async writer, never
//! holding the whole file in memory.

use std::path::Path;

use futures_util::StreamExt as _;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::error::{Error, Provider};

/// Streams `url` into `writer`; returns the number of bytes written.
pub(crate) async fn to_writer<W: AsyncWrite + Unpin + ?Sized>(
    http: &reqwest::Client,
    provider: Provider,
    url: &str,
    writer: &mut W,
) -> Result<u64, Error> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|source| Error::Transport {
            provider,
            operation: "download",
            source,
        })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.bytes().await.unwrap_or_default();
        return Err(Error::Api {
            provider,
            operation: "download",
            status: status.as_u16(),
            code: None,
            message: crate::error::excerpt(&body),
            retry_after: None,
        });
    }
    copy_stream(provider, response.bytes_stream(), writer).await
}

/// Writes a stream of chunks to `writer`.
pub(crate) async fn copy_stream<S, W>(
    provider: Provider,
    stream: S,
    writer: &mut W,
) -> Result<u64, Error>
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut stream = std::pin::pin!(stream);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| Error::Transport {
            provider,
            operation: "download",
            source,
        })?;
        writer
            .write_all(&chunk)
            .await
            .map_err(|e| Error::io(None, e))?;
        written += chunk.len() as u64;
    }
    writer.flush().await.map_err(|e| Error::io(None, e))?;
    Ok(written)
}

/// Writes through a temporary file next to `path`, renamed into place only when complete, so a
/// failed download never leaves a truncated file behind.
pub(crate) async fn atomically<F, Fut>(path: &Path, fill: F) -> Result<u64, Error>
where
    F: FnOnce(tokio::fs::File) -> Fut,
    Fut: std::future::Future<Output = Result<u64, Error>>,
{
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{} is not a file path", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(".part");
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

/// Streams `url` to the file at `path`.
pub(crate) async fn to_path(
    http: &reqwest::Client,
    provider: Provider,
    url: &str,
    path: &Path,
) -> Result<u64, Error> {
    atomically(path, |mut file| async move {
        to_writer(http, provider, url, &mut file).await
    })
    .await
}
