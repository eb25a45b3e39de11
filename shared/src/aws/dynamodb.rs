//! The detector's [`StateStore`] on DynamoDB: one table (name from `STATE_TABLE`), key `pk` (S, HASH) +
//! `sk` (S, RANGE), TTL attribute `expires_at` (epoch seconds). docs/detection.md describes the design.
//!
//! Items:
//! - **scope** (`pk` = scope key, bounded to 512 bytes; `sk` = `s`): the scope's buckets *and* its
//!   incident in one item, whose size does not depend on the batch rate. A bucket starting at minute
//!   `M` (epoch minutes) is a family of top-level attributes: numbers `cM` (cost, femto-dollars,
//!   exact), `rM` (requests), `uM` (unpriced), `iM`, `oM`, `kM`, `wM`, `hM` (input, output,
//!   cache-read, cache-write, 1-hour cache-write tokens), string sets `mM` (models) and `pM` (profile
//!   ARNs). The incident: `v` (version), `open`, `started`, `last_at`, `last_cost`, `alerts`,
//!   `lw`/`lc`/`lr` (its thresholds), `iteam`. Also `app`, `caller`, `team`, `expires_at` (7 days after
//!   the last write). (Items written before batch keys moved out may still hold string sets `bM` of
//!   batch keys: they are read as marks and forgotten like old buckets.)
//! - **batch** (`pk` = scope key, `sk` = `b#<batch key>`): that the batch was added to the scope;
//!   only `expires_at` — an hour after the later of the add and the batch's last bucket (plus the
//!   longest bucket), [`crate::live::detector::DEDUPE_SECS`]. One per scope and batch, ~100 bytes.
//! - **open incident** (`pk` = `attention`, `sk` = `i#<scope key>`): `app`, `caller`, `v`.
//! - **outbox** (`pk` = `attention`, `sk` = `o#<alert id>`): `alert` (JSON), `batch` (key of the batch
//!   that made the transition), `created`, `claimed_until`, `expires_at` (7 days).
//!
//! Calls:
//! - [`StateStore::apply`]: per scope and batch, one `TransactWriteItems` — put the batch's item if it
//!   is not there yet, and `ADD` the counters of every bucket the batch touches to the scope item,
//!   both or neither — then one strongly consistent `GetItem` of the scope item (a transaction returns
//!   no item): two round trips, one after the other. A redelivered batch finds its item, the
//!   transaction is cancelled and adds nothing. Two adds to one scope at once conflict; the cancelled
//!   one is sent again after a jittered pause (at most 8 sends).
//! - [`StateStore::transition`]: one `TransactWriteItems`: the incident's compare-and-set on `v`, the
//!   open-incident entry (put or deleted) and the outbox entry, all or nothing.
//! - [`StateStore::attention`]: one `Query` of `pk = attention` per invocation.
//! - [`StateStore::claim`] (conditional `UpdateItem`), [`StateStore::delivered`] (`DeleteItem`),
//!   [`StateStore::forget`] (`UpdateItem … REMOVE`, every few minutes per busy scope).
//!
//! Every read is strongly consistent, so an invocation sees every add that completed before its call.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};

use super::AwsError;
use crate::live::detector::{
    Alert, Attention, Bucket, Claim, DetectorConfig, Incident, Pending, Scope, ScopeState,
    StateStore, StoreError,
};
use crate::pricing::money::Money;
use crate::time::Timestamp;

const ATTENTION_PK: &str = "attention";
const SCOPE_SK: &str = "s";
const OPEN_PREFIX: &str = "i#";
const OUTBOX_PREFIX: &str = "o#";
/// Sort key prefix of a batch's item in its scope's partition (`b#<batch key>`).
const BATCH_PREFIX: &str = "b#";
/// The longest bucket (a day-long window's, 24 minutes): a batch's item outlives its last bucket's end.
const LONGEST_BUCKET_SECS: i64 = 1440;
/// Sends of one add cancelled by a concurrent one before the call fails.
const ADD_ATTEMPTS: usize = 8;
const OUTBOX_TTL_SECS: i64 = 7 * 86_400;
/// Buckets per `UpdateItem` (keeps the expression far below its 4 KB limit).
const BUCKETS_PER_UPDATE: usize = 8;
/// Buckets per forgetting `UpdateItem` (11 attributes each).
const BUCKETS_PER_FORGET: usize = 20;
/// The per-bucket attribute families: counters, then string sets.
const COUNTERS: [char; 8] = ['c', 'r', 'u', 'i', 'o', 'k', 'w', 'h'];
const SETS: [char; 3] = ['m', 'p', 'b'];

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn store_err(e: AwsError) -> StoreError {
    StoreError {
        operation: e.operation,
        message: match e.code {
            Some(c) => format!("{c}: {}", e.message),
            None => e.message,
        },
    }
}

