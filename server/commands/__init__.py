"""Command handlers, grouped by data type like Redis's t_*.c files.

Importing this package registers every command in `server.table.TABLE`.
"""

from . import (acl, bitmaps, connection, hashes, hll, introspection, keys, lists,  # noqa: F401
               persistence, pubsub, server, sets, sort, strings, transactions, zsets)
