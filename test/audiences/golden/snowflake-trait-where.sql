-- audience-sync sql --dialect snowflake: the build for one day, over the store at s3://acme-audiences/prod
-- day 2026-03-10; audiences in build order: above_average (a0), browsing_on (a1)
-- traits (table traits, one column each): aov number (t_aov), big_orders number (t_big_orders), last_sku string (t_last_sku), small_orders number (t_small_orders), big_gap number (t_big_gap), fav_campaign string (t_fav_campaign)
-- raw events read from 2026-02-09 to 2026-03-10
-- raw messages read from 2026-03-04 to 2026-03-10
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

CREATE OR REPLACE EXTERNAL TABLE audience_above_average_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/above_average/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_above_average_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_above_average_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/above_average/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_above_average_manifests REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_browsing_on_members (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)),
  line VARCHAR AS (VALUE:c1::VARCHAR)
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/browsing_on/
PATTERN = '.*/members[.]jsonl[.]gz'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_lines')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_browsing_on_members REFRESH;

CREATE OR REPLACE EXTERNAL TABLE audience_browsing_on_manifests (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1))
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/audiences/browsing_on/
PATTERN = '.*/manifest[.]json'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_json')
AUTO_REFRESH = FALSE;

ALTER EXTERNAL TABLE audience_browsing_on_manifests REFRESH;

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
  WHERE m.dt BETWEEN '2026-02-09' AND '2026-03-10'
),
sources AS (
  SELECT s.value::VARCHAR AS source_key FROM files, LATERAL FLATTEN(input => files.sources) s
  WHERE s.value IS NOT NULL
),
parquet AS (
  SELECT * FROM raw_events_parquet
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10'
    AND REGEXP_SUBSTR(METADATA$FILENAME, 'raw/events/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM files WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_SUBSTR(METADATA$FILENAME, 'raw/events/dt=[^/]+/[^/]+$') AS _key,
    METADATA$FILE_ROW_NUMBER AS _line,
    line, TRY_PARSE_JSON(line) AS j
  FROM raw_events_lines
  WHERE dt BETWEEN '2026-02-09' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
  WHERE m.dt BETWEEN '2026-03-04' AND '2026-03-10'
),
sources AS (
  SELECT s.value::VARCHAR AS source_key FROM files, LATERAL FLATTEN(input => files.sources) s
  WHERE s.value IS NOT NULL
),
parquet AS (
  SELECT * FROM raw_messages_parquet
  WHERE dt BETWEEN '2026-03-04' AND '2026-03-10'
    AND REGEXP_SUBSTR(METADATA$FILENAME, 'raw/messages/dt=[^/]+/[^/]+$') IN (SELECT parquet_key FROM files WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_SUBSTR(METADATA$FILENAME, 'raw/messages/dt=[^/]+/[^/]+$') AS _key,
    METADATA$FILE_ROW_NUMBER AS _line,
    line, TRY_PARSE_JSON(line) AS j
  FROM raw_messages_lines
  WHERE dt BETWEEN '2026-03-04' AND '2026-03-10' AND line IS NOT NULL AND line <> ''
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
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_above_average_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_above_average_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE previous_a1 AS
SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM audience_browsing_on_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM audience_browsing_on_manifests WHERE dt < '2026-03-10')
) m;

CREATE OR REPLACE TEMPORARY TABLE people AS
SELECT customer_id, email, cio_id, merged_ids,
  (COALESCE(((CASE TYPEOF(GET(p.person, 'country')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(p.person, 'country')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND GET(p.person, 'country')::VARCHAR = 'FR')), false)) AS p0
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
WHERE r."NAME" IN ('order', 'product_viewed') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_LIKE(r.ts, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z') AND r.name IS NOT NULL AND r.name <> ''
  AND (r.name = 'order'
    OR r.name = 'product_viewed');

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
SELECT owner, count(*) AS records, COUNT_IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10') AS e0_n,
  avg(IFF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10', (CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END), NULL)) AS e0_p0_avg,
  MAX_BY(IFF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10', (CASE WHEN CASE TYPEOF(GET(w.properties, 'sku')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'sku')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN GET(w.properties, 'sku')::VARCHAR END), NULL), IFF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND (CASE WHEN CASE TYPEOF(GET(w.properties, 'sku')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'sku')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END IN ('STRING', 'NUMBER', 'BOOLEAN') THEN GET(w.properties, 'sku')::VARCHAR END) IS NOT NULL, w.ts || w.id, NULL)) AS e0_p1_last_text
FROM ev_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE msg_relevant AS
SELECT r._key, r._line, r.id, TRY_TO_TIMESTAMP_TZ(r.received_at) AS received, substr(r.ts, 1, 10) AS day, r."CUSTOMER_ID", r."EMAIL", r."CIO_ID", r."CHANNEL", r."METRIC", r."CAMPAIGN_ID"
FROM raw_messages r
WHERE r."CHANNEL" IN ('email') AND r."METRIC" IN ('clicked') AND r._malformed IS NULL AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND REGEXP_LIKE(r.ts, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z') AND r.channel IS NOT NULL AND r.metric IS NOT NULL
  AND ((COALESCE(r."CHANNEL" = 'email', false) AND COALESCE(r."METRIC" = 'clicked', false)));

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
SELECT owner, count(*) AS records
FROM msg_resolved w
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE features AS
SELECT k.id AS customer_id,
  p.customer_id IS NOT NULL AS in_snapshot,
  CASE WHEN p.customer_id IS NULL THEN false ELSE p.p0 END AS p0,
  COALESCE(ev.e0_n, 0) AS e0_n,
  ev.e0_p0_avg AS e0_p0_avg,
  ev.e0_p1_last_text AS e0_p1_last_text
FROM (SELECT customer_id AS id FROM people
UNION
SELECT owner AS id FROM ev_agg WHERE owner IS NOT NULL
UNION
SELECT owner AS id FROM msg_agg WHERE owner IS NOT NULL) k
LEFT JOIN people p ON p.customer_id = k.id
LEFT JOIN ev_agg ev ON ev.owner = k.id
LEFT JOIN msg_agg msg ON msg.owner = k.id;

CREATE OR REPLACE TEMPORARY TABLE where_traits_1 AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  f.e0_p1_last_text AS t_last_sku,
  CASE WHEN f.p0 THEN '501' ELSE '502' END AS t_fav_campaign
FROM features f;

CREATE OR REPLACE TEMPORARY TABLE ev_agg_1 AS
SELECT w.owner, COUNT_IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END) > tw.t_aov, false)))) AS e1_n,
  COUNT_IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END) <= tw.t_aov, false)))) AS e3_n,
  COUNT_IF(w.name = 'order' AND w.day >= '2026-03-08' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END) >= tw.t_aov, false)))) AS e4_n,
  COUNT_IF(w.name = 'product_viewed' AND w.day >= '2026-03-04' AND w.day <= '2026-03-10' AND (((tw.t_last_sku IS NOT NULL AND NOT COALESCE((CASE TYPEOF(GET(w.properties, 'sku')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'sku')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND GET(w.properties, 'sku')::VARCHAR = tw.t_last_sku), false))))) AS e5_n
