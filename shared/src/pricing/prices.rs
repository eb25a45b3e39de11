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
//! - service tiers: a call served in the `flex`, `priority` or `reserved` tier is priced from the
//!   model's `tiers` rates for that tier; a tier without rates is unpriced (`no rate for tier`), never
//!   the standard rate. `default` (Standard) is the model's own rates.
//! - a match prefix never covers another version of the model: after the prefix, `-N` or `.N` (one
//!   digit, then the end or another `-`/`.`) is a different minor version (`anthropic.claude-sonnet-5`
//!   does not price `anthropic.claude-sonnet-5-5`).

use std::collections::HashMap;

use serde::Deserialize;

use crate::attribution::model_id::Pool;
use crate::attribution::resolution::Resolution;
use crate::pricing::money::{DecimalError, Money, Rate};
use crate::records::record::Tokens;
use crate::time::Date;

/// The embedded default table.
const DEFAULT_PRICES_JSON: &str = include_str!("../../data/prices.json");

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
    /// Where the rates come from (the data file's `source`).
    pub source: Option<String>,
    /// The model's products in the AWS Price List (`model` / `titanModel` attribute of the
    /// `AmazonBedrock` offer, `servicename` of `AmazonBedrockFoundationModels`): what `prices update`
    /// compares the entry with.
    pub price_list: Vec<String>,
    pub global: Option<Rates>,
    pub regional: Option<Rates>,
    pub long_context: Option<(Option<Rates>, Option<Rates>)>,
    pub regions: HashMap<String, Rates>,
    /// Rates of the non-default service tiers (`flex`, `priority`, `reserved`): (global, regional).
    pub tiers: HashMap<String, (Option<Rates>, Option<Rates>)>,
}

/// The service tier every call without a logged tier is served in (Bedrock's Standard tier).
pub(crate) const DEFAULT_TIER: &str = "default";
/// The tiers Bedrock serves on-demand calls in (`ServiceTier.type`).
const TIERS: &[&str] = &["default", "flex", "priority", "reserved"];

/// The tier a call is priced in from the tier its record names (served, else requested): none means
/// `default`; names are lower-cased and `standard` (the tier's name on the pricing page) is `default`.
/// An unknown name is kept: it has no rate, so the call is unpriced, never priced as Standard.
pub fn tier_of(logged: Option<&str>) -> String {
    match logged.map(|t| t.trim().to_ascii_lowercase()) {
        None => DEFAULT_TIER.to_string(),
        Some(t) if t.is_empty() || t == "standard" => DEFAULT_TIER.to_string(),
        Some(t) => t,
    }
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
    /// The call was served in a service tier the table has no rates for.
    NoRateForTier(String),
}

