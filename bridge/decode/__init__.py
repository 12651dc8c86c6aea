"""Decode stage: bytes of a Kafka record -> a JSON-like Python value."""
