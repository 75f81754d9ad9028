-- audience-sync sql --dialect bigquery: the build for one day, over the store at gs://acme-audiences/prod
-- day 2026-03-10; audiences in build order: at_risk (a0)
-- traits (table traits, one column each): churn_risk number (t_churn_risk), ltv number (t_ltv), renewal date (t_renewal)
-- BigQuery (GoogleSQL). Run the whole script as one multi-statement query (the temporary tables
-- live for that query); the external tables are created in the dataset audience_sync.
-- score_churn: the newest dt= partition on or before 2026-03-10 with rows under gs://acme-audiences/prod/models/churn/ (parquet); the query fails if there is none or it is before 2026-03-08. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- score_ltv: the newest dt= partition on or before 2026-03-10 with rows under gs://acme-audiences/prod/models/ltv/v2/ (csv); the query fails if there is none or it is before 2026-03-03. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE SCHEMA IF NOT EXISTS audience_sync;

CREATE OR REPLACE EXTERNAL TABLE audience_sync.people_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/people/*people.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/people',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_at_risk_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/at_risk/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/at_risk',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_at_risk_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/at_risk/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/at_risk',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.score_table_churn
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'PARQUET',
  uris = ['gs://acme-audiences/prod/models/churn/*.parquet'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/models/churn'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.score_table_ltv_csv (
  customer_id STRING,
  ltv STRING,
  renewal STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/models/ltv/v2/*.csv'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/models/ltv/v2',
  skip_leading_rows = 1
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.score_table_ltv_csv_gz (
  customer_id STRING,
  ltv STRING,
  renewal STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/models/ltv/v2/*.csv.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/models/ltv/v2',
  skip_leading_rows = 1,
  compression = 'GZIP'
);

CREATE OR REPLACE TEMP TABLE people_snapshot AS
SELECT JSON_VALUE(j, '$.customer_id') AS customer_id,
  JSON_VALUE(j, '$.email') AS email,
  JSON_VALUE(j, '$.cio_id') AS cio_id,
  JSON_VALUE_ARRAY(j, '$.merged_ids') AS merged_ids,
  line AS person
FROM (
  SELECT line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.people_lines
  WHERE dt = '2026-03-10' AND line <> ''
)
WHERE j IS NOT NULL AND JSON_VALUE(j, '$.customer_id') IS NOT NULL;

CREATE OR REPLACE TEMP TABLE previous_a0 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_at_risk_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_at_risk_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE score_churn AS
SELECT customer_id, `churn_risk`, `next_product`
FROM (
  SELECT NULLIF(CAST(s.`customer_id` AS STRING), '') AS customer_id, CASE WHEN (NOT IS_INF(SAFE_CAST(NULLIF(CAST(s.`churn_risk` AS STRING), '') AS FLOAT64)) AND NOT IS_NAN(SAFE_CAST(NULLIF(CAST(s.`churn_risk` AS STRING), '') AS FLOAT64))) THEN SAFE_CAST(NULLIF(CAST(s.`churn_risk` AS STRING), '') AS FLOAT64) END AS `churn_risk`, NULLIF(CAST(s.`next_product` AS STRING), '') AS `next_product`,
    count(*) OVER (PARTITION BY NULLIF(CAST(s.`customer_id` AS STRING), '')) AS _rows
  FROM (SELECT * FROM audience_sync.score_table_churn WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]parquet$')) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-08' THEN ERROR('score table "churn": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/churn/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-08 (max_age_days 2)' END) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM audience_sync.score_table_churn WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]parquet$')) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE TEMP TABLE score_ltv AS
SELECT customer_id, `ltv`, `renewal`
FROM (
  SELECT NULLIF(CAST(s.`customer_id` AS STRING), '') AS customer_id, CASE WHEN (NOT IS_INF(SAFE_CAST(NULLIF(CAST(s.`ltv` AS STRING), '') AS FLOAT64)) AND NOT IS_NAN(SAFE_CAST(NULLIF(CAST(s.`ltv` AS STRING), '') AS FLOAT64))) THEN SAFE_CAST(NULLIF(CAST(s.`ltv` AS STRING), '') AS FLOAT64) END AS `ltv`, CASE WHEN REGEXP_CONTAINS(NULLIF(CAST(s.`renewal` AS STRING), ''), '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2})$') THEN FORMAT_DATE('%F', DATE_ADD(SAFE_CAST(NULLIF(CAST(s.`renewal` AS STRING), '') AS DATE), INTERVAL CAST(ROUND(CAST('0' AS FLOAT64)) AS INT64) DAY)) END AS `renewal`,
    count(*) OVER (PARTITION BY NULLIF(CAST(s.`customer_id` AS STRING), '')) AS _rows
  FROM (SELECT * FROM audience_sync.score_table_ltv_csv WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$') UNION ALL SELECT * FROM audience_sync.score_table_ltv_csv_gz WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$')) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-03' THEN ERROR('score table "ltv": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/ltv/v2/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-03 (max_age_days 7)' END) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM audience_sync.score_table_ltv_csv WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$') UNION ALL SELECT * FROM audience_sync.score_table_ltv_csv_gz WHERE REGEXP_CONTAINS(_FILE_NAME, '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$')) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE TEMP TABLE people AS
SELECT customer_id, email, cio_id, merged_ids
FROM people_snapshot p;

CREATE OR REPLACE TEMP TABLE id_map AS
SELECT m.id, min(m.owner) AS owner
FROM (SELECT id, customer_id AS owner FROM people CROSS JOIN UNNEST(people.merged_ids) AS id) m
GROUP BY m.id;

CREATE OR REPLACE TEMP TABLE email_map AS
SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email;

CREATE OR REPLACE TEMP TABLE cio_map AS
SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id;

CREATE OR REPLACE TEMP TABLE features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot
FROM (SELECT customer_id AS id FROM people) k
LEFT JOIN people p ON p.customer_id = k.id
;

CREATE OR REPLACE TEMP TABLE traits AS
SELECT f.customer_id,
  COALESCE(score_churn.`churn_risk`, CAST('0' AS FLOAT64)) AS t_churn_risk,
  score_ltv.`ltv` AS t_ltv,
  score_ltv.`renewal` AS t_renewal
FROM features f
LEFT JOIN score_churn ON score_churn.customer_id = f.customer_id
LEFT JOIN score_ltv ON score_ltv.customer_id = f.customer_id;

CREATE OR REPLACE TEMP TABLE blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE TEMP TABLE a0_scored AS
SELECT f.customer_id,
  ((COALESCE(tr.t_churn_risk >= CAST('0.5' AS FLOAT64), false)) AND (COALESCE(tr.t_renewal <= '2026-04-01', false))) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  ((CAST('0' AS FLOAT64) + CAST('1' AS FLOAT64) * COALESCE(tr.t_churn_risk, CAST('0' AS FLOAT64))) + CAST('0.001' AS FLOAT64) * COALESCE(tr.t_ltv, CAST('0' AS FLOAT64))) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot);

CREATE OR REPLACE TEMP TABLE a0 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a0_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a0 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((500000 * s.eligible + 999999), 1000000);

SELECT 'at_risk' AS audience, customer_id, `group`, score, rank, entered FROM a0
ORDER BY audience, rank;
