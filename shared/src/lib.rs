//! bedrock-meter core: Bedrock model-invocation log records → attributed, priced usage.
//!
//! A record's path, top-down: decode ([`subscription`], [`logfiles`]) → parse ([`record`]) →
//! resolve ([`model_id`], [`profiles`]) → price ([`prices`]) → aggregate ([`rollup`]) → report
//! ([`report`]) or alert ([`detector`]). Everything but `aws` is pure: no AWS SDK types, no I/O beyond
//! reading local files in `logfiles`.

pub mod alert;
pub mod athena_sql;
pub mod batch;
pub mod chat;
pub mod containment;
pub mod daily_email;
pub mod detector;
pub mod email;
pub mod logfiles;
pub mod metrics;
pub mod model_id;
pub mod money;
pub mod price_list;
pub mod prices;
pub mod principal;
pub mod profiles;
pub mod query_pack;
pub mod reconcile;
pub mod record;
pub mod report;
pub mod report_html;
pub mod rollup;
pub mod scan;
mod simd;
pub mod subscription;
pub mod time;

pub use money::Money;
pub use prices::PriceTable;
pub use record::{Record, RecordError, Tokens};
pub use time::{Date, Timestamp};

#[cfg(feature = "aws")]
pub mod aws;
