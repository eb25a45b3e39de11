//! Harness for the integration tests: a moto server of its own per test (a fresh emulator on a free
//! loopback port, so tests run in parallel without sharing state) and the environment that points the
//! real aws-sdk clients at it.
//!
//! moto accepts what AWS refuses, so every test reaches it through [`strict_proxy::StrictProxy`]: the
//! endpoint and port [`Moto`] hands out are the proxy's, which answers a request the real service would
//! refuse (a non-ASCII dimension value, an oversized DynamoDB key, an SNS subject with a line break…)
//! with the service's 400 and forwards the rest.
//!
//! The moto server binary comes from the Python venv that the test command (`scripts/test.sh`) creates;
//! `MOTO_SERVER` names it. A missing emulator is a test failure, never a silent skip.

pub mod batch_jobs;
pub mod bedrock_stub;
pub mod strict_proxy;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server behind the strict proxy, both stopped on drop.
pub struct Moto {
    child: Child,
    /// The strict proxy's port: every request (SDK clients, seeding, moto's control API) goes here.
    pub port: u16,
    /// moto's own port, behind the proxy.
    pub upstream_port: u16,
    proxy: strict_proxy::StrictProxy,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = moto_binary();
        let port = free_port();
        // `MOTO_LOG=FILE` keeps moto's own output (its tracebacks) there; by default it is dropped.
        let log = std::env::var_os("MOTO_LOG").and_then(|f| std::fs::File::create(f).ok());
        let (out, err) = match log.and_then(|f| Some((f.try_clone().ok()?, f))) {
            Some((o, e)) => (Stdio::from(o), Stdio::from(e)),
            None => (Stdio::null(), Stdio::null()),
        };
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto server {}: {e} (run scripts/test.sh, which installs it)",
                    bin.display()
                )
            });
        let proxy = strict_proxy::StrictProxy::start(port);
        let moto = Moto {
            child,
            port: proxy.port,
            upstream_port: port,
            proxy,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_get(port, "/moto-api/").is_some()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto server did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The strict proxy's endpoint (in front of moto).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request the strict proxy refused so far (what AWS would have answered with a 400).
    pub fn rejections(&self) -> Vec<strict_proxy::Rejection> {
        self.proxy.rejections()
    }

    /// An SDK config pointed at this emulator, with dummy credentials. Never a real account.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// An SDK config acting as `account` (moto's multi-account mode: the access key id is the
    /// 12-digit account id) in `region`.
    pub async fn sdk_config_as(&self, account: &str, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_credential_types::Credentials::new(
                account, "test", None, None, "dummy",
            ))
            .load()
            .await
    }

    /// The Bedrock batch-jobs double the strict proxy answers `ListModelInvocationJobs` from.
    pub fn batch_jobs(&self) -> &batch_jobs::BatchJobs {
        self.proxy.batch_jobs()
    }

    /// Puts `account` in organisation `org_id` for the strict proxy's bucket-policy checks.
    pub fn set_organization(&self, account: &str, org_id: &str) {
        self.proxy.set_organization(account, org_id);
    }

    /// moto's view of its own state (`GET /moto-api/data.json`).
    pub fn data(&self) -> serde_json::Value {
        let body = http_get(self.port, "/moto-api/data.json").expect("moto data.json");
        serde_json::from_str(&body).expect("moto data.json is JSON")
    }

    /// Every SNS message published to the topic whose ARN ends with `:name`, as
    /// `[id, message, subject, attributes, group]` arrays.
    pub fn sns_sent(&self, topic_name: &str) -> Vec<serde_json::Value> {
        let data = self.data();
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        topics
            .iter()
            .filter(|t| {
                t["arn"]
                    .as_str()
                    .is_some_and(|a| a.ends_with(&format!(":{topic_name}")))
                    || t["name"].as_str() == Some(topic_name)
            })
            .flat_map(|t| {
                t["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// POST a JSON body to a moto control endpoint (e.g. `/moto-api/static/athena/query-results`).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> String {
        http_request(self.port, "POST", path, Some(&body.to_string())).expect("moto POST")
    }

    /// (`team` attribute, subject, body) of each message published to the topic named `topic_name`
    /// (the reports the rollups publish carry a `team` attribute; a message without one fails).
    pub fn published(&self, topic_name: &str) -> Vec<(String, String, String)> {
        self.sns_sent(topic_name)
            .iter()
            .map(|m| {
                let attrs = &m[3];
                let team = attrs["team"]["Value"]
                    .as_str()
                    .or_else(|| attrs["team"]["StringValue"].as_str())
                    .unwrap_or_else(|| panic!("team attribute in {attrs}"))
                    .to_string();
                (
                    team,
                    m[2].as_str().unwrap_or_default().to_string(),
                    m[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// One query's result in the shape moto's Athena seeding endpoint
/// (`/moto-api/static/athena/query-results`) takes: the header row first, every column `varchar`,
/// `None` a NULL cell.
pub fn athena_result<C: AsRef<str>>(cols: &[C], rows: &[Vec<Option<String>>]) -> serde_json::Value {
    use serde_json::json;
    let cell = |v: &Option<String>| match v {
        Some(s) => json!({ "VarCharValue": s }),
        None => json!({}),
    };
    let mut out = vec![
        json!({"Data": cols.iter().map(|c| json!({"VarCharValue": c.as_ref()})).collect::<Vec<_>>()}),
    ];
    out.extend(
        rows.iter()
            .map(|r| json!({"Data": r.iter().map(cell).collect::<Vec<_>>()})),
    );
    json!({
        "rows": out,
        "column_info": cols.iter().map(|c| json!({
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c.as_ref(),
            "Label": c.as_ref(), "Type": "varchar", "Precision": 0, "Scale": 0,
            "Nullable": "UNKNOWN", "CaseSensitive": true
        })).collect::<Vec<_>>()
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK config for any local endpoint (moto, or a stub of ours), with dummy credentials.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "dummy",
        ))
        .load()
        .await
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

/// A free loopback port (bind to 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CloudWatch Logs subscription event's JSON (`{"awslogs":{"data":…}}`) carrying `messages`
/// (epoch seconds, record text) from `log_group` of account `owner`, with event ids in CloudWatch's
/// shape: what the ingest Lambda receives.
pub fn subscription_event_json(owner: &str, log_group: &str, messages: &[(i64, String)]) -> String {
    use bedrock_meter_core::records::subscription::{encode, event_id, LogEvent, LogsData};
    let ids: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, (ts, _))| event_id(ts * 1000, i as u64))
        .collect();
    encode(&LogsData {
        message_type: "DATA_MESSAGE",
        owner,
        log_group,
        log_stream: "aws/bedrock/modelinvocations",
        subscription_filters: vec!["bedrock-meter"],
        log_events: messages
            .iter()
            .zip(&ids)
            .map(|((ts, m), id)| LogEvent {
                id,
                timestamp: ts * 1000,
                message: m.as_str().into(),
            })
            .collect(),
    })
}

/// The start of the current minute, minus `back` minutes (epoch seconds).
pub fn minute_ago(back: i64) -> i64 {
    let now = bedrock_meter_core::time::Timestamp::now().0;
    now - now.rem_euclid(60) - back * 60
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_request(port, "GET", path, None)
}

/// Points a `bedrock-meter` (or any AWS SDK) process at `endpoint` with dummy credentials, and cuts
/// it off from every real source of configuration: no profile or config file, no instance metadata,
/// none of bedrock-meter's own environment settings from the caller's shell.
pub fn offline_aws_env<'c>(
    c: &'c mut std::process::Command,
    endpoint: &str,
) -> &'c mut std::process::Command {
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("BEDROCK_METER_PROFILES")
        .env_remove("BEDROCK_METER_PRICES")
        .env_remove("LOG_GROUP_NAME")
}

/// Minimal blocking HTTP/1.1 client for the emulator's control API (loopback only).
pub fn http_request(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    // A response cut before the end of its head is no answer.
    buf.windows(4).any(|w| w == b"\r\n\r\n").then_some(())?;
    let (status, body) = parse_response(&buf);
    (200..300).contains(&status).then_some(body)
}

/// An HTTP/1.1 response read to its end: (status, body, de-chunked when it was sent chunked). A
/// response without a status line has status 0.
pub(crate) fn parse_response(buf: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(buf);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
pub mod logs_stub;
pub mod runtime_stub;
