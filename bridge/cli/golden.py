"""``braze-bridge test``: run golden rule cases (event -> expected requests) for CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from bridge.cli.conventions import EXIT_FAILURE, EXIT_OK, fail_config
from bridge.errors import ConfigError


def add_test_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``test`` command and its options."""
    tst = sub.add_parser("test", help="run golden rule cases (event -> expected requests)")
    tst.add_argument("directory", help="directory of *.yaml case files")
    tst.add_argument("--config", "-c", help="config for every case (default: each file's)")
    tst.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="output format: text, json, or JUnit XML (for CI test reports)",
    )


def cmd_test(directory: str, config: str | None, fmt: str = "text") -> int:
    from bridge.golden import run_cases

    try:
        results = run_cases(Path(directory), Path(config) if config else None)
    except ConfigError as exc:
        return fail_config(exc)
    failed = [r for r in results if not r.ok]
    if fmt == "json":
        doc = {
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "cases": [
                {"file": r.file, "name": r.name, "ok": r.ok, "diff": r.diff} for r in results
            ],
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return EXIT_FAILURE if failed else EXIT_OK
    if fmt == "junit":
        print(_junit(results))
        return EXIT_FAILURE if failed else EXIT_OK
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.file}: {r.name}")
        if not r.ok:
            print("      " + r.diff.replace("\n", "\n      "))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return EXIT_FAILURE if failed else EXIT_OK


def _junit(results: list[Any]) -> str:
    """JUnit XML (one testsuite, a testcase per golden case) for CI test-report parsers."""
    from xml.etree import ElementTree as ET

    failed = sum(1 for r in results if not r.ok)
    suite = ET.Element(
        "testsuite",
        name="braze-bridge golden cases",
        tests=str(len(results)),
        failures=str(failed),
        errors="0",
        skipped="0",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.file, name=r.name)
        if not r.ok:
            fail = ET.SubElement(case, "failure", message="requests differ from the expected")
            fail.text = r.diff
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(failed))
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
