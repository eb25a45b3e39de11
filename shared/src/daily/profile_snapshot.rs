//! The day's application-profile snapshot the daily Lambda writes to the log bucket (one JSON line
//! per profile, resolved by the core), which the query pack's profiles table reads so the console
//! queries attribute calls as the core does.

use serde::{Deserialize, Serialize};

use crate::attribution::profiles::{Profile, ProfileMap};
use crate::attribution::resolution::{resolve, AttributionConfig};
use crate::time::Date;

/// Where the daily Lambda writes profile snapshots in the log bucket (one object per day).
const PROFILES_PREFIX: &str = "bedrock-meter/profiles/";

/// The snapshot object of one day: `bedrock-meter/profiles/2026-11-25.jsonl`.
pub fn snapshot_key(date: Date) -> String {
    format!("{PROFILES_PREFIX}{date}.jsonl")
}

/// One line of the profiles snapshot: an application profile as the core resolves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRow {
    pub snapshot_date: String,
    pub profile_arn: String,
    pub profile_id: String,
    pub name: String,
    pub app: String,
    pub team: String,
    /// The base model the profile is priced with; '' when unknown (its calls are unpriced).
    pub model_id: String,
    /// `Pool::label`: `in-region`, `geographic` or `global`.
    pub pool: String,
}

/// The snapshot row of a profile, by `attribution::resolution::resolve` (tags → app/team, models → base model and pool).
pub(crate) fn profile_row(p: &Profile, cfg: &AttributionConfig, date: Date) -> ProfileRow {
    let one = ProfileMap::new([p.clone()]);
    let r = resolve(&p.arn, &one, cfg);
    let id = if p.id.is_empty() {
        p.arn.rsplit('/').next().unwrap_or_default().to_string()
    } else {
        p.id.clone()
    };
    ProfileRow {
        snapshot_date: date.to_string(),
        profile_arn: p.arn.clone(),
        profile_id: id,
        name: p.name.clone(),
        app: r.app,
        team: r.team,
        model_id: r.base_model.unwrap_or_default(),
        pool: r.pool.label().to_string(),
    }
}

/// Every profile of `profiles` as snapshot rows, sorted by ARN.
pub fn profile_rows(profiles: &ProfileMap, cfg: &AttributionConfig, date: Date) -> Vec<ProfileRow> {
    profiles
        .profiles()
        .into_iter()
        .map(|p| profile_row(p, cfg, date))
        .collect()
}

/// The snapshot object's text: one JSON object per line.
pub fn snapshot_jsonl(rows: &[ProfileRow]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::daily::query_pack::{price_pool, pricing_cte_rows};
    use crate::pricing::prices::PriceTable;
    use crate::records::record::Tokens;

    fn table() -> PriceTable {
        PriceTable::embedded()
    }

    /// A geographic profile tagged with a team only (also the query pack's tests' profile).
    pub(crate) fn profile() -> Profile {
        Profile {
            arn: "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ops01"
                .into(),
            id: "ops01".into(),
            name: "ops-agent".into(),
            model_arns: ["us-east-1", "us-west-2"]
                .iter()
                .map(|r| {
                    format!("arn:aws:bedrock:{r}::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0")
                })
                .collect(),
            tags: [("team".into(), "platform".into())].into(),
        }
    }

    #[test]
    fn snapshot_rows_follow_the_core_resolution() {
        let date = Date::parse("2026-11-25").unwrap();
        let row = profile_row(&profile(), &AttributionConfig::default(), date);
        assert_eq!(
            row,
            ProfileRow {
                snapshot_date: "2026-11-25".into(),
                profile_arn:
                    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ops01"
                        .into(),
                profile_id: "ops01".into(),
                name: "ops-agent".into(),
                // No app tag: the profile name.
                app: "ops-agent".into(),
                team: "platform".into(),
                model_id: "anthropic.claude-haiku-4-5-20251001-v1:0".into(),
                pool: "geographic".into(),
            }
        );
        let text = snapshot_jsonl(&[row.clone(), row]);
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"snapshot_date\":\"2026-11-25\",\"profile_arn\":"));
        assert_eq!(
            snapshot_key(date),
            "bedrock-meter/profiles/2026-11-25.jsonl"
        );
        // The pool and price the SQL uses for it are the ones the core uses.
        let t = table();
        let rows = pricing_cte_rows(&t);
        let r = rows
            .iter()
            .find(|r| {
                r.price_match == "anthropic.claude-haiku-4-5"
                    && r.pool == price_pool(&profile().pool())
                    && !r.long_context
                    && (r.region.is_empty() || r.region == "us")
            })
            .unwrap();
        let tokens = Tokens {
            input: 1000,
            output: 100,
            ..Default::default()
        };
        assert_eq!(
            t.cost(
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                &profile().pool(),
                Some("us-east-1"),
                0,
                &tokens
            )
            .unwrap(),
            r.rates.input * 1000 + r.rates.output * 100
        );
    }
}
