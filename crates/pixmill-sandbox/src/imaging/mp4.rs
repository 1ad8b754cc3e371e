//! A minimal MP4 writer carrying real, playable H.264.
//!
//! No crate is needed for this: the container is a dozen fixed ISO-BMFF
//! boxes, and the video is H.264 Constrained Baseline where every
//! macroblock is coded as I_PCM (raw samples). That is the one H.264 mode
//! that needs no transform or entropy coder, so any decoder plays the file
//! while the writer stays small. The cost is size (about 1.5 bytes per
//! pixel per frame), which the budget below bounds.

use super::generate::{Motion, generated_side};
use super::{ImagingError, color::to_u8};

/// Frames per second of generated videos.
pub const MP4_FPS: u32 = 8;
/// Most frames [`mp4`] writes.
pub const MAX_MP4_FRAMES: u32 = 240;
/// Largest `mdat` payload [`mp4`] writes; beyond it the frame count is
/// lowered (never below 1).
pub const MAX_MP4_BYTES: u64 = 64 << 20;

/// Movie and media timescale: milliseconds, so 8 fps is 125 ticks a frame.
const TIMESCALE: u32 = 1000;

/// A short looping clip (Segmind HotshotXL stand-in): the same scrolling
/// bands and circling ball as [`super::animated_gif`], chosen from `prompt`
/// and `seed`, at [`MP4_FPS`] frames per second.
///
/// The file is `ftyp` (major brand `isom`), `moov` (`mvhd` and one video
/// `trak` whose `tkhd` carries `width`×`height`, with an `avc1` sample
/// description) and `mdat`. Sizes are clamped to `1..=MAX_GENERATED_SIDE`,
/// `frames` to `1..=MAX_MP4_FRAMES` and then lowered to stay within
/// [`MAX_MP4_BYTES`]. H.264 codes whole 16×16 macroblocks cropped in steps
/// of 2 pixels, so an odd width or height decodes one pixel larger than
/// the `tkhd` size, which players scale away.
pub fn mp4(
    prompt: &str,
    width: u32,
    height: u32,
    frames: u32,
    seed: u64,
) -> Result<Vec<u8>, ImagingError> {
    let (width, height) = (generated_side(width), generated_side(height));
    let geometry = Geometry::new(width, height);
    let per_frame = geometry.frame_bytes();
    let budget = u32::try_from(MAX_MP4_BYTES / per_frame).unwrap_or(u32::MAX);
    let frames = frames.clamp(1, MAX_MP4_FRAMES).min(budget).max(1);

    let motion = Motion::new(prompt, seed);
    let mut samples = Vec::new();
    let mut sizes = Vec::with_capacity(frames as usize);
    for i in 0..frames {
        let rgb = motion.frame(width, height, i as f32 / frames as f32);
        let nal = idr_slice(&geometry, &rgb, i);
        // Samples are length-prefixed NAL units (avcC lengthSizeMinusOne = 3).
        let length = u32::try_from(nal.len()).map_err(|_| too_large())?;
        samples.extend_from_slice(&length.to_be_bytes());
        samples.extend_from_slice(&nal);
        sizes.push(length + 4);
    }

    let ftyp = ftyp();
    let sps = sps(&geometry);
    let pps = pps();
    // The chunk offset depends on the moov size, which does not depend on
    // the offset's value, so build moov once with a placeholder to measure it.
    let draft = moov(width, height, &sizes, &sps, &pps, 0);
    let data_offset = ftyp.len() + draft.len() + 8;
    let data_offset = u32::try_from(data_offset).map_err(|_| too_large())?;
    let moov = moov(width, height, &sizes, &sps, &pps, data_offset);
    let mdat = boxed(b"mdat", &samples)?;

    let mut out = Vec::with_capacity(ftyp.len() + moov.len() + mdat.len());
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&mdat);
    Ok(out)
}

fn too_large() -> ImagingError {
    ImagingError::Encode("video too large for a 32-bit MP4".into())
}

/// Picture geometry in macroblocks, plus the crop back to the real size.
struct Geometry {
    width: u32,
    height: u32,
    mb_w: u32,
    mb_h: u32,
    /// Right and bottom crop in 2-pixel units (4:2:0 crop granularity).
    crop_right: u32,
    crop_bottom: u32,
}

impl Geometry {
    fn new(width: u32, height: u32) -> Self {
        let (mb_w, mb_h) = (width.div_ceil(16), height.div_ceil(16));
        let (coded_w, coded_h) = (mb_w * 16, mb_h * 16);
        Self {
            width,
            height,
            mb_w,
            mb_h,
            crop_right: (coded_w - width.next_multiple_of(2)) / 2,
            crop_bottom: (coded_h - height.next_multiple_of(2)) / 2,
        }
    }

