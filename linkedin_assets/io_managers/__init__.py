"""Dagster IO managers: the warehouse tables and the JSON snapshot."""

from linkedin_assets.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.io_managers.warehouse import WarehouseIOManager, WarehouseResource, redact_url

__all__ = ["SnapshotJsonIOManager", "WarehouseIOManager", "WarehouseResource", "redact_url"]
