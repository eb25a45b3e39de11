//! The detector's tests: thresholds, windows, incidents and their alerts, the store's contract.

use super::*;
use crate::test_support::block_on;

const T0: i64 = 1_764_028_800; // 2025-11-25T00:00:00Z

fn usd(s: &str) -> Money {
    Money::from_usd_text(s).unwrap()
}

fn ob(at: i64, app: &str, caller: &str, cost: Money, input_tokens: u64) -> Observation {
    Observation {
        at: Timestamp(at),
        app: app.into(),
        team: format!("{app}-team"),
        caller: caller.into(),
        model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
        profile_arn: Some(format!(
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{app}"
        )),
        cost,
        unpriced: false,
        requests: 1,
        tokens: Tokens {
            input: input_tokens,
            output: 200,
            ..Tokens::default()
        },
        overrides: Overrides::default(),
    }
}

/// The caller scope of `ob`'s traffic (through the app's own profile).
fn ob_scope(app: &str, caller: &str) -> Scope {
    let o = ob(0, app, caller, Money::ZERO, 0);
    Scope::of_observation(&o).1
}

fn run(obs: &mut [Observation]) -> Vec<Alert> {
    let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
    block_on(replay(&d, obs)).unwrap()
}

/// Ground truth for a scope, by record (not by minute bucket): the first record time at which the
/// records of the preceding `w` minutes (inclusive) exceed either threshold.
fn first_crossing(obs: &[Observation], pick: impl Fn(&Observation) -> bool) -> Option<i64> {
    let cfg = DetectorConfig::default();
    let w = i64::from(cfg.window_minutes) * 60;
    let mut v: Vec<&Observation> = obs.iter().filter(|o| pick(o)).collect();
    v.sort_by_key(|o| o.at);
    for (i, o) in v.iter().enumerate() {
        let inw: Vec<&&Observation> = v[..=i].iter().filter(|p| p.at.0 > o.at.0 - w).collect();
        let cost: Money = inw.iter().map(|p| p.cost).sum();
        let req: u64 = inw.iter().map(|p| p.requests).sum();
        if cost > cfg.max_cost || req > cfg.max_requests {
            return Some(o.at.0);
        }
    }
    None
}

/// A day of diurnal traffic for three apps, a few callers each: busy but under the thresholds.
fn diurnal_day() -> Vec<Observation> {
    let mut v = Vec::new();
    for minute in 0..1440i64 {
        let hour = (minute / 60) as f64;
        // 2..=30 requests a minute over the whole app, peak mid-afternoon.
        let rate = 16.0 + 14.0 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
        let n = rate.round() as i64;
        for k in 0..n {
            let app = ["support", "search", "ops-agent"][(k % 3) as usize];
            let caller = format!("arn:aws:sts::1:assumed-role/{app}/worker-{}", k % 4);
            // ~$0.012 a request: at the peak, 15 min × 10/min × $0.012 = $1.80 per app.
            let cost = Money(usd("0.012").0 + i128::from(k % 5) * 1_000_000_000_000);
            v.push(ob(
                T0 + minute * 60 + (k * 59 / n.max(1)),
                app,
                &caller,
                cost,
                3000,
            ));
        }
    }
    v
}

#[test]
fn steady_diurnal_traffic_does_not_alert() {
    let mut v = diurnal_day();
    assert!(v.len() > 20_000);
    assert_eq!(run(&mut v), vec![]);
}

#[test]
fn legitimate_burst_under_thresholds_does_not_alert() {
    let mut v = diurnal_day();
    // A batch job: 10 minutes at 55 requests a minute ($0.015 each): 550 requests, $8.25 in the
    // window — close to, but under, both thresholds, on top of quiet night traffic of another app.
    for m in 0..10 {
        for k in 0..55 {
            v.push(ob(
                T0 + 3 * 3600 + m * 60 + k,
                "batch-eval",
                "arn:aws:iam::1:user/ci",
                usd("0.015"),
                4000,
            ));
        }
    }
    assert_eq!(first_crossing(&v, |o| o.app == "batch-eval"), None);
    assert_eq!(run(&mut v), vec![]);
}

