//! The logging custom resource (`functions/logging-config`) end to end: the real handler and the real
//! aws-sdk-bedrock client against moto, answering CloudFormation on a pre-signed URL that is a local
//! HTTP server capturing the body CloudFormation would receive.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use bedrock_meter_core::aws::logging::BedrockLogging;
use bedrock_meter_core::ports::logging::{
    CloudWatchTarget, LoggingApi, LoggingConfig, RoleCheck, S3Target,
};
use bedrock_meter_integration_tests::{free_port, sdk_config_for, Moto};
use logging_config::{run, run_until, RESPONSE_RESERVE};
use serde_json::{json, Value};

/// A one-shot "CloudFormation": accepts PUTs on loopback, answers `status`, and hands back each body.
struct ResponseServer {
    url: String,
    bodies: mpsc::Receiver<(String, String, Value)>,
}

impl ResponseServer {
    fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut len = 0usize;
                let mut content_type = String::from("<absent>");
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap(),
                        "content-type" => content_type = v.trim().to_string(),
                        _ => {}
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let reason = if status == 200 { "OK" } else { "Forbidden" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if tx
                    .send((request_line.trim().to_string(), content_type, body))
                    .is_err()
                {
                    break;
                }
            }
        });
        ResponseServer {
            url: format!("http://127.0.0.1:{port}/cfn-response?X-Amz-Signature=abc"),
            bodies: rx,
        }
    }

    /// The next response CloudFormation would have received; checks it came as a PUT without content type.
    fn next(&self) -> Value {
        let (line, content_type, body) = self
            .bodies
            .recv_timeout(Duration::from_secs(30))
            .expect("a response PUT");
        assert!(
            line.starts_with("PUT /cfn-response?X-Amz-Signature=abc "),
            "{line}"
        );
        assert!(
            content_type.is_empty(),
            "pre-signed URL PUT must carry an empty content type, got {content_type:?}"
        );
        body
    }
}

const REGION: &str = "us-east-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/bedrock-meter-BedrockLoggingRole";

fn props(prefix: &str) -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:bedrock-meter-logging-config",
        "LogGroupName": "/aws/bedrock/modelinvocations",
        "RoleArn": ROLE,
        "BucketName": "bedrock-meter-logs-123456789012-us-east-1",
        "KeyPrefix": prefix,
        "LargeDataKeyPrefix": "large-data/",
        "TextDataDeliveryEnabled": "true",
    })
}

fn request(
    kind: &str,
    url: &str,
    physical_id: Option<&str>,
    props: Value,
    old: Option<Value>,
) -> Value {
    let mut r = json!({
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/bedrock-meter/8c1e4f70-0000-0000-0000-000000000000",
        "RequestId": format!("req-{kind}-{}", free_port()),
        "ResourceType": "Custom::BedrockInvocationLogging",
        "LogicalResourceId": "InvocationLogging",
        "ResourceProperties": props,
    });
    if let Some(id) = physical_id {
        r["PhysicalResourceId"] = json!(id);
    }
    if let Some(old) = old {
        r["OldResourceProperties"] = old;
    }
    r
}

/// Someone else's configuration (S3 only, with images), present before the stack.
fn foreign_config() -> LoggingConfig {
    LoggingConfig {
        cloudwatch: None,
        s3: Some(S3Target {
            bucket: "security-team-bedrock-logs".into(),
            prefix: Some("central/".into()),
        }),
        text: Some(true),
        image: Some(true),
        embedding: Some(false),
        video: None,
        audio: None,
    }
}

fn expected_ours(prefix: &str) -> LoggingConfig {
    LoggingConfig {
        cloudwatch: Some(CloudWatchTarget {
            log_group: "/aws/bedrock/modelinvocations".into(),
            role_arn: ROLE.into(),
            large_data: Some(S3Target {
                bucket: "bedrock-meter-logs-123456789012-us-east-1".into(),
                prefix: Some("large-data/".into()),
            }),
        }),
        s3: Some(S3Target {
            bucket: "bedrock-meter-logs-123456789012-us-east-1".into(),
            prefix: Some(prefix.into()),
        }),
        text: Some(true),
        image: Some(false),
        embedding: Some(false),
        video: Some(false),
        audio: Some(false),
    }
}

