"""The DuckDB telemetry schema and the statements of the append path (see docs/decisions/0002)."""

from __future__ import annotations

SCHEMA = (
    # (device, key) -> a small integer, so the raw table stays five narrow columns.
    """CREATE TABLE IF NOT EXISTS series (
        series_id BIGINT PRIMARY KEY,
        device_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        UNIQUE (device_id, key))""",
    # The primary key is the idempotency mechanism: INSERT OR REPLACE makes the last write win.
    """CREATE TABLE IF NOT EXISTS raw (
        series_id BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        value DOUBLE,
        text VARCHAR,
        quality TINYINT NOT NULL,
        PRIMARY KEY (series_id, ts))""",
    """CREATE TABLE IF NOT EXISTS latest (
        series_id BIGINT PRIMARY KEY,
        ts BIGINT NOT NULL,
        value DOUBLE,
        text VARCHAR,
        quality TINYINT NOT NULL)""",
    *(
        f"""CREATE TABLE IF NOT EXISTS {table} (
        series_id BIGINT NOT NULL,
        bucket BIGINT NOT NULL,
        count BIGINT NOT NULL,
        min DOUBLE,
        max DOUBLE,
        sum DOUBLE,
        first_ts BIGINT,
        first DOUBLE,
        last_ts BIGINT,
        last DOUBLE,
        PRIMARY KEY (series_id, bucket))"""
        for table in ("rollup_1m", "rollup_1h")
    ),
)

# The batch is registered as the Arrow view `batch_in` (series_id, ts, value, text, quality), already free
# of duplicate (series_id, ts) pairs.
INSERT_RAW = "INSERT OR REPLACE INTO raw SELECT series_id, ts, value, text, quality FROM batch_in"

# The newest point of each series in the batch replaces the latest value unless that one is newer.
UPSERT_LATEST = """
INSERT INTO latest
SELECT series_id, ts, value, text, quality FROM batch_in
QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY ts DESC) = 1
ON CONFLICT (series_id) DO UPDATE SET
    ts = excluded.ts, value = excluded.value, text = excluded.text, quality = excluded.quality
WHERE excluded.ts >= latest.ts
"""


def floor_sql(column: str, step_ms: int) -> str:
    """SQL for the largest multiple of `step_ms` not after `column` (DuckDB's // truncates towards zero)."""
    return f"({column} - ((({column}) % {step_ms}) + {step_ms}) % {step_ms})"


# How many points of the batch rewrite a stored point; the ts window ($lo, $hi) lets zone maps prune.
COUNT_REWRITES = """
SELECT count(*) FROM raw r JOIN batch_in b ON r.series_id = b.series_id AND r.ts = b.ts
WHERE r.ts >= $lo AND r.ts < $hi
"""


def merge_rollup(table: str, step_ms: int) -> str:
    """Fold a batch of only new points into a rollup: states of the batch merge into the stored ones."""
    return f"""
INSERT INTO {table}
SELECT series_id, {floor_sql("ts", step_ms)} AS bucket, count(value), min(value), max(value), fsum(value),
    min(ts) FILTER (WHERE value IS NOT NULL),
    arg_min(value, ts) FILTER (WHERE value IS NOT NULL),
    max(ts) FILTER (WHERE value IS NOT NULL),
    arg_max(value, ts) FILTER (WHERE value IS NOT NULL)
FROM batch_in GROUP BY ALL
ON CONFLICT (series_id, bucket) DO UPDATE SET
    count = {table}.count + excluded.count,
    min = least({table}.min, excluded.min),
    max = greatest({table}.max, excluded.max),
    sum = CASE WHEN excluded.count = 0 THEN {table}.sum WHEN {table}.count = 0 THEN excluded.sum
        ELSE {table}.sum + excluded.sum END,
    first_ts = least({table}.first_ts, excluded.first_ts),
    first = CASE WHEN {table}.first_ts IS NULL OR excluded.first_ts < {table}.first_ts
        THEN excluded.first ELSE {table}.first END,
    last_ts = greatest({table}.last_ts, excluded.last_ts),
    last = CASE WHEN {table}.last_ts IS NULL OR excluded.last_ts > {table}.last_ts
        THEN excluded.last ELSE {table}.last END
"""


