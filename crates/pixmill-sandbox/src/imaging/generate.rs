//! Images made from nothing but text and numbers: "generated" pictures,
//! template graphics and animation frames. All are pure functions of their
//! arguments.

use std::f32::consts::TAU;
use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, DynamicImage, Frame, Rgb, RgbImage, Rgba, RgbaImage, imageops};

use super::color::{SplitMix, hash_parts, hsl_to_rgb, luma, mix};
use super::{ImagingError, MAX_GENERATED_SIDE};

/// Side of the square canvas [`render_graphic`] draws on.
pub const GRAPHIC_SIDE: u32 = 1080;
/// Texts beyond this many are ignored by [`render_graphic`], so stripes stay
/// at least a few pixels tall.
pub const MAX_GRAPHIC_TEXTS: usize = 32;
/// Images beyond this many are ignored by [`render_graphic`].
pub const MAX_GRAPHIC_IMAGES: usize = 64;
/// Most frames [`animated_gif`] renders.
pub const MAX_GIF_FRAMES: u32 = 120;
/// Total pixels (width × height × frames) [`animated_gif`] renders at most;
/// beyond it the frame count is lowered (never below 2).
pub const MAX_GIF_PIXELS: u64 = 1 << 26;
/// Display time of one GIF frame.
const GIF_FRAME_MS: u32 = 100;

/// Clamps a requested generated size to `1..=MAX_GENERATED_SIDE`.
fn generated_side(side: u32) -> u32 {
    side.clamp(1, MAX_GENERATED_SIDE)
}

/// Parameters of [`animated_gif`]'s looping animation, derived from the
/// prompt and seed.
struct Motion {
    from: [u8; 3],
    to: [u8; 3],
    ball: [u8; 3],
    angle: f32,
    phase: f32,
    radius: f32,
}

/// Gradient bands per frame; with the ball this keeps every frame within
/// a GIF's 256-colour palette, so GIF frames are exact and fast to encode.
const BANDS: f32 = 24.0;

impl Motion {
    fn new(prompt: &str, seed: u64) -> Self {
        let mut rng = SplitMix::new(hash_parts(&[prompt.as_bytes(), &seed.to_le_bytes()]));
        let hue = rng.range(0.0, 360.0);
        let second = hue + rng.range(90.0, 270.0);
        Self {
            from: hsl_to_rgb(hue, 0.65, 0.35),
            to: hsl_to_rgb(second, 0.7, 0.7),
            ball: hsl_to_rgb(hue + 180.0, 0.9, 0.55),
            angle: rng.range(0.0, TAU),
            phase: rng.range(0.0, TAU),
            radius: rng.range(0.12, 0.22),
        }
    }

    /// Frame at time `t` in `[0, 1)`; `t` and `t + 1` look the same, so the
    /// animation loops seamlessly: diagonal bands scroll one period and a
    /// ball travels once around an ellipse.
    fn frame(&self, width: u32, height: u32, t: f32) -> RgbImage {
        let (wf, hf) = (width as f32, height as f32);
        let diag = (wf * wf + hf * hf).sqrt().max(1.0);
        let (dx, dy) = (self.angle.cos(), self.angle.sin());
        let palette: Vec<[u8; 3]> = (0..BANDS as usize)
            .map(|i| {
                // Triangle wave so the last band blends back into the first.
                let u = i as f32 / BANDS;
                mix(self.from, self.to, 1.0 - (2.0 * u - 1.0).abs())
            })
            .collect();
        let theta = TAU * t + self.phase;
        let centre = (
            wf * (0.5 + 0.3 * theta.cos()),
            hf * (0.5 + 0.3 * theta.sin()),
        );
        let r = self.radius * wf.min(hf);
        RgbImage::from_fn(width, height, |x, y| {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let (bx, by) = (xf - centre.0, yf - centre.1);
            if bx * bx + by * by <= r * r {
                return Rgb(self.ball);
            }
            let u = ((xf * dx + yf * dy) / diag - t).rem_euclid(1.0);
            let band = ((u * BANDS) as usize).min(palette.len() - 1);
            Rgb(palette[band])
        })
    }
}

