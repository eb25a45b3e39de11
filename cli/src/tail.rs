//! `bedrock-meter tail`: reads the invocation log group (FilterLogEvents, polled), runs each record
//! through the core (parse → resolve → price) and prints a table per team/app/caller: requests, rate
//! per minute, tokens, estimated cost — what the live Lambda sees. Only the records' metadata is read;
//! prompt and response text are never printed.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Duration;

use bedrock_meter_core::attribution::model_id::{classify, ModelRef};
use bedrock_meter_core::attribution::profiles::ProfileDirectory;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::logs::LogsClient;
use bedrock_meter_core::daily::report::{cost_cell, priced_cost, short_caller, table, Group};
use bedrock_meter_core::daily::rollup::{price_rows, PricedRow, Rollup};
use bedrock_meter_core::ports::operator::{read_events, FilteredEvent, LogGroups};
use bedrock_meter_core::ports::profiles::CachedProfiles;
use bedrock_meter_core::text::thousands;
use bedrock_meter_core::time::now_millis;
use bedrock_meter_core::time::Timestamp;

use crate::common::{parse_duration, Core, CoreOpts, Format};
use crate::doctor::DEFAULT_LOG_GROUP;

#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// Start this far back (e.g. 90s, 15m, 2h).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub since: Duration,
    /// Keep polling and reprint the table (Ctrl-C stops).
    #[arg(long)]
    pub follow: bool,
    /// Poll interval with --follow.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// The invocation log group.
    #[arg(long, default_value = DEFAULT_LOG_GROUP, env = "LOG_GROUP_NAME")]
    pub log_group: String,
    /// Region of the log group (default: the standard AWS configuration's).
    #[arg(long)]
    pub region: Option<String>,
    /// table, or json (one JSON document per poll).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Most events read per poll.
    #[arg(long, default_value_t = 200_000)]
    pub max_events: usize,
    /// Without --profiles, application profiles are looked up live (GetInferenceProfile + tags).
    #[command(flatten)]
    pub core: CoreOpts,
}

/// Everything read so far.
pub struct Tail {
    pub rollup: Rollup,
    /// Event ids already counted, with their timestamps (pruned as the cursor moves).
    seen: HashMap<String, i64>,
    pub start_ms: i64,
    /// Next poll reads from here (minus an overlap for late events).
    cursor_ms: i64,
    pub truncated: bool,
}

/// Events may be ingested a little after their timestamp: each poll re-reads this much, de-duplicated.
const OVERLAP_MS: i64 = 5 * 60 * 1000;

impl Tail {
    pub fn new(start_ms: i64) -> Tail {
        Tail {
            rollup: Rollup::default(),
            seen: HashMap::new(),
            start_ms,
            cursor_ms: start_ms,
            truncated: false,
        }
    }

    /// Counts the events not counted before; returns how many were new.
    pub fn add_events(&mut self, events: &[FilteredEvent], core: &Core) -> usize {
        let mut new = 0;
        for e in events {
            if self.seen.contains_key(&e.id) {
                continue;
            }
            self.seen.insert(e.id.clone(), e.timestamp_ms);
            new += 1;
            match bedrock_meter_core::records::record::parse(&e.message) {
                Ok(r) => self.rollup.add_record(&r, &core.attribution, &core.prices),
                Err(_) => self.rollup.malformed += 1,
            }
            self.cursor_ms = self.cursor_ms.max(e.timestamp_ms);
        }
        let keep_from = self.cursor_ms - 2 * OVERLAP_MS;
        self.seen.retain(|_, t| *t >= keep_from);
        new
    }

    pub async fn poll<L: LogGroups>(
        &mut self,
        logs: &L,
        group: &str,
        max: usize,
        core: &Core,
    ) -> anyhow::Result<usize> {
        let from = (self.cursor_ms - OVERLAP_MS).max(self.start_ms);
        let (events, truncated) = read_events(logs, group, from, max)
            .await
            .map_err(|e| missing_group_or(e, group))?;
        self.truncated |= truncated;
        Ok(self.add_events(&events, core))
    }

