"""Custom reports: users' own adAnalytics tables, declared in a YAML file.

The file (setting ``LINKEDIN_ASSETS_REPORTS_FILE``; format, rules and cost in ``docs/custom-reports.md``) lists
reports; each becomes a :class:`~linkedin_assets.warehouse.schema.MetricTable`, hence a warehouse table and the asset
``linkedin_ads/<name>``. What LinkedIn would refuse, or answer with silently missing columns, is refused here, when
the code location loads: every problem of the file in one :class:`ReportsFileError`, one line each, naming the file,
the report and the field. Dagster-free.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from linkedin_assets.linkedin.catalogue import resolve_metric, unserved_on
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.warehouse.schema import HISTORY, PIVOTS, TABLES, WRITES, MetricTable

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
BUILT_IN: frozenset[str] = frozenset(
    {*TABLES, *(spec.name for spec in HISTORY.values()), WRITES.name, "linkedin_marketing_api", "snapshot"}
)
"""Names a report cannot take: the built-in tables (read at import, before any report is registered) and the other
assets under ``linkedin_ads/``."""


class ReportsFileError(ValueError):
    """A reports file that cannot be used: one line per problem, each naming the file, the report and the field."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` refusing a key given twice in one mapping (PyYAML would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _choice(value: Any, options: tuple[str, ...]) -> str:
    folded = (value.upper() if options[0].isupper() else value.lower()) if isinstance(value, str) else value
    if folded not in options:
        raise ValueError(f"{value!r} is not one of {', '.join(options)}; choose one")
    return folded


