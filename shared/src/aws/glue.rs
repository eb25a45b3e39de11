//! [`GlueCatalog`] implements the operator port [`Catalog`] with aws-sdk-glue `GetTable` (feature
//! `operator`: `doctor` checks the invocation-log table the daily path queries exists).

use crate::ports::operator::Catalog;
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
}

impl GlueCatalog {
    pub fn new(config: &aws_config::SdkConfig) -> GlueCatalog {
        GlueCatalog {
            client: aws_sdk_glue::Client::new(config),
        }
    }
}

impl Catalog for GlueCatalog {
    async fn table_exists(&self, database: &str, table: &str) -> Result<bool, AwsError> {
        match self
            .client
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("GetTable", e);
                if e.code.as_deref() == Some("EntityNotFoundException") {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}
