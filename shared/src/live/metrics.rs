//! Per-minute aggregation of priced, attributed usage into CloudWatch metric datums (pure).
//!
//! One datum per series and minute, never one per record: a series is a metric name plus one of the
//! dimension sets `[Team]`, `[Team, App]`, `[Team, App, Model]`, and — only when configured, because
//! every distinct series is billed as a custom metric — `[Team, App, Caller]` and `[Team, App, <key>]`
//! for each configured `requestMetadata` key. `MalformedRecords` has no team to attribute to: it is one
//! series without dimensions.
//!
//! Metrics: `Requests`, `Errors`, `InputTokens`, `OutputTokens`, `CacheReadTokens`, `CacheWriteTokens`,
//! `EstimatedCostUSD`, `UnpricedRequests`, `MalformedRecords`. Zero values are not sent (except
//! `Requests`, which is never zero for a series that exists): a series that is always zero — cache
//! tokens of a model without caching, errors of a healthy app — then never comes into existence and
//! costs nothing. Read them with the `Sum` statistic; a missing datapoint means zero.
//!
//! **Dimension values.** CloudWatch takes a dimension value only when it is 1–1,024 ASCII characters
//! with a non-whitespace character and no control characters; one bad value fails the whole request.
//! Values are sent unchanged when they qualify; otherwise [`sanitize_dimension`] maps them: ASCII
//! control characters are removed, accented Latin letters lose their accents (`É` → `E`, `ß` → `ss`),
//! other non-ASCII characters become `_`, a value left blank becomes `blank`, and — because two
//! different values could now read the same — a `~` and 8 hex digits of a hash of the original
//! value are appended (`Équipe` → `Equipe~1c5f4a20`), the value first cut so the whole stays within
//! the limit. An empty value is `none`. Dimension names (metadata keys) get the same treatment
//! (at most 255 characters).
//!
//! **Series per metadata key.** Every distinct value of a configured metadata key is a billed series
//! per team and app; within one batch at most [`MAX_METADATA_VALUES_PER_KEY`] distinct values per key
//! are published as themselves (the first ones the batch names) and the rest are summed into the
//! value `other`.
//!
//! [`chunks`](crate::ports::metrics::chunks) (in the metrics port) splits datums into `PutMetricData` requests within the API's limits (1,000 datums and
//! 1 MB of payload per request), estimating each datum's size in the Query-protocol form (the larger
//! of the two wire forms the SDK may use).

use crate::ports::metrics::{Datum, Dimensions, Unit};
use crate::text::ascii_fold;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::pricing::money::Money;
use crate::records::record::Usage;
use crate::time::Timestamp;

pub const DEFAULT_NAMESPACE: &str = "BedrockMeter";

pub const REQUESTS: &str = "Requests";
const ERRORS: &str = "Errors";
const INPUT_TOKENS: &str = "InputTokens";
const OUTPUT_TOKENS: &str = "OutputTokens";
const CACHE_READ_TOKENS: &str = "CacheReadTokens";
const CACHE_WRITE_TOKENS: &str = "CacheWriteTokens";
const ESTIMATED_COST_USD: &str = "EstimatedCostUSD";
const UNPRICED_REQUESTS: &str = "UnpricedRequests";
pub(crate) const MALFORMED_RECORDS: &str = "MalformedRecords";

pub const TEAM: &str = "Team";
pub const APP: &str = "App";
const MODEL: &str = "Model";
pub const CALLER: &str = "Caller";

/// CloudWatch allows 30 dimensions per metric; dimension values are at most 1024 characters, names
/// at most 255.
pub const MAX_DIMENSIONS: usize = 30;
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
const MAX_DIMENSION_NAME_CHARS: usize = 255;
/// Distinct values of one metadata key published per batch; the rest are summed into [`OTHER`].
const MAX_METADATA_VALUES_PER_KEY: usize = 50;
/// The value that sums a metadata key's values beyond [`MAX_METADATA_VALUES_PER_KEY`].
const OTHER: &str = "other";
/// The value of an empty dimension value, and of one that holds nothing but whitespace.
const EMPTY_VALUE: &str = "none";
const BLANK_VALUE: &str = "blank";

/// Which optional dimension sets are published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Adds `[Team, App, Caller]` (one series per caller: costs money per caller).
    pub caller_dimensions: bool,
    /// Adds `[Team, App, <key>]` per `requestMetadata` key (the record's value, `none` when absent).
    pub metadata_keys: Vec<String>,
}

/// One priced, attributed group of records (usually one record, or records with the same key).
#[derive(Clone, Copy, Debug)]
pub struct Contribution<'a> {
    pub at: Timestamp,
    pub team: &'a str,
    pub app: &'a str,
    pub model: &'a str,
    /// The caller: the principal of the logged identity ARN (`principal::PrincipalRule`, applied by
    /// `batch::aggregate`), so the `Caller` dimension names the same callers as every other path.
    pub caller: &'a str,
    /// Values of the configured metadata keys, in order (empty string when absent).
    pub metadata: &'a [String],
    pub usage: Usage,
    /// Cost of the priced requests in `usage`.
    pub cost: Money,
    /// Requests in `usage` that could not be priced.
    pub unpriced: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    usage: Usage,
    cost: Money,
    unpriced: u64,
}

impl Sums {
    fn add(&mut self, c: &Contribution<'_>) {
        self.usage.add(&c.usage);
        self.cost += c.cost;
        self.unpriced += c.unpriced;
    }

