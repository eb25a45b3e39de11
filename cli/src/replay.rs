//! `bedrock-meter replay`: the live path's runaway detector over log files, in simulated time — a
//! backtest of thresholds before deploying. Records are read, resolved and priced as the ingest Lambda
//! does, sorted by timestamp, and fed to the same [`Detector`] over an in-memory store in batches of one
//! simulated minute (each evaluated at the end of its minute; see `detector::replay`).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bedrock_meter_core::attribution::resolution::{resolve, Resolution};
use bedrock_meter_core::daily::report::skipped_summary;
use bedrock_meter_core::live::containment;
use bedrock_meter_core::live::detector::{
    self, Alert, Detector, DetectorConfig, MemoryStore, Observation, Overrides,
};
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::records::record::Tokens;
use bedrock_meter_core::text::{count, thousands};
use bedrock_meter_core::time::Timestamp;

use crate::common::{ensure_paths, read_logs, Core, CoreOpts, Format};

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Window length in minutes (default 15; per-app tag `meter:window-minutes` overrides).
    #[arg(long, env = "WINDOW_MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub window_minutes: Option<u32>,
    /// Spend threshold in USD per window (default 10; per-app tag `meter:max-cost-usd` overrides).
    #[arg(long, env = "MAX_COST_USD", value_parser = parse_usd)]
    pub max_cost: Option<Money>,
    /// Request threshold per window (default 600; per-app tag `meter:max-requests` overrides).
    #[arg(long, env = "MAX_REQUESTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// table (one line per alert) or json (one JSON object per alert and line).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Containment to simulate for apps tagged `meter:on-runaway=contain`: the principals it may deny
    /// (`role/PATTERN,user/PATTERN`; the stack's CONTAINMENT_ALLOW). `none`: simulate no containment.
    #[arg(long, default_value = "role/*,user/*")]
    pub contain_allow: String,
    /// Simulate containment of unattributed callers too (the stack's CONTAINMENT_UNATTRIBUTED).
    #[arg(long)]
    pub contain_unattributed: bool,
    /// Simulated containment lasts at most this many minutes (the stack's CONTAINMENT_COOLDOWN_MINUTES).
    #[arg(long, default_value_t = bedrock_meter_core::live::containment::DEFAULT_COOL_DOWN_MINUTES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(bedrock_meter_core::live::containment::MAX_COOL_DOWN_MINUTES)))]
    pub contain_cool_down: u32,
    /// The stack's account id: callers of other accounts are reported, never contained (the Lambda
    /// always checks it; without this flag replay does not).
    #[arg(long)]
    pub contain_account: Option<String>,
    #[command(flatten)]
    pub core: CoreOpts,
    /// Log files and directories (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

fn parse_usd(s: &str) -> Result<Money, String> {
    Money::from_usd_text(s)
        .ok()
        .filter(|m| m.0 > 0)
        .ok_or_else(|| format!("{s:?} is not a positive amount of USD (e.g. 10 or 2.50)"))
}

/// What replay keeps of a record: metadata only, never bodies.
pub(crate) struct Seen {
    at: Timestamp,
    model_id: String,
    region: Option<String>,
    caller: Option<String>,
    tokens: Tokens,
    /// The service tier the record names ([`bedrock_meter_core::pricing::prices::tier_of`]).
    tier: String,
}

impl Seen {
    pub(crate) fn of(r: &bedrock_meter_core::records::record::Record<'_>) -> Seen {
        Seen {
            at: r.timestamp,
            model_id: r.model_id.to_string(),
            region: r.region.as_deref().map(str::to_string),
            caller: r.caller.as_deref().map(str::to_string),
            tokens: r.tokens,
            tier: bedrock_meter_core::pricing::prices::tier_of(r.service_tier.as_deref()),
        }
    }
}

/// Records resolved and priced as the ingest Lambda does, ready for the detector.
pub(crate) struct Priced {
    pub observations: Vec<Observation>,
    pub resolved: HashMap<String, Resolution>,
    pub unpriced: u64,
}

