//! Containment's IAM adapter (`shared/src/aws/iam.rs`) and the core's `contain`/`release` against
//! moto's IAM, behind the strict proxy (IAM name and inline-policy size limits): the puts and deletes,
//! principals with a path refused, IAM calls bounded in flight (counted at the port and on the wire)
//! and retried on throttling and 5xx (faults injected into real responses).
//!
//! `MOTO_SERVER=$PWD/.venv/bin/moto_server cargo test -p bedrock-meter-integration-tests --test containment_iam`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_iam::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use bedrock_meter_core::aws::iam::{iam_config, IamClient, IAM_MAX_ATTEMPTS, MAX_IAM_IN_FLIGHT};
use bedrock_meter_core::live::containment::{
    contain, plan, read_document, release, Containment, ContainmentConfig, IamError, IamPolicies,
    IamPrincipal, IncidentFacts, Skip, StoredContainment, MAX_IAM_CALLS_IN_FLIGHT,
};
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::Moto;

const ACCOUNT: &str = "123456789012";
const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

async fn setup(moto: &Moto) -> (aws_sdk_iam::Client, IamClient) {
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for (name, path) in [
        ("ops-agent", "/"),
        ("payments", "/"),
        ("ops-batch", "/svc/"),
    ] {
        iam.create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    for (name, path) in [("batch-1", "/jobs/"), ("batch-2", "/")] {
        iam.create_user()
            .user_name(name)
            .path(path)
            .send()
            .await
            .unwrap();
    }
    (iam, IamClient::new(&sdk))
}

fn facts(caller: &str) -> IncidentFacts {
    IncidentFacts {
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: Some(caller.into()),
        callers: vec![],
        profile_arns: vec![PROFILE.into()],
        models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
        at: Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap(),
        opted_in: true,
        window_cost: Money::ZERO,
        window_requests: 30,
        threshold_cost: Money::ZERO,
        threshold_requests: 20,
    }
}

fn cfg() -> ContainmentConfig {
    ContainmentConfig {
        allow: vec!["role/ops-*".into(), "user/batch-*".into()],
        ..ContainmentConfig::default()
    }
}

async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    iam.list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contain_puts_one_expiring_deny_and_release_removes_it() {
    let moto = Moto::start();
    let (iam, client) = setup(&moto).await;
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/worker-1");
    let p = plan(&facts(&caller), &cfg());
    assert_eq!(p.contain.len(), 1);

    // Four concurrent puts of the same transition, then a redelivered one: one policy, same bytes.
    let c = &p.contain;
    let (a, b, d, e) = tokio::join!(
        contain(&client, c, false),
        contain(&client, c, false),
        contain(&client, c, false),
        contain(&client, c, false)
    );
    for r in [a, b, d, e].iter().flatten() {
        assert_eq!(r.result, Ok(true));
    }
    assert_eq!(contain(&client, c, false).await[0].result, Ok(true));
    assert_eq!(
        role_policies(&iam, "ops-agent").await,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    for other in ["payments", "ops-batch"] {
        assert!(role_policies(&iam, other).await.is_empty(), "{other}");
    }

    // What IAM holds: Deny, both invoke actions, the profile ARN only, the expiry.
    let raw = iam
        .get_role_policy()
        .role_name("ops-agent")
        .policy_name("BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6")
        .send()
        .await
        .unwrap()
        .policy_document()
        .to_string();
    let doc: serde_json::Value =
        serde_json::from_str(&bedrock_meter_core::ports::encoding::decode_policy_document(&raw))
            .unwrap();
    let s = &doc["Statement"][0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(
        s["Action"],
        serde_json::json!([
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream"
        ])
    );
    assert_eq!(s["Resource"], serde_json::json!([PROFILE]));
    assert_eq!(
        s["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-11-25T03:00:30Z"
    );

    // The port's read side (what `contain list` uses).
    let principal = IamPrincipal::parse("role/ops-agent").unwrap();
    let names = client.policy_names(&principal).await.unwrap();
    assert_eq!(
        names,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    let stored = client
        .policy_document(&principal, &names[0])
        .await
        .unwrap()
        .and_then(|d| read_document(&d));
    assert_eq!(
        stored,
        Some(StoredContainment {
            resources: vec![PROFILE.into()],
            until: Timestamp::parse_iso8601("2026-11-25T03:00:30Z"),
        })
    );
    let all = client.principals().await.unwrap();
    let labels: Vec<String> = all.iter().map(IamPrincipal::label).collect();
    // The sweep's list: this account's path-less roles and users; a principal with a path
    // (role /svc/ops-batch, user /jobs/batch-1) can never carry a deny of ours, so it is not listed.
    for want in ["role/ops-agent", "role/payments", "user/batch-2"] {
        assert!(labels.contains(&want.to_string()), "{labels:?}");
    }
    for path_principal in ["role/ops-batch", "user/batch-1"] {
        assert!(!labels.contains(&path_principal.to_string()), "{labels:?}");
    }

    // resolved: deleted; a second release finds nothing (not an error).
    assert_eq!(release(&client, c, false).await[0].result, Ok(true));
    assert!(role_policies(&iam, "ops-agent").await.is_empty());
    assert_eq!(release(&client, c, false).await[0].result, Ok(false));
    assert_eq!(
        client.policy_document(&principal, &names[0]).await,
        Ok(None)
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_paths_dry_runs_and_refused_principals() {
    let moto = Moto::start();
    let (iam, client) = setup(&moto).await;
    let user_policies = |name: &'static str| {
        let iam = iam.clone();
        async move {
            iam.list_user_policies()
                .user_name(name)
                .send()
                .await
                .unwrap()
                .policy_names()
                .to_vec()
        }
    };

    // An IAM user without a path: contained, addressed by its name.
    let p = plan(
        &facts(&format!("arn:aws:iam::{ACCOUNT}:user/batch-2")),
        &cfg(),
    );
    assert_eq!(
        contain(&client, &p.contain, false).await[0].result,
        Ok(true)
    );
    assert_eq!(
        user_policies("batch-2").await,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    // An IAM user with a path matches `user/batch-*` by name, but the grant cannot name it safely
    // (in IAM's ARN matching `*` also crosses `/`, so the template denies user/*/*): refused, untouched.
    let caller = format!("arn:aws:iam::{ACCOUNT}:user/jobs/batch-1");
    let p = plan(&facts(&caller), &cfg());
    assert!(p.contain.is_empty());
    assert_eq!(
        p.skipped,
        vec![(caller, Skip::PrincipalWithPath("user/batch-1".into()))]
    );
    assert!(user_policies("batch-1").await.is_empty());

    // Dry run: reported, nothing put.
    let p = plan(
        &facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-batch/s")),
        &cfg(),
    );
    let r = contain(&client, &p.contain, true).await;
    assert!(r[0].dry_run && r[0].result == Ok(true));
    assert!(role_policies(&iam, "ops-batch").await.is_empty());

    // Outside the allow pattern and untagged apps: nothing to put at all.
    let p = plan(
        &facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/payments/s")),
        &cfg(),
    );
    assert!(p.contain.is_empty());
    let mut untagged = facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/s"));
    untagged.opted_in = false;
    assert!(plan(&untagged, &cfg()).contain.is_empty());
    assert!(role_policies(&iam, "payments").await.is_empty());
    assert!(role_policies(&iam, "ops-agent").await.is_empty());

    // The strict proxy refuses what IAM refuses, and the adapter surfaces it as an error with its code.
    let user = IamPrincipal::parse("user/batch-1").unwrap();
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}}]}}"#,
        "A".repeat(2100)
    );
    let e = client.put_policy(&user, "big", &big).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("LimitExceeded"), "{e}");
    let e = client
        .put_policy(&user, &"n".repeat(129), "{}")
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("ValidationError"), "{e}");
    // A principal that does not exist: an error, never silence.
    let ghost = IamPrincipal::parse("role/ops-ghost").unwrap();
    let e = client.put_policy(&ghost, "p", "{}").await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("NoSuchEntity"), "{e}");
}

