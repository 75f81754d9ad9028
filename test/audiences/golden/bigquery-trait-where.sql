-- audience-sync sql --dialect bigquery: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: above_average (a0), browsing_on (a1)
-- traits (table traits, one column each): aov number (t_aov), big_orders number (t_big_orders), last_sku string (t_last_sku), small_orders number (t_small_orders), big_gap number (t_big_gap), fav_campaign string (t_fav_campaign)
-- raw events read from 2026-02-09 to 2026-03-10
-- raw messages read from 2026-03-04 to 2026-03-10
-- BigQuery (GoogleSQL). Run the whole script as one multi-statement query (the temporary tables
-- live for that query); the external tables are created in the dataset audience_sync.
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE SCHEMA IF NOT EXISTS audience_sync;

CREATE OR REPLACE EXTERNAL TABLE audience_sync.people_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/people/*people.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/people',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_events_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/raw/events/*.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/events',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_events_parquet (
  _key STRING,
  _line INT64,
  id STRING,
  customer_id STRING,
  anonymous_id STRING,
  email STRING,
  name STRING,
  raw_name STRING,
  ts STRING,
  received_at STRING,
  source STRING,
  properties STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'PARQUET',
  uris = ['s3://acme-audiences/prod/raw/events/*.parquet'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/events'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_events_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/raw/events/*_compacted.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/events',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_messages_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/raw/messages/*.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/messages',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_messages_parquet (
  _key STRING,
  _line INT64,
  id STRING,
  customer_id STRING,
  email STRING,
  cio_id STRING,
  channel STRING,
  metric STRING,
  delivery_id STRING,
  campaign_id STRING,
  broadcast_id STRING,
  newsletter_id STRING,
  journey_id STRING,
  action_id STRING,
  transactional_message_id STRING,
  href STRING,
  ts STRING,
  received_at STRING,
  source STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'PARQUET',
  uris = ['s3://acme-audiences/prod/raw/messages/*.parquet'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/messages'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_messages_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/raw/messages/*_compacted.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/raw/messages',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_above_average_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/above_average/*members.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/above_average',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_above_average_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/above_average/*manifest.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/above_average',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_browsing_on_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/browsing_on/*members.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/browsing_on',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_browsing_on_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/browsing_on/*manifest.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/browsing_on',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
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

CREATE OR REPLACE TEMP TABLE raw_events AS
WITH manifests AS (
  SELECT REGEXP_EXTRACT(line, '^\\s*"key": "([^"]+[.]parquet)",?$') AS parquet_key,
    REGEXP_EXTRACT(line, '^\\s*"([^"]+[.]jsonl[.]gz)",?$') AS source_key
  FROM audience_sync.raw_events_manifests
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audience_sync.raw_events_parquet
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.raw_events_lines
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS STRING) AS _malformed, id, customer_id, anonymous_id, email, name, raw_name, ts, received_at, source, properties
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN JSON_TYPE(l.j) <> 'object' THEN 'not a JSON object' END AS _malformed,
  JSON_VALUE(l.j, '$.id') AS id,
  JSON_VALUE(l.j, '$.customer_id') AS customer_id,
  JSON_VALUE(l.j, '$.anonymous_id') AS anonymous_id,
  JSON_VALUE(l.j, '$.email') AS email,
  JSON_VALUE(l.j, '$.name') AS name,
  JSON_VALUE(l.j, '$.raw_name') AS raw_name,
  JSON_VALUE(l.j, '$.ts') AS ts,
  JSON_VALUE(l.j, '$.received_at') AS received_at,
  JSON_VALUE(l.j, '$.source') AS source,
  TO_JSON_STRING(JSON_QUERY(l.j, '$.properties')) AS properties
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM manifests WHERE source_key IS NOT NULL);

CREATE OR REPLACE TEMP TABLE raw_messages AS
WITH manifests AS (
  SELECT REGEXP_EXTRACT(line, '^\\s*"key": "([^"]+[.]parquet)",?$') AS parquet_key,
    REGEXP_EXTRACT(line, '^\\s*"([^"]+[.]jsonl[.]gz)",?$') AS source_key
  FROM audience_sync.raw_messages_manifests
  WHERE dt BETWEEN '2026-03-04' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audience_sync.raw_messages_parquet
  WHERE dt BETWEEN '2026-03-04' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.raw_messages_lines
  WHERE dt BETWEEN '2026-03-04' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS STRING) AS _malformed, id, customer_id, email, cio_id, channel, metric, delivery_id, campaign_id, broadcast_id, newsletter_id, journey_id, action_id, transactional_message_id, href, ts, received_at, source
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN JSON_TYPE(l.j) <> 'object' THEN 'not a JSON object' END AS _malformed,
  JSON_VALUE(l.j, '$.id') AS id,
  JSON_VALUE(l.j, '$.customer_id') AS customer_id,
  JSON_VALUE(l.j, '$.email') AS email,
  JSON_VALUE(l.j, '$.cio_id') AS cio_id,
  JSON_VALUE(l.j, '$.channel') AS channel,
  JSON_VALUE(l.j, '$.metric') AS metric,
  JSON_VALUE(l.j, '$.delivery_id') AS delivery_id,
  JSON_VALUE(l.j, '$.campaign_id') AS campaign_id,
  JSON_VALUE(l.j, '$.broadcast_id') AS broadcast_id,
  JSON_VALUE(l.j, '$.newsletter_id') AS newsletter_id,
  JSON_VALUE(l.j, '$.journey_id') AS journey_id,
  JSON_VALUE(l.j, '$.action_id') AS action_id,
  JSON_VALUE(l.j, '$.transactional_message_id') AS transactional_message_id,
  JSON_VALUE(l.j, '$.href') AS href,
  JSON_VALUE(l.j, '$.ts') AS ts,
  JSON_VALUE(l.j, '$.received_at') AS received_at,
  JSON_VALUE(l.j, '$.source') AS source
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM manifests WHERE source_key IS NOT NULL);

CREATE OR REPLACE TEMP TABLE previous_a0 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_above_average_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_above_average_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a1 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_browsing_on_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_browsing_on_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(((CASE WHEN JSON_QUERY(p.person, '$.country') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.country'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND JSON_VALUE(JSON_QUERY(p.person, '$.country')) = 'FR')), false)) AS p0
FROM people_snapshot p;

CREATE OR REPLACE TEMP TABLE id_map AS
SELECT m.id, min(m.owner) AS owner
FROM (SELECT id, customer_id AS owner FROM people CROSS JOIN UNNEST(people.merged_ids) AS id) m
GROUP BY m.id;

CREATE OR REPLACE TEMP TABLE email_map AS
SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email;

CREATE OR REPLACE TEMP TABLE cio_map AS
SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id;

CREATE OR REPLACE TEMP TABLE ev_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`name`, r.`properties`, r.`ts`
FROM raw_events r
WHERE r.`name` IN ('order', 'product_viewed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order'
    OR r.name = 'product_viewed');

CREATE OR REPLACE TEMP TABLE ev_dups AS
SELECT id FROM ev_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE ev_dup_first AS
SELECT * FROM (SELECT * FROM ev_relevant WHERE id IN (SELECT id FROM ev_dups)) r
WHERE true
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMP TABLE ev_winners AS
SELECT `id`, `received`, `day`, `customer_id`, `email`, `name`, `properties`, `ts` FROM ev_relevant WHERE id NOT IN (SELECT id FROM ev_dups)
UNION ALL
SELECT `id`, `received`, `day`, `customer_id`, `email`, `name`, `properties`, `ts` FROM ev_dup_first;

CREATE OR REPLACE TEMP TABLE ev_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ev_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMP TABLE ev_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE em.owner END AS owner
FROM ev_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN ev_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END);

CREATE OR REPLACE TEMP TABLE ev_agg AS
SELECT owner, count(*) AS records, COUNTIF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e0_n,
  avg(IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e0_p0_avg,
  ARRAY_AGG(IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10', (CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.sku'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN JSON_VALUE(JSON_QUERY(w.properties, '$.sku')) END), NULL) IGNORE NULLS ORDER BY IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND (CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.sku'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN JSON_VALUE(JSON_QUERY(w.properties, '$.sku')) END) IS NOT NULL, w.ts || w.id, NULL) DESC NULLS LAST LIMIT 1)[SAFE_OFFSET(0)] AS e0_p1_last_text
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE msg_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`cio_id`, r.`channel`, r.`metric`, r.`campaign_id`
FROM raw_messages r
WHERE r.`channel` IN ('email') AND r.`metric` IN ('clicked') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'clicked', false)));

CREATE OR REPLACE TEMP TABLE msg_dups AS
SELECT id FROM msg_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE msg_dup_first AS
SELECT * FROM (SELECT * FROM msg_relevant WHERE id IN (SELECT id FROM msg_dups)) r
WHERE true
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMP TABLE msg_winners AS
SELECT `id`, `received`, `day`, `customer_id`, `email`, `cio_id`, `channel`, `metric`, `campaign_id` FROM msg_relevant WHERE id NOT IN (SELECT id FROM msg_dups)
UNION ALL
SELECT `id`, `received`, `day`, `customer_id`, `email`, `cio_id`, `channel`, `metric`, `campaign_id` FROM msg_dup_first;

CREATE OR REPLACE TEMP TABLE msg_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMP TABLE msg_cio_owners AS
SELECT cio_id, owner FROM cio_map WHERE cio_id IN (SELECT r.cio_id FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMP TABLE msg_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE COALESCE(em.owner, cio.owner) END AS owner
FROM msg_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN msg_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END)
LEFT JOIN msg_cio_owners cio ON cio.cio_id = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN w.cio_id END);

CREATE OR REPLACE TEMP TABLE msg_agg AS
SELECT owner, count(*) AS records
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p0 END AS p0,
  COALESCE(ev.e0_n, 0) AS e0_n,
  ev.e0_p0_avg AS e0_p0_avg,
  ev.e0_p1_last_text AS e0_p1_last_text
FROM (SELECT customer_id AS id FROM people
UNION DISTINCT
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION DISTINCT
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id;

CREATE OR REPLACE TEMP TABLE where_traits_1 AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  f.e0_p1_last_text AS t_last_sku,
  CASE WHEN f.p0 THEN '501' ELSE '502' END AS t_fav_campaign
FROM features f;

CREATE OR REPLACE TEMP TABLE ev_agg_1 AS
SELECT w.owner, COUNTIF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) > tw.t_aov, false)))) AS e1_n,
  COUNTIF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) <= tw.t_aov, false)))) AS e3_n,
  COUNTIF(w.name = 'order' AND w.day >= '2026-03-08' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) >= tw.t_aov, false)))) AS e4_n,
  COUNTIF(w.name = 'product_viewed' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10' AND (((tw.t_last_sku IS NOT NULL AND NOT COALESCE((CASE WHEN JSON_QUERY(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.sku'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND JSON_VALUE(JSON_QUERY(w.properties, '$.sku')) = tw.t_last_sku), false))))) AS e5_n
FROM ev_resolved w
JOIN where_traits_1 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMP TABLE e3_gaps AS
SELECT owner, ((ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap) - 1, 2))] + ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap), 2))]) / 2) AS gap
FROM (
  SELECT w.owner, CAST(DATE_DIFF(SAFE_CAST(w.day AS DATE), SAFE_CAST(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day) AS DATE), DAY) AS FLOAT64) AS gap
  FROM ev_resolved w
  JOIN where_traits_1 tw ON tw.customer_id = w.owner
  WHERE w.owner IS NOT NULL AND w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) <= tw.t_aov, false)))
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE msg_agg_1 AS
SELECT w.owner, COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10' AND (COALESCE(w.`campaign_id` = tw.t_fav_campaign, false))) AS m0_n
FROM msg_resolved w
JOIN where_traits_1 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMP TABLE features_1 AS
SELECT f.customer_id,
  COALESCE(ev.e1_n, 0) AS e1_n,
  COALESCE(ev.e3_n, 0) AS e3_n,
  g_e3.gap AS e3_gap,
  COALESCE(ev.e4_n, 0) AS e4_n,
  COALESCE(ev.e5_n, 0) AS e5_n,
  COALESCE(msg.m0_n, 0) AS m0_n
FROM features f
LEFT JOIN ev_agg_1 ev ON ev.owner = f.customer_id
LEFT JOIN e3_gaps g_e3 ON g_e3.owner = f.customer_id
LEFT JOIN msg_agg_1 msg ON msg.owner = f.customer_id;

CREATE OR REPLACE TEMP TABLE where_traits_2 AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  CAST(f1.e1_n AS FLOAT64) AS t_big_orders
FROM features f
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id;

CREATE OR REPLACE TEMP TABLE ev_agg_2 AS
SELECT w.owner, COUNTIF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) <= tw.t_aov, false)) AND (COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.n')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.n')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.n') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.n'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.n')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.n')) AS FLOAT64) END END) < tw.t_big_orders, false)))) AS e2_n
FROM ev_resolved w
JOIN where_traits_2 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMP TABLE features_2 AS
SELECT f.customer_id,
  COALESCE(ev.e2_n, 0) AS e2_n
FROM features f
LEFT JOIN ev_agg_2 ev ON ev.owner = f.customer_id;

CREATE OR REPLACE TEMP TABLE traits AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  CAST(f1.e1_n AS FLOAT64) AS t_big_orders,
  f.e0_p1_last_text AS t_last_sku,
  CAST(f2.e2_n AS FLOAT64) AS t_small_orders,
  f1.e3_gap AS t_big_gap,
  CASE WHEN f.p0 THEN '501' ELSE '502' END AS t_fav_campaign
FROM features f
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id;

CREATE OR REPLACE TEMP TABLE blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE TEMP TABLE a0_scored AS
SELECT f.customer_id,
  (f1.e4_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f1.e4_n > 0);

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
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a1_scored AS
SELECT f.customer_id,
  ((f1.e5_n >= 1) AND (f1.m0_n >= 1)) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  (((CAST('0' AS FLOAT64) + CAST('1' AS FLOAT64) * COALESCE(tr.t_big_orders, CAST('0' AS FLOAT64))) + CAST('0.5' AS FLOAT64) * COALESCE(tr.t_small_orders, CAST('0' AS FLOAT64))) + CAST('0.1' AS FLOAT64) * COALESCE(tr.t_big_gap, CAST('0' AS FLOAT64))) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f1.e5_n > 0 OR f1.m0_n > 0);

CREATE OR REPLACE TEMP TABLE a1 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

SELECT 'above_average' AS audience, customer_id, `group`, score, rank, entered FROM a0
UNION ALL
SELECT 'browsing_on' AS audience, customer_id, `group`, score, rank, entered FROM a1
ORDER BY audience, rank;
