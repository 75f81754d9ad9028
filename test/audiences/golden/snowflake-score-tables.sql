-- audience-sync sql --dialect snowflake: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: at_risk (a0)
-- traits (table traits, one column each): churn_risk number (t_churn_risk), ltv number (t_ltv), renewal date (t_renewal)
-- Snowflake. Run the statements in order in one session (temporary tables); the stage, file
-- formats and external tables are created in the schema audience_sync of the current database.
-- score_churn: the newest dt= partition on or before 2026-03-10 with rows under s3://acme-audiences/prod/models/churn/ (parquet); the query fails if there is none or it is before 2026-03-08. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- score_ltv: the newest dt= partition on or before 2026-03-10 with rows under s3://acme-audiences/prod/models/ltv/v2/ (csv); the query fails if there is none or it is before 2026-03-03. _SUCCESS is not checked (docs/warehouse.md#score-tables)
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE SCHEMA IF NOT EXISTS audience_sync;

USE SCHEMA audience_sync;

CREATE STAGE IF NOT EXISTS audience_sync_store
  URL = 's3://acme-audiences/prod/'
  STORAGE_INTEGRATION = audience_sync_s3;

CREATE OR REPLACE FILE FORMAT audience_sync_lines
  TYPE = CSV FIELD_DELIMITER = NONE RECORD_DELIMITER = '\n' FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ESCAPE = NONE ESCAPE_UNENCLOSED_FIELD = NONE SKIP_BLANK_LINES = TRUE COMPRESSION = AUTO;

CREATE OR REPLACE FILE FORMAT audience_sync_json TYPE = JSON;

CREATE OR REPLACE FILE FORMAT audience_sync_parquet TYPE = PARQUET;

