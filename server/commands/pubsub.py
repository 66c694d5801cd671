"""Pub/Sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

Subscriptions are event-loop state (`PubSub`, one per server): every client
lives on the loop, so delivering a message is a loop-local call, and messages
from one publisher reach each subscriber in publish order.

Ordering with a publisher's own pipeline: PUBLISH is delivered when its entry
reaches the head of the publisher's reply sequencer (`PublishEntry.take`),
i.e. after every command the publisher sent before it has executed - a
subscriber told "k changed" and reading k sees the change, as with Redis.

Ordering on a subscriber: a pushed message goes straight to the socket when
nothing is pending on that connection, otherwise behind the replies already in
flight (`Client.push`), so a SUBSCRIBE confirmation always precedes the
messages it enables.
"""

from __future__ import annotations

from server.protocol import CommandError, Push, encode
from server.table import Route, command, subcommand

from .util import glob_match

CONN = Route.CONN

ALLOWED_RESP2 = {"subscribe", "ssubscribe", "sunsubscribe", "psubscribe", "unsubscribe",
                 "punsubscribe", "ping", "reset", "quit"}


class PubSub:
    """Loop-owned registry: channel/pattern -> subscribers in subscription order."""

    def __init__(self):
        self.channels: dict[bytes, dict] = {}
        self.patterns: dict[bytes, dict] = {}
        self.shard_channels: dict[bytes, dict] = {}
        self.messages_published = 0

    def publish(self, channel: bytes, message: bytes, shard: bool = False) -> int:
        n = 0
        self.messages_published += 1
        subs = (self.shard_channels if shard else self.channels).get(channel)
        if subs:
            msg = Push([b"smessage" if shard else b"message", channel, message])
            enc = {}                    # encoded once per protocol
            for c in list(subs):
                d = enc.get(c.proto)
                if d is None:
                    d = enc[c.proto] = encode(msg, c.proto)
                c.push(msg, d)
                n += 1
        if not shard and self.patterns:
            for pat, subs in list(self.patterns.items()):
                if glob_match(pat, channel):
                    msg = Push([b"pmessage", pat, channel, message])
                    enc = {}
                    for c in list(subs):
                        d = enc.get(c.proto)
                        if d is None:
                            d = enc[c.proto] = encode(msg, c.proto)
                        c.push(msg, d)
                        n += 1
        return n

    def drop_client(self, c) -> None:
        for table, names in ((self.channels, c.subs), (self.patterns, c.psubs),
                             (self.shard_channels, c.ssubs)):
            for name in names:
                subs = table.get(name)
                if subs is not None:
                    subs.pop(c, None)
                    if not subs:
                        del table[name]
            names.clear()
        c.update_sub_mode()


def registry(server) -> PubSub:
    ps = server.extensions.get("pubsub")
    if ps is None:
        ps = server.extensions["pubsub"] = PubSub()
        server.extensions.setdefault("on_disconnect", []).append(ps.drop_client)
        server.extensions.setdefault("on_reset", []).append(ps.drop_client)
        if server.config.notify_keyspace_events:
            # set at startup (config file / command line): the shards learn
            # it with the first subscription, before any event could matter
            from server import notify
            notify.apply(server)
    return ps


def _sub_count(c) -> int:
    return len(c.subs) + len(c.psubs)


def _subscribe(conn, names, table, mine: dict, kind: bytes, count):
    out = []
    for name in names:
        if name not in mine:
            mine[name] = None
            table.setdefault(name, {})[conn] = None
        out.append(encode(Push([kind, name, count(conn)]), conn.proto))
    conn.update_sub_mode()
    return out


def _unsubscribe(conn, names, table, mine: dict, kind: bytes, count):
    if not names:
        names = list(mine)
        if not names:
            return [encode(Push([kind, None, count(conn)]), conn.proto)]
    out = []
    for name in names:
        if name in mine:
            del mine[name]
            subs = table.get(name)
            if subs is not None:
                subs.pop(conn, None)
                if not subs:
                    del table[name]
        out.append(encode(Push([kind, name, count(conn)]), conn.proto))
    conn.update_sub_mode()
    return out


def _reply_many(conn, encoded: list[bytes]):
    from server.connection import DEFERRED
    conn.seq.entries.append(b"".join(encoded))
    return DEFERRED


@command("subscribe", -2, flags=("pubsub", "noscript", "loading", "stale"), group="pubsub",
         route=CONN, since="2.0.0", summary="Listens for messages published to channels.",
         syntax="channel [channel ...]", complexity="O(N) where N is the number of channels to subscribe to.")
def cmd_subscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _subscribe(conn, argv[1:], ps.channels, conn.subs, b"subscribe", _sub_count))


@command("psubscribe", -2, flags=("pubsub", "noscript", "loading", "stale"), group="pubsub",
         route=CONN, since="2.0.0", summary="Listens for messages published to channels that match one or more patterns.",
         syntax="pattern [pattern ...]", complexity="O(N) where N is the number of patterns to subscribe to.")
def cmd_psubscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _subscribe(conn, argv[1:], ps.patterns, conn.psubs, b"psubscribe", _sub_count))


@command("ssubscribe", -2, flags=("pubsub", "noscript", "loading", "stale"), keys=(1, -1, 1),
         group="pubsub", route=CONN, since="7.0.0",
         summary="Listens for messages published to shard channels.", syntax="shardchannel [shardchannel ...]",
         complexity="O(N) where N is the number of shard channels to subscribe to.")
def cmd_ssubscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _subscribe(conn, argv[1:], ps.shard_channels, conn.ssubs, b"ssubscribe",
                                        lambda c: len(c.ssubs)))


