//! `bedrock-meter demo`: writes a realistic day of invocation logs in the S3 layout Bedrock uses (plus
//! the profiles file of the account's application profiles), then runs `report` and `replay` on it.
//!
//! The day has: five tagged apps across four teams (an agent with heavy prompt caching, a scorer with
//! per-tenant request metadata, a document Q&A app with some long-context requests, a high-volume
//! writer with throttling errors), callers who bypass profiles (a data scientist, a CI role, a Bedrock
//! API key), a model without a price, a deleted profile, response bodies with 1-hour cache writes, bodies
//! offloaded to `data/`, the permission-check marker, a broken line, late deliveries into the next
//! hour's folder — and one agent stuck in a loop overnight, its context growing call after call.
//! Everything is generated from a seed: the same seed gives the same files.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;
use bedrock_meter_core::time::{Date, Timestamp};

use crate::report::parse_date;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to write the logs (an S3-layout tree) and profiles.json.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// The day to generate (UTC).
    #[arg(long, value_parser = parse_date, default_value = "2026-11-25")]
    pub date: Date,
    /// Seed of the generator: the same seed writes the same files.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Only write the files; do not run report and replay on them (nor write report.html).
    #[arg(long)]
    pub no_run: bool,
}

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// splitmix64: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next_u64() % v.len() as u64) as usize]
    }
}

pub fn profile_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/{id}")
}

fn fm(region: &str, model: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model}")
}

/// The account's application profiles, in the `aws bedrock list-inference-profiles` shape with tags.
pub fn profiles_json() -> String {
    let us = ["us-east-1", "us-east-2", "us-west-2"];
    let global = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"];
    let p = |id: &str, name: &str, model: &str, regions: &[&str], tags: &[(&str, &str)]| {
        serde_json::json!({
            "inferenceProfileName": name,
            "inferenceProfileArn": profile_arn(id),
            "inferenceProfileId": id,
            "description": format!("{name} (demo)"),
            "models": regions.iter().map(|r| serde_json::json!({"modelArn": fm(r, model)})).collect::<Vec<_>>(),
            "status": "ACTIVE",
            "type": "APPLICATION",
            "tags": tags.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
        })
    };
    let all = serde_json::json!({ "inferenceProfileSummaries": [
        p("opsagent0001", "ops-agent", "anthropic.claude-haiku-4-5-20251001-v1:0", &us, &[("app", "ops-agent"), ("team", "platform")]),
        p("fraudscore01", "fraud-scorer", "amazon.nova-lite-v1:0", &["us-east-1"], &[("app", "fraud-scorer"), ("team", "fraud-risk")]),
        p("docqa0000001", "doc-qa", "anthropic.claude-sonnet-4-5-20250929-v1:0", &global, &[("app", "doc-qa"), ("team", "search")]),
        p("triage000001", "ticket-triage", "anthropic.claude-opus-4-5-20251101-v1:0", &us, &[("app", "ticket-triage"), ("team", "support"), ("meter:max-cost-usd", "10"), ("meter:on-runaway", "contain")]),
        p("emailwriter1", "email-writer", "amazon.nova-micro-v1:0", &["us-east-1"], &[("app", "email-writer"), ("team", "growth")]),
    ]});
    serde_json::to_string_pretty(&all).expect("json")
}

/// One generated call.
pub struct Call {
    pub at: i64,
    pub model_id: String,
    pub caller: String,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cache_write_1h: u64,
    pub error: Option<&'static str>,
    pub metadata: Vec<(&'static str, &'static str)>,
    pub body: bool,
    pub offload: bool,
}

/// Requests per minute of a day-time app at second `t` of the day: quiet at night, busy in the afternoon.
fn diurnal(peak: f64, t: i64) -> f64 {
    let h = (t.rem_euclid(86_400)) as f64 / 3600.0;
    let x = ((h - 16.0) / 24.0 * std::f64::consts::TAU).cos(); // 1 at 16:00 UTC, -1 at 04:00
    peak * (0.15 + 0.85 * (x + 1.0) / 2.0)
}

