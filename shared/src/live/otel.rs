//! OpenTelemetry export of the live path (docs/otel.md): the **data points** one batch adds, computed
//! here, purely, from the same parsed records, resolutions and prices as the CloudWatch metrics
//! ([`super::batch`]). The adapter (`aws::otlp`, feature `otlp`) turns them into OpenTelemetry
//! instruments and sends them over OTLP/HTTP; the ingest Lambda calls it through [`OtelSink`].
//!
//! Names follow the OpenTelemetry GenAI semantic conventions (status Development), checked against
//! open-telemetry/semantic-conventions `model/gen-ai/gen-ai-client-metrics.yaml` (commit 34d5b15) and
//! open-telemetry/semantic-conventions-genai `model/gen-ai/metrics.yaml` (commit 004902b) and
//! `model/gen-ai/token-metrics.yaml` (commit 066d4a7):
//! - [`TOKEN_USAGE`] `gen_ai.client.token.usage`: histogram, unit `{token}`, one value per request and
//!   [`TOKEN_TYPE`] (`input` | `output`). The conventions' input **includes** cached tokens; Bedrock's
//!   `inputTokenCount` excludes them, so `input` here is `inputTokenCount + cacheReadInputTokenCount +
//!   cacheWriteInputTokenCount`.
//! - [`CACHE_READ`] / [`CACHE_WRITE`] `gen_ai.client.inference.usage.cache_{read,write}.input_tokens`:
//!   counters, unit `{token}`, with the required `gen_ai.token.modality` (`unknown`: the log does not
//!   split tokens by modality).
//! - attributes `gen_ai.provider.name = aws.bedrock`, `gen_ai.operation.name`, `gen_ai.request.model`,
//!   `error.type` (only for a failed call: its logged error code).
//! - ours, under `bedrock_meter.*` (the conventions have no cost): [`COST`] (counter, USD, priced
//!   requests only), [`REQUESTS`], [`UNPRICED`]; attributes `bedrock_meter.app`, `.team`, `.caller`,
//!   `.profile`.
//!
//! Every attribute value is written by whoever called Bedrock: each is cut to
//! [`MAX_ATTRIBUTE_CHARS`] characters, and the SDK's cardinality limit folds the rest into its overflow
//! series (sums are kept).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::attribution::resolution::AttributionConfig;
use crate::live::batch::{cost_of, Parsed, Resolutions};
use crate::pricing::money::Money;
use crate::pricing::prices::PriceTable;

pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
pub const CACHE_READ: &str = "gen_ai.client.inference.usage.cache_read.input_tokens";
pub const CACHE_WRITE: &str = "gen_ai.client.inference.usage.cache_write.input_tokens";
pub const COST: &str = "bedrock_meter.cost";
pub const REQUESTS: &str = "bedrock_meter.requests";
pub const UNPRICED: &str = "bedrock_meter.unpriced.requests";

pub const TOKEN_TYPE: &str = "gen_ai.token.type";
pub const TOKEN_MODALITY: &str = "gen_ai.token.modality";
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
pub const PROVIDER: &str = "aws.bedrock";
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
pub const ERROR_TYPE: &str = "error.type";
pub const APP: &str = "bedrock_meter.app";
pub const TEAM: &str = "bedrock_meter.team";
pub const CALLER: &str = "bedrock_meter.caller";
pub const PROFILE: &str = "bedrock_meter.profile";

/// The explicit bucket boundaries the conventions advise for `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The longest attribute value sent (characters); longer ones are cut.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

/// One series: the attributes every point of it carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// `gen_ai.operation.name`: `chat` for Converse / ConverseStream (as the conventions' AWS Bedrock
    /// page names them), otherwise the logged operation (`InvokeModel`, …).
    pub operation: String,
    /// The base model when known, else the logged `modelId`.
    pub model: String,
    pub app: String,
    pub team: String,
    pub caller: String,
    /// The application inference profile ARN, if the call went through one.
    pub profile: Option<String>,
    /// The logged error code of a failed call.
    pub error: Option<String>,
}

impl SeriesKey {
    /// The OpenTelemetry attributes (name, value) of this series, conventions' first.
    pub fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut a = vec![
            (PROVIDER_NAME, PROVIDER),
            (OPERATION_NAME, self.operation.as_str()),
            (REQUEST_MODEL, self.model.as_str()),
            (APP, self.app.as_str()),
            (TEAM, self.team.as_str()),
            (CALLER, self.caller.as_str()),
        ];
        if let Some(p) = &self.profile {
            a.push((PROFILE, p.as_str()));
        }
        if let Some(e) = &self.error {
            a.push((ERROR_TYPE, e.as_str()));
        }
        a
    }
}