/// An agent stuck overnight: one call every 30 s, its context growing 1,500 tokens a call at
/// $3.30/M input — cheap calls at first, then not.
fn overnight_loop(start: i64, calls: i64) -> Vec<Observation> {
    let rate = Rate::per_million("3.30").unwrap();
    (0..calls)
        .map(|n| {
            let tokens = 2_000 + 1_500 * n as u64;
            ob(
                start + 30 * n,
                "ops-agent",
                "arn:aws:sts::1:assumed-role/ops/loop",
                rate * tokens,
                tokens,
            )
        })
        .collect()
}
use crate::pricing::money::Rate;

#[test]
fn slow_overnight_loop_alerts_on_cost_then_escalates() {
    let start = T0 + 2 * 3600 + 17;
    let mut v = diurnal_day();
    v.extend(overnight_loop(start, 240)); // two hours
    let loop_caller = |o: &Observation| o.caller.ends_with("/loop");
    let crossing = first_crossing(&v, loop_caller).unwrap();
    let alerts = run(&mut v);
    let runaway: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Runaway)
        .collect();
    assert_eq!(runaway.len(), 1, "{alerts:#?}");
    let a = runaway[0];
    assert_eq!(a.app, "ops-agent");
    assert_eq!(
        a.caller.as_deref(),
        Some("arn:aws:sts::1:assumed-role/ops/loop")
    );
    assert!(a.window_cost > a.threshold_cost && a.window_requests <= a.threshold_requests);
    assert!(
        a.at.0 >= crossing && a.at.0 - crossing <= 5 * 60,
        "{} vs {crossing}",
        a.at.0
    );
    assert_eq!(
        a.models,
        vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".to_string()]
    );
    assert_eq!(a.team, "ops-agent-team");
    assert_eq!(a.profile_arns.len(), 1);
    assert_eq!(a.incident_started, a.at);
    assert!(a.tokens.input > 0);
    // Growing context: the window's spend doubles → escalations, each at ≥ 2× the previous alert.
    let esc: Vec<&Alert> = alerts
        .iter()
        .filter(|x| x.kind == AlertKind::Escalation && x.caller.is_some())
        .collect();
    assert!(!esc.is_empty(), "{alerts:#?}");
    let mut prev = a.window_cost;
    for e in &esc {
        assert_eq!(e.previous_alert_cost, Some(prev));
        assert!(e.window_cost.0 >= 2 * prev.0);
        assert_eq!(e.incident_started, a.incident_started);
        prev = e.window_cost;
    }
    // …and it ends: resolved once, after the loop stopped plus a quiet window.
    let resolved: Vec<&Alert> = alerts
        .iter()
        .filter(|x| x.kind == AlertKind::Resolved && x.caller.is_some())
        .collect();
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0].at.0 >= start + 240 * 30 + 15 * 60);
    // Only one caller loops, so the app-level incident never shows separately.
    assert!(alerts.iter().all(|x| x.caller.is_some()), "{alerts:#?}");
}

#[test]
fn fast_cheap_retry_loop_alerts_on_requests() {
    let mut v = diurnal_day();
    let start = T0 + 14 * 3600 + 5;
    // A client retrying a failing tool call: 3 calls a second of Nova Micro, $0.0001 each.
    for n in 0..(20 * 60 * 3) {
        v.push(ob(
            start + n / 3,
            "search",
            "arn:aws:iam::1:user/BedrockAPIKey-x1",
            usd("0.0001"),
            300,
        ));
    }
    let crossing = first_crossing(&v, |o| o.caller.contains("BedrockAPIKey")).unwrap();
    let app_crossing = first_crossing(&v, |o| o.app == "search").unwrap();
    let alerts = run(&mut v);
    let runaways: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Runaway)
        .collect();
    // The app's own traffic tips its window over a little before the loop's caller alone: an
    // app-level alert first, then the caller-level one — each once, each within 5 minutes.
    assert!(runaways.len() <= 2, "{alerts:#?}");
    let a = runaways
        .iter()
        .find(|a| a.caller.is_some())
        .expect("caller-level alert");
    assert_eq!(
        a.caller.as_deref(),
        Some("arn:aws:iam::1:user/BedrockAPIKey-x1")
    );
    assert!(a.window_requests > 600 && a.window_cost < usd("10"));
    assert!(a.at.0 - crossing <= 5 * 60 && a.at.0 >= crossing);
    let first = runaways[0];
    assert!(first.at.0 - app_crossing <= 5 * 60 && first.at.0 >= app_crossing);
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == AlertKind::Resolved && a.caller.is_some())
            .count(),
        1
    );
    // Cheap and steady: the spend never doubles after the window fills.
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == AlertKind::Escalation)
            .count(),
        0,
        "{alerts:#?}"
    );
}

