//! The object port: [`ObjectWriter`] writes small objects to a bucket (S3 in `aws::s3`). The daily
//! rollup writes the day's application-profile snapshot with it (`daily::profile_snapshot::snapshot_key`),
//! which the Athena query pack reads through the stack's profiles table, and the teams' HTML pages.

use std::future::Future;

use super::AwsError;

pub trait ObjectWriter {
    /// Writes (or replaces) one object.
    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}
