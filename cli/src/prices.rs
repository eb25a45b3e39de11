//! `bedrock-meter prices`: refresh the price table from the AWS Price List, and find the models in
//! logs that it cannot price.
//!
//! `update` reads Price List documents given on disk — the output of `aws pricing get-products
//! --service-code AmazonBedrock` / `--service-code AmazonBedrockFoundationModels` (Claude and other
//! Marketplace-listed models), or a bulk offer file — and prints a reviewable diff against the current
//! table. It makes no AWS call itself (no Price List client is linked: see README).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bedrock_meter_core::daily::rollup::{price_rows, Rollup};
use bedrock_meter_core::pricing::price_list;

use crate::common::{ensure_paths, read_logs, CoreOpts};

#[derive(clap::Subcommand, Debug)]
pub enum PricesCommand {
    /// Compare the price table with AWS Price List documents on disk and print the differences
    /// (`=` unchanged, `~` changed old -> new, `?` not in the offer, `+` offer models not in the table).
    Update(UpdateArgs),
    /// List the models seen in log files that the table cannot price; exit 1 when there is any.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Price List documents: `aws pricing get-products --region us-east-1 --service-code AmazonBedrock
    /// [--filters Type=TERM_MATCH,Field=regionCode,Value=us-east-1]` output (also for
    /// AmazonBedrockFoundationModels), or an offer file (`…/offers/v1.0/aws/AmazonBedrock/current/<region>/index.json`).
    #[arg(long = "offer", required = true)]
    pub offers: Vec<PathBuf>,
    /// The Region whose rates the table's regional rates are compared with.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[command(flatten)]
    pub core: CoreOpts,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub core: CoreOpts,
    /// Log files and directories (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(c: PricesCommand) -> anyhow::Result<ExitCode> {
    match c {
        PricesCommand::Update(a) => update(a),
        PricesCommand::Check(a) => check(a),
    }
}

fn update(a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let core = a.core.load()?;
    let mut rates = Vec::new();
    let mut skipped = 0usize;
    for f in &a.offers {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let (r, s) = price_list::parse(&text).with_context(|| format!("{}", f.display()))?;
        rates.extend(r);
        skipped += s.len();
        for why in s {
            tracing::debug!(file = %f.display(), "skipped: {why}");
        }
    }
    let (_, changes) = price_list::update(&core.prices, &rates, &a.region);
    println!(
        "Price table as of {} vs the Price List ({} on-demand token rates read, {} other rows skipped; region {})",
        core.prices.as_of,
        rates.len(),
        skipped,
        a.region
    );
    print!("{}", price_list::diff(&changes));
    Ok(ExitCode::SUCCESS)
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    ensure_paths(&a.paths)?;
    let core = a.core.load()?;
    let (rollups, _) = read_logs(&a.paths, Rollup::default, |rollup, rec| {
        if let Ok(r) = rec {
            rollup.add_record(&r, &core.attribution, &core.prices);
        }
    })?;
    let mut rollup = Rollup::default();
    for r in rollups {
        rollup.merge(r);
    }
    let rows = price_rows(
        &rollup.rows,
        &core.profiles,
        &core.prices,
        &core.attribution,
    );
    let report =
        bedrock_meter_core::daily::report::Report::build(&rows, None, core.prices.as_of, &[], 0);
    if report.unpriced.is_empty() {
        println!(
            "every model in the logs has a price (table as of {}; {} requests)",
            core.prices.as_of, report.totals.requests
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} models in the logs cannot be priced (table as of {}): reported as unpriced, never $0",
        report.unpriced.len(),
        core.prices.as_of
    );
    for u in &report.unpriced {
        println!(
            "  {} — {}: {} requests, {} input / {} output tokens",
            u.model_id, u.reason, u.requests, u.input_tokens, u.output_tokens
        );
    }
    println!("Add them to the price table (README, The price table) or pass --prices FILE.");
    Ok(ExitCode::from(1))
}
