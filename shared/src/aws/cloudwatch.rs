//! [`CloudWatchMetrics`] implements the core's [`MetricsSink`] port with aws-sdk-cloudwatch
//! `PutMetricData` (pinned to 1.99, which speaks the Query protocol). [`CloudWatchMantle`] implements
//! [`MantleSource`]: the `AWS/BedrockMantle` metrics through ListMetrics and GetMetricData.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use aws_smithy_types::DateTime;
use futures_util::StreamExt;

use crate::ports::mantle::{self, MantleSource, MantleUsage};
use crate::time::Timestamp;

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

/// GetMetricData takes at most 500 queries a call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// GetMetricData calls in flight at once (each within CloudWatch's default 50 TPS).
const CONCURRENT_CALLS: usize = 4;

/// Reads the mantle metrics (`ports::mantle`).
#[derive(Clone, Debug)]
pub struct CloudWatchMantle {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchMantle {
    pub fn new(config: &aws_config::SdkConfig) -> CloudWatchMantle {
        CloudWatchMantle {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }

    async fn list(&self, metric: &'static str) -> Result<Vec<Metric>, AwsError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_metrics()
                .namespace(mantle::NAMESPACE)
                .metric_name(metric)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListMetrics", e))?;
            out.extend(page.metrics().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Sums of each query over the range (all its datapoints added).
    async fn sums(
        &self,
        queries: Vec<MetricDataQuery>,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<HashMap<String, f64>, AwsError> {
        let mut out = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start.0))
                .end_time(DateTime::from_secs(end.0))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetMetricData", e))?;
            for r in page.metric_data_results() {
                let id = r.id().unwrap_or_default().to_string();
                *out.entry(id).or_insert(0.0) += r.values().iter().sum::<f64>();
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

fn dimension<'m>(m: &'m Metric, name: &str) -> Option<&'m str> {
    m.dimensions()
        .iter()
        .find(|d| d.name() == Some(name))
        .and_then(|d| d.value())
}

/// The period of the mantle queries: an hour, or a day over more than a week (GetMetricData returns at
/// most 100,800 datapoints a call).
fn mantle_period(start: Timestamp, end: Timestamp) -> i32 {
    if end.0 - start.0 > 7 * 86_400 {
        86_400
    } else {
        3_600
    }
}

impl MantleSource for CloudWatchMantle {
    async fn usage(&self, start: Timestamp, end: Timestamp) -> Result<Vec<MantleUsage>, AwsError> {
        let (inf, input, output) = futures_util::join!(
            self.list(mantle::INFERENCES),
            self.list(mantle::TOTAL_INPUT_TOKENS),
            self.list(mantle::TOTAL_OUTPUT_TOKENS)
        );
        // The Model-level series (a Model dimension, no Project) of each metric; Project+Model
        // `Inferences` name the projects.
        let mut by_model: BTreeMap<String, MantleUsage> = BTreeMap::new();
        let mut series: Vec<(String, usize, Metric)> = Vec::new();
        for (which, metrics) in [inf?, input?, output?].into_iter().enumerate() {
            for m in metrics {
                let Some(model) = dimension(&m, mantle::MODEL) else {
                    continue;
                };
                let u = by_model
                    .entry(model.to_string())
                    .or_insert_with(|| MantleUsage {
                        model: model.to_string(),
                        ..MantleUsage::default()
                    });
                match dimension(&m, mantle::PROJECT) {
                    Some(p) => {
                        if which == 0 && !u.projects.iter().any(|x| x == p) {
                            u.projects.push(p.to_string());
                        }
                    }
                    None => series.push((model.to_string(), which, m)),
                }
            }
        }
        let period = mantle_period(start, end);
        let queries: Vec<MetricDataQuery> = series
            .iter()
            .enumerate()
            .map(|(i, (_, _, m))| {
                MetricDataQuery::builder()
                    .id(format!("q{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(m.clone())
                            .period(period)
                            .stat("Sum")
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let calls: Vec<Vec<MetricDataQuery>> = queries
            .chunks(MAX_QUERIES_PER_CALL)
            .map(<[MetricDataQuery]>::to_vec)
            .collect();
        let results: Vec<Result<HashMap<String, f64>, AwsError>> =
            futures_util::stream::iter(calls.into_iter().map(|q| self.sums(q, start, end)))
                .buffer_unordered(CONCURRENT_CALLS)
                .collect()
                .await;
        let mut sums = HashMap::new();
        for r in results {
            sums.extend(r?);
        }
        for (i, (model, which, _)) in series.iter().enumerate() {
            let v = sums.get(&format!("q{i}")).copied().unwrap_or(0.0);
            let v = if v.is_finite() && v > 0.0 {
                v.round() as u64
            } else {
                0
            };
            let u = by_model.get_mut(model).expect("entry made above");
            match which {
                0 => u.inferences += v,
                1 => u.input_tokens += v,
                _ => u.output_tokens += v,
            }
        }
        Ok(by_model
            .into_values()
            .map(|mut u| {
                u.projects.sort();
                u
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datum_becomes_one_sdk_datum() {
        let d = Datum {
            metric: "Requests",
            dimensions: vec![("Team".into(), "t0".into())].into(),
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
