"""The README's "Your own cell" commands, exactly as written there, on a package with the upstream naming and
layout and no feature tables (quick profile, about 2.5 minutes on 2 cores)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_cell_packages import upstream_package

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_own_cell_commands() -> list[list[str]]:
    """The command lines of the README's own-cell block, comments removed."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Your own cell", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README: the own-cell section has no bash block"
    return [shlex.split(line.split("#", 1)[0]) for line in block.group(1).splitlines() if line.split("#", 1)[0].strip()]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_readme_own_cell_sequence_runs_on_a_bare_upstream_package(data_root, tmp_path):
    commands = readme_own_cell_commands()
    assert [c[:2] for c in commands] == [["noble", "cells"], ["noble", "features"], ["noble", "simulate"],
                                        ["noble", "train"], ["noble", "evaluate"], ["make", "figures"]]
    pkg = upstream_package(data_root, tmp_path, n=6)  # json/ + swc/, upstream names with spaces, no tables
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "NOBLE_DATA_DIR": str(tmp_path / "data"), "NOBLE_CACHE_DIR": str(tmp_path / "cache"),
           "NOBLE_WORK_DIR": str(tmp_path / "runs"), "NOBLE_FIGURES_DIR": str(tmp_path / "figures"),
           "MPLBACKEND": "Agg", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for cmd in commands[:-1]:
        cmd = [str(pkg) if a == "path/to/package" else a for a in cmd]
        if cmd[1] == "simulate":  # the README's 1,000 traces, scaled down for the test
            cmd[cmd.index("--n-samples") + 1] = "8"
        _run([str(BIN / cmd[0])] + cmd[1:], work, env)

    desc = json.loads((tmp_path / "data" / "cells" / "mycell" / "noble_cell.json").read_text())
    assert desc["specimen_id"] == 689331391 and len(desc["hof_files"]) == 6
    assert desc["feature_source"].startswith("computed by noble features --fi")
    card = json.loads((work / "mycell_model" / "model_card.json").read_text())
    assert card["training"]["feature_source"] == "computed"  # I_thr, s_thr from `noble features --fi`
    metrics = json.loads((work / "mycell_metrics.json").read_text())
    unseen = metrics["sets"]["train_hofs_unseen_currents"]
    assert unseen["n_traces"] > 0 and 0 < unseen["table1_pct"]["voltage"] < 1000

    # `make figures PROFILE=quick CELL=mycell` is the pipeline runner on that cell
    make = commands[-1]
    dry = _run(["make", "-n", "-C", str(REPO)] + make[1:], REPO,
               {**env, "NOBLE_DATA_DIR": str(REPO / "cache" / "data")})
    runner = next(line for line in dry.splitlines() if "-m noble.pipeline" in line)
    assert "--profile quick" in runner and "--cell mycell" in runner
    out = _run([sys.executable, "-m", "noble.pipeline", "--profile", "quick", "--cell", "mycell"], REPO, env)
    assert "12 notebooks ran" in out
    figs = tmp_path / "figures" / "mycell"
    manifest = json.loads((figs / "manifest.json").read_text())
    assert manifest["cell"] == "mycell" and manifest["profile"] == "quick"
    # what the bare package cannot support is skipped with a reason, not failed
    assert set(manifest["items_skipped"]) >= {"Fig 2A", "Fig 5B"}
    assert all("mycell" in reason for reason in manifest["items_skipped"].values())
    for name in ("fig03_fi_and_traces.png", "table1_ablation.md", "main_model_errors.csv", "tableE_speed.csv"):
        assert (figs / name).is_file(), name
    assert not (REPO / "figures" / "mycell").exists()  # a quick run never writes into the committed figures