FROM ev_resolved w
JOIN where_traits_1 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMPORARY TABLE e3_gaps AS
SELECT owner, MEDIAN(gap) AS gap
FROM (
  SELECT w.owner, CAST(DATEDIFF(day, TRY_TO_DATE(lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day)), TRY_TO_DATE(w.day)) AS DOUBLE) AS gap
  FROM ev_resolved w
  JOIN where_traits_1 tw ON tw.customer_id = w.owner
  WHERE w.owner IS NOT NULL AND w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END) <= tw.t_aov, false)))
) g
WHERE gap IS NOT NULL
GROUP BY owner;

CREATE OR REPLACE TEMPORARY TABLE msg_agg_1 AS
SELECT w.owner, COUNT_IF((COALESCE(w."CHANNEL" = 'email', false) AND COALESCE(w."METRIC" = 'clicked', false)) AND w.day >= '2026-03-04' AND w.day <= '2026-03-10' AND (COALESCE(w."CAMPAIGN_ID" = tw.t_fav_campaign, false))) AS m0_n
FROM msg_resolved w
JOIN where_traits_1 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMPORARY TABLE features_1 AS
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

CREATE OR REPLACE TEMPORARY TABLE where_traits_2 AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  CAST(f1.e1_n AS DOUBLE) AS t_big_orders
FROM features f
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id;

