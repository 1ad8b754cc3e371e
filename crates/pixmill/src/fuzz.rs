//! Property tests of the facade's own parsing: whatever bytes a server sends, nothing panics,
//! and pictures that are valid come through intact.
//!
//! `PIXMILL_FUZZ_CASES=100000 cargo test --release -p pixmill --lib fuzz` for a long run.

use base64::Engine as _;
use bytes::BytesMut;
use proptest::prelude::*;

use crate::error::{clip, excerpt};
use crate::image::{ImageFormat, ImageInfo};
use crate::splice::FieldParser;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PIXMILL_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Feeds `text` to a parser in chunks of `chunk` bytes.
fn parse(text: &[u8], field: &str, chunk: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut parser = FieldParser::new(field.as_bytes(), "P");
    let mut skeleton = BytesMut::new();
    let mut decoded = Vec::new();
    for piece in text.chunks(chunk.max(1)) {
        parser.feed(piece, &mut skeleton, &mut decoded)?;
    }
    parser.finish(&mut decoded)?;
    Ok((skeleton.to_vec(), decoded))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_answer_scanner_survives_any_bytes(
        text in prop::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
    ) {
        let _ = parse(&text, "imageBase64", chunk);
    }

    #[test]
    fn the_answer_scanner_survives_json_like_text(
        text in "[{}\\[\\]\":,\\\\ a-zA-Z0-9+/=ue]{0,256}",
        chunk in 1usize..32,
    ) {
        let _ = parse(text.as_bytes(), "a", chunk);
    }

    #[test]
    fn pictures_come_through_intact_at_any_chunking(
        picture in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..512,
        before in "[a-z]{0,8}",
    ) {
        let text = base64::engine::general_purpose::STANDARD.encode(&picture);
        let json = format!(r#"{{"{before}x": [1, {{"image": "no"}}], "image": "{text}", "z": null}}"#);
        let (skeleton, decoded) = parse(json.as_bytes(), "image", chunk).unwrap();
        prop_assert_eq!(decoded, picture);
        let skeleton: serde_json::Value = serde_json::from_slice(&skeleton).unwrap();
        prop_assert_eq!(&skeleton["image"], "P");
    }

    #[test]
    fn image_headers_of_any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = ImageFormat::detect(&bytes);
        let _ = ImageInfo::read(&bytes);
    }

    #[test]
    fn retry_after_of_any_header_never_panics(value in "\\PC{0,40}") {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(value) = value.parse() {
            headers.insert(reqwest::header::RETRY_AFTER, value);
            let _ = crate::retry::retry_after(&headers);
        }
    }

    #[test]
    fn messages_are_clipped_on_character_boundaries(text in "\\PC{0,2000}") {
        let clipped = clip(&text);
        prop_assert!(clipped.chars().count() <= crate::error::EXCERPT_CHARS + 1);
        let _ = excerpt(text.as_bytes());
    }
}

#[cfg(feature = "perfect")]
proptest! {
    #![proptest_config(config())]

    #[test]
    fn perfect_status_answers_of_any_shape_never_panic(
        status in "\\PC{0,12}",
        error in proptest::option::of("\\PC{0,12}"),
        interval in any::<i64>(),
    ) {
        let json = serde_json::json!({"result": {"status": status, "error": error, "polling_interval": interval}});
        let snapshot = crate::perfect::TaskSnapshot::from_json(&json);
        prop_assert_eq!(snapshot.status.to_string(), status);
    }
}

#[cfg(feature = "hotpot")]
proptest! {
    #![proptest_config(config())]

    #[test]
    fn hotpot_pictures_of_any_text_never_panic(text in "\\PC{0,200}") {
        let _ = crate::hotpot::decode_picture_for_fuzz(&text);
    }
}
