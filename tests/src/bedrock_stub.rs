//! A small Bedrock control-plane stub on loopback, for the profile and tag lookups moto does not
//! implement. It speaks the REST-JSON shapes the real aws-sdk-bedrock client sends and parses:
//!
//! - `GET /inference-profiles/{inferenceProfileIdentifier}` (id or percent-encoded ARN) →
//!   `GetInferenceProfile` output (`inferenceProfileName`, `inferenceProfileArn`, `inferenceProfileId`,
//!   `models[].modelArn`, `status`, `type`, …);
//! - `GET /inference-profiles?type=APPLICATION&maxResults=…&nextToken=…` → `ListInferenceProfiles`
//!   (pages of `pageSize` summaries);
//! - `POST /inference-profiles` → `CreateInferenceProfile` (copyFrom becomes the profile's model ARN);
//! - `POST /listTagsForResource` `{"resourceARN"}` → `{"tags":[{"key","value"}]}`;
//! - `GET /model-invocation-jobs?…` → `ListModelInvocationJobs`, from the strict double in
//!   [`crate::batch_jobs`] (no jobs unless a test adds them; scripted failures do not apply).
//!
//! Errors come the restJson1 way: an HTTP status, `x-amzn-ErrorType: <Code>` and `{"message"}`.
//! Failures are scripted per profile (by ARN or id) or for every request, and every request is logged
//! so tests can check what the cache did.

use crate::runtime_stub::{Request, Server};
use bedrock_meter_core::ports::encoding::percent_decode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One application inference profile the stub knows.
#[derive(Clone, Debug)]
pub struct StubProfile {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub model_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
}

