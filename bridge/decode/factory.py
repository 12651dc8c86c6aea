"""Build the decoder a topic's settings describe."""

from __future__ import annotations

from pathlib import Path

from bridge.decode.avro import AvroDecoder, ConfluentAvroDecoder, load_schema_file
from bridge.decode.base import Decoder
from bridge.decode.cloudevents import CloudEventsDecoder
from bridge.decode.json import JsonDecoder
from bridge.decode.registry import SchemaRegistryClient
from bridge.decode.settings import DecoderSettings
from bridge.errors import ConfigError


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def build_decoder(
    settings: DecoderSettings, registry: SchemaRegistryClient | None, base_dir: Path
) -> Decoder:
    """The decoder for ``settings``; schema paths are resolved against ``base_dir``.

    Schema files are read and parsed here, so a missing or invalid ``.avsc`` fails at
    start-up with a :class:`ConfigError` naming the file. ``confluent_avro`` needs a
    ``registry`` (ConfigError otherwise).
    """
    inner: Decoder
    if settings.format == "json":
        inner = JsonDecoder()
    elif settings.format == "avro":
        if not settings.schema_path:
            raise ConfigError("format 'avro' needs 'schema'", field="decoder.schema")
        inner = AvroDecoder.from_file(_resolve(settings.schema_path, base_dir))
    elif settings.format == "confluent_avro":
        if registry is None:
            raise ConfigError(
                "format 'confluent_avro' needs a schema registry (schema_registry.url)",
                field="decoder.format",
            )
        reader = (
            load_schema_file(_resolve(settings.reader_schema, base_dir), field="reader_schema")
            if settings.reader_schema
            else None
        )
        inner = ConfluentAvroDecoder(registry, reader_schema=reader, cache_size=registry.cache_size)
    else:  # pragma: no cover - guarded by the Literal type
        raise ConfigError(f"unknown decoder format {settings.format!r}", field="decoder.format")

    if settings.cloudevents == "none":
        return inner
    return CloudEventsDecoder(inner, settings.cloudevents)
