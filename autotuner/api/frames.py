"""WebSocket frames: the bytes of an event on the wire, built once per event.

Server frames are not masked, so one uncompressed text frame is the same bytes
for every connection (it is valid also where permessage-deflate was
negotiated). :func:`frame_of` builds an :class:`~autotuner.events.Outgoing`'s
frame on first use and keeps it on the item, which the hub shares between all
the clients it goes to: each event is serialized once and framed once.
"""

from __future__ import annotations

from autotuner.events import Outgoing


def text_frame(data: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame holding ``data`` (UTF-8)."""
    size = len(data)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    return head + data


def frame_of(item: Outgoing) -> bytes:
    """``item``'s complete text frame, built on the first call and then reused."""
    frame = item.wire
    if frame is None:
        frame = item.wire = text_frame(item.text.encode())
    return frame


def frame_text(frame: bytes) -> str:
    """The text of a frame made by :func:`text_frame`."""
    size = frame[1]
    start = 2 if size < 126 else 4 if size == 126 else 10
    return frame[start:].decode()