/// The ledger in the detector's table on moto: what a runaway put is read back (strongly consistent)
/// by the resolved of the same incident, in another invocation; other incidents read nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_keeps_what_an_incident_contained() {
    use bedrock_meter_core::aws::containment_ledger::DynamoLedger;
    use bedrock_meter_core::aws::dynamodb::DynamoStore;
    use bedrock_meter_core::live::containment::{incident_key, ContainmentLedger};
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    DynamoStore::new(&sdk, "state")
        .create_table()
        .await
        .unwrap();
    let ledger = DynamoLedger::new(&sdk, "state");
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/worker-1");
    let f = facts(&caller);
    let p = plan(&f, &cfg());
    let key = incident_key(&f.app, Some(&caller), f.at);
    ledger.record(&key, &p.contain).await.unwrap();
    assert_eq!(
        ledger.recorded(&key).await.unwrap(),
        Some(p.contain.clone())
    );
    // Lifted: an empty record, not an absent one.
    ledger.record(&key, &[]).await.unwrap();
    assert_eq!(ledger.recorded(&key).await.unwrap(), Some(vec![]));
    let other = incident_key(&f.app, Some(&caller), Timestamp(f.at.0 + 60));
    assert_eq!(ledger.recorded(&other).await.unwrap(), None);
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

