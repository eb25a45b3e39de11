//! The metrics port: [`MetricsSink`] is where custom metrics go (CloudWatch in `aws::cloudwatch`).
//! [`put_all`] splits datums into requests within the API's limits ([`crate::live::metrics::chunks`])
//! and stops at the first request that still fails after the SDK's own retries: the caller turns that
//! into an invocation error.

use std::future::Future;

use super::AwsError;
use crate::live::metrics::{
    chunks, request_overhead, Datum, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES,
};

/// Where datums go. One call is one `PutMetricData` request (already within the limits).
pub trait MetricsSink {
    fn put_metric_data(
        &self,
        namespace: &str,
        datums: &[Datum],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What [`put_all`] sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    pub requests: usize,
    pub datums: usize,
}

/// Sends every datum, in requests of at most 1,000 datums and 1 MB. The first request that fails ends
/// the call with its error (the requests before it were sent).
pub async fn put_all<M: MetricsSink>(
    sink: &M,
    namespace: &str,
    datums: &[Datum],
) -> Result<PutReport, AwsError> {
    let mut report = PutReport::default();
    for range in chunks(
        datums,
        MAX_DATUMS_PER_REQUEST,
        MAX_REQUEST_BYTES,
        request_overhead(namespace),
    ) {
        let n = range.len();
        sink.put_metric_data(namespace, &datums[range]).await?;
        report.requests += 1;
        report.datums += n;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::metrics::Unit;
    use crate::test_support::block_on;
    use crate::time::Timestamp;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<usize>>,
        fail_at: Option<usize>,
    }

    impl MetricsSink for Recorder {
        async fn put_metric_data(&self, _ns: &str, datums: &[Datum]) -> Result<(), AwsError> {
            let mut calls = self.calls.lock().unwrap();
            if self.fail_at == Some(calls.len()) {
                return Err(AwsError::new("PutMetricData", "boom"));
            }
            calls.push(datums.len());
            Ok(())
        }
    }

    fn datums(n: usize) -> Vec<Datum> {
        (0..n)
            .map(|i| Datum {
                metric: crate::live::metrics::REQUESTS,
                dimensions: vec![("Team".into(), format!("t{i}"))],
                timestamp: Timestamp(60),
                value: 1.0,
                unit: Unit::Count,
            })
            .collect()
    }

    #[test]
    fn chunks_and_stops_at_the_first_failure() {
        let r = Recorder::default();
        let rep = block_on(put_all(&r, "BedrockMeter", &datums(2001))).unwrap();
        assert_eq!(
            rep,
            PutReport {
                requests: 3,
                datums: 2001
            }
        );
        assert_eq!(*r.calls.lock().unwrap(), vec![1000, 1000, 1]);
        let r = Recorder {
            fail_at: Some(1),
            ..Default::default()
        };
        assert!(block_on(put_all(&r, "BedrockMeter", &datums(2001))).is_err());
        assert_eq!(r.calls.lock().unwrap().len(), 1);
    }
}
