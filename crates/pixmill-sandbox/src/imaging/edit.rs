//! Transforms of an input picture: a handful of cheap, deterministic operations whose effect a
//! test can see (a size that doubled, a transparent background, colour where there was none, a
//! masked area filled in). The emulated features map onto them; none imitates a model.
//!
//! They work on 8-bit copies and hand back RGB or RGBA following the input, so deeper inputs
//! (16-bit, float) come back as 8-bit.

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, Luma, RgbImage, RgbaImage};

use super::color::mix;
use super::{MAX_PIXELS, MAX_SIDE};

/// Upscales by exactly `factor` in both directions (bilinear).
///
/// `factor` 0 is treated as 1. A factor that would exceed [`MAX_SIDE`] per side or
/// [`MAX_PIXELS`] in total is lowered to the largest that fits (at least 1), so absurd requests
/// return a capped image instead of exhausting memory.
pub fn scale(image: &DynamicImage, factor: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let factor = capped_factor(w, h, factor);
    let (nw, nh) = (w.saturating_mul(factor), h.saturating_mul(factor));
    if w == 0 || h == 0 {
        return DynamicImage::new(nw, nh, image.color());
    }
    image.resize_exact(nw, nh, FilterType::Triangle)
}

fn capped_factor(w: u32, h: u32, factor: u32) -> u32 {
    let factor = u64::from(factor.max(1));
    let side = u64::from(w.max(h).max(1));
    let by_side = u64::from(MAX_SIDE) / side;
    let area = u64::from(w) * u64::from(h);
    // A zero-area image has no pixel budget to respect.
    let by_area = MAX_PIXELS.checked_div(area).map_or(by_side, u64::isqrt);
    // The minimum is at most `factor`, which came from a u32.
    u32::try_from(factor.min(by_side).min(by_area).max(1)).unwrap_or(1)
}

/// Colour distance to the background below which a pixel counts as background.
const BACKGROUND_DISTANCE: u32 = 48;

/// Cuts the subject out of a plain background: the background colour is the per-channel median
/// of the border pixels, and every pixel near it becomes transparent (existing transparency is
/// kept). Returns the RGBA cut-out and its alpha channel as a mask (white = subject).
pub fn remove_background(image: &DynamicImage) -> (RgbaImage, GrayImage) {
    let mut rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    if w == 0 || h == 0 {
        return (rgba, GrayImage::new(w, h));
    }
    let background = border_median(&rgba);
    let limit = BACKGROUND_DISTANCE * BACKGROUND_DISTANCE;
    let mut mask = GrayImage::new(w, h);
    for (p, m) in rgba.pixels_mut().zip(mask.pixels_mut()) {
        let distance: u32 = (0..3)
            .map(|c| u32::from(p[c].abs_diff(background[c])).pow(2))
            .sum();
        if distance < limit {
            p[3] = 0;
        }
        *m = Luma([p[3]]);
    }
    (rgba, mask)
}

fn border_median(image: &RgbaImage) -> [u8; 3] {
    let (w, h) = image.dimensions();
    let rows = (0..w).flat_map(|x| [(x, 0), (x, h - 1)]);
    let columns = (0..h).flat_map(|y| [(0, y), (w - 1, y)]);
    let mut channels: [Vec<u8>; 3] = Default::default();
    for (x, y) in rows.chain(columns) {
        let p = image.get_pixel(x, y);
        for (c, values) in channels.iter_mut().enumerate() {
            values.push(p[c]);
        }
    }
    channels.map(|mut values| {
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    })
}

/// Moves every pixel's colour `strength` (0 to 1) of the way towards `colour`; alpha is kept.
pub fn tint(image: &DynamicImage, colour: [u8; 3], strength: f32) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    for p in rgba.pixels_mut() {
        let [r, g, b] = mix([p[0], p[1], p[2]], colour, strength);
        p[0] = r;
        p[1] = g;
        p[2] = b;
    }
    keep_alpha_of(image, rgba)
}

/// The colour [`colorize`] tints towards: a warm brown, so skin and earth read naturally.
const COLORIZE_TINT: [u8; 3] = [200, 120, 60];

