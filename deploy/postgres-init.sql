-- Run once by the postgres image on a new volume: the code location's state (REPLENIT_STATE_URL)
-- in a database of its own beside Dagster's (DAGSTER_POSTGRES_URL).
CREATE DATABASE replenit;
