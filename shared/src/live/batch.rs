//! One subscription batch through the live path's pure stages — **parse → resolve → price →
//! aggregate** — exactly as the ingest Lambda runs it between its AWS calls (the profile prefetch
//! before [`resolve_all`]; the detector's store, SNS and CloudWatch after [`aggregate`]). The ingest
//! benchmark runs these same functions, so what it measures is what the Lambda does.
//!
//! Per-batch work is per distinct `modelId` where it can be (classification, profile resolution), and
//! the detector's [`Observation`] (owned strings) is built only for a new (minute, app, caller, model)
//! key; in-process maps use the Fx hash.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::attribution::model_id::{classify, ModelRef};
use crate::attribution::profiles::ProfileDirectory;
use crate::attribution::resolution::{resolve, AttributionConfig, Resolution, UNRESOLVED};
use crate::live::detector::{Observation, Overrides};
use crate::live::metrics::{FxBuild, MetricsAggregator, MetricsConfig};
use crate::ports::metrics::Datum;
use crate::pricing::money::Money;
use crate::pricing::prices::{tier_of, PriceTable, Rates, Unpriced};
use crate::records::record::Usage;
use crate::records::record::{Record, Tokens};
use crate::records::subscription::LogEvent;
use crate::time::Timestamp;

/// The records of a batch that could be read, and a count of those that could not.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub records: Vec<Record<'a>>,
    /// When each record's log event was ingested (in the order of `records`).
    pub ingested: Vec<Timestamp>,
    /// Records that could not be read, by kind ([`crate::records::record::RecordError::kind`]).
    pub malformed: BTreeMap<&'static str, u64>,
    /// When each unreadable record's log event was ingested (its `MalformedRecords` metric minute).
    pub malformed_at: Vec<Timestamp>,
    /// The `modelId`s, hashed once per record by [`parse_events`].
    models: ModelIndex,
}

/// Parses every log event's message (in place, from its escaped text). A record that cannot be read is
/// counted by kind; it never stops the others.
pub fn parse_events<'a>(events: &[LogEvent<'a>]) -> Parsed<'a> {
    let mut p = Parsed {
        records: Vec::with_capacity(events.len()),
        ingested: Vec::with_capacity(events.len()),
        ..Parsed::default()
    };
    for ev in events {
        let at = Timestamp::from_millis(ev.timestamp);
        // Built in its slot of `records` (no moves of the record).
        match ev.message.parse_push(&mut p.records) {
            Ok(()) => p.ingested.push(at),
            Err(e) => {
                *p.malformed.entry(e.kind()).or_default() += 1;
                p.malformed_at.push(at);
            }
        }
    }
    p.models = ModelIndex::of(&p.records);
    p
}

/// Each record's `modelId` as a small id: the index of the distinct `modelId` in the order the batch
/// first names it.
#[derive(Debug, Default)]
struct ModelIndex {
    /// Per record (in the order of `records`), its `modelId`'s id…
    of: Vec<u32>,
    /// …and per id, the first record that names it.
    first: Vec<u32>,
}

impl ModelIndex {
    fn of(records: &[Record<'_>]) -> ModelIndex {
        let mut ids: HashMap<&str, u32, FxBuild> = HashMap::default();
        let mut first = Vec::new();
        let of = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                *ids.entry(r.model_id.as_ref()).or_insert_with(|| {
                    first.push(i as u32);
                    (first.len() - 1) as u32
                })
            })
            .collect();
        ModelIndex { of, first }
    }
}

impl Parsed<'_> {
    /// Each distinct `modelId` of the batch.
    pub fn model_ids(&self) -> HashSet<&str, FxBuild> {
        let fresh;
        let index = match self.model_index() {
            Some(i) => i,
            None => {
                fresh = ModelIndex::of(&self.records);
                &fresh
            }
        };
        index
            .first
            .iter()
            .map(|&i| self.records[i as usize].model_id.as_ref())
            .collect()
    }

    /// The index [`parse_events`] made, unless records were added to the batch by hand since.
    fn model_index(&self) -> Option<&ModelIndex> {
        (self.models.of.len() == self.records.len()).then_some(&self.models)
    }
}

/// The application inference profile ARNs among `model_ids` (what the Lambda makes sure its profile
/// cache holds fresh before resolving).
pub fn application_profiles<'m>(model_ids: impl IntoIterator<Item = &'m str>) -> HashSet<String> {
    model_ids
        .into_iter()
        .filter_map(|m| match classify(m) {
            ModelRef::ApplicationProfile { arn } => Some(arn),
            _ => None,
        })
        .collect()
}

/// Each distinct `modelId`'s attribution and pricing model.
pub type Resolutions<'m> = HashMap<&'m str, Resolution, FxBuild>;

