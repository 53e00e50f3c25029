"""Simulate the laptop profile's datasets and train its main model, resumably, with the pipeline's own steps.

With ``Profile.main_stages`` set (e.g. ``profiles.LAPTOP_FIRING_STAGES``, ``noble.training.stages``) the main model
trains in stages: stage 1 in ``model/main.stage1`` (from shipped ``main.stage1`` weights unless ``NOBLE_RETRAIN=1``),
stage 2 at 2x coarse on the training set plus the extra traces it simulates (``data/train_extra-3200-seed21.h5``)
in ``model/main.stage2``, and the model on the paper's grid in ``model/main``.

Usage: ``python scripts/train_laptop_main.py [--threads 2] [--cell NAME] [--extra-sets N] [--smooth-weight W]
[--data-only | --model-only]`` (``--extra-sets N``: the firing stage adds N sets of 3,200 traces, seeds 21, 22, ...;
``--smooth-weight W``: its loss gains the slow-voltage term, ``ResolutionStage.smooth_weight``; ``NOBLE_TRAIN_WORKERS=2``
trains data-parallel). Everything lands where
``make figures PROFILE=laptop`` looks for it (``$NOBLE_WORK_DIR`` or ``cache/runs/laptop/<cell>``); rerunning
after an interruption continues the simulation and the training exactly from their checkpoints.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from noble.pipeline import steps
from noble.pipeline.profiles import LAPTOP_FIRING_STAGES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads for training")
    parser.add_argument("--data-only", action="store_true", help="simulate the datasets, do not train")
    parser.add_argument("--model-only", action="store_true",
                        help="train as soon as the training set exists (another process simulates the rest)")
    parser.add_argument("--extra-sets", type=int,
                        help="sets of extra traces of the laptop firing stage (default: the profile's recipe)")
    parser.add_argument("--smooth-weight", type=float,
                        help="weight of the slow-voltage term in the firing stage (default: the profile's recipe)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    profile, layout = steps.run_settings("laptop", args.cell)
    changes = {k: v for k, v in (("extra_sets", args.extra_sets), ("smooth_weight", args.smooth_weight))
               if v is not None}
    if changes:
        profile = replace(profile, main_stages=tuple(replace(s, **changes) for s in LAPTOP_FIRING_STAGES))
        print(f"stages: {[s.as_dict() for s in profile.main_stages]}", flush=True)
    t0 = time.perf_counter()
    if args.model_only:
        while not layout.train_data.is_file():
            time.sleep(20)
        out = steps.ensure_model(profile, args.cell, layout)
        print(f"main model in {out} after {time.perf_counter() - t0:.0f} s", flush=True)
        return 0
    paths = steps.ensure_datasets(profile, args.cell, layout)
    print(f"datasets ready after {time.perf_counter() - t0:.0f} s: " + ", ".join(str(p) for p in paths.values()), flush=True)
    if args.data_only:
        return 0
    out = steps.ensure_model(profile, args.cell, layout)
    print(f"main model in {out} after {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
