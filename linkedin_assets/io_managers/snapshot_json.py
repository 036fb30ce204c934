"""An IO manager that keeps timestamped JSON snapshots and an atomically replaced ``latest.json``."""

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic_core
from pydantic import BaseModel, Field

LATEST = "latest.json"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one, never a part."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class SnapshotJsonIOManager(dg.ConfigurableIOManager):
    """Writes a pydantic model (or dict) to ``<base_dir>/<UTC time>.json``, then copies it to ``latest.json``.

    Both files are replaced atomically, so a crash leaves the previous ``latest.json`` intact. One asset per
    ``base_dir``; inputs load ``latest.json`` (validated into the input's pydantic type when it has one).
    """

    base_dir: str = Field(default="data/snapshots", description="Directory holding the snapshots and latest.json.")

    def handle_output(self, context: dg.OutputContext, obj: BaseModel | dict[str, Any]) -> None:
        if isinstance(obj, BaseModel):
            data = obj.model_dump_json().encode()
        elif isinstance(obj, dict):
            data = pydantic_core.to_json(obj)
        else:
            raise TypeError(f"SnapshotJsonIOManager stores pydantic models or dicts, got {type(obj).__name__}")
        directory = Path(self.base_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = (directory / f"{datetime.now(UTC):%Y-%m-%dT%H-%M-%SZ}.json").resolve()
        write_atomically(path, data)
        write_atomically(path.parent / LATEST, data)
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(path)), "bytes": len(data), "dagster/uri": path.as_uri()}
        )

    def load_input(self, context: dg.InputContext) -> Any:
        data = (Path(self.base_dir) / LATEST).read_bytes()
        target = context.dagster_type.typing_type
        if isinstance(target, type) and issubclass(target, BaseModel):
            return target.model_validate_json(data)
        return json.loads(data)
