//! The IAM port ([`IamPolicies`]; adapter `aws::iam`) and putting or deleting the denies it plans
//! ([`contain`], [`release`]), concurrently — at most [`MAX_IAM_CALLS_IN_FLIGHT`] at a time.

use super::*;

/// At most this many IAM calls of one apply loop in flight (the adapter enforces the same bound per
/// client): an incident with many principals does not burst into IAM's account-wide rate limits.
pub const MAX_IAM_CALLS_IN_FLIGHT: usize = 4;

/// An IAM call that failed (the adapter keeps the service's error code in `code`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("IAM {operation} failed: {message}")]
pub struct IamError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

/// Inline policies of IAM roles and users (adapter: `aws::iam::IamClient`).
pub trait IamPolicies: Send + Sync {
    /// Puts (creates or overwrites) the inline policy `name` on the principal.
    fn put_policy(
        &self,
        principal: &IamPrincipal,
        name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    /// Deletes it; `Ok(false)` when there was none (already lifted).
    fn delete_policy(
        &self,
        principal: &IamPrincipal,
        name: &str,
    ) -> impl Future<Output = Result<bool, IamError>> + Send;

    /// The inline policy names of the principal.
    fn policy_names(
        &self,
        principal: &IamPrincipal,
    ) -> impl Future<Output = Result<Vec<String>, IamError>> + Send;

    /// One inline policy's document (decoded JSON), `None` when absent.
    fn policy_document(
        &self,
        principal: &IamPrincipal,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, IamError>> + Send;

    /// Every role and user of the account (for `contain list`).
    fn principals(&self) -> impl Future<Output = Result<Vec<IamPrincipal>, IamError>> + Send;
}

/// What applying (or releasing) one containment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub containment: Containment,
    /// `Ok(true)`: changed IAM (or, dry run, would have); `Ok(false)`: nothing to delete.
    pub result: Result<bool, IamError>,
    pub dry_run: bool,
}

/// Puts every deny of a plan, concurrently. In a dry run nothing is called.
pub async fn contain<I: IamPolicies>(
    iam: &I,
    items: &[Containment],
    dry_run: bool,
) -> Vec<Applied> {
    apply_each(items, dry_run, |c| async move {
        iam.put_policy(&c.principal, &c.policy_name, &c.document())
            .await
            .map(|()| true)
    })
    .await
}

/// Deletes every deny of a plan (on `resolved`), concurrently. In a dry run nothing is called.
pub async fn release<I: IamPolicies>(
    iam: &I,
    items: &[Containment],
    dry_run: bool,
) -> Vec<Applied> {
    apply_each(items, dry_run, |c| {
        iam.delete_policy(&c.principal, &c.policy_name)
    })
    .await
}

/// Runs `call` for every item, at most [`MAX_IAM_CALLS_IN_FLIGHT`] at a time (none in a dry run,
/// which counts as done), and says what each did, in the items' order.
async fn apply_each<'a, F, Fut>(items: &'a [Containment], dry_run: bool, call: F) -> Vec<Applied>
where
    F: Fn(&'a Containment) -> Fut,
    Fut: Future<Output = Result<bool, IamError>>,
{
    use futures_util::stream::{self, StreamExt};
    let call = &call;
    stream::iter(items.iter().map(|c| async move {
        let result = if dry_run { Ok(true) } else { call(c).await };
        Applied {
            containment: c.clone(),
            result,
            dry_run,
        }
    }))
    .buffered(MAX_IAM_CALLS_IN_FLIGHT)
    .collect()
    .await
}

/// The alert text's containment paragraph: contained what, for whom, until when, and how to lift it
/// (`release`: that it was lifted).
pub(super) fn alert_lines(applied: &[Applied], release: bool) -> String {
    let mut s = String::new();
    for a in applied {
        let c = &a.containment;
        let what = c.resources.join(", ");
        let line = match (&a.result, release, a.dry_run) {
            (Ok(_), false, false) => format!(
                "CONTAINED: {} may not invoke {} until {} (IAM inline deny {}; it expires by itself). Lift now: {}\n",
                c.principal, what, c.until, c.policy_name, c.lift_command()
            ),
            (Ok(_), false, true) => format!(
                "DRY RUN: would have denied {} invoking {} until {} (IAM inline deny {}).\n",
                c.principal, what, c.until, c.policy_name
            ),
            (Ok(true), true, false) => format!(
                "LIFTED: the deny on {} for {} ({}) was removed.\n",
                c.principal, what, c.policy_name
            ),
            (Ok(false), true, false) => format!(
                "LIFTED: the deny on {} for {} ({}) was already gone.\n",
                c.principal, what, c.policy_name
            ),
            (Ok(_), true, true) => format!(
                "DRY RUN: would have removed the deny on {} for {} ({}).\n",
                c.principal, what, c.policy_name
            ),
            (Err(e), false, _) => format!(
                "CONTAINMENT FAILED for {} on {}: {e}. Nothing was denied.\n",
                c.principal, what
            ),
            (Err(e), true, _) => format!(
                "LIFT FAILED for {} ({}): {e}. It still expires at {}; or run: {}\n",
                c.principal,
                c.policy_name,
                c.until,
                c.lift_command()
            ),
        };
        // Each format above is one line; a value in it (a logged profile ARN, IAM's error text) is
        // attacker-written and may not add another (crate::text::clean_line, at the text boundary).
        s.push_str(&crate::text::clean_line(line.trim_end_matches('\n')));
        s.push('\n');
    }
    s
}

/// What one sweep found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Principals looked at (the account's roles and users that the allow patterns admit).
    pub principals: usize,
    /// This stack's denies found, and the expired ones deleted: (principal, policy name).
    pub found: usize,
    pub deleted: Vec<(IamPrincipal, String)>,
    /// IAM calls that failed (the sweep goes on with the rest; the tick then fails and is retried).
    pub errors: Vec<IamError>,
}

