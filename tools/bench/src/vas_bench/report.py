"""Promises met or not, the summary table, the JSON file and the PNG plots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt

from vas_bench import complaints, quality

SEND_DELAY_P99_TARGET_MS = 4000.0
STRETCH_P99_MS = 250.0


def held(mt: dict[str, Any], rate: float, p99_ms: float = SEND_DELAY_P99_TARGET_MS) -> tuple[bool, str]:
    """A rate is held when it was all accepted, nothing was lost, no request failed, the SMSC
    got it as fast as it was offered (no growing backlog) and the send delay p99 stayed under
    the target."""
    rates = mt["rates_msg_per_s"]
    p99 = mt["latency"]["accept_to_submit_resp"]["p99_ms"]
    reasons = []
    if mt["lost"] != 0:
        reasons.append(f"lost {mt['lost']}")
    errors = sum(mt["requests"]["errors"].values())
    if errors:
        reasons.append(f"{errors} failed requests")
    if rates["accepted"] < 0.98 * rate:
        reasons.append(f"accepted only {rates['accepted']:.0f}/s")
    if rates["smsc_overall"] < 0.95 * rate:
        reasons.append(f"SMSC got only {rates['smsc_overall']:.0f}/s")
    if p99 is None or p99 >= p99_ms:
        reasons.append(f"send delay p99 {p99} ms")
    return (not reasons, "; ".join(reasons) or "held")


def _status(ok: bool | None) -> str:
    return "not run" if ok is None else ("met" if ok else "NOT MET")


def promises(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sc = results.get("scenarios", {})

    def row(name: str, target: str, measured: str, ok: bool | None) -> None:
        rows.append({"promise": name, "target": target, "measured": measured, "status": _status(ok)})

    # send delay p99 at the 500 msg/s runs
    runs = [sc[k] for k in ("mt-batch", "mt-single", "both-ways") if k in sc and "mt" in sc[k]]
    if runs:
        worst = max(r["mt"]["latency"]["accept_to_submit_resp"]["p99_ms"] or 1e12 for r in runs)
        names = ", ".join(r["name"] for r in runs)
        row(
            "send delay p99 (accept -> submit_resp)",
            "< 4 s",
            f"{worst / 1000:.3f} s worst of {names}",
            worst < 4000,
        )
    else:
        row("send delay p99 (accept -> submit_resp)", "< 4 s", "-", None)

    if "mt-batch" in sc:
        mt = sc["mt-batch"]["mt"]
        ok, why = held(mt, sc["mt-batch"]["mt_spec"]["rate"])
        row(
            f"{sc['mt-batch']['mt_spec']['rate']:g} msg/s MT held {sc['mt-batch']['duration_s']:g} s, 0 lost",
            "500 msg/s, 60 s, lost 0",
            f"accepted {mt['rates_msg_per_s']['accepted']:.0f}/s, SMSC {mt['rates_msg_per_s']['smsc_in_window']:.0f}/s,"
            f" lost {mt['lost']}, dup {mt['duplicates_at_smsc']} ({why})",
            ok and sc["mt-batch"]["mt_spec"]["rate"] >= 500 and sc["mt-batch"]["duration_s"] >= 60,
        )
    else:
        row("500 msg/s MT held 60 s, 0 lost", "500 msg/s, 60 s, lost 0", "-", None)

    if "both-ways" in sc:
        r = sc["both-ways"]
        ok, why = held(r["mt"], r["mt_spec"]["rate"])
        mo = r["mo"]
        mo_ok = mo["lost"] == 0 and mo["rates_msg_per_s"]["seen"] >= 0.98 * r["mo_spec"]["rate"]
        row(
            f"{r['mt_spec']['rate']:g}+{r['mo_spec']['rate']:g} msg/s both ways {r['duration_s']:g} s, 0 lost",
            "500 MT + 500 MO, 60 s, lost 0",
            f"MT {r['mt']['rates_msg_per_s']['smsc_in_window']:.0f}/s lost {r['mt']['lost']} ({why}); "
            f"MO {mo['rates_msg_per_s']['seen']:.0f}/s on sms.mo, lost {mo['lost']}, dup {mo['duplicates_on_sms_mo']}",
            ok
            and mo_ok
            and r["mt_spec"]["rate"] >= 500
            and r["mo_spec"]["rate"] >= 500
            and r["duration_s"] >= 60,
        )
    else:
        row("500+500 msg/s both ways 60 s, 0 lost", "500 MT + 500 MO, 60 s, lost 0", "-", None)

    ramp = results.get("ramps", {})
    if "batch" in ramp and "mt-batch" in sc:
        best = ramp["batch"]["max_held_msg_per_s"]
        p99 = sc["mt-batch"]["mt"]["latency"]["accept_to_submit_resp"]["p99_ms"]
        api_p99 = sc["mt-batch"]["mt"]["latency"]["api_request"]["p99_ms"]
        row(
            "stretch: batch >= 2,000 msg/s; p99 < 250 ms at 500 msg/s",
            ">= 2000 msg/s; send delay p99 < 250 ms",
            f"max held {best:g} msg/s; send delay p99 {p99} ms (API request p99 {api_p99} ms)",
            best >= 2000 and p99 is not None and p99 < STRETCH_P99_MS,
        )
    else:
        row("stretch: batch >= 2,000 msg/s; p99 < 250 ms at 500 msg/s", ">= 2000 msg/s", "-", None)
    if "single" in ramp:
        best = ramp["single"]["max_held_msg_per_s"]
        row("stretch: single >= 1,000 msg/s", ">= 1000 msg/s", f"max held {best:g} msg/s", best >= 1000)
    else:
        row("stretch: single >= 1,000 msg/s", ">= 1000 msg/s", "-", None)

    scale = results.get("scale_out")
    if scale and scale.get("points"):
        pts = {p["replicas"]: p["throughput_msg_per_s"] for p in scale["points"]}
        if 1 in pts and 3 in pts and pts[1] > 0:
            ratio = pts[3] / pts[1]
            row(
                "scale-out: 3 replicas >= 2.7 x 1",
                ">= 2.7x",
                f"{', '.join(f'{k}: {v:.0f}/s' for k, v in sorted(pts.items()))} -> {ratio:.2f}x",
                ratio >= 2.7,
            )
        else:
            row("scale-out: 3 replicas >= 2.7 x 1", ">= 2.7x", "incomplete", False)
    else:
        row("scale-out: 3 replicas >= 2.7 x 1", ">= 2.7x", "-", None)

    if "busy-hour" in sc:
        r = sc["busy-hour"]
        ok, why = held(r["mt"], r["mt_spec"]["rate"])
        row(
            f"busy hour {r['mt_spec']['rate']:g} msg/s for {r['duration_s'] / 60:g} min",
            ">= 400 msg/s, 10 min, lost 0, p99 < 4 s",
            f"SMSC {r['mt']['rates_msg_per_s']['smsc_in_window']:.0f}/s, lost {r['mt']['lost']},"
            f" p99 {r['mt']['latency']['accept_to_submit_resp']['p99_ms']} ms ({why})",
            ok and r["duration_s"] >= 600,
        )
    scan = complaints.promise(results["complaints"]) if results.get("complaints") else None
    if scan is not None:
        rows.append(scan)
    timed = quality.promise(results["quality"]) if results.get("quality") else None
    if timed is not None:
        rows.append(timed)
    return rows


def print_table(results: dict[str, Any]) -> str:
    lines = ["", "Scenario results:"]
    header = (
        f"  {'run':<22} {'target/s':>8} {'sent/s':>7} {'accepted/s':>10} {'smsc/s':>7} {'lost':>5} {'dup':>4}"
        f" {'send p50':>9} {'p95':>7} {'p99':>7} {'max':>7} {'receipt p99':>11} {'api p99':>8}"
    )
    lines.append(header)
    for name, r in results.get("scenarios", {}).items():
        lines += _scenario_lines(name, r)
    for ramp in results.get("ramps", {}).values():
        for step in ramp["steps"]:
            lines += _scenario_lines(step["name"], step)
    if results.get("scale_out"):
        for p in results["scale_out"]["points"]:
            lines += _scenario_lines(p["name"], p["result"])
    lines.append("")
    lines.append("CPU (mean % of one core during the load; peak RSS MiB):")
    for name, r in results.get("scenarios", {}).items():
        cpu = r["cpu"]
        procs = [k for k in cpu if isinstance(cpu[k], dict) and "cpu_mean_pct" in cpu[k]]
        text = ", ".join(f"{k} {cpu[k]['cpu_mean_pct']:.0f}%/{cpu[k]['peak_rss_mib']:.0f}M" for k in procs)
        m = cpu["machine"]
        lines.append(
            f"  {name:<12} {text}; machine busy {m['busy_mean_pct_of_all_cores']:.0f}% of {m['cores']} cores,"
            f" other processes {m.get('other_processes_cpu_pct', 0):.0f}%,"
            f" kernel unattributed {m.get('kernel_unattributed_cpu_pct', 0):.0f}%"
        )
    if results.get("complaints"):
        lines += complaints.summary_lines(results["complaints"])
    if results.get("quality"):
        lines += quality.summary_lines(results["quality"])
    lines.append("")
    lines.append("Promises:")
    width = max(len(p["promise"]) for p in results["promises"])
    for p in results["promises"]:
        lines.append(f"  [{p['status']:>7}] {p['promise']:<{width}}  {p['measured']}")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms" if value < 10_000 else f"{value / 1000:.1f}s"


def _scenario_lines(name: str, r: dict[str, Any]) -> list[str]:
    lines = []
    if "mt" in r:
        mt = r["mt"]
        rates = mt["rates_msg_per_s"]
        lat = mt["latency"]["accept_to_submit_resp"]
        lines.append(
            f"  {name:<22} {r['mt_spec']['rate']:>8.0f} {rates['offered']:>7.0f} {rates['accepted']:>10.0f}"
            f" {rates['smsc_in_window']:>7.0f}"
            f" {mt['lost']:>5} {mt['duplicates_at_smsc']:>4} {_ms(lat['p50_ms']):>9} {_ms(lat['p95_ms']):>7}"
            f" {_ms(lat['p99_ms']):>7} {_ms(lat['max_ms']):>7}"
            f" {_ms(mt['latency']['accept_to_receipt']['p99_ms']):>11} {_ms(mt['latency']['api_request']['p99_ms']):>8}"
        )
    if "mo" in r:
        mo = r["mo"]
        lat = mo["latency"]["inject_to_sms_mo"]
        lines.append(
            f"  {name + ' (MO)':<22} {r['mo_spec']['rate']:>8.0f} {mo['rates_msg_per_s']['injected']:>7.0f} {'':>10}"
            f" {mo['rates_msg_per_s']['seen']:>7.0f}"
            f" {mo['lost']:>5} {mo['duplicates_on_sms_mo']:>4} {_ms(lat['p50_ms']):>9} {_ms(lat['p95_ms']):>7}"
            f" {_ms(lat['p99_ms']):>7} {_ms(lat['max_ms']):>7}   (MO: inject -> sms.mo)"
        )
    replies = r.get("mo_replies")
    if replies and replies["replies_seen"]:
        lat = replies["inject_to_reply_submit"]
        lines.append(
            f"  {name + ' (MO reply)':<22} {'':>8} {'':>7} {'':>10} {'':>7} {'':>5} {'':>4}"
            f" {_ms(lat['p50_ms']):>9} {_ms(lat['p95_ms']):>7} {_ms(lat['p99_ms']):>7} {_ms(lat['max_ms']):>7}"
            f"   ({replies['replies_seen']} of {replies.get('of_mo_injected', '?')} MO answered: inject -> reply submit_sm)"
        )
        asked = replies.get("inject_to_send_request")
        if asked and asked["count"]:
            lines.append(
                f"  {'  of which MO -> request':<22} {'':>8} {'':>7} {'':>10} {'':>7} {'':>5} {'':>4}"
                f" {_ms(asked['p50_ms']):>9} {_ms(asked['p95_ms']):>7} {_ms(asked['p99_ms']):>7} {_ms(asked['max_ms']):>7}"
                "   (inject -> sms.send_requested: the subscription service)"
            )
    return lines


def strip_series(obj: Any) -> Any:
    """The result without per-second series (summary.json stays readable)."""
    if isinstance(obj, dict):
        return {k: strip_series(v) for k, v in obj.items() if k not in ("series", "cpu_series")}
    if isinstance(obj, list):
        return [strip_series(v) for v in obj]
    return obj


def write_json(results: dict[str, Any], out: Path) -> None:
    (out / "summary.json").write_text(json.dumps(strip_series(results), indent=2, ensure_ascii=False))
    (out / "series.json").write_text(json.dumps(results, ensure_ascii=False))


# -- plots ---------------------------------------------------------------------------------------


def plot_run(r: dict[str, Any], path: Path, title: str) -> None:
    """Throughput, send delay and CPU over time for one run."""
    fig, axes = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    ax_tp, ax_lat, ax_cpu = axes
    if "mt" in r:
        s = r["mt"]["series"]
        x = list(range(len(s["accepted_per_s"])))
        ax_tp.axhline(r["mt_spec"]["rate"], color="grey", linestyle=":", label="MT offered")
        ax_tp.plot(x, s["accepted_per_s"], label="MT accepted (202)/s")
        ax_tp.plot(x, s["smsc_per_s"], label="MT at SMSC (submit_sm)/s")
        ax_tp.plot(x, s["receipts_per_s"], label="MT receipts applied/s", alpha=0.7)
        lat = s["send_delay_by_accept_second"]
        ax_lat.plot(x, _none_to_nan(lat["p50_ms"]), label="p50")
        ax_lat.plot(x, _none_to_nan(lat["p99_ms"]), label="p99")
        ax_lat.plot(x, _none_to_nan(lat["max_ms"]), label="max", alpha=0.5)
        ax_lat.axhline(SEND_DELAY_P99_TARGET_MS, color="red", linestyle="--", label="4 s promise")
        ax_lat.set_yscale("log")
    if "mo" in r:
        s = r["mo"]["series"]
        x = list(range(len(s["injected_per_s"])))
        ax_tp.plot(x, s["injected_per_s"], label="MO injected/s", linestyle="--")
        ax_tp.plot(x, s["seen_per_s"], label="MO on sms.mo/s", linestyle="--")
        series = r.get("mo_replies", {}).get("series", {})
        for key, label in (
            ("reply_requests_per_s", "replies asked for (sms.send-requests)/s"),
            ("replies_at_smsc_per_s", "replies at SMSC/s"),
        ):
            if any(series.get(key, ())):
                ax_tp.plot(list(range(len(series[key]))), series[key], label=label, linestyle="-.")
    ax_tp.set_ylabel("messages / s")
    ax_tp.legend(loc="upper right", fontsize=8)
    ax_tp.grid(alpha=0.3)
    ax_lat.set_ylabel("send delay, ms (by second of accept)")
    ax_lat.legend(loc="upper right", fontsize=8)
    ax_lat.grid(alpha=0.3, which="both")
    for name, points in sorted(r.get("cpu_series", {}).items()):
        if not points or max(p[1] for p in points) < 2:
            continue
        ax_cpu.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax_cpu.set_ylabel("CPU, % of one core")
    ax_cpu.set_xlabel("seconds since the load started")
    ax_cpu.legend(loc="upper right", fontsize=8, ncol=3)
    ax_cpu.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _none_to_nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def plot_ramps(ramps: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax_rate, ax_lat = axes
    for mode, ramp in ramps.items():
        offered = [s["mt_spec"]["rate"] for s in ramp["steps"]]
        achieved = [s["mt"]["rates_msg_per_s"]["smsc_in_window"] for s in ramp["steps"]]
        p99 = [s["mt"]["latency"]["accept_to_submit_resp"]["p99_ms"] or float("nan") for s in ramp["steps"]]
        ax_rate.plot(offered, achieved, marker="o", label=f"{mode}: at SMSC")
        ax_lat.plot(offered, p99, marker="o", label=f"{mode}: send delay p99")
    top = max((s["mt_spec"]["rate"] for r in ramps.values() for s in r["steps"]), default=1000)
    ax_rate.plot([0, top], [0, top], color="grey", linestyle=":", label="offered")
    ax_rate.set_xlabel("offered msg/s")
    ax_rate.set_ylabel("achieved msg/s (in the window)")
    ax_rate.legend(fontsize=8)
    ax_rate.grid(alpha=0.3)
    ax_lat.axhline(SEND_DELAY_P99_TARGET_MS, color="red", linestyle="--", label="4 s promise")
    ax_lat.set_yscale("log")
    ax_lat.set_xlabel("offered msg/s")
    ax_lat.set_ylabel("send delay p99, ms")
    ax_lat.legend(fontsize=8)
    ax_lat.grid(alpha=0.3, which="both")
    fig.suptitle("Ramp: highest rate held with p99 < 4 s and nothing lost")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_scale_out(scale: dict[str, Any], path: Path) -> None:
    pts = scale["points"]
    replicas = [p["replicas"] for p in pts]
    tput = [p["throughput_msg_per_s"] for p in pts]
    per = scale["capacity_per_replica_msg_per_s"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(replicas, tput, marker="o", label="measured (at the SMSC, steady state)")
    ax.plot(
        replicas,
        [per * r for r in replicas],
        linestyle="--",
        color="grey",
        label="ideal: replicas x binds x TPS",
    )
    ax.axhline(scale["offered_msg_per_s"], color="red", linestyle=":", label="offered")
    if tput and tput[0] > 0:
        for r, t in zip(replicas, tput, strict=True):
            ax.annotate(f"{t / tput[0]:.2f}x", (r, t), textcoords="offset points", xytext=(6, -12))
    ax.set_xticks(replicas)
    ax.set_xlabel("dispatcher replicas (2 binds x 100 TPS each)")
    ax.set_ylabel("msg/s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Scale-out under an operator cap of 100 TPS per bind")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    written = []
    for name, r in results.get("scenarios", {}).items():
        path = out / f"{name}.png"
        plot_run(r, path, f"{name}: {r.get('label', '')}")
        written.append(path)
    if results.get("ramps"):
        path = out / "ramp.png"
        plot_ramps(results["ramps"], path)
        written.append(path)
    if results.get("scale_out") and results["scale_out"].get("points"):
        path = out / "scale-out.png"
        plot_scale_out(results["scale_out"], path)
        written.append(path)
        for p in results["scale_out"]["points"]:
            path = out / f"{p['name']}.png"
            plot_run(p["result"], path, f"{p['name']}: {p['replicas']} replica(s)")
            written.append(path)
    return written


def publish_latest(out: Path, latest: Path) -> None:
    """Copy summary.json and the plots to the committed results/latest/ folder."""
    if latest.exists():
        shutil.rmtree(latest)
    latest.mkdir(parents=True)
    for f in [out / "summary.json", *sorted(out.glob("*.png")), out / "summary.txt"]:
        if f.exists():
            shutil.copy2(f, latest / f.name)
