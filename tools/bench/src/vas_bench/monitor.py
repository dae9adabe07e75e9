"""CPU and memory of every process of the stack, sampled with psutil once a second.

CPU is reported in percent of one core (200 % = both cores of this machine). PostgreSQL is the
postmaster with all its backends and workers, summed; its memory is the sum of their PSS
(proportional set size), so the shared buffers count once. Every other process: RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

_PSS_EVERY_S = 5.0


@dataclass
class ProcessStats:
    started: bool = False
    peak_rss: int = 0
    series: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cpu %, rss)


class Monitor:
    def __init__(self, pids: Callable[[], dict[str, list[int]]], interval_s: float = 1.0) -> None:
        self._pids = pids
        self.interval_s = interval_s
        self.stats: dict[str, ProcessStats] = {}
        # (t, busy % of all cores, CPU % of one core used by processes not ours)
        self.machine: list[tuple[float, float, float]] = []
        self._others: dict[int, float] = {}
        self._others_next: dict[int, float] = {}
        self.other_by_process: defaultdict[str, float] = defaultdict(float)  # CPU s of other processes
        self._procs: dict[int, psutil.Process] = {}
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds at the last sample
        self._pss_cache: dict[int, tuple[float, int]] = {}  # pid -> (when read, PSS bytes)
        self._last_sample = time.time()
        self.t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """Start a new window (a run)."""
        self.stats = {}
        self.machine = []
        self.other_by_process = defaultdict(float)
        self.t0 = time.monotonic()
        psutil.cpu_percent(None)
        self.sample()

    def _proc(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = self._procs[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return proc

    def _pss(self, proc: psutil.Process, now: float) -> int:
        """PostgreSQL's processes share their buffers: PSS adds up right. Reading it parses
        /proc/PID/smaps of every backend, so it is read every `_PSS_EVERY_S` (it was most of
        the harness's own CPU when read every second)."""
        last = self._pss_cache.get(proc.pid)
        if last is None or now - last[0] >= _PSS_EVERY_S:
            last = self._pss_cache[proc.pid] = (now, proc.memory_full_info().pss)
        return last[1]

    def sample(self) -> None:
        """CPU is summed per process as the change since the previous sample, so a process
        that leaves a group (a PostgreSQL backend exits) does not disturb the others."""
        now = time.monotonic()
        wall = time.time()
        t = now - self.t0
        seen: dict[int, float] = {}
        for name, pids in self._pids().items():
            used = 0.0
            rss = 0
            for pid in pids:
                proc = self._proc(pid)
                if proc is None:
                    continue
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        rss += self._pss(proc, now) if name == "postgres" else proc.memory_info().rss
                        created = proc.create_time()
                except psutil.Error:
                    self._procs.pop(pid, None)
                    continue
                cpu = times.user + times.system  # children_*: reaped children, not this process
                seen[pid] = cpu
                if pid in self._cpu:
                    used += max(0.0, cpu - self._cpu[pid])
                elif created >= self._last_sample:
                    used += cpu  # started since the last sample: all its CPU is new
            st = self.stats.setdefault(name, ProcessStats())
            if not st.started:
                st.started = True
                st.series.append((t, 0.0, rss))
            else:
                dt = max(t - st.series[-1][0], 1e-3)
                st.series.append((t, used / dt * 100.0, rss))
            st.peak_rss = max(st.peak_rss, rss)
        # Everything else on the machine, process by process (another test run, an editor...):
        # the machine-wide busy figure also holds kernel time no process is charged with
        # (interrupts, softirq), so "other" is counted, not derived.
        other = 0.0
        for proc in psutil.process_iter(["ppid"]):
            pid = proc.pid
            if pid in seen or pid == 2 or proc.info["ppid"] == 2:
                continue  # ours, or a kernel thread (counted with the kernel below)
            try:
                times = proc.cpu_times()
                created = proc.create_time()
            except psutil.Error:
                continue
            cpu = times.user + times.system
            used = 0.0
            if pid in self._others:
                used = max(0.0, cpu - self._others[pid])
            elif created >= self._last_sample:
                used = cpu
            if used > 0.0:
                other += used
                try:
                    label = " ".join(proc.cmdline())[:80] or proc.name()
                except psutil.Error:
                    label = str(pid)
                self.other_by_process[label] += used
            self._others_next[pid] = cpu
        self._others, self._others_next = self._others_next, {}
        dt_machine = max(t - self.machine[-1][0], 1e-3) if self.machine else 1.0
        self._cpu = seen
        self._last_sample = wall
        self.machine.append(
            (t, psutil.cpu_percent(None), other / dt_machine * 100.0 if self.machine else 0.0)
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def latest(self) -> dict[str, float]:
        """Each process's CPU % over the last sample."""
        return {name: st.series[-1][1] for name, st in self.stats.items() if st.series}

    def summary(self, since: float = 0.0, until: float | None = None) -> dict[str, Any]:
        """Mean CPU % (of one core) within [since, until] seconds of the window, peak RSS (MiB)."""
        out: dict[str, Any] = {}
        for name, st in self.stats.items():
            points = [p for p in st.series[1:] if p[0] >= since and (until is None or p[0] <= until)]
            mean = sum(p[1] for p in points) / len(points) if points else 0.0
            peak = max((p[1] for p in points), default=0.0)
            out[name] = {
                "cpu_mean_pct": round(mean, 1),
                "cpu_peak_pct": round(peak, 1),
                "peak_rss_mib": round(st.peak_rss / 2**20, 1),
            }
        window = [m for m in self.machine[1:] if m[0] >= since and (until is None or m[0] <= until)]
        cores = psutil.cpu_count() or 1
        busy_mean = sum(m[1] for m in window) / len(window) if window else 0.0
        other = sum(m[2] for m in window) / len(window) if window else 0.0
        ours = sum(v["cpu_mean_pct"] for v in out.values())
        out["machine"] = {
            "busy_mean_pct_of_all_cores": round(busy_mean, 1),
            "cores": cores,
            # CPU of processes besides the stack, the harness and the load generator (% of one
            # core): anything large makes the run's figures doubtful
            "other_processes_cpu_pct": round(other, 1),
            # machine busy minus every process: interrupts and softirq (loopback TCP) mostly
            "kernel_unattributed_cpu_pct": round(max(0.0, busy_mean * cores - ours - other), 1),
            "other_processes_top_cpu_s": {
                k: round(v, 1) for k, v in sorted(self.other_by_process.items(), key=lambda kv: -kv[1])[:3]
            },
        }
        return out

    def other_load(self) -> float:
        """% of one core used by processes not ours over the last sample."""
        return self.machine[-1][2] if self.machine else 0.0

    def series(self) -> dict[str, list[tuple[float, float, int]]]:
        return {name: st.series for name, st in self.stats.items()}
