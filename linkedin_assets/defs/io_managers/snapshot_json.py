"""An IO manager that keeps timestamped JSON snapshots and an atomically replaced ``latest.json``."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic_core
from pydantic import BaseModel, Field

from linkedin_assets.files import write_atomically
from linkedin_assets.snapshot.schema import SnapshotStream

LATEST = "latest.json"
COPY_BLOCK = 1 << 20  # latest.json is copied from the written snapshot 1 MiB at a time


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(COPY_BLOCK):
            yield block


class SnapshotJsonIOManager(dg.ConfigurableIOManager):
    """Writes a pydantic model, a dict or a ``SnapshotStream`` to ``<base_dir>/<UTC time>.json``, then copies it to
    ``latest.json``.

    A ``SnapshotStream`` is written piece by piece as its accounts are produced (memory: one account, not the
    document), and its ``metadata`` is recorded after the write. Both files are replaced atomically, so a crash leaves
    the previous ``latest.json`` intact. One asset per ``base_dir``; inputs load ``latest.json`` (validated into the
    input's pydantic type when it has one).
    """

    base_dir: str = Field(default="data/snapshots", description="Directory holding the snapshots and latest.json.")

    def handle_output(self, context: dg.OutputContext, obj: SnapshotStream | BaseModel | dict[str, Any]) -> None:
        data: bytes | Iterator[bytes]
        if isinstance(obj, SnapshotStream):
            data = obj.chunks()
        elif isinstance(obj, BaseModel):
            data = obj.model_dump_json().encode()
        elif isinstance(obj, dict):
            data = pydantic_core.to_json(obj)
        else:
            raise TypeError(
                f"SnapshotJsonIOManager stores a SnapshotStream, pydantic models or dicts, got {type(obj).__name__}"
            )
        directory = Path(self.base_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = (directory / f"{datetime.now(UTC):%Y-%m-%dT%H-%M-%SZ}.json").resolve()
        size = write_atomically(path, data)
        write_atomically(path.parent / LATEST, _blocks(path))
        metadata = dict(obj.metadata) if isinstance(obj, SnapshotStream) else {}
        context.add_output_metadata(
            {**metadata, "path": dg.MetadataValue.path(str(path)), "bytes": size, "dagster/uri": path.as_uri()}
        )

    def load_input(self, context: dg.InputContext) -> Any:
        data = (Path(self.base_dir) / LATEST).read_bytes()
        target = context.dagster_type.typing_type
        if isinstance(target, type) and issubclass(target, BaseModel):
            return target.model_validate_json(data)
        return json.loads(data)