#[test]
fn escalation_on_doubling_only() {
    // $1.00 a minute for 20 min (crosses at $10+), then $2.50 a minute: the window goes from ~$11
    // to ≥ $22 → one escalation; it then stays at $37.50 (< 2 × the escalation's cost): no more.
    let mut v = Vec::new();
    for m in 0..20 {
        v.push(ob(T0 + m * 60, "a", "c", usd("1.00"), 1));
    }
    for m in 20..60 {
        v.push(ob(T0 + m * 60, "a", "c", usd("2.50"), 1));
    }
    let alerts = run(&mut v);
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AlertKind::Runaway,
            AlertKind::Escalation,
            AlertKind::Resolved
        ],
        "{alerts:#?}"
    );
    assert_eq!(alerts[0].window_cost, usd("11.00"));
    assert_eq!(alerts[0].at, Timestamp(T0 + 11 * 60));
    assert!(alerts[1].window_cost >= usd("22.00"));
    assert_eq!(alerts[1].previous_alert_cost, Some(usd("11.00")));
}

#[test]
fn resolved_after_a_full_quiet_window() {
    // $2 a minute for 10 minutes: the window crosses at the 6th minute ($12).
    let mut v: Vec<Observation> = (0..10)
        .map(|m| ob(T0 + m * 60, "a", "c", usd("2"), 1))
        .collect();
    let alerts = run(&mut v);
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![AlertKind::Runaway, AlertKind::Resolved]);
    assert_eq!(alerts[0].at, Timestamp(T0 + 6 * 60));
    // Windows end at minutes 0..=9 with traffic; the window ending at minute e is at or below $10
    // from e = 9 + 10 = 19 (minutes 5..=9 leave it: 4 × $2 = $8 at e = 20; e = 19 holds 5 × $2 = $10,
    // not above the threshold). Quiet from e = 19; 15 quiet windows: e = 19..=33, evaluated at the
    // end of minute 33 → at = minute 34.
    assert_eq!(alerts[1].at, Timestamp(T0 + 34 * 60));
    assert_eq!(alerts[1].incident_started, alerts[0].at);
    assert_eq!(alerts[1].window_cost, Money::ZERO);
    // A new loop after that is a new incident.
    let mut w: Vec<Observation> = v.clone();
    w.extend((0..10).map(|m| ob(T0 + 3600 + m * 60, "a", "c", usd("2"), 1)));
    let kinds: Vec<AlertKind> = run(&mut w).iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AlertKind::Runaway,
            AlertKind::Resolved,
            AlertKind::Runaway,
            AlertKind::Resolved
        ]
    );
}

#[test]
fn same_batch_twice_alerts_once_and_counts_once() {
    let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
    let now = Timestamp(T0 + 60);
    // $6 in one batch: under the threshold; delivered twice it must not become $12.
    let b1: Vec<Observation> = (0..6).map(|k| ob(T0 + k, "a", "c", usd("1"), 1)).collect();
    assert_eq!(
        block_on(d.observe("evt-1..evt-6", &b1, now))
            .unwrap()
            .alerts,
        vec![]
    );
    assert_eq!(
        block_on(d.observe("evt-1..evt-6", &b1, now))
            .unwrap()
            .alerts,
        vec![]
    );
    // A different batch crosses: one alert, at $12.
    let b2: Vec<Observation> = (0..6)
        .map(|k| ob(T0 + 10 + k, "a", "c", usd("1"), 1))
        .collect();
    let a = block_on(d.observe("evt-7..evt-12", &b2, now))
        .unwrap()
        .alerts;
    block_on(d.delivered(&a[0].id)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].window_cost, usd("12"));
    assert_eq!(a[0].caller.as_deref(), Some("c"));
    // Redelivered: no second alert for the same crossing.
    assert_eq!(
        block_on(d.observe("evt-7..evt-12", &b2, now))
            .unwrap()
            .alerts,
        vec![]
    );
    assert_eq!(
        block_on(d.observe("evt-7..evt-12", &b2, Timestamp(T0 + 120)))
            .unwrap()
            .alerts,
        vec![]
    );
}

