//! Options shared by the commands that price and attribute: price table, profiles, tag keys,
//! metadata dimensions; and reading log files into a rollup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use bedrock_meter::logfiles::{find_log_files, for_each_record_in_file};
use bedrock_meter::profiles::ProfileMap;
use bedrock_meter::record::Record;
use bedrock_meter::rollup::AttributionConfig;
use bedrock_meter::PriceTable;

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
    #[arg(long, default_value = "app", env = "APP_TAG_KEY")]
    pub app_tag: String,
    /// Profile tag key that names the team.
    #[arg(long, default_value = "team", env = "TEAM_TAG_KEY")]
    pub team_tag: String,
    /// requestMetadata keys to report as extra dimensions (comma-separated, e.g. tenant,env).
    #[arg(long, value_delimiter = ',', env = "METADATA_KEYS")]
    pub metadata_keys: Vec<String>,
}

pub struct Core {
    pub prices: PriceTable,
    pub profiles: ProfileMap,
    pub attribution: AttributionConfig,
}

impl CoreOpts {
    pub fn load(&self) -> anyhow::Result<Core> {
        let prices = match &self.prices {
            Some(p) => PriceTable::from_json(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("price table {}", p.display()))?,
            None => PriceTable::embedded(),
        };
        let profiles = match &self.profiles {
            Some(p) => ProfileMap::from_json(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("profiles file {} (expected the shape of `aws bedrock list-inference-profiles`)", p.display()))?,
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
        };
        Ok(Core {
            prices,
            profiles,
            attribution,
        })
    }
}

/// Reads every log file under `paths` on all cores. Each worker folds records into its own state with
/// `fold(state, result)`; the states are returned for merging. Unreadable files are counted in
/// `file_errors` (reported, never fatal).
pub fn read_logs<S: Send>(
    paths: &[PathBuf],
    init: impl Fn() -> S + Sync,
    fold: impl Fn(&mut S, Result<Record<'_>, bedrock_meter::RecordError>) + Sync,
) -> anyhow::Result<(Vec<S>, usize)> {
    let files = find_log_files(paths)?;
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
                        tracing::warn!(file = %file.display(), error = %e, "unreadable log file");
                        eprintln!("warning: {}: {e}", file.display());
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
        file_errors.into_inner(),
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