/// What one series adds in a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesPoints {
    /// Per request: input tokens as the conventions count them (including cache reads and writes).
    pub input: Vec<u64>,
    /// Per request: output tokens.
    pub output: Vec<u64>,
    pub cache_read: u64,
    pub cache_write: u64,
    /// The priced requests' cost (an unpriced request adds nothing here and one to `unpriced`).
    pub cost: Money,
    pub requests: u64,
    pub unpriced: u64,
}

/// The data points of one batch, one entry per series in the order the batch first names each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Points {
    pub series: Vec<(SeriesKey, SeriesPoints)>,
}

impl Points {
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Sums over every series: (input incl. cache, output, cache read, cache write, cost, requests).
    pub fn totals(&self) -> (u64, u64, u64, u64, Money, u64) {
        self.series.iter().fold(
            (0, 0, 0, 0, Money::ZERO, 0),
            |(i, o, r, w, c, n), (_, p)| {
                (
                    i + p.input.iter().sum::<u64>(),
                    o + p.output.iter().sum::<u64>(),
                    r + p.cache_read,
                    w + p.cache_write,
                    c + p.cost,
                    n + p.requests,
                )
            },
        )
    }
}

/// `gen_ai.operation.name` of a logged operation.
pub fn operation_name(op: Option<&str>) -> &str {
    match op {
        Some("Converse" | "ConverseStream") => "chat",
        Some(o) if !o.is_empty() => o,
        _ => "unknown",
    }
}

/// An attacker-written value cut to [`MAX_ATTRIBUTE_CHARS`] characters.
pub fn attribute_value(v: &str) -> String {
    match v.char_indices().nth(MAX_ATTRIBUTE_CHARS) {
        Some((i, _)) => v[..i].to_string(),
        None => v.to_string(),
    }
}

/// The batch's data points. `resolutions` must hold every `modelId` of `parsed`
/// ([`super::batch::resolve_all`]), as for [`super::batch::aggregate`]; prices are the same
/// ([`cost_of`]), so the dollars here are the CloudWatch metrics' and the report's.
pub fn points(
    parsed: &Parsed<'_>,
    resolutions: &Resolutions<'_>,
    prices: &PriceTable,
    attribution: &AttributionConfig,
) -> Points {
    let mut out = Points::default();
    let mut index: HashMap<SeriesKey, usize> = HashMap::new();
    let mut principals: HashMap<&str, &str> = HashMap::new();
    for r in &parsed.records {
        let res = &resolutions[r.model_id.as_ref()];
        let raw = r.caller_or_unknown();
        let caller = *principals
            .entry(raw)
            .or_insert_with(|| attribution.principal.principal(raw));
        let key = SeriesKey {
            operation: attribute_value(operation_name(r.operation.as_deref())),
            model: attribute_value(&res.model),
            app: attribute_value(&res.app),
            team: attribute_value(&res.team),
            caller: attribute_value(caller),
            profile: res.profile_arn.as_deref().map(attribute_value),
            error: r.error_code.as_deref().map(attribute_value),
        };
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), out.series.len());
                out.series.push((key, SeriesPoints::default()));
                out.series.len() - 1
            }
        };
        let p = &mut out.series[i].1;
        let t = &r.tokens;
        p.input.push(t.prompt_total());
        p.output.push(t.output);
        p.cache_read = p.cache_read.saturating_add(t.cache_read);
        p.cache_write = p.cache_write.saturating_add(t.cache_write);
        p.requests += 1;
        match cost_of(r, res, prices) {
            Ok(c) => p.cost += c,
            Err(_) => p.unpriced += 1,
        }
    }
    out
}

/// Why an export failed (logged and counted; it never fails the batch).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("OTLP export: {0}")]
pub struct ExportError(pub String);

/// Where the points go (OTLP in `aws::otlp`). Object-safe, so the Lambda holds it as `dyn`.
pub trait OtelSink: Send + Sync {
    fn export<'a>(
        &'a self,
        points: &'a Points,
    ) -> Pin<Box<dyn Future<Output = Result<(), ExportError>> + Send + 'a>>;
}

