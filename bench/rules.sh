#!/usr/bin/env bash
# Routing cost as configurations grow: runs bench/ingest.sh with 10 rules
# and with 1000 rules (BENCH_RULES) and compares psabridge's median
# requests/s.  Goal (rules issue): the 1000-rule figure within 10% of the
# 10-rule one.  A benchmark, not a test: it reports, never asserts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for n in 10 1000; do
	echo "== $n rules"
	BENCH_RULES=$n "$root/bench/ingest.sh" | tee "$out/$n.txt"
	export BENCH_NO_BUILD=1
done
python3 - "$out" <<'PY'
import re, sys
def median_rps(path):
    for line in open(path):
        m = re.match(r"psabridge median\s+(\d+)", line)
        if m:
            return int(m.group(1))
    sys.exit("no 'psabridge median' line in %s" % path)
a = median_rps(sys.argv[1] + "/10.txt")
b = median_rps(sys.argv[1] + "/1000.txt")
print("psabridge median req/s: 10 rules %d, 1000 rules %d: %.1f%% of the "
      "10-rule figure (goal >= 90%%: %s)"
      % (a, b, 100.0 * b / a, "met" if b >= 0.9 * a else "MISSED"))
PY
