//! What the detector keeps: observations summed into one-minute buckets per scope (app, or app and
//! caller), incidents, and the [`StateStore`] port they live behind (DynamoDB in `aws::dynamodb`,
//! [`MemoryStore`] for replay and tests).

use super::*;

/// One priced, attributed record (or several of the same minute and attribution). Metadata only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub at: Timestamp,
    pub app: String,
    pub team: String,
    /// The caller: the principal of the identity ARN (`principal::PrincipalRule`; `unknown` when the
    /// record has none).
    pub caller: String,
    /// The base model when known, else the logged `modelId`.
    pub model: String,
    pub profile_arn: Option<String>,
    /// The priced part of the cost (zero when unpriced).
    pub cost: Money,
    /// Whether (part of) this usage could not be priced.
    pub unpriced: bool,
    pub requests: u64,
    pub tokens: Tokens,
    /// The app's threshold overrides (from its profile's tags).
    pub overrides: Overrides,
}

impl Observation {
    /// One record's observation, from its resolution and its price.
    pub fn new(
        at: Timestamp,
        resolution: &Resolution,
        caller: Option<&str>,
        cost: Result<Money, Unpriced>,
        tokens: Tokens,
    ) -> Observation {
        let overrides = Overrides::from_tags(&resolution.tags);
        Observation::with_overrides(at, resolution, caller, cost, tokens, overrides)
    }

    /// [`Observation::new`] with the resolution's threshold overrides already read from its tags
    /// (once per modelId and batch, not once per observation).
    pub fn with_overrides(
        at: Timestamp,
        resolution: &Resolution,
        caller: Option<&str>,
        cost: Result<Money, Unpriced>,
        tokens: Tokens,
        overrides: Overrides,
    ) -> Observation {
        Observation {
            at,
            app: resolution.app.clone(),
            team: resolution.team.clone(),
            caller: caller
                .filter(|c| !c.is_empty())
                .unwrap_or(UNKNOWN_CALLER)
                .to_string(),
            model: resolution.model.clone(),
            profile_arn: resolution.profile_arn.clone(),
            cost: *cost.as_ref().unwrap_or(&Money::ZERO),
            unpriced: cost.is_err(),
            requests: 1,
            tokens,
            overrides,
        }
    }
}

/// What a window is kept for: an app (`caller: None`) or one caller of an app.
///
/// Traffic through an application inference profile is kept **per profile** (`profile: Some(ARN)`):
/// the profile is what the account controls, its `app` tag is only a label anyone allowed to tag a
/// profile can copy. So a second profile tagged with the same `app` gets windows, thresholds (its own
/// `meter:*` tags) and incidents of its own and can never change another profile's. Calls without a
/// profile (`unattributed`) have caller scopes only, with `profile: None`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub app: String,
    /// The application profile ARN the scope's traffic went through (`None`: no profile).
    pub profile: Option<String>,
    pub caller: Option<String>,
}

fn escape_key_part(s: &str) -> String {
    s.replace('%', "%25")
        .replace('#', "%23")
        .replace('~', "%7E")
}

/// The longest scope key, in bytes (UTF-8).
pub const MAX_SCOPE_KEY_BYTES: usize = 512;

/// `key` itself when short enough, else its first bytes (cut at a character boundary) + `~` + 32 hex
/// digits of a 128-bit hash of the whole key. `~` never occurs in an escaped key, so a shortened key
/// never equals a short one.
fn bounded_key(key: String) -> String {
    if key.len() <= MAX_SCOPE_KEY_BYTES {
        return key;
    }
    let hash = format!(
        "{:016x}{:016x}",
        fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes()),
        fnv1a(0x6c62_272e_07bb_0142, key.as_bytes())
    );
    let mut cut = MAX_SCOPE_KEY_BYTES - 1 - hash.len();
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}", &key[..cut])
}

impl Scope {
    /// An app scope without a profile (tests, replays of records without profiles).
    pub fn app(app: &str) -> Scope {
        Scope {
            app: app.to_string(),
            profile: None,
            caller: None,
        }
    }

