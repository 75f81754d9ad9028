-- audience-sync sql --dialect athena: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: buyers (a0), top-cart-2026 (a1), clickers (a2), vip (a3)
-- raw events read from 2026-02-25 to 2026-03-10
-- raw messages read from 2026-02-09 to 2026-03-10
-- Athena (engine version 3). Run the statements one at a time, in order, with audiences_prod as the
-- database of the query context (the views are created there).
-- Parquet parts are read through symlink lists under s3://acme-audiences/prod/athena-symlinks/raw/<dataset>/dt=D/:
-- write them from each day's _compacted.json after every compaction (docs/warehouse.md).
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE DATABASE IF NOT EXISTS audiences_prod;

DROP TABLE IF EXISTS audiences_prod.people_lines;

CREATE EXTERNAL TABLE audiences_prod.people_lines (line string)
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

DROP TABLE IF EXISTS audiences_prod.raw_events_lines;

CREATE EXTERNAL TABLE audiences_prod.raw_events_lines (line string)
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

DROP TABLE IF EXISTS audiences_prod.raw_events_parquet;

CREATE EXTERNAL TABLE audiences_prod.raw_events_parquet (
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

DROP TABLE IF EXISTS audiences_prod.raw_messages_lines;

CREATE EXTERNAL TABLE audiences_prod.raw_messages_lines (line string)
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

DROP TABLE IF EXISTS audiences_prod.raw_messages_parquet;

CREATE EXTERNAL TABLE audiences_prod.raw_messages_parquet (
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

DROP TABLE IF EXISTS audiences_prod.audience_buyers_lines;

CREATE EXTERNAL TABLE audiences_prod.audience_buyers_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/buyers/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/buyers/dt=${dt}/'
);

DROP TABLE IF EXISTS audiences_prod.audience_top_cart_2026_f4be25bd_lines;

CREATE EXTERNAL TABLE audiences_prod.audience_top_cart_2026_f4be25bd_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/top-cart-2026/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/top-cart-2026/dt=${dt}/'
);

DROP TABLE IF EXISTS audiences_prod.audience_clickers_lines;

CREATE EXTERNAL TABLE audiences_prod.audience_clickers_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/clickers/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/clickers/dt=${dt}/'
);

DROP TABLE IF EXISTS audiences_prod.audience_vip_lines;

CREATE EXTERNAL TABLE audiences_prod.audience_vip_lines (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'
STORED AS TEXTFILE
LOCATION 's3://acme-audiences/prod/audiences/vip/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://acme-audiences/prod/audiences/vip/dt=${dt}/'
);

CREATE OR REPLACE VIEW people_snapshot AS
SELECT json_extract_scalar(j, '$.customer_id') AS customer_id,
  json_extract_scalar(j, '$.email') AS email,
  json_extract_scalar(j, '$.cio_id') AS cio_id,
  TRY_CAST(json_extract(j, '$.merged_ids') AS array(varchar)) AS merged_ids,
  line AS person
FROM (
  SELECT line, try(json_parse(line)) AS j
  FROM audiences_prod.people_lines
  WHERE dt = '2026-03-10' AND "$path" LIKE '%/people.jsonl.gz' AND line <> ''
) s
WHERE j IS NOT NULL AND json_extract_scalar(j, '$.customer_id') IS NOT NULL;

CREATE OR REPLACE VIEW raw_events AS
WITH parquet AS (
  SELECT * FROM audiences_prod.raw_events_parquet WHERE dt BETWEEN '2026-02-25' AND '2026-03-10'
),
lines AS (
  SELECT regexp_extract("$path", 'raw/events/dt=[^/]+/[^/]+$') AS "_key",
    from_big_endian_64(xxhash64(to_utf8(line))) AS "_line",
    line, try(json_parse(line)) AS j
  FROM audiences_prod.raw_events_lines
  WHERE dt BETWEEN '2026-02-25' AND '2026-03-10' AND "$path" LIKE '%.jsonl.gz' AND line <> ''
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
  SELECT * FROM audiences_prod.raw_messages_parquet WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
),
lines AS (
  SELECT regexp_extract("$path", 'raw/messages/dt=[^/]+/[^/]+$') AS "_key",
    from_big_endian_64(xxhash64(to_utf8(line))) AS "_line",
    line, try(json_parse(line)) AS j
  FROM audiences_prod.raw_messages_lines
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
FROM audiences_prod.audience_buyers_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audiences_prod.audience_buyers_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW previous_a1 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audiences_prod.audience_top_cart_2026_f4be25bd_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audiences_prod.audience_top_cart_2026_f4be25bd_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW previous_a2 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audiences_prod.audience_clickers_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audiences_prod.audience_clickers_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW previous_a3 AS
SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM audiences_prod.audience_vip_lines
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM audiences_prod.audience_vip_lines WHERE dt < '2026-03-10' AND "$path" LIKE '%/manifest.json');

