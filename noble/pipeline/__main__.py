"""``python -m noble.pipeline [--profile P] [--cell C] [--force]``: what ``make figures`` runs."""
from __future__ import annotations

import argparse
import logging
import sys

from noble.errors import NobleError
from noble.pipeline.profiles import PROFILE_NAMES, default_profile
from noble.pipeline.runner import run_pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m noble.pipeline", description=__doc__)
    parser.add_argument("--profile", choices=PROFILE_NAMES, default=None, help="default: paper on a GPU, else laptop")
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--force", action="store_true", help="rerun every notebook even if unchanged")
    args = parser.parse_args(argv)
    profile = args.profile or default_profile()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("    %(message)s"))
    streamed = logging.getLogger("papermill")  # the notebooks' cell output, streamed while they run
    streamed.addHandler(handler)
    streamed.setLevel(logging.INFO)
    streamed.propagate = False
    try:
        results = run_pipeline(profile, cell=args.cell, force=args.force)
    except NobleError as exc:
        print(f"[noble] error: {exc}", file=sys.stderr)
        return 1
    total = sum(r.seconds for r in results)
    print(f"[noble] profile {profile}: {sum(r.status == 'ran' for r in results)} notebooks ran, "
          f"{sum(r.status == 'skipped' for r in results)} skipped, {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
