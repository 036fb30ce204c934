"""LinkedIn Ads data as Dagster software-defined assets."""