    fn merge(&mut self, o: &Sums) {
        self.usage.add(&o.usage);
        self.cost += o.cost;
        self.unpriced += o.unpriced;
    }
}

/// The key of a leaf group: everything any dimension set can look at. Its strings are interned in the
/// aggregator ([`Strings`]): a new leaf allocates nothing of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Leaf {
    minute: Timestamp,
    team: u32,
    app: u32,
    model: u32,
    caller: u32,
    /// Where the leaf's metadata value ids start in `MetricsAggregator::leaf_metadata` (one per
    /// configured key).
    metadata: u32,
}

/// Each distinct string of the leaves (team, app, model, caller, metadata value), stored once, with
/// the value CloudWatch gets for it, worked out once when the string is first seen.
#[derive(Clone, Debug, Default)]
struct Strings {
    ids: HashMap<String, u32, FxBuild>,
    all: Vec<String>,
    /// The sanitised form of each string that needs one ([`sanitize_dimension`]), by id.
    sanitized: Vec<Option<String>>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.all.len()).expect("fewer than 2^32 strings");
        self.ids.insert(s.to_string(), id);
        self.all.push(s.to_string());
        self.sanitized.push(if s.is_empty() {
            None
        } else {
            sanitize_dimension(s, MAX_DIMENSION_VALUE_CHARS)
        });
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.all[id as usize]
    }

    /// The value CloudWatch gets for string `id`: itself when valid, else its sanitised form;
    /// [`EMPTY_VALUE`] for the empty string.
    fn dim(&self, id: u32) -> &str {
        let v = self.get(id);
        if v.is_empty() {
            return EMPTY_VALUE;
        }
        self.sanitized[id as usize].as_deref().unwrap_or(v)
    }
}

/// A leaf key borrowed from a contribution: looked up without allocating; owned only when new.
struct LeafRef<'a> {
    minute: Timestamp,
    team: &'a str,
    app: &'a str,
    model: &'a str,
    caller: &'a str,
    metadata: &'a [String],
    /// How many metadata values the key has (the configured keys); missing ones are empty.
    n_metadata: usize,
}

impl LeafRef<'_> {
    fn metadata(&self, i: usize) -> &str {
        self.metadata.get(i).map_or("", String::as_str)
    }

    fn hash(&self) -> u64 {
        let mut h = FxHasher::default();
        h.write_u64(self.minute.0 as u64);
        for s in [self.team, self.app, self.model, self.caller] {
            h.write_str(s);
        }
        for i in 0..self.n_metadata {
            h.write_str(self.metadata(i));
        }
        h.finish()
    }

    fn matches(&self, leaf: &Leaf, strings: &Strings, metadata: &[u32]) -> bool {
        let values = &metadata[leaf.metadata as usize..][..self.n_metadata];
        leaf.minute == self.minute
            && strings.get(leaf.team) == self.team
            && strings.get(leaf.app) == self.app
            && strings.get(leaf.model) == self.model
            && strings.get(leaf.caller) == self.caller
            && values
                .iter()
                .enumerate()
                .all(|(i, &v)| strings.get(v) == self.metadata(i))
    }

    /// The leaf of this key, its strings interned and its metadata value ids appended to `metadata`.
    fn to_leaf(&self, strings: &mut Strings, metadata: &mut Vec<u32>) -> Leaf {
        let start = u32::try_from(metadata.len()).expect("fewer than 2^32 metadata values");
        for i in 0..self.n_metadata {
            metadata.push(strings.id(self.metadata(i)));
        }
        Leaf {
            minute: self.minute,
            team: strings.id(self.team),
            app: strings.id(self.app),
            model: strings.id(self.model),
            caller: strings.id(self.caller),
            metadata: start,
        }
    }
}

/// A small, fast, non-cryptographic hasher (the Fx word hash with a final mix) for in-process maps
/// keyed by one batch's strings (the aggregator's, the ingest handler's): no HashDoS resistance, so
/// not for maps whose size an attacker controls beyond one batch.
#[derive(Clone, Copy, Default)]
pub struct FxHasher(u64);

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
    }

    /// A string, length-terminated so that ("ab", "c") and ("a", "bc") differ.
    #[inline]
    fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes());
        self.word(s.len() as u64);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.word(n);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Spread the high bits (the multiply leaves them best mixed) into the low ones too.
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(FX_K).rotate_left(26)
    }
}

/// [`FxHasher`] for `HashMap`/`HashSet`.
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// No entry in `MetricsAggregator::next`.
const NONE: u32 = u32::MAX;

/// The metrics of a series: name, value, unit, and whether it is sent when zero.
#[allow(clippy::type_complexity)]
const SERIES_METRICS: [(&str, fn(&Sums) -> f64, Unit, bool); 8] = [
    (REQUESTS, |s| s.usage.requests as f64, Unit::Count, true),
    (ERRORS, |s| s.usage.errors as f64, Unit::Count, false),
    (
        INPUT_TOKENS,
        |s| s.usage.tokens.input as f64,
        Unit::Count,
        false,
    ),
    (
        OUTPUT_TOKENS,
        |s| s.usage.tokens.output as f64,
        Unit::Count,
        false,
    ),
    (
        CACHE_READ_TOKENS,
        |s| s.usage.tokens.cache_read as f64,
        Unit::Count,
        false,
    ),
    (
        CACHE_WRITE_TOKENS,
        |s| s.usage.tokens.cache_write as f64,
        Unit::Count,
        false,
    ),
    (ESTIMATED_COST_USD, |s| usd_value(s.cost), Unit::None, false),
    (UNPRICED_REQUESTS, |s| s.unpriced as f64, Unit::Count, false),
];

