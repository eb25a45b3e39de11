//! `bedrock-meter doctor` shows the traffic invocation logs cannot see: `AWS/BedrockMantle` metrics
//! seeded in moto (PutMetricData straight to moto — AWS and the strict proxy refuse `AWS/` namespaces
//! to callers) come back as a warning with "not in invocation logs: N inferences, M tokens, about $X"
//! per model; no mantle traffic is a skip (nothing to check).

use std::io::{Read, Write};
use std::process::Command;

use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::{offline_aws_env, Moto};

const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// One Query-protocol PutMetricData to moto itself, signed as CloudWatch (moto routes on the
/// credential scope's service and does not check the signature).
/// (metric, extra dimension, model, value).
type MantleDatum<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str, f64);

fn put_mantle(port: u16, datums: &[MantleDatum<'_>]) {
    let ts = Timestamp(Timestamp::now().0 - 600)
        .to_string()
        .replace(':', "%3A");
    let mut form =
        String::from("Action=PutMetricData&Version=2010-08-01&Namespace=AWS%2FBedrockMantle");
    for (i, (metric, dim, model, v)) in datums.iter().enumerate() {
        let p = format!("MetricData.member.{}", i + 1);
        form.push_str(&format!(
            "&{p}.MetricName={metric}&{p}.Value={v}&{p}.Timestamp={ts}&{p}.Unit=Count"
        ));
        let mut n = 1;
        if let Some((k, val)) = dim {
            form.push_str(&format!(
                "&{p}.Dimensions.member.{n}.Name={k}&{p}.Dimensions.member.{n}.Value={val}"
            ));
            n += 1;
        }
        let model = model.replace(':', "%3A");
        form.push_str(&format!(
            "&{p}.Dimensions.member.{n}.Name=Model&{p}.Dimensions.member.{n}.Value={model}"
        ));
    }
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "seed PutMetricData: {buf}");
}

fn doctor_json(moto: &Moto) -> serde_json::Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    let out = offline_aws_env(&mut c, &moto.endpoint())
        .args(["doctor", "--format", "json"])
        .output()
        .expect("run bedrock-meter");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn mantle(v: &serde_json::Value) -> &serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mantle")
        .unwrap_or_else(|| panic!("no mantle check in {v}"))
}

#[test]
fn doctor_shows_mantle_traffic_per_model() {
    let moto = Moto::start();
    assert_eq!(mantle(&doctor_json(&moto))["status"], "skip");
    put_mantle(
        moto.upstream_port,
        &[
            ("Inferences", None, SONNET45, 3.0),
            ("TotalInputTokens", None, SONNET45, 1_000_000.0),
            ("TotalOutputTokens", None, SONNET45, 1_000_000.0),
            ("Inferences", Some(("Project", "proj_a")), SONNET45, 3.0),
        ],
    );
    let v = doctor_json(&moto);
    let m = mantle(&v);
    assert_eq!(m["status"], "warn", "{m}");
    assert_eq!(
        m["details"][0],
        format!("{SONNET45}: not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80 (projects: proj_a)")
    );
    assert!(m["summary"]
        .as_str()
        .unwrap()
        .contains("3 inferences through bedrock-mantle"));
}
