"""Who shops: a stable pool of registered customers and a pool of guest profiles, from Faker.

Faker costs about 50 µs per profile, far too slow per event, so profiles are made once per
process with a fixed seed (customer 42 is the same person in every run) and sessions draw from
the pools. The run's seed only decides who visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

_POOL_SEED = 84


@dataclass(frozen=True, slots=True)
class Customer:
    """A registered customer (integer id) or a guest profile (id None)."""

    id: int | None
    name: str
    city: str
    address: str


def _profiles(faker: Faker, count: int, first_id: int | None) -> tuple[Customer, ...]:
    profiles = []
    for index in range(count):
        city = faker.city_name()
        profiles.append(
            Customer(
                id=None if first_id is None else first_id + index,
                name=faker.name(),
                city=city,
                address=f"{faker.street_address()}, {city}",
            )
        )
    return tuple(profiles)


Pools = tuple[tuple[Customer, ...], tuple[Customer, ...]]


@lru_cache(maxsize=4)
def customer_pools(registered: int, guests: int) -> Pools:
    """(registered customers with ids 1..registered, guest profiles); built once per process."""
    faker = Faker("vi_VN")
    faker.seed_instance(_POOL_SEED)
    return _profiles(faker, registered, 1), _profiles(faker, guests, None)
