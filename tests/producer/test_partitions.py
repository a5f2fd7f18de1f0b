"""Keys land where Kafka's Java client and aiokafka put them."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as reference

from cartsim.producer.partitions import murmur2, partition_for


def test_murmur2_matches_aiokafka_for_every_tail_length() -> None:
    rng = random.Random(7)
    for length in range(40):
        for _ in range(50):
            key = rng.randbytes(length)
            assert murmur2(key) == reference(key) & 0xFFFFFFFF


def test_the_java_clients_reference_values() -> None:
    # Apache Kafka's UtilsTest.testMurmur2 (signed Java ints).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
    }
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF
    assert partition_for(b"21", 4) == (-973932308 & 0x7FFFFFFF) % 4