impl StubProfile {
    /// A profile in `us-east-1` of account 111122223333 copied from one foundation model.
    pub fn new(id: &str, name: &str, model: &str, tags: &[(&str, &str)]) -> StubProfile {
        StubProfile {
            arn: format!(
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{id}"
            ),
            id: id.into(),
            name: name.into(),
            model_arns: vec![format!(
                "arn:aws:bedrock:us-east-1::foundation-model/{model}"
            )],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// A scripted failure, answered as the real service would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 `ThrottlingException` (retried by the SDK).
    Throttling,
    /// 403 `AccessDeniedException` (not retried).
    AccessDenied,
    /// 500 `InternalServerException` (retried by the SDK).
    Internal,
    /// 404 `ResourceNotFoundException`.
    NotFound,
}

impl Failure {
    fn status(self) -> (u16, &'static str) {
        match self {
            Failure::Throttling => (429, "ThrottlingException"),
            Failure::AccessDenied => (403, "AccessDeniedException"),
            Failure::Internal => (500, "InternalServerException"),
            Failure::NotFound => (404, "ResourceNotFoundException"),
        }
    }
}

#[derive(Default)]
struct State {
    profiles: BTreeMap<String, StubProfile>,
    /// Failures by profile ARN or id.
    failures: BTreeMap<String, Failure>,
    fail_all: Option<Failure>,
    /// "METHOD target" of every request, in order.
    log: Vec<String>,
    page_size: usize,
    batch_jobs: crate::batch_jobs::BatchJobs,
}

impl State {
    fn find(&self, ident: &str) -> Option<&StubProfile> {
        self.profiles
            .get(ident)
            .or_else(|| self.profiles.values().find(|p| p.id == ident))
    }

    fn failure(&self, ident: &str) -> Option<Failure> {
        if let Some(f) = self.fail_all {
            return Some(f);
        }
        if let Some(f) = self.failures.get(ident) {
            return Some(*f);
        }
        let p = self.find(ident)?;
        self.failures
            .get(&p.arn)
            .or_else(|| self.failures.get(&p.id))
            .copied()
    }
}

/// The running stub; stops on drop.
pub struct BedrockStub {
    pub port: u16,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl BedrockStub {
    pub fn start() -> BedrockStub {
        let state = Arc::new(Mutex::new(State {
            page_size: 100,
            ..State::default()
        }));
        let routed = state.clone();
        let server = Server::start(Arc::new(move |req: &Request| {
            let (status, code, body) = route(&req.method, &req.target, &req.body, &routed);
            let mut headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                (
                    "x-amzn-RequestId".to_string(),
                    format!("stub-{}", routed.lock().unwrap().log.len()),
                ),
            ];
            if let Some(code) = code {
                headers.push(("x-amzn-ErrorType".to_string(), code.to_string()));
            }
            (status, headers, body.into_bytes())
        }));
        BedrockStub {
            port: server.port,
            state,
            _server: server,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn add_profile(&self, p: StubProfile) {
        self.state.lock().unwrap().profiles.insert(p.arn.clone(), p);
    }

    /// Replaces a profile's tags (as `TagResource` would).
    pub fn set_tags(&self, arn: &str, tags: &[(&str, &str)]) {
        let mut s = self.state.lock().unwrap();
        if let Some(p) = s.profiles.get_mut(arn) {
            p.tags = tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
    }

    /// Scripts (or with `None` clears) a failure for one profile, by ARN or id: both its
    /// `GetInferenceProfile` and its `ListTagsForResource` fail.
    pub fn fail(&self, arn_or_id: &str, failure: Option<Failure>) {
        let mut s = self.state.lock().unwrap();
        match failure {
            Some(f) => s.failures.insert(arn_or_id.to_string(), f),
            None => s.failures.remove(arn_or_id),
        };
    }

    /// Scripts (or clears) a failure for every request.
    pub fn fail_all(&self, failure: Option<Failure>) {
        self.state.lock().unwrap().fail_all = failure;
    }

    /// Adds a batch inference job (`crate::batch_jobs::job_summary`) to `ListModelInvocationJobs`.
    pub fn add_batch_job(&self, job: serde_json::Value) {
        self.state.lock().unwrap().batch_jobs.add(job);
    }

    pub fn set_page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n.max(1);
    }

    /// Every request so far, as `"METHOD target"` (e.g. `GET /inference-profiles/arn%3Aaws…`).
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// `GetInferenceProfile` requests so far.
    pub fn get_profile_calls(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("GET /inference-profiles/"))
            .count()
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn profile_json(p: &StubProfile) -> serde_json::Value {
    serde_json::json!({
        "inferenceProfileName": p.name,
        "description": format!("stub profile {}", p.name),
        "createdAt": "2026-11-01T00:00:00Z",
        "updatedAt": "2026-11-01T00:00:00Z",
        "inferenceProfileArn": p.arn,
        "models": p.model_arns.iter().map(|m| serde_json::json!({"modelArn": m})).collect::<Vec<_>>(),
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "APPLICATION",
    })
}

fn error(f: Failure, message: &str) -> (u16, Option<&'static str>, String) {
    let (status, code) = f.status();
    (
        status,
        Some(code),
        serde_json::json!({ "message": message }).to_string(),
    )
}

fn route(
    method: &str,
    target: &str,
    body: &[u8],
    state: &Mutex<State>,
) -> (u16, Option<&'static str>, String) {
    let mut s = state.lock().unwrap();
    s.log.push(format!("{method} {target}"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("GET", "/inference-profiles") => {
            if let Some(f) = s.fail_all {
                return error(f, "scripted failure");
            }
            let start: usize = query_param(query, "nextToken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let all: Vec<&StubProfile> = s.profiles.values().collect();
            let page: Vec<serde_json::Value> = all
                .iter()
                .skip(start)
                .take(s.page_size)
                .map(|p| profile_json(p))
                .collect();
            let mut out = serde_json::json!({ "inferenceProfileSummaries": page });
            if start + s.page_size < all.len() {
                out["nextToken"] = (start + s.page_size).to_string().into();
            }
            (200, None, out.to_string())
        }
        ("GET", p) if p.starts_with("/inference-profiles/") => {
            let ident = percent_decode(&p["/inference-profiles/".len()..]);
            if let Some(f) = s.failure(&ident) {
                return error(f, "scripted failure");
            }
            match s.find(&ident) {
                Some(p) => (200, None, profile_json(p).to_string()),
                None => error(
                    Failure::NotFound,
                    &format!("Inference profile {ident} not found"),
                ),
            }
        }
        ("POST", "/inference-profiles") => {
            if let Some(f) = s.fail_all {
                return error(f, "scripted failure");
            }
            let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let name = req["inferenceProfileName"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let copy_from = req["modelSource"]["copyFrom"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if name.is_empty() || copy_from.is_empty() {
                return (
                    400,
                    Some("ValidationException"),
                    serde_json::json!({"message": "inferenceProfileName and modelSource.copyFrom are required"}).to_string(),
                );
            }
            let id = format!("created{:05}", s.profiles.len());
            let mut p = StubProfile::new(&id, &name, "placeholder", &[]);
            p.model_arns = vec![copy_from];
            p.tags = req["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|t| {
                            (
                                t["key"].as_str().unwrap_or("").to_string(),
                                t["value"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let arn = p.arn.clone();
            s.profiles.insert(p.arn.clone(), p);
            (
                201,
                None,
                serde_json::json!({"inferenceProfileArn": arn, "status": "ACTIVE"}).to_string(),
            )
        }
        ("GET", "/model-invocation-jobs") => match s.batch_jobs.answer(query) {
            Ok(page) => (200, None, page.to_string()),
            Err((status, code, message)) => (
                status,
                Some(code),
                serde_json::json!({ "message": message }).to_string(),
            ),
        },
        ("POST", "/listTagsForResource") => {
            let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let arn = req["resourceARN"].as_str().unwrap_or("").to_string();
            if let Some(f) = s.failure(&arn) {
                return error(f, "scripted failure");
            }
            match s.find(&arn) {
                Some(p) => {
                    let tags: Vec<serde_json::Value> = p
                        .tags
                        .iter()
                        .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                        .collect();
                    (200, None, serde_json::json!({ "tags": tags }).to_string())
                }
                None => error(Failure::NotFound, &format!("Resource {arn} not found")),
            }
        }
        _ => (
            404,
            Some("UnknownOperationException"),
            serde_json::json!({"message": format!("stub: no route for {method} {path}")})
                .to_string(),
        ),
    }
}
