"""`vas-bench run | smoke` (what `make bench` and `make bench-smoke` call).

run    starts the whole stack as processes and runs the scenarios (default: MT batch and its
       ramp, MT single and its ramp, both ways, scale-out; `--busy-hour` adds 10 minutes at
       400 msg/s), prints progress and a summary with each promise met or not, writes
       results/<timestamp>/ (summary.json, series.json, PNGs, logs) and copies summary.json
       and the PNGs to results/latest/.
       `--scenarios quality`: a month's service quality report over roll-ups of 1.3 billion
       messages, timed (the incident service alone).
smoke  about 30 s: MT 100 msg/s + MO 100 msg/s for 10 s; fails (exit 1) if anything was lost
       or a process crashed. Writes results/<timestamp>-smoke/.
chaos  faults under load (`make chaos`): PostgreSQL paused, broker paused, broker restarted,
       SMSC flapping, a dispatcher and the API SIGKILLed, each at --chaos-rate on a fresh stack;
       fails (exit 1) if anything accepted was lost or the stack did not recover. `--short`:
       the CI form (three rows at 200 msg/s, one stack). Writes results/<timestamp>-chaos/
       (chaos.json, chaos.md); a full run copies them to results/chaos/.

Interrupting (Ctrl-C, SIGTERM) stops every process it started; a reaper process cleans up
if the harness itself is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from vas_bench import chaos as chaos_suite
from vas_bench import complaints as complaints_scenario
from vas_bench import profile as profiling
from vas_bench import quality as quality_scenario
from vas_bench import report
from vas_bench.complaints import ComplaintsSpec
from vas_bench.faults import FAULTS
from vas_bench.loadgen import MoSpec, MtSpec
from vas_bench.monitor import Monitor
from vas_bench.quality import QualitySpec
from vas_bench.runner import BenchError, Runner
from vas_bench.stack import BenchStack, DispatchConfig, StackOptions

BENCH_DIR = Path(__file__).resolve().parents[2]  # tools/bench
RESULTS = BENCH_DIR / "results"
ALL_SCENARIOS = (
    "mt-batch",
    "ramp-batch",
    "mt-single",
    "ramp-single",
    "both-ways",
    "busy-hour",
    "scale-out",
    "complaints",
    "quality",
)
DEFAULT_SCENARIOS = (
    "mt-batch",
    "ramp-batch",
    "mt-single",
    "ramp-single",
    "both-ways",
    "scale-out",
    "complaints",
    "quality",
)
# The complaints part of `smoke`: small, a few seconds.
SMOKE_COMPLAINTS = ComplaintsSpec(open=2_000, due=100, intake_s=2.0, concurrency=2, ticks=5)


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="vas-bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("command", choices=["run", "smoke", "chaos"])
    p.add_argument(
        "--scenarios", default=",".join(DEFAULT_SCENARIOS), help=f"comma list of {', '.join(ALL_SCENARIOS)}"
    )
    p.add_argument("--busy-hour", action="store_true", help="add the busy hour: 400 msg/s for 10 minutes")
    p.add_argument("--quick", action="store_true", help="short runs (10 s) for trying the harness out")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per fixed-rate run")
    p.add_argument("--rate", type=float, default=500.0, help="MT msg/s of the fixed-rate runs")
    p.add_argument("--mo-rate", type=float, default=500.0, help="MO msg/s of the both-ways run")
    p.add_argument("--mo-text", default="0000", help="what the MO users write (0000: list my subscriptions)")
    p.add_argument(
        "--mo-batch", type=int, default=10, help="MO injected per simulator request (POST /mo/batch)"
    )
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--ramp-step-s", type=float, default=60.0, help="seconds each ramp rate is held")
    p.add_argument("--ramp-batch", type=_rates, default=_rates("500,750,1000,1500,2000,2500,3000"))
    p.add_argument("--ramp-single", type=_rates, default=_rates("500,750,1000,1250,1500"))
    p.add_argument("--busy-rate", type=float, default=400.0)
    p.add_argument("--busy-duration", type=float, default=600.0)
    p.add_argument("--scale-rate", type=float, default=600.0)
    p.add_argument("--scale-duration", type=float, default=30.0)
    p.add_argument("--scale-replicas", default="1,2,3")
    p.add_argument("--dispatchers", type=int, default=2, help="dispatcher replicas of the throughput runs")
    p.add_argument("--binds", type=int, default=2, help="SMPP binds per dispatcher (throughput runs)")
    p.add_argument("--sender-tps", type=float, default=0.0, help="SMS_SENDER_SMSC_TPS per bind; 0 = unpaced")
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--api-procs", type=int, default=1)
    p.add_argument(
        "--shared-stack", action="store_true", help="one stack for every run (default: a fresh stack per run)"
    )
    p.add_argument("--pg-fast-unsafe", action="store_true", help="PostgreSQL with fsync off (default: on)")
    p.add_argument("--log-level", default="INFO", help="services' LOG_LEVEL (as make run)")
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="py-spy the API and a dispatcher during mt-batch",
    )
    p.add_argument(
        "--complaints-open", type=int, default=100_000, help="open complaints the SLA scan runs over"
    )
    p.add_argument("--complaints-due", type=int, default=1_000, help="complaints due in the loaded scan")
    p.add_argument("--complaints-intake-s", type=float, default=20.0, help="seconds of intake per endpoint")
    p.add_argument("--complaints-concurrency", type=int, default=8, help="intake clients per endpoint")
    p.add_argument(
        "--quality-partners", type=int, default=10, help="partners of the quality report's roll-ups"
    )
    p.add_argument("--quality-runs", type=int, default=5, help="times the month's quality report is fetched")
    p.add_argument(
        "--short", action="store_true", help="chaos: the CI form (3 rows, short faults, one stack)"
    )
    p.add_argument(
        "--chaos-rate", type=float, default=None, help="chaos: MT msg/s offered (300; --short 200)"
    )
    p.add_argument(
        "--fault-s",
        type=float,
        default=None,
        help="chaos: how long a pause is held (20 s; --short 4, PostgreSQL 7)",
    )
    p.add_argument("--faults", default="", help=f"chaos: comma list of rows to run ({', '.join(FAULTS)})")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--no-latest", action="store_true", help="do not copy the results to results/latest/")
    args = p.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(ALL_SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.busy_hour and "busy-hour" not in args.scenarios:
        args.scenarios.insert(
            args.scenarios.index("scale-out") if "scale-out" in args.scenarios else len(args.scenarios),
            "busy-hour",
        )
    if args.quick:
        args.duration = min(args.duration, 10.0)
        args.ramp_step_s = min(args.ramp_step_s, 10.0)
        args.scale_duration = min(args.scale_duration, 15.0)
        args.busy_duration = min(args.busy_duration, 30.0)
        args.complaints_open = min(args.complaints_open, 10_000)
        args.complaints_intake_s = min(args.complaints_intake_s, 5.0)
    return args


def _environment() -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=BENCH_DIR,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "libs", "services", "tools/devstack"],
            capture_output=True,
            text=True,
            cwd=BENCH_DIR,
            check=False,
        ).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes in libs/services/devstack)"
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "clock": "CLOCK_MONOTONIC shared: " + _same_time_namespace(),
    }


def _same_time_namespace() -> str:
    """time.monotonic() of two processes is comparable when they share a time namespace."""
    try:
        mine = os.readlink("/proc/self/ns/time")
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.readlink('/proc/self/ns/time'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no /proc/self/ns/time); assumed (Linux without time namespaces)"
    if mine != child:
        raise BenchError("the harness's children run in another time namespace: monotonic clocks differ")
    return f"yes ({mine})"


class Bench:
    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self.results: dict[str, Any] = {
            "scenarios": {},
            "ramps": {},
            "scale_out": None,
            "complaints": None,
            "quality": None,
        }
        self.main_dispatch = DispatchConfig(
            replicas=args.dispatchers,
            binds=args.binds,
            sender_tps=args.sender_tps,
            window=args.window,
            smsc_tps=0.0,
        )
        self.options = StackOptions(
            api_procs=args.api_procs,
            dispatch=self.main_dispatch,
            pg_fast_unsafe=args.pg_fast_unsafe,
            log_level=args.log_level,
        )
        self.stack: BenchStack | None = None
        self.monitor = Monitor(self._pids)
        self.runner: Runner | None = None
        self._stacks = 0

    def _pids(self) -> dict[str, list[int]]:
        return {**(self.stack.named_pids() if self.stack else {}), "harness": [os.getpid()]}

    def _save(self, name: str, result: dict[str, Any], label: str) -> None:
        result["label"] = label
        self.results["scenarios"][name] = result

    async def stack_for(
        self, run: str, dispatch: DispatchConfig | None = None, sender_env: dict[str, str] | None = None
    ) -> Runner:
        """A stack for the next run: a fresh one (new broker, new PostgreSQL) unless
        --shared-stack. The dev broker keeps every record in memory and slows down as it
        grows (its CPU and RSS climb run after run), so runs on one stack are not comparable.
        `sender_env`: more sms-sender settings for a fresh stack."""
        dispatch = dispatch or self.main_dispatch
        if self.args.shared_stack and self.stack is not None and self.runner is not None:
            if self.stack.dispatch != dispatch:
                await self.stack.set_dispatch(dispatch)
                await self.runner.warm_up()
            return self.runner
        await self.stop()
        self._stacks += 1
        print(f"\n-- stack {self._stacks} for {run}: {dispatch.describe()} --", flush=True)
        options = replace(self.options, dispatch=dispatch)
        if sender_env:
            options = replace(options, sender_env={**options.sender_env, **sender_env})
        self.stack = BenchStack(options, self.out / "logs" / run)
        runner = Runner(self.stack, self.monitor, self.out)
        if self.runner is not None:  # recipients and MO senders stay unique across runs
            runner.next_recipient = self.runner.next_recipient
            runner.next_mo_source = self.runner.next_mo_source
        self.runner = runner
        await self.stack.start()
        self.monitor.start()
        await runner.create_partner()
        await runner.warm_up()
        return runner

    async def stop(self) -> None:
        await self.monitor.stop()
        if self.runner is not None:
            await self.runner.close()
        if self.stack is not None:
            stack, self.stack = self.stack, None
            await stack.stop()

    async def run(self) -> None:
        a = self.args
        self.results["environment"] = _environment()
        self.results["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        print(f"vas-bench {a.command}: results in {self.out}", flush=True)
        print(f"  machine: {self.results['environment']}", flush=True)
        if a.command == "smoke":
            await self.smoke()
            return
        if a.command == "chaos":
            await self.chaos()
            return
        for scenario in a.scenarios:
            await getattr(self, "scenario_" + scenario.replace("-", "_"))()
            self._write()

    async def smoke(self) -> None:
        runner = await self.stack_for("smoke")
        r = await runner.run(
            "smoke",
            MtSpec("batch", 100.0, 10.0, batch_size=20),
            MoSpec(100.0, 10.0, text=self.args.mo_text, batch_size=self.args.mo_batch),
        )
        self._save("smoke", r, "MT 100 msg/s (20/request) + MO 100 msg/s, 10 s")
        await self._complaints(SMOKE_COMPLAINTS)

    async def chaos(self) -> None:
        a = self.args
        fault_s = a.fault_s if a.fault_s is not None else (4.0 if a.short else 20.0)
        rate = a.chaos_rate if a.chaos_rate is not None else (200.0 if a.short else 300.0)
        rows = chaos_suite.short_suite(fault_s) if a.short else chaos_suite.full_suite(fault_s)
        if a.faults:
            wanted = [f.strip() for f in a.faults.split(",") if f.strip()]
            unknown = set(wanted) - set(FAULTS)
            if unknown:
                raise BenchError(f"unknown faults: {', '.join(sorted(unknown))}")
            every = {r.fault: r for r in chaos_suite.full_suite(fault_s)}
            rows = [every[f] for f in wanted]
        a.shared_stack = a.short  # the full form: a fresh stack per row
        await chaos_suite.run_suite(self, rows, rate, batch_size=10, fresh_stacks=not a.short)

    async def scenario_complaints(self) -> None:
        a = self.args
        await self._complaints(
            ComplaintsSpec(
                open=a.complaints_open,
                due=a.complaints_due,
                intake_s=a.complaints_intake_s,
                concurrency=a.complaints_concurrency,
            )
        )

    async def _complaints(self, spec: ComplaintsSpec) -> None:
        """A stack of its own: PostgreSQL, the broker and the complaints service."""
        await self.stop()
        self.runner = None
        self._stacks += 1
        print(f"\n-- stack {self._stacks} for complaints: {spec} --", flush=True)
        options = replace(
            self.options,
            sms_path=False,
            complaints=True,
            complaints_env=complaints_scenario.complaints_env(),
        )
        self.stack = BenchStack(options, self.out / "logs" / "complaints")
        await self.stack.start()
        self.monitor.start()
        self.results["complaints"] = await complaints_scenario.run_scenario(self.stack, self.monitor, spec)
        await self.stop()

    async def scenario_quality(self) -> None:
        """A stack of its own: PostgreSQL, the broker and the incident service."""
        a = self.args
        spec = QualitySpec(partners=a.quality_partners, runs=a.quality_runs)
        await self.stop()
        self.runner = None
        self._stacks += 1
        print(f"\n-- stack {self._stacks} for quality: {spec} --", flush=True)
        options = replace(
            self.options, sms_path=False, incident=True, incident_env=quality_scenario.incident_env()
        )
        self.stack = BenchStack(options, self.out / "logs" / "quality")
        await self.stack.start()
        self.monitor.start()
        self.results["quality"] = await quality_scenario.run_scenario(self.stack, self.monitor, spec)
        await self.stop()

    def _profiler(self, name: str, duration_s: float) -> Callable[[], Coroutine[Any, Any, Any]] | None:
        """py-spy the API and the first dispatcher during a run (`--profile SECONDS`); in both ways,
        the subscription service and the SMSC simulator too."""
        seconds = self.args.profile
        if seconds <= 0 or self.stack is None:
            return None
        pids = {
            f"{name}-api": self._pid(self.stack.apis[0].process),
            f"{name}-dispatcher": self._pid(self.stack.dispatchers[0].process),
        }
        if name == "both-ways" and self.stack.subscription is not None:  # it answers the MO
            pids[f"{name}-subscription"] = self._pid(self.stack.subscription.process)
            pids[f"{name}-smsc"] = self._pid(self.stack.smsc)  # it shares the cores it is measured on

        async def during() -> dict[str, Any]:
            return await profiling.profile_processes(
                pids, min(5.0, duration_s / 4), min(seconds, duration_s * 0.7), self.out
            )

        return during

    @staticmethod
    def _pid(proc: asyncio.subprocess.Process | None) -> int:
        assert proc is not None
        return proc.pid

    def _show_profile(self, r: dict[str, Any]) -> None:
        if "profile" in r:
            print(
                "\nprofile (py-spy, on-CPU samples):\n" + profiling.format_profile(r["profile"]), flush=True
            )

    async def scenario_mt_batch(self) -> None:
        a = self.args
        spec = MtSpec("batch", a.rate, a.duration, batch_size=a.batch_size)
        await self._fixed_rate("mt-batch", spec, f"MT batch {a.rate:g} msg/s ({a.batch_size}/request)")

    async def scenario_mt_single(self) -> None:
        a = self.args
        await self._fixed_rate(
            "mt-single", MtSpec("single", a.rate, a.duration), f"MT single {a.rate:g} req/s"
        )

    async def _fixed_rate(self, name: str, spec: MtSpec, label: str) -> None:
        runner = await self.stack_for(name)
        r = await runner.run(name, spec, None, during=self._profiler(name, self.args.duration))
        self._save(name, r, f"{label}, {self.args.duration:g} s")
        self._show_profile(r)

    async def scenario_both_ways(self) -> None:
        a = self.args
        runner = await self.stack_for("both-ways")
        r = await runner.run(
            "both-ways",
            MtSpec("batch", a.rate, a.duration, batch_size=a.batch_size),
            MoSpec(a.mo_rate, a.duration, text=a.mo_text, batch_size=a.mo_batch),
            during=self._profiler("both-ways", a.duration),
        )
        self._save("both-ways", r, f"MT {a.rate:g} msg/s + MO {a.mo_rate:g} msg/s, {a.duration:g} s")
        self._show_profile(r)

    async def scenario_busy_hour(self) -> None:
        a = self.args
        runner = await self.stack_for("busy-hour")
        r = await runner.run(
            "busy-hour", MtSpec("batch", a.busy_rate, a.busy_duration, batch_size=a.batch_size), None
        )
        self._save("busy-hour", r, f"busy hour: MT {a.busy_rate:g} msg/s for {a.busy_duration / 60:g} min")

    async def _ramp(self, mode: str, rates: list[float]) -> None:
        """Hold each rate for --ramp-step-s, upwards until one is not held; then one step
        between the last held and the first failed rate, or, if the first failed, downwards
        until one is held. The result is the highest rate held."""
        a = self.args
        steps: list[dict[str, Any]] = []
        ramp: dict[str, Any] = {"steps": steps, "max_held_msg_per_s": 0.0, "step_s": a.ramp_step_s}
        self.results["ramps"][mode] = ramp

        async def attempt(rate: float) -> bool:
            name = f"ramp-{mode}-{rate:g}"
            runner = await self.stack_for(name)
            spec = MtSpec(mode, rate, a.ramp_step_s, batch_size=a.batch_size)
            r = await runner.run(name, spec, None, drain_timeout_s=30.0)
            ok, why = report.held(r["mt"], rate)
            r["held"], r["why"] = ok, why
            steps.append(r)
            steps.sort(key=lambda s: s["mt_spec"]["rate"])
            print(f"  ramp {mode} {rate:g} msg/s: {why}", flush=True)
            if ok:
                ramp["max_held_msg_per_s"] = max(ramp["max_held_msg_per_s"], rate)
            self._write()
            return ok

        failed = None
        for rate in sorted(rates):
            if not await attempt(rate):
                failed = rate
                break
        if failed is None:
            return
        best = ramp["max_held_msg_per_s"]
        if best > 0:
            middle = round((best + failed) / 2 / 50) * 50
            if best < middle < failed:
                await attempt(middle)
            return
        first_failed = failed
        for factor in (0.6, 0.4, 0.2):
            rate = max(10.0, round(first_failed * factor / 10) * 10)
            if await attempt(rate):
                middle = round((rate + failed) / 2 / 10) * 10
                if rate < middle < failed:
                    await attempt(middle)
                return
            failed = rate

    async def scenario_ramp_batch(self) -> None:
        await self._ramp("batch", self.args.ramp_batch)

    async def scenario_ramp_single(self) -> None:
        await self._ramp("single", self.args.ramp_single)

    async def scenario_scale_out(self) -> None:
        a = self.args
        replicas = [int(x) for x in a.scale_replicas.split(",")]
        capped = DispatchConfig(replicas=1, binds=2, sender_tps=100.0, window=a.window, smsc_tps=100.0)
        points: list[dict[str, Any]] = []
        self.results["scale_out"] = {
            "offered_msg_per_s": a.scale_rate,
            "duration_s": a.scale_duration,
            "capacity_per_replica_msg_per_s": capped.binds * capped.sender_tps,
            "config": "SMSC cap 100 TPS per bind (PUT /config tps=100), SMS_SENDER_SMSC_BINDS=2, SMS_SENDER_SMSC_TPS=100",
            "points": points,
        }
        for n in replicas:
            runner = await self.stack_for(f"scale-out-{n}", replace(capped, replicas=n))
            r = await runner.run(
                f"scale-out-{n}",
                MtSpec("batch", a.scale_rate, a.scale_duration, batch_size=a.batch_size),
                None,
                drain_timeout_s=60.0,
            )
            tput = r["mt"]["rates_msg_per_s"]["smsc_steady"]
            points.append(
                {"name": f"scale-out-{n}", "replicas": n, "throughput_msg_per_s": tput, "result": r}
            )
            print(f"  scale-out {n} replica(s): {tput:.0f} msg/s at the SMSC", flush=True)
            self._write()
        if points and points[0]["throughput_msg_per_s"] > 0:
            self.results["scale_out"]["ratios"] = {
                str(p["replicas"]): round(p["throughput_msg_per_s"] / points[0]["throughput_msg_per_s"], 2)
                for p in points
            }

    def _write(self) -> None:
        self.results["promises"] = report.promises(self.results)
        report.write_json(self.results, self.out)

    def finish(self, error: str | None) -> str:
        if error:
            self.results["error"] = error
        self.results["promises"] = report.promises(self.results)
        report.write_json(self.results, self.out)
        if self.results.get("chaos") and not self.results["scenarios"]:
            return ""  # its own table (chaos.md), printed by _main
        plots = report.write_plots(self.results, self.out)
        if self.results.get("complaints"):
            path = self.out / "complaints.png"
            complaints_scenario.plot(self.results["complaints"], path)
            plots.append(path)
        text = report.print_table(self.results)
        profiles = [r["profile"] for r in self.results["scenarios"].values() if "profile" in r]
        if profiles:
            text += "\n\nprofile (py-spy, on-CPU samples):\n" + "\n".join(
                map(profiling.format_profile, profiles)
            )
        (self.out / "summary.txt").write_text(text + "\n")
        print(f"\nresults: {self.out} ({len(plots)} plots)", flush=True)
        return text


async def _main(args: argparse.Namespace) -> int:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.results_dir / (stamp + ("" if args.command == "run" else f"-{args.command}"))
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, out)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted: list[int] = []

    def on_signal(signum: int) -> None:
        if not interrupted:
            interrupted.append(signum)
            print(f"\n{signal.Signals(signum).name}: stopping the stack ...", flush=True)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    error: str | None = None
    started = time.monotonic()
    try:
        await bench.run()
    except asyncio.CancelledError:
        task.uncancel()
        error = "interrupted"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"\nerror: {error}", flush=True)
    finally:
        print("stopping the stack ...", flush=True)
        stop = asyncio.ensure_future(bench.stop())
        while not stop.done():  # a second signal must not cut the clean-up short
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stop)
        print(f"stack stopped ({time.monotonic() - started:.0f}s in all)", flush=True)
    bench.finish(error)
    failed = _failures(bench.results, smoke=args.command == "smoke")
    if error:
        failed.insert(0, error)
    if (
        args.command == "run"
        and not error
        and not args.no_latest
        and set(args.scenarios) >= set(DEFAULT_SCENARIOS)
    ):
        report.publish_latest(out, args.results_dir / "latest")
        print(f"copied summary.json and plots to {args.results_dir / 'latest'}", flush=True)
    chaos = bench.results.get("chaos")
    if chaos and chaos["rows"]:
        print("\n" + chaos_suite.markdown(chaos, _chaos_command(args)), flush=True)
        chaos_suite.write(chaos, out, _chaos_command(args))
        if not args.short and not args.faults and not error and not args.no_latest:
            chaos_suite.publish(out, args.results_dir / "chaos")
            print(f"copied chaos.json and chaos.md to {args.results_dir / 'chaos'}", flush=True)
    if failed:
        print("FAILED: " + "; ".join(failed), flush=True)
        return 130 if interrupted else 1
    return 0


def _all_runs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runs = list(results.get("scenarios", {}).items())
    for ramp in results.get("ramps", {}).values():
        runs += [(step["name"], step) for step in ramp["steps"]]
    if results.get("scale_out"):
        runs += [(p["name"], p["result"]) for p in results["scale_out"]["points"]]
    return runs


def _failures(results: dict[str, Any], smoke: bool) -> list[str]:
    """What fails the command: anything lost or crashed in any run; for the smoke run also a
    failed request or injection, or nothing accepted (slowness is a result, not a failure)."""
    out = []
    for name, r in _all_runs(results):
        if r.get("crashed"):
            out.append(f"{name}: crashed {r['crashed']}")
        if "mt" in r:
            mt = r["mt"]
            if mt["lost"]:
                out.append(f"{name}: {mt['lost']} MT lost")
            if smoke and not mt["accepted"]:
                out.append(f"{name}: nothing accepted")
            if smoke and mt["requests"]["errors"]:
                out.append(f"{name}: failed requests {mt['requests']['errors']}")
        if "mo" in r:
            mo = r["mo"]
            if mo["lost"]:
                out.append(f"{name}: {mo['lost']} MO lost")
            if smoke and (not mo["injected"] or mo["errors"]):
                out.append(f"{name}: MO injection failed ({mo['injected']} injected, errors {mo['errors']})")
    if results.get("complaints"):
        out += complaints_scenario.failures(results["complaints"])
    if results.get("quality"):
        out += quality_scenario.failures(results["quality"])
    if results.get("chaos"):
        out += chaos_suite.failures(results["chaos"])
    if (
        not _all_runs(results)
        and not results.get("complaints")
        and not results.get("quality")
        and not results.get("chaos", {}).get("rows")
    ):
        out.append("no run completed")
    return out


def _chaos_command(args: argparse.Namespace) -> str:
    if args.short:
        return "make chaos-short"
    return "make chaos" + (f' CHAOS_ARGS="--faults {args.faults}"' if args.faults else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