/// A looping animated GIF (Segmind HotshotXL stand-in) of `width`×`height`
/// showing scrolling colour bands and a circling ball, both chosen from
/// `prompt` and `seed`; frames last 100 ms.
///
/// Sizes are clamped to `1..=MAX_GENERATED_SIDE` and `frames` to
/// `2..=MAX_GIF_FRAMES`, then lowered (not below 2) to keep
/// width × height × frames within [`MAX_GIF_PIXELS`].
pub fn animated_gif(
    prompt: &str,
    width: u32,
    height: u32,
    frames: u32,
    seed: u64,
) -> Result<Vec<u8>, ImagingError> {
    let (width, height) = (generated_side(width), generated_side(height));
    let per_frame = u64::from(width) * u64::from(height);
    let budget = u32::try_from(MAX_GIF_PIXELS / per_frame).unwrap_or(u32::MAX);
    let frames = frames.clamp(2, MAX_GIF_FRAMES).min(budget).max(2);
    let motion = Motion::new(prompt, seed);
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut out), 10);
        encoder.set_repeat(Repeat::Infinite).map_err(encode_error)?;
        for i in 0..frames {
            let rgb = motion.frame(width, height, i as f32 / frames as f32);
            let rgba = DynamicImage::ImageRgb8(rgb).to_rgba8();
            let delay = Delay::from_numer_denom_ms(GIF_FRAME_MS, 1);
            encoder
                .encode_frame(Frame::from_parts(rgba, 0, 0, delay))
                .map_err(encode_error)?;
        }
    }
    Ok(out)
}

fn encode_error(error: image::ImageError) -> ImagingError {
    ImagingError::Encode(error.to_string())
}

/// A deterministic "generated" picture for a prompt and style: a smooth
/// two-colour gradient with a handful of translucent circles and boxes, all
/// picked from a hash of `prompt` and `style_id`. Sizes are clamped to
/// `1..=MAX_GENERATED_SIDE`.
pub fn text_to_image(prompt: &str, style_id: i64, width: u32, height: u32) -> DynamicImage {
    let (width, height) = (generated_side(width), generated_side(height));
    let mut rng = SplitMix::new(hash_parts(&[prompt.as_bytes(), &style_id.to_le_bytes()]));
    // The style fixes the palette's base hue, the prompt varies around it.
    let style_hue = (style_id.rem_euclid(12) * 30) as f32;
    let hue = style_hue + rng.range(-25.0, 25.0);
    let top = hsl_to_rgb(hue, 0.55, rng.range(0.2, 0.45));
    let bottom = hsl_to_rgb(hue + rng.range(40.0, 140.0), 0.6, rng.range(0.55, 0.8));
    let (wf, hf) = (width as f32, height as f32);
    let mut canvas = RgbaImage::from_fn(width, height, |_, y| {
        let [r, g, b] = mix(top, bottom, (y as f32 + 0.5) / hf);
        Rgba([r, g, b, 255])
    });
    let shapes = 3 + rng.next_u64() % 6;
    for _ in 0..shapes {
        let colour = hsl_to_rgb(
            hue + rng.range(-120.0, 120.0),
            rng.range(0.4, 0.9),
            rng.range(0.25, 0.8),
        );
        let (cx, cy) = (rng.range(0.0, wf), rng.range(0.0, hf));
        let size = rng.range(0.08, 0.3) * wf.min(hf).max(1.0);
        let circle = rng.unit() < 0.5;
        let opacity = rng.range(0.45, 0.85);
        let (x0, x1) = span(cx, size, width);
        let (y0, y1) = span(cy, size, height);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if circle && dx * dx + dy * dy > size * size {
                    continue;
                }
                let p = canvas.get_pixel_mut(x, y);
                let [r, g, b] = mix([p[0], p[1], p[2]], colour, opacity);
                *p = Rgba([r, g, b, 255]);
            }
        }
    }
    DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).to_rgb8())
}

/// Pixel range `[lo, hi)` covered by `centre ± half`, clipped to `0..limit`.
fn span(centre: f32, half: f32, limit: u32) -> (u32, u32) {
    let lo = (centre - half).floor().clamp(0.0, limit as f32) as u32;
    let hi = (centre + half).ceil().clamp(0.0, limit as f32) as u32;
    (lo, hi)
}

fn fill_rect(canvas: &mut RgbaImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    let (cw, ch) = canvas.dimensions();
    let (x1, y1) = (x.saturating_add(w).min(cw), y.saturating_add(h).min(ch));
    for yy in y.min(ch)..y1 {
        for xx in x.min(cw)..x1 {
            canvas.put_pixel(xx, yy, Rgba([colour[0], colour[1], colour[2], 255]));
        }
    }
}

