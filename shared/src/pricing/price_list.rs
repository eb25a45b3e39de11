//! The AWS Price List, read for the price table: token rates of Bedrock's on-demand products from the
//! documented shapes of `pricing:GetProducts` output (`{"PriceList": ["<product JSON>", …]}`, each item
//! `{"product": {"attributes": {…}}, "serviceCode", "terms": {"OnDemand": {term: {"priceDimensions":
//! {dim: {"unit", "description", "pricePerUnit": {"USD"}}}}}}}`) and of a bulk offer file
//! (`{"products": {sku: {"attributes"}}, "terms": {"OnDemand": {sku: {term: …}}}}`).
//!
//! Bedrock's models are in two offers: `AmazonBedrock` (Amazon's and openly licensed models; the model
//! in the `model` (or `titanModel`) attribute, the kind in `inferenceType`, prices per `1K tokens`) and
//! `AmazonBedrockFoundationModels` (Marketplace-listed models such as Claude; the model in
//! `servicename`, the kind and pool in the dimension's description, e.g. `…|Million Input Tokens
//! Regional`, prices per million). Rows for batch, provisioned throughput, customisation and custom
//! models are not on-demand inference and are left out; `-flex` / `-priority` / `-reserved` usage types
//! are service tiers.
//!
//! Pure: no AWS types. `bedrock-meter prices update` feeds it files and prints [`diff`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::pricing::money::Rate;
use crate::pricing::prices::{ModelPrice, PriceTable, Rates, DEFAULT_TIER};

/// What a rate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateKind {
    Input,
    Output,
    CacheRead,
    CacheWrite,
}

impl RateKind {
    pub fn field(self) -> &'static str {
        match self {
            RateKind::Input => "input",
            RateKind::Output => "output",
            RateKind::CacheRead => "cache_read",
            RateKind::CacheWrite => "cache_write_5m",
        }
    }
}

/// One on-demand token rate of the Price List.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferRate {
    pub service: String,
    /// The model as the offer names it (`model`, `titanModel` or `servicename`).
    pub name: String,
    pub region: String,
    pub kind: RateKind,
    /// `true` for the global cross-Region rate, `false` for the regional (geographic / in-Region) one.
    pub global: bool,
    /// `default`, `flex`, `priority` or `reserved`.
    pub tier: String,
    /// USD per 1M tokens, exact decimal text.
    pub per_million: String,
    pub usagetype: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PriceListError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a Price List document: expected {{\"PriceList\": [...]}}, a list of products or an offer file with \"products\" and \"terms\"")]
    Shape,
}

