-- audience-sync sql --dialect bigquery: the build for one day, over the store at gs://acme-audiences/prod
-- day 2026-03-10; audiences in build order: recent_buyers (a0), high_intent_abandoners (a1), winback_email_clickers (a2), recent_sms_recipients (a3), lapsed_customers (a4), customers (a5), refund_exclusions (a6)
-- traits (table traits, one column each): orders_90d number (t_orders_90d), spend_90d number (t_spend_90d), last_order_date date (t_last_order_date), order_gap_days number (t_order_gap_days), predicted_next_order_date date (t_predicted_next_order_date), days_since_order number (t_days_since_order), winback_offer_tier string (t_winback_offer_tier)
-- raw events read from 2025-03-11 to 2026-03-10
-- raw messages read from 2025-12-11 to 2026-03-10
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
  uris = ['gs://acme-audiences/prod/people/*people.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/people',
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
  uris = ['gs://acme-audiences/prod/raw/events/*.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/events',
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
  uris = ['gs://acme-audiences/prod/raw/events/*.parquet'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/events'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_events_manifests (
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

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_messages_lines (
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
  uris = ['gs://acme-audiences/prod/raw/messages/*.parquet'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/raw/messages'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.raw_messages_manifests (
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

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_recent_buyers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/recent_buyers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/recent_buyers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_recent_buyers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/recent_buyers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/recent_buyers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_high_intent_abandoners_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/high_intent_abandoners/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/high_intent_abandoners',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_high_intent_abandoners_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/high_intent_abandoners/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/high_intent_abandoners',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_winback_email_clickers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/winback_email_clickers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/winback_email_clickers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_winback_email_clickers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/winback_email_clickers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/winback_email_clickers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_recent_sms_recipients_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/recent_sms_recipients/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/recent_sms_recipients',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_recent_sms_recipients_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/recent_sms_recipients/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/recent_sms_recipients',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_lapsed_customers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/lapsed_customers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/lapsed_customers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_lapsed_customers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/lapsed_customers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/lapsed_customers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_customers_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/customers/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/customers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_customers_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/customers/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/customers',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_refund_exclusions_members (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/refund_exclusions/*members.jsonl.gz'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/refund_exclusions',
  field_delimiter = '\x01',
  quote = '',
  skip_leading_rows = 0,
  compression = 'GZIP'
);

CREATE OR REPLACE EXTERNAL TABLE audience_sync.audience_refund_exclusions_manifests (
  line STRING
)
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
  format = 'CSV',
  uris = ['gs://acme-audiences/prod/audiences/refund_exclusions/*manifest.json'],
  hive_partition_uri_prefix = 'gs://acme-audiences/prod/audiences/refund_exclusions',
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
  WHERE dt BETWEEN '2025-12-11' AND '2026-03-10'
),
parquet AS (
  SELECT * FROM audience_sync.raw_messages_parquet
  WHERE dt BETWEEN '2025-12-11' AND '2026-03-10'
    AND REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM audience_sync.raw_messages_lines
  WHERE dt BETWEEN '2025-12-11' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
FROM audience_sync.audience_recent_buyers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_recent_buyers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a1 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_high_intent_abandoners_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_high_intent_abandoners_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a2 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_winback_email_clickers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_winback_email_clickers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a3 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_recent_sms_recipients_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_recent_sms_recipients_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a4 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_lapsed_customers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_lapsed_customers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a5 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_customers_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_customers_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE previous_a6 AS
SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM audience_sync.audience_refund_exclusions_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM audience_sync.audience_refund_exclusions_manifests WHERE dt < '2026-03-10');

CREATE OR REPLACE TEMP TABLE people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE WHEN JSON_QUERY(p.person, '$.unsubscribed') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.unsubscribed'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'BOOLEAN' AND JSON_VALUE(JSON_QUERY(p.person, '$.unsubscribed')) = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p0,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE WHEN JSON_QUERY(p.person, '$.deleted') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(p.person, '$.deleted'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'BOOLEAN' AND JSON_VALUE(JSON_QUERY(p.person, '$.deleted')) = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p1
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
WHERE r.`name` IN ('checkout_started', 'order_completed', 'refund_requested') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order_completed'
    OR r.name = 'checkout_started'
    OR r.name = 'refund_requested');

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
SELECT owner, count(*) AS records, COUNTIF(w.name = 'order_completed' AND w.day >= '2025-12-11' AND w.day <= '2026-03-10') AS e0_n,
  SUM(IF(w.name = 'order_completed' AND w.day >= '2025-12-11' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e0_p0_sum,
  COUNTIF(w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e1_n,
  max(IF(w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', w.day, NULL)) AS e1_last,
  COUNTIF(w.name = 'order_completed' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e2_n,
  COUNTIF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e3_n,
  max(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', w.day, NULL)) AS e3_last,
  max(IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', (CASE WHEN (NOT IS_INF(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END) AND NOT IS_NAN(CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END)) THEN CASE WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'NUMBER' THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) WHEN CASE WHEN JSON_QUERY(w.properties, '$.value') IS NULL THEN NULL ELSE CASE SUBSTR(JSON_QUERY(w.properties, '$.value'), 1, 1) WHEN '"' THEN 'STRING' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END = 'STRING' AND REGEXP_CONTAINS(JSON_VALUE(JSON_QUERY(w.properties, '$.value')), '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') THEN SAFE_CAST(JSON_VALUE(JSON_QUERY(w.properties, '$.value')) AS FLOAT64) END END), NULL)) AS e3_p0_max,
  COUNTIF(w.name = 'order_completed' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e4_n,
  COUNTIF(w.name = 'order_completed' AND w.day >= '2025-11-11' AND w.day <= '2026-03-10') AS e5_n,
  COUNTIF(w.name = 'order_completed' AND w.day >= '2026-01-10' AND w.day <= '2026-03-10') AS e6_n,
  COUNTIF(w.name = 'refund_requested' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e7_n
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE e1_gaps AS
SELECT owner, ((ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap) - 1, 2))] + ARRAY_AGG(gap IGNORE NULLS ORDER BY gap)[OFFSET(DIV(COUNT(gap), 2))]) / 2) AS gap
FROM (
  SELECT w.owner, CAST(DATE_DIFF(SAFE_CAST(w.day AS DATE), SAFE_CAST(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day) AS DATE), DAY) AS FLOAT64) AS gap
  FROM ev_resolved w
  WHERE w.owner IS NOT NULL AND w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10'
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE msg_relevant AS
SELECT r._key, r._line, r.id, SAFE_CAST(r.received_at AS TIMESTAMP) AS received, substr(r.ts, 1, 10) AS day, r.`customer_id`, r.`email`, r.`cio_id`, r.`channel`, r.`metric`, r.`campaign_id`
FROM raw_messages r
WHERE r.`channel` IN ('email', 'sms') AND r.`metric` IN ('clicked', 'delivered', 'opened', 'spammed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_CONTAINS(r.ts, '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z)$') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'spammed', false))
    OR (COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'clicked', false))
    OR (COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'clicked', false) AND (CASE WHEN SAFE_CAST(r.`campaign_id` AS FLOAT64) = CAST('501' AS FLOAT64) THEN REGEXP_CONTAINS(r.`campaign_id`, '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END))
    OR (COALESCE(r.`channel` = 'sms', false) AND COALESCE(r.`metric` = 'delivered', false))
    OR (COALESCE(r.`channel` = 'email', false) AND COALESCE(r.`metric` = 'opened', false)));

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
SELECT owner, count(*) AS records, COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'spammed', false)) AND w.day >= '2025-12-11' AND w.day <= '2026-03-10') AS m0_n,
  COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS m1_n,
  COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'clicked', false) AND (CASE WHEN SAFE_CAST(w.`campaign_id` AS FLOAT64) = CAST('501' AS FLOAT64) THEN REGEXP_CONTAINS(w.`campaign_id`, '^(?:[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+))$') ELSE false END)) AND w.day >= '2026-03-08' AND w.day <= '2026-03-10') AS m2_n,
  COUNTIF((COALESCE(w.`channel` = 'sms', false) AND COALESCE(w.`metric` = 'delivered', false)) AND w.day >= '2026-03-08' AND w.day <= '2026-03-10') AS m3_n,
  COUNTIF((COALESCE(w.`channel` = 'email', false) AND COALESCE(w.`metric` = 'opened', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m4_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMP TABLE features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p0 END AS p0,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p1 END AS p1,
  COALESCE(msg.m0_n, 0) AS m0_n,
  COALESCE(ev.e0_n, 0) AS e0_n,
  ev.e0_p0_sum AS e0_p0_sum,
  COALESCE(ev.e1_n, 0) AS e1_n,
  ev.e1_last AS e1_last,
  g_e1.gap AS e1_gap,
  COALESCE(ev.e2_n, 0) AS e2_n,
  COALESCE(ev.e3_n, 0) AS e3_n,
  ev.e3_last AS e3_last,
  ev.e3_p0_max AS e3_p0_max,
  COALESCE(ev.e4_n, 0) AS e4_n,
  COALESCE(msg.m1_n, 0) AS m1_n,
  COALESCE(msg.m2_n, 0) AS m2_n,
  COALESCE(msg.m3_n, 0) AS m3_n,
  COALESCE(ev.e5_n, 0) AS e5_n,
  COALESCE(ev.e6_n, 0) AS e6_n,
  COALESCE(msg.m4_n, 0) AS m4_n,
  COALESCE(ev.e7_n, 0) AS e7_n
FROM (SELECT customer_id AS id FROM people
UNION DISTINCT
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION DISTINCT
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id
LEFT JOIN e1_gaps g_e1 ON g_e1.owner = k.id;

CREATE OR REPLACE TEMP TABLE traits AS
SELECT f.customer_id,
  CAST(f.e0_n AS FLOAT64) AS t_orders_90d,
  COALESCE(f.e0_p0_sum, CAST('0' AS FLOAT64)) AS t_spend_90d,
  f.e1_last AS t_last_order_date,
  f.e1_gap AS t_order_gap_days,
  FORMAT_DATE('%F', DATE_ADD(SAFE_CAST((f.e1_last) AS DATE), INTERVAL CAST(ROUND((f.e1_gap)) AS INT64) DAY)) AS t_predicted_next_order_date,
  CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64) AS t_days_since_order,
  CASE WHEN (CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64)) IS NULL THEN 'none' WHEN (CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64)) < CAST('30' AS FLOAT64) THEN 'none' WHEN (CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64)) < CAST('60' AS FLOAT64) THEN 'reminder' WHEN (CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e1_last AS DATE), DAY) AS FLOAT64)) < CAST('120' AS FLOAT64) THEN 'ten_percent' ELSE 'twenty_percent' END AS t_winback_offer_tier
