//! Checks of what attribution and pricing need: every application profile carries the app and team
//! tags, recent calls went through a profile, and every model in use has a price (not too old).

use std::collections::BTreeMap;

use bedrock_meter_core::attribution::model_id::{classify, ModelRef};
use bedrock_meter_core::attribution::profiles::{ProfileDirectory, ProfileMap};
use bedrock_meter_core::attribution::resolution::{resolve, AttributionConfig};
use bedrock_meter_core::pricing::prices::PriceTable;

use super::check::{age, could_not, Check, Status};
use super::facts::Facts;

const PROF: (&str, &str) = ("profiles", "Application inference profiles");
const BYPASS: (&str, &str) = ("bypass", "Calls not made through a profile");
const PRICES: (&str, &str) = ("prices", "Price table");
const CLAIMS: (&str, &str) = ("app-claims", "Profiles sharing an app");

/// The application profiles read (none when they could not be read).
pub(super) fn known_profiles(f: &Facts) -> ProfileMap {
    match &f.profiles {
        Ok(ps) => ProfileMap::new(ps.iter().cloned()),
        Err(_) => ProfileMap::default(),
    }
}

/// Every application profile has the app and team tags.
pub(super) fn profiles(f: &Facts, cfg: &AttributionConfig) -> Check {
    match &f.profiles {
        Err(e) => could_not(PROF.0, PROF.1, e, "bedrock:ListInferenceProfiles and bedrock:ListTagsForResource"),
        Ok(ps) if ps.is_empty() => Check::new(PROF.0, PROF.1, Status::Warn, "no application inference profiles: every call is unattributed".into())
            .fix("bedrock-meter profiles create --name NAME --app APP --team TEAM --from MODEL_ARN, then call Bedrock with its ARN"),
        Ok(ps) => {
            let missing: Vec<String> = ps.iter().filter_map(|p| {
                let lacks: Vec<&str> = [cfg.app_tag.as_str(), cfg.team_tag.as_str()].into_iter().filter(|k| p.tag(k).is_none()).collect();
                (!lacks.is_empty()).then(|| format!("{} ({}): no {} tag", p.name, p.arn, lacks.join(" or ")))
            }).collect();
            if missing.is_empty() {
                Check::new(PROF.0, PROF.1, Status::Pass, format!("{} profiles, each with {} and {} tags", ps.len(), cfg.app_tag, cfg.team_tag))
            } else {
                Check::new(PROF.0, PROF.1, Status::Fail, format!("{} of {} profiles lack {}/{} tags: their calls are reported as app = profile name, team untagged", missing.len(), ps.len(), cfg.app_tag, cfg.team_tag))
                    .details(missing)
                    .fix(format!("aws bedrock tag-resource --resource-arn ARN --tags key={},value=APP key={},value=TEAM", cfg.app_tag, cfg.team_tag))
            }
        }
    }
}

