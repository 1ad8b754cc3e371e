//! Documented prices, read from the specs' facts: only what a spec states is ever shown.

use pixmill::Provider;
use pixmill::raw::spec::{Cost, CostBasis};
use serde_json::{Value, json};

use crate::batch::Price;

/// The price of `operation` (a Perfect feature name) when its spec states one; `scale` picks
/// among prices that depend on the `scale` setting. Hotpot's, HitPaw's and Segmind's specs
/// state no prices.
pub fn of_operation(provider: Provider, operation: &str, scale: Option<u32>) -> Option<Price> {
    match provider {
        Provider::Perfect => {
            let feature: pixmill::perfect::Feature = operation.parse().ok()?;
            of_costs(feature.facts().costs, scale)
        }
        Provider::PerfectV2 => {
            let feature: pixmill::perfect::v2::Feature = operation.parse().ok()?;
            of_costs(feature.facts().costs, scale)
        }
        _ => None,
    }
}

/// The price among `costs` that applies to a request with `scale` (or to every request).
pub fn of_costs(costs: &[Cost], scale: Option<u32>) -> Option<Price> {
    let cost = match scale {
        Some(scale) => Cost::select(costs, "scale", &scale.to_string()),
        None => costs.iter().find(|cost| cost.applies_to.is_none()),
    }?;
    Some(Price {
        amount: cost.units,
        unit: "credits",
        per: match cost.per {
            CostBasis::Call => "call",
            _ => "result",
        },
    })
}

/// A price as items report it in JSON.
pub fn to_json(price: Price) -> Value {
    json!({"amount": price.amount, "unit": price.unit, "per": price.per, "basis": "documented"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_come_from_the_feature_tables() {
        use pixmill::perfect::v2::Feature;
        let documented = Feature::Enhance.facts().costs.first().map(|c| c.units);
        let found = of_operation(Provider::PerfectV2, Feature::Enhance.name(), Some(2));
        assert_eq!(found.map(|p| p.amount), documented);
        assert!(documented.is_some(), "the V2 spec prices enhance");
        assert_eq!(
            of_operation(Provider::Hotpot, "supersize_image", Some(2)),
            None
        );
        assert_eq!(
            of_operation(Provider::PerfectV2, "no_such_feature", None),
            None
        );
    }
}
