//! The strict proxy in front of moto, end to end: real aws-sdk clients get the 400 AWS would send for
//! what moto alone would store — and our adapters send only what passes.

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::ports::notify::{Notification, Notifier};
use bedrock_meter_integration_tests::{sdk_config_for, Moto};

/// A table created behind the proxy's back (straight on moto): the proxy asks moto for its key schema
/// (`DescribeTable`) and refuses a sort key over 1,024 bytes and a partition key over 2,048.
#[tokio::test]
async fn dynamodb_keys_over_the_limits_are_refused() {
    let moto = Moto::start();
    let direct = sdk_config_for(&format!("http://127.0.0.1:{}", moto.upstream_port)).await;
    let ddb_direct = aws_sdk_dynamodb::Client::new(&direct);
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb_direct
        .create_table()
        .table_name("t")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let put = |pk: String, sk: String| {
        ddb.put_item()
            .table_name("t")
            .item("pk", AttributeValue::S(pk))
            .item("sk", AttributeValue::S(sk))
            .send()
    };
    put("a".into(), "é".repeat(512))
        .await
        .expect("1,024 bytes fit");
    let e = put("a".into(), "é".repeat(513)).await.unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
        Some("ValidationException"),
        "{e:?}"
    );
    assert!(put("p".repeat(2049), "s".into()).await.is_err());
    // UpdateItem and Query keys too.
    let e = ddb
        .update_item()
        .table_name("t")
        .key("pk", AttributeValue::S("a".into()))
        .key("sk", AttributeValue::S("x".repeat(1025)))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
        Some("ValidationException")
    );
    let e = ddb
        .query()
        .table_name("t")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S("p".repeat(2049)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
        Some("ValidationException")
    );
    assert_eq!(moto.rejections().len(), 4, "{:?}", moto.rejections());
}

/// SNS: a raw subject with a line break or a non-ASCII character is refused; the adapter's
/// (`fit_subject`) passes, and a message attribute with an empty value is sent as `none`.
#[tokio::test]
async fn sns_subjects_are_refused_raw_and_pass_through_the_adapter() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    for subject in [
        "Bedrock spend 2026-11-25 — Équipe",
        "two\nlines",
        &"s".repeat(100),
    ] {
        let e = sns
            .publish()
            .topic_arn(&topic)
            .subject(subject)
            .message("m")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            aws_sdk_sns::error::ProvideErrorMetadata::code(&e),
            Some("InvalidParameter"),
            "{subject:?}"
        );
    }
    let n = Notification {
        subject: "Bedrock spend 2026-11-25 — Équipe: $1.00\n".into(),
        body: "Équipe — body keeps every character".into(),
        attributes: vec![("team".into(), String::new())],
    };
    SnsNotifier::new(&sdk).publish(&topic, &n).await.unwrap();
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][2], "Bedrock spend 2026-11-25 - Equipe: $1.00 ");
    assert_eq!(sent[0][1], "Équipe — body keeps every character");
    assert_eq!(moto.rejections().len(), 3);
}

/// Chat delivery (`CHAT_FORMAT`): one publish with `MessageStructure=json` — an email subscriber gets
/// the plain text, an HTTPS subscriber (the chat integration, a webhook) the custom notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_format_publishes_a_structured_message() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let n = Notification {
        subject: "Bedrock runaway: ops (platform) $41.20 in 15 min".into(),
        body: "RUNAWAY: lead.\n\nApp:         ops\nTeam:        platform\n".into(),
        attributes: vec![
            ("alert_type".into(), "runaway".into()),
            ("alert_id".into(), "A#ops/1/1".into()),
        ],
    };
    SnsNotifier::new(&sdk)
        .with_chat_format(true)
        .publish(&topic, &n)
        .await
        .unwrap();
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1);
    let m: serde_json::Value = serde_json::from_str(sent[0][1].as_str().unwrap()).unwrap();
    assert_eq!(m["email"], n.body.as_str());
    assert_eq!(m["default"], n.body.as_str());
    let chat: serde_json::Value = serde_json::from_str(m["https"].as_str().unwrap()).unwrap();
    assert_eq!(chat["source"], "custom");
    assert_eq!(chat["content"]["title"], n.subject.as_str());
    assert_eq!(chat["metadata"]["threadId"], "A#ops/1");
    // A structured message without a default entry is refused, as SNS refuses it.
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message_structure("json")
        .message("{\"email\":\"x\"}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sns::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameter")
    );
}
