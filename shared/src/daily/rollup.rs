//! Usage summed and priced: the daily path's rollup (and the CLI report's).
//!
//! Records are first summed into a [`Rollup`]: [`Usage`] per [`UsageKey`], the key being everything pricing and attribution look at
//! (logged `modelId`, source Region, caller, configured metadata values, prompt band). Pricing is
//! linear in tokens within such a key, so pricing a sum equals summing the prices, exactly (integer
//! money). The daily Athena path produces the same rows with SQL `GROUP BY` and feeds them to the same
//! [`price_rows`]: both paths give the same number.

use std::collections::HashMap;

use crate::attribution::profiles::ProfileDirectory;
use crate::attribution::resolution::{resolve, AttributionConfig, Resolution};
use crate::pricing::money::Money;
use crate::pricing::prices::{tier_of_record, PriceTable, Unpriced};
use crate::records::record::{Record, Usage};
use crate::time::Timestamp;

/// Everything pricing and attribution look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub model_id: String,
    /// Source Region of the call (`region` in the record).
    pub region: String,
    pub caller: String,
    /// Values of the configured metadata keys, in their order (empty when absent).
    pub metadata: Vec<String>,
    /// The prompt band of the calls ([`PriceTable::prompt_band`]): which models bill them at their
    /// long-context rates.
    pub prompt_band: u8,
    /// The service tier the calls were priced in ([`tier_of_record`]: `default` when a logged body
    /// names none, `unread` when no body was logged).
    pub tier: String,
}

