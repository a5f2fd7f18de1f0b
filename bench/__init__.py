"""Benchmarks printed by `make bench`; each module measures one part and returns table rows."""
