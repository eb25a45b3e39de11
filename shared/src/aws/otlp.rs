//! The OTLP adapter of [`crate::live::otel`] (feature `otlp`, ingest Lambda only): the batch's data
//! points become OpenTelemetry SDK instruments, are collected by a manual reader (delta temporality by
//! default: each Lambda instance sends what it saw since its last export) and sent over OTLP/HTTP with
//! protobuf bodies — `opentelemetry-otlp`'s exporter over hyper with rustls, awaited on the handler's
//! own tokio runtime, so a failure comes back to the handler (which counts it) instead of into a
//! background thread.
//!
//! Configured with the standard variables (docs/otel.md): `OTEL_EXPORTER_OTLP_ENDPOINT` (base; the
//! path `/v1/metrics` is added) or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (as is), `_PROTOCOL`
//! (`http/protobuf` only), `_HEADERS` (`k=v,k2=v2`, values URL-encoded), `_TIMEOUT` (ms, default
//! 10,000), `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`delta` default, or `cumulative`),
//! `OTEL_METRICS_EXPORTER=none` to turn it off, and `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`
//! for the resource. No endpoint: no export.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{MetricExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::Resource;

use crate::live::otel::{
    ExportError, OtelSink, Points, CACHE_READ, CACHE_WRITE, COST, REQUESTS, TOKEN_BUCKETS,
    TOKEN_MODALITY, TOKEN_TYPE, TOKEN_USAGE, UNPRICED,
};
use crate::settings::SettingError;

/// The OTLP settings, read from the standard variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full metrics URL (`…/v1/metrics`).
    pub endpoint: String,
    pub headers: HashMap<String, String>,
    pub timeout: Duration,
    pub temporality_cumulative: bool,
}

