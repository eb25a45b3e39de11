#!/usr/bin/env python3
"""Runs a Lambda `bootstrap` the way the Lambda service does, under a minimal Runtime API on loopback, and
measures what the service would bill: the cold init (process start to its first `GET .../invocation/next`),
each invocation's duration (event handed over to response posted), the process's CPU time (utime + stime,
/proc/PID/stat) per invocation, and its peak RSS (VmHWM, /proc/PID/status).

With --cpu-share MB the process runs in a cgroup-v1 cpu group limited to MB/1769 of one CPU (Lambda gives one
vCPU at 1,769 MB and CPU in proportion to memory): the durations are then measured under that share, not
computed. Used by bench/lambda-memory.sh and bench/lambda-init.sh; see BENCHMARKS.md "Lambda packages and
memory sizes".

The process gets the environment Lambda gives a provided.al2023 function (the reserved variables: region,
credentials, AWS_LAMBDA_*, _HANDLER, LAMBDA_TASK_ROOT, TZ; the JSON log format the template's LoggingConfig
sets), then any AWS_ENDPOINT_URL* of this process (moto), then --env: not this shell's environment.

  lambda_measure.py --bootstrap PATH [--event EVENT.json ...] [--cold N] [--cpu-share MB] [--env K=V ...]
                    [--evict] [--before-cold CMD] [--put-sink]

With no --event it measures the init only (each cold process is killed at its first GET next).
--evict drops the bootstrap's own pages from the page cache before each cold start (fsync, then
posix_fadvise DONTNEED; the resident bytes left are recorded): the shared libraries it loads stay cached.
--before-cold runs a shell command before each cold process (not timed), e.g. to seed moto.
--put-sink serves PUT on loopback (answers 200) and replaces @PUT_SINK@ in the events with its URL (a
CloudFormation response URL).

Prints one JSON object: {"runs": [{"init_ms", "resident_bytes_before", "invocations": [{"ms", "cpu_ms",
"status"}...], "peak_rss_kb"}...]}.
"""
import argparse
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

CG_ROOT = "/sys/fs/cgroup/cpu"
FULL_CPU_MB = 1769
PERIOD_US = 100_000


class Runtime:
    def __init__(self):
        self.events = queue.Queue()  # (request_id, body bytes)
        self.results = queue.Queue()  # (request_id, kind, t)
        self.first_next = queue.Queue()
        self.handed = {}
        self.seen_next = False


