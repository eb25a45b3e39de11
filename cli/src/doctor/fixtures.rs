//! Test fixtures of the checks: a healthy set of [`Facts`] each test breaks one link of, and the
//! checklist run over them.

use std::collections::BTreeMap;
use std::time::Duration;

use bedrock_meter_core::attribution::profiles::Profile;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::ports::logging::{CloudWatchTarget, LoggingConfig, S3Target};
use bedrock_meter_core::ports::operator::{ObjectEntry, SubscriptionFilter};
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;

use super::check::{Check, Status};
use super::facts::{Delivery, Facts, Names, Recent};
use super::{
    checklist, DEFAULT_DATABASE, DEFAULT_LOG_GROUP, DEFAULT_MAX_PRICE_AGE_DAYS, DEFAULT_PREFIX,
    DEFAULT_TABLE, DEFAULT_WORKGROUP,
};

pub(super) const NOW: i64 = 1_795_000_000;
const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/p1";

pub(super) fn profile(id: &str, tags: &[(&str, &str)]) -> Profile {
    Profile {
        arn: format!("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{id}"),
        id: id.into(),
        name: format!("{id}-name"),
        model_arns: vec![
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
        ],
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

pub(super) fn healthy() -> Facts {
    let mut calls = BTreeMap::new();
    calls.insert(
        (
            "arn:aws:sts::1:assumed-role/App/s".to_string(),
            PROFILE.to_string(),
        ),
        7,
    );
    Facts {
        region: "us-east-1".into(),
        now: Timestamp(NOW),
        names: Names {
            log_group: DEFAULT_LOG_GROUP.into(),
            bucket: Some("logs-bucket".into()),
            prefix: DEFAULT_PREFIX.into(),
            database: DEFAULT_DATABASE.into(),
            table: DEFAULT_TABLE.into(),
            workgroup: DEFAULT_WORKGROUP.into(),
            ingest_function: "IngestFunction".into(),
            ..Names::default()
        },
        logging: Ok(Some(LoggingConfig {
            cloudwatch: Some(CloudWatchTarget {
                log_group: DEFAULT_LOG_GROUP.into(),
                role_arn: "arn:aws:iam::1:role/bedrock-logging".into(),
                large_data: Some(S3Target {
                    bucket: "logs-bucket".into(),
                    prefix: Some("bedrock-logs/large-data".into()),
                }),
            }),
            s3: Some(S3Target {
                bucket: "logs-bucket".into(),
                prefix: Some("bedrock-logs".into()),
            }),
            text: Some(true),
            ..LoggingConfig::default()
        })),
        log_group_exists: Ok(true),
        filters: Ok(vec![SubscriptionFilter {
            name: "sub".into(),
            destination_arn: "arn:aws:lambda:us-east-1:1:function:stack-IngestFunction-AB".into(),
            pattern: String::new(),
        }]),
        delivery: Ok(Delivery {
            latest: Some(ObjectEntry {
                key: "k.json.gz".into(),
                last_modified: NOW - 600,
            }),
            any_object: true,
        }),
        table_exists: Ok(true),
        workgroup: Ok(Some("ENABLED".into())),
        profiles: Ok(vec![profile("p1", &[("app", "a"), ("team", "t")])]),
        recent: Ok(Recent {
            window: Duration::from_secs(86_400),
            records: 7,
            calls,
            ..Recent::default()
        }),
    }
}

pub(super) fn run_checks(f: &Facts) -> Vec<Check> {
    let mut prices = PriceTable::embedded();
    prices.as_of = Timestamp(NOW).date();
    checklist(
        f,
        &prices,
        &AttributionConfig::default(),
        Duration::from_secs(7200),
        DEFAULT_MAX_PRICE_AGE_DAYS,
    )
}

pub(super) fn status(checks: &[Check], id: &str) -> Status {
    checks.iter().find(|c| c.id == id).unwrap().status
}
