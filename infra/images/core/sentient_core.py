"""Reference sentient-core: the room's dispatcher, as far as the runbook needs it.

Contract (topics are settings):
  core/dispatch          <- {"id", "room", "device", "action", "params"}
  rooms/<room>/devices/<device>/command  -> {"id", "action", "params"}
  rooms/<room>/devices/<device>/ack      <- {"id"}
  rooms/<room>/devices/<device>/complete <- {"id"}
  core/dispatch/result   -> {"id", "status": complete|rejected|timeout, "reason", ...}
  core/status            -> retained {"online", "role", "dispatch_enabled", ...}, with a
                            last will saying it went offline (what makes dual control visible)

Every dispatch is recorded in Postgres. Runs on Debian's python3-paho-mqtt (1.6) and
python3-psycopg2; nothing from PyPI is available inside image builds.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg2


def env_flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in ("1", "true", "yes", "on")


ROOM = os.environ.get("ROOM_ID", "room1")
ROLE = os.environ.get("STACK_ROLE", "primary")
STACK = f"{ROOM}-{ROLE}"
DISPATCH_ENABLED = env_flag("CORE_DISPATCH_ENABLED")
CRITICAL_ARMED = env_flag("CORE_CRITICAL_ARMED")
CRITICAL_ACTIONS = {
    a.strip().upper() for a in os.environ.get("CORE_CRITICAL_ACTIONS", "").split(",") if a.strip()
}
ACK_TIMEOUT = float(os.environ.get("CORE_ACK_TIMEOUT_S", "3"))
COMPLETE_TIMEOUT = float(os.environ.get("CORE_COMPLETE_TIMEOUT_S", "10"))
TOPIC_DISPATCH = os.environ.get("CORE_TOPIC_DISPATCH", "core/dispatch")
TOPIC_RESULT = os.environ.get("CORE_TOPIC_RESULT", "core/dispatch/result")
TOPIC_STATUS = os.environ.get("CORE_TOPIC_STATUS", "core/status")
TOPIC_DEVICES = os.environ.get("CORE_TOPIC_DEVICES", "rooms/{room}/devices/{device}")
VERSION = os.environ.get("CORE_VERSION", "8.0.0")
# Training drills only: "crashloop" makes the core exit a few seconds after it came online, so
# the restart policy brings it back again and again (the runbook's "flapping primary").
FAULT = os.environ.get("CORE_FAULT", "")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [{STACK}] {msg}", flush=True)


def device_topic(device: str, leaf: str) -> str:
    return TOPIC_DEVICES.format(room=ROOM, device=device) + "/" + leaf


class Recorder(threading.Thread):
    """Writes dispatch records from a queue, so the MQTT thread never waits on the DB."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="db")
        self.jobs: queue.Queue[tuple[str, tuple]] = queue.Queue(maxsize=10000)
        self.conn = None

    def submit(self, sql: str, params: tuple) -> None:
        try:
            self.jobs.put_nowait((sql, params))
        except queue.Full:
            log("db queue full; record dropped")

    def connect(self):
        while True:
            try:
                conn = psycopg2.connect(
                    host=os.environ.get("DB_HOST", "db"),
                    dbname=os.environ.get("DB_NAME", "sentient"),
                    user=os.environ.get("DB_USER", "sentient"),
                    password=os.environ.get("DB_PASSWORD", ""),
                    connect_timeout=3,
                )
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(
                        """CREATE TABLE IF NOT EXISTS dispatches (
                               id TEXT PRIMARY KEY,
                               room TEXT NOT NULL,
                               device TEXT,
                               action TEXT,
                               params JSONB,
                               stack TEXT NOT NULL,
                               status TEXT NOT NULL,
                               reason TEXT,
                               received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                               acked_at TIMESTAMPTZ,
                               completed_at TIMESTAMPTZ)"""
                    )
                log("db connected")
                return conn
            except psycopg2.Error as exc:
                log(f"db unavailable ({str(exc).strip().splitlines()[0]}); retrying")
                time.sleep(2)

    def run(self) -> None:
        self.conn = self.connect()
        while True:
            sql, params = self.jobs.get()
            for _attempt in range(3):
                try:
                    with self.conn.cursor() as cur:
                        cur.execute(sql, params)
                    break
                except psycopg2.InterfaceError:
                    self.conn = self.connect()
                except psycopg2.Error as exc:
                    log(f"db write failed: {str(exc).strip().splitlines()[0]}")
                    try:
                        self.conn.close()
                    except psycopg2.Error:
                        pass
                    self.conn = self.connect()