/// Two profiles that claim one app (same `app` tag) with different `meter:*` tags: each profile has its
/// own windows and limits (docs/detection.md, "Scopes an attacker cannot join"), so this is either an
/// inconsistency or someone's profile posing as the app. Warned, with each profile's `meter:*` tags.
pub(super) fn app_claims(f: &Facts, cfg: &AttributionConfig) -> Check {
    let Ok(ps) = &f.profiles else {
        return Check::new(
            CLAIMS.0,
            CLAIMS.1,
            Status::Skip,
            "profiles could not be read".into(),
        );
    };
    if ps.is_empty() {
        return Check::new(
            CLAIMS.0,
            CLAIMS.1,
            Status::Skip,
            "no application inference profiles".into(),
        );
    }
    let mut by_app: BTreeMap<&str, Vec<&bedrock_meter_core::attribution::profiles::Profile>> =
        BTreeMap::new();
    for p in ps {
        if let Some(app) = p.tag(&cfg.app_tag) {
            by_app.entry(app).or_default().push(p);
        }
    }
    let meter = |p: &bedrock_meter_core::attribution::profiles::Profile| -> String {
        let t: Vec<String> = p
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with("meter:"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if t.is_empty() {
            "no meter:* tags".into()
        } else {
            t.join(", ")
        }
    };
    let mut details = Vec::new();
    for (app, claims) in &by_app {
        let mut kinds: Vec<String> = claims.iter().map(|p| meter(p)).collect();
        kinds.sort();
        kinds.dedup();
        if kinds.len() > 1 {
            for p in claims {
                details.push(format!("app {app:?}: {} ({}): {}", p.name, p.arn, meter(p)));
            }
        }
    }
    if details.is_empty() {
        Check::new(
            CLAIMS.0,
            CLAIMS.1,
            Status::Pass,
            "no two profiles claim one app with different meter:* tags".into(),
        )
    } else {
        Check::new(
            CLAIMS.0,
            CLAIMS.1,
            Status::Warn,
            "profiles claim the same app with different meter:* tags: each keeps its own limits and containment; check who created them".into(),
        )
        .details(details)
        .fix("align the meter:* tags, or delete a profile that should not claim the app; limit who may tag profiles (docs/detection.md)")
    }
}

/// Recent calls went through a profile that exists (else they are unattributed).
pub(super) fn bypass(f: &Facts, known: &ProfileMap) -> Check {
    match (&f.recent, f.log_group_found()) {
        (_, false) => Check::new(
            BYPASS.0,
            BYPASS.1,
            Status::Skip,
            "no log group to read".into(),
        ),
        (Err(e), true) => could_not(BYPASS.0, BYPASS.1, e, "logs:FilterLogEvents"),
        (Ok(r), true) if r.records == 0 => Check::new(
            BYPASS.0,
            BYPASS.1,
            Status::Warn,
            format!(
                "no invocation records in the last {}",
                age(r.window.as_secs() as i64)
            ),
        )
        .fix("no traffic, or logging does not reach this log group: run `bedrock-meter smoke`"),
        (Ok(r), true) => {
            let mut by_caller: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
            let mut gone: BTreeMap<&str, u64> = BTreeMap::new();
            let mut bypass = 0;
            for ((caller, model_id), c) in &r.calls {
                match classify(model_id) {
                    ModelRef::ApplicationProfile { arn } => {
                        if f.profiles.is_ok() && known.lookup(&arn).is_none() {
                            *gone.entry(model_id).or_default() += c;
                        }
                    }
                    _ => {
                        bypass += c;
                        let e = by_caller.entry(caller).or_default();
                        e.0 += c;
                        e.1.push(model_id);
                    }
                }
            }
            let scope = format!(
                "{} records in the last {}{}",
                r.records,
                age(r.window.as_secs() as i64),
                if r.truncated {
                    " (stopped at --max-events)"
                } else {
                    ""
                }
            );
            let mut details: Vec<String> = by_caller
                .iter()
                .map(|(caller, (c, models))| format!("{caller}: {c} calls ({})", models.join(", ")))
                .collect();
            details.extend(gone.iter().map(|(m, c)| {
                format!("{m}: {c} calls through a profile that no longer exists (team unresolved)")
            }));
            if bypass == 0 && gone.is_empty() {
                Check::new(
                    BYPASS.0,
                    BYPASS.1,
                    Status::Pass,
                    format!("every call went through an application profile ({scope})"),
                )
            } else {
                Check::new(BYPASS.0, BYPASS.1, Status::Warn, format!("{bypass} calls by {} callers bypass application profiles: reported as unattributed ({scope})", by_caller.len()))
                    .details(details)
                    .fix("give these callers an application profile ARN as modelId; to enforce it, deny bedrock:InvokeModel on foundation-model and inference-profile ARNs in their policies")
            }
        }
    }
}

/// Every recently used model has a price, and the table is not older than `max_price_age_days`.
pub(super) fn prices(
    f: &Facts,
    prices: &PriceTable,
    cfg: &AttributionConfig,
    known: &ProfileMap,
    max_price_age_days: u32,
) -> Check {
    let stale_days = f.now.date().days_since_epoch() - prices.as_of.days_since_epoch();
    let mut unpriced: BTreeMap<String, (u64, &'static str)> = BTreeMap::new();
    if let Ok(r) = &f.recent {
        let mut models: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, m), c) in &r.calls {
            *models.entry(m).or_default() += c;
        }
        for (m, c) in models {
            let res = resolve(m, known, cfg);
            let reason = match &res.base_model {
                Some(b) if prices.model(b).is_some() => continue,
                Some(_) => "unknown model",
                None if matches!(classify(m), ModelRef::ApplicationProfile { .. }) => continue, // counted above
                None => "not an on-demand model (provisioned, custom, imported, router)",
            };
            unpriced.insert(res.model.clone(), (c, reason));
        }
    }
    let summary = format!("prices as of {} ({stale_days} days old)", prices.as_of);
    let read_records = f.recent.as_ref().is_ok_and(|r| r.records > 0);
    if !unpriced.is_empty() {
        Check::new(PRICES.0, PRICES.1, Status::Warn, format!("{summary}; {} recently used models cannot be priced: reported as unpriced, not $0", unpriced.len()))
            .details(unpriced.iter().map(|(m, (c, why))| format!("{m}: {c} calls, {why}")).collect())
            .fix("add them to shared/data/prices.json (or pass --prices / BEDROCK_METER_PRICES) — see README, The price table")
    } else if stale_days > i64::from(max_price_age_days) {
        Check::new(PRICES.0, PRICES.1, Status::Warn, format!("{summary}: older than {max_price_age_days} days"))
            .fix("compare it with the AWS Price List (`bedrock-meter prices update --offer FILE`) or the Bedrock pricing page and update shared/data/prices.json (README, The price table)")
    } else if !read_records {
        // Nothing read, nothing checked: never a PASS for a check that could not be made.
        Check::new(
            PRICES.0,
            PRICES.1,
            Status::Skip,
            format!("{summary}; no recent records read, so the models in use could not be checked"),
        )
    } else {
        Check::new(
            PRICES.0,
            PRICES.1,
            Status::Pass,
            format!("{summary}; every recently used model has a price"),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;
    use std::time::Duration;

    use bedrock_meter_core::time::Timestamp;

    use super::super::fixtures::{healthy, profile, run_checks, status, NOW};
    use super::super::{checklist, exit_code, DEFAULT_MAX_PRICE_AGE_DAYS};
    use super::*;

    #[test]
    fn untagged_profiles_are_listed_and_fail() {
        let mut f = healthy();
        f.profiles = Ok(vec![
            profile("p1", &[("app", "a"), ("team", "t")]),
            profile("p2", &[("app", "b")]),
            profile("p3", &[]),
        ]);
        let c = run_checks(&f);
        let p = c.iter().find(|c| c.id == "profiles").unwrap();
        assert_eq!(p.status, Status::Fail);
        assert_eq!(p.details.len(), 2);
        assert!(p.details[0].contains("p2-name") && p.details[0].contains("no team tag"));
        assert!(p.details[1].contains("no app or team tag"));
        f.profiles = Ok(vec![]);
        assert_eq!(status(&run_checks(&f), "profiles"), Status::Warn);
        f.profiles = Err("AccessDeniedException".into());
        assert_eq!(status(&run_checks(&f), "profiles"), Status::Fail);
    }

    #[test]
    fn two_profiles_claiming_one_app_with_different_meter_tags_warn() {
        let mut f = healthy();
        f.profiles = Ok(vec![
            profile(
                "p1",
                &[("app", "a"), ("team", "t"), ("meter:max-cost-usd", "25")],
            ),
            profile(
                "p2",
                &[("app", "a"), ("team", "t"), ("meter:max-requests", "1")],
            ),
            profile("p3", &[("app", "b"), ("team", "t")]),
            profile("p4", &[("app", "b"), ("team", "t")]),
        ]);
        let c = run_checks(&f);
        let p = c.iter().find(|c| c.id == "app-claims").unwrap();
        assert_eq!(p.status, Status::Warn);
        assert_eq!(p.details.len(), 2, "{:?}", p.details);
        assert!(p.details.iter().any(|d| d.contains("meter:max-requests=1")));
        f.profiles = Ok(vec![
            profile("p3", &[("app", "b"), ("team", "t")]),
            profile("p4", &[("app", "b"), ("team", "t")]),
        ]);
        assert_eq!(status(&run_checks(&f), "app-claims"), Status::Pass);
    }

    #[test]
    fn bypassing_callers_and_unpriced_models_are_warnings() {
        let mut f = healthy();
        let r = f.recent.as_mut().unwrap();
        r.calls.insert(
            (
                "arn:aws:iam::1:user/alice".into(),
                "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            ),
            3,
        );
        r.calls.insert(
            (
                "arn:aws:iam::1:user/bob".into(),
                "acme.unknown-model-v1:0".into(),
            ),
            2,
        );
        r.calls.insert(
            (
                "arn:aws:iam::1:user/bob".into(),
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/gone".into(),
            ),
            1,
        );
        r.records += 6;
        let c = run_checks(&f);
        let b = c.iter().find(|c| c.id == "bypass").unwrap();
        assert_eq!(b.status, Status::Warn);
        assert!(
            b.summary.starts_with("5 calls by 2 callers"),
            "{}",
            b.summary
        );
        assert!(b.details.iter().any(|d| d.contains("user/alice: 3 calls")));
        assert!(b
            .details
            .iter()
            .any(|d| d.contains("/gone: 1 calls through a profile that no longer exists")));
        let p = c.iter().find(|c| c.id == "prices").unwrap();
        assert_eq!(p.status, Status::Warn);
        assert_eq!(
            p.details,
            vec!["acme.unknown-model-v1:0: 2 calls, unknown model".to_string()]
        );
        assert_eq!(exit_code(&c), ExitCode::SUCCESS, "warnings do not fail");
    }

    #[test]
    fn stale_prices() {
        let mut prices = PriceTable::embedded();
        prices.as_of = Timestamp(NOW - 200 * 86_400).date();
        let c = checklist(
            &healthy(),
            &prices,
            &AttributionConfig::default(),
            Duration::from_secs(7200),
            DEFAULT_MAX_PRICE_AGE_DAYS,
        );
        assert_eq!(status(&c, "prices"), Status::Warn);
        // N is configurable: a 45-day-old table passes at the default, warns at 30.
        prices.as_of = Timestamp(NOW - 45 * 86_400).date();
        let at = |n: u32| {
            let c = checklist(
                &healthy(),
                &prices,
                &AttributionConfig::default(),
                Duration::from_secs(7200),
                n,
            );
            c.into_iter().find(|c| c.id == "prices").unwrap()
        };
        assert_ne!(at(DEFAULT_MAX_PRICE_AGE_DAYS).status, Status::Warn);
        let warn = at(30);
        assert_eq!(warn.status, Status::Warn);
        assert!(
            warn.summary.contains("45 days old): older than 30 days"),
            "{}",
            warn.summary
        );
    }
}
