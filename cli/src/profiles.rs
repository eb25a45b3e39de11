//! `bedrock-meter profiles export|create`: application inference profiles read from or created in
//! Bedrock (the account and Region of the standard AWS configuration: environment, profile, SSO…).

use bedrock_meter_core::attribution::resolution::{DEFAULT_APP_TAG, DEFAULT_TEAM_TAG};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bedrock_meter_core::attribution::model_id::{classify, ModelRef};
use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::ports::profiles::ProfileSource;

#[derive(clap::Subcommand, Debug)]
pub enum ProfilesCommand {
    /// Print every application inference profile with its tags, as the file `--profiles` reads
    /// (ListInferenceProfiles typeEquals=APPLICATION, paged; ListTagsForResource per profile).
    Export {
        /// Region of the profiles (default: the standard AWS configuration's).
        #[arg(long)]
        region: Option<String>,
        /// Write the file here (only once the export succeeded; a failure leaves no file) instead of
        /// printing it.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create an application inference profile tagged for attribution.
    Create {
        /// Region to create it in (default: the standard AWS configuration's).
        #[arg(long)]
        region: Option<String>,
        /// Profile name (letters, digits, spaces, `_` and `-`; at most 64).
        #[arg(long)]
        name: String,
        /// Value of the `app` tag.
        #[arg(long)]
        app: String,
        /// Value of the `team` tag.
        #[arg(long)]
        team: String,
        /// Foundation-model ARN or system inference-profile ARN to copy from.
        #[arg(long = "from")]
        from: String,
        /// Extra tags as key=value (e.g. meter:max-cost-usd=25).
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Tag key for the app (the key `report --app-tag` and the Lambdas' APP_TAG_KEY read).
        #[arg(long, default_value = DEFAULT_APP_TAG)]
        app_tag: String,
        /// Tag key for the team (the key `report --team-tag` and the Lambdas' TEAM_TAG_KEY read).
        #[arg(long, default_value = DEFAULT_TEAM_TAG)]
        team_tag: String,
    },
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?}: expected key=value"))
}

/// Checks a name against `^([0-9a-zA-Z][ _-]?)+$`, at most 64 characters.
pub fn valid_profile_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 64 || !b[0].is_ascii_alphanumeric() {
        return false;
    }
    b.windows(2).all(|w| {
        w[1].is_ascii_alphanumeric()
            || (matches!(w[1], b' ' | b'_' | b'-') && w[0].is_ascii_alphanumeric())
    })
}

pub fn run(cmd: ProfilesCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let region = match &cmd {
        ProfilesCommand::Export { region, .. } | ProfilesCommand::Create { region, .. } => {
            region.clone()
        }
    };
    rt.block_on(async {
        let config = crate::common::load_config(region.as_deref()).await;
        let bedrock = BedrockProfiles::new(&config);
        match cmd {
            ProfilesCommand::Export { output, .. } => {
                // Nothing is written anywhere until every page and tag has been read.
                let profiles = bedrock.list_application_profiles().await.context("listing application inference profiles")?;
                let json = ProfileMap::new(profiles).to_json() + "\n";
                match output {
                    Some(path) => write_whole(&path, &json)?,
                    None => {
                        use std::io::Write as _;
                        std::io::stdout().write_all(json.as_bytes())?;
                    }
                }
            }
            ProfilesCommand::Create { name, app, team, from, tags, app_tag, team_tag, .. } => {
                if !valid_profile_name(&name) {
                    anyhow::bail!("{name:?} is not a valid profile name (letters and digits, single spaces, '_' or '-' between them; at most 64)");
                }
                if !from.starts_with("arn:") || !matches!(classify(&from), ModelRef::Base { .. } | ModelRef::SystemProfile { .. }) {
                    anyhow::bail!("--from must be a foundation-model ARN or a system inference-profile ARN, got {from:?}");
                }
                let mut all = vec![(app_tag, app), (team_tag, team)];
                all.extend(tags);
                let arn = bedrock.create_application_profile(&name, &from, &all).await.context("creating the profile")?;
                println!("{arn}");
                eprintln!("Created. Point the app's modelId at this ARN; its calls are then attributed by these tags.");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes a file whole or not at all: a temporary file beside it, renamed over it.
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("--output {}: not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::anyhow!("--output {}: {e}", path.display())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        for ok in ["ops-agent", "a", "Fraud Risk_v2", "x1-y2"] {
            assert!(valid_profile_name(ok), "{ok}");
        }
        for bad in ["", "-x", "a--b", "a  b", "é", &"a".repeat(65)] {
            assert!(!valid_profile_name(bad), "{bad}");
        }
        assert!(
            valid_profile_name("a-"),
            "a trailing separator matches the documented pattern"
        );
    }
}
