"""Build hook for the optional C extensions: the request parser
(server._reqparse) and the C side of the shard runners and the keyspace
table (actors._runs, with actors/_keytable.h).

Everything else lives in pyproject.toml.  Both are optional: without a C
compiler the install still succeeds, server.protocol falls back to the
pure-Python RequestReader (see new_request_reader) and the runners
keep their Python loops, without prefetching (actors.shard.WARM and
C_RUN_GET are None), and keyspaces use actors.keytable.PyKeyTable.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("server._reqparse", ["server/_reqparse.c"], optional=True),
        Extension("actors._runs", ["actors/_runs.c"], depends=["actors/_keytable.h"],
                  optional=True),
    ],
)