/// Sums contributions per minute, then expands them into datums per dimension set.
#[derive(Clone, Debug, Default)]
pub struct MetricsAggregator {
    cfg: MetricsConfig,
    /// Every leaf group, in order of first contribution.
    leaves: Vec<(Leaf, Sums)>,
    /// The leaves' strings, each once.
    strings: Strings,
    /// The leaves' metadata value ids, one per configured key per leaf (`Leaf::metadata` indexes it).
    leaf_metadata: Vec<u32>,
    /// Hash of a leaf key → index of the most recent leaf with that hash; `next` chains the others.
    index: HashMap<u64, u32, FxBuild>,
    next: Vec<u32>,
    malformed: BTreeMap<Timestamp, u64>,
    /// The metadata keys as dimension names (sanitised like values).
    key_names: Vec<String>,
}

impl MetricsAggregator {
    pub fn new(cfg: MetricsConfig) -> MetricsAggregator {
        let key_names = cfg
            .metadata_keys
            .iter()
            .map(|k| sanitize_dimension(k, MAX_DIMENSION_NAME_CHARS).unwrap_or_else(|| k.clone()))
            .collect();
        MetricsAggregator {
            cfg,
            key_names,
            ..Default::default()
        }
    }

    /// A leaf's metadata value ids, one per configured key.
    fn metadata_of(&self, leaf: &Leaf) -> &[u32] {
        &self.leaf_metadata[leaf.metadata as usize..][..self.cfg.metadata_keys.len()]
    }

    pub fn add(&mut self, c: &Contribution<'_>) {
        let key = LeafRef {
            minute: c.at.minute(),
            team: c.team,
            app: c.app,
            model: c.model,
            caller: if self.cfg.caller_dimensions {
                c.caller
            } else {
                ""
            },
            metadata: c.metadata,
            n_metadata: self.cfg.metadata_keys.len(),
        };
        let h = key.hash();
        let head = self.index.get(&h).copied().unwrap_or(NONE);
        let mut i = head;
        while i != NONE {
            let (leaf, sums) = &mut self.leaves[i as usize];
            if key.matches(leaf, &self.strings, &self.leaf_metadata) {
                sums.add(c);
                return;
            }
            i = self.next[i as usize];
        }
        let new = u32::try_from(self.leaves.len()).expect("fewer than 2^32 leaves");
        let mut sums = Sums::default();
        sums.add(c);
        let leaf = key.to_leaf(&mut self.strings, &mut self.leaf_metadata);
        self.leaves.push((leaf, sums));
        self.next.push(head);
        self.index.insert(h, new);
    }

    /// Counts records that could not be read, at the time their log event was ingested.
    pub fn add_malformed(&mut self, at: Timestamp, n: u64) {
        *self.malformed.entry(at.minute()).or_default() += n;
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty() && self.malformed.is_empty()
    }

