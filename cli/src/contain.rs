//! `bedrock-meter contain list | lift`: the runaway denies that containment put (inline IAM policies
//! named `BedrockMeterContain-…` on roles and users), and lifting one by hand.

use std::process::ExitCode;

use crate::common::Format;
use anyhow::Context;
use bedrock_meter_core::aws::iam::IamClient;
use bedrock_meter_core::live::containment::{
    profile_key, profile_key_of, read_document, IamPolicies, IamPrincipal, POLICY_PREFIX,
};
use bedrock_meter_core::time::Timestamp;

/// IAM calls in flight at once when listing (IAM's control plane throttles bursts).
const CONCURRENCY: usize = 8;

#[derive(clap::Subcommand, Debug)]
pub enum ContainCommand {
    /// List the containment denies in force or expired but not yet removed (every role and user, or
    /// the `--principal`s given).
    List {
        /// Only these principals: `role/NAME`, `user/NAME` or a caller ARN (repeatable).
        #[arg(long = "principal")]
        principals: Vec<String>,
        /// table (two lines per policy) or json (one object per policy and line).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Region (IAM is global; this only picks the endpoint configuration).
        #[arg(long)]
        region: Option<String>,
    },
    /// Remove the deny on PRINCIPAL for PROFILE now (it would expire by itself at its `until`).
    Lift {
        /// `role/NAME`, `user/NAME`, or the caller ARN from the alert.
        principal: String,
        /// The application profile ARN or id from the alert, or `unattributed`.
        profile: String,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Region (IAM is global; this only picks the endpoint configuration).
        #[arg(long)]
        region: Option<String>,
    },
}

fn principal_arg(text: &str) -> anyhow::Result<IamPrincipal> {
    IamPrincipal::parse(text).with_context(|| {
        format!("{text:?} is not role/NAME, user/NAME or an IAM role, user or assumed-role ARN")
    })
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

pub fn run(cmd: ContainCommand) -> anyhow::Result<ExitCode> {
    let region = match &cmd {
        ContainCommand::List { region, .. } | ContainCommand::Lift { region, .. } => region.clone(),
    };
    // Check the arguments before any AWS call.
    if let ContainCommand::Lift { principal, .. } = &cmd {
        principal_arg(principal)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = crate::common::load_config(region.as_deref()).await;
        let iam = IamClient::new(&config);
        match cmd {
            ContainCommand::List {
                principals, format, ..
            } => list(&iam, &principals, format).await,
            ContainCommand::Lift {
                principal,
                profile,
                dry_run,
                ..
            } => lift(&iam, &principal_arg(&principal)?, &profile, dry_run).await,
        }
    })
}

/// Removes the denies on `principal` for `profile`: every `BedrockMeterContain-…` policy whose
/// profile part is the profile's (whichever stack and Region put it; and a name from before names
/// carried them).
async fn lift<I: IamPolicies>(
    iam: &I,
    principal: &IamPrincipal,
    profile: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let key = profile_key(profile);
    let names: Vec<String> = iam
        .policy_names(principal)
        .await?
        .into_iter()
        .filter(|n| profile_key_of(n) == Some(key.as_str()))
        .collect();
    if names.is_empty() {
        eprintln!("no containment policy for {key} on {principal}: nothing to lift");
        return Ok(ExitCode::from(1));
    }
    if dry_run {
        for name in &names {
            println!("would remove {name} from {principal} (dry run: nothing changed)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut removed = 0;
    for name in &names {
        if iam.delete_policy(principal, name).await? {
            println!("lifted: removed {name} from {principal}");
            removed += 1;
        }
    }
    if removed == 0 {
        eprintln!("no containment policy for {key} on {principal}: nothing to lift");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list<I: IamPolicies>(
    iam: &I,
    only: &[String],
    format: Format,
) -> anyhow::Result<ExitCode> {
    let principals: Vec<IamPrincipal> = if only.is_empty() {
        iam.principals().await?
    } else {
        only.iter()
            .map(|p| principal_arg(p))
            .collect::<anyhow::Result<_>>()?
    };
    // Names per principal, then the documents of ours, each CONCURRENCY at a time.
    let mut found: Vec<(IamPrincipal, String)> = Vec::new();
    for chunk in principals.chunks(CONCURRENCY) {
        let names = futures_util::future::join_all(chunk.iter().map(|p| iam.policy_names(p))).await;
        for (p, n) in chunk.iter().zip(names) {
            for name in n? {
                if name.starts_with(POLICY_PREFIX) {
                    found.push((p.clone(), name));
                }
            }
        }
    }
    let mut rows = Vec::new();
    for chunk in found.chunks(CONCURRENCY) {
        let docs =
            futures_util::future::join_all(chunk.iter().map(|(p, n)| iam.policy_document(p, n)))
                .await;
        for ((p, n), d) in chunk.iter().zip(docs) {
            if let Some(stored) = d?.as_deref().and_then(read_document) {
                rows.push((p.clone(), n.clone(), stored));
            }
        }
    }
    let now = Timestamp::now();
    for (p, name, s) in &rows {
        let key = profile_key_of(name).unwrap_or(name);
        let lift = format!("bedrock-meter contain lift {} {key}", p.label());
        let active = s.until.is_some_and(|u| u > now);
        let until = s.until.map_or_else(|| "-".to_string(), |u| u.to_string());
        match format {
            Format::Json => println!(
                "{{\"principal\":{},\"policy\":{},\"until\":{},\"active\":{active},\"resources\":[{}],\"lift\":{}}}",
                json_str(&p.label()),
                json_str(name),
                s.until.map_or_else(|| "null".into(), |u| json_str(&u.to_string())),
                s.resources.iter().map(|r| json_str(r)).collect::<Vec<_>>().join(","),
                json_str(&lift)
            ),
            Format::Table => println!(
                "{}  {}  until {} ({})  {}\n    lift: {lift}",
                p.label(),
                name,
                until,
                if active { "active" } else { "expired, no longer denies" },
                s.resources.join(", ")
            ),
        }
    }
    eprintln!(
        "{} containment polic{} on {} principal{}",
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" },
        principals.len(),
        if principals.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
