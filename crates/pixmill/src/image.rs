//! Image inputs: one type for a path, bytes or a URL, checked against documented limits from
//! the file header alone, before anything is sent.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use pixmill_spec::InputLimits;

/// An image to send: a local file, bytes in memory, or (where the provider accepts one) a URL.
///
/// ```
/// use pixmill::ImageInput;
///
/// let from_disk = ImageInput::from_path("portrait.jpg");
/// let from_memory = ImageInput::from_bytes(vec![0x89, b'P', b'N', b'G']).with_file_name("a.png");
/// let remote = ImageInput::from_url("https://example.com/photo.jpg");
/// # let _ = (from_disk, from_memory, remote);
/// ```
#[derive(Clone)]
pub struct ImageInput {
    pub(crate) source: Source,
    pub(crate) file_name: Option<String>,
}

#[derive(Clone)]
pub(crate) enum Source {
    Path(PathBuf),
    Bytes(Bytes),
    Url(String),
}

impl ImageInput {
    /// An image file on disk; it is read when the request is made.
    pub fn from_path(path: impl AsRef<Path>) -> ImageInput {
        ImageInput {
            source: Source::Path(path.as_ref().to_path_buf()),
            file_name: None,
        }
    }

    /// Image bytes in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> ImageInput {
        ImageInput {
            source: Source::Bytes(bytes.into()),
            file_name: None,
        }
    }

    /// A publicly reachable URL the provider downloads itself. Only providers that take URLs
    /// accept this (HitPaw); its size and format cannot be checked in advance.
    pub fn from_url(url: impl Into<String>) -> ImageInput {
        ImageInput {
            source: Source::Url(url.into()),
            file_name: None,
        }
    }

    /// The file name to declare when uploading (defaults to the path's name, or
    /// `image.<ext>` for bytes).
    pub fn with_file_name(mut self, name: impl Into<String>) -> ImageInput {
        self.file_name = Some(name.into());
        self
    }

    /// The URL, when this input is one.
    pub fn url(&self) -> Option<&str> {
        match &self.source {
            Source::Url(url) => Some(url),
            _ => None,
        }
    }

    /// Reads the bytes (from disk for a path). URLs have none.
    pub(crate) async fn load(&self) -> Result<Loaded, InputError> {
        let bytes = match &self.source {
            Source::Bytes(bytes) => bytes.clone(),
            Source::Path(path) => {
                tokio::fs::read(path)
                    .await
                    .map(Bytes::from)
                    .map_err(|source| InputError::Read {
                        path: path.clone(),
                        source,
                    })?
            }
            Source::Url(url) => {
                return Err(InputError::Unsupported(format!(
                    "this operation needs the image itself, not a URL ({url})"
                )));
            }
        };
        let info = ImageInfo::read(&bytes)?;
        let file_name = self
            .file_name
            .clone()
            .unwrap_or_else(|| match &self.source {
                Source::Path(path) => path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("image.{}", info.format.extension())),
                _ => format!("image.{}", info.format.extension()),
            });
        Ok(Loaded {
            bytes,
            info,
            file_name,
        })
    }
}

/// A local input checked to be an image, without reading a file whole.
#[derive(Clone, Debug)]
pub(crate) enum Inspected {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file, and what its header says (`bytes` is its size).
    File(PathBuf, ImageInfo),
}

/// How much of a file is read to find its format.
const SNIFF: usize = 64;

impl ImageInput {
    /// Checks that the input is a recognisable image. A file is opened for its header and size
    /// only; its pixels stay on disk until they are streamed.
    pub(crate) async fn inspect(&self) -> Result<Inspected, InputError> {
        match &self.source {
            Source::Bytes(bytes) => {
                ImageInfo::read(bytes)?;
                Ok(Inspected::Bytes(bytes.clone()))
            }
            Source::Url(url) => Err(InputError::Unsupported(format!(
                "this operation needs the image itself, not a URL ({url})"
            ))),
            Source::Path(path) => {
                let read = |source| InputError::Read {
                    path: path.clone(),
                    source,
                };
                let bytes = tokio::fs::metadata(path).await.map_err(read)?.len();
                let header = {
                    use tokio::io::AsyncReadExt as _;
                    let mut file = tokio::fs::File::open(path).await.map_err(read)?;
                    let mut header = Vec::with_capacity(SNIFF);
                    (&mut file)
                        .take(SNIFF as u64)
                        .read_to_end(&mut header)
                        .await
                        .map_err(read)?;
                    header
                };
                let format = ImageFormat::detect(&header).ok_or(InputError::NotAnImage)?;
                // The dimensions may sit far into the file (after large metadata); the reader
                // seeks to them instead of loading the file.
                let owned = path.clone();
                let size = tokio::task::spawn_blocking(move || imagesize::size(owned))
                    .await
                    .map_err(|e| read(std::io::Error::other(e)))?
                    .map_err(|_| InputError::NotAnImage)?;
                let dimension = |n: usize| u32::try_from(n).map_err(|_| InputError::NotAnImage);
                Ok(Inspected::File(
                    path.clone(),
                    ImageInfo {
                        format,
                        width: dimension(size.width)?,
                        height: dimension(size.height)?,
                        bytes,
                    },
                ))
            }
        }
    }
}

