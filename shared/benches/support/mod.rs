//! Shared by the criterion bench (`benches/ingest.rs`) and the bench binary
//! (`examples/ingest_bench.rs`): a realistic subscription-event generator, the decode-only limit, and
//! the ingest pipeline: the same core functions `functions/ingest` (`Ingest::handle_data`) calls
//! (`subscription::Decoder`, then `batch::parse_events` → `batch::resolve_all` → `batch::aggregate`),
//! without the AWS calls around them (warm profile cache).
#![allow(dead_code)]

use std::io::Write as _;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::live::batch::{self, Aggregated, Parsed, Resolutions};
use bedrock_meter_core::live::metrics::MetricsConfig;
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::pricing::prices::Unpriced;
use bedrock_meter_core::records::subscription::{
    event_id, Base64Data, Decoder, LogsData, OneMember,
};
use bedrock_meter_core::time::Timestamp;

// ---------------------------------------------------------------------------------------------------
// The pipeline: what functions/ingest/src/lib.rs `handle_data` runs between its AWS calls.

/// The Lambda event as `lambda_runtime` deserializes it.
#[derive(serde::Deserialize)]
pub struct Event {
    pub awslogs: AwsLogs,
}

#[derive(serde::Deserialize)]
pub struct AwsLogs {
    pub data: Base64Data,
}

/// The event with `awslogs.data` as text: what the decode-only limit and the decode stage start from.
#[derive(serde::Deserialize)]
pub struct TextEvent {
    pub awslogs: TextLogs,
}

#[derive(serde::Deserialize)]
pub struct TextLogs {
    pub data: String,
}

pub struct Pipeline {
    pub decoder: Decoder,
    pub prices: PriceTable,
    pub profiles: ProfileMap,
    pub attribution: AttributionConfig,
    pub metrics: MetricsConfig,
    pub now: Timestamp,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub malformed: u64,
    pub datums: usize,
    pub observations: usize,
    pub cost: Money,
}

impl Pipeline {
    pub fn new(profiles_json: &str) -> Pipeline {
        let keys = vec!["tenant".to_string()];
        Pipeline {
            decoder: Decoder::new(),
            prices: PriceTable::embedded(),
            profiles: ProfileMap::from_json(profiles_json).expect("profiles file"),
            attribution: AttributionConfig {
                metadata_keys: keys.clone(),
                ..AttributionConfig::default()
            },
            metrics: MetricsConfig {
                caller_dimensions: false,
                metadata_keys: keys,
            },
            now: Timestamp::parse_iso8601(BASE_TIME).expect("time"),
        }
    }

    /// The whole invocation, from the event's JSON text.
    pub fn handle_event(&mut self, event: &str) -> Summary {
        let ev: Event = serde_json::from_str(event).expect("subscription event");
        let logs = self
            .decoder
            .decode_base64_data(&ev.awslogs.data)
            .expect("decode");
        process(
            &logs,
            &self.prices,
            &self.profiles,
            &self.attribution,
            &self.metrics,
            self.now,
        )
    }
}

/// The parse stage: every message, in place.
pub fn parse_all<'a>(logs: &LogsData<'a>) -> Parsed<'a> {
    batch::parse_events(&logs.log_events)
}

/// The resolve stage as the Lambda runs it with a warm cache: the distinct modelIds, the profile ARNs
/// it would make sure are fresh, and one resolution per modelId.
pub fn resolve_all<'p>(
    parsed: &'p Parsed<'_>,
    profiles: &ProfileMap,
    cfg: &AttributionConfig,
) -> Resolutions<'p> {
    let ids = parsed.model_ids();
    std::hint::black_box(batch::application_profiles(ids.iter().copied()));
    batch::resolve_all(&ids, profiles, cfg)
}

/// The price stage alone (the aggregate stage prices again, as the Lambda does, record by record).
pub fn price_all(
    parsed: &Parsed<'_>,
    resolutions: &Resolutions<'_>,
    prices: &PriceTable,
) -> Vec<Result<Money, Unpriced>> {
    parsed
        .records
        .iter()
        .map(|r| batch::cost_of(r, &resolutions[r.model_id.as_ref()], prices))
        .collect()
}

