"""A CUR 2.0 bill in DuckDB, shaped from AWS-published CUR 2.0 data, for the reconciliation tests.

Columns (names and types): AWS Data Exports user guide, table dictionary "Cost and Usage Report (CUR)
2.0" (docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html): the line item, bill and
product columns, `product` a map<string,string> of the remaining product attributes (`product_name`
among them, table-dictionary-cur2-product), `line_item_resource_id` with the export's
INCLUDE_RESOURCES, `line_item_iam_principal` with INCLUDE_IAM_PRINCIPAL_DATA. Only the columns a
Bedrock line is recognised and reconciled by, plus a few that make a line readable.

The shapes of the Bedrock lines, each from a published source:

- **Claude sold through AWS Marketplace.** Product name `Claude … (Amazon Bedrock Edition)` and usage
  types `<REGION>-MP:<REGION>_InputTokenCount-Units`: AWS's CUR 2.0 Bedrock query for re:Invent 2025
  COP401 (github.com/awssteph/reinvent25-cop401, BedrockCostAllocation.sql: "example p_n = 'Claude 3
  Haiku (Amazon Bedrock Edition)'", "Marketplace 'USW2-MP:USW2_InputTokenCount-Units'"); the output,
  cache-read and cache-write usage types follow the same pattern (`…OutputTokenCount-Units`, the log's
  own field names `cacheReadInputTokenCount` / `cacheWriteInputTokenCount`). The product code is the
  Marketplace product's own id (a random-looking lowercase id, not `AmazonBedrock…`), the billing entity
  `AWS Marketplace` (CUR 2.0 `bill_billing_entity`: "AWS" or "AWS Marketplace").
- **Bedrock's own lines.** Usage types `USE1-<Model>-input-tokens` / `-output-tokens`: AWS's launch post
  of IAM-principal cost allocation for Bedrock (aws.amazon.com/blogs/machine-learning/introducing-
  granular-cost-attribution-for-amazon-bedrock/, April 2026), whose CUR 2.0 sample rows are
  `arn:aws:iam::123456789012:user/alice | USE1-Claude4.6Sonnet-input-tokens | $0.069`; product codes
  `AmazonBedrock` with service codes `AmazonBedrock` / `AmazonBedrockFoundationModels` (the codes
  aws-samples/sample-bedrock-spend-budget-guardrails' CUR reconciler filters on).
- **The principal.** `line_item_iam_principal` holds the caller ARN as the call was signed: an IAM user
  as `arn:aws:iam::…:user/alice` (the launch post's sample), a role-based caller in the assumed-role
  session form `arn:aws:sts::ACCT:assumed-role/<Role>/<Session>` (sample-bedrock-spend-budget-guardrails,
  docs/cur-reconciliation.md, "Principal-key canonicalization"; the launch post: federated users appear
  as `assumed-role/Role/user@…`) — session names and all.
- **The resource.** `line_item_resource_id`: the application inference profile ARN for calls through
  one (the resource whose cost allocation tags the bill carries: Bedrock user guide, "Application
  inference profiles" / cost allocation tags); for other calls the model or system profile ARN.
"""

SCHEMA, TABLE = "YOUR_CUR_DATABASE", "YOUR_CUR_TABLE"

COLUMNS = [
    ("bill_billing_entity", "VARCHAR"),
    ("line_item_usage_account_id", "VARCHAR"),
    ("line_item_usage_start_date", "TIMESTAMP"),
    ("line_item_usage_end_date", "TIMESTAMP"),
    ("line_item_line_item_type", "VARCHAR"),
    ("line_item_product_code", "VARCHAR"),
    ("line_item_usage_type", "VARCHAR"),
    ("line_item_operation", "VARCHAR"),
    ("line_item_resource_id", "VARCHAR"),
    ("line_item_iam_principal", "VARCHAR"),
    ("line_item_usage_amount", "DOUBLE"),
    ("line_item_unblended_cost", "DOUBLE"),
    ("product_servicecode", "VARCHAR"),
    ("product", "MAP(VARCHAR, VARCHAR)"),
]

# A Marketplace product id for the Claude Amazon Bedrock Edition lines (made up, in the shape of one).
CLAUDE_MP_CODE = "b7wq2k0x9c4m1z8n5r3t6y2vd"
MARKETPLACE = "AWS Marketplace"


def create(con):
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    con.execute(f'CREATE OR REPLACE TABLE "{SCHEMA}"."{TABLE}" ('
                + ", ".join(f"{n} {t}" for n, t in COLUMNS) + ")")


def line(start, cost, *, account="111122223333", kind="Usage", entity="AWS", product_code="AmazonBedrock",
         servicecode=None, usage_type="USE1-NovaLite-input-tokens", operation="Usage", resource_id="",
         principal="", amount=0.0, product_name=None, end=None):
    """One CUR 2.0 row as a dict (start/end: 'YYYY-MM-DD HH:MM:SS', UTC)."""
    if servicecode is None:
        servicecode = product_code
    product = {} if product_name is None else {"product_name": product_name}
    return {
        "bill_billing_entity": entity,
        "line_item_usage_account_id": account,
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": end or start,
        "line_item_line_item_type": kind,
        "line_item_product_code": product_code,
        "line_item_usage_type": usage_type,
        "line_item_operation": operation,
        "line_item_resource_id": resource_id,
        "line_item_iam_principal": principal,
        "line_item_usage_amount": float(amount),
        "line_item_unblended_cost": float(cost),
        "product_servicecode": servicecode,
        "product": product,
    }


def insert(con, rows):
    names = [n for n, _ in COLUMNS]
    marks = ", ".join("?" for _ in names)
    con.executemany(f'INSERT INTO "{SCHEMA}"."{TABLE}" VALUES ({marks})',
                    [tuple(r[n] for n in names) for r in rows])
