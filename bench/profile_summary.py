"""Where the gateway's CPU goes: a summary of py-spy's collapsed stacks by layer and by function.

py-spy (`record --format raw`) writes one line per distinct stack, `frame;frame;...;leaf N`,
each frame `function (path:line)`. Only on-CPU samples are recorded (py-spy drops idle ones by
default) and, with `--gil`, only the thread holding the GIL, so shares are shares of the
interpreter's busy time (threads waiting for the GIL are not counted). Native code (the gRPC core, upb
protobuf, SQLite, the TLS-free sockets) is charged to the Python frame that called it.

Two views: self time by layer of the leaf frame (adds up to 100%), and inclusive time by layer
(any frame of the stack in the layer; overlaps, so it answers "how much is under botocore").

    python -m bench.profile_summary /tmp/llmgw-profile/gateway-unary.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (layer, path fragment); the first match wins, so specific fragments come first.
LAYERS: tuple[tuple[str, str], ...] = (
    ("bridge (llmgw.bridge)", "bridge/"),
    ("auth (llmgw.server.governance.identity/interceptors)", "server/auth"),
    ("auth (llmgw.server.governance.identity/interceptors)", "server/interceptors"),
    ("request log (llmgw.server.store)", "server/store/"),
    ("Bedrock provider (llmgw.server.providers)", "server/providers/"),
    ("services (llmgw.server.services/core)", "server/services/"),
    ("services (llmgw.server.services/core)", "server/core/"),
    ("gRPC (grpc, grpc.aio)", "grpc/"),
    ("gRPC (grpc, grpc.aio)", "grpc_"),
    ("protobuf (google.protobuf)", "google/protobuf"),
    ("boto3/botocore (signing, parsing)", "botocore/"),
    ("boto3/botocore (signing, parsing)", "boto3/"),
    ("HTTP to Bedrock (urllib3, http.client)", "urllib3/"),
    ("HTTP to Bedrock (urllib3, http.client)", "http/client"),
    ("peewee/sqlite", "peewee"),
    ("peewee/sqlite", "sqlite3"),
    ("uvicorn/httptools", "uvicorn/"),
    ("uvicorn/httptools", "httptools"),
    ("asyncio event loop", "asyncio/"),
    ("threads (executor, locks)", "concurrent/futures"),
    ("threads (executor, locks)", "threading"),
    ("json", "json/"),
    ("sockets and selectors (syscalls)", "socket.py"),
    ("sockets and selectors (syscalls)", "selectors.py"),
    ("logging", "logging/"),
)
OTHER = "other"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def layer_of(path: str) -> str:
    """The layer a source file belongs to."""
    for layer, fragment in LAYERS:
        if fragment in path:
            return layer
    return OTHER


def parse_frame(frame: str) -> tuple[str, str]:
    """(function, path) of one py-spy frame; the path is empty for frames without one."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["function"], match["path"]


def summarise(lines: list[str], top: int = 15) -> str:
    """Markdown tables: self time by layer, inclusive time by layer, the top self functions."""
    self_layers: Counter[str] = Counter()
    inclusive_layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [parse_frame(frame) for frame in stack.split(";")]
        frames = [(function, path) for function, path in frames if path]
        if not frames:
            continue
        total += count
        function, path = frames[-1]
        self_layers[layer_of(path)] += count
        functions[f"{function} ({_short(path)})"] += count
        for layer in {layer_of(frame_path) for _, frame_path in frames}:
            inclusive_layers[layer] += count
    if total == 0:
        return "(no samples)"
    out = [f"{total} samples.", "", "| layer | self % | inclusive % |", "|---|---|---|"]
    for layer, count in self_layers.most_common():
        out.append(f"| {layer} | {100 * count / total:.1f} | {100 * inclusive_layers[layer] / total:.1f} |")
    for layer, count in inclusive_layers.most_common():
        if layer not in self_layers:
            out.append(f"| {layer} | 0.0 | {100 * count / total:.1f} |")
    out += ["", "| function (self) | % |", "|---|---|"]
    out += [f"| `{name}` | {100 * count / total:.1f} |" for name, count in functions.most_common(top)]
    return "\n".join(out)


def _short(path: str) -> str:
    """A path from its package onwards: `.../site-packages/grpc/aio/_call.py` -> `grpc/aio/_call.py`."""
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise_file(path: Path, top: int = 15) -> str:
    """summarise() of a py-spy raw output file."""
    return summarise(path.read_text().splitlines(), top)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of each file named on the command line."""
    for name in argv if argv is not None else sys.argv[1:]:
        print(f"## {name}\n\n{summarise_file(Path(name))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