/// The aggregate stage: price, per-minute metric datums, the detector's observations.
pub fn aggregate(
    parsed: &Parsed<'_>,
    resolutions: &Resolutions<'_>,
    prices: &PriceTable,
    cfg: &AttributionConfig,
    mcfg: &MetricsConfig,
    now: Timestamp,
) -> Aggregated {
    batch::aggregate(parsed, resolutions, prices, cfg, mcfg, now)
}

pub fn summary(parsed: &Parsed<'_>, agg: &Aggregated) -> Summary {
    Summary {
        records: parsed.records.len(),
        malformed: parsed.malformed.values().sum(),
        datums: agg.datums.len(),
        observations: agg.observations.len(),
        cost: agg.observations.iter().map(|o| o.cost).sum(),
    }
}

pub fn process(
    logs: &LogsData<'_>,
    prices: &PriceTable,
    profiles: &ProfileMap,
    cfg: &AttributionConfig,
    mcfg: &MetricsConfig,
    now: Timestamp,
) -> Summary {
    let parsed = parse_all(logs);
    let resolutions = resolve_all(&parsed, profiles, cfg);
    let agg = aggregate(&parsed, &resolutions, prices, cfg, mcfg, now);
    summary(&parsed, &agg)
}

// ---------------------------------------------------------------------------------------------------
// Decode-only: base64 + gunzip (+ CRC check), nothing else — the limit no parser can beat. The inflate
// is the decoder's own for a payload of one member: libdeflate, which also checks the CRC and length.

pub struct RawDecode {
    compressed: Vec<u8>,
    out: Vec<u8>,
    inflate: OneMember,
}

impl RawDecode {
    pub fn new() -> RawDecode {
        RawDecode {
            compressed: Vec::new(),
            out: Vec::new(),
            inflate: OneMember::new(),
        }
    }

    pub fn run(&mut self, data: &str) -> usize {
        self.compressed.clear();
        STANDARD
            .decode_vec(data.as_bytes(), &mut self.compressed)
            .expect("base64");
        assert!(
            self.inflate.inflate(&self.compressed, &mut self.out),
            "one gzip member"
        );
        self.out.len()
    }
}

// ---------------------------------------------------------------------------------------------------
// Per-stage timing.

pub fn median_ns(mut v: Vec<u128>) -> f64 {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

pub fn time<T>(iters: usize, mut f: impl FnMut() -> T) -> f64 {
    // Warm-up (buffers grown, caches and branch predictors warm), then one timing per iteration.
    for _ in 0..2 {
        std::hint::black_box(f());
    }
    let v = (0..iters)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_nanos()
        })
        .collect();
    median_ns(v)
}

