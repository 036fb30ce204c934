"""The JSON snapshot's format, Dagster-free: its pydantic schema, streamed writer and money formatting."""
