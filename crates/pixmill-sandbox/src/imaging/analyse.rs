//! Colour analysis: dominant colours and palette completion.

use image::DynamicImage;

use super::color::{hsl_to_rgb, rgb_to_hsl};

/// Most colours [`dominant_colors`] returns; larger requests are clamped so a
/// request cannot make us allocate an arbitrarily long list.
pub const MAX_DOMINANT_COLORS: usize = 256;

/// Bits kept per channel when bucketing colours: 16 levels per channel, so
/// JPEG noise and gradients fall into a few buckets.
const QUANT_BITS: u32 = 4;

/// The `count` most common colours, ordered by share (descending, ties by
/// colour value so the order is deterministic).
///
/// Colours are bucketed after quantising each channel to 16 levels; each
/// returned colour is the mean of the real pixels in its bucket, so a flat
/// colour comes back exactly. Mostly transparent pixels (alpha < 128) are
/// ignored unless every pixel is. When the image has fewer distinct buckets
/// than `count`, the last colour is repeated; an image without pixels gives
/// black. `count` is clamped to [`MAX_DOMINANT_COLORS`].
pub fn dominant_colors(image: &DynamicImage, count: usize) -> Vec<[u8; 3]> {
    let count = count.min(MAX_DOMINANT_COLORS);
    if count == 0 {
        return Vec::new();
    }
    let rgba = image.to_rgba8();
    let buckets_len = 1usize << (3 * QUANT_BITS);
    let mut counts = vec![0u64; buckets_len];
    let mut sums = vec![[0u64; 3]; buckets_len];
    let shift = 8 - QUANT_BITS;
    let any_opaque = rgba.pixels().any(|p| p[3] >= 128);
    for p in rgba.pixels().filter(|p| !any_opaque || p[3] >= 128) {
        let key = ((usize::from(p[0]) >> shift) << (2 * QUANT_BITS))
            | ((usize::from(p[1]) >> shift) << QUANT_BITS)
            | (usize::from(p[2]) >> shift);
        counts[key] += 1;
        for c in 0..3 {
            sums[key][c] += u64::from(p[c]);
        }
    }
    let mut keys: Vec<usize> = (0..buckets_len).filter(|&k| counts[k] > 0).collect();
    keys.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut colors: Vec<[u8; 3]> = keys
        .iter()
        .take(count)
        .map(|&k| {
            let n = counts[k];
            // The mean of u8 values fits in u8.
            sums[k].map(|s| ((s + n / 2) / n) as u8)
        })
        .collect();
    let last = colors.last().copied().unwrap_or([0, 0, 0]);
    colors.resize(count, last);
    colors
}

