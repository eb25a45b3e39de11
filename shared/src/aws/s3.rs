//! [`S3Store`] implements the core's [`ObjectWriter`] port with aws-sdk-s3 `PutObject` (and, for the
//! organisation's fan-in bucket in another account, `PutObject` with `bucket-owner-full-control`), the
//! [`ObjectReader`] port with `GetObject` (batch inference manifests), and (feature
//! `operator`) the operator port `ObjectLister` with `ListObjectsV2`, which `doctor` uses to find the
//! newest delivered log object.

use aws_sdk_s3::primitives::ByteStream;

use crate::ports::objects::{KeyLister, ObjectReader, ObjectWriter};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(config: &aws_config::SdkConfig) -> S3Store {
        // Path-style addressing when an endpoint is configured (a local emulator has no per-bucket
        // host names); the SDK's default (virtual-hosted) otherwise.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(s3),
        }
    }

    /// A store whose requests go to `region` (a bucket in another Region, e.g. the organisation's
    /// fan-in bucket: S3 answers a request sent to the wrong Region with a redirect, not the object).
    pub fn in_region(config: &aws_config::SdkConfig, region: &str) -> S3Store {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .region(aws_sdk_s3::config::Region::new(region.to_string()))
            .force_path_style(config.endpoint_url().is_some())
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

impl ObjectWriter for S3Store {
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", e))?;
        Ok(())
    }

    async fn put_object_for_bucket_owner(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .set_content_encoding(content_encoding.map(str::to_string))
            // Accepted by a bucket with ACLs disabled (BucketOwnerEnforced, the home stack's) and what a
            // bucket policy may require of cross-account writers elsewhere.
            .acl(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", e))?;
        Ok(())
    }
}

impl ObjectReader for S3Store {
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, AwsError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject", e))?;
        let size = out.content_length().unwrap_or(0);
        if u64::try_from(size).unwrap_or(u64::MAX) > max_bytes {
            return Err(AwsError::new(
                "GetObject",
                format!("s3://{bucket}/{key} is {size} bytes, more than the {max_bytes} read"),
            ));
        }
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::new("GetObject", format!("s3://{bucket}/{key}: {e}")))?
            .into_bytes();
        if body.len() as u64 > max_bytes {
            return Err(AwsError::new(
                "GetObject",
                format!("s3://{bucket}/{key} is more than the {max_bytes} bytes read"),
            ));
        }
        Ok(body.to_vec())
    }
}

/// A listing stops after this many pages (1,000 keys each): the organisation rollup lists one day's
/// folder, one object per member account and Region.
pub const MAX_LIST_PAGES: usize = 100;

impl KeyLister for S3Store {
    async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut keys = Vec::new();
        let mut token = None;
        for _ in 0..MAX_LIST_PAGES {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = out.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(keys);
            }
        }
        Err(AwsError::new(
            "ListObjectsV2",
            format!("more than {MAX_LIST_PAGES} pages under s3://{bucket}/{prefix}"),
        ))
    }
}

#[cfg(feature = "operator")]
impl crate::ports::operator::ObjectLister for S3Store {
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
    ) -> Result<crate::ports::operator::ObjectPage, AwsError> {
        use crate::ports::operator::{ObjectEntry, ObjectPage};
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
        Ok(ObjectPage {
            objects: out
                .contents()
                .iter()
                .map(|o| ObjectEntry {
                    key: o.key().unwrap_or_default().to_string(),
                    last_modified: o.last_modified().map_or(0, |t| t.secs()),
                })
                .collect(),
            common_prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string))
                .collect(),
            next_token: out.next_continuation_token().map(str::to_string),
        })
    }
}
