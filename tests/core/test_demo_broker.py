"""The demo's filesystem broker never hands a consumer a message that is still being written."""

from __future__ import annotations

import json
import os
import threading

import pytest
from kombu import Connection
from kombu.transport import filesystem

from guardwatch.core import demo_broker


def _connection(folder, transport) -> Connection:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
               "processed_folder": str(folder / "processed"), "store_processed": False}  # fmt: skip
    (folder / "processed").mkdir(exist_ok=True)
    return Connection("filesystem://localhost/", transport=transport, transport_options=options)


def test_no_consumer_sees_a_message_before_it_is_whole(tmp_path, monkeypatch):
    """At the moment the file appears under a name consumers list, it already holds the whole message."""
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        listed = [name for name in os.listdir(tmp_path) if name.endswith(".work.msg")]
        seen.append((listed, os.path.getsize(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(demo_broker.os, "replace", replace)
    with _connection(tmp_path, demo_broker.Transport) as conn:
        channel = conn.default_channel
        payload = {"body": "x" * 100_000, "n": 1}
        channel._put("work", payload)
        assert seen == [([], len(json.dumps(payload)))]  # invisible until complete
        assert channel._get("work") == payload


@pytest.mark.parametrize(("transport", "whole"), [(demo_broker.Transport, True), (filesystem.Transport, False)])
def test_a_message_caught_mid_write(tmp_path, monkeypatch, transport, whole):
    """Pause the producer inside its write and let a consumer list the folder then: kombu's own
    transport shows it an empty `.msg` file (what killed the demo's worker); ours shows nothing yet."""
    caught = {}
    consumer = _connection(tmp_path, transport).default_channel

    class Paused:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            try:
                caught["message"] = consumer._get("work")
            except Exception as error:  # noqa: BLE001 - what the consumer meets is the result
                caught["error"] = error
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    module = demo_broker if transport is demo_broker.Transport else filesystem
    real_open = open

    def opening(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return Paused(handle) if "w" in mode and str(path).startswith(str(tmp_path)) else handle

    monkeypatch.setattr(module, "open", opening, raising=False)
    producer = _connection(tmp_path, transport).default_channel
    producer._put("work", {"n": 1})
    if whole:
        assert type(caught.get("error")).__name__ == "Empty"  # nothing to read yet: the consumer waits
        monkeypatch.undo()
        assert consumer._get("work") == {"n": 1}
    else:
        assert isinstance(caught.get("error"), ValueError)  # json could not decode an empty file


def test_many_messages_between_threads_all_arrive_whole(tmp_path):
    sent = 400
    got, errors = [], []
    producer = _connection(tmp_path, demo_broker.Transport).default_channel
    consumer = _connection(tmp_path, demo_broker.Transport).default_channel
    done = threading.Event()

    def consume():
        from queue import Empty

        while len(got) < sent and not done.is_set():
            try:
                got.append(consumer._get("work")["n"])
            except Empty:
                continue
            except Exception as error:  # noqa: BLE001
                errors.append(error)
                return

    thread = threading.Thread(target=consume)
    thread.start()
    for n in range(sent):
        producer._put("work", {"n": n, "pad": "y" * 5000})
    thread.join(timeout=60)
    done.set()
    assert errors == [] and sorted(got) == list(range(sent))
