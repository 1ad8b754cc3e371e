//! Reading and writing image files.

use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};

use super::{ImagingError, MAX_SIDE};

/// What [`probe`] learns from an image's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Format recognised from the magic bytes.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Format and size of an encoded image, read from its header without
/// decoding the pixels, so it is cheap even for large uploads.
pub fn probe(bytes: &[u8]) -> Result<Probe, ImagingError> {
    let reader = reader(bytes)?;
    let format = reader.format().ok_or(ImagingError::NotAnImage)?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| read_error(e, format))?;
    Ok(Probe {
        format,
        width,
        height,
    })
}

/// Decodes an image, guessing its format from its content (not from any
/// name or MIME type a client claims).
///
/// Images wider or taller than [`MAX_SIDE`] are refused as
/// [`ImagingError::UnsupportedFormat`], so that a small compressed upload
/// cannot make the sandbox allocate gigabytes.
pub fn decode(bytes: &[u8]) -> Result<(DynamicImage, ImageFormat), ImagingError> {
    let mut reader = reader(bytes)?;
    let format = reader.format().ok_or(ImagingError::NotAnImage)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| read_error(e, format))?;
    Ok((image, format))
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, ImagingError> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImagingError::NotAnImage)
}

fn read_error(error: ImageError, format: ImageFormat) -> ImagingError {
    match error {
        ImageError::Unsupported(_) => ImagingError::UnsupportedFormat(extension(format).into()),
        ImageError::Limits(_) => ImagingError::UnsupportedFormat(format!(
            "{} larger than {MAX_SIDE}×{MAX_SIDE} or too large to decode",
            extension(format)
        )),
        _ => ImagingError::NotAnImage,
    }
}

/// Encodes `image` as PNG, JPEG (quality 90, alpha dropped), lossless WebP,
/// BMP, TIFF or (single-frame) GIF. Other formats are
/// [`ImagingError::UnsupportedFormat`]; zero-sized images cannot be encoded
/// by any of them and give [`ImagingError::Encode`].
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, ImagingError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(ImagingError::Encode(format!(
            "a {}×{} image has no pixels",
            image.width(),
            image.height()
        )));
    }
    let mut out = Cursor::new(Vec::new());
    let alpha = image.color().has_alpha();
    let result = match format {
        ImageFormat::Png => png_compatible(image).write_to(&mut out, ImageFormat::Png),
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
        }
        ImageFormat::WebP => {
            eight_bit(image, alpha).write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
        ImageFormat::Bmp | ImageFormat::Tiff => eight_bit(image, alpha).write_to(&mut out, format),
        ImageFormat::Gif => {
            // Speed 10 keeps NeuQuant fast for photos; images with at most 256
            // colours get an exact palette whatever the speed.
            let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
            encoder.encode_frame(image::Frame::new(image.to_rgba8()))
        }
        other => return Err(ImagingError::UnsupportedFormat(extension(other).into())),
    };
    result.map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// PNG stores 8- and 16-bit integers; float images become 16-bit.
fn png_compatible(image: &DynamicImage) -> std::borrow::Cow<'_, DynamicImage> {
    match image {
        DynamicImage::ImageRgb32F(_) => {
            std::borrow::Cow::Owned(DynamicImage::ImageRgb16(image.to_rgb16()))
        }
        DynamicImage::ImageRgba32F(_) => {
            std::borrow::Cow::Owned(DynamicImage::ImageRgba16(image.to_rgba16()))
        }
        _ => std::borrow::Cow::Borrowed(image),
    }
}

/// The 8-bit RGB(A) layout every other encoder accepts.
fn eight_bit(image: &DynamicImage, alpha: bool) -> DynamicImage {
    if alpha {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    }
}

/// Conventional file extension, without the dot ("jpg" for JPEG).
pub fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Tiff => "tiff",
        other => other.extensions_str().first().copied().unwrap_or("bin"),
    }
}

