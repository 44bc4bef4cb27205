"""SPDY/3.1 framing for port-forward: the dictionary, header blocks, frames in pieces."""

from __future__ import annotations

import struct
import zlib

import pytest

from kybernetes.node.kubelet import spdy


def test_the_dictionary_is_the_one_the_spdy3_draft_defines() -> None:
    # Its length and Adler-32 (zlib's DICTID) are what any SPDY/3 peer checks.
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b",*,enq=0.")


def test_header_blocks_round_trip_over_one_zlib_stream_per_direction() -> None:
    ours, theirs = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}
    second = {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"], "x": ["a", "b"]}
    block_one, block_two = ours.encode(first), ours.encode(second)
    assert theirs.decode(block_one) == first
    assert theirs.decode(block_two) == second  # needs the state the first block left
    # The stream is primed with the dictionary: a fresh inflater without it fails.
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(block_one)


def test_frames_are_read_from_arbitrary_pieces() -> None:
    client, server = spdy.HeaderCodec(), spdy.HeaderCodec()
    wire = (
        spdy.syn_stream_frame(client, 1, {"streamtype": ["error"], "port": ["80"]})
        + spdy.data_frame(1, b"", fin=True)
        + spdy.syn_stream_frame(client, 3, {"streamtype": ["data"], "port": ["80"]})
        + spdy.data_frame(3, b"GET / HTTP/1.0\r\n\r\n")
        + spdy.ping_frame(7)
        + spdy.rst_stream_frame(3)
        + struct.pack(">HHII", 0x8003, 9, 8, 3) + struct.pack(">I", 1024)  # WINDOW_UPDATE
        + struct.pack(">HHII", 0x8003, 7, 8, 3) + struct.pack(">I", 0)  # GOAWAY
    )  # fmt: skip
    reader = spdy.FrameReader(server)
    frames = []
    for index in range(len(wire)):  # one byte at a time, as a WebSocket may split them
        frames += reader.feed(wire[index : index + 1])
    assert frames == [
        spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"]}, False),
        spdy.Data(1, b"", True),
        spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"]}, False),
        spdy.Data(3, b"GET / HTTP/1.0\r\n\r\n", False),
        spdy.Ping(7),
        spdy.RstStream(3, 5),
        spdy.Other(9),
        spdy.GoAway(3),
    ]


def test_replies_decode_on_the_other_side() -> None:
    server, client = spdy.HeaderCodec(), spdy.HeaderCodec()
    reply = spdy.syn_reply_frame(server, 1) + spdy.syn_reply_frame(server, 3, {"a": ["b"]})
    frames = spdy.FrameReader(client).feed(reply)
    assert frames == [spdy.SynReply(1, {}, False), spdy.SynReply(3, {"a": ["b"]}, False)]
    # Control frame header: C bit, version 3, type 2 (SYN_REPLY), no flags.
    assert reply[:4] == b"\x80\x03\x00\x02" and reply[4] == 0


def test_data_frame_layout_and_fin() -> None:
    assert spdy.data_frame(5, b"abc") == b"\x00\x00\x00\x05\x00\x00\x00\x03abc"
    assert spdy.data_frame(5, b"", fin=True) == b"\x00\x00\x00\x05\x01\x00\x00\x00"


def test_what_is_not_spdy3_is_an_error() -> None:
    codec = spdy.HeaderCodec()
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.FrameReader(codec).feed(struct.pack(">HHI", 0x8002, 1, 0))
    with pytest.raises(spdy.SpdyError, match="header block"):
        spdy.FrameReader(codec).feed(
            struct.pack(">HHI", 0x8003, 1, 14) + struct.pack(">IIBB", 1, 0, 0, 0) + b"junk"
        )
