//! The price table: one dated data file (`shared/data/prices.json`, embedded at build time, overridable
//! by a file at run time). Rates are exact decimals; a model is found by the longest `match` prefix of
//! its base model id (a prefix must end at a `-`, `:` or the end of the id).
//!
//! Rules it encodes:
//! - pool: `global.` profiles use `global` rates; geographic profiles and in-Region calls use `regional`
//!   rates (1.1 × global from the Claude 4.5 generation on). A model with only one of the two uses it for
//!   both.
//! - per-Region overrides (`regions`) replace the regional rates for calls from that source Region.
//! - long context: a request whose input + cache read + cache write exceeds
//!   `long_context_above_prompt_tokens` is billed entirely at the model's `long_context` rates, if it has
//!   them.
//! - cache writes: 5-minute and 1-hour rates; writes of unknown TTL are 5-minute writes.
//! - a rate that is absent is unknown: usage that needs it is unpriced, never $0.

use std::collections::HashMap;

use serde::Deserialize;

use crate::model_id::Pool;
use crate::money::{DecimalError, Money, Rate};
use crate::record::Tokens;
use crate::time::Date;

/// The embedded default table.
pub const DEFAULT_PRICES_JSON: &str = include_str!("../data/prices.json");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rates {
    pub input: Rate,
    pub output: Rate,
    pub cache_read: Option<Rate>,
    pub cache_write_5m: Option<Rate>,
    pub cache_write_1h: Option<Rate>,
}

#[derive(Clone, Debug)]
pub struct ModelPrice {
    pub name: String,
    pub matches: Vec<String>,
    pub global: Option<Rates>,
    pub regional: Option<Rates>,
    pub long_context: Option<(Option<Rates>, Option<Rates>)>,
    pub regions: HashMap<String, Rates>,
}

#[derive(Clone, Debug)]
pub struct PriceTable {
    pub as_of: Date,
    pub long_context_above: u64,
    pub models: Vec<ModelPrice>,
    /// (prefix, index into models), longest prefix first.
    index: Vec<(String, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PriceTableError {
    #[error("price table is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("price table: as_of {0:?} is not a YYYY-MM-DD date")]
    Date(String),
    #[error("price table: {model}: {source}")]
    Rate { model: String, source: DecimalError },
    #[error("price table: {0}")]
    Invalid(String),
}

/// Why a usage could not be priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unpriced {
    /// No price for this model.
    UnknownModel,
    /// The model is known but a rate this usage needs is not (e.g. cache reads on a model without them).
    MissingRate(&'static str),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesFile {
    input: String,
    output: String,
    cache_read: Option<String>,
    cache_write_5m: Option<String>,
    cache_write_1h: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongContextFile {
    global: Option<RatesFile>,
    regional: Option<RatesFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    #[serde(rename = "match")]
    matches: Vec<String>,
    global: Option<RatesFile>,
    regional: Option<RatesFile>,
    long_context: Option<LongContextFile>,
    #[serde(default)]
    regions: HashMap<String, RatesFile>,
}

#[derive(Deserialize)]
struct TableFile {
    as_of: String,
    long_context_above_prompt_tokens: u64,
    models: Vec<ModelFile>,
}

impl RatesFile {
    fn parse(&self, model: &str) -> Result<Rates, PriceTableError> {
        let r = |t: &str| {
            Rate::per_million(t).map_err(|source| PriceTableError::Rate {
                model: model.to_string(),
                source,
            })
        };
        let o = |t: &Option<String>| t.as_deref().map(r).transpose();
        Ok(Rates {
            input: r(&self.input)?,
            output: r(&self.output)?,
            cache_read: o(&self.cache_read)?,
            cache_write_5m: o(&self.cache_write_5m)?,
            cache_write_1h: o(&self.cache_write_1h)?,
        })
    }
}

impl PriceTable {
    pub fn embedded() -> PriceTable {
        PriceTable::from_json(DEFAULT_PRICES_JSON)
            .expect("the embedded price table is valid (tested)")
    }

    pub fn from_json(text: &str) -> Result<PriceTable, PriceTableError> {
        let f: TableFile = serde_json::from_str(text)?;
        let as_of = Date::parse(&f.as_of).ok_or_else(|| PriceTableError::Date(f.as_of.clone()))?;
        let mut models = Vec::new();
        let mut index: Vec<(String, usize)> = Vec::new();
        for m in &f.models {
            let p = |r: &Option<RatesFile>| r.as_ref().map(|r| r.parse(&m.name)).transpose();
            let price = ModelPrice {
                name: m.name.clone(),
                matches: m.matches.clone(),
                global: p(&m.global)?,
                regional: p(&m.regional)?,
                long_context: match &m.long_context {
                    Some(lc) => Some((p(&lc.global)?, p(&lc.regional)?)),
                    None => None,
                },
                regions: m
                    .regions
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.parse(&m.name)?)))
                    .collect::<Result<_, PriceTableError>>()?,
            };
            if price.global.is_none() && price.regional.is_none() {
                return Err(PriceTableError::Invalid(format!(
                    "{}: neither global nor regional rates",
                    m.name
                )));
            }
            if m.matches.is_empty() || m.matches.iter().any(|s| s.is_empty()) {
                return Err(PriceTableError::Invalid(format!("{}: empty match", m.name)));
            }
            for s in &m.matches {
                if index.iter().any(|(p, _)| p == s) {
                    return Err(PriceTableError::Invalid(format!(
                        "{s}: matched by two entries"
                    )));
                }
                index.push((s.clone(), models.len()));
            }
            models.push(price);
        }
        index.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(PriceTable {
            as_of,
            long_context_above: f.long_context_above_prompt_tokens,
            models,
            index,
        })
    }