    /// The id of string `s` among the aggregator's strings, for [`Self::add_interned`].
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        self.strings.id(s)
    }

    /// One tuple of metadata values (one per configured key, in order; missing ones empty) stored once,
    /// for [`Self::add_interned`]: where its value ids start.
    pub(crate) fn intern_metadata(&mut self, values: &[String]) -> u32 {
        let start =
            u32::try_from(self.leaf_metadata.len()).expect("fewer than 2^32 metadata values");
        for i in 0..self.cfg.metadata_keys.len() {
            let id = self.strings.id(values.get(i).map_or("", String::as_str));
            self.leaf_metadata.push(id);
        }
        start
    }

    /// Adds a group its caller has keyed itself (the live batch groups records by minute, modelId,
    /// caller and metadata tuple), its strings interned once per batch by [`Self::intern`] (`caller`:
    /// the empty string's id unless callers are a dimension) and its tuple by
    /// [`Self::intern_metadata`], instead of hashing and comparing them per contribution as
    /// [`Self::add`] does. No lookup: two groups with the same strings (two modelIds of one model and
    /// app) are two leaves, which [`Self::datums`] sums into the same series, as it sums the leaves of
    /// every minute into their dimension sets — the same datums as [`Self::add`] gives.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_interned(
        &mut self,
        minute: Timestamp,
        [team, app, model]: [u32; 3],
        caller: u32,
        metadata: u32,
        usage: Usage,
        cost: Money,
        unpriced: u64,
    ) {
        let leaf = Leaf {
            minute: minute.minute(),
            team,
            app,
            model,
            caller,
            metadata,
        };
        self.leaves.push((
            leaf,
            Sums {
                usage,
                cost,
                unpriced,
            },
        ));
    }

    /// Every datum, one per series and minute, in a stable order (minute, metric, dimensions).
    pub fn datums<'s>(&'s self) -> Vec<Datum> {
        // Series are keyed by interned dimension strings (names and values as CloudWatch gets them):
        // a key is the minute and up to three (name, value) pairs of small ids, hashed and compared as
        // integers. Each id is then replaced by its string's rank in byte order, so sorting the keys as
        // integers orders the series exactly as sorting their strings would.
        type Key = (Timestamp, [u32; 6], u8);
        let mut interned: HashMap<&str, u32, FxBuild> = HashMap::default();
        let mut strings: Vec<&str> = Vec::new();
        let mut intern = |s: &'s str| -> u32 {
            *interned.entry(s).or_insert_with(|| {
                strings.push(s);
                (strings.len() - 1) as u32
            })
        };
        // The names, and each leaf string's value as CloudWatch gets it, interned once.
        let [team_n, app_n, model_n, caller_n, other] =
            [TEAM, APP, MODEL, CALLER, OTHER].map(&mut intern);
        let key_n: Vec<u32> = self.key_names.iter().map(|k| intern(k)).collect();
        let values: Vec<u32> = (0..self.strings.all.len() as u32)
            .map(|id| intern(self.strings.dim(id)))
            .collect();
        // Per metadata key, the values that keep their own series: the first
        // MAX_METADATA_VALUES_PER_KEY distinct ones in leaf order (as `kept_metadata_values`).
        let mut kept: Vec<HashSet<u32, FxBuild>> =
            vec![HashSet::default(); self.cfg.metadata_keys.len()];
        for (leaf, _) in &self.leaves {
            for (set, &v) in kept.iter_mut().zip(self.metadata_of(leaf)) {
                if set.len() < MAX_METADATA_VALUES_PER_KEY {
                    set.insert(values[v as usize]);
                }
            }
        }
        // The dimension sets of each leaf (as `dimension_sets`), as ids.
        let mut by_key: HashMap<Key, Sums, FxBuild> = HashMap::default();
        for (leaf, sums) in &self.leaves {
            let (team, app) = (values[leaf.team as usize], values[leaf.app as usize]);
            let mut add = |ids: [u32; 6], len: u8| {
                by_key
                    .entry((leaf.minute, ids, len))
                    .or_default()
                    .merge(sums);
            };
            add([team_n, team, 0, 0, 0, 0], 1);
            add([team_n, team, app_n, app, 0, 0], 2);
            add(
                [
                    team_n,
                    team,
                    app_n,
                    app,
                    model_n,
                    values[leaf.model as usize],
                ],
                3,
            );
            if self.cfg.caller_dimensions {
                add(
                    [
                        team_n,
                        team,
                        app_n,
                        app,
                        caller_n,
                        values[leaf.caller as usize],
                    ],
                    3,
                );
            }
            for ((&name, &v), kept) in key_n.iter().zip(self.metadata_of(leaf)).zip(&kept) {
                let v = values[v as usize];
                let v = if kept.contains(&v) { v } else { other };
                add([team_n, team, app_n, app, name, v], 3);
            }
        }
        let mut order: Vec<u32> = (0..strings.len() as u32).collect();
        order.sort_unstable_by_key(|&i| strings[i as usize]);
        let mut rank = vec![0u32; strings.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let mut series: Vec<(Key, Sums)> = by_key
            .into_iter()
            .map(|((minute, ids, len), sums)| {
                let mut ranks = [0u32; 6];
                for (r, &id) in ranks.iter_mut().zip(&ids[..2 * len as usize]) {
                    *r = rank[id as usize];
                }
                ((minute, ranks, len), sums)
            })
            .collect();
        // (name, value) pairs compare as their flattened sequence does, the shorter prefix first.
        series.sort_unstable_by(|((ma, a, la), _), ((mb, b, lb), _)| {
            ma.cmp(mb)
                .then_with(|| a[..2 * *la as usize].cmp(&b[..2 * *lb as usize]))
        });
        let mut metrics = SERIES_METRICS.map(|m| m.0).to_vec();
        metrics.push(MALFORMED_RECORDS);
        metrics.sort_unstable();
        let mut minutes: Vec<Timestamp> = series.iter().map(|((m, _, _), _)| *m).collect();
        minutes.extend(self.malformed.keys().copied());
        minutes.sort_unstable();
        minutes.dedup();
        // Each dimension set owned once, shared by the datums of every series (minute) that has it.
        let mut sets_owned: HashMap<([u32; 6], u8), Dimensions, FxBuild> = HashMap::default();
        let owned: Vec<Dimensions> = series
            .iter()
            .map(|((_, ranks, len), _)| {
                sets_owned
                    .entry((*ranks, *len))
                    .or_insert_with(|| {
                        ranks[..2 * *len as usize]
                            .chunks_exact(2)
                            .map(|p| {
                                let name = strings[order[p[0] as usize] as usize];
                                let value = strings[order[p[1] as usize] as usize];
                                (name.to_string(), value.to_string())
                            })
                            .collect()
                    })
                    .clone()
            })
            .collect();
        let mut out = Vec::with_capacity(series.len() * 4 + self.malformed.len());
        let mut start = 0;
        for minute in minutes {
            let end = start + series[start..].partition_point(|((m, _, _), _)| *m <= minute);
            let group = &series[start..end];
            let group_dims = &owned[start..end];
            start = end;
            for &metric in &metrics {
                if metric == MALFORMED_RECORDS {
                    if let Some(n) = self.malformed.get(&minute) {
                        out.push(Datum {
                            metric: MALFORMED_RECORDS,
                            dimensions: Dimensions::default(),
                            timestamp: minute,
                            value: *n as f64,
                            unit: Unit::Count,
                        });
                    }
                    continue;
                }
                let (_, value_of, unit, always) = SERIES_METRICS
                    .iter()
                    .find(|m| m.0 == metric)
                    .expect("a series metric");
                for ((_, sums), dims) in group.iter().zip(group_dims) {
                    let value = value_of(sums);
                    if *always || value != 0.0 {
                        out.push(Datum {
                            metric,
                            dimensions: dims.clone(),
                            timestamp: minute,
                            value,
                            unit: *unit,
                        });
                    }
                }
            }
        }
        out
    }

    /// Per metadata key, the (published) values that keep their own series: the first
    /// [`MAX_METADATA_VALUES_PER_KEY`] distinct ones in the order the batch named them. (The tests'
    /// reference; [`Self::datums`] does the same on interned ids.)
    #[cfg(test)]
    fn kept_metadata_values(&self) -> Vec<HashSet<&str, FxBuild>> {
        let mut kept: Vec<HashSet<&str, FxBuild>> =
            vec![HashSet::default(); self.cfg.metadata_keys.len()];
        for (leaf, _) in &self.leaves {
            for (set, &value) in kept.iter_mut().zip(self.metadata_of(leaf)) {
                if set.len() < MAX_METADATA_VALUES_PER_KEY {
                    set.insert(self.strings.dim(value));
                }
            }
        }
        kept
    }

    /// The dimension sets of a leaf, as borrowed (name, value) pairs (values as CloudWatch takes
    /// them, metadata values beyond the per-key cap as [`OTHER`]).
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    fn dimension_sets<'a>(
        &'a self,
        leaf: &'a Leaf,
        kept: &[HashSet<&str, FxBuild>],
        sets: &mut Vec<([(&'a str, &'a str); 3], u8)>,
    ) {
        let s = |id: u32| self.strings.dim(id);
        let team = (TEAM, s(leaf.team));
        let app = (APP, s(leaf.app));
        let none = ("", "");
        sets.push(([team, none, none], 1));
        sets.push(([team, app, none], 2));
        sets.push(([team, app, (MODEL, s(leaf.model))], 3));
        if self.cfg.caller_dimensions {
            sets.push(([team, app, (CALLER, s(leaf.caller))], 3));
        }
        for ((key, &value), kept) in self.key_names.iter().zip(self.metadata_of(leaf)).zip(kept) {
            let v = s(value);
            let v = if kept.contains(v) { v } else { OTHER };
            sets.push(([team, app, (key.as_str(), v)], 3));
        }
    }
}