/// The properties with `TakeOverExistingLogging=true`.
fn take_over(mut p: Value) -> Value {
    p["TakeOverExistingLogging"] = json!("true");
    p
}

async fn invoke<A: LoggingApi + RoleCheck>(api: &A, cfn: &ResponseServer, event: Value) -> Value {
    let sent = run(api, REGION, event)
        .await
        .expect("handler answered CloudFormation");
    let body = cfn.next();
    assert_eq!(body["Status"], json!(sent.status));
    body
}

#[tokio::test]
async fn create_puts_the_configuration_and_delete_removes_it_when_there_was_none() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);
    assert_eq!(
        api.get().await.unwrap(),
        None,
        "fresh emulator has no logging configuration"
    );

    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["LogicalResourceId"], "InvocationLogging");
    assert!(body["RequestId"]
        .as_str()
        .unwrap()
        .starts_with("req-Create-"));
    assert!(body["StackId"]
        .as_str()
        .unwrap()
        .contains(":stack/bedrock-meter/"));
    assert_eq!(body["Data"]["PreviousConfiguration"], "none");
    assert_eq!(
        body["Data"]["LogGroupName"],
        "/aws/bedrock/modelinvocations"
    );
    let physical = body["PhysicalResourceId"].as_str().unwrap().to_string();
    assert_eq!(physical, "bedrock-invocation-logging:us-east-1:none");

    let current = api.get().await.unwrap().expect("configuration put");
    assert_eq!(current, expected_ours("invocations/"));

    let body = invoke(
        &api,
        &cfn,
        request(
            "Delete",
            &cfn.url,
            Some(&physical),
            props("invocations/"),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], json!(physical));
    assert!(
        body["Reason"].as_str().unwrap().contains("switched off"),
        "{body}"
    );
    assert_eq!(
        api.get().await.unwrap(),
        None,
        "the stack's configuration is removed"
    );
}

#[tokio::test]
async fn delete_restores_the_configuration_that_existed_before_the_stack_even_after_an_update() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);
    api.put(&foreign_config()).await.unwrap();

    let body = invoke(
        &api,
        &cfn,
        request(
            "Create",
            &cfn.url,
            None,
            take_over(props("invocations/")),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["PreviousConfiguration"], "saved");
    let physical = body["PhysicalResourceId"].as_str().unwrap().to_string();
    assert!(
        physical.starts_with("bedrock-invocation-logging:us-east-1:prev:"),
        "{physical}"
    );
    assert!(physical.len() <= 1024);
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        expected_ours("invocations/")
    );

    // Update (new prefix): applied, and the physical id (the remembered configuration) is kept, so
    // CloudFormation issues no Delete for the old id.
    let update = request(
        "Update",
        &cfn.url,
        Some(&physical),
        props("v2/"),
        Some(props("invocations/")),
    );
    let body = invoke(&api, &cfn, update).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], json!(physical));
    assert_eq!(api.get().await.unwrap().unwrap(), expected_ours("v2/"));

    let body = invoke(
        &api,
        &cfn,
        request("Delete", &cfn.url, Some(&physical), props("v2/"), None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("restored"),
        "{body}"
    );
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        foreign_config(),
        "the previous configuration is back, exactly"
    );
}

