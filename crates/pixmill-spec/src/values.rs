//! The error of converting a value into a closed, documented set.

use std::fmt;

/// A value that is not among the documented values of a type.
///
/// ```
/// use pixmill_spec::UndocumentedValue;
///
/// let error = UndocumentedValue::new("SizeFactor", "3", &["2", "4", "8", "16"]);
/// assert_eq!(error.to_string(), "3 is not a documented SizeFactor (documented: 2, 4, 8, 16)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndocumentedValue {
    /// The type the value was meant for.
    pub type_name: &'static str,
    /// The value, as text.
    pub value: String,
    /// The documented values, as text.
    pub documented: &'static [&'static str],
}

impl UndocumentedValue {
    /// The error for `value` of `type_name`, whose documented values are `documented`.
    pub fn new(
        type_name: &'static str,
        value: impl Into<String>,
        documented: &'static [&'static str],
    ) -> Self {
        UndocumentedValue {
            type_name,
            value: value.into(),
            documented,
        }
    }
}

impl fmt::Display for UndocumentedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a documented {} (documented: {})",
            self.value,
            self.type_name,
            self.documented.join(", ")
        )
    }
}

impl std::error::Error for UndocumentedValue {}
