# Sourced by scripts/quickstart and scripts/quickstart-images: a throw-away transparency
# log for the demos. `start_local_tlog DIR` generates an ECDSA P-256 log key in DIR (the
# key type cosign accepts), runs `sigstack tlog serve` on a free 127.0.0.1 port with a
# SQLite database in DIR, waits until it answers, and sets REKOR_URL, TLOG_PID and
# SIGSTORE_REKOR_PUBLIC_KEY (exported: verify commands trust that key). The caller stops
# the log with `stop_local_tlog` (e.g. from its EXIT trap). Needs $repo_root/.venv.

start_local_tlog() {
  local dir=$1 py="$repo_root/.venv/bin/python" port
  "$py" - "$dir/log.key" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
open(sys.argv[1], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
open(sys.argv[1][:-4] + ".pub", "wb").write(key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  REKOR_URL="http://127.0.0.1:$port"
  "$repo_root/.venv/bin/sigstack" tlog serve --key "$dir/log.key" --db "$dir/tlog.db" --port "$port" \
    --hostname quickstart.log 2>"$dir/tlog.log" &
  TLOG_PID=$!
  local ping='import sys, httpx; httpx.get(sys.argv[1] + "/api/v1/log", timeout=1).raise_for_status()'
  for _ in $(seq 100); do
    "$py" -c "$ping" "$REKOR_URL" 2>/dev/null && break
    sleep 0.1
  done
  "$py" -c "$ping" "$REKOR_URL" 2>/dev/null || { echo "the transparency log did not start:" >&2; cat "$dir/tlog.log" >&2; return 1; }
  export SIGSTORE_REKOR_PUBLIC_KEY="$dir/log.pub"
}

stop_local_tlog() {
  if [ -n "${TLOG_PID:-}" ]; then kill "$TLOG_PID" 2>/dev/null || true; wait "$TLOG_PID" 2>/dev/null || true; fi
  TLOG_PID=""
}
