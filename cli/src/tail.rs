//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TailArgs {}

pub fn run(_a: TailArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
