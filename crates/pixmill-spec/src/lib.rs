//! Plain data types for the machine-readable facts that pixmill's OpenAPI specs carry.
//!
//! The specs in `specs/` record each provider's documented input limits (`x-limits`), numeric
//! error-code tables (`x-error-codes`), rate limits (`x-rate-limits`), polling rules
//! (`x-polling`), prices (`x-cost`) and feature tables (`x-feature`). `cargo xtask codegen`
//! turns them into constants of the types below inside each generated client crate, so every
//! number lives in one reviewed place and the facade and the sandbox read it from there.
//!
//! ```
//! use pixmill_spec::InputLimits;
//!
//! const PHOTO: InputLimits = InputLimits {
//!     name: "input",
//!     formats: &["jpg", "png"],
//!     max_long_side: Some(4096),
//!     ..InputLimits::NONE
//! };
//! assert!(PHOTO.accepts_format("JPG"));
//! assert!(!PHOTO.accepts_format("gif"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// One set of documented limits on an input file.
///
/// Every bound is inclusive and `None` when the provider documents no such limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputLimits {
    /// Identifier of this set within its operation (`enhancement`, `input`, ...).
    pub name: &'static str,
    /// When set, the limits apply only to requests whose field has one of these values.
    pub applies_to: Option<AppliesTo>,
    /// Accepted formats as lowercase file extensions; empty when the provider names none.
    pub formats: &'static [&'static str],
    /// Largest accepted file size in bytes.
    pub max_bytes: Option<u64>,
    /// Largest accepted length of the longer side, in pixels.
    pub max_long_side: Option<u32>,
    /// Smallest accepted length of the shorter side, in pixels.
    pub min_short_side: Option<u32>,
    /// Largest accepted length of the shorter side, in pixels.
    pub max_short_side: Option<u32>,
    /// Largest accepted input size in megapixels (width × height / 10⁶).
    pub max_megapixels: Option<f64>,
    /// Largest output size the provider produces, in megapixels.
    pub max_output_megapixels: Option<f64>,
    /// Smallest face width the provider can work with, in pixels. Checked by the provider only.
    pub min_face_width: Option<u32>,
    /// Largest head rotation the provider accepts. Checked by the provider only.
    pub max_face_pose: Option<FacePose>,
    /// Where the numbers come from: `docs`, `public-code` or `inferred`.
    pub source: &'static str,
}

impl InputLimits {
    /// A set with no limits at all, to fill the remaining fields of a constant.
    pub const NONE: InputLimits = InputLimits {
        name: "",
        applies_to: None,
        formats: &[],
        max_bytes: None,
        max_long_side: None,
        min_short_side: None,
        max_short_side: None,
        max_megapixels: None,
        max_output_megapixels: None,
        min_face_width: None,
        max_face_pose: None,
        source: "docs",
    };

    /// Whether `extension` (with or without a leading dot, any case) is an accepted format.
    ///
    /// A set that names no formats accepts every format.
    pub fn accepts_format(&self, extension: &str) -> bool {
        let extension = extension.trim_start_matches('.');
        self.formats.is_empty()
            || self
                .formats
                .iter()
                .any(|format| format.eq_ignore_ascii_case(extension))
    }

    /// Whether this set applies to a request whose `field` has `value`.
    pub fn applies(&self, field: &str, value: &str) -> bool {
        match self.applies_to {
            None => true,
            Some(rule) => rule.field != field || rule.values.contains(&value),
        }
    }

    /// Picks the set in `sets` that applies to a request whose `field` has `value`.
    pub fn select<'a>(
        sets: &'a [InputLimits],
        field: &str,
        value: &str,
    ) -> Option<&'a InputLimits> {
        sets.iter().find(|set| set.applies(field, value))
    }
}

/// Restricts a limit set to requests whose `field` has one of `values`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliesTo {
    /// Name of the request field, as on the wire.
    pub field: &'static str,
    /// The field values the set applies to.
    pub values: &'static [&'static str],
}

