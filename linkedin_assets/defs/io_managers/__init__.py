"""Dagster IO managers: the warehouse tables and the JSON snapshot."""

from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.defs.io_managers.warehouse import (
    TABLE_METADATA_KEY,
    WarehouseIOManager,
    WarehouseResource,
    redact_url,
)

__all__ = ["TABLE_METADATA_KEY", "SnapshotJsonIOManager", "WarehouseIOManager", "WarehouseResource", "redact_url"]
