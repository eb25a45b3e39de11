//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SmokeArgs {}

pub fn run(_a: SmokeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
