//! `bedrock-meter smoke`: one minimal Converse request (a short prompt, `maxTokens` small) through each
//! application inference profile, then waits for each call's record in the invocation log group and
//! shows it attributed (app, team from the profile's tags) and priced — or says exactly why not:
//! access denied, model not enabled, no log record after N seconds, untagged profile, no price.

use bedrock_meter_core::attribution::resolution::{DEFAULT_APP_TAG, DEFAULT_TEAM_TAG};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bedrock_meter_core::attribution::profiles::{Profile, ProfileMap};
use bedrock_meter_core::attribution::resolution::{UNRESOLVED, UNTAGGED};
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::logging::BedrockLogging;
use bedrock_meter_core::aws::logs::LogsClient;
use bedrock_meter_core::aws::runtime::RuntimeClient;
use bedrock_meter_core::daily::report::table;
use bedrock_meter_core::daily::rollup::{price_rows, Rollup};
use bedrock_meter_core::ports::logging::{LoggingApi, LoggingConfig};
use bedrock_meter_core::ports::operator::{read_events, ConverseOutcome, LogGroups, Runtime};
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::text::thousands;
use bedrock_meter_core::time::now_millis;
use serde::Serialize;

use crate::common::{parse_duration, Core, CoreOpts, Format};
use crate::doctor::DEFAULT_LOG_GROUP;

#[derive(clap::Args, Debug)]
pub struct SmokeArgs {
    /// `live` (ListInferenceProfiles + tags in this account and Region) or a profiles file (the shape
    /// `bedrock-meter profiles export` writes).
    #[arg(long = "profiles", default_value = "live")]
    pub source: String,
    /// Only these profiles (name, id or ARN; repeatable).
    #[arg(long)]
    pub only: Vec<String>,
    /// The invocation log group to find the records in.
    #[arg(long, default_value = DEFAULT_LOG_GROUP, env = "LOG_GROUP_NAME")]
    pub log_group: String,
    /// Region of the profiles and the log group (default: the standard AWS configuration's).
    #[arg(long)]
    pub region: Option<String>,
    /// The prompt sent (keep it tiny: it is billed).
    #[arg(long, default_value = "Reply with the single word OK.")]
    pub prompt: String,
    /// Most output tokens per request (keep it tiny: it is billed).
    #[arg(long, default_value_t = 8)]
    pub max_tokens: i32,
    /// How long to wait for the log records.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub wait: Duration,
    /// How often to look for them.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub poll: Duration,
    /// table (one line per profile) or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Price table file overriding the embedded one (same format as shared/data/prices.json).
    #[arg(long, env = "BEDROCK_METER_PRICES")]
    pub prices: Option<std::path::PathBuf>,
    /// Profile tag key that names the app.
    #[arg(long, default_value = DEFAULT_APP_TAG, env = "APP_TAG_KEY")]
    pub app_tag: String,
    /// Profile tag key that names the team.
    #[arg(long, default_value = DEFAULT_TEAM_TAG, env = "TEAM_TAG_KEY")]
    pub team_tag: String,
}

/// What happened to one profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProfileOutcome {
    pub profile: String,
    pub arn: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Estimated cost, USD with 9 decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<String>,
    /// Why it failed, with the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ProfileOutcome {
    fn new(p: &Profile) -> ProfileOutcome {
        ProfileOutcome {
            profile: p.name.clone(),
            arn: p.arn.clone(),
            ok: false,
            request_id: None,
            app: None,
            team: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            problem: None,
        }
    }
}

/// A Converse failure in words, with the fix.
pub fn explain_converse_error(e: &AwsError, p: &Profile) -> String {
    let code = e.code.as_deref().unwrap_or("");
    let msg = e.message.to_ascii_lowercase();
    let models: Vec<&str> = p.model_arns.iter().map(String::as_str).collect();
    if msg.contains("access to the model")
        || msg.contains("not enabled")
        || msg.contains("model access")
    {
        format!(
            "model not enabled: {code} (enable model access in the Bedrock console for {} in every Region the profile routes to)",
            p.base_model().unwrap_or_else(|| "its model".into())
        )
    } else if code == "AccessDeniedException" {
        format!(
            "access denied: {code} (allow bedrock:InvokeModel on {} and {})",
            p.arn,
            models.join(", ")
        )
    } else if code == "ResourceNotFoundException" {
        format!("not found: {code} (the profile or its model does not exist in this Region)")
    } else if code == "ThrottlingException" || code == "ServiceQuotaExceededException" {
        format!("throttled: {code} (try again later, or ask for a higher quota)")
    } else {
        e.brief()
    }
}