    /// The entry for a base model id, if any.
    pub fn model(&self, base_model: &str) -> Option<&ModelPrice> {
        self.index
            .iter()
            .find(|(p, _)| {
                base_model.starts_with(p.as_str())
                    && matches!(
                        base_model.as_bytes().get(p.len()),
                        None | Some(b'-' | b':' | b'.')
                    )
            })
            .map(|(_, i)| &self.models[*i])
    }

    /// Whether a request with this prompt size is in the long-context tier (for models that have one).
    pub fn is_long_context(&self, tokens: &Tokens) -> bool {
        tokens.prompt_total() > self.long_context_above
    }

    /// The rates that apply to a call of `base_model` in `pool` from source Region `region`.
    pub fn rates(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        long_context: bool,
    ) -> Option<&Rates> {
        let m = self.model(base_model)?;
        let global = *pool == Pool::Global;
        if long_context {
            if let Some((g, r)) = &m.long_context {
                let pick = if global {
                    g.as_ref().or(r.as_ref())
                } else {
                    r.as_ref().or(g.as_ref())
                };
                if pick.is_some() {
                    return pick;
                }
            }
        }
        if !global {
            if let Some(r) = region.and_then(|r| m.regions.get(r)) {
                return Some(r);
            }
        }
        if global {
            m.global.as_ref().or(m.regional.as_ref())
        } else {
            m.regional.as_ref().or(m.global.as_ref())
        }
    }

    /// The cost of `tokens` (one request or a sum of requests that share `long_context`).
    pub fn cost(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        long_context: bool,
        tokens: &Tokens,
    ) -> Result<Money, Unpriced> {
        self.rates(base_model, pool, region, long_context)
            .ok_or(Unpriced::UnknownModel)?
            .cost(tokens)
    }
}