FROM features f;

CREATE OR REPLACE TEMP TABLE blocked AS
SELECT f.customer_id FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
WHERE (f.p0 OR f.p1 OR (f.m0_n >= 1));

CREATE OR REPLACE TEMP TABLE a0_scored AS
SELECT f.customer_id,
  (f.e2_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e2_n > 0);

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
  ((f.e3_n >= 1) AND (NOT (f.e4_n >= 1))) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  ((((CAST('0' AS FLOAT64) + CAST('1' AS FLOAT64) * CAST(f.e3_n AS FLOAT64)) + CAST('0.01' AS FLOAT64) * COALESCE(f.e3_p0_max, CAST('0' AS FLOAT64))) + CAST('0.5' AS FLOAT64) * CAST(f.m1_n AS FLOAT64)) + CAST('-0.1' AS FLOAT64) * COALESCE(CAST(DATE_DIFF(SAFE_CAST('2026-03-10' AS DATE), SAFE_CAST(f.e3_last AS DATE), DAY) AS FLOAT64), CAST('8' AS FLOAT64))) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e3_n > 0 OR f.e4_n > 0 OR f.m1_n > 0);

CREATE OR REPLACE TEMP TABLE a1 AS
SELECT s.customer_id, CASE WHEN (CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256('cart-recovery-2026q4:' || s.customer_id)), 1, 13)) AS INT64) / CAST(4503599627370496 AS FLOAT64)) < CAST('0.1' AS FLOAT64) THEN 'holdout' ELSE 'treatment' END AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((250000 * s.eligible + 999999), 1000000);

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
  (f.m3_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.m3_n > 0);

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

