-- audience-sync sql --dialect snowflake: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: recent_buyers (a0), high_intent_abandoners (a1), winback_email_clickers (a2), recent_sms_recipients (a3), lapsed_customers (a4), customers (a5), refund_exclusions (a6)
-- traits (table traits, one column each): orders_90d number (t_orders_90d), spend_90d number (t_spend_90d), last_order_date date (t_last_order_date), order_gap_days number (t_order_gap_days), predicted_next_order_date date (t_predicted_next_order_date), days_since_order number (t_days_since_order), winback_offer_tier string (t_winback_offer_tier)
-- raw events read from 2025-03-11 to 2026-03-10
-- raw messages read from 2025-12-11 to 2026-03-10
-- Snowflake. Run the statements in order in one session (temporary tables); the stage, file
-- formats and external tables are created in the schema audience_sync of the current database.
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

CREATE OR REPLACE EXTERNAL TABLE raw_events_lines (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/events/
PATTERN = '.*[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_events_lines REFRESH;

CREATE OR REPLACE EXTERNAL TABLE raw_events_parquet (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  _key VARCHAR AS (VALUE:"_key"::VARCHAR),
  _line NUMBER AS (VALUE:"_line"::NUMBER),
  id VARCHAR AS (VALUE:"id"::VARCHAR),
  customer_id VARCHAR AS (VALUE:"customer_id"::VARCHAR),
  anonymous_id VARCHAR AS (VALUE:"anonymous_id"::VARCHAR),
  email VARCHAR AS (VALUE:"email"::VARCHAR),
  name VARCHAR AS (VALUE:"name"::VARCHAR),
  raw_name VARCHAR AS (VALUE:"raw_name"::VARCHAR),
  ts VARCHAR AS (VALUE:"ts"::VARCHAR),
  received_at VARCHAR AS (VALUE:"received_at"::VARCHAR),
  source VARCHAR AS (VALUE:"source"::VARCHAR),
  properties VARCHAR AS (VALUE:"properties"::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/events/
PATTERN = '.*[.]parquet'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_parquet')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_events_parquet REFRESH;

CREATE OR REPLACE EXTERNAL TABLE raw_events_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/events/
PATTERN = '.*/_compacted[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_events_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE raw_messages_lines (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/messages/
PATTERN = '.*[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_messages_lines REFRESH;

CREATE OR REPLACE EXTERNAL TABLE raw_messages_parquet (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  _key VARCHAR AS (VALUE:"_key"::VARCHAR),
  _line NUMBER AS (VALUE:"_line"::NUMBER),
  id VARCHAR AS (VALUE:"id"::VARCHAR),
  customer_id VARCHAR AS (VALUE:"customer_id"::VARCHAR),
  email VARCHAR AS (VALUE:"email"::VARCHAR),
  cio_id VARCHAR AS (VALUE:"cio_id"::VARCHAR),
  channel VARCHAR AS (VALUE:"channel"::VARCHAR),
  metric VARCHAR AS (VALUE:"metric"::VARCHAR),
  delivery_id VARCHAR AS (VALUE:"delivery_id"::VARCHAR),
  campaign_id VARCHAR AS (VALUE:"campaign_id"::VARCHAR),
  broadcast_id VARCHAR AS (VALUE:"broadcast_id"::VARCHAR),
  newsletter_id VARCHAR AS (VALUE:"newsletter_id"::VARCHAR),
  journey_id VARCHAR AS (VALUE:"journey_id"::VARCHAR),
  action_id VARCHAR AS (VALUE:"action_id"::VARCHAR),
  transactional_message_id VARCHAR AS (VALUE:"transactional_message_id"::VARCHAR),
  href VARCHAR AS (VALUE:"href"::VARCHAR),
  ts VARCHAR AS (VALUE:"ts"::VARCHAR),
  received_at VARCHAR AS (VALUE:"received_at"::VARCHAR),
  source VARCHAR AS (VALUE:"source"::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/messages/
PATTERN = '.*[.]parquet'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_parquet')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_messages_parquet REFRESH;

CREATE OR REPLACE EXTERNAL TABLE raw_messages_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/raw/messages/
PATTERN = '.*/_compacted[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE raw_messages_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_recent_buyers_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/recent_buyers/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_recent_buyers_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_recent_buyers_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/recent_buyers/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_recent_buyers_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_high_intent_abandoners_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/high_intent_abandoners/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_high_intent_abandoners_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_high_intent_abandoners_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/high_intent_abandoners/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_high_intent_abandoners_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_winback_email_clickers_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/winback_email_clickers/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_winback_email_clickers_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_winback_email_clickers_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/winback_email_clickers/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_winback_email_clickers_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_recent_sms_recipients_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/recent_sms_recipients/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_recent_sms_recipients_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_recent_sms_recipients_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/recent_sms_recipients/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_recent_sms_recipients_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_lapsed_customers_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/lapsed_customers/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_lapsed_customers_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_lapsed_customers_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/lapsed_customers/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_lapsed_customers_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_customers_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/customers/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_customers_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_customers_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/customers/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_customers_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_refund_exclusions_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/refund_exclusions/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_refund_exclusions_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_refund_exclusions_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/refund_exclusions/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_refund_exclusions_manifests REFRESH;

CREATE OR REPLACE TEMPORARY TABLE people_snapshot AS
SELECT IFF(IS_NULL_VALUE(j:"customer_id"), NULL, j:"customer_id"::VARCHAR) AS customer_id,
  IFF(IS_NULL_VALUE(j:"email"), NULL, j:"email"::VARCHAR) AS email,
  IFF(IS_NULL_VALUE(j:"cio_id"), NULL, j:"cio_id"::VARCHAR) AS cio_id,
  IFF(IS_ARRAY(j:"merged_ids"), j:"merged_ids", NULL) AS merged_ids,
  j AS person
FROM (SELECT TRY_PARSE_JSON(line) AS j FROM people_lines WHERE dt = '2026-03-10' AND line <> '') s
WHERE IS_OBJECT(j) AND IFF(IS_NULL_VALUE(j:"customer_id"), NULL, j:"customer_id"::VARCHAR) IS NOT NULL;

CREATE OR REPLACE TEMPORARY TABLE raw_events AS
WITH files AS (
  SELECT m.dt, f.value:"key"::VARCHAR AS parquet_key, f.value:"sources" AS sources
  FROM raw_events_manifests m, LATERAL FLATTEN(input => m.VALUE:"files") f
  WHERE m.dt BETWEEN '2025-03-11' AND '2026-03-10'
),
sources AS (
  SELECT s.value::VARCHAR AS source_key FROM files, LATERAL FLATTEN(input => files.sources) s
  WHERE s.value IS NOT NULL
),
parquet AS (
  SELECT * FROM raw_events_parquet
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10'
    AND REGEXP_SUBSTR(METADATA$FILENAME, 'raw/events/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM files WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_SUBSTR(METADATA$FILENAME, 'raw/events/dt=[^/]+/[^/]+$') AS _key,
    METADATA$FILE_ROW_NUMBER AS _line,
    line, TRY_PARSE_JSON(line) AS j
  FROM raw_events_lines
  WHERE dt BETWEEN '2025-03-11' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS VARCHAR) AS _malformed, id, customer_id, anonymous_id, email, name, raw_name, ts, received_at, source, TRY_PARSE_JSON(properties) AS properties
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN NOT IS_OBJECT(l.j) THEN 'not a JSON object' END AS _malformed,
  IFF(IS_NULL_VALUE(l.j:"id"), NULL, l.j:"id"::VARCHAR) AS id,
  IFF(IS_NULL_VALUE(l.j:"customer_id"), NULL, l.j:"customer_id"::VARCHAR) AS customer_id,
  IFF(IS_NULL_VALUE(l.j:"anonymous_id"), NULL, l.j:"anonymous_id"::VARCHAR) AS anonymous_id,
  IFF(IS_NULL_VALUE(l.j:"email"), NULL, l.j:"email"::VARCHAR) AS email,
  IFF(IS_NULL_VALUE(l.j:"name"), NULL, l.j:"name"::VARCHAR) AS name,
  IFF(IS_NULL_VALUE(l.j:"raw_name"), NULL, l.j:"raw_name"::VARCHAR) AS raw_name,
  IFF(IS_NULL_VALUE(l.j:"ts"), NULL, l.j:"ts"::VARCHAR) AS ts,
  IFF(IS_NULL_VALUE(l.j:"received_at"), NULL, l.j:"received_at"::VARCHAR) AS received_at,
  IFF(IS_NULL_VALUE(l.j:"source"), NULL, l.j:"source"::VARCHAR) AS source,
  l.j:"properties" AS properties
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM sources);

CREATE OR REPLACE TEMPORARY TABLE raw_messages AS
WITH files AS (
  SELECT m.dt, f.value:"key"::VARCHAR AS parquet_key, f.value:"sources" AS sources
  FROM raw_messages_manifests m, LATERAL FLATTEN(input => m.VALUE:"files") f
  WHERE m.dt BETWEEN '2025-12-11' AND '2026-03-10'
),
sources AS (
  SELECT s.value::VARCHAR AS source_key FROM files, LATERAL FLATTEN(input => files.sources) s
  WHERE s.value IS NOT NULL
),
parquet AS (
  SELECT * FROM raw_messages_parquet
  WHERE dt BETWEEN '2025-12-11' AND '2026-03-10'
    AND REGEXP_SUBSTR(METADATA$FILENAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM files WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_SUBSTR(METADATA$FILENAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    METADATA$FILE_ROW_NUMBER AS _line,
    line, TRY_PARSE_JSON(line) AS j
  FROM raw_messages_lines
  WHERE dt BETWEEN '2025-12-11' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS VARCHAR) AS _malformed, id, customer_id, email, cio_id, channel, metric, delivery_id, campaign_id, broadcast_id, newsletter_id, journey_id, action_id, transactional_message_id, href, ts, received_at, source
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN NOT IS_OBJECT(l.j) THEN 'not a JSON object' END AS _malformed,
  IFF(IS_NULL_VALUE(l.j:"id"), NULL, l.j:"id"::VARCHAR) AS id,
  IFF(IS_NULL_VALUE(l.j:"customer_id"), NULL, l.j:"customer_id"::VARCHAR) AS customer_id,
  IFF(IS_NULL_VALUE(l.j:"email"), NULL, l.j:"email"::VARCHAR) AS email,
  IFF(IS_NULL_VALUE(l.j:"cio_id"), NULL, l.j:"cio_id"::VARCHAR) AS cio_id,
  IFF(IS_NULL_VALUE(l.j:"channel"), NULL, l.j:"channel"::VARCHAR) AS channel,
  IFF(IS_NULL_VALUE(l.j:"metric"), NULL, l.j:"metric"::VARCHAR) AS metric,
  IFF(IS_NULL_VALUE(l.j:"delivery_id"), NULL, l.j:"delivery_id"::VARCHAR) AS delivery_id,
  IFF(IS_NULL_VALUE(l.j:"campaign_id"), NULL, l.j:"campaign_id"::VARCHAR) AS campaign_id,
  IFF(IS_NULL_VALUE(l.j:"broadcast_id"), NULL, l.j:"broadcast_id"::VARCHAR) AS broadcast_id,
  IFF(IS_NULL_VALUE(l.j:"newsletter_id"), NULL, l.j:"newsletter_id"::VARCHAR) AS newsletter_id,
  IFF(IS_NULL_VALUE(l.j:"journey_id"), NULL, l.j:"journey_id"::VARCHAR) AS journey_id,
  IFF(IS_NULL_VALUE(l.j:"action_id"), NULL, l.j:"action_id"::VARCHAR) AS action_id,
  IFF(IS_NULL_VALUE(l.j:"transactional_message_id"), NULL, l.j:"transactional_message_id"::VARCHAR) AS transactional_message_id,
  IFF(IS_NULL_VALUE(l.j:"href"), NULL, l.j:"href"::VARCHAR) AS href,
  IFF(IS_NULL_VALUE(l.j:"ts"), NULL, l.j:"ts"::VARCHAR) AS ts,
  IFF(IS_NULL_VALUE(l.j:"received_at"), NULL, l.j:"received_at"::VARCHAR) AS received_at,
  IFF(IS_NULL_VALUE(l.j:"source"), NULL, l.j:"source"::VARCHAR) AS source
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM sources);

CREATE OR REPLACE TEMPORARY TABLE previous_a0 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_recent_buyers_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_recent_buyers_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a1 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_high_intent_abandoners_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_high_intent_abandoners_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a2 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_winback_email_clickers_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_winback_email_clickers_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a3 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_recent_sms_recipients_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_recent_sms_recipients_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a4 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_lapsed_customers_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_lapsed_customers_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a5 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_customers_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_customers_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a6 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_refund_exclusions_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_refund_exclusions_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE TYPEOF(GET(p.person, 'unsubscribed')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(p.person, 'unsubscribed')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'BOOLEAN' AND GET(p.person, 'unsubscribed')::VARCHAR = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p0,
  (COALESCE(('BOOLEAN' = 'BOOLEAN' AND CASE WHEN COALESCE(CASE TYPEOF(GET(p.person, 'deleted')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(p.person, 'deleted')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'BOOLEAN' AND GET(p.person, 'deleted')::VARCHAR = 'true', false) THEN 'true' ELSE 'false' END = 'true'), false)) AS p1
FROM people_snapshot p;

CREATE OR REPLACE TEMPORARY TABLE id_map AS
SELECT m.id, min(m.owner) AS owner
FROM (SELECT u.value::VARCHAR AS id, customer_id AS owner FROM people, LATERAL FLATTEN(input => people.merged_ids) u) m
GROUP BY m.id;

CREATE OR REPLACE TEMPORARY TABLE email_map AS
SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email;

CREATE OR REPLACE TEMPORARY TABLE cio_map AS
SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id;

CREATE OR REPLACE TEMPORARY TABLE ev_relevant AS
SELECT r._key, r._line, r.id, TRY_TO_TIMESTAMP_TZ(r.received_at) AS received, substr(r.ts, 1, 10) AS day, r."CUSTOMER_ID", r."EMAIL", r."NAME", r."PROPERTIES", r."TS"
FROM raw_events r
WHERE r."NAME" IN ('checkout_started', 'order_completed', 'refund_requested') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_LIKE(r.ts, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order_completed'
    OR r.name = 'checkout_started'
    OR r.name = 'refund_requested');

CREATE OR REPLACE TEMPORARY TABLE ev_dups AS
SELECT id FROM ev_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMPORARY TABLE ev_dup_first AS
SELECT * FROM (SELECT * FROM ev_relevant WHERE id IN (SELECT id FROM ev_dups)) r
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMPORARY TABLE ev_winners AS
SELECT "ID", "RECEIVED", "DAY", "CUSTOMER_ID", "EMAIL", "NAME", "PROPERTIES", "TS" FROM ev_relevant WHERE id NOT IN (SELECT id FROM ev_dups)
UNION ALL
SELECT "ID", "RECEIVED", "DAY", "CUSTOMER_ID", "EMAIL", "NAME", "PROPERTIES", "TS" FROM ev_dup_first;

CREATE OR REPLACE TEMPORARY TABLE ev_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ev_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMPORARY TABLE ev_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE em.owner END AS owner
FROM ev_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN ev_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END);

CREATE OR REPLACE TEMPORARY TABLE ev_agg AS
SELECT owner, count(*) AS records, COUNT_IF(w.name = 'order_completed' AND w.day >= '2025-12-11' AND w.day <= '2026-03-10') AS e0_n,
  SUM(IFF(w.name = 'order_completed' AND w.day >= '2025-12-11' AND w.day <= '2026-03-10', (CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END), NULL)) AS e0_p0_sum,
  COUNT_IF(w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10') AS e1_n,
  max(IFF(w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10', w.day, NULL)) AS e1_last,
  COUNT_IF(w.name = 'order_completed' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e2_n,
  COUNT_IF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e3_n,
  max(IFF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', w.day, NULL)) AS e3_last,
  max(IFF(w.name = 'checkout_started' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10', (CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END), NULL)) AS e3_p0_max,
  COUNT_IF(w.name = 'order_completed' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS e4_n,
  COUNT_IF(w.name = 'order_completed' AND w.day >= '2025-11-11' AND w.day <= '2026-03-10') AS e5_n,
  COUNT_IF(w.name = 'order_completed' AND w.day >= '2026-01-10' AND w.day <= '2026-03-10') AS e6_n,
  COUNT_IF(w.name = 'refund_requested' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e7_n
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE e1_gaps AS
SELECT owner, MEDIAN(gap) AS gap
FROM (
  SELECT w.owner, CAST(DATEDIFF(day, TRY_TO_DATE(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day)), TRY_TO_DATE(w.day)) AS DOUBLE) AS gap
  FROM ev_resolved w
  WHERE w.owner IS NOT NULL AND w.name = 'order_completed' AND w.day >= '2025-03-11' AND w.day <= '2026-03-10'
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE msg_relevant AS
SELECT r._key, r._line, r.id, TRY_TO_TIMESTAMP_TZ(r.received_at) AS received, substr(r.ts, 1, 10) AS day, r."CUSTOMER_ID", r."EMAIL", r."CIO_ID", r."CHANNEL", r."METRIC", r."CAMPAIGN_ID"
FROM raw_messages r
WHERE r."CHANNEL" IN ('email', 'sms') AND r."METRIC" IN ('clicked', 'delivered', 'opened', 'spammed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_LIKE(r.ts, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r."CHANNEL" = 'email', false) AND COALESCE(r."METRIC" = 'spammed', false))
    OR (COALESCE(r."CHANNEL" = 'email', false) AND COALESCE(r."METRIC" = 'clicked', false))
    OR (COALESCE(r."CHANNEL" = 'email', false) AND COALESCE(r."METRIC" = 'clicked', false) AND (CASE WHEN TRY_TO_DOUBLE(r."CAMPAIGN_ID") = CAST('501' AS DOUBLE) THEN REGEXP_LIKE(r."CAMPAIGN_ID", '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') ELSE false END))
    OR (COALESCE(r."CHANNEL" = 'sms', false) AND COALESCE(r."METRIC" = 'delivered', false))
    OR (COALESCE(r."CHANNEL" = 'email', false) AND COALESCE(r."METRIC" = 'opened', false)));

CREATE OR REPLACE TEMPORARY TABLE msg_dups AS
SELECT id FROM msg_relevant GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE TEMPORARY TABLE msg_dup_first AS
SELECT * FROM (SELECT * FROM msg_relevant WHERE id IN (SELECT id FROM msg_dups)) r
QUALIFY row_number() OVER (PARTITION BY id ORDER BY received ASC NULLS LAST, _key, _line) = 1;

CREATE OR REPLACE TEMPORARY TABLE msg_winners AS
SELECT "ID", "RECEIVED", "DAY", "CUSTOMER_ID", "EMAIL", "CIO_ID", "CHANNEL", "METRIC", "CAMPAIGN_ID" FROM msg_relevant WHERE id NOT IN (SELECT id FROM msg_dups)
UNION ALL
SELECT "ID", "RECEIVED", "DAY", "CUSTOMER_ID", "EMAIL", "CIO_ID", "CHANNEL", "METRIC", "CAMPAIGN_ID" FROM msg_dup_first;

CREATE OR REPLACE TEMPORARY TABLE msg_email_owners AS
SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMPORARY TABLE msg_cio_owners AS
SELECT cio_id, owner FROM cio_map WHERE cio_id IN (SELECT r.cio_id FROM msg_relevant r WHERE r.customer_id IS NULL OR r.customer_id = '');

CREATE OR REPLACE TEMPORARY TABLE msg_resolved AS
SELECT w.*, CASE WHEN w.customer_id IS NOT NULL AND w.customer_id <> '' THEN COALESCE(idm.owner, w.customer_id)
       ELSE COALESCE(em.owner, cio.owner) END AS owner
FROM msg_winners w
LEFT JOIN id_map idm ON idm.id = w.customer_id
LEFT JOIN msg_email_owners em ON em.email = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN lower(w.email) END)
LEFT JOIN msg_cio_owners cio ON cio.cio_id = (CASE WHEN w.customer_id IS NULL OR w.customer_id = '' THEN w.cio_id END);

CREATE OR REPLACE TEMPORARY TABLE msg_agg AS
SELECT owner, count(*) AS records, COUNT_IF((COALESCE(w."CHANNEL" = 'email', false) AND COALESCE(w."METRIC" = 'spammed', false)) AND w.day >= '2025-12-11' AND w.day <= '2026-03-10') AS m0_n,
  COUNT_IF((COALESCE(w."CHANNEL" = 'email', false) AND COALESCE(w."METRIC" = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10') AS m1_n,
  COUNT_IF((COALESCE(w."CHANNEL" = 'email', false) AND COALESCE(w."METRIC" = 'clicked', false) AND (CASE WHEN TRY_TO_DOUBLE(w."CAMPAIGN_ID") = CAST('501' AS DOUBLE) THEN REGEXP_LIKE(w."CAMPAIGN_ID", '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') ELSE false END)) AND w.day >= '2026-03-08' AND w.day <= '2026-03-10') AS m2_n,
  COUNT_IF((COALESCE(w."CHANNEL" = 'sms', false) AND COALESCE(w."METRIC" = 'delivered', false)) AND w.day >= '2026-03-08' AND w.day <= '2026-03-10') AS m3_n,
  COUNT_IF((COALESCE(w."CHANNEL" = 'email', false) AND COALESCE(w."METRIC" = 'opened', false)) AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS m4_n
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE features AS
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
UNION
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id
LEFT JOIN e1_gaps g_e1 ON g_e1.owner = k.id;

CREATE OR REPLACE TEMPORARY TABLE traits AS
SELECT f.customer_id,
  CAST(f.e0_n AS DOUBLE) AS t_orders_90d,
  COALESCE(f.e0_p0_sum, CAST('0' AS DOUBLE)) AS t_spend_90d,
  f.e1_last AS t_last_order_date,
  f.e1_gap AS t_order_gap_days,
  TO_VARCHAR(DATEADD(day, ROUND((f.e1_gap)), TRY_TO_DATE((f.e1_last))), 'YYYY-MM-DD') AS t_predicted_next_order_date,
  CAST(DATEDIFF(day, TRY_TO_DATE(f.e1_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE) AS t_days_since_order,
  CASE WHEN (CAST(DATEDIFF(day, TRY_TO_DATE(f.e1_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE)) IS NULL THEN 'none' WHEN (CAST(DATEDIFF(day, TRY_TO_DATE(f.e1_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE)) < CAST('30' AS DOUBLE) THEN 'none' WHEN (CAST(DATEDIFF(day, TRY_TO_DATE(f.e1_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE)) < CAST('60' AS DOUBLE) THEN 'reminder' WHEN (CAST(DATEDIFF(day, TRY_TO_DATE(f.e1_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE)) < CAST('120' AS DOUBLE) THEN 'ten_percent' ELSE 'twenty_percent' END AS t_winback_offer_tier
FROM features f;

CREATE OR REPLACE TEMPORARY TABLE blocked AS
SELECT f.customer_id FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
WHERE (f.p0 OR f.p1 OR (f.m0_n >= 1));

CREATE OR REPLACE TEMPORARY TABLE a0_scored AS
SELECT f.customer_id,
  (f.e2_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e2_n > 0);

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
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a1_scored AS
SELECT f.customer_id,
  ((f.e3_n >= 1) AND (NOT (f.e4_n >= 1))) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  ((((CAST('0' AS DOUBLE) + CAST('1' AS DOUBLE) * CAST(f.e3_n AS DOUBLE)) + CAST('0.01' AS DOUBLE) * COALESCE(f.e3_p0_max, CAST('0' AS DOUBLE))) + CAST('0.5' AS DOUBLE) * CAST(f.m1_n AS DOUBLE)) + CAST('-0.1' AS DOUBLE) * COALESCE(CAST(DATEDIFF(day, TRY_TO_DATE(f.e3_last), TRY_TO_DATE('2026-03-10')) AS DOUBLE), CAST('8' AS DOUBLE))) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e3_n > 0 OR f.e4_n > 0 OR f.m1_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a1 AS
SELECT s.customer_id, CASE WHEN (TO_DOUBLE(TO_NUMBER(UPPER(SUBSTR(SHA2('cart-recovery-2026q4:' || s.customer_id, 256), 1, 13)), 'XXXXXXXXXXXXX')) / CAST(4503599627370496 AS DOUBLE)) < CAST('0.1' AS DOUBLE) THEN 'holdout' ELSE 'treatment' END AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((250000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a2_scored AS
SELECT f.customer_id,
  (f.m2_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.m2_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a2 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a2_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a2 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a3_scored AS
SELECT f.customer_id,
  (f.m3_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.m3_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a3 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a3_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a3 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a4_scored AS
SELECT f.customer_id,
  ((f.e5_n >= 1) AND (NOT (f.e6_n >= 1)) AND (f.m4_n >= 1)) AS matched,
  ex0.customer_id IS NOT NULL AS x0,
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN a0 ex0 ON ex0.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e5_n > 0 OR f.e6_n > 0 OR f.m4_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a4 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a4_scored
  WHERE matched AND NOT (blocked OR x0)
) s
LEFT JOIN previous_a4 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a5_scored AS
SELECT f.customer_id,
  (f.e1_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score,
  tr.t_winback_offer_tier,
  tr.t_predicted_next_order_date,
  tr.t_orders_90d
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e1_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a5 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried, s.t_winback_offer_tier, s.t_predicted_next_order_date, s.t_orders_90d
FROM (
  SELECT customer_id, score, t_winback_offer_tier, t_predicted_next_order_date, t_orders_90d,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a5_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a5 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

CREATE OR REPLACE TEMPORARY TABLE a6_scored AS
SELECT f.customer_id,
  (f.e7_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f.e7_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a6 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a6_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a6 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

SELECT 'recent_buyers' AS audience, customer_id, "GROUP", score, rank, entered FROM a0
UNION ALL
SELECT 'high_intent_abandoners' AS audience, customer_id, "GROUP", score, rank, entered FROM a1
UNION ALL
SELECT 'winback_email_clickers' AS audience, customer_id, "GROUP", score, rank, entered FROM a2
UNION ALL
SELECT 'recent_sms_recipients' AS audience, customer_id, "GROUP", score, rank, entered FROM a3
UNION ALL
SELECT 'lapsed_customers' AS audience, customer_id, "GROUP", score, rank, entered FROM a4
UNION ALL
SELECT 'customers' AS audience, customer_id, "GROUP", score, rank, entered FROM a5
UNION ALL
SELECT 'refund_exclusions' AS audience, customer_id, "GROUP", score, rank, entered FROM a6
ORDER BY audience, rank;
