//! The day's emails as the daily Lambda sends them: one per team (that team's slice of the report,
//! compared with the same team the day before) and the organisation summary (with the run's notes).
//! The rollup Lambda publishes exactly these, and `bedrock-meter report --format email` prints one of
//! them, so a team's email can be previewed from log files before deploying.

use std::collections::BTreeMap;

use crate::daily::email::{render, Audience, PreviousDay};
use crate::daily::report::{Group, Report};
use crate::daily::rollup::PricedRow;
use crate::ports::notify::Notification;
use crate::time::Date;

/// SNS allows 256 KiB per message, attributes included, so bodies keep a margin. In chat mode the
/// body is sent twice; the notifier cuts it further there (`ports::notify::message_as_sent`).
const BODY_BUDGET: usize = 262_144 - 4_096;

/// One email of the day: `team` is `None` for the organisation summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayEmail {
    pub team: Option<String>,
    pub email: Notification,
}

/// Every email of `date`: one per team of `org` (in the report's order), then the summary.
/// `prev` is the previous day's organisation report (empty when that day had no records);
/// `notes` go into the summary only.
pub fn day_emails(
    org: &Report,
    rows: &[PricedRow],
    prev: &Report,
    date: Date,
    metadata_keys: &[String],
    notes: &[String],
) -> Vec<DayEmail> {
    let prev_date = date.pred();
    let prev_by_team: BTreeMap<&str, &Group> =
        prev.by_team.iter().map(|(t, g)| (t.as_str(), g)).collect();
    let mut out = Vec::with_capacity(org.by_team.len() + 1);
    for (team, _) in &org.by_team {
        let report = org.for_team(team, rows, metadata_keys);
        let previous = PreviousDay::of(
            prev_date,
            prev_by_team
                .get(team.as_str())
                .copied()
                .unwrap_or(&Group::default()),
        );
        out.push(DayEmail {
            team: Some(team.clone()),
            email: render(
                &report,
                date,
                Audience::Team(team),
                Some(&previous),
                &[],
                BODY_BUDGET,
            ),
        });
    }
    out.push(DayEmail {
        team: None,
        email: render(
            org,
            date,
            Audience::Summary,
            Some(&PreviousDay::of(prev_date, &prev.totals)),
            notes,
            BODY_BUDGET,
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "aws")]
    #[test]
    fn the_budget_leaves_room_under_the_sns_limit() {
        assert_eq!(BODY_BUDGET + 4_096, crate::ports::notify::MAX_MESSAGE_BYTES);
    }

    #[test]
    fn one_email_per_team_then_the_summary() {
        use crate::attribution::profiles::ProfileMap;
        use crate::attribution::resolution::AttributionConfig;
        use crate::daily::rollup::{price_rows, Rollup, UsageKey};
        use crate::pricing::prices::PriceTable;
        use crate::records::record::Tokens;
        use crate::records::record::Usage;
        let d = Date::parse("2026-11-25").unwrap();
        let mut r = Rollup::default();
        for (model, caller) in [
            ("amazon.nova-lite-v1:0", "arn:aws:iam::1:user/a"),
            ("acme.unknown-v1:0", "arn:aws:iam::1:user/b"),
        ] {
            r.add_row(
                UsageKey {
                    model_id: model.into(),
                    region: "us-east-1".into(),
                    caller: caller.into(),
                    metadata: vec![],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 4,
                    errors: 0,
                    tokens: Tokens {
                        input: 1_000_000,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let rows = price_rows(
            &r.rows,
            &ProfileMap::default(),
            &prices,
            &AttributionConfig::default(),
        );
        let org = Report::build(&rows, Some(d), prices.as_of, &[], 0);
        let prev = Report::build(&[], Some(d.pred()), prices.as_of, &[], 0);
        let notes = vec!["a note".to_string()];
        let all = day_emails(&org, &rows, &prev, d, &[], &notes);
        assert_eq!(all.len(), org.by_team.len() + 1);
        assert_eq!(all[0].team.as_deref(), Some("unattributed"));
        assert!(all[0].email.subject.contains("unattributed"));
        assert!(!all[0].email.body.contains("a note"));
        let summary = all.last().unwrap();
        assert_eq!(summary.team, None);
        assert!(summary.email.body.contains("  - a note"));
        // The previous day had nothing: the change says "new", never a division by zero.
        assert!(summary.email.subject.contains("(new vs 2026-11-24)"));
    }
}