/// Checks, before anything is billed, that a record of a call would reach the log group: the group
/// exists and invocation logging delivers to it. `Err` is the reason no call is worth sending;
/// `Ok` carries warnings (e.g. the logging configuration could not be read).
pub async fn check_chain<L: LogGroups, B: LoggingApi>(
    logs: &L,
    logging: &B,
    group: &str,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    match logs.log_group_exists(group).await {
        Err(e) => return Err(format!("could not check the log group {group}: {}", e.brief())),
        Ok(false) => {
            return Err(format!(
                "the log group {group} does not exist in this Region: deploy the stack (sam deploy), or pass --log-group naming the group invocation logging writes to (bedrock-meter doctor)"
            ))
        }
        Ok(true) => {}
    }
    // A configuration that names no log group and no bucket logs nothing: not configured.
    match logging
        .get()
        .await
        .map(|c| c.filter(LoggingConfig::delivers))
    {
        Err(e) => warnings.push(format!(
            "could not read the invocation logging configuration ({e}); sending anyway"
        )),
        Ok(None) => {
            return Err(
                "Bedrock invocation logging is not configured in this Region: no call would be logged (bedrock-meter doctor)"
                    .into(),
            )
        }
        Ok(Some(cfg)) => match cfg.log_group() {
            Some(g) if g == group => {}
            Some(g) => {
                return Err(format!(
                    "invocation logging writes to the log group {g}, not {group}: pass --log-group {g}, or fix logging (bedrock-meter doctor)"
                ))
            }
            None => {
                return Err(format!(
                    "invocation logging has no CloudWatch Logs delivery: no record would reach {group} (bedrock-meter doctor)"
                ))
            }
        },
    }
    Ok(warnings)
}

/// A profile whose call could not be attributed and priced whatever happens: why, else `None`.
pub fn unresolvable(p: &Profile) -> Option<String> {
    p.base_model().is_none().then(|| {
        "not sent: the profile names no foundation model (its models[] is empty), so its calls cannot be priced".to_string()
    })
}

/// Sends the requests; failures are recorded in the outcomes.
pub async fn invoke_all<R: Runtime>(
    rt: &R,
    profiles: &[Profile],
    prompt: &str,
    max_tokens: i32,
) -> Vec<(ProfileOutcome, Option<ConverseOutcome>)> {
    let mut out = Vec::new();
    for p in profiles {
        let mut o = ProfileOutcome::new(p);
        match rt.converse(&p.arn, prompt, max_tokens).await {
            Ok(c) => {
                o.request_id = c.request_id.clone();
                out.push((o, Some(c)));
            }
            Err(e) => {
                o.problem = Some(explain_converse_error(&e, p));
                out.push((o, None));
            }
        }
    }
    out
}

/// Waits for the record of each successful call and fills in attribution and cost.
pub async fn await_records<L: LogGroups>(
    logs: &L,
    group: &str,
    start_ms: i64,
    calls: &mut [(ProfileOutcome, Option<ConverseOutcome>)],
    core: &Core,
    wait: Duration,
    poll: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let (events, _) = read_events(logs, group, start_ms, 1_000_000)
            .await
            .map_err(|e| anyhow::anyhow!(e.brief()))?;
        for (o, call) in calls.iter_mut() {
            if call.is_none() || o.ok || o.app.is_some() {
                continue;
            }
            let found = events.iter().find_map(|e| {
                let r = bedrock_meter_core::records::record::parse(&e.message).ok()?;
                let matches = match (&o.request_id, &r.request_id) {
                    (Some(want), Some(got)) => want == got.as_ref(),
                    (None, _) => r.model_id == o.arn.as_str(),
                    _ => false,
                };
                if !matches {
                    return None;
                }
                let mut rollup = Rollup::default();
                rollup.add_record(&r, &core.attribution, &core.prices);
                Some(rollup)
            });
            if let Some(rollup) = found {
                let rows = price_rows(
                    &rollup.rows,
                    &core.profiles,
                    &core.prices,
                    &core.attribution,
                );
                let row = &rows[0];
                o.app = Some(row.resolution.app.clone());
                o.team = Some(row.resolution.team.clone());
                o.model = Some(row.resolution.model.clone());
                o.input_tokens = Some(row.usage.tokens.input);
                o.output_tokens = Some(row.usage.tokens.output);
                match &row.cost {
                    Ok(c) => o.cost_usd = Some(c.to_decimal_string(9)),
                    Err(why) => {
                        o.problem = Some(format!(
                        "logged and attributed, but unpriced ({why:?}): add {} to the price table",
                        row.resolution.model
                    ))
                    }
                }
                let team = row.resolution.team.as_str();
                if team == UNTAGGED || team == UNRESOLVED {
                    o.problem = Some(format!(
                        "logged, but attributed to team {team}: tag the profile with {} and {}",
                        core.attribution.app_tag, core.attribution.team_tag
                    ));
                }
                o.ok = o.problem.is_none();
            }
        }
        let waiting = calls.iter().any(|(o, c)| c.is_some() && o.app.is_none());
        if !waiting || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    for (o, c) in calls.iter_mut() {
        if c.is_some() && o.app.is_none() {
            o.problem = Some(format!(
                "no log record after {} s in {group}: check invocation logging (bedrock-meter doctor)",
                wait.as_secs()
            ));
        }
    }
    Ok(())
}

