-- audience-sync sql --dialect bigquery: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: winback (a0), vips (a1)
-- traits (table traits, one column each): orders number (t_orders), spend number (t_spend), aov number (t_aov), top_order number (t_top_order), last_sku string (t_last_sku), first_value number (t_first_value), last_order_day date (t_last_order_day), gap number (t_gap), next_order date (t_next_order), since number (t_since), tier string (t_tier), value_tier string (t_value_tier)
-- raw events read from 2025-03-11 to 2026-03-10
-- raw messages read from 2026-02-09 to 2026-03-10
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

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_winback_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/winback/*members.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/winback',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_winback_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/winback/*manifest.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/winback',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_vips_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/vips/*members.jsonl.gz'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/vips',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_vips_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['s3://acme-audiences/prod/audiences/vips/*manifest.json'],
  hive_partition_uri_prefix = 's3://acme-audiences/prod/audiences/vips',
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
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audience_sync.raw_events_parquet
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.raw_events_lines
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audience_sync.raw_messages_parquet
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.raw_messages_lines
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
FROM audience_sync.audience_winback_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_winback_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a1 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_vips_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_vips_manifests WHERE dt < '2026-03-10');

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

CREATE OR REPLACE TEMP TABLE ev_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`name`, r.`properties`, r.`ts`
FROM raw_events r
WHERE r.`name` IN ('order') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order');

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
SELECT owner, count(*) AS records, COUNTIF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e0_n,
  max(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', w.day, NULL)) AS e0_last,
  SUM(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e0_p0_sum,
  max(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e0_p0_max,
  avg(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e0_p0_avg,
  ARRAY_AGG(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL) IGNORE NULLS ORDER BY IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10' AND (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END) IS NOT NULL, w.ts || w.id, NULL) ASC NULLS LAST LIMIT 1)[SAFE_OFFSET(0)] AS e0_p0_first,
  ARRAY_AGG(IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', (CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.sku'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN JSON_VALUE(JSON_QUERY(w.properties, '$.sku')) END), NULL) IGNORE NULLS ORDER BY IF(w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10' AND (CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.sku') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.sku'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN JSON_VALUE(JSON_QUERY(w.properties, '$.sku')) END) IS NOT NULL, w.ts || w.id, NULL) DESC NULLS LAST LIMIT 1)[SAFE_OFFSET(0)] AS e0_p1_last_text
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE e0_gaps AS
SELECT owner, ((ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap) - 1, 2))] + ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap), 2))]) / 2) AS gap
FROM (
  SELECT w.owner, CAST(DATE_DIFF(SAFE_CAST(w.day AS DATE), SAFE_CAST(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day) AS DATE), DAY) AS FLOAT64) AS gap
  FROM ev_resolved w
  WHERE w.owner IS NOT NULL AND w.name = 'order' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10'
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE msg_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`cio_id`, r.`channel`, r.`metric`
FROM raw_messages r
WHERE r.`channel` IN ('email') AND r.`metric` IN ('opened') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'opened', false)));

CREATE OR REPLACE TEMP TABLE msg_dups AS
SELECT id FROM msg_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE msg_dup_first AS
SELECT * FROM (SELECT * FROM msg_relevant WHERE id IN (SELECT id FROM msg_dups)) r
WHERE true
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMP TABLE msg_winners AS
SELECT `id`, `received`, `day`, `customer_id`, `email`, `cio_id`, `channel`, `metric` FROM msg_relevant WHERE id NOT IN (SELECT id FROM msg_dups)
UNION ALL
SELECT `id`, `received`, `day`, `customer_id`, `email`, `cio_id`, `channel`, `metric` FROM msg_dup_first;

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
SELECT owner, count(*) AS records, COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'opened', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m0_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE features AS
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
UNION DISTINCT
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION DISTINCT
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id
LEFT JOIN e0_gaps g_e0 ON g_e0.owner = k.id;

CREATE OR REPLACE TEMP TABLE traits AS
SELECT f.customer_id,
  CAST(f.e0_n AS FLOAT64) AS t_orders,
  COALESCE(f.e0_p0_sum, CAST('0' AS FLOAT64)) AS t_spend,
  f.e0_p0_avg AS t_aov,
  f.e0_p0_max AS t_top_order,
  f.e0_p1_last_text AS t_last_sku,
  f.e0_p0_first AS t_first_value,
  f.e0_last AS t_last_order_day,
  f.e0_gap AS t_gap,
  FORMAT_DATE('%F', DATE_ADD(SAFE_CAST((f.e0_last) AS DATE), INTERVAL CAST(ROUND(COALESCE((f.e0_gap), CAST('30' AS FLOAT64))) AS INT64) DAY)) AS t_next_order,
  COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e0_last AS DATE), DAY) AS FLOAT64), CAST('999' AS FLOAT64)) AS t_since,
  CASE WHEN (COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e0_last AS DATE), DAY) AS FLOAT64), CAST('999' AS FLOAT64))) IS NULL THEN NULL WHEN (COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e0_last AS DATE), DAY) AS FLOAT64), CAST('999' AS FLOAT64))) < CAST('30' AS FLOAT64) THEN 'active' WHEN (COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e0_last AS DATE), DAY) AS FLOAT64), CAST('999' AS FLOAT64))) < CAST('90' AS FLOAT64) THEN 'cooling' ELSE 'lapsed' END AS t_tier,
  CASE WHEN ((COALESCE((COALESCE(f.e0_p0_sum, CAST('0' AS FLOAT64))) >= CAST('100' AS FLOAT64), false)) AND (f.m0_n >= 1)) THEN 'engaged_vip' ELSE 'standard' END AS t_value_tier
FROM features f;

CREATE OR REPLACE TEMP TABLE blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE TEMP TABLE a0_scored AS
SELECT f.customer_id,
  (((NOT COALESCE(tr.t_tier = 'active', false))) AND (COALESCE(tr.t_next_order <= '2026-03-20', false))) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  ((CAST('0' AS FLOAT64) + CAST('1' AS FLOAT64) * COALESCE(tr.t_spend, CAST('0' AS FLOAT64))) + CAST('0.1' AS FLOAT64) * COALESCE(tr.t_aov, CAST('0' AS FLOAT64))) AS score
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
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a1_scored AS
SELECT f.customer_id,
  COALESCE(tr.t_value_tier = 'engaged_vip', false) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot);

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

SELECT 'winback' AS audience, customer_id, `group`, score, rank, entered FROM a0
UNION ALL
SELECT 'vips' AS audience, customer_id, `group`, score, rank, entered FROM a1
ORDER BY audience, rank;
