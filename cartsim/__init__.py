"""What the producer, the stream processors and the API share: contracts, settings, the broker."""

__version__ = "0.1.0"