/// Colours a picture from its grey levels: greyscale, then halfway towards a warm brown, so
/// even a black and white photo comes back with colour in every pixel.
pub fn colorize(image: &DynamicImage) -> RgbImage {
    let grey = DynamicImage::ImageLuma8(image.to_luma8());
    tint(&grey, COLORIZE_TINT, 0.5).to_rgb8()
}

/// Replaces the pixels where `mask` is white (≥ 128) by the mean colour of the others, so a
/// removed object leaves the surroundings' colour. Mask pixels outside the image, and image
/// pixels outside the mask, count as unmasked; a fully masked image comes back unchanged.
pub fn remove_object(image: &DynamicImage, mask: &GrayImage) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let masked = |x: u32, y: u32| mask.get_pixel_checked(x, y).is_some_and(|m| m[0] >= 128);
    let (mut sum, mut count) = ([0u64; 4], 0u64);
    for (x, y, p) in rgba.enumerate_pixels() {
        if !masked(x, y) {
            for (s, v) in sum.iter_mut().zip(p.0) {
                *s += u64::from(v);
            }
            count += 1;
        }
    }
    if count == 0 {
        return image.clone();
    }
    // The mean of u8 values fits in a u8.
    let mean = sum.map(|s| ((s + count / 2) / count) as u8);
    for (x, y, p) in rgba.enumerate_pixels_mut() {
        if masked(x, y) {
            p.0 = mean;
        }
    }
    keep_alpha_of(image, rgba)
}

/// Blocks per short side of [`pixelate`]'s mosaic.
const MOSAIC_BLOCKS: u32 = 8;

/// Anonymises a picture the way redaction tools do, as a coarse mosaic over the whole picture
/// (the sandbox finds no faces): about eight blocks across the short side. Same size.
pub fn pixelate(image: &DynamicImage) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return image.clone();
    }
    let block = (w.min(h) / MOSAIC_BLOCKS).max(2);
    let small = image.resize_exact(
        w.div_ceil(block).max(1),
        h.div_ceil(block).max(1),
        FilterType::Triangle,
    );
    let mosaic = imageops::resize(&small.to_rgba8(), w, h, FilterType::Nearest);
    keep_alpha_of(image, mosaic)
}

