//! The detector's [`StateStore`] on DynamoDB: one table (name from `STATE_TABLE`), key `pk` (S, HASH) +
//! `sk` (S, RANGE), TTL attribute `expires_at` (epoch seconds).
//!
//! Items:
//! - minute bucket: `pk` = scope key (`A#app` | `C#app#caller`), `sk` = `m#<minute epoch, 12 digits>`;
//!   numbers `cost` (femto-dollars, exact), `requests`, `unpriced`, `tin`, `tout`, `tcr`, `tcw`,
//!   `tcw1h`; string sets `models`, `profiles`, `batches` (keys of the batches applied); `team`;
//!   `expires_at` = minute + 2 windows + 10 min. Written with one `UpdateItem`: `ADD` the counters and
//!   the batch key, conditional on `NOT contains(batches, :batch)` — a redelivered batch fails the
//!   condition and adds nothing.
//! - incident: `pk` = scope key, `sk` = `incident`; `version` and the [`Incident`] fields. Written with
//!   `PutItem` conditional on `version = :expected` (or `attribute_not_exists(pk)` for the first):
//!   compare-and-set, so exactly one invocation makes each transition (and sends its alert). A closed
//!   incident expires 7 days after its last alert.
//! - open-incident registry: `pk` = `open`, `sk` = scope key; `app`, `caller`, `version`. One `Query`
//!   per invocation lists the scopes to re-check for "resolved" even when they have no traffic.
//!
//! Every read is strongly consistent (`ConsistentRead`), so an invocation that has finished its adds
//! sees every add that completed before its read.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::AwsError;
use crate::detector::{Bucket, DetectorConfig, Incident, Scope, StateStore, StoreError};
use crate::money::Money;
use crate::record::Tokens;
use crate::time::Timestamp;

const OPEN_PK: &str = "open";
const INCIDENT_SK: &str = "incident";
const CLOSED_INCIDENT_TTL_SECS: i64 = 7 * 86_400;

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

fn get_ss(item: &Item, k: &str) -> BTreeSet<String> {
    item.get(k)
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default()
}

fn minute_sk(t: Timestamp) -> String {
    format!("m#{:012}", t.0.max(0))
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

fn bucket_of(item: &Item) -> Option<Bucket> {
    let minute: i64 = get_s(item, "sk")?.strip_prefix("m#")?.parse().ok()?;
    Some(Bucket {
        minute: Timestamp(minute),
        cost: Money(get_i128(item, "cost")),
        requests: get_u64(item, "requests"),
        unpriced: get_u64(item, "unpriced"),
        tokens: Tokens {
            input: get_u64(item, "tin"),
            output: get_u64(item, "tout"),
            cache_read: get_u64(item, "tcr"),
            cache_write: get_u64(item, "tcw"),
            cache_write_1h: get_u64(item, "tcw1h"),
        },
        team: get_s(item, "team").unwrap_or_default(),
        models: get_ss(item, "models"),
        profile_arns: get_ss(item, "profiles"),
    })
}

fn incident_of(item: &Item) -> Option<(u64, Incident)> {
    let version = get_u64(item, "version");
    let open = item
        .get("open")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false);
    let window_minutes = u32::try_from(get_u64(item, "window_minutes")).ok()?;
    Some((
        version,
        Incident {
            open,
            started: Timestamp(i64::try_from(get_i128(item, "started")).ok()?),
            last_alert_at: Timestamp(i64::try_from(get_i128(item, "last_alert_at")).ok()?),
            last_alert_cost: Money(get_i128(item, "last_alert_cost")),
            alerts: u32::try_from(get_u64(item, "alerts")).unwrap_or(u32::MAX),
            limits: DetectorConfig {
                window_minutes,
                max_cost: Money(get_i128(item, "max_cost")),
                max_requests: get_u64(item, "max_requests"),
            },
            team: get_s(item, "team").unwrap_or_default(),
        },
    ))
}

