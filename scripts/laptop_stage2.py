"""A second, coarse-resolution stage for the laptop main model: more sample-steps per CPU-second.

Usage::

    python scripts/laptop_stage2.py --init MODEL_DIR --train T.h5 --out DIR [--factor 2] [--epochs 50]
        [--hold-epochs 34] [--quantile-weight W] [--threads 2] [--max-minutes M]

Starts from the weights in ``MODEL_DIR`` (the laptop recipe's main model), trains the same architecture on the
traces of ``T.h5`` coarsened ``--factor`` times (:meth:`noble.sim.traces.TraceDataset.coarsened`; the FNO is
resolution-agnostic; padded to an FFT-friendly length) at Adam's constant 0.002 for ``--hold-epochs`` epochs,
then a cosine decay to 5% until ``--epochs``, with the same hold-out split (seed 0, 10% of the rows) and the same
firing-aware selection as stage 1 (``--quantile-weight`` adds the timing-free quantile term to the loss, an
ablation the pipeline does not run); the configuration is :func:`noble.training.stages.stage_config`'s, so the run
equals the pipeline's stage 2 of ``Profile.main_stages = (ResolutionStage(2, 50, 34, 0.002), ...)``. Rerunning
continues exactly from ``DIR/state/last.pt``. ``scripts/data_study.py score`` scores its checkpoints on the
paper's grid. Units: nA, mV, ms.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from noble.pipeline import steps
from noble.sim.traces import read_dataset
from noble.training import train
from noble.training.stages import ResolutionStage, stage_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path, required=True, help="stage-1 model directory")
    parser.add_argument("--train", type=Path, required=True, help="the stage-1 training file (full resolution)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--hold-epochs", type=int, default=34)
    parser.add_argument("--quantile-weight", type=float, default=0.0,
                        help="weight of the quantile loss term (TrainConfig.quantile_weight)")
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    coarse = read_dataset(args.train).coarsened(args.factor)
    # the stage the pipeline would train with Profile.main_stages = (this stage,): the same configuration
    base = steps.model_config("laptop", "human_pvalb_689331391", name="laptop-main")
    stage = ResolutionStage(args.factor, args.epochs, args.hold_epochs, 0.002, quantile_weight=args.quantile_weight)
    config = stage_config(base, stage, 2, coarse.template.n_samples).with_training(max_minutes=args.max_minutes)
    resume = (args.out / "state" / "last.pt").is_file()
    result = train(coarse, config, args.out, resume=resume, init_weights=None if resume else args.init,
                   progress=False)
    print(f"stage 2: {result.epochs_completed} epochs, selected {result.best_epoch}, stopped by {result.stopped}, "
          f"{result.wall_time_s:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