fn role(name: &str, session: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}")
}
fn user(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// Every call of the day (plus ten minutes either side), unsorted.
pub fn generate(day: Date, seed: u64) -> Vec<Call> {
    let mut rng = Rng::new(seed);
    let mut calls = Vec::new();
    let start = day.start().0 - 600;
    let end = day.start().0 + 86_400 + 600;
    let base = |model_id: String, caller: String, at: i64| Call {
        at,
        model_id,
        caller,
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        cache_write_1h: 0,
        error: None,
        metadata: vec![],
        body: false,
        offload: false,
    };
    let mut minute = start;
    while minute < end {
        let n_of = |rng: &mut Rng, rate: f64| {
            let whole = rate.floor() as u64;
            whole + u64::from(rng.chance(rate - rate.floor()))
        };
        // ops-agent: an agent with heavy prompt caching.
        for _ in 0..n_of(&mut rng, diurnal(3.0, minute)) {
            let at = minute + rng.range(0, 59) as i64;
            let mut c = base(
                profile_arn("opsagent0001"),
                role("ops-agent-runtime", &format!("run-{}", rng.range(1, 40))),
                at,
            );
            c.input = rng.range(40, 600);
            c.output = rng.range(150, 1800);
            c.cache_read = rng.range(15_000, 120_000);
            if rng.chance(0.15) {
                c.cache_write = rng.range(4_000, 30_000);
                c.body = rng.chance(0.3);
                if c.body && rng.chance(0.5) {
                    c.cache_write_1h = c.cache_write;
                }
            }
            calls.push(c);
        }
        // fraud-scorer: steady, per-tenant metadata.
        for _ in 0..n_of(&mut rng, diurnal(9.0, minute)) {
            let at = minute + rng.range(0, 59) as i64;
            let mut c = base(profile_arn("fraudscore01"), role("fraud-svc", "scorer"), at);
            c.input = rng.range(800, 3_000);
            c.output = rng.range(40, 220);
            c.metadata = vec![
                (
                    "tenant",
                    *rng.pick(&["acme", "globex", "initech", "umbrella"]),
                ),
                ("env", "prod"),
            ];
            c.body = rng.chance(0.02);
            calls.push(c);
        }
        // doc-qa: Sonnet 4.5 through a global profile; some long-context requests.
        for _ in 0..n_of(&mut rng, diurnal(1.2, minute)) {
            let at = minute + rng.range(0, 59) as i64;
            let mut c = base(profile_arn("docqa0000001"), role("doc-qa-api", "web"), at);
            if rng.chance(0.03) {
                c.input = rng.range(180_000, 380_000);
                c.cache_read = rng.range(0, 40_000);
            } else {
                c.input = rng.range(2_000, 30_000);
                c.cache_read = if rng.chance(0.5) {
                    rng.range(5_000, 60_000)
                } else {
                    0
                };
            }
            c.output = rng.range(200, 2_500);
            c.offload = c.input > 150_000;
            calls.push(c);
        }
        // ticket-triage: low normal traffic.
        if rng.chance(diurnal(0.25, minute)) {
            let mut c = base(
                profile_arn("triage000001"),
                role("support-bot", "triage"),
                minute + rng.range(0, 59) as i64,
            );
            c.input = rng.range(1_000, 6_000);
            c.output = rng.range(200, 900);
            calls.push(c);
        }
        // email-writer: high volume, cheap, some throttling.
        for _ in 0..n_of(&mut rng, diurnal(22.0, minute)) {
            let at = minute + rng.range(0, 59) as i64;
            let mut c = base(
                profile_arn("emailwriter1"),
                role("growth-mailer", "batch"),
                at,
            );
            if rng.chance(0.02) {
                c.error = Some("ThrottlingException");
            } else {
                c.input = rng.range(300, 1_500);
                c.output = rng.range(150, 600);
            }
            calls.push(c);
        }
        // ci-runner: a direct caller on a foundation-model ARN.
        if rng.chance(diurnal(0.08, minute)) {
            let mut c = base(
                fm(REGION, "amazon.nova-micro-v1:0"),
                role("ci-runner", "build"),
                minute + rng.range(0, 59) as i64,
            );
            c.input = rng.range(500, 4_000);
            c.output = rng.range(100, 800);
            calls.push(c);
        }
        minute += 60;
    }
    let day0 = day.start().0;
    // A data scientist calling Sonnet 4.5 directly through the US profile in the afternoon.
    for i in 0..24 {
        let mut c = base(
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            user("jane.doe"),
            day0 + 13 * 3600 + i * 611,
        );
        c.input = rng.range(20_000, 90_000);
        c.output = rng.range(1_000, 4_000);
        calls.push(c);
    }
    // A long-term Bedrock API key on the global Opus 4.5 profile.
    for i in 0..9 {
        let mut c = base(
            "global.anthropic.claude-opus-4-5-20251101-v1:0".into(),
            user("BedrockAPIKey-7f3a"),
            day0 + 10 * 3600 + i * 1234,
        );
        c.input = rng.range(3_000, 12_000);
        c.output = rng.range(500, 3_000);
        c.cache_write = rng.range(0, 8_000);
        calls.push(c);
    }
    // A legacy batch job on a model the price table does not know.
    for i in 0..30 {
        let mut c = base(
            "amazon.titan-text-express-v1".into(),
            role("legacy-batch", "nightly"),
            day0 + 2 * 3600 + i * 97,
        );
        c.input = rng.range(100, 900);
        c.output = rng.range(50, 400);
        calls.push(c);
    }
    // A profile deleted from the account: its calls cannot be attributed to an app.
    for i in 0..5 {
        let mut c = base(
            profile_arn("deleted00001"),
            role("old-service", "x"),
            day0 + 8 * 3600 + i * 700,
        );
        c.input = 1_000;
        c.output = 100;
        calls.push(c);
    }
    // The overnight loop: ticket-triage stuck from 01:10 to 04:40, every 8 s, context growing.
    let (loop_start, loop_end) = (day0 + 3600 + 600, day0 + 4 * 3600 + 2400);
    let mut ctx = 4_000u64;
    let mut at = loop_start;
    while at < loop_end {
        let mut c = base(
            profile_arn("triage000001"),
            role("support-bot", "triage-worker-7"),
            at,
        );
        c.cache_read = ctx;
        c.input = rng.range(300, 900);
        c.cache_write = 1_500;
        c.output = rng.range(250, 700);
        ctx = (ctx + 1_500).min(150_000);
        calls.push(c);
        at += 8;
    }
    calls
}

/// One log record line; bodies are synthetic (never real prompts).
pub fn record_json(c: &Call, request_id: &str, data_prefix: &str) -> String {
    let mut input = serde_json::json!({"inputContentType": "application/json", "inputTokenCount": c.input,
        "cacheReadInputTokenCount": c.cache_read, "cacheWriteInputTokenCount": c.cache_write});
    let mut output =
        serde_json::json!({"outputContentType": "application/json", "outputTokenCount": c.output});
    if c.offload {
        input["inputBodyS3Path"] = format!("{data_prefix}/{request_id}_input.json.gz").into();
    } else if c.body {
        input["inputBodyJson"] = serde_json::json!({"messages": [{"role": "user", "content": [{"text": "Synthetic demo prompt: lorem ipsum dolor sit amet. ".repeat(40)}]}],
            "inferenceConfig": {"maxTokens": 2048}});
        let ttl = if c.cache_write_1h > 0 { "1h" } else { "5m" };
        output["outputBodyJson"] = serde_json::json!({"output": {"message": {"role": "assistant", "content": [{"text": "Synthetic demo answer. ".repeat(30)}]}},
            "stopReason": "end_turn", "metrics": {"latencyMs": 900},
            "usage": {"inputTokens": c.input, "outputTokens": c.output, "cacheReadInputTokens": c.cache_read, "cacheWriteInputTokens": c.cache_write,
                      "cacheDetails": if c.cache_write > 0 { serde_json::json!([{"ttl": ttl, "inputTokens": c.cache_write}]) } else { serde_json::json!([]) }}});
    }
    let mut r = serde_json::json!({
        "timestamp": Timestamp(c.at).to_string(),
        "accountId": ACCOUNT,
        "identity": {"arn": c.caller},
        "region": REGION,
        "requestId": request_id,
        "operation": if c.body { "Converse" } else { "ConverseStream" },
        "modelId": c.model_id,
        "input": input,
        "output": output,
    });
    if let Some(e) = c.error {
        r["errorCode"] = e.into();
        r["input"] = serde_json::json!({"inputContentType": "application/json"});
        r["output"] = serde_json::json!({"outputContentType": "application/json"});
    }
    if !c.metadata.is_empty() {
        r["requestMetadata"] = c
            .metadata
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if c.model_id.contains("inference-profile/") || c.model_id.contains('.') {
        r["inferenceRegion"] = REGION.into();
    }
    r["schemaType"] = "ModelInvocationLog".into();
    r["schemaVersion"] = "1.0".into();
    serde_json::to_string(&r).expect("json")
}

fn hour_dir(root: &Path, t: i64) -> PathBuf {
    let ts = Timestamp(t);
    let d = ts.date();
    root.join(format!(
        "AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/{:04}/{:02}/{:02}/{:02}",
        d.year,
        d.month,
        d.day,
        ts.hour_of_day()
    ))
}

fn gzip_to(path: &Path, text: &str) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(text.as_bytes())?;
    gz.finish()?;
    Ok(())
}

/// Writes the S3-layout tree; returns the number of records written.
pub fn write_tree(root: &Path, day: Date, seed: u64) -> anyhow::Result<usize> {
    let mut calls = generate(day, seed);
    calls.sort_by_key(|c| c.at);
    let mut rng = Rng::new(seed ^ 0xD15C);
    // Delivery: records arrive 5–100 s after the call and land in the folder of their delivery hour,
    // in files of five minutes of deliveries.
    let mut files: std::collections::BTreeMap<(i64, u64), String> =
        std::collections::BTreeMap::new();
    let mut bodies: Vec<(PathBuf, String)> = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let delivered = c.at + rng.range(5, 100) as i64;
        let file_start = delivered - delivered.rem_euclid(300);
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.next_u64() as u32,
            i % 0xffff,
            rng.range(0, 0xfff),
            rng.range(0, 0xfff),
            rng.next_u64() & 0xffff_ffff_ffff
        );
        let dir = hour_dir(root, delivered);
        let data_prefix = format!(
            "s3://demo-bedrock-logs-{ACCOUNT}/{}/data",
            dir.strip_prefix(root).unwrap_or(&dir).display()
        );
        let line = record_json(c, &request_id, &data_prefix);
        if c.offload {
            bodies.push((
                dir.join("data").join(format!("{request_id}_input.json.gz")),
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"synthetic\"}]}]}"
                    .into(),
            ));
        }
        let f = files.entry((file_start, rng.next_u64() % 2)).or_default();
        f.push_str(&line);
        f.push('\n');
    }
    // One broken line, as a delivery hiccup would leave it.
    let middle = files.len() / 2;
    if let Some(f) = files.values_mut().nth(middle) {
        f.push_str("{\"timestamp\":\"2026-11-25T12:00:00Z\",\"modelId\":\"amazon.nova-micro-v1:0\",\"input\":{\"inputTok\n");
    }
    for ((start, part), text) in &files {
        let dir = hour_dir(root, *start);
        std::fs::create_dir_all(&dir)?;
        let ts = Timestamp(*start);
        let d = ts.date();
        let name = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z_{:016x}.json.gz",
            d.year,
            d.month,
            d.day,
            ts.hour_of_day(),
            (start.rem_euclid(3600)) / 60,
            0,
            *part * 517,
            Rng::new(*start as u64 ^ part).next_u64()
        );
        gzip_to(&dir.join(name), text)?;
    }
    for (path, text) in bodies {
        std::fs::create_dir_all(path.parent().expect("has parent"))?;
        gzip_to(&path, &text)?;
    }
    let marker = root.join(format!(
        "AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"
    ));
    std::fs::create_dir_all(marker.parent().expect("has parent"))?;
    std::fs::write(marker, b"")?;
    Ok(calls.len())
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    if a.out.exists() {
        std::fs::remove_dir_all(&a.out).with_context(|| format!("clearing {}", a.out.display()))?;
    }
    let logs = a.out.join("logs");
    let n = write_tree(&logs, a.date, a.seed)?;
    let profiles = a.out.join("profiles.json");
    std::fs::write(&profiles, profiles_json())?;
    let mut msg = String::new();
    let _ = writeln!(
        msg,
        "Wrote {n} records for {} (and ten minutes either side) under {}",
        a.date,
        logs.display()
    );
    let _ = writeln!(
        msg,
        "and the account's application profiles to {}.",
        profiles.display()
    );
    eprint!("{msg}");
    if a.no_run {
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe()?;
    let date = a.date.to_string();
    let steps: [(&str, Vec<&str>); 2] = [
        (
            "Daily report",
            vec!["report", "--date", &date, "--metadata-keys", "tenant"],
        ),
        (
            "Runaway alerts a live deployment would have sent (replay)",
            vec!["replay"],
        ),
    ];
    for (title, args) in steps {
        // The section headers go with the sections, on stdout (flushed before the child writes).
        let mut stdout = std::io::stdout();
        writeln!(
            stdout,
            "\n=== {title}: bedrock-meter {} --profiles {} {}\n",
            args.join(" "),
            profiles.display(),
            logs.display()
        )?;
        stdout.flush()?;
        let status = Command::new(&exe)
            .args(&args)
            .arg("--profiles")
            .arg(&profiles)
            .arg(&logs)
            .status()?;
        if !status.success() {
            anyhow::bail!("bedrock-meter {} failed", args[0]);
        }
    }
    // The same day as one page with charts (README "HTML day report").
    let page = a.out.join("report.html");
    let file =
        std::fs::File::create(&page).with_context(|| format!("writing {}", page.display()))?;
    let status = Command::new(&exe)
        .args(["report", "--date", &date, "--format", "html", "--profiles"])
        .arg(&profiles)
        .arg(&logs)
        .stdout(file)
        .status()?;
    if !status.success() {
        anyhow::bail!("bedrock-meter report --format html failed");
    }
    println!(
        "\n=== The day as a page with charts: {} (open it in a browser)",
        page.display()
    );
    Ok(ExitCode::SUCCESS)
}
