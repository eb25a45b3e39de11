//! The metrics port: [`MetricsSink`] is where custom metrics go (CloudWatch in `aws::cloudwatch`).
//! A [`Datum`] is what the live path's metrics (`live::metrics`) produce; [`put_all`] splits datums
//! into requests within the API's limits ([`chunks`]) and stops at the first request that still fails
//! after the SDK's own retries: the caller turns that into an invocation error.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use super::AwsError;

use crate::time::Timestamp;

/// PutMetricData limits.
pub const MAX_DATUMS_PER_REQUEST: usize = 1000;
pub const MAX_REQUEST_BYTES: usize = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::None => "None",
        }
    }
}

/// A datum's dimensions: (name, value), in the order of the dimension set. Shared: the datums of
/// one series (up to eight metrics) hold one copy, built once per series.
pub type Dimensions = Arc<[(String, String)]>;

/// One CloudWatch datum.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    pub metric: &'static str,
    /// (name, value), in the order of the dimension set.
    pub dimensions: Dimensions,
    /// The start of the minute.
    pub timestamp: Timestamp,
    pub value: f64,
    pub unit: Unit,
}

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

fn encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Upper bound of a datum's size in a Query-protocol `PutMetricData` body (member index up to 1000).
fn datum_wire_size(d: &Datum) -> usize {
    const P: usize = "&MetricData.member.1000.".len();
    let mut n = P + "MetricName=".len() + encoded_len(d.metric);
    for (i, (k, v)) in d.dimensions.iter().enumerate() {
        let p = P + "Dimensions.member.".len() + if i >= 9 { 2 } else { 1 } + 1;
        n += p + "Name=".len() + encoded_len(k) + p + "Value=".len() + encoded_len(v);
    }
    n += P + "Timestamp=2026-11-25T10%3A00%3A00Z".len();
    n += P + "Value=".len() + 24;
    n += P + "Unit=".len() + d.unit.as_str().len();
    n += P + "StorageResolution=60".len();
    n
}

/// Splits datums into request-sized ranges: at most `max_datums` each and at most `max_bytes` of
/// estimated payload (plus `overhead` per request for the action, version and namespace).
pub fn chunks(
    datums: &[Datum],
    max_datums: usize,
    max_bytes: usize,
    overhead: usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = overhead;
    for (i, d) in datums.iter().enumerate() {
        let size = datum_wire_size(d);
        if i > start && (i - start >= max_datums || bytes + size > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = overhead;
        }
        bytes += size;
    }
    if start < datums.len() {
        out.push(start..datums.len());
    }
    out
}

/// Request overhead for a namespace: `Action=PutMetricData&Version=2010-08-01&Namespace=…`.
pub fn request_overhead(namespace: &str) -> usize {
    "Action=PutMetricData&Version=2010-08-01&Namespace=".len() + encoded_len(namespace) + 64
}

#[cfg(test)]
mod tests {
    use super::*;
    const REQUESTS: &str = "Requests";
    const TEAM: &str = "Team";
    const APP: &str = "App";
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
                metric: REQUESTS,
                dimensions: vec![("Team".into(), format!("t{i}"))].into(),
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

    #[test]
    fn chunking_respects_count_and_size() {
        let d = |i: usize, vlen: usize| Datum {
            metric: REQUESTS,
            dimensions: vec![
                (TEAM.into(), "x".repeat(vlen)),
                (APP.into(), format!("a{i}")),
            ]
            .into(),
            timestamp: Timestamp(0),
            value: 1.0,
            unit: Unit::Count,
        };
        let small: Vec<Datum> = (0..2500).map(|i| d(i, 5)).collect();
        let r = chunks(&small, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES, 100);
        assert_eq!(r, vec![0..1000, 1000..2000, 2000..2500]);
        let big: Vec<Datum> = (0..3000).map(|i| d(i, 1024)).collect();
        let r = chunks(&big, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES, 100);
        assert!(r.len() > 3);
        assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), 3000);
        for range in &r {
            let bytes: usize = big[range.clone()]
                .iter()
                .map(datum_wire_size)
                .sum::<usize>()
                + 100;
            assert!(bytes <= MAX_REQUEST_BYTES && range.len() <= MAX_DATUMS_PER_REQUEST);
        }
        assert!(chunks(&[], 1000, 1000, 10).is_empty());
    }
}
