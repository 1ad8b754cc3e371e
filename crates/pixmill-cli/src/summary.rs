//! The table that closes a run, and the list of items that may have been charged without a
//! result.

use std::collections::BTreeMap;

use crate::batch::{Record, Status};

/// Items listed one per row; a larger batch lists only those that did not succeed.
const LISTED: usize = 40;

/// Counts per status, the credits per provider where known, and a row per item (per item
/// that did not succeed, in a large batch).
pub fn table(records: &[Record], dry_run: bool) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records {
        *counts.entry(record.status.name()).or_default() += 1;
    }
    let counted: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut out = format!(
        "{} item{}: {}\n",
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        if counted.is_empty() {
            "none".into()
        } else {
            counted.join(", ")
        }
    );
    let rows: Vec<&Record> = if records.len() <= LISTED {
        records.iter().collect()
    } else {
        records.iter().filter(|r| !r.status.is_success()).collect()
    };
    if !rows.is_empty() {
        let width = |f: &dyn Fn(&Record) -> usize| rows.iter().map(|r| f(r)).max().unwrap_or(0);
        let input_width = width(&|r| r.input.chars().count()).clamp(5, 48);
        let provider_width = width(&|r| r.provider.map_or(1, |p| p.to_string().len())).max(8);
        out.push_str(&format!(
            "{:<11} {:<input_width$} {:<provider_width$} {}\n",
            "status",
            "input",
            "provider",
            if dry_run {
                "sends / refusal"
            } else {
                "result / error"
            }
        ));
        for record in rows {
            let detail = match (&record.error, record.outputs.first()) {
                (Some(error), _) => error.clone(),
                (None, Some(path)) => path.display().to_string(),
                (None, None) => record
                    .extra
                    .get("sends")
                    .and_then(|s| s.as_str())
                    .unwrap_or("-")
                    .to_string(),
            };
            out.push_str(&format!(
                "{:<11} {:<input_width$} {:<provider_width$} {}\n",
                record.status.name(),
                shorten(&record.input, input_width),
                record.provider.map_or("-".to_string(), |p| p.to_string()),
                detail
            ));
        }
    }
    let credits = credits(records, dry_run);
    if !credits.is_empty() {
        out.push_str(&format!(
            "{}: {}\n",
            if dry_run { "would cost" } else { "cost" },
            credits.join(", ")
        ));
    }
    out.trim_end().to_string()
}

/// Credits per provider and unit, summed over the items that report them.
fn credits(records: &[Record], dry_run: bool) -> Vec<String> {
    let mut sums: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    for record in records {
        let counted = if dry_run {
            record.status == Status::Planned
        } else {
            record.status == Status::Done
        };
        let Some(provider) = record.provider.filter(|_| counted) else {
            continue;
        };
        let amount = record.credits.as_ref().and_then(|c| c["amount"].as_f64());
        let unit = record.credits.as_ref().and_then(|c| c["unit"].as_str());
        match (amount, unit) {
            (Some(amount), Some(unit)) => {
                *sums
                    .entry((provider.to_string(), unit.to_string()))
                    .or_default() += amount;
            }
            _ => *unknown.entry(provider.to_string()).or_default() += 1,
        }
    }
    let mut out: Vec<String> = sums
        .into_iter()
        .map(|((provider, unit), amount)| format!("{provider} {amount} {unit}"))
        .collect();
    for (provider, count) in unknown {
        out.push(format!(
            "{provider}: no price {} for {count} item{}",
            if dry_run { "in its spec" } else { "reported" },
            if count == 1 { "" } else { "s" }
        ));
    }
    out
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let tail: String = text
        .chars()
        .rev()
        .take(width.saturating_sub(1))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The items that may have cost credits without a result, with what to check.
pub fn charged(records: &[Record]) -> Option<String> {
    let charged: Vec<&Record> = records
        .iter()
        .filter(|r| r.charged_without_result())
        .collect();
    if charged.is_empty() {
        return None;
    }
    let mut out = String::from("may have been charged without a result (check the account):\n");
    for record in charged {
        out.push_str(&format!(
            "  {} ({}, charge {}{})\n",
            record.input,
            record.provider.map_or("-".to_string(), |p| p.to_string()),
            record.charge.name(),
            record
                .job_id
                .as_ref()
                .map(|id| format!(", job {id}"))
                .unwrap_or_default()
        ));
    }
    Some(out.trim_end().to_string())
}