impl ImageInput {
    /// Format, dimensions and size of a local input, read from its header alone (a file is
    /// not loaded whole), for checking it against limits with [`ImageInfo::check`] before
    /// deciding to send it. A URL has no local header and is refused.
    pub async fn info(&self) -> Result<ImageInfo, InputError> {
        match self.inspect().await? {
            Inspected::Bytes(bytes) => ImageInfo::read(&bytes),
            Inspected::File(_, info) => Ok(info),
        }
    }
}

impl fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ImageInput");
        match &self.source {
            Source::Path(path) => out.field("path", path),
            Source::Bytes(bytes) => out.field("bytes", &bytes.len()),
            Source::Url(url) => out.field("url", url),
        };
        out.field("file_name", &self.file_name).finish()
    }
}

impl From<&Path> for ImageInput {
    fn from(path: &Path) -> Self {
        ImageInput::from_path(path)
    }
}

impl From<PathBuf> for ImageInput {
    fn from(path: PathBuf) -> Self {
        ImageInput::from_path(path)
    }
}

impl From<&str> for ImageInput {
    /// A path, or a URL when it starts with `http://` or `https://`.
    fn from(text: &str) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            ImageInput::from_url(text)
        } else {
            ImageInput::from_path(text)
        }
    }
}

impl From<Vec<u8>> for ImageInput {
    fn from(bytes: Vec<u8>) -> Self {
        ImageInput::from_bytes(bytes)
    }
}

impl From<Bytes> for ImageInput {
    fn from(bytes: Bytes) -> Self {
        ImageInput::from_bytes(bytes)
    }
}

/// An input read into memory, with what its header says.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub bytes: Bytes,
    pub info: ImageInfo,
    pub file_name: String,
}

/// Image formats pixmill recognises from a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// GIF.
    Gif,
    /// BMP.
    Bmp,
    /// TIFF.
    Tiff,
    /// HEIF/HEIC.
    Heif,
    /// TGA.
    Tga,
}