class Core:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.lock = threading.Lock()
        # id -> {"device", "sent", "acked", "deadline"}
        self.pending: dict[str, dict] = {}
        kwargs = {"client_id": f"sentient-core-{STACK}-{uuid.uuid4().hex[:6]}", "clean_session": True}
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x keeps the 1.x callbacks this way
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        self.client = mqtt.Client(**kwargs)
        self.client.username_pw_set(os.environ.get("MQTT_USERNAME"), os.environ.get("MQTT_PASSWORD"))
        self.client.will_set(TOPIC_STATUS, json.dumps(self.status(False)), qos=1, retain=True)
        self.client.on_connect = self.on_connect
        self.client.on_disconnect = self.on_disconnect
        self.client.on_message = self.on_message
        self.client.reconnect_delay_set(1, 5)

    def status(self, online: bool) -> dict:
        return {
            "online": online,
            "room": ROOM,
            "role": ROLE,
            "stack": STACK,
            "dispatch_enabled": DISPATCH_ENABLED,
            "critical_armed": CRITICAL_ARMED,
            "version": VERSION,
            "host": socket.gethostname(),
            "ts": time.time(),
        }

    def on_connect(self, client, _userdata, _flags, rc) -> None:
        if rc != 0:
            log(f"broker refused connection (rc={rc})")
            return
        log(f"connected to broker; dispatch_enabled={DISPATCH_ENABLED} critical_armed={CRITICAL_ARMED}")
        client.subscribe([(TOPIC_DISPATCH, 1), (device_topic("+", "ack"), 1), (device_topic("+", "complete"), 1)])
        client.publish(TOPIC_STATUS, json.dumps(self.status(True)), qos=1, retain=True)

    def on_disconnect(self, _client, _userdata, rc) -> None:
        log(f"disconnected from broker (rc={rc})")

    def on_message(self, client, _userdata, msg) -> None:
        # A raising callback would end paho's network thread: contain everything.
        try:
            if msg.topic == TOPIC_DISPATCH:
                self.handle_dispatch(msg.payload)
            elif msg.topic.endswith("/ack"):
                self.handle_device(msg.payload, "ack")
            elif msg.topic.endswith("/complete"):
                self.handle_device(msg.payload, "complete")
        except Exception as exc:  # noqa: BLE001
            log(f"message on {msg.topic} not handled: {exc!r}")

    def result(self, request: dict, status: str, reason: str = "", **extra) -> None:
        body = {
            "id": request.get("id"),
            "room": request.get("room", ROOM),
            "device": request.get("device"),
            "action": request.get("action"),
            "status": status,
            "reason": reason,
            "stack": STACK,
            "role": ROLE,
        }
        body.update(extra)
        self.client.publish(TOPIC_RESULT, json.dumps(body), qos=1)
        log(f"dispatch {body['id']}: {status}{(': ' + reason) if reason else ''}")

    def handle_dispatch(self, payload: bytes) -> None:
        try:
            request = json.loads(payload.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError):
            self.result({}, "rejected", "malformed dispatch")
            return
        rid = str(request.get("id") or uuid.uuid4())
        request["id"] = rid
        device, action = request.get("device"), str(request.get("action") or "").upper()
        log(f"dispatch {rid} received: {device} {action}")

        def record(status: str, reason: str = "") -> None:
            self.recorder.submit(
                "INSERT INTO dispatches (id, room, device, action, params, stack, status, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (rid, str(request.get("room")), device, action, json.dumps(request.get("params")), STACK, status, reason),
            )

        reason = ""
        if not DISPATCH_ENABLED:
            reason = "dispatch disabled"
        elif request.get("room") != ROOM:
            reason = f"wrong room (this core serves {ROOM})"
        elif not device or not action:
            reason = "device and action are required"
        elif action in CRITICAL_ACTIONS and not CRITICAL_ARMED:
            reason = "critical not armed"
        if reason:
            record("rejected", reason)
            self.result(request, "rejected", reason)
            return
        record("sent")
        now = time.monotonic()
        with self.lock:
            self.pending[rid] = {"request": request, "sent": now, "acked": None, "deadline": now + ACK_TIMEOUT}
        command = {"id": rid, "action": action, "params": request.get("params"), "stack": STACK}
        self.client.publish(device_topic(device, "command"), json.dumps(command), qos=1)

    def handle_device(self, payload: bytes, kind: str) -> None:
        try:
            rid = json.loads(payload.decode("utf-8")).get("id")
        except (UnicodeDecodeError, ValueError, AttributeError):
            return
        now = time.monotonic()
        with self.lock:
            entry = self.pending.get(rid)
            if entry is None:
                return
            if kind == "ack":
                entry["acked"] = now
                entry["deadline"] = now + COMPLETE_TIMEOUT
            else:
                del self.pending[rid]
        if kind == "ack":
            self.recorder.submit("UPDATE dispatches SET status='acked', acked_at=now() WHERE id=%s", (rid,))
            return
        acked = entry["acked"] or now
        self.recorder.submit(
            "UPDATE dispatches SET status='complete', acked_at=COALESCE(acked_at, now()), completed_at=now() WHERE id=%s",
            (rid,),
        )
        self.result(
            entry["request"],
            "complete",
            ack_ms=round((acked - entry["sent"]) * 1000, 1),
            complete_ms=round((now - entry["sent"]) * 1000, 1),
        )

    def expire(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self.lock:
                due = [(rid, e) for rid, e in self.pending.items() if e["deadline"] <= now]
                for rid, _ in due:
                    del self.pending[rid]
            for rid, entry in due:
                missing = "complete" if entry["acked"] else "ack"
                self.recorder.submit("UPDATE dispatches SET status='timeout', reason=%s WHERE id=%s", (f"no {missing}", rid))
                self.result(entry["request"], "timeout", f"no {missing} from device")

    def run(self) -> None:
        self.recorder.start()
        threading.Thread(target=self.expire, daemon=True, name="expire").start()
        host, port = os.environ.get("MQTT_HOST", "mosquitto"), int(os.environ.get("MQTT_PORT", "1883"))
        while True:
            try:
                self.client.connect(host, port, keepalive=10)
                break
            except OSError as exc:
                log(f"broker {host}:{port} unreachable ({exc}); retrying")
                time.sleep(1)
        self.client.loop_forever(retry_first_connection=True)


def main() -> None:
    core = Core()

    def stop(_signum, _frame):
        # A clean stop publishes "offline" itself (the will only fires on a lost connection).
        core.client.publish(TOPIC_STATUS, json.dumps(core.status(False)), qos=1, retain=True)
        # loop_forever sends what is queued, then the DISCONNECT, and returns.
        core.client.disconnect()

    signal.signal(signal.SIGTERM, stop)
    log(f"sentient-core {VERSION} starting as {ROLE} for {ROOM}")
    if FAULT == "crashloop":
        def crash() -> None:
            time.sleep(3)
            log("CORE_FAULT=crashloop: exiting (drill)")
            os._exit(3)
        threading.Thread(target=crash, daemon=True).start()
    core.run()


if __name__ == "__main__":
    main()
