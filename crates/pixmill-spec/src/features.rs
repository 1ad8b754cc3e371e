//! Feature tables: for APIs whose operations come in per-feature groups (one tag with
//! `x-feature` per feature), what each feature takes and offers.

use crate::{Cost, InputLimits, Polling};

/// Which catalogue of predefined looks a feature offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Catalogue {
    /// Style groups, each holding styles (`list_style_groups`, `list_styles`).
    Styles,
    /// A flat list of templates (`list_templates`).
    Templates,
}

/// One kind of input file a run-task request takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSlot {
    /// Short name of the slot: `src`, `ref`, `mask`, `msk`.
    pub name: &'static str,
    /// The request field that takes file ids (`src_ids`, `src_file_id`, `src_file_ids`).
    pub id_field: &'static str,
    /// The request field that takes public URLs instead, where there is one (`src_file_url`,
    /// `src_file_urls`).
    pub url_field: Option<&'static str>,
    /// Fewest files the slot needs (0: optional).
    pub min: usize,
    /// Most files the slot takes, when documented.
    pub max: Option<usize>,
}

/// One operation of a feature and the role it plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureOperation {
    /// `create_file`, `run_task`, `check_status`, `list_style_groups`, `list_styles` or
    /// `list_templates`.
    pub role: &'static str,
    /// The operation id.
    pub operation_id: &'static str,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template.
    pub path: &'static str,
}

/// What the spec says about one feature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureFacts {
    /// snake_case name (`hair_style`).
    pub name: &'static str,
    /// The provider's name for it (`AI Hairstyle Generator`).
    pub title: &'static str,
    /// The path segment that names it (`hair-style`).
    pub slug: &'static str,
    /// Its operations.
    pub operations: &'static [FeatureOperation],
    /// Documented limits on its input files.
    pub limits: &'static [InputLimits],
    /// MIME types its upload accepts; empty when it has no upload of its own.
    pub upload_types: &'static [&'static str],
    /// Output formats a task may ask for; empty when it offers no choice.
    pub outputs: &'static [&'static str],
    /// The output format used when none is asked for.
    pub default_output: Option<&'static str>,
    /// The input files of its run-task request, in request order.
    pub inputs: &'static [FileSlot],
    /// Names of the settings its run-task request takes besides files.
    pub params: &'static [&'static str],
    /// Its catalogue of predefined looks, if any.
    pub catalogue: Option<Catalogue>,
    /// Its documented price.
    pub costs: &'static [Cost],
    /// How its tasks must be polled (the `x-polling` of its status operation).
    pub polling: &'static [Polling],
}

impl FeatureFacts {
    /// The operation playing `role`, if the feature has one.
    pub fn operation(&self, role: &str) -> Option<&'static FeatureOperation> {
        self.operations.iter().find(|op| op.role == role)
    }

    /// Whether `mime` is one of the upload types (case-insensitive).
    pub fn accepts_upload(&self, mime: &str) -> bool {
        self.upload_types
            .iter()
            .any(|accepted| accepted.eq_ignore_ascii_case(mime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEATURE: FeatureFacts = FeatureFacts {
        name: "enhance",
        title: "AI Photo Enhance",
        slug: "enhance",
        operations: &[FeatureOperation {
            role: "run_task",
            operation_id: "enhance_run_task",
            method: "POST",
            path: "/task/enhance",
        }],
        limits: &[],
        upload_types: &["image/jpeg", "image/png"],
        outputs: &["jpg", "webp"],
        default_output: None,
        inputs: &[],
        params: &["scale"],
        catalogue: None,
        costs: &[],
        polling: &[],
    };

    #[test]
    fn operations_are_found_by_role_and_uploads_by_type() {
        assert_eq!(
            FEATURE.operation("run_task").unwrap().operation_id,
            "enhance_run_task"
        );
        assert!(FEATURE.operation("check_status").is_none());
        assert!(FEATURE.accepts_upload("IMAGE/PNG"));
        assert!(!FEATURE.accepts_upload("image/gif"));
    }
}