fn is_condition_failed(e: &AwsError) -> bool {
    e.code.as_deref() == Some("ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_i128(item: &Item, k: &str) -> i128 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn get_u64(item: &Item, k: &str) -> u64 {
    u64::try_from(get_i128(item, k)).unwrap_or(0)
}

impl DynamoStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table in the agreed shape (on-demand billing, TTL on `expires_at`). For tests and
    /// local setups; the deployed table comes from the SAM template.
    pub async fn create_table(&self) -> Result<(), AwsError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| AwsError::new("CreateTable", e.to_string()))
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .map_err(|e| AwsError::new("CreateTable", e.to_string()))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateTable", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(|e| AwsError::new("UpdateTimeToLive", e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateTimeToLive", e))?;
        Ok(())
    }

    async fn query_all(
        &self,
        pk: &str,
        sk_range: Option<(String, String)>,
    ) -> Result<Vec<Item>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            q = match &sk_range {
                Some((a, b)) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                    .expression_attribute_values(":a", s(a))
                    .expression_attribute_values(":b", s(b)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let page = q.send().await.map_err(|e| AwsError::from_sdk("Query", e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// Bucket minute number (epoch minutes) of a bucket attribute name (`c29408812` → 29408812).
fn bucket_attr(name: &str) -> Option<(char, i64)> {
    let mut chars = name.chars();
    let f = chars.next()?;
    let rest = chars.as_str();
    if !(COUNTERS.contains(&f) || SETS.contains(&f)) || rest.is_empty() {
        return None;
    }
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((f, rest.parse().ok()?))
}

fn scope_state(item: &Item) -> ScopeState {
    let team = get_s(item, "team").unwrap_or_default();
    let mut buckets: std::collections::BTreeMap<i64, Bucket> = std::collections::BTreeMap::new();
    let mut marked = Vec::new();
    for (name, v) in item {
        let Some((f, m)) = bucket_attr(name) else {
            continue;
        };
        if f == 'b' {
            marked.push(Timestamp(m * 60));
            continue; // a bucket's batch keys alone are no usage
        }
        let b = buckets.entry(m).or_insert_with(|| {
            let mut b = Bucket::new(Timestamp(m * 60));
            b.team.clone_from(&team);
            b
        });
        let num = || -> i128 { v.as_n().ok().and_then(|t| t.parse().ok()).unwrap_or(0) };
        let cnt = || u64::try_from(num()).unwrap_or(0);
        match f {
            'c' => b.cost = Money(num()),
            'r' => b.requests = cnt(),
            'u' => b.unpriced = cnt(),
            'i' => b.tokens.input = cnt(),
            'o' => b.tokens.output = cnt(),
            'k' => b.tokens.cache_read = cnt(),
            'w' => b.tokens.cache_write = cnt(),
            'h' => b.tokens.cache_write_1h = cnt(),
            'm' => {
                b.models = v
                    .as_ss()
                    .map(|x| x.iter().cloned().collect())
                    .unwrap_or_default()
            }
            'p' => {
                b.profile_arns = v
                    .as_ss()
                    .map(|x| x.iter().cloned().collect())
                    .unwrap_or_default()
            }
            _ => {}
        }
    }
    let version = get_u64(item, "v");
    let incident = (version > 0).then(|| Incident {
        open: item
            .get("open")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        started: Timestamp(i64::try_from(get_i128(item, "started")).unwrap_or(0)),
        last_alert_at: Timestamp(i64::try_from(get_i128(item, "last_at")).unwrap_or(0)),
        last_alert_cost: Money(get_i128(item, "last_cost")),
        alerts: u32::try_from(get_u64(item, "alerts")).unwrap_or(u32::MAX),
        limits: DetectorConfig {
            window_minutes: u32::try_from(get_u64(item, "lw")).unwrap_or(15),
            max_cost: Money(get_i128(item, "lc")),
            max_requests: get_u64(item, "lr"),
        },
        team: get_s(item, "iteam").unwrap_or_default(),
    });
    ScopeState {
        version,
        incident,
        buckets: buckets.into_values().collect(),
        marked,
    }
}

/// Builds expressions with placeholders for every name and value.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), n.to_string());
        k
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }
}

impl DynamoStore {
    async fn get_scope(&self, scope: &Scope) -> Result<ScopeState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(scope.key()))
            .key("sk", s(SCOPE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err(AwsError::from_sdk("GetItem", e)))?;
        Ok(out.item().map(scope_state).unwrap_or_default())
    }

    /// One `TransactWriteItems` adding `deltas` (at most [`BUCKETS_PER_UPDATE`]) under batch key
    /// `batch`: the batch's own item, put only if it is not there yet, and the scope item's `ADD`s —
    /// both or neither. `Ok(false)`: the batch had been applied already (nothing written).
    ///
    /// Two adds to one scope at the same moment conflict (DynamoDB cancels a transaction that meets
    /// another on an item); the cancelled one is sent again after a short, growing, jittered pause,
    /// [`ADD_ATTEMPTS`] times at most, then fails (and the invocation is retried).
    async fn apply_chunk(
        &self,
        scope: &Scope,
        batch: &str,
        deltas: &[Bucket],
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = scope.key();
        let mut x = Expr::default();
        let mut adds = Vec::new();
        let mut team = None;
        let mut last = i64::MIN;
        for d in deltas {
            let m = d.minute.0.div_euclid(60);
            last = last.max(d.minute.0);
            let t = &d.tokens;
            let counters: [(char, i128); 8] = [
                ('c', d.cost.0),
                ('r', i128::from(d.requests)),
                ('u', i128::from(d.unpriced)),
                ('i', i128::from(t.input)),
                ('o', i128::from(t.output)),
                ('k', i128::from(t.cache_read)),
                ('w', i128::from(t.cache_write)),
                ('h', i128::from(t.cache_write_1h)),
            ];
            for (f, v) in counters {
                if v != 0 || f == 'r' {
                    let (nm, vl) = (x.name(&format!("{f}{m}")), x.value(n(v)));
                    adds.push(format!("{nm} {vl}"));
                }
            }
            for (f, set) in [('m', &d.models), ('p', &d.profile_arns)] {
                if !set.is_empty() {
                    let nm = x.name(&format!("{f}{m}"));
                    let vl = x.value(AttributeValue::Ss(set.iter().cloned().collect()));
                    adds.push(format!("{nm} {vl}"));
                }
            }
            if !d.team.is_empty() {
                team = Some(d.team.clone());
            }
        }
        let mut sets = Vec::new();
        for (k, v) in [
            ("app", Some(s(&scope.app))),
            ("caller", scope.caller.as_deref().map(s)),
            ("team", team.map(s)),
            ("expires_at", Some(n(expires_at.0))),
        ] {
            if let Some(v) = v {
                let (nm, vl) = (x.name(k), x.value(v));
                sets.push(format!("{nm} = {vl}"));
            }
        }
        let update = if adds.is_empty() {
            format!("SET {}", sets.join(", "))
        } else {
            format!("ADD {} SET {}", adds.join(", "), sets.join(", "))
        };
        let add = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(&key))
            .key("sk", s(SCOPE_SK))
            .update_expression(update)
            .set_expression_attribute_names(Some(x.names))
            .set_expression_attribute_values(Some(x.values))
            .build()
            .map_err(build_err)?;
        // Kept while a redelivery can come: an hour after the later of now and the batch's last bucket
        // (plus the longest bucket), then removed by TTL.
        let now = expires_at.0 - crate::live::detector::SCOPE_TTL_SECS;
        let mark_expires =
            now.max(last.saturating_add(LONGEST_BUCKET_SECS)) + crate::live::detector::DEDUPE_SECS;
        let mark = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .item("pk", s(&key))
            .item("sk", s(format!("{BATCH_PREFIX}{batch}")))
            .item("expires_at", n(mark_expires))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let mut attempt = 0;
        loop {
            let r = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(mark.clone()).build())
                .transact_items(TransactWriteItem::builder().update(add.clone()).build())
                .send()
                .await;
            let e = match r {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
            let codes: Vec<String> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let mut codes: Vec<String> = c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    if codes.is_empty() {
                        // Some emulators give the reasons only in the message.
                        let msg = c.message().unwrap_or("");
                        for code in ["ConditionalCheckFailed", "TransactionConflict"] {
                            if msg.contains(code) {
                                codes.push(code.to_string());
                            }
                        }
                    }
                    codes
                }
                _ => return Err(store_err(AwsError::from_sdk("TransactWriteItems", e))),
            };
            if codes.iter().any(|c| c == "ConditionalCheckFailed") {
                return Ok(false); // the batch's item is there: applied before
            }
            let retry = codes
                .iter()
                .any(|c| c == "TransactionConflict" || c == "ThrottlingError");
            attempt += 1;
            if !retry || attempt >= ADD_ATTEMPTS {
                return Err(StoreError {
                    operation: "TransactWriteItems",
                    message: format!(
                        "the add was cancelled ({}) {attempt} times",
                        codes.join(", ")
                    ),
                });
            }
            tokio::time::sleep(backoff(attempt, batch)).await;
        }
    }
}

