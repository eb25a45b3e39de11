//! The strict proxy's DynamoDB rules end to end, with the real aws-sdk client: an item an update would
//! take past 400 KB is refused and left as it was (alone or in a transaction, whose other actions are
//! then not written either), and the rules moto skips — expressions over 4 KB, empty or repeated sets,
//! numbers over 38 digits, two actions on one item in a transaction — get DynamoDB's 400.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};
use bedrock_meter_integration_tests::{strict_proxy, Moto};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

async fn table(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name("t")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
    ddb
}

fn stored_size(moto: &Moto, sk: &str) -> Option<usize> {
    let key = serde_json::json!({"pk": {"S": "a"}, "sk": {"S": sk}});
    strict_proxy::stored_item(moto.upstream_port, "t", &key).map(|i| strict_proxy::item_size(&i))
}

/// moto lets `ADD` grow an item without bound; DynamoDB refuses the update that would pass 400 KB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_past_400_kb_is_refused_and_the_item_kept() {
    let moto = Moto::start();
    let ddb = table(&moto).await;
    let add = |tag: &str, n: usize| {
        ddb.update_item()
            .table_name("t")
            .key("pk", s("a"))
            .key("sk", s("s"))
            .update_expression("ADD b :b")
            .expression_attribute_values(
                ":b",
                AttributeValue::Ss(vec![format!("{tag}{}", "x".repeat(n))]),
            )
            .send()
    };
    add("1", 300 * 1024).await.expect("300 KB fit");
    let before = stored_size(&moto, "s").unwrap();
    let e = add("2", 150 * 1024).await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert_eq!(stored_size(&moto, "s"), Some(before), "the item as it was");
    add("3", 50 * 1024).await.expect("still room for 50 KB");
    assert_eq!(moto.rejections().len(), 1, "{:?}", moto.rejections());

    // In a transaction: the update that would pass 400 KB cancels it, and the put beside it is not
    // written either.
    let put = Put::builder()
        .table_name("t")
        .item("pk", s("a"))
        .item("sk", s("b#1"))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let grow = Update::builder()
        .table_name("t")
        .key("pk", s("a"))
        .key("sk", s("s"))
        .update_expression("ADD b :b")
        .expression_attribute_values(":b", AttributeValue::Ss(vec!["4".repeat(60 * 1024)]))
        .build()
        .unwrap();
    let before = stored_size(&moto, "s").unwrap();
    let e = ddb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(grow).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("TransactionCanceledException"), "{e:?}");
    let reasons: Vec<Option<String>> = match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().map(str::to_string))
            .collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reasons,
        vec![
            Some("None".to_string()),
            Some("ValidationError".to_string())
        ]
    );
    assert_eq!(stored_size(&moto, "s"), Some(before));
    assert_eq!(stored_size(&moto, "b#1"), None, "the put was rolled back");
}

