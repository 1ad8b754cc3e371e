//! Low-level filters on 8-bit RGBA buffers.
//!
//! These are written here rather than taken from `image::imageops` because
//! they must stay panic-free for any size and radius (the crate's blurs assert
//! on some radius/size combinations) and cost O(pixels) whatever the radius.

use image::{DynamicImage, RgbaImage};

/// Largest blur radius honoured; beyond it a blur is already a flat average.
const MAX_RADIUS: u32 = 1024;

/// Whether the image carries an alpha channel worth keeping.
pub(crate) fn has_alpha(image: &DynamicImage) -> bool {
    image.color().has_alpha()
}

/// Wraps a working buffer back into a `DynamicImage`, dropping the alpha
/// channel when the input had none so that e.g. JPEG-sourced images stay RGB.
pub(crate) fn finish(buffer: RgbaImage, keep_alpha: bool) -> DynamicImage {
    let rgba = DynamicImage::ImageRgba8(buffer);
    if keep_alpha {
        rgba
    } else {
        DynamicImage::ImageRgb8(rgba.to_rgb8())
    }
}

/// Approximate Gaussian blur: three box-blur passes (edge pixels replicated).
pub(crate) fn blur(image: &RgbaImage, radius: u32) -> RgbaImage {
    let radius = radius.min(MAX_RADIUS);
    if radius == 0 || image.width() == 0 || image.height() == 0 {
        return image.clone();
    }
    let mut out = image.clone();
    for _ in 0..3 {
        out = box_pass(&out, radius, true);
        out = box_pass(&out, radius, false);
    }
    out
}

/// One box-blur pass along rows (`horizontal`) or columns, using running
/// sums so the cost does not depend on the radius. The column pass keeps one
/// running sum per column and walks whole rows, so memory is read in order.
fn box_pass(image: &RgbaImage, radius: u32, horizontal: bool) -> RgbaImage {
    let (w, h) = image.dimensions();
    let src = image.as_raw();
    let mut dst = vec![0u8; src.len()];
    let window = 2 * radius + 1;
    let r = i64::from(radius);
    let row_len = w as usize * 4;
    if horizontal {
        let last = i64::from(w) - 1;
        let at = |x: i64| x.clamp(0, last) as usize * 4;
        for (src_row, dst_row) in src.chunks_exact(row_len).zip(dst.chunks_exact_mut(row_len)) {
            let mut sum = [0u32; 4];
            for k in -r..=r {
                for c in 0..4 {
                    sum[c] += u32::from(src_row[at(k) + c]);
                }
            }
            for x in 0..i64::from(w) {
                let o = at(x);
                for c in 0..4 {
                    dst_row[o + c] = ((sum[c] + window / 2) / window) as u8;
                    sum[c] = sum[c] + u32::from(src_row[at(x + r + 1) + c])
                        - u32::from(src_row[at(x - r) + c]);
                }
            }
        }
    } else {
        let last = i64::from(h) - 1;
        let row = |y: i64| {
            let start = y.clamp(0, last) as usize * row_len;
            &src[start..start + row_len]
        };
        let mut sums = vec![0u32; row_len];
        for k in -r..=r {
            for (s, &v) in sums.iter_mut().zip(row(k)) {
                *s += u32::from(v);
            }
        }
        for (y, dst_row) in (0..i64::from(h)).zip(dst.chunks_exact_mut(row_len)) {
            for (d, &s) in dst_row.iter_mut().zip(&sums) {
                *d = ((s + window / 2) / window) as u8;
            }
            for ((s, &add), &sub) in sums.iter_mut().zip(row(y + r + 1)).zip(row(y - r)) {
                *s = *s + u32::from(add) - u32::from(sub);
            }
        }
    }
    // The buffer length equals the source's, so this cannot fail.
    RgbaImage::from_raw(w, h, dst).unwrap_or_else(|| image.clone())
}

/// Unsharp mask: `original + amount × (original − blurred)` on the colour
/// channels; alpha is left untouched.
pub(crate) fn sharpen(image: &RgbaImage, radius: u32, amount: f32) -> RgbaImage {
    let blurred = blur(image, radius);
    let mut out = image.clone();
    for (o, b) in out.pixels_mut().zip(blurred.pixels()) {
        for c in 0..3 {
            let v = f32::from(o[c]);
            o[c] = super::color::to_u8(v + amount * (v - f32::from(b[c])));
        }
    }
    out
}

/// 3×3 median per channel; removes specks and thin scratches.
pub(crate) fn median3(image: &RgbaImage) -> RgbaImage {
    let (w, h) = image.dimensions();
    let mut out = image.clone();
    if w == 0 || h == 0 {
        return out;
    }
    for y in 0..h {
        for x in 0..w {
            let mut window = [[0u8; 9]; 3];
            let mut n = 0;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let sx = (i64::from(x) + dx).clamp(0, i64::from(w) - 1) as u32;
                    let sy = (i64::from(y) + dy).clamp(0, i64::from(h) - 1) as u32;
                    let p = image.get_pixel(sx, sy);
                    for c in 0..3 {
                        window[c][n] = p[c];
                    }
                    n += 1;
                }
            }
            let o = out.get_pixel_mut(x, y);
            for c in 0..3 {
                window[c].sort_unstable();
                o[c] = window[c][4];
            }
        }
    }
    out
}

/// Weight in `[0, 1]` of an elliptical region centred at `(cx, cy)` with radii
/// `(rx, ry)`: 1 inside, fading to 0 over the outer `feather` fraction.
pub(crate) fn ellipse_weight(
    x: f32,
    y: f32,
    centre: (f32, f32),
    radii: (f32, f32),
    feather: f32,
) -> f32 {
    let dx = (x - centre.0) / radii.0.max(0.5);
    let dy = (y - centre.1) / radii.1.max(0.5);
    let d = (dx * dx + dy * dy).sqrt();
    if d <= 1.0 {
        1.0
    } else {
        (1.0 - (d - 1.0) / feather.max(f32::EPSILON)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn blur_keeps_size_and_flattens_a_spike() {
        let mut img = RgbaImage::from_pixel(9, 7, Rgba([0, 0, 0, 255]));
        img.put_pixel(4, 3, Rgba([255, 255, 255, 255]));
        let out = blur(&img, 1);
        assert_eq!(out.dimensions(), (9, 7));
        assert!(out.get_pixel(4, 3)[0] < 128);
        assert!(out.get_pixel(5, 3)[0] > 0);
        // Huge radii and degenerate sizes must not panic.
        assert_eq!(blur(&img, u32::MAX).dimensions(), (9, 7));
        assert_eq!(blur(&RgbaImage::new(0, 5), 3).dimensions(), (0, 5));
        assert_eq!(blur(&RgbaImage::new(1, 1), 3).dimensions(), (1, 1));
    }

    #[test]
    fn median_removes_a_speck() {
        let mut img = RgbaImage::from_pixel(5, 5, Rgba([10, 20, 30, 255]));
        img.put_pixel(2, 2, Rgba([255, 255, 255, 255]));
        let out = median3(&img);
        assert_eq!(out.get_pixel(2, 2), &Rgba([10, 20, 30, 255]));
    }
}
