"""The demo's Celery broker: kombu's filesystem transport, with each message written whole before it is visible.

kombu 5.7's filesystem transport creates a message's file under its final `….msg` name, then locks and
writes it; a consumer moves and reads any `….msg` file it lists (the lock is advisory and `_get` never
takes it). A consumer that lists the folder between the create and the write reads an empty file,
`json.loads` raises, and the worker dies: the demo stopped that way after about 8 minutes once beat sent
a task every few seconds. Here a message is written under a name no consumer looks at, flushed, and
renamed to its `.msg` name (a rename within one folder is atomic on POSIX), so a listed message is
always complete. A file that still cannot be decoded (a foreign or truncated one) is set aside instead
of killing the worker.
"""

from __future__ import annotations

import logging
import os
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Write the message under a `.part` name, then rename it to the `.msg` name consumers list."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # `_get` matches names ending in exactly `.{queue}.msg`
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        """The next message; one that cannot be decoded is logged and skipped, not fatal to the worker."""
        while True:
            try:
                return super()._get(queue)
            except ValueError:  # json.JSONDecodeError: not a message this transport wrote whole
                logger.exception("Skipped an unreadable message in queue %s.", queue)
            except Empty:
                raise


class Transport(filesystem.Transport):
    Channel = Channel
