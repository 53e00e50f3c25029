"""requirements/base.txt and environment.yml pin the same packages at the same versions."""
from __future__ import annotations

import re
from pathlib import Path

from noble.paths import project_root

ROOT = project_root()
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str], where: Path) -> dict[str, str]:
    """``{package: version specifier}`` from requirement lines; every line must carry a specifier."""
    out: dict[str, str] = {}
    for line in lines:
        m = _NAME.match(line)
        assert m and m.group(2), f"{where}: {line!r} is not a pinned requirement"
        name = _normalise(m.group(1))
        assert name not in out, f"{where}: {name} listed twice"
        out[name] = m.group(2).replace(" ", "")
    return out


def requirements_pins(path: Path) -> dict[str, str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return _pins([ln for ln in lines if ln], path)


def environment_pins(path: Path) -> tuple[str | None, dict[str, str]]:
    """The conda ``python`` pin and the ``pip:`` list of an environment.yml (a simple, flat layout)."""
    python = None
    pip_lines: list[str] = []
    in_pip = False
    for raw in path.read_text().splitlines():
        text = raw.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        item = text.strip()
        if item == "- pip:":
            in_pip = True
            continue
        if in_pip and item.startswith("- ") and len(text) - len(text.lstrip()) > 4:
            pip_lines.append(item[2:].strip())
            continue
        in_pip = False
        if item.startswith("- python="):
            python = item[len("- python=") :]
    return python, _pins(pip_lines, path)


def test_requirements_and_environment_carry_the_same_pins():
    req = requirements_pins(ROOT / "requirements" / "base.txt")
    python, env = environment_pins(ROOT / "environment.yml")
    assert len(req) > 10
    only_req = sorted(set(req) - set(env))
    only_env = sorted(set(env) - set(req))
    assert not only_req and not only_env, f"only in base.txt: {only_req}; only in environment.yml: {only_env}"
    differ = {n: (req[n], env[n]) for n in req if req[n] != env[n]}
    assert not differ, f"versions differ (base.txt, environment.yml): {differ}"
    assert python == "3.11"


def test_exact_pins_and_allensdk_pin_agree():
    req = requirements_pins(ROOT / "requirements" / "base.txt")
    loose = {n: v for n, v in req.items() if not v.startswith("==") and n != "setuptools"}
    assert not loose, f"requirements/base.txt: not pinned exactly: {loose}"
    allensdk = requirements_pins(ROOT / "requirements" / "allensdk.txt")
    assert list(allensdk) == ["allensdk"]
    # environment.yml installs allensdk in a comment-documented step; it must name the same version
    assert f"allensdk{allensdk['allensdk']}" in (ROOT / "environment.yml").read_text()
