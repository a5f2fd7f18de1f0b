"""Stored events into analytic Parquet tables (`cartsim transform`)."""
