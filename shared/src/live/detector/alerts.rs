//! An incident's transition as data: [`Alert`] (runaway, escalation, resolved) with the facts a person
//! needs, and its `replay` JSON line. Rendering it into a notification is `live::alert`.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// First crossing of a threshold: an incident starts.
    Runaway,
    /// The window's spend has doubled since the last alert of the incident.
    Escalation,
    /// A full quiet window: the incident is over.
    Resolved,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Runaway => "runaway",
            AlertKind::Escalation => "escalation",
            AlertKind::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        match s {
            "runaway" => Some(AlertKind::Runaway),
            "escalation" => Some(AlertKind::Escalation),
            "resolved" => Some(AlertKind::Resolved),
            _ => None,
        }
    }
}

/// One caller's part of an app-level window (what containment decides by: docs/detection.md,
/// "Only the callers who ran away").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerShare {
    /// The caller (principal), as the detector keeps it.
    pub caller: String,
    /// The caller's own priced spend and requests in its window on the same profile, over the same
    /// minutes as the app window.
    pub cost: Money,
    pub requests: u64,
}

/// At most this many callers' shares travel with an app-level alert (the largest): the outbox entry
/// stays small however many callers an app has.
pub const MAX_CALLER_SHARES: usize = 20;

/// Everything a person needs to act on an incident. No prompt or response text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub app: String,
    pub team: String,
    /// `None` for an app-level alert (all callers of the profile together).
    pub caller: Option<String>,
    /// The application profile ARN of the incident's scope (`None`: traffic without a profile).
    pub profile: Option<String>,
    /// App-level `runaway`: the callers of the triggering batch with their own share of the window
    /// (largest first, at most [`MAX_CALLER_SHARES`]); empty otherwise.
    pub callers: Vec<CallerShare>,
    /// Models seen in the window, sorted.
    pub models: Vec<String>,
    /// Application profile ARNs seen in the window, sorted (usually one).
    pub profile_arns: Vec<String>,
    pub window_minutes: u32,
    /// When it fired (the invocation's `now`; simulated time in replay).
    pub at: Timestamp,
    /// Start of the first minute of the window.
    pub window_start: Timestamp,
    /// Priced spend in the window.
    pub window_cost: Money,
    pub window_requests: u64,
    /// Requests in the window that could not be priced (their cost is not in `window_cost`).
    pub window_unpriced: u64,
    pub tokens: Tokens,
    pub threshold_cost: Money,
    pub threshold_requests: u64,
    /// When the incident's `runaway` alert fired.
    pub incident_started: Timestamp,
    /// For an escalation (and resolved): the window cost in the previous alert.
    pub previous_alert_cost: Option<Money>,
    /// Stable id: scope key, incident start, alert number (e.g. for de-duplication downstream).
    pub id: String,
}