impl ImageFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Heif => "heic",
            ImageFormat::Tga => "tga",
        }
    }

    /// Other extensions providers use for the same format.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            ImageFormat::Jpeg => &["jpg", "jpeg", "jfif"],
            ImageFormat::Tiff => &["tiff", "tif"],
            ImageFormat::Heif => &["heic", "heif"],
            other => std::slice::from_ref(match other {
                ImageFormat::Png => &"png",
                ImageFormat::Webp => &"webp",
                ImageFormat::Gif => &"gif",
                ImageFormat::Bmp => &"bmp",
                _ => &"tga",
            }),
        }
    }

    /// The format an extension names (`jpg`, `.JPEG`, `tif`), if any.
    pub fn from_extension(extension: &str) -> Option<ImageFormat> {
        ImageFormat::ALL
            .iter()
            .copied()
            .find(|format| format.matches(extension))
    }

    /// Every format pixmill recognises.
    pub const ALL: &'static [ImageFormat] = &[
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Webp,
        ImageFormat::Gif,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::Heif,
        ImageFormat::Tga,
    ];

    /// Whether a MIME type names this format (`image/jpg` and `image/jpeg` both name JPEG).
    pub fn matches_mime(self, mime: &str) -> bool {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        essence
            .strip_prefix("image/")
            .is_some_and(|subtype| self.matches(subtype))
            || essence.eq_ignore_ascii_case(self.mime())
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Heif => "image/heic",
            ImageFormat::Tga => "image/x-tga",
        }
    }

    /// Detects the format of image bytes from their header.
    pub fn detect(bytes: &[u8]) -> Option<ImageFormat> {
        use imagesize::ImageType;
        Some(match imagesize::image_type(bytes).ok()? {
            ImageType::Jpeg => ImageFormat::Jpeg,
            ImageType::Png => ImageFormat::Png,
            ImageType::Webp => ImageFormat::Webp,
            ImageType::Gif => ImageFormat::Gif,
            ImageType::Bmp => ImageFormat::Bmp,
            ImageType::Tiff => ImageFormat::Tiff,
            ImageType::Heif(_) => ImageFormat::Heif,
            ImageType::Tga => ImageFormat::Tga,
            _ => return None,
        })
    }

    /// Whether a limit set that names `extension` accepts this format.
    fn matches(self, extension: &str) -> bool {
        self.aliases()
            .iter()
            .any(|alias| alias.eq_ignore_ascii_case(extension.trim_start_matches('.')))
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// What a file header says about an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Its format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl ImageInfo {
    /// Reads format and dimensions from the header, without decoding the image.
    pub fn read(bytes: &[u8]) -> Result<ImageInfo, InputError> {
        let format = ImageFormat::detect(bytes).ok_or(InputError::NotAnImage)?;
        let size = imagesize::blob_size(bytes).map_err(|_| InputError::NotAnImage)?;
        let dimension = |n: usize| u32::try_from(n).map_err(|_| InputError::NotAnImage);
        Ok(ImageInfo {
            format,
            width: dimension(size.width)?,
            height: dimension(size.height)?,
            bytes: bytes.len() as u64,
        })
    }

    /// Width × height in megapixels.
    pub fn megapixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) / 1e6
    }

    /// Checks this image against a documented limit set (an operation's `limits` from the
    /// generated crates, or [`crate::ops::Offer::limits`]), the same check every request makes
    /// before sending; `scale` is the output's scale factor per side (for output-size limits)
    /// and `operation` names the operation in the error.
    ///
    /// ```
    /// use pixmill::ImageInfo;
    /// use pixmill::raw::spec::InputLimits;
    ///
    /// // The header of a 4000×2000 PNG.
    /// let header = [
    ///     0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
    ///     0x44, 0x52, 0x00, 0x00, 0x0F, 0xA0, 0x00, 0x00, 0x07, 0xD0, 0x08, 0x02, 0x00, 0x00,
    ///     0x00,
    /// ];
    /// let info = ImageInfo::read(&header)?;
    /// let small = InputLimits { max_long_side: Some(1024), ..InputLimits::NONE };
    /// assert!(info.check("enhance", &small, 1).is_err());
    /// assert!(info.check("enhance", &InputLimits::NONE, 1).is_ok());
    /// # Ok::<(), pixmill::InputError>(())
    /// ```
    pub fn check(
        &self,
        operation: &'static str,
        limits: &InputLimits,
        scale: u32,
    ) -> Result<(), InputError> {
        if !limits.formats.is_empty() && !limits.formats.iter().any(|f| self.format.matches(f)) {
            return Err(InputError::Format {
                operation,
                found: self.format,
                accepted: limits.formats.join(", "),
            });
        }
        if let Some(limit) = limits.max_bytes
            && self.bytes > limit
        {
            return Err(InputError::TooLarge {
                operation,
                bytes: self.bytes,
                limit,
            });
        }
        let long = self.width.max(self.height);
        let short = self.width.min(self.height);
        if let Some(limit) = limits.max_long_side
            && long > limit
        {
            return Err(InputError::Side {
                operation,
                side: "long",
                actual: long,
                limit,
                bound: "at most",
            });
        }
        if let Some(limit) = limits.max_short_side
            && short > limit
        {
            return Err(InputError::Side {
                operation,
                side: "short",
                actual: short,
                limit,
                bound: "at most",
            });
        }
        if let Some(limit) = limits.min_short_side
            && short < limit
        {
            return Err(InputError::Side {
                operation,
                side: "short",
                actual: short,
                limit,
                bound: "at least",
            });
        }
        if let Some(limit) = limits.max_megapixels
            && self.megapixels() > limit
        {
            return Err(InputError::Megapixels {
                operation,
                what: "input",
                width: self.width,
                height: self.height,
                actual: self.megapixels(),
                limit,
            });
        }
        let output = self.megapixels() * f64::from(scale) * f64::from(scale);
        if let Some(limit) = limits.max_output_megapixels
            && output > limit
        {
            return Err(InputError::Megapixels {
                operation,
                what: "output",
                width: self.width * scale,
                height: self.height * scale,
                actual: output,
                limit,
            });
        }
        Ok(())
    }
}

