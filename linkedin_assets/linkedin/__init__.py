"""Plain-Python access to the LinkedIn Marketing API. Nothing in this package imports Dagster."""
