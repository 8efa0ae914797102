"""A fast test script (no torch): reports what it received, then sleeps / fails / eats memory on request.

--sleep=S      sleep S seconds (printing a line every 0.2 s)
--exit_code=N  exit with N
--hog_mb=M     hold M MiB of memory (touched) while sleeping
--lines=K      print K numbered lines at once
Everything it got is written to <train_url>/args.json and <train_url>/env.json.
"""

import json
import os
import sys
import time

options = {}
for arg in sys.argv[1:]:
    if arg.startswith("--") and "=" in arg:
        key, _, value = arg[2:].partition("=")
        options[key] = value

print("probe started with %d argument(s)" % (len(sys.argv) - 1), flush=True)
for arg in sys.argv[1:]:
    print("arg: " + arg, flush=True)
out = options.get("train_url")
if out:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "args.json"), "w") as handle:
        json.dump(sys.argv[1:], handle)
    keys = [
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "OMP_NUM_THREADS",
        "DATABASE_URL",
        "SECRET_KEY",
    ]
    with open(os.path.join(out, "env.json"), "w") as handle:
        json.dump({key: os.environ.get(key) for key in keys} | {"affinity": sorted(os.sched_getaffinity(0))}, handle)
for index in range(int(options.get("lines", "0"))):
    print("line %d" % index)
sys.stdout.flush()
hog = None
if options.get("hog_mb"):
    hog = bytearray(int(options["hog_mb"]) * 1024 * 1024)
    for offset in range(0, len(hog), 4096):
        hog[offset] = 1
    print("holding %s MiB" % options["hog_mb"], flush=True)
deadline = time.monotonic() + float(options.get("sleep", "0"))
tick = 0
while time.monotonic() < deadline:
    tick += 1
    print("tick %d at %.3f" % (tick, time.time()), flush=True)
    time.sleep(0.2)
print("probe done", flush=True)
sys.exit(int(options.get("exit_code", "0")))
