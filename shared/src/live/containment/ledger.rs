//! The ledger: what an incident's runaway put, so its `resolved` deletes exactly that
//! ([`ContainmentLedger`] port; DynamoDB in `aws::containment_ledger`, [`MemoryLedger`] locally).

use super::*;

/// The key of an incident in the ledger: a digest of (app, caller, incident start) — short and of
/// safe characters whatever the app and caller names (32 hex digits).
pub fn incident_key(app: &str, caller: Option<&str>, started: Timestamp) -> String {
    let text = format!("{app}\u{1f}{}\u{1f}{}", caller.unwrap_or(""), started.0);
    format!(
        "{}{}",
        digest(&text),
        digest(&format!("ledger\u{1f}{text}"))
    )
}

/// A ledger failure (the adapter's service error in one line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("containment ledger: {operation} failed: {message}")]
pub struct LedgerError {
    pub operation: &'static str,
    pub message: String,
}

/// Where the live path records what a `runaway` contained, so that its `resolved` — in another
/// invocation, whatever that window holds — deletes exactly that (adapter: the detector's DynamoDB
/// table, `aws::containment_ledger`).
pub trait ContainmentLedger: Send + Sync {
    /// Records (replaces) the containments of an incident; kept at least until the last `until` (an
    /// empty record — written when `resolved` lifted them — a day).
    fn record(
        &self,
        incident: &str,
        items: &[Containment],
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// The containments recorded for the incident: `None` when nothing was recorded (the runaway has
    /// not acted yet, or the record expired); `Some(empty)` once `resolved` lifted them.
    fn recorded(
        &self,
        incident: &str,
    ) -> impl Future<Output = Result<Option<Vec<Containment>>, LedgerError>> + Send;
}

/// The ledger's text form of containments (a JSON array).
pub fn ledger_json(items: &[Containment]) -> String {
    let v: Vec<serde_json::Value> = items
        .iter()
        .map(|c| {
            serde_json::json!({
                "kind": c.principal.kind.as_str(),
                "name": c.principal.name,
                "partition": c.principal.partition,
                "account": c.principal.account,
                "caller": c.caller,
                "app": c.app,
                "team": c.team,
                "profile": c.profile,
                "policy": c.policy_name,
                "resources": c.resources,
                "at": c.at.0,
                "until": c.until.0,
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

/// Reads [`ledger_json`]'s text back; entries that are not of that shape are left out.
pub fn from_ledger_json(text: &str) -> Vec<Containment> {
    let Ok(serde_json::Value::Array(a)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|v| {
            let s = |k: &str| v[k].as_str().map(str::to_string);
            let kind = match v["kind"].as_str()? {
                "role" => PrincipalKind::Role,
                "user" => PrincipalKind::User,
                _ => return None,
            };
            Some(Containment {
                principal: IamPrincipal {
                    kind,
                    name: s("name")?,
                    partition: s("partition")?,
                    account: s("account")?,
                },
                caller: s("caller")?,
                app: s("app")?,
                team: s("team")?,
                profile: s("profile")?,
                policy_name: s("policy")?,
                resources: v["resources"]
                    .as_array()?
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect(),
                at: Timestamp(v["at"].as_i64()?),
                until: Timestamp(v["until"].as_i64()?),
            })
        })
        .collect()
}

/// A [`ContainmentLedger`] in process memory (tests, local runs).
#[derive(Default)]
pub struct MemoryLedger {
    inner: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl ContainmentLedger for MemoryLedger {
    async fn record(&self, incident: &str, items: &[Containment]) -> Result<(), LedgerError> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(incident.to_string(), ledger_json(items));
        Ok(())
    }

    async fn recorded(&self, incident: &str) -> Result<Option<Vec<Containment>>, LedgerError> {
        Ok(self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(incident)
            .map(|t| from_ledger_json(t)))
    }
}
