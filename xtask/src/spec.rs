//! Loading specs and addressing their parts by JSON pointer.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// One spec file, parsed into a JSON tree (YAML mappings keep their order).
#[derive(Debug, Clone)]
pub struct Spec {
    /// Path as given, used in every message about this spec.
    pub path: PathBuf,
    /// Provider name: the file stem (`hotpot` for `specs/hotpot.yaml`).
    pub provider: String,
    /// The YAML text.
    pub text: String,
    /// The document as JSON.
    pub json: Value,
}

impl Spec {
    /// Reads and parses a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Spec::parse(path, text)
    }

    /// Parses spec text; `path` names it in messages.
    pub fn parse(path: &Path, text: String) -> Result<Spec> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
            .with_context(|| format!("{}: not valid YAML", path.display()))?;
        let json = serde_json::to_value(yaml)
            .with_context(|| format!("{}: cannot be represented as JSON", path.display()))?;
        let provider = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("spec")
            .to_string();
        Ok(Spec {
            path: path.to_path_buf(),
            provider,
            text,
            json,
        })
    }

    /// The spec as progenitor's input model.
    pub fn openapi(&self) -> Result<openapiv3::OpenAPI> {
        serde_json::from_value(self.json.clone())
            .with_context(|| format!("{}: not an OpenAPI 3.0 document", self.path.display()))
    }

    /// Follows a local `$ref` (`#/components/...`).
    pub fn resolve(&self, reference: &str) -> Option<&Value> {
        reference
            .strip_prefix('#')
            .and_then(|pointer| self.json.pointer(pointer))
    }

    /// Follows `$ref` chains until a concrete object.
    pub fn deref<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut current = value;
        for _ in 0..16 {
            match current.get("$ref").and_then(Value::as_str) {
                Some(reference) => match self.resolve(reference) {
                    Some(target) => current = target,
                    None => return current,
                },
                None => return current,
            }
        }
        current
    }

    /// The operations in document order.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut out = Vec::new();
        let Some(paths) = self.json.get("paths").and_then(Value::as_object) else {
            return out;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if HTTP_METHODS.contains(&method.as_str()) {
                    out.push(Operation {
                        path,
                        method,
                        value: op,
                    });
                }
            }
        }
        out
    }
}

/// The HTTP methods an OpenAPI path item may hold.
pub const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of a spec.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'a> {
    /// The path template.
    pub path: &'a str,
    /// Lower-case HTTP method.
    pub method: &'a str,
    /// The operation object.
    pub value: &'a Value,
}

impl<'a> Operation<'a> {
    /// `operationId`, or an empty string.
    pub fn id(&self) -> &'a str {
        self.value
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// JSON pointer of the operation object.
    pub fn pointer(&self) -> String {
        pointer_of(&["paths", self.path, self.method])
    }
}

/// Builds an RFC 6901 JSON pointer from its segments.
pub fn pointer_of<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(&segment.as_ref().replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// Every `*.yaml` file in `dir`, sorted by name.
pub fn spec_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}
