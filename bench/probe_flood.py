"""Flood two brokers and compare the MQTT probe with mosquitto_sub on the same flood.

    .venv/bin/python -m bench.probe_flood [--rate 20000] [--seconds 20] [--max-queued 1000000]

Starts two Mosquitto brokers on 127.0.0.1 (Debian's mosquitto, anonymous, ports 18831 and
18832; each holds up to --max-queued messages for a subscriber that falls behind), the
runbook-tui MQTT probe as the TUI runs it (a child process per broker, merged in a process
standing in for the TUI; CPU and RSS are theirs together), and one mosquitto_sub per broker;
then two publishers (mosquitto_pub, paced) send `rate` messages per second in total (half to
each broker) for `seconds`. It prints, for the probe and for mosquitto_sub, the messages accounted against
the messages sent (they must be equal), CPU time and peak RSS, and the probe's figures as
ratios of mosquitto_sub's; then how long the probe took to catch up, what the brokers
dropped, whether the probe ever reconnected, and how busy the whole machine was. Exit status
1 if the probe accounted for fewer or more messages than were sent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PORTS = (18831, 18832)
TICKS = os.sysconf("SC_CLK_TCK")

PUBLISHER = r"""
import resource, subprocess, sys, time
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
# mosquitto_pub (C) publishes, a message a line, paced here: a Python MQTT publisher cost
# about as much CPU as the probe, and on a 2-core machine fell short of the rate.
pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "flood/%d" % port, "-l"],
                       stdin=subprocess.PIPE)
line = b"x" * 64 + b"\n"
total = int(rate * seconds)
per_slice = max(1, int(rate * 0.01))
sent = 0
start = time.monotonic()
while sent < total:
    n = min(per_slice, total - sent)
    pub.stdin.write(line * n)
    pub.stdin.flush()
    sent += n
    delay = start + sent / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
elapsed = time.monotonic() - start
pub.stdin.close()
pub.wait()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(sent, round(elapsed, 2), round(time.process_time() + children.ru_utime + children.ru_stime, 2))
"""

WORKER = r"""
import json, sys, time
from runbook_tui.mqtt_contract import BrokerEndpoint
from runbook_tui.probes.mqtt_process import MqttProbeProcess
# As the TUI runs it: a child process per broker, merged here.
probe = MqttProbeProcess({"a": BrokerEndpoint("127.0.0.1", int(sys.argv[1])), "b": BrokerEndpoint("127.0.0.1", int(sys.argv[2]))})
probe.start()
while not all(b.connected for b in probe.snapshot().brokers):
    time.sleep(0.05)
print(json.dumps(list(probe.pids.values())), flush=True)
for line in sys.stdin:  # the parent asks for the count until the flood has drained
    snap = probe.snapshot()
    print(json.dumps({"flood": sum(n for _b, t, n, _r in snap.topic_counts if t.startswith("flood/")),
                      "errors": snap.callback_errors, "connects": [b.connects for b in snap.brokers],
                      "broker_dropped": sum(b.broker_dropped for b in snap.brokers)}), flush=True)
    if line.strip() == "done":
        break
