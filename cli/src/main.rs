//! `bedrock-meter`, the command line: this file only parses the arguments and dispatches to one module
//! per subcommand (shared options, formats and the AWS set-up in `common`). `report`, `replay`, `demo`,
//! `rollup-sql`, `event` and `prices` run the core on files on disk (no AWS account needed); `profiles`,
//! `doctor`, `tail`, `smoke` and `contain` call AWS through the core's ports and adapters
//! (`bedrock_meter_core::aws`), with the standard AWS configuration (environment, profile, SSO).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod common;
mod contain;
mod demo;
mod doctor;
mod event;
mod fanin;
mod prices;
mod profiles;
mod replay;
mod report;
mod rollup_sql;
mod smoke;
mod tail;

#[derive(Parser)]
#[command(
    name = "bedrock-meter",
    version,
    about = "Who spends what on Amazon Bedrock: cost reports, runaway-loop alerts, attribution"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Daily cost report over invocation-log files (the S3 layout Bedrock writes, .json.gz/.json/.jsonl).
    Report(report::ReportArgs),
    /// Backtest the runaway detector over log files: print every alert it would have sent.
    Replay(replay::ReplayArgs),
    /// Write realistic sample logs (several teams and apps, direct callers, agents, an overnight loop).
    Demo(demo::DemoArgs),
    /// Print the Athena (Trino) SQL the daily Lambda runs for a day.
    RollupSql(rollup_sql::RollupSqlArgs),
    /// Application inference profiles: export to the file `--profiles` reads, or create one.
    Profiles {
        #[command(subcommand)]
        command: profiles::ProfilesCommand,
    },
    /// Check every link of the chain in this account and Region, with the fix for each failure.
    Doctor(doctor::DoctorArgs),
    /// Live table per app/team/caller from the invocation log group.
    Tail(tail::TailArgs),
    /// Send one tiny request through each application profile and show it attributed and priced.
    Smoke(smoke::SmokeArgs),
    /// The price table: compare it with the AWS Price List (`update`), or list unpriced models in logs (`check`).
    Prices {
        #[command(subcommand)]
        command: prices::PricesCommand,
    },
    /// Runaway containment denies (IAM inline policies): list them, or lift one now.
    Contain {
        #[command(subcommand)]
        command: contain::ContainCommand,
    },
    /// Build a CloudWatch Logs subscription event (for `cargo lambda invoke` and tests) from log records.
    Event(event::EventArgs),
}

fn main() -> ExitCode {
    common::exit_quietly_on_closed_pipe();
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BEDROCK_METER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Report(a) => report::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Demo(a) => demo::run(a),
        Command::RollupSql(a) => rollup_sql::run(a),
        Command::Profiles { command } => profiles::run(command),
        Command::Event(a) => event::run(a),
        Command::Contain { command } => contain::run(command),
        Command::Prices { command } => prices::run(command),
        Command::Doctor(a) => doctor::run(a),
        Command::Tail(a) => tail::run(a),
        Command::Smoke(a) => smoke::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if common::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "bedrock-meter: {e:#}");
            ExitCode::from(2)
        }
    }
}
