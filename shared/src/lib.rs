//! bedrock-meter core: Bedrock model-invocation log records → attributed, priced usage, live alerts
//! and daily reports. The folders are the concerns, in the order a record meets them:
//!
//! - [`records`] — records in: subscription events, log files on disk, the record parser;
//! - [`attribution`] — who a call belongs to: model ids, inference profiles and their tags, callers;
//! - [`pricing`] — what a call costs: the price table, money, AWS Price List input;
//! - [`live`] — the live path: one batch through parse → resolve → price → aggregate, metrics, the
//!   runaway detector, alerts, containment;
//! - [`daily`] — the daily path: rollup, Athena SQL and the query pack, reports, emails, the bill;
//! - [`ports`] — the traits the core reaches AWS through and [`ports::AwsError`], with the pure logic
//!   around them (profile cache, metric batching, query polling); the detector's and containment's
//!   stores are ports too, kept beside their component;
//! - `aws` (feature `aws`) — the adapters: each port implemented with its aws-sdk crate, one file per
//!   adapter, for the Lambdas and the CLI alike.
//!
//! Beside them: [`time`] (UTC timestamps and dates), [`settings`] (reading the environment) and
//! [`text`] (thousands separators, cutting, ASCII folding).
//!
//! Everything but `aws` is pure: no AWS SDK types, no I/O beyond reading local files in
//! [`records::logfiles`].

pub mod attribution;
pub mod daily;
pub mod live;
pub mod ports;
pub mod pricing;
pub mod records;
pub mod settings;
pub mod text;
pub mod time;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(test)]
mod test_support {
    /// Runs a future to completion on a current-thread runtime (the ports' loops, the detector's
    /// store calls).
    pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime")
            .block_on(f)
    }

    /// The tests' pseudo-random numbers (xorshift64): the same sequence from the same seed, every
    /// run and every target.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number below `n`.
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}