impl OtlpConfig {
    /// `None` when no endpoint is set (or `OTEL_METRICS_EXPORTER=none`); an error for a protocol other
    /// than `http/protobuf` or a bad timeout.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, SettingError> {
        let val = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if val("OTEL_METRICS_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none")) {
            return Ok(None);
        }
        let endpoint = match (
            val("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            val("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(e), _) => e,
            (None, Some(base)) => format!("{}/v1/metrics", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        for k in [
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(p) = val(k) {
                if p != "http/protobuf" {
                    return Err(SettingError {
                        name: if k.contains("METRICS") {
                            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
                        } else {
                            "OTEL_EXPORTER_OTLP_PROTOCOL"
                        },
                        value: p,
                        expected: "http/protobuf (the only protocol this build exports)",
                    });
                }
                break;
            }
        }
        let timeout = match val("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT")
            .or_else(|| val("OTEL_EXPORTER_OTLP_TIMEOUT"))
        {
            Some(t) => Duration::from_millis(t.parse::<u64>().map_err(|_| SettingError {
                name: "OTEL_EXPORTER_OTLP_TIMEOUT",
                value: t.clone(),
                expected: "a whole number of milliseconds",
            })?),
            None => Duration::from_secs(10),
        };
        let headers = val("OTEL_EXPORTER_OTLP_METRICS_HEADERS")
            .or_else(|| val("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|h| parse_headers(&h))
            .unwrap_or_default();
        let temporality_cumulative = val("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            .is_some_and(|v| v.eq_ignore_ascii_case("cumulative"));
        Ok(Some(OtlpConfig {
            endpoint,
            headers,
            timeout,
            temporality_cumulative,
        }))
    }
}

/// `k=v,k2=v2` (W3C baggage-like, values percent-encoded), as the OTLP exporter specification reads
/// `OTEL_EXPORTER_OTLP_HEADERS`. Pairs without `=` are skipped.
pub fn parse_headers(s: &str) -> HashMap<String, String> {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The manual reader, shared between the meter provider (which registers it) and the exporter (which
/// collects through it).
#[derive(Clone, Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The OTLP exporter with its instruments.
pub struct OtlpMetrics {
    _provider: SdkMeterProvider,
    reader: SharedReader,
    exporter: MetricExporter,
    timeout: Duration,
    token_usage: Histogram<u64>,
    cache_read: Counter<u64>,
    cache_write: Counter<u64>,
    cost: Counter<f64>,
    requests: Counter<u64>,
    unpriced: Counter<u64>,
    /// One export at a time: recording and collecting must not interleave between batches.
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OtlpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpMetrics").finish_non_exhaustive()
    }
}

impl OtlpMetrics {
    pub fn new(cfg: &OtlpConfig) -> Result<OtlpMetrics, ExportError> {
        let temporality = if cfg.temporality_cumulative {
            Temporality::Cumulative
        } else {
            Temporality::Delta
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| ExportError(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let exporter = MetricExporter::builder()
            .with_http()
            .with_http_client(HyperClient::new(connector, cfg.timeout, None))
            .with_endpoint(cfg.endpoint.clone())
            .with_timeout(cfg.timeout)
            .with_headers(cfg.headers.clone())
            .with_temporality(temporality)
            .build()
            .map_err(|e| ExportError(e.to_string()))?;
        let reader = SharedReader(Arc::new(
            ManualReader::builder()
                .with_temporality(temporality)
                .build(),
        ));
        let provider = SdkMeterProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name(
                        std::env::var("OTEL_SERVICE_NAME")
                            .ok()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "bedrock-meter".into()),
                    )
                    .build(),
            )
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("bedrock-meter");
        Ok(OtlpMetrics {
            token_usage: meter
                .u64_histogram(TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Number of input and output tokens used.")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            cache_read: meter
                .u64_counter(CACHE_READ)
                .with_unit("{token}")
                .with_description(
                    "The number of input tokens served from a provider-managed cache.",
                )
                .build(),
            cache_write: meter
                .u64_counter(CACHE_WRITE)
                .with_unit("{token}")
                .with_description("The number of input tokens written to a provider-managed cache.")
                .build(),
            cost: meter
                .f64_counter(COST)
                .with_unit("USD")
                .with_description(
                    "On-demand cost of the priced requests, from the embedded price table.",
                )
                .build(),
            requests: meter
                .u64_counter(REQUESTS)
                .with_unit("{request}")
                .with_description("Model invocations read from the invocation log.")
                .build(),
            unpriced: meter
                .u64_counter(UNPRICED)
                .with_unit("{request}")
                .with_description("Invocations without a price (never counted as $0).")
                .build(),
            exporter,
            reader,
            timeout: cfg.timeout,
            _provider: provider,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    fn record(&self, points: &Points) {
        for (key, p) in &points.series {
            let attrs: Vec<KeyValue> = key
                .attributes()
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v.to_string()))
                .collect();
            let with = |extra: KeyValue| {
                let mut a = attrs.clone();
                a.push(extra);
                a
            };
            let input = with(KeyValue::new(TOKEN_TYPE, "input"));
            for v in &p.input {
                self.token_usage.record(*v, &input);
            }
            let output = with(KeyValue::new(TOKEN_TYPE, "output"));
            for v in &p.output {
                self.token_usage.record(*v, &output);
            }
            let modality = with(KeyValue::new(TOKEN_MODALITY, "unknown"));
            self.cache_read.add(p.cache_read, &modality);
            self.cache_write.add(p.cache_write, &modality);
            self.cost.add(p.cost.as_f64(), &attrs);
            self.requests.add(p.requests, &attrs);
            if p.unpriced > 0 {
                self.unpriced.add(p.unpriced, &attrs);
            }
        }
    }

    /// Records the batch's points, collects and sends them (one OTLP request), within the timeout.
    pub async fn send(&self, points: &Points) -> Result<(), ExportError> {
        let _one = self.lock.lock().await;
        self.record(points);
        let mut rm = ResourceMetrics::default();
        self.reader
            .collect(&mut rm)
            .map_err(|e| ExportError(format!("collect: {e}")))?;
        // The HTTP client has the same timeout; this bounds the whole export (encoding included).
        match tokio::time::timeout(
            self.timeout + Duration::from_secs(1),
            self.exporter.export(&rm),
        )
        .await
        {
            Ok(r) => r.map_err(|e| ExportError(e.to_string())),
            Err(_) => Err(ExportError(format!("timed out after {:?}", self.timeout))),
        }
    }
}

impl OtelSink for OtlpMetrics {
    fn export<'a>(
        &'a self,
        points: &'a Points,
    ) -> Pin<Box<dyn Future<Output = Result<(), ExportError>> + Send + 'a>> {
        Box::pin(self.send(points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Option<OtlpConfig>, SettingError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn standard_variables() {
        assert_eq!(cfg(&[]).unwrap(), None);
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-honeycomb-team=abc%3D%3D, x-honeycomb-dataset=bedrock ,bad",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://api.honeycomb.io/v1/metrics");
        assert_eq!(c.headers["x-honeycomb-team"], "abc==");
        assert_eq!(c.headers["x-honeycomb-dataset"], "bedrock");
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert!(!c.temporality_cumulative);
        let m = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://ignored"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://127.0.0.1:4318/custom",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "Cumulative",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(m.endpoint, "http://127.0.0.1:4318/custom");
        assert_eq!(m.timeout, Duration::from_millis(2500));
        assert!(m.temporality_cumulative);
        let grpc = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert_eq!(grpc.unwrap_err().name, "OTEL_EXPORTER_OTLP_PROTOCOL");
        let off = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]);
        assert_eq!(off.unwrap(), None);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
        assert_eq!(percent_decode("%é%"), "%é%");
    }
}
