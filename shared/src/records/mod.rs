//! Records in: a CloudWatch Logs subscription event ([`subscription`]) or a log file in the S3 layout
//! Bedrock writes ([`logfiles`]) → the invocation-log [`record::Record`], read from the escaped JSON
//! in place ([`scan`], with [`simd`] block scans).

pub(crate) mod fast;
pub mod logfiles;
pub mod record;
pub mod scan;
pub(crate) mod simd;
pub mod subscription;
