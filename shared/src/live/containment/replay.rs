//! From detector alerts to containment facts; what was contained or released, as lines of the alert
//! ([`add_to_alert`]) and of the `replay` backtest ([`replay_events`]).

use super::*;

impl IncidentFacts {
    /// The facts of a detector alert. `opted_in_profile` says whether a profile ARN carries
    /// `meter:on-runaway=contain`; only those profiles are denied. The profile denied is the
    /// incident's own (its scope's), never another profile that shares its `app` tag; an app-level
    /// alert's callers are the shares the detector computed.
    pub fn from_alert(
        a: &crate::live::detector::Alert,
        opted_in_profile: impl Fn(&str) -> bool,
    ) -> IncidentFacts {
        let profile_arns: Vec<String> = match &a.profile {
            Some(p) => vec![p.clone()],
            None => a.profile_arns.clone(),
        }
        .into_iter()
        .filter(|p| opted_in_profile(p))
        .collect();
        IncidentFacts {
            app: a.app.clone(),
            team: a.team.clone(),
            caller: a.caller.clone(),
            callers: a.callers.clone(),
            opted_in: !profile_arns.is_empty(),
            profile_arns,
            models: a.models.clone(),
            at: a.at,
            window_cost: a.window_cost,
            window_requests: a.window_requests,
            threshold_cost: a.threshold_cost,
            threshold_requests: a.threshold_requests,
        }
    }
}

/// [`replay_events`]' answer: the events, and every caller left alone (alert index, caller, why).
pub type ReplayOutcome = (Vec<(usize, ReplayEvent)>, Vec<(usize, String, Skip)>);

/// One line of what containment would have done, in replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayEvent {
    /// Put at the runaway alert's time.
    Contain(Containment),
    /// Expired by itself (its `aws:CurrentTime` condition) at `until`: quiet and `resolved` never
    /// lift a deny (the quiet may be the deny's own doing).
    Expire(Containment),
}

impl ReplayEvent {
    /// The `replay --format json` line: type `contain`, or `release` (expired).
    pub fn json(&self) -> String {
        match self {
            ReplayEvent::Contain(c) => c.replay_json(false, c.at),
            ReplayEvent::Expire(c) => c.replay_json(true, c.until),
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            ReplayEvent::Contain(c) => c.at,
            ReplayEvent::Expire(c) => c.until,
        }
    }

    /// The `replay` table line.
    pub fn summary_line(&self) -> String {
        let (kind, c, how) = match self {
            ReplayEvent::Contain(c) => ("contain", c, format!("until {}", c.until)),
            ReplayEvent::Expire(c) => ("release", c, "expired at its until".to_string()),
        };
        let line = format!(
            "{}  {kind:<10} {} ({}) caller {}: deny {} on {} {how}",
            self.at(),
            c.app,
            c.team,
            c.caller,
            c.principal,
            c.resources.join(", "),
        );
        // App, team, caller and profile come from tags and logs: one line, whatever they hold.
        crate::text::clean_line(&line).into_owned()
    }
}

/// What containment would have done over a replay's alerts, as (index, event): each event comes
/// right after alert `index` and before the next one, in time order. A `runaway` contains what
/// [`plan`] decides (a deny of the same name still in force is overwritten, as live); the deny ends at its `until` — exactly when the live path's deny stops matching. Also
/// returns every caller left alone, with why (for the `not contained` lines).
pub fn replay_events(
    alerts: &[crate::live::detector::Alert],
    opted_in_profile: impl Fn(&str) -> bool,
    cfg: &ContainmentConfig,
) -> ReplayOutcome {
    use crate::live::detector::AlertKind;
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut in_force: BTreeMap<(IamPrincipal, String), Containment> = BTreeMap::new();
    let expire_until = |out: &mut Vec<(usize, ReplayEvent)>,
                        in_force: &mut BTreeMap<(IamPrincipal, String), Containment>,
                        now: Option<Timestamp>,
                        index: usize| {
        let mut gone: Vec<Containment> = in_force
            .values()
            .filter(|c| now.is_none_or(|n| c.until <= n))
            .cloned()
            .collect();
        gone.sort_by_key(|c| c.until);
        for c in gone {
            in_force.remove(&(c.principal.clone(), c.policy_name.clone()));
            out.push((index, ReplayEvent::Expire(c)));
        }
    };
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            expire_until(&mut out, &mut in_force, Some(a.at), i - 1);
        }
        if a.kind != AlertKind::Runaway {
            continue;
        }
        let p = plan(&IncidentFacts::from_alert(a, &opted_in_profile), cfg);
        for (c, why) in p.skipped {
            if !matches!(why, Skip::NotOptedIn | Skip::UnattributedOff) {
                skipped.push((i, c, why));
            }
        }
        for c in p.contain {
            // A deny of the same name already in force is overwritten by the new put (as
            // `PutRolePolicy` does live): it now ends at the new incident's `until`.
            let key = (c.principal.clone(), c.policy_name.clone());
            out.push((i, ReplayEvent::Contain(c.clone())));
            in_force.insert(key, c);
        }
    }
    if let Some(last) = alerts.len().checked_sub(1) {
        expire_until(&mut out, &mut in_force, None, last);
    }
    (out, skipped)
}

/// Adds containment to a rendered alert: the paragraph of [`alert_lines`] after the lead, and a
/// `containment` message attribute (`contained`, `dry-run`, `lifted`, `failed`) to filter on.
pub fn add_to_alert(
    r: &mut crate::ports::notify::Notification,
    applied: &[Applied],
    release: bool,
) {
    if applied.is_empty() {
        return;
    }
    let text = alert_lines(applied, release);
    let at = r.body.find("\n\n").map_or(r.body.len(), |i| i + 2);
    r.body.insert_str(at, &format!("{text}\n"));
    let state = if applied.iter().any(|a| a.result.is_err()) {
        "failed"
    } else if applied.iter().all(|a| a.dry_run) {
        "dry-run"
    } else if release {
        "lifted"
    } else {
        "contained"
    };
    r.attributes
        .push(("containment".to_string(), state.to_string()));
}
