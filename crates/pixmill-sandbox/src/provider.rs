//! The four emulated providers and where each lives under the sandbox's address.

use std::fmt;
use std::str::FromStr;

/// One of the emulated APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Hotpot.ai: synchronous JSON with base64 images.
    Hotpot,
    /// HitPaw: async jobs and a presigned upload.
    Hitpaw,
    /// Segmind HotshotXL: one synchronous call answering with a file.
    Segmind,
    /// Perfect Corp: token auth, presigned uploads, async tasks.
    Perfect,
}

impl Provider {
    /// Every provider, in the order the README lists them.
    pub const ALL: [Provider; 4] = [
        Provider::Hotpot,
        Provider::Hitpaw,
        Provider::Segmind,
        Provider::Perfect,
    ];

    /// Lower-case name, as in `specs/<name>.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Hotpot => "hotpot",
            Provider::Hitpaw => "hitpaw",
            Provider::Segmind => "segmind",
            Provider::Perfect => "perfect",
        }
    }

    /// Path prefix of the provider's base URL on the sandbox. The provider's own paths follow
    /// it unchanged (Segmind's real base URL already ends in `/v1`).
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::Hotpot => "/hotpot",
            Provider::Hitpaw => "/hitpaw",
            Provider::Segmind => "/segmind/v1",
            Provider::Perfect => "/perfect",
        }
    }

    /// Which provider a sandbox path belongs to, with the provider-relative path.
    pub fn split_path(path: &str) -> Option<(Provider, &str)> {
        Provider::ALL.into_iter().find_map(|provider| {
            let rest = path.strip_prefix(provider.prefix())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((provider, rest))
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown provider `{s}` (expected hotpot, hitpaw, segmind or perfect)")
            })
    }
}
