"""What tests check of a JPEG without an imaging library: its markers, and the size its frame header states."""

import struct

START_OF_FRAMES = {0xC0, 0xC1, 0xC2}
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) of a well-formed JPEG (SOI first, EOI last, a frame header in between); else AssertionError."""
    assert data[:3] == b"\xff\xd8\xff", "no JPEG start-of-image marker"
    assert data[-2:] == b"\xff\xd9", "no JPEG end-of-image marker"
    position = 2
    while position + 4 <= len(data):
        assert data[position] == 0xFF, f"no marker at byte {position}"
        marker = data[position + 1]
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in START_OF_FRAMES:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            assert width > 0 and height > 0
            return width, height
        position += 2 + length
    raise AssertionError("no JPEG frame header")