#[test]
fn app_level_alert_when_no_single_caller_crosses() {
    // 20 callers, each $0.80 in the window; together $16.
    let mut v = Vec::new();
    for m in 0..15 {
        for c in 0..20 {
            v.push(ob(
                T0 + m * 60 + c,
                "fleet",
                &format!("worker-{c}"),
                Money(usd("0.80").0 / 15),
                1,
            ));
        }
    }
    let alerts = run(&mut v);
    assert_eq!(alerts[0].kind, AlertKind::Runaway);
    assert_eq!(alerts[0].caller, None);
    assert!(alerts.iter().all(|a| a.caller.is_none()));
}

#[test]
fn unattributed_calls_have_no_app_level_window() {
    // 20 direct callers (no profile), $0.80 each in the window: $16 together, but they are not an
    // app. One of them looping is still caught.
    let mut v = Vec::new();
    for m in 0..15 {
        for c in 0..20 {
            v.push(ob(
                T0 + m * 60 + c,
                UNATTRIBUTED,
                &format!("user-{c}"),
                Money(usd("0.80").0 / 15),
                1,
            ));
        }
    }
    assert_eq!(run(&mut v.clone()), vec![]);
    v.extend((0..8).map(|m| ob(T0 + m * 60 + 30, UNATTRIBUTED, "user-0", usd("2"), 1)));
    let alerts = run(&mut v);
    assert_eq!(alerts[0].kind, AlertKind::Runaway);
    assert_eq!(
        (alerts[0].app.as_str(), alerts[0].caller.as_deref()),
        (UNATTRIBUTED, Some("user-0"))
    );
}

#[test]
fn per_app_tag_overrides() {
    let tags = vec![
        (TAG_MAX_COST.to_string(), "2.50".to_string()),
        (TAG_MAX_REQUESTS.to_string(), "50".to_string()),
        (TAG_WINDOW_MINUTES.to_string(), "5".to_string()),
        ("team".to_string(), "x".to_string()),
    ];
    let o = Overrides::from_tags(&tags);
    assert_eq!(o.max_cost, Some(usd("2.5")));
    assert_eq!(o.max_requests, Some(50));
    assert_eq!(o.window_minutes, Some(5));
    let bad = Overrides::from_tags(&[(TAG_MAX_COST.to_string(), "lots".to_string())]);
    assert_eq!(bad, Overrides::default());
    // $1 a minute: never above $10 in 15 minutes' default... but above $2.50 in 5 minutes.
    let mut v: Vec<Observation> = (0..4)
        .map(|m| Observation {
            overrides: o,
            ..ob(T0 + m * 60, "strict", "c", usd("1"), 1)
        })
        .collect();
    let alerts = run(&mut v);
    assert_eq!(alerts[0].kind, AlertKind::Runaway);
    assert_eq!(
        (alerts[0].window_minutes, alerts[0].threshold_cost),
        (5, usd("2.5"))
    );
    assert_eq!(alerts[0].at, Timestamp(T0 + 3 * 60));
}

#[test]
fn config_from_lookup() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        DetectorConfig::from_lookup(env(&[])).unwrap(),
        DetectorConfig::default()
    );
    let c = DetectorConfig::from_lookup(env(&[
        ("WINDOW_MINUTES", "30"),
        ("MAX_COST_USD", "25.5"),
        ("MAX_REQUESTS", " 1000 "),
    ]))
    .unwrap();
    assert_eq!(
        (c.window_minutes, c.max_cost, c.max_requests),
        (30, usd("25.5"), 1000)
    );
    assert_eq!(
        DetectorConfig::from_lookup(env(&[("MAX_COST_USD", "")])).unwrap(),
        DetectorConfig::default()
    );
    for bad in [
        ("WINDOW_MINUTES", "0"),
        ("WINDOW_MINUTES", "1441"),
        ("MAX_COST_USD", "ten"),
        ("MAX_COST_USD", "0"),
        ("MAX_REQUESTS", "-3"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([bad]));
        let e = DetectorConfig::from_lookup(env(pairs)).unwrap_err();
        assert_eq!(e.name, bad.0);
    }
}