impl Unpriced {
    /// The reason as reports show it.
    pub fn reason(&self) -> String {
        match self {
            Unpriced::UnknownModel => "no price for this model".to_string(),
            Unpriced::MissingRate(what) => format!("no {what} rate"),
            Unpriced::NoRateForTier(_) => "no rate for tier".to_string(),
        }
    }
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

/// A service tier's rates: the same shape as long-context rates.
type TierFile = LongContextFile;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    #[serde(rename = "match")]
    matches: Vec<String>,
    source: Option<String>,
    #[serde(default)]
    price_list: Vec<String>,
    global: Option<RatesFile>,
    regional: Option<RatesFile>,
    long_context: Option<LongContextFile>,
    #[serde(default)]
    regions: HashMap<String, RatesFile>,
    #[serde(default)]
    tiers: HashMap<String, TierFile>,
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
            let mut tiers = HashMap::new();
            for (tier, t) in &m.tiers {
                if !TIERS.contains(&tier.as_str()) || tier == DEFAULT_TIER {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: unknown service tier {tier:?} (flex, priority, reserved)",
                        m.name
                    )));
                }
                let rates = (p(&t.global)?, p(&t.regional)?);
                if rates.0.is_none() && rates.1.is_none() {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: tier {tier} has neither global nor regional rates",
                        m.name
                    )));
                }
                tiers.insert(tier.clone(), rates);
            }
            let price = ModelPrice {
                name: m.name.clone(),
                matches: m.matches.clone(),
                source: m.source.clone(),
                price_list: m.price_list.clone(),
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
                tiers,
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
                    && is_same_model(&base_model.as_bytes()[p.len()..])
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

    /// The rates of a call served in service tier `tier`: the model's own rates for `default`, its
    /// `tiers` rates otherwise (global or regional by pool, whichever it has). `Err` says why none.
    pub fn rates_in_tier(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        long_context: bool,
        tier: &str,
    ) -> Result<&Rates, Unpriced> {
        if tier == DEFAULT_TIER {
            return self
                .rates(base_model, pool, region, long_context)
                .ok_or(Unpriced::UnknownModel);
        }
        let m = self.model(base_model).ok_or(Unpriced::UnknownModel)?;
        let (g, r) = m
            .tiers
            .get(tier)
            .ok_or_else(|| Unpriced::NoRateForTier(tier.to_string()))?;
        let pick = if *pool == Pool::Global {
            g.as_ref().or(r.as_ref())
        } else {
            r.as_ref().or(g.as_ref())
        };
        pick.ok_or_else(|| Unpriced::NoRateForTier(tier.to_string()))
    }

    /// The rates of calls to one resolved `modelId` (its base model in its pool), from `region`, in
    /// the long-context tier or not, in service tier `tier`. No known base model: unpriced.
    pub fn rates_of(
        &self,
        res: &Resolution,
        region: Option<&str>,
        long_context: bool,
        tier: &str,
    ) -> Result<&Rates, Unpriced> {
        let model = res.base_model.as_deref().ok_or(Unpriced::UnknownModel)?;
        self.rates_in_tier(model, &res.pool, region, long_context, tier)
    }

    /// The cost of `tokens` served in service tier `tier` (see [`PriceTable::rates_in_tier`]).
    pub fn cost_in_tier(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        long_context: bool,
        tier: &str,
        tokens: &Tokens,
    ) -> Result<Money, Unpriced> {
        self.rates_in_tier(base_model, pool, region, long_context, tier)?
            .cost(tokens)
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

/// Whether what follows a matched prefix keeps it the same model: the end, a `:` version, a `-`/`.`
/// suffix (date, `v1`, size), but not `-N`/`.N` of one digit ending there or before another `-`/`.`
/// (another minor version: `sonnet-5` vs `sonnet-5-5`, `v3` vs `v3.2`).
fn is_same_model(rest: &[u8]) -> bool {
    match rest {
        [] | [b':', ..] => true,
        [b'-' | b'.', d, tail @ ..] if d.is_ascii_digit() => {
            !matches!(tail.first(), None | Some(b'-' | b'.'))
        }
        [b'-' | b'.', ..] => true,
        _ => false,
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
    const SONNET46: &str = "anthropic.claude-sonnet-4-6";
    fn us() -> Pool {
        Pool::Geographic("us".into())
    }

    #[test]
    fn embedded_table_loads_and_is_dated() {
        let t = t();
        assert_eq!(t.as_of.to_string(), "2026-12-01");
        assert!(t.models.len() >= 70);
        // Every entry names its sources, and each source key it names is described in the file.
        let file: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap();
        let keys: Vec<&str> = file["sources"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for m in &t.models {
            let src = m.source.as_deref().unwrap_or_default();
            assert!(
                keys.iter()
                    .any(|k| src.split([',', ' ', ';', '(']).any(|w| w == *k)),
                "{}: source {src:?} names none of {keys:?}",
                m.name
            );
        }
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
            // Added 2026-12 (issue 13): the current Bedrock lineup.
            "anthropic.claude-sonnet-4-6",
            "anthropic.claude-opus-4-8",
            "anthropic.claude-sonnet-5",
            "anthropic.claude-fable-5",
            "amazon.nova-2-lite-v1:0",
            "amazon.nova-2-multimodal-embeddings-v1:0",
            "meta.llama3-1-70b-instruct-v1:0",
            "meta.llama3-2-1b-instruct-v1:0",
            "meta.llama3-2-3b-instruct-v1:0",
            "meta.llama3-2-11b-instruct-v1:0",
            "meta.llama3-2-90b-instruct-v1:0",
            "mistral.mistral-large-3-675b-instruct",
            "mistral.pixtral-large-2502-v1:0",
            "mistral.magistral-small-2509",
            "mistral.ministral-3-3b-instruct",
            "mistral.ministral-3-8b-instruct",
            "mistral.ministral-3-14b-instruct",
            "mistral.devstral-2-123b",
            "mistral.voxtral-mini-3b-2507",
            "mistral.voxtral-small-24b-2507",
            "deepseek.r1-v1:0",
            "deepseek.v3-v1:0",
            "deepseek.v3.2",
            "openai.gpt-oss-120b-1:0",
            "openai.gpt-oss-20b-1:0",
            "openai.gpt-oss-safeguard-120b",
            "openai.gpt-oss-safeguard-20b",
            "qwen.qwen3-235b-a22b-2507-v1:0",
            "qwen.qwen3-32b-v1:0",
            "qwen.qwen3-coder-30b-a3b-v1:0",
            "qwen.qwen3-coder-480b-a35b-v1:0",
            "qwen.qwen3-next-80b-a3b",
            "qwen.qwen3-vl-235b-a22b",
            "google.gemma-3-27b-it",
            "google.gemma-3-4b-it",
            "minimax.minimax-m2",
            "minimax.minimax-m2.1",
            "minimax.minimax-m2.5",
            "moonshot.kimi-k2-thinking",
            "moonshotai.kimi-k2.5",
            "nvidia.nemotron-nano-9b-v2",
            "nvidia.nemotron-nano-12b-v2",
            "nvidia.nemotron-nano-3-30b",
            "nvidia.nemotron-super-3-120b",
            "zai.glm-4.7",
            "zai.glm-4.7-flash",
            "zai.glm-5",
            "writer.palmyra-x4-v1:0",
            "writer.palmyra-x5-v1:0",
            "ai21.jamba-1-5-large-v1:0",
            "ai21.jamba-1-5-mini-v1:0",
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
            "Claude Opus 4.5 / 4.6 / 4.7 / 4.8"
        );
        assert_eq!(
            t.model("anthropic.claude-sonnet-4-5-20250929-v1:0")
                .unwrap()
                .name,
            "Claude Sonnet 4.5"
        );
        assert_eq!(t.model(SONNET4).unwrap().name, "Claude Sonnet 4");
        assert!(t.model("anthropic.claude-opus-4-55").is_none());
        assert!(t.model("amazon.nova-3-lite-v1:0").is_none());
        // Another minor version is another model: never priced as its neighbour.
        assert_eq!(
            t.model("anthropic.claude-sonnet-5").unwrap().name,
            "Claude Sonnet 5"
        );
        assert!(t.model("anthropic.claude-sonnet-5-5").is_none());
        assert!(t.model("anthropic.claude-sonnet-5-5-v1:0").is_none());
        assert!(t.model("anthropic.claude-fable-5-1").is_none());
        assert!(t.model("anthropic.claude-opus-4-9").is_none());
        assert_eq!(t.model("deepseek.v3-v1:0").unwrap().name, "DeepSeek-V3.1");
        assert_eq!(t.model("deepseek.v3.2").unwrap().name, "DeepSeek-V3.2");
        assert!(t.model("deepseek.v3.3").is_none());
        assert_eq!(
            t.model("minimax.minimax-m2.1").unwrap().name,
            "MiniMax M2.1"
        );
        assert!(t.model("minimax.minimax-m2.7").is_none());
        assert_eq!(t.model("zai.glm-4.7-flash").unwrap().name, "GLM-4.7-Flash");
        assert_eq!(
            t.model("openai.gpt-oss-120b-1:0").unwrap().name,
            "gpt-oss-120b"
        );
        assert_eq!(t.model("openai.gpt-oss-120b").unwrap().name, "gpt-oss-120b");
        assert_eq!(
            t.model("openai.gpt-oss-safeguard-120b").unwrap().name,
            "gpt-oss-safeguard-120b"
        );
        assert_eq!(
            t.model("anthropic.claude-opus-4-6-v1").unwrap().name,
            "Claude Opus 4.5 / 4.6 / 4.7 / 4.8"
        );
        assert!(t.model("amazon.titan-text-express-v1").is_none());
    }

    #[test]
    fn claude_45_geographic_and_in_region_cost_1_1x_global() {
        let t = t();
        // Every model of the 4.5 generation on (the sourced rule), and every entry with both pools.
        let newer = [
            HAIKU45,
            SONNET45,
            SONNET46,
            "anthropic.claude-opus-4-5-20251101-v1:0",
            "anthropic.claude-opus-4-6-v1",
            "anthropic.claude-opus-4-7",
            "anthropic.claude-opus-4-8",
            "anthropic.claude-sonnet-5",
            "anthropic.claude-fable-5",
        ];
        for id in newer {
            let m = t.model(id).unwrap();
            assert!(m.global.is_some() && m.regional.is_some(), "{id}");
        }
        let mut checked = 0;
        for m in t
            .models
            .iter()
            .filter(|m| m.global.is_some() && m.regional.is_some())
            .filter(|m| m.name != "Claude Sonnet 4")
        {
            checked += 1;
            let (g, r) = (m.global.as_ref().unwrap(), m.regional.as_ref().unwrap());
            let opt = |a: Option<Rate>, b: Option<Rate>| match (a, b) {
                (Some(a), b) => assert_eq!(a.times("1.1"), b, "{}", m.name),
                (None, b) => assert_eq!(b, None, "{}", m.name),
            };
            opt(g.cache_read, r.cache_read);
            assert_eq!(g.input.times("1.1"), Some(r.input), "{}", m.name);
            assert_eq!(g.output.times("1.1"), Some(r.output), "{}", m.name);
            opt(g.cache_write_5m, r.cache_write_5m);
            opt(g.cache_write_1h, r.cache_write_1h);
            if let Some((Some(lg), Some(lr))) = &m.long_context {
                assert_eq!(lg.input.times("1.1"), Some(lr.input), "{} long", m.name);
                assert_eq!(lg.output.times("1.1"), Some(lr.output), "{} long", m.name);
            }
        }
        assert!(checked >= 7, "{checked}");
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
        let mut cached = 0;
        for m in t
            .models
            .iter()
            .filter(|m| m.matches[0].starts_with("anthropic."))
        {
            let long = m.long_context.iter().flat_map(|(g, r)| [g, r]);
            for r in [&m.global, &m.regional].into_iter().chain(long).flatten() {
                if let (Some(cr), Some(w5), Some(w1)) =
                    (r.cache_read, r.cache_write_5m, r.cache_write_1h)
                {
                    assert_eq!(r.input.times("0.1"), Some(cr), "{} read", m.name);
                    assert_eq!(r.input.times("1.25"), Some(w5), "{} 5m", m.name);
                    assert_eq!(r.input.times("2"), Some(w1), "{} 1h", m.name);
                    cached += 1;
                } else {
                    // Only Claude 3 Haiku is listed without cache rates.
                    assert_eq!(m.name, "Claude 3 Haiku");
                }
            }
        }
        assert!(cached >= 20, "{cached}");
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
    fn long_context_is_per_model_as_sourced() {
        // Only Sonnet 4 and 4.5 bill a >200K request at long-context rates on Bedrock; 4.6 and later
        // (1M window at one rate) and every other model do not (prices.json notes give the sources).
        let t = t();
        let with: Vec<&str> = t
            .models
            .iter()
            .filter(|m| m.long_context.is_some())
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(with, ["Claude Sonnet 4.5", "Claude Sonnet 4"]);
        let long = tok(900_000, 10_000, 50_000, 40_000, 0);
        assert!(t.is_long_context(&long));
        // Sonnet 4.6 at 1M: the standard rate for the whole request.
        // 900000×3 + 10000×15 + 50000×0.3 + 40000×3.75 per 1M (global)
        assert_eq!(
            t.cost(SONNET46, &Pool::Global, None, true, &long),
            Ok(usd("3.015"))
        );
        // Regional: × 1.1.
        assert_eq!(
            t.cost(SONNET46, &us(), Some("us-east-1"), true, &long),
            Ok(usd("3.3165"))
        );
        assert_eq!(
            t.cost(SONNET46, &us(), None, true, &long),
            t.cost(SONNET46, &us(), None, false, &long)
        );
        for opus in ["anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-7"] {
            // 900000×5 + 10000×25 + 50000×0.5 + 40000×6.25 per 1M
            assert_eq!(
                t.cost(opus, &Pool::Global, None, true, &long),
                Ok(usd("5.025"))
            );
        }
        // Sonnet 4.5 with the same tokens: the long-context rates.
        // 900000×6 + 10000×22.5 + 50000×0.6 + 40000×7.5 per 1M
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, true, &long),
            Ok(usd("5.955"))
        );
    }

    #[test]
    fn sonnet_46_is_priced_in_all_three_pools() {
        let t = t();
        let one = tok(M, M, M, M, 0);
        for (id, pool, expect) in [
            // 3 + 15 + 0.30 + 3.75
            ("global.anthropic.claude-sonnet-4-6", Pool::Global, "22.05"),
            // × 1.1
            ("us.anthropic.claude-sonnet-4-6", us(), "24.255"),
            (
                "eu.anthropic.claude-sonnet-4-6",
                Pool::Geographic("eu".into()),
                "24.255",
            ),
            ("anthropic.claude-sonnet-4-6", Pool::InRegion, "24.255"),
        ] {
            use crate::attribution::model_id::{classify, ModelRef};
            let (model, logged_pool) = match classify(id) {
                ModelRef::SystemProfile { model, pool } => (model, pool),
                ModelRef::Base { model } => (model, Pool::InRegion),
                other => panic!("{id}: {other:?}"),
            };
            assert_eq!(logged_pool, pool, "{id}");
            assert_eq!(
                t.cost(&model, &pool, Some("us-east-1"), false, &one),
                Ok(usd(expect)),
                "{id}"
            );
        }
    }

    #[test]
    fn open_weight_and_nova_2_entries() {
        let t = t();
        let one = tok(M, M, 0, 0, 0);
        for (id, expect) in [
            ("openai.gpt-oss-120b-1:0", "0.75"),
            ("openai.gpt-oss-20b-1:0", "0.37"),
            ("deepseek.r1-v1:0", "6.75"),
            ("deepseek.v3-v1:0", "2.26"),
            ("qwen.qwen3-coder-480b-a35b-v1:0", "2.02"),
            ("qwen.qwen3-32b-v1:0", "0.75"),
            ("mistral.mistral-large-3-675b-instruct", "2"),
            ("meta.llama3-2-90b-instruct-v1:0", "1.44"),
        ] {
            assert_eq!(
                t.cost(id, &Pool::InRegion, None, false, &one),
                Ok(usd(expect)),
                "{id}"
            );
            // No global rate sourced: a profile of it uses the same rates.
            assert_eq!(
                t.cost(id, &Pool::Global, None, false, &one),
                t.cost(id, &Pool::InRegion, None, false, &one)
            );
            // No cache rates sourced: cache reads make it unpriced, not free.
            assert_eq!(
                t.cost(id, &Pool::InRegion, None, false, &tok(1, 1, 1, 0, 0)),
                Err(Unpriced::MissingRate("cache_read"))
            );
        }
        // Nova 2 Lite: global vs geographic (1.1×), cache read 0.25×, cache writes unknown.
        let n2 = "amazon.nova-2-lite-v1:0";
        assert_eq!(
            t.cost(n2, &Pool::Global, None, false, &one),
            Ok(usd("2.80"))
        );
        assert_eq!(t.cost(n2, &us(), None, false, &one), Ok(usd("3.08")));
        let r = t.rates(n2, &us(), None, false).unwrap();
        assert_eq!(r.input.times("0.25"), r.cache_read);
        assert_eq!(
            t.cost(n2, &us(), None, false, &tok(1, 1, 0, 5, 0)),
            Err(Unpriced::MissingRate("cache_write_5m"))
        );
    }

    #[test]
    fn nova_cache_reads_are_a_quarter_and_writes_free() {
        let t = t();
        let mut novas = 0;
        for m in t
            .models
            .iter()
            .filter(|m| m.matches[0].starts_with("amazon.nova"))
        {
            let regions = m.regions.values().map(Some);
            for r in [m.global.as_ref(), m.regional.as_ref()]
                .into_iter()
                .chain(regions)
                .flatten()
            {
                if let Some(cr) = r.cache_read {
                    assert_eq!(r.input.times("0.25"), Some(cr), "{}", m.name);
                    novas += 1;
                }
                for w in [r.cache_write_5m, r.cache_write_1h].into_iter().flatten() {
                    assert_eq!(w, Rate::per_million("0").unwrap(), "{}", m.name);
                }
            }
        }
        assert!(novas >= 6, "{novas}");
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

    fn tiered() -> PriceTable {
        PriceTable::from_json(
            r#"{"as_of": "2026-12-01", "long_context_above_prompt_tokens": 200000, "models": [
              { "name": "gpt-oss-120b", "match": ["openai.gpt-oss-120b-1"], "source": "test",
                "regional": { "input": "0.15", "output": "0.60" },
                "tiers": { "flex": { "regional": { "input": "0.075", "output": "0.30" } },
                           "priority": { "global": { "input": "0.25", "output": "1.00" },
                                         "regional": { "input": "0.2625", "output": "1.05" } } } } ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn service_tiers_are_priced_at_their_rates_or_unpriced() {
        let t = tiered();
        let m = "openai.gpt-oss-120b-1:0";
        let one = tok(M, M, 0, 0, 0);
        let cost = |pool: &Pool, tier: &str| t.cost_in_tier(m, pool, None, false, tier, &one);
        assert_eq!(cost(&Pool::InRegion, "default"), Ok(usd("0.75")));
        assert_eq!(cost(&Pool::InRegion, "flex"), Ok(usd("0.375")));
        assert_eq!(cost(&Pool::InRegion, "priority"), Ok(usd("1.3125")));
        assert_eq!(cost(&Pool::Global, "priority"), Ok(usd("1.25")));
        // A tier with only regional rates uses them for global profiles too.
        assert_eq!(cost(&Pool::Global, "flex"), Ok(usd("0.375")));
        // No reserved rate: unpriced with its reason, never the standard rate.
        let no = cost(&Pool::InRegion, "reserved");
        assert_eq!(no, Err(Unpriced::NoRateForTier("reserved".into())));
        assert_eq!(no.unwrap_err().reason(), "no rate for tier");
        assert_eq!(
            cost(&Pool::InRegion, "turbo"),
            Err(Unpriced::NoRateForTier("turbo".into()))
        );
        assert_eq!(
            t.cost_in_tier("acme.x-v1", &Pool::InRegion, None, false, "flex", &one),
            Err(Unpriced::UnknownModel)
        );
        // The embedded table lists no tier rates yet: every non-default tier is unpriced.
        let e = PriceTable::embedded();
        for tier in ["flex", "priority", "reserved"] {
            assert_eq!(
                e.cost_in_tier(SONNET46, &Pool::Global, None, false, tier, &one),
                Err(Unpriced::NoRateForTier(tier.into()))
            );
        }
        assert_eq!(
            e.cost_in_tier(SONNET46, &Pool::Global, None, false, "default", &one),
            e.cost(SONNET46, &Pool::Global, None, false, &one)
        );
        // What a record names, as priced.
        assert_eq!(tier_of(None), "default");
        assert_eq!(tier_of(Some("Standard")), "default");
        assert_eq!(tier_of(Some("FLEX")), "flex");
        assert_eq!(tier_of(Some("turbo")), "turbo");
        // Tier names in a table are checked.
        let bad = r#"{"as_of": "2026-12-01", "long_context_above_prompt_tokens": 1, "models": [
            { "name": "x", "match": ["a.b"], "regional": { "input": "1", "output": "1" },
              "tiers": { "turbo": { "regional": { "input": "1", "output": "1" } } } } ]}"#;
        assert!(matches!(
            PriceTable::from_json(bad),
            Err(PriceTableError::Invalid(_))
        ));
        let empty = bad.replace(
            "\"turbo\": { \"regional\": { \"input\": \"1\", \"output\": \"1\" } }",
            "\"flex\": {}",
        );
        assert!(empty.contains("\"flex\": {}"));
        assert!(matches!(
            PriceTable::from_json(&empty),
            Err(PriceTableError::Invalid(_))
        ));
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert!(PriceTable::from_json("{").is_err());
        let bad_rate = DEFAULT_PRICES_JSON.replacen("\"1.00\"", "\"1.0.0\"", 1);
        assert!(matches!(
            PriceTable::from_json(&bad_rate),
            Err(PriceTableError::Rate { .. })
        ));
        let bad_date = DEFAULT_PRICES_JSON.replacen("2026-12-01", "Nov 2026", 1);
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
