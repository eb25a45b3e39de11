//! The containment deny policy checked against IAM's documented policy grammar (IAM User Guide, "IAM
//! JSON policy elements reference" and "Grammar of the IAM JSON policy language"; IAM quotas for
//! inline policy names and sizes). No PyPI validator of IAM policies is available offline here, so the
//! rules are encoded below — and the checker is itself tested on documents that break each rule.

use bedrock_meter_core::live::containment::{
    counted_chars, plan, ContainmentConfig, IncidentFacts, CONTAIN_ACTIONS, MAX_POLICY_NAME_CHARS,
    MAX_ROLE_POLICY_CHARS, MAX_USER_POLICY_CHARS,
};
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::time::Timestamp;
use serde_json::{json, Map, Value};

/// Condition operators of the grammar (`<condition_type_string>`), before `IfExists` and set prefixes.
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

fn is_iso8601_utc(s: &str) -> bool {
    // W3C profile of ISO 8601 as IAM documents for date conditions: YYYY-MM-DDThh:mm:ssZ (or with
    // fractional seconds); validated by parsing.
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.ends_with('Z')
        && Timestamp::parse_iso8601(s).is_some()
}

fn check_action(a: &str) -> Result<(), String> {
    let (svc, act) = a
        .split_once(':')
        .ok_or(format!("action {a:?} is not service:Action"))?;
    if svc.is_empty()
        || !svc
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err(format!("action {a:?}: bad service prefix"));
    }
    if act.is_empty()
        || !act
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'*' || c == b'?')
    {
        return Err(format!("action {a:?}: bad action name"));
    }
    Ok(())
}

fn check_resource(r: &str) -> Result<(), String> {
    if r == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(format!(
            "resource {r:?} is not arn:partition:service:region:account:resource"
        ));
    }
    if !["aws", "aws-cn", "aws-us-gov"].contains(&parts[1]) {
        return Err(format!("resource {r:?}: unknown partition"));
    }
    if parts[2].is_empty() || parts[5].is_empty() {
        return Err(format!("resource {r:?}: empty service or resource"));
    }
    if !parts[4].is_empty()
        && parts[4] != "*"
        && !(parts[4].len() == 12 && parts[4].bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("resource {r:?}: account is not 12 digits"));
    }
    Ok(())
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or(format!("{what}: not a string"))
            })
            .collect(),
        _ => Err(format!(
            "{what}: not a string or a non-empty array of strings"
        )),
    }
}