CREATE OR REPLACE TEMP TABLE a4_scored AS
SELECT f.customer_id,
  ((f.e5_n >= 1) AND (NOT (f.e6_n >= 1)) AND (f.m4_n >= 1)) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e5_n > 0 OR f.e6_n > 0 OR f.m4_n > 0);

CREATE OR REPLACE TEMP TABLE a4 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a4_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a4 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a5_scored AS
SELECT f.customer_id,
  (f.e1_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score,
  tr.t_winback_offer_tier,
  tr.t_predicted_next_order_date,
  tr.t_orders_90d
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e1_n > 0);

CREATE OR REPLACE TEMP TABLE a5 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried, s.t_winback_offer_tier, s.t_predicted_next_order_date, s.t_orders_90d
FROM (
  SELECT customer_id, score, t_winback_offer_tier, t_predicted_next_order_date, t_orders_90d,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a5_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a5 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

CREATE OR REPLACE TEMP TABLE a6_scored AS
SELECT f.customer_id,
  (f.e7_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS FLOAT64) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e7_n > 0);

CREATE OR REPLACE TEMP TABLE a6 AS
SELECT s.customer_id, 'treatment' AS `group`, s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a6_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a6 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= DIV((1000000 * s.eligible + 999999), 1000000);

SELECT 'recent_buyers' AS audience, customer_id, `group`, score, rank, entered FROM a0
UNION ALL
SELECT 'high_intent_abandoners' AS audience, customer_id, `group`, score, rank, entered FROM a1
UNION ALL
SELECT 'winback_email_clickers' AS audience, customer_id, `group`, score, rank, entered FROM a2
UNION ALL
SELECT 'recent_sms_recipients' AS audience, customer_id, `group`, score, rank, entered FROM a3
UNION ALL
SELECT 'lapsed_customers' AS audience, customer_id, `group`, score, rank, entered FROM a4
UNION ALL
SELECT 'customers' AS audience, customer_id, `group`, score, rank, entered FROM a5
UNION ALL
SELECT 'refund_exclusions' AS audience, customer_id, `group`, score, rank, entered FROM a6
ORDER BY audience, rank;
