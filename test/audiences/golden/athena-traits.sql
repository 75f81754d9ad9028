-- audience-sync sql --dialect athena: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: winback (a0), vips (a1)
-- traits (table traits, one column each): orders number (t_orders), spend number (t_spend), aov number (t_aov), top_order number (t_top_order), last_sku string (t_last_sku), first_value number (t_first_value), last_order_day date (t_last_order_day), gap number (t_gap), next_order date (t_next_order), since number (t_since), tier string (t_tier), value_tier string (t_value_tier)
-- raw events read from 2025-03-11 to 2026-03-10
-- raw messages read from 2026-02-09 to 2026-03-10
-- Athena (engine version 3). Run the statements one at a time, in order, with audience_sync as the
-- database of the query context (the views are created there).
-- Parquet parts are read through symlink lists under s3://acme-audiences/prod/athena-symlinks/raw/<dataset>/dt=D/:
-- write them from each day's _compacted.json after every compaction (docs/warehouse.md).
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

DROP TABLE IF EXISTS audience_sync.raw_events_lines;

CREATE EXTERNAL TABLE audience_sync.raw_events_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/raw/events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/raw/events/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.raw_events_parquet;

CREATE EXTERNAL TABLE audience_sync.raw_events_parquet (
  `_key` string,
  `_line` bigint,
  `id` string,
  `customer_id` string,
  `anonymous_id` string,
  `email` string,
  `name` string,
  `raw_name` string,
  `ts` string,
  `received_at` string,
  `source` string,
  `properties` string
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://acme-audiences/prod/athena-symlinks/raw/events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/athena-symlinks/raw/events/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.raw_messages_lines;

CREATE EXTERNAL TABLE audience_sync.raw_messages_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/raw/messages/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/raw/messages/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.raw_messages_parquet;

CREATE EXTERNAL TABLE audience_sync.raw_messages_parquet (
  `_key` string,
  `_line` bigint,
  `id` string,
  `customer_id` string,
  `email` string,
  `cio_id` string,
  `channel` string,
  `metric` string,
  `delivery_id` string,
  `campaign_id` string,
  `broadcast_id` string,
  `newsletter_id` string,
  `journey_id` string,
  `action_id` string,
  `transactional_message_id` string,
  `href` string,
  `ts` string,
  `received_at` string,
  `source` string
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://acme-audiences/prod/athena-symlinks/raw/messages/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/athena-symlinks/raw/messages/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.audience_winback_lines;

CREATE EXTERNAL TABLE audience_sync.audience_winback_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/winback/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/winback/dt=${dt}/'
);

DROP TABLE IF EXISTS audience_sync.audience_vips_lines;

CREATE EXTERNAL TABLE audience_sync.audience_vips_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/vips/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/vips/dt=${dt}/'
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

CREATE OR REPLACE VIEW raw_events AS
WITH parquet AS (
  SELECT * FROM audience_sync.raw_events_parquet WHERE dt BETWEEN '2025-03-11' AND '2026-03-10'
),
lines AS (
  SELECT regexp_extract("$path", 'raw/events/dt=[^/]+/[^/]+$') AS "_key",
    from_big_endian_64(xxhash64(to_utf8(line))) AS "_line",
    line, try(json_parse(line)) AS j
  FROM audience_sync.raw_events_lines
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10' AND "$path" LIKE '%.jsonl.gz' AND line <> ''
)
SELECT "_key", "_line", CAST(NULL AS varchar) AS "_malformed", "id", "customer_id", "anonymous_id", "email", "name", "raw_name", "ts", "received_at", "source", "properties"
FROM parquet
UNION ALL
SELECT l."_key", l."_line",
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN substr(ltrim(l.line), 1, 1) <> '{' THEN 'not a JSON object' END AS "_malformed",
  json_extract_scalar(l.j, '$.id') AS "id",
  json_extract_scalar(l.j, '$.customer_id') AS "customer_id",
  json_extract_scalar(l.j, '$.anonymous_id') AS "anonymous_id",
  json_extract_scalar(l.j, '$.email') AS "email",
  json_extract_scalar(l.j, '$.name') AS "name",
  json_extract_scalar(l.j, '$.raw_name') AS "raw_name",
  json_extract_scalar(l.j, '$.ts') AS "ts",
  json_extract_scalar(l.j, '$.received_at') AS "received_at",
  json_extract_scalar(l.j, '$.source') AS "source",
  json_format(json_extract(l.j, '$.properties')) AS "properties"
FROM lines l
LEFT JOIN (SELECT DISTINCT "_key" FROM parquet) c ON c."_key" = l."_key"
WHERE c."_key" IS NULL;

CREATE OR REPLACE VIEW raw_messages AS
WITH parquet AS (
  SELECT * FROM audience_sync.raw_messages_parquet WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
),
lines AS (
  SELECT regexp_extract("$path", 'raw/messages/dt=[^/]+/[^/]+$') AS "_key",
    from_big_endian_64(xxhash64(to_utf8(line))) AS "_line",
    line, try(json_parse(line)) AS j
  FROM audience_sync.raw_messages_lines
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10' AND "$path" LIKE '%.jsonl.gz' AND line <> ''
)
SELECT "_key", "_line", CAST(NULL AS varchar) AS "_malformed", "id", "customer_id", "email", "cio_id", "channel", "metric", "delivery_id", "campaign_id", "broadcast_id", "newsletter_id", "journey_id", "action_id", "transactional_message_id", "href", "ts", "received_at", "source"
FROM parquet
UNION ALL
SELECT l."_key", l."_line",
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN substr(ltrim(l.line), 1, 1) <> '{' THEN 'not a JSON object' END AS "_malformed",
  json_extract_scalar(l.j, '$.id') AS "id",
  json_extract_scalar(l.j, '$.customer_id') AS "customer_id",
  json_extract_scalar(l.j, '$.email') AS "email",
  json_extract_scalar(l.j, '$.cio_id') AS "cio_id",
  json_extract_scalar(l.j, '$.channel') AS "channel",
  json_extract_scalar(l.j, '$.metric') AS "metric",
  json_extract_scalar(l.j, '$.delivery_id') AS "delivery_id",
  json_extract_scalar(l.j, '$.campaign_id') AS "campaign_id",
  json_extract_scalar(l.j, '$.broadcast_id') AS "broadcast_id",
  json_extract_scalar(l.j, '$.newsletter_id') AS "newsletter_id",
  json_extract_scalar(l.j, '$.journey_id') AS "journey_id",
  json_extract_scalar(l.j, '$.action_id') AS "action_id",
  json_extract_scalar(l.j, '$.transactional_message_id') AS "transactional_message_id",
  json_extract_scalar(l.j, '$.href') AS "href",
  json_extract_scalar(l.j, '$.ts') AS "ts",
  json_extract_scalar(l.j, '$.received_at') AS "received_at",
  json_extract_scalar(l.j, '$.source') AS "source"
FROM lines l
LEFT JOIN (SELECT DISTINCT "_key" FROM parquet) c ON c."_key" = l."_key"
WHERE c."_key" IS NULL;

CREATE OR REPLACE VIEW previous_a0 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audience_sync.audience_winback_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audience_sync.audience_winback_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW previous_a1 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audience_sync.audience_vips_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audience_sync.audience_vips_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

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

CREATE OR REPLACE VIEW ev_relevant AS
SELECT r._key, r._line, r.id, try(from_iso8601_timestamp(r.received_at)) AS received, substr(r.ts, 1, 10) AS day, r."customer_id", r."email", r."name", r."properties", r."ts"
FROM raw_events r
WHERE r."name" IN ('order') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND regexp_like(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order');

CREATE OR REPLACE VIEW ev_dups AS
SELECT id FROM ev_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW ev_dup_first AS
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) AS _first FROM (SELECT * FROM ev_relevant WHERE id IN (SELECT id FROM ev_dups)) r
) t
WHERE _first = 1;

