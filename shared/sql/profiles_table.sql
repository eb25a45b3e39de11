-- The Athena table over the application-inference-profile snapshots the daily rollup Lambda writes:
-- one JSON object per line, one object per day (s3://<log bucket>/bedrock-meter/profiles/<YYYY-MM-DD>.jsonl),
-- one line per application profile the day's logs named, resolved by the same rules as everywhere in
-- bedrock-meter (shared/src/attribution/resolution.rs `resolve`, shared/src/attribution/profiles.rs pool rule):
--   app, team   the profile's app/team tags (keys APP_TAG_KEY/TEAM_TAG_KEY); no app tag: the profile
--               name; no team tag: 'untagged'
--   model_id    the base model the profile routes to (priced with it); '' when unknown
--   pool        'in-region' | 'geographic' | 'global' (from the Regions of the profile's models)
-- The query pack (queries/, the stack's named queries) takes the newest snapshot_date per profile_id.
--
-- Used two ways, both checked by tests:
--   * template.yaml's second AWS::Glue::Table declares the same columns and SerDe
--     (tests/sql/test_table_ddl.py);
--   * the SQL tests build their DuckDB view of the snapshots from these column types.
-- Placeholders: {{database}}, {{table}}, {{location}} (s3://<bucket>/bedrock-meter/profiles/).
CREATE EXTERNAL TABLE IF NOT EXISTS `{{database}}`.`{{table}}` (
  `snapshot_date` string,
  `profile_arn` string,
  `profile_id` string,
  `name` string,
  `app` string,
  `team` string,
  `model_id` string,
  `pool` string
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{location}}'
TBLPROPERTIES (
  'classification' = 'json'
)