pub fn stages(event: &str, profiles_json: &str, iters: usize) -> String {
    let mut p = Pipeline::new(profiles_json);
    let ev: TextEvent = serde_json::from_str(event).expect("event");
    let data = ev.awslogs.data.as_str();

    let mut raw = RawDecode::new();
    let inflated = raw.run(data);
    let decode_only = time(iters, || raw.run(data));
    drop(raw);

    let decode = time(iters, || {
        p.decoder
            .decode_data(data)
            .map(|l| l.log_events.len())
            .expect("decode")
    });
    let mut decoder = Decoder::new();
    let logs = decoder.decode_data(data).expect("decode");
    let record_bytes: usize = logs
        .log_events
        .iter()
        .map(|e| e.message.text().expect("message").len())
        .sum();
    let events = logs.log_events.len();

    let parse_t = time(iters, || parse_all(&logs).records.len());
    let parsed = parse_all(&logs);
    let resolve_t = time(iters, || {
        resolve_all(&parsed, &p.profiles, &p.attribution).len()
    });
    let resolutions = resolve_all(&parsed, &p.profiles, &p.attribution);
    let price_t = time(iters, || price_all(&parsed, &resolutions, &p.prices).len());
    let run_aggregate = || {
        aggregate(
            &parsed,
            &resolutions,
            &p.prices,
            &p.attribution,
            &p.metrics,
            p.now,
        )
    };
    let aggregate_t = time(iters, run_aggregate);
    let summary = summary(&parsed, &run_aggregate());
    // End to end: the event's JSON text in, metric datums and observations out.
    let e2e = time(iters, || p.handle_event(event));
    assert_eq!(p.handle_event(event), summary);

    serde_json::json!({
        "event_bytes": event.len(),
        "data_bytes": data.len(),
        "inflated_bytes": inflated,
        "record_bytes": record_bytes,
        "events": events,
        "records": summary.records,
        "malformed": summary.malformed,
        "datums": summary.datums,
        "observations": summary.observations,
        "cost_usd": summary.cost.to_decimal_string(6),
        "iters": iters,
        "ns": {
            "decode_only": decode_only,
            "decode": decode,
            "parse": parse_t,
            "resolve": resolve_t,
            "price": price_t,
            "aggregate": aggregate_t,
            "end_to_end": e2e,
        }
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------------
// Payload generator.

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Text delivery on: bodies logged (small calls, 20–100 KB agent calls, stream arrays).
    BodyHeavy,
    /// Text delivery off: metadata only, many small records.
    MetadataOnly,
}

pub const BASE_TIME: &str = "2026-11-25T10:00:00Z";
pub const ACCOUNT: &str = "123456789012";
/// Target size of `awslogs.data` (base64 of gzip): just under the 1 MB async invocation payload.
pub const TARGET_DATA_BYTES: usize = 1_000_000;

pub struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next_u64() % v.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

pub const WORDS: &str = "the of and to a in is that for it as was with be by on not he this are or his from at which but have an they you were her she there one all we their been has would when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three few school number fact system group problem service customer order invoice account report data model request response error value function table query result user team app cluster deploy build test pipeline region cost budget token cache prompt agent tool step plan file line code review change branch commit release";

pub const CODE: &[&str] = &[
    "fn handle(req: &Request) -> Result<Response, Error> {",
    "    let mut total = 0u64;",
    "    for item in items.iter().filter(|i| i.active) {",
    "        total += item.price * item.quantity;",
    "    }",
    "    if total > limit { return Err(Error::OverBudget(total)); }",
    "    Ok(Response::new(total))",
    "}",
    "def process(batch):",
    "    rows = [r for r in batch if r[\"status\"] == \"ok\"]",
    "    return sum(r[\"amount\"] for r in rows)",
    "SELECT team, app, SUM(cost) FROM usage WHERE day = '2026-11-24' GROUP BY 1, 2;",
    "import { useState } from \"react\";",
    "export const handler = async (event) => { return { statusCode: 200 }; };",
    "2026-11-25T09:59:58.123Z INFO worker-3 processed 1841 records in 412 ms",
    "2026-11-25T09:59:59.004Z WARN retrying request after ThrottlingException (attempt 2)",
];

pub struct Text<'w> {
    words: Vec<&'w str>,
}

impl Text<'_> {
    fn new() -> Text<'static> {
        Text {
            words: WORDS.split(' ').collect(),
        }
    }

    /// Prose of about `n` bytes: Zipf-like word choice, sentences, paragraphs, numbers and ids.
    fn prose(&self, rng: &mut Rng, n: usize) -> String {
        let mut s = String::with_capacity(n + 64);
        let mut start = true;
        while s.len() < n {
            let u = rng.unit();
            let i = ((u * u * u) * self.words.len() as f64) as usize;
            let w = self.words[i.min(self.words.len() - 1)];
            if start {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    s.extend(f.to_uppercase());
                    s.push_str(c.as_str());
                }
                start = false;
            } else {
                s.push_str(w);
            }
            match rng.range(0, 99) {
                0..=5 => {
                    s.push_str(". ");
                    start = true;
                }
                6 => s.push_str(".\n\n"),
                7..=9 => s.push_str(", "),
                10 => {
                    s.push_str(&format!(" {} ", rng.range(2, 99_999)));
                }
                11 => {
                    s.push_str(&format!(" \"{}\" ", self.words[rng.range(0, 40) as usize]));
                }
                12 => {
                    s.push_str(&format!(" id-{:x} ", rng.next_u64() >> 24));
                }
                _ => s.push(' '),
            }
            if s.ends_with("\n\n") {
                start = true;
            }
        }
        s
    }

    fn prose_between(&self, rng: &mut Rng, lo: u64, hi: u64) -> String {
        let n = rng.range(lo, hi) as usize;
        self.prose(rng, n)
    }

    /// Code or log lines of about `n` bytes.
    fn code(&self, rng: &mut Rng, n: usize) -> String {
        let mut s = String::with_capacity(n + 128);
        while s.len() < n {
            let line = rng.pick(CODE);
            s.push_str(line);
            if rng.chance(0.3) {
                s.push_str(&format!(
                    " // {} {}",
                    self.prose(rng, 30),
                    rng.range(1, 5000)
                ));
            }
            s.push('\n');
        }
        s
    }
}

