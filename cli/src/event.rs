//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EventArgs {}

pub fn run(_a: EventArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
