//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct RollupSqlArgs {}

pub fn run(_a: RollupSqlArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
