//! Loopback HTTP stubs for the operator-command tests (`bedrock-meter smoke`, `doctor`):
//!
//! - [`RuntimeStub`]: Bedrock Runtime `Converse` (`POST /model/{modelId}/converse`, restJson1) as the real
//!   aws-sdk-bedrockruntime client sends and parses it: a `{output, stopReason, usage, metrics}` body and
//!   an `x-amzn-RequestId` header, or an error the restJson1 way (status, `x-amzn-ErrorType`,
//!   `{"message"}`), scripted per model id. A hook sees every successful call, so a test can emulate
//!   invocation logging (write the call's log record where Bedrock would).
//! - [`SplitFront`]: one endpoint in front of two servers, by path prefix. The Bedrock control plane is
//!   one service to the SDK, but moto implements only its logging configuration and
//!   `tests/src/bedrock_stub.rs` only its profiles: the front sends `/logging/…` to one and the rest to
//!   the other.

use bedrock_meter_core::ports::encoding::percent_decode;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A request as the stubs see it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// (status, extra headers, body)
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A minimal HTTP/1.1 server on loopback (keep-alive, Content-Length bodies); stops on drop.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &*h);
                });
            }
        });
        Server { port, stop }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    }
}

/// Reads one request (a Content-Length or chunked body); `None` at end of stream.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        if k == "content-length" {
            len = v.parse().unwrap_or(0);
        }
        headers.push((k, v));
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        // De-chunked here; the request then carries its body whole.
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(size, 16).unwrap_or(0);
            if n == 0 {
                // Trailers until the blank line.
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..n]);
        }
        headers.retain(|(k, _)| k != "transfer-encoding");
    } else {
        body = vec![0; len];
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn serve(
    conn: TcpStream,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    while let Some(req) = read_request(&mut reader)? {
        let (status, headers, body) = handler(&req);
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n",
            reason(status),
            body.len()
        );
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())?;
        conn.write_all(&body)?;
        conn.flush()?;
    }
    Ok(())
}

/// Forwards one request to `127.0.0.1:port` and returns the upstream's answer.
pub fn forward(port: u16, req: &Request) -> Response {
    let attempt = || -> std::io::Result<Response> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
        for (k, v) in &req.headers {
            if k != "connection" && k != "content-length" {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            req.body.len()
        ));
        s.write_all(head.as_bytes())?;
        s.write_all(&req.body)?;
        let mut reader = BufReader::new(s);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(502);
        let mut headers = Vec::new();
        let mut len: Option<usize> = None;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            match k.as_str() {
                "content-length" => len = v.parse().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => {}
                _ => headers.push((k, v)),
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk)?;
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = len {
            body = vec![0; n];
            reader.read_exact(&mut body)?;
        } else {
            reader.read_to_end(&mut body)?;
        }
        Ok((status, headers, body))
    };
    attempt().unwrap_or_else(|e| (502, vec![], format!("front: {e}").into_bytes()))
}

/// One endpoint in front of two: requests whose path starts with `prefix` go to `matching`, the rest
/// to `other`.
pub struct SplitFront {
    pub server: Server,
}

impl SplitFront {
    pub fn start(prefix: &str, matching: u16, other: u16) -> SplitFront {
        let prefix = prefix.to_string();
        SplitFront {
            server: Server::start(Arc::new(move |req: &Request| {
                let port = if req.target.starts_with(&prefix) {
                    matching
                } else {
                    other
                };
                forward(port, req)
            })),
        }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}

/// How the runtime stub answers a model id.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with these token counts.
    Ok {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// An error: HTTP status, `x-amzn-ErrorType` code and message.
    Fail {
        status: u16,
        code: String,
        message: String,
    },
}

impl Reply {
    pub fn access_denied() -> Reply {
        Reply::Fail {
            status: 403,
            code: "AccessDeniedException".into(),
            message: "User: arn:aws:sts::111122223333:assumed-role/Dev/s is not authorized to perform: bedrock:InvokeModel on resource".into(),
        }
    }