pub(crate) fn observe(core: &Core, seen: impl IntoIterator<Item = Seen>) -> Priced {
    let mut resolved: HashMap<String, Resolution> = HashMap::new();
    let mut observations: Vec<Observation> = Vec::new();
    let mut unpriced = 0u64;
    for s in seen {
        let res = resolved
            .entry(s.model_id.clone())
            .or_insert_with(|| resolve(&s.model_id, &core.profiles, &core.attribution));
        let cost = core
            .prices
            .rates_of(
                res,
                s.region.as_deref(),
                core.prices.prompt_band(&s.tokens),
                &s.tier,
            )
            .and_then(|r| r.cost(&s.tokens));
        unpriced += u64::from(cost.is_err());
        // The caller every path names: the principal (docs/callers.md).
        let caller = s
            .caller
            .as_deref()
            .map(|c| core.attribution.principal.principal(c));
        observations.push(Observation::new(s.at, res, caller, cost, s.tokens));
    }
    Priced {
        observations,
        resolved,
        unpriced,
    }
}

/// The detector over observations in simulated time (see `detector::replay`): every alert, in order.
pub(crate) fn detect(
    config: DetectorConfig,
    observations: &mut [Observation],
) -> anyhow::Result<Vec<Alert>> {
    let detector = Detector::new(MemoryStore::new(), config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the runtime")?;
    rt.block_on(detector::replay(&detector, observations))
        .context("replaying")
}

#[derive(Default)]
struct Read {
    seen: Vec<Seen>,
    malformed: u64,
}

pub fn run(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    ensure_paths(&a.paths)?;
    let core = a.core.load()?;
    let defaults = DetectorConfig::default();
    let config = DetectorConfig {
        window_minutes: a.window_minutes.unwrap_or(defaults.window_minutes),
        max_cost: a.max_cost.unwrap_or(defaults.max_cost),
        max_requests: a.max_requests.unwrap_or(defaults.max_requests),
    };
    let (reads, summary) = read_logs(&a.paths, Read::default, |st, rec| match rec {
        Ok(r) => st.seen.push(Seen::of(&r)),
        Err(e) => {
            st.malformed += 1;
            tracing::debug!(kind = e.kind(), "malformed record");
        }
    })?;
    let malformed: u64 = reads.iter().map(|r| r.malformed).sum();
    let Priced {
        mut observations,
        resolved,
        unpriced,
    } = observe(&core, reads.into_iter().flat_map(|r| r.seen));
    let records = observations.len();
    let skipped = skipped_summary(malformed, summary.unreadable_files);
    if records == 0 {
        eprintln!(
            "bedrock-meter: nothing to replay: {} log files, no valid record in them{}",
            summary.files,
            skipped
                .map(|s| format!("; {}", s.to_lowercase()))
                .unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }
    let overrides = applied_overrides(&resolved, &config);
    let alerts = detect(config, &mut observations)?;
    let (contained, not_contained) = simulate_containment(&a, &alerts, &resolved)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut events = contained.iter().peekable();
    for (i, alert) in alerts.iter().enumerate() {
        match a.format {
            Format::Json => writeln!(out, "{}", alert.replay_json())?,
            Format::Table => writeln!(out, "{}", alert.summary_line())?,
        }
        while let Some((_, e)) = events.next_if(|(j, _)| *j == i) {
            match a.format {
                Format::Json => writeln!(out, "{}", e.json())?,
                Format::Table => writeln!(out, "{}", e.summary_line())?,
            }
        }
        if matches!(a.format, Format::Table) {
            for (_, caller, why) in not_contained.iter().filter(|(j, _, _)| *j == i) {
                writeln!(out, "{}  not contained: {caller}: {why}", alert.at)?;
            }
        }
    }
    out.flush()?;
    eprintln!(
        "replayed {} records ({} unpriced) with window {} min, thresholds {} / {} requests: {}",
        thousands(records as u64),
        thousands(unpriced),
        config.window_minutes,
        config.max_cost,
        config.max_requests,
        count(alerts.len() as u64, "alert")
    );
    let contains = contained
        .iter()
        .filter(|(_, e)| matches!(e, containment::ReplayEvent::Contain(_)))
        .count();
    if contains > 0 || !not_contained.is_empty() {
        eprintln!(
            "containment (profiles tagged {}={}): {} would have been put, each lasting its {} min \
             (quiet and resolved never lift a deny; it ends at its until or by contain lift) \
             (the logs' later calls of a contained principal still count here: replay does not drop what a deny would have refused); \
             rule: {}",
            containment::TAG_ON_RUNAWAY,
            containment::ON_RUNAWAY_CONTAIN,
            denies(contains as u64),
            a.contain_cool_down,
            containment::share_rule_text()
        );
    }
    if !overrides.is_empty() {
        eprintln!(
            "per-app thresholds from profile tags (they replace the ones above for these apps):"
        );
        for line in &overrides {
            eprintln!("  {line}");
        }
    }
    if let Some(s) = skipped {
        eprintln!("{s}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What containment would have done (`containment::replay_events`): profiles opted in by their tag,
/// an app-level incident's callers and their shares from its alert (as live). Also every caller left
/// alone, with why.
type Simulated = (
    Vec<(usize, containment::ReplayEvent)>,
    Vec<(usize, String, containment::Skip)>,
);

fn simulate_containment(
    a: &ReplayArgs,
    alerts: &[Alert],
    resolved: &HashMap<String, Resolution>,
) -> anyhow::Result<Simulated> {
    if a.contain_allow.trim().eq_ignore_ascii_case("none") {
        return Ok((Vec::new(), Vec::new()));
    }
    let cfg = containment::ContainmentConfig {
        allow: containment::parse_simulated_allow(&a.contain_allow).context("--contain-allow")?,
        unattributed: a.contain_unattributed,
        cool_down_minutes: a.contain_cool_down,
        account: a.contain_account.clone(),
        ..containment::ContainmentConfig::default()
    };
    let opted: HashSet<&str> = resolved
        .values()
        .filter(|r| containment::opted_in(&r.tags))
        .filter_map(|r| r.profile_arn.as_deref())
        .collect();
    Ok(containment::replay_events(
        alerts,
        |p| opted.contains(p),
        &cfg,
    ))
}

/// The per-app threshold overrides (profile tags `meter:*`) that apply to the apps replayed, one line
/// per app: `ticket-triage (support): max cost $10.00 (meter:max-cost-usd=10)`.
fn applied_overrides(
    resolved: &HashMap<String, Resolution>,
    config: &DetectorConfig,
) -> Vec<String> {
    let mut lines: Vec<String> = resolved
        .values()
        .filter_map(|res| {
            let o = Overrides::from_tags(&res.tags);
            if o == Overrides::default() {
                return None;
            }
            let tag = |key: &str| {
                res.tags
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or_else(String::new, |(k, v)| format!(" ({k}={v})"))
            };
            let instead = |own: String, global: String| {
                if own == global {
                    String::new()
                } else {
                    format!(" instead of {global}")
                }
            };
            let mut parts = Vec::new();
            if let Some(w) = o.window_minutes {
                parts.push(format!(
                    "window {w} min{}{}",
                    instead(w.to_string(), config.window_minutes.to_string()),
                    tag(detector::TAG_WINDOW_MINUTES)
                ));
            }
            if let Some(c) = o.max_cost {
                parts.push(format!(
                    "max cost {c}{}{}",
                    instead(c.to_string(), config.max_cost.to_string()),
                    tag(detector::TAG_MAX_COST)
                ));
            }
            if let Some(n) = o.max_requests {
                parts.push(format!(
                    "max requests {n}{}{}",
                    instead(n.to_string(), config.max_requests.to_string()),
                    tag(detector::TAG_MAX_REQUESTS)
                ));
            }
            Some(format!("{} ({}): {}", res.app, res.team, parts.join(", ")))
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

/// "1 deny", "2 denies" (`text::count` would write "denys").
fn denies(n: u64) -> String {
    if n == 1 {
        "1 deny".to_string()
    } else {
        format!("{} denies", thousands(n))
    }
}

#[cfg(test)]
mod plural_tests {
    use super::denies;

    #[test]
    fn one_deny_and_many_denies() {
        assert_eq!(denies(1), "1 deny");
        assert_eq!(denies(0), "0 denies");
        assert_eq!(denies(1234), "1,234 denies");
    }
}