/// Usage summed by key, with the count of records that could not be read.
#[derive(Clone, Debug, Default)]
pub struct Rollup {
    pub rows: HashMap<UsageKey, Usage>,
    pub malformed: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl Rollup {
    pub fn key_of(r: &Record<'_>, cfg: &AttributionConfig, prices: &PriceTable) -> UsageKey {
        UsageKey {
            model_id: r.model_id.to_string(),
            region: r.region.as_deref().unwrap_or("").to_string(),
            caller: cfg.principal.principal(r.caller_or_unknown()).to_string(),
            metadata: cfg
                .metadata_keys
                .iter()
                .map(|k| r.metadata(k).unwrap_or_default().to_string())
                .collect(),
            prompt_band: prices.prompt_band(&r.tokens),
            tier: tier_of_record(r),
        }
    }

    pub fn add_record(&mut self, r: &Record<'_>, cfg: &AttributionConfig, prices: &PriceTable) {
        let key = Rollup::key_of(r, cfg, prices);
        self.add_row(key, &Usage::of_record(r));
        self.first = Some(self.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
        self.last = Some(self.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
    }

    /// Adds a pre-aggregated row (e.g. from Athena).
    pub fn add_row(&mut self, key: UsageKey, usage: &Usage) {
        self.rows.entry(key).or_default().add(usage);
    }

    pub fn merge(&mut self, other: Rollup) {
        for (k, u) in other.rows {
            self.add_row(k, &u);
        }
        self.malformed += other.malformed;
        self.first = [self.first, other.first].into_iter().flatten().min();
        self.last = [self.last, other.last].into_iter().flatten().max();
    }
}

/// A priced, attributed row.
#[derive(Clone, Debug)]
pub struct PricedRow {
    pub key: UsageKey,
    pub resolution: Resolution,
    pub usage: Usage,
    pub cost: Result<Money, Unpriced>,
}

/// Resolves and prices rows (each distinct `modelId` is resolved once).
pub fn price_rows<'k>(
    rows: impl IntoIterator<Item = (&'k UsageKey, &'k Usage)>,
    profiles: &dyn ProfileDirectory,
    prices: &PriceTable,
    cfg: &AttributionConfig,
) -> Vec<PricedRow> {
    let mut resolved: HashMap<&str, Resolution> = HashMap::new();
    let mut out = Vec::new();
    for (key, usage) in rows {
        let res = resolved
            .entry(key.model_id.as_str())
            .or_insert_with(|| resolve(&key.model_id, profiles, cfg))
            .clone();
        let region = (!key.region.is_empty()).then_some(key.region.as_str());
        let cost = prices
            .rates_of(&res, region, key.prompt_band, &key.tier)
            .and_then(|r| r.cost(&usage.tokens));
        out.push(PricedRow {
            key: key.clone(),
            resolution: res,
            usage: *usage,
            cost,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::NoProfiles;

    #[test]
    fn pricing_sums_equals_summing_prices() {
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig {
            metadata_keys: vec!["tenant".into()],
            ..Default::default()
        };
        let texts: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    r#"{{"timestamp":"2026-11-25T10:{:02}:00Z","region":"us-east-1","modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","identity":{{"arn":"arn:aws:iam::1:user/u{}"}},"requestMetadata":{{"tenant":"t{}"}},"input":{{"inputTokenCount":{},"cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}}},"output":{{"outputTokenCount":{}}}}}"#,
                    i % 60, i % 3, i % 2, 1000 + i * 7919, (i * 104_729) % 250_000, i * 31, 17 * i + 3
                )
            })
            .collect();
        let records: Vec<Record> = texts
            .iter()
            .map(|t| crate::records::record::parse(t).unwrap())
            .collect();
        let mut rollup = Rollup::default();
        let mut per_record = Money::ZERO;
        for r in &records {
            rollup.add_record(r, &cfg, &prices);
            let res = resolve(&r.model_id, &NoProfiles, &cfg);
            per_record += prices
                .cost(
                    res.base_model.as_deref().unwrap(),
                    &res.pool,
                    Some("us-east-1"),
                    prices.prompt_band(&r.tokens),
                    &r.tokens,
                )
                .unwrap();
        }
        assert!(rollup.rows.len() < records.len());
        assert!(
            rollup.rows.keys().any(|k| k.prompt_band > 0)
                && rollup.rows.keys().any(|k| k.prompt_band == 0)
        );
        let rows = price_rows(&rollup.rows, &NoProfiles, &prices, &cfg);
        let total: Money = rows.iter().map(|r| *r.cost.as_ref().unwrap()).sum();
        assert_eq!(total, per_record);
        assert_eq!(rows.iter().map(|r| r.usage.requests).sum::<u64>(), 50);
        assert!(rows.iter().all(|r| r.key.metadata[0].starts_with('t')));
    }

    #[test]
    fn served_tier_prices_each_call_and_the_report_splits_by_tier() {
        use crate::daily::report::Report;
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let rec = |tier_body: &str| {
            format!(
                r#"{{"timestamp":"2026-11-25T10:00:00Z","region":"us-east-1","modelId":"global.anthropic.claude-sonnet-4-6","identity":{{"arn":"arn:aws:iam::1:user/u"}},"input":{{"inputTokenCount":1000000,"inputBodyJson":{{"messages":[]{tier_body}}}}},"output":{{"outputTokenCount":1000000}}}}"#
            )
        };
        let texts = [
            rec(""),                                     // no tier: default
            rec(r#","serviceTier":{"type":"default"}"#), // asked for default
            rec(r#","serviceTier":{"type":"flex"}"#),    // asked for flex: no flex rate
            rec(r#","serviceTier":{"type":"priority"}"#),
        ];
        let mut rollup = Rollup::default();
        for t in &texts {
            rollup.add_record(&crate::records::record::parse(t).unwrap(), &cfg, &prices);
        }
        let rows = price_rows(&rollup.rows, &NoProfiles, &prices, &cfg);
        let report = Report::build(&rows, None, prices.as_of, &[], 0);
        let tier = |name: &str| {
            report
                .by_tier
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, g)| *g)
                .unwrap()
        };
        // Two default calls at the global Sonnet 4.6 rate (3 + 15 per 1M each).
        assert_eq!(tier("default").requests, 2);
        assert_eq!(tier("default").cost, Money::from_usd_text("36").unwrap());
        assert_eq!(tier("default").unpriced_requests, 0);
        for t in ["flex", "priority"] {
            assert_eq!((tier(t).requests, tier(t).unpriced_requests), (1, 1), "{t}");
            assert_eq!(tier(t).cost, Money::ZERO, "{t}");
        }
        assert_eq!(report.totals.cost, Money::from_usd_text("36").unwrap());
        assert_eq!(report.totals.unpriced_requests, 2);
        assert!(
            report
                .unpriced
                .iter()
                .all(|u| u.reason == "no rate for tier"
                    && u.model_id == "anthropic.claude-sonnet-4-6")
        );
        assert_eq!(report.unpriced.iter().map(|u| u.requests).sum::<u64>(), 2);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let by_tier = json["by_tier"].as_array().unwrap();
        assert_eq!(by_tier.len(), 3);
        assert_eq!(by_tier[0]["tier"], "default");
        assert_eq!(by_tier[0]["cost_usd"].as_f64(), Some(36.0));
        assert!(report.to_json().contains("\"cost_usd\": 36.000000000"));
        assert!(report.to_table().contains("By service tier:"));
        // The live path's per-record price agrees.
        for (t, want) in texts.iter().zip([true, true, false, false]) {
            let r = crate::records::record::parse(t).unwrap();
            let res = resolve(&r.model_id, &NoProfiles, &cfg);
            let c = crate::live::batch::cost_of(&r, &res, &prices);
            assert_eq!(c.is_ok(), want, "{t}");
            if !want {
                assert!(matches!(c, Err(Unpriced::NoRateForTier(_))));
            }
        }
    }
}