pub fn profile_arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/{id}")
}

/// Application profiles (warm in the cache): `list-inference-profiles` shape with tags.
pub const PROFILES_JSON: &str = r#"{"inferenceProfileSummaries":[
 {"inferenceProfileArn":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/agent01","inferenceProfileName":"ops-agent","inferenceProfileId":"agent01",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"},{"modelArn":"arn:aws:bedrock:us-east-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"},{"modelArn":"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}],
  "type":"APPLICATION","tags":[{"key":"app","value":"ops-agent"},{"key":"team","value":"platform"}]},
 {"inferenceProfileArn":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/coder01","inferenceProfileName":"code-review","inferenceProfileId":"coder01",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"},{"modelArn":"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"},{"modelArn":"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"}],
  "type":"APPLICATION","tags":[{"key":"app","value":"code-review"},{"key":"team","value":"devex"}]},
 {"inferenceProfileArn":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/scorer01","inferenceProfileName":"scorer","inferenceProfileId":"scorer01",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}],
  "type":"APPLICATION","tags":[{"key":"app","value":"scorer"},{"key":"team","value":"risk"}]},
 {"inferenceProfileArn":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/docqa01","inferenceProfileName":"doc-qa","inferenceProfileId":"docqa01",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"},{"modelArn":"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}],
  "type":"APPLICATION","tags":[{"key":"app","value":"doc-qa"}]}
]}"#;

/// (modelId as logged, weight in small calls).
pub fn small_models() -> Vec<String> {
    vec![
        profile_arn("scorer01"),
        "amazon.nova-micro-v1:0".into(),
        "us.amazon.nova-lite-v1:0".into(),
        "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
        profile_arn("docqa01"),
        "anthropic.claude-3-haiku-20240307-v1:0".into(),
        "meta.llama3-3-70b-instruct-v1:0".into(),
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0".into(),
        "cohere.command-r-plus-v1:0".into(), // no price: unpriced
        profile_arn("deleted99"),            // unknown profile: unresolved
    ]
}

pub fn agent_models() -> Vec<String> {
    vec![
        profile_arn("agent01"),
        profile_arn("coder01"),
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
        format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-opus-4-5-20251101-v1:0"),
    ]
}

pub fn caller(rng: &mut Rng) -> String {
    match rng.range(0, 5) {
        0 => format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/AgentRunner/i-{:012x}",
            rng.next_u64() >> 16
        ),
        1 => format!("arn:aws:sts::{ACCOUNT}:assumed-role/ScorerLambdaRole/scorer-fn"),
        2 => format!("arn:aws:iam::{ACCOUNT}:user/dana.scientist"),
        3 => format!("arn:aws:iam::{ACCOUNT}:user/BedrockAPIKey-7f3a"),
        _ => format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/gh-run-{}",
            rng.range(1, 40)
        ),
    }
}

