"""xborder benchmarks: `python -m xborder.bench [--quick] [--only gas,ingest,index,query] [--out DIR]`.

Every figure is measured in the same process run as its baseline and printed with the ratio, the
machine's load average and core count; results go to `bench-results/<timestamp>.json` and
`bench-results/latest.json`. Targets are checked here (pass/fail printed), never in unit tests.
See docs/benchmarks.md.
"""
