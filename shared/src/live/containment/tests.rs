//! Containment's tests: principals, settings, documents, the decision, the IAM calls, the ledger.

use super::*;

const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_iso8601(s).unwrap()
}

fn cfg() -> ContainmentConfig {
    ContainmentConfig {
        allow: parse_allow("role/ops-*,user/batch-?").unwrap(),
        ..ContainmentConfig::default()
    }
}

fn facts() -> IncidentFacts {
    IncidentFacts {
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: Some("arn:aws:sts::111122223333:assumed-role/ops-agent/worker-1".into()),
        callers: vec![],
        profile_arns: vec![PROFILE.into()],
        models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
        at: t("2026-11-25T02:00:30Z"),
        opted_in: true,
        window_cost: Money::ZERO,
        window_requests: 50,
        threshold_cost: Money(10 * crate::pricing::money::FEMTO_PER_USD),
        threshold_requests: 20,
    }
}

fn share(caller: &str, requests: u64) -> CallerShare {
    CallerShare {
        caller: caller.into(),
        cost: Money::ZERO,
        requests,
    }
}

#[test]
fn principals_from_callers() {
    let r = IamPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/ops-agent/worker-1")
        .unwrap();
    assert_eq!(
        (r.kind, r.name.as_str()),
        (PrincipalKind::Role, "ops-agent")
    );
    assert_eq!(
        (r.partition.as_str(), r.account.as_str()),
        ("aws", "111122223333")
    );
    // The principal rule's collapsed form (no session) is the same role.
    assert_eq!(
        IamPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/ops-agent"),
        Some(r.clone())
    );
    let u = IamPrincipal::from_caller("arn:aws-cn:iam::111122223333:user/team/a/batch-1").unwrap();
    assert_eq!(
        (u.kind, u.name.as_str(), u.partition.as_str()),
        (PrincipalKind::User, "batch-1", "aws-cn")
    );
    let role = IamPrincipal::from_caller("arn:aws:iam::111122223333:role/svc/ops-x").unwrap();
    assert_eq!(role.label(), "role/ops-x");
    for not in [
        "arn:aws:iam::111122223333:root",
        "arn:aws:sts::111122223333:federated-user/bob",
        "unknown",
        "",
        "arn:aws:sts::111122223333:assumed-role//s",
        "arn:aws:sts:us-east-1:111122223333:assumed-role/r/s",
        "arn:aws:iam::111122223333:group/g",
    ] {
        assert_eq!(IamPrincipal::from_caller(not), None, "{not}");
    }
    assert_eq!(
        IamPrincipal::parse("role/ops-agent").unwrap().name,
        "ops-agent"
    );
    assert_eq!(
        IamPrincipal::parse("user/x").unwrap().kind,
        PrincipalKind::User
    );
    assert_eq!(IamPrincipal::parse("group/x"), None);
    assert_eq!(IamPrincipal::parse("role/a b"), None);
}

