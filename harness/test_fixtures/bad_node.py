# A node program that misbehaves in one chosen way, for harness/process_target.test.ts.
# Usage: python3 bad_node.py MODE, where MODE is exit, not-json, malformed, hang, wrong-id or exit-on-tick.
import json
import sys

mode = sys.argv[1]
node = None
sources = []


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    request = json.loads(line)
    if request["type"] == "init":
        node = request["node"]
        sources = [s["id"] for s in request["spec"]["sources"]]
        if mode == "exit":
            sys.stderr.write("bad_node: cannot format my disks\nbad_node: giving up\n")
            sys.exit(3)
        if mode == "not-json":
            print("hello, harness")
            sys.stdout.flush()
            continue
        if mode == "malformed":
            send({"type": "reply", "id": request["id"], "effects": [{"kind": "teleport"}]})
            continue
        if mode == "hang":
            continue
        if mode == "wrong-id":
            send({"type": "reply", "id": request["id"] + 100, "ready": {"protocol": 1}})
            continue
        send({"type": "reply", "id": request["id"], "ready": {"protocol": 1}})
        continue
    if request["type"] == "tick" and mode == "exit-on-tick":
        sys.stderr.write("bad_node: a tick? I quit\n")
        sys.exit(4)
    if request["type"] == "observe":
        if node == "dst":
            observation = {"mirrors": {s: {"mirrorCp": 0, "promoted": False} for s in sources}}
        else:
            observation = {"relationship": "in-sync", "primaryCp": 0, "cpInProgress": False, "pendingWrites": 0}
        send({"type": "reply", "id": request["id"], "observation": observation})
        continue
    send({"type": "reply", "id": request["id"]})
