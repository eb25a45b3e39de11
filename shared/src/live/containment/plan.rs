//! The decision: what one incident's transition contains or releases, and why not ([`plan`],
//! [`Skip`]).

use super::*;

/// The facts of one incident transition that containment needs (taken from a detector alert plus
/// the app's profile tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentFacts {
    pub app: String,
    pub team: String,
    /// The incident's caller; `None` for an app-level incident (then `callers` says whom).
    pub caller: Option<String>,
    /// For an app-level incident: the callers of the triggering batch with their own share of the
    /// window (the detector's [`CallerShare`]s).
    pub callers: Vec<CallerShare>,
    pub profile_arns: Vec<String>,
    pub models: Vec<String>,
    /// The transition's time (the alert's `at`).
    pub at: Timestamp,
    /// Whether the app's profile carries `meter:on-runaway=contain`.
    pub opted_in: bool,
    /// The window that crossed and the thresholds it crossed.
    pub window_cost: Money,
    pub window_requests: u64,
    pub threshold_cost: Money,
    pub threshold_requests: u64,
}

/// A caller of an app-level runaway is contained only when its own share of the window is at least
/// this many percent of the measure that crossed (spend, requests, or either when both did).
pub const MIN_SHARE_PERCENT: u32 = 25;
/// Nobody with fewer requests than this in the window is contained (a single call is no loop).
pub const MIN_CALLER_REQUESTS: u64 = 2;

/// The rule, in words (printed by `replay`, written in docs/detection.md).
pub fn share_rule_text() -> String {
    format!(
        "an app-level runaway contains only callers with at least {MIN_CALLER_REQUESTS} requests in the window \
         whose own spend (window crossed on spend) or requests (crossed on requests) are at least \
         {MIN_SHARE_PERCENT}% of the window's; a caller-level runaway needs at least {MIN_CALLER_REQUESTS} requests"
    )
}

impl IncidentFacts {
    /// Whether one caller's share makes it part of the crossing ([`MIN_SHARE_PERCENT`],
    /// [`MIN_CALLER_REQUESTS`]); why not otherwise.
    pub fn share_refusal(&self, s: &CallerShare) -> Option<Skip> {
        if s.requests < MIN_CALLER_REQUESTS {
            return Some(Skip::TooFewRequests(s.requests));
        }
        let pct = i128::from(MIN_SHARE_PERCENT);
        let on_cost = self.window_cost > self.threshold_cost
            && s.cost.0.saturating_mul(100) >= self.window_cost.0.saturating_mul(pct);
        let on_requests = self.window_requests > self.threshold_requests
            && i128::from(s.requests) * 100 >= i128::from(self.window_requests) * pct;
        (!(on_cost || on_requests)).then_some(Skip::SmallShare {
            cost: s.cost,
            requests: s.requests,
            window_cost: self.window_cost,
            window_requests: self.window_requests,
        })
    }
}

/// One deny to put (or, on `resolved`, to delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Containment {
    pub principal: IamPrincipal,
    /// The caller ARN as logged / kept by the detector.
    pub caller: String,
    pub app: String,
    pub team: String,
    /// The profile ARN, or `unattributed`.
    pub profile: String,
    pub policy_name: String,
    pub resources: Vec<String>,
    pub at: Timestamp,
    /// The deny's expiry (`aws:CurrentTime` must be before it).
    pub until: Timestamp,
}

impl Containment {
    pub fn document(&self) -> String {
        policy_document(&self.resources, self.until)
    }

    /// The one command that lifts it.
    pub fn lift_command(&self) -> String {
        format!(
            "bedrock-meter contain lift {} {}",
            self.principal.label(),
            profile_key(&self.profile)
        )
    }

    /// The `replay --format json` line (no newline): `{"type":"contain"|"release","app","team",
    /// "caller","at","until","resource"}` (`resource`: the denied ARNs joined with `,`).
    pub fn replay_json(&self, release: bool, at: Timestamp) -> String {
        format!(
            "{{\"type\":{},\"app\":{},\"team\":{},\"caller\":{},\"at\":{},\"until\":{},\"resource\":{}}}",
            json_str(if release { "release" } else { "contain" }),
            json_str(&self.app),
            json_str(&self.team),
            json_str(&self.caller),
            json_str(&at.to_string()),
            json_str(&self.until.to_string()),
            json_str(&self.resources.join(","))
        )
    }
}

