"""Build hook for the optional C extensions: the request parser
(server._reqparse) and the shard runners' key prefetching (actors._prefetch).

Everything else lives in pyproject.toml.  Both are optional: without a C
compiler the install still succeeds, server.protocol falls back to the
pure-Python RequestReader (see new_request_reader) and the runners go
without prefetching (actors.keyspace.warm is None).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("server._reqparse", ["server/_reqparse.c"], optional=True),
        Extension("actors._prefetch", ["actors/_prefetch.c"], optional=True),
    ],
)