pub fn render_table(outcomes: &[ProfileOutcome]) -> String {
    let rows: Vec<[String; 8]> = outcomes
        .iter()
        .map(|o| {
            [
                if o.ok { "ok" } else { "FAILED" }.to_string(),
                o.profile.clone(),
                o.app.clone().unwrap_or_default(),
                o.team.clone().unwrap_or_default(),
                o.model.clone().unwrap_or_default(),
                o.input_tokens.map(thousands).unwrap_or_default(),
                o.output_tokens.map(thousands).unwrap_or_default(),
                o.cost_usd
                    .as_deref()
                    .map(|c| format!("${c}"))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "result",
            "profile",
            "app",
            "team",
            "model",
            "input",
            "output",
            "est. cost",
        ],
        &rows,
        5,
    );
    for o in outcomes.iter().filter(|o| o.problem.is_some()) {
        out.push_str(&format!(
            "\n{}: {}",
            o.profile,
            o.problem.as_deref().unwrap_or_default()
        ));
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    out.push_str(&format!(
        "\n{}\n",
        if failed == 0 {
            format!("All {} profiles attributed and priced.", outcomes.len())
        } else {
            format!("{failed} of {} profiles failed.", outcomes.len())
        }
    ));
    out
}

fn select(profiles: Vec<Profile>, only: &[String]) -> Vec<Profile> {
    if only.is_empty() {
        return profiles;
    }
    profiles
        .into_iter()
        .filter(|p| {
            only.iter()
                .any(|o| *o == p.name || *o == p.id || *o == p.arn)
        })
        .collect()
}

pub fn run(a: SmokeArgs) -> anyhow::Result<ExitCode> {
    let opts = CoreOpts {
        profiles: None,
        prices: a.prices.clone(),
        app_tag: a.app_tag.clone(),
        team_tag: a.team_tag.clone(),
        metadata_keys: Vec::new(),
        keep_session_roles: bedrock_meter_core::attribution::principal::DEFAULT_KEEP_SESSION_ROLES
            .into(),
    };
    let mut core = opts.load()?;
    crate::common::runtime()?.block_on(async {
        let config = crate::common::load_config(a.region.as_deref()).await;
        let logs = LogsClient::new(&config);
        let profiles = if a.source == "live" {
            BedrockProfiles::new(&config)
                .list_application_profiles()
                .await
                .map_err(|e| anyhow::anyhow!("listing application inference profiles: {}", e.brief()))?
        } else {
            crate::common::load_profiles("--profiles", std::path::Path::new(&a.source))?
                .profiles()
                .into_iter()
                .cloned()
                .collect()
        };
        let profiles = select(profiles, &a.only);
        if profiles.is_empty() {
            anyhow::bail!("no application inference profiles to test (create one with `bedrock-meter profiles create`)");
        }
        core.profiles = ProfileMap::new(profiles.iter().cloned());
        // Nothing is billed before the chain that would show the calls is known to be there.
        let blocked: Option<String> = match check_chain(&logs, &BedrockLogging::from_conf(&config), &a.log_group).await {
            Ok(warnings) => {
                for w in warnings {
                    eprintln!("warning: {w}");
                }
                None
            }
            Err(why) => Some(format!("not sent: {why}")),
        };
        let (to_send, mut not_sent): (Vec<Profile>, Vec<ProfileOutcome>) = {
            let mut send = Vec::new();
            let mut skip = Vec::new();
            for p in profiles {
                match blocked.clone().or_else(|| unresolvable(&p)) {
                    Some(why) => {
                        let mut o = ProfileOutcome::new(&p);
                        o.problem = Some(why);
                        skip.push(o);
                    }
                    None => send.push(p),
                }
            }
            (send, skip)
        };
        let profiles = to_send;
        // Records carry the time of the call; allow for clock skew.
        let start_ms = now_millis() - 60_000;
        let mut calls = Vec::new();
        if !profiles.is_empty() {
            eprintln!("Sending one request through each of {} profiles…", profiles.len());
            calls = invoke_all(&RuntimeClient::new(&config), &profiles, &a.prompt, a.max_tokens).await;
        }
        if calls.iter().any(|(_, c)| c.is_some()) {
            eprintln!("Waiting up to {} s for the log records in {}…", a.wait.as_secs(), a.log_group);
            await_records(&logs, &a.log_group, start_ms, &mut calls, &core, a.wait, a.poll).await?;
        }
        let mut outcomes: Vec<ProfileOutcome> = calls.into_iter().map(|(o, _)| o).collect();
        outcomes.append(&mut not_sent);
        match a.format {
            Format::Table => print!("{}", render_table(&outcomes)),
            Format::Json => println!("{}", serde_json::json!({ "ok": outcomes.iter().all(|o| o.ok), "profiles": outcomes })),
        }
        Ok(if outcomes.iter().all(|o| o.ok) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