CREATE OR REPLACE VIEW ev_winners AS
SELECT "id", "received", "day", "customer_id", "email", "name", "properties", "ts" FROM ev_relevant WHERE id NOT IN (SELECT id FROM ev_dups)
UNION ALL
SELECT "id", "received", "day", "customer_id", "email", "name", "properties", "ts" FROM ev_dup_first;

CREATE OR REPLACE VIEW ev_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ev_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE VIEW ev_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE em.owner END AS owner
FROM ev_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN ev_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END);

CREATE OR REPLACE VIEW ev_agg AS
SELECT owner, count(*) AS records, count(*) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_n,
  max(w.day) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_last,
  sum((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END)) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_p0_sum,
  max((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END)) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_p0_max,
  avg((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END)) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_p0_avg,
  min_by((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END), w.ts || w.id) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10' AND (CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END) IS NOT NULL) AS e0_p0_first,
  max_by((CASE WHEN CASE WHEN json_extract(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.sku')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN json_extract_scalar(json_extract(w.properties, '$.sku'), '$') END), w.ts || w.id) FILTER (WHERE w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10' AND (CASE WHEN CASE WHEN json_extract(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.sku')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN json_extract_scalar(json_extract(w.properties, '$.sku'), '$') END) IS NOT NULL) AS e0_p1_last_text
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE VIEW e0_gaps AS
SELECT owner, ((element_at(array_sort(array_agg(gap)), (count(gap) + 1) / 2) + element_at(array_sort(array_agg(gap)), count(gap) / 2 + 1)) / 2) AS gap
FROM (
  SELECT w.owner, CAST(date_diff('day', TRY_CAST(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day) AS date), TRY_CAST(w.day AS date)) AS double) AS gap
  FROM ev_resolved w
  WHERE w.owner IS NOT NULL AND w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10'
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE VIEW msg_relevant AS
SELECT r._key, r._line, r.id, try(from_iso8601_timestamp(r.received_at)) AS received, substr(r.ts, 1, 10) AS day, r."customer_id", r."email", r."cio_id", r."channel", r."metric"
FROM raw_messages r
WHERE r."channel" IN ('email') AND r."metric" IN ('opened') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND regexp_like(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r."channel" = 'email', false) AND COALESCE(r."metric" = 'opened', false)));

CREATE OR REPLACE VIEW msg_dups AS
SELECT id FROM msg_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW msg_dup_first AS
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) AS _first FROM (SELECT * FROM msg_relevant WHERE id IN (SELECT id FROM msg_dups)) r
) t
WHERE _first = 1;

CREATE OR REPLACE VIEW msg_winners AS
SELECT "id", "received", "day", "customer_id", "email", "cio_id", "channel", "metric" FROM msg_relevant WHERE id NOT IN (SELECT id FROM msg_dups)
UNION ALL
SELECT "id", "received", "day", "customer_id", "email", "cio_id", "channel", "metric" FROM msg_dup_first;

CREATE OR REPLACE VIEW msg_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE VIEW msg_cio_owners AS
SELECT cio_id, owner FROM cio_map WHERE cio_id IN (SELECT r.cio_id FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE VIEW msg_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE COALESCE(em.owner, cio.owner) END AS owner
FROM msg_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN msg_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END)
LEFT JOIN msg_cio_owners cio ON cio.cio_id = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN w.cio_id END);

