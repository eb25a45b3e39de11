//! [`ContainmentLedger`] in the detector's DynamoDB table (`STATE_TABLE`): one item per incident that
//! containment acted on — `pk` = `X#<incident key>` (32 hex digits, see
//! [`crate::live::containment::incident_key`]), `sk` = `contain`, `items` the containments as JSON, and
//! `expires_at` (the table's TTL attribute) a day after the last deny's expiry. `PutItem` and a
//! strongly consistent `GetItem`, both already granted to the live function on its table.

use aws_sdk_dynamodb::types::AttributeValue;

use super::AwsError;
use crate::live::containment::{
    from_ledger_json, ledger_json, Containment, ContainmentLedger, LedgerError,
};

const SK: &str = "contain";
/// How long a record outlives the last deny it names.
const KEEP_AFTER_UNTIL_SECS: i64 = 86_400;

#[derive(Clone, Debug)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoLedger {
        DynamoLedger {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
        }
    }
}

fn err(e: AwsError) -> LedgerError {
    LedgerError {
        operation: e.operation,
        message: e.brief(),
    }
}

fn pk(incident: &str) -> String {
    format!("X#{incident}")
}

impl ContainmentLedger for DynamoLedger {
    async fn record(&self, incident: &str, items: &[Containment]) -> Result<(), LedgerError> {
        // An empty record (lifted) is kept a day from now.
        let last = items
            .iter()
            .map(|c| c.until.0)
            .max()
            .unwrap_or_else(|| crate::time::Timestamp::now().0);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk(incident)))
            .item("sk", AttributeValue::S(SK.into()))
            .item("items", AttributeValue::S(ledger_json(items)))
            .item(
                "expires_at",
                AttributeValue::N((last + KEEP_AFTER_UNTIL_SECS).to_string()),
            )
            .send()
            .await
            .map_err(|e| err(AwsError::from_sdk("PutItem", e)))?;
        Ok(())
    }

    async fn recorded(&self, incident: &str) -> Result<Option<Vec<Containment>>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk(incident)))
            .key("sk", AttributeValue::S(SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err(AwsError::from_sdk("GetItem", e)))?;
        Ok(out
            .item()
            .and_then(|i| i.get("items"))
            .and_then(|v| v.as_s().ok())
            .map(|t| from_ledger_json(t)))
    }
}