/// Whether CloudWatch takes `v` as a dimension value (or name, with `max` 255) as it is.
fn is_valid_dimension(v: &str, max: usize) -> bool {
    !v.is_empty()
        && v.len() <= max
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && v.bytes().any(|b| b != b' ')
}

/// 32-bit FNV-1a: a stable hash (the same in every process and release) for the collision suffix.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The form CloudWatch accepts of a dimension value (or name: `max` 255) that it would refuse as it
/// is; `None` when `v` is valid already. See the module documentation for the mapping.
fn sanitize_dimension(v: &str, max: usize) -> Option<String> {
    if v.is_empty() {
        return Some(EMPTY_VALUE.into());
    }
    if is_valid_dimension(v, max) {
        return None;
    }
    let mut out = String::with_capacity(v.len().min(max));
    for c in v.chars() {
        if c.is_ascii() {
            if !c.is_ascii_control() {
                out.push(c);
            }
        } else if let Some(f) = ascii_fold(c) {
            out.push_str(f);
        } else if c.is_whitespace() {
            out.push(' ');
        } else if !c.is_control() {
            out.push('_');
        }
        if out.len() > max {
            break;
        }
    }
    if out.bytes().all(|b| b == b' ') {
        out = BLANK_VALUE.into();
    }
    let suffix = format!("~{:08x}", fnv1a(v));
    out.truncate(max - suffix.len()); // ASCII: bytes are characters
    out.push_str(&suffix);
    Some(out)
}

/// USD as a CloudWatch value: the exact amount rounded to nine decimals, then to the nearest `f64`.
///
/// Below 2^53 nano-dollars (about $9 million) both the count and 10^9 are exact `f64`s, and IEEE
/// division rounds their exact quotient to the nearest `f64`, as parsing the decimal text does; above
/// it, the text is parsed.
fn usd_value(m: Money) -> f64 {
    let nano = m.rounded(9);
    if nano.unsigned_abs() < 1 << 53 {
        nano as f64 / 1e9
    } else {
        m.to_decimal_string(9).parse().unwrap_or(m.as_f64())
    }
}