CREATE OR REPLACE VIEW people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE WHEN json_extract(p.person, '$.unsubscribed') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.unsubscribed')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'BOOLEAN' AND json_extract_scalar(json_extract(p.person, '$.unsubscribed'), '$') = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p0,
  (COALESCE(((CASE WHEN json_extract(p.person, '$.country') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.country')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND json_extract_scalar(json_extract(p.person, '$.country'), '$') = 'FR')), false)) AS p1,
  ((COALESCE((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.attributes.ltv')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$') AS double) WHEN CASE WHEN json_extract(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.attributes.ltv')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.attributes.ltv')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$') AS double) WHEN CASE WHEN json_extract(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(p.person, '$.attributes.ltv')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(p.person, '$.attributes.ltv'), '$') AS double) END END) >= CAST('100' AS double), false))) AS p2
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
SELECT r._key, r._line, r.id, try(from_iso8601_timestamp(r.received_at)) AS received, substr(r.ts, 1, 10) AS day, r."customer_id", r."email", r."name", r."properties"
FROM raw_events r
WHERE r."name" IN ('checkout_started', 'order_completed', 'page_viewed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND regexp_like(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order_completed'
    OR r.name = 'checkout_started'
    OR r.name = 'page_viewed');

CREATE OR REPLACE VIEW ev_dups AS
SELECT id FROM ev_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW ev_dup_first AS
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) AS _first FROM (SELECT * FROM ev_relevant WHERE id IN (SELECT id FROM ev_dups)) r
) t
WHERE _first = 1;

CREATE OR REPLACE VIEW ev_winners AS
SELECT "id", "received", "day", "customer_id", "email", "name", "properties" FROM ev_relevant WHERE id NOT IN (SELECT id FROM ev_dups)
UNION ALL
SELECT "id", "received", "day", "customer_id", "email", "name", "properties" FROM ev_dup_first;

CREATE OR REPLACE VIEW ev_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ev_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE VIEW ev_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE em.owner END AS owner
FROM ev_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN ev_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END);

CREATE OR REPLACE VIEW ev_agg AS
SELECT owner, count(*) AS records, count(*) FILTER (WHERE w.name = 'order_completed' AND w.day >= '2026-02-25' AND w.day <= '2026-03-10') AS e0_n,
  count(*) FILTER (WHERE w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_n,
  max(w.day) FILTER (WHERE w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_last,
  sum((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END)) FILTER (WHERE w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_p0_sum,
  max((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) WHEN CASE WHEN json_extract(w.properties, '$.value') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.value')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(w.properties, '$.value'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(w.properties, '$.value'), '$') AS double) END END)) FILTER (WHERE w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_p0_max,
  min((CASE WHEN is_finite(CASE WHEN CASE WHEN json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$') AS double) WHEN CASE WHEN json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$') AS double) END) THEN CASE WHEN CASE WHEN json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN TRY_CAST(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$') AS double) WHEN CASE WHEN json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND regexp_like(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$'), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN TRY_CAST(json_extract_scalar(json_extract(COALESCE(json_extract(json_extract(w.properties, '$.cart.items'), '$[0]'), json_extract(json_extract(w.properties, '$.cart.items'), '$["0"]')), '$.qty'), '$') AS double) END END)) FILTER (WHERE w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_p1_min,
  count(*) FILTER (WHERE w.name = 'page_viewed' AND w.day >= '2026-03-01' AND w.day <= '2026-03-10' AND (((COALESCE(((CASE WHEN json_extract(w.properties, '$.path') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.path')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND json_extract_scalar(json_extract(w.properties, '$.path'), '$') = '/pricing')), false) OR COALESCE(((CASE WHEN json_extract(w.properties, '$.path') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.path')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND json_extract_scalar(json_extract(w.properties, '$.path'), '$') = '/checkout')), false))) AND (NOT (CASE WHEN json_extract(w.properties, '$.utm.source') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.utm.source')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IS NULL OR CASE WHEN json_extract(w.properties, '$.utm.source') IS NULL THEN NULL ELSE CASE substr(json_format(json_extract(w.properties, '$.utm.source')), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NULL')))) AS e2_n
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE VIEW msg_relevant AS
SELECT r._key, r._line, r.id, try(from_iso8601_timestamp(r.received_at)) AS received, substr(r.ts, 1, 10) AS day, r."customer_id", r."email", r."cio_id", r."channel", r."metric", r."campaign_id"
FROM raw_messages r
WHERE r."channel" IN ('email') AND r."metric" IN ('clicked', 'spammed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND regexp_like(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r."channel" = 'email', false) AND COALESCE(r."metric" = 'spammed', false))
    OR (COALESCE(r."channel" = 'email', false) AND COALESCE(r."metric" = 'clicked', false))
    OR (COALESCE(r."channel" = 'email', false) AND COALESCE(r."metric" = 'clicked', false) AND (CASE WHEN TRY_CAST(r."campaign_id" AS double) = CAST('501' AS double) THEN regexp_like(r."campaign_id", '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END)));

CREATE OR REPLACE VIEW msg_dups AS
SELECT id FROM msg_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW msg_dup_first AS
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) AS _first FROM (SELECT * FROM msg_relevant WHERE id IN (SELECT id FROM msg_dups)) r
) t
WHERE _first = 1;

CREATE OR REPLACE VIEW msg_winners AS
SELECT "id", "received", "day", "customer_id", "email", "cio_id", "channel", "metric", "campaign_id" FROM msg_relevant WHERE id NOT IN (SELECT id FROM msg_dups)
UNION ALL
SELECT "id", "received", "day", "customer_id", "email", "cio_id", "channel", "metric", "campaign_id" FROM msg_dup_first;

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
SELECT owner, count(*) AS records, count(*) FILTER (WHERE (COALESCE(w."channel" = 'email', false) AND COALESCE(w."metric" = 'spammed', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m0_n,
  count(*) FILTER (WHERE (COALESCE(w."channel" = 'email', false) AND COALESCE(w."metric" = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS m1_n,
  count(*) FILTER (WHERE (COALESCE(w."channel" = 'email', false) AND COALESCE(w."metric" = 'clicked', false) AND (CASE WHEN TRY_CAST(w."campaign_id" AS double) = CAST('501' AS double) THEN regexp_like(w."campaign_id", '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END)) AND w.day >= '2026-03-06' AND w.day <= '2026-03-10') AS m2_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE VIEW features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p0 END AS p0,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p1 END AS p1,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p2 END AS p2,
  COALESCE(msg.m0_n, 0) AS m0_n,
  COALESCE(ev.e0_n, 0) AS e0_n,
  COALESCE(ev.e1_n, 0) AS e1_n,
  ev.e1_last AS e1_last,
  ev.e1_p0_sum AS e1_p0_sum,
  ev.e1_p0_max AS e1_p0_max,
  ev.e1_p1_min AS e1_p1_min,
  COALESCE(msg.m1_n, 0) AS m1_n,
  COALESCE(msg.m2_n, 0) AS m2_n,
  COALESCE(ev.e2_n, 0) AS e2_n
FROM (SELECT customer_id AS id FROM people
UNION
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id;

CREATE OR REPLACE VIEW blocked AS
SELECT f.customer_id FROM features f WHERE (f.p0 OR (f.m0_n >= 1));

CREATE OR REPLACE VIEW a0_scored AS
SELECT f.customer_id,
  (f.e0_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS double) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e0_n > 0);

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
  ((f.e1_n >= 1) AND (NOT f.p1)) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  ((((((CAST('0' AS double) + CAST('1' AS double) * CAST(f.e1_n AS double)) + CAST('0.01' AS double) * COALESCE(f.e1_p0_sum, CAST('0' AS double))) + CAST('0.5' AS double) * COALESCE(f.e1_p0_max, CAST('0' AS double))) + CAST('0.25' AS double) * COALESCE(f.e1_p1_min, CAST('0' AS double))) + CAST('-0.1' AS double) * COALESCE(CAST(date_diff('day', TRY_CAST(f.e1_last AS date), TRY_CAST('2026-03-10' AS date)) AS double), CAST('8' AS double))) + CAST('2' AS double) * CAST(f.m1_n AS double)) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e1_n > 0 OR f.m1_n > 0);

CREATE OR REPLACE VIEW a1 AS
SELECT s.customer_id, CASE WHEN (CAST(from_base(substr(to_hex(sha256(to_utf8('s''1:' || s.customer_id))), 1, 13), 16) AS double) / CAST(4503599627370496 AS double)) < CAST('0.3' AS double) THEN 'holdout' ELSE 'treatment' END AS "group", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= (600000 * s.eligible + 999999) / 1000000;

CREATE OR REPLACE VIEW a2_scored AS
SELECT f.customer_id,
  (f.m2_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS double) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.m2_n > 0);

CREATE OR REPLACE VIEW a2 AS
SELECT s.customer_id, 'treatment' AS "group", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a2_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a2 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= (1000000 * s.eligible + 999999) / 1000000;

CREATE OR REPLACE VIEW a3_scored AS
SELECT f.customer_id,
  (f.p2 AND (f.e2_n >= 1)) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS double) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e2_n > 0);

CREATE OR REPLACE VIEW a3 AS
SELECT s.customer_id, 'treatment' AS "group", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a3_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a3 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= (1000000 * s.eligible + 999999) / 1000000;

SELECT 'buyers' AS audience, customer_id, "group", score, rank, entered FROM a0
UNION ALL
SELECT 'top-cart-2026' AS audience, customer_id, "group", score, rank, entered FROM a1
UNION ALL
SELECT 'clickers' AS audience, customer_id, "group", score, rank, entered FROM a2
UNION ALL
SELECT 'vip' AS audience, customer_id, "group", score, rank, entered FROM a3
ORDER BY audience, rank;