impl Rates {
    /// The cost of `tokens` at these rates; tokens of a kind without a rate make it unpriced.
    pub fn cost(&self, tokens: &Tokens) -> Result<Money, Unpriced> {
        let need = |rate: Option<Rate>, n: u64, what: &'static str| match (rate, n) {
            (_, 0) => Ok(Money::ZERO),
            (Some(rate), n) => Ok(rate * n),
            (None, _) => Err(Unpriced::MissingRate(what)),
        };
        Ok(self.input * tokens.input
            + self.output * tokens.output
            + need(self.cache_read, tokens.cache_read, "cache_read")?
            + need(
                self.cache_write_5m,
                tokens.cache_write_5m(),
                "cache_write_5m",
            )?
            + need(self.cache_write_1h, tokens.cache_write_1h, "cache_write_1h")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> PriceTable {
        PriceTable::embedded()
    }
    fn usd(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }
    fn tok(
        input: u64,
        output: u64,
        cache_read: u64,
        cache_write: u64,
        cache_write_1h: u64,
    ) -> Tokens {
        Tokens {
            input,
            output,
            cache_read,
            cache_write,
            cache_write_1h,
        }
    }
    const M: u64 = 1_000_000;
    const HAIKU45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
    const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    const SONNET4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
    fn us() -> Pool {
        Pool::Geographic("us".into())
    }

    #[test]
    fn embedded_table_loads_and_is_dated() {
        let t = t();
        assert_eq!(t.as_of.to_string(), "2026-11-01");
        assert!(t.models.len() >= 20);
    }

    #[test]
    fn every_model_of_the_reference_has_a_price() {
        for id in [
            HAIKU45,
            SONNET45,
            SONNET4,
            "anthropic.claude-opus-4-5-20251101-v1:0",
            "anthropic.claude-opus-4-6-v1",
            "anthropic.claude-opus-4-7",
            "anthropic.claude-opus-4-20250514-v1:0",
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-micro-v1:0",
            "amazon.nova-lite-v1:0",
            "amazon.nova-pro-v1:0",
            "amazon.nova-premier-v1:0",
            "meta.llama3-3-70b-instruct-v1:0",
            "meta.llama3-1-8b-instruct-v1:0",
            "meta.llama3-1-405b-instruct-v1:0",
            "meta.llama4-scout-17b-instruct-v1:0",
            "meta.llama4-maverick-17b-instruct-v1:0",
            "mistral.mistral-large-2407-v1:0",
            "amazon.titan-embed-text-v2:0",
            "cohere.embed-english-v3",
            "cohere.embed-multilingual-v3",
            "cohere.embed-v4:0",
        ] {
            assert!(t().model(id).is_some(), "{id} has no price");
        }
    }

    #[test]
    fn prefixes_do_not_bleed_between_models() {
        let t = t();
        assert_eq!(
            t.model("anthropic.claude-opus-4-1-20250805-v1:0")
                .unwrap()
                .name,
            "Claude Opus 4 / 4.1"
        );
        assert_eq!(
            t.model("anthropic.claude-opus-4-5-20251101-v1:0")
                .unwrap()
                .name,
            "Claude Opus 4.5 / 4.6 / 4.7"
        );
        assert_eq!(
            t.model("anthropic.claude-sonnet-4-5-20250929-v1:0")
                .unwrap()
                .name,
            "Claude Sonnet 4.5"
        );
        assert_eq!(t.model(SONNET4).unwrap().name, "Claude Sonnet 4");
        assert!(t.model("anthropic.claude-opus-4-55").is_none());
        assert!(t.model("amazon.nova-2-lite-v1:0").is_none());
        assert!(t.model("amazon.titan-text-express-v1").is_none());
    }

    #[test]
    fn claude_45_geographic_and_in_region_cost_1_1x_global() {
        let t = t();
        for m in [
            &t.model(HAIKU45).unwrap(),
            &t.model(SONNET45).unwrap(),
            &t.model("anthropic.claude-opus-4-5").unwrap(),
        ] {
            let (g, r) = (m.global.as_ref().unwrap(), m.regional.as_ref().unwrap());
            assert_eq!(g.input.times("1.1"), Some(r.input), "{}", m.name);
            assert_eq!(g.output.times("1.1"), Some(r.output), "{}", m.name);
            assert_eq!(
                g.cache_read.unwrap().times("1.1"),
                r.cache_read,
                "{}",
                m.name
            );
            assert_eq!(
                g.cache_write_5m.unwrap().times("1.1"),
                r.cache_write_5m,
                "{}",
                m.name
            );
            assert_eq!(
                g.cache_write_1h.unwrap().times("1.1"),
                r.cache_write_1h,
                "{}",
                m.name
            );
        }
        let one = tok(M, M, 0, 0, 0);
        assert_eq!(
            t.cost(HAIKU45, &Pool::Global, Some("us-east-1"), false, &one),
            Ok(usd("6.00"))
        );
        assert_eq!(
            t.cost(HAIKU45, &us(), Some("us-east-1"), false, &one),
            Ok(usd("6.60"))
        );
        assert_eq!(
            t.cost(HAIKU45, &Pool::InRegion, Some("us-east-1"), false, &one),
            Ok(usd("6.60"))
        );
        // Older Claude: geographic = global.
        assert_eq!(
            t.cost(SONNET4, &Pool::Global, None, false, &one),
            t.cost(SONNET4, &us(), None, false, &one)
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                &Pool::Global,
                None,
                false,
                &one
            ),
            Ok(usd("4.80"))
        );
    }

