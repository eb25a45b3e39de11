//! Containment on the live path: after the detector hands out its alerts, a `runaway` of an opted-in
//! profile puts the self-expiring deny on its caller (or, app level, on the callers whose own share
//! of the window is a real part of the crossing); `bedrock_meter_core::live::containment` decides,
//! IAM is behind [`IamPolicies`].
//!
//! Only the invocation that won the transition gets the alert, so only it acts; the deny's name and
//! bytes depend only on the transition, so acting again (a retry) changes nothing. What a `runaway`
//! put successfully is recorded in the [`ContainmentLedger`] under its incident: the alert handed out
//! again puts only what is not recorded (a failed put is retried, a lifted one stays lifted).
//! `resolved` and escalations do nothing: a deny ends at its `until` (or `contain lift`), and the
//! tick's [`Responder::sweep`] removes the expired ones by name.

use std::collections::HashSet;

use bedrock_meter_core::live::containment::{
    contain, incident_key, plan, sweep, Applied, Containment, ContainmentConfig, ContainmentLedger,
    IamError, IamPolicies, IamPrincipal, IncidentFacts, LedgerError, Skip, Swept,
};
use bedrock_meter_core::live::detector::{Alert, AlertKind};
use bedrock_meter_core::time::Timestamp;

/// No IAM: the default of an [`crate::Ingest`] without containment (never called).
pub struct NoIam;

fn no_iam(operation: &'static str) -> IamError {
    IamError {
        operation,
        code: None,
        message: "no IAM client configured".into(),
    }
}

impl IamPolicies for NoIam {
    async fn put_policy(&self, _: &IamPrincipal, _: &str, _: &str) -> Result<(), IamError> {
        Err(no_iam("PutRolePolicy"))
    }
    async fn delete_policy(&self, _: &IamPrincipal, _: &str) -> Result<bool, IamError> {
        Err(no_iam("DeleteRolePolicy"))
    }
    async fn policy_names(&self, _: &IamPrincipal) -> Result<Vec<String>, IamError> {
        Err(no_iam("ListRolePolicies"))
    }
    async fn policy_document(&self, _: &IamPrincipal, _: &str) -> Result<Option<String>, IamError> {
        Err(no_iam("GetRolePolicy"))
    }
    async fn principals(&self) -> Result<Vec<IamPrincipal>, IamError> {
        Err(no_iam("ListRoles"))
    }
}

/// The ledger the Lambda uses: the state table, or (no `STATE_TABLE`, local runs) process memory.
pub enum AnyLedger {
    Dynamo(bedrock_meter_core::aws::containment_ledger::DynamoLedger),
    Memory(bedrock_meter_core::live::containment::MemoryLedger),
}

impl ContainmentLedger for AnyLedger {
    async fn record(&self, incident: &str, items: &[Containment]) -> Result<(), LedgerError> {
        match self {
            AnyLedger::Dynamo(l) => l.record(incident, items).await,
            AnyLedger::Memory(l) => l.record(incident, items).await,
        }
    }
    async fn recorded(&self, incident: &str) -> Result<Option<Vec<Containment>>, LedgerError> {
        match self {
            AnyLedger::Dynamo(l) => l.recorded(incident).await,
            AnyLedger::Memory(l) => l.recorded(incident).await,
        }
    }
}

/// What containment did for one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acted {
    pub alert_id: String,
    /// `resolved`: deletes; `runaway`: puts.
    pub release: bool,
    pub applied: Vec<Applied>,
    /// Callers left alone, and why.
    pub skipped: Vec<(String, Skip)>,
    /// The ledger could not be written (runaway) or read (resolved): the denies still expire.
    pub ledger_error: Option<LedgerError>,
}

/// The live path's containment responder: its settings, IAM and the ledger; it acts on the
/// detector's alerts (contains on `runaway`, releases on `resolved`).
pub struct Responder<I, L> {
    pub config: ContainmentConfig,
    pub iam: I,
    pub ledger: L,
}