    /// A caller scope without a profile (`unattributed` traffic).
    pub fn caller(app: &str, caller: &str) -> Scope {
        Scope {
            app: app.to_string(),
            profile: None,
            caller: Some(caller.to_string()),
        }
    }

    /// The scope of an application profile's traffic (all its callers), or of one caller of it.
    pub fn of_profile(app: &str, profile: &str, caller: Option<&str>) -> Scope {
        Scope {
            app: app.to_string(),
            profile: Some(profile.to_string()),
            caller: caller.map(str::to_string),
        }
    }

    /// The app-level scope this scope belongs to (itself when it is app level).
    pub fn app_level(&self) -> Scope {
        Scope {
            caller: None,
            ..self.clone()
        }
    }

    /// The scopes an observation counts in: its profile's (app level) and its caller's on that
    /// profile; without a profile, an app scope by name unless it is `unattributed` (calls without a
    /// profile are unrelated callers: caller scopes only).
    pub fn of_observation(o: &Observation) -> (Option<Scope>, Scope) {
        match o.profile_arn.as_ref().filter(|_| o.app != UNATTRIBUTED) {
            Some(p) => (
                Some(Scope::of_profile(&o.app, p, None)),
                Scope::of_profile(&o.app, p, Some(&o.caller)),
            ),
            None => (
                (o.app != UNATTRIBUTED).then(|| Scope::app(&o.app)),
                Scope::caller(&o.app, &o.caller),
            ),
        }
    }

    /// A stable, unambiguous key (`A#app` or `C#app#caller`; with a profile `P#app#profile` or
    /// `Q#app#profile#caller`; `%`, `#` and `~` escaped), at most
    /// [`MAX_SCOPE_KEY_BYTES`] long: a longer one keeps a readable prefix and ends with `~` and a
    /// 128-bit hash of the whole (the store uses it as a partition key, a sort key and in alert ids,
    /// whose DynamoDB limits are 2,048 and 1,024 bytes).
    pub fn key(&self) -> String {
        let full = match (&self.profile, &self.caller) {
            (None, None) => format!("A#{}", escape_key_part(&self.app)),
            (None, Some(c)) => format!("C#{}#{}", escape_key_part(&self.app), escape_key_part(c)),
            (Some(p), None) => format!("P#{}#{}", escape_key_part(&self.app), escape_key_part(p)),
            (Some(p), Some(c)) => format!(
                "Q#{}#{}#{}",
                escape_key_part(&self.app),
                escape_key_part(p),
                escape_key_part(c)
            ),
        };
        bounded_key(full)
    }
}

/// Usage of one scope in one minute (also the shape of an add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the minute.
    pub minute: Timestamp,
    pub cost: Money,
    pub requests: u64,
    pub unpriced: u64,
    pub tokens: Tokens,
    /// The team last seen for the scope in this minute.
    pub team: String,
    pub models: BTreeSet<String>,
    pub profile_arns: BTreeSet<String>,
}

impl Bucket {
    pub fn new(minute: Timestamp) -> Bucket {
        Bucket {
            minute,
            cost: Money::ZERO,
            requests: 0,
            unpriced: 0,
            tokens: Tokens::default(),
            team: String::new(),
            models: BTreeSet::new(),
            profile_arns: BTreeSet::new(),
        }
    }
}

impl Bucket {
    /// Adds another bucket's usage (of the same minute).
    pub fn add(&mut self, o: &Bucket) {
        self.cost += o.cost;
        self.requests = self.requests.saturating_add(o.requests);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.tokens.add(&o.tokens);
        if !o.team.is_empty() {
            self.team.clone_from(&o.team);
        }
        self.models.extend(o.models.iter().cloned());
        self.profile_arns.extend(o.profile_arns.iter().cloned());
    }

    pub(super) fn add_observation(&mut self, o: &Observation) {
        self.cost += o.cost;
        self.requests = self.requests.saturating_add(o.requests);
        self.unpriced =
            self.unpriced
                .saturating_add(if o.unpriced { o.requests.max(1) } else { 0 });
        self.tokens.add(&o.tokens);
        self.team.clone_from(&o.team);
        self.models.insert(o.model.clone());
        if let Some(a) = &o.profile_arn {
            self.profile_arns.insert(a.clone());
        }
    }
}

