import dagster as dg

from replenit_pipelines.component.jobs import executor


# The code location's executor, for runs of no named job (Dagster's implicit asset job: automation
# runs, an asset page's selection); the component's jobs carry the same one (component/jobs.py).
@dg.definitions
def execution() -> dg.Definitions:
    return dg.Definitions(executor=executor())