    #[test]
    fn anthropic_cache_multipliers_and_ttls() {
        let t = t();
        for m in t
            .models
            .iter()
            .filter(|m| m.matches[0].starts_with("anthropic."))
        {
            for r in [&m.global, &m.regional].into_iter().flatten() {
                if let (Some(cr), Some(w5), Some(w1)) =
                    (r.cache_read, r.cache_write_5m, r.cache_write_1h)
                {
                    assert_eq!(r.input.times("0.1"), Some(cr), "{} read", m.name);
                    assert_eq!(r.input.times("1.25"), Some(w5), "{} 5m", m.name);
                    assert_eq!(r.input.times("2"), Some(w1), "{} 1h", m.name);
                }
            }
        }
        // 6 input + 225,913 cache-write tokens (a real record): writes dominate; 5m by default.
        let w = tok(6, 167, 0, 225_913, 0);
        let five = t
            .cost("anthropic.claude-opus-4-7", &Pool::Global, None, false, &w)
            .unwrap();
        // 6×5 + 167×25 + 225913×6.25 per 1M
        assert_eq!(five, usd("1.416161250"));
        let one_h = t
            .cost(
                "anthropic.claude-opus-4-7",
                &Pool::Global,
                None,
                false,
                &tok(6, 167, 0, 225_913, 225_913),
            )
            .unwrap();
        assert_eq!(one_h, usd("2.263335"));
        let read = t
            .cost(HAIKU45, &us(), None, false, &tok(1, 0, 238_604, 0, 0))
            .unwrap();
        assert_eq!(read, usd("0.02624754"));
    }

    #[test]
    fn sonnet_long_context_bills_the_whole_request() {
        let t = t();
        let small = tok(150_000, 1_000, 50_000, 0, 0); // exactly 200,000: not long
        assert!(!t.is_long_context(&small));
        let long = tok(150_000, 1_000, 50_000, 1, 0);
        assert!(t.is_long_context(&long));
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, false, &small),
            Ok(usd("0.48"))
        );
        // 150000×6 + 1000×22.5 + 50000×0.6 + 1×7.5 per 1M
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, true, &long),
            Ok(usd("0.9525075"))
        );
        assert_eq!(
            t.cost(SONNET45, &us(), None, true, &long),
            Ok(usd("1.04775825"))
        );
        assert_eq!(
            t.cost(SONNET4, &us(), None, true, &long),
            Ok(usd("0.9525075"))
        );
        // Models without a long-context tier keep their rates.
        assert_eq!(
            t.cost(HAIKU45, &Pool::Global, None, true, &tok(M, 0, 0, 0, 0)),
            Ok(usd("1"))
        );
    }

    #[test]
    fn nova_cache_reads_are_a_quarter_and_writes_free() {
        let t = t();
        let r = t
            .rates("amazon.nova-lite-v1:0", &Pool::InRegion, None, false)
            .unwrap();
        assert_eq!(r.input.times("0.25"), r.cache_read);
        assert_eq!(
            t.cost(
                "amazon.nova-micro-v1:0",
                &Pool::InRegion,
                Some("us-east-1"),
                false,
                &tok(M, M, M, M, 0)
            ),
            Ok(usd("0.18375"))
        );
    }

    #[test]
    fn region_overrides_apply_to_regional_calls() {
        let t = t();
        let one = tok(M, M, 0, 0, 0);
        let apac = Pool::Geographic("apac".into());
        assert_eq!(
            t.cost(
                "amazon.nova-micro-v1:0",
                &apac,
                Some("ap-northeast-1"),
                false,
                &one
            ),
            Ok(usd("0.21"))
        );
        assert_eq!(
            t.cost(
                "amazon.nova-micro-v1:0",
                &apac,
                Some("ap-southeast-2"),
                false,
                &one
            ),
            Ok(usd("0.175"))
        );
    }

    #[test]
    fn unknown_models_and_missing_rates_are_unpriced_not_zero() {
        let t = t();
        assert_eq!(
            t.cost(
                "amazon.titan-text-express-v1",
                &Pool::InRegion,
                None,
                false,
                &tok(7, 11, 0, 0, 0)
            ),
            Err(Unpriced::UnknownModel)
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &Pool::InRegion,
                None,
                false,
                &tok(1, 1, 5, 0, 0)
            ),
            Err(Unpriced::MissingRate("cache_read"))
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &Pool::InRegion,
                None,
                false,
                &tok(M, M, 0, 0, 0)
            ),
            Ok(usd("1.50"))
        );
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert!(PriceTable::from_json("{").is_err());
        let bad_rate = DEFAULT_PRICES_JSON.replacen("\"1.00\"", "\"1.0.0\"", 1);
        assert!(matches!(
            PriceTable::from_json(&bad_rate),
            Err(PriceTableError::Rate { .. })
        ));
        let bad_date = DEFAULT_PRICES_JSON.replacen("2026-11-01", "Nov 2026", 1);
        assert!(matches!(
            PriceTable::from_json(&bad_date),
            Err(PriceTableError::Date(_))
        ));
        let dup = DEFAULT_PRICES_JSON.replacen(
            "[\"anthropic.claude-3-haiku\"]",
            "[\"anthropic.claude-3-5-haiku\"]",
            1,
        );
        assert!(matches!(
            PriceTable::from_json(&dup),
            Err(PriceTableError::Invalid(_))
        ));
    }
}
