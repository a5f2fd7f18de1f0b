"""`cartsim tail`: a reader of the events topic for people, apart from the producer (which
writes the topic) and the stream processors (which keep state and commit offsets)."""