/// Completes a palette of as many colours as there are hints (Hotpot's colour generator).
///
/// A hint whose three components are all ≤ 255 is real and kept in its slot.
/// Any other hint (`[256, 256, 256]` by convention) marks a slot to fill.
/// Each empty slot is derived from the nearest real hint (the earlier one on
/// a tie): its hue is rotated 30° per slot of distance (analogous harmony)
/// and its lightness stepped (wrapping within 15–85 %), so the palette reads as one family. Should no
/// hint be real, a fixed blue seeds the palette.
pub fn palette_from_hints<const N: usize>(hints: &[[u16; 3]; N]) -> [[u8; 3]; N] {
    let real: Vec<(usize, [u8; 3])> = hints
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let [r, g, b] = h.map(|c| u8::try_from(c).ok());
            Some((i, [r?, g?, b?]))
        })
        .collect();
    let seeds = if real.is_empty() {
        vec![(2, [52, 101, 164])]
    } else {
        real
    };
    let mut out = [[0u8; 3]; N];
    for (slot, colour) in out.iter_mut().enumerate() {
        if let Some(&(_, c)) = seeds.iter().find(|(i, _)| *i == slot) {
            *colour = c;
            continue;
        }
        // `seeds` is non-empty, so a nearest seed always exists.
        let Some(&(anchor, base)) = seeds.iter().min_by_key(|(i, _)| (i.abs_diff(slot), *i)) else {
            continue;
        };
        let delta = slot as f32 - anchor as f32;
        let (h, s, l) = rgb_to_hsl(base);
        // Greys have no hue to rotate, so lightness steps must keep slots
        // apart on their own: step 0.13 per slot, wrapped within 0.15..0.85,
        // never repeats for the at most 8 slots of distance in a palette.
        let lightness = 0.15 + (l - 0.15 + 0.13 * delta).rem_euclid(0.70);
        let saturation = if s < 0.05 { s } else { s.max(0.35) };
        *colour = hsl_to_rgb(h + 30.0 * delta, saturation, lightness);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    const FILL: [u16; 3] = [256, 256, 256];

    #[test]
    fn dominant_colors_are_ordered_by_share() {
        let img = RgbImage::from_fn(40, 40, |x, _| {
            if x < 30 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let colors = dominant_colors(&DynamicImage::ImageRgb8(img), 2);
        assert_eq!(colors, vec![[255, 0, 0], [0, 0, 255]]);
    }

    #[test]
    fn dominant_colors_pad_and_clamp() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(5, 5, Rgb([10, 200, 30])));
        assert_eq!(dominant_colors(&img, 3), vec![[10, 200, 30]; 3]);
        assert!(dominant_colors(&img, 0).is_empty());
        assert_eq!(dominant_colors(&img, usize::MAX).len(), MAX_DOMINANT_COLORS);
        assert_eq!(
            dominant_colors(&DynamicImage::new_rgb8(0, 0), 2),
            vec![[0, 0, 0]; 2]
        );
    }

    #[test]
    fn dominant_colors_skip_transparent_pixels() {
        let img = RgbaImage::from_fn(10, 10, |x, _| {
            if x < 8 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([0, 128, 0, 255])
            }
        });
        assert_eq!(
            dominant_colors(&DynamicImage::ImageRgba8(img), 1),
            vec![[0, 128, 0]]
        );
    }

    #[test]
    fn dominant_colors_merge_noise_within_a_bucket() {
        let img = RgbImage::from_fn(20, 20, |x, y| Rgb([200 + ((x + y) % 3) as u8, 100, 50]));
        let colors = dominant_colors(&DynamicImage::ImageRgb8(img), 1);
        assert!(
            colors[0][0].abs_diff(201) <= 1 && colors[0][1] == 100,
            "{colors:?}"
        );
    }

    #[test]
    fn palette_keeps_real_hints_in_place() {
        let hints = [FILL, [200, 30, 40], FILL, FILL, [10, 20, 200]];
        let palette = palette_from_hints(&hints);
        assert_eq!(palette[1], [200, 30, 40]);
        assert_eq!(palette[4], [10, 20, 200]);
        // Filled slots differ from each other and from their anchors.
        assert_ne!(palette[0], palette[1]);
        assert_ne!(palette[2], palette[1]);
        assert_ne!(palette[2], palette[3]);
        assert_ne!(palette[3], palette[4]);
    }

    #[test]
    fn palette_fills_from_one_hint_and_from_a_grey() {
        let palette = palette_from_hints(&[FILL, FILL, [255, 255, 255], FILL, FILL]);
        assert_eq!(palette[2], [255, 255, 255]);
        let unique: std::collections::BTreeSet<_> = palette.iter().collect();
        assert_eq!(unique.len(), 5, "{palette:?}");

        let palette = palette_from_hints(&[[0, 150, 136], FILL, FILL, FILL, FILL]);
        assert_eq!(palette[0], [0, 150, 136]);
        let unique: std::collections::BTreeSet<_> = palette.iter().collect();
        assert_eq!(unique.len(), 5, "{palette:?}");
    }

    #[test]
    fn palette_treats_out_of_range_hints_as_empty_and_survives_no_hints() {
        let palette = palette_from_hints(&[[300, 0, 0], [1, 2, 3], FILL, FILL, FILL]);
        assert_eq!(palette[1], [1, 2, 3]);
        assert_ne!(palette[0], [255, 0, 0]);
        let palette = palette_from_hints(&[FILL; 5]);
        let unique: std::collections::BTreeSet<_> = palette.iter().collect();
        assert!(unique.len() >= 4, "{palette:?}");
    }
}