probe.stop()
"""


def cpu_and_peak_rss(pid: int) -> tuple[float, int]:
    """(user+system CPU seconds, peak RSS in bytes) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return cpu, int(line.split()[1]) * 1024
    return cpu, 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.probe_flood", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, default=20000, help="messages per second, both brokers together (default 20000)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the flood (default 20)")
    p.add_argument("--max-queued", type=int, default=1_000_000,
                   help="messages each broker holds for a subscriber that falls behind (default 1000000; "
                        "mosquitto's own default is 1000, past which it drops QoS 0 messages and says so in $SYS)")
    args = p.parse_args(argv)
    for tool in ("mosquitto", "mosquitto_sub"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: run 'bash infra/host/setup.sh'", file=sys.stderr)
            return 2
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="probe-flood-") as tmp:
        try:
            for port in PORTS:
                conf = Path(tmp) / f"{port}.conf"
                conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                f"max_queued_messages {args.max_queued}\nsys_interval 1\nlog_dest none\n")
                procs.append(subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            brokers = list(procs)
            time.sleep(0.5)
            worker = subprocess.Popen([sys.executable, "-c", WORKER, *map(str, PORTS)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
            procs.append(worker)
            probe_pids = [worker.pid, *json.loads(worker.stdout.readline())]  # the TUI's side and its children
            subs, outs = [], []
            for port in PORTS:
                out = open(Path(tmp) / f"sub-{port}.txt", "w")  # noqa: SIM115 - closed below
                outs.append(out)
                sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "flood/#"], stdout=out)
                subs.append(sub)
                procs.append(sub)
            time.sleep(1.0)
            base_probe = sum(cpu_and_peak_rss(pid)[0] for pid in probe_pids)
            base_parent = cpu_and_peak_rss(probe_pids[0])[0]
            base_subs = [cpu_and_peak_rss(s.pid)[0] for s in subs]
            base_brokers = sum(cpu_and_peak_rss(b.pid)[0] for b in brokers)
            flood_start = time.monotonic()
            print(f"flooding 2 brokers: {args.rate} messages/s in total for {args.seconds:g} s ...", flush=True)
            pubs = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(args.rate // 2), str(args.seconds)],
                                     stdout=subprocess.PIPE, text=True, env=env) for port in PORTS]
            results = [pub.communicate()[0].split() for pub in pubs]
            sent = sum(int(r[0]) for r in results)
            publishers_cpu = sum(float(r[2]) for r in results)
            achieved = sent / max(float(r[1]) for r in results)
            flood_end = time.monotonic()

            def probe_count() -> int:
                worker.stdin.write("count\n")
                worker.stdin.flush()
                return json.loads(worker.stdout.readline())["flood"]

            # Drain: until both consumers stop growing (the broker holds what a slow consumer
            # has not read yet), at most a minute.
            last, stable_since, caught_up = (-1, -1), time.monotonic(), {}
            while time.monotonic() - stable_since < 2.0 and time.monotonic() - flood_end < 60:
                now = (sum(os.path.getsize(Path(tmp) / f"sub-{port}.txt") for port in PORTS), probe_count())
                if now[1] >= sent and "probe" not in caught_up:
                    caught_up["probe"] = time.monotonic() - flood_end
                if now != last:
                    last, stable_since = now, time.monotonic()
                time.sleep(0.2)
            probe_stats = [cpu_and_peak_rss(pid) for pid in probe_pids]
            probe_cpu, probe_rss = sum(c for c, _ in probe_stats), sum(r for _, r in probe_stats)
            sub_stats = [cpu_and_peak_rss(s.pid) for s in subs]
            brokers_cpu = sum(cpu_and_peak_rss(b.pid)[0] for b in brokers) - base_brokers
            wall = time.monotonic() - flood_start
            worker.stdin.write("done\n")
            worker.stdin.flush()
            probe_result = json.loads(worker.stdout.readline())
            worker.wait(10)
            for s in subs:
                s.terminate()
                s.wait(5)
            for out in outs:
                out.close()
            sub_count = sum(sum(1 for _ in open(Path(tmp) / f"sub-{port}.txt")) for port in PORTS)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    probe_cpu -= base_probe
    parent_cpu = probe_stats[0][0] - base_parent
    sub_cpu = sum(c for c, _ in sub_stats) - sum(base_subs)
    sub_rss = sum(r for _, r in sub_stats)
    mb = 1024 * 1024
    print(f"sent: {sent} messages ({achieved:.0f} messages/s achieved)")
    print(f"{'':24} {'accounted':>10} {'of sent':>8} {'CPU s':>7} {'CPU %':>6} {'peak RSS':>10}")
    for name, count, cpu, rss in (("probe (3 processes)", probe_result["flood"], probe_cpu, probe_rss),
                                  ("mosquitto_sub (x2)", sub_count, sub_cpu, sub_rss)):
        print(f"{name:24} {count:>10} {100 * count / sent:>7.2f}% {cpu:>7.2f} {100 * cpu / args.seconds:>5.0f}% "
              f"{rss / mb:>7.1f} MB")
    print(f"probe / mosquitto_sub: CPU {probe_cpu / max(sub_cpu, 0.01):.2f}x, peak RSS {probe_rss / max(sub_rss, 1):.1f}x; "
          f"probe callback errors: {probe_result['errors']}")
    print(f"  the probe's CPU: {probe_cpu - parent_cpu:.2f} s in its two children (paho and the counts), "
          f"{parent_cpu:.2f} s merging their batches on the TUI's side")
    if "probe" in caught_up:
        print(f"the probe caught up {caught_up['probe']:.1f} s after the flood ended (the brokers held the backlog)")
    print(f"the brokers dropped {probe_result['broker_dropped']} messages for a subscriber that fell behind "
          "(their $SYS count, as the probe saw it)")
    print("probe connections per broker: " + ", ".join(map(str, probe_result["connects"]))
          + " (1 each: never dropped; a reconnect loses what the broker held for it)")
    total = probe_cpu + sub_cpu + brokers_cpu + publishers_cpu
    cores = os.cpu_count() or 1
    print(f"the whole machine, flood and drain ({wall:.1f} s): probe {probe_cpu:.1f} s, publishers {publishers_cpu:.1f} s, "
          f"brokers {brokers_cpu:.1f} s, mosquitto_sub {sub_cpu:.1f} s of CPU = {total / wall:.2f} of {cores} cores busy")
    ok = probe_result["flood"] == sent
    print("accounted == sent: " + ("yes" if ok else f"NO (probe {probe_result['flood']}, sent {sent})"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
