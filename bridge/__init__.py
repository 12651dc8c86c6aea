"""braze-kafka-bridge: Kafka domain events -> declarative rules -> batched Braze API calls."""

__version__ = "0.1.0"
