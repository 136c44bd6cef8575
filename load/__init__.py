"""Load campaigns (locust) and the throughput benchmark (wrk) of the flash-sale engine. See load/README.md."""
