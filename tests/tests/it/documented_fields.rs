//! Every field name the provider documents appears in its spec under exactly that name.
//!
//! The lists are transcribed from `../shared/provider-docs/` (request parameters, response
//! properties, query parameters, documented response headers), typos included.

use std::collections::BTreeSet;

use pixmill_tests::spec_path;
use serde_json::Value;
use xtask::spec::Spec;

const HOTPOT: &[&str] = &[
    "code",
    "message",
    "designID",
    "textList",
    "screenshotList",
    "imageList",
    "base64Image",
    "base64ContentImage",
    "base64StyleImageList",
    "focusContent",
    "withScratch",
    "imageBase64",
    "render_factor",
    "sizeFactor",
    "imageStyle",
    "noiseCancellationFactor",
    "text",
    "type",
    "sourceLanaguageCode",
    "targetLanguageCode",
    "translatedText",
    "hintColorList",
    "paletteColorList",
    "color0",
    "color1",
    "color2",
    "color3",
    "color4",
    "shouldBlurText",
];

const HITPAW: &[&str] = &[
    "model_name",
    "img_url",
    "extension",
    "exif",
    "DPI",
    "code",
    "message",
    "data",
    "job_id",
    "consume_coins",
    "status",
    "res_url",
    "original_url",
    "mask_url",
    "file_url",
    "error_code",
    // The presigned upload (provider notes).
    "filename",
    "content_type",
    "expire_seconds",
    "upload_url",
    "access_url",
    "object_key",
    "expire_at",
];

const SEGMIND: &[&str] = &[
    "mp4",
    "seed",
    "steps",
    "width",
    "height",
    "prompt",
    "scheduler",
    "negative_prompt",
    "x-remaining-credits",
];

const PERFECT: &[&str] = &[
    "client_id",
    "id_token",
    "status",
    "result",
    "access_token",
    "files",
    "content_type",
    "file_name",
    "file_id",
    "requests",
    "headers",
    "url",
    "method",
    "page_size",
    "starting_token",
    "next_token",
    "groups",
    "id",
    "info",
    "title",
    "style_group_id",
    "styles",
    "thumb",
    "request_id",
    "payload",
    "file_sets",
    "src_ids",
    "ref_ids",
    "mask_ids",
    "actions",
    "params",
    "style_ids",
    "output_ext",
    "task_id",
    "polling_interval",
    "error",
    "results",
    "dst_id",
    "res_age",
    "custom_info",
    "age",
    "age_idx",
    "age_min",
    "age_max",
    "num_of_photos",
    "prompt",
    "scale",
    "data",
];

/// Property, parameter and response-header names anywhere in the spec.
fn names(spec: &Spec) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(object) => {
                for key in ["properties", "headers"] {
                    if let Some(Value::Object(map)) = object.get(key) {
                        out.extend(map.keys().cloned());
                    }
                }
                if object.get("in").is_some()
                    && let Some(Value::String(name)) = object.get("name")
                {
                    out.insert(name.clone());
                }
                for (key, child) in object {
                    if key != "example" && key != "default" && key != "enum" {
                        walk(child, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&spec.json, &mut out);
    out
}

fn check(provider: &str, documented: &[&str]) {
    let spec = Spec::load(&spec_path(provider)).expect("spec loads");
    let found = names(&spec);
    let missing: Vec<&str> = documented
        .iter()
        .copied()
        .filter(|name| !found.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "{provider} spec lacks documented fields: {missing:?}"
    );
}

#[test]
fn hotpot_fields() {
    check("hotpot", HOTPOT);
}

#[test]
fn hitpaw_fields() {
    check("hitpaw", HITPAW);
}

#[test]
fn segmind_fields() {
    check("segmind", SEGMIND);
}

#[test]
fn perfect_fields() {
    check("perfect", PERFECT);
}

#[test]
fn a_misspelt_field_is_noticed() {
    let spec = Spec::load(&spec_path("hotpot")).expect("spec loads");
    let found = names(&spec);
    assert!(found.contains("sourceLanaguageCode"));
    assert!(
        !found.contains("sourceLanguageCode"),
        "the wire name keeps the typo"
    );
}