#[test]
fn replay_json_line() {
    let mut v: Vec<Observation> = (0..6)
        .map(|m| ob(T0 + m * 60, "ops \"agent\"", "c", usd("2.5"), 1))
        .collect();
    let a = &run(&mut v)[0];
    assert_eq!(
        a.replay_json(),
        r#"{"type":"runaway","app":"ops \"agent\"","team":"ops \"agent\"-team","caller":"c","window_minutes":15,"at":"2025-11-25T00:05:00Z","window_cost_usd":12.5,"window_requests":5,"threshold_cost_usd":10,"threshold_requests":600}"#
    );
    let parsed: serde_json::Value = serde_json::from_str(&a.replay_json()).unwrap();
    assert_eq!(parsed["window_cost_usd"].as_f64(), Some(12.5));
    let app_level = Alert {
        caller: None,
        ..a.clone()
    };
    assert!(app_level.replay_json().contains(r#""caller":null"#));
    assert!(a.summary_line().contains("$12.50"));
    assert!(a.summary_line().contains(" and 5 requests in 15 min"));
    let one = Alert {
        window_requests: 1,
        ..a.clone()
    };
    assert!(
        one.summary_line().contains(" and 1 request in 15 min"),
        "{}",
        one.summary_line()
    );
    // Tag and log values cannot add a line to replay's table.
    let forged = Alert {
        app: "a\nCharts: https://evil.example/a".into(),
        team: "t\u{2028}Charts: x".into(),
        caller: Some("c\rCharts: y".into()),
        ..a.clone()
    };
    let line = forged.summary_line();
    assert_eq!(line.split(['\n', '\r', '\u{2028}']).count(), 1, "{line:?}");
    assert!(line.contains("a\\nCharts"), "{line:?}");
}

#[test]
fn scope_keys_are_unambiguous() {
    assert_ne!(
        Scope::caller("a#b", "c").key(),
        Scope::caller("a", "b#c").key()
    );
    assert_ne!(Scope::app("a").key(), Scope::caller("a", "").key());
    assert_eq!(Scope::caller("a%", "x").key(), "C#a%25#x");
    // Per profile: the profile is part of the key, so two profiles claiming one app never share.
    assert_ne!(
        Scope::of_profile("a", "p1", None).key(),
        Scope::of_profile("a", "p2", None).key()
    );
    assert_ne!(
        Scope::of_profile("a", "p#x", Some("c")).key(),
        Scope::of_profile("a", "p", Some("x#c")).key()
    );
    assert_eq!(Scope::of_profile("a", "p", Some("c")).key(), "Q#a#p#c");
}

#[test]
fn memory_store_expires_old_buckets() {
    let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
    for h in 0..5 {
        let o = [ob(T0 + h * 3600, "a", "c", usd("0.01"), 1)];
        block_on(d.observe(&format!("b{h}"), &o, Timestamp(T0 + h * 3600 + 60))).unwrap();
    }
    // Two scopes; only the latest hours are kept.
    assert!(
        d.store().bucket_count() <= 4,
        "{}",
        d.store().bucket_count()
    );
}

#[test]
fn an_undelivered_alert_is_delivered_by_a_later_call_once() {
    let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
    let now = Timestamp(T0 + 60);
    let b: Vec<Observation> = (0..12).map(|k| ob(T0 + k, "a", "c", usd("1"), 1)).collect();
    // The transition is made; the invocation then dies before delivering (no `delivered`).
    let won = block_on(d.observe("batch-1", &b, now)).unwrap().alerts;
    assert_eq!(won.len(), 1);
    assert_eq!(d.store().pending(), vec![won[0].id.clone()]);
    // Another batch within the lease: the writer may still be delivering it — not taken.
    let other = [ob(T0 + 30, "b", "x", usd("0.01"), 1)];
    assert_eq!(
        block_on(d.observe("batch-2", &other, Timestamp(T0 + 90)))
            .unwrap()
            .alerts,
        vec![]
    );
    // The redelivery of the failed batch takes it at once (its invocation is over): same alert.
    let retry = block_on(d.observe("batch-1", &b, Timestamp(T0 + 100)))
        .unwrap()
        .alerts;
    assert_eq!(retry, won);
    // Not confirmed again: after the lease anyone takes it; once delivered, nobody.
    let later = Timestamp(T0 + 100 + DELIVERY_LEASE_SECS + 1);
    let again = block_on(d.observe("batch-3", &[], later)).unwrap().alerts;
    assert_eq!(again, won);
    block_on(d.delivered(&won[0].id)).unwrap();
    assert!(d.store().pending().is_empty());
    assert_eq!(
        block_on(d.observe("batch-4", &[], Timestamp(later.0 + 300)))
            .unwrap()
            .alerts,
        vec![]
    );
}

#[test]
fn store_calls_are_one_per_scope_and_concurrent() {
    // 200 callers of one app in one batch: 201 scopes (200 callers + the app), one apply each,
    // plus one attention query; the chain is two calls deep (apply ∥ attention, nothing else).
    let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
    let b: Vec<Observation> = (0..200)
        .map(|k| ob(T0 + k % 60, "a", &format!("c{k}"), usd("0.01"), 1))
        .collect();
    let o = block_on(d.observe("b", &b, Timestamp(T0 + 60))).unwrap();
    assert_eq!(o.alerts, vec![]);
    assert_eq!(
        o.stats,
        StoreStats {
            calls: 202,
            chain: 1,
            scopes: 201
        }
    );
}

#[test]
fn store_calls_per_batch_by_distinct_callers() {
    // The BENCHMARKS.md table: one batch, one minute, one app, N distinct callers (principals):
    // N + 1 scopes, one add each plus the attention query, all side by side. Session names of one
    // role are one caller: 5,000 of them cost what one does.
    let quiet = DetectorConfig {
        max_requests: 1_000_000,
        ..DetectorConfig::default()
    };
    for n in [1usize, 100, 1_000, 5_000] {
        let d = Detector::new(MemoryStore::new(), quiet);
        let b: Vec<Observation> = (0..n)
            .map(|k| {
                ob(
                    T0 + (k % 60) as i64,
                    "a",
                    &format!("role-{k}"),
                    usd("0.001"),
                    1,
                )
            })
            .collect();
        let o = block_on(d.observe("b", &b, Timestamp(T0 + 60))).unwrap();
        assert_eq!((o.stats.calls, o.stats.chain), (n + 2, 1), "{n}");
    }
}

#[test]
fn long_windows_use_coarser_buckets() {
    assert_eq!(bucket_secs(15), 60);
    assert_eq!(bucket_secs(60), 60);
    assert_eq!(bucket_secs(61), 120);
    assert_eq!(bucket_secs(1440), 24 * 60);
    assert_eq!(window_buckets(1440), 60);
    assert_eq!(window_buckets(61), 31);
    // A day-long window: a scope busy every minute for two days keeps about 2 × 60 buckets.
    let cfg = DetectorConfig {
        window_minutes: 1440,
        max_cost: usd("1000"),
        max_requests: 1_000_000,
    };
    let d = Detector::new(MemoryStore::new(), cfg);
    for m in 0..2 * 1440 {
        let o = [ob(T0 + m * 60, "a", "c", usd("0.01"), 1)];
        block_on(d.observe(&format!("b{m}"), &o, Timestamp(T0 + m * 60 + 60))).unwrap();
    }
    assert!(
        d.store().bucket_count() <= 2 * 2 * 61,
        "{}",
        d.store().bucket_count()
    );
    // Batch keys are kept an hour, not two days: a few buckets' worth, not 2,880 batches.
    let st = block_on(d.store().read(&ob_scope("a", "c"))).unwrap();
    assert!(st.marked.len() <= 5, "{:?}", st.marked);
    // ...and within that hour a redelivery still adds nothing.
    let last = 2 * 1440 - 1;
    let o = [ob(T0 + last * 60, "a", "c", usd("0.01"), 1)];
    let in_last = |st: &ScopeState| -> u64 {
        let start = bucket_start(T0 + last * 60, bucket_secs(1440));
        st.buckets
            .iter()
            .filter(|b| b.minute.0 == start)
            .map(|b| b.requests)
            .sum()
    };
    let before = in_last(&st);
    assert!(before > 0);
    block_on(d.observe(&format!("b{last}"), &o, Timestamp(T0 + last * 60 + 120))).unwrap();
    let after = block_on(d.store().read(&ob_scope("a", "c"))).unwrap();
    assert_eq!(in_last(&after), before);
}

#[test]
fn stored_alerts_round_trip() {
    let mut v: Vec<Observation> = (0..6)
        .map(|m| ob(T0 + m * 60, "a", "c", usd("2.5"), 1))
        .collect();
    let mut a = run(&mut v)[0].clone();
    a.previous_alert_cost = Some(usd("1.25"));
    a.tokens.cache_write_1h = 7;
    assert_eq!(
        Alert::from_stored_json(&a.to_stored_json()),
        Some(a.clone())
    );
    let app_level = Alert { caller: None, ..a };
    assert_eq!(
        Alert::from_stored_json(&app_level.to_stored_json()),
        Some(app_level)
    );
    assert_eq!(Alert::from_stored_json("{}"), None);
}

/// A store whose adds wait until `n` callers are there, and that yields before every
/// compare-and-set: the invocations add concurrently and race for the incident.
#[cfg(feature = "aws")]
struct Rendezvous<S> {
    inner: S,
    barrier: tokio::sync::Barrier,
}

#[cfg(feature = "aws")]
impl<S: StateStore> StateStore for Rendezvous<S> {
    async fn apply(
        &self,
        s: &Scope,
        b: &str,
        d: &[Bucket],
        e: Timestamp,
    ) -> Result<ScopeState, StoreError> {
        self.barrier.wait().await;
        self.inner.apply(s, b, d, e).await
    }
    async fn read(&self, s: &Scope) -> Result<ScopeState, StoreError> {
        tokio::task::yield_now().await;
        self.inner.read(s).await
    }
    async fn forget(&self, s: &Scope, t: &[Timestamp], m: &[Timestamp]) -> Result<(), StoreError> {
        self.inner.forget(s, t, m).await
    }
    async fn transition(
        &self,
        s: &Scope,
        v: u64,
        n: &Incident,
        a: &Alert,
        c: &Claim,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.inner.transition(s, v, n, a, c).await
    }
    async fn attention(&self) -> Result<Attention, StoreError> {
        self.inner.attention().await
    }
    async fn claim(&self, id: &str, c: &Claim) -> Result<bool, StoreError> {
        self.inner.claim(id, c).await
    }
    async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        self.inner.delivered(id).await
    }
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_of_one_incident_alert_once() {
    for round in 0..20 {
        let n = 4;
        let d = std::sync::Arc::new(Detector::new(
            Rendezvous {
                inner: MemoryStore::new(),
                // Each batch adds to two scopes (the caller's and the app's).
                barrier: tokio::sync::Barrier::new(2 * n),
            },
            DetectorConfig::default(),
        ));
        // Four invocations, $3 each, same caller and minute: none crosses alone, all together do.
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let d = d.clone();
                tokio::spawn(async move {
                    let b = [ob(T0 + i as i64, "a", "c", usd("3"), 1)];
                    d.observe(&format!("batch-{round}-{i}"), &b, Timestamp(T0 + 60))
                        .await
                        .unwrap()
                        .alerts
                })
            })
            .collect();
        let mut alerts = Vec::new();
        for t in tasks {
            alerts.extend(t.await.unwrap());
        }
        // One caller-level runaway (the app-level one is recorded, and dropped as a duplicate by
        // whichever invocation won both; if different invocations won them, both are sent).
        let caller_level: Vec<&Alert> = alerts.iter().filter(|a| a.caller.is_some()).collect();
        assert_eq!(caller_level.len(), 1, "{alerts:#?}");
        assert_eq!(caller_level[0].window_cost, usd("12"));
        assert!(alerts.iter().filter(|a| a.caller.is_none()).count() <= 1);
        let st = d.store().inner.read(&ob_scope("a", "c")).await.unwrap();
        let inc = st.incident.unwrap();
        assert_eq!((st.version, inc.open, inc.alerts), (1, true, 1));
    }
}

