#!/usr/bin/env python3
"""Decodes Jaeger agent UDP packets with an implementation that is not ours.

Usage: decode.py PACKET_FILE...

Each file holds one UDP datagram as sent to a Jaeger agent's compact-Thrift
port (6831): a Thrift compact-protocol message calling the oneway method
`Agent.emitBatch`. The IDL is the official one (`agent.thrift`,
`jaeger.thrift` and `zipkincore.thrift`, which `agent.thrift` includes,
copied verbatim beside this script), loaded at run time by the PyPI package
`thriftpy2`, whose pure-Python compact protocol does the decoding.

thriftpy2 forgives what a real agent might not: it skips fields it does not
know or whose wire type differs from the IDL, ignores a list's element type,
and does not check required fields. This script refuses all of those, and
trailing bytes, so that a packet it accepts is a packet the IDL describes.

Prints one JSON document on stdout:
{"packets": [{"file", "method", "message_type", "seqid", "batch"}]}, with
every struct as an object of its set fields (IDL names), enums as integers
and binary values as lowercase hex. Exits non-zero with a message on stderr
on the first packet that does not decode.
"""

import json
import os
import sys

try:
    import thriftpy2
    from thriftpy2.protocol.compact import TCompactProtocol
    from thriftpy2.thrift import TMessageType, TType
    from thriftpy2.transport.memory import TMemoryBuffer
except ImportError as e:
    sys.exit(
        "decode.py: %s (%s); run scripts/install-e2e-deps.sh python, which "
        "installs thriftpy2 in .venv-e2e" % (e, sys.executable)
    )

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_TYPES = (TType.STRING, TType.BINARY)


class DecodeError(Exception):
    pass


class StrictCompactProtocol(TCompactProtocol):
    """thriftpy2's compact protocol, refusing what it would skip."""

    def skip(self, ttype):
        raise DecodeError(
            "a field the IDL does not have, or of another wire type "
            "(thrift type %d)" % ttype
        )

    def _read_val(self, ttype, spec=None):
        if ttype in (TType.LIST, TType.SET):
            if isinstance(spec, tuple):
                v_type, v_spec = spec[0], spec[1]
            else:
                v_type, v_spec = spec, None
            r_type, size = self._read_collection_begin()
            same = r_type == v_type or (r_type in BIN_TYPES and v_type in BIN_TYPES)
            if size > 0 and not same:
                raise DecodeError(
                    "list of thrift type %d where the IDL says %d" % (r_type, v_type)
                )
            items = [self._read_val(v_type, v_spec) for _ in range(size)]
            self._read_collection_end()
            return items
        return super()._read_val(ttype, spec)


def load_idl():
    return thriftpy2.load(
        os.path.join(HERE, "agent.thrift"),
        module_name="agent_thrift",
        include_dirs=[HERE],
    )


def to_json(value, path):
    """A decoded value as JSON; checks required fields on the way."""
    spec = getattr(value, "thrift_spec", None)
    if spec is not None:
        out = {}
        for fid in sorted(spec):
            field = spec[fid]
            name, required = field[1], field[-1]
            v = getattr(value, name)
            if v is None:
                if required is True:
                    raise DecodeError("%s.%s is required and missing" % (path, name))
                continue
            out[name] = to_json(v, "%s.%s" % (path, name))
        return out
    if isinstance(value, list):
        return [to_json(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    if isinstance(value, bytes):
        return value.hex()
    return value


def decode(idl, path):
    with open(path, "rb") as f:
        data = f.read()
    trans = TMemoryBuffer(data)
    proto = StrictCompactProtocol(trans, decode_response=True, strict_decode=True)
    name, message_type, seqid = proto.read_message_begin()
    if name != "emitBatch":
        raise DecodeError("method %r, expected 'emitBatch'" % name)
    if message_type != TMessageType.ONEWAY:
        raise DecodeError("message type %d, expected ONEWAY (4)" % message_type)
    args = idl.Agent.emitBatch_args()
    proto.read_struct(args)
    proto.read_message_end()
    if trans._pos != len(data):
        raise DecodeError("%d trailing bytes" % (len(data) - trans._pos))
    if args.batch is None:
        raise DecodeError("emitBatch without its batch argument")
    return {
        "file": os.path.basename(path),
        "size": len(data),
        "method": name,
        "message_type": message_type,
        "seqid": seqid,
        "batch": to_json(args.batch, "batch"),
    }


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    idl = load_idl()
    packets = []
    for path in paths:
        try:
            packets.append(decode(idl, path))
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            print("decode.py: %s: %s: %s" % (path, type(e).__name__, e), file=sys.stderr)
            return 1
    json.dump({"packets": packets}, sys.stdout, allow_nan=False, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