CREATE OR REPLACE VIEW msg_agg AS
SELECT owner, count(*) AS records, count(*) FILTER (WHERE (COALESCE(w."channel" = 'email', false) AND COALESCE(w."metric" = 'opened', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m0_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE VIEW features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot,
  COALESCE(ev.e0_n, 0) AS e0_n,
  ev.e0_last AS e0_last,
  g_e0.gap AS e0_gap,
  ev.e0_p0_sum AS e0_p0_sum,
  ev.e0_p0_avg AS e0_p0_avg,
  ev.e0_p0_max AS e0_p0_max,
  ev.e0_p0_first AS e0_p0_first,
  ev.e0_p1_last_text AS e0_p1_last_text,
  COALESCE(msg.m0_n, 0) AS m0_n
FROM (SELECT customer_id AS id FROM people
UNION
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id
LEFT JOIN e0_gaps g_e0 ON g_e0.owner = k.id;

CREATE OR REPLACE VIEW traits AS
SELECT f.customer_id,
  CAST(f.e0_n AS double) AS t_orders,
  COALESCE(f.e0_p0_sum, CAST('0' AS double)) AS t_spend,
  f.e0_p0_avg AS t_aov,
  f.e0_p0_max AS t_top_order,
  f.e0_p1_last_text AS t_last_sku,
  f.e0_p0_first AS t_first_value,
  f.e0_last AS t_last_order_day,
  f.e0_gap AS t_gap,
  date_format(date_add('day', CAST(round(COALESCE((f.e0_gap), CAST('30' AS double))) AS bigint), TRY_CAST((f.e0_last) AS date)), '%Y-%m-%d') AS t_next_order,
  COALESCE(CAST(date_diff('day', TRY_CAST(f.e0_last AS date), TRY_CAST('2026-03-10' AS date)) AS double), CAST('999' AS double)) AS t_since,
  CASE WHEN (COALESCE(CAST(date_diff('day', TRY_CAST(f.e0_last AS date), TRY_CAST('2026-03-10' AS date)) AS double), CAST('999' AS double))) IS NULL THEN NULL WHEN (COALESCE(CAST(date_diff('day', TRY_CAST(f.e0_last AS date), TRY_CAST('2026-03-10' AS date)) AS double), CAST('999' AS double))) < CAST('30' AS double) THEN 'active' WHEN (COALESCE(CAST(date_diff('day', TRY_CAST(f.e0_last AS date), TRY_CAST('2026-03-10' AS date)) AS double), CAST('999' AS double))) < CAST('90' AS double) THEN 'cooling' ELSE 'lapsed' END AS t_tier,
  CASE WHEN ((COALESCE((COALESCE(f.e0_p0_sum, CAST('0' AS double))) >= CAST('100' AS double), false)) AND (f.m0_n >= 1)) THEN 'engaged_vip' ELSE 'standard' END AS t_value_tier
FROM features f;

CREATE OR REPLACE VIEW blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE VIEW a0_scored AS
SELECT f.customer_id,
  (((NOT COALESCE(tr.t_tier = 'active', false))) AND (COALESCE(tr.t_next_order <= '2026-03-20', false))) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  ((CAST('0' AS double) + CAST('1' AS double) * COALESCE(tr.t_spend, CAST('0' AS double))) + CAST('0.1' AS double) * COALESCE(tr.t_aov, CAST('0' AS double))) AS score
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
WHERE s.rank <= (1000000 * s.eligible + 999999) / 1000000;

CREATE OR REPLACE VIEW a1_scored AS
SELECT f.customer_id,
  COALESCE(tr.t_value_tier = 'engaged_vip', false) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS double) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot);

CREATE OR REPLACE VIEW a1 AS
SELECT s.customer_id, 'treatment' AS "group", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= (1000000 * s.eligible + 999999) / 1000000;

SELECT 'winback' AS audience, customer_id, "group", score, rank, entered FROM a0
UNION ALL
SELECT 'vips' AS audience, customer_id, "group", score, rank, entered FROM a1
ORDER BY audience, rank;
