"""The templates' compiled code, kept for the life of the process and shared by its apps.

Each Flask app has its own Jinja environment, which compiles a template the first time it is
rendered (30 ms of CPU for a page of the inbox). A process that builds many apps (the test
suite builds one a test) compiles each template once with this cache. Jinja keys it by the
template's name and checks the source's checksum, so an edited template is compiled again.
"""

from __future__ import annotations

import threading

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class CompiledTemplates(BytecodeCache):
    """Jinja's bytecode cache, in memory."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


COMPILED_TEMPLATES = CompiledTemplates()