const VICTIM_PROFILE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/victim01";
const FORGED_PROFILE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/forged01";

/// An observation through a given profile (its `app` tag `victim`), with that profile's overrides.
fn through(at: i64, profile: &str, caller: &str, cost: Money, o: Overrides) -> Observation {
    Observation {
        profile_arn: Some(profile.into()),
        overrides: o,
        ..ob(at, "victim", caller, cost, 10)
    }
}

#[test]
fn a_forged_profile_tagged_with_the_victims_app_changes_none_of_its_alerts() {
    let strict = Overrides {
        max_requests: Some(1),
        ..Overrides::default()
    };
    let victim = "arn:aws:sts::111122223333:assumed-role/victim-app/s";
    let attacker = "arn:aws:sts::111122223333:assumed-role/attacker/s";
    // The victim's normal traffic (5 calls a minute, $0.10 each: far under $10 / 600) and one call
    // through the attacker's profile tagged app=victim, meter:max-requests=1, in the same minutes.
    let mut v: Vec<Observation> = (0..10)
        .flat_map(|m| {
            (0..5).map(move |k| {
                through(
                    T0 + m * 60 + k,
                    VICTIM_PROFILE,
                    victim,
                    usd("0.10"),
                    Overrides::default(),
                )
            })
        })
        .collect();
    v.push(through(
        T0 + 30,
        FORGED_PROFILE,
        attacker,
        usd("0.01"),
        strict,
    ));
    v.push(through(
        T0 + 31,
        FORGED_PROFILE,
        attacker,
        usd("0.01"),
        strict,
    ));
    let alerts = run(&mut v);
    // The attacker's own profile may alert on its own limit; nothing names the victim's profile.
    assert!(
        alerts
            .iter()
            .all(|a| a.profile.as_deref() == Some(FORGED_PROFILE)
                && !a.profile_arns.iter().any(|p| p == VICTIM_PROFILE)),
        "{alerts:#?}"
    );
    assert!(alerts.iter().all(|a| a.caller.as_deref() != Some(victim)));
}