pub fn js(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

pub enum Kind {
    Small,
    Agent,
    Stream,
    Offloaded,
    Error,
}

pub struct Gen {
    rng: Rng,
    text: Text<'static>,
    mix: Mix,
    small: Vec<String>,
    agent: Vec<String>,
}

impl Gen {
    fn kind(&mut self) -> Kind {
        let u = self.rng.unit();
        match self.mix {
            Mix::BodyHeavy => match u {
                u if u < 0.40 => Kind::Small,
                u if u < 0.65 => Kind::Agent,
                u if u < 0.82 => Kind::Stream,
                u if u < 0.94 => Kind::Offloaded,
                _ => Kind::Error,
            },
            Mix::MetadataOnly => match u {
                u if u < 0.55 => Kind::Small,
                u if u < 0.75 => Kind::Agent,
                u if u < 0.90 => Kind::Stream,
                u if u < 0.95 => Kind::Offloaded,
                _ => Kind::Error,
            },
        }
    }

    fn messages(&mut self, n: usize, bytes: usize) -> serde_json::Value {
        let per = bytes / n.max(1);
        let msgs: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let role = if i % 2 == 0 { "user" } else { "assistant" };
                serde_json::json!({"role": role, "content": [{"text": self.text.prose(&mut self.rng, per)}]})
            })
            .collect();
        serde_json::Value::Array(msgs)
    }

    /// An agent conversation in the Converse shape: system prompt, tool definitions, tool calls and
    /// tool results (code, logs), about `bytes` long.
    fn agent_input(&mut self, bytes: usize) -> serde_json::Value {
        let rng = &mut self.rng;
        let system = self.text.prose(rng, 3000);
        let tools: Vec<serde_json::Value> = ["read_file", "run_tests", "search_code", "apply_patch"]
            .iter()
            .map(|n| serde_json::json!({"toolSpec": {"name": n, "description": self.text.prose(rng, 200),
                "inputSchema": {"json": {"type": "object", "properties": {"path": {"type": "string"}, "query": {"type": "string"}}, "required": ["path"]}}}}))
            .collect();
        let mut messages = vec![
            serde_json::json!({"role": "user", "content": [{"text": self.text.prose(rng, 800)}]}),
        ];
        let mut size = 4000;
        while size < bytes {
            let id = format!("tooluse_{:x}", rng.next_u64());
            let call = serde_json::json!({"role": "assistant", "content": [
                {"text": self.text.prose_between(rng, 100, 600)},
                {"toolUse": {"toolUseId": id, "name": "read_file", "input": {"path": format!("src/mod_{}.rs", rng.range(1, 300))}}}]});
            let n = rng.range(1000, 8000) as usize;
            let body = if rng.chance(0.6) {
                self.text.code(rng, n)
            } else {
                self.text.prose(rng, n)
            };
            let result = serde_json::json!({"role": "user", "content": [
                {"toolResult": {"toolUseId": id, "content": [{"text": body}], "status": "success"}}]});
            size += n + 700;
            messages.push(call);
            messages.push(result);
        }
        serde_json::json!({"system": [{"text": system}], "messages": messages,
            "toolConfig": {"tools": tools}, "inferenceConfig": {"maxTokens": 8192, "temperature": 0.2}})
    }

    fn stream_output(&mut self, chunks: usize) -> serde_json::Value {
        let rng = &mut self.rng;
        let mut v = vec![
            serde_json::json!({"type": "message_start", "message": {"id": format!("msg_bdrk_{:x}", rng.next_u64()),
            "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001", "content": [], "stop_reason": null,
            "usage": {"input_tokens": rng.range(10, 4000), "output_tokens": 1}}}),
        ];
        v.push(serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        for _ in 0..chunks {
            let t = self.text.prose_between(rng, 4, 40);
            v.push(serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}));
        }
        v.push(serde_json::json!({"type": "content_block_stop", "index": 0}));
        v.push(serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": chunks * 3}}));
        v.push(serde_json::json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 100, "outputTokenCount": chunks * 3, "invocationLatency": rng.range(300, 9000), "firstByteLatency": rng.range(100, 900)}}));
        serde_json::Value::Array(v)
    }

    fn record(&mut self, ts: i64) -> String {
        let bodies = self.mix == Mix::BodyHeavy;
        let kind = self.kind();
        let rng = &mut self.rng;
        let request_id = rng.uuid();
        let region = *rng.pick(&["us-east-1", "us-east-1", "us-west-2", "eu-west-1"]);
        let (operation, model_id) = match kind {
            Kind::Small => (
                *rng.pick(&["Converse", "InvokeModel"]),
                rng.pick(&self.small).clone(),
            ),
            Kind::Agent => ("Converse", rng.pick(&self.agent).clone()),
            Kind::Stream => (
                "InvokeModelWithResponseStream",
                rng.pick(&self.small[3..6]).clone(),
            ),
            Kind::Offloaded => ("ConverseStream", rng.pick(&self.agent).clone()),
            Kind::Error => (
                *rng.pick(&["Converse", "InvokeModel"]),
                rng.pick(&self.small).clone(),
            ),
        };
        let (mut input, mut output) = (Vec::<String>::new(), Vec::<String>::new());
        input.push("\"inputContentType\":\"application/json\"".into());
        let mut out_tokens = Some(rng.range(5, 900));
        let (mut inp, mut cr, mut cw) = (rng.range(5, 3000), 0, 0);
        let mut error = None;
        match kind {
            Kind::Small => {
                if bodies {
                    let n = rng.range(1, 3) as usize * 2 - 1;
                    let b = rng.range(200, 2500) as usize;
                    let body = serde_json::json!({"messages": self.messages(n, b), "inferenceConfig": {"maxTokens": 1024, "temperature": 0.7}});
                    input.push(format!("\"inputBodyJson\":{body}"));
                    let rng = &mut self.rng;
                    let reply = self.text.prose_between(rng, 80, 1500);
                    let ob = serde_json::json!({"output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
                        "stopReason": "end_turn", "metrics": {"latencyMs": rng.range(200, 4000)},
                        "usage": {"inputTokens": inp, "outputTokens": out_tokens, "totalTokens": inp + out_tokens.unwrap_or(0)}});
                    output.push(format!("\"outputBodyJson\":{ob}"));
                }
            }
            Kind::Agent => {
                let rng = &mut self.rng;
                inp = rng.range(1, 60);
                cr = rng.range(15_000, 190_000);
                cw = if rng.chance(0.4) {
                    rng.range(500, 12_000)
                } else {
                    0
                };
                let one_h = if cw > 0 && rng.chance(0.5) { cw / 2 } else { 0 };
                let bytes = rng.range(20_000, 100_000) as usize;
                if bodies {
                    let body = self.agent_input(bytes);
                    input.push(format!("\"inputBodyJson\":{body}"));
                    let rng = &mut self.rng;
                    let mut details = vec![];
                    if cw > 0 {
                        if one_h > 0 {
                            details.push(serde_json::json!({"ttl": "1h", "inputTokens": one_h}));
                        }
                        details.push(serde_json::json!({"ttl": "5m", "inputTokens": cw - one_h}));
                    }
                    let text = self.text.prose_between(rng, 200, 3000);
                    let ob = serde_json::json!({"output": {"message": {"role": "assistant", "content": [
                            {"text": text},
                            {"toolUse": {"toolUseId": format!("tooluse_{:x}", rng.next_u64()), "name": "run_tests", "input": {"path": "tests/"}}}]}},
                        "stopReason": "tool_use", "metrics": {"latencyMs": rng.range(900, 30_000)},
                        "usage": {"inputTokens": inp, "outputTokens": out_tokens, "cacheReadInputTokens": cr, "cacheWriteInputTokens": cw,
                            "cacheDetails": details, "totalTokens": inp + cr + cw}});
                    output.push(format!("\"outputBodyJson\":{ob}"));
                }
            }
            Kind::Stream => {
                if bodies {
                    let rng = &mut self.rng;
                    let n = rng.range(1, 5) as usize;
                    let b = rng.range(1000, 12_000) as usize;
                    let body = serde_json::json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2048,
                        "messages": self.messages(n, b)});
                    input.push(format!("\"inputBodyJson\":{body}"));
                    let chunks = self.rng.range(40, 500) as usize;
                    let ob = self.stream_output(chunks);
                    output.push(format!("\"outputBodyJson\":{ob}"));
                }
            }
            Kind::Offloaded => {
                let rng = &mut self.rng;
                inp = rng.range(1, 20);
                cw = rng.range(100_000, 240_000);
                cr = rng.range(0, 50_000);
                let day = "2026/11/25/10";
                input.push(format!("\"inputBodyS3Path\":\"s3://bedrock-logs-{ACCOUNT}-us-east-1/invocations/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1/{day}/data/{request_id}_input.json.gz\""));
                if bodies && rng.chance(0.5) {
                    output.push("\"outputBodyJson\":[\"[...truncated stream events...]\"]".into());
                } else {
                    output.push(format!("\"outputBodyS3Path\":\"s3://bedrock-logs-{ACCOUNT}-us-east-1/invocations/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1/{day}/data/{request_id}_output.json.gz\""));
                }
            }
            Kind::Error => {
                error = Some(*rng.pick(&[
                    "ThrottlingException",
                    "ValidationException",
                    "ModelTimeoutException",
                    "ServiceUnavailableException",
                ]));
                out_tokens = None;
                if bodies {
                    let b = rng.range(200, 4000) as usize;
                    let body = serde_json::json!({"messages": self.messages(1, b)});
                    input.push(format!("\"inputBodyJson\":{body}"));
                }
            }
        }
        let rng = &mut self.rng;
        input.push(format!("\"inputTokenCount\":{inp}"));
        if !matches!(kind, Kind::Small) || rng.chance(0.5) {
            input.push(format!("\"cacheReadInputTokenCount\":{cr}"));
            input.push(format!("\"cacheWriteInputTokenCount\":{cw}"));
        }
        output.insert(0, "\"outputContentType\":\"application/json\"".into());
        if let Some(o) = out_tokens {
            output.push(format!("\"outputTokenCount\":{o}"));
        }
        let ts_text = Timestamp(ts).to_string();
        let mut r = format!(
            "{{\"timestamp\":\"{ts_text}\",\"accountId\":\"{ACCOUNT}\",\"region\":\"{region}\",\"requestId\":\"{request_id}\",\"operation\":\"{operation}\",\"modelId\":{},\"input\":{{{}}},\"output\":{{{}}},\"identity\":{{\"arn\":{}}}",
            js(&model_id),
            input.join(","),
            output.join(","),
            js(&caller(rng)),
        );
        if rng.chance(0.35) {
            r.push_str(&format!(
                ",\"requestMetadata\":{{\"tenant\":\"t{:02}\",\"env\":\"{}\"}}",
                rng.range(1, 24),
                rng.pick(&["prod", "staging"])
            ));
        }
        if model_id.contains("us.") || model_id.starts_with("global.") {
            r.push_str(&format!(
                ",\"inferenceRegion\":\"{}\"",
                rng.pick(&["us-east-1", "us-east-2", "us-west-2"])
            ));
        }
        if let Some(e) = error {
            r.push_str(&format!(",\"errorCode\":\"{e}\""));
        }
        r.push_str(",\"schemaType\":\"ModelInvocationLog\",\"schemaVersion\":\"1.0\"}");
        r
    }
}

