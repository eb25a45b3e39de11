//! The price table: one dated data file (`shared/data/prices.json`, embedded at build time, overridable
//! by a file at run time). Rates are exact decimals; a model is found by the longest `match` prefix of
//! its base model id (a prefix must end at a `-`, `:` or the end of the id).
//!
//! Rules it encodes:
//! - pool: `global.` profiles use the entry's `global` rates; geographic profiles and in-Region calls
//!   use its `regional` rates of the call's source Region. A model without `global` rates prices a
//!   global profile at the regional rates of the source Region, unless its entry says the global pool
//!   is not priced (`global_unpriced`, with why: a source gives a different global rate that no second
//!   source confirms): then a global profile is unpriced (`no rate for region`, Region `global`),
//!   never priced at a Region's rate.
//! - Region: `regional` is keyed by Region (`eu-west-2`) or Region group (`us`, `eu`, `apac`, `gov`, …,
//!   the table's `region_groups`); the Region's own key wins over its groups, the groups are tried in
//!   the table's order. A call from a Region the entry has no rate for — or whose Region is not logged
//!   — is unpriced (`no rate for region`), never priced at another Region's rate.
//! - per-model rules (`rules` of the entry's `family`, overridden key by key by the entry's own
//!   `rules`): `cache` multipliers of the input rate give the cache rates an entry does not list
//!   (read, 5-minute write, 1-hour write); `long_context` gives the prompt size above which the whole
//!   request is billed at the long-context rates (input and cache rates × `input`, output × `output`).
//!   Models without a `long_context` rule have one rate for their whole window.
//! - cache writes: 5-minute and 1-hour rates; writes of unknown TTL are 5-minute writes.
//! - a rate that is absent is unknown: usage that needs it is unpriced, never $0.
//! - service tiers: a call served in the `flex`, `priority` or `reserved` tier is priced from the
//!   model's `tiers` rates for that tier; a tier without rates is unpriced (`no rate for tier`), never
//!   the standard rate. `default` (Standard) is the model's own rates.
//! - a match prefix never covers another version of the model: after the prefix, `-N` or `.N` (one
//!   digit, then the end or another `-`/`.`) is a different minor version (`anthropic.claude-sonnet-5`
//!   does not price `anthropic.claude-sonnet-5-5`).
//!
//! Prompt bands: the long-context thresholds differ per model, and some callers sum usage before they
//! know the model (the daily rollup groups by logged `modelId`, whose base model an application profile
//! hides). So a request is first put in a *prompt band* — how many of the table's distinct thresholds
//! its prompt exceeds ([`PriceTable::prompt_band`]) — and a model is in its long-context tier in every
//! band above its own threshold's. Requests of one band price the same under every model: summing
//! them before pricing stays exact.

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

/// The cache multipliers of a model: each cache rate is the input rate times its factor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheRule {
    pub read: Option<String>,
    pub write_5m: Option<String>,
    pub write_1h: Option<String>,
}

/// A model's long-context tier: a request whose prompt (input + cache read + cache write) exceeds
/// `above_prompt_tokens` is billed entirely at the base rates with input and cache rates × `input`
/// and output × `output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongContextRule {
    pub above_prompt_tokens: u64,
    pub input: String,
    pub output: String,
}

/// Rates of one pool pair: `global` (global profiles) and `regional` by Region or Region group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolRates {
    pub global: Option<Rates>,
    /// Why the global pool is not priced (the entry's `global_unpriced`): set only without `global`
    /// rates; a global profile is then unpriced instead of priced at its source Region's rates.
    pub global_unpriced: Option<String>,
    /// Key: a Region (`eu-west-2`) or a Region group of the table (`us`, `eu`, …).
    pub regional: HashMap<String, Rates>,
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
    /// The entry's family (`families` of the table), whose rules it inherits.
    pub family: Option<String>,
    /// The rules in force for this model (family rules overridden by the entry's own).
    pub cache: CacheRule,
    pub long_context_rule: Option<LongContextRule>,
    /// The standard-tier rates as listed (cache rates filled in from the cache rule).
    pub rates: PoolRates,
    /// The long-context rates, derived from `rates` by the long-context rule.
    pub long_context: Option<PoolRates>,
    /// Rates of the non-default service tiers (`flex`, `priority`, `reserved`).
    pub tiers: HashMap<String, PoolRates>,
    /// Index of the model's long-context threshold in the table's sorted thresholds.
    long_context_index: Option<usize>,
}

/// The service tier every call without a logged tier is served in (Bedrock's Standard tier).
pub(crate) const DEFAULT_TIER: &str = "default";
/// The tiers a model's `tiers` rates may be given for: those Bedrock serves on-demand calls in
/// (`ServiceTier.type`), and `batch` — batch inference jobs (`daily::batch`), never a logged call's.
const TIERS: &[&str] = &["default", "flex", "priority", "reserved", "batch"];

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

/// The tier of a call whose record shows none because no body was logged (text delivery off, or
/// bodies offloaded to S3): the log cannot say whether it was served Standard, Flex or Priority. It is
/// priced at the Standard rates and reports count it per model ("tier not read"), never silently.
pub const TIER_UNREAD: &str = "unread";

/// The tier a record's call is priced and reported in: [`tier_of`] its logged tier, or
/// [`TIER_UNREAD`] when it names none and no body was logged to name one.
pub fn tier_of_record(r: &crate::records::record::Record<'_>) -> String {
    match (&r.service_tier, r.body_logged) {
        (None, false) => TIER_UNREAD.to_string(),
        (t, _) => tier_of(t.as_deref()),
    }
}

/// A named set of Regions that share rates (`us`, `eu`, `apac`, `gov`, …).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionGroup {
    pub name: String,
    pub regions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct PriceTable {
    pub as_of: Date,
    /// The distinct long-context thresholds of the table's models, ascending: the prompt bands'
    /// bounds ([`PriceTable::prompt_band`]).
    pub long_context_thresholds: Vec<u64>,
    /// Region groups, most specific first.
    pub region_groups: Vec<RegionGroup>,
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
    /// The model has no rate for the call's source Region (or the Region is not logged).
    NoRateForRegion(String),
}

/// The reasons an unpriced usage can have, as reports show them.
pub const REASON_UNKNOWN_MODEL: &str = "unknown model";
pub const REASON_NO_RATE_FOR_REGION: &str = "no rate for region";
pub const REASON_NO_RATE_FOR_TIER: &str = "no rate for tier";
/// The Region of [`Unpriced::NoRateForRegion`] for a global profile of a model whose global pool is
/// not priced (`global_unpriced`).
pub const GLOBAL_POOL: &str = "global";

