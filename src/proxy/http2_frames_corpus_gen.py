#!/usr/bin/env python3
"""Writes the seed corpus of http2_frame_fuzz into http2_frames_corpus/ (beside this script):
one file per seed, each the bytes a client sends on an h2c connection (preface, SETTINGS, then
frames). Frames and HPACK blocks are packed by hand (no library), so the bytes are exact and
the script runs anywhere: python3 src/proxy/http2_frames_corpus_gen.py"""
import os
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def integer(value, prefix_bits, first=0):
    """HPACK integer (RFC 7541 5.1) with `first` holding the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value, indexing=True):
    """A literal field with a new name, not Huffman-coded; `indexing` adds it to the dynamic
    table (RFC 7541 6.2.1), else "without indexing" (6.2.2)."""
    name, value = name.encode(), value.encode()
    head = b"\x40" if indexing else b"\x00"
    return head + integer(len(name), 7) + name + integer(len(value), 7) + value


def block(method="GET", path="/", extra=(), authority="fuzz.test"):
    """A request header block: static-table :method/:scheme where they exist, literals else."""
    methods = {"GET": b"\x82", "POST": b"\x83"}
    out = methods.get(method) or literal(":method", method, False)
    out += b"\x86"  # :scheme http
    out += b"\x84" if path == "/" else literal(":path", path, False)
    out += literal(":authority", authority, False)
    for name, value in extra:
        out += literal(name, value, False)
    return out


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def get(stream, path="/", extra=(), end_stream=True, method="GET"):
    flags = END_HEADERS | (END_STREAM if end_stream else 0)
    return frame(HEADERS, flags, stream, block(method, path, extra))


def rst(stream, code=8):  # CANCEL
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def start():
    return PREFACE + settings((0x4, 65535), (0x2, 0)) + frame(SETTINGS, ACK, 0)


SEEDS = {
    "get_stream_1": start() + get(1),
    "post_with_length_and_data": start()
    + get(1, "/echo", [("content-length", "5")], end_stream=False, method="POST")
    + frame(DATA, END_STREAM, 1, b"hello"),
    "post_without_length_two_data_frames": start()
    + get(1, "/big", end_stream=False, method="POST")
    + frame(DATA, 0, 1, b"a" * 300) + frame(DATA, END_STREAM, 1, b"b" * 20),
    "headers_then_continuation": start()
    + frame(HEADERS, END_STREAM, 1, block("GET", "/chunked")[:10])
    + frame(CONTINUATION, END_HEADERS, 1, block("GET", "/chunked")[10:]),
    "rst_stream_of_a_held_request": start() + get(1, "/hold") + rst(1),
    "ping_and_ping_ack": start() + frame(PING, 0, 0, b"12345678") + frame(PING, ACK, 0, b"8" * 8),
    "settings_all_kinds": start()
    + settings((1, 0), (2, 0), (3, 5), (4, 1 << 20), (5, 32768), (6, 1000))
    + frame(SETTINGS, ACK, 0) + get(1),
    "window_updates_for_a_big_response": start() + get(1, "/big")
    + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 200000))
    + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 200000)),
    "priority_frame_and_priority_flag": start()
    + frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 15))
    + frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1,
            struct.pack(">IB", 0x80000000, 200) + block()),
    "goaway_after_a_request": start() + get(1, "/close")
    + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0) + b"bye"),
    "padded_headers_and_data": start()
    + frame(HEADERS, END_HEADERS | PADDED, 1,
            b"\x04" + block("POST", "/echo", [("content-length", "3")]) + b"\0" * 4)
    + frame(DATA, END_STREAM | PADDED, 1, b"\x02abc\0\0"),
    "hpack_dynamic_table_reuse": start()
    + frame(HEADERS, END_HEADERS | END_STREAM, 1,
            b"\x82\x86" + literal(":path", "/chunked") + literal(":authority", "fuzz.test")
            + literal("x-tenant", "t1"))
    # the three literals above are dynamic entries 62-64, newest first
    + frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\x82\x86\xc0\xbf\xbe")
    + frame(HEADERS, END_HEADERS | END_STREAM, 5, b"\x3f\xe1\x1f"  # table size update 4096
            + b"\x82\x86\x84\xbf"),
    "streams_to_every_upstream_answer": start()
    + b"".join(get(2 * i + 1, p) for i, p in enumerate(
        ["/chunked", "/close", "/short", "/continue", "/garbage", "/down", "/switch", "/"])),
    "request_trailers": start()
    + get(1, "/echo", end_stream=False, method="POST") + frame(DATA, 0, 1, b"body")
    + frame(HEADERS, END_HEADERS | END_STREAM, 1, literal("x-checksum", "abc", False)),
    "rapid_reset": start() + b"".join(get(2 * i + 1, "/hold") + rst(2 * i + 1) for i in range(24)),
    "continuation_flood": start() + frame(HEADERS, END_STREAM, 1, block()[:6])
    + b"".join(frame(CONTINUATION, 0, 1, literal("x-f%d" % i, "v" * 40, False))
               for i in range(60)),
    "header_list_past_the_limit": start() + get(1, "/", [("x-big", "v" * 3000)]),
    # Refused with 431 on its stream; the request after it on the connection is served.
    "header_list_refused_then_a_request": start()
    + get(1, "/", [("x-big", "v" * 3000), ("x-after", "dropped")]) + get(3, "/"),
    "header_list_past_four_times_the_limit": start() + get(1, "/", [("x-big", "v" * 9000)]),
    "split_cookies_and_host": start()
    + get(1, "/", [("cookie", "a=1"), ("cookie", "b=2"), ("host", "other.test"),
                   ("accept-encoding", "gzip"), ("te", "trailers")]),
    "head_of_a_big_response": start() + get(1, "/big", method="HEAD"),
    "gzip_of_a_big_response": start() + get(1, "/big", [("accept-encoding", "gzip, br")]),
    "expect_continue_post": start()
    + get(1, "/continue", [("expect", "100-continue"), ("content-length", "4")],
          end_stream=False, method="POST") + frame(DATA, END_STREAM, 1, b"data"),
    "data_on_stream_0_protocol_error": start() + frame(DATA, 0, 0, b"x"),
    "frames_without_preface": settings((3, 10)) + get(1, "/chunked"),
    "push_promise_from_a_client": start()
    + frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2) + block()),
    "body_past_max_body_size": start()
    + get(1, "/echo", [("content-length", "5000")], end_stream=False, method="POST")
    + frame(DATA, 0, 1, b"z" * 2500) + frame(DATA, END_STREAM, 1, b"z" * 2500),
    "connection_specific_header_is_malformed": start()
    + get(1, "/", [("connection", "keep-alive"), ("transfer-encoding", "chunked")]),
    "connect_method": start()
    + frame(HEADERS, END_HEADERS, 1,
            literal(":method", "CONNECT", False) + literal(":authority", "fuzz.test:443", False)),
    "ping_flood": start() + b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(200)),
}


def main():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "http2_frames_corpus")
    os.makedirs(folder, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(SEEDS), folder))


if __name__ == "__main__":
    main()
