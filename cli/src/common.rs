//! What the commands share: the options of those that price and attribute (price table, profiles,
//! tag keys, metadata dimensions), reading log files into a rollup, the output formats, and for the
//! commands that talk to AWS the SDK configuration, a runtime and durations. The AWS calls themselves
//! are the core's adapters (`bedrock_meter_core::aws`).

use bedrock_meter_core::attribution::resolution::{DEFAULT_APP_TAG, DEFAULT_TEAM_TAG};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bedrock_meter_core::attribution::principal::{PrincipalRule, DEFAULT_KEEP_SESSION_ROLES};
use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::records::logfiles::{find_log_files_and_others, for_each_record_in_file};
use bedrock_meter_core::records::record::Record;

#[derive(clap::Args, Clone, Debug)]
pub struct CoreOpts {
    /// Profiles file (the shape `bedrock-meter profiles export` writes); without it, application-profile
    /// calls are attributed to their profile id with team `unresolved`.
    #[arg(long, env = "BEDROCK_METER_PROFILES")]
    pub profiles: Option<PathBuf>,
    /// Price table file overriding the embedded one (same format as shared/data/prices.json).
    #[arg(long, env = "BEDROCK_METER_PRICES")]
    pub prices: Option<PathBuf>,
    /// Profile tag key that names the app.
    #[arg(long, default_value = DEFAULT_APP_TAG, env = "APP_TAG_KEY")]
    pub app_tag: String,
    /// Profile tag key that names the team.
    #[arg(long, default_value = DEFAULT_TEAM_TAG, env = "TEAM_TAG_KEY")]
    pub team_tag: String,
    /// requestMetadata keys to report as extra dimensions (comma-separated, e.g. tenant,env).
    #[arg(long, value_delimiter = ',', env = "METADATA_KEYS")]
    pub metadata_keys: Vec<String>,
    /// IAM role-name patterns (`*`, `?`) whose assumed-role sessions stay separate callers (the session
    /// is a person); every other assumed-role session counts as its role (docs/callers.md). `none`: all
    /// sessions collapse.
    #[arg(long, default_value = DEFAULT_KEEP_SESSION_ROLES, env = "KEEP_SESSION_ROLES")]
    pub keep_session_roles: String,
}

/// `--format` of the commands that print for people or for programs (`doctor`, `tail`, `smoke`,
/// `replay`, `contain list`). `report` and `rollup-sql --price-rows` add their own formats
/// ([`crate::report::ReportFormat`], [`crate::rollup_sql::PriceRowsFormat`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

pub struct Core {
    pub prices: PriceTable,
    pub profiles: ProfileMap,
    pub attribution: AttributionConfig,
}

impl CoreOpts {
    pub fn load(&self) -> anyhow::Result<Core> {
        let prices = load_prices(self.prices.as_deref())?;
        let profiles = match &self.profiles {
            Some(p) => load_profiles("--profiles", p)?,
            None => ProfileMap::default(),
        };
        let attribution = AttributionConfig {
            app_tag: self.app_tag.clone(),
            team_tag: self.team_tag.clone(),
            metadata_keys: self
                .metadata_keys
                .iter()
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            principal: PrincipalRule::parse(&self.keep_session_roles)?,
        };
        Ok(Core {
            prices,
            profiles,
            attribution,
        })
    }
}

/// A file named by a flag, read whole; the error names the flag and the file.
pub fn read_flag_file(flag: &str, path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::IsADirectory => "is a directory, not a file".to_string(),
            _ => e.to_string(),
        };
        anyhow::anyhow!("{flag} {}: {why}", path.display())
    })
}

/// Why a JSON file could not be used, in one clause: not JSON at all, or JSON of the wrong shape.
fn json_problem(text: &str, e: &serde_json::Error, expected: &str) -> String {
    use serde_json::error::Category;
    if text.trim().is_empty() {
        return format!("the file is empty (expected {expected})");
    }
    match e.classify() {
        Category::Data => format!("not {expected}: {e}"),
        _ => format!("not valid JSON ({e})"),
    }
}