fn usd_number(m: Money) -> String {
    // Display only: six decimals, as a JSON number without trailing zeros.
    let s = m.to_decimal_string(6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Alert {
    /// The `replay --format json` line (no newline), keys in the documented order.
    pub fn replay_json(&self) -> String {
        format!(
            "{{\"type\":{},\"app\":{},\"team\":{},\"caller\":{},\"window_minutes\":{},\"at\":{},\"window_cost_usd\":{},\"window_requests\":{},\"threshold_cost_usd\":{},\"threshold_requests\":{}}}",
            json_str(self.kind.as_str()),
            json_str(&self.app),
            json_str(&self.team),
            self.caller.as_deref().map_or_else(|| "null".into(), json_str),
            self.window_minutes,
            json_str(&self.at.to_string()),
            usd_number(self.window_cost),
            self.window_requests,
            usd_number(self.threshold_cost),
            self.threshold_requests,
        )
    }

    /// One readable line (the `replay` table format): the app, team and caller are attacker-written,
    /// so the line is cleaned ([`crate::text::clean_line`]) and stays one line.
    pub fn summary_line(&self) -> String {
        let who = match &self.caller {
            Some(c) => format!("{} ({}) caller {}", self.app, self.team, c),
            None => format!("{} ({}) all callers", self.app, self.team),
        };
        let prev = match (self.kind, self.previous_alert_cost) {
            (AlertKind::Escalation, Some(p)) => format!(", was {p}"),
            _ => String::new(),
        };
        let line = format!(
            "{}  {:<10} {}: {} and {} in {} min{} (thresholds {} / {} requests; started {})",
            self.at,
            self.kind.as_str(),
            who,
            self.window_cost,
            crate::text::count(self.window_requests, "request"),
            self.window_minutes,
            prev,
            self.threshold_cost,
            self.threshold_requests,
            self.incident_started,
        );
        crate::text::clean_line(&line).into_owned()
    }

    /// The alert as stored in the outbox (exact: money in femto-dollars as text).
    pub fn to_stored_json(&self) -> String {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "app": self.app,
            "team": self.team,
            "caller": self.caller,
            "models": self.models,
            "profile_arns": self.profile_arns,
            "window_minutes": self.window_minutes,
            "at": self.at.0,
            "window_start": self.window_start.0,
            "window_cost": self.window_cost.0.to_string(),
            "window_requests": self.window_requests,
            "window_unpriced": self.window_unpriced,
            "tokens": [self.tokens.input, self.tokens.output, self.tokens.cache_read,
                self.tokens.cache_write, self.tokens.cache_write_1h],
            "threshold_cost": self.threshold_cost.0.to_string(),
            "threshold_requests": self.threshold_requests,
            "incident_started": self.incident_started.0,
            "previous_alert_cost": self.previous_alert_cost.map(|m| m.0.to_string()),
            "profile": self.profile,
            "callers": self.callers.iter().map(|c| serde_json::json!({
                "caller": c.caller, "cost": c.cost.0.to_string(), "requests": c.requests,
            })).collect::<Vec<_>>(),
            "id": self.id,
        })
        .to_string()
    }

    /// Reads [`Alert::to_stored_json`]'s text back (`None` if it is not that shape).
    pub fn from_stored_json(text: &str) -> Option<Alert> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k)?.as_str().map(str::to_string);
        let u = |k: &str| v.get(k)?.as_u64();
        let i = |k: &str| v.get(k)?.as_i64();
        let money = |k: &str| v.get(k)?.as_str()?.parse::<i128>().ok().map(Money);
        let strings = |k: &str| -> Option<Vec<String>> {
            v.get(k)?
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let t: Vec<u64> = v
            .get("tokens")?
            .as_array()?
            .iter()
            .map(serde_json::Value::as_u64)
            .collect::<Option<_>>()?;
        if t.len() != 5 {
            return None;
        }
        Some(Alert {
            kind: AlertKind::parse(&s("kind")?)?,
            app: s("app")?,
            team: s("team")?,
            caller: s("caller"),
            models: strings("models")?,
            profile_arns: strings("profile_arns")?,
            window_minutes: u32::try_from(u("window_minutes")?).ok()?,
            at: Timestamp(i("at")?),
            window_start: Timestamp(i("window_start")?),
            window_cost: money("window_cost")?,
            window_requests: u("window_requests")?,
            window_unpriced: u("window_unpriced")?,
            tokens: Tokens {
                input: t[0],
                output: t[1],
                cache_read: t[2],
                cache_write: t[3],
                cache_write_1h: t[4],
            },
            threshold_cost: money("threshold_cost")?,
            threshold_requests: u("threshold_requests")?,
            incident_started: Timestamp(i("incident_started")?),
            previous_alert_cost: money("previous_alert_cost"),
            profile: s("profile"),
            callers: v
                .get("callers")
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| {
                            Some(CallerShare {
                                caller: c.get("caller")?.as_str()?.to_string(),
                                cost: Money(c.get("cost")?.as_str()?.parse::<i128>().ok()?),
                                requests: c.get("requests")?.as_u64()?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            id: s("id")?,
        })
    }
}