/// MIME type, `application/octet-stream` when the format has none.
pub fn mime(format: ImageFormat) -> &'static str {
    format.to_mime_type()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn sample_rgb() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(33, 17, |x, y| {
            Rgb([(x * 7) as u8, (y * 13) as u8, ((x + y) * 3) as u8])
        }))
    }

    #[test]
    fn probe_reads_format_and_size() {
        let img = sample_rgb();
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::WebP,
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ] {
            let bytes = encode(&img, format).expect("encodes");
            let probe = probe(&bytes).expect("probes");
            assert_eq!(
                probe,
                Probe {
                    format,
                    width: 33,
                    height: 17
                },
                "{format:?}"
            );
        }
    }

    #[test]
    fn lossless_formats_round_trip_exactly() {
        let img = sample_rgb();
        for format in [
            ImageFormat::Png,
            ImageFormat::WebP,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ] {
            let bytes = encode(&img, format).expect("encodes");
            let (back, got) = decode(&bytes).expect("decodes");
            assert_eq!(got, format);
            assert_eq!(back.to_rgb8(), img.to_rgb8(), "{format:?}");
        }
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(8, 8, |x, _| {
            Rgba([200, 10, 10, (x * 30) as u8])
        }));
        let (back, _) =
            decode(&encode(&rgba, ImageFormat::Png).expect("encodes")).expect("decodes");
        assert_eq!(back.to_rgba8(), rgba.to_rgba8());
    }

    #[test]
    fn lossy_formats_round_trip_approximately() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 16, Rgb([200, 40, 90])));
        for format in [ImageFormat::Jpeg, ImageFormat::Gif] {
            let (back, got) = decode(&encode(&img, format).expect("encodes")).expect("decodes");
            assert_eq!(got, format);
            assert_eq!((back.width(), back.height()), (16, 16));
            let p = back.to_rgb8().get_pixel(8, 8).0;
            for (a, b) in p.iter().zip([200u8, 40, 90]) {
                assert!(a.abs_diff(b) <= 6, "{format:?}: {p:?}");
            }
        }
    }

    #[test]
    fn jpeg_drops_alpha_and_float_png_works() {
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 4])));
        assert!(decode(&encode(&rgba, ImageFormat::Jpeg).expect("encodes")).is_ok());
        let float =
            DynamicImage::ImageRgb32F(image::Rgb32FImage::from_pixel(3, 3, Rgb([0.5, 0.25, 1.0])));
        let (back, _) =
            decode(&encode(&float, ImageFormat::Png).expect("encodes")).expect("decodes");
        assert_eq!(back.width(), 3);
    }

    #[test]
    fn garbage_and_edge_cases_are_errors_not_panics() {
        let noise: Vec<u8> = (0..512u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(decode(&noise).err(), Some(ImagingError::NotAnImage));
        assert_eq!(probe(&noise).err(), Some(ImagingError::NotAnImage));
        assert_eq!(decode(&[]).err(), Some(ImagingError::NotAnImage));
        // A PNG signature followed by junk is recognised but not decodable.
        let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
        broken.extend_from_slice(&noise[..40]);
        assert_eq!(decode(&broken).err(), Some(ImagingError::NotAnImage));
        let empty = DynamicImage::new_rgb8(0, 4);
        assert!(matches!(
            encode(&empty, ImageFormat::Png),
            Err(ImagingError::Encode(_))
        ));
        assert!(matches!(
            encode(&sample_rgb(), ImageFormat::Ico),
            Err(ImagingError::UnsupportedFormat(_))
        ));
        // Magic bytes of a format this build cannot read.
        let qoi = b"qoif\x00\x00\x00\x10\x00\x00\x00\x10\x04\x00".to_vec();
        assert!(matches!(
            probe(&qoi),
            Err(ImagingError::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn oversized_dimensions_are_refused() {
        // A valid 20000×1 PNG is tiny on the wire but over MAX_SIDE.
        let wide = DynamicImage::new_luma8(MAX_SIDE + 1, 1);
        let bytes = encode(&wide, ImageFormat::Png).expect("encodes");
        assert_eq!(probe(&bytes).map(|p| p.width), Ok(MAX_SIDE + 1));
        assert!(matches!(
            decode(&bytes),
            Err(ImagingError::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn extensions_and_mimes() {
        assert_eq!(extension(ImageFormat::Png), "png");
        assert_eq!(extension(ImageFormat::Jpeg), "jpg");
        assert_eq!(extension(ImageFormat::WebP), "webp");
        assert_eq!(extension(ImageFormat::Gif), "gif");
        assert_eq!(mime(ImageFormat::Png), "image/png");
        assert_eq!(mime(ImageFormat::Jpeg), "image/jpeg");
        assert_eq!(mime(ImageFormat::WebP), "image/webp");
        assert_eq!(mime(ImageFormat::Gif), "image/gif");
    }
}
