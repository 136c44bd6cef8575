"""``python -m load.bench``: the throughput benchmark (see ``main.py`` for what it measures).

Modules: ``common`` (constants, targets, CPU accounting), ``measuring`` (servers, wrk runs, interleaving),
``redis_stats`` (commandstats, MONITOR, the Redis ceiling, with redis-py), ``receiver`` (a real OTLP/HTTP
receiver that counts spans), ``profiling`` (py-spy and its summary), ``reporting`` (targets, diagnosis,
bench.md/png), ``openloop`` (a constant-arrival-rate generator), ``main`` (the run); ``starvation`` (python -m
load.bench.starvation: the same load on server variants, with ``hello``, the smallest ASGI app).
"""