/// Resolves each distinct `modelId` once.
pub fn resolve_all<'m>(
    model_ids: &HashSet<&'m str, FxBuild>,
    profiles: &dyn ProfileDirectory,
    cfg: &AttributionConfig,
) -> Resolutions<'m> {
    model_ids
        .iter()
        .map(|&m| (m, resolve(m, profiles, cfg)))
        .collect()
}

/// What a record's rates depend on besides its resolution: (the logged `modelId`'s id in the batch,
/// source Region, prompt band, logged service tier).
type CallShape<'r> = (u32, &'r str, u8, Option<&'r str>);

/// A metric group of a batch: (metric minute, `modelId` id, caller id — `u32::MAX` when callers are
/// not a dimension — metadata tuple id).
type GroupKey = (i64, u32, u32, u32);

/// The price of one record, or why it has none.
pub fn cost_of(r: &Record<'_>, res: &Resolution, prices: &PriceTable) -> Result<Money, Unpriced> {
    let region = r.region.as_deref().filter(|s| !s.is_empty());
    prices
        .rates_of(
            res,
            region,
            prices.prompt_band(&r.tokens),
            &tier_of(r.service_tier.as_deref()),
        )
        .and_then(|x| x.cost(&r.tokens))
}

/// What a batch adds up to: the metric datums to put, the detector's observations, and counts.
#[derive(Debug, Default)]
pub struct Aggregated {
    /// One datum per series and minute.
    pub datums: Vec<Datum>,
    /// One observation per (minute, app, caller, model), in the order the batch first names each.
    pub observations: Vec<Observation>,
    /// Records without a price (unknown model or missing rate): never counted as $0 spend.
    pub unpriced_requests: u64,
    /// Records attributed to `unresolved` because their profile could not be looked up.
    pub unresolved_records: u64,
}

