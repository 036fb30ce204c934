"""The asset graph: LinkedIn API -> warehouse tables -> JSON snapshot."""

import warnings

import dagster as dg

# Single-run backfills and the month -> days partition mapping are Dagster beta parameters, used on purpose.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
