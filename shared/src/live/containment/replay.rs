//! From detector alerts to containment facts; what was contained or released, as lines of the alert
//! ([`add_to_alert`]) and of the `replay` backtest ([`replay_events`]).

use super::*;

impl IncidentFacts {
    /// The facts of a detector alert. `opted_in_profile` says whether a profile ARN carries
    /// `meter:on-runaway=contain`; only those profiles are denied (an app is opted in when any is).
    /// `callers`: the app's callers in the window, for an app-level alert.
    pub fn from_alert(
        a: &crate::live::detector::Alert,
        opted_in_profile: impl Fn(&str) -> bool,
        callers: Vec<String>,
    ) -> IncidentFacts {
        let profile_arns: Vec<String> = a
            .profile_arns
            .iter()
            .filter(|p| opted_in_profile(p))
            .cloned()
            .collect();
        IncidentFacts {
            app: a.app.clone(),
            team: a.team.clone(),
            caller: a.caller.clone(),
            callers,
            opted_in: !profile_arns.is_empty(),
            profile_arns,
            models: a.models.clone(),
            at: a.at,
        }
    }
}

/// One line of what containment would have done, in replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayEvent {
    /// Put at the runaway alert's time.
    Contain(Containment),
    /// Lifted at the resolved alert's time.
    Release(Containment, Timestamp),
    /// Expired by itself (its `aws:CurrentTime` condition) before the incident resolved.
    Expire(Containment),
}

impl ReplayEvent {
    /// The `replay --format json` line: type `contain`, or `release` (lifted or expired).
    pub fn json(&self) -> String {
        match self {
            ReplayEvent::Contain(c) => c.replay_json(false, c.at),
            ReplayEvent::Release(c, at) => c.replay_json(true, *at),
            ReplayEvent::Expire(c) => c.replay_json(true, c.until),
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            ReplayEvent::Contain(c) => c.at,
            ReplayEvent::Release(_, at) => *at,
            ReplayEvent::Expire(c) => c.until,
        }
    }

    /// The `replay` table line.
    pub fn summary_line(&self) -> String {
        let (kind, c, how) = match self {
            ReplayEvent::Contain(c) => ("contain", c, format!("until {}", c.until)),
            ReplayEvent::Release(c, _) => ("release", c, "lifted (resolved)".to_string()),
            ReplayEvent::Expire(c) => ("release", c, "expired by itself".to_string()),
        };
        format!(
            "{}  {kind:<10} {} ({}) caller {}: deny {} on {} {how}",
            self.at(),
            c.app,
            c.team,
            c.caller,
            c.principal,
            c.resources.join(", "),
        )
    }
}

/// What containment would have done over a replay's alerts, as (index, event): each event comes
/// right after alert `index` and before the next one, in time order. A `runaway` contains (unless the
/// same (principal, profile) deny is already in force from another incident of the app); the deny
/// expires by itself at `until`, or the matching `resolved` lifts it if that comes first.
/// `callers_of(alert)` gives an app-level alert's callers in its window.
pub fn replay_events(
    alerts: &[crate::live::detector::Alert],
    opted_in_profile: impl Fn(&str) -> bool,
    callers_of: impl Fn(&crate::live::detector::Alert) -> Vec<String>,
    cfg: &ContainmentConfig,
) -> Vec<(usize, ReplayEvent)> {
    use crate::live::detector::AlertKind;
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    // Denies in force: (principal, policy) → (the scope that put it, the containment).
    type IncidentScope = (String, Option<String>);
    let mut in_force: BTreeMap<(IamPrincipal, String), (IncidentScope, Containment)> =
        BTreeMap::new();
    let expire_until =
        |out: &mut Vec<(usize, ReplayEvent)>,
         in_force: &mut BTreeMap<(IamPrincipal, String), (IncidentScope, Containment)>,
         now: Option<Timestamp>,
         index: usize| {
            let mut gone: Vec<Containment> = in_force
                .values()
                .filter(|(_, c)| match now {
                    Some(n) => c.until <= n,
                    None => true,
                })
                .map(|(_, c)| c.clone())
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
        let scope = (a.app.clone(), a.caller.clone());
        match a.kind {
            AlertKind::Runaway => {
                let callers = if a.caller.is_none() {
                    callers_of(a)
                } else {
                    Vec::new()
                };
                let f = IncidentFacts::from_alert(a, &opted_in_profile, callers);
                for c in plan(&f, cfg).contain {
                    let key = (c.principal.clone(), c.policy_name.clone());
                    if in_force.contains_key(&key) {
                        continue;
                    }
                    out.push((i, ReplayEvent::Contain(c.clone())));
                    in_force.insert(key, (scope.clone(), c));
                }
            }
            AlertKind::Resolved => {
                let mine: Vec<(IamPrincipal, String)> = in_force
                    .iter()
                    .filter(|(_, (s, _))| *s == scope)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in mine {
                    if let Some((_, c)) = in_force.remove(&k) {
                        out.push((i, ReplayEvent::Release(c, a.at)));
                    }
                }
            }
            AlertKind::Escalation => {}
        }
    }
    if let Some(last) = alerts.len().checked_sub(1) {
        expire_until(&mut out, &mut in_force, None, last);
    }
    out
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
