//! The object port: [`ObjectWriter`] writes small objects to a bucket (S3 in `aws::s3`). The daily
//! rollup writes the day's application-profile snapshot with it (`daily::profile_snapshot::snapshot_key`),
//! which the Athena query pack reads through the stack's profiles table, the teams' HTML pages, and the
//! day's fan-in object in the organisation's bucket.

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

    /// Writes (or replaces) one object in a bucket another account owns (the organisation's fan-in
    /// bucket), handing it to the bucket owner (S3's `bucket-owner-full-control`), with its content
    /// encoding (e.g. `gzip`).
    fn put_object_for_bucket_owner(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Lists object keys (S3 `ListObjectsV2`, every page): the organisation rollup finds which members
/// wrote their fan-in object of a day.
pub trait KeyLister {
    /// Every key under `prefix` in `bucket`.
    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// Reads one small object whole (S3 `GetObject`): a batch inference job's `manifest.json.out`
/// (`daily::batch`). An object larger than `max_bytes` is an error, never read: the caller knows the
/// size of what it reads.
pub trait ObjectReader {
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
}
