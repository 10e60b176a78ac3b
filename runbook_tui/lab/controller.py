"""A simulated room controller, run outside the stacks as a real one is.

Like the controllers on site it knows only the name mqtt.<room>.sentientengine.ai: it
resolves it through the configured resolver on every (re)connect, connects to whatever
address the answer holds, and acks then completes each command it receives. So a DNS
repoint takes effect exactly when a real controller would notice it: after its broker
connection drops.

Its state (connected broker, counts) goes to a JSON file for `lab status`, and as a
retained message on rooms/<room>/devices/<device>/status of the broker it is on.
Credentials come from SIM_MQTT_USERNAME / SIM_MQTT_PASSWORD, never from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import dns.exception
import dns.resolver
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from runbook_tui.mqtt_contract import Topics
from runbook_tui.stacks import DEFAULT_DOMAIN, broker_hostname


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


class SimulatedController:
    def __init__(self, args: argparse.Namespace) -> None:
        self.room, self.device = args.room, args.device
        self.hostname = broker_hostname(args.room, args.domain)
        self.port = args.port
        self.topics = Topics(devices=args.devices_topic)
        self.ack_delay, self.complete_delay = args.ack_delay, args.complete_delay
        self.never_ack = args.never_ack
        self.state_file: Path | None = args.state_file
        self.resolver = dns.resolver.Resolver(configure=False)
        host, _, port = args.resolver.partition(":")
        self.resolver.nameservers = [host]
        self.resolver.port = int(port or 53)
        self.resolver.lifetime = 2.0
        self.stopping = threading.Event()
        self.state = {"room": self.room, "device": self.device, "name": self.hostname, "broker": None,
                      "connected": False, "resolved": None, "commands": 0, "acks": 0, "completes": 0,
                      "last_error": None, "pid": os.getpid()}

    def topic(self, leaf: str) -> str:
        return self.topics.device(self.room, self.device, leaf)

    def save_state(self, **changes) -> None:
        self.state.update(changes, updated=time.time())
        if not self.state_file:
            return
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".ctl.")
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.state_file)

    def resolve(self) -> str | None:
        try:
            answer = self.resolver.resolve(self.hostname, "A")
        except (dns.exception.DNSException, OSError) as exc:
            self.save_state(resolved=None, last_error=f"DNS: {exc.__class__.__name__}: {exc}")
            return None
        address = answer[0].to_text()
        self.save_state(resolved=address)
        return address

    def new_client(self, address: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"controller-{self.room}-{self.device}")
        user = os.environ.get("SIM_MQTT_USERNAME")
        if user:
            client.username_pw_set(user, os.environ.get("SIM_MQTT_PASSWORD"))
        offline = json.dumps({"online": False, "device": self.device, "broker": address})
        client.will_set(self.topic("status"), offline, qos=1, retain=True)

        def on_connect(c, _u, _f, reason_code, _p):
            if reason_code.is_failure:
                log(f"broker {address} refused: {reason_code}")
                self.save_state(connected=False, last_error=f"MQTT: {reason_code}")
                return
            c.subscribe(self.topic("command"), qos=1)
            online = {"online": True, "device": self.device, "broker": address, "since": time.time()}
            c.publish(self.topic("status"), json.dumps(online), qos=1, retain=True)
            log(f"connected to {address}:{self.port} ({self.hostname})")
            self.save_state(connected=True, broker=address, last_error=None)

        def on_message(c, _u, msg):
            # Never raise here: it would end paho's network thread.
            try:
                command = json.loads(msg.payload.decode("utf-8"))
                rid = command["id"]
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                log(f"ignored malformed command on {msg.topic}")
                return
            self.save_state(commands=self.state["commands"] + 1)
            if self.never_ack:
                log(f"command {rid} received; not acking (--never-ack)")
                return
            threading.Thread(target=self.perform, args=(c, rid, command), daemon=True).start()

        client.on_connect, client.on_message = on_connect, on_message
        return client

    def perform(self, client: mqtt.Client, rid: str, command: dict) -> None:
        time.sleep(self.ack_delay)
        client.publish(self.topic("ack"), json.dumps({"id": rid, "device": self.device}), qos=1)
        self.save_state(acks=self.state["acks"] + 1)
        time.sleep(self.complete_delay)
        client.publish(self.topic("complete"), json.dumps({"id": rid, "device": self.device, "action": command.get("action")}), qos=1)
        self.save_state(completes=self.state["completes"] + 1)
        log(f"command {rid} {command.get('action')}: ack and complete sent")

    def run(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            address = self.resolve()
            if address is None:
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            client = self.new_client(address)
            try:
                client.connect(address, self.port, keepalive=5)
            except OSError as exc:
                self.save_state(connected=False, last_error=f"MQTT {address}:{self.port}: {exc.strerror or exc}")
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            # Our own loop rather than loop_forever: paho would reconnect to the same address,
            # and a real controller resolves the name again first.
            while not self.stopping.is_set():
                rc = client.loop(timeout=0.5)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                if self.state["connected"]:
                    backoff = 0.2
            if self.stopping.is_set():
                client.publish(self.topic("status"), json.dumps({"online": False, "device": self.device}), qos=1, retain=True)
                client.loop(timeout=0.2)
                client.disconnect()
            elif self.state["connected"]:
                log(f"lost broker {address}; resolving {self.hostname} again")
            self.save_state(connected=False)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 2.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="runbook-tui-controller", description=__doc__.split("\n\n")[0])
    p.add_argument("--room", required=True)
    p.add_argument("--device", default="sim1")
    p.add_argument("--domain", default=DEFAULT_DOMAIN)
    p.add_argument("--resolver", default="127.0.0.1:5353", help="DNS server as ADDRESS[:PORT]")
    p.add_argument("--port", type=int, default=1883, help="broker port")
    p.add_argument("--devices-topic", default=Topics().devices)
    p.add_argument("--ack-delay", type=float, default=0.02)
    p.add_argument("--complete-delay", type=float, default=0.2)
    p.add_argument("--never-ack", action="store_true", help="receive commands but never answer (a drill fault)")
    p.add_argument("--state-file", type=Path)
    args = p.parse_args(argv)
    controller = SimulatedController(args)
    signal.signal(signal.SIGTERM, lambda *_: controller.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: controller.stopping.set())
    log(f"controller {args.device} for {controller.hostname} via resolver {args.resolver}")
    controller.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
