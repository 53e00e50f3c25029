#!/usr/bin/env bash
# Evaluate the laptop profile's main model on traces outside its training and selection sets:
# unseen currents of the train HoFs, the test HoFs, and the spike-count variability across the 50 train HoFs
# at 0.1 nA. Usage: bash scripts/laptop_main_report.sh [OUT_DIR]   (default docs/results)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export NOBLE_DATA_DIR=${NOBLE_DATA_DIR:-$PWD/cache/data}
RUN=${NOBLE_WORK_DIR:-cache/runs}/laptop/human_pvalb_689331391
OUT=${1:-docs/results}
MODEL=${MODEL:-$RUN/model/main}
# what the main model trained on, in the order of its split (stage 2 adds the extra traces to train.h5); a model
# trained on train.h5 alone: TRAIN_DATA=$RUN/data/train.h5
TRAIN_DATA=${TRAIN_DATA:-"$RUN/data/train.h5 $RUN/data/train_extra-3200-seed21.h5"}
mkdir -p "$OUT"
"$BIN/noble" simulate --cell human_pvalb_689331391 --split train --amplitudes=0.1 --workers 2 --quiet \
  --out "$RUN/data/variability_0.1nA.h5"
"$BIN/noble" evaluate --model "$MODEL" --data "$RUN/data/train_hofs_unseen_currents.h5" \
  --train-data $TRAIN_DATA --fi-grid "$RUN/data/variability_0.1nA.h5" --no-progress \
  --out "$OUT/laptop_main_unseen_currents.json"
"$BIN/noble" evaluate --model "$MODEL" --data "$RUN/data/test_hofs.h5" --train-data $TRAIN_DATA \
  --no-progress --out "$OUT/laptop_main_test_hofs.json"
"$BIN/python" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from noble.pipeline.reports import recipe_targets
out = Path(sys.argv[1])
unseen = json.loads((out / "laptop_main_unseen_currents.json").read_text())
test = json.loads((out / "laptop_main_test_hofs.json").read_text())
sets = {**unseen["sets"], "test_hofs": test["sets"]["test_hofs"]}
table = recipe_targets(sets, unseen.get("variability"))
print(table.to_string())
table.to_csv(out / "laptop_main_targets.csv")
PY
"$BIN/python" scripts/trace_panel.py --model "$MODEL" --data "$RUN/data/train_hofs_unseen_currents.h5" --n 8 \
  --out "$OUT/laptop_main_unseen_traces.png"
"$BIN/python" scripts/trace_panel.py --model "$MODEL" --data "$RUN/data/test_hofs.h5" --n 8 \
  --out "$OUT/laptop_main_test_hof_traces.png"
