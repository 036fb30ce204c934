"""Everything Dagster: assets, checks, IO managers, jobs, partitions, resources, schedules and sensors.

``linkedin_assets.definitions`` puts them into the one ``Definitions``; the Dagster-free packages
(``linkedin_assets.linkedin``, ``linkedin_assets.warehouse``, ``linkedin_assets.snapshot``) know nothing of them.
"""