#[test]
fn a_forged_profile_with_a_huge_limit_hides_no_runaway() {
    let lax = Overrides {
        max_cost: Some(usd("1000000")),
        max_requests: Some(1_000_000),
        ..Overrides::default()
    };
    let victim = "arn:aws:sts::111122223333:assumed-role/victim-app/s";
    let attacker = "arn:aws:sts::111122223333:assumed-role/attacker/s";
    // A loop on the victim's profile: $2 a minute → above $10 in the sixth minute.
    let mut v: Vec<Observation> = (0..10)
        .map(|m| {
            through(
                T0 + m * 60,
                VICTIM_PROFILE,
                victim,
                usd("2"),
                Overrides::default(),
            )
        })
        .collect();
    // The attacker calls its own profile (tagged app=victim, huge limits) every minute alongside.
    v.extend((0..10).map(|m| through(T0 + m * 60 + 1, FORGED_PROFILE, attacker, usd("0.01"), lax)));
    let alerts = run(&mut v);
    let runaway = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Runaway && a.profile.as_deref() == Some(VICTIM_PROFILE))
        .expect("the victim's runaway still alerts");
    assert_eq!(runaway.threshold_cost, usd("10"));
    assert_eq!(runaway.at, Timestamp(T0 + 6 * 60));
}