    /// What Bedrock answers when the account has not been granted access to the model.
    pub fn model_not_enabled() -> Reply {
        Reply::Fail {
            status: 403,
            code: "AccessDeniedException".into(),
            message: "You don't have access to the model with the specified model ID.".into(),
        }
    }
}

/// A successful call, as the hook sees it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub model_id: String,
    pub request_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The request body the SDK sent (Converse JSON).
    pub body: serde_json::Value,
}

type Hook = Arc<dyn Fn(&Invocation) + Send + Sync>;

#[derive(Default)]
struct RuntimeState {
    replies: HashMap<String, Reply>,
    calls: Vec<Invocation>,
    hook: Option<Hook>,
}

/// The Bedrock Runtime stub; stops on drop.
pub struct RuntimeStub {
    server: Server,
    state: Arc<Mutex<RuntimeState>>,
}

impl RuntimeStub {
    pub fn start() -> RuntimeStub {
        let state = Arc::new(Mutex::new(RuntimeState::default()));
        let seq = Arc::new(AtomicU64::new(1));
        let st = state.clone();
        let server = Server::start(Arc::new(move |req: &Request| {
            let json = |status: u16, code: Option<&str>, body: serde_json::Value| -> Response {
                let n = seq.fetch_add(1, Ordering::SeqCst);
                let mut h = vec![
                    ("Content-Type".to_string(), "application/json".to_string()),
                    (
                        "x-amzn-RequestId".to_string(),
                        format!("00000000-0000-4000-8000-{n:012}"),
                    ),
                ];
                if let Some(c) = code {
                    h.push(("x-amzn-ErrorType".to_string(), c.to_string()));
                }
                (status, h, body.to_string().into_bytes())
            };
            let path = req.target.split('?').next().unwrap_or("");
            let Some(model) = path
                .strip_prefix("/model/")
                .and_then(|r| r.strip_suffix("/converse"))
                .filter(|_| req.method == "POST")
            else {
                return json(
                    404,
                    Some("UnknownOperationException"),
                    serde_json::json!({"message": format!("stub: no route for {} {path}", req.method)}),
                );
            };
            let model_id = percent_decode(model);
            let reply = st
                .lock()
                .unwrap()
                .replies
                .get(&model_id)
                .cloned()
                .unwrap_or(Reply::Fail {
                    status: 404,
                    code: "ResourceNotFoundException".into(),
                    message: format!("stub: no model {model_id}"),
                });
            match reply {
                Reply::Fail {
                    status,
                    code,
                    message,
                } => json(
                    status,
                    Some(&code),
                    serde_json::json!({ "message": message }),
                ),
                Reply::Ok {
                    input_tokens,
                    output_tokens,
                } => {
                    let resp = json(
                        200,
                        None,
                        serde_json::json!({
                            "output": {"message": {"role": "assistant", "content": [{"text": "OK"}]}},
                            "stopReason": "end_turn",
                            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                                      "totalTokens": input_tokens + output_tokens},
                            "metrics": {"latencyMs": 42}
                        }),
                    );
                    let request_id = resp
                        .1
                        .iter()
                        .find(|(k, _)| k == "x-amzn-RequestId")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let inv = Invocation {
                        model_id,
                        request_id,
                        input_tokens,
                        output_tokens,
                        body: serde_json::from_slice(&req.body).unwrap_or_default(),
                    };
                    let hook = {
                        let mut s = st.lock().unwrap();
                        s.calls.push(inv.clone());
                        s.hook.clone()
                    };
                    if let Some(h) = hook {
                        h(&inv);
                    }
                    resp
                }
            }
        }));
        RuntimeStub { server, state }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn reply(&self, model_id: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .replies
            .insert(model_id.to_string(), reply);
    }

    /// Called (on the stub's thread, before the response is sent) for every successful call.
    pub fn on_success(&self, hook: impl Fn(&Invocation) + Send + Sync + 'static) {
        self.state.lock().unwrap().hook = Some(Arc::new(hook));
    }

    pub fn calls(&self) -> Vec<Invocation> {
        self.state.lock().unwrap().calls.clone()
    }
}
