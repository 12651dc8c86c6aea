"""``braze-bridge preview``: the Braze request(s) one event would produce, without sending."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from bridge.cli.conventions import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_config, fail_config
from bridge.errors import ConfigError


def add_preview_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``preview`` command and its options."""
    prev = sub.add_parser("preview", help="print the Braze request(s) an event would produce")
    add_config(prev)
    prev.add_argument("--topic", "-t", required=True, help="topic the event arrives on")
    prev.add_argument("event", nargs="?", default="-", help="event file (JSON), or - for stdin")
    prev.add_argument("--key", help="message key")
    prev.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="message header"
    )
    prev.add_argument(
        "--schema",
        help="Avro schema (.avsc) to encode a JSON event with, for confluent_avro topics "
        "(avro topics use their configured schema)",
    )


def cmd_preview(
    config: str,
    topic: str,
    event: str,
    key: str | None,
    headers: list[str],
    schema: str | None = None,
) -> int:
    from bridge.app import make_decoders
    from bridge.decode.factory import build_decoder
    from bridge.models import Record
    from bridge.preview import preview
    from bridge.ruleset import compile_rules
    from bridge.settings import load_settings

    try:
        settings = load_settings(config, missing_secrets=[])
        rules = compile_rules(settings, config)
        registry, decoders = make_decoders(settings, Path(config).parent)
    except ConfigError as exc:
        return fail_config(exc)
    raw = sys.stdin.buffer.read() if event == "-" else Path(event).read_bytes()
    hdrs = []
    for h in headers:
        name, sep, value = h.partition("=")
        if not sep:
            print(f"braze-bridge: --header {h!r}: expected NAME=VALUE", file=sys.stderr)
            return EXIT_USAGE
        hdrs.append((name, value.encode()))
    decoder = decoders.get(topic) or build_decoder(
        settings.decoder_for(topic), registry, Path(config).parent
    )
    fmt = settings.decoder_for(topic)
    if fmt.format != "json" and raw.lstrip()[:1] in (b"{", b"["):
        # A JSON event for an Avro topic: encode it with the schema, then decode it as the
        # bridge would (so the event is also checked against the schema).
        from bridge.decode.avro import AvroDecoder, avro_encode, load_schema_file

        path = schema or (str(Path(config).parent / fmt.schema_path) if fmt.schema_path else None)
        if path is None:
            print(
                "braze-bridge: this topic is confluent_avro: pass --schema F.avsc to preview "
                "a JSON event",
                file=sys.stderr,
            )
            return EXIT_USAGE
        parsed = load_schema_file(Path(path))
        try:
            raw = avro_encode(parsed, orjson.loads(raw))
        except (ValueError, TypeError) as exc:
            print(f"braze-bridge: the event does not match {path}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        decoder = AvroDecoder(parsed)
    record = Record(topic, 0, 0, key.encode() if key else None, raw, tuple(hdrs), 0)
    result = preview(record, rules, decoder)
    sys.stdout.write(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK
