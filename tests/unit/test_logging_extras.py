"""Log calls never pass a reserved LogRecord attribute in `extra` (logging raises KeyError at INFO level,
which once turned a successful CSV provisioning into a 500 in `openiiot serve`)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "openiiot"
RESERVED = set(logging.LogRecord("n", 0, "p", 0, "m", (), None).__dict__) | {"message", "asctime"}


def test_no_reserved_keys_in_log_extras() -> None:
    found = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                    found += [
                        f"{path.relative_to(SOURCE)}:{node.lineno}: {key.value}"
                        for key in keyword.value.keys
                        if isinstance(key, ast.Constant) and key.value in RESERVED
                    ]
    assert found == []