MERGE_MINUTES = merge_rollup("rollup_1m", 60_000)
MERGE_HOURS = merge_rollup("rollup_1h", 3_600_000)

# When the batch rewrites stored points, merging would count them twice: recompute the 1-minute buckets the
# batch touched, from raw, over a ts window given as parameters ($lo, $hi)
# so that DuckDB prunes row groups by their ts zone maps. Buckets left with only text get count 0 (readers
# skip them) rather than a stale row.
REFRESH_MINUTES = f"""
INSERT OR REPLACE INTO rollup_1m
WITH affected AS (SELECT DISTINCT series_id, {floor_sql("ts", 60_000)} AS bucket FROM batch_in)
SELECT r.series_id, a.bucket, count(r.value), min(r.value), max(r.value), fsum(r.value),
    min(r.ts) FILTER (WHERE r.value IS NOT NULL),
    arg_min(r.value, r.ts) FILTER (WHERE r.value IS NOT NULL),
    max(r.ts) FILTER (WHERE r.value IS NOT NULL),
    arg_max(r.value, r.ts) FILTER (WHERE r.value IS NOT NULL)
FROM raw r JOIN affected a ON r.series_id = a.series_id AND {floor_sql("r.ts", 60_000)} = a.bucket
WHERE r.ts >= $lo AND r.ts < $hi
GROUP BY r.series_id, a.bucket
"""

# Recompute the 1-hour buckets the batch touched from their 1-minute rollups.
REFRESH_HOURS = f"""
INSERT OR REPLACE INTO rollup_1h
WITH affected AS (SELECT DISTINCT series_id, {floor_sql("ts", 3_600_000)} AS bucket FROM batch_in)
SELECT a.series_id, a.bucket, coalesce(sum(m.count), 0), min(m.min), max(m.max), fsum(m.sum),
    min(m.first_ts), arg_min(m.first, m.first_ts), max(m.last_ts), arg_max(m.last, m.last_ts)
FROM affected a LEFT JOIN rollup_1m m
    ON m.series_id = a.series_id AND {floor_sql("m.bucket", 3_600_000)} = a.bucket
    AND m.count > 0 AND m.bucket >= $lo AND m.bucket < $hi
GROUP BY a.series_id, a.bucket
"""

# Partial aggregate states per (series, bucket): bucket = origin + k * step of the segment the instant
# falls in (the segments tile the range; see buckets.segments). `{source}` is a raw or rollup selection
# with columns series_id, ts, count, min, max, sum, first_ts, first, last_ts, last.
PARTIAL_STATES = """
WITH segs AS (
    SELECT unnest($seg_lo::BIGINT[]) AS lo, unnest($seg_origin::BIGINT[]) AS origin,
        unnest($seg_step::BIGINT[]) AS step
)
SELECT p.series_id, s.origin + (p.ts - s.origin) // s.step * s.step AS bucket,
    sum(p.count), min(p.min), max(p.max), fsum(p.sum),
    min(p.first_ts), arg_min(p.first, p.first_ts), max(p.last_ts), arg_max(p.last, p.last_ts)
FROM ({source}) p ASOF JOIN segs s ON p.ts >= s.lo
GROUP BY ALL
"""

RAW_AS_STATES = """
SELECT series_id, ts, 1 AS count, value AS min, value AS max, value AS sum,
    ts AS first_ts, value AS first, ts AS last_ts, value AS last
FROM raw WHERE series_id IN ({ids}) AND ts >= $lo AND ts < $hi AND value IS NOT NULL
"""

ROLLUP_AS_STATES = """
SELECT series_id, bucket AS ts, count, min, max, sum, first_ts, first, last_ts, last
FROM {table} WHERE series_id IN ({ids}) AND bucket >= $lo AND bucket < $hi AND count > 0
"""

COUNTER_SAMPLES = """
WITH segs AS (
    SELECT unnest($seg_lo::BIGINT[]) AS lo, unnest($seg_origin::BIGINT[]) AS origin,
        unnest($seg_step::BIGINT[]) AS step
)
SELECT p.ts, p.value, s.origin + (p.ts - s.origin) // s.step * s.step AS bucket
FROM (SELECT ts, value FROM raw WHERE series_id = $sid AND ts >= $lo AND ts < $hi AND value IS NOT NULL) p
ASOF JOIN segs s ON p.ts >= s.lo
ORDER BY p.ts
"""