/// The pause before the `attempt`-th resend of a cancelled add: 10 ms doubling, at most 640 ms, times a
/// factor in [0.5, 1.5) drawn from the batch key and the clock (concurrent adds must not meet again).
fn backoff(attempt: usize, batch: &str) -> std::time::Duration {
    let base = 10u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = crate::live::detector::batch_key(&format!("{batch}{nanos}{attempt}"));
    let r = u64::from_str_radix(&seed[..4], 16).unwrap_or(0) % 1000;
    std::time::Duration::from_micros(base * (500 + r))
}

impl StateStore for DynamoStore {
    async fn apply(
        &self,
        scope: &Scope,
        batch: &str,
        deltas: &[Bucket],
        expires_at: Timestamp,
    ) -> Result<ScopeState, StoreError> {
        for (i, chunk) in deltas.chunks(BUCKETS_PER_UPDATE).enumerate() {
            // One batch key per chunk, the same on every delivery (the chunking is deterministic); the
            // chunks go one after another (two at once would conflict on the scope item).
            let key = if i == 0 {
                batch.to_string()
            } else {
                format!("{batch}.{i}")
            };
            self.apply_chunk(scope, &key, chunk, expires_at).await?;
        }
        // The scope as it is now: this add and every one that completed before it.
        self.get_scope(scope).await
    }

