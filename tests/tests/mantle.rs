//! The mantle blind spot from metrics seeded in moto: `AWS/BedrockMantle` datums put with
//! PutMetricData (straight to moto: AWS — and the strict proxy — refuse `AWS/` namespaces to callers),
//! read back by the real adapter (`CloudWatchMantle`: ListMetrics + GetMetricData through the strict
//! proxy), then turned into the lines doctor, the daily email and the HTML page show.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use bedrock_meter_core::aws::cloudwatch::CloudWatchMantle;
use bedrock_meter_core::daily::mantle::{describe, lines};
use bedrock_meter_core::ports::mantle::{MantleSource, MantleUsage, NAMESPACE};
use bedrock_meter_core::ports::notify::Notification;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::{minute_ago, sdk_config_for, Moto};

const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const GPT_OSS: &str = "openai.gpt-oss-120b-1:0";

fn datum(metric: &str, dims: &[(&str, &str)], ts: i64, v: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(metric)
        .set_dimensions(Some(
            dims.iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                .collect(),
        ))
        .timestamp(DateTime::from_secs(ts))
        .value(v)
        .unit(StandardUnit::Count)
        .build()
}

/// Seeds the four levels the service publishes: Account (no model), Project, Model, Project+Model.
async fn seed(moto: &Moto) {
    let upstream = sdk_config_for(&format!("http://127.0.0.1:{}", moto.upstream_port)).await;
    let cw = aws_sdk_cloudwatch::Client::new(&upstream);
    let t1 = minute_ago(30);
    let t2 = minute_ago(10);
    let mut d = Vec::new();
    for (ts, n, i, o) in [
        (t1, 2.0, 600_000.0, 400_000.0),
        (t2, 1.0, 400_000.0, 600_000.0),
    ] {
        d.push(datum("Inferences", &[("Model", SONNET45)], ts, n));
        d.push(datum("TotalInputTokens", &[("Model", SONNET45)], ts, i));
        d.push(datum("TotalOutputTokens", &[("Model", SONNET45)], ts, o));
        // The same traffic at the other levels: never counted twice.
        d.push(datum(
            "Inferences",
            &[("Project", "proj_a"), ("Model", SONNET45)],
            ts,
            n,
        ));
        d.push(datum("Inferences", &[("Project", "proj_a")], ts, n));
        d.push(datum("Inferences", &[], ts, n));
        d.push(datum("TotalInputTokens", &[("Project", "proj_a")], ts, i));
    }
    d.push(datum("Inferences", &[("Model", GPT_OSS)], t2, 7.0));
    d.push(datum("TotalInputTokens", &[("Model", GPT_OSS)], t2, 700.0));
    d.push(datum("TotalOutputTokens", &[("Model", GPT_OSS)], t2, 70.0));
    d.push(datum(
        "Inferences",
        &[("Project", "proj_b"), ("Model", GPT_OSS)],
        t2,
        7.0,
    ));
    // Older than the window: left out.
    d.push(datum(
        "Inferences",
        &[("Model", GPT_OSS)],
        minute_ago(600),
        1000.0,
    ));
    cw.put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(d))
        .send()
        .await
        .expect("seed AWS/BedrockMantle in moto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mantle_traffic_read_back_per_model() {
    let moto = Moto::start();
    seed(&moto).await;
    let now = Timestamp::now();
    let src = CloudWatchMantle::new(&moto.sdk_config().await);
    let usage = src
        .usage(Timestamp(now.0 - 3 * 3600), Timestamp(now.0 + 60))
        .await
        .expect("read AWS/BedrockMantle");
    // One entry per model (sorted by model id), from the Model-level series only: the Account,
    // Project and Project+Model levels repeat the same traffic.
    assert_eq!(
        usage,
        vec![
            MantleUsage {
                model: SONNET45.into(),
                inferences: 3,
                input_tokens: 1_000_000,
                output_tokens: 1_000_000,
                projects: vec!["proj_a".into()],
            },
            MantleUsage {
                model: GPT_OSS.into(),
                inferences: 7,
                input_tokens: 700,
                output_tokens: 70,
                projects: vec!["proj_b".into()],
            },
        ]
    );

    // The lines doctor, the email and the page show: Sonnet 4.5 in-Region, 3.30 + 16.50 per 1M.
    let l = lines(&usage, &PriceTable::embedded(), Some("us-east-1"));
    assert_eq!(
        describe(&l[0]),
        "not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80"
    );
    assert_eq!(l[1].model, GPT_OSS);
    assert!(describe(&l[1]).starts_with("not in invocation logs: 7 inferences, 770 tokens, "));
    let mut email = Notification {
        subject: "Bedrock spend".into(),
        body: "Total $5.00\n\nPrices: as of 2026-11-01.\n".into(),
        attributes: vec![],
    };
    bedrock_meter_core::daily::email::add_mantle(&mut email, &l, 100_000);
    assert!(email.body.contains(&format!(
        "  {SONNET45}: not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80\n"
    )));
    let page = bedrock_meter_core::daily::report_html::add_mantle(
        "<main>\n<footer>x</footer>\n</main>",
        &l,
    );
    assert!(page.contains("about $19.80"));
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_series_than_one_call_takes_are_batched() {
    // 600 models: 1,800 Model-level series, so four GetMetricData calls of at most 500 queries (the
    // strict proxy refuses more than 500 in one call).
    let moto = Moto::start();
    let upstream = sdk_config_for(&format!("http://127.0.0.1:{}", moto.upstream_port)).await;
    let cw = aws_sdk_cloudwatch::Client::new(&upstream);
    let ts = minute_ago(5);
    let all: Vec<MetricDatum> = (0..600)
        .flat_map(|i| {
            let m = format!("vendor.model-{i:03}");
            [
                datum("Inferences", &[("Model", &m)], ts, 1.0),
                datum("TotalInputTokens", &[("Model", &m)], ts, 10.0),
                datum("TotalOutputTokens", &[("Model", &m)], ts, i as f64),
            ]
        })
        .collect();
    for chunk in all.chunks(1000) {
        cw.put_metric_data()
            .namespace(NAMESPACE)
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
    let now = Timestamp::now();
    let usage = CloudWatchMantle::new(&moto.sdk_config().await)
        .usage(Timestamp(now.0 - 3600), Timestamp(now.0 + 60))
        .await
        .unwrap();
    assert_eq!(usage.len(), 600);
    assert_eq!(usage.iter().map(|u| u.inferences).sum::<u64>(), 600);
    assert_eq!(usage.iter().map(|u| u.input_tokens).sum::<u64>(), 6000);
    assert_eq!(
        usage.iter().map(|u| u.output_tokens).sum::<u64>(),
        (0..600).sum::<u64>()
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}
