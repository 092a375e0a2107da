from pipeline.cli import run

raise SystemExit(run())