    async fn read(&self, scope: &Scope) -> Result<ScopeState, StoreError> {
        self.get_scope(scope).await
    }

    async fn forget(
        &self,
        scope: &Scope,
        starts: &[Timestamp],
        marks: &[Timestamp],
    ) -> Result<(), StoreError> {
        // Every attribute of a forgotten bucket; only the batch keys of the others.
        let mut attrs: Vec<String> = Vec::new();
        for t in starts {
            let m = t.0.div_euclid(60);
            attrs.extend(
                COUNTERS
                    .iter()
                    .chain(SETS.iter())
                    .map(|f| format!("{f}{m}")),
            );
        }
        attrs.extend(marks.iter().map(|t| format!("b{}", t.0.div_euclid(60))));
        for chunk in attrs.chunks(BUCKETS_PER_FORGET * (COUNTERS.len() + SETS.len())) {
            let mut x = Expr::default();
            let names: Vec<String> = chunk.iter().map(|a| x.name(a)).collect();
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(scope.key()))
                .key("sk", s(SCOPE_SK))
                .update_expression(format!("REMOVE {}", names.join(", ")))
                .condition_expression("attribute_exists(pk)")
                .set_expression_attribute_names(Some(x.names))
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    let e = AwsError::from_sdk("UpdateItem", e);
                    if is_condition_failed(&e) {
                        Ok(())
                    } else {
                        Err(store_err(e))
                    }
                })?;
        }
        Ok(())
    }

    async fn transition(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
        alert: &Alert,
        claim: &Claim,
    ) -> Result<bool, StoreError> {
        let key = scope.key();
        let mut x = Expr::default();
        let mut sets = Vec::new();
        for (k, v) in [
            ("v", n(expected + 1)),
            ("open", AttributeValue::Bool(next.open)),
            ("started", n(next.started.0)),
            ("last_at", n(next.last_alert_at.0)),
            ("last_cost", n(next.last_alert_cost.0)),
            ("alerts", n(next.alerts)),
            ("lw", n(next.limits.window_minutes)),
            ("lc", n(next.limits.max_cost.0)),
            ("lr", n(next.limits.max_requests)),
            ("iteam", s(&next.team)),
            ("app", s(&scope.app)),
            (
                "expires_at",
                n(claim.now.0 + OUTBOX_TTL_SECS.max(crate::live::detector::SCOPE_TTL_SECS)),
            ),
        ] {
            let (nm, vl) = (x.name(k), x.value(v));
            sets.push(format!("{nm} = {vl}"));
        }
        let nv = x.name("v");
        let cond = if expected == 0 {
            format!("attribute_not_exists({nv})")
        } else {
            let ev = x.value(n(expected));
            format!("{nv} = {ev}")
        };
        let cas = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(&key))
            .key("sk", s(SCOPE_SK))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(x.names))
            .set_expression_attribute_values(Some(x.values))
            .build()
            .map_err(|e| StoreError {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })?;
        let open_sk = format!("{OPEN_PREFIX}{key}");
        let registry = if next.open {
            let mut put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .item("pk", s(ATTENTION_PK))
                .item("sk", s(&open_sk))
                .item("app", s(&scope.app))
                .item("v", n(expected + 1));
            if let Some(c) = &scope.caller {
                put = put.item("caller", s(c));
            }
            if let Some(p) = &scope.profile {
                put = put.item("profile", s(p));
            }
            TransactWriteItem::builder().put(put.build().map_err(build_err)?)
        } else {
            TransactWriteItem::builder().delete(
                aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("pk", s(ATTENTION_PK))
                    .key("sk", s(&open_sk))
                    .build()
                    .map_err(build_err)?,
            )
        };
        let outbox = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .item("pk", s(ATTENTION_PK))
            .item("sk", s(format!("{OUTBOX_PREFIX}{}", alert.id)))
            .item("alert", s(alert.to_stored_json()))
            .item("batch", s(&claim.batch))
            .item("created", n(claim.now.0))
            .item("claimed_until", n(claim.until.0))
            .item("expires_at", n(claim.now.0 + OUTBOX_TTL_SECS))
            .build()
            .map_err(build_err)?;
        let r = self
            .client
            .transact_write_items()
            // The same transition retried by the SDK (a lost answer) is the same request: DynamoDB
            // answers it as done instead of failing its condition, so the winner keeps its alert.
            .client_request_token(transition_token(&key, expected, &claim.batch))
            .transact_items(TransactWriteItem::builder().update(cas).build())
            .transact_items(registry.build())
            .transact_items(TransactWriteItem::builder().put(outbox).build())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TransactWriteItems", e));
        match r {
            Ok(_) => Ok(true),
            // The compare-and-set failed, or a concurrent transaction on the same items: either way
            // nothing was written; the caller re-reads and decides again.
            Err(e) if e.code.as_deref() == Some("TransactionCanceledException") => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn attention(&self) -> Result<Attention, StoreError> {
        let items = self
            .query_all(ATTENTION_PK, None)
            .await
            .map_err(store_err)?;
        let mut out = Attention::default();
        for i in &items {
            let Some(sk) = get_s(i, "sk") else { continue };
            if sk.starts_with(OPEN_PREFIX) {
                if let Some(app) = get_s(i, "app") {
                    out.open.push(Scope {
                        app,
                        profile: get_s(i, "profile"),
                        caller: get_s(i, "caller"),
                    });
                }
            } else if sk.starts_with(OUTBOX_PREFIX) {
                match get_s(i, "alert")
                    .as_deref()
                    .and_then(Alert::from_stored_json)
                {
                    Some(alert) => out.pending.push(Pending {
                        alert,
                        batch: get_s(i, "batch").unwrap_or_default(),
                        created: Timestamp(i64::try_from(get_i128(i, "created")).unwrap_or(0)),
                    }),
                    None => tracing::error!(sk = %sk, "unreadable outbox entry"),
                }
            }
        }
        Ok(out)
    }

    async fn claim(&self, alert_id: &str, claim: &Claim) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ATTENTION_PK))
            .key("sk", s(format!("{OUTBOX_PREFIX}{alert_id}")))
            .update_expression("SET claimed_until = :until")
            .condition_expression("attribute_exists(pk) AND (claimed_until < :now OR #b = :b)")
            .expression_attribute_names("#b", "batch")
            .expression_attribute_values(":until", n(claim.until.0))
            .expression_attribute_values(":now", n(claim.now.0))
            .expression_attribute_values(":b", s(&claim.batch))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e));
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn delivered(&self, alert_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(ATTENTION_PK))
            .key("sk", s(format!("{OUTBOX_PREFIX}{alert_id}")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_err(AwsError::from_sdk("DeleteItem", e)))
    }
}

