//! Balances and the record of every charge, so tests can prove what was charged and how often.

use std::collections::BTreeMap;

use crate::config::Balances;
use crate::provider::Provider;

/// One charge against a provider balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// Whose balance.
    pub provider: Provider,
    /// The operation that spent it (`photo_enhancer`, `enhance`, ...).
    pub operation: String,
    /// The job or task it was for, when there is one.
    pub reference: Option<String>,
    /// Amount taken.
    pub amount: i64,
}

/// Balances and charges.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    balances: BTreeMap<Provider, i64>,
    charges: Vec<Charge>,
}

impl Ledger {
    pub(crate) fn new(start: Balances) -> Ledger {
        let balances = [
            (Provider::Hotpot, start.hotpot),
            (Provider::Hitpaw, start.hitpaw),
            (Provider::Segmind, start.segmind),
            (Provider::Perfect, start.perfect),
        ]
        .into_iter()
        .collect();
        Ledger {
            balances,
            charges: Vec::new(),
        }
    }

    pub(crate) fn balance(&self, provider: Provider) -> i64 {
        self.balances.get(&provider).copied().unwrap_or(0)
    }

    pub(crate) fn set_balance(&mut self, provider: Provider, amount: i64) {
        self.balances.insert(provider, amount);
    }

    /// Takes `amount` if the balance covers it; returns the new balance, or `None` when short.
    pub(crate) fn charge(
        &mut self,
        provider: Provider,
        operation: &str,
        reference: Option<&str>,
        amount: i64,
    ) -> Option<i64> {
        let balance = self.balance(provider);
        if balance < amount {
            return None;
        }
        self.balances.insert(provider, balance - amount);
        self.charges.push(Charge {
            provider,
            operation: operation.to_string(),
            reference: reference.map(str::to_string),
            amount,
        });
        Some(balance - amount)
    }

    pub(crate) fn charges(&self) -> Vec<Charge> {
        self.charges.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_only_what_the_balance_covers() {
        let mut ledger = Ledger::new(Balances {
            hotpot: 2,
            hitpaw: 0,
            segmind: 0,
            perfect: 0,
        });
        assert_eq!(ledger.charge(Provider::Hotpot, "op", None, 2), Some(0));
        assert_eq!(ledger.charge(Provider::Hotpot, "op", None, 1), None);
        assert_eq!(ledger.balance(Provider::Hotpot), 0);
        assert_eq!(ledger.charges().len(), 1);
    }
}