/// Prices every record and adds it to the per-minute metrics and the detector's observations.
/// `resolutions` must hold every `modelId` of `parsed` ([`resolve_all`] of [`Parsed::model_ids`]).
///
/// Each distinct attribution key of the batch — `modelId` (which fixes team, app and model), caller,
/// the tuple of metadata values — is looked up by its string once per record and given a small id; the
/// per-minute counters are then summed in maps keyed by those ids, and the metric aggregator sees one
/// contribution per distinct (minute, modelId, caller, metadata) group, in the order the batch first
/// names each (its leaves, and so the per-key metadata cap, in the same order as record by record).
pub fn aggregate(
    parsed: &Parsed<'_>,
    resolutions: &Resolutions<'_>,
    prices: &PriceTable,
    attribution: &AttributionConfig,
    metrics: &MetricsConfig,
    now: Timestamp,
) -> Aggregated {
    let mut out = Aggregated::default();
    let mut agg = MetricsAggregator::new(metrics.clone());
    for &at in &parsed.malformed_at {
        // At its log event's time when CloudWatch accepts it, else now (as for records).
        agg.add_malformed(metric_time(at, at, now), 1);
    }
    // Ids: each distinct modelId (with its resolution; hashed once per record, by `parse_events`),
    // caller, and tuple of metadata values.
    let fresh;
    let model_index = match parsed.model_index() {
        Some(i) => i,
        None => {
            fresh = ModelIndex::of(&parsed.records);
            &fresh
        }
    };
    let models: Vec<&Resolution> = model_index
        .first
        .iter()
        .map(|&i| &resolutions[parsed.records[i as usize].model_id.as_ref()])
        .collect();
    // The detector's threshold overrides, read from each modelId's resolved tags once (an invalid one
    // is logged once per modelId and batch, not once per observation).
    let overrides: Vec<Overrides> = models
        .iter()
        .map(|res| Overrides::from_tags(&res.tags))
        .collect();
    let mut raw_callers: HashMap<&str, u32, FxBuild> = HashMap::default();
    let mut caller_ids: HashMap<&str, u32, FxBuild> = HashMap::default();
    let mut callers: Vec<&str> = Vec::new();
    let mut value_ids: Vec<HashMap<&str, u32, FxBuild>> =
        vec![HashMap::default(); attribution.metadata_keys.len()];
    let mut tuple_ids: HashMap<Vec<u32>, u32, FxBuild> = HashMap::default();
    // Each metadata tuple's values as the aggregator takes them, built once per tuple.
    let mut tuples: Vec<Vec<String>> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(attribution.metadata_keys.len());
    // Observations in the order their keys first appear in the batch (log order: deterministic without
    // a sort); the map holds each key's index. The detector's sums do not depend on the order; where
    // two profiles share an app tag but disagree on team or threshold tags, the last one it sees wins.
    // Key: (minute, modelId, caller), the same as (minute, app, caller, modelId): app follows from the
    // modelId.
    let mut index: HashMap<(i64, u32, u32), usize, FxBuild> = HashMap::default();
    // The rates of each (model, pool, source Region, long-context, tier) the batch prices: the price table's
    // lookup once per distinct call shape, not once per record.
    let mut rates: HashMap<CallShape<'_>, Result<&Rates, Unpriced>, FxBuild> = HashMap::default();
    // Metric groups: (metric minute, modelId, caller — only when callers are a dimension, metadata
    // tuple) → index into `groups`, which keeps first-seen order.
    let mut group_ids: HashMap<GroupKey, usize, FxBuild> = HashMap::default();
    let mut groups: Vec<(GroupKey, Usage, Money, u64)> = Vec::new();
    for ((r, ingested_at), &model) in parsed
        .records
        .iter()
        .zip(&parsed.ingested)
        .zip(&model_index.of)
    {
        let res = models[model as usize];
        if res.team == UNRESOLVED {
            out.unresolved_records += 1;
        }
        // `cost_of`, with the rates looked up once per call shape. The pool follows from the logged
        // modelId, which `res` is the resolution of.
        let cost = if res.base_model.is_some() {
            let region = r.region.as_deref().filter(|s| !s.is_empty());
            let band = prices.prompt_band(&r.tokens);
            let logged_tier = r.service_tier.as_deref();
            let key = (model, region.unwrap_or(""), band, logged_tier);
            let found = rates
                .entry(key)
                .or_insert_with(|| prices.rates_of(res, region, band, &tier_of(logged_tier)));
            found.clone().and_then(|x| x.cost(&r.tokens))
        } else {
            Err(Unpriced::UnknownModel)
        };
        let unpriced = u64::from(cost.is_err());
        out.unpriced_requests += unpriced;
        // The caller is the principal of the logged ARN: worked out once per distinct ARN.
        let raw = r.caller_or_unknown();
        let caller = *raw_callers.entry(raw).or_insert_with(|| {
            let name = attribution.principal.principal(raw);
            *caller_ids.entry(name).or_insert_with(|| {
                callers.push(name);
                (callers.len() - 1) as u32
            })
        });
        ids.clear();
        for (k, values) in attribution.metadata_keys.iter().zip(&mut value_ids) {
            let v = r.metadata(k).unwrap_or_default();
            let n = values.len() as u32;
            ids.push(*values.entry(v).or_insert(n));
        }
        let tuple = match tuple_ids.get(ids.as_slice()) {
            Some(&t) => t,
            None => {
                let t = tuples.len() as u32;
                tuple_ids.insert(ids.clone(), t);
                let values = attribution
                    .metadata_keys
                    .iter()
                    .map(|k| r.metadata(k).unwrap_or_default().to_string())
                    .collect();
                tuples.push(values);
                t
            }
        };
        let minute = metric_time(r.timestamp, *ingested_at, now).minute();
        let metric_caller = if metrics.caller_dimensions {
            caller
        } else {
            u32::MAX
        };
        let gkey = (minute.0, model, metric_caller, tuple);
        let g = *group_ids.entry(gkey).or_insert_with(|| {
            groups.push((gkey, Usage::default(), Money::ZERO, 0));
            groups.len() - 1
        });
        let (_, usage, sum, n_unpriced) = &mut groups[g];
        usage.add(&Usage::of_record(r));
        *sum += *cost.as_ref().unwrap_or(&Money::ZERO);
        *n_unpriced += unpriced;
        match index.entry((r.timestamp.minute().0, model, caller)) {
            Entry::Vacant(v) => {
                v.insert(out.observations.len());
                out.observations.push(Observation::with_overrides(
                    r.timestamp,
                    res,
                    Some(callers[caller as usize]),
                    cost,
                    r.tokens,
                    overrides[model as usize],
                ));
            }
            Entry::Occupied(o) => merge_record(
                &mut out.observations[*o.get()],
                r.timestamp,
                &cost,
                &r.tokens,
            ),
        }
    }
    // The aggregator's ids of each model's team, app and model name, of each caller (callers as a
    // dimension) or the empty string (not), and of each metadata tuple: each interned once per batch.
    let model_strings: Vec<[u32; 3]> = models
        .iter()
        .map(|res| {
            [
                agg.intern(&res.team),
                agg.intern(&res.app),
                agg.intern(&res.model),
            ]
        })
        .collect();
    let no_caller = agg.intern("");
    let caller_strings: Vec<u32> = if metrics.caller_dimensions {
        callers.iter().map(|c| agg.intern(c)).collect()
    } else {
        Vec::new()
    };
    let tuple_at: Vec<u32> = tuples.iter().map(|t| agg.intern_metadata(t)).collect();
    for ((minute, model, caller, tuple), usage, cost, unpriced) in &groups {
        agg.add_interned(
            Timestamp(*minute),
            model_strings[*model as usize],
            caller_strings
                .get(*caller as usize)
                .copied()
                .unwrap_or(no_caller),
            tuple_at[*tuple as usize],
            *usage,
            *cost,
            *unpriced,
        );
    }
    out.datums = agg.datums();
    out
}