    /// Upper bound of one coded frame: 384 sample bytes per macroblock plus
    /// a few header bytes per macroblock and the slice header.
    fn frame_bytes(&self) -> u64 {
        u64::from(self.mb_w) * u64::from(self.mb_h) * 390 + 64
    }

    /// `level_idc` large enough for the frame size (decoders mostly ignore
    /// the bit-rate limits, which I_PCM exceeds anyway).
    fn level(&self) -> u8 {
        match self.mb_w * self.mb_h {
            0..=1_620 => 31,
            1_621..=8_192 => 40,
            8_193..=36_864 => 51,
            _ => 62,
        }
    }
}

/// MSB-first bit writer with Exp-Golomb codes, as H.264 headers use.
struct Bits {
    bytes: Vec<u8>,
    used: u8,
}

impl Bits {
    fn new() -> Self {
        Self {
            bytes: Vec::new(),
            used: 8,
        }
    }

    fn bit(&mut self, bit: bool) {
        if self.used == 8 {
            self.bytes.push(0);
            self.used = 0;
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> self.used;
        }
        self.used += 1;
    }

    fn bits(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    /// ue(v): unsigned Exp-Golomb.
    fn ue(&mut self, value: u32) {
        let coded = u64::from(value) + 1;
        let len = 64 - coded.leading_zeros();
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((coded >> i) & 1 == 1);
        }
    }

    /// se(v) for zero, the only signed value we write.
    fn se_zero(&mut self) {
        self.ue(0);
    }

    fn align_zero(&mut self) {
        while self.used != 8 {
            self.bit(false);
        }
    }

    /// rbsp_trailing_bits: a stop bit, then zeros to the byte boundary.
    fn trailing(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.bytes
    }
}