/// The price table of `--prices` (or `BEDROCK_METER_PRICES`), else the embedded one.
pub fn load_prices(path: Option<&Path>) -> anyhow::Result<PriceTable> {
    let Some(path) = path else {
        return Ok(PriceTable::embedded());
    };
    let text = read_flag_file("--prices", path)?;
    PriceTable::from_json(&text).map_err(|e| {
        use bedrock_meter_core::pricing::prices::PriceTableError;
        let why = match &e {
            PriceTableError::Json(j) => json_problem(
                &text,
                j,
                "a price table (the format of shared/data/prices.json)",
            ),
            other => {
                let t = other.to_string();
                t.strip_prefix("price table: ").unwrap_or(&t).to_string()
            }
        };
        anyhow::anyhow!("--prices {}: {why}", path.display())
    })
}

/// A profiles file (the shape `bedrock-meter profiles export` writes), named by `flag`.
pub fn load_profiles(flag: &str, path: &Path) -> anyhow::Result<ProfileMap> {
    let text = read_flag_file(flag, path)?;
    ProfileMap::from_json(&text).map_err(|e| {
        anyhow::anyhow!(
            "{flag} {}: {} (write it with `bedrock-meter profiles export > FILE`)",
            path.display(),
            json_problem(
                &text,
                &e,
                "a profiles file (the shape of `aws bedrock list-inference-profiles`)"
            )
        )
    })
}

/// What [`read_logs`] went through, besides the records.
#[derive(Clone, Debug, Default)]
pub struct ReadSummary {
    /// Log files found (read or not).
    pub files: usize,
    /// Files in the folders that are not log files (by name), e.g. `readme.txt`.
    pub other_files: Vec<PathBuf>,
    /// Files that could not be read at all; each was warned about once (see [`warn_unreadable`]).
    pub unreadable_files: u64,
}

/// The one warning for a file that cannot be read, the same in every command: plain text on stderr.
pub fn warn_unreadable(file: &Path, e: &dyn std::fmt::Display) {
    eprintln!("warning: skipping unreadable file {}: {e}", file.display());
}

/// Reads every log file under `paths` on all cores. Each worker folds records into its own state with
/// `fold(state, result)`; the states are returned for merging. Unreadable files are warned about and
/// counted in the summary (never fatal).
pub fn read_logs<S: Send>(
    paths: &[PathBuf],
    init: impl Fn() -> S + Sync,
    fold: impl Fn(&mut S, Result<Record<'_>, bedrock_meter_core::records::record::RecordError>) + Sync,
) -> anyhow::Result<(Vec<S>, ReadSummary)> {
    let found = find_log_files_and_others(paths)?;
    let files = found.files;
    let bar = progress(files.len() as u64);
    let next = AtomicUsize::new(0);
    let file_errors = AtomicUsize::new(0);
    let states = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    if let Err(e) = for_each_record_in_file(file, |r| fold(&mut state, r)) {
                        file_errors.fetch_add(1, Ordering::Relaxed);
                        match &bar {
                            Some(b) => b.suspend(|| warn_unreadable(file, &e)),
                            None => warn_unreadable(file, &e),
                        }
                    }
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                }
                states.lock().expect("no worker panics").push(state);
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok((
        states.into_inner().expect("no worker panics"),
        ReadSummary {
            files: files.len(),
            other_files: found.other_files,
            unreadable_files: file_errors.into_inner() as u64,
        },
    ))
}

/// A progress bar on stderr, only when stderr is a terminal and the input is long.
fn progress(files: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if files < 20 || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(files);
    b.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}

pub fn ensure_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    if paths.is_empty() {
        anyhow::bail!("name at least one log file or directory");
    }
    for p in paths {
        if !Path::new(p).exists() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(())
}

/// Whether an error is a write to a closed pipe (`bedrock-meter … | head -1`).
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A reader that stops early (`doctor 2>&1 | head -1`) closes the pipe; `print!` then panics on
/// EPIPE (Rust ignores SIGPIPE). For every command: such a panic ends the process quietly with exit
/// code 0, as when the output was read in full; any other panic is reported as before.
pub fn exit_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") || msg.contains("os error 32") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// `90s`, `15m`, `24h`, `2d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 90s, 15m, 24h or 2d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// The standard AWS configuration (environment, profile, SSO…), with an optional Region override.
pub async fn load_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

/// The runtime the AWS commands run their calls on (one thread: they wait on the network).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("m").is_err());
    }
}
