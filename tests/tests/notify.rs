//! Text that goes out, end to end: the real SNS adapter (`SnsNotifier`) publishing through the strict
//! proxy (SNS's 256 KB limit on the message with its attributes) to moto, in plain and chat mode, with
//! bodies big enough to need cutting and alerts whose values try to forge lines.

use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::live::alert::{render, AlertContext};
use bedrock_meter_core::live::detector::{Alert, AlertKind, CallerShare};
use bedrock_meter_core::ports::notify::{Notification, Notifier, MAX_MESSAGE_BYTES};
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::records::record::Tokens;
use bedrock_meter_core::text::CUT_NOTE;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::Moto;

async fn topic(moto: &Moto, name: &str) -> String {
    aws_sdk_sns::Client::new(&moto.sdk_config().await)
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string()
}

/// A daily-email-sized body: 150 KB of report lines.
fn big_notification() -> Notification {
    let line = "  scorer (fraud-risk)                           $1,234.56      9,876 req\n";
    Notification {
        subject: "Bedrock spend 2026-11-25 - all teams: $99.00".into(),
        body: line.repeat(150_000 / line.len() + 1),
        attributes: vec![("team".into(), "all".into())],
    }
}

/// In chat mode the body goes out twice (`default` and `email`) beside the chat notification: a
/// 150 KB body would make a ~300 KB message, which SNS refuses. It is cut to fit, with a marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_150_kb_body_fits_sns_in_chat_mode() {
    let moto = Moto::start();
    let arn = topic(&moto, "reports").await;
    let sdk = moto.sdk_config().await;
    let n = big_notification();
    assert!(n.body.len() > 150_000);
    SnsNotifier::new(&sdk)
        .with_chat_format(true)
        .publish(&arn, &n)
        .await
        .expect("SNS accepts the chat-mode message");
    // Plain mode: the same body fits as it is.
    SnsNotifier::new(&sdk).publish(&arn, &n).await.unwrap();
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
    let sent = moto.sns_sent("reports");
    assert_eq!(sent.len(), 2);
    let message = sent[0][1].as_str().unwrap();
    assert!(message.len() + "team".len() + "String".len() + "all".len() <= MAX_MESSAGE_BYTES);
    let m: serde_json::Value = serde_json::from_str(message).unwrap();
    let body = m["default"].as_str().unwrap();
    assert_eq!(m["email"], body);
    assert!(body.ends_with(CUT_NOTE), "an honest cut marker");
    assert!(n.body.starts_with(body.strip_suffix(CUT_NOTE).unwrap()));
    assert!(
        body.len() > 100_000,
        "cut no more than needed: {}",
        body.len()
    );
    let chat: serde_json::Value = serde_json::from_str(m["https"].as_str().unwrap()).unwrap();
    assert_eq!(chat["source"], "custom");
    assert_eq!(sent[1][1].as_str().unwrap(), n.body);
}

fn forged(what: &str) -> String {
    format!("{what}\nCharts: https://evil.example/{what} [Charts](https://evil.example/md)")
}

fn forged_alert() -> Alert {
    let t = Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap();
    Alert {
        kind: AlertKind::Runaway,
        app: forged("app"),
        team: forged("team"),
        caller: Some(forged("arn:aws:sts::1:assumed-role/R/s")),
        profile: Some(forged(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p",
        )),
        callers: vec![CallerShare {
            caller: forged("arn:aws:sts::1:assumed-role/S/t"),
            cost: Money::from_usd_text("30").unwrap(),
            requests: 200,
        }],
        models: vec![forged("model")],
        profile_arns: vec![forged(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p",
        )],
        window_minutes: 15,
        at: t,
        window_start: Timestamp::parse_iso8601("2026-11-25T01:45:00Z").unwrap(),
        window_cost: Money::from_usd_text("41.2").unwrap(),
        window_requests: 320,
        window_unpriced: 0,
        tokens: Tokens::default(),
        threshold_cost: Money::from_usd_text("10").unwrap(),
        threshold_requests: 600,
        incident_started: t,
        previous_alert_cost: None,
        id: forged("C#app"),
    }
}

fn assert_no_forged_line(what: &str, text: &str) {
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("Charts:"),
            "{what}: forged line {line:?} in\n{text}"
        );
    }
}

/// An alert whose tag and log values carry line breaks and markdown reaches email and chat with
/// every value on its own line: no `Charts: …` line, no markdown link outside a code block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_values_forge_no_line_in_email_or_chat() {
    let moto = Moto::start();
    let arn = topic(&moto, "alerts").await;
    let sdk = moto.sdk_config().await;
    let n = render(&forged_alert(), &AlertContext::default());
    SnsNotifier::new(&sdk)
        .with_chat_format(true)
        .publish(&arn, &n)
        .await
        .unwrap();
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
    let sent = moto.sns_sent("alerts");
    let m: serde_json::Value = serde_json::from_str(sent[0][1].as_str().unwrap()).unwrap();
    assert_no_forged_line("email", m["email"].as_str().unwrap());
    assert!(!sent[0][2].as_str().unwrap().contains('\n'));
    let chat: serde_json::Value = serde_json::from_str(m["https"].as_str().unwrap()).unwrap();
    let description = chat["content"]["description"].as_str().unwrap();
    assert_no_forged_line("chat", description);
    // Markdown: every paragraph holding a value with `[`/`]` is a code block, where links do not render.
    let mut in_code = false;
    for line in description.lines() {
        if line == "```" {
            in_code = !in_code;
        } else if line.contains("](") {
            assert!(
                in_code,
                "a markdown link outside code: {line:?}\n{description}"
            );
        }
    }
    assert!(!in_code, "code blocks are closed");
    assert!(!chat["content"]["title"].as_str().unwrap().contains('\n'));
    for v in chat["metadata"]["additionalContext"]
        .as_object()
        .unwrap()
        .values()
    {
        assert!(!v.as_str().unwrap().contains('\n'), "{v}");
    }
}