/// Input that breaks a documented limit or cannot be used; nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The bytes are not an image pixmill can recognise from its header.
    #[error("not a recognisable image (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIF or TGA)")]
    NotAnImage,
    /// The format is not one the operation accepts.
    #[error("{operation}: {found} images are not accepted; accepted formats: {accepted}")]
    Format {
        /// The operation.
        operation: &'static str,
        /// The format found.
        found: ImageFormat,
        /// The documented formats.
        accepted: String,
    },
    /// The file is larger than documented.
    #[error("{operation}: the file is {bytes} bytes, {} over the limit of {limit} bytes", bytes - limit)]
    TooLarge {
        /// The operation.
        operation: &'static str,
        /// File size.
        bytes: u64,
        /// Documented maximum.
        limit: u64,
    },
    /// A side is outside its documented bound.
    #[error("{operation}: the {side} side is {actual} px but must be {bound} {limit} px (off by {} px)", actual.abs_diff(*limit))]
    Side {
        /// The operation.
        operation: &'static str,
        /// `long` or `short`.
        side: &'static str,
        /// The side's length.
        actual: u32,
        /// The documented bound.
        limit: u32,
        /// `at most` or `at least`.
        bound: &'static str,
    },
    /// Too many megapixels in the input or the output it would make.
    #[error("{operation}: the {what} would be {width}x{height} = {actual:.1} MP, {:.1} MP over the limit of {limit} MP", actual - limit)]
    Megapixels {
        /// The operation.
        operation: &'static str,
        /// `input` or `output`.
        what: &'static str,
        /// Width of that image.
        width: u32,
        /// Height of that image.
        height: u32,
        /// Its megapixels.
        actual: f64,
        /// The documented maximum.
        limit: f64,
    },
    /// A parameter is outside its documented range or set.
    #[error("{field} must be {expected}, got {actual}")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// What is allowed.
        expected: String,
        /// What was given.
        actual: String,
    },
    /// The operation cannot take this kind of input.
    #[error("{0}")]
    Unsupported(String),
    /// A required text or list is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The parameter.
        field: &'static str,
    },
    /// The generated types refused a value (a bound the spec states).
    #[error("{0}")]
    Request(String),
    /// A local file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl InputError {
    /// "`field` must be from `min` to `max`, got `actual` (`n` above the maximum)".
    pub(crate) fn range(field: &'static str, min: i64, max: i64, actual: i64) -> InputError {
        let by = if actual < min {
            format!("{} below the minimum", min.abs_diff(actual))
        } else {
            format!("{} above the maximum", actual.abs_diff(max))
        };
        InputError::OutOfRange {
            field,
            expected: format!("from {min} to {max}"),
            actual: format!("{actual} ({by})"),
        }
    }
}

/// Checks that `actual` lies within the documented range.
pub(crate) fn check_range(
    field: &'static str,
    min: i64,
    max: i64,
    actual: i64,
) -> Result<(), InputError> {
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(InputError::range(field, min, max, actual))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x0F, 0xA0, 0x00, 0x00, 0x07, 0xD0, 0x08, 0x02, 0x00, 0x00, 0x00,
    ];

    fn limits() -> InputLimits {
        InputLimits {
            formats: &["jpg", "png"],
            max_bytes: Some(10),
            max_long_side: Some(4096),
            max_megapixels: Some(7.0),
            max_output_megapixels: Some(10.0),
            ..InputLimits::NONE
        }
    }

    #[test]
    fn reads_the_header_only() {
        // A PNG header claiming 4000×2000 with no pixel data at all.
        let info = ImageInfo::read(PNG_1X1).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Png, 4000, 2000)
        );
        assert!(matches!(
            ImageInfo::read(b"hello"),
            Err(InputError::NotAnImage)
        ));
    }

    #[test]
    fn each_limit_says_which_and_by_how_much() {
        let info = ImageInfo::read(PNG_1X1).unwrap();
        let too_big = info.check("op", &limits(), 1).unwrap_err().to_string();
        assert_eq!(
            too_big,
            "op: the file is 29 bytes, 19 over the limit of 10 bytes"
        );
        let roomy = InputLimits {
            max_bytes: None,
            ..limits()
        };
        let megapixels = info.check("op", &roomy, 1).unwrap_err().to_string();
        assert_eq!(
            megapixels,
            "op: the input would be 4000x2000 = 8.0 MP, 1.0 MP over the limit of 7 MP"
        );
        let output = InputLimits {
            max_megapixels: None,
            ..roomy
        };
        let message = info.check("op", &output, 2).unwrap_err().to_string();
        assert!(
            message.contains("output would be 8000x4000 = 32.0 MP, 22.0 MP over"),
            "{message}"
        );
        let long = InputLimits {
            max_long_side: Some(1024),
            max_output_megapixels: None,
            ..output
        };
        assert_eq!(
            info.check("op", &long, 1).unwrap_err().to_string(),
            "op: the long side is 4000 px but must be at most 1024 px (off by 2976 px)"
        );
        let jpeg_only = InputLimits {
            formats: &["jpeg"],
            ..InputLimits::NONE
        };
        assert_eq!(
            info.check("op", &jpeg_only, 1).unwrap_err().to_string(),
            "op: png images are not accepted; accepted formats: jpeg"
        );
    }

    #[test]
    fn jpeg_aliases_match() {
        assert!(ImageFormat::Jpeg.matches("jpeg"));
        assert!(ImageFormat::Jpeg.matches(".JFIF"));
        assert!(!ImageFormat::Png.matches("jpg"));
    }
}
