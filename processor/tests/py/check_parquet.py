#!/usr/bin/env python3
"""Independent check of the Parquet tree crossaz writes, with pyarrow and duckdb.

Usage: check_parquet.py DATA_DIR EXPECTED_JSON

EXPECTED_JSON holds what the Rust test wrote:
  {"columns": [[name, "Str"|"Int"|"BigInt"|"Double"], ...],
   "rows_per_dt": {"2024-05-01-13": 3, ...},
   "sums": {"bytes": 123, "cost_usd": 0.5, ...},          # over all rows, NULLs ignored
   "sums_per_dt": {"2024-05-01-13": {"bytes": 100}, ...},
   "nulls": {"src_pod": 2, ...},
   "codec": "ZSTD"}
Exits 0 when everything matches, 1 with a message per mismatch, 3 when pyarrow/duckdb are missing.
"""

import glob
import json
import math
import os
import sys

try:
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover - environment problem, reported clearly
    print(f"missing Python package ({e}); run .ci/install-local.sh (pip install pyarrow duckdb)", file=sys.stderr)
    sys.exit(3)

ARROW_TYPES = {"Str": pa.string(), "Int": pa.int32(), "BigInt": pa.int64(), "Double": pa.float64()}
DUCKDB_TYPES = {"Str": "VARCHAR", "Int": "INTEGER", "BigInt": "BIGINT", "Double": "DOUBLE"}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def main():
    data, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    columns = [(name, kind) for name, kind in expected["columns"]]
    names = [name for name, _ in columns]

    # Layout: only dt=<value>/part-*.parquet files, no leftovers, no dt column inside files.
    files = sorted(glob.glob(os.path.join(data, "**", "*"), recursive=True))
    files = [f for f in files if os.path.isfile(f)]
    hidden = [f for f in glob.glob(os.path.join(data, "**", ".*"), recursive=True)]
    check(not hidden, f"temporary/hidden files left: {hidden}")
    for f in files:
        rel = os.path.relpath(f, data)
        parts = rel.split(os.sep)
        check(len(parts) == 2 and parts[0].startswith("dt=") and parts[1].startswith("part-")
              and parts[1].endswith(".parquet"), f"unexpected file {rel}")
        meta = pq.ParquetFile(f)
        schema = meta.schema_arrow
        check("dt" not in schema.names, f"{rel} contains a dt column")
        check(schema.names == names, f"{rel} columns {schema.names} != {names}")
        if meta.metadata.num_row_groups > 0:
            codec = meta.metadata.row_group(0).column(0).compression
            check(codec == expected["codec"], f"{rel} compression {codec} != {expected['codec']}")

    # pyarrow dataset with Hive partitioning.
    table = ds.dataset(data, format="parquet", partitioning="hive").to_table()
    check(table.column_names == names + ["dt"], f"pyarrow columns {table.column_names}")
    for name, kind in columns:
        field = table.schema.field(name)
        check(field.type == ARROW_TYPES[kind], f"pyarrow {name}: {field.type} != {ARROW_TYPES[kind]}")
        check(field.nullable, f"pyarrow {name} not nullable")
    rows = table.to_pydict()
    per_dt = {}
    for dt in rows["dt"]:
        per_dt[str(dt)] = per_dt.get(str(dt), 0) + 1
    check(per_dt == expected["rows_per_dt"], f"pyarrow rows per dt {per_dt} != {expected['rows_per_dt']}")
    for name, want in expected["sums"].items():
        values = [v for v in rows[name] if v is not None]
        got = sum(values) if values else None
        check(close(got, want), f"pyarrow sum({name}) = {got} != {want}")
    for name, want in expected.get("nulls", {}).items():
        got = sum(1 for v in rows[name] if v is None)
        check(got == want, f"pyarrow nulls({name}) = {got} != {want}")

    # duckdb, reading the same tree on its own.
    con = duckdb.connect()
    source = f"read_parquet('{data}/*/*.parquet', hive_partitioning = true, hive_types = {{'dt': VARCHAR}})"
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    got_types = [(r[0], r[1]) for r in described]
    want_types = [(n, DUCKDB_TYPES[k]) for n, k in columns] + [("dt", "VARCHAR")]
    check(got_types == want_types, f"duckdb types {got_types} != {want_types}")
    counted = dict(con.execute(f"SELECT dt, count(*) FROM {source} GROUP BY dt").fetchall())
    check(counted == expected["rows_per_dt"], f"duckdb rows per dt {counted} != {expected['rows_per_dt']}")
    for dt, sums in expected.get("sums_per_dt", {}).items():
        for name, want in sums.items():
            (got,) = con.execute(f"SELECT sum({name}) FROM {source} WHERE dt = ?", [dt]).fetchone()
            check(close(got, want), f"duckdb sum({name}) at dt={dt} = {got} != {want}")
    for name, want in expected["sums"].items():
        (got,) = con.execute(f"SELECT sum({name}) FROM {source}").fetchone()
        check(close(got, want), f"duckdb sum({name}) = {got} != {want}")

    if failures:
        for message in failures:
            print(message, file=sys.stderr)
        sys.exit(1)
    print(f"ok: {len(files)} files, {sum(per_dt.values())} rows, {len(per_dt)} partitions")


if __name__ == "__main__":
    main()
