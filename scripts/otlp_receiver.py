#!/usr/bin/env python3
"""A small OTLP/HTTP metrics receiver for tests (docs/otel.md, tests/tests/otlp.rs).

No registry ships the OpenTelemetry Collector as a binary here (only its Go modules), so this decodes
with the official protobuf definitions (PyPI `opentelemetry-proto`):

    otlp_receiver.py PORT [--status CODE]

- POST /v1/metrics (application/x-protobuf, gzip or not): decoded as ExportMetricsServiceRequest; every
  data point is kept; answers 200 with an empty ExportMetricsServiceResponse, or CODE when --status is
  given (e.g. 500: a failing collector). A body that does not decode is answered 400 and counted.
- GET /received: JSON {"requests": n, "undecodable": n, "points": [{metric, unit, kind, attributes,
  value | sum + count + bucket_counts + explicit_bounds, temporality, resource}]}.
- GET /health: 200 "ok" (the test waits for it).
"""
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

LOCK = threading.Lock()
STATE = {"requests": 0, "undecodable": 0, "points": []}
STATUS = 200


def any_value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def points_of(req):
    out = []
    for rm in req.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                for p in data.data_points:
                    d = {
                        "metric": m.name,
                        "unit": m.unit,
                        "kind": kind,
                        "attributes": attrs(p.attributes),
                        "temporality": getattr(data, "aggregation_temporality", 0),
                        "resource": resource,
                    }
                    if kind == "histogram":
                        d.update(
                            sum=p.sum,
                            count=p.count,
                            bucket_counts=list(p.bucket_counts),
                            explicit_bounds=list(p.explicit_bounds),
                        )
                    else:
                        d["value"] = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                    out.append(d)
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def reply(self, code, body=b"", ctype="application/x-protobuf"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, b"ok", "text/plain")
        if self.path == "/received":
            with LOCK:
                body = json.dumps(STATE).encode()
            return self.reply(200, body, "application/json")
        self.reply(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/metrics":
            return self.reply(404)
        if STATUS != 200:
            with LOCK:
                STATE["requests"] += 1
            return self.reply(STATUS, b"failing on purpose", "text/plain")
        req = ExportMetricsServiceRequest()
        try:
            req.ParseFromString(body)
        except Exception:
            with LOCK:
                STATE["undecodable"] += 1
            return self.reply(400)
        with LOCK:
            STATE["requests"] += 1
            STATE["points"].extend(points_of(req))
        self.reply(200, ExportMetricsServiceResponse().SerializeToString())


def main():
    global STATUS
    port = int(sys.argv[1])
    if "--status" in sys.argv:
        STATUS = int(sys.argv[sys.argv.index("--status") + 1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