#[test]
fn configuration() {
    let c = ContainmentConfig::from_lookup(|k| match k {
        "CONTAINMENT_ALLOW" => Some(" role/a-* , user/b ".into()),
        "CONTAINMENT_UNATTRIBUTED" => Some("true".into()),
        "CONTAINMENT_COOLDOWN_MINUTES" => Some("30".into()),
        "CONTAINMENT_DRY_RUN" => Some("yes".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.allow, vec!["role/a-*", "user/b"]);
    assert!(c.unattributed && c.dry_run);
    assert_eq!(c.cool_down_minutes, 30);
    // What the template passes when neither pattern is set, or only one.
    assert!(parse_allow(",").unwrap().is_empty());
    assert_eq!(
        parse_allow("role/bedrock-app-*,").unwrap(),
        vec!["role/bedrock-app-*"]
    );
    assert_eq!(parse_allow(",user/batch-?").unwrap(), vec!["user/batch-?"]);
    let d = ContainmentConfig::from_lookup(|_| None).unwrap();
    assert_eq!(d, ContainmentConfig::default());
    assert!(!d.is_enabled() && !d.unattributed && !d.dry_run);
    for (k, v) in [
        ("CONTAINMENT_ALLOW", "arn:aws:iam::1:role/x"),
        ("CONTAINMENT_ALLOW", "role/"),
        ("CONTAINMENT_ALLOW", "role/a b"),
        ("CONTAINMENT_COOLDOWN_MINUTES", "0"),
        ("CONTAINMENT_COOLDOWN_MINUTES", "10081"),
        ("CONTAINMENT_DRY_RUN", "maybe"),
    ] {
        let e = ContainmentConfig::from_lookup(|q| (q == k).then(|| v.to_string()));
        assert!(e.is_err(), "{k}={v} accepted");
    }
}

#[test]
fn opt_in_by_tag() {
    let tag = |v: &str| vec![(TAG_ON_RUNAWAY.to_string(), v.to_string())];
    assert!(opted_in(&tag("contain")));
    assert!(opted_in(&tag(" Contain ")));
    assert!(!opted_in(&tag("alert")));
    assert!(!opted_in(&[(
        "meter:on-runaway-x".into(),
        "contain".into()
    )]));
    assert!(!opted_in(&[]));
}

#[test]
fn a_tagged_apps_caller_is_contained_on_its_profile_only() {
    let p = plan(&facts(), &cfg());
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    assert_eq!(p.contain.len(), 1);
    let c = &p.contain[0];
    assert_eq!(c.principal.label(), "role/ops-agent");
    assert_eq!(
        c.policy_name,
        "BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"
    );
    assert_eq!(c.resources, vec![PROFILE.to_string()]);
    assert_eq!(c.until, t("2026-11-25T03:00:30Z"));
    assert_eq!(
        c.lift_command(),
        "bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6"
    );
    let doc: serde_json::Value = serde_json::from_str(&c.document()).unwrap();
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
    assert_eq!(
        read_document(&c.document()),
        Some(StoredContainment {
            resources: vec![PROFILE.into()],
            until: Some(c.until)
        })
    );
    // The same transition gives the same bytes: a repeated put never extends the deny.
    assert_eq!(plan(&facts(), &cfg()), p);
}

#[test]
fn who_is_never_contained() {
    let mut f = facts();
    f.opted_in = false;
    assert_eq!(plan(&f, &cfg()).skipped[0].1, Skip::NotOptedIn);
    assert!(plan(&f, &cfg()).contain.is_empty());

    let mut f = facts();
    f.caller = Some("arn:aws:sts::111122223333:assumed-role/payments/worker".into());
    assert_eq!(
        plan(&f, &cfg()).skipped,
        vec![(
            f.caller.clone().unwrap(),
            Skip::OutsideAllow("role/payments".into())
        )]
    );
    // Empty allow list (the default): nobody.
    assert!(plan(&facts(), &ContainmentConfig::default())
        .contain
        .is_empty());

    let mut f = facts();
    f.caller = Some(
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/jane@example.com".into(),
    );
    let mut all = cfg();
    all.allow = vec!["role/*".into()];
    assert_eq!(
        plan(&f, &all).skipped[0].1,
        Skip::SsoReserved("role/AWSReservedSSO_Dev_0123".into())
    );
    all.allow = vec!["role/AWSReservedSSO_*".into()];
    assert!(
        plan(&f, &all).contain.is_empty(),
        "Identity Center roles are never contained"
    );

    let mut f = facts();
    f.caller = Some("arn:aws:iam::111122223333:root".into());
    assert!(matches!(
        plan(&f, &all).skipped[0].1,
        Skip::NotAPrincipal(_)
    ));
}

#[test]
fn app_level_incidents_contain_each_allowed_caller_once() {
    let mut f = facts();
    f.caller = None;
    f.callers = vec![
        share("arn:aws:sts::111122223333:assumed-role/ops-agent/a", 15),
        share("arn:aws:sts::111122223333:assumed-role/ops-agent/b", 15),
        share("arn:aws:iam::111122223333:user/batch-7", 15),
        share("arn:aws:iam::111122223333:user/alice", 15),
    ];
    let p = plan(&f, &cfg());
    let who: Vec<String> = p.contain.iter().map(|c| c.principal.label()).collect();
    assert_eq!(who, vec!["role/ops-agent", "user/batch-7"]);
    assert_eq!(p.skipped.len(), 1);
}

#[test]
fn unattributed_traffic_only_with_the_stack_switch() {
    let mut f = facts();
    f.app = UNATTRIBUTED.into();
    f.profile_arns = vec![];
    f.opted_in = false;
    f.models = vec![
        "anthropic.claude-3-haiku-20240307-v1:0".into(),
        "us.amazon.nova-lite-v1:0".into(),
        "arn:aws:bedrock:us-east-1::provisioned-model/x".into(),
    ];
    assert_eq!(plan(&f, &cfg()).skipped[0].1, Skip::UnattributedOff);
    let mut on = cfg();
    on.unattributed = true;
    let p = plan(&f, &on);
    assert_eq!(p.contain.len(), 1);
    let c = &p.contain[0];
    assert_eq!(
        c.policy_name,
        "BedrockMeterContain-bedrock-meter.local.unattributed"
    );
    assert_eq!(
        c.resources,
        vec![
            "arn:aws:bedrock:*:111122223333:inference-profile/us.amazon.nova-lite-v1:0",
            "arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0",
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        ]
    );
    f.models = vec!["arn:aws:bedrock:us-east-1::provisioned-model/x".into()];
    assert_eq!(plan(&f, &on).skipped[0].1, Skip::NoResource);
}

#[test]
fn names_stay_within_iam_limits_and_carry_the_stack_and_region() {
    let mut c = cfg();
    c.stack = "prod-meter".into();
    c.region = "eu-west-1".into();
    assert_eq!(
        c.policy_name(PROFILE),
        "BedrockMeterContain-prod-meter.eu-west-1.a1b2c3d4e5f6"
    );
    assert_eq!(c.policy_name("a1b2c3d4e5f6"), c.policy_name(PROFILE));
    assert!(c.policy_name(PROFILE).starts_with(&c.policy_prefix()));
    assert_eq!(
        profile_key_of(&c.policy_name(PROFILE)),
        Some("a1b2c3d4e5f6")
    );
    // Another Region's stack of the same name: another name, another prefix (never swept here).
    let mut other = c.clone();
    other.region = "us-east-1".into();
    assert_ne!(other.policy_name(PROFILE), c.policy_name(PROFILE));
    assert!(!other.policy_name(PROFILE).starts_with(&c.policy_prefix()));
    // A stack whose name runs into another's Region: prefixes still never nest (`.` separates).
    let mut a = cfg();
    a.stack = "a".into();
    a.region = "us-east-1".into();
    let mut b = cfg();
    b.stack = "a-us-east-1".into();
    b.region = "us-west-2".into();
    assert!(!b.policy_name(PROFILE).starts_with(&a.policy_prefix()));
    let long = format!(
        "arn:aws:bedrock:us-east-1:1:application-inference-profile/{}",
        "x".repeat(300)
    );
    let odd = "arn:aws:bedrock:us-east-1:1:application-inference-profile/a b/c";
    let mut big = cfg();
    big.stack = "s".repeat(128);
    big.region = "a-very-long-region-name-1".into();
    for cf in [&c, &big] {
        for p in [long.as_str(), odd, UNATTRIBUTED_KEY] {
            let n = cf.policy_name(p);
            assert!(n.len() <= MAX_POLICY_NAME_CHARS, "{n}");
            assert!(n.chars().all(iam_name_char), "{n}");
            assert_eq!(cf.policy_name(p), n, "deterministic");
            assert!(n.starts_with(&cf.policy_prefix()));
        }
        assert_ne!(cf.policy_name(&long), cf.policy_name(odd));
    }
}

#[test]
fn model_ids_with_wildcards_never_reach_a_policy() {
    let mut on = cfg();
    on.unattributed = true;
    for bad in ["anthropic.*", "anthropic.claude-?", "x${aws:username}"] {
        let mut f = facts();
        f.app = UNATTRIBUTED.into();
        f.profile_arns = vec![];
        f.models = vec!["anthropic.claude-3-haiku-20240307-v1:0".into(), bad.into()];
        let p = plan(&f, &on);
        assert!(p.contain.is_empty(), "{bad}: {:?}", p.contain);
        assert_eq!(p.skipped[0].1, Skip::WildcardResource(bad.into()));
    }
    let mut f = facts();
    f.profile_arns = vec![format!("{PROFILE}*")];
    let p = plan(&f, &cfg());
    assert!(p.contain.is_empty());
    assert!(matches!(p.skipped[0].1, Skip::WildcardResource(_)));
}

#[test]
fn foreign_account_callers_are_reported_never_contained() {
    let mut c = cfg();
    c.account = Some("111122223333".into());
    let mut f = facts();
    f.caller = Some("arn:aws:sts::444455556666:assumed-role/ops-agent/s".into());
    let p = plan(&f, &c);
    assert!(p.contain.is_empty());
    assert_eq!(
        p.skipped[0].1,
        Skip::ForeignAccount("role/ops-agent".into(), "444455556666".into())
    );
    // The same role name in this account is contained.
    assert_eq!(plan(&facts(), &c).contain.len(), 1);
    // App level too: only this account's caller.
    let mut f = facts();
    f.caller = None;
    f.callers = vec![
        share("arn:aws:sts::444455556666:assumed-role/ops-agent/s", 25),
        share("arn:aws:sts::111122223333:assumed-role/ops-batch/s", 25),
    ];
    let p = plan(&f, &c);
    let who: Vec<String> = p.contain.iter().map(|x| x.principal.label()).collect();
    assert_eq!(who, vec!["role/ops-batch"]);
}

#[test]
fn only_the_callers_who_ran_away_are_contained() {
    let usd = |n: i128| Money(n * crate::pricing::money::FEMTO_PER_USD);
    let mut f = facts();
    f.caller = None;
    // The window crossed on spend ($40 > $10), not on requests (50 ≤ 60).
    f.window_cost = usd(40);
    f.threshold_requests = 60;
    let loop_ = "arn:aws:sts::111122223333:assumed-role/ops-agent/loop";
    let bystander = "arn:aws:sts::111122223333:assumed-role/ops-web/s";
    let single = "arn:aws:sts::111122223333:assumed-role/ops-cron/s";
    let cheap_chatty = "arn:aws:sts::111122223333:assumed-role/ops-chat/s";
    f.callers = vec![
        CallerShare {
            caller: loop_.into(),
            cost: usd(30),
            requests: 20,
        },
        CallerShare {
            caller: bystander.into(),
            cost: usd(4),
            requests: 10,
        },
        // One request that alone is a quarter of the spend: still never contained.
        CallerShare {
            caller: single.into(),
            cost: usd(10),
            requests: 1,
        },
        // Many cheap requests: the window did not cross on requests, so they do not count.
        CallerShare {
            caller: cheap_chatty.into(),
            cost: usd(1),
            requests: 19,
        },
    ];
    let p = plan(&f, &cfg());
    let who: Vec<String> = p.contain.iter().map(|x| x.caller.clone()).collect();
    assert_eq!(who, vec![loop_.to_string()]);
    let why: std::collections::BTreeMap<&str, &Skip> =
        p.skipped.iter().map(|(c, w)| (c.as_str(), w)).collect();
    assert!(matches!(why[bystander], Skip::SmallShare { .. }));
    assert_eq!(*why[single], Skip::TooFewRequests(1));
    assert!(matches!(why[cheap_chatty], Skip::SmallShare { .. }));
    // Crossed on requests as well: the chatty caller's 19 of 50 requests (38%) are a real part.
    f.threshold_requests = 20;
    let p = plan(&f, &cfg());
    assert_eq!(p.contain.len(), 2, "{:?}", p.skipped);
    // A caller-level incident of one request is no loop either.
    let mut one = facts();
    one.window_requests = 1;
    assert_eq!(plan(&one, &cfg()).skipped[0].1, Skip::TooFewRequests(1));
    assert!(share_rule_text().contains("25%"));
}

#[test]
fn documents_too_large_for_iam_are_refused() {
    let mut f = facts();
    f.app = UNATTRIBUTED.into();
    f.profile_arns = vec![];
    f.models = (0..60)
        .map(|i| format!("anthropic.model-{i}-v1:0"))
        .collect();
    let mut on = cfg();
    on.unattributed = true;
    assert!(
        matches!(plan(&f, &on).skipped[0].1, Skip::PolicyTooLarge(n) if n > MAX_USER_POLICY_CHARS)
    );
}

#[test]
fn replay_lines_and_alert_text() {
    let c = plan(&facts(), &cfg()).contain.remove(0);
    let v: serde_json::Value = serde_json::from_str(&c.replay_json(false, c.at)).unwrap();
    assert_eq!(v["type"], "contain");
    assert_eq!(v["until"], "2026-11-25T03:00:30Z");
    assert_eq!(v["resource"], PROFILE);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7);
    let r: serde_json::Value =
        serde_json::from_str(&c.replay_json(true, t("2026-11-25T02:31:00Z"))).unwrap();
    assert_eq!(
        (r["type"].as_str(), r["at"].as_str()),
        (Some("release"), Some("2026-11-25T02:31:00Z"))
    );

    let ok = Applied {
        containment: c.clone(),
        result: Ok(true),
        dry_run: false,
    };
    let text = alert_lines(std::slice::from_ref(&ok), false);
    for want in [
        "CONTAINED: role/ops-agent",
        PROFILE,
        "until 2026-11-25T03:00:30Z",
        "bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert!(alert_lines(&[ok], true).starts_with("LIFTED:"));
    let dry = Applied {
        containment: c.clone(),
        result: Ok(true),
        dry_run: true,
    };
    assert!(alert_lines(&[dry], false).starts_with("DRY RUN: would have denied"));
    let failed = Applied {
        containment: c,
        result: Err(IamError {
            operation: "PutRolePolicy",
            code: Some("AccessDenied".into()),
            message: "no".into(),
        }),
        dry_run: false,
    };
    assert!(alert_lines(&[failed], false).contains("CONTAINMENT FAILED"));
}

#[test]
fn globs() {
    assert!(glob_match(b"role/ops-*", b"role/ops-agent"));
    assert!(!glob_match(b"role/ops-*", b"role/xops-agent"));
    assert!(glob_match(b"user/batch-?", b"user/batch-1"));
    assert!(!glob_match(b"user/batch-?", b"user/batch-12"));
    assert!(!glob_match(b"role/*", b"user/x"));
}

fn alert(
    kind: crate::live::detector::AlertKind,
    caller: Option<&str>,
    at: &str,
) -> crate::live::detector::Alert {
    crate::live::detector::Alert {
        kind,
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: caller.map(str::to_string),
        models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
        profile_arns: vec![PROFILE.into()],
        window_minutes: 15,
        at: t(at),
        window_start: t(at),
        window_cost: crate::pricing::money::Money::ZERO,
        window_requests: 0,
        window_unpriced: 0,
        tokens: crate::records::record::Tokens::default(),
        threshold_cost: crate::pricing::money::Money::ZERO,
        threshold_requests: 0,
        incident_started: t(at),
        previous_alert_cost: None,
        profile: None,
        callers: vec![],
        id: "x".into(),
    }
}

#[test]
fn replay_contains_on_runaway_and_releases_only_at_until() {
    use crate::live::detector::AlertKind::*;
    let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
    let mut alerts = vec![
        alert(Runaway, Some(w), "2026-11-25T01:20:00Z"),
        alert(Escalation, Some(w), "2026-11-25T01:40:00Z"),
        // Quiet (the deny's own doing) and resolved: the deny stays until 02:20.
        alert(Resolved, Some(w), "2026-11-25T01:50:00Z"),
        // Later, a new runaway whose deny expires before it resolves.
        alert(Runaway, Some(w), "2026-11-25T03:00:00Z"),
        alert(Resolved, Some(w), "2026-11-25T05:00:00Z"),
        // A runaway that never resolves in the replay: it expires after the last alert.
        alert(
            Runaway,
            Some("arn:aws:iam::111122223333:user/batch-1"),
            "2026-11-25T06:00:00Z",
        ),
    ];
    for a in &mut alerts {
        a.window_requests = 30;
    }
    let (ev, _) = replay_events(&alerts, |p| p == PROFILE, &cfg());
    let got: Vec<(usize, String, String)> = ev
        .iter()
        .map(|(i, e)| {
            let v: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
            (
                *i,
                v["type"].as_str().unwrap().to_string(),
                v["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "contain".into(), "2026-11-25T01:20:00Z".into()),
            (2, "release".into(), "2026-11-25T02:20:00Z".into()),
            (3, "contain".into(), "2026-11-25T03:00:00Z".into()),
            (3, "release".into(), "2026-11-25T04:00:00Z".into()),
            (5, "contain".into(), "2026-11-25T06:00:00Z".into()),
            (5, "release".into(), "2026-11-25T07:00:00Z".into()),
        ]
    );
    assert!(ev[0]
        .1
        .summary_line()
        .contains("contain    ops-agent (platform) caller"));
    // An app or team tag with a line break stays on its one line.
    let ReplayEvent::Contain(c) = &ev[0].1 else {
        panic!("{:?}", ev[0].1)
    };
    let forged = ReplayEvent::Contain(Containment {
        app: "ops\nCharts: https://evil.example".into(),
        team: "t\u{2029}x".into(),
        ..c.clone()
    })
    .summary_line();
    assert_eq!(forged.split(['\n', '\u{2029}']).count(), 1, "{forged:?}");
    // Not opted in: nothing.
    assert!(replay_events(&alerts, |_| false, &cfg()).0.is_empty());
}

#[test]
fn the_rendered_alert_says_what_was_contained() {
    let a = alert(
        crate::live::detector::AlertKind::Runaway,
        Some("arn:aws:sts::111122223333:assumed-role/ops-agent/w"),
        "2026-11-25T02:00:30Z",
    );
    let mut a = a;
    a.window_requests = 30;
    let f = IncidentFacts::from_alert(&a, |_| true);
    let c = plan(&f, &cfg()).contain;
    let mut r = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
    let lead_end = r.body.find("\n\n").unwrap();
    add_to_alert(
        &mut r,
        &[Applied {
            containment: c[0].clone(),
            result: Ok(true),
            dry_run: false,
        }],
        false,
    );
    assert!(
        r.body[lead_end + 2..].starts_with("CONTAINED: role/ops-agent may not invoke"),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains("Lift now: bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6"));
    assert!(r
        .attributes
        .contains(&("containment".into(), "contained".into())));
    let mut z = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
    add_to_alert(
        &mut z,
        &[Applied {
            containment: c[0].clone(),
            result: Ok(true),
            dry_run: false,
        }],
        true,
    );
    assert!(z.body.contains("LIFTED: the deny on role/ops-agent"));
    assert!(z
        .attributes
        .contains(&("containment".into(), "lifted".into())));
    let mut n = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
    let before = n.clone();
    add_to_alert(&mut n, &[], false);
    assert_eq!(n, before, "no containment, no change");
}

#[test]
fn the_ledger_round_trips_and_keys_are_short() {
    let c = plan(&facts(), &cfg()).contain;
    assert_eq!(from_ledger_json(&ledger_json(&c)), c);
    assert!(from_ledger_json("not json").is_empty());
    assert!(from_ledger_json("[{\"kind\":\"group\"}]").is_empty());
    let k = incident_key("ops", Some(&"x".repeat(3000)), t("2026-11-25T02:00:30Z"));
    assert_eq!(k.len(), 32);
    assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(k, incident_key("ops", None, t("2026-11-25T02:00:30Z")));
    assert_ne!(
        incident_key("ops", None, t("2026-11-25T02:00:30Z")),
        incident_key("ops", None, t("2026-11-25T02:01:30Z"))
    );
}
