"""SPDY/3.1 framing, the little of it that `kubectl port-forward` uses.

kubectl 1.32 tunnels port-forward as SPDY/3.1 frames inside a WebSocket
(subprotocol `SPDY/3.1+portforward.k8s.io`, kubectl-wire.md §3.3), splitting
frames across messages at will, so the reader here is a byte-stream parser.
What port-forward needs: SYN_STREAM (a new stream with headers), SYN_REPLY,
DATA (with FIN), RST_STREAM, PING (echoed), GOAWAY; SETTINGS and
WINDOW_UPDATE are read and ignored (kubectl's SPDY library does no flow
control either). Header blocks are zlib streams primed with the SPDY/3
dictionary, one compressor and one decompressor per direction for the
whole connection, flushed with SYNC_FLUSH. Written from the SPDY/3 draft;
pure (no I/O), so it is unit-tested byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

__all__ = [
    "DICTIONARY",
    "Data",
    "GoAway",
    "HeaderCodec",
    "Other",
    "Ping",
    "RstStream",
    "SpdyError",
    "SynReply",
    "SynStream",
    "data_frame",
    "ping_frame",
    "rst_stream_frame",
    "syn_reply_frame",
    "syn_stream_frame",
    "FrameReader",
]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)  # fmt: skip
FLAG_FIN = 0x01
CANCEL = 5  # RST_STREAM status
MAX_FRAME = 1 << 24
STREAM_ID = 0x7FFFFFFF

# The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1):
# length-prefixed words, then a run of plain text. Its Adler-32 must be
# 0xe3c6a7c2 or the peer's inflate fails (tested).
_WORD_RUN = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
)
_WORDS = [*_WORD_RUN.split(), "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
          "keep-alive", "origin"]  # fmt: skip
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class SpdyError(Exception):
    """The peer sent something that is not SPDY/3 as we know it."""


Headers = dict[str, list[str]]


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers
    fin: bool


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers
    fin: bool


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int


@dataclass(frozen=True)
class Other:
    """A control frame port-forward has no use for (SETTINGS, WINDOW_UPDATE, HEADERS)."""

    frame_type: int


Frame = SynStream | SynReply | Data | RstStream | Ping | GoAway | Other


@dataclass
class HeaderCodec:
    """One direction's zlib state each way, for the whole connection."""

    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))
    _deflate: zlib._Compress = field(
        default_factory=lambda: zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15,
                                                 zdict=DICTIONARY))  # fmt: skip

    def decode(self, block: bytes) -> Headers:
        try:
            plain = self._inflate.decompress(block)
        except zlib.error as err:
            raise SpdyError(f"bad header block: {err}") from None
        return _parse_headers(plain)

    def encode(self, headers: Headers) -> bytes:
        plain = struct.pack(">I", len(headers))
        for name, values in headers.items():
            key, value = name.lower().encode(), "\0".join(values).encode()
            plain += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
        return self._deflate.compress(plain) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _parse_headers(plain: bytes) -> Headers:
    def take(offset: int) -> tuple[str, int]:
        if offset + 4 > len(plain):
            raise SpdyError("truncated header block")
        (size,) = struct.unpack_from(">I", plain, offset)
        end = offset + 4 + size
        if end > len(plain):
            raise SpdyError("truncated header block")
        return plain[offset + 4 : end].decode("utf-8", "replace"), end

    if len(plain) < 4:
        raise SpdyError("truncated header block")
    (count,) = struct.unpack_from(">I", plain, 0)
    headers: Headers = {}
    offset = 4
    for _ in range(count):
        name, offset = take(offset)
        value, offset = take(offset)
        headers.setdefault(name.lower(), []).extend(value.split("\0"))
    return headers


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def syn_stream_frame(codec: HeaderCodec, stream_id: int, headers: Headers, *,
                     fin: bool = False) -> bytes:  # fmt: skip
    payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + codec.encode(headers)
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply_frame(codec: HeaderCodec, stream_id: int, headers: Headers | None = None) -> bytes:
    return _control(SYN_REPLY, 0, struct.pack(">I", stream_id) + codec.encode(headers or {}))


def rst_stream_frame(stream_id: int, status: int = CANCEL) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping_frame(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    """DATA frames for `data` (split when longer than a frame may be)."""
    flags = FLAG_FIN if fin else 0
    if not data:
        return struct.pack(">II", stream_id & STREAM_ID, flags << 24)
    chunks = [data[i : i + MAX_FRAME - 1] for i in range(0, len(data), MAX_FRAME - 1)]
    out = b""
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        chunk_flags = flags if last else 0
        out += struct.pack(">II", stream_id & STREAM_ID, (chunk_flags << 24) | len(chunk))
        out += chunk
    return out


class FrameReader:
    """Frames out of a byte stream fed in arbitrary pieces."""

    def __init__(self, codec: HeaderCodec) -> None:
        self._codec = codec
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            word, flags_length = struct.unpack_from(">II", self._buffer, 0)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            flags = flags_length >> 24
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            if word & 0x80000000:
                frames.append(self._control(word, flags, payload))
            else:
                frames.append(Data(word & STREAM_ID, payload, bool(flags & FLAG_FIN)))
        return frames

    def _control(self, word: int, flags: int, payload: bytes) -> Frame:
        version, frame_type = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        fin = bool(flags & FLAG_FIN)
        if frame_type == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyError("short SYN_STREAM")
            stream_id = struct.unpack_from(">I", payload, 0)[0] & STREAM_ID
            return SynStream(stream_id, self._codec.decode(payload[10:]), fin)
        if frame_type == SYN_REPLY:
            if len(payload) < 4:
                raise SpdyError("short SYN_REPLY")
            stream_id = struct.unpack_from(">I", payload, 0)[0] & STREAM_ID
            return SynReply(stream_id, self._codec.decode(payload[4:]), fin)
        if frame_type == RST_STREAM and len(payload) >= 8:
            stream_id, status = struct.unpack_from(">II", payload, 0)
            return RstStream(stream_id & STREAM_ID, status)
        if frame_type == PING and len(payload) >= 4:
            return Ping(struct.unpack_from(">I", payload, 0)[0])
        if frame_type == GOAWAY and len(payload) >= 4:
            return GoAway(struct.unpack_from(">I", payload, 0)[0] & STREAM_ID)
        if frame_type == HEADERS and len(payload) >= 4:
            self._codec.decode(payload[4:])  # keeps the shared zlib state in step
        return Other(frame_type)
