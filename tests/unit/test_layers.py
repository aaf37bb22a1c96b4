"""The pure cores never touch the network, the clock's event loop or the filesystem."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "siprec-appliance" / "siprec_appliance"
PURE = ("sip", "sdp", "siprec", "metadata", "vendors", "rtp", "codecs", "policy")
FORBIDDEN = {"asyncio", "socket", "ssl", "sanic", "selectors", "os", "pathlib", "time", "uvloop"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            if node.module.startswith("siprec_appliance.appliance"):
                names.add("siprec_appliance.appliance")
    return names


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_do_no_io(layer: str) -> None:
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files, f"no modules found in {layer}/"
    for path in files:
        forbidden = FORBIDDEN | {"siprec_appliance.appliance"}
        if layer != "metadata":
            forbidden |= {"lxml"}  # metadata/ is the only place that parses XML
        bad = _imports(path) & forbidden
        assert not bad, f"{layer}/{path.name} imports {sorted(bad)}"


def test_the_check_would_catch_an_io_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import asyncio\nfrom siprec_appliance.appliance.server import Appliance\n")
    assert {"asyncio", "siprec_appliance.appliance"} <= _imports(sample)