/// Why a caller of an incident was not contained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("the app has no profile tag meter:on-runaway=contain")]
    NotOptedIn,
    #[error("unattributed traffic is not contained (CONTAINMENT_UNATTRIBUTED is off)")]
    UnattributedOff,
    #[error("caller {0} is not an IAM role or user")]
    NotAPrincipal(String),
    #[error("{0} matches no CONTAINMENT_ALLOW pattern")]
    OutsideAllow(String),
    #[error("{0} is an IAM Identity Center role (protected by AWS; never contained)")]
    SsoReserved(String),
    #[error("{0} has an IAM path; only principals without a path (/) can be contained")]
    PrincipalWithPath(String),
    #[error("no model or profile ARN to deny")]
    NoResource,
    #[error("the policy document would be {0} characters, over the IAM limit")]
    PolicyTooLarge(usize),
    #[error("{0} belongs to account {1}, not this stack's: reported, never contained")]
    ForeignAccount(String, String),
    #[error("only {0} request(s) in the window: a single call is not a runaway")]
    TooFewRequests(u64),
    #[error("its share ({cost}, {requests} requests of {window_cost}, {window_requests}) is under the containment rule's 25%")]
    SmallShare {
        cost: Money,
        requests: u64,
        window_cost: Money,
        window_requests: u64,
    },
    #[error("the resource {0:?} holds a wildcard or policy variable (* ? $): refused")]
    WildcardResource(String),
}

/// The outcome of [`plan`]: what to put, and why the rest is left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub contain: Vec<Containment>,
    /// (caller, why) for every caller that is not contained.
    pub skipped: Vec<(String, Skip)>,
}

/// Decides what containing an incident means: one [`Containment`] per (allowed principal, profile).
pub fn plan(f: &IncidentFacts, cfg: &ContainmentConfig) -> Plan {
    let mut p = Plan::default();
    // Who ran away: the incident's caller, or (app level) the callers whose own share is a real part
    // of the crossing.
    let callers: Vec<(String, Option<Skip>)> = match &f.caller {
        Some(c) => vec![(
            c.clone(),
            (f.window_requests < MIN_CALLER_REQUESTS)
                .then_some(Skip::TooFewRequests(f.window_requests)),
        )],
        None => f
            .callers
            .iter()
            .map(|s| (s.caller.clone(), f.share_refusal(s)))
            .collect(),
    };
    let unattributed = f.app == UNATTRIBUTED;
    let gate = if unattributed {
        (!cfg.unattributed).then_some(Skip::UnattributedOff)
    } else {
        (!f.opted_in).then_some(Skip::NotOptedIn)
    };
    if let Some(why) = gate {
        p.skipped = callers.into_iter().map(|(c, _)| (c, why.clone())).collect();
        return p;
    }
    let until = Timestamp(f.at.0 + i64::from(cfg.cool_down_minutes) * 60);
    let mut seen = BTreeSet::new();
    for (caller, refused) in callers {
        if let Some(why) = refused {
            p.skipped.push((caller, why));
            continue;
        }
        let Some(principal) = IamPrincipal::from_caller(&caller) else {
            p.skipped
                .push((caller.clone(), Skip::NotAPrincipal(caller)));
            continue;
        };
        if let Some(acct) = &cfg.account {
            if principal.account != *acct {
                p.skipped.push((
                    caller,
                    Skip::ForeignAccount(principal.label(), principal.account.clone()),
                ));
                continue;
            }
        }
        if let Some(why) = cfg.refusal_of(&caller, &principal) {
            p.skipped.push((caller, why));
            continue;
        }
        let targets: Vec<(String, Vec<String>)> = if unattributed {
            if let Some(m) = f.models.iter().find(|m| has_wildcard(m)) {
                p.skipped
                    .push((caller.clone(), Skip::WildcardResource(m.clone())));
                continue;
            }
            vec![(
                UNATTRIBUTED_KEY.to_string(),
                model_resources(&principal.partition, &principal.account, &f.models),
            )]
        } else {
            f.profile_arns
                .iter()
                .map(|a| (a.clone(), vec![a.clone()]))
                .collect()
        };
        for (profile, resources) in targets {
            if resources.is_empty() {
                p.skipped.push((caller.clone(), Skip::NoResource));
                continue;
            }
            if !unattributed && has_wildcard(&profile) {
                p.skipped
                    .push((caller.clone(), Skip::WildcardResource(profile)));
                continue;
            }
            let name = cfg.policy_name(&profile);
            if !seen.insert((principal.clone(), name.clone())) {
                continue; // two sessions of one role: one policy
            }
            let c = Containment {
                principal: principal.clone(),
                caller: caller.clone(),
                app: f.app.clone(),
                team: f.team.clone(),
                profile,
                policy_name: name,
                resources,
                at: f.at,
                until,
            };
            let size = counted_chars(&c.document());
            if size > MAX_USER_POLICY_CHARS {
                p.skipped.push((caller.clone(), Skip::PolicyTooLarge(size)));
                continue;
            }
            p.contain.push(c);
        }
    }
    p
}