/// A dimension value CloudWatch accepts: `v` itself when valid, else [`sanitize_dimension`]'s form.
pub fn dimension_value(v: &str) -> String {
    sanitize_dimension(v, MAX_DIMENSION_VALUE_CHARS).unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::Tokens;

    fn usd(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }

    fn c<'a>(
        at: i64,
        team: &'a str,
        app: &'a str,
        model: &'a str,
        caller: &'a str,
        tokens: Tokens,
        cost: &str,
    ) -> Contribution<'a> {
        Contribution {
            at: Timestamp(at),
            team,
            app,
            model,
            caller,
            metadata: &[],
            usage: Usage {
                requests: 1,
                errors: 0,
                tokens,
            },
            cost: usd(cost),
            unpriced: 0,
        }
    }

    fn find<'d>(
        ds: &'d [Datum],
        metric: &str,
        dims: &[(&str, &str)],
        at: i64,
    ) -> Option<&'d Datum> {
        ds.iter().find(|d| {
            d.metric == metric
                && d.timestamp == Timestamp(at)
                && d.dimensions.len() == dims.len()
                && d.dimensions
                    .iter()
                    .zip(dims)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        })
    }

    #[test]
    fn one_datum_per_series_and_minute() {
        let t = |i, o, cr, cw| Tokens {
            input: i,
            output: o,
            cache_read: cr,
            cache_write: cw,
            cache_write_1h: 0,
        };
        let mut agg = MetricsAggregator::new(MetricsConfig::default());
        let base = 1_764_064_800; // a whole minute
        agg.add(&c(
            base + 5,
            "platform",
            "ops-agent",
            "m1",
            "u1",
            t(10, 20, 0, 0),
            "0.5",
        ));
        agg.add(&c(
            base + 59,
            "platform",
            "ops-agent",
            "m1",
            "u2",
            t(1, 2, 3, 0),
            "0.25",
        ));
        agg.add(&c(
            base + 30,
            "platform",
            "ops-agent",
            "m2",
            "u1",
            t(5, 0, 0, 7),
            "1",
        ));
        agg.add(&c(
            base + 61,
            "platform",
            "search",
            "m1",
            "u1",
            t(1, 1, 0, 0),
            "0.125",
        ));
        let mut unpriced = c(base + 2, "cx", "bot", "weird", "u3", t(4, 4, 0, 0), "0");
        unpriced.unpriced = 1;
        unpriced.usage.errors = 1;
        agg.add(&unpriced);
        agg.add_malformed(Timestamp(base + 10), 2);
        agg.add_malformed(Timestamp(base + 20), 1);
        let ds = agg.datums();
        let team = find(&ds, REQUESTS, &[(TEAM, "platform")], base).unwrap();
        assert_eq!(team.value, 3.0);
        let cost = find(&ds, ESTIMATED_COST_USD, &[(TEAM, "platform")], base).unwrap();
        assert_eq!(cost.value, 1.75);
        assert_eq!(
            find(
                &ds,
                INPUT_TOKENS,
                &[(TEAM, "platform"), (APP, "ops-agent")],
                base
            )
            .unwrap()
            .value,
            16.0
        );
        assert_eq!(
            find(
                &ds,
                CACHE_WRITE_TOKENS,
                &[(TEAM, "platform"), (APP, "ops-agent"), (MODEL, "m2")],
                base
            )
            .unwrap()
            .value,
            7.0
        );
        assert!(
            find(
                &ds,
                CACHE_WRITE_TOKENS,
                &[(TEAM, "platform"), (APP, "ops-agent"), (MODEL, "m1")],
                base
            )
            .is_none(),
            "zeros are not sent"
        );
        assert_eq!(
            find(&ds, REQUESTS, &[(TEAM, "platform")], base + 60)
                .unwrap()
                .value,
            1.0
        );
        assert_eq!(
            find(&ds, UNPRICED_REQUESTS, &[(TEAM, "cx")], base)
                .unwrap()
                .value,
            1.0
        );
        assert_eq!(find(&ds, ERRORS, &[(TEAM, "cx")], base).unwrap().value, 1.0);
        assert!(find(&ds, ESTIMATED_COST_USD, &[(TEAM, "cx")], base).is_none());
        assert_eq!(find(&ds, MALFORMED_RECORDS, &[], base).unwrap().value, 3.0);
        // Unique (metric, dims, minute).
        let mut keys: Vec<_> = ds
            .iter()
            .map(|d| (d.metric, d.dimensions.clone(), d.timestamp))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
        assert!(ds
            .iter()
            .all(|d| !d.dimensions.iter().any(|(k, _)| k == CALLER)));
    }

    #[test]
    fn optional_dimension_sets() {
        let mut agg = MetricsAggregator::new(MetricsConfig {
            caller_dimensions: true,
            metadata_keys: vec!["tenant".into()],
        });
        let md = vec!["acme".to_string()];
        let mut x = c(
            0,
            "t",
            "a",
            "m",
            "arn:aws:sts::1:assumed-role/Worker",
            Tokens::default(),
            "0",
        );
        x.metadata = &md;
        agg.add(&x);
        x.caller = "arn:aws:sts::1:assumed-role/Worker";
        x.metadata = &[];
        agg.add(&x);
        let ds = agg.datums();
        assert_eq!(
            find(
                &ds,
                REQUESTS,
                &[
                    (TEAM, "t"),
                    (APP, "a"),
                    (CALLER, "arn:aws:sts::1:assumed-role/Worker")
                ],
                0
            )
            .unwrap()
            .value,
            2.0
        );
        assert_eq!(
            find(
                &ds,
                REQUESTS,
                &[(TEAM, "t"), (APP, "a"), ("tenant", "acme")],
                0
            )
            .unwrap()
            .value,
            1.0
        );
        assert_eq!(
            find(
                &ds,
                REQUESTS,
                &[(TEAM, "t"), (APP, "a"), ("tenant", "none")],
                0
            )
            .unwrap()
            .value,
            1.0
        );
    }

    #[test]
    fn dimension_values_are_sanitised_as_documented() {
        for ok in ["platform", "a b", " x ", &"x".repeat(1024)] {
            assert_eq!(
                sanitize_dimension(ok, MAX_DIMENSION_VALUE_CHARS),
                None,
                "{ok}"
            );
            assert_eq!(dimension_value(ok), ok);
        }
        let cases = [
            ("Équipe", "Equipe~"),
            ("Straße", "Strasse~"),
            (" ", "blank~"),
            ("\t \n", "blank~"),
            ("a\u{7}b", "ab~"),
            ("chat 😀", "chat _~"),
            ("漢字", "__~"),
        ];
        for (raw, prefix) in cases {
            let s = dimension_value(raw);
            assert!(s.starts_with(prefix), "{raw:?} -> {s:?}");
            assert_eq!(s.len(), prefix.len() + 8, "{raw:?} -> {s:?}");
            assert!(is_valid_dimension(&s, MAX_DIMENSION_VALUE_CHARS), "{s:?}");
        }
        assert_eq!(dimension_value(""), EMPTY_VALUE);
        // Distinct raw values stay distinct, also from a valid value they resemble.
        let (a, b, c) = (
            dimension_value("Équipe"),
            dimension_value("Èquipe"),
            dimension_value("Equipe"),
        );
        assert!(a != b && a != c && b != c, "{a} {b} {c}");
        assert_ne!(dimension_value(" "), dimension_value("  "));
        // Stable: the same value maps the same in every process.
        assert_eq!(
            dimension_value("Équipe"),
            format!("Equipe~{:08x}", fnv1a("Équipe"))
        );
        for long in [
            "x".repeat(1025),
            "é".repeat(1500),
            format!("{}😀", "a".repeat(1023)),
        ] {
            let s = dimension_value(&long);
            assert_eq!(s.len(), MAX_DIMENSION_VALUE_CHARS, "{}", long.len());
            assert!(is_valid_dimension(&s, MAX_DIMENSION_VALUE_CHARS));
        }
        assert_eq!(
            sanitize_dimension(":tenant\u{1}", MAX_DIMENSION_NAME_CHARS).map(|s| s.len()),
            Some(":tenant".len() + 9)
        );
    }

    #[test]
    fn aggregated_series_carry_only_values_cloudwatch_accepts() {
        let mut agg = MetricsAggregator::new(MetricsConfig {
            caller_dimensions: true,
            metadata_keys: vec!["tenant".into(), "ténant".into()],
        });
        let md = vec![" ".to_string(), "x".to_string()];
        for team in ["Équipe", "Equipe"] {
            let mut x = c(
                0,
                team,
                "chat 😀",
                "m",
                "arn:aws:iam::1:user/zoë",
                Tokens::default(),
                "0",
            );
            x.metadata = &md;
            agg.add(&x);
        }
        let ds = agg.datums();
        for d in &ds {
            for (k, v) in d.dimensions.iter() {
                assert!(is_valid_dimension(k, MAX_DIMENSION_NAME_CHARS), "{k:?}");
                assert!(is_valid_dimension(v, MAX_DIMENSION_VALUE_CHARS), "{v:?}");
            }
        }
        let teams: HashSet<&str> = ds
            .iter()
            .filter(|d| d.metric == REQUESTS && d.dimensions.len() == 1)
            .map(|d| d.dimensions[0].1.as_str())
            .collect();
        assert_eq!(teams.len(), 2, "{teams:?}");
        assert!(teams.contains("Equipe"));
        let blank = dimension_value(" ");
        assert!(find(
            &ds,
            REQUESTS,
            &[
                (TEAM, "Equipe"),
                (APP, &dimension_value("chat 😀")),
                ("tenant", &blank)
            ],
            0
        )
        .is_some());
    }

    #[test]
    fn metadata_values_beyond_the_cap_are_summed_into_other() {
        let mut agg = MetricsAggregator::new(MetricsConfig {
            caller_dimensions: false,
            metadata_keys: vec!["tenant".into()],
        });
        let n = MAX_METADATA_VALUES_PER_KEY + 10;
        for i in 0..n {
            let md = vec![format!("t{i:03}")];
            let mut x = c(0, "team", "app", "m", "u", Tokens::default(), "0");
            x.metadata = &md;
            agg.add(&x);
        }
        let ds = agg.datums();
        let tenant_series: Vec<&Datum> = ds
            .iter()
            .filter(|d| d.metric == REQUESTS && d.dimensions.iter().any(|(k, _)| k == "tenant"))
            .collect();
        assert_eq!(tenant_series.len(), MAX_METADATA_VALUES_PER_KEY + 1);
        assert_eq!(
            find(
                &ds,
                REQUESTS,
                &[(TEAM, "team"), (APP, "app"), ("tenant", OTHER)],
                0
            )
            .unwrap()
            .value,
            10.0
        );
        assert!(find(
            &ds,
            REQUESTS,
            &[(TEAM, "team"), (APP, "app"), ("tenant", "t000")],
            0
        )
        .is_some());
        assert!(find(
            &ds,
            REQUESTS,
            &[(TEAM, "team"), (APP, "app"), ("tenant", "t050")],
            0
        )
        .is_none());
        // The team total is unchanged by the cap.
        assert_eq!(
            find(&ds, REQUESTS, &[(TEAM, "team")], 0).unwrap().value,
            n as f64
        );
    }

    #[test]
    fn hash_collisions_keep_leaves_apart() {
        // Same hash bucket or not, distinct keys stay distinct series and equal keys merge.
        let mut a = MetricsAggregator::new(MetricsConfig::default());
        let t = Timestamp::parse_iso8601("2026-11-25T10:00:05Z").unwrap();
        for (team, app) in [("ab", "c"), ("a", "bc"), ("ab", "c")] {
            a.add(&Contribution {
                at: t,
                team,
                app,
                model: "m",
                caller: "",
                metadata: &[],
                usage: Usage::default(),
                cost: Money::ZERO,
                unpriced: 0,
            });
        }
        assert_eq!(a.leaves.len(), 2);
        assert_eq!(
            a.leaves[0].1.usage.requests + a.leaves[1].1.usage.requests,
            0
        );
    }

    #[test]
    fn usd_values() {
        assert_eq!(usd_value(usd("41.2")), 41.2);
        assert_eq!(usd_value(Money(1)), 0.0);
        assert_eq!(usd_value(usd("0.000000001")), 1e-9);
        assert_eq!(usd_value(usd("-0.0000000005")), -1e-9);
    }

    /// Review (review3): around 2^53 nano-dollars on both sides and both paths, sub-nano offsets
    /// (ties and just off them), amounts that round to zero from below (no -0.0), and far past 2^53.
    #[test]
    fn usd_values_at_the_two_to_the_53_edge_equal_the_parsed_text() {
        let edge = 1i128 << 53;
        let mut checked = 0;
        for base in [
            0,
            1,
            edge - 2_000,
            edge - 1,
            edge,
            edge + 1,
            edge * 3 + 7,
            edge * 1_000_003,
            i64::MAX as i128,
            (i128::MAX / 4) / 1_000_000,
        ] {
            for k in 0..2_000i128 {
                for sub in [0, 1, 499_999, 500_000, 500_001, 999_999] {
                    for sign in [1, -1] {
                        assert_usd_value_is_the_texts(Money(sign * ((base + k) * 1_000_000 + sub)));
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 10 * 2_000 * 6 * 2);
        assert_eq!(usd_value(Money(-499_999)).to_bits(), 0.0f64.to_bits());
    }

    /// The division gives the `f64` that parsing the nine-decimal text gives, for amounts of every size
    /// (halves of a nano-dollar, negative amounts, and past 2^53 nano-dollars, where the text is parsed).
    #[test]
    fn usd_values_equal_the_parsed_nine_decimal_text() {
        let mut rng = crate::test_support::Rng(0x2545_f491_4f6c_dd1d);
        for i in 0..200_000u32 {
            let magnitude = 10i128.pow(rng.below(28) as u32);
            let mut femto =
                (rng.next() as i128 * 1_000 + rng.below(1_000) as i128) % magnitude.max(1);
            if i % 5 == 0 {
                femto = femto / 1_000_000 * 1_000_000 + 500_000; // a tie at the ninth decimal
            }
            if rng.below(2) == 0 {
                femto = -femto;
            }
            assert_usd_value_is_the_texts(Money(femto));
        }
    }

    /// `usd_value(m)` is, bit for bit, the `f64` parsed from `m`'s nine-decimal text.
    fn assert_usd_value_is_the_texts(m: Money) {
        let text: f64 = m.to_decimal_string(9).parse().unwrap();
        assert_eq!(
            usd_value(m).to_bits(),
            text.to_bits(),
            "{} femto-dollars",
            m.0
        );
    }

    /// The datums as the aggregator first computed them: every datum of every series, then one sort
    /// of the owned datums by (minute, metric, dimensions).
    fn reference_datums(a: &MetricsAggregator) -> Vec<Datum> {
        let mut series: HashMap<(Timestamp, Vec<(String, String)>), Sums> = HashMap::new();
        let mut sets = Vec::new();
        let kept = a.kept_metadata_values();
        for (leaf, sums) in &a.leaves {
            sets.clear();
            a.dimension_sets(leaf, &kept, &mut sets);
            for (dims, n) in &sets {
                let owned = dims[..*n as usize]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                series.entry((leaf.minute, owned)).or_default().merge(sums);
            }
        }
        let mut out = Vec::new();
        for ((minute, dims), s) in series {
            for (metric, value_of, unit, always) in SERIES_METRICS {
                let value = value_of(&s);
                if always || value != 0.0 {
                    out.push(Datum {
                        metric,
                        dimensions: dims.clone().into(),
                        timestamp: minute,
                        value,
                        unit,
                    });
                }
            }
        }
        for (minute, n) in &a.malformed {
            out.push(Datum {
                metric: MALFORMED_RECORDS,
                dimensions: Dimensions::default(),
                timestamp: *minute,
                value: *n as f64,
                unit: Unit::Count,
            });
        }
        out.sort_by(|a, b| {
            (a.timestamp, a.metric, &a.dimensions).cmp(&(b.timestamp, b.metric, &b.dimensions))
        });
        out
    }

    #[test]
    fn datums_equal_every_series_sorted_by_minute_metric_dimensions() {
        let mut a = MetricsAggregator::new(MetricsConfig {
            caller_dimensions: true,
            metadata_keys: vec!["tenant".into(), "env".into()],
        });
        let teams = ["t1", "t2", "unattributed"];
        let apps = ["chat", "agent", "unattributed"];
        let tenants = ["", "acme", "zeta"];
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for i in 0..400 {
            let metadata = vec![
                tenants[next(3) as usize].to_string(),
                if i % 7 == 0 {
                    "prod".into()
                } else {
                    String::new()
                },
            ];
            let minute = 1_800_000_000 + 60 * next(4) as i64;
            a.add(&Contribution {
                at: Timestamp(minute + next(60) as i64),
                team: teams[next(3) as usize],
                app: apps[next(3) as usize],
                model: if next(2) == 0 { "m.a" } else { "m.b" },
                caller: if next(2) == 0 {
                    "arn:aws:sts::1:assumed-role/R/s1"
                } else {
                    "arn:aws:iam::1:user/u"
                },
                metadata: &metadata,
                usage: Usage {
                    requests: 1,
                    errors: next(5) / 4,
                    tokens: Tokens {
                        input: next(1000),
                        output: next(3),
                        cache_read: next(2) * 500,
                        ..Tokens::default()
                    },
                },
                cost: usd("0.001"),
                unpriced: next(9) / 8,
            });
        }
        a.add_malformed(Timestamp(1_800_000_060), 2);
        a.add_malformed(Timestamp(1_800_999_960), 1); // a minute with no series
        let got = a.datums();
        assert!(got.len() > 100);
        assert_eq!(got, reference_datums(&a));
    }
}