#[test]
fn an_app_level_runaway_carries_each_batch_callers_share() {
    // Three callers, none alone above $10 in the window; together they cross. The loop spends most.
    // Per minute: the loop $1.50 in 2 calls, the web $0.80 in 2 calls: the app crosses $10 in its
    // fifth minute ($11.50 + one call of $0.01), no caller alone does ($7.50, $4).
    let mut v = Vec::new();
    for m in 0..5 {
        v.push(ob(T0 + m * 60, "a", "loop", usd("0.75"), 1));
        v.push(ob(T0 + m * 60 + 1, "a", "loop", usd("0.75"), 1));
        v.push(ob(T0 + m * 60 + 2, "a", "web", usd("0.4"), 1));
        v.push(ob(T0 + m * 60 + 3, "a", "web", usd("0.4"), 1));
    }
    v.push(ob(T0 + 4 * 60 + 4, "a", "once", usd("0.01"), 1));
    let alerts = run(&mut v);
    let app = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Runaway && a.caller.is_none())
        .expect("an app-level runaway");
    let shares: Vec<(&str, u64)> = app
        .callers
        .iter()
        .map(|c| (c.caller.as_str(), c.requests))
        .collect();
    assert_eq!(shares, vec![("loop", 10), ("web", 10), ("once", 1)]);
    assert_eq!(app.callers[0].cost, usd("7.5"));
    assert_eq!(app.at, Timestamp(T0 + 5 * 60));
    // The shares survive the outbox.
    let back = Alert::from_stored_json(&app.to_stored_json()).unwrap();
    assert_eq!(back, *app);
}