/// Adds one record to an observation, as merging `Observation::new` of the record would.
fn merge_record(o: &mut Observation, at: Timestamp, cost: &Result<Money, Unpriced>, u: &Tokens) {
    o.at = o.at.max(at);
    o.cost += *cost.as_ref().unwrap_or(&Money::ZERO);
    o.unpriced |= cost.is_err();
    o.requests += 1;
    o.tokens.add(u);
}

/// CloudWatch accepts datapoints from two weeks in the past to two hours in the future; a request with
/// one datum outside that range fails whole. Margins keep clear of both edges.
const METRIC_MAX_AGE_SECS: i64 = 14 * 86_400 - 3_600;
const METRIC_MAX_AHEAD_SECS: i64 = 2 * 3_600 - 300;

/// The minute a record's metrics are put at: its own timestamp when CloudWatch accepts it, else the
/// time its log event was ingested, else `now` (so one record with a wild clock cannot make every retry
/// of its batch fail).
fn metric_time(record: Timestamp, ingested: Timestamp, now: Timestamp) -> Timestamp {
    let ok =
        |t: Timestamp| t.0 >= now.0 - METRIC_MAX_AGE_SECS && t.0 <= now.0 + METRIC_MAX_AHEAD_SECS;
    [record, ingested]
        .into_iter()
        .find(|t| ok(*t))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::ProfileMap;
    use crate::live::metrics::Contribution;
    use crate::live::metrics::MALFORMED_RECORDS;
    use crate::records::subscription::{encode_data, Decoder, LogsData, DATA_MESSAGE};

    const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

    fn record(ts: &str, model: &str, caller: &str, input: u64, output: u64) -> String {
        format!(
            r#"{{"schemaType":"ModelInvocationLog","timestamp":"{ts}","modelId":"{model}","region":"us-east-1","identity":{{"arn":"{caller}"}},"input":{{"inputTokenCount":{input},"inputBodyJson":{{"messages":[{{"content":[{{"text":"say \"hi\""}}]}}]}}}},"output":{{"outputTokenCount":{output}}}}}"#
        )
    }

    /// The messages, through a real subscription payload and the decoder (so they arrive escaped).
    fn decoded<'d>(messages: &[String], dec: &'d mut Decoder) -> LogsData<'d> {
        let data = LogsData {
            message_type: DATA_MESSAGE,
            log_events: messages
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: "1",
                    timestamp: 1_795_600_000_000 + i as i64,
                    message: m.as_str().into(),
                })
                .collect(),
            ..LogsData::default()
        };
        dec.decode_data(&encode_data(&data)).unwrap()
    }

    #[test]
    fn bad_records_are_counted_by_kind_and_never_take_their_neighbours_down() {
        let msgs = vec![
            record(
                "2026-11-25T10:00:05Z",
                HAIKU,
                "arn:aws:iam::1:user/a",
                10,
                2,
            ),
            "{\"timestamp\":\"2026-11-25T10:00:06Z\",\"modelId\":".to_string(),
            r#"{"schemaType":"Other","timestamp":"2026-11-25T10:00:07Z","modelId":"m"}"#.into(),
            record(
                "2026-11-25T10:00:08Z",
                HAIKU,
                "arn:aws:iam::1:user/b",
                20,
                4,
            ),
        ];
        let mut dec = Decoder::new();
        let logs = decoded(&msgs, &mut dec);
        let p = parse_events(&logs.log_events);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[1].tokens.input, 20);
        assert_eq!(p.ingested[1], Timestamp::from_millis(1_795_600_000_003));
        let kinds: Vec<(&str, u64)> = p.malformed.iter().map(|(k, n)| (*k, *n)).collect();
        assert_eq!(kinds, vec![("invalid_json", 1), ("other_schema", 1)]);
        assert_eq!(p.malformed_at.len(), 2);
    }

    #[test]
    fn a_message_with_bad_escapes_is_one_malformed_record_not_a_failed_payload() {
        let good = record(
            "2026-11-25T10:00:05Z",
            HAIKU,
            "arn:aws:iam::1:user/a",
            10,
            2,
        );
        let good_json = serde_json::Value::String(good.clone()).to_string();
        // `\x` is no JSON escape; `\ud800` alone is half a surrogate pair.
        let payload = format!(
            r#"{{"messageType":"DATA_MESSAGE","logEvents":[{{"id":"1","timestamp":1,"message":{good_json}}},{{"id":"2","timestamp":2,"message":"{{\"modelId\":\"m\x\"}}"}},{{"id":"3","timestamp":3,"message":"{{\"a\":\"\ud800\"}}"}},{{"id":"4","timestamp":4,"message":{good_json}}}]}}"#
        );
        let mut dec = Decoder::new();
        let logs = dec.decode_json(payload.as_bytes()).unwrap();
        assert_eq!(logs.log_events.len(), 4);
        let p = parse_events(&logs.log_events);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[1].tokens.input, 10);
        assert_eq!(p.malformed.get("invalid_json"), Some(&2));
    }

    #[test]
    fn aggregate_prices_each_record_and_merges_observations_per_minute_app_caller_model() {
        let a = "arn:aws:iam::1:user/a";
        let msgs = vec![
            record("2026-11-25T10:00:05Z", HAIKU, a, 1000, 200),
            record("2026-11-25T10:00:50Z", HAIKU, a, 3000, 400),
            record(
                "2026-11-25T10:00:20Z",
                HAIKU,
                "arn:aws:iam::1:user/b",
                10,
                1,
            ),
            record("2026-11-25T10:00:30Z", "vendor.no-such-model-v9", a, 5, 5),
            // The same model from another Region, and a long-context Sonnet 4.5 call.
            record("2026-11-25T10:00:40Z", HAIKU, "arn:aws:iam::1:user/c", 7, 7)
                .replace("us-east-1", "eu-west-1"),
            record(
                "2026-11-25T10:00:45Z",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "arn:aws:iam::1:user/c",
                250_000,
                10,
            ),
            record(
                "2026-11-25T10:00:46Z",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "arn:aws:iam::1:user/c",
                1_000,
                10,
            ),
            "not json".to_string(),
        ];
        let mut dec = Decoder::new();
        let logs = decoded(&msgs, &mut dec);
        let parsed = parse_events(&logs.log_events);
        let ids = parsed.model_ids();
        assert_eq!(ids.len(), 3);
        assert!(application_profiles(ids.iter().copied()).is_empty());
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let resolutions = resolve_all(&ids, &ProfileMap::default(), &cfg);
        let now = Timestamp::parse_iso8601("2026-11-25T10:05:00Z").unwrap();
        let agg = aggregate(
            &parsed,
            &resolutions,
            &prices,
            &cfg,
            &MetricsConfig::default(),
            now,
        );
        assert_eq!(agg.unpriced_requests, 1);
        assert_eq!(agg.unresolved_records, 0);
        // (10:00, unattributed, a, haiku) twice, (…, b, haiku), (…, a, unknown model), (…, c, haiku),
        // (…, c, sonnet) twice.
        assert_eq!(agg.observations.len(), 5);
        let merged = agg
            .observations
            .iter()
            .find(|o| o.caller == a && o.requests == 2)
            .expect("a's two haiku calls in one observation");
        let each: Money = parsed.records[..2]
            .iter()
            .map(|r| cost_of(r, &resolutions[r.model_id.as_ref()], &prices).unwrap())
            .sum();
        assert!(each > Money::ZERO);
        assert_eq!(merged.cost, each);
        assert_eq!((merged.tokens.input, merged.tokens.output), (4000, 600));
        assert_eq!(
            merged.at,
            Timestamp::parse_iso8601("2026-11-25T10:00:50Z").unwrap()
        );
        // Every record at the rates `cost_of` gives it (the aggregate caches rates per call shape).
        let total: Money = agg.observations.iter().map(|o| o.cost).sum();
        let expected: Money = parsed
            .records
            .iter()
            .filter_map(|r| cost_of(r, &resolutions[r.model_id.as_ref()], &prices).ok())
            .sum();
        assert_eq!(total, expected);
        let unknown = agg.observations.iter().find(|o| o.unpriced).unwrap();
        assert_eq!((unknown.requests, unknown.cost), (1, Money::ZERO));
        // The unreadable record is a MalformedRecords datum; the rest are per-team series.
        let malformed: f64 = agg
            .datums
            .iter()
            .filter(|d| d.metric == MALFORMED_RECORDS)
            .map(|d| d.value)
            .sum();
        assert_eq!(malformed, 1.0);
        assert!(agg.datums.len() > 1);
    }

    #[test]
    fn the_rate_cache_keeps_service_tiers_apart() {
        // The same model, Region and caller: a default call, then a flex one (no flex rate: unpriced,
        // never the standard rate the cache already holds), then default again.
        let a = "arn:aws:iam::1:user/a";
        let flex = |r: String| {
            r.replace(
                r#""inputBodyJson":{"#,
                r#""inputBodyJson":{"serviceTier":{"type":"flex"},"#,
            )
        };
        let msgs = vec![
            record("2026-11-25T10:00:05Z", HAIKU, a, 1_000_000, 0),
            flex(record("2026-11-25T10:00:06Z", HAIKU, a, 1_000_000, 0)),
            record("2026-11-25T10:00:07Z", HAIKU, a, 1_000_000, 0),
        ];
        assert!(msgs[1].contains("\"type\":\"flex\""));
        let mut dec = Decoder::new();
        let logs = decoded(&msgs, &mut dec);
        let parsed = parse_events(&logs.log_events);
        assert_eq!(parsed.records[1].service_tier.as_deref(), Some("flex"));
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let ids = parsed.model_ids();
        let resolutions = resolve_all(&ids, &ProfileMap::default(), &cfg);
        let now = Timestamp::parse_iso8601("2026-11-25T10:05:00Z").unwrap();
        let agg = aggregate(
            &parsed,
            &resolutions,
            &prices,
            &cfg,
            &MetricsConfig::default(),
            now,
        );
        assert_eq!(agg.unpriced_requests, 1);
        // Two default calls at the us. Haiku 4.5 rate: 2 × 1M × 1.10.
        let total: Money = agg.observations.iter().map(|o| o.cost).sum();
        assert_eq!(total, Money::from_usd_text("2.20").unwrap());
        assert_eq!(
            cost_of(&parsed.records[1], &resolutions[HAIKU], &prices),
            Err(Unpriced::NoRateForTier("flex".into()))
        );
    }

    /// The per-record aggregate's rate key: (logged `modelId`, source Region, prompt band, tier).
    type StrCallShape<'r> = (&'r str, &'r str, u8, Option<&'r str>);

    /// The aggregate as it was before ids: one metric contribution per record, keyed by strings. The
    /// reference the id-keyed [`aggregate`] must equal, datum for datum.
    fn aggregate_per_record(
        parsed: &Parsed<'_>,
        resolutions: &Resolutions<'_>,
        prices: &PriceTable,
        attribution: &AttributionConfig,
        metrics: &MetricsConfig,
        now: Timestamp,
    ) -> Aggregated {
        let mut out = Aggregated::default();
        let mut agg = MetricsAggregator::new(metrics.clone());
        for &at in &parsed.malformed_at {
            // At its log event's time when CloudWatch accepts it, else now (as for records).
            agg.add_malformed(metric_time(at, at, now), 1);
        }
        // Observations in the order their keys first appear in the batch (log order: deterministic without
        // a sort); the map holds each key's index. The detector's sums do not depend on the order; where
        // two profiles share an app tag but disagree on team or threshold tags, the last one it sees wins.
        let mut index: HashMap<(i64, &str, &str, &str), usize, FxBuild> = HashMap::default();
        // The rates of each (model, pool, source Region, long-context, tier) the batch prices: the price table's
        // lookup once per distinct call shape, not once per record.
        let mut rates: HashMap<StrCallShape<'_>, Result<&Rates, Unpriced>, FxBuild> =
            HashMap::default();
        // The configured metadata values of the current record; the Strings are reused.
        let mut metadata: Vec<String> = vec![String::new(); attribution.metadata_keys.len()];
        for (r, ingested_at) in parsed.records.iter().zip(&parsed.ingested) {
            let res = &resolutions[r.model_id.as_ref()];
            if res.team == UNRESOLVED {
                out.unresolved_records += 1;
            }
            let cost = match &res.base_model {
                Some(m) => {
                    let region = r.region.as_deref().filter(|s| !s.is_empty());
                    let band = prices.prompt_band(&r.tokens);
                    // The pool follows from the logged modelId, which `res` is the resolution of.
                    let logged_tier = r.service_tier.as_deref();
                    let key = (r.model_id.as_ref(), region.unwrap_or(""), band, logged_tier);
                    let found = rates.entry(key).or_insert_with(|| {
                        let tier = tier_of(logged_tier);
                        prices.rates_in_tier(m, &res.pool, region, band, &tier)
                    });
                    found.clone().and_then(|x| x.cost(&r.tokens))
                }
                None => Err(Unpriced::UnknownModel),
            };
            let unpriced = u64::from(cost.is_err());
            out.unpriced_requests += unpriced;
            let caller = attribution.principal.principal(r.caller_or_unknown());
            for (k, value) in attribution.metadata_keys.iter().zip(&mut metadata) {
                value.clear();
                value.push_str(r.metadata(k).unwrap_or_default());
            }
            agg.add(&Contribution {
                at: metric_time(r.timestamp, *ingested_at, now),
                team: &res.team,
                app: &res.app,
                model: &res.model,
                caller,
                metadata: &metadata,
                usage: Usage::of_record(r),
                cost: *cost.as_ref().unwrap_or(&Money::ZERO),
                unpriced,
            });
            let key = (
                r.timestamp.minute().0,
                res.app.as_str(),
                caller,
                r.model_id.as_ref(),
            );
            match index.entry(key) {
                Entry::Vacant(v) => {
                    v.insert(out.observations.len());
                    out.observations.push(Observation::new(
                        r.timestamp,
                        res,
                        Some(caller),
                        cost,
                        r.tokens,
                    ));
                }
                Entry::Occupied(o) => merge_record(
                    &mut out.observations[*o.get()],
                    r.timestamp,
                    &cost,
                    &r.tokens,
                ),
            }
        }
        out.datums = agg.datums();
        out
    }

    /// Generated batches: many models (priced, unpriced, an unknown application profile), callers,
    /// Regions, tiers, minutes (some outside what CloudWatch accepts), errors, more metadata values than
    /// the per-key cap, unreadable records.
    fn generated_batch(seed: u64, n: usize) -> Vec<String> {
        let mut rng = crate::test_support::Rng(seed);
        let mut next = |m: u64| rng.below(m);
        let models = [
            HAIKU,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "amazon.nova-lite-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/gone01",
            "vendor.no-such-model-v9",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/tagged01",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/tagged02",
            // The same model as HAIKU (the system profile's) called directly: another modelId with
            // the same team, app and model name.
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ];
        (0..n)
            .map(|i| {
                if next(50) == 0 {
                    return "{\"modelId\":".to_string();
                }
                let day = if next(40) == 0 {
                    "2020-01-01"
                } else {
                    "2026-11-25"
                };
                let ts = format!("{day}T10:{:02}:{:02}Z", next(6), next(60));
                let caller = match next(8) {
                    0 => String::new(),
                    // Sessions of a keep-session role (by default) stay apart; others collapse.
                    7 => format!(
                        "arn:aws:sts::1:assumed-role/AWSReservedSSO_Dev_1/u{}",
                        next(3)
                    ),
                    k => format!("arn:aws:sts::1:assumed-role/R{}/s{}", k % 3, next(4)),
                };
                let mut rec = record(
                    &ts,
                    models[next(models.len() as u64) as usize],
                    &caller,
                    next(300_000),
                    next(2_000),
                );
                if next(5) == 0 {
                    rec = rec.replace("us-east-1", "eu-west-1");
                }
                if next(7) == 0 {
                    rec = rec.replace(
                        r#""inputBodyJson":{"#,
                        r#""inputBodyJson":{"serviceTier":{"type":"flex"},"#,
                    );
                }
                if next(9) == 0 {
                    rec = rec.replace(
                        r#""region""#,
                        r#""errorCode":"ThrottlingException","region""#,
                    );
                }
                let tenant = format!("t{}", next(if i % 2 == 0 { 80 } else { 5 }));
                let md = match next(4) {
                    0 => String::new(),
                    1 => format!(r#""requestMetadata":{{"tenant":"{tenant}"}},"#),
                    _ => format!(
                        r#""requestMetadata":{{"tenant":"{tenant}","env":"e{}"}},"#,
                        next(3)
                    ),
                };
                rec.replacen(r#"{"schemaType""#, &format!(r#"{{{md}"schemaType""#), 1)
            })
            .collect()
    }

    /// Two application profiles with threshold tags of their own (one also with an invalid one).
    fn tagged_profiles() -> ProfileMap {
        let profile = |id: &str, app: &str, max_cost: &str, window: &str| {
            format!(
                r#"{{"inferenceProfileArn":"arn:aws:bedrock:us-east-1:1:application-inference-profile/{id}","inferenceProfileId":"{id}","models":[{{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}}],"type":"APPLICATION","tags":[{{"key":"app","value":"{app}"}},{{"key":"team","value":"t"}},{{"key":"meter:max-cost-usd","value":"{max_cost}"}},{{"key":"meter:window-minutes","value":"{window}"}}]}}"#
            )
        };
        ProfileMap::from_json(&format!(
            r#"{{"inferenceProfileSummaries":[{},{}]}}"#,
            profile("tagged01", "a1", "5", "10"),
            profile("tagged02", "a2", "7.5", "soon")
        ))
        .expect("profiles")
    }

    #[test]
    fn id_keyed_aggregate_equals_the_per_record_one() {
        let prices = PriceTable::embedded();
        let now = Timestamp::parse_iso8601("2026-11-25T10:30:00Z").unwrap();
        let mut compared = 0;
        for seed in 1..=6u64 {
            let msgs = generated_batch(0x9e37_79b9 * seed, 1_500);
            let mut dec = Decoder::new();
            let logs = decoded(&msgs, &mut dec);
            let parsed = parse_events(&logs.log_events);
            assert!(parsed.records.len() > 1_300 && !parsed.malformed.is_empty());
            for (callers, keys) in [
                (false, vec![]),
                (true, vec![]),
                (true, vec!["tenant".to_string(), "env".to_string()]),
                (false, vec!["env".to_string()]),
            ] {
                let attribution = AttributionConfig {
                    metadata_keys: keys.clone(),
                    ..AttributionConfig::default()
                };
                let metrics = MetricsConfig {
                    caller_dimensions: callers,
                    metadata_keys: keys,
                };
                let ids = parsed.model_ids();
                let resolutions = resolve_all(&ids, &tagged_profiles(), &attribution);
                // Two modelIds whose series are the same (one model, one app): two groups, one series.
                let names: HashSet<(&str, &str, &str)> = ids
                    .iter()
                    .map(|id| {
                        let r = &resolutions[*id];
                        (r.team.as_str(), r.app.as_str(), r.model.as_str())
                    })
                    .collect();
                assert!(names.len() < ids.len(), "{names:?}");
                let want = aggregate_per_record(
                    &parsed,
                    &resolutions,
                    &prices,
                    &attribution,
                    &metrics,
                    now,
                );
                let got = aggregate(&parsed, &resolutions, &prices, &attribution, &metrics, now);
                assert_eq!(got.datums, want.datums, "seed {seed}, {metrics:?}");
                assert_eq!(got.observations, want.observations);
                // Each profile's own thresholds, read once per batch, reach its observations
                // (tagged02's window tag is invalid: the default window).
                for (profile, cost, window) in
                    [("tagged01", "5", Some(10)), ("tagged02", "7.5", None)]
                {
                    assert!(got.observations.iter().any(|o| {
                        o.profile_arn
                            .as_deref()
                            .is_some_and(|a| a.ends_with(profile))
                            && o.overrides.max_cost == Money::from_usd_text(cost).ok()
                            && o.overrides.window_minutes == window
                    }));
                }
                assert_eq!(
                    (got.unpriced_requests, got.unresolved_records),
                    (want.unpriced_requests, want.unresolved_records)
                );
                assert!(want.unpriced_requests > 0 && want.unresolved_records > 0);
                if metrics.metadata_keys.len() == 2 {
                    // Past the per-key cap: the `other` bucket is exercised.
                    assert!(got
                        .datums
                        .iter()
                        .any(|d| d.dimensions.iter().any(|(_, v)| v == "other")));
                }
                compared += got.datums.len();
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    #[test]
    fn metric_times_stay_in_what_cloudwatch_accepts() {
        let now = Timestamp(1_800_000_000);
        let ok = Timestamp(now.0 - 3_600);
        assert_eq!(metric_time(ok, now, now), ok);
        let ancient = Timestamp(0);
        assert_eq!(metric_time(ancient, ok, now), ok);
        assert_eq!(metric_time(ancient, ancient, now), now);
        let future = Timestamp(now.0 + 86_400);
        assert_eq!(metric_time(future, ok, now), ok);
    }

    #[test]
    fn malformed_records_of_old_log_events_count_now() {
        // A log event older than CloudWatch's two weeks: its MalformedRecords datum is put at `now`,
        // never at a time that would make the whole PutMetricData request fail.
        let now = Timestamp(1_800_000_000);
        let data = LogsData {
            message_type: DATA_MESSAGE,
            owner: "1",
            log_group: "g",
            log_stream: "s",
            subscription_filters: vec![],
            log_events: vec![crate::records::subscription::LogEvent {
                id: "1",
                timestamp: 1_000_000_000_000,
                message: "not json".into(),
            }],
        };
        let parsed = parse_events(&data.log_events);
        let agg = aggregate(
            &parsed,
            &Resolutions::default(),
            &PriceTable::embedded(),
            &AttributionConfig::default(),
            &MetricsConfig::default(),
            now,
        );
        let d: Vec<_> = agg
            .datums
            .iter()
            .filter(|d| d.metric == MALFORMED_RECORDS)
            .collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].timestamp, now.minute());
    }

    /// A record whose body nests deeper than the scanner checks is still read and metered: a caller
    /// cannot make their usage disappear with a deeply nested prompt.
    #[test]
    fn a_deeply_nested_body_is_metered() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let rec = format!(
            r#"{{"timestamp":"2026-11-25T10:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{{"inputBodyJson":{deep},"inputTokenCount":5}},"output":{{"outputTokenCount":1}}}}"#
        );
        let events = vec![LogEvent {
            id: "1",
            timestamp: 1,
            message: rec.as_str().into(),
        }];
        let p = parse_events(&events);
        assert_eq!(p.records.len(), 1, "{:?}", p.malformed);
        assert_eq!(p.records[0].tokens.input, 5);
        // The same record in the escaped form the decoder leaves messages in.
        let data = LogsData {
            message_type: DATA_MESSAGE,
            owner: "1",
            log_group: "g",
            log_stream: "s",
            subscription_filters: vec![],
            log_events: events,
        };
        let mut dec = Decoder::new();
        let encoded = encode_data(&data);
        let d = dec.decode_data(&encoded).unwrap();
        let p = parse_events(&d.log_events);
        assert_eq!(p.records.len(), 1, "{:?}", p.malformed);
    }
}
