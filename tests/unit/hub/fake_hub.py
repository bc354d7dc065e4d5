#!/usr/bin/env python3
"""fake_hub.py: a tiny stand-in for the Hugging Face hub, for the mcomp hub tests.

Serves the hub's download URL scheme from a folder (python3 standard library only):

  HEAD/GET /{org}/{name}/resolve/{revision}/{file}
      revision: "main" or the commit (--commit); anything else is 404 RevisionNotFound.
      *.safetensors files behave like LFS files: 302 to /cdn/{org}/{name}/{file} with
      X-Linked-Etag (sha256) and X-Linked-Size; other files answer 200 with ETag (git blob
      sha1). Every answer carries X-Repo-Commit. Missing file: 404 EntryNotFound; missing
      repository: 401 RepositoryNotFound (as the real hub answers anonymous requests).
  GET /cdn/{org}/{name}/{file}
      the content, honouring "Range: bytes=N-" (206) and answering 416 past the end.

Content comes from ROOT/{org}/{name}/{file}. Test modes:
  --drop FILE       the first --drop-count GETs of FILE send half the bytes, then the
                    connection is cut (the client sees a truncated body)
  --corrupt FILE    FILE's bytes are served with one byte flipped (headers stay right)
  --ignore-range    answer Range requests with the whole file (200), as some servers do
  --no-etag         send neither ETag nor X-Linked-Etag
  --rename OLD=NEW  requests for repository OLD get a relative 307 to NEW (a renamed repo)
  --token T         requests without "Authorization: Bearer T" get 401
  --log PATH        one line per request: "METHOD PATH range=... auth=..."

Prints "PORT <n>" on stdout once listening (pass --port 0 for a free port). Exits when its
stdin reaches EOF, so a test that dies does not leave it running.
"""

import argparse
import hashlib
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_hub/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    # ---- plumbing ----------------------------------------------------------------------

    def log_message(self, fmt, *args):  # the request log replaces http.server's stderr log
        pass

    def record(self):
        opts = self.server.opts
        if opts.log:
            line = "%s %s range=%s auth=%s\n" % (
                self.command, self.path, self.headers.get("Range", "-"),
                self.headers.get("Authorization", "-"))
            with self.server.lock, open(opts.log, "a") as f:
                f.write(line)

    def send_headers(self, status, headers):
        self.send_response(status)
        for key, value in headers.items():
            if not (self.server.opts.no_etag and key in ("ETag", "X-Linked-Etag")):
                self.send_header(key, value)

    def reply(self, status, headers, body=b""):
        self.send_headers(status, headers)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        headers.update(extra or {})
        self.reply(status, headers, message.encode())

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        self.record()
        opts = self.server.opts
        if opts.token and self.headers.get("Authorization") != "Bearer " + opts.token:
            return self.error(401, "Unauthorized", "Invalid credentials in Authorization header")
        parts = [unquote(p) for p in self.path.split("?")[0].split("/")[1:]]
        if opts.rename and len(parts) >= 2 and "/".join(parts[:2]) == opts.rename.split("=")[0]:
            moved = "/" + opts.rename.split("=")[1] + "/" + "/".join(self.path.split("/")[3:])
            return self.reply(307, {"Location": moved})  # relative: the repo was renamed
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        if len(parts) >= 4 and parts[0] == "cdn":
            return self.cdn(parts[1] + "/" + parts[2], "/".join(parts[3:]))
        self.error(404, "NotFound", "no such route")

    # ---- routes ------------------------------------------------------------------------

    def content(self, repo, file):
        path = os.path.join(self.server.opts.root, repo, file)
        if ".." in file.split("/") or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def resolve(self, repo, revision, file):
        opts = self.server.opts
        if not os.path.isdir(os.path.join(opts.root, repo)):
            return self.error(401, "RepositoryNotFound", "Repository not found")
        if revision not in ("main", opts.commit):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        commit = {"X-Repo-Commit": opts.commit}
        data = self.content(repo, file)
        if data is None:
            return self.error(404, "EntryNotFound", "Entry not found", commit)
        if file.endswith(".safetensors"):
            host = self.headers.get("Host", "127.0.0.1")
            headers = dict(commit)
            headers["Location"] = "http://%s/cdn/%s/%s" % (host, repo, file)
            headers["X-Linked-Etag"] = '"%s"' % hashlib.sha256(data).hexdigest()
            headers["X-Linked-Size"] = str(len(data))
            headers["ETag"] = '"%s"' % git_blob_sha1(data)
            return self.reply(302, headers)
        self.send_content(data, file, dict(commit, ETag='"%s"' % git_blob_sha1(data)))

    def cdn(self, repo, file):
        data = self.content(repo, file)
        if data is None:
            return self.error(404, "NotFound", "no such object")
        self.send_content(data, file, {"ETag": '"%s"' % hashlib.sha256(data).hexdigest()})

    def send_content(self, data, file, headers):
        opts = self.server.opts
        if file == opts.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        status = 200
        requested = self.headers.get("Range", "")
        if requested.startswith("bytes=") and requested.endswith("-") and not opts.ignore_range:
            start = int(requested[len("bytes="):-1])
            if start >= len(data):
                return self.error(416, "RangeNotSatisfiable", "range past the end",
                                  {"Content-Range": "bytes */%d" % len(data)})
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        if self.command == "GET" and file == opts.drop and self.take_drop():
            return self.send_half_and_cut(status, headers, body)
        self.reply(status, headers, body)

    def take_drop(self):
        with self.server.lock:
            if self.server.drops_left > 0:
                self.server.drops_left -= 1
                return True
        return False

    def send_half_and_cut(self, status, headers, body):
        self.send_headers(status, headers)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--commit", default="0123456789abcdef0123456789abcdef01234567")
    parser.add_argument("--drop", default="")
    parser.add_argument("--drop-count", type=int, default=1)
    parser.add_argument("--corrupt", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--ignore-range", action="store_true")
    parser.add_argument("--no-etag", action="store_true")
    parser.add_argument("--rename", default="")
    parser.add_argument("--log", default="")
    opts = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.lock = threading.Lock()
    server.drops_left = opts.drop_count if opts.drop else 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT %d" % server.server_address[1], flush=True)
    sys.stdin.read()  # EOF: the test that started us has finished (or died)
    os._exit(0)


if __name__ == "__main__":
    main()