impl Unpriced {
    /// The reason as reports show it.
    pub fn reason(&self) -> String {
        match self {
            Unpriced::UnknownModel => REASON_UNKNOWN_MODEL.to_string(),
            Unpriced::MissingRate(what) => format!("no {what} rate"),
            Unpriced::NoRateForTier(_) => REASON_NO_RATE_FOR_TIER.to_string(),
            Unpriced::NoRateForRegion(_) => REASON_NO_RATE_FOR_REGION.to_string(),
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    global: Option<RatesFile>,
    #[serde(default)]
    regional: HashMap<String, RatesFile>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    read: Option<String>,
    write_5m: Option<String>,
    write_1h: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct LongContextFile {
    above_prompt_tokens: u64,
    input: String,
    output: String,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    cache: Option<CacheFile>,
    /// `null` in an entry: the family's long-context rule does not apply to it.
    #[serde(default, deserialize_with = "explicit_null")]
    long_context: Option<Option<LongContextFile>>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when the key is absent.
fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    #[serde(rename = "match")]
    matches: Vec<String>,
    source: Option<String>,
    /// Notes on the entry's sources: where they disagree and which was used.
    #[serde(default)]
    #[allow(dead_code)]
    notes: Option<String>,
    #[serde(default)]
    price_list: Vec<String>,
    family: Option<String>,
    #[serde(default)]
    rules: RulesFile,
    global: Option<RatesFile>,
    /// Why the model's global pool is not priced (a global rate is unknown or disputed): a global
    /// profile of it is unpriced, not priced at its source Region's rates. Excludes `global`.
    global_unpriced: Option<String>,
    #[serde(default)]
    regional: HashMap<String, RatesFile>,
    #[serde(default)]
    tiers: HashMap<String, PoolFile>,
}

#[derive(Deserialize)]
struct TableFile {
    as_of: String,
    #[serde(default)]
    region_groups: Vec<RegionGroup>,
    #[serde(default)]
    families: HashMap<String, RulesFile>,
    models: Vec<ModelFile>,
}

fn rate_err(model: &str) -> impl Fn(DecimalError) -> PriceTableError + '_ {
    move |source| PriceTableError::Rate {
        model: model.to_string(),
        source,
    }
}

/// `rate` × `factor`, exact, or the table is invalid.
fn scaled(rate: Rate, factor: &str, model: &str, what: &str) -> Result<Rate, PriceTableError> {
    Rate::per_million(factor).map_err(rate_err(model))?;
    rate.times(factor).ok_or_else(|| {
        PriceTableError::Invalid(format!(
            "{model}: {what} {} × {factor} is not exact at nine decimals",
            rate.per_million_text()
        ))
    })
}

impl RatesFile {
    /// The rates as listed; cache rates not listed come from the cache rule.
    fn parse(&self, model: &str, cache: &CacheRule) -> Result<Rates, PriceTableError> {
        let r = |t: &str| Rate::per_million(t).map_err(rate_err(model));
        let input = r(&self.input)?;
        let o = |t: &Option<String>, rule: &Option<String>, what: &str| match (t, rule) {
            (Some(t), _) => r(t).map(Some),
            (None, Some(f)) => scaled(input, f, model, what).map(Some),
            (None, None) => Ok(None),
        };
        Ok(Rates {
            input,
            output: r(&self.output)?,
            cache_read: o(&self.cache_read, &cache.read, "cache read")?,
            cache_write_5m: o(&self.cache_write_5m, &cache.write_5m, "cache write 5m")?,
            cache_write_1h: o(&self.cache_write_1h, &cache.write_1h, "cache write 1h")?,
        })
    }
}

impl Rates {
    /// These rates in a long-context tier: input and cache rates × `rule.input`, output ×
    /// `rule.output`.
    fn long_context(&self, rule: &LongContextRule, model: &str) -> Result<Rates, PriceTableError> {
        let i = |r: Rate| scaled(r, &rule.input, model, "long-context");
        Ok(Rates {
            input: i(self.input)?,
            output: scaled(self.output, &rule.output, model, "long-context output")?,
            cache_read: self.cache_read.map(i).transpose()?,
            cache_write_5m: self.cache_write_5m.map(i).transpose()?,
            cache_write_1h: self.cache_write_1h.map(i).transpose()?,
        })
    }
}

impl PoolFile {
    fn parse(
        global: &Option<RatesFile>,
        regional: &HashMap<String, RatesFile>,
        model: &str,
        cache: &CacheRule,
        keys: &[&str],
    ) -> Result<PoolRates, PriceTableError> {
        let mut out = PoolRates {
            global: global.as_ref().map(|g| g.parse(model, cache)).transpose()?,
            global_unpriced: None,
            regional: HashMap::new(),
        };
        for (k, v) in regional {
            if !keys.contains(&k.as_str()) && !is_region_name(k) {
                return Err(PriceTableError::Invalid(format!(
                    "{model}: regional key {k:?} is neither a Region group ({}) nor a Region name",
                    keys.join(", ")
                )));
            }
            out.regional.insert(k.clone(), v.parse(model, cache)?);
        }
        Ok(out)
    }
}

impl PoolRates {
    /// These rates in a long-context tier by `rule` (see [`LongContextRule`]).
    pub fn derive_long_context(
        &self,
        rule: &LongContextRule,
        model: &str,
    ) -> Result<PoolRates, PriceTableError> {
        self.map(|r| r.long_context(rule, model))
    }

    fn map(
        &self,
        f: impl Fn(&Rates) -> Result<Rates, PriceTableError>,
    ) -> Result<PoolRates, PriceTableError> {
        Ok(PoolRates {
            global: self.global.as_ref().map(&f).transpose()?,
            global_unpriced: self.global_unpriced.clone(),
            regional: self
                .regional
                .iter()
                .map(|(k, v)| Ok((k.clone(), f(v)?)))
                .collect::<Result<_, PriceTableError>>()?,
        })
    }
}

/// `xx-name-N` (`us-east-1`, `us-gov-west-1`, `ap-southeast-7`): the shape of an AWS Region name.
fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

impl PriceTable {
    pub fn embedded() -> PriceTable {
        PriceTable::from_json(DEFAULT_PRICES_JSON)
            .expect("the embedded price table is valid (tested)")
    }

    pub fn from_json(text: &str) -> Result<PriceTable, PriceTableError> {
        let f: TableFile = serde_json::from_str(text)?;
        let as_of = Date::parse(&f.as_of).ok_or_else(|| PriceTableError::Date(f.as_of.clone()))?;
        let mut group_names: Vec<&str> = Vec::new();
        for g in &f.region_groups {
            if group_names.contains(&g.name.as_str())
                || is_region_name(&g.name)
                || g.name.is_empty()
            {
                return Err(PriceTableError::Invalid(format!(
                    "region group {:?}: empty, repeated or shaped like a Region",
                    g.name
                )));
            }
            if let Some(bad) = g.regions.iter().find(|r| !is_region_name(r)) {
                return Err(PriceTableError::Invalid(format!(
                    "region group {}: {bad:?} is not a Region name",
                    g.name
                )));
            }
            group_names.push(&g.name);
        }
        let mut models = Vec::new();
        let mut index: Vec<(String, usize)> = Vec::new();
        for m in &f.models {
            let family = match &m.family {
                Some(name) => Some(f.families.get(name).ok_or_else(|| {
                    PriceTableError::Invalid(format!("{}: unknown family {name:?}", m.name))
                })?),
                None => None,
            };
            // The entry's rules override its family's, key by key.
            let fam_cache = family.and_then(|f| f.cache.clone()).unwrap_or_default();
            let own_cache = m.rules.cache.clone().unwrap_or_default();
            let cache = CacheRule {
                read: own_cache.read.or(fam_cache.read),
                write_5m: own_cache.write_5m.or(fam_cache.write_5m),
                write_1h: own_cache.write_1h.or(fam_cache.write_1h),
            };
            let lc_file = match &m.rules.long_context {
                Some(own) => own.clone(),
                None => family.and_then(|f| f.long_context.clone()).flatten(),
            };
            let long_context_rule = lc_file.map(|l| LongContextRule {
                above_prompt_tokens: l.above_prompt_tokens,
                input: l.input,
                output: l.output,
            });
            let mut rates = PoolFile::parse(&m.global, &m.regional, &m.name, &cache, &group_names)?;
            if rates.global.is_none() && rates.regional.is_empty() {
                return Err(PriceTableError::Invalid(format!(
                    "{}: neither global nor regional rates",
                    m.name
                )));
            }
            if let Some(why) = &m.global_unpriced {
                if why.trim().is_empty() {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: global_unpriced without a reason",
                        m.name
                    )));
                }
                if rates.global.is_some() {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: both global rates and global_unpriced",
                        m.name
                    )));
                }
                rates.global_unpriced = Some(why.clone());
            }
            let long_context = long_context_rule
                .as_ref()
                .map(|rule| rates.derive_long_context(rule, &m.name))
                .transpose()?;
            let mut tiers = HashMap::new();
            for (tier, t) in &m.tiers {
                if !TIERS.contains(&tier.as_str()) || tier == DEFAULT_TIER {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: unknown service tier {tier:?} (flex, priority, reserved, batch)",
                        m.name
                    )));
                }
                // A tier's cache rates are only what the entry lists: the model's cache rule is a
                // rule of its standard rates, not evidence of a tier's.
                let none = CacheRule::default();
                let mut r = PoolFile::parse(&t.global, &t.regional, &m.name, &none, &group_names)?;
                // A tier without global rates of a model whose global pool is unpriced: its global
                // profiles are unpriced too, not priced at the tier's regional rates.
                if r.global.is_none() {
                    r.global_unpriced = rates.global_unpriced.clone();
                }
                if r.global.is_none() && r.regional.is_empty() {
                    return Err(PriceTableError::Invalid(format!(
                        "{}: tier {tier} has neither global nor regional rates",
                        m.name
                    )));
                }
                tiers.insert(tier.clone(), r);
            }
            let price = ModelPrice {
                name: m.name.clone(),
                matches: m.matches.clone(),
                source: m.source.clone(),
                price_list: m.price_list.clone(),
                family: m.family.clone(),
                cache,
                long_context_rule,
                rates,
                long_context,
                tiers,
                long_context_index: None,
            };
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
        let mut thresholds: Vec<u64> = models
            .iter()
            .filter_map(|m| m.long_context_rule.as_ref().map(|r| r.above_prompt_tokens))
            .collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.len() > usize::from(u8::MAX) {
            return Err(PriceTableError::Invalid(
                "too many long-context thresholds".into(),
            ));
        }
        for m in &mut models {
            m.long_context_index = m
                .long_context_rule
                .as_ref()
                .and_then(|r| thresholds.iter().position(|t| *t == r.above_prompt_tokens));
        }
        index.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(PriceTable {
            as_of,
            long_context_thresholds: thresholds,
            region_groups: f.region_groups,
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

    /// The prompt band of a request: how many of the table's long-context thresholds its prompt
    /// (input + cache read + cache write) exceeds. Requests of one band are in the long-context
    /// tier of the same models ([`PriceTable::is_long_context`]).
    pub fn prompt_band(&self, tokens: &Tokens) -> u8 {
        let p = tokens.prompt_total();
        self.long_context_thresholds
            .iter()
            .filter(|t| p > **t)
            .count() as u8
    }

    /// Whether requests of prompt band `band` are in `base_model`'s long-context tier.
    pub fn is_long_context(&self, base_model: &str, band: u8) -> bool {
        self.model(base_model)
            .and_then(|m| m.long_context_index)
            .is_some_and(|i| usize::from(band) > i)
    }

    /// The Region groups `region` belongs to, most specific first.
    pub fn groups_of<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.region_groups
            .iter()
            .filter(move |g| g.regions.iter().any(|r| r == region))
            .map(|g| g.name.as_str())
    }

    /// The rates of `pool` (standard or a tier's) for a call in `pool` from source Region `region`.
    fn pick<'a>(
        &'a self,
        rates: &'a PoolRates,
        pool: &Pool,
        region: Option<&str>,
    ) -> Result<&'a Rates, Unpriced> {
        if *pool == Pool::Global {
            if let Some(g) = &rates.global {
                return Ok(g);
            }
            if rates.global_unpriced.is_some() {
                return Err(Unpriced::NoRateForRegion(GLOBAL_POOL.to_string()));
            }
        }
        let no_rate = || Unpriced::NoRateForRegion(region.unwrap_or_default().to_string());
        let region = region.filter(|r| !r.is_empty()).ok_or_else(no_rate)?;
        rates
            .regional
            .get(region)
            .or_else(|| self.groups_of(region).find_map(|g| rates.regional.get(g)))
            .ok_or_else(no_rate)
    }

    /// The rates that apply to a call of `base_model` in `pool` from source Region `region`, in
    /// prompt band `band`, in the standard tier.
    pub fn rates(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        band: u8,
    ) -> Result<&Rates, Unpriced> {
        self.rates_in_tier(base_model, pool, region, band, DEFAULT_TIER)
    }

    /// The rates of a call served in service tier `tier`: the model's own rates for `default`, its
    /// `tiers` rates otherwise (global or by Region, as for the standard rates). `Err` says why none.
    /// A tier's rates have no long-context variant: a long-context request in a non-default tier is
    /// unpriced (`no rate for tier`) when the model has a long-context tier.
    pub fn rates_in_tier(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        band: u8,
        tier: &str,
    ) -> Result<&Rates, Unpriced> {
        let m = self.model(base_model).ok_or(Unpriced::UnknownModel)?;
        let long = m.long_context_index.is_some_and(|i| usize::from(band) > i);
        if tier == DEFAULT_TIER || tier == TIER_UNREAD {
            let rates = match (&m.long_context, long) {
                (Some(lc), true) => lc,
                _ => &m.rates,
            };
            return self.pick(rates, pool, region);
        }
        let no_tier = || Unpriced::NoRateForTier(tier.to_string());
        let t = m.tiers.get(tier).ok_or_else(no_tier)?;
        if long {
            return Err(no_tier());
        }
        self.pick(t, pool, region).map_err(|e| match e {
            Unpriced::NoRateForRegion(_) if t.regional.is_empty() => no_tier(),
            e => e,
        })
    }

    /// The rates of calls to one resolved `modelId` (its base model in its pool), from `region`, in
    /// prompt band `band`, in service tier `tier`. No known base model: unpriced.
    pub fn rates_of(
        &self,
        res: &Resolution,
        region: Option<&str>,
        band: u8,
        tier: &str,
    ) -> Result<&Rates, Unpriced> {
        let model = res.base_model.as_deref().ok_or(Unpriced::UnknownModel)?;
        self.rates_in_tier(model, &res.pool, region, band, tier)
    }

    /// The cost of `tokens` served in service tier `tier` (see [`PriceTable::rates_in_tier`]).
    pub fn cost_in_tier(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        band: u8,
        tier: &str,
        tokens: &Tokens,
    ) -> Result<Money, Unpriced> {
        self.rates_in_tier(base_model, pool, region, band, tier)?
            .cost(tokens)
    }

    /// The cost of `tokens` (one request, or a sum of requests of one prompt band) in the standard
    /// tier.
    pub fn cost(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        band: u8,
        tokens: &Tokens,
    ) -> Result<Money, Unpriced> {
        self.rates(base_model, pool, region, band)?.cost(tokens)
    }

    /// The cost of one request: its own prompt band.
    pub fn cost_of_request(
        &self,
        base_model: &str,
        pool: &Pool,
        region: Option<&str>,
        tokens: &Tokens,
    ) -> Result<Money, Unpriced> {
        self.cost(base_model, pool, region, self.prompt_band(tokens), tokens)
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
    /// A rate per million tokens, from its text.
    fn r(text: &str) -> Rate {
        Rate::per_million(text).unwrap()
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
    const K100: u64 = 100_000;
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
        assert_eq!(t.as_of.to_string(), "2026-12-07");
        assert!(t.models.len() >= 70);
        // Every source key says when it was read.
        for (k, v) in file_sources() {
            assert!(v.contains("read "), "{k}: {v}");
        }
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
            "google.gemma-3-4b-it",
            // Added 2026-12-07 (issue 23).
            "anthropic.claude-opus-5",
            "anthropic.claude-opus-5-5",
            "anthropic.claude-fable-5-1",
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
            // Added 2026-12-07 (issue 23, second pass): a Price List read or the provider's page,
            // and an independent table, agree.
            "anthropic.claude-haiku-5-5",
            "google.gemma-3-12b-it",
            "google.gemma-3-27b-it",
            "qwen.qwen3-coder-next",
            "qwen.qwen3-next-80b-a3b",
            "qwen.qwen3-next-80b-a3b-instruct",
            "qwen.qwen3-vl-235b-a22b",
            "qwen.qwen3-32b",
            "openai.gpt-5.6-luna",
            "openai.gpt-5.6-terra",
            "openai.gpt-5.6-sol",
            "mistral.voxtral-small-24b-2507",
            "openai.gpt-5.4",
            "openai.gpt-5.5",
            // Added 2026-12-07 (fourth pass): a Pricing API read quoted in public code and
            // independent tables agree.
            "qwen.qwen3-coder-480b-a35b-v1:0",
            "qwen.qwen3-coder-480b-a35b-instruct",
            "amazon.nova-2-pro-preview-20251202-v1:0",
        ] {
            assert!(t().model(id).is_some(), "{id} has no price");
        }
        // Disputed by two sources with no Price List read or provider page to settle them, or with
        // one source only: unpriced, not guessed.
        for id in ["amazon.nova-2-sonic-v1:0", "openai.gpt-5.6-mini"] {
            assert!(t().model(id).is_none(), "{id} is priced");
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
        assert!(t.model("amazon.nova-3-lite-v1:0").is_none());
        // Another minor version is another model: never priced as its neighbour.
        assert_eq!(
            t.model("anthropic.claude-sonnet-5").unwrap().name,
            "Claude Sonnet 5"
        );
        assert_eq!(
            t.model("anthropic.claude-sonnet-5-5").unwrap().name,
            "Claude Sonnet 5.5"
        );
        assert_eq!(
            t.model("anthropic.claude-sonnet-5-5-v1:0").unwrap().name,
            "Claude Sonnet 5.5"
        );
        assert!(t.model("anthropic.claude-sonnet-5-6").is_none());
        assert_eq!(
            t.model("anthropic.claude-fable-5-1").unwrap().name,
            "Claude Fable 5.1"
        );
        assert!(t.model("anthropic.claude-fable-5-2").is_none());
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
            "Claude Opus 4.5 / 4.6 / 4.7"
        );
        assert!(t.model("amazon.titan-text-express-v1").is_none());
    }

    fn file_sources() -> Vec<(String, String)> {
        let file: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap();
        file["sources"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    }

    /// The file's own entry for a model, as JSON (to check the loaded rates against what it lists).
    fn entry(name: &str) -> serde_json::Value {
        let file: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap();
        file["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    }

    #[test]
    fn claude_45_geographic_and_in_region_cost_1_1x_global() {
        let t = t();
        // Every model of the 4.5 generation on (the sourced rule) has both pools, with the same
        // regional rate in every Region group it lists.
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
            "anthropic.claude-opus-5",
            "anthropic.claude-opus-5-5",
            "anthropic.claude-fable-5-1",
            "anthropic.claude-sonnet-5-5",
            "anthropic.claude-haiku-5-5",
        ];
        let mut checked = 0;
        for id in newer {
            let m = t.model(id).unwrap();
            let g = m.rates.global.as_ref().unwrap();
            assert!(!m.rates.regional.is_empty(), "{id}");
            // GovCloud (the group or one of its Regions) is 1.2 x global: its own test below.
            let commercial = |k: &str| k != "gov" && !k.starts_with("us-gov-");
            for (key, r) in m.rates.regional.iter().filter(|(k, _)| commercial(k)) {
                let opt = |a: Option<Rate>, b: Option<Rate>| match (a, b) {
                    (Some(a), b) => assert_eq!(a.times("1.1"), b, "{} {key}", m.name),
                    (None, b) => assert_eq!(b, None, "{} {key}", m.name),
                };
                assert_eq!(g.input.times("1.1"), Some(r.input), "{} {key}", m.name);
                assert_eq!(g.output.times("1.1"), Some(r.output), "{} {key}", m.name);
                opt(g.cache_read, r.cache_read);
                opt(g.cache_write_5m, r.cache_write_5m);
                opt(g.cache_write_1h, r.cache_write_1h);
                checked += 1;
            }
        }
        assert!(checked >= 9, "{checked}");
        let one = tok(M, M, 0, 0, 0);
        assert_eq!(
            t.cost(HAIKU45, &Pool::Global, Some("us-east-1"), 0, &one),
            Ok(usd("6.00"))
        );
        assert_eq!(
            t.cost(HAIKU45, &us(), Some("us-east-1"), 0, &one),
            Ok(usd("6.60"))
        );
        assert_eq!(
            t.cost(HAIKU45, &Pool::InRegion, Some("us-east-1"), 0, &one),
            Ok(usd("6.60"))
        );
        // Older Claude: geographic = global.
        assert_eq!(
            t.cost(SONNET4, &Pool::Global, Some("us-east-1"), 0, &one),
            t.cost(SONNET4, &us(), Some("us-east-1"), 0, &one)
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                &Pool::Global,
                Some("us-east-1"),
                0,
                &one
            ),
            Ok(usd("4.80"))
        );
    }

    #[test]
    fn cache_rates_follow_each_models_own_rule() {
        let t = t();
        let mut checked = 0;
        for m in &t.models {
            let e = entry(&m.name);
            let pools = m.long_context.iter().chain([&m.rates]);
            for p in pools {
                for r in p.global.iter().chain(p.regional.values()) {
                    for (rate, rule, listed) in [
                        (r.cache_read, &m.cache.read, "cache_read"),
                        (r.cache_write_5m, &m.cache.write_5m, "cache_write_5m"),
                        (r.cache_write_1h, &m.cache.write_1h, "cache_write_1h"),
                    ] {
                        match rule {
                            // The model's own multiplier, unless the entry lists the rate itself.
                            Some(f) => {
                                let listed_anywhere = e.to_string().contains(listed);
                                if !listed_anywhere {
                                    assert_eq!(rate, r.input.times(f), "{} {listed}", m.name);
                                    checked += 1;
                                }
                            }
                            // No rule and not listed: unknown, never 0.
                            None if !e.to_string().contains(listed) => {
                                assert_eq!(rate, None, "{} {listed}", m.name)
                            }
                            None => {}
                        }
                    }
                }
            }
        }
        assert!(checked >= 100, "{checked}");
        // The rules are read per model: Claude's from its family, Nova 2 Lite's own (no write rate).
        let haiku = t.model(HAIKU45).unwrap();
        assert_eq!(haiku.family.as_deref(), Some("claude"));
        assert_eq!(haiku.cache.read.as_deref(), Some("0.1"));
        let n2 = t.model("amazon.nova-2-lite-v1:0").unwrap();
        assert_eq!(n2.cache.read.as_deref(), Some("0.25"));
        assert_eq!(n2.cache.write_5m, None);
        // A per-entry override beats its family's rule, key by key.
        let json = r#"{"as_of": "2026-12-07",
            "families": {"f": {"cache": {"read": "0.1", "write_5m": "1.25"}}},
            "region_groups": [{"name": "us", "regions": ["us-east-1"]}],
            "models": [
              {"name": "a", "match": ["x.a"], "family": "f", "regional": {"us": {"input": "2", "output": "4"}}},
              {"name": "b", "match": ["x.b"], "family": "f", "rules": {"cache": {"read": "0.2"}},
               "regional": {"us": {"input": "2", "output": "4"}}},
              {"name": "c", "match": ["x.c"], "family": "f",
               "regional": {"us": {"input": "2", "output": "4", "cache_read": "0.15"}}} ]}"#;
        let x = PriceTable::from_json(json).unwrap();
        let r = |id: &str| {
            x.rates(id, &Pool::InRegion, Some("us-east-1"), 0)
                .unwrap()
                .clone()
        };
        assert_eq!(r("x.a").cache_read.unwrap().per_million_text(), "0.2");
        assert_eq!(r("x.b").cache_read.unwrap().per_million_text(), "0.4");
        assert_eq!(r("x.b").cache_write_5m.unwrap().per_million_text(), "2.5");
        assert_eq!(r("x.c").cache_read.unwrap().per_million_text(), "0.15");
        assert_eq!(r("x.a").cache_write_1h, None);
        // Unknown family: the table is refused.
        assert!(
            PriceTable::from_json(&json.replacen("\"family\": \"f\"", "\"family\": \"g\"", 1))
                .is_err()
        );

        // 6 input + 225,913 cache-write tokens (a real record): writes dominate; 5m by default.
        let w = tok(6, 167, 0, 225_913, 0);
        let five = t
            .cost("anthropic.claude-opus-4-7", &Pool::Global, None, 0, &w)
            .unwrap();
        // 6×5 + 167×25 + 225913×6.25 per 1M
        assert_eq!(five, usd("1.416161250"));
        let one_h = t
            .cost(
                "anthropic.claude-opus-4-7",
                &Pool::Global,
                None,
                0,
                &tok(6, 167, 0, 225_913, 225_913),
            )
            .unwrap();
        assert_eq!(one_h, usd("2.263335"));
        let read = t
            .cost(
                HAIKU45,
                &us(),
                Some("us-east-1"),
                0,
                &tok(1, 0, 238_604, 0, 0),
            )
            .unwrap();
        assert_eq!(read, usd("0.02624754"));
    }

    #[test]
    fn sonnet_long_context_bills_the_whole_request() {
        let t = t();
        let sonnet45 = t.model(SONNET45).unwrap();
        let above = sonnet45
            .long_context_rule
            .as_ref()
            .unwrap()
            .above_prompt_tokens;
        assert_eq!(above, 200_000);
        let small = tok(150_000, 1_000, 50_000, 0, 0); // exactly 200,000: not long
        let b_small = t.prompt_band(&small);
        assert!(!t.is_long_context(SONNET45, b_small));
        let long = tok(150_000, 1_000, 50_000, 1, 0);
        let b_long = t.prompt_band(&long);
        assert!(t.is_long_context(SONNET45, b_long));
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, b_small, &small),
            Ok(usd("0.48"))
        );
        // 150000×6 + 1000×22.5 + 50000×0.6 + 1×7.5 per 1M
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, b_long, &long),
            Ok(usd("0.9525075"))
        );
        assert_eq!(
            t.cost(SONNET45, &us(), Some("us-west-2"), b_long, &long),
            Ok(usd("1.04775825"))
        );
        assert_eq!(
            t.cost(SONNET4, &us(), Some("us-east-1"), b_long, &long),
            Ok(usd("0.9525075"))
        );
        // Models without a long-context tier keep their rates.
        assert_eq!(
            t.cost(HAIKU45, &Pool::Global, None, u8::MAX, &tok(M, 0, 0, 0, 0)),
            Ok(usd("1"))
        );
    }

    #[test]
    fn long_context_is_per_model_as_sourced() {
        // Each model's threshold and multipliers are its own rule (prices.json notes give the
        // sources); the long-context rates are its base rates times its own multipliers.
        let t = t();
        let mut with = Vec::new();
        for m in &t.models {
            let (Some(rule), Some(lc)) = (&m.long_context_rule, &m.long_context) else {
                assert!(
                    m.long_context.is_none() && m.long_context_rule.is_none(),
                    "{}",
                    m.name
                );
                continue;
            };
            with.push(m.name.as_str());
            let e = entry(&m.name);
            let own = &e["rules"]["long_context"];
            assert_eq!(
                own["above_prompt_tokens"].as_u64(),
                Some(rule.above_prompt_tokens)
            );
            assert_eq!(own["input"].as_str(), Some(rule.input.as_str()));
            assert_eq!(own["output"].as_str(), Some(rule.output.as_str()));
            let pairs = m
                .rates
                .global
                .iter()
                .zip(lc.global.iter())
                .chain(m.rates.regional.iter().map(|(k, r)| (r, &lc.regional[k])));
            for (base, long) in pairs {
                assert_eq!(
                    base.input.times(&rule.input),
                    Some(long.input),
                    "{}",
                    m.name
                );
                assert_eq!(
                    base.output.times(&rule.output),
                    Some(long.output),
                    "{}",
                    m.name
                );
                let cache = |b: Option<Rate>| b.and_then(|b| b.times(&rule.input));
                assert_eq!(cache(base.cache_read), long.cache_read, "{}", m.name);
                assert_eq!(
                    cache(base.cache_write_5m),
                    long.cache_write_5m,
                    "{}",
                    m.name
                );
                assert_eq!(
                    cache(base.cache_write_1h),
                    long.cache_write_1h,
                    "{}",
                    m.name
                );
            }
            // Just above its own threshold: long; at it: not.
            let at = tok(rule.above_prompt_tokens, 0, 0, 0, 0);
            let above = tok(rule.above_prompt_tokens + 1, 0, 0, 0, 0);
            let id = format!("{}-v1:0", m.matches[0]);
            assert!(!t.is_long_context(&id, t.prompt_band(&at)), "{}", m.name);
            assert!(t.is_long_context(&id, t.prompt_band(&above)), "{}", m.name);
        }
        assert!(with.contains(&"Claude Sonnet 4.5") && with.contains(&"Claude Sonnet 4"));
        let long = tok(900_000, 10_000, 50_000, 40_000, 0);
        let band = t.prompt_band(&long);
        assert!(t.is_long_context(SONNET45, band));
        // Sonnet 4.6 at 1M: the standard rate for the whole request.
        // 900000×3 + 10000×15 + 50000×0.3 + 40000×3.75 per 1M (global)
        assert_eq!(
            t.cost(SONNET46, &Pool::Global, None, band, &long),
            Ok(usd("3.015"))
        );
        // Regional: × 1.1.
        assert_eq!(
            t.cost(SONNET46, &us(), Some("us-east-1"), band, &long),
            Ok(usd("3.3165"))
        );
        for opus in ["anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-7"] {
            // 900000×5 + 10000×25 + 50000×0.5 + 40000×6.25 per 1M
            assert_eq!(
                t.cost(opus, &Pool::Global, None, band, &long),
                Ok(usd("5.025"))
            );
        }
        // Sonnet 4.5 with the same tokens: the long-context rates.
        // 900000×6 + 10000×22.5 + 50000×0.6 + 40000×7.5 per 1M
        assert_eq!(
            t.cost(SONNET45, &Pool::Global, None, band, &long),
            Ok(usd("5.955"))
        );
    }

    #[test]
    fn thresholds_differ_per_model_and_bands_keep_sums_exact() {
        // Two models with different thresholds and multipliers: a 150K prompt is long for one only,
        // and a sum of requests of one band prices as the sum of their prices.
        let json = r#"{"as_of": "2026-12-07",
            "region_groups": [{"name": "us", "regions": ["us-east-1"]}],
            "families": {"lc100": {"rules_unused": null}},
            "models": [
              {"name": "a", "match": ["x.a"], "rules": {"long_context": {"above_prompt_tokens": 100000, "input": "2", "output": "1.5"}},
               "regional": {"us": {"input": "1", "output": "2", "cache_read": "0.1"}}},
              {"name": "b", "match": ["x.b"], "rules": {"long_context": {"above_prompt_tokens": 272000, "input": "2", "output": "1.5"}},
               "regional": {"us": {"input": "1", "output": "2"}}},
              {"name": "c", "match": ["x.c"], "regional": {"us": {"input": "1", "output": "2"}}} ]}"#;
        // Families only take `cache` and `long_context`.
        assert!(PriceTable::from_json(json).is_err());
        let json = json.replace(r#""lc100": {"rules_unused": null}"#, r#""lc100": {}"#);
        let x = PriceTable::from_json(&json).unwrap();
        assert_eq!(x.long_context_thresholds, [100_000, 272_000]);
        let p150 = tok(140_000, 1_000, 10_000, 0, 0);
        let band = x.prompt_band(&p150);
        assert_eq!(band, 1);
        assert!(x.is_long_context("x.a", band));
        assert!(!x.is_long_context("x.b", band));
        assert!(!x.is_long_context("x.c", u8::MAX));
        let r = Some("us-east-1");
        // a: 140000×2 + 1000×3 + 10000×0.2 per 1M
        assert_eq!(
            x.cost("x.a", &Pool::InRegion, r, band, &p150),
            Ok(usd("0.285"))
        );
        // b: the standard rates (140000 + 10000 cache reads need a cache rate b does not have).
        assert_eq!(
            x.cost("x.b", &Pool::InRegion, r, band, &p150),
            Err(Unpriced::MissingRate("cache_read"))
        );
        let p300 = tok(300_000, 1_000, 0, 0, 0);
        assert_eq!(x.prompt_band(&p300), 2);
        assert_eq!(
            x.cost("x.b", &Pool::InRegion, r, 2, &p300),
            Ok(usd("0.603"))
        );
        // Summing two requests of one band before pricing equals pricing each.
        let q = tok(120_000, 10, 0, 0, 0);
        assert_eq!(x.prompt_band(&q), band);
        let mut sum = q;
        sum.input += p150.input;
        sum.output += p150.output;
        sum.cache_read += p150.cache_read;
        assert_eq!(
            x.cost("x.a", &Pool::InRegion, r, band, &sum),
            Ok(x.cost_of_request("x.a", &Pool::InRegion, r, &q).unwrap()
                + x.cost_of_request("x.a", &Pool::InRegion, r, &p150).unwrap())
        );
    }

    #[test]
    fn rates_are_per_region_and_never_another_regions() {
        let t = t();
        let one = tok(M, M, 0, 0, 0);
        // Haiku 4.5: the same regional rate in the US, EU, Japan and Australia, which its sources list.
        for region in [
            "us-east-1",
            "eu-west-1",
            "eu-central-1",
            "ap-northeast-1",
            "ap-southeast-2",
        ] {
            assert_eq!(
                t.cost(HAIKU45, &Pool::InRegion, Some(region), 0, &one),
                Ok(usd("6.60")),
                "{region}"
            );
        }
        // A Region the entry has no rate for: unpriced with its reason, never the US rate.
        for region in [
            "sa-east-1",
            "ca-central-1",
            "me-central-1",
            "xx-nowhere-1",
            "",
        ] {
            let c = t.cost(HAIKU45, &Pool::InRegion, Some(region), 0, &one);
            assert_eq!(c, Err(Unpriced::NoRateForRegion(region.into())), "{region}");
            assert_eq!(c.unwrap_err().reason(), "no rate for region");
        }
        // No Region logged: unpriced too (the rate depends on it).
        assert_eq!(
            t.cost(HAIKU45, &us(), None, 0, &one),
            Err(Unpriced::NoRateForRegion(String::new()))
        );
        // Global profiles: the global rate from any Region.
        assert_eq!(
            t.cost(HAIKU45, &Pool::Global, Some("sa-east-1"), 0, &one),
            Ok(usd("6"))
        );
        // An open-weight model priced in the US and GovCloud only: unpriced in the EU, in Mumbai,
        // and for a global profile called from the EU (no global rate: the source Region's rate).
        let oss = "openai.gpt-oss-120b-1:0";
        assert_eq!(
            t.cost(oss, &Pool::InRegion, Some("us-west-2"), 0, &one),
            Ok(usd("0.75"))
        );
        for (pool, region) in [
            (Pool::InRegion, "eu-west-2"),
            (Pool::InRegion, "ap-south-1"),
            (Pool::Global, "eu-west-1"),
        ] {
            assert_eq!(
                t.cost(oss, &pool, Some(region), 0, &one),
                Err(Unpriced::NoRateForRegion(region.into())),
                "{pool:?} {region}"
            );
        }
        // A Region's own rate beats its group's; groups in the table's order.
        let json = r#"{"as_of": "2026-12-07",
            "region_groups": [{"name": "jp", "regions": ["ap-northeast-1"]},
                              {"name": "apac", "regions": ["ap-northeast-1", "ap-south-1"]}],
            "models": [{"name": "a", "match": ["x.a"], "regional": {
               "apac": {"input": "1", "output": "1"}, "jp": {"input": "2", "output": "2"},
               "ap-south-1": {"input": "3", "output": "3"}}}]}"#;
        let x = PriceTable::from_json(json).unwrap();
        let c = |r: &str| x.cost("x.a", &Pool::InRegion, Some(r), 0, &one);
        assert_eq!(c("ap-northeast-1"), Ok(usd("4")));
        assert_eq!(c("ap-south-1"), Ok(usd("6")));
        // Keys are checked: a regional key is a group of the table or a Region name.
        assert!(PriceTable::from_json(&json.replace("\"apac\": {", "\"asia\": {")).is_err());
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
                t.cost(&model, &pool, Some("us-east-1"), 0, &one),
                Ok(usd(expect)),
                "{id}"
            );
        }
    }

    /// Claude Sonnet 5.5 at the rates of its us-east-1 offer records (source `sonnet55-offer`:
    /// global 2 / 10, regional 2.20 / 11 per 1M), EU regional 2.20 / 11 (`pi-ai-110`'s eu. entry),
    /// cache reads at 0.05 x input since 2026-10-07 (`anthropic-2610`: 0.10 global; `apify-bedrock`:
    /// 0.11 regional) and writes at 1.25 x / 2 x (2.50 / 4 global; 2.75 / 4.40 regional): each rate
    /// typed in here as its source gives it, not read from the table.
    #[test]
    fn sonnet_55_prices_at_its_offer_records() {
        let t = t();
        let id = "anthropic.claude-sonnet-5-5";
        let one = tok(M, M, 0, 0, 0);
        assert_eq!(
            t.cost(id, &Pool::Global, Some("eu-west-1"), 0, &one),
            Ok(r("2.00") * M + r("10.00") * M)
        );
        assert_eq!(
            t.cost(id, &us(), Some("us-west-2"), 0, &one),
            Ok(r("2.20") * M + r("11.00") * M)
        );
        assert_eq!(
            t.cost(id, &Pool::InRegion, Some("us-east-1"), 0, &one),
            Ok(r("2.20") * M + r("11.00") * M)
        );
        assert_eq!(
            t.cost(
                id,
                &Pool::Geographic("eu".into()),
                Some("eu-central-1"),
                0,
                &one
            ),
            Ok(r("2.20") * M + r("11.00") * M)
        );
        // Cache: 1M reads, 1M 5-minute writes, 1M 1-hour writes, at the sources' rates.
        let reads = tok(0, 0, M, 0, 0);
        let w5 = tok(0, 0, 0, M, 0);
        let w1h = tok(0, 0, 0, M, M);
        for (pool, region, read, five, hour) in [
            (Pool::Global, "us-east-1", "0.10", "2.50", "4.00"),
            (us(), "us-east-1", "0.11", "2.75", "4.40"),
        ] {
            let c = |tokens: &Tokens| t.cost(id, &pool, Some(region), 0, tokens);
            assert_eq!(c(&reads), Ok(r(read) * M), "{pool:?}");
            assert_eq!(c(&w5), Ok(r(five) * M), "{pool:?}");
            assert_eq!(c(&w1h), Ok(r(hour) * M), "{pool:?}");
        }
        // Regions no source gives a regional rate for: unpriced (GovCloud: us-gov-west-1 only,
        // `govcloud_claude_is_1_2x_global_as_sourced`).
        for region in ["ap-northeast-1", "ap-southeast-2", "us-gov-east-1"] {
            assert_eq!(
                t.cost(id, &Pool::InRegion, Some(region), 0, &one),
                Err(Unpriced::NoRateForRegion(region.into())),
                "{region}"
            );
        }
        // No long-context tier: a 900K prompt keeps the standard rates.
        let long = tok(900_000, 0, 0, 0, 0);
        assert_eq!(
            t.cost_of_request(id, &Pool::Global, Some("us-east-1"), &long),
            Ok(r("2.00") * 900_000)
        );
        // Its neighbour keeps its own entry.
        assert_eq!(
            t.model("anthropic.claude-sonnet-5").unwrap().name,
            "Claude Sonnet 5"
        );
    }

    /// Claude Haiku 5.5 at its sources' rates, typed in here: `anthropic-2610` (0.10 / 0.50, hits
    /// 0.01, writes 0.125 / 0.20; over 100,000 prompt tokens 0.50 / 2.50, 0.05, 0.625 / 1.00),
    /// `haiku55-bedrock` (the Bedrock usage types: 0.10 / 0.50, long-ctx 0.50 / 2.50),
    /// `apify-bedrock` (regional 0.11 / 0.55 / 0.011 / 0.1375 / 0.22), `pi-ai-110` (regional long
    /// tier 0.55 / 2.75 / 0.055 / 0.6875).
    #[test]
    fn haiku_55_prices_at_its_published_rates_with_its_100k_tier() {
        let t = t();
        let id = "anthropic.claude-haiku-5-5";
        let g = Pool::Global;
        let east = Some("us-east-1");
        // Short prompts (up to 100,000 tokens): 1M output needs no prompt.
        assert_eq!(
            t.cost_of_request(id, &g, east, &tok(0, M, 0, 0, 0)),
            Ok(r("0.50") * M)
        );
        assert_eq!(
            t.cost_of_request(id, &g, east, &tok(K100, 0, 0, 0, 0)),
            Ok(r("0.10") * K100)
        );
        // Cache kinds, global: 50K reads, 40K 5-minute writes, 10K 1-hour writes (100K prompt).
        assert_eq!(
            t.cost_of_request(id, &g, east, &tok(0, 0, 50_000, 50_000, 10_000)),
            Ok(r("0.01") * 50_000 + r("0.125") * 40_000 + r("0.20") * 10_000)
        );
        // Regional (US, EU, Japan, Australia): 1.1 x, cache included.
        for region in ["us-east-1", "eu-west-3", "ap-northeast-1", "ap-southeast-2"] {
            assert_eq!(
                t.cost_of_request(
                    id,
                    &Pool::InRegion,
                    Some(region),
                    &tok(60_000, 1_000, 30_000, 10_000, 0)
                ),
                Ok(r("0.11") * 60_000
                    + r("0.55") * 1_000
                    + r("0.011") * 30_000
                    + r("0.1375") * 10_000),
                "{region}"
            );
        }
        let reg_1h = tok(0, 0, 0, 20_000, 20_000);
        assert_eq!(
            t.cost_of_request(id, &us(), east, &reg_1h),
            Ok(r("0.22") * 20_000)
        );
        // Over 100,000 prompt tokens (input + cache read + cache write): every token at 5 x.
        let long = tok(1_000, 600, 150_000, 10_000, 0);
        assert_eq!(
            t.cost_of_request(id, &g, east, &long),
            Ok(r("0.50") * 1_000 + r("2.50") * 600 + r("0.05") * 150_000 + r("0.625") * 10_000)
        );
        assert_eq!(
            t.cost_of_request(id, &us(), Some("us-west-2"), &long),
            Ok(r("0.55") * 1_000 + r("2.75") * 600 + r("0.055") * 150_000 + r("0.6875") * 10_000)
        );
        assert_eq!(
            t.cost_of_request(id, &g, east, &tok(100_000, 0, 0, 2, 2)),
            Ok(r("0.50") * 100_000 + r("1.00") * 2)
        );
        // The threshold: 100,000 is not over it, 100,001 is.
        assert_eq!(
            t.cost_of_request(id, &g, east, &tok(100_001, 0, 0, 0, 0)),
            Ok(r("0.50") * 100_001)
        );
        let at = t.prompt_band(&tok(100_000, 0, 0, 0, 0));
        let over = t.prompt_band(&tok(100_001, 0, 0, 0, 0));
        assert!(!t.is_long_context(id, at) && t.is_long_context(id, over));
        // Haiku 4.5 has no such tier: the same 100,001-token prompt keeps its rate.
        assert_eq!(
            t.cost_of_request(HAIKU45, &g, east, &tok(100_001, 0, 0, 0, 0)),
            Ok(r("1.00") * 100_001)
        );
        // No source gives APAC (outside Japan / Australia) or GovCloud rates.
        for region in [
            "ap-south-1",
            "ap-southeast-1",
            "us-gov-west-1",
            "ca-central-1",
        ] {
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some(region), &tok(1, 1, 0, 0, 0)),
                Err(Unpriced::NoRateForRegion(region.into())),
                "{region}"
            );
        }
    }

    /// Claude 1-hour cache writes now sourced: Opus 5.5 at 8 global (`anthropic-2610`) / 8.80
    /// regional (`apify-bedrock`), Fable 5.1 at 20 global (`anthropic-2610`, `harness-2609`).
    #[test]
    fn opus_55_and_fable_51_one_hour_writes() {
        let t = t();
        let w1h = tok(0, 0, 0, M, M);
        let opus = "anthropic.claude-opus-5-5";
        assert_eq!(
            t.cost(opus, &Pool::Global, None, 0, &w1h),
            Ok(r("8.00") * M)
        );
        assert_eq!(
            t.cost(opus, &us(), Some("us-east-1"), 0, &w1h),
            Ok(r("8.80") * M)
        );
        assert_eq!(
            t.cost(opus, &us(), Some("us-east-1"), 0, &tok(0, 0, 0, M, 0)),
            Ok(r("5.50") * M)
        );
        let fable = "anthropic.claude-fable-5-1";
        assert_eq!(
            t.cost(fable, &Pool::Global, None, 0, &w1h),
            Ok(r("20.00") * M)
        );
    }

    /// Open-weight rates settled or added on 2026-12-07, each typed in as its sources give it (USD
    /// per 1M, us-east-1 / the US group): Gemma 3 12B 0.09 / 0.29 and 27B 0.23 / 0.38
    /// (`price-list-use2`, `offer-catalog`, `bedrock-rates-peer`), Qwen3 Coder Next 0.50 / 1.20
    /// (`price-list-qwen`, `bedrock-rates-peer`, `pi-ai-110`), Qwen3 Next 80B 0.14 / 1.20 and Qwen3
    /// VL 235B 0.53 / 2.66 (`offer-catalog`, ...), Qwen3 32B Flex 0.075 / 0.30 and Priority 0.2625
    /// / 1.05 (`price-list-qwen`).
    #[test]
    fn open_weight_rates_of_issue_23_are_their_sources_rates() {
        let t = t();
        let q = tok(300_000, 70_000, 0, 0, 0);
        for (id, region, input, output) in [
            ("google.gemma-3-12b-it", "us-east-1", "0.09", "0.29"),
            ("google.gemma-3-27b-it", "us-east-2", "0.23", "0.38"),
            ("qwen.qwen3-coder-next", "us-west-2", "0.50", "1.20"),
            ("qwen.qwen3-next-80b-a3b", "us-east-1", "0.14", "1.20"),
            (
                "qwen.qwen3-next-80b-a3b-instruct",
                "us-east-1",
                "0.14",
                "1.20",
            ),
            ("qwen.qwen3-vl-235b-a22b", "us-east-1", "0.53", "2.66"),
            ("qwen.qwen3-32b", "us-east-1", "0.15", "0.60"),
            ("qwen.qwen3-32b-v1:0", "us-west-2", "0.15", "0.60"),
        ] {
            let want = r(input) * q.input + r(output) * q.output;
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some(region), &q),
                Ok(want),
                "{id}"
            );
            // No rate sourced for Frankfurt: unpriced, never the US rate.
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("eu-central-1"), &q),
                Err(Unpriced::NoRateForRegion("eu-central-1".into())),
                "{id}"
            );
            // No cache rate published: cache tokens unpriced, not free.
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some(region), &tok(1, 1, 1, 0, 0)),
                Err(Unpriced::MissingRate("cache_read")),
                "{id}"
            );
        }
        // Qwen3 32B's Flex and Priority tiers in the US.
        let m = "qwen.qwen3-32b-v1:0";
        let east = Some("us-east-1");
        let one = tok(M, M, 0, 0, 0);
        assert_eq!(
            t.cost_in_tier(m, &Pool::InRegion, east, 0, "flex", &one),
            Ok(r("0.075") * M + r("0.30") * M)
        );
        assert_eq!(
            t.cost_in_tier(m, &Pool::InRegion, east, 0, "priority", &one),
            Ok(r("0.2625") * M + r("1.05") * M)
        );
        assert_eq!(
            t.cost_in_tier(m, &Pool::InRegion, east, 0, "reserved", &one),
            Err(Unpriced::NoRateForTier("reserved".into()))
        );
        assert_eq!(
            t.cost_in_tier(m, &Pool::InRegion, Some("eu-west-1"), 0, "flex", &one),
            Err(Unpriced::NoRateForRegion("eu-west-1".into()))
        );
        // Qwen3 Coder Next's quoted tier records are one token kind each: no tier rate.
        assert_eq!(
            t.cost_in_tier(
                "qwen.qwen3-coder-next",
                &Pool::InRegion,
                east,
                0,
                "flex",
                &one
            ),
            Err(Unpriced::NoRateForTier("flex".into()))
        );
    }

    /// GPT-5.6 on Bedrock (bedrock-mantle: these rates price the AWS/BedrockMantle lines), typed in
    /// from `bedrock-rates-peer` (the AWS cards), `harness-2609`, `pi-ai-110` and `gov-terra`: Luna
    /// 0.20 / 1.20 global, 0.22 / 1.32 US; Terra 2 / 12, 2.20 / 13.20, GovCloud 2.64 / 15.84; Sol 4 /
    /// 20, 4.40 / 22; above 272,000 prompt tokens 2 x input and cache, 1.5 x output; reads 0.1 x.
    #[test]
    fn gpt_56_prices_at_its_card_rates() {
        let t = t();
        let one = tok(M, M, 0, 0, 0);
        let short = tok(200_000, 10_000, 50_000, 0, 0);
        for (id, gi, go, ui, uo, gread, uread) in [
            (
                "openai.gpt-5.6-luna",
                "0.20",
                "1.20",
                "0.22",
                "1.32",
                "0.02",
                "0.022",
            ),
            (
                "openai.gpt-5.6-terra",
                "2.00",
                "12.00",
                "2.20",
                "13.20",
                "0.20",
                "0.22",
            ),
            (
                "openai.gpt-5.6-sol",
                "4.00",
                "20.00",
                "4.40",
                "22.00",
                "0.40",
                "0.44",
            ),
        ] {
            // 1M in + 1M out is one request over 272K: the long rates.
            assert_eq!(
                t.cost_of_request(id, &Pool::Global, Some("us-east-1"), &one),
                Ok(r(gi) * (2 * M) + r(go) * (3 * M / 2)),
                "{id}"
            );
            assert_eq!(
                t.cost_of_request(id, &Pool::Global, Some("us-east-1"), &short),
                Ok(r(gi) * 200_000 + r(go) * 10_000 + r(gread) * 50_000),
                "{id}"
            );
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-west-2"), &short),
                Ok(r(ui) * 200_000 + r(uo) * 10_000 + r(uread) * 50_000),
                "{id}"
            );
            // A 30-minute write is not a kind this table holds: unpriced.
            assert_eq!(
                t.cost_of_request(id, &Pool::Global, None, &tok(1, 1, 0, 1, 0)),
                Err(Unpriced::MissingRate("cache_write_5m")),
                "{id}"
            );
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("eu-west-1"), &short),
                Err(Unpriced::NoRateForRegion("eu-west-1".into())),
                "{id}"
            );
        }
        // Terra in GovCloud: the us-gov-west-1 records, short and long-ctx.
        let terra = "openai.gpt-5.6-terra";
        let gov = Some("us-gov-west-1");
        assert_eq!(
            t.cost_of_request(terra, &Pool::InRegion, gov, &short),
            Ok(r("2.64") * 200_000 + r("15.84") * 10_000 + r("0.264") * 50_000)
        );
        assert_eq!(
            t.cost_of_request(terra, &Pool::InRegion, gov, &tok(300_000, 10_000, 0, 0, 0)),
            Ok(r("5.28") * 300_000 + r("23.76") * 10_000)
        );
        // 272,000 is not over the threshold; 272,001 is.
        let at = t.prompt_band(&tok(272_000, 0, 0, 0, 0));
        let over = t.prompt_band(&tok(272_001, 0, 0, 0, 0));
        assert!(!t.is_long_context(terra, at) && t.is_long_context(terra, over));
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
            ("qwen.qwen3-32b-v1:0", "0.75"),
            ("mistral.mistral-large-3-675b-instruct", "2"),
            ("meta.llama3-2-90b-instruct-v1:0", "1.44"),
        ] {
            assert_eq!(
                t.cost(id, &Pool::InRegion, Some("us-east-1"), 0, &one),
                Ok(usd(expect)),
                "{id}"
            );
            // No global rate sourced: a profile of it uses the same rates.
            assert_eq!(
                t.cost(id, &Pool::Global, Some("us-east-1"), 0, &one),
                t.cost(id, &Pool::InRegion, Some("us-east-1"), 0, &one)
            );
            // No cache rates sourced: cache reads make it unpriced, not free.
            assert_eq!(
                t.cost(
                    id,
                    &Pool::InRegion,
                    Some("us-east-1"),
                    0,
                    &tok(1, 1, 1, 0, 0)
                ),
                Err(Unpriced::MissingRate("cache_read"))
            );
        }
        // Nova 2 Lite: global vs geographic (1.1×), cache read 0.25×, cache writes unknown.
        let n2 = "amazon.nova-2-lite-v1:0";
        assert_eq!(
            t.cost(n2, &Pool::Global, Some("us-east-1"), 0, &one),
            Ok(usd("2.80"))
        );
        assert_eq!(
            t.cost(n2, &us(), Some("us-east-1"), 0, &one),
            Ok(usd("3.08"))
        );
        let r = t.rates(n2, &us(), Some("us-east-1"), 0).unwrap();
        assert_eq!(r.input.times("0.25"), r.cache_read);
        assert_eq!(
            t.cost(n2, &us(), Some("us-east-1"), 0, &tok(1, 1, 0, 5, 0)),
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
            for r in m.rates.global.iter().chain(m.rates.regional.values()) {
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
            .rates(
                "amazon.nova-lite-v1:0",
                &Pool::InRegion,
                Some("us-east-1"),
                0,
            )
            .unwrap();
        assert_eq!(r.input.times("0.25"), r.cache_read);
        assert_eq!(
            t.cost(
                "amazon.nova-micro-v1:0",
                &Pool::InRegion,
                Some("us-east-1"),
                0,
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
                0,
                &one
            ),
            Ok(usd("0.21"))
        );
        // Sydney: no rate sourced for it: unpriced, not the US rate (0.175).
        assert_eq!(
            t.cost(
                "amazon.nova-micro-v1:0",
                &apac,
                Some("ap-southeast-2"),
                0,
                &one
            ),
            Err(Unpriced::NoRateForRegion("ap-southeast-2".into()))
        );
        assert_eq!(
            t.cost("amazon.nova-micro-v1:0", &us(), Some("us-east-2"), 0, &one),
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
                Some("us-east-1"),
                0,
                &tok(7, 11, 0, 0, 0)
            ),
            Err(Unpriced::UnknownModel)
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &Pool::InRegion,
                Some("us-east-1"),
                0,
                &tok(1, 1, 5, 0, 0)
            ),
            Err(Unpriced::MissingRate("cache_read"))
        );
        assert_eq!(
            t.cost(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &Pool::InRegion,
                Some("us-east-1"),
                0,
                &tok(M, M, 0, 0, 0)
            ),
            Ok(usd("1.50"))
        );
    }

    /// Models past their Bedrock end of life before the table's date (source `lifecycle-eol`:
    /// Titan Text by late 2025, Cohere Command / Command Light 2025-08-12, Claude 3 Opus
    /// 2026-01-15, Claude 3 Sonnet 2026-07-30, Command R / R+ 2026-08-19) are not sold on
    /// 2026-12-07 and are not entered: their calls, in-Region or through a profile, are
    /// `unknown model`, never priced at a neighbour's rate (Claude 3 Haiku, the Cohere and Titan
    /// embeddings stay priced).
    #[test]
    fn models_past_end_of_life_before_the_table_date_are_unpriced() {
        use crate::attribution::model_id::{classify, ModelRef};
        let t = t();
        let one = tok(M, M, 0, 0, 0);
        for id in [
            "amazon.titan-text-express-v1",
            "amazon.titan-text-lite-v1",
            "amazon.titan-text-premier-v1:0",
            "cohere.command-text-v14",
            "cohere.command-light-text-v14",
            "cohere.command-r-v1:0",
            "cohere.command-r-plus-v1:0",
            "anthropic.claude-3-opus-20240229-v1:0",
            "us.anthropic.claude-3-opus-20240229-v1:0",
            "anthropic.claude-3-sonnet-20240229-v1:0",
            "us.anthropic.claude-3-sonnet-20240229-v1:0",
            "eu.anthropic.claude-3-sonnet-20240229-v1:0",
            "apac.anthropic.claude-3-sonnet-20240229-v1:0",
        ] {
            let (model, pool) = match classify(id) {
                ModelRef::SystemProfile { model, pool } => (model, pool),
                ModelRef::Base { model } => (model, Pool::InRegion),
                other => panic!("{id}: {other:?}"),
            };
            assert!(t.model(&model).is_none(), "{id} is priced");
            assert_eq!(
                t.cost(&model, &pool, Some("us-east-1"), 0, &one),
                Err(Unpriced::UnknownModel),
                "{id}"
            );
        }
        // Their live neighbours keep their prices.
        for (id, expect) in [
            ("anthropic.claude-3-haiku-20240307-v1:0", "1.50"),
            ("amazon.titan-embed-text-v2:0", "0.02"),
            ("cohere.embed-english-v3", "0.10"),
        ] {
            assert_eq!(
                t.cost(id, &Pool::InRegion, Some("us-east-1"), 0, &one),
                Ok(usd(expect)),
                "{id}"
            );
        }
    }

    /// GovCloud Claude: AWS's rule (GovCloud = 1.2 x global: litellm-gov, bedrock-facts section 8)
    /// and the GovCloud rows of litellm-regional / litellm-1102 / litellm-1104 agree for every
    /// Claude entry with a GovCloud rate; the cache rates follow the model's own rule, as
    /// litellm-gov-haiku's Haiku 4.5 writes (1.50 / 2.40) say.
    #[test]
    fn govcloud_claude_is_1_2x_global_as_sourced() {
        let t = t();
        let mut checked = Vec::new();
        for m in t
            .models
            .iter()
            .filter(|m| m.matches[0].starts_with("anthropic."))
        {
            for (key, r) in m
                .rates
                .regional
                .iter()
                .filter(|(k, _)| *k == "gov" || k.starts_with("us-gov-"))
            {
                let g = m
                    .rates
                    .global
                    .as_ref()
                    .expect("a GovCloud Claude rate has a global base");
                assert_eq!(g.input.times("1.2"), Some(r.input), "{} {key}", m.name);
                assert_eq!(g.output.times("1.2"), Some(r.output), "{} {key}", m.name);
                checked.push(m.name.as_str());
            }
        }
        for name in [
            "Claude Haiku 4.5",
            "Claude Sonnet 4.5",
            "Claude Opus 4.8",
            "Claude Sonnet 5",
            "Claude Sonnet 5.5",
            "Claude Opus 5",
            "Claude Opus 5.5",
            "Claude Fable 5.1",
        ] {
            assert!(checked.contains(&name), "{name} has no GovCloud rate");
        }
        let gov = Pool::Geographic("us-gov".into());
        // Typed in from the sources: input, output, 5-minute write, 1-hour write, read (per 1M).
        let q = tok(200_000, 30_000, 50_000, 30_000, 20_000);
        for (id, region, i, o, w5, w1, rd) in [
            // litellm-regional 1.20 / 6.00; litellm-gov-haiku writes 1.50 / 2.40; read 0.1 x.
            (
                HAIKU45,
                "us-gov-west-1",
                "1.20",
                "6.00",
                "1.50",
                "2.40",
                "0.12",
            ),
            (
                HAIKU45,
                "us-gov-east-1",
                "1.20",
                "6.00",
                "1.50",
                "2.40",
                "0.12",
            ),
            // litellm-1102 6 / 30 (family rule: 1.25 x, 2 x, 0.1 x).
            (
                "anthropic.claude-opus-5",
                "us-gov-east-1",
                "6",
                "30",
                "7.50",
                "12",
                "0.60",
            ),
            // litellm-1102 12 / 60; Fable 5.1 reads at 0.025 x.
            (
                "anthropic.claude-fable-5-1",
                "us-gov-west-1",
                "12",
                "60",
                "15",
                "24",
                "0.30",
            ),
            // litellm-1104 4.80 / 24; Opus 5.5 reads at 0.05 x.
            (
                "anthropic.claude-opus-5-5",
                "us-gov-east-1",
                "4.80",
                "24",
                "6",
                "9.60",
                "0.24",
            ),
            // litellm-1104 2.40 / 12, us-gov-west-1 only; Sonnet 5.5 reads at 0.05 x.
            (
                "anthropic.claude-sonnet-5-5",
                "us-gov-west-1",
                "2.40",
                "12",
                "3",
                "4.80",
                "0.12",
            ),
        ] {
            let want = r(i) * q.input
                + r(o) * q.output
                + r(w5) * q.cache_write_5m()
                + r(w1) * q.cache_write_1h
                + r(rd) * q.cache_read;
            assert_eq!(
                t.cost_of_request(id, &gov, Some(region), &q),
                Ok(want),
                "{id} {region}"
            );
        }
        // Sonnet 5.5 has no us-gov-east-1 rate in any source: unpriced, never the west rate.
        assert_eq!(
            t.cost_of_request(
                "anthropic.claude-sonnet-5-5",
                &gov,
                Some("us-gov-east-1"),
                &q
            ),
            Err(Unpriced::NoRateForRegion("us-gov-east-1".into()))
        );
        // Nemotron Nano 9B v2 in GovCloud: 1.2 x commercial (litellm-1102).
        assert_eq!(
            t.cost_of_request(
                "nvidia.nemotron-nano-9b-v2",
                &Pool::InRegion,
                Some("us-gov-west-1"),
                &tok(M, M, 0, 0, 0)
            ),
            Ok(r("0.072") * M + r("0.276") * M)
        );
    }

    /// Open-weight rates outside the US where two sources agree on the Region (issue 23): typed in
    /// from bedrock-region-notes, aws-cache-2606, litellm-regional and litellm-1104. Every other
    /// Region of these models stays unpriced, never the US rate.
    #[test]
    fn non_us_rates_are_their_regions_sourced_rates() {
        let t = t();
        let q = tok(400_000, 90_000, 0, 0, 0);
        let priced = [
            ("qwen.qwen3-next-80b-a3b", "ap-south-1", "0.18", "1.41"),
            ("qwen.qwen3-next-80b-a3b", "eu-west-1", "0.18", "1.41"),
            ("qwen.qwen3-next-80b-a3b", "ap-northeast-1", "0.18", "1.45"),
            ("qwen.qwen3-next-80b-a3b", "sa-east-1", "0.18", "1.45"),
            ("qwen.qwen3-next-80b-a3b", "eu-west-2", "0.23", "1.86"),
            ("qwen.qwen3-next-80b-a3b", "us-east-1", "0.14", "1.20"),
            ("deepseek.v3.2", "ap-south-1", "0.74", "2.22"),
            ("deepseek.v3.2", "ap-northeast-1", "0.74", "2.22"),
            ("deepseek.v3.2", "ap-southeast-3", "0.74", "2.22"),
            ("deepseek.v3.2", "eu-north-1", "0.74", "2.22"),
            ("deepseek.v3.2", "sa-east-1", "0.74", "2.22"),
            ("deepseek.v3.2", "us-west-2", "0.62", "1.85"),
            ("moonshot.kimi-k2-thinking", "ap-south-1", "0.71", "2.94"),
            (
                "moonshot.kimi-k2-thinking",
                "ap-northeast-1",
                "0.73",
                "3.03",
            ),
            ("moonshot.kimi-k2-thinking", "sa-east-1", "0.73", "3.03"),
            (
                "mistral.mistral-large-3-675b-instruct",
                "ap-south-1",
                "0.59",
                "1.76",
            ),
        ];
        for (id, region, i, o) in priced {
            let want = r(i) * q.input + r(o) * q.output;
            // A geographic profile bills at its source Region's rate, as an in-Region call does.
            for pool in [Pool::InRegion, Pool::Geographic("apac".into())] {
                assert_eq!(
                    t.cost_of_request(id, &pool, Some(region), &q),
                    Ok(want),
                    "{id} {region} {pool:?}"
                );
            }
        }
        // Outside the US the rate is higher than the US one (about 20%, more in London).
        let us = |id: &str| {
            t.rates(id, &Pool::InRegion, Some("us-east-1"), 0)
                .unwrap()
                .input
        };
        for (id, region, _, _) in priced.iter().filter(|p| !p.1.starts_with("us-")) {
            let here = t.rates(id, &Pool::InRegion, Some(region), 0).unwrap().input;
            assert!(here > us(id), "{id} {region}");
        }
        // Regions in one source only (Milan, Sydney, Frankfurt, London for Kimi and Mistral, the
        // rest of the EU for DeepSeek): unpriced.
        for (id, region) in [
            ("qwen.qwen3-next-80b-a3b", "eu-south-1"),
            ("qwen.qwen3-next-80b-a3b", "ap-southeast-2"),
            ("qwen.qwen3-next-80b-a3b", "eu-central-1"),
            ("deepseek.v3.2", "ap-southeast-2"),
            ("deepseek.v3.2", "eu-west-1"),
            ("moonshot.kimi-k2-thinking", "eu-west-2"),
            ("moonshotai.kimi-k2.5", "ap-south-1"),
            ("minimax.minimax-m2.5", "eu-west-2"),
            ("mistral.mistral-large-3-675b-instruct", "eu-west-1"),
            ("mistral.voxtral-small-24b-2507", "eu-west-1"),
            ("qwen.qwen3-coder-next", "eu-west-1"),
        ] {
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some(region), &q),
                Err(Unpriced::NoRateForRegion(region.into())),
                "{id} {region}"
            );
        }
    }

    /// Voxtral Small 24B (aws-cache-2606, bedrock-region-notes, pi-ai-110, litellm-regional: 0.10 /
    /// 0.30 in the US) and GPT-5.4 / GPT-5.5 (pi-ai-110, litellm-1104, bedrock-openai-cards: US
    /// 2.75 / 16.50 and 5.50 / 33; above 272,000 prompt tokens 2 x input, 1.5 x output).
    #[test]
    fn voxtral_small_and_gpt_54_55_price_at_their_sources_rates() {
        let t = t();
        let q = tok(250_000, 40_000, 0, 0, 0);
        for (id, i, o) in [
            ("mistral.voxtral-small-24b-2507", "0.10", "0.30"),
            ("openai.gpt-5.4", "2.75", "16.50"),
            ("openai.gpt-5.5", "5.50", "33"),
        ] {
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &q),
                Ok(r(i) * q.input + r(o) * q.output),
                "{id}"
            );
            // No cache rate published for these models on Bedrock: unpriced, not free.
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &tok(1, 1, 1, 0, 0)),
                Err(Unpriced::MissingRate("cache_read")),
                "{id}"
            );
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("eu-west-1"), &q),
                Err(Unpriced::NoRateForRegion("eu-west-1".into())),
                "{id}"
            );
        }
        // The mantle metric lines use these ids as the metrics name them (band 0, in-Region).
        let long = tok(272_001, 10_000, 0, 0, 0);
        for (id, i, o) in [
            ("openai.gpt-5.4", "2.75", "16.50"),
            ("openai.gpt-5.5", "5.50", "33"),
        ] {
            let want =
                r(i).times("2").unwrap() * long.input + r(o).times("1.5").unwrap() * long.output;
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-west-2"), &long),
                Ok(want),
                "{id} above 272K"
            );
            let at = tok(272_000, 10_000, 0, 0, 0);
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-west-2"), &at),
                Ok(r(i) * at.input + r(o) * at.output),
                "{id} at 272K"
            );
            // No global rate is listed (one source): the entry has none.
            assert!(t.model(id).unwrap().rates.global.is_none(), "{id}");
        }
    }

    /// Qwen3 Coder 480B (issue 23: input 0.22 or 0.45) is priced at the Pricing API read quoted by
    /// pricing-api-2603, 0.45 / 1.80, which pi-ai-110, bedrock-region-notes and roo-bedrock agree
    /// on; Nova 2 Pro (preview) at its us-east-1 offer rows, 1.375 / 11 in-Region and 1.25 / 10
    /// global (sim-bedrock-validation, arch-cost-map, nova2pro-tables). Each in the US only.
    #[test]
    fn qwen3_coder_480b_and_nova_2_pro_price_at_their_offer_rates() {
        let t = t();
        let q = tok(1_000_000, 100_000, 0, 0, 0);
        // Qwen3 Coder 480B: runtime and mantle ids, in each US Region; $0.45 + $0.18 for 1M in,
        // 100K out (0.22 would give $0.40).
        for id in [
            "qwen.qwen3-coder-480b-a35b-v1:0",
            "qwen.qwen3-coder-480b-a35b-instruct",
        ] {
            for region in ["us-east-1", "us-east-2", "us-west-2"] {
                let cost = t.cost_of_request(id, &Pool::InRegion, Some(region), &q);
                assert_eq!(
                    cost,
                    Ok(r("0.45") * q.input + r("1.80") * q.output),
                    "{id} {region}"
                );
                assert_eq!(cost, Ok(usd("0.63")), "{id} {region}");
            }
            // One source for the Regional rows (bedrock-region-notes): unpriced, not the US rate.
            for region in ["eu-west-1", "eu-west-2", "ap-south-1", "ap-northeast-1"] {
                assert_eq!(
                    t.cost_of_request(id, &Pool::InRegion, Some(region), &q),
                    Err(Unpriced::NoRateForRegion(region.into())),
                    "{id} {region}"
                );
            }
            // No cache rate published.
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &tok(1, 1, 1, 0, 0)),
                Err(Unpriced::MissingRate("cache_read")),
                "{id}"
            );
        }
        // Nova 2 Pro (preview id): in-Region / us. at 1.375 / 11, global. at 1.25 / 10.
        let id = "amazon.nova-2-pro-preview-20251202-v1:0";
        let regional = t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &q);
        assert_eq!(regional, Ok(r("1.375") * q.input + r("11") * q.output));
        assert_eq!(regional, Ok(usd("2.475")));
        assert_eq!(
            t.cost_of_request(id, &Pool::Geographic("us".into()), Some("us-west-2"), &q),
            regional
        );
        let global = t.cost_of_request(id, &Pool::Global, Some("us-east-1"), &q);
        assert_eq!(global, Ok(r("1.25") * q.input + r("10") * q.output));
        assert_eq!(global, Ok(usd("2.25")));
        // Outside the US (one third-party figure for apac.) and for cache tokens: unpriced.
        assert_eq!(
            t.cost_of_request(id, &Pool::InRegion, Some("ap-northeast-1"), &q),
            Err(Unpriced::NoRateForRegion("ap-northeast-1".into()))
        );
        assert_eq!(
            t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &tok(1, 1, 1, 0, 0)),
            Err(Unpriced::MissingRate("cache_read"))
        );
        // The prefix does not take Nova 2 Lite's or Nova Pro's ids.
        assert_eq!(t.model(id).unwrap().name, "Amazon Nova 2 Pro (preview)");
        assert_eq!(
            t.model("amazon.nova-2-lite-v1:0").unwrap().name,
            "Amazon Nova 2 Lite"
        );
        assert_ne!(
            t.model("amazon.nova-pro-v1:0").unwrap().name,
            "Amazon Nova 2 Pro (preview)"
        );
    }

    /// GPT-5.4 / GPT-5.5: one source (litellm-1104) gives a global rate below the US one (2.50 / 15,
    /// 5 / 30), the model cards none, so the entries say `global_unpriced`: a `global.` call is
    /// unpriced (`no rate for region`, Region `global`), never priced at the US rate; the US
    /// in-Region and geographic calls are priced at 2.75 / 16.50 and 5.50 / 33.
    #[test]
    fn a_global_profile_of_a_model_without_a_sourced_global_rate_is_unpriced() {
        let t = t();
        let q = tok(250_000, 40_000, 0, 0, 0);
        let long = tok(300_000, 1_000, 0, 0, 0);
        for (id, i, o) in [
            ("openai.gpt-5.4", "2.75", "16.50"),
            ("openai.gpt-5.5", "5.50", "33"),
        ] {
            let m = t.model(id).unwrap();
            assert!(m.rates.global.is_none(), "{id}");
            assert!(
                m.rates
                    .global_unpriced
                    .as_deref()
                    .is_some_and(|why| why.contains("litellm-1104")),
                "{id}: {:?}",
                m.rates.global_unpriced
            );
            for region in ["us-east-1", "us-west-2", "eu-west-1"] {
                for q in [&q, &long] {
                    let c = t.cost_of_request(id, &Pool::Global, Some(region), q);
                    assert_eq!(
                        c,
                        Err(Unpriced::NoRateForRegion(GLOBAL_POOL.into())),
                        "{id} {region}"
                    );
                    assert_eq!(c.unwrap_err().reason(), REASON_NO_RATE_FOR_REGION);
                }
            }
            let us = Ok(r(i) * q.input + r(o) * q.output);
            assert_eq!(
                t.cost_of_request(id, &Pool::InRegion, Some("us-east-1"), &q),
                us,
                "{id}"
            );
            assert_eq!(
                t.cost_of_request(id, &Pool::Geographic("us".into()), Some("us-east-1"), &q),
                us,
                "{id}"
            );
        }
        // A model without global rates and without `global_unpriced` (Nova Micro, whose sources
        // give no different global rate) still prices a global profile at its source Region's rate.
        let nova = "amazon.nova-micro-v1:0";
        assert!(t.model(nova).unwrap().rates.global_unpriced.is_none());
        assert_eq!(
            t.rates(nova, &Pool::Global, Some("us-east-1"), 0),
            t.rates(nova, &Pool::InRegion, Some("us-east-1"), 0)
        );
        assert!(t.rates(nova, &Pool::Global, Some("us-east-1"), 0).is_ok());
    }

    #[test]
    fn global_unpriced_is_validated_and_applies_to_tiers_without_global_rates() {
        let table = |extra: &str| {
            PriceTable::from_json(&format!(
                r#"{{"as_of": "2026-12-01", "region_groups": [{{"name": "us", "regions": ["us-east-1"]}}], "models": [
                  {{ "name": "m", "match": ["x.m"], "source": "test", {extra}
                    "regional": {{ "us": {{ "input": "1", "output": "2" }} }},
                    "tiers": {{ "flex": {{ "regional": {{ "us": {{ "input": "0.5", "output": "1" }} }} }},
                               "priority": {{ "global": {{ "input": "3", "output": "4" }} }} }} }} ]}}"#
            ))
        };
        let one = tok(M, M, 0, 0, 0);
        let t = table(r#""global_unpriced": "one source only","#).unwrap();
        let cost =
            |pool: &Pool, tier: &str| t.cost_in_tier("x.m", pool, Some("us-east-1"), 0, tier, &one);
        let unpriced = Err(Unpriced::NoRateForRegion(GLOBAL_POOL.into()));
        assert_eq!(cost(&Pool::Global, "default"), unpriced);
        assert_eq!(cost(&Pool::Global, "flex"), unpriced);
        // A tier's own global rates are sourced: they price its global profiles.
        assert_eq!(cost(&Pool::Global, "priority"), Ok(usd("7")));
        assert_eq!(cost(&Pool::InRegion, "default"), Ok(usd("3")));
        assert_eq!(cost(&Pool::InRegion, "flex"), Ok(usd("1.5")));
        // Without the key the global profile falls back to the source Region's rates.
        let plain = table("").unwrap();
        assert_eq!(
            plain.cost_in_tier("x.m", &Pool::Global, Some("us-east-1"), 0, "default", &one),
            Ok(usd("3"))
        );
        for bad in [
            r#""global_unpriced": " ","#,
            r#""global_unpriced": "why", "global": { "input": "1", "output": "2" },"#,
        ] {
            assert!(
                matches!(table(bad), Err(PriceTableError::Invalid(_))),
                "{bad}"
            );
        }
    }

    fn tiered() -> PriceTable {
        PriceTable::from_json(
            r#"{"as_of": "2026-12-01", "region_groups": [{"name": "us", "regions": ["us-east-1"]}], "models": [
              { "name": "gpt-oss-120b", "match": ["openai.gpt-oss-120b-1"], "source": "test",
                "regional": { "us": { "input": "0.15", "output": "0.60" } },
                "tiers": { "flex": { "regional": { "us": { "input": "0.075", "output": "0.30" } } },
                           "priority": { "global": { "input": "0.25", "output": "1.00" },
                                         "regional": { "us": { "input": "0.2625", "output": "1.05" } } } } } ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn service_tiers_are_priced_at_their_rates_or_unpriced() {
        let t = tiered();
        let m = "openai.gpt-oss-120b-1:0";
        let one = tok(M, M, 0, 0, 0);
        let cost =
            |pool: &Pool, tier: &str| t.cost_in_tier(m, pool, Some("us-east-1"), 0, tier, &one);
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
            t.cost_in_tier(
                "acme.x-v1",
                &Pool::InRegion,
                Some("us-east-1"),
                0,
                "flex",
                &one
            ),
            Err(Unpriced::UnknownModel)
        );
        // The embedded table: Nova Pro's Flex rate in the US (0.40 / 1.60, half the standard
        // rate); no cache rate of the tier is published, so its cache reads are unpriced there.
        let e = PriceTable::embedded();
        let pro = "amazon.nova-pro-v1:0";
        let east = Some("us-east-1");
        assert_eq!(
            e.cost_in_tier(pro, &Pool::InRegion, east, 0, "flex", &one),
            Ok(usd("2.00"))
        );
        assert_eq!(
            e.cost_in_tier(pro, &Pool::InRegion, east, 0, "flex", &tok(1, 1, 1, 0, 0)),
            Err(Unpriced::MissingRate("cache_read"))
        );
        assert_eq!(
            e.cost_in_tier(pro, &Pool::InRegion, Some("eu-west-1"), 0, "flex", &one),
            Err(Unpriced::NoRateForRegion("eu-west-1".into()))
        );
        assert_eq!(
            e.cost_in_tier(pro, &Pool::InRegion, east, 0, "priority", &one),
            Err(Unpriced::NoRateForTier("priority".into()))
        );
        // Every other model lists no tier rate: every non-default tier is unpriced.
        for tier in ["flex", "priority", "reserved"] {
            assert_eq!(
                e.cost_in_tier(SONNET46, &Pool::Global, Some("us-east-1"), 0, tier, &one),
                Err(Unpriced::NoRateForTier(tier.into()))
            );
        }
        assert_eq!(
            e.cost_in_tier(
                SONNET46,
                &Pool::Global,
                Some("us-east-1"),
                0,
                "default",
                &one
            ),
            e.cost(SONNET46, &Pool::Global, Some("us-east-1"), 0, &one)
        );
        // What a record names, as priced.
        assert_eq!(tier_of(None), "default");
        assert_eq!(tier_of(Some("Standard")), "default");
        assert_eq!(tier_of(Some("FLEX")), "flex");
        assert_eq!(tier_of(Some("turbo")), "turbo");
        // A record without a logged body cannot show its tier: `unread`, priced at the standard rate
        // (and reported per model); with a body that names none, the default tier.
        let rec = |input: &str| {
            format!(
                r#"{{"timestamp":"2026-12-07T10:00:00Z","region":"us-east-1","modelId":"m.x","input":{{"inputTokenCount":1{input}}}}}"#
            )
        };
        let parse = crate::records::record::parse;
        assert_eq!(tier_of_record(&parse(&rec("")).unwrap()), TIER_UNREAD);
        assert_eq!(
            tier_of_record(&parse(&rec(r#","inputBodyS3Path":"s3://b/k""#)).unwrap()),
            TIER_UNREAD
        );
        assert_eq!(
            tier_of_record(&parse(&rec(r#","inputBodyJson":{"messages":[]}"#)).unwrap()),
            "default"
        );
        assert_eq!(
            tier_of_record(
                &parse(&rec(r#","inputBodyJson":{"serviceTier":{"type":"flex"}}"#)).unwrap()
            ),
            "flex"
        );
        assert_eq!(
            cost(&Pool::InRegion, TIER_UNREAD),
            cost(&Pool::InRegion, "default")
        );
        // Tier names in a table are checked.
        let bad = r#"{"as_of": "2026-12-01", "models": [
            { "name": "x", "match": ["a.b"], "regional": { "eu-west-1": { "input": "1", "output": "1" } },
              "tiers": { "turbo": { "regional": { "eu-west-1": { "input": "1", "output": "1" } } } } } ]}"#;
        assert!(matches!(
            PriceTable::from_json(bad),
            Err(PriceTableError::Invalid(_))
        ));
        let empty = bad.replace(
            "\"turbo\": { \"regional\": { \"eu-west-1\": { \"input\": \"1\", \"output\": \"1\" } } }",
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
        let bad_date = DEFAULT_PRICES_JSON.replacen("2026-12-07", "Dec 2026", 1);
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

    /// Cost cases with explicit dollar amounts from other projects' public test data, where they agree
    /// with current pricing (each names its repository, file and commit). Token conventions differ:
    /// genai-prices counts cache reads and writes inside `input_tokens`; Bedrock's `inputTokenCount`
    /// excludes them, so the uncached part is given here.
    #[test]
    fn published_expectations_of_other_projects() {
        let t = t();
        let cost = |id: &str, pool: &Pool, region: &str, tokens: Tokens| {
            t.cost_of_request(id, pool, Some(region), &tokens)
        };
        let cases: Vec<(&str, &str, Pool, &str, Tokens, &str)> = vec![
            // pydantic/genai-prices tests/test_price_calc.py @ 0090b412b9a5f1634821063c31ff28985a8fc9e1,
            // test_aws_regional_claude_opus_refs_price: 1,000 in / 100 out, regional Opus 4.5 and
            // 4.6 → total_price 0.00825 (input 0.0055, output 0.00275).
            (
                "genai-prices: regional Opus 4.5",
                "anthropic.claude-opus-4-5-20251101-v1:0",
                us(),
                "us-east-1",
                tok(1_000, 100, 0, 0, 0),
                "0.00825",
            ),
            (
                "genai-prices: regional Opus 4.6",
                "anthropic.claude-opus-4-6-v1",
                Pool::InRegion,
                "us-west-2",
                tok(1_000, 100, 0, 0, 0),
                "0.00825",
            ),
            // same file, test_sync_success_with_url: Claude Sonnet 3.5, input_tokens 1,000 of which
            // 20 cache writes and 30 cache reads, output 100 → total_price 0.004434 (Anthropic's
            // rates, which Bedrock's Claude 3.5 Sonnet shares: 3 / 15 / 0.30 / 3.75).
            (
                "genai-prices: Sonnet 3.5 with cache",
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                Pool::InRegion,
                "us-east-1",
                tok(950, 100, 30, 20, 0),
                "0.004434",
            ),
            // BerriAI/litellm GovCloud pricing tests (litellm-gov in prices.json): per-1M rates of
            // the us-gov entries, i.e. the cost of 1M tokens of each kind (100K for prompt tokens,
            // below Sonnet 4.5's long-context threshold).
            // Sonnet 4.5 in us-gov: input 3.60, output 18.00, 5m write 4.50, 1h write 7.20, read 0.36.
            (
                "litellm-gov: Sonnet 4.5 input",
                SONNET45,
                Pool::InRegion,
                "us-gov-west-1",
                tok(K100, 0, 0, 0, 0),
                "0.36",
            ),
            (
                "litellm-gov: Sonnet 4.5 output",
                SONNET45,
                Pool::InRegion,
                "us-gov-east-1",
                tok(0, M, 0, 0, 0),
                "18.00",
            ),
            (
                "litellm-gov: Sonnet 4.5 5m write",
                SONNET45,
                Pool::InRegion,
                "us-gov-west-1",
                tok(0, 0, 0, K100, 0),
                "0.45",
            ),
            (
                "litellm-gov: Sonnet 4.5 1h write",
                SONNET45,
                Pool::InRegion,
                "us-gov-west-1",
                tok(0, 0, 0, K100, K100),
                "0.72",
            ),
            (
                "litellm-gov: Sonnet 4.5 read",
                SONNET45,
                Pool::InRegion,
                "us-gov-west-1",
                tok(0, 0, K100, 0, 0),
                "0.036",
            ),
            // The us-gov. profile above 200K: input 7.20 per 1M (1M prompt tokens: long context).
            (
                "litellm-gov: Sonnet 4.5 long context",
                SONNET45,
                Pool::Geographic("us-gov".into()),
                "us-gov-west-1",
                tok(M, 0, 0, 0, 0),
                "7.20",
            ),
            // Sonnet 5 and Opus 4.8 in both GovCloud Regions: 2.40 / 12 and 6 / 30 per 1M.
            (
                "litellm-gov: Sonnet 5",
                "anthropic.claude-sonnet-5",
                Pool::InRegion,
                "us-gov-east-1",
                tok(M, M, 0, 0, 0),
                "14.40",
            ),
            (
                "litellm-gov: Opus 4.8",
                "anthropic.claude-opus-4-8",
                Pool::InRegion,
                "us-gov-west-1",
                tok(M, M, M, M, 0),
                "44.10",
            ),
            // gpt-oss and Nemotron in GovCloud: 1.2 x commercial, from the AWS offer file.
            (
                "litellm-gov: gpt-oss-120b",
                "openai.gpt-oss-120b-1:0",
                Pool::InRegion,
                "us-gov-west-1",
                tok(M, M, 0, 0, 0),
                "0.90",
            ),
            (
                "litellm-gov: gpt-oss-20b",
                "openai.gpt-oss-20b-1:0",
                Pool::InRegion,
                "us-gov-east-1",
                tok(M, M, 0, 0, 0),
                "0.444",
            ),
            (
                "litellm-gov: Nemotron Nano 3 30B",
                "nvidia.nemotron-nano-3-30b",
                Pool::InRegion,
                "us-gov-west-1",
                tok(M, M, 0, 0, 0),
                "0.36",
            ),
            (
                "litellm-gov: Nemotron Nano 12B v2",
                "nvidia.nemotron-nano-12b-v2",
                Pool::InRegion,
                "us-gov-west-1",
                tok(M, M, 0, 0, 0),
                "0.96",
            ),
            (
                "litellm-gov: Nemotron 3 Super 120B",
                "nvidia.nemotron-super-3-120b",
                Pool::InRegion,
                "us-gov-east-1",
                tok(M, M, 0, 0, 0),
                "0.96",
            ),
            // Claude Code 2.1.293's own figures for Claude Haiku 5.5, captured in a public cost
            // tracker's tests (search index file 70114525284, "captured: $0.001300 under, $0.015750
            // over"; the same figures from models.dev's amazon-bedrock/global.anthropic.claude-haiku-5-5
            // row, i.e. the Bedrock global rate): 1,000 in / 600 out / 90,000 cache reads, and 1,000 /
            // 600 / 150,000 reads / 10,000 writes (161,000 prompt tokens: the 100K tier).
            (
                "claude-code 2.1.293: Haiku 5.5 under 100K",
                "anthropic.claude-haiku-5-5",
                Pool::Global,
                "us-east-1",
                tok(1_000, 600, 90_000, 0, 0),
                "0.0013",
            ),
            (
                "claude-code 2.1.293: Haiku 5.5 over 100K",
                "anthropic.claude-haiku-5-5",
                Pool::Global,
                "us-west-2",
                tok(1_000, 600, 150_000, 10_000, 0),
                "0.01575",
            ),
            // same test: exactly 100,000 input tokens is not over the size (10,000 micros).
            (
                "claude-code 2.1.293: Haiku 5.5 at 100,000",
                "anthropic.claude-haiku-5-5",
                Pool::Global,
                "eu-west-1",
                tok(K100, 0, 0, 0, 0),
                "0.01",
            ),
            // A Haiku 5.5 ledger test (search index file 70721342992, reconciled against the
            // Bedrock bill's long-ctx usage types): one 200K-token call repriced → 100,000 micros.
            (
                "haiku55 ledger: a 200K long call",
                "anthropic.claude-haiku-5-5",
                Pool::Global,
                "us-east-1",
                tok(200_000, 0, 0, 0, 0),
                "0.10",
            ),
            // GPT-5.6 Terra's us-gov-west-1 records (gov-terra, search index file 68618711038): the
            // test asserts 0.00264 per 1K input, 0.01584 per 1K output, 0.000264 per 1K cache read.
            (
                "gov-terra: 1K input",
                "openai.gpt-5.6-terra",
                Pool::InRegion,
                "us-gov-west-1",
                tok(1_000, 0, 0, 0, 0),
                "0.00264",
            ),
            (
                "gov-terra: 1K output",
                "openai.gpt-5.6-terra",
                Pool::InRegion,
                "us-gov-west-1",
                tok(0, 1_000, 0, 0, 0),
                "0.01584",
            ),
            (
                "gov-terra: 1K cache read",
                "openai.gpt-5.6-terra",
                Pool::InRegion,
                "us-gov-west-1",
                tok(0, 0, 1_000, 0, 0),
                "0.000264",
            ),
            // An offer-record test (price-list-qwen, search index file 55376802279): Qwen3 Coder
            // Next's standard rows → PriceIn 0.5, PriceOut 1.2 per 1M; the same file's Gemma 3 4B
            // rows → 0.04 / 0.08.
            (
                "offer test: Qwen3 Coder Next",
                "qwen.qwen3-coder-next",
                Pool::InRegion,
                "us-east-1",
                tok(M, M, 0, 0, 0),
                "1.70",
            ),
            (
                "offer test: Gemma 3 4B",
                "google.gemma-3-4b-it",
                Pool::InRegion,
                "us-east-1",
                tok(M, M, 0, 0, 0),
                "0.12",
            ),
        ];
        assert!(cases.len() >= 10);
        for (what, id, pool, region, tokens, want) in cases {
            assert_eq!(cost(id, &pool, region, tokens), Ok(usd(want)), "{what}");
        }
        // Where the peer is wrong, and why (not asserted as expectations):
        // - LiteLLM before 2026-05-22 priced the us-gov Claude entries at the commercial regional
        //   rate (Sonnet 4.5 3.30 / 16.50): 9% low; its own later tests and AWS say 1.2 x global.
        //   This table gives 3.60, not 3.30:
        assert_ne!(
            cost(
                SONNET45,
                &Pool::InRegion,
                "us-gov-west-1",
                tok(K100, 0, 0, 0, 0)
            ),
            Ok(usd("0.33"))
        );
        // - LiteLLM prices a bare base model id of the 4.5+ generation (`anthropic.claude-opus-4-6-v1`,
        //   an in-Region call) at the global rate (5.00); AWS bills in-Region calls at the regional
        //   rate (1.1 x), as genai-prices' regional test above also says (5.50).
        assert_eq!(
            cost(
                "anthropic.claude-opus-4-6-v1",
                &Pool::InRegion,
                "us-east-1",
                tok(M, 0, 0, 0, 0)
            ),
            Ok(usd("5.50"))
        );
        // Opus 5.5's own cache rule: reads at 0.05 x input (litellm-2607: 0.20 global, 0.22
        // regional), not the family's 0.1 x.
        assert_eq!(
            cost(
                "anthropic.claude-opus-5-5",
                &Pool::Global,
                "us-east-1",
                tok(0, 0, M, 0, 0)
            ),
            Ok(usd("0.20"))
        );
        assert_eq!(
            cost(
                "anthropic.claude-opus-5-5",
                &us(),
                "us-east-1",
                tok(0, 0, M, 0, 0)
            ),
            Ok(usd("0.22"))
        );
        // Its 1-hour writes: 2 x input (apify-bedrock: 8.80 regional).
        assert_eq!(
            cost(
                "anthropic.claude-opus-5-5",
                &us(),
                "us-east-1",
                tok(0, 0, 0, M, M)
            ),
            Ok(usd("8.80"))
        );
        // The Claude Code figure for one token over the 100K size: 50,001 micros, i.e. our exact
        // 0.0500005 rounded to the micro-dollar.
        assert_eq!(
            cost(
                "anthropic.claude-haiku-5-5",
                &Pool::Global,
                "us-east-1",
                tok(100_001, 0, 0, 0, 0)
            )
            .unwrap()
            .to_decimal_string(6),
            "0.050001"
        );
        // The Haiku 5.5 ledger's plain turn (1M input, 100K output, no long call: a sum of short
        // calls, band 0) → 150,000 micros.
        assert_eq!(
            t.cost(
                "anthropic.claude-haiku-5-5",
                &Pool::Global,
                Some("us-east-1"),
                0,
                &tok(M, K100, 0, 0, 0)
            ),
            Ok(usd("0.15"))
        );
        // Qwen3 32B's live us-east-1 rates of 2026-07-27 (price-list-qwen, search index file
        // 57662124065: "priority input 0.2625, flex output 0.30 $/1M").
        let q32 = "qwen.qwen3-32b-v1:0";
        assert_eq!(
            t.cost_in_tier(
                q32,
                &Pool::InRegion,
                Some("us-east-1"),
                0,
                "priority",
                &tok(M, 0, 0, 0, 0)
            ),
            Ok(usd("0.2625"))
        );
        assert_eq!(
            t.cost_in_tier(
                q32,
                &Pool::InRegion,
                Some("us-east-1"),
                0,
                "flex",
                &tok(0, M, 0, 0, 0)
            ),
            Ok(usd("0.30"))
        );
        // GPT-5.6 Terra's long-ctx record in us-gov-west-1: 0.00528 per 1K input above 272K.
        let over = t.prompt_band(&tok(272_001, 0, 0, 0, 0));
        assert_eq!(
            t.cost(
                "openai.gpt-5.6-terra",
                &Pool::InRegion,
                Some("us-gov-west-1"),
                over,
                &tok(1_000, 0, 0, 0, 0)
            ),
            Ok(usd("0.00528"))
        );
        // - harness-2609 keys `us.anthropic.claude-opus-5` (and us. Fable 5.1) at the global rates
        //   (5 / 25; 10 / 50): a geographic profile bills at 1.1 x (5.50; 11), as every other source
        //   and its own us.anthropic.claude-sonnet-... rows say.
        assert_eq!(
            cost(
                "anthropic.claude-opus-5",
                &us(),
                "us-east-1",
                tok(M, 0, 0, 0, 0)
            ),
            Ok(usd("5.50"))
        );
        // - Some public maps give Qwen3 Coder Next the 0.22 / 1.80 row of Qwen3 Coder 480B; its
        //   offer record says 0.50 / 1.20.
        assert_ne!(
            cost(
                "qwen.qwen3-coder-next",
                &Pool::InRegion,
                "us-east-1",
                tok(M, M, 0, 0, 0)
            ),
            Ok(usd("2.02"))
        );
        // - pi-ai (an older models.dev row) prices Gemma 3 27B at 0.12 / 0.20; two Price List reads
        //   say 0.23 / 0.38.
        assert_eq!(
            cost(
                "google.gemma-3-27b-it",
                &Pool::InRegion,
                "us-east-1",
                tok(M, M, 0, 0, 0)
            ),
            Ok(usd("0.61"))
        );
        // Fable 5.1 in the US: 11 / 55, cache read 0.275 (litellm-2607).
        assert_eq!(
            cost(
                "anthropic.claude-fable-5-1",
                &us(),
                "us-east-2",
                tok(M, M, M, 0, 0)
            ),
            Ok(usd("66.275"))
        );
    }
}