    /// Application-profile ARNs seen (to look up live).
    pub fn profile_arns(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rollup
            .rows
            .keys()
            .filter_map(|k| match classify(&k.model_id) {
                ModelRef::ApplicationProfile { arn } => Some(arn),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// One line of the live table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailLine {
    pub team: String,
    pub app: String,
    pub caller: String,
    pub group: Group,
}

pub fn lines(rows: &[PricedRow]) -> (Vec<TailLine>, Group) {
    let mut m: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    let mut total = Group::default();
    for r in rows {
        let mut g = Group {
            requests: r.usage.requests,
            errors: r.usage.errors,
            input_tokens: r.usage.tokens.input,
            output_tokens: r.usage.tokens.output,
            cache_read_tokens: r.usage.tokens.cache_read,
            cache_write_tokens: r.usage.tokens.cache_write,
            ..Group::default()
        };
        match &r.cost {
            Ok(c) => g.cost = *c,
            Err(_) => g.unpriced_requests = r.usage.requests,
        }
        total.merge(&g);
        m.entry((
            r.resolution.team.clone(),
            r.resolution.app.clone(),
            r.key.caller.clone(),
        ))
        .or_default()
        .merge(&g);
    }
    let mut v: Vec<TailLine> = m
        .into_iter()
        .map(|((team, app, caller), group)| TailLine {
            team,
            app,
            caller,
            group,
        })
        .collect();
    v.sort_by(|a, b| {
        b.group
            .cost
            .cmp(&a.group.cost)
            .then(b.group.requests.cmp(&a.group.requests))
    });
    (v, total)
}

fn per_minute(requests: u64, minutes: f64) -> String {
    format!("{:.1}", requests as f64 / minutes.max(1.0))
}

fn utc(ms: i64) -> String {
    let t = Timestamp::from_millis(ms);
    let s = t.0.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        t.date(),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

pub fn render_table(
    group: &str,
    tail: &Tail,
    rows: &[PricedRow],
    now_ms: i64,
    core: &Core,
) -> String {
    let minutes = (now_ms - tail.start_ms) as f64 / 60_000.0;
    let (lines, total) = lines(rows);
    let mut out = format!(
        "{group} since {} ({:.0} min): {} requests, {} malformed, prices as of {}{}\n\n",
        utc(tail.start_ms),
        minutes,
        thousands(total.requests),
        tail.rollup.malformed,
        core.prices.as_of,
        if tail.truncated {
            " (stopped at --max-events)"
        } else {
            ""
        }
    );
    let row = |team: &str, app: &str, caller: &str, g: &Group| {
        [
            team.to_string(),
            app.to_string(),
            caller.to_string(),
            thousands(g.requests),
            per_minute(g.requests, minutes),
            thousands(g.errors),
            thousands(g.input_tokens),
            thousands(g.output_tokens),
            thousands(g.cache_read_tokens),
            thousands(g.cache_write_tokens),
            cost_cell(g),
        ]
    };
    let mut cells: Vec<[String; 11]> = lines
        .iter()
        .map(|l| row(&l.team, &l.app, &short_caller(&l.caller), &l.group))
        .collect();
    cells.push(row("total", "", "", &total));
    out.push_str(&table(
        &[
            "team",
            "app",
            "caller",
            "requests",
            "req/min",
            "errors",
            "input",
            "output",
            "cache read",
            "cache write",
            "est. cost",
        ],
        &cells,
        3,
    ));
    out
}

/// A read of the log group that failed, naming the group (and what to do when it does not exist).
pub fn missing_group_or(e: bedrock_meter_core::ports::AwsError, group: &str) -> anyhow::Error {
    if e.is_not_found() {
        anyhow::anyhow!(
            "the log group {group} does not exist in this Region: pass --log-group (or --region), or run `bedrock-meter doctor` ({})",
            e.brief()
        )
    } else {
        anyhow::anyhow!("reading the log group {group}: {}", e.brief())
    }
}

pub fn render_json(group: &str, tail: &Tail, rows: &[PricedRow], now_ms: i64) -> String {
    let minutes = (now_ms - tail.start_ms) as f64 / 60_000.0;
    let (lines, total) = lines(rows);
    let g = |g: &Group| {
        serde_json::json!({
            "requests": g.requests,
            "per_minute": (g.requests as f64 / minutes.max(1.0) * 10.0).round() / 10.0,
            "errors": g.errors,
            "input_tokens": g.input_tokens,
            "output_tokens": g.output_tokens,
            "cache_read_tokens": g.cache_read_tokens,
            "cache_write_tokens": g.cache_write_tokens,
            // A JSON number like the report's (null when nothing in the group could be priced).
            "cost_usd": priced_cost(g).map(|c| c.to_decimal_string(9).parse::<f64>().expect("a decimal")),
            "unpriced_requests": g.unpriced_requests,
        })
    };
    serde_json::json!({
        "log_group": group,
        "from": utc(tail.start_ms),
        "minutes": (minutes * 10.0).round() / 10.0,
        "malformed_records": tail.rollup.malformed,
        "truncated": tail.truncated,
        "totals": g(&total),
        "rows": lines.iter().map(|l| {
            let mut v = g(&l.group);
            v["team"] = l.team.clone().into();
            v["app"] = l.app.clone().into();
            v["caller"] = l.caller.clone().into();
            v
        }).collect::<Vec<_>>(),
    })
    .to_string()
}

pub fn run(a: TailArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let core = a.core.load()?;
    let live_profiles = a.core.profiles.is_none();
    crate::common::runtime()?.block_on(async {
        let config = crate::common::load_config(a.region.as_deref()).await;
        let logs = LogsClient::new(&config);
        let mut cache =
            CachedProfiles::new(BedrockProfiles::new(&config), Duration::from_secs(300));
        let mut tail = Tail::new(now_millis() - a.since.as_millis() as i64);
        let clear = a.follow && a.format == Format::Table && std::io::stdout().is_terminal();
        loop {
            tail.poll(&logs, &a.log_group, a.max_events, &core).await?;
            let dir: &dyn ProfileDirectory = if live_profiles {
                let report = cache
                    .prefetch(tail.profile_arns().iter().map(String::as_str))
                    .await;
                for (arn, e) in &report.failed {
                    eprintln!("warning: profile {arn}: {}", e.brief());
                }
                &cache
            } else {
                &core.profiles
            };
            let rows = price_rows(&tail.rollup.rows, dir, &core.prices, &core.attribution);
            let now = now_millis();
            let text = match a.format {
                Format::Table => render_table(&a.log_group, &tail, &rows, now, &core),
                Format::Json => render_json(&a.log_group, &tail, &rows, now) + "\n",
            };
            if clear {
                print!("\x1b[2J\x1b[H");
            }
            print!("{text}");
            if !a.follow {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::time::sleep(a.interval).await;
        }
    })
}
