-- audience-sync sql --dialect athena: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: at_risk (a0)
-- traits (table traits, one column each): churn_risk number (t_churn_risk), ltv number (t_ltv), renewal date (t_renewal)
-- Athena (engine version 3). Run the statements one at a time, in order, with audience_sync as the
-- database of the query context (the views are created there).
-- Parquet parts are read through symlink lists under s3://acme-audiences/prod/athena-symlinks/raw/<dataset>/dt=D/:
-- write them from each day's _compacted.json after every compaction (docs/warehouse.md).
-- score_churn: the newest dt= partition on or before 2026-03-10 with rows under s3://acme-audiences/prod/models/churn/ (parquet); the query fails if there is none or it is before 2026-03-08. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- score_ltv: the newest dt= partition on or before 2026-03-10 with rows under s3://acme-audiences/prod/models/ltv/v2/ (csv); the query fails if there is none or it is before 2026-03-03. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE DATABASE IF NOT EXISTS audience_sync;

DROP TABLE IF EXISTS audience_sync.people_lines;

CREATE EXTERNAL TABLE audience_sync.people_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/people/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/people/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.audience_at_risk_lines;

CREATE EXTERNAL TABLE audience_sync.audience_at_risk_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/at_risk/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/at_risk/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.score_table_churn;

CREATE EXTERNAL TABLE audience_sync.score_table_churn (
  `customer_id` string,
  `churn_risk` double,
  `next_product` string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://acme-audiences/prod/models/churn/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/models/churn/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.score_table_ltv;

CREATE EXTERNAL TABLE audience_sync.score_table_ltv (
  `customer_id` string,
  `ltv` string,
  `renewal` string
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/models/ltv/v2/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/models/ltv/v2/dt=${dt}/'
);

CREATE OR REPLACE VIEW people_snapshot AS
SELECT json_extract_scalar(j, '$.customer_id') AS customer_id,
  json_extract_scalar(j, '$.email') AS email,
  json_extract_scalar(j, '$.cio_id') AS cio_id,
  TRY_CAST(json_extract(j, '$.merged_ids') AS array(varchar)) AS merged_ids,
  line AS person
FROM (
  SELECT line, try(json_parse(line)) AS j
  FROM audience_sync.people_lines
  WHERE dt = '2026-03-10' AND "$path" LIKE '%/people.jsonl.gz' AND line <> ''
) s
WHERE j IS NOT NULL AND json_extract_scalar(j, '$.customer_id') IS NOT NULL;

CREATE OR REPLACE VIEW previous_a0 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audience_sync.audience_at_risk_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audience_sync.audience_at_risk_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW score_churn AS
SELECT customer_id, "churn_risk", "next_product"
FROM (
  SELECT NULLIF(CAST(s."customer_id" AS varchar), '') AS customer_id, CASE WHEN is_finite(TRY_CAST(NULLIF(CAST(s."churn_risk" AS varchar), '') AS double)) THEN TRY_CAST(NULLIF(CAST(s."churn_risk" AS varchar), '') AS double) END AS "churn_risk", NULLIF(CAST(s."next_product" AS varchar), '') AS "next_product",
    count(*) OVER (PARTITION BY NULLIF(CAST(s."customer_id" AS varchar), '')) AS _rows
  FROM (SELECT * FROM audience_sync.score_table_churn WHERE regexp_like("$path", '/dt=[^/]+/[^_./][^/]*[.]parquet$')) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-08' THEN CAST(CAST('score table "churn": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/churn/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-08 (max_age_days 2)' END AS bigint) AS varchar) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM audience_sync.score_table_churn WHERE regexp_like("$path", '/dt=[^/]+/[^_./][^/]*[.]parquet$')) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE VIEW score_ltv AS
SELECT customer_id, "ltv", "renewal"
FROM (
  SELECT NULLIF(CAST(s."customer_id" AS varchar), '') AS customer_id, CASE WHEN is_finite(TRY_CAST(NULLIF(CAST(s."ltv" AS varchar), '') AS double)) THEN TRY_CAST(NULLIF(CAST(s."ltv" AS varchar), '') AS double) END AS "ltv", CASE WHEN regexp_like(NULLIF(CAST(s."renewal" AS varchar), ''), '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2})$') THEN date_format(date_add('day', CAST(round(CAST('0' AS double)) AS bigint), TRY_CAST(NULLIF(CAST(s."renewal" AS varchar), '') AS date)), '%Y-%m-%d') END AS "renewal",
    count(*) OVER (PARTITION BY NULLIF(CAST(s."customer_id" AS varchar), '')) AS _rows
  FROM (SELECT * FROM audience_sync.score_table_ltv WHERE regexp_like("$path", '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$')) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-03' THEN CAST(CAST('score table "ltv": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/ltv/v2/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-03 (max_age_days 7)' END AS bigint) AS varchar) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM audience_sync.score_table_ltv WHERE regexp_like("$path", '/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?$')) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE VIEW people AS
SELECT customer_id, email, cio_id, merged_ids
FROM people_snapshot p;

CREATE OR REPLACE VIEW id_map AS
SELECT m.id, min(m.owner) AS owner
FROM (SELECT u.id AS id, customer_id AS owner FROM people CROSS JOIN UNNEST(merged_ids) AS u(id)) m
GROUP BY m.id;

CREATE OR REPLACE VIEW email_map AS
SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email;

CREATE OR REPLACE VIEW cio_map AS
SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id;

CREATE OR REPLACE VIEW features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot
FROM (SELECT customer_id AS id FROM people) k
LEFT JOIN people p ON p.customer_id = k.id
;

CREATE OR REPLACE VIEW traits AS
SELECT f.customer_id,
  COALESCE(score_churn."churn_risk", CAST('0' AS double)) AS t_churn_risk,
  score_ltv."ltv" AS t_ltv,
  score_ltv."renewal" AS t_renewal
FROM features f
LEFT JOIN score_churn ON score_churn.customer_id = f.customer_id
LEFT JOIN score_ltv ON score_ltv.customer_id = f.customer_id;

CREATE OR REPLACE VIEW blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE VIEW a0_scored AS
SELECT f.customer_id,
  ((COALESCE(tr.t_churn_risk >= CAST('0.5' AS double), false)) AND (COALESCE(tr.t_renewal <= '2026-04-01', false))) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  ((CAST('0' AS double) + CAST('1' AS double) * COALESCE(tr.t_churn_risk, CAST('0' AS double))) + CAST('0.001' AS double) * COALESCE(tr.t_ltv, CAST('0' AS double))) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot);

CREATE OR REPLACE VIEW a0 AS
SELECT s.customer_id, 'treatment' AS "group", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a0_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a0 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= (500000 * s.eligible + 999999) / 1000000;

SELECT 'at_risk' AS audience, customer_id, "group", score, rank, entered FROM a0
ORDER BY audience, rank;
