//! The documents that name tests: every name must be a real test, so that a renamed or removed
//! test cannot leave a claim behind.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The file a test path points into: `module::name` in the `it` binary, or
/// `pixmill::a::b::name` in the facade's sources.
fn source_of(path: &str) -> Option<(PathBuf, String)> {
    let segments: Vec<&str> = path.split("::").collect();
    let (name, modules) = segments.split_last()?;
    let file = match modules {
        ["pixmill", rest @ ..] if !rest.is_empty() => {
            let base = root().join("crates/pixmill/src").join(rest.join("/"));
            let flat = base.with_extension("rs");
            if flat.exists() {
                flat
            } else {
                base.join("mod.rs")
            }
        }
        [module] => root().join("tests/tests/it").join(format!("{module}.rs")),
        _ => return None,
    };
    Some((file, name.to_string()))
}

#[test]
fn fault_matrix_names_real_tests() {
    let text = std::fs::read_to_string(root().join("docs/FAULTS.md")).expect("docs/FAULTS.md");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|line| {
            line.starts_with("| ") && line.as_bytes().get(2).is_some_and(u8::is_ascii_digit)
        })
        .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 20, "{} scenarios", rows.len());
    for row in &rows {
        let [number, _fault, _applies, _outcome, charges, tests] = row.as_slice() else {
            panic!("row {row:?} does not have six cells");
        };
        assert!(
            ["0", "1", "0 or 1", "1 per task"].contains(charges),
            "row {number}: charges {charges:?}"
        );
        let names: Vec<&str> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| !name.is_empty())
            .collect();
        assert!(!names.is_empty(), "row {number} names no test");
        for name in names {
            let (file, function) =
                source_of(name).unwrap_or_else(|| panic!("row {number}: cannot place {name}"));
            let source = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("row {number}: {}: {e}", file.display()));
            assert!(
                source.contains(&format!("fn {function}(")),
                "row {number}: no test {function} in {}",
                file.display()
            );
        }
    }
}