impl<I: IamPolicies, L: ContainmentLedger> Responder<I, L> {
    pub fn new(config: ContainmentConfig, iam: I, ledger: L) -> Self {
        Responder {
            config,
            iam,
            ledger,
        }
    }

    /// Acts on every `runaway` alert (IAM calls concurrent, at most a few in flight). `opted_in`: the
    /// profile ARNs tagged `meter:on-runaway=contain` among the batch's resolutions; `now`: the
    /// invocation's time (a deny whose `until` has passed is not put any more).
    ///
    /// `resolved` and `escalation` do nothing: a deny lasts its term (the quiet after a runaway is
    /// often the deny's own doing) and ends at its `until` or by `contain lift`; the tick's
    /// [`sweep`](Self::sweep) removes expired ones.
    pub async fn act(
        &self,
        alerts: &[Alert],
        opted_in: &HashSet<String>,
        now: Timestamp,
    ) -> Vec<Acted> {
        let jobs: Vec<_> = alerts
            .iter()
            .filter(|a| a.kind == AlertKind::Runaway)
            .map(|a| {
                let key = incident_key(&a.app, a.caller.as_deref(), a.incident_started);
                let p = plan(
                    &IncidentFacts::from_alert(a, |p| opted_in.contains(p)),
                    &self.config,
                );
                let dry = self.config.dry_run;
                async move {
                    let mut ledger_error = None;
                    let applied = if p.contain.is_empty() {
                        Vec::new()
                    } else {
                        // What this incident already put (this alert handed out again from the
                        // outbox, or the redelivery after a put failed): those are not put again — a
                        // deny lifted by hand stays lifted — and only the rest is (the ledger holds
                        // only puts that succeeded).
                        let done = match self.ledger.recorded(&key).await {
                            Ok(d) => d.unwrap_or_default(),
                            Err(e) => {
                                ledger_error = Some(e);
                                Vec::new()
                            }
                        };
                        let is_done = |c: &Containment| {
                            done.iter()
                                .any(|d| d.principal == c.principal && d.policy_name == c.policy_name)
                        };
                        let (again, todo): (Vec<Containment>, Vec<Containment>) =
                            p.contain.iter().cloned().partition(is_done);
                        let todo: Vec<Containment> =
                            todo.into_iter().filter(|c| c.until > now).collect();
                        let fresh = contain(&self.iam, &todo, dry).await;
                        let newly: Vec<Containment> = fresh
                            .iter()
                            .filter(|x| x.result.is_ok())
                            .map(|x| x.containment.clone())
                            .collect();
                        if !newly.is_empty() && !dry {
                            let mut all = done.clone();
                            all.extend(newly);
                            if let Err(e) = self.ledger.record(&key, &all).await {
                                ledger_error = Some(e);
                            }
                        }
                        again
                            .into_iter()
                            .map(|c| Applied {
                                containment: c,
                                result: Ok(false),
                                dry_run: dry,
                            })
                            .chain(fresh)
                            .collect()
                    };
                    for (caller, why) in &p.skipped {
                        if !matches!(why, Skip::NotOptedIn | Skip::UnattributedOff) {
                            tracing::info!(alert_id = %a.id, caller = %caller, reason = %why, "not contained");
                        }
                    }
                    if let Some(e) = &ledger_error {
                        tracing::error!(alert_id = %a.id, error = %e, "containment ledger: the denies still expire by themselves");
                    }
                    for x in &applied {
                        let c = &x.containment;
                        match &x.result {
                            Ok(changed) => tracing::info!(
                                alert_id = %a.id,
                                action = "contain",
                                dry_run = dry,
                                changed,
                                principal = %c.principal,
                                policy = %c.policy_name,
                                resource = %c.resources.join(","),
                                until = %c.until,
                                "containment"
                            ),
                            Err(e) => tracing::error!(
                                alert_id = %a.id,
                                action = "contain",
                                principal = %c.principal,
                                policy = %c.policy_name,
                                error = %e,
                                "containment failed"
                            ),
                        }
                    }
                    Acted {
                        alert_id: a.id.clone(),
                        release: false,
                        applied,
                        skipped: p.skipped,
                        ledger_error,
                    }
                }
            })
            .collect();
        futures_util::future::join_all(jobs).await
    }