@command("unsubscribe", -1, flags=("pubsub", "noscript", "loading", "stale"), group="pubsub",
         route=CONN, since="2.0.0", summary="Stops listening to messages posted to channels.",
         syntax="[channel [channel ...]]", complexity="O(N) where N is the number of channels to unsubscribe.")
def cmd_unsubscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _unsubscribe(conn, argv[1:], ps.channels, conn.subs, b"unsubscribe", _sub_count))


@command("punsubscribe", -1, flags=("pubsub", "noscript", "loading", "stale"), group="pubsub",
         route=CONN, since="2.0.0", summary="Stops listening to messages published to channels that match one or more patterns.",
         syntax="[pattern [pattern ...]]", complexity="O(N) where N is the number of patterns to unsubscribe.")
def cmd_punsubscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _unsubscribe(conn, argv[1:], ps.patterns, conn.psubs, b"punsubscribe", _sub_count))


@command("sunsubscribe", -1, flags=("pubsub", "noscript", "loading", "stale"), keys=(1, -1, 1),
         group="pubsub", route=CONN, since="7.0.0", summary="Stops listening to messages posted to shard channels.",
         syntax="[shardchannel [shardchannel ...]]", complexity="O(N) where N is the number of shard channels to unsubscribe.")
def cmd_sunsubscribe(conn, argv):
    ps = registry(conn.server)
    return _reply_many(conn, _unsubscribe(conn, argv[1:], ps.shard_channels, conn.ssubs, b"sunsubscribe",
                                          lambda c: len(c.ssubs)))


class PublishEntry:
    """Sequencer entry that delivers its message when it reaches the head."""

    __slots__ = ("ps", "channel", "message", "shard")

    def __init__(self, ps, channel, message, shard):
        self.ps = ps
        self.channel = channel
        self.message = message
        self.shard = shard

    def take(self):
        return b":%d\r\n" % self.ps.publish(self.channel, self.message, self.shard)


def _publish(conn, argv, shard):
    from server.connection import DEFERRED
    ps = registry(conn.server)
    conn.seq.entries.append(PublishEntry(ps, argv[1], argv[2], shard))
    return DEFERRED


@command("publish", 3, flags=("pubsub", "loading", "stale", "fast", "may_replicate"),
         group="pubsub", route=CONN, since="2.0.0", summary="Posts a message to a channel.",
         syntax="channel message",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).")
def cmd_publish(conn, argv):
    return _publish(conn, argv, False)


@command("spublish", 3, flags=("pubsub", "loading", "stale", "fast", "may_replicate"), keys=(1, 1, 1),
         group="pubsub", route=CONN, since="7.0.0", summary="Post a message to a shard channel",
         syntax="shardchannel message",
         complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.")
def cmd_spublish(conn, argv):
    return _publish(conn, argv, True)


@command("pubsub", -2, group="pubsub", route=CONN, since="2.8.0",
         summary="A container for Pub/Sub commands.", syntax="subcommand")
def cmd_pubsub(conn, argv):  # pragma: no cover - subcommands only
    raise CommandError("ERR unknown subcommand")


def _channels(table, argv):
    if len(argv) > 3:
        raise CommandError(b"ERR unknown subcommand or wrong number of arguments for '%b'. "
                           b"Try PUBSUB HELP." % argv[1])
    pat = argv[2] if len(argv) == 3 else None
    return [ch for ch in table if pat is None or glob_match(pat, ch)]


@subcommand("pubsub", "channels", -2, flags=("pubsub", "loading", "stale"), since="2.8.0",
            summary="Returns the active channels.", syntax="[pattern]",
            complexity="O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)")
def cmd_pubsub_channels(conn, argv):
    return _channels(registry(conn.server).channels, argv)


@subcommand("pubsub", "shardchannels", -2, flags=("pubsub", "loading", "stale"), since="7.0.0",
            summary="Returns the active shard channels.", syntax="[pattern]",
            complexity="O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).")
def cmd_pubsub_shardchannels(conn, argv):
    return _channels(registry(conn.server).shard_channels, argv)


@subcommand("pubsub", "numsub", -2, flags=("pubsub", "loading", "stale"), since="2.8.0",
            summary="Returns a count of subscribers to channels.", syntax="[channel [channel ...]]",
            complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels")
def cmd_pubsub_numsub(conn, argv):
    t = registry(conn.server).channels
    out = []
    for ch in argv[2:]:
        out += [ch, len(t.get(ch, ()))]
    return out


@subcommand("pubsub", "shardnumsub", -2, flags=("pubsub", "loading", "stale"), since="7.0.0",
            summary="Returns the count of subscribers of shard channels.",
            syntax="[shardchannel [shardchannel ...]]",
            complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels")
def cmd_pubsub_shardnumsub(conn, argv):
    t = registry(conn.server).shard_channels
    out = []
    for ch in argv[2:]:
        out += [ch, len(t.get(ch, ()))]
    return out


@subcommand("pubsub", "numpat", 2, flags=("pubsub", "loading", "stale"), since="2.8.0",
            summary="Returns a count of unique pattern subscriptions.", syntax="")
def cmd_pubsub_numpat(conn, argv):
    return len(registry(conn.server).patterns)


@subcommand("pubsub", "help", 2, flags=("loading", "stale"), since="6.2.0",
            summary="Returns helpful text about the different subcommands.", syntax="")
def cmd_pubsub_help(conn, argv):
    from server.protocol import Status
    return [Status(x.encode()) for x in (
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.")]
