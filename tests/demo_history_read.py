"""Reads the latest revision of every window of one city from a Stadtpuls history with DuckDB.

Usage: demo_history_read.py HISTORY_DIR CITY ; prints one JSON object on stdout:

  {"traffic_1m": [{"sensor_id": ..., "window_start_ms": ..., <columns>}, ...],
   "parking_1m": [{"facility_id": ..., "window_start_ms": ..., <columns>}, ...]}

"Latest" keeps the highest revision per (city, entity, window_start), the upsert the README
documents. Run by tests/e2e_demo_history.rs.
"""

import json
import sys

import duckdb

KEYS = {"traffic_1m": "sensor_id", "parking_1m": "facility_id"}


def latest(con, root, table, city):
    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = true)"
    query = f"""
        SELECT *, epoch_ms(window_start) AS window_start_ms FROM {source}
        WHERE city = ?
        QUALIFY row_number() OVER (
            PARTITION BY city, {KEYS[table]}, window_start ORDER BY revision DESC) = 1
    """
    cursor = con.execute(query, [city])
    names = [d[0] for d in cursor.description]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values))
        for time_column in ("window_start", "window_end", "date"):
            row.pop(time_column, None)
        rows.append(row)
    return rows


def main():
    root, city = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    json.dump({table: latest(con, root, table, city) for table in KEYS}, sys.stdout)


if __name__ == "__main__":
    main()
