//! [`S3Store`] implements the core's [`ObjectWriter`] port with aws-sdk-s3 `PutObject`.

use aws_sdk_s3::primitives::ByteStream;

use crate::ports::objects::ObjectWriter;
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
}
