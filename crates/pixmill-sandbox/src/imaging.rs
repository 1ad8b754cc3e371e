//! The image toolbox behind the sandbox's HTTP handlers.
//!
//! Every provider endpoint the sandbox emulates answers with *real but cheap*
//! image work, so that callers can assert on the results: an upscaler really
//! doubles the size, background removal really yields a transparent RGBA
//! image, colour extraction returns the image's actual dominant colours. The
//! AI features themselves are not imitated: each maps onto one of a few plain
//! transforms (scale, cut-out, tint, mask fill, mosaic).
//!
//! Everything here is pure, synchronous and deterministic (same input, same
//! bytes out), and must not panic on anything a request can carry: zero-sized
//! and 1×1 images, empty slices and absurd sizes or factors. Absurd sizes are
//! clamped to the limits below rather than allowed to exhaust memory; each
//! function documents how.

mod analyse;
mod codec;
mod color;
mod edit;
mod generate;

pub use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, RgbaImage};

pub use analyse::{MAX_DOMINANT_COLORS, dominant_colors, palette_from_hints};
pub use codec::{Probe, decode, encode, extension, mime, probe};
pub use edit::{colorize, pixelate, remove_background, remove_object, scale, tint};
pub use generate::{
    GRAPHIC_SIDE, MAX_GIF_FRAMES, MAX_GIF_PIXELS, MAX_GRAPHIC_IMAGES, MAX_GRAPHIC_TEXTS,
    animated_gif, render_graphic, text_to_image,
};

/// Largest width or height [`decode`] accepts and [`scale`] produces.
pub const MAX_SIDE: u32 = 16_384;

/// Largest pixel count [`scale`] produces (64 Mpx, 256 MiB as RGBA).
pub const MAX_PIXELS: u64 = 1 << 26;

/// Largest width or height of a generated image or GIF
/// ([`text_to_image`], [`animated_gif`]); larger requests are clamped.
pub const MAX_GENERATED_SIDE: u32 = 4096;

/// Why an image could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagingError {
    /// The bytes are not an image in any format we can recognise.
    NotAnImage,
    /// A recognised image format (or an image too large) that this build
    /// cannot handle; the string names it.
    UnsupportedFormat(String),
    /// Encoding failed, e.g. a zero-sized image or one too large for the
    /// target format; the string says why.
    Encode(String),
}

impl std::fmt::Display for ImagingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnImage => f.write_str("the data is not a recognisable image"),
            Self::UnsupportedFormat(what) => write!(f, "unsupported image format: {what}"),
            Self::Encode(why) => write!(f, "could not encode the image: {why}"),
        }
    }
}

impl std::error::Error for ImagingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_their_cause() {
        assert_eq!(
            ImagingError::UnsupportedFormat("avif".into()).to_string(),
            "unsupported image format: avif"
        );
        assert!(
            ImagingError::Encode("zero-sized".into())
                .to_string()
                .contains("zero-sized")
        );
        assert_ne!(ImagingError::NotAnImage.to_string(), "");
    }
}
