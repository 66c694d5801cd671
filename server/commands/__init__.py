"""Command handlers, grouped by data type like Redis's t_*.c files.

Importing this package registers every command in `server.table.TABLE`.
"""

from . import connection, keys, server, strings, transactions  # noqa: F401
