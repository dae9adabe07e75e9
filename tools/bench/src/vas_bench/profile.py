"""Where the time goes: py-spy samples of the API and a dispatcher while they carry load.

`py-spy record --format raw` writes collapsed stacks ("frame;frame;... count"); we keep the
file (flame graph tools read it) and summarise it: the functions with the most samples on top
of the stack (self) and anywhere on it (inclusive).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


# Frames of these modules never name the component a sample belongs to: the first frame above
# them that is not one of them does (asyncio's socket write belongs to asyncpg, uvicorn, ...).
_PLUMBING = (
    "asyncio/",
    "selectors.py",
    "threading.py",
    "contextlib.py",
    "concurrent/",
    "<frozen",
    "functools.py",
    "typing.py",
    "enum.py",
    "abc.py",
    "runpy",
    "click/",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "uvicorn/__main__.py",
)
# py-spy names files of namespace packages without the namespace (opentelemetry)
_NAMESPACED = {"trace", "attributes", "context", "propagate", "util", "sdk", "baggage", "metrics", "semconv"}
_IDLE = ("EpollSelector.select (selectors.py)", "Condition.wait (threading.py)")


def _component(frames: list[str]) -> str:
    """The package a sample's time is spent for: the innermost frame outside the plumbing."""
    for frame in reversed(frames):
        m = _FRAME.match(frame)
        path = m.group("file") if m else frame
        if any(p in path for p in _PLUMBING):
            continue
        if path.startswith(("sms_sender/", "vas_common/", "subscription/")):
            return path.split("/")[0] + "." + path.split("/")[1].removesuffix(".py")
        if "/" not in path:
            return f"stdlib {path.removesuffix('.py')}"
        top = path.split("/")[0]
        return "opentelemetry" if top in _NAMESPACED else top
    return "event loop (callbacks)"


def summarise(raw: str, top: int = 20) -> dict[str, Any]:
    """Self time by function, time by component (package, or module of our own code), and the
    inclusive time of our own functions, in percent of the samples on CPU."""
    self_counts: Counter[str] = Counter()
    components: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1] in _IDLE:
            idle += count  # waiting in epoll or on a lock: not work
            continue
        total += count
        self_counts[frames[-1]] += count
        components[_component(frames)] += count
        for frame in set(frames):
            if "(sms_sender/" in frame or "(vas_common/" in frame:
                ours[frame] += count

    def share(counter: Counter[str], n: int = top) -> list[dict[str, Any]]:
        return [
            {"function": f, "pct": round(100.0 * c / total, 1) if total else 0.0}
            for f, c in counter.most_common(n)
        ]

    return {
        "samples": total,
        "idle_samples": idle,
        "by_component": share(components),
        "self": share(self_counts),
        "our_code_inclusive": share(ours),
    }


async def record(pid: int, seconds: float, out: Path, rate: int = 100) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        _py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    raw = await asyncio.to_thread(lambda: out.read_text() if out.exists() else None)
    if proc.returncode != 0 or raw is None:
        return {"error": err.decode(errors="replace").strip()[-500:]}
    return summarise(raw)


async def profile_processes(
    pids: dict[str, int], delay_s: float, seconds: float, out_dir: Path
) -> dict[str, Any]:
    await asyncio.sleep(delay_s)
    names = list(pids)
    summaries = await asyncio.gather(
        *(record(pids[n], seconds, out_dir / f"profile-{n}.collapsed") for n in names)
    )
    return dict(zip(names, summaries, strict=True))


def format_profile(profile: dict[str, Any], top: int = 10) -> str:
    lines = []
    for name, summary in profile.items():
        if "error" in summary:
            lines.append(f"  {name}: py-spy failed: {summary['error']}")
            continue
        lines.append(f"  {name} ({summary['samples']} samples on CPU, {summary['idle_samples']} idle):")
        for title, key in (
            ("by component", "by_component"),
            ("self", "self"),
            ("our code (incl.)", "our_code_inclusive"),
        ):
            entries = "; ".join(f"{e['pct']}% {e['function']}" for e in summary[key][:top])
            lines.append(f"    {title + ':':<17} {entries}")
    return "\n".join(lines)
