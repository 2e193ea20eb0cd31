import dagster as dg

from replenit_pipelines.defs import settings

# Windows are UTC. Customers daily; products and orders hourly (the docs ask for near real time orders).
daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.current().partitions_start, timezone="UTC")
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=settings.current().partitions_start + "-00:00", timezone="UTC")
