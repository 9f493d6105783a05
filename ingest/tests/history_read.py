"""Reads a Stadtpuls Parquet history with pyarrow and with DuckDB, as an analyst would.

Usage: history_read.py HISTORY_DIR TABLE... ; prints one JSON object on stdout:

  {"<table>": {"pyarrow": {"rows": n, "sum_by_city": {...}},
               "duckdb":  {"rows": n, "latest_rows": n, "latest_sum_by_city": {...},
                           "types": {...}, "dates": [...]}}}

The summed column is `vehicles` for traffic tables and `free` for parking tables;
"latest" keeps the highest revision per (city, entity[, lane], window_start), the upsert
docs/history.md documents. Run by ingest/tests/history_pipeline.rs.
"""

import json
import sys

import duckdb
import pyarrow.dataset as ds


def measures(table):
    if table.startswith("parking_"):
        return "free", ["facility_id"]
    if table.startswith("traffic_lanes_"):
        return "vehicles", ["sensor_id", "lane"]
    return "vehicles", ["sensor_id"]


def with_pyarrow(root, table, column):
    data = ds.dataset(f"{root}/{table}", format="parquet", partitioning="hive").to_table()
    sums = data.group_by("city").aggregate([(column, "sum")])
    return {
        "rows": data.num_rows,
        "sum_by_city": {
            str(city): int(total)
            for city, total in zip(sums["city"].to_pylist(), sums[f"{column}_sum"].to_pylist())
        },
        "columns": data.schema.names,
    }


def with_duckdb(root, table, column, keys):
    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = true)"
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    partition_by = ", ".join(["city", *keys, "window_start"])
    latest = f"""
        SELECT * FROM {source}
        QUALIFY row_number() OVER (PARTITION BY {partition_by} ORDER BY revision DESC) = 1
    """
    latest_rows = con.execute(f"SELECT count(*) FROM ({latest})").fetchone()[0]
    sums = con.execute(
        f"SELECT city, sum({column}) FROM ({latest}) GROUP BY city ORDER BY city"
    ).fetchall()
    types = con.execute(
        f"SELECT typeof(city), typeof(date), typeof(window_start), typeof(revision) FROM {source} LIMIT 1"
    ).fetchone()
    dates = con.execute(f"SELECT DISTINCT CAST(date AS VARCHAR) FROM {source} ORDER BY 1").fetchall()
    return {
        "rows": rows,
        "latest_rows": latest_rows,
        "latest_sum_by_city": {city: int(total) for city, total in sums},
        "types": {
            "city": types[0],
            "date": types[1],
            "window_start": types[2],
            "revision": types[3],
        },
        "dates": [d[0] for d in dates],
    }


def main():
    root, tables = sys.argv[1], sys.argv[2:]
    out = {}
    for table in tables:
        column, keys = measures(table)
        out[table] = {
            "pyarrow": with_pyarrow(root, table, column),
            "duckdb": with_duckdb(root, table, column, keys),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