// ---------------------------------------------------------------------------------------------
// IAM calls bounded in flight and retried (issue 22, item 6)
// ---------------------------------------------------------------------------------------------

/// Counts the HTTP attempts the IAM client sends and how many are on the wire at once; turns the
/// responses of the first `faults.len()` attempts (or of every attempt, `always`) into IAM errors.
#[derive(Debug, Default)]
struct Wire {
    attempts: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    faults: Vec<(u16, &'static str)>,
    always: Option<(u16, &'static str)>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Intercept for Wire {
    fn name(&self) -> &'static str {
        "Wire"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = self.attempts.load(Ordering::SeqCst);
        let fault = self.always.or_else(|| self.faults.get(n - 1).copied());
        if let Some((status, code)) = fault {
            // What IAM (awsQuery) answers: the status and an ErrorResponse document.
            let body = format!(
                r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{}</Type><Code>{code}</Code><Message>injected</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#,
                if status >= 500 { "Receiver" } else { "Sender" }
            );
            let r = ctx.response_mut();
            *r.status_mut() = status.try_into().unwrap();
            *r.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        }
        Ok(())
    }
}

/// The adapter's client with the wire counter (and faults) in its interceptors; the rest of its
/// configuration — the retry strategy — as in production.
async fn wired(moto: &Moto, wire: Wire) -> (Arc<Wire>, IamClient) {
    let wire = Arc::new(wire);
    let conf = iam_config(&moto.sdk_config().await)
        .interceptor(aws_sdk_iam::config::SharedInterceptor::new(ArcWire(
            wire.clone(),
        )))
        .build();
    (wire, IamClient::from_conf(conf))
}

#[derive(Debug)]
struct ArcWire(Arc<Wire>);

impl Intercept for ArcWire {
    fn name(&self) -> &'static str {
        "ArcWire"
    }
    fn read_before_transmit(
        &self,
        c: &BeforeTransmitInterceptorContextRef<'_>,
        r: &RuntimeComponents,
        b: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.read_before_transmit(c, r, b)
    }
    fn read_before_deserialization(
        &self,
        c: &BeforeDeserializationInterceptorContextRef<'_>,
        r: &RuntimeComponents,
        b: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.read_before_deserialization(c, r, b)
    }
    fn modify_before_deserialization(
        &self,
        c: &mut BeforeDeserializationInterceptorContextMut<'_>,
        r: &RuntimeComponents,
        b: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_deserialization(c, r, b)
    }
}

/// The IAM port, counted: calls and the most in flight at once (what the apply loop does).
struct CountingIam<I> {
    inner: I,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    calls: AtomicUsize,
}

