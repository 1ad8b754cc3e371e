//! Transforms of an input photo: upscaling, background removal, restoration,
//! colour transfer, inpainting and the face/hair/age effects.
//!
//! They work on 8-bit RGBA copies and hand back RGB or RGBA following the
//! input, so deeper inputs (16-bit, float) come back as 8-bit.

use std::collections::VecDeque;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};

use super::color::{hsl_to_rgb, luma, mix, saturation, to_u8};
use super::ops::{blur, ellipse_weight, finish, has_alpha, median3, sharpen};
use super::{MAX_PIXELS, MAX_SIDE};

/// Upscales by exactly `factor` in both directions (a light unsharp mask,
/// then Catmull-Rom); `factor` 1 keeps the size and only sharpens.
///
/// `factor` 0 is treated as 1. A factor that would exceed [`MAX_SIDE`] per
/// side or [`MAX_PIXELS`] in total is lowered to the largest that fits (at
/// least 1), so absurd requests return a capped image instead of exhausting
/// memory.
pub fn scale(image: &DynamicImage, factor: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let factor = capped_factor(w, h, factor);
    let (nw, nh) = (w.saturating_mul(factor), h.saturating_mul(factor));
    if w == 0 || h == 0 {
        return DynamicImage::new(nw, nh, image.color());
    }
    // Sharpening before enlarging costs factor² less than after, and the
    // Catmull-Rom kernel keeps the crisper edges.
    let sharpened = sharpen(&image.to_rgba8(), 1, 0.5);
    let resized = imageops::resize(&sharpened, nw, nh, FilterType::CatmullRom);
    finish(resized, has_alpha(image))
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

/// Colour distance below which a border-connected pixel is fully background.
const BG_NEAR: f32 = 24.0;
/// Colour distance above which a pixel is fully foreground; between the two
/// thresholds alpha ramps up, which softens the cut-out's edge.
const BG_FAR: f32 = 56.0;

/// Cuts the subject out of a roughly uniform background.
///
/// The background colour is the per-channel median of the border pixels.
/// Pixels close to it that are connected to the border (flood fill) become
/// transparent, with alpha ramping up between colour distances 24 and 56; a
/// background-coloured area enclosed by the subject stays opaque, as it
/// would with a real segmenter. Existing transparency is kept. Returns the
/// RGBA cut-out and its alpha channel as a mask (white = foreground).
pub fn remove_background(image: &DynamicImage) -> (RgbaImage, GrayImage) {
    let mut rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    if w == 0 || h == 0 {
        return (rgba, GrayImage::new(w, h));
    }
    let background = border_median(&rgba);
    let distance: Vec<f32> = rgba
        .pixels()
        .map(|p| {
            let d2: f32 = (0..3)
                .map(|c| (f32::from(p[c]) - f32::from(background[c])).powi(2))
                .sum();
            d2.sqrt()
        })
        .collect();
    let idx = |x: u32, y: u32| y as usize * w as usize + x as usize;
    let mut reached = vec![false; distance.len()];
    let mut queue = VecDeque::new();
    for (x, y) in border_coords(w, h) {
        let i = idx(x, y);
        if !reached[i] && distance[i] < BG_FAR {
            reached[i] = true;
            queue.push_back((x, y));
        }
    }
    while let Some((x, y)) = queue.pop_front() {
        let neighbours = [
            (x.wrapping_sub(1), y),
            (x + 1, y),
            (x, y.wrapping_sub(1)),
            (x, y + 1),
        ];
        for (nx, ny) in neighbours {
            if nx < w && ny < h {
                let i = idx(nx, ny);
                if !reached[i] && distance[i] < BG_FAR {
                    reached[i] = true;
                    queue.push_back((nx, ny));
                }
            }
        }
    }
    let mut mask = GrayImage::new(w, h);
    for ((i, p), m) in rgba.pixels_mut().enumerate().zip(mask.pixels_mut()) {
        let alpha = if reached[i] {
            to_u8(((distance[i] - BG_NEAR) / (BG_FAR - BG_NEAR)).clamp(0.0, 1.0) * 255.0)
        } else {
            255
        };
        p[3] = p[3].min(alpha);
        *m = Luma([p[3]]);
    }
    (rgba, mask)
}

fn border_coords(w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> {
    let rows = (0..w).flat_map(move |x| [(x, 0), (x, h - 1)]);
    let cols = (0..h).flat_map(move |y| [(0, y), (w - 1, y)]);
    rows.chain(cols)
}

fn border_median(image: &RgbaImage) -> [u8; 3] {
    let (w, h) = image.dimensions();
    let mut channels: [Vec<u8>; 3] = Default::default();
    for (x, y) in border_coords(w, h) {
        let p = image.get_pixel(x, y);
        for c in 0..3 {
            channels[c].push(p[c]);
        }
    }
    channels.map(|mut values| {
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    })
}

/// Colour stops indexed by luminance: cool shadows, warm (skin/earth)
/// midtones, pale warm highlights, roughly how hand-tinted photos look.
const COLORIZE_STOPS: [(f32, [u8; 3]); 5] = [
    (0.0, [10, 14, 40]),
    (0.3, [72, 58, 82]),
    (0.55, [172, 122, 92]),
    (0.8, [226, 200, 160]),
    (1.0, [255, 250, 236]),
];

/// False-colours an image from its luminance alone (so it works on black
/// and white photos): each grey level maps to a point on a cool-to-warm
/// gradient. Every output colour is chromatic, even pure black and white.
pub fn colorize(image: &DynamicImage) -> RgbImage {
    let rgb = image.to_rgb8();
    let mut out = RgbImage::new(rgb.width(), rgb.height());
    for (o, p) in out.pixels_mut().zip(rgb.pixels()) {
        let t = luma(p.0) / 255.0;
        let mut colour = COLORIZE_STOPS[COLORIZE_STOPS.len() - 1].1;
        for pair in COLORIZE_STOPS.windows(2) {
            let ((t0, c0), (t1, c1)) = (pair[0], pair[1]);
            if t <= t1 {
                colour = mix(c0, c1, (t - t0) / (t1 - t0));
                break;
            }
        }
        *o = Rgb(colour);
    }
    out
}

/// Photo restoration: with `with_scratch`, a 3×3 median removes specks and
/// thin scratches; then levels are stretched halfway towards the 1st–99th
/// luminance percentile and a mild unsharp mask is applied. Same size.
pub fn restore(image: &DynamicImage, with_scratch: bool) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    if with_scratch {
        rgba = median3(&rgba);
    }
    let mut histogram = [0u64; 256];
    for p in rgba.pixels() {
        histogram[usize::from(to_u8(luma([p[0], p[1], p[2]])))] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let percentile = |q: u64| -> f32 {
        let mut seen = 0;
        for (level, &n) in histogram.iter().enumerate() {
            seen += n;
            if seen * 100 >= total * q && n > 0 {
                return level as f32;
            }
        }
        255.0
    };
    let (lo, hi) = (percentile(1), percentile(99));
    if total > 0 && hi - lo > 8.0 {
        let gain = 255.0 / (hi - lo);
        for p in rgba.pixels_mut() {
            for c in 0..3 {
                let v = f32::from(p[c]);
                let stretched = (v - lo) * gain;
                p[c] = to_u8(v + 0.5 * (stretched - v));
            }
        }
    }
    finish(sharpen(&rgba, 1, 0.5), has_alpha(image))
}

/// Anonymises a portrait: a strong blur inside an ellipse where a centred
/// face would be (centre at 50 % width, 42 % height) and, with `blur_text`,
/// over the bottom 15 % where captions usually sit. Same size.
pub fn blur_faces(image: &DynamicImage, blur_text: bool) -> DynamicImage {
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let radius = (w.min(h) / 20).max(2);
    let blurred = blur(&rgba, radius);
    let mut out = rgba;
    let (wf, hf) = (w as f32, h as f32);
    let centre = (wf * 0.5, hf * 0.42);
    let radii = (wf * 0.22, hf * 0.28);
    let text_top = hf * 0.85;
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        let mut weight = ellipse_weight(xf, yf, centre, radii, 0.15);
        if blur_text && yf >= text_top {
            weight = 1.0;
        }
        if weight > 0.0 {
            let b = blurred.get_pixel(x, y);
            for c in 0..4 {
                p[c] = to_u8(f32::from(p[c]) + (f32::from(b[c]) - f32::from(p[c])) * weight);
            }
        }
    }
    finish(out, has_alpha(image))
}

/// Per-channel mean and standard deviation of the RGB channels.
#[derive(Debug, Clone, Copy)]
struct Stats {
    mean: [f32; 3],
    std: [f32; 3],
}

fn stats(image: &RgbaImage) -> Option<Stats> {
    let n = u64::from(image.width()) * u64::from(image.height());
    if n == 0 {
        return None;
    }
    let mut sum = [0f64; 3];
    let mut sq = [0f64; 3];
    for p in image.pixels() {
        for c in 0..3 {
            let v = f64::from(p[c]);
            sum[c] += v;
            sq[c] += v * v;
        }
    }
    let n = n as f64;
    let mean = sum.map(|s| s / n);
    let std = [0, 1, 2].map(|c| (sq[c] / n - mean[c] * mean[c]).max(0.0).sqrt() as f32);
    Some(Stats {
        mean: mean.map(|m| m as f32),
        std,
    })
}

/// Moves each pixel's colour from `from` statistics towards `to` statistics
/// (Reinhard-style transfer in RGB), by `strength(x, y)` in `[0, 1]`.
fn transfer_stats(
    image: &mut RgbaImage,
    from: Stats,
    to: Stats,
    strength: impl Fn(u32, u32) -> f32,
) {
    // Clamping the ratio keeps flat images (std ≈ 0) from exploding noise.
    let ratio = [0, 1, 2].map(|c| {
        if from.std[c] < 1.0 {
            1.0
        } else {
            (to.std[c] / from.std[c]).clamp(0.2, 5.0)
        }
    });
    for (x, y, p) in image.enumerate_pixels_mut() {
        let s = strength(x, y).clamp(0.0, 1.0);
        if s <= 0.0 {
            continue;
        }
        for c in 0..3 {
            let v = f32::from(p[c]);
            let target = (v - from.mean[c]) * ratio[c] + to.mean[c];
            p[c] = to_u8(v + (target - v) * s);
        }
    }
}

/// Style transfer as colour transfer: shifts the content's per-channel mean
/// and spread towards the average statistics of the style images (80 %, or
/// 35 % with `focus_content`). Same size as `content`; without usable
/// styles (empty slice or only zero-sized images) the content is returned
/// unchanged.
pub fn style_transfer(
    content: &DynamicImage,
    styles: &[DynamicImage],
    focus_content: bool,
) -> DynamicImage {
    let style_stats: Vec<Stats> = styles.iter().filter_map(|s| stats(&s.to_rgba8())).collect();
    let mut rgba = content.to_rgba8();
    let Some(from) = stats(&rgba) else {
        return content.clone();
    };
    if style_stats.is_empty() {
        return content.clone();
    }
    let n = style_stats.len() as f32;
    let to = Stats {
        mean: [0, 1, 2].map(|c| style_stats.iter().map(|s| s.mean[c]).sum::<f32>() / n),
        std: [0, 1, 2].map(|c| style_stats.iter().map(|s| s.std[c]).sum::<f32>() / n),
    };
    let strength = if focus_content { 0.35 } else { 0.8 };
    transfer_stats(&mut rgba, from, to, |_, _| strength);
    finish(rgba, has_alpha(content))
}

/// Makeup transfer: tints the face area of `source` (a soft ellipse around
/// the centre) halfway towards the colour statistics of `reference`. Same
/// size as `source`; a zero-sized reference leaves it unchanged.
pub fn transfer_makeup(source: &DynamicImage, reference: &DynamicImage) -> DynamicImage {
    let mut rgba = source.to_rgba8();
    let (Some(from), Some(to)) = (stats(&rgba), stats(&reference.to_rgba8())) else {
        return source.clone();
    };
    let (wf, hf) = (rgba.width() as f32, rgba.height() as f32);
    let centre = (wf * 0.5, hf * 0.45);
    let radii = (wf * 0.3, hf * 0.38);
    transfer_stats(&mut rgba, from, to, |x, y| {
        0.5 * ellipse_weight(x as f32 + 0.5, y as f32 + 0.5, centre, radii, 0.4)
    });
    finish(rgba, has_alpha(source))
}

/// Hairstyle change: recolours the upper third (where hair is in a
/// portrait) towards a hair colour whose hue comes from `style_id`, keeping
/// the pixels' shading; the effect fades out over the next twelfth of the
/// height and the rest is untouched. Same size.
pub fn restyle_hair(image: &DynamicImage, style_id: i64) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let h = rgba.height() as f32;
    // 47 is coprime with 360, so consecutive ids land on well-separated hues.
    let hue = (style_id.rem_euclid(360) * 47 % 360) as f32;
    let (full, fade) = (h / 3.0, h / 12.0);
    for (_, y, p) in rgba.enumerate_pixels_mut() {
        let yf = y as f32 + 0.5;
        let weight = if yf <= full {
            1.0
        } else {
            (1.0 - (yf - full) / fade.max(1.0)).max(0.0)
        };
        if weight <= 0.0 {
            continue;
        }
        let rgb = [p[0], p[1], p[2]];
        let lightness = 0.12 + 0.7 * luma(rgb) / 255.0;
        let hair = hsl_to_rgb(hue, 0.6, lightness);
        let [r, g, b] = mix(rgb, hair, 0.75 * weight);
        p[0] = r;
        p[1] = g;
        p[2] = b;
    }
    finish(rgba, has_alpha(image))
}

