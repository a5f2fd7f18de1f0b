"""FastAPI facade over the sink's files and the worker's tables."""
