"""Hash slots: CRC16-XMODEM of the key (or its ``{hashtag}``) mod 16384.

Slots map to shards in contiguous ranges, as Redis Cluster assigns them to
nodes: shard ``i`` of ``n`` owns slots ``[i*16384//n, (i+1)*16384//n)``.
"""

from binascii import crc_hqx

__all__ = ["NSLOTS", "key_slot", "SlotMap"]

NSLOTS = 16384


def key_slot(key: bytes) -> int:
    """Redis Cluster's slot of a key, ``{hashtag}`` aware."""
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc_hqx(key, 0) & 0x3FFF


class SlotMap:
    """Slot -> shard index, precomputed so routing is one list index."""

    __slots__ = ("nshards", "table")

    def __init__(self, nshards: int):
        self.nshards = nshards
        self.table = [slot * nshards // NSLOTS for slot in range(NSLOTS)]

    def shard_of(self, key: bytes) -> int:
        if b"{" in key:
            return self.table[key_slot(key)]
        return self.table[crc_hqx(key, 0) & 0x3FFF]

    def slots_of(self, shard: int) -> range:
        lo = -(-shard * NSLOTS // self.nshards)
        hi = -(-(shard + 1) * NSLOTS // self.nshards)
        return range(lo, hi)