/// A subscription event whose `awslogs.data` is about [`TARGET_DATA_BYTES`] long; returns the event and
/// a line of statistics.
pub fn generate(mix: Mix, seed: u64) -> (String, String) {
    let mut g = Gen {
        rng: Rng(seed ^ 0x5EED),
        text: Text::new(),
        mix,
        small: small_models(),
        agent: agent_models(),
    };
    let base = Timestamp::parse_iso8601(BASE_TIME).expect("time").0 - 300;
    let head = format!(
        "{{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"{ACCOUNT}\",\"logGroup\":\"/aws/bedrock/modelinvocations\",\"logStream\":\"aws/bedrock/modelinvocations\",\"subscriptionFilters\":[\"bedrock-meter-ingest\"],\"logEvents\":["
    );
    // Compressed budget (base64 is 4/3 of it), with a margin for the event's JSON wrapper.
    let budget = TARGET_DATA_BYTES / 4 * 3 - 100;
    let compress = |events: &[String]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(head.as_bytes()).expect("vec");
        for (i, ev) in events.iter().enumerate() {
            if i > 0 {
                gz.write_all(b",").expect("vec");
            }
            gz.write_all(ev.as_bytes()).expect("vec");
        }
        gz.write_all(b"]}").expect("vec");
        gz.finish().expect("vec")
    };
    let mut events: Vec<String> = Vec::new();
    let mut seq = 0u64;
    let step = if mix == Mix::BodyHeavy { 1 } else { 100 };
    // Grow by about 10% until over budget, then bisect on the number of events.
    loop {
        for _ in 0..(events.len() / 10).max(4) {
            let ts = base + (seq as i64 * 3) / step;
            let rec = g.record(ts);
            let ingested = ts * 1000 + g.rng.range(200, 3000) as i64;
            events.push(format!(
                "{{\"id\":\"{}\",\"timestamp\":{},\"message\":{}}}",
                event_id(ingested, seq),
                ingested,
                js(&rec)
            ));
            seq += 1;
        }
        if compress(&events).len() > budget {
            break;
        }
    }
    let (mut lo, mut hi) = (1usize, events.len());
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if compress(&events[..mid]).len() <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    events.truncate(lo);
    let compressed = compress(&events);
    let data = STANDARD.encode(&compressed);
    let inflated = head.len() + events.iter().map(|e| e.len() + 1).sum::<usize>() + 1;
    let stats = format!(
        "events {} data {} B gzip {} B inflated {} B (ratio {:.2})",
        events.len(),
        data.len(),
        compressed.len(),
        inflated,
        inflated as f64 / compressed.len() as f64
    );
    (
        serde_json::json!({"awslogs": {"data": data}}).to_string(),
        stats,
    )
}