def make_handler(rt):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self._reply(404)
            if not rt.seen_next:
                rt.seen_next = True
                rt.first_next.put(time.monotonic())
            rid, body = rt.events.get()
            if rid is None:  # shut down: the process is killed next; end this thread
                self.close_connection = True
                return
            rt.handed[rid] = time.monotonic()
            deadline_ms = int((time.time() + 900) * 1000)
            self._reply(200, body, [
                ("Lambda-Runtime-Aws-Request-Id", rid),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ("Content-Type", "application/json"),
            ])

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            parts = self.path.split("/")
            if "invocation" in parts and parts[-1] in ("response", "error"):
                rid = parts[-2]
                rt.results.put((rid, parts[-1], time.monotonic(), body))
            elif self.path.endswith("/init/error"):
                rt.results.put((None, "init-error", time.monotonic(), body))
            self._reply(202)

    return H


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    # fields[11], [12] = utime, stime (the 14th and 15th of the whole line)
    return (int(fields[11]) + int(fields[12])) * 1000.0 / tck


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def lambda_env(args, runtime_api):
    """The variables Lambda defines for a provided.al2023 function (docs: "Defined runtime environment
    variables"), with placeholder credentials; the log format is the template's `LogFormat: JSON`."""
    mb = args.memory_size or args.cpu_share or FULL_CPU_MB
    env = {
        "_HANDLER": "bootstrap",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/07/[$LATEST]bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "LAMBDA_TASK_ROOT": os.path.dirname(os.path.abspath(args.bootstrap)),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "TZ": ":UTC",
        # No profile files (Lambda has none): the SDK's config loader finds nothing to read.
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")})
    return env


def evict(path):
    """Drops the file's pages from the page cache; returns the bytes still resident (fincore)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_bytes(path)


def resident_bytes(path):
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", path],
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def put_sink():
    """A loopback HTTP server that answers every PUT with 200 (a pre-signed response URL)."""
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/cfn-response"


def make_cgroup(mb):
    path = f"{CG_ROOT}/bedrock-meter-bench-{os.getpid()}-{mb}"
    os.makedirs(path, exist_ok=True)
    with open(f"{path}/cpu.cfs_period_us", "w") as f:
        f.write(str(PERIOD_US))
    with open(f"{path}/cpu.cfs_quota_us", "w") as f:
        f.write(str(round(PERIOD_US * mb / FULL_CPU_MB)))
    return path


def run_process(args, env, events, cg):
    rt = Runtime()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(rt))
    srv.handle_error = lambda *a: None  # the process is killed mid-request at the end: not an error
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    penv = lambda_env(args, f"127.0.0.1:{srv.server_address[1]}")
    penv.update(env)
    if args.before_cold:
        subprocess.run(args.before_cold, shell=True, check=True)
    out = {"invocations": []}
    if args.evict:
        out["resident_bytes_before"] = evict(args.bootstrap)
    # The process joins its cgroup before exec, so its init runs under the share too.
    cmd = [args.bootstrap]
    if cg:
        cmd = ["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$0"', args.bootstrap]
    log = open(args.log, "ab") if args.log else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=penv, stdout=log, stderr=log, start_new_session=True)
    try:
        t_first = None
        for _ in range(600):
            try:
                t_first = rt.first_next.get(timeout=0.1)
                break
            except queue.Empty:
                if p.poll() is not None:
                    break
        if t_first is None:
            raise SystemExit(f"{args.bootstrap}: no GET next within 60 s (exit status {p.poll()}; init failed?)")
        out["init_ms"] = (t_first - t0) * 1000
        out["init_cpu_ms"] = cpu_ms(p.pid)
        for body in events:
            rid = str(uuid.uuid4())
            c0 = cpu_ms(p.pid)
            rt.events.put((rid, body))
            got, kind, t_end, resp = rt.results.get(timeout=900)
            c1 = cpu_ms(p.pid)
            out["invocations"].append({
                "ms": (t_end - rt.handed[rid]) * 1000,
                "cpu_ms": c1 - c0,
                "status": kind,
                "response": resp[:20000].decode("utf-8", "replace"),
            })
        out["peak_rss_kb"] = peak_rss_kb(p.pid)
    finally:
        os.killpg(p.pid, 9)
        p.wait()
        rt.events.put((None, None))
        srv.shutdown()
        srv.server_close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--event", action="append", default=[], help="one invocation per --event, in order")
    ap.add_argument("--cold", type=int, default=1, help="fresh processes (cold starts), each gets all events")
    ap.add_argument("--cpu-share", type=int, default=0, help="memory size (MB) whose CPU share to emulate")
    ap.add_argument("--memory-size", type=int, default=0,
                    help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default: the --cpu-share, else 1769)")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--evict", action="store_true", help="drop the bootstrap from the page cache before each start")
    ap.add_argument("--before-cold", help="shell command run before each cold process")
    ap.add_argument("--put-sink", action="store_true", help="serve PUT; @PUT_SINK@ in events = its URL")
    ap.add_argument("--log")
    args = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    events = [open(e, "rb").read() for e in args.event]
    sink = None
    if args.put_sink:
        sink, url = put_sink()
        events = [e.replace(b"@PUT_SINK@", url.encode()) for e in events]
    cg = make_cgroup(args.cpu_share) if args.cpu_share else None
    runs = []
    try:
        for _ in range(args.cold):
            runs.append(run_process(args, env, events, cg))
    finally:
        if cg:
            os.rmdir(cg)
        if sink:
            sink.shutdown()
    json.dump({"bootstrap": args.bootstrap, "cpu_share_mb": args.cpu_share or None, "runs": runs}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
