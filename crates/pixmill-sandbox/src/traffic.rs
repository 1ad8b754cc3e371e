//! A record of every request the sandbox answered, for assertions and response validation.

/// One request and the answer it got.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The provider, or `None` for sandbox-own routes (uploads, downloads).
    pub provider: Option<crate::Provider>,
    /// Upper-case HTTP method.
    pub method: String,
    /// The provider's own path (prefix removed) or the full sandbox path.
    pub path: String,
    /// The answer's status; `None` when the connection was dropped instead.
    pub status: Option<u16>,
    /// The answer's `Content-Type`.
    pub content_type: Option<String>,
    /// The answer's body when it was JSON (or meant to be), as text.
    pub json_body: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<crate::Fault>,
}
