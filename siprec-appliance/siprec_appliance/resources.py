"""Where the shipped data directories (``schemas/``, ``web/``, ``rules/``) live.

Three places are tried in order:

1. the directory named by the environment variable ``SIPREC_SHARE_DIR``;
2. the source checkout (the repository root, two levels above this package), if it
   holds ``schemas/`` -- this is the case when running from git or an editable install;
3. ``<sys.prefix>/share/siprec-appliance``, where a wheel or distribution package puts them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

SHARE_DIR_ENV = "SIPREC_SHARE_DIR"

_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def share_dir(env: Mapping[str, str] | None = None) -> Path:
    """The base directory of the shipped data (see the module docstring for the order)."""
    environ = os.environ if env is None else env
    configured = environ.get(SHARE_DIR_ENV)
    if configured:
        return Path(configured)
    if (_CHECKOUT_ROOT / "schemas").is_dir():
        return _CHECKOUT_ROOT
    return Path(sys.prefix) / "share" / "siprec-appliance"


def share_path(*parts: str) -> Path:
    """A path inside the shipped data, e.g. ``share_path("schemas", "config.schema.json")``."""
    return share_dir().joinpath(*parts)