CREATE OR REPLACE TEMPORARY TABLE ev_agg_2 AS
SELECT w.owner, COUNT_IF(w.name = 'order' AND w.day >= '2026-02-09' AND w.day <= '2026-03-10' AND ((COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'value')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'value')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'value')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'value')::VARCHAR) END END) <= tw.t_aov, false)) AND (COALESCE((CASE WHEN (CASE WHEN CASE TYPEOF(GET(w.properties, 'n')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'n')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'n')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'n')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'n')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'n')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'n')::VARCHAR) END NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE)) THEN CASE WHEN CASE TYPEOF(GET(w.properties, 'n')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'n')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'NUMBER' THEN TRY_TO_DOUBLE(GET(w.properties, 'n')::VARCHAR) WHEN CASE TYPEOF(GET(w.properties, 'n')) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(GET(w.properties, 'n')) IN ('INTEGER', 'DECIMAL', 'DOUBLE') THEN 'NUMBER' END END = 'STRING' AND REGEXP_LIKE(GET(w.properties, 'n')::VARCHAR, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') THEN TRY_TO_DOUBLE(GET(w.properties, 'n')::VARCHAR) END END) < tw.t_big_orders, false)))) AS e2_n
FROM ev_resolved w
JOIN where_traits_2 tw ON tw.customer_id = w.owner
GROUP BY w.owner;

CREATE OR REPLACE TEMPORARY TABLE features_2 AS
SELECT f.customer_id,
  COALESCE(ev.e2_n, 0) AS e2_n
FROM features f
LEFT JOIN ev_agg_2 ev ON ev.owner = f.customer_id;

CREATE OR REPLACE TEMPORARY TABLE traits AS
SELECT f.customer_id,
  f.e0_p0_avg AS t_aov,
  CAST(f1.e1_n AS DOUBLE) AS t_big_orders,
  f.e0_p1_last_text AS t_last_sku,
  CAST(f2.e2_n AS DOUBLE) AS t_small_orders,
  f1.e3_gap AS t_big_gap,
  CASE WHEN f.p0 THEN '501' ELSE '502' END AS t_fav_campaign
FROM features f
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id;

CREATE OR REPLACE TEMPORARY TABLE blocked AS
SELECT customer_id FROM features WHERE false;

CREATE OR REPLACE TEMPORARY TABLE a0_scored AS
SELECT f.customer_id,
  (f1.e4_n >= 1) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  CAST('0' AS DOUBLE) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f1.e4_n > 0);

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
  ((f1.e5_n >= 1) AND (f1.m0_n >= 1)) AS matched,
  
  nb.customer_id IS NOT NULL AS blocked,
  (((CAST('0' AS DOUBLE) + CAST('1' AS DOUBLE) * COALESCE(tr.t_big_orders, CAST('0' AS DOUBLE))) + CAST('0.5' AS DOUBLE) * COALESCE(tr.t_small_orders, CAST('0' AS DOUBLE))) + CAST('0.1' AS DOUBLE) * COALESCE(tr.t_big_gap, CAST('0' AS DOUBLE))) AS score
FROM features f
LEFT JOIN traits tr ON tr.customer_id = f.customer_id
LEFT JOIN features_1 f1 ON f1.customer_id = f.customer_id
LEFT JOIN features_2 f2 ON f2.customer_id = f.customer_id
LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE (f.in_snapshot OR f1.e5_n > 0 OR f1.m0_n > 0);

CREATE OR REPLACE TEMPORARY TABLE a1 AS
SELECT s.customer_id, 'treatment' AS "GROUP", s.score, s.rank,
  COALESCE(prev.entered, '2026-03-10') AS entered, prev.customer_id IS NOT NULL AS carried
FROM (
  SELECT customer_id, score,
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM a1_scored
  WHERE matched AND NOT (blocked)
) s
LEFT JOIN previous_a1 prev ON prev.customer_id = s.customer_id
WHERE s.rank <= FLOOR((1000000 * s.eligible + 999999) / 1000000);

SELECT 'above_average' AS audience, customer_id, "GROUP", score, rank, entered FROM a0
UNION ALL
SELECT 'browsing_on' AS audience, customer_id, "GROUP", score, rank, entered FROM a1
ORDER BY audience, rank;