/// The CloudWatch metric counting batches whose OTLP export failed (no dimensions, unit Count).
pub const OTLP_EXPORT_FAILURES: &str = "OtlpExportFailures";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::NoProfiles;
    use crate::live::batch::{parse_events, resolve_all};
    use crate::records::subscription::LogEvent;

    fn rec(model: &str, caller: &str, op: &str, t: [u64; 4], err: bool) -> String {
        let e = if err {
            r#","errorCode":"ThrottlingException""#
        } else {
            ""
        };
        format!(
            r#"{{"timestamp":"2026-12-01T10:00:00Z","accountId":"1","identity":{{"arn":"{caller}"}},"region":"us-east-1","requestId":"r","operation":"{op}","modelId":"{model}"{e},"input":{{"inputContentType":"application/json","inputTokenCount":{},"cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}}},"output":{{"outputContentType":"application/json","outputTokenCount":{}}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
            t[0], t[2], t[3], t[1]
        )
    }

    fn points_of(msgs: &[String]) -> Points {
        let events: Vec<LogEvent<'_>> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| LogEvent {
                id: "x",
                timestamp: 1_764_583_200_000 + i as i64,
                message: m.as_str().into(),
            })
            .collect();
        let parsed = parse_events(&events);
        assert_eq!(parsed.malformed.values().sum::<u64>(), 0, "fixtures parse");
        let cfg = AttributionConfig::default();
        let res = resolve_all(&parsed.model_ids(), &NoProfiles, &cfg);
        points(&parsed, &res, &PriceTable::embedded(), &cfg)
    }

    const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    const A: &str = "arn:aws:sts::1:assumed-role/App/session-1";
    const B: &str = "arn:aws:sts::1:assumed-role/App/session-2";

    #[test]
    fn input_includes_cache_tokens_and_series_split_by_attributes() {
        let p = points_of(&[
            rec(SONNET, A, "Converse", [100, 20, 1000, 50], false),
            rec(SONNET, B, "Converse", [7, 3, 0, 0], false),
            rec(SONNET, A, "InvokeModel", [1, 1, 0, 0], false),
            rec(SONNET, A, "Converse", [0, 0, 0, 0], true),
            rec("made.up-model-v9", A, "Converse", [5, 5, 0, 0], false),
        ]);
        // Sessions of one role are one caller (docs/callers.md): A and B share the first series.
        assert_eq!(p.series.len(), 4);
        let (k, s) = &p.series[0];
        assert_eq!(k.operation, "chat");
        assert_eq!(k.caller, "arn:aws:sts::1:assumed-role/App");
        assert_eq!(s.input, vec![1150, 7]);
        assert_eq!(s.output, vec![20, 3]);
        assert_eq!((s.cache_read, s.cache_write, s.requests), (1000, 50, 2));
        // Sonnet 4.5 in-Region: 3.30 / 16.50 / 0.33 / 4.125 per 1M (bedrock-facts §5).
        let want = (107.0 * 3.30 + 23.0 * 16.50 + 1000.0 * 0.33 + 50.0 * 4.125) / 1e6;
        assert!(
            (s.cost.as_f64() - want).abs() < 1e-12,
            "{}",
            s.cost.as_f64()
        );
        assert_eq!(p.series[1].0.operation, "InvokeModel");
        assert_eq!(p.series[2].0.error.as_deref(), Some("ThrottlingException"));
        let attrs = p.series[2].0.attributes();
        assert!(attrs.contains(&(ERROR_TYPE, "ThrottlingException")));
        assert!(attrs.contains(&(PROVIDER_NAME, "aws.bedrock")));
        // An unknown model is unpriced, never $0 spend counted as priced.
        let (_, u) = &p.series[3];
        assert_eq!((u.unpriced, u.cost), (1, Money::ZERO));
        let (i, o, r, w, _, n) = p.totals();
        assert_eq!((i, o, r, w, n), (1150 + 7 + 1 + 5, 29, 1000, 50, 5));
    }

    #[test]
    fn attacker_written_values_are_cut() {
        let long = format!("arn:aws:iam::1:user/{}", "é".repeat(1000));
        let p = points_of(&[rec(SONNET, &long, "Converse", [1, 1, 0, 0], false)]);
        assert_eq!(p.series[0].0.caller.chars().count(), MAX_ATTRIBUTE_CHARS);
        assert_eq!(attribute_value("short"), "short");
        assert_eq!(operation_name(None), "unknown");
        assert_eq!(operation_name(Some("ConverseStream")), "chat");
    }
}
