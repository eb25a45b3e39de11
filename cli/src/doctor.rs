//! (being written)

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {}

pub fn run(_a: DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