CREATE OR REPLACE EXTERNAL TABLE people_lines (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/people/
PATTERN = '.*/people[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE people_lines REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_at_risk_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/at_risk/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_at_risk_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_at_risk_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/at_risk/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_at_risk_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE score_table_churn (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  "CUSTOMER_ID" VARCHAR AS (VALUE:"customer_id"::VARCHAR),
  "CHURN_RISK" VARCHAR AS (VALUE:"churn_risk"::VARCHAR),
  "NEXT_PRODUCT" VARCHAR AS (VALUE:"next_product"::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/models/churn/
PATTERN = '.*/dt=[^/]+/[^_./][^/]*[.]parquet'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_parquet')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE score_table_churn REFRESH;

CREATE OR REPLACE FILE FORMAT audience_sync_score_csv
  TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '"' COMPRESSION = AUTO;

CREATE OR REPLACE EXTERNAL TABLE score_table_ltv (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  "CUSTOMER_ID" VARCHAR AS (VALUE:c1::VARCHAR),
  "LTV" VARCHAR AS (VALUE:c2::VARCHAR),
  "RENEWAL" VARCHAR AS (VALUE:c3::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/models/ltv/v2/
PATTERN = '.*/dt=[^/]+/[^_./][^/]*[.]csv([.]gz)?'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_score_csv')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE score_table_ltv REFRESH;

CREATE OR REPLACE TEMPORARY TABLE people_snapshot AS
SELECT IFF(IS_NULL_VALUE(j:"customer_id"), NULL, j:"customer_id"::VARCHAR) AS customer_id,
  IFF(IS_NULL_VALUE(j:"email"), NULL, j:"email"::VARCHAR) AS email,
  IFF(IS_NULL_VALUE(j:"cio_id"), NULL, j:"cio_id"::VARCHAR) AS cio_id,
  IFF(IS_ARRAY(j:"merged_ids"), j:"merged_ids", NULL) AS merged_ids,
  j AS person
FROM (SELECT TRY_PARSE_JSON(line) AS j FROM people_lines WHERE dt = '2026-03-10' AND line <> '') s
WHERE IS_OBJECT(j) AND IFF(IS_NULL_VALUE(j:"customer_id"), NULL, j:"customer_id"::VARCHAR) IS NOT NULL;

CREATE OR REPLACE TEMPORARY TABLE previous_a0 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_at_risk_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_at_risk_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE score_churn AS
SELECT customer_id, "CHURN_RISK", "NEXT_PRODUCT"
FROM (
  SELECT NULLIF(CAST(s."CUSTOMER_ID" AS VARCHAR), '') AS customer_id, CASE WHEN (TRY_TO_DOUBLE(NULLIF(CAST(s."CHURN_RISK" AS VARCHAR), '')) NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN TRY_TO_DOUBLE(NULLIF(CAST(s."CHURN_RISK" AS VARCHAR), '')) END AS "CHURN_RISK", NULLIF(CAST(s."NEXT_PRODUCT" AS VARCHAR), '') AS "NEXT_PRODUCT",
    count(*) OVER (PARTITION BY NULLIF(CAST(s."CUSTOMER_ID" AS VARCHAR), '')) AS _rows
  FROM (SELECT * FROM score_table_churn) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-08' THEN CAST(CAST('score table "churn": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/churn/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-08 (max_age_days 2)' END AS NUMBER) AS VARCHAR) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM score_table_churn) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE TEMPORARY TABLE score_ltv AS
SELECT customer_id, "LTV", "RENEWAL"
FROM (
  SELECT NULLIF(CAST(s."CUSTOMER_ID" AS VARCHAR), '') AS customer_id, CASE WHEN (TRY_TO_DOUBLE(NULLIF(CAST(s."LTV" AS VARCHAR), '')) NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN TRY_TO_DOUBLE(NULLIF(CAST(s."LTV" AS VARCHAR), '')) END AS "LTV", CASE WHEN REGEXP_LIKE(NULLIF(CAST(s."RENEWAL" AS VARCHAR), ''), '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN TO_VARCHAR(DATEADD(day, ROUND(CAST('0' AS DOUBLE)), TRY_TO_DATE(NULLIF(CAST(s."RENEWAL" AS VARCHAR), ''))), 'YYYY-MM-DD') END AS "RENEWAL",
    count(*) OVER (PARTITION BY NULLIF(CAST(s."CUSTOMER_ID" AS VARCHAR), '')) AS _rows
  FROM (SELECT * FROM score_table_ltv) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < '2026-03-03' THEN CAST(CAST('score table "ltv": ' || CASE WHEN n.dt IS NULL THEN 'no partition with rows on or before 2026-03-10 under models/ltv/v2/' ELSE 'stale: its newest partition is dt=' || n.dt || ', before 2026-03-03 (max_age_days 7)' END AS NUMBER) AS VARCHAR) ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (SELECT * FROM score_table_ltv) x WHERE dt <= '2026-03-10') n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1;

CREATE OR REPLACE TEMPORARY TABLE people AS
SELECT customer_id, email, cio_id, merged_ids
FROM people_snapshot p;

CREATE OR REPLACE TEMPORARY TABLE id_map AS
SELECT m.id, min(m.owner) AS owner
FROM (SELECT u.value::VARCHAR AS id, customer_id AS owner FROM people, LATERAL FLATTEN(input => people.merged_ids) u) m
GROUP BY m.id;

CREATE OR REPLACE TEMPORARY TABLE email_map AS
SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email;

CREATE OR REPLACE TEMPORARY TABLE cio_map AS
SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id;

CREATE OR REPLACE TEMPORARY TABLE features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot
FROM (SELECT customer_id AS id FROM people) k
LEFT JOIN people p ON p.customer_id = k.id
;

CREATE OR REPLACE TEMPORARY TABLE traits AS
SELECT f.customer_id,
  COALESCE(score_churn."CHURN_RISK", CAST('0' AS DOUBLE)) AS t_churn_risk,
  score_ltv."LTV" AS t_ltv,
  score_ltv."RENEWAL" AS t_renewal
FROM features f
LEFT JOIN score_churn ON score_churn.customer_id = f.customer_id
LEFT JOIN score_ltv ON score_ltv.customer_id = f.customer_id;

CREATE OR REPLACE TEMPORARY TABLE blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE TEMPORARY TABLE a0_scored AS
SELECT f.customer_id,
  ((COALESCE(tr.t_churn_risk >= CAST('0.5' AS DOUBLE), false)) AND (COALESCE(tr.t_renewal <= '2026-04-01', false))) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  ((CAST('0' AS DOUBLE) + CAST('1' AS DOUBLE) * COALESCE(tr.t_churn_risk, CAST('0' AS DOUBLE))) + CAST('0.001' AS DOUBLE) * COALESCE(tr.t_ltv, CAST('0' AS DOUBLE))) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot);

CREATE OR REPLACE TEMPORARY TABLE a0 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a0_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a0 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((500000 * s.eligible + 999999) / 1000000);

SELECT 'at_risk' AS audience, customer_id, "GROUP", score, rank, entered FROM a0
ORDER BY audience, rank;
