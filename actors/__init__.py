"""Shardis's actor machinery.  A map of the parts:

- ``shard``      `ShardActor`: a pykka ThreadingActor owning one shard's keyspaces
- ``keyspace``   `Keyspace`: one database on one shard; lazy + active expiry
- ``messages``   `Batch`, `Call`, `Tick`: what the loop sends to shards
- ``bridge``     `LoopBridge`: completions from shard threads into the event loop
- ``sequencer``  `ReplySequencer`, `Pending`: per-connection reply ordering
- ``slots``      CRC16 hash slots and the slot -> shard map
"""

from .bridge import LoopBridge
from .keyspace import Keyspace
from .messages import Batch, Call, Tick
from .sequencer import Pending, ReplySequencer
from .shard import ShardActor
from .slots import SlotMap, key_slot

__all__ = ["LoopBridge", "Keyspace", "Batch", "Call", "Tick", "Pending", "ReplySequencer",
           "ShardActor", "SlotMap", "key_slot"]