/// A scope's incident, as stored. `open: false` is a closed incident (kept so its version goes on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub open: bool,
    /// When the `runaway` alert fired.
    pub started: Timestamp,
    pub last_alert_at: Timestamp,
    /// The window cost in the last alert sent (escalation compares against twice this).
    pub last_alert_cost: Money,
    /// Alerts sent in this incident (runaway and escalations; resolved included once closed).
    pub alerts: u32,
    /// The thresholds the incident was opened under (used when the scope has no traffic to say).
    pub limits: DetectorConfig,
    pub team: String,
}

/// A store failure; fail the invocation so that it is retried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store: {operation} failed: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// One scope as stored: its buckets and its incident, read in one piece.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeState {
    /// The incident's version (0: none stored yet).
    pub version: u64,
    pub incident: Option<Incident>,
    /// The scope's buckets (keyed by their start), in any order; may hold buckets older than asked
    /// for (the detector ignores them and has the store forget them now and then).
    pub buckets: Vec<Bucket>,
    /// Starts of the buckets that still hold the keys of the batches applied to them.
    pub marked: Vec<Timestamp>,
}

/// An alert written to the outbox by the transition that produced it and not yet delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub alert: Alert,
    /// The batch key of the invocation that made the transition.
    pub batch: String,
    /// When the transition was made.
    pub created: Timestamp,
}

/// What needs attention whatever a batch holds: scopes with an open incident (to resolve them when
/// they go quiet) and alerts not yet delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attention {
    pub open: Vec<Scope>,
    pub pending: Vec<Pending>,
}

/// Who holds an alert for delivery, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The batch key of the invocation claiming it.
    pub batch: String,
    pub now: Timestamp,
    /// Nobody else may take it before this (a lease longer than an invocation can run).
    pub until: Timestamp,
}

/// Where windows, incidents and the alert outbox live, shared by concurrent invocations.
///
/// A batch costs one [`StateStore::apply`] per scope it touches (which returns the scope's state after
/// the add), plus one [`StateStore::transition`] per incident transition, plus one
/// [`StateStore::attention`] per call; no call reads a window item by item.
pub trait StateStore: Send + Sync {
    /// The store is asked to forget a scope's old buckets once it holds more than this many (each
    /// forget is a call: batching them keeps a busy scope at one extra call every few minutes).
    const FORGET_AFTER: usize = 4;

    /// Adds `deltas` (one per bucket, keyed by `Bucket::minute`, the bucket's start) to the scope's
    /// buckets unless `batch` was already applied to them, atomically, and returns the scope's state
    /// after the add (or as it is, when the batch had already been applied: a redelivery adds nothing).
    fn apply(
        &self,
        scope: &Scope,
        batch: &str,
        deltas: &[Bucket],
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<ScopeState, StoreError>> + Send;

    /// The scope's state, read after every completed add (strongly consistent).
    fn read(&self, scope: &Scope) -> impl Future<Output = Result<ScopeState, StoreError>> + Send;

    /// Drops the scope's buckets that start at `starts` (too old to matter any more), and the batch
    /// keys recorded on the buckets that start at `marks` (too old to be redelivered).
    fn forget(
        &self,
        scope: &Scope,
        starts: &[Timestamp],
        marks: &[Timestamp],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Compare-and-set, atomically with its side effects: if and only if the stored incident version
    /// is `expected`, writes `next` as version `expected + 1`, registers the scope as open (or
    /// unregisters it when `next` is closed) and puts `alert` in the outbox, held by `claim`.
    /// `Ok(false)`: someone else moved the incident first (nothing written).
    fn transition(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
        alert: &Alert,
        claim: &Claim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Scopes with an open incident and the undelivered alerts (with what each was written for).
    fn attention(&self) -> impl Future<Output = Result<Attention, StoreError>> + Send;

    /// Takes a pending alert for delivery if it is still pending and either nobody holds it (its last
    /// claim ran out before `claim.now`) or it was written by the same batch (a redelivery of the batch
    /// whose invocation failed). `Ok(false)`: delivered or held by someone else.
    fn claim(
        &self,
        alert_id: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a delivered alert from the outbox (idempotent).
    fn delivered(&self, alert_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}
