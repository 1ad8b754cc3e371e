//! Reports: markdown for a pull-request comment, JSON for tools.
//!
//! The markdown opens with the counts, then lists each spec: first its general changes (no
//! operation), then changes shared by several operations (a change to a shared component is
//! one entry per operation in the JSON, folded here into one row that lists the operations),
//! then each operation, those with the most breaking changes first. Inside each group breaking
//! changes come first; prose-only edits are collapsed into a `<details>` block.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Change, OperationRef, Report, Severity};

/// Past this many operations, a shared row names the first few and counts the rest.
const LISTED_OPERATIONS: usize = 6;

/// The report as JSON: `{"changes": [{"spec", "operation", "pointer", "kind", "severity",
/// "summary", "rust_impact"}]}`, in the report's order, with a final newline. `operation` is
/// `{"id", "method", "path"}` or `null`; `rust_impact` is a string or `null`.
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".to_string());
    out.push('\n');
    out
}

/// The report as a markdown pull-request comment under the heading `title`. The counts are
/// of the rows shown: a change shared by several operations counts once.
pub fn markdown(report: &Report, title: &str) -> String {
    let mut out = format!("## {title}\n\n");
    if report.changes.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    let mut specs: Vec<&str> = report.changes.iter().map(|c| c.spec.as_str()).collect();
    specs.dedup();
    let sections: Vec<(&str, Vec<Group<'_>>)> = specs
        .into_iter()
        .map(|spec| {
            let changes: Vec<&Change> = report.changes.iter().filter(|c| c.spec == spec).collect();
            (spec, groups(&changes))
        })
        .collect();
    let rows = |groups: &[Group<'_>]| -> Vec<Severity> {
        groups
            .iter()
            .flat_map(|g| g.rows.iter().map(|row| row.change.severity))
            .collect()
    };
    let all: Vec<Severity> = sections.iter().flat_map(|(_, g)| rows(g)).collect();
    let _ = writeln!(out, "{}\n", counts(&all));
    for (spec, groups) in &sections {
        let _ = writeln!(out, "### `{spec}`\n");
        let _ = writeln!(out, "{}\n", counts(&rows(groups)));
        for group in groups {
            render_group(&mut out, group);
        }
    }
    out
}

/// `2 breaking, 5 compatible, 3 docs`.
fn counts(severities: &[Severity]) -> String {
    let count = |wanted: Severity| severities.iter().filter(|s| **s == wanted).count();
    format!(
        "{} breaking, {} compatible, {} docs",
        count(Severity::Breaking),
        count(Severity::Compatible),
        count(Severity::Docs)
    )
}

/// Changes shown together under one heading.
struct Group<'c> {
    heading: String,
    rows: Vec<Row<'c>>,
}

/// One line of a group: a change, and for shared changes the operations it reaches.
struct Row<'c> {
    change: &'c Change,
    operations: Vec<&'c OperationRef>,
}

fn groups<'c>(changes: &[&'c Change]) -> Vec<Group<'c>> {
    // Entries that differ only by operation are one change to something shared.
    let mut by_signature: BTreeMap<(&str, &str, Severity, &str), Vec<&'c Change>> = BTreeMap::new();
    for change in changes.iter().filter(|c| c.operation.is_some()) {
        by_signature
            .entry((
                change.pointer.as_str(),
                change.kind.as_str(),
                change.severity,
                change.summary.as_str(),
            ))
            .or_default()
            .push(change);
    }
    let is_shared = |change: &Change| {
        by_signature
            .get(&(
                change.pointer.as_str(),
                change.kind.as_str(),
                change.severity,
                change.summary.as_str(),
            ))
            .is_some_and(|list| list.len() > 1)
    };

    let mut out = Vec::new();
    let general: Vec<Row<'c>> = changes
        .iter()
        .filter(|c| c.operation.is_none())
        .map(|change| Row {
            change,
            operations: Vec::new(),
        })
        .collect();
    if !general.is_empty() {
        out.push(Group {
            heading: "General".to_string(),
            rows: general,
        });
    }
    let mut shared: Vec<Row<'c>> = Vec::new();
    for list in by_signature.values().filter(|list| list.len() > 1) {
        shared.push(Row {
            change: list[0],
            operations: list.iter().filter_map(|c| c.operation.as_ref()).collect(),
        });
    }
    if !shared.is_empty() {
        out.push(Group {
            heading: "Shared by several operations".to_string(),
            rows: shared,
        });
    }
    let mut per_operation: Vec<(&OperationRef, Vec<Row<'c>>)> = Vec::new();
    for change in changes.iter().filter(|c| !is_shared(c)) {
        let Some(operation) = &change.operation else {
            continue;
        };
        let row = Row {
            change,
            operations: Vec::new(),
        };
        match per_operation.iter_mut().find(|(op, _)| *op == operation) {
            Some((_, rows)) => rows.push(row),
            None => per_operation.push((operation, vec![row])),
        }
    }
    let breaking = |rows: &[Row<'_>]| {
        rows.iter()
            .filter(|r| r.change.severity == Severity::Breaking)
            .count()
    };
    // Stable: equal counts keep the report's order (by operation id).
    per_operation.sort_by_key(|(_, rows)| std::cmp::Reverse(breaking(rows)));
    for (operation, rows) in per_operation {
        out.push(Group {
            heading: format!(
                "`{}` · `{} {}`",
                operation.id, operation.method, operation.path
            ),
            rows,
        });
    }
    for group in &mut out {
        group.rows.sort_by_key(|row| row.change.severity);
    }
    out
}

fn render_group(out: &mut String, group: &Group<'_>) {
    let _ = writeln!(out, "#### {}\n", group.heading);
    let (docs, changes): (Vec<&Row<'_>>, Vec<&Row<'_>>) = group
        .rows
        .iter()
        .partition(|row| row.change.severity == Severity::Docs);
    if !changes.is_empty() {
        out.push_str("| | change | Rust API |\n|---|---|---|\n");
        for row in changes {
            let change = row.change;
            let severity = match change.severity {
                Severity::Breaking => "**breaking**",
                other => other.as_str(),
            };
            let _ = writeln!(
                out,
                "| {severity} | {}<br><sub>`{}` at `{}`{}</sub> | {} |",
                cell(&change.summary),
                change.kind,
                cell(&pointer(&change.pointer)),
                operations_note(&row.operations),
                cell(change.rust_impact.as_deref().unwrap_or("")),
            );
        }
        out.push('\n');
    }
    if !docs.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} docs edit(s)</summary>\n",
            docs.len()
        );
        out.push_str("| change | where |\n|---|---|\n");
        for row in docs {
            let _ = writeln!(
                out,
                "| {}{} | `{}` |",
                cell(&row.change.summary),
                operations_note(&row.operations),
                cell(&pointer(&row.change.pointer)),
            );
        }
        out.push_str("\n</details>\n\n");
    }
}

fn operations_note(operations: &[&OperationRef]) -> String {
    if operations.is_empty() {
        return String::new();
    }
    let names: Vec<String> = operations
        .iter()
        .take(LISTED_OPERATIONS)
        .map(|op| format!("`{}`", op.id))
        .collect();
    let rest = operations.len().saturating_sub(LISTED_OPERATIONS);
    if rest == 0 {
        format!(" · in {}", names.join(", "))
    } else {
        format!(
            " · in {} operations: {}, and {rest} more",
            operations.len(),
            names.join(", ")
        )
    }
}

fn pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_string()
    } else {
        pointer.to_string()
    }
}

/// Text that is safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