/// Largest accepted head rotation, in degrees, as exclusive bounds on the absolute angle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FacePose {
    /// Nodding up or down.
    pub pitch: f64,
    /// Turning left or right.
    pub yaw: f64,
    /// Tilting towards a shoulder.
    pub roll: f64,
}

/// One row of a provider's table of numeric error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentedErrorCode {
    /// The code carried in the error body.
    pub code: i64,
    /// The Rust variant name the spec gives the code.
    pub name: &'static str,
    /// The HTTP status the provider documents with it.
    pub status: u16,
    /// The provider's message for it.
    pub message: &'static str,
    /// What the code means where its status alone would mislead (our reading).
    pub kind: Option<CodeKind>,
}

/// What a documented error code means for a caller, stated where its HTTP status would say
/// something else (HitPaw answers a bad API key with 400 and a bad parameter with 403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeKind {
    /// The credentials were refused.
    Authentication,
    /// The account cannot pay for the call.
    Credits,
    /// The request itself was refused; sending it again unchanged will not help.
    InvalidRequest,
}

/// Looks up `code` in a documented table.
pub fn find_error_code(
    table: &'static [DocumentedErrorCode],
    code: i64,
) -> Option<&'static DocumentedErrorCode> {
    table.iter().find(|row| row.code == code)
}

pub mod features;
mod operations;
mod values;

pub use operations::{
    AuthScheme, Cost, CostBasis, Polling, RateLimit, RateScope, Retention, Route,
};
pub use values::UndocumentedValue;

#[cfg(feature = "examples")]
pub use examples::{ExampleRoundTrip, round_trip};

#[cfg(feature = "hooks")]
pub mod hooks;

#[cfg(feature = "examples")]
mod examples {
    use serde::{Serialize, de::DeserializeOwned};

    /// A spec example passed through the generated type of its body and serialized again.
    #[derive(Debug, Clone)]
    pub struct ExampleRoundTrip {
        /// The operation the example belongs to.
        pub operation_id: &'static str,
        /// `request`, or `response <status>[, <status>...]`.
        pub role: &'static str,
        /// The generated type the example went through.
        pub type_name: &'static str,
        /// The example as written in the spec.
        pub example: serde_json::Value,
        /// What the generated type serialized, or why the example did not deserialize.
        pub wire: Result<serde_json::Value, String>,
    }

    /// Deserializes `example` into `T` and serializes it back.
    pub fn round_trip<T: DeserializeOwned + Serialize>(
        example: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let typed: T = serde_json::from_value(example.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&typed).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETS: &[InputLimits] = &[
        InputLimits {
            name: "small",
            applies_to: Some(AppliesTo {
                field: "model_name",
                values: &["a_1x"],
            }),
            max_megapixels: Some(10.0),
            ..InputLimits::NONE
        },
        InputLimits {
            name: "large",
            applies_to: Some(AppliesTo {
                field: "model_name",
                values: &["b_2x"],
            }),
            max_megapixels: Some(70.0),
            ..InputLimits::NONE
        },
    ];

    #[test]
    fn select_picks_the_set_for_the_field_value() {
        assert_eq!(
            InputLimits::select(SETS, "model_name", "b_2x")
                .unwrap()
                .name,
            "large"
        );
        assert_eq!(
            InputLimits::select(SETS, "model_name", "a_1x")
                .unwrap()
                .name,
            "small"
        );
        assert!(InputLimits::select(SETS, "model_name", "c").is_none());
    }

    #[test]
    fn formats_compare_without_dot_or_case() {
        let set = InputLimits {
            formats: &["jpg", "png"],
            ..InputLimits::NONE
        };
        assert!(set.accepts_format(".PNG"));
        assert!(!set.accepts_format("webp"));
        assert!(InputLimits::NONE.accepts_format("anything"));
    }

    #[test]
    fn error_codes_are_found_by_code() {
        const TABLE: &[DocumentedErrorCode] = &[DocumentedErrorCode {
            code: 110402000,
            name: "CoinsNotEnough",
            status: 402,
            message: "The coins are not enough",
            kind: None,
        }];
        assert_eq!(find_error_code(TABLE, 110402000).unwrap().status, 402);
        assert!(find_error_code(TABLE, 1).is_none());
    }
}