fn check_condition(c: &Map<String, Value>) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty Condition".into());
    }
    for (op, block) in c {
        let base = op
            .strip_prefix("ForAllValues:")
            .or_else(|| op.strip_prefix("ForAnyValue:"))
            .unwrap_or(op);
        let base = base.strip_suffix("IfExists").unwrap_or(base);
        if !OPERATORS.contains(&base) {
            return Err(format!("unknown condition operator {op:?}"));
        }
        let block = block
            .as_object()
            .filter(|b| !b.is_empty())
            .ok_or(format!("{op}: not a map of keys"))?;
        for (key, values) in block {
            let (prefix, name) = key
                .split_once(':')
                .ok_or(format!("condition key {key:?} is not prefix:name"))?;
            if prefix.is_empty() || name.is_empty() {
                return Err(format!("condition key {key:?}"));
            }
            let vals = strings(values, key)?;
            if base.starts_with("Date") {
                if key != "aws:CurrentTime" && key != "aws:EpochTime" && !key.ends_with("Time") {
                    return Err(format!("{op} on a key that is not a date: {key}"));
                }
                for v in &vals {
                    if !is_iso8601_utc(v) {
                        return Err(format!(
                            "{op} {key}: {v:?} is not an ISO 8601 UTC date-time"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// An identity-based (inline) policy by IAM's grammar. `Err` names the first broken rule.
fn check_identity_policy(doc: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("not JSON: {e}"))?;
    let top = v.as_object().ok_or("not an object")?;
    for k in top.keys() {
        if !["Version", "Id", "Statement"].contains(&k.as_str()) {
            return Err(format!("unknown top-level element {k}"));
        }
    }
    match top.get("Version").and_then(Value::as_str) {
        Some("2012-10-17") => {}
        // 2008-10-17 does not support policy variables; anything else is refused by IAM.
        other => return Err(format!("Version {other:?} is not 2012-10-17")),
    }
    let statements = match top.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => return Err("Statement missing or empty".into()),
    };
    let mut sids = std::collections::BTreeSet::new();
    for s in &statements {
        let s = s.as_object().ok_or("statement is not an object")?;
        for k in s.keys() {
            if ![
                "Sid",
                "Effect",
                "Principal",
                "NotPrincipal",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Condition",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("unknown statement element {k}"));
            }
        }
        if s.contains_key("Principal") || s.contains_key("NotPrincipal") {
            return Err("Principal in an identity-based policy".into());
        }
        if let Some(sid) = s.get("Sid") {
            let sid = sid.as_str().ok_or("Sid not a string")?;
            if !sid.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("Sid {sid:?} is not alphanumeric"));
            }
            if !sids.insert(sid.to_string()) {
                return Err(format!("duplicate Sid {sid}"));
            }
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            e => return Err(format!("Effect {e:?}")),
        }
        let (a, na) = (s.get("Action"), s.get("NotAction"));
        let actions = match (a, na) {
            (Some(a), None) | (None, Some(a)) => strings(a, "Action")?,
            _ => return Err("exactly one of Action and NotAction".into()),
        };
        for a in &actions {
            check_action(a)?;
        }
        let resources = match (s.get("Resource"), s.get("NotResource")) {
            (Some(r), None) | (None, Some(r)) => strings(r, "Resource")?,
            _ => return Err("exactly one of Resource and NotResource".into()),
        };
        for r in &resources {
            check_resource(r)?;
        }
        if let Some(c) = s.get("Condition") {
            check_condition(c.as_object().ok_or("Condition not an object")?)?;
        }
    }
    Ok(())
}

fn check_name(n: &str) -> Result<(), String> {
    if n.is_empty() || n.chars().count() > MAX_POLICY_NAME_CHARS {
        return Err(format!("policy name length {}", n.len()));
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(format!(
            "policy name {n:?} has characters outside [\\w+=,.@-]"
        ));
    }
    Ok(())
}

fn facts(caller: &str, app: &str, profiles: &[&str], models: &[&str]) -> IncidentFacts {
    IncidentFacts {
        app: app.into(),
        team: "platform".into(),
        caller: Some(caller.into()),
        callers: vec![],
        profile_arns: profiles.iter().map(|s| s.to_string()).collect(),
        models: models.iter().map(|s| s.to_string()).collect(),
        at: Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap(),
        opted_in: true,
        window_cost: Money::ZERO,
        window_requests: 30,
        threshold_cost: Money::ZERO,
        threshold_requests: 20,
    }
}

#[test]
fn containment_documents_follow_the_iam_grammar() {
    let cfg = ContainmentConfig {
        allow: vec!["role/*".into(), "user/*".into()],
        unattributed: true,
        ..ContainmentConfig::default()
    };
    let cases = [
        facts(
            "arn:aws:sts::111122223333:assumed-role/ops-agent/w-1",
            "ops-agent",
            &["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6"],
            &["anthropic.claude-sonnet-4-5-20250929-v1:0"],
        ),
        facts(
            "arn:aws-us-gov:iam::111122223333:user/batch-1",
            "unattributed",
            &[],
            &[
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "amazon.nova-lite-v1:0",
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0",
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ],
        ),
    ];
    let mut checked = 0;
    for f in &cases {
        let p = plan(f, &cfg);
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        for c in &p.contain {
            let doc = c.document();
            check_identity_policy(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            check_name(&c.policy_name).unwrap();
            assert!(counted_chars(&doc) <= MAX_USER_POLICY_CHARS.min(MAX_ROLE_POLICY_CHARS));
            // The expiry: DateLessThan aws:CurrentTime, after the transition by the cool-down.
            let v: Value = serde_json::from_str(&doc).unwrap();
            let until = v["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"]
                .as_str()
                .unwrap();
            assert_eq!(
                Timestamp::parse_iso8601(until).unwrap().0 - f.at.0,
                i64::from(cfg.cool_down_minutes) * 60
            );
            assert_eq!(v["Statement"][0]["Action"], json!(CONTAIN_ACTIONS));
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
    for p in [
        "x".repeat(500),
        "a b/c".into(),
        "unattributed".into(),
        "arn:aws:bedrock:eu-west-1:111122223333:application-inference-profile/zz99".into(),
    ] {
        check_name(&cfg.policy_name(&p)).unwrap();
    }
}

#[test]
fn the_grammar_checker_refuses_what_iam_refuses() {
    let good = json!({"Version":"2012-10-17","Statement":[{"Sid":"A1","Effect":"Deny",
        "Action":["bedrock:InvokeModel"],"Resource":["arn:aws:bedrock:*::foundation-model/x.y"],
        "Condition":{"DateLessThan":{"aws:CurrentTime":"2026-11-25T03:00:30Z"}}}]});
    check_identity_policy(&good.to_string()).unwrap();
    let broken: Vec<(&str, Value)> = vec![
        (
            "version",
            json!({"Version":"2012-10-18","Statement":good["Statement"]}),
        ),
        (
            "no statement",
            json!({"Version":"2012-10-17","Statement":[]}),
        ),
        ("effect", {
            let mut g = good.clone();
            g["Statement"][0]["Effect"] = json!("deny");
            g
        }),
        ("sid", {
            let mut g = good.clone();
            g["Statement"][0]["Sid"] = json!("a-b");
            g
        }),
        ("action", {
            let mut g = good.clone();
            g["Statement"][0]["Action"] = json!(["InvokeModel"]);
            g
        }),
        ("resource", {
            let mut g = good.clone();
            g["Statement"][0]["Resource"] = json!("arn:aws:bedrock:profile");
            g
        }),
        ("operator", {
            let mut g = good.clone();
            g["Statement"][0]["Condition"] =
                json!({"DateBefore":{"aws:CurrentTime":"2026-11-25T03:00:30Z"}});
            g
        }),
        ("date", {
            let mut g = good.clone();
            g["Statement"][0]["Condition"] =
                json!({"DateLessThan":{"aws:CurrentTime":"25/11/2026"}});
            g
        }),
        ("key", {
            let mut g = good.clone();
            g["Statement"][0]["Condition"] =
                json!({"DateLessThan":{"CurrentTime":"2026-11-25T03:00:30Z"}});
            g
        }),
        ("principal", {
            let mut g = good.clone();
            g["Statement"][0]["Principal"] = json!("*");
            g
        }),
    ];
    for (what, doc) in broken {
        assert!(
            check_identity_policy(&doc.to_string()).is_err(),
            "{what} accepted: {doc}"
        );
    }
    assert!(check_name(&"x".repeat(129)).is_err());
    assert!(check_name("a/b").is_err());
}
