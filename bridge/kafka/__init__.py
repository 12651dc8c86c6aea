"""The librdkafka boundary: client configs, dead-letter writer, state store."""