    /// The tick's clean-up: removes this stack's expired denies from the allowed roles and users
    /// (found by name, not through the ledger). Nothing in a dry run.
    pub async fn sweep(&self, now: Timestamp) -> Swept {
        let s = sweep(&self.iam, &self.config, now).await;
        for (p, name) in &s.deleted {
            tracing::info!(principal = %p, policy = %name, "expired containment deny removed");
        }
        for e in &s.errors {
            tracing::error!(error = %e, "containment sweep: an IAM call failed (retried on the next tick)");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::live::containment::MemoryLedger;
    use bedrock_meter_core::pricing::money::Money;
    use bedrock_meter_core::records::record::Tokens;
    use bedrock_meter_core::time::Timestamp;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6";

    /// IAM in memory, refusing what IAM refuses (names, per-principal aggregate size).
    #[derive(Default)]
    struct StrictIam {
        policies: Mutex<BTreeMap<(String, String), String>>,
        calls: Mutex<usize>,
    }

    impl IamPolicies for StrictIam {
        async fn put_policy(
            &self,
            p: &IamPrincipal,
            name: &str,
            doc: &str,
        ) -> Result<(), IamError> {
            *self.calls.lock().unwrap() += 1;
            let bad = |m: &str| IamError {
                operation: "PutRolePolicy",
                code: Some("ValidationError".into()),
                message: m.into(),
            };
            if name.is_empty()
                || name.len() > 128
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
            {
                return Err(bad("policy name"));
            }
            let mut g = self.policies.lock().unwrap();
            g.insert((p.label(), name.to_string()), doc.to_string());
            let total: usize = g
                .iter()
                .filter(|((who, _), _)| *who == p.label())
                .map(|(_, d)| d.chars().filter(|c| !c.is_whitespace()).count())
                .sum();
            if total > p.policy_limit() {
                g.remove(&(p.label(), name.to_string()));
                return Err(bad("LimitExceeded"));
            }
            Ok(())
        }
        async fn delete_policy(&self, p: &IamPrincipal, name: &str) -> Result<bool, IamError> {
            *self.calls.lock().unwrap() += 1;
            Ok(self
                .policies
                .lock()
                .unwrap()
                .remove(&(p.label(), name.to_string()))
                .is_some())
        }
        async fn policy_names(&self, p: &IamPrincipal) -> Result<Vec<String>, IamError> {
            Ok(self
                .policies
                .lock()
                .unwrap()
                .keys()
                .filter(|(who, _)| *who == p.label())
                .map(|(_, n)| n.clone())
                .collect())
        }
        async fn policy_document(
            &self,
            p: &IamPrincipal,
            n: &str,
        ) -> Result<Option<String>, IamError> {
            Ok(self
                .policies
                .lock()
                .unwrap()
                .get(&(p.label(), n.to_string()))
                .cloned())
        }
        async fn principals(&self) -> Result<Vec<IamPrincipal>, IamError> {
            let labels: std::collections::BTreeSet<String> = self
                .policies
                .lock()
                .unwrap()
                .keys()
                .map(|(who, _)| who.clone())
                .collect();
            Ok(labels
                .iter()
                .filter_map(|l| IamPrincipal::parse(l))
                .map(|mut p| {
                    p.account = "111122223333".into();
                    p
                })
                .collect())
        }
    }

    fn alert(kind: AlertKind, caller: Option<&str>, profiles: &[&str]) -> Alert {
        let t = Timestamp::parse_iso8601("2026-11-25T02:00:00Z").unwrap();
        Alert {
            kind,
            app: "ops-agent".into(),
            team: "platform".into(),
            caller: caller.map(str::to_string),
            models: vec![],
            profile_arns: profiles.iter().map(|s| s.to_string()).collect(),
            window_minutes: 15,
            at: t,
            window_start: t,
            window_cost: Money::ZERO,
            window_requests: 30,
            window_unpriced: 0,
            tokens: Tokens::default(),
            threshold_cost: Money::ZERO,
            threshold_requests: 0,
            incident_started: t,
            previous_alert_cost: None,
            profile: None,
            callers: vec![],
            id: format!("{}-id", kind.as_str()),
        }
    }

    fn cfg(dry_run: bool) -> ContainmentConfig {
        ContainmentConfig {
            allow: vec!["role/ops-*".into()],
            dry_run,
            account: Some("111122223333".into()),
            ..ContainmentConfig::default()
        }
    }

    fn now() -> Timestamp {
        Timestamp::parse_iso8601("2026-11-25T02:00:10Z").unwrap()
    }

    #[tokio::test]
    async fn runaway_puts_and_neither_escalation_nor_resolved_lifts() {
        let c = Responder::new(cfg(false), StrictIam::default(), MemoryLedger::default());
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        let acted = c
            .act(
                &[
                    alert(AlertKind::Runaway, Some(w), &[PROFILE]),
                    alert(AlertKind::Escalation, Some(w), &[PROFILE]),
                ],
                &opted,
                now(),
            )
            .await;
        assert_eq!(acted.len(), 1);
        assert_eq!(acted[0].applied[0].result, Ok(true));
        assert_eq!(c.iam.policies.lock().unwrap().len(), 1);
        // resolved (the quiet may be the deny's own doing): nothing is deleted.
        let acted = c
            .act(
                &[alert(AlertKind::Resolved, Some(w), &[])],
                &HashSet::new(),
                now(),
            )
            .await;
        assert!(acted.is_empty());
        assert_eq!(c.iam.policies.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn untagged_outside_the_pattern_and_dry_runs_touch_nothing() {
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        let c = Responder::new(cfg(false), StrictIam::default(), MemoryLedger::default());
        let a = c
            .act(
                &[alert(AlertKind::Runaway, Some(w), &[PROFILE])],
                &HashSet::new(),
                now(),
            )
            .await;
        assert_eq!(a[0].skipped[0].1, Skip::NotOptedIn);
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let other = "arn:aws:sts::111122223333:assumed-role/payments/w";
        let a = c
            .act(
                &[alert(AlertKind::Runaway, Some(other), &[PROFILE])],
                &opted,
                now(),
            )
            .await;
        assert!(matches!(a[0].skipped[0].1, Skip::OutsideAllow(_)));
        let dry = Responder::new(cfg(true), StrictIam::default(), MemoryLedger::default());
        let a = dry
            .act(
                &[alert(AlertKind::Runaway, Some(w), &[PROFILE])],
                &opted,
                now(),
            )
            .await;
        assert!(a[0].applied[0].dry_run);
        assert_eq!(
            *c.iam.calls.lock().unwrap() + *dry.iam.calls.lock().unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn app_level_runaways_contain_only_the_callers_who_ran_away() {
        use bedrock_meter_core::live::detector::CallerShare;
        let c = Responder::new(cfg(false), StrictIam::default(), MemoryLedger::default());
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let mut a = alert(AlertKind::Runaway, None, &[PROFILE]);
        a.profile = Some(PROFILE.into());
        a.threshold_requests = 20;
        a.callers = vec![
            CallerShare {
                caller: "arn:aws:sts::111122223333:assumed-role/ops-agent/a".into(),
                cost: Money::ZERO,
                requests: 25,
            },
            // A bystander with one request, and one with a small share: never contained.
            CallerShare {
                caller: "arn:aws:sts::111122223333:assumed-role/ops-batch/b".into(),
                cost: Money::ZERO,
                requests: 1,
            },
            CallerShare {
                caller: "arn:aws:sts::111122223333:assumed-role/ops-web/b".into(),
                cost: Money::ZERO,
                requests: 4,
            },
        ];
        let r = c.act(&[a], &opted, now()).await;
        assert_eq!(r[0].applied.len(), 1);
        assert_eq!(r[0].applied[0].containment.principal.name, "ops-agent");
        assert_eq!(r[0].skipped.len(), 2, "{:?}", r[0].skipped);
        assert_eq!(c.iam.policies.lock().unwrap().len(), 1);
    }

    /// IAM that refuses the first `n` puts (a throttle, a transient fault).
    struct FlakyIam {
        inner: StrictIam,
        fail: Mutex<usize>,
    }

    impl IamPolicies for FlakyIam {
        async fn put_policy(&self, p: &IamPrincipal, n: &str, d: &str) -> Result<(), IamError> {
            {
                let mut f = self.fail.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return Err(IamError {
                        operation: "PutRolePolicy",
                        code: Some("Throttling".into()),
                        message: "Rate exceeded".into(),
                    });
                }
            }
            self.inner.put_policy(p, n, d).await
        }
        async fn delete_policy(&self, p: &IamPrincipal, n: &str) -> Result<bool, IamError> {
            self.inner.delete_policy(p, n).await
        }
        async fn policy_names(&self, p: &IamPrincipal) -> Result<Vec<String>, IamError> {
            self.inner.policy_names(p).await
        }
        async fn policy_document(
            &self,
            p: &IamPrincipal,
            n: &str,
        ) -> Result<Option<String>, IamError> {
            self.inner.policy_document(p, n).await
        }
        async fn principals(&self) -> Result<Vec<IamPrincipal>, IamError> {
            self.inner.principals().await
        }
    }

    #[tokio::test]
    async fn a_put_that_failed_is_put_on_redelivery() {
        let iam = FlakyIam {
            inner: StrictIam::default(),
            fail: Mutex::new(1),
        };
        let c = Responder::new(cfg(false), iam, MemoryLedger::default());
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        let runaway = alert(AlertKind::Runaway, Some(w), &[PROFILE]);
        let first = c.act(std::slice::from_ref(&runaway), &opted, now()).await;
        assert!(first[0].applied[0].result.is_err());
        assert!(c.iam.inner.policies.lock().unwrap().is_empty());
        // The same alert again (the batch's retry takes it from the outbox): the put is retried,
        // not taken as done.
        let again = c.act(std::slice::from_ref(&runaway), &opted, now()).await;
        assert_eq!(again[0].applied[0].result, Ok(true));
        assert_eq!(c.iam.inner.policies.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_lambda_reads_containment_settings_and_refuses_bad_ones() {
        let env: std::collections::HashMap<&str, &str> = [
            ("CONTAINMENT_ALLOW", "role/bedrock-app-*,"),
            ("CONTAINMENT_COOLDOWN_MINUTES", "45"),
            ("CONTAINMENT_DRY_RUN", "true"),
            ("ACCOUNT_ID", "111122223333"),
        ]
        .into();
        let c = crate::Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.containment.allow, vec!["role/bedrock-app-*"]);
        assert_eq!(c.containment.cool_down_minutes, 45);
        assert!(c.containment.dry_run && !c.containment.unattributed);
        assert!(
            !crate::Config::default().containment.is_enabled(),
            "off by default"
        );
        for (k, v) in [
            ("CONTAINMENT_ALLOW", "arn:aws:iam::1:role/x"),
            ("CONTAINMENT_COOLDOWN_MINUTES", "0"),
            ("CONTAINMENT_UNATTRIBUTED", "sometimes"),
            ("ACCOUNT_ID", "12345"),
        ] {
            let e = crate::Config::from_lookup(|q| (q == k).then(|| v.to_string())).unwrap_err();
            assert_eq!(e.name, k);
        }
    }

    #[tokio::test]
    async fn a_runaway_handed_out_again_never_puts_a_lifted_deny_back() {
        let c = Responder::new(cfg(false), StrictIam::default(), MemoryLedger::default());
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        let runaway = alert(AlertKind::Runaway, Some(w), &[PROFILE]);
        c.act(std::slice::from_ref(&runaway), &opted, now()).await;
        assert_eq!(*c.iam.calls.lock().unwrap(), 1);
        // Again from the outbox (its publish failed): reported, not put again.
        let again = c.act(std::slice::from_ref(&runaway), &opted, now()).await;
        assert_eq!(again[0].applied.len(), 1);
        assert_eq!(again[0].applied[0].result, Ok(false));
        assert_eq!(*c.iam.calls.lock().unwrap(), 1);
        // Lifted by hand (`contain lift`); the runaway handed out once more puts nothing back.
        c.iam.policies.lock().unwrap().clear();
        let late = c.act(std::slice::from_ref(&runaway), &opted, now()).await;
        assert_eq!(late[0].applied[0].result, Ok(false));
        assert!(c.iam.policies.lock().unwrap().is_empty());
        assert_eq!(*c.iam.calls.lock().unwrap(), 1, "one put");
    }

    /// `replay` and the Lambda agree: over the same records, the deny the Lambda puts (acting on the
    /// detector's alerts at their time) is put when replay says `contain`, ends at replay's `release`
    /// time, and survives every tick before it (the quiet and the resolved included).
    #[tokio::test]
    async fn replay_and_the_lambda_agree_on_contain_and_release_times() {
        use bedrock_meter_core::live::containment::{replay_events, ReplayEvent};
        use bedrock_meter_core::live::detector::{
            replay, Detector, DetectorConfig, MemoryStore, Observation, Overrides,
        };
        let t0 = Timestamp::parse_iso8601("2026-11-25T02:00:00Z").unwrap().0;
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        // A loop on the tagged profile: $2 a minute for 10 minutes (crosses $10 in minute 6).
        let mut obs: Vec<Observation> = (0..10)
            .map(|m| Observation {
                at: Timestamp(t0 + m * 60 + 7),
                app: "ops-agent".into(),
                team: "platform".into(),
                caller: w.into(),
                model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
                profile_arn: Some(PROFILE.into()),
                cost: Money::from_usd_text("2").unwrap(),
                unpriced: false,
                requests: 1,
                tokens: Tokens::default(),
                overrides: Overrides::default(),
            })
            .collect();
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        let alerts = replay(&d, &mut obs).await.unwrap();
        assert!(alerts.iter().any(|a| a.kind == AlertKind::Resolved));
        let (events, _) = replay_events(&alerts, |p| p == PROFILE, &cfg(false));
        let (contain_at, release_at) = match events.as_slice() {
            [(_, ReplayEvent::Contain(c)), (_, ReplayEvent::Expire(e))] => (c.at, e.until),
            other => panic!("{other:?}"),
        };
        // The Lambda: every alert acted on at its own time; a tick every minute in between sweeps.
        let c = Responder::new(cfg(false), StrictIam::default(), MemoryLedger::default());
        let opted: HashSet<String> = [PROFILE.to_string()].into();
        let mut put_at = None;
        let mut gone_at = None;
        let end = release_at.0 + 120;
        let mut t = alerts[0].at.0;
        while t <= end {
            let due: Vec<Alert> = alerts.iter().filter(|a| a.at.0 == t).cloned().collect();
            c.act(&due, &opted, Timestamp(t)).await;
            c.sweep(Timestamp(t)).await;
            let there = !c.iam.policies.lock().unwrap().is_empty();
            if there && put_at.is_none() {
                put_at = Some(Timestamp(t));
            }
            if !there && put_at.is_some() && gone_at.is_none() {
                gone_at = Some(Timestamp(t));
            }
            t += 60;
        }
        assert_eq!(put_at, Some(contain_at));
        assert_eq!(
            gone_at,
            Some(release_at),
            "removed at the first tick at its until"
        );
    }
}
