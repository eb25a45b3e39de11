//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {}

pub fn run(_a: ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