/// Reads every on-demand token rate of a GetProducts output or an offer file. Rows that are not
/// on-demand token inference (batch, provisioned, customisation, images, …) or whose unit is not
/// understood are skipped and named in the second value.
pub fn parse(text: &str) -> Result<(Vec<OfferRate>, Vec<String>), PriceListError> {
    let doc: Value = serde_json::from_str(text)?;
    let mut items: Vec<Value> = Vec::new();
    let as_item = |v: &Value| -> Option<Value> {
        match v {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Object(_) => Some(v.clone()),
            _ => None,
        }
    };
    if let Some(list) = doc.get("PriceList").and_then(Value::as_array) {
        items.extend(list.iter().filter_map(as_item));
    } else if let Some(list) = doc.as_array() {
        items.extend(list.iter().filter_map(as_item));
    } else if let (Some(products), Some(on_demand)) = (
        doc.get("products").and_then(Value::as_object),
        doc.pointer("/terms/OnDemand").and_then(Value::as_object),
    ) {
        for (sku, product) in products {
            if let Some(terms) = on_demand.get(sku) {
                items.push(serde_json::json!({
                    "product": product,
                    "serviceCode": doc.get("offerCode").cloned().unwrap_or(Value::Null),
                    "terms": {"OnDemand": terms},
                }));
            }
        }
    } else {
        return Err(PriceListError::Shape);
    }
    let mut rates = Vec::new();
    let mut skipped = Vec::new();
    for item in &items {
        for r in read_item(item) {
            match r {
                Ok(rate) => rates.push(rate),
                Err(why) => skipped.push(why),
            }
        }
    }
    Ok((rates, skipped))
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Usage-type markers of products that are not on-demand inference of a published model.
const NOT_ON_DEMAND: &[&str] = &[
    "batch",
    "provisioned",
    "customization",
    "custom-model",
    "custommodel",
    "training",
    "storage",
    "evaluation",
];

fn read_item(item: &Value) -> Vec<Result<OfferRate, String>> {
    let attrs = item.pointer("/product/attributes").unwrap_or(&Value::Null);
    let service = match text(item, "serviceCode") {
        "" => text(attrs, "servicecode"),
        s => s,
    }
    .to_string();
    let name = [
        text(attrs, "model"),
        text(attrs, "titanModel"),
        text(attrs, "servicename"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("")
    .to_string();
    let usagetype = text(attrs, "usagetype").to_string();
    let lower_ut = usagetype.to_ascii_lowercase();
    let feature = text(attrs, "feature").to_ascii_lowercase();
    let inference = text(attrs, "inferenceType").to_ascii_lowercase();
    let region = text(attrs, "regionCode").to_string();
    let mut out = Vec::new();
    if name.is_empty() {
        return out;
    }
    if NOT_ON_DEMAND.iter().any(|m| lower_ut.contains(m))
        || (!feature.is_empty() && !feature.contains("on-demand"))
        || inference.contains("batch")
    {
        out.push(Err(format!(
            "{name} ({usagetype}): not on-demand inference"
        )));
        return out;
    }
    let tier = ["flex", "priority", "reserved"]
        .into_iter()
        .find(|t| {
            lower_ut.ends_with(&format!("-{t}"))
                || text(attrs, "service_tier").eq_ignore_ascii_case(t)
        })
        .unwrap_or(DEFAULT_TIER)
        .to_string();
    let Some(on_demand) = item.pointer("/terms/OnDemand").and_then(Value::as_object) else {
        return out;
    };
    for term in on_demand.values() {
        let Some(dims) = term.get("priceDimensions").and_then(Value::as_object) else {
            continue;
        };
        for dim in dims.values() {
            let usd = dim
                .pointer("/pricePerUnit/USD")
                .and_then(Value::as_str)
                .unwrap_or("");
            let unit = text(dim, "unit").to_ascii_lowercase();
            let desc = text(dim, "description").to_ascii_lowercase();
            let what = format!("{inference} {desc} {lower_ut}");
            let kind = if what.contains("cache read") || what.contains("cache-read") {
                RateKind::CacheRead
            } else if what.contains("cache write") || what.contains("cache-write") {
                RateKind::CacheWrite
            } else if what.contains("input token") || what.contains("input-token") {
                RateKind::Input
            } else if what.contains("output token")
                || what.contains("output-token")
                // The Marketplace offer names output "Response Tokens" ("Million Response
                // Tokens Regional"; usage type `…_OutputTokenCount-Units`).
                || what.contains("response token")
            {
                RateKind::Output
            } else {
                out.push(Err(format!("{name} ({usagetype}): not a token rate")));
                continue;
            };
            // Per-unit price → per 1M tokens, as exact decimal text.
            let shift = if unit == "1k tokens" {
                3
            } else if unit == "1m tokens"
                || (unit == "units" && desc.contains("million"))
                || desc.contains("per 1m")
            {
                0
            } else {
                out.push(Err(format!(
                    "{name} ({usagetype}): unit {unit:?} not understood"
                )));
                continue;
            };
            let Some(per_million) = shift_decimal(usd, shift) else {
                out.push(Err(format!(
                    "{name} ({usagetype}): price {usd:?} is not a decimal"
                )));
                continue;
            };
            let global = lower_ut.contains("global") || desc.contains("global");
            out.push(Ok(OfferRate {
                service: service.clone(),
                name: name.clone(),
                region: region.clone(),
                kind,
                global,
                tier: tier.clone(),
                per_million,
                usagetype: usagetype.clone(),
            }));
        }
    }
    out
}

/// `d × 10^shift` of a plain decimal, normalised (`"0.0000600000"`, 3 → `"0.06"`).
fn shift_decimal(d: &str, shift: usize) -> Option<String> {
    let d = d.trim();
    let (int, frac) = d.split_once('.').unwrap_or((d, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut frac = frac.to_string();
    while frac.len() < shift {
        frac.push('0');
    }
    let (moved, rest) = frac.split_at(shift);
    let int = format!("{int}{moved}");
    let int = int.trim_start_matches('0');
    let rest = rest.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    Some(if rest.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{rest}")
    })
}

/// One line of the review: a table entry and what the offer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Every rate the offer has for the entry equals the table's.
    Same { model: String },
    /// (pool, field, table, offer), e.g. ("regional", "output", "15", "16").
    Changed {
        model: String,
        changes: Vec<(String, String, String, String)>,
    },
    /// The entry names Price List products the offer does not have.
    NotInOffer { model: String, names: Vec<String> },
    /// Offer products no entry names: (name, "input 0.06 / output 0.24").
    NotInTable { name: String, rates: String },
}

fn rate_text(r: &Rate) -> String {
    r.per_million_text()
}

/// The table with the offer's standard-tier rates for `region` put into the entries that name their
/// Price List products (`price_list`), and the review of every difference. A regional rate goes to
/// the entry's rates for `region` as the core finds them (the Region's own key, else its first Region
/// group the entry lists, else a new key for the Region itself); long-context rates are derived again
/// from the entry's rule.
pub fn update(table: &PriceTable, offer: &[OfferRate], region: &str) -> (PriceTable, Vec<Change>) {
    let mut new = table.clone();
    let mut changes = Vec::new();
    let in_region: Vec<&OfferRate> = offer
        .iter()
        .filter(|r| r.region.is_empty() || r.region == region)
        .filter(|r| r.tier == DEFAULT_TIER)
        .collect();
    let named: Vec<String> = table
        .models
        .iter()
        .flat_map(|m| m.price_list.iter().cloned())
        .collect();
    for m in new.models.iter_mut() {
        if m.price_list.is_empty() {
            continue;
        }
        let mine: Vec<&&OfferRate> = in_region
            .iter()
            .filter(|r| m.price_list.iter().any(|n| n == &r.name))
            .collect();
        if mine.is_empty() {
            changes.push(Change::NotInOffer {
                model: m.name.clone(),
                names: m.price_list.clone(),
            });
            continue;
        }
        let mut diffs = Vec::new();
        let key = if m.rates.regional.contains_key(region) {
            region.to_string()
        } else {
            table
                .groups_of(region)
                .find(|g| m.rates.regional.contains_key(*g))
                .unwrap_or(region)
                .to_string()
        };
        for r in mine {
            let Ok(rate) = Rate::per_million(&r.per_million) else {
                continue;
            };
            let pool = if r.global {
                "global".to_string()
            } else {
                format!("regional.{key}")
            };
            apply(m, r.global, &key, r.kind, rate, &pool, &mut diffs);
        }
        if let (Some(rule), false) = (m.long_context_rule.clone(), diffs.is_empty()) {
            m.long_context = m.rates.derive_long_context(&rule, &m.name).ok();
        }
        changes.push(if diffs.is_empty() {
            Change::Same {
                model: m.name.clone(),
            }
        } else {
            Change::Changed {
                model: m.name.clone(),
                changes: diffs,
            }
        });
    }
    let mut unknown: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &in_region {
        if !named.contains(&r.name) {
            let pool = if r.global { " global" } else { "" };
            unknown.entry(&r.name).or_default().push(format!(
                "{}{pool} {}",
                r.kind.field(),
                r.per_million
            ));
        }
    }
    for (name, mut rates) in unknown {
        rates.sort();
        rates.dedup();
        changes.push(Change::NotInTable {
            name: name.to_string(),
            rates: rates.join(" / "),
        });
    }
    (new, changes)
}

fn apply(
    m: &mut ModelPrice,
    global: bool,
    key: &str,
    kind: RateKind,
    rate: Rate,
    pool: &str,
    diffs: &mut Vec<(String, String, String, String)>,
) {
    let fresh = || Rates {
        input: rate,
        output: rate,
        cache_read: None,
        cache_write_5m: None,
        cache_write_1h: None,
    };
    // A global rate from the Price List settles a pool the table marked unpriced: the marker goes, and the
    // review says so (a table with both would not load).
    if global {
        if let Some(why) = m.rates.global_unpriced.take() {
            diffs.push((
                pool.into(),
                "global_unpriced".into(),
                why,
                "cleared: the offer has a global rate".into(),
            ));
        }
    }
    let rates = if global {
        m.rates.global.get_or_insert_with(fresh)
    } else {
        m.rates
            .regional
            .entry(key.to_string())
            .or_insert_with(fresh)
    };
    let field = match kind {
        RateKind::Input => Some(&mut rates.input),
        RateKind::Output => Some(&mut rates.output),
        RateKind::CacheRead => rates.cache_read.as_mut(),
        RateKind::CacheWrite => rates.cache_write_5m.as_mut(),
    };
    match field {
        Some(f) if *f == rate => {}
        Some(f) => {
            diffs.push((
                pool.into(),
                kind.field().into(),
                rate_text(f),
                rate_text(&rate),
            ));
            *f = rate;
        }
        None => {
            diffs.push((
                pool.into(),
                kind.field().into(),
                "(none)".into(),
                rate_text(&rate),
            ));
            match kind {
                RateKind::CacheRead => rates.cache_read = Some(rate),
                RateKind::CacheWrite => rates.cache_write_5m = Some(rate),
                _ => {}
            }
        }
    }
}

/// The review, one line per entry: `=` unchanged, `~` changed (each rate old → new), `?` named
/// products missing from the offer, `+` offer products no entry names.
pub fn diff(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let _ = match c {
            Change::Same { model } => writeln!(out, "= {model}: unchanged"),
            Change::Changed { model, changes } => {
                let parts: Vec<String> = changes
                    .iter()
                    .map(|(pool, f, old, new)| format!("{pool}.{f} {old} -> {new}"))
                    .collect();
                writeln!(out, "~ {model}: {}", parts.join(", "))
            }
            Change::NotInOffer { model, names } => writeln!(
                out,
                "? {model}: no on-demand rate for {} in the offer",
                names.join(", ")
            ),
            Change::NotInTable { name, rates } => {
                writeln!(out, "+ {name}: not in the table ({rates} per 1M)")
            }
        };
    }
    out
}

#[cfg(test)]
mod tests {
    //! Fixtures. No verbatim published Price List record was found in public code or documentation,
    //! so these are built in the documented GetProducts shape (AWS Price List API reference:
    //! `PriceList` is a list of JSON strings, each with `product.attributes`, `serviceCode` and
    //! `terms.OnDemand.<term>.priceDimensions.<dim>.{unit, description, pricePerUnit.USD}`), with the
    //! attribute values that public code reading the live API relies on:
    //! - AmazonBedrock: `model` ("Nova Lite", "Llama 3.3 70B", "DeepSeek V3.1"), `feature`
    //!   ("On-demand Inference"), `inferenceType` ("Input tokens" / "Output tokens"), `regionCode`,
    //!   `usagetype` ("USE1-NovaLite-input-tokens", with `-batch`, `-flex`, `-priority`,
    //!   `-custom-model`, `-cross-region-global` variants), unit "1K tokens", USD as "0.0000600000";
    //! - AmazonBedrockFoundationModels: `servicename` ("Claude Sonnet 4 (Amazon Bedrock Edition)"),
    //!   unit "Units", description "AWS Marketplace software usage|us-east-1|Million Input Tokens
    //!   Regional", USD "3.0000000000".
    //!
    //! The rates are the committed table's (prices.json), so `update` must find them unchanged.
    use super::*;

    fn item(service: &str, attrs: Value, unit: &str, desc: &str, usd: &str) -> String {
        serde_json::json!({
            "product": {"productFamily": "Machine Learning", "attributes": attrs, "sku": "SKU1"},
            "serviceCode": service,
            "terms": {"OnDemand": {"SKU1.JRTCKXETXF": {
                "priceDimensions": {"SKU1.JRTCKXETXF.6YS6EN2CT7": {
                    "unit": unit, "endRange": "Inf", "description": desc, "appliesTo": [],
                    "rateCode": "SKU1.JRTCKXETXF.6YS6EN2CT7", "beginRange": "0",
                    "pricePerUnit": {"USD": usd}}},
                "sku": "SKU1", "effectiveDate": "2026-11-01T00:00:00Z",
                "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}},
            "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"
        })
        .to_string()
    }

    fn bedrock(model: &str, ut: &str, inference: &str, feature: &str, usd: &str) -> String {
        item(
            "AmazonBedrock",
            serde_json::json!({"servicecode": "AmazonBedrock", "regionCode": "us-east-1",
                "location": "US East (N. Virginia)", "model": model, "feature": feature,
                "inferenceType": inference, "usagetype": ut, "operation": "Usage"}),
            "1K tokens",
            &format!("{usd} per 1K {inference}"),
            usd,
        )
    }

    fn marketplace(name: &str, what: &str, usd: &str) -> String {
        marketplace_in("us-east-1", name, what, usd)
    }

    fn marketplace_in(region: &str, name: &str, what: &str, usd: &str) -> String {
        item(
            "AmazonBedrockFoundationModels",
            serde_json::json!({"servicecode": "AmazonBedrockFoundationModels", "regionCode": region,
                "servicename": name}),
            "Units",
            &format!("AWS Marketplace software usage|{region}|{what}"),
            usd,
        )
    }

    /// Marketplace (Claude) products by the `servicename` public Cost Explorer code filters the bill
    /// with ("Claude Haiku 4.5 (Amazon Bedrock Edition)", "Claude Sonnet 4.6 (Amazon Bedrock
    /// Edition)", "Claude Opus 4.6 (Amazon Bedrock Edition)"), at the rates of the committed table:
    /// regional and global input and output per million.
    fn marketplace_claude() -> Vec<String> {
        let mut v = Vec::new();
        for (name, g_in, g_out, r_in, r_out) in [
            (
                "Claude Haiku 4.5 (Amazon Bedrock Edition)",
                "1.0000000000",
                "5.0000000000",
                "1.1000000000",
                "5.5000000000",
            ),
            (
                "Claude Sonnet 4.6 (Amazon Bedrock Edition)",
                "3.0000000000",
                "15.0000000000",
                "3.3000000000",
                "16.5000000000",
            ),
            (
                "Claude Opus 4.6 (Amazon Bedrock Edition)",
                "5.0000000000",
                "25.0000000000",
                "5.5000000000",
                "27.5000000000",
            ),
        ] {
            v.push(marketplace(name, "Million Input Tokens Global", g_in));
            v.push(marketplace(name, "Million Output Tokens Global", g_out));
            v.push(marketplace(name, "Million Input Tokens Regional", r_in));
            v.push(marketplace(name, "Million Output Tokens Regional", r_out));
        }
        // GovCloud: Sonnet 4.5 at 1.2 x global.
        let gov = "us-gov-west-1";
        let s45 = "Claude Sonnet 4.5 (Amazon Bedrock Edition)";
        v.push(marketplace_in(
            gov,
            s45,
            "Million Input Tokens Regional",
            "3.6000000000",
        ));
        v.push(marketplace_in(
            gov,
            s45,
            "Million Output Tokens Regional",
            "18.0000000000",
        ));
        v
    }

    fn get_products(items: &[String]) -> String {
        serde_json::json!({"FormatVersion": "aws_v1", "PriceList": items}).to_string()
    }

    fn fixture() -> String {
        let od = "On-demand Inference";
        let mut items = marketplace_claude();
        items.extend([
            bedrock(
                "Nova Lite",
                "USE1-NovaLite-input-tokens",
                "Input tokens",
                od,
                "0.0000600000",
            ),
            bedrock(
                "Nova Lite",
                "USE1-NovaLite-output-tokens",
                "Output tokens",
                od,
                "0.0002400000",
            ),
            bedrock(
                "Nova Lite",
                "USE1-NovaLite-input-tokens-batch",
                "Input tokens",
                "Batch Inference",
                "0.0000300000",
            ),
            bedrock(
                "Nova Lite",
                "USE1-NovaLite-input-tokens-custom-model",
                "Input tokens",
                od,
                "0.0000600000",
            ),
            bedrock(
                "Nova Lite",
                "USE1-NovaLite-input-tokens-flex",
                "Input tokens",
                od,
                "0.0000300000",
            ),
            bedrock(
                "Llama 3.3 70B",
                "USE1-Llama3.3-70B-input-tokens",
                "Input tokens",
                od,
                "0.0007200000",
            ),
            bedrock(
                "Llama 3.3 70B",
                "USE1-Llama3.3-70B-output-tokens",
                "Output tokens",
                od,
                "0.0007200000",
            ),
            bedrock(
                "DeepSeek V3.1",
                "USE1-DeepSeekV3.1-input-tokens",
                "Input tokens",
                od,
                "0.0005800000",
            ),
            bedrock(
                "DeepSeek V3.1",
                "USE1-DeepSeekV3.1-output-tokens",
                "Output tokens",
                od,
                "0.0016800000",
            ),
            marketplace(
                "Claude Sonnet 4 (Amazon Bedrock Edition)",
                "Million Input Tokens Regional",
                "3.0000000000",
            ),
            marketplace(
                "Claude Sonnet 4 (Amazon Bedrock Edition)",
                "Million Output Tokens Regional",
                "15.0000000000",
            ),
            marketplace(
                "Claude Sonnet 4 (Amazon Bedrock Edition)",
                "Million Input Tokens Global",
                "3.0000000000",
            ),
        ]);
        get_products(&items)
    }

    #[test]
    fn a_global_rate_from_the_offer_clears_global_unpriced_and_says_so() {
        let claude = "Claude Sonnet 4 (Amazon Bedrock Edition)";
        let mut table = PriceTable::embedded();
        let m = table
            .models
            .iter_mut()
            .find(|m| m.price_list.iter().any(|n| n == claude))
            .expect("an entry named in the fixture's Marketplace rows");
        m.rates.global = None;
        m.rates.global_unpriced = Some("one source only".into());
        let name = m.name.clone();
        let (rates, _) = parse(&fixture()).unwrap();
        let (new, changes) = update(&table, &rates, "us-east-1");
        let m = new.models.iter().find(|m| m.name == name).unwrap();
        assert_eq!(m.rates.global_unpriced, None);
        assert!(m.rates.global.is_some());
        let said = changes.iter().any(|c| {
            matches!(c, Change::Changed { model, changes } if *model == name
                && changes.iter().any(|(_, field, was, _)| field == "global_unpriced" && was == "one source only"))
        });
        assert!(said, "{changes:?}");
    }

    #[test]
    fn reads_on_demand_token_rates_of_both_offers() {
        let (rates, skipped) = parse(&fixture()).unwrap();
        let find = |name: &str, kind: RateKind, global: bool, tier: &str| {
            rates
                .iter()
                .find(|r| r.name == name && r.kind == kind && r.global == global && r.tier == tier)
                .map(|r| r.per_million.as_str())
        };
        // 1K-token prices become per-1M, exactly.
        assert_eq!(
            find("Nova Lite", RateKind::Input, false, "default"),
            Some("0.06")
        );
        assert_eq!(
            find("Nova Lite", RateKind::Output, false, "default"),
            Some("0.24")
        );
        assert_eq!(
            find("Nova Lite", RateKind::Input, false, "flex"),
            Some("0.03")
        );
        assert_eq!(
            find("DeepSeek V3.1", RateKind::Output, false, "default"),
            Some("1.68")
        );
        // Marketplace rows: per million, pool from the description.
        let claude = "Claude Sonnet 4 (Amazon Bedrock Edition)";
        assert_eq!(find(claude, RateKind::Input, false, "default"), Some("3"));
        assert_eq!(find(claude, RateKind::Output, false, "default"), Some("15"));
        assert_eq!(find(claude, RateKind::Input, true, "default"), Some("3"));
        // Batch and custom-model rows are not on-demand inference.
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(rates.len(), 10 + 12 + 2);
        assert_eq!(rates.iter().filter(|r| r.region != "us-east-1").count(), 2);
        let haiku = "Claude Haiku 4.5 (Amazon Bedrock Edition)";
        assert_eq!(find(haiku, RateKind::Input, true, "default"), Some("1"));
        assert_eq!(find(haiku, RateKind::Output, false, "default"), Some("5.5"));
    }

    #[test]
    fn the_fixture_gives_the_committed_entries_and_changes_show_as_a_diff() {
        let table = PriceTable::embedded();
        let (rates, _) = parse(&fixture()).unwrap();
        let (new, changes) = update(&table, &rates, "us-east-1");
        for model in [
            "Amazon Nova Lite",
            "Llama 3.3 70B Instruct",
            "DeepSeek-V3.1",
            "Claude Sonnet 4",
            // Marketplace-sold Claude: the AmazonBedrockFoundationModels offer.
            "Claude Haiku 4.5",
            "Claude Sonnet 4.6",
            "Claude Opus 4.5 / 4.6 / 4.7",
        ] {
            assert!(
                changes.contains(&Change::Same {
                    model: model.into()
                }),
                "{model}: {changes:?}"
            );
        }
        // Entries that name products the offer does not have are flagged, not dropped.
        assert!(changes.contains(&Change::NotInOffer {
            model: "Amazon Nova Micro".into(),
            names: vec!["Nova Micro".into()]
        }));
        // The updated table prices like the committed one for these models.
        let one = crate::records::record::Tokens {
            input: 1_000_000,
            output: 1_000_000,
            ..Default::default()
        };
        for id in [
            "amazon.nova-lite-v1:0",
            "meta.llama3-3-70b-instruct-v1:0",
            "deepseek.v3-v1:0",
        ] {
            let pool = crate::attribution::model_id::Pool::InRegion;
            assert_eq!(
                new.cost(id, &pool, Some("us-east-1"), 0, &one),
                table.cost(id, &pool, Some("us-east-1"), 0, &one)
            );
        }
        // A price change, and a model the table does not know.
        let od = "On-demand Inference";
        let (mut rates, _) = parse(&fixture().replace("0.0002400000", "0.0002500000")).unwrap();
        let sonic = bedrock(
            "Nova Sonic",
            "USE1-NovaSonic-input-tokens",
            "Input tokens",
            od,
            "0.0034000000",
        );
        let (extra, _) = parse(&get_products(&[sonic])).unwrap();
        rates.extend(extra);
        let (new, changes) = update(&table, &rates, "us-east-1");
        let text = diff(&changes);
        assert!(
            text.contains("~ Amazon Nova Lite: regional.us.output 0.24 -> 0.25\n"),
            "{text}"
        );
        assert!(
            text.contains("+ Nova Sonic: not in the table (input 3.4 per 1M)\n"),
            "{text}"
        );
        assert!(text.contains("= Claude Sonnet 4: unchanged\n"), "{text}");
        assert_eq!(
            new.rates(
                "amazon.nova-lite-v1:0",
                &crate::attribution::model_id::Pool::InRegion,
                Some("us-east-1"),
                0
            )
            .unwrap()
            .output,
            Rate::per_million("0.25").unwrap()
        );
        // GovCloud: the offer's us-gov-west-1 rates are the entry's `gov` rates, unchanged.
        let (gov_table, gov) = update(&table, &rates, "us-gov-west-1");
        assert!(
            gov.contains(&Change::Same {
                model: "Claude Sonnet 4.5".into()
            }),
            "{gov:?}"
        );
        let s45 = gov_table
            .model("anthropic.claude-sonnet-4-5-20250929-v1:0")
            .unwrap();
        assert_eq!(
            s45.rates.regional,
            table
                .model("anthropic.claude-sonnet-4-5")
                .unwrap()
                .rates
                .regional
        );
        // Rates of another Region are not compared.
        let (_, other) = update(&table, &rates, "eu-west-1");
        assert!(
            other.iter().all(|c| matches!(c, Change::NotInOffer { .. })),
            "{other:?}"
        );
    }

    #[test]
    fn offer_files_and_bad_documents() {
        let offer = serde_json::json!({
            "formatVersion": "v1.0", "offerCode": "AmazonBedrock",
            "products": {"SKU9": {"sku": "SKU9", "productFamily": "Machine Learning", "attributes": {
                "servicecode": "AmazonBedrock", "regionCode": "us-east-1", "model": "Nova Pro",
                "feature": "On-demand Inference", "inferenceType": "Output tokens",
                "usagetype": "USE1-NovaPro-output-tokens"}}},
            "terms": {"OnDemand": {"SKU9": {"SKU9.JRTCKXETXF": {"priceDimensions": {"SKU9.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "1K tokens", "description": "x", "pricePerUnit": {"USD": "0.0032000000"}}}}}}}
        });
        let (rates, _) = parse(&offer.to_string()).unwrap();
        assert_eq!(rates.len(), 1);
        assert_eq!(
            (rates[0].name.as_str(), rates[0].per_million.as_str()),
            ("Nova Pro", "3.2")
        );
        assert_eq!(rates[0].service, "AmazonBedrock");
        assert!(matches!(parse("{}"), Err(PriceListError::Shape)));
        assert!(matches!(parse("nope"), Err(PriceListError::Json(_))));
        // An unknown unit is skipped and named, never guessed.
        let odd = get_products(&[item(
            "AmazonBedrock",
            serde_json::json!({"model": "Nova Pro", "inferenceType": "Input tokens", "usagetype": "USE1-NovaPro-input-tokens"}),
            "Characters",
            "x",
            "1",
        )]);
        let (rates, skipped) = parse(&odd).unwrap();
        assert!(rates.is_empty());
        assert!(skipped[0].contains("unit"), "{skipped:?}");
    }

    /// The Marketplace offer calls output "Response Tokens": Claude Haiku 4.5's published us-east-1
    /// records (SKUs X629GDA2GXAP6R54 regional, XADKFYXVGBFBJSU7 global; see
    /// cli/tests/fixtures/price-list/README.md) are output rates, not skipped rows.
    #[test]
    fn marketplace_response_tokens_are_output() {
        let haiku = "Claude Haiku 4.5 (Amazon Bedrock Edition)";
        let row = |ut: &str, what: &str, usd: &str| {
            item(
                "AmazonBedrockFoundationModels",
                serde_json::json!({"servicecode": "AmazonBedrockFoundationModels",
                    "regionCode": "us-east-1", "servicename": haiku, "usagetype": ut}),
                "1M tokens",
                &format!("AWS Marketplace software usage|us-east-1|{what}"),
                usd,
            )
        };
        let doc = get_products(&[
            row(
                "USE1-MP:USE1_OutputTokenCount-Units",
                "Million Response Tokens Regional",
                "5.5000000000",
            ),
            row(
                "USE1-MP:USE1_OutputTokenCount_Global-Units",
                "Million Response Tokens Global",
                "5.0000000000",
            ),
        ]);
        let (rates, skipped) = parse(&doc).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let got: Vec<(RateKind, bool, &str)> = rates
            .iter()
            .map(|r| (r.kind, r.global, r.per_million.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (RateKind::Output, false, "5.5"),
                (RateKind::Output, true, "5")
            ]
        );
    }

    #[test]
    fn decimal_shift_is_exact() {
        assert_eq!(shift_decimal("0.0000600000", 3).as_deref(), Some("0.06"));
        assert_eq!(shift_decimal("3.0000000000", 0).as_deref(), Some("3"));
        assert_eq!(shift_decimal("0.0034", 3).as_deref(), Some("3.4"));
        assert_eq!(shift_decimal("12", 3).as_deref(), Some("12000"));
        assert_eq!(shift_decimal("0.000035", 3).as_deref(), Some("0.035"));
        assert_eq!(shift_decimal("-1", 3), None);
        assert_eq!(shift_decimal("1e-3", 3), None);
        assert_eq!(shift_decimal("", 3), None);
    }
}
