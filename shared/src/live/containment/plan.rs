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
    /// For an app-level incident: the app's callers in the window.
    pub callers: Vec<String>,
    pub profile_arns: Vec<String>,
    pub models: Vec<String>,
    /// The transition's time (the alert's `at`).
    pub at: Timestamp,
    /// Whether the app's profile carries `meter:on-runaway=contain`.
    pub opted_in: bool,
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
    let callers: Vec<String> = match &f.caller {
        Some(c) => vec![c.clone()],
        None => f.callers.clone(),
    };
    let unattributed = f.app == UNATTRIBUTED;
    let gate = if unattributed {
        (!cfg.unattributed).then_some(Skip::UnattributedOff)
    } else {
        (!f.opted_in).then_some(Skip::NotOptedIn)
    };
    if let Some(why) = gate {
        p.skipped = callers.into_iter().map(|c| (c, why.clone())).collect();
        return p;
    }
    let until = Timestamp(f.at.0 + i64::from(cfg.cool_down_minutes) * 60);
    let mut seen = BTreeSet::new();
    for caller in callers {
        let Some(principal) = IamPrincipal::from_caller(&caller) else {
            p.skipped
                .push((caller.clone(), Skip::NotAPrincipal(caller)));
            continue;
        };
        if let Some(why) = cfg.refusal_of(&caller, &principal) {
            p.skipped.push((caller, why));
            continue;
        }
        let targets: Vec<(String, Vec<String>)> = if unattributed {
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
            let name = policy_name(&profile);
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