/// An idempotency token (≤ 36 characters) for one transition: scope, version and batch.
fn transition_token(key: &str, expected: u64, batch: &str) -> String {
    let text = format!("{key}\u{1}{expected}\u{1}{batch}");
    crate::live::detector::batch_key(&text)
        + &crate::live::detector::batch_key(&format!("{text}\u{2}"))
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError {
        operation: "TransactWriteItems",
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_item_round_trips() {
        let mut item = Item::new();
        item.insert("c29408812".into(), n(123_456_789_012_345_678_901i128));
        item.insert("r29408812".into(), n(7));
        item.insert("w29408812".into(), n(225_913));
        item.insert("r29408813".into(), n(1));
        item.insert(
            "m29408812".into(),
            AttributeValue::Ss(vec!["m1".into(), "m2".into()]),
        );
        item.insert("b29408812".into(), AttributeValue::Ss(vec!["k".into()]));
        item.insert("caller".into(), s("arn:aws:iam::1:user/x"));
        item.insert("open".into(), AttributeValue::Bool(true));
        item.insert("team".into(), s("t"));
        item.insert("v".into(), n(3));
        item.insert("lw".into(), n(15));
        let st = scope_state(&item);
        assert_eq!(st.version, 3);
        assert!(st.incident.as_ref().unwrap().open);
        assert_eq!(st.buckets.len(), 2);
        let b = &st.buckets[0];
        assert_eq!(b.minute, Timestamp(29_408_812 * 60));
        assert_eq!(b.cost, Money(123_456_789_012_345_678_901));
        assert_eq!((b.requests, b.tokens.cache_write), (7, 225_913));
        assert_eq!((b.models.len(), b.team.as_str()), (2, "t"));
        assert_eq!(st.buckets[1].requests, 1);
        assert_eq!(bucket_attr("caller"), None);
        assert_eq!(bucket_attr("open"), None);
        assert_eq!(bucket_attr("c"), None);
        assert_eq!(bucket_attr("b12"), Some(('b', 12)));
        let t = transition_token(&"k".repeat(600), 7, "0123456789abcdef");
        assert_eq!(t.len(), 32);
        assert_ne!(t, transition_token(&"k".repeat(600), 8, "0123456789abcdef"));
    }

    #[test]
    fn keys_stay_within_dynamodb_limits() {
        // A long non-ASCII app tag (256 characters of 3 bytes) and a long IAM user path.
        let app = "アプリ".repeat(86);
        let path = "/".to_string() + &"division/".repeat(100);
        let caller = format!("arn:aws:iam::111122223333:user{path}bob");
        assert!(caller.len() > 900);
        for scope in [Scope::caller(&app, &caller), Scope::app(&app)] {
            let k = scope.key();
            assert!(
                k.len() <= crate::live::detector::MAX_SCOPE_KEY_BYTES,
                "{}",
                k.len()
            );
            // Partition key ≤ 2,048 bytes; the sort keys that embed it ≤ 1,024 bytes.
            let alert_id = format!("{k}/1795733279/4294967295");
            assert!(format!("{OUTBOX_PREFIX}{alert_id}").len() <= 1024);
            assert!(format!("{OPEN_PREFIX}{k}").len() <= 1024);
            assert!(k.starts_with(if scope.caller.is_some() {
                "C#アプリ"
            } else {
                "A#アプリ"
            }));
        }
        // Distinct long scopes keep distinct keys; the same scope keeps its key.
        let other = format!("arn:aws:iam::111122223333:user{path}alice");
        assert_ne!(
            Scope::caller(&app, &caller).key(),
            Scope::caller(&app, &other).key()
        );
        assert_eq!(
            Scope::caller(&app, &caller).key(),
            Scope::caller(&app, &caller).key()
        );
    }
}