/// A template render (Perfect Corp / Hotpot graphic designs) on a
/// [`GRAPHIC_SIDE`]² canvas: background colour from a hash of `design_id`,
/// the images scaled into a grid of tiles (top 60 % when there are texts),
/// and one coloured stripe per text (colour from the text's hash) with a
/// block per non-space character standing in for glyphs. At most
/// [`MAX_GRAPHIC_TEXTS`] texts and [`MAX_GRAPHIC_IMAGES`] images are drawn;
/// zero-sized images leave their tile empty.
pub fn render_graphic(design_id: &str, texts: &[String], images: &[DynamicImage]) -> DynamicImage {
    const MARGIN: u32 = 40;
    const GAP: u32 = 12;
    let side = GRAPHIC_SIDE;
    let bg_hue = (hash_parts(&[design_id.as_bytes()]) % 360) as f32;
    let [r, g, b] = hsl_to_rgb(bg_hue, 0.35, 0.88);
    let mut canvas = RgbaImage::from_pixel(side, side, Rgba([r, g, b, 255]));
    let texts = &texts[..texts.len().min(MAX_GRAPHIC_TEXTS)];
    let images = &images[..images.len().min(MAX_GRAPHIC_IMAGES)];
    let inner = side - 2 * MARGIN;
    let (image_area, text_area) = match (images.is_empty(), texts.is_empty()) {
        (false, false) => {
            let split = inner * 3 / 5;
            ((MARGIN, split), (MARGIN + split + GAP, inner - split - GAP))
        }
        (false, true) => ((MARGIN, inner), (0, 0)),
        _ => ((0, 0), (MARGIN, inner)),
    };
    if !images.is_empty() {
        let n = images.len() as u32;
        let cols = (f64::from(n).sqrt().ceil() as u32).max(1);
        let rows = n.div_ceil(cols);
        let tile_w = inner / cols;
        let tile_h = image_area.1 / rows;
        for (i, image) in images.iter().enumerate() {
            if image.width() == 0 || image.height() == 0 {
                continue;
            }
            let (col, row) = (i as u32 % cols, i as u32 / cols);
            let (box_w, box_h) = (
                tile_w.saturating_sub(GAP).max(1),
                tile_h.saturating_sub(GAP).max(1),
            );
            let thumb = image.thumbnail(box_w, box_h).to_rgba8();
            let x = MARGIN + col * tile_w + tile_w.saturating_sub(thumb.width()) / 2;
            let y = image_area.0 + row * tile_h + tile_h.saturating_sub(thumb.height()) / 2;
            imageops::overlay(&mut canvas, &thumb, i64::from(x), i64::from(y));
        }
    }
    if !texts.is_empty() {
        let n = texts.len() as u32;
        let stripe_h = (text_area.1.saturating_sub(GAP * (n - 1)) / n).max(1);
        for (i, text) in texts.iter().enumerate() {
            let y = text_area.0 + i as u32 * (stripe_h + GAP);
            let hue = (hash_parts(&[text.as_bytes()]) % 360) as f32;
            let stripe = hsl_to_rgb(hue, 0.6, 0.45);
            fill_rect(&mut canvas, MARGIN, y, inner, stripe_h, stripe);
            let ink = if luma(stripe) > 140.0 {
                [20, 20, 20]
            } else {
                [250, 250, 250]
            };
            let glyph_h = (stripe_h * 3 / 5).max(1);
            let glyph_w = (glyph_h / 2).max(1);
            let advance = glyph_w + (glyph_w / 3).max(1);
            let mut x = MARGIN + advance;
            for ch in text.chars() {
                if x + glyph_w > MARGIN + inner - advance {
                    break;
                }
                if !ch.is_whitespace() {
                    fill_rect(
                        &mut canvas,
                        x,
                        y + (stripe_h - glyph_h) / 2,
                        glyph_w,
                        glyph_h,
                        ink,
                    );
                }
                x += advance;
            }
        }
    }
    DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;
    use image::codecs::gif::GifDecoder;

    fn decode_gif(bytes: &[u8]) -> Vec<RgbaImage> {
        let decoder = GifDecoder::new(Cursor::new(bytes)).expect("valid gif");
        decoder
            .into_frames()
            .collect_frames()
            .expect("frames decode")
            .into_iter()
            .map(Frame::into_buffer)
            .collect()
    }

    #[test]
    fn animated_gif_has_moving_frames_of_the_requested_size() {
        let bytes = animated_gif("a cat surfing", 64, 48, 6, 42).expect("encodes");
        assert!(bytes.starts_with(b"GIF89a"));
        let frames = decode_gif(&bytes);
        assert_eq!(frames.len(), 6);
        assert!(frames.iter().all(|f| f.dimensions() == (64, 48)));
        assert_ne!(frames[0], frames[1]);
        // Frames use ≤ 256 colours, so they decode to exactly what was drawn.
        let motion = Motion::new("a cat surfing", 42);
        let expected = DynamicImage::ImageRgb8(motion.frame(64, 48, 0.0)).to_rgba8();
        assert_eq!(frames[0], expected);
        // NETSCAPE2.0 extension with loop count 0 = loop forever.
        let netscape = bytes
            .windows(11)
            .position(|w| w == b"NETSCAPE2.0")
            .expect("loop extension");
        assert_eq!(&bytes[netscape + 11..netscape + 15], &[3, 1, 0, 0]);
    }

    #[test]
    fn animated_gif_is_deterministic_and_depends_on_prompt_and_seed() {
        let a = animated_gif("sunset", 32, 32, 3, 1).expect("encodes");
        assert_eq!(a, animated_gif("sunset", 32, 32, 3, 1).expect("encodes"));
        assert_ne!(a, animated_gif("sunset", 32, 32, 3, 2).expect("encodes"));
        assert_ne!(a, animated_gif("sunrise", 32, 32, 3, 1).expect("encodes"));
    }

    #[test]
    fn animated_gif_clamps_degenerate_requests() {
        let frames = decode_gif(&animated_gif("", 0, 0, 0, 0).expect("encodes"));
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].dimensions(), (1, 1));
        let frames = decode_gif(&animated_gif("x", 3, 1, 1, 9).expect("encodes"));
        assert_eq!((frames.len(), frames[0].dimensions()), (2, (3, 1)));
    }

    #[test]
    fn text_to_image_is_deterministic_and_sized() {
        let a = text_to_image("a red fox", 3, 96, 64);
        assert_eq!((a.width(), a.height()), (96, 64));
        assert_eq!(a, text_to_image("a red fox", 3, 96, 64));
        assert_ne!(a, text_to_image("a red fox", 4, 96, 64));
        assert_ne!(a, text_to_image("a blue fox", 3, 96, 64));
        let tiny = text_to_image("", -1, 0, 1);
        assert_eq!((tiny.width(), tiny.height()), (1, 1));
    }

    #[test]
    fn render_graphic_draws_background_tiles_and_stripes() {
        let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(50, 50, Rgb([0, 0, 255])));
        let texts = vec!["Summer sale".to_string(), "50% off".to_string()];
        let out = render_graphic("design-42", &texts, std::slice::from_ref(&photo)).to_rgb8();
        assert_eq!(out.dimensions(), (GRAPHIC_SIDE, GRAPHIC_SIDE));
        let bg = *out.get_pixel(5, 5);
        let tile_centre = *out.get_pixel(GRAPHIC_SIDE / 2, 40 + 300);
        assert_eq!(tile_centre, Rgb([0, 0, 255]));
        // Stripes sit in the bottom 40 % and differ from the background.
        let stripe_edge = *out.get_pixel(45, 1000);
        assert_ne!(stripe_edge, bg);
        let same = render_graphic("design-42", &texts, std::slice::from_ref(&photo));
        assert_eq!(same.to_rgb8(), out);
        let other = render_graphic("design-43", &texts, &[]).to_rgb8();
        assert_ne!(*other.get_pixel(5, 5), bg);
    }

    #[test]
    fn render_graphic_survives_odd_inputs() {
        let many_texts: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
        let odd_images = vec![
            DynamicImage::new_rgb8(0, 0),
            DynamicImage::new_rgb8(1, 900),
            DynamicImage::new_rgb8(900, 1),
        ];
        let out = render_graphic("", &many_texts, &odd_images);
        assert_eq!((out.width(), out.height()), (GRAPHIC_SIDE, GRAPHIC_SIDE));
        let many_images = vec![DynamicImage::new_rgb8(2, 2); 200];
        let out = render_graphic("x", &[], &many_images);
        assert_eq!((out.width(), out.height()), (GRAPHIC_SIDE, GRAPHIC_SIDE));
        let empty = render_graphic("x", &[], &[]);
        assert_eq!(
            (empty.width(), empty.height()),
            (GRAPHIC_SIDE, GRAPHIC_SIDE)
        );
    }
}
