//! [`CloudWatchMetrics`] implements the core's [`MetricsSink`] port with aws-sdk-cloudwatch
//! `PutMetricData` (pinned to 1.99, which speaks the Query protocol).

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;

use crate::ports::metrics::MetricsSink;
use crate::ports::metrics::{Datum, Unit};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchMetrics {
    pub fn new(config: &aws_config::SdkConfig) -> CloudWatchMetrics {
        CloudWatchMetrics {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

fn to_sdk(d: &Datum) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(d.metric)
        .set_dimensions(Some(
            d.dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .timestamp(DateTime::from_secs(d.timestamp.0))
        .value(d.value)
        .unit(match d.unit {
            Unit::Count => StandardUnit::Count,
            Unit::None => StandardUnit::None,
        })
        .storage_resolution(60)
        .build()
}

impl MetricsSink for CloudWatchMetrics {
    async fn put_metric_data(&self, namespace: &str, datums: &[Datum]) -> Result<(), AwsError> {
        self.client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(datums.iter().map(to_sdk).collect()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutMetricData", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn a_datum_becomes_one_sdk_datum() {
        let d = Datum {
            metric: "Requests",
            dimensions: vec![("Team".into(), "t0".into())],
            timestamp: Timestamp(1_700_000_000),
            value: 2.0,
            unit: Unit::Count,
        };
        let sdk = to_sdk(&d);
        assert_eq!(sdk.metric_name(), Some("Requests"));
        assert_eq!(sdk.dimensions()[0].name(), Some("Team"));
        assert_eq!(sdk.dimensions()[0].value(), Some("t0"));
        assert_eq!(sdk.unit(), Some(&StandardUnit::Count));
    }
}