/// Wraps a working buffer back into a `DynamicImage`, dropping the alpha channel when `input`
/// had none, so that e.g. JPEG-sourced pictures stay RGB.
fn keep_alpha_of(input: &DynamicImage, buffer: RgbaImage) -> DynamicImage {
    let rgba = DynamicImage::ImageRgba8(buffer);
    if input.color().has_alpha() {
        rgba
    } else {
        DynamicImage::ImageRgb8(rgba.to_rgb8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba};

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 120])
        }))
    }

    fn dims(image: &DynamicImage) -> (u32, u32) {
        (image.width(), image.height())
    }

    fn red_square_on_white() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(60, 40, |x, y| {
            if (20..40).contains(&x) && (10..30).contains(&y) {
                Rgb([220, 20, 20])
            } else {
                Rgb([250, 250, 250])
            }
        }))
    }

    #[test]
    fn scale_multiplies_both_sides() {
        let img = gradient(30, 20);
        assert_eq!(dims(&scale(&img, 2)), (60, 40));
        assert_eq!(dims(&scale(&img, 4)), (120, 80));
        assert_eq!(dims(&scale(&img, 1)), (30, 20));
        assert_eq!(dims(&scale(&img, 0)), (30, 20));
        assert_eq!(dims(&scale(&DynamicImage::new_rgb8(1, 1), 3)), (3, 3));
        assert_eq!(dims(&scale(&DynamicImage::new_rgb8(0, 5), 2)), (0, 10));
        assert!(!scale(&img, 2).color().has_alpha());
        let square = scale(&red_square_on_white(), 2).to_rgb8();
        assert_eq!(square.get_pixel(60, 40), &Rgb([220, 20, 20]));
    }

    #[test]
    fn scale_caps_absurd_factors() {
        // 30×20 is limited by area: 334² × 600 px ≤ 2²⁶ < 335² × 600 px.
        assert_eq!(capped_factor(30, 20, u32::MAX), 334);
        // A long thin image is limited by its long side instead.
        assert_eq!(capped_factor(1000, 1, 100), MAX_SIDE / 1000);
        assert_eq!(capped_factor(4000, 4000, 4), 2);
        assert_eq!(capped_factor(MAX_SIDE * 2, 1, 3), 1);
        assert_eq!(capped_factor(0, 0, u32::MAX), MAX_SIDE);
        assert_eq!(
            dims(&scale(&DynamicImage::new_rgb8(0, 0), u32::MAX)),
            (0, 0)
        );
    }

    #[test]
    fn remove_background_makes_the_background_transparent() {
        let (cut, mask) = remove_background(&red_square_on_white());
        assert_eq!(cut.dimensions(), (60, 40));
        for (x, y) in [(0, 0), (59, 0), (0, 39), (59, 39), (10, 20)] {
            assert_eq!(cut.get_pixel(x, y)[3], 0, "({x},{y})");
        }
        assert_eq!(cut.get_pixel(30, 20), &Rgba([220, 20, 20, 255]));
        for (p, m) in cut.pixels().zip(mask.pixels()) {
            assert_eq!(p[3], m[0]);
        }
        let (cut, mask) = remove_background(&DynamicImage::new_rgb8(0, 0));
        assert_eq!((cut.dimensions(), mask.dimensions()), ((0, 0), (0, 0)));
        let (cut, _) = remove_background(&DynamicImage::new_rgb8(1, 1));
        assert_eq!(cut.get_pixel(0, 0)[3], 0);
    }

    #[test]
    fn colorize_gives_every_grey_level_colour() {
        let ramp = DynamicImage::ImageLuma8(GrayImage::from_fn(256, 1, |x, _| Luma([x as u8])));
        let out = colorize(&ramp);
        assert_eq!(out.dimensions(), (256, 1));
        for p in out.pixels() {
            let chroma = p.0.iter().max().unwrap() - p.0.iter().min().unwrap();
            assert!(chroma >= 60, "{p:?}");
        }
        // Lighter stays lighter.
        assert!(out.get_pixel(255, 0)[0] > out.get_pixel(0, 0)[0]);
        assert_eq!(colorize(&DynamicImage::new_rgb8(0, 3)).dimensions(), (0, 3));
    }

    #[test]
    fn tint_moves_colours_and_keeps_alpha() {
        let white = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 2, Rgba([255; 4])));
        let out = tint(&white, [55, 55, 255], 0.5).to_rgba8();
        assert_eq!(out.get_pixel(1, 1), &Rgba([155, 155, 255, 255]));
        assert!(!tint(&gradient(3, 3), [0, 0, 0], 1.0).color().has_alpha());
    }

    #[test]
    fn remove_object_fills_the_mask_with_the_surroundings() {
        let picture = red_square_on_white();
        let mask = GrayImage::from_fn(60, 40, |x, y| {
            let inside = (18..42).contains(&x) && (8..32).contains(&y);
            Luma([if inside { 255 } else { 0 }])
        });
        let out = remove_object(&picture, &mask).to_rgb8();
        assert_eq!(out.get_pixel(30, 20), &Rgb([250, 250, 250]));
        assert_eq!(out.get_pixel(0, 0), &Rgb([250, 250, 250]));
        let full = GrayImage::from_pixel(60, 40, Luma([255]));
        assert_eq!(remove_object(&picture, &full), picture);
        // A smaller mask than the picture must not panic.
        let small = GrayImage::from_pixel(3, 3, Luma([255]));
        assert_eq!(dims(&remove_object(&picture, &small)), (60, 40));
    }

    #[test]
    fn pixelate_averages_detail_away() {
        let checker = DynamicImage::ImageRgb8(RgbImage::from_fn(32, 32, |x, y| {
            if (x + y) % 2 == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        }));
        let out = pixelate(&checker).to_rgb8();
        assert_eq!(out.dimensions(), (32, 32));
        let p = out.get_pixel(16, 16)[0];
        assert!((64..=192).contains(&p), "{p}");
        for size in [(0, 0), (1, 1), (1, 7)] {
            let tiny = DynamicImage::new_rgb8(size.0, size.1);
            assert_eq!(dims(&pixelate(&tiny)), size);
        }
    }
}
