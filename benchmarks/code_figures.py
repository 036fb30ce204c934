"""Figures of the code itself, for a checkout: what a reader has to get through, and what competes with Dagster.

    .venv/bin/python benchmarks/code_figures.py [CHECKOUT ...]      (default: this checkout)

Printed per checkout (the simulator, tests and benchmarks left out: the product only):

- product lines (every line, as ``wc -l`` counts them), modules over 500 lines (the simulator's included),
  functions over 60 lines (their names);
- private ``dagster._`` imports;
- places that read the process environment (``os.environ``, ``os.getenv``, the project's own ``environ()``);
- places that declare a default for a setting (a literal default of a field, argument or constant named like one of
  the settings: lookback, snapshot days, freshness hour, schema, DuckDB path, cron, token store, API version, ...);
- pairs of repeated code, as the ``duplicates`` command counts them, when that command is on the PATH.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

SETTING_NAMES = re.compile(
    r"(lookback|snapshot_days|freshness|schema_name|duckdb_path|schedule_cron|token_store|api_version|"
    r"start_date|max_concurrency|api_base_url|oauth_base_url|accounts_per_step|demographics_level|executor)",
    re.IGNORECASE,
)
ENV_READ = re.compile(r"os\.environ|os\.getenv|\benviron\(\)")


def product_files(root: Path, simulator: bool = False) -> list[Path]:
    package = root / "linkedin_assets"
    return sorted(p for p in package.rglob("*.py") if simulator or "simulator" not in p.relative_to(package).parts)


def _literal_default(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is not None and not isinstance(node.value, bool)


def setting_defaults(tree: ast.AST) -> list[str]:
    """Names given a literal default that look like a setting: annotated fields, constants, keyword defaults."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = node.value
            if isinstance(value, ast.Call):  # Field(default=...), Field(<default>, ...) or _setting(<default>, ...)
                keyword = next((k.value for k in value.keywords if k.arg == "default"), None)
                name = getattr(value.func, "id", getattr(value.func, "attr", ""))
                positional = value.args[0] if value.args and name in ("Field", "_setting") else None
                value = keyword if keyword is not None else positional
            if _literal_default(value) and SETTING_NAMES.search(node.target.id):
                found.append(node.target.id)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if _literal_default(node.value) and SETTING_NAMES.search(node.targets[0].id):
                found.append(node.targets[0].id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args.args[len(node.args.args) - len(node.args.defaults) :] + node.args.kwonlyargs
            defaults = list(node.args.defaults) + list(node.args.kw_defaults)
            for arg, default in zip(args, defaults, strict=False):
                if _literal_default(default) and SETTING_NAMES.search(arg.arg):
                    found.append(f"{node.name}({arg.arg}=...)")
    return found


def figures(root: Path) -> dict[str, object]:
    lines = 0
    big_modules, long_functions, private, env_reads, defaults = [], [], [], [], []
    for path in product_files(root, simulator=True):
        count = len(path.read_text().splitlines())
        if count > 500:
            big_modules.append(f"{path.relative_to(root)} ({count})")
    for path in product_files(root):
        text = path.read_text()
        name = str(path.relative_to(root))
        lines += len(text.splitlines())
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{name}:{node.name} ({length})")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster._"):
                private.append(f"{name}:{node.lineno} {node.module}")
        env_reads += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if ENV_READ.search(line)]
        defaults += [f"{name}: {d}" for d in setting_defaults(tree)]
    return {
        "product lines": lines,
        "modules over 500 lines": big_modules,
        "functions over 60 lines": long_functions,
        "private dagster._ imports": private,
        "environment reads": env_reads,
        "setting defaults declared": defaults,
        "settings whose default is declared in more than one place": _repeated(defaults),
    }


def _repeated(defaults: list[str]) -> list[str]:
    """Setting names (a field and the constant or argument that stands for it count as one) declared more than once."""
    by_name: dict[str, list[str]] = {}
    for item in defaults:
        where, _, name = item.partition(": ")
        key = re.sub(r"^default_|_utc$|_path$|\(.*$|^.*\(", "", name.lower())
        by_name.setdefault(key, []).append(where)
    return [f"{name}: {', '.join(places)}" for name, places in sorted(by_name.items()) if len(places) > 1]


def duplicate_pairs(root: Path) -> str:
    if shutil.which("duplicates") is None:
        return "duplicates: not on PATH"
    out = subprocess.run(["duplicates", "--repo", str(root)], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "duplicates: no output"


def main(argv: list[str]) -> None:
    roots = [Path(a).resolve() for a in argv] or [Path(__file__).resolve().parent.parent]
    for root in roots:
        print(f"== {root}")
        for key, value in figures(root).items():
            if isinstance(value, list):
                print(f"{key}: {len(value)}")
                for item in value:
                    print(f"    {item}")
            else:
                print(f"{key}: {value}")
        print(duplicate_pairs(root))


if __name__ == "__main__":
    main(sys.argv[1:])