impl StateStore for DynamoStore {
    async fn add(
        &self,
        scope: &Scope,
        batch: &str,
        delta: &Bucket,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let t = &delta.tokens;
        let mut adds = vec![
            "cost :c",
            "requests :r",
            "unpriced :u",
            "tin :ti",
            "tout :to",
            "tcr :tr",
            "tcw :tw",
            "tcw1h :th",
            "batches :bs",
        ];
        let mut sets = vec!["expires_at = :e", "app = :app"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(scope.key()))
            .key("sk", s(minute_sk(delta.minute)))
            .condition_expression("attribute_not_exists(batches) OR NOT contains(batches, :b)")
            .expression_attribute_values(":c", n(delta.cost.0))
            .expression_attribute_values(":r", n(delta.requests))
            .expression_attribute_values(":u", n(delta.unpriced))
            .expression_attribute_values(":ti", n(t.input))
            .expression_attribute_values(":to", n(t.output))
            .expression_attribute_values(":tr", n(t.cache_read))
            .expression_attribute_values(":tw", n(t.cache_write))
            .expression_attribute_values(":th", n(t.cache_write_1h))
            .expression_attribute_values(":bs", AttributeValue::Ss(vec![batch.to_string()]))
            .expression_attribute_values(":b", s(batch))
            .expression_attribute_values(":e", n(expires_at.0))
            .expression_attribute_values(":app", s(&scope.app));
        if !delta.models.is_empty() {
            adds.push("models :ms");
            req = req.expression_attribute_values(
                ":ms",
                AttributeValue::Ss(delta.models.iter().cloned().collect()),
            );
        }
        if !delta.profile_arns.is_empty() {
            adds.push("profiles :ps");
            req = req.expression_attribute_values(
                ":ps",
                AttributeValue::Ss(delta.profile_arns.iter().cloned().collect()),
            );
        }
        if !delta.team.is_empty() {
            sets.push("team = :team");
            req = req.expression_attribute_values(":team", s(&delta.team));
        }
        let expr = format!("ADD {} SET {}", adds.join(", "), sets.join(", "));
        match req
            .update_expression(expr)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn buckets(
        &self,
        scope: &Scope,
        first: Timestamp,
        last: Timestamp,
    ) -> Result<Vec<Bucket>, StoreError> {
        let items = self
            .query_all(&scope.key(), Some((minute_sk(first), minute_sk(last))))
            .await
            .map_err(store_err)?;
        Ok(items.iter().filter_map(bucket_of).collect())
    }

    async fn incident(&self, scope: &Scope) -> Result<Option<(u64, Incident)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(scope.key()))
            .key("sk", s(INCIDENT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err(AwsError::from_sdk("GetItem", e)))?;
        Ok(out.item().and_then(incident_of))
    }

    async fn swap_incident(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(scope.key()))
            .item("sk", s(INCIDENT_SK))
            .item("version", n(expected + 1))
            .item("open", AttributeValue::Bool(next.open))
            .item("app", s(&scope.app))
            .item("started", n(next.started.0))
            .item("last_alert_at", n(next.last_alert_at.0))
            .item("last_alert_cost", n(next.last_alert_cost.0))
            .item("alerts", n(next.alerts))
            .item("window_minutes", n(next.limits.window_minutes))
            .item("max_cost", n(next.limits.max_cost.0))
            .item("max_requests", n(next.limits.max_requests));
        if let Some(c) = &scope.caller {
            req = req.item("caller", s(c));
        }
        if !next.team.is_empty() {
            req = req.item("team", s(&next.team));
        }
        if !next.open {
            req = req.item(
                "expires_at",
                n(next.last_alert_at.0 + CLOSED_INCIDENT_TTL_SECS),
            );
        }
        req = if expected == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected))
        };
        match req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutItem", e))
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn open_scopes(&self) -> Result<Vec<Scope>, StoreError> {
        let items = self.query_all(OPEN_PK, None).await.map_err(store_err)?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(Scope {
                    app: get_s(i, "app")?,
                    caller: get_s(i, "caller"),
                })
            })
            .collect())
    }

    async fn set_open(&self, scope: &Scope, version: u64, open: bool) -> Result<(), StoreError> {
        let result = if open {
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(OPEN_PK))
                .key("sk", s(scope.key()))
                .condition_expression("attribute_not_exists(version) OR version < :v")
                .expression_attribute_values(":v", n(version))
                .expression_attribute_values(":app", s(&scope.app));
            req = match &scope.caller {
                Some(c) => req
                    .update_expression("SET version = :v, app = :app, caller = :caller")
                    .expression_attribute_values(":caller", s(c)),
                None => req.update_expression("SET version = :v, app = :app"),
            };
            req.send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("UpdateItem", e))
        } else {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(OPEN_PK))
                .key("sk", s(scope.key()))
                .condition_expression("version <= :v")
                .expression_attribute_values(":v", n(version))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteItem", e))
        };
        match result {
            Ok(()) => Ok(()),
            // Already registered at a newer version, or not registered / registered newer: both fine.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_round_trips() {
        let mut item = Item::new();
        item.insert("sk".into(), s(minute_sk(Timestamp(1_764_028_860))));
        item.insert("cost".into(), n(123_456_789_012_345_678_901i128));
        item.insert("requests".into(), n(7));
        item.insert("tcw".into(), n(225_913));
        item.insert(
            "models".into(),
            AttributeValue::Ss(vec!["m1".into(), "m2".into()]),
        );
        let b = bucket_of(&item).unwrap();
        assert_eq!(b.minute, Timestamp(1_764_028_860));
        assert_eq!(b.cost, Money(123_456_789_012_345_678_901));
        assert_eq!((b.requests, b.tokens.cache_write), (7, 225_913));
        assert_eq!(b.models.len(), 2);
        assert_eq!(minute_sk(Timestamp(60)), "m#000000000060");
        assert!(minute_sk(Timestamp(99_999)) < minute_sk(Timestamp(100_000)));
    }
}
