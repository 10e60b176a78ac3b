"""One typed message per worker-to-UI event. Probes and the engine post these from their own
threads (post_message is thread-safe and never blocks the sender). They go to the app, which
hands them to the run's screen; none bubbles back up (the app would hand it on again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # the messages carry them; the first frame need not load them
    from runbook_tui.observe.model import DnsSnapshot, RoomObservation, StackSnapshot
    from runbook_tui.probes.mqtt_model import MqttBatch


class RunMessage(Message, bubble=False):
    """For the run's screen: handled there, never bubbled back to the app."""


class EngineEvent(RunMessage, bubble=False):
    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class ContainersChanged(RunMessage, bubble=False):
    def __init__(self, snapshot: StackSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class DnsAnswered(RunMessage, bubble=False):
    def __init__(self, snapshot: DnsSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DnsAnswered)  # only the newest answer matters


class MqttBatchArrived(RunMessage, bubble=False):
    def __init__(self, batch: MqttBatch) -> None:
        super().__init__()
        self.batch = batch


class RoomObserved(RunMessage, bubble=False):
    """A new observation of the whole room (the watcher's): ticks, lapses and alarms are judged on it."""

    def __init__(self, observation: RoomObservation) -> None:
        super().__init__()
        self.observation = observation

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RoomObserved)  # only the newest observation matters


class WrongRoomId(RunMessage, bubble=False):
    """A confirmation refused because the typed room id was wrong: nothing ran, but the journal
    keeps it (a drill counts it as a mistake)."""

    def __init__(self, step_id: str) -> None:
        super().__init__()
        self.step_id = step_id