/// Ages of the series [`age_series`] returns, before the estimate replaces
/// the closest one.
const SERIES_AGES: [u32; 5] = [10, 25, 40, 55, 70];

/// Age progression: estimates the subject's age, then renders five
/// same-size versions at ascending ages (10, 25, 40, 55, 70 with the closest
/// replaced by the estimate). Older versions are less saturated and a little
/// flatter and lighter, younger ones more vivid.
///
/// The estimate (10..=70) is a cheap stand-in for a model: duller colours
/// and more texture read as older.
pub fn age_series(image: &DynamicImage) -> (u32, Vec<(u32, DynamicImage)>) {
    let rgba = image.to_rgba8();
    let estimate = estimate_age(&rgba);
    let mut ages = SERIES_AGES;
    if !ages.contains(&estimate) {
        // With 15-year steps and an estimate inside 10..=70, replacing the
        // nearest age keeps the list strictly ascending.
        if let Some(nearest) = ages.iter_mut().min_by_key(|a| (a.abs_diff(estimate), **a)) {
            *nearest = estimate;
        }
    }
    let keep_alpha = has_alpha(image);
    let series = ages
        .iter()
        .map(|&age| (age, finish(age_image(&rgba, age), keep_alpha)))
        .collect();
    (estimate, series)
}

