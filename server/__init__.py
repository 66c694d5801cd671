"""Shardis's network edge.  A map of the parts:

- ``main``        command line and config files -> `Config`
- ``app``         `Server`: starts shard actors and the listener, timers, shutdown
- ``connection``  `Client`: one asyncio Protocol per connection; parse, route,
                  batch per shard, reply in order, backpressure
- ``protocol``    RESP2/RESP3: request parsing (C parser or its Python port), reply encoding
- ``table``       the declarative command table (`@command`)
- ``router``      how commands spanning shards are split, merged or coordinated
- ``commands/``   command handlers grouped by data type, like Redis's t_*.c
- ``config``      option declarations, CONFIG GET/SET, redis.conf parsing
"""
