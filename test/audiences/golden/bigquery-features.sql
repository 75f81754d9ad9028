-- audience-sync sql --dialect bigquery: the build for one day, over the store at gs://acme-audiences/prod
-- day 2026-03-10; audiences in build order: buyers (a0), top-cart-2026 (a1), clickers (a2), vip (a3)
-- raw events read from 2026-02-25 to 2026-03-10
-- raw messages read from 2026-02-09 to 2026-03-10
-- BigQuery (GoogleSQL). Run the whole script as one multi-statement query (the temporary tables
-- live for that query); the external tables are created in the dataset audiences_prod.
-- Written from the engine documentation and golden-tested; not run against the engine.
-- See docs/warehouse.md for what differs from the build (DuckDB).

CREATE SCHEMA IF NOT EXISTS audiences_prod;

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.people_lines (
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

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_events_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/raw/events/*.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/events',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_events_parquet (
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
  uris = ['gs://acme-audiences/prod/raw/events/*.parquet'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/events'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_events_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/raw/events/*_compacted.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/events',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_messages_lines (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/raw/messages/*.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/messages',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_messages_parquet (
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
  uris = ['gs://acme-audiences/prod/raw/messages/*.parquet'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/messages'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.raw_messages_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/raw/messages/*_compacted.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/messages',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_buyers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/buyers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/buyers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_buyers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/buyers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/buyers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_top_cart_2026_f4be25bd_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/top-cart-2026/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/top-cart-2026',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_top_cart_2026_f4be25bd_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/top-cart-2026/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/top-cart-2026',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_clickers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/clickers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/clickers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_clickers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/clickers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/clickers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_vip_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/vip/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/vip',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audiences_prod.audience_vip_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/vip/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/vip',
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
  FROM audiences_prod.people_lines
  WHERE dt = '2026-03-10' AND line <> ''
)
WHERE j IS NOT NULL AND JSON_VALUE(j, '$.customer_id') IS NOT NULL;

CREATE OR REPLACE TEMP TABLE raw_events AS
WITH manifests AS (
  SELECT REGEXP_EXTRACT(line, '^\\s*"key": "([^"]+[.]parquet)",?$') AS parquet_key,
    REGEXP_EXTRACT(line, '^\\s*"([^"]+[.]jsonl[.]gz)",?$') AS source_key
  FROM audiences_prod.raw_events_manifests
  WHERE dt BETWEEN '2026-02-25' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audiences_prod.raw_events_parquet
  WHERE dt BETWEEN '2026-02-25' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/events/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audiences_prod.raw_events_lines
  WHERE dt BETWEEN '2026-02-25' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
  FROM audiences_prod.raw_messages_manifests
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audiences_prod.raw_messages_parquet
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audiences_prod.raw_messages_lines
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
FROM audiences_prod.audience_buyers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audiences_prod.audience_buyers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a1 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audiences_prod.audience_top_cart_2026_f4be25bd_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audiences_prod.audience_top_cart_2026_f4be25bd_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a2 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audiences_prod.audience_clickers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audiences_prod.audience_clickers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a3 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audiences_prod.audience_vip_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audiences_prod.audience_vip_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE WHEN JSON_QUERY(p.person, '$.unsubscribed') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.unsubscribed'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'BOOLEAN' AND JSON_VALUE(JSON_QUERY(p.person, '$.unsubscribed')) = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p0,
  (COALESCE(((CASE WHEN JSON_QUERY(p.person, '$.country') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.country'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND JSON_VALUE(JSON_QUERY(p.person, '$.country')) = 'FR')), false)) AS p1,
  ((COALESCE((CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(p.person, '$.attributes.ltv') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.attributes.ltv'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(p.person, '$.attributes.ltv')) AS FLOAT64) END END) >= CAST('100' AS FLOAT64), false))) AS p2
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
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`name`, r.`properties`
FROM raw_events r
WHERE r.`name` IN ('checkout_started', 'order_completed', 'page_viewed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order_completed'
    OR r.name = 'checkout_started'
    OR r.name = 'page_viewed');

CREATE OR REPLACE TEMP TABLE ev_dups AS
SELECT id FROM ev_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE ev_dup_first AS
SELECT * FROM (SELECT * FROM ev_relevant WHERE id IN (SELECT id FROM ev_dups)) r
WHERE true
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMP TABLE ev_winners AS
SELECT `id`, `received`, `day`, `customer_id`, `email`, `name`, `properties` FROM ev_relevant WHERE id NOT IN (SELECT id FROM ev_dups)
UNION ALL
SELECT `id`, `received`, `day`, `customer_id`, `email`, `name`, `properties` FROM ev_dup_first;

CREATE OR REPLACE TEMP TABLE ev_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ev_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMP TABLE ev_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE em.owner END AS owner
FROM ev_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN ev_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END);

CREATE OR REPLACE TEMP TABLE ev_agg AS
SELECT owner, count(*) AS records, COUNTIF(w.name = 'order_completed' AND w.day >= '2026-02-25' AND w.day <= '2026-03-10') AS e0_n,
  COUNTIF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e1_n,
  max(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', w.day, NULL)) AS e1_last,
  SUM(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e1_p0_sum,
  max(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e1_p0_max,
  min(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(COALESCE(JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$[0]'), JSON_QUERY(JSON_QUERY(w.properties, '$.cart.items'), '$."0"')), '$.qty')) AS FLOAT64) END END), NULL)) AS e1_p1_min,
  COUNTIF(w.name = 'page_viewed' AND w.day >= '2026-03-01' AND w.day <= '2026-03-10' AND (((COALESCE(((CASE WHEN JSON_QUERY(w.properties, '$.path') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.path'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND JSON_VALUE(JSON_QUERY(w.properties, '$.path')) = '/pricing')), false) OR COALESCE(((CASE WHEN JSON_QUERY(w.properties, '$.path') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.path'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND JSON_VALUE(JSON_QUERY(w.properties, '$.path')) = '/checkout')), false))) AND (NOT (CASE WHEN JSON_QUERY(w.properties, '$.utm.source') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.utm.source'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END IS NULL OR CASE WHEN JSON_QUERY(w.properties, '$.utm.source') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.utm.source'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NULL')))) AS e2_n
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE msg_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`cio_id`, r.`channel`, r.`metric`, r.`campaign_id`
FROM raw_messages r
WHERE r.`channel` IN ('email') AND r.`metric` IN ('clicked', 'spammed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'spammed', false))
    OR (COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'clicked', false))
    OR (COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'clicked', false) AND (CASE WHEN SAFE_CAST(r.`campaign_id` AS FLOAT64) = CAST('501' AS FLOAT64) THEN REGEXP_CONTAINS(r.`campaign_id`, '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END)));

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
SELECT owner, count(*) AS records, COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'spammed', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m0_n,
  COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS m1_n,
  COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'clicked', false) AND (CASE WHEN SAFE_CAST(w.`campaign_id` AS FLOAT64) = CAST('501' AS FLOAT64) THEN REGEXP_CONTAINS(w.`campaign_id`, '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END)) AND w.day >= '2026-03-06' AND w.day <= '2026-03-10') AS m2_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE features AS
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
UNION DISTINCT
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION DISTINCT
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id;

CREATE OR REPLACE TEMP TABLE blocked AS
SELECT f.customer_id FROM features f WHERE (f.p0 OR (f.m0_n >= 1));

CREATE OR REPLACE TEMP TABLE a0_scored AS
SELECT f.customer_id,
  (f.e0_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e0_n > 0);

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
  ((f.e1_n >= 1) AND (NOT f.p1)) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  ((((((CAST('0' AS FLOAT64) + CAST('1' AS FLOAT64) * CAST(f.e1_n AS FLOAT64)) + CAST('0.01' AS FLOAT64) * COALESCE(f.e1_p0_sum, CAST('0' AS FLOAT64))) + CAST('0.5' AS FLOAT64) * COALESCE(f.e1_p0_max, CAST('0' AS FLOAT64))) + CAST('0.25' AS FLOAT64) * COALESCE(f.e1_p1_min, CAST('0' AS FLOAT64))) + CAST('-0.1' AS FLOAT64) * COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64), CAST('8' AS FLOAT64))) + CAST('2' AS FLOAT64) * CAST(f.m1_n AS FLOAT64)) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e1_n > 0 OR f.m1_n > 0);

CREATE OR REPLACE TEMP TABLE a1 AS
SELECT s.customer_id, CASE WHEN (CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256('s\'1:' || s.customer_id)), 1, 13)) AS INT64) / CAST(4503599627370496 AS FLOAT64)) < CAST('0.3' AS FLOAT64) THEN 'holdout' ELSE 'treatment' END AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((600000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a2_scored AS
SELECT f.customer_id,
  (f.m2_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.m2_n > 0);

CREATE OR REPLACE TEMP TABLE a2 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a2_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a2 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a3_scored AS
SELECT f.customer_id,
  (f.p2 AND (f.e2_n >= 1)) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e2_n > 0);

CREATE OR REPLACE TEMP TABLE a3 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a3_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a3 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

SELECT 'buyers' AS audience, customer_id, `group`, score, rank, entered FROM a0
UNION ALL
SELECT 'top-cart-2026' AS audience, customer_id, `group`, score, rank, entered FROM a1
UNION ALL
SELECT 'clickers' AS audience, customer_id, `group`, score, rank, entered FROM a2
UNION ALL
SELECT 'vip' AS audience, customer_id, `group`, score, rank, entered FROM a3
ORDER BY audience, rank;