fn estimate_age(image: &RgbaImage) -> u32 {
    let n = u64::from(image.width()) * u64::from(image.height());
    if n == 0 {
        return 30;
    }
    let (mut sat, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for p in image.pixels() {
        let rgb = [p[0], p[1], p[2]];
        sat += f64::from(saturation(rgb));
        let l = f64::from(luma(rgb));
        sum += l;
        sq += l * l;
    }
    let n = n as f64;
    let mean_sat = sat / n;
    let texture = ((sq / n - (sum / n).powi(2)).max(0.0).sqrt() / 128.0).min(1.0);
    let age = 10.0 + (1.0 - mean_sat) * 40.0 + texture * 20.0;
    age.round().clamp(10.0, 70.0) as u32
}

fn age_image(image: &RgbaImage, age: u32) -> RgbaImage {
    let t = (age.clamp(10, 70) - 10) as f32 / 60.0;
    let saturation_gain = 1.25 - 0.95 * t;
    let contrast = 1.0 - 0.15 * t;
    let lift = 12.0 * t;
    let mut out = image.clone();
    for p in out.pixels_mut() {
        let l = luma([p[0], p[1], p[2]]);
        for c in 0..3 {
            let v = l + (f32::from(p[c]) - l) * saturation_gain;
            p[c] = to_u8(128.0 + (v - 128.0) * contrast + lift);
        }
    }
    out
}

/// Object removal: pixels where `mask` is white (≥ 128) are rebuilt from the
/// surrounding unmasked pixels, layer by layer from the hole's edge inwards
/// (each pixel the mean of its already-known 8-neighbours), then smoothed.
/// Same size. Mask pixels outside the image, or image pixels outside the
/// mask, are treated as unmasked; if every pixel is masked there is nothing
/// to fill from and the image is returned unchanged.
pub fn remove_object(image: &DynamicImage, mask: &GrayImage) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let len = w as usize * h as usize;
    let idx = |x: u32, y: u32| y as usize * w as usize + x as usize;
    let masked: Vec<bool> = (0..len)
        .map(|i| {
            let (x, y) = ((i % w as usize) as u32, (i / w as usize) as u32);
            mask.get_pixel_checked(x, y).is_some_and(|m| m[0] >= 128)
        })
        .collect();
    if !masked.contains(&true) || !masked.contains(&false) {
        return image.clone();
    }
    // Filled values go straight into `rgba` (8-bit) rather than a float
    // copy of the image, which would quadruple memory on large photos.
    let mut known: Vec<bool> = masked.iter().map(|m| !m).collect();
    let neighbours = |x: u32, y: u32| {
        (-1i64..=1)
            .flat_map(move |dy| (-1i64..=1).map(move |dx| (dx, dy)))
            .filter(|&(dx, dy)| dx != 0 || dy != 0)
            .filter_map(move |(dx, dy)| {
                let nx = u32::try_from(i64::from(x) + dx).ok()?;
                let ny = u32::try_from(i64::from(y) + dy).ok()?;
                (nx < w && ny < h).then_some((nx, ny))
            })
    };
    let mut queued = vec![false; len];
    let mut frontier: Vec<(u32, u32)> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if masked[idx(x, y)] && neighbours(x, y).any(|(nx, ny)| known[idx(nx, ny)]) {
                queued[idx(x, y)] = true;
                frontier.push((x, y));
            }
        }
    }
    while !frontier.is_empty() {
        // Compute the whole layer before marking it known, so the result
        // does not depend on the order pixels are visited.
        let layer: Vec<[u8; 4]> = frontier
            .iter()
            .map(|&(x, y)| {
                let mut acc = [0f32; 4];
                let mut n = 0f32;
                for (nx, ny) in neighbours(x, y) {
                    if known[idx(nx, ny)] {
                        let v = rgba.get_pixel(nx, ny);
                        for c in 0..4 {
                            acc[c] += f32::from(v[c]);
                        }
                        n += 1.0;
                    }
                }
                acc.map(|a| to_u8(a / n.max(1.0)))
            })
            .collect();
        for (&(x, y), v) in frontier.iter().zip(layer) {
            rgba.put_pixel(x, y, Rgba(v));
            known[idx(x, y)] = true;
        }
        let mut next = Vec::new();
        for &(x, y) in &frontier {
            for (nx, ny) in neighbours(x, y) {
                let i = idx(nx, ny);
                if masked[i] && !queued[i] {
                    queued[i] = true;
                    next.push((nx, ny));
                }
            }
        }
        frontier = next;
    }
    // Onion-peel filling leaves streaks along the layers; a few averaging
    // passes restricted to the hole even them out.
    let hole: Vec<(u32, u32)> = (0..len)
        .filter(|&i| masked[i])
        .map(|i| ((i % w as usize) as u32, (i / w as usize) as u32))
        .collect();
    for _ in 0..4 {
        let smoothed: Vec<[u8; 4]> = hole
            .iter()
            .map(|&(x, y)| {
                let mut acc = rgba.get_pixel(x, y).0.map(f32::from);
                let mut n = 1.0;
                for (nx, ny) in neighbours(x, y) {
                    let v = rgba.get_pixel(nx, ny);
                    for c in 0..4 {
                        acc[c] += f32::from(v[c]);
                    }
                    n += 1.0;
                }
                acc.map(|a| to_u8(a / n))
            })
            .collect();
        for (&(x, y), v) in hole.iter().zip(smoothed) {
            rgba.put_pixel(x, y, Rgba(v));
        }
    }
    finish(rgba, has_alpha(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 120])
        }))
    }

    fn grey_ramp(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, _| {
            Luma([(x * 255 / w.max(1)) as u8])
        }))
    }

    fn dims(image: &DynamicImage) -> (u32, u32) {
        (image.width(), image.height())
    }

    fn mean_saturation(image: &DynamicImage) -> f32 {
        let rgb = image.to_rgb8();
        rgb.pixels().map(|p| saturation(p.0)).sum::<f32>() / rgb.pixels().len().max(1) as f32
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
        // Upscaling keeps colour: the top-left corner stays dark red-free.
        let up = scale(&img, 2).to_rgb8();
        assert!(up.get_pixel(0, 0)[0] < 40);
        assert!(!scale(&img, 2).color().has_alpha());
    }

    #[test]
    fn scale_one_sharpens_edges() {
        let step = DynamicImage::ImageRgb8(RgbImage::from_fn(20, 6, |x, _| {
            if x < 10 {
                Rgb([100, 100, 100])
            } else {
                Rgb([150, 150, 150])
            }
        }));
        let out = scale(&step, 1).to_rgb8();
        assert!(out.get_pixel(9, 3)[0] < 100, "{:?}", out.get_pixel(9, 3));
        assert!(out.get_pixel(10, 3)[0] > 150, "{:?}", out.get_pixel(10, 3));
        assert_eq!(out.get_pixel(0, 3)[0], 100);
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
        let out = scale(&DynamicImage::new_rgb8(0, 0), u32::MAX);
        assert_eq!(dims(&out), (0, 0));
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
    fn remove_background_makes_the_border_transparent() {
        let (cut, mask) = remove_background(&red_square_on_white());
        assert_eq!(cut.dimensions(), (60, 40));
        assert_eq!(mask.dimensions(), (60, 40));
        for (x, y) in [(0, 0), (59, 0), (0, 39), (59, 39), (10, 20)] {
            assert_eq!(cut.get_pixel(x, y)[3], 0, "({x},{y})");
        }
        assert_eq!(cut.get_pixel(30, 20), &Rgba([220, 20, 20, 255]));
        for (p, m) in cut.pixels().zip(mask.pixels()) {
            assert_eq!(p[3], m[0]);
        }
    }

    #[test]
    fn remove_background_keeps_enclosed_background_colour() {
        // A white hole inside a black ring is not reachable from the border.
        let img = RgbImage::from_fn(30, 30, |x, y| {
            let ring = (8..22).contains(&x) && (8..22).contains(&y);
            let hole = (12..18).contains(&x) && (12..18).contains(&y);
            if ring && !hole {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let (cut, _) = remove_background(&DynamicImage::ImageRgb8(img));
        assert_eq!(cut.get_pixel(15, 15)[3], 255);
        assert_eq!(cut.get_pixel(2, 2)[3], 0);
    }

    #[test]
    fn remove_background_degenerate_sizes() {
        let (cut, mask) = remove_background(&DynamicImage::new_rgb8(0, 0));
        assert_eq!((cut.dimensions(), mask.dimensions()), ((0, 0), (0, 0)));
        let (cut, _) = remove_background(&DynamicImage::new_rgb8(1, 1));
        assert_eq!(cut.get_pixel(0, 0)[3], 0);
    }

    #[test]
    fn colorize_adds_colour_to_grey() {
        let out = colorize(&grey_ramp(64, 8));
        assert_eq!(out.dimensions(), (64, 8));
        assert!(out.pixels().all(|p| !(p[0] == p[1] && p[1] == p[2])));
        // Brightness ordering survives.
        assert!(luma(out.get_pixel(60, 0).0) > luma(out.get_pixel(3, 0).0));
        assert_eq!(colorize(&DynamicImage::new_rgb8(0, 3)).dimensions(), (0, 3));
    }

    #[test]
    fn restore_removes_specks_and_keeps_size() {
        let mut img = RgbImage::from_fn(40, 30, |x, _| Rgb([60 + x as u8 * 3, 90, 110]));
        img.put_pixel(20, 15, Rgb([255, 255, 255]));
        let img = DynamicImage::ImageRgb8(img);
        let fixed = restore(&img, true).to_rgb8();
        assert_eq!(fixed.dimensions(), (40, 30));
        assert!(
            fixed.get_pixel(20, 15)[0] < 200,
            "{:?}",
            fixed.get_pixel(20, 15)
        );
        let plain = restore(&img, false);
        assert_eq!(dims(&plain), (40, 30));
        // Contrast stretch widens a low-contrast image's range.
        let flat = DynamicImage::ImageRgb8(RgbImage::from_fn(32, 8, |x, _| {
            let v = 100 + x as u8;
            Rgb([v, v, v])
        }));
        let stretched = restore(&flat, false).to_rgb8();
        let range = stretched.get_pixel(30, 4)[0] - stretched.get_pixel(1, 4)[0];
        assert!(range > 40, "{range}");
        assert_eq!(dims(&restore(&DynamicImage::new_rgb8(0, 0), true)), (0, 0));
    }

    #[test]
    fn blur_faces_blurs_the_centre_and_optionally_the_bottom() {
        let checker = DynamicImage::ImageRgb8(RgbImage::from_fn(80, 80, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        }));
        let contrast = |img: &RgbImage, x0: u32, y0: u32| {
            let vals: Vec<u8> = (0..4).map(|d| img.get_pixel(x0 + d, y0)[0]).collect();
            vals.iter().max().copied().unwrap_or(0) - vals.iter().min().copied().unwrap_or(0)
        };
        let out = blur_faces(&checker, false).to_rgb8();
        assert_eq!(out.dimensions(), (80, 80));
        assert!(contrast(&out, 40, 34) < 60);
        assert_eq!(contrast(&out, 0, 0), 255);
        assert_eq!(contrast(&out, 40, 76), 255);
        let with_text = blur_faces(&checker, true).to_rgb8();
        assert!(contrast(&with_text, 40, 76) < 60);
        assert_eq!(
            dims(&blur_faces(&DynamicImage::new_rgb8(1, 1), true)),
            (1, 1)
        );
    }

    #[test]
    fn style_transfer_moves_colour_statistics() {
        let content = gradient(32, 24);
        let style = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 10, Rgb([240, 30, 30])));
        let mean_red = |img: &DynamicImage| {
            let rgb = img.to_rgb8();
            rgb.pixels().map(|p| f32::from(p[0])).sum::<f32>() / rgb.pixels().len() as f32
        };
        let strong = style_transfer(&content, std::slice::from_ref(&style), false);
        let weak = style_transfer(&content, std::slice::from_ref(&style), true);
        assert_eq!(dims(&strong), (32, 24));
        assert_eq!(dims(&weak), (32, 24));
        let base = mean_red(&content);
        assert!(mean_red(&strong) > mean_red(&weak));
        assert!(mean_red(&weak) > base);
        assert_eq!(style_transfer(&content, &[], false), content);
        assert_eq!(
            style_transfer(&content, &[DynamicImage::new_rgb8(0, 0)], false),
            content
        );
    }

    #[test]
    fn transfer_makeup_tints_the_face_area() {
        let source = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 40, |x, y| {
            Rgb([150, 120 + (x + y) as u8 % 9, 100])
        }));
        let reference = DynamicImage::ImageRgb8(RgbImage::from_pixel(12, 12, Rgb([200, 40, 90])));
        let out = transfer_makeup(&source, &reference).to_rgb8();
        assert_eq!(out.dimensions(), (40, 40));
        let before = source.to_rgb8();
        assert!(out.get_pixel(20, 18)[0] > before.get_pixel(20, 18)[0]);
        assert!(out.get_pixel(20, 18)[1] < before.get_pixel(20, 18)[1]);
        assert_eq!(out.get_pixel(0, 0), before.get_pixel(0, 0));
    }

    #[test]
    fn restyle_hair_changes_the_top_third_only() {
        let img = gradient(30, 36);
        let before = img.to_rgb8();
        let out = restyle_hair(&img, 7).to_rgb8();
        assert_eq!(out.dimensions(), (30, 36));
        let changed = (0..30)
            .filter(|&x| out.get_pixel(x, 5) != before.get_pixel(x, 5))
            .count();
        assert!(changed > 25, "{changed}");
        for y in 20..36 {
            for x in 0..30 {
                assert_eq!(out.get_pixel(x, y), before.get_pixel(x, y));
            }
        }
        assert_ne!(
            restyle_hair(&img, 1).to_rgb8(),
            restyle_hair(&img, 2).to_rgb8()
        );
        assert_eq!(dims(&restyle_hair(&img, i64::MIN)), (30, 36));
    }

    #[test]
    fn age_series_is_ascending_includes_estimate_and_greys_with_age() {
        let img = gradient(24, 24);
        let (estimate, series) = age_series(&img);
        assert!((10..=70).contains(&estimate));
        assert_eq!(series.len(), 5);
        assert!(series.iter().any(|(age, _)| *age == estimate));
        assert!(series.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(series.iter().all(|(_, im)| dims(im) == (24, 24)));
        let sats: Vec<f32> = series.iter().map(|(_, im)| mean_saturation(im)).collect();
        assert!(sats.windows(2).all(|w| w[0] > w[1]), "{sats:?}");
        // A grey, flat image reads older than a vivid one.
        let (grey_age, _) = age_series(&grey_ramp(24, 24));
        assert!(grey_age > estimate);
        let (_, empty) = age_series(&DynamicImage::new_rgb8(0, 0));
        assert_eq!(empty.len(), 5);
    }

    #[test]
    fn remove_object_fills_the_hole_from_its_surroundings() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| {
            if (15..25).contains(&x) && (10..20).contains(&y) {
                Rgb([230, 10, 10])
            } else {
                Rgb([30, 140, 60])
            }
        }));
        let mask = GrayImage::from_fn(40, 30, |x, y| {
            Luma([if (14..26).contains(&x) && (9..21).contains(&y) {
                255
            } else {
                0
            }])
        });
        let out = remove_object(&img, &mask).to_rgb8();
        assert_eq!(out.dimensions(), (40, 30));
        for (x, y) in [(20, 15), (15, 10), (24, 19)] {
            let p = out.get_pixel(x, y);
            assert!(
                p[0].abs_diff(30) <= 3 && p[1].abs_diff(140) <= 3 && p[2].abs_diff(60) <= 3,
                "{p:?}"
            );
        }
        assert_eq!(out.get_pixel(0, 0), &Rgb([30, 140, 60]));
    }

    #[test]
    fn remove_object_interpolates_between_different_sides() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(30, 10, |x, _| {
            if x < 15 {
                Rgb([0, 0, 0])
            } else {
                Rgb([200, 200, 200])
            }
        }));
        let mask = GrayImage::from_fn(30, 10, |x, _| {
            Luma([if (10..20).contains(&x) { 255 } else { 0 }])
        });
        let out = remove_object(&img, &mask).to_rgb8();
        assert!(out.get_pixel(11, 5)[0] < out.get_pixel(18, 5)[0]);
    }

    #[test]
    fn remove_object_edge_cases() {
        let img = gradient(8, 8);
        assert_eq!(
            remove_object(&img, &GrayImage::from_pixel(8, 8, Luma([255]))),
            img
        );
        assert_eq!(remove_object(&img, &GrayImage::new(8, 8)), img);
        // A smaller mask than the image must not panic.
        assert_eq!(
            dims(&remove_object(
                &img,
                &GrayImage::from_pixel(3, 3, Luma([255]))
            )),
            (8, 8)
        );
        assert_eq!(
            dims(&remove_object(
                &DynamicImage::new_rgb8(0, 0),
                &GrayImage::new(0, 0)
            )),
            (0, 0)
        );
    }

    #[test]
    fn transforms_survive_tiny_images() {
        for img in [
            DynamicImage::new_rgb8(0, 0),
            DynamicImage::new_rgba8(1, 1),
            DynamicImage::new_rgb8(1, 7),
        ] {
            let size = dims(&img);
            assert_eq!(dims(&restore(&img, true)), size);
            assert_eq!(dims(&blur_faces(&img, true)), size);
            assert_eq!(
                dims(&style_transfer(&img, std::slice::from_ref(&img), false)),
                size
            );
            assert_eq!(dims(&transfer_makeup(&img, &img)), size);
            assert_eq!(dims(&restyle_hair(&img, 3)), size);
            assert_eq!(colorize(&img).dimensions(), size);
        }
        // Alpha is kept when the input has it.
        assert!(
            restore(&DynamicImage::new_rgba8(2, 2), false)
                .color()
                .has_alpha()
        );
    }
}
