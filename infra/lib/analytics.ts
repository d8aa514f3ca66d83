import { Aws } from "aws-cdk-lib";
import * as athena from "aws-cdk-lib/aws-athena";
import * as glue from "aws-cdk-lib/aws-glue";
import { Construct } from "constructs";
import { PARQUET_TABLES, parquetFileName, type ParquetTable } from "../../functions/export/parquet-export.js";
import { PREFIXES, type DataStorage } from "./data-storage.js";

export const GLUE_DATABASE = "gpu_billing";
export const ATHENA_WORKGROUP = "gpu-billing";

/**
 * SQL over every month: a Glue database with one table per Parquet table of
 * the dataset and an Athena workgroup (results encrypted with the data key,
 * a per-query scan cap). Partitions are projected (month = yyyy-MM), so a new
 * month is queryable the moment its files land — no crawler, no MSCK REPAIR.
 * The table columns come from the same list the Parquet writer uses
 * (including `cluster` since dataset schema 2; older months read it as NULL).
 * Per-cluster staging (`<prefix>/staging/…`) lies outside every projected
 * partition location, so unpublished data is never queryable.
 */
export class Analytics extends Construct {
  readonly database: glue.CfnDatabase;
  readonly tables: glue.CfnTable[] = [];
  readonly workgroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, storage: DataStorage, dataPrefix: string) {
    super(scope, id);
    const bucket = storage.bucket.bucketName;
    this.database = new glue.CfnDatabase(this, "Database", {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: GLUE_DATABASE, description: "GPU chargeback datasets (Parquet, one partition per billing month)" },
    });
    for (const table of Object.keys(PARQUET_TABLES) as ParquetTable[]) {
      const dir = parquetFileName(table).replace(/[^/]+$/, "");
      const t = new glue.CfnTable(this, `Table-${table}`, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: GLUE_DATABASE,
        tableInput: {
          name: table,
          tableType: "EXTERNAL_TABLE",
          description: `${table} rows of the monthly chargeback dataset`,
          parameters: {
            classification: "parquet",
            EXTERNAL: "TRUE",
            "projection.enabled": "true",
            "projection.month.type": "date",
            "projection.month.format": "yyyy-MM",
            "projection.month.range": "2024-01,NOW",
            "projection.month.interval": "1",
            "projection.month.interval.unit": "MONTHS",
            "storage.location.template": `s3://${bucket}/${dataPrefix}/month=\${month}/${dir}`,
          },
          partitionKeys: [{ name: "month", type: "string" }],
          storageDescriptor: {
            location: `s3://${bucket}/${dataPrefix}/`,
            columns: PARQUET_TABLES[table].map((c) => ({ name: c.name, type: c.type })),
            inputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            outputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            serdeInfo: { serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" },
          },
        },
      });
      t.addResourceDependency(this.database);
      this.tables.push(t);
    }
    this.workgroup = new athena.CfnWorkGroup(this, "WorkGroup", {
      name: ATHENA_WORKGROUP,
      description: "Finance queries over the GPU chargeback datasets",
      state: "ENABLED",
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        engineVersion: { selectedEngineVersion: "Athena engine version 3" },
        resultConfiguration: {
          outputLocation: `s3://${bucket}/${PREFIXES.athenaResults}`,
          encryptionConfiguration: { encryptionOption: "SSE_KMS", kmsKey: storage.key.keyArn },
        },
      },
    });
  }
}