impl<I> CountingIam<I> {
    async fn around<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let r = f.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

impl<I: IamPolicies> IamPolicies for CountingIam<I> {
    async fn put_policy(&self, p: &IamPrincipal, n: &str, d: &str) -> Result<(), IamError> {
        self.around(self.inner.put_policy(p, n, d)).await
    }
    async fn delete_policy(&self, p: &IamPrincipal, n: &str) -> Result<bool, IamError> {
        self.around(self.inner.delete_policy(p, n)).await
    }
    async fn policy_names(&self, p: &IamPrincipal) -> Result<Vec<String>, IamError> {
        self.around(self.inner.policy_names(p)).await
    }
    async fn policy_document(&self, p: &IamPrincipal, n: &str) -> Result<Option<String>, IamError> {
        self.around(self.inner.policy_document(p, n)).await
    }
    async fn principals(&self) -> Result<Vec<IamPrincipal>, IamError> {
        self.around(self.inner.principals()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iam_calls_are_bounded_in_flight() {
    let moto = Moto::start();
    let (iam, _) = setup(&moto).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for i in 0..16 {
        iam.create_role()
            .role_name(format!("ops-{i}"))
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    // An incident with sixteen principals: sixteen puts, then sixteen deletes.
    let items: Vec<Containment> = (0..16)
        .flat_map(|i| {
            let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-{i}/s");
            plan(&facts(&caller), &cfg()).contain
        })
        .collect();
    assert_eq!(items.len(), 16);

    // The apply loop: at most MAX_IAM_CALLS_IN_FLIGHT calls of the port at once, all of them made.
    let (wire, client) = wired(&moto, Wire::default()).await;
    let port = CountingIam {
        inner: client.clone(),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
    };
    let put = contain(&port, &items, false).await;
    assert!(put.iter().all(|a| a.result == Ok(true)), "{put:?}");
    // In the items' order.
    let order: Vec<&str> = put
        .iter()
        .map(|a| a.containment.principal.name.as_str())
        .collect();
    let want: Vec<String> = (0..16).map(|i| format!("ops-{i}")).collect();
    assert_eq!(order, want);
    let released = release(&port, &items, false).await;
    assert!(
        released.iter().all(|a| a.result == Ok(true)),
        "{released:?}"
    );
    assert_eq!(port.calls.load(Ordering::SeqCst), 32);
    let at_port = port.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=MAX_IAM_CALLS_IN_FLIGHT).contains(&at_port),
        "{at_port} port calls in flight at once"
    );
    assert_eq!(wire.attempts.load(Ordering::SeqCst), 32);

    // The adapter on its own, called by 16 tasks at once (as a sweep or `contain list` might): at most
    // MAX_IAM_IN_FLIGHT requests on the wire.
    let (wire, client) = wired(&moto, Wire::default()).await;
    let results = futures_join_all(items.iter().map(|c| {
        let (client, c) = (client.clone(), c.clone());
        async move {
            client
                .put_policy(&c.principal, &c.policy_name, &c.document())
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let on_wire = wire.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=MAX_IAM_IN_FLIGHT).contains(&on_wire),
        "{on_wire} IAM requests in flight at once"
    );
    assert_eq!(wire.attempts.load(Ordering::SeqCst), 16);
    for i in 0..16 {
        assert_eq!(
            role_policies(&iam, &format!("ops-{i}")).await,
            vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
        );
    }
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

/// Every future at once, on tasks of the multi-threaded runtime (real parallelism, like the Lambda's).
async fn futures_join_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_with_backoff() {
    let moto = Moto::start();
    let (iam, _) = setup(&moto).await;
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/worker-1");
    let c = plan(&facts(&caller), &cfg()).contain;
    assert_eq!(c.len(), 1);

    // IAM throttles, then fails with a 500: the put is retried and lands; the apply loop says done.
    let (wire, client) = wired(
        &moto,
        Wire {
            faults: vec![(400, "Throttling"), (500, "ServiceFailure")],
            ..Wire::default()
        },
    )
    .await;
    assert_eq!(contain(&client, &c, false).await[0].result, Ok(true));
    assert_eq!(wire.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        role_policies(&iam, "ops-agent").await,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    // A delete too: the fault replaces the answer of an attempt that reached IAM (as a lost response
    // would), so the retry finds the policy gone — "already gone", not an error.
    let (wire, client) = wired(
        &moto,
        Wire {
            faults: vec![(503, "ServiceUnavailable")],
            ..Wire::default()
        },
    )
    .await;
    assert_eq!(release(&client, &c, false).await[0].result, Ok(false));
    assert_eq!(wire.attempts.load(Ordering::SeqCst), 2);
    assert!(role_policies(&iam, "ops-agent").await.is_empty());

    // Throttled on every attempt: IAM_MAX_ATTEMPTS attempts, then the error — never silence, never
    // "contained".
    let (wire, client) = wired(
        &moto,
        Wire {
            always: Some((400, "Throttling")),
            ..Wire::default()
        },
    )
    .await;
    let r = contain(&client, &c, false).await;
    let e = r[0].result.clone().unwrap_err();
    assert_eq!(e.code.as_deref(), Some("Throttling"), "{e}");
    assert_eq!(
        wire.attempts.load(Ordering::SeqCst),
        IAM_MAX_ATTEMPTS as usize
    );

    // An error that retrying cannot fix is not retried.
    let (wire, client) = wired(&moto, Wire::default()).await;
    let ghost = IamPrincipal::parse("role/ops-ghost").unwrap();
    let e = client.put_policy(&ghost, "p", "{}").await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("NoSuchEntity"), "{e}");
    assert_eq!(wire.attempts.load(Ordering::SeqCst), 1);
}
