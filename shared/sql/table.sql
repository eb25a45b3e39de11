-- The Athena table over Bedrock model-invocation logs in S3: the one definition of its columns.
--
-- Used three ways, all checked by tests:
--   * `bedrock-meter rollup-sql --create-table --database D --table T --location s3://…/` prints this
--     statement with the placeholders filled, for manual use in the Athena console;
--   * template.yaml's AWS::Glue::Table declares the same columns, SerDe and projection (checked by
--     tests/sql/test_table_ddl.py);
--   * the SQL tests build their DuckDB view of the logs from these column types.
--
-- Only metadata is declared: bodies (inputBodyJson/outputBodyJson) vary in shape (an object for most
-- operations, an array of chunks for InvokeModelWithResponseStream) and are irrelevant to cost, so they
-- are not columns. `timestamp` is a reserved word: it stays a string and is parsed in queries with
-- from_iso8601_timestamp("timestamp"). The hour folders also hold data/ body objects and other JSON: the
-- SerDe ignores malformed JSON and queries keep `schemaType = 'ModelInvocationLog'`.
--
-- Placeholders: {{database}}, {{table}}, {{location}} (s3://<bucket>/<prefix>/AWSLogs/<account>/
-- BedrockModelInvocationLogs/<region>/ — with the trailing slash). ${datehour} is Athena's, not ours.
CREATE EXTERNAL TABLE IF NOT EXISTS `{{database}}`.`{{table}}` (
  `schemaType` string,
  `schemaVersion` string,
  `timestamp` string,
  `accountId` string,
  `region` string,
  `requestId` string,
  `operation` string,
  `modelId` string,
  `inferenceRegion` string,
  `errorCode` string,
  `identity` struct<arn:string>,
  `requestMetadata` map<string,string>,
  `input` struct<inputTokenCount:bigint,cacheReadInputTokenCount:bigint,cacheWriteInputTokenCount:bigint,inputBodyS3Path:string>,
  `output` struct<outputTokenCount:bigint,outputBodyS3Path:string>
)
PARTITIONED BY (`datehour` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{location}}'
TBLPROPERTIES (
  'classification' = 'json',
  'projection.enabled' = 'true',
  'projection.datehour.type' = 'date',
  'projection.datehour.format' = 'yyyy/MM/dd/HH',
  'projection.datehour.range' = '2024/01/01/00,NOW',
  'projection.datehour.interval' = '1',
  'projection.datehour.interval.unit' = 'HOURS',
  'storage.location.template' = '{{location}}${datehour}/'
)