/// NAL unit from a header byte and an RBSP, with emulation prevention:
/// a 0x03 is inserted wherever the payload would otherwise contain
/// `00 00 0x` (x ≤ 3), which decoders would take for a start code.
fn nal(header: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push(header);
    let mut zeros = 0;
    for &byte in rbsp {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    out
}

const PROFILE_BASELINE: u8 = 66;
/// constraint_set0 and constraint_set1: Constrained Baseline.
const CONSTRAINTS: u8 = 0xc0;

fn sps(geometry: &Geometry) -> Vec<u8> {
    let mut b = Bits::new();
    b.bits(u32::from(PROFILE_BASELINE), 8);
    b.bits(u32::from(CONSTRAINTS), 8);
    b.bits(u32::from(geometry.level()), 8);
    b.ue(0); // seq_parameter_set_id
    b.ue(0); // log2_max_frame_num_minus4: every frame is IDR, frame_num stays 0
    b.ue(2); // pic_order_cnt_type 2: output order = decoding order
    b.ue(1); // max_num_ref_frames
    b.bit(false); // gaps_in_frame_num_value_allowed_flag
    b.ue(geometry.mb_w - 1);
    b.ue(geometry.mb_h - 1);
    b.bit(true); // frame_mbs_only_flag
    b.bit(true); // direct_8x8_inference_flag
    let crop = geometry.crop_right > 0 || geometry.crop_bottom > 0;
    b.bit(crop);
    if crop {
        b.ue(0);
        b.ue(geometry.crop_right);
        b.ue(0);
        b.ue(geometry.crop_bottom);
    }
    b.bit(false); // vui_parameters_present_flag: timing comes from the container
    nal(0x67, &b.trailing())
}

fn pps() -> Vec<u8> {
    let mut b = Bits::new();
    b.ue(0); // pic_parameter_set_id
    b.ue(0); // seq_parameter_set_id
    b.bit(false); // entropy_coding_mode_flag: CAVLC
    b.bit(false); // bottom_field_pic_order_in_frame_present_flag
    b.ue(0); // num_slice_groups_minus1
    b.ue(0); // num_ref_idx_l0_default_active_minus1
    b.ue(0); // num_ref_idx_l1_default_active_minus1
    b.bit(false); // weighted_pred_flag
    b.bits(0, 2); // weighted_bipred_idc
    b.se_zero(); // pic_init_qp_minus26
    b.se_zero(); // pic_init_qs_minus26
    b.se_zero(); // chroma_qp_index_offset
    b.bit(true); // deblocking_filter_control_present_flag
    b.bit(false); // constrained_intra_pred_flag
    b.bit(false); // redundant_pic_cnt_present_flag
    nal(0x68, &b.trailing())
}

/// One IDR picture as a single slice of I_PCM macroblocks, colour converted
/// to BT.601 limited-range YCbCr 4:2:0.
fn idr_slice(geometry: &Geometry, rgb: &image::RgbImage, index: u32) -> Vec<u8> {
    let mut b = Bits::new();
    b.ue(0); // first_mb_in_slice
    b.ue(7); // slice_type: I, and so are all slices of the picture
    b.ue(0); // pic_parameter_set_id
    b.bits(0, 4); // frame_num
    // Consecutive IDR pictures must carry different idr_pic_id values.
    b.ue(index % 2);
    b.bit(false); // no_output_of_prior_pics_flag
    b.bit(false); // long_term_reference_flag
    b.se_zero(); // slice_qp_delta
    b.ue(1); // disable_deblocking_filter_idc: PCM needs none

    // Macroblock padding beyond the picture repeats its edge pixels, which
    // keeps the cropped-away area from bleeding into chroma at the border.
    let ycbcr = |x: u32, y: u32| -> [f32; 3] {
        let x = x.min(geometry.width.saturating_sub(1));
        let y = y.min(geometry.height.saturating_sub(1));
        let p = rgb
            .get_pixel_checked(x, y)
            .map_or([0.0; 3], |p| p.0.map(f32::from));
        let [r, g, bl] = p;
        [
            16.0 + (65.481 * r + 128.553 * g + 24.966 * bl) / 255.0,
            128.0 + (-37.797 * r - 74.203 * g + 112.0 * bl) / 255.0,
            128.0 + (112.0 * r - 93.786 * g - 18.214 * bl) / 255.0,
        ]
    };
    // Sample value 0 was disallowed for PCM in early H.264 editions; 1..=255
    // is valid everywhere and also keeps start-code emulation rare.
    let sample = |v: f32| to_u8(v).max(1);
    for mby in 0..geometry.mb_h {
        for mbx in 0..geometry.mb_w {
            b.ue(25); // mb_type I_PCM
            b.align_zero(); // pcm_alignment_zero_bit
            let (x0, y0) = (mbx * 16, mby * 16);
            for y in 0..16 {
                for x in 0..16 {
                    b.bytes.push(sample(ycbcr(x0 + x, y0 + y)[0]));
                }
            }
            for plane in 1..3 {
                for y in 0..8 {
                    for x in 0..8 {
                        let (sx, sy) = (x0 + 2 * x, y0 + 2 * y);
                        let sum: f32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                            .iter()
                            .map(|&(dx, dy)| ycbcr(sx + dx, sy + dy)[plane])
                            .sum();
                        b.bytes.push(sample(sum / 4.0));
                    }
                }
            }
        }
    }
    nal(0x65, &b.trailing())
}

fn boxed(kind: &[u8; 4], payload: &[u8]) -> Result<Vec<u8>, ImagingError> {
    let size = u32::try_from(payload.len() + 8).map_err(|_| too_large())?;
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    Ok(out)
}

/// A box whose payload is small by construction (everything but `mdat`).
fn small_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// A FullBox: version 0 and 24 bits of flags before the payload.
fn full_box(kind: &[u8; 4], flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut body = (flags & 0x00ff_ffff).to_be_bytes().to_vec();
    body.extend_from_slice(payload);
    small_box(kind, &body)
}

fn container(kind: &[u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
    small_box(kind, &children.concat())
}

struct Payload(Vec<u8>);

impl Payload {
    fn new() -> Self {
        Self(Vec::new())
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// The identity transformation matrix of mvhd/tkhd.
    fn matrix(self) -> Self {
        [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
            .iter()
            .fold(self, |p, &v| p.u32(v))
    }
}

fn ftyp() -> Vec<u8> {
    let payload = Payload::new()
        .bytes(b"isom")
        .u32(0x200)
        .bytes(b"isom")
        .bytes(b"iso2")
        .bytes(b"avc1")
        .bytes(b"mp41");
    small_box(b"ftyp", &payload.0)
}

fn moov(
    width: u32,
    height: u32,
    sizes: &[u32],
    sps: &[u8],
    pps: &[u8],
    data_offset: u32,
) -> Vec<u8> {
    let frame_ticks = TIMESCALE / MP4_FPS;
    let count = sizes.len() as u32; // at most MAX_MP4_FRAMES
    let duration = count * frame_ticks;

    let mvhd = full_box(
        b"mvhd",
        0,
        &Payload::new()
            .u32(0) // creation_time: fixed, so output is reproducible
            .u32(0) // modification_time
            .u32(TIMESCALE)
            .u32(duration)
            .u32(0x0001_0000) // rate 1.0
            .u16(0x0100) // volume 1.0
            .zeros(10)
            .matrix()
            .zeros(24) // pre_defined
            .u32(2) // next_track_ID
            .0,
    );
    let tkhd = full_box(
        b"tkhd",
        0x3, // track enabled, in movie
        &Payload::new()
            .u32(0)
            .u32(0)
            .u32(1) // track_ID
            .u32(0)
            .u32(duration)
            .zeros(8)
            .u16(0) // layer
            .u16(0) // alternate_group
            .u16(0) // volume: not an audio track
            .u16(0)
            .matrix()
            .u32(width << 16) // 16.16 fixed point; width ≤ MAX_GENERATED_SIDE
            .u32(height << 16)
            .0,
    );
    let mdhd = full_box(
        b"mdhd",
        0,
        &Payload::new()
            .u32(0)
            .u32(0)
            .u32(TIMESCALE)
            .u32(duration)
            .u16(0x55c4) // language "und"
            .u16(0)
            .0,
    );
    let hdlr = full_box(
        b"hdlr",
        0,
        &Payload::new()
            .u32(0)
            .bytes(b"vide")
            .zeros(12)
            .bytes(b"VideoHandler\0")
            .0,
    );
    let vmhd = full_box(b"vmhd", 1, &Payload::new().zeros(8).0);
    let dref = full_box(
        b"dref",
        0,
        &Payload::new().u32(1).bytes(&full_box(b"url ", 1, &[])).0,
    );
    let dinf = container(b"dinf", &[dref]);

    let avcc = small_box(
        b"avcC",
        &Payload::new()
            .u8(1) // configurationVersion
            .u8(PROFILE_BASELINE)
            .u8(CONSTRAINTS)
            .u8(sps.get(3).copied().unwrap_or(31)) // level_idc as in the SPS
            .u8(0xff) // lengthSizeMinusOne = 3
            .u8(0xe1) // one SPS
            .u16(sps.len() as u16)
            .bytes(sps)
            .u8(1) // one PPS
            .u16(pps.len() as u16)
            .bytes(pps)
            .0,
    );
    let mut compressor = [0u8; 32];
    let name = b"pixmill I_PCM";
    compressor[0] = name.len() as u8;
    compressor[1..=name.len()].copy_from_slice(name);
    let avc1 = small_box(
        b"avc1",
        &Payload::new()
            .zeros(6)
            .u16(1) // data_reference_index
            .zeros(16)
            .u16(width as u16) // ≤ MAX_GENERATED_SIDE
            .u16(height as u16)
            .u32(0x0048_0000) // 72 dpi
            .u32(0x0048_0000)
            .u32(0)
            .u16(1) // frame_count
            .bytes(&compressor)
            .u16(0x0018) // depth
            .u16(0xffff) // pre_defined = -1
            .bytes(&avcc)
            .0,
    );
    let stsd = full_box(b"stsd", 0, &Payload::new().u32(1).bytes(&avc1).0);
    let stts = full_box(
        b"stts",
        0,
        &Payload::new().u32(1).u32(count).u32(frame_ticks).0,
    );
    // All samples in one chunk, starting right after the mdat header.
    let stsc = full_box(
        b"stsc",
        0,
        &Payload::new().u32(1).u32(1).u32(count).u32(1).0,
    );
    let stsz = full_box(
        b"stsz",
        0,
        &sizes
            .iter()
            .fold(Payload::new().u32(0).u32(count), |p, &s| p.u32(s))
            .0,
    );
    let stco = full_box(b"stco", 0, &Payload::new().u32(1).u32(data_offset).0);
    // Every sample is IDR, so no stss box: absent means all are sync samples.
    let stbl = container(b"stbl", &[stsd, stts, stsc, stsz, stco]);
    let minf = container(b"minf", &[vmhd, dinf, stbl]);
    let mdia = container(b"mdia", &[mdhd, hdlr, minf]);
    let trak = container(b"trak", &[tkhd, mdia]);
    container(b"moov", &[mvhd, trak])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::MAX_GENERATED_SIDE;

    /// Boxes directly inside `data`: (type, payload).
    fn walk(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut boxes = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            assert!(rest.len() >= 8, "truncated box header");
            let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(
                size >= 8 && size <= rest.len(),
                "box size {size} of {}",
                rest.len()
            );
            let kind: [u8; 4] = rest[4..8].try_into().unwrap();
            boxes.push((kind, &rest[8..size]));
            rest = &rest[size..];
        }
        boxes
    }

    fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
        walk(data)
            .into_iter()
            .find(|(k, _)| k == kind)
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(kind)))
    }

    fn be32(data: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn mp4_box_structure_is_consistent() {
        let file = mp4("a dancing robot", 70, 36, 5, 3).expect("writes");
        let top = walk(&file);
        let kinds: Vec<&[u8; 4]> = top.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"ftyp", b"moov", b"mdat"]);
        assert_eq!(&file[4..12], b"ftypisom");

        let moov = child(&file, b"moov");
        let mvhd = child(moov, b"mvhd");
        assert_eq!(be32(mvhd, 12), TIMESCALE);
        assert_eq!(be32(mvhd, 16), 5 * TIMESCALE / MP4_FPS);
        let trak = child(moov, b"trak");
        let tkhd = child(trak, b"tkhd");
        assert_eq!(be32(tkhd, 76), 70 << 16);
        assert_eq!(be32(tkhd, 80), 36 << 16);

        let stbl = child(child(child(trak, b"mdia"), b"minf"), b"stbl");
        let stsd = child(stbl, b"stsd");
        let avc1 = child(&stsd[8..], b"avc1");
        assert_eq!(u16::from_be_bytes([avc1[24], avc1[25]]), 70);
        assert_eq!(u16::from_be_bytes([avc1[26], avc1[27]]), 36);
        let avcc = child(&avc1[78..], b"avcC");
        assert_eq!(avcc[1], PROFILE_BASELINE);

        // Sample sizes add up to the mdat payload, which stco points at.
        let stsz = child(stbl, b"stsz");
        assert_eq!(be32(stsz, 8), 5);
        let sizes: Vec<u32> = (0..5).map(|i| be32(stsz, 12 + 4 * i)).collect();
        let mdat = child(&file, b"mdat");
        assert_eq!(sizes.iter().sum::<u32>() as usize, mdat.len());
        let stco = child(stbl, b"stco");
        let offset = be32(stco, 8) as usize;
        assert_eq!(&file[offset..offset + mdat.len()], mdat);

        // Each sample is one length-prefixed IDR NAL unit.
        let mut at = 0;
        for size in sizes {
            let sample = &mdat[at..at + size as usize];
            assert_eq!(be32(sample, 0) + 4, size);
            assert_eq!(sample[4], 0x65);
            at += size as usize;
        }
    }

    #[test]
    fn mp4_is_deterministic_and_clamps() {
        let a = mp4("p", 32, 32, 2, 1).expect("writes");
        assert_eq!(a, mp4("p", 32, 32, 2, 1).expect("writes"));
        assert_ne!(a, mp4("p", 32, 32, 2, 2).expect("writes"));
        let tiny = mp4("", 0, 0, 0, 0).expect("writes");
        let tkhd = child(child(child(&tiny, b"moov"), b"trak"), b"tkhd");
        assert_eq!((be32(tkhd, 76), be32(tkhd, 80)), (1 << 16, 1 << 16));
        let stsz = child(
            child(
                child(child(child(&tiny, b"moov"), b"trak"), b"mdia"),
                b"minf",
            ),
            b"stbl",
        );
        assert_eq!(be32(child(stsz, b"stsz"), 8), 1);
    }

    #[test]
    fn frame_budget_limits_large_videos() {
        let geometry = Geometry::new(MAX_GENERATED_SIDE, MAX_GENERATED_SIDE);
        let budget = MAX_MP4_BYTES / geometry.frame_bytes();
        assert!(budget >= 1 && budget < u64::from(MAX_MP4_FRAMES));
        assert_eq!(geometry.level(), 62);
        let small = Geometry::new(33, 17);
        assert_eq!(
            (small.mb_w, small.mb_h, small.crop_right, small.crop_bottom),
            (3, 2, 7, 7)
        );
    }

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        let mut b = Bits::new();
        b.ue(0); // 1
        b.ue(1); // 010
        b.ue(2); // 011
        b.ue(25); // 000011010
        assert_eq!(b.trailing(), vec![0b1010_0110, 0b0001_1010, 0b1000_0000]);
        assert_eq!(
            nal(0x65, &[0, 0, 1, 0, 0, 0, 5]),
            vec![0x65, 0, 0, 3, 1, 0, 0, 3, 0, 5]
        );
    }
}