/// Removes every deny this stack put that has expired (`until` ≤ `now`), found by name
/// ([`ContainmentConfig::policy_prefix`]) on the roles and users the allow patterns admit — not from
/// the ledger, so a deny whose ledger entry was never written or has expired is removed all the same.
/// A policy whose document is not a containment document of ours is left alone. At most
/// [`MAX_IAM_CALLS_IN_FLIGHT`] calls in flight; nothing is deleted in a dry run.
pub async fn sweep<I: IamPolicies>(iam: &I, cfg: &ContainmentConfig, now: Timestamp) -> Swept {
    use futures_util::stream::{self, StreamExt};
    let mut out = Swept::default();
    if !cfg.is_enabled() || cfg.dry_run {
        return out;
    }
    let principals = match iam.principals().await {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let mine: Vec<IamPrincipal> = principals
        .into_iter()
        .filter(|p| cfg.refusal(p).is_none())
        // ListRoles / ListUsers list only this account's principals.
        .collect();
    out.principals = mine.len();
    let prefix = cfg.policy_prefix();
    type One = (Vec<(IamPrincipal, String)>, Vec<IamError>, usize);
    let results: Vec<One> = stream::iter(mine)
        .map(|p| {
            let prefix = &prefix;
            async move {
                let mut deleted = Vec::new();
                let mut errors = Vec::new();
                let names = match iam.policy_names(&p).await {
                    Ok(n) => n,
                    Err(e) => return (deleted, vec![e], 0),
                };
                let ours: Vec<String> = names
                    .into_iter()
                    .filter(|n| n.starts_with(prefix.as_str()))
                    .collect();
                for name in &ours {
                    let expired = match iam.policy_document(&p, name).await {
                        Ok(Some(d)) => read_document(&d)
                            .and_then(|s| s.until)
                            .is_some_and(|u| u <= now),
                        Ok(None) => false,
                        Err(e) => {
                            errors.push(e);
                            false
                        }
                    };
                    if expired {
                        match iam.delete_policy(&p, name).await {
                            Ok(_) => deleted.push((p.clone(), name.clone())),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                (deleted, errors, ours.len())
            }
        })
        .buffer_unordered(MAX_IAM_CALLS_IN_FLIGHT)
        .collect()
        .await;
    for (d, e, n) in results {
        out.deleted.extend(d);
        out.errors.extend(e);
        out.found += n;
    }
    out
}