def _names(value: Any, example: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list, e.g. {example}")
    return [str(item) for item in value]


class _Report(BaseModel):
    """One declared report. Each validator checks its field, and against the valid fields declared before it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    finder: Literal["analytics", "statistics"]
    pivots: tuple[str, ...]
    granularity: Literal["DAILY", "MONTHLY", "YEARLY"]
    metrics: tuple[str, ...]
    facet: Literal["account", "campaign"] = "account"
    description: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise ValueError(f"{value!r}: use a lowercase identifier (a letter, then a-z, 0-9 or _; 63 at most)")
        if value in BUILT_IN:
            raise ValueError(f"{value!r} is a built-in table or asset; choose another name")
        return value

    @field_validator("finder", mode="before")
    @classmethod
    def _finder(cls, value: Any) -> str:
        return _choice(value, ("analytics", "statistics"))

    @field_validator("pivots", mode="before")
    @classmethod
    def _pivots(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        pivots = tuple(pivot.upper() for pivot in _names(value, "[CAMPAIGN, IMPRESSION_DEVICE_TYPE]"))
        unknown = [pivot for pivot in pivots if pivot not in PIVOTS]
        finder = info.data.get("finder")
        if unknown:
            raise ValueError(f"unknown pivot {', '.join(unknown)}; known: {', '.join(PIVOTS)}")
        if len(set(pivots)) < len(pivots):
            raise ValueError(f"{', '.join(pivots)} repeats a pivot; name each once")
        if not 1 <= len(pivots) <= 3:
            raise ValueError(f"names {len(pivots)} pivots; give 1 to 3")
        if finder == "analytics" and len(pivots) > 1:
            raise ValueError("finder analytics takes exactly one pivot; use finder statistics for two or three")
        if finder == "statistics" and any(pivot in MEMBER_PIVOTS for pivot in pivots):
            raise ValueError("MEMBER_* pivots only alone with finder analytics (LinkedIn's statistics refuses them)")
        return pivots

    @field_validator("granularity", mode="before")
    @classmethod
    def _granularity(cls, value: Any) -> str:
        if isinstance(value, str) and value.upper() == "ALL":
            raise ValueError(
                "ALL is refused: an ALL total covers whatever range a run syncs, so its meaning changes from run to "
                "run; use MONTHLY or YEARLY"
            )
        return _choice(value, ("DAILY", "MONTHLY", "YEARLY"))

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        names, problems = [], []
        for item in _names(value, "[impressions, clicks, costInLocalCurrency]"):
            try:
                metric = resolve_metric(item)
            except ValueError as exc:
                problems.append(f"{exc}; use an API or column name from the catalogue")
                continue
            if metric.retired_in:
                problems.append(f"{metric.name} was retired by LinkedIn in API version {metric.retired_in}; remove it")
            elif metric.max_days and info.data.get("granularity") == "YEARLY":
                problems.append(
                    f"{metric.name}: LinkedIn serves it only for ranges of at most {metric.max_days} days, never for a "
                    "year; use MONTHLY or remove it"
                )
            names.append(metric.name)
        names = list(dict.fromkeys(names))
        for pivot in info.data.get("pivots", ()):
            if unserved := unserved_on(names, [pivot]):
                problems.append(f"{', '.join(unserved)}: not served on pivot {pivot}; remove them or change pivots")
        if not problems and not names:
            problems.append("is empty; name at least one metric")
        if problems:
            raise ValueError("\n".join(problems))
        return tuple(names)

    @field_validator("facet", mode="before")
    @classmethod
    def _facet(cls, value: Any, info: ValidationInfo) -> str:
        facet = _choice(value, ("account", "campaign"))
        if facet == "campaign" and info.data.get("finder") != "analytics":
            raise ValueError(
                "campaign only with finder analytics: per-campaign requests exist for MEMBER_* pivots, which "
                "statistics refuses; use facet account"
            )
        return facet


def _explain(exc: ValidationError, where: str) -> list[str]:
    """One line per problem: ``<where>: <field>: <what is wrong>; <what to do>``."""
    lines, unknown = [], []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            unknown.append(field)
            continue
        message = "missing; add it" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        lines += [f"{where}: {field}: {line}" for line in message.splitlines()]
    if unknown:
        known = ", ".join(_Report.model_fields)
        lines.append(f"{where}: unknown key {', '.join(unknown)}; the keys are {known} (check the spelling)")
    return lines


def _items(text: str, source: str) -> list[Any]:
    """The ``reports`` list of the file; a problem here ends the reading."""
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise ReportsFileError(f"{source}: not valid YAML: {exc.problem}{line}; fix the syntax") from None
    except yaml.YAMLError as exc:
        raise ReportsFileError(f"{source}: not valid YAML: {exc}; fix the syntax") from None
    if not isinstance(document, dict) or not isinstance(document.get("reports"), list):
        raise ReportsFileError(
            f"{source}: the top level must be a mapping with a 'reports' list (see reports.example.yaml)"
        )
    if other := sorted(map(str, set(document) - {"reports"})):
        raise ReportsFileError(f"{source}: unknown top-level key {', '.join(other)}; only 'reports' is read")
    return document["reports"]


def parse_reports(text: str, source: str = "<text>") -> tuple[MetricTable, ...]:
    """The reports declared in YAML ``text`` (``source`` names it in errors), in file order; metrics as API names,
    de-duplicated in order, pivots upper-cased. Raises :class:`ReportsFileError` listing every problem."""
    tables: list[MetricTable] = []
    problems: list[str] = []
    first: dict[str, int] = {}
    for index, item in enumerate(_items(text, source)):
        name = item.get("name") if isinstance(item, dict) else None
        valid_name = isinstance(name, str) and NAME.fullmatch(name)
        where = f"{source}: report {name!r}" if valid_name else f"{source}: reports[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: not a mapping; give name, finder, pivots, granularity and metrics")
            continue
        if valid_name and name in first:
            problems.append(f"{where}: name: also the name of reports[{first[name]}]; choose another name")
        elif valid_name:
            first[name] = index
        try:
            tables.append(MetricTable(**_Report.model_validate(item).model_dump()))
        except ValidationError as exc:
            problems += _explain(exc, where)
    if problems:
        raise ReportsFileError("\n".join(problems))
    return tuple(tables)


def load_reports(path: str | Path) -> tuple[MetricTable, ...]:
    """The reports declared in the YAML file at ``path`` (see :func:`parse_reports`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportsFileError(
            f"{path}: no such reports file; create it or unset LINKEDIN_ASSETS_REPORTS_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportsFileError(f"{path}: cannot read the reports file ({reason}); check the path") from None
    return parse_reports(text, str(path))
