"""Build hook for the optional C request parser (server._reqparse).

Everything else lives in pyproject.toml.  The extension is optional: without
a C compiler the install still succeeds and server.protocol falls back to the
pure-Python RequestReader (see new_request_reader).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("server._reqparse", ["server/_reqparse.c"], optional=True),
    ],
)
