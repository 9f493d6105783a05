"""Reads the latest revision of every window of one city from a Stadtpuls history with DuckDB.

Usage: demo_history_read.py HISTORY_DIR CITY ; prints one JSON object on stdout:

  {"traffic_1m": [{"sensor_id": ..., "window_start_ms": ..., <columns>}, ...],
   "parking_1m": [{"facility_id": ..., "window_start_ms": ..., <columns>}, ...]}

"Latest" keeps the highest revision per (city, entity, window_start), the upsert
docs/history.md documents; a table without files is empty. Also prints "rows": every row
of the city's tables, revisions included (duplicates show there). Run by
tests/e2e_demo_history.rs and tests/e2e_history_unwritable.rs.
"""

import json
import sys

import glob

import duckdb

KEYS = {"traffic_1m": "sensor_id", "parking_1m": "facility_id"}


def latest(con, root, table, city):
    if not glob.glob(f"{root}/{table}/**/*.parquet", recursive=True):
        return []
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


def all_rows(con, root, table, city):
    if not glob.glob(f"{root}/{table}/**/*.parquet", recursive=True):
        return 0
    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = true)"
    return con.execute(f"SELECT count(*) FROM {source} WHERE city = ?", [city]).fetchone()[0]


def main():
    root, city = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    out = {table: latest(con, root, table, city) for table in KEYS}
    out["rows"] = {table: all_rows(con, root, table, city) for table in KEYS}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
