"""The Athena table is defined once (shared/sql/table.sql): the SAM template's AWS::Glue::Table must
declare exactly the same columns, partition key, SerDe and projection, and the CREATE EXTERNAL TABLE
statement `bedrock-meter rollup-sql --create-table` prints must be that file, filled in. The same for
the profile-snapshot table (shared/sql/profiles_table.sql, template ProfilesTable)."""

import os
import re
import unittest

import yaml

from test_rollup_sql import BIN, DDL, ROOT, ddl_columns, read, run

TEMPLATE = os.path.join(ROOT, "template.yaml")


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !If, ...) as plain values."""


def _any_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {tag_suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag_suffix: loader.construct_sequence(node, deep=True)}
    return {tag_suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _any_tag)


def norm(t):
    return re.sub(r"\s+", "", t).lower()


def ddl_properties():
    text = read(DDL)
    props = text[text.index("TBLPROPERTIES"):]
    return dict(re.findall(r"'([^']+)'\s*=\s*'([^']*)'", props))


class TableDefinitionTest(unittest.TestCase):
    def glue_table(self, name="InvocationLogTable"):
        if not os.path.exists(TEMPLATE):
            self.skipTest("template.yaml does not exist yet")
        doc = yaml.load(read(TEMPLATE), Loader=CfnLoader)
        tables = {k: r for k, r in doc["Resources"].items() if r.get("Type") == "AWS::Glue::Table"}
        self.assertEqual(set(tables), {"InvocationLogTable", "ProfilesTable"}, "Glue tables in template.yaml")
        return tables[name]["Properties"]["TableInput"]

    def test_profiles_table_matches_its_ddl(self):
        from test_query_pack import PROFILES_DDL, ddl_columns_of
        t = self.glue_table("ProfilesTable")
        got = [(c["Name"], norm(c["Type"])) for c in t["StorageDescriptor"]["Columns"]]
        self.assertEqual(got, [(n, norm(ty)) for n, ty in ddl_columns_of(PROFILES_DDL)])
        self.assertNotIn("PartitionKeys", t)
        sd = t["StorageDescriptor"]
        text = read(PROFILES_DDL)
        self.assertEqual(sd["SerdeInfo"]["SerializationLibrary"],
                         re.search(r"ROW FORMAT SERDE '([^']+)'", text).group(1))
        loc = sd["Location"]["Sub"][0]
        self.assertTrue(loc.endswith("/bedrock-meter/profiles/"), loc)
        out = run("rollup-sql", "--create-profiles-table", "--location", "s3://b/bedrock-meter/profiles/")
        self.assertTrue(out.startswith(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `bedrock_meter`.`invocation_logs_profiles` ("))

    def test_rollup_writes_snapshots_where_the_profiles_table_reads_them(self):
        doc = yaml.load(read(TEMPLATE), Loader=CfnLoader)
        fn = doc["Resources"]["RollupFunction"]["Properties"]
        self.assertIn("PROFILES_SNAPSHOT_BUCKET", fn["Environment"]["Variables"])
        # (conditional statements - !If [HasCur, ...] - are not the snapshot's)
        stmts = [st for p in fn["Policies"] if isinstance(p, dict) for st in p["Statement"] if "Action" in st]
        puts = [st for st in stmts if "s3:PutObject" in (st["Action"] if isinstance(st["Action"], list)
                                                         else [st["Action"]])]
        snap = [st for st in puts if st["Sid"] == "WriteProfileSnapshots"]
        self.assertEqual(len(snap), 1)
        self.assertEqual(snap[0]["Action"], "s3:PutObject")   # nothing else on the log bucket
        res = snap[0]["Resource"]["Sub"][0]
        self.assertTrue(res.endswith(":s3:::${Bucket}/bedrock-meter/profiles/*"), res)
        loc = self.glue_table("ProfilesTable")["StorageDescriptor"]["Location"]["Sub"][0]
        self.assertEqual(loc, "s3://${Bucket}/bedrock-meter/profiles/")

    def test_template_columns_match_the_ddl(self):
        t = self.glue_table()
        got = [(c["Name"], norm(c["Type"])) for c in t["StorageDescriptor"]["Columns"]]
        want = [(n, norm(ty)) for n, ty in ddl_columns()]
        self.assertEqual(got, want)
        self.assertEqual([(p["Name"], p["Type"]) for p in t["PartitionKeys"]], [("datehour", "string")])

    def test_template_serde_and_projection_match_the_ddl(self):
        t = self.glue_table()
        sd = t["StorageDescriptor"]
        text = read(DDL)
        serde = re.search(r"ROW FORMAT SERDE '([^']+)'", text).group(1)
        self.assertEqual(sd["SerdeInfo"]["SerializationLibrary"], serde)
        self.assertEqual(str(sd["SerdeInfo"]["Parameters"]["ignore.malformed.json"]).lower(), "true")
        self.assertIn(re.search(r"INPUTFORMAT '([^']+)'", text).group(1), sd["InputFormat"])
        params = t["Parameters"]
        for k, v in ddl_properties().items():
            if k == "storage.location.template":
                tmpl = params[k]
                sub = tmpl["Sub"][0] if isinstance(tmpl, dict) else tmpl
                if isinstance(sub, list):
                    sub = sub[0]
                self.assertTrue(sub.endswith("/${!datehour}/"), sub)
                self.assertIn("/AWSLogs/", sub)
                self.assertIn("/BedrockModelInvocationLogs/", sub)
            else:
                self.assertEqual(str(params.get(k)), v, k)

    def test_create_table_statement_is_the_ddl_filled_in(self):
        loc = "s3://my-logs/bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/"
        out = run("rollup-sql", "--create-table", "--database", "bedrock_meter",
                  "--table", "invocation_logs", "--location", loc)
        self.assertTrue(out.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `bedrock_meter`.`invocation_logs` ("))
        self.assertIn(f"LOCATION '{loc}'", out)
        self.assertIn(f"'storage.location.template' = '{loc}${{datehour}}/'", out)
        self.assertNotIn("{{", out)
        for name, ty in ddl_columns():
            self.assertIn(f"`{name}` {ty}", out)
        self.assertTrue(os.path.exists(BIN))


if __name__ == "__main__":
    unittest.main()