#[tokio::test]
async fn delete_leaves_alone_a_configuration_someone_changed_or_removed_since() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);

    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let physical = body["PhysicalResourceId"].as_str().unwrap().to_string();

    // Someone else takes the singleton over after the stack applied its configuration.
    api.put(&foreign_config()).await.unwrap();
    let body = invoke(
        &api,
        &cfn,
        request(
            "Delete",
            &cfn.url,
            Some(&physical),
            props("invocations/"),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("left unchanged"),
        "{body}"
    );
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        foreign_config(),
        "not the stack's: not touched"
    );

    // ... or switched logging off: nothing is re-enabled or removed.
    api.delete().await.unwrap();
    let body = invoke(
        &api,
        &cfn,
        request(
            "Delete",
            &cfn.url,
            Some(&physical),
            props("invocations/"),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("left unchanged"),
        "{body}"
    );
    assert_eq!(api.get().await.unwrap(), None);
}

#[tokio::test]
async fn failures_are_answered_failed_with_a_reason_and_a_rollback_delete_touches_nothing() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);
    api.put(&foreign_config()).await.unwrap();

    // A property missing: FAILED, nothing applied, and an inert physical id.
    let mut bad = props("invocations/");
    bad.as_object_mut().unwrap().remove("LogGroupName");
    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, bad.clone(), None),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("LogGroupName"),
        "{body}"
    );
    let inert = body["PhysicalResourceId"].as_str().unwrap().to_string();
    assert!(
        inert.starts_with("bedrock-invocation-logging-not-applied-"),
        "{inert}"
    );
    assert_eq!(api.get().await.unwrap().unwrap(), foreign_config());

    // CloudFormation's rollback then deletes that id: a no-op SUCCESS, the foreign configuration stays.
    let body = invoke(
        &api,
        &cfn,
        request("Delete", &cfn.url, Some(&inert), bad, None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(api.get().await.unwrap().unwrap(), foreign_config());

    // A bad flag value.
    let mut bad_flag = props("invocations/");
    bad_flag["ImageDataDeliveryEnabled"] = json!("sometimes");
    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, bad_flag, None),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("ImageDataDeliveryEnabled"),
        "{body}"
    );

    // An unknown request type.
    let body = invoke(
        &api,
        &cfn,
        request("Replace", &cfn.url, None, props("x/"), None),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("Replace"),
        "{body}"
    );
}