/// The rules that need no stored state, through the SDK: each refused with a `ValidationException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_moto_would_take_are_refused() {
    let moto = Moto::start();
    let ddb = table(&moto).await;
    let update = |expr: String, v: AttributeValue| {
        ddb.update_item()
            .table_name("t")
            .key("pk", s("a"))
            .key("sk", s("s"))
            .update_expression(expr)
            .expression_attribute_values(":v", v)
            .send()
    };
    let n = |x: &str| AttributeValue::N(x.to_string());
    update("ADD c :v".into(), n(&"9".repeat(38)))
        .await
        .expect("38 digits fit");
    for (expr, v) in [
        (format!("ADD c :v{}", " ".repeat(4096)), n("1")),
        ("ADD c :v".into(), n(&"9".repeat(39))),
        ("ADD m :v".into(), AttributeValue::Ss(vec![])),
        (
            "ADD m :v".into(),
            AttributeValue::Ss(vec!["x".into(), "x".into()]),
        ),
    ] {
        let e = update(expr.clone(), v).await.unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{expr:.20}: {e:?}");
    }
    // A sum past 38 digits is refused too, and the counter stays as it was.
    let e = update("ADD c :v".into(), n(&"9".repeat(38)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let key = serde_json::json!({"pk": {"S": "a"}, "sk": {"S": "s"}});
    let item = strict_proxy::stored_item(moto.upstream_port, "t", &key).unwrap();
    assert_eq!(item["c"]["N"].as_str(), Some("9".repeat(38).as_str()));
    // Two actions on one item in one transaction.
    let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name("t")
        .key("pk", s("a"))
        .key("sk", s("s"))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let bump = Update::builder()
        .table_name("t")
        .key("pk", s("a"))
        .key("sk", s("s"))
        .update_expression("SET r = :r")
        .expression_attribute_values(":r", n("1"))
        .build()
        .unwrap();
    let e = ddb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .transact_items(TransactWriteItem::builder().update(bump).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert_eq!(moto.rejections().len(), 6, "{:?}", moto.rejections());
}

/// `ADD r :one` to item (`pk`, `s`) beside a conditional put of (`pk`, `mark`), in one transaction.
async fn add_once(
    ddb: &aws_sdk_dynamodb::Client,
    pk: &str,
    mark: &str,
) -> Result<
    (),
    aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
> {
    let put = Put::builder()
        .table_name("t")
        .item("pk", s(pk))
        .item("sk", s(mark))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let add = Update::builder()
        .table_name("t")
        .key("pk", s(pk))
        .key("sk", s("s"))
        .update_expression("ADD r :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    ddb.transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(add).build())
        .send()
        .await
        .map(|_| ())
}

fn counter(moto: &Moto, pk: &str) -> Option<String> {
    let key = serde_json::json!({"pk": {"S": pk}, "sk": {"S": "s"}});
    strict_proxy::stored_item(moto.upstream_port, "t", &key)
        .and_then(|i| i["r"]["N"].as_str().map(str::to_string))
}

/// DynamoDB isolates a transaction from every other request: a cancelled one writes nothing, and no
/// request undoes another's. moto does neither: it cancels a transaction by putting back a copy of
/// the whole table taken when it began, which undoes the writes that landed meanwhile (lost adds) and
/// revives the writes of another transaction cancelled meanwhile (adds that never happened). Measured
/// on moto alone, 200 cancelled transactions beside 200 committed ones: the committed item counted
/// 184, each of two items only ever cancelled counted 53–54. The proxy runs each transaction alone and
/// all or nothing, so: committed adds all counted, cancelled ones none, plain updates beside them kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_isolated_and_all_or_nothing() {
    let moto = Moto::start();
    let ddb = table(&moto).await;
    // A table of a few hundred items (moto's copies take longer, so requests overlap them more).
    let fill = |i: usize| {
        ddb.put_item()
            .table_name("t")
            .item("pk", s("fill"))
            .item("sk", s(&format!("{i:04}")))
            .send()
    };
    for i in 0..300 {
        fill(i).await.unwrap();
    }
    // Marks already there: every transaction on `cancelled-*` is cancelled by its put's condition.
    for pk in ["cancelled-1", "cancelled-2"] {
        add_once(&ddb, pk, "b#x").await.unwrap();
    }
    let rounds = 60;
    let committed = {
        let ddb = ddb.clone();
        tokio::spawn(async move {
            for k in 0..rounds {
                add_once(&ddb, "committed", &format!("b#{k}"))
                    .await
                    .unwrap();
            }
        })
    };
    let cancelled = |pk: &'static str| {
        let ddb = ddb.clone();
        tokio::spawn(async move {
            for _ in 0..rounds {
                let e = add_once(&ddb, pk, "b#x").await.unwrap_err();
                assert_eq!(e.code(), Some("TransactionCanceledException"), "{e:?}");
                let reasons: Vec<Option<String>> = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_string))
                        .collect(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(
                    reasons,
                    vec![Some("ConditionalCheckFailed".into()), Some("None".into())]
                );
            }
        })
    };
    let (c1, c2) = (cancelled("cancelled-1"), cancelled("cancelled-2"));
    let plain = {
        let ddb = ddb.clone();
        tokio::spawn(async move {
            for _ in 0..rounds {
                ddb.update_item()
                    .table_name("t")
                    .key("pk", s("plain"))
                    .key("sk", s("s"))
                    .update_expression("ADD r :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    for t in [committed, c1, c2, plain] {
        t.await.unwrap();
    }
    let exact = Some(rounds.to_string());
    assert_eq!(counter(&moto, "committed"), exact, "committed adds");
    assert_eq!(
        counter(&moto, "plain"),
        exact,
        "plain adds beside transactions"
    );
    for pk in ["cancelled-1", "cancelled-2"] {
        assert_eq!(
            counter(&moto, pk).as_deref(),
            Some("1"),
            "{pk}: only its first add"
        );
    }

    // An action moto refuses (an update expression it cannot parse: `ADD` without a value) undoes the put before it, and the
    // client gets moto's error as it gave it.
    let put = Put::builder()
        .table_name("t")
        .item("pk", s("undone"))
        .item("sk", s("b#1"))
        .build()
        .unwrap();
    let bad = Update::builder()
        .table_name("t")
        .key("pk", s("undone"))
        .key("sk", s("s"))
        .update_expression("ADD r")
        .build()
        .unwrap();
    let e = ddb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(bad).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let key = serde_json::json!({"pk": {"S": "undone"}, "sk": {"S": "b#1"}});
    assert_eq!(
        strict_proxy::stored_item(moto.upstream_port, "t", &key),
        None
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}
