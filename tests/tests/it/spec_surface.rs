//! The reviewable surface of each spec. A spec change that alters an operation, a parameter, a
//! constraint or a response shows up here as a snapshot diff to accept in review.

use pixmill_tests::{PROVIDERS, spec_path};
use xtask::spec::Spec;

fn load(provider: &str) -> Spec {
    Spec::load(&spec_path(provider)).unwrap_or_else(|e| panic!("{provider}: {e:#}"))
}

#[test]
fn every_spec_passes_lint() {
    for provider in PROVIDERS {
        let findings = xtask::lint::lint(&load(provider));
        let listed: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert!(listed.is_empty(), "lint findings:\n{}", listed.join("\n"));
    }
}

#[test]
fn every_documented_operation_is_specified() {
    // Hotpot 10 endpoints; HitPaw enhancer, segmentation, task status and presigned upload;
    // Segmind one; Perfect auth + 11×3 file/run/status + text-to-image run/status + 6×2 style lists;
    // Perfect V2 file, task deletion, 3 unit operations, 15×2 run/status + 6 template lists.
    let expected = [
        ("hotpot", 10),
        ("hitpaw", 4),
        ("segmind", 1),
        ("perfect", 48),
        ("perfect-v2", 41),
    ];
    let mut total = 0;
    for (provider, count) in expected {
        let operations = load(provider).operations().len();
        assert_eq!(operations, count, "{provider} operation count");
        total += operations;
    }
    assert!(total >= 104, "only {total} operations in all");
}

#[test]
fn spec_surfaces() {
    for provider in PROVIDERS {
        let surface = xtask::surface::render(&load(provider));
        insta::assert_snapshot!(format!("surface_{provider}"), surface);
    }
}