#[tokio::test]
async fn bedrock_errors_are_answered_failed_and_keep_the_physical_id_on_delete() {
    // No Bedrock endpoint listening: every call fails after the SDK's retries.
    let dead = BedrockLogging::from_conf(
        &sdk_config_for(&format!("http://127.0.0.1:{}", free_port())).await,
    );
    let cfn = ResponseServer::start(200);

    let body = invoke(
        &dead,
        &cfn,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("GetModelInvocationLoggingConfiguration"),
        "{body}"
    );
    assert!(body["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .starts_with("bedrock-invocation-logging-not-applied-"));

    let physical = "bedrock-invocation-logging:us-east-1:none";
    let body = invoke(
        &dead,
        &cfn,
        request(
            "Delete",
            &cfn.url,
            Some(physical),
            props("invocations/"),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(body["PhysicalResourceId"], physical);
}

#[tokio::test]
async fn a_refused_response_put_is_an_error_of_the_invocation() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(403);
    let err = run(
        &api,
        REGION,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await
    .unwrap_err();
    assert!(err.contains("403"), "{err}");
    // A 4xx is not retried (an expired pre-signed URL stays expired): exactly one PUT.
    let _ = cfn.next();
    assert!(cfn.bodies.recv_timeout(Duration::from_millis(300)).is_err());
}

#[tokio::test]
async fn create_refuses_a_foreign_configuration_unless_told_to_take_it_over() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);
    api.put(&foreign_config()).await.unwrap();

    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("already configured"), "{reason}");
    assert!(reason.contains("security-team-bedrock-logs"), "{reason}");
    assert!(reason.contains("TakeOverExistingLogging=true"), "{reason}");
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        foreign_config(),
        "untouched"
    );
    // The rollback Delete of the inert id touches nothing either.
    let inert = body["PhysicalResourceId"].as_str().unwrap().to_string();
    let body = invoke(
        &api,
        &cfn,
        request(
            "Delete",
            &cfn.url,
            Some(&inert),
            props("invocations/"),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(api.get().await.unwrap().unwrap(), foreign_config());

    let body = invoke(
        &api,
        &cfn,
        request(
            "Create",
            &cfn.url,
            None,
            take_over(props("invocations/")),
            None,
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["PreviousConfiguration"], "saved");
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        expected_ours("invocations/")
    );
}

/// A CloudWatch-delivering configuration is taken over only when its role can be handed back on
/// delete: it is `PreviousLoggingRoleArn` (the one role the function may pass), exists, and trusts
/// Bedrock (IAM on moto).
#[tokio::test]
async fn taking_over_needs_a_role_that_can_be_passed_back() {
    const THEIRS: &str = "arn:aws:iam::123456789012:role/security-bedrock-logging";
    let moto = Moto::start();
    let conf = moto.sdk_config().await;
    let api = BedrockLogging::from_conf(&conf);
    let cfn = ResponseServer::start(200);
    let mut theirs = foreign_config();
    theirs.cloudwatch = Some(CloudWatchTarget {
        log_group: "/security/bedrock".into(),
        role_arn: THEIRS.into(),
        large_data: None,
    });
    api.put(&theirs).await.unwrap();
    let with_role = |role: &str| {
        let mut p = take_over(props("invocations/"));
        p["PreviousLoggingRoleArn"] = json!(role);
        p
    };
    let create = |p: Value| request("Create", &cfn.url, None, p, None);

    // Not the role the stack may pass.
    let body = invoke(&api, &cfn, create(take_over(props("invocations/")))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("PreviousLoggingRoleArn="),
        "{body}"
    );
    // The role does not exist.
    let body = invoke(&api, &cfn, create(with_role(THEIRS))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("cannot be read"),
        "{body}"
    );
    // It exists but does not trust Bedrock.
    let iam = aws_sdk_iam::Client::new(&conf);
    let trust = |service: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
        .to_string()
    };
    iam.create_role()
        .role_name("security-bedrock-logging")
        .assume_role_policy_document(trust("lambda.amazonaws.com"))
        .send()
        .await
        .unwrap();
    let body = invoke(&api, &cfn, create(with_role(THEIRS))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("does not trust"),
        "{body}"
    );
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        theirs,
        "untouched so far"
    );
    // A role Bedrock can assume: taken over, and given back on delete.
    iam.update_assume_role_policy()
        .role_name("security-bedrock-logging")
        .policy_document(trust("bedrock.amazonaws.com"))
        .send()
        .await
        .unwrap();
    let body = invoke(&api, &cfn, create(with_role(THEIRS))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let physical = body["PhysicalResourceId"].as_str().unwrap().to_string();
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        expected_ours("invocations/")
    );
    let body = invoke(
        &api,
        &cfn,
        request("Delete", &cfn.url, Some(&physical), with_role(THEIRS), None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        theirs,
        "restored exactly"
    );
}

#[tokio::test]
async fn update_never_overwrites_a_configuration_someone_changed() {
    let moto = Moto::start();
    let api = BedrockLogging::from_conf(&moto.sdk_config().await);
    let cfn = ResponseServer::start(200);
    let body = invoke(
        &api,
        &cfn,
        request("Create", &cfn.url, None, props("invocations/"), None),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let physical = body["PhysicalResourceId"].as_str().unwrap().to_string();

    // Another team takes the singleton over; the stack's next Update must not overwrite it.
    api.put(&foreign_config()).await.unwrap();
    let update = |p: Value| {
        request(
            "Update",
            &cfn.url,
            Some(&physical),
            p,
            Some(props("invocations/")),
        )
    };
    let body = invoke(&api, &cfn, update(props("v2/"))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("not overwritten"),
        "{body}"
    );
    assert_eq!(body["PhysicalResourceId"], json!(physical));
    assert_eq!(
        api.get().await.unwrap().unwrap(),
        foreign_config(),
        "theirs stays"
    );

    // Logging switched off by someone: not switched back on either.
    api.delete().await.unwrap();
    let body = invoke(&api, &cfn, update(props("v2/"))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(api.get().await.unwrap(), None);

    // Told to take it over: applied.
    api.put(&foreign_config()).await.unwrap();
    let body = invoke(&api, &cfn, update(take_over(props("v2/")))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(api.get().await.unwrap().unwrap(), expected_ours("v2/"));
    // And an Update while ours is in force is applied as before.
    let body = invoke(
        &api,
        &cfn,
        request(
            "Update",
            &cfn.url,
            Some(&physical),
            props("v3/"),
            Some(props("v2/")),
        ),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(api.get().await.unwrap().unwrap(), expected_ours("v3/"));
}

/// A Bedrock API that panics, or never answers.
struct Broken {
    hang: bool,
}

impl LoggingApi for Broken {
    async fn get(&self) -> Result<Option<LoggingConfig>, String> {
        if self.hang {
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        panic!("unexpected shape from Bedrock")
    }
    async fn put(&self, _: &LoggingConfig) -> Result<(), String> {
        Ok(())
    }
    async fn delete(&self) -> Result<(), String> {
        Ok(())
    }
}

impl RoleCheck for Broken {
    async fn check_bedrock_role(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[tokio::test]
async fn a_panic_or_a_call_past_the_deadline_is_still_answered() {
    let cfn = ResponseServer::start(200);
    let event = || request("Create", &cfn.url, None, props("invocations/"), None);
    let sent = run(&Broken { hang: false }, REGION, event()).await.unwrap();
    let body = cfn.next();
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(sent.status, "FAILED");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("unexpected shape"),
        "{body}"
    );

    let t0 = std::time::Instant::now();
    let deadline = t0 + RESPONSE_RESERVE + Duration::from_secs(1);
    run_until(&Broken { hang: true }, REGION, event(), Some(deadline))
        .await
        .unwrap();
    let body = cfn.next();
    assert!(
        std::time::Instant::now() < deadline,
        "answered before the deadline"
    );
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(
        body["Reason"].as_str().unwrap().contains("deadline"),
        "{body}"
    );
    assert!(body["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .starts_with("bedrock-invocation-logging-not-applied-"));
}

/// A "CloudFormation" that accepts connections and never answers; counts them.
fn silent_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (
        format!("http://127.0.0.1:{port}/cfn-response?X-Amz-Signature=abc"),
        count,
    )
}

#[tokio::test]
async fn the_answer_and_its_retries_end_before_the_deadline_when_cloudformation_hangs() {
    let (url, connections) = silent_server();
    let t0 = std::time::Instant::now();
    let deadline = t0 + Duration::from_secs(4);
    // The handler fails at once (a panic), so the whole time goes to the PUT that never gets an answer.
    let event = request("Create", &url, None, props("invocations/"), None);
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        run_until(&Broken { hang: false }, REGION, event, Some(deadline)),
    )
    .await
    .expect("the PUT's retries outlasted the function's deadline by far");
    let err = outcome.unwrap_err();
    assert!(
        std::time::Instant::now() < deadline,
        "answered (or gave up) before the deadline"
    );
    assert!(err.contains("timed out"), "{err}");
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_only_while_the_reserve_lasts() {
    let cfn = ResponseServer::start(500);
    let t0 = std::time::Instant::now();
    let deadline = t0 + Duration::from_secs(3);
    let event = request("Create", &cfn.url, None, props("invocations/"), None);
    let err = run_until(&Broken { hang: false }, REGION, event, Some(deadline))
        .await
        .unwrap_err();
    assert!(
        std::time::Instant::now() < deadline,
        "the retries ended before the deadline"
    );
    assert!(err.contains("500"), "{err}");
    // Retried (a 5xx is worth another try), but no pause was started that would end past the stop.
    let mut puts = 0;
    while cfn.bodies.recv_timeout(Duration::from_millis(200)).is_ok() {
        puts += 1;
    }
    assert!((2..=3).contains(&puts), "{puts} PUTs within a 3 s deadline");
}
