"""Self time per op of a Chrome trace, per step: where a training step goes.

  build/bench_train --sweep experiments/recipe_check.toml --profile tiny --row 2 \
      --steps 10 --trace /tmp/step.json
  python3 bench/trace_ops.py /tmp/step.json --steps 10 [--top 25] [--parents aten::add_]

Reads the trace bench_train --trace writes (LibTorch's RecordProfile) or the
"traceEvents" of torch.profiler's export_chrome_trace (cpu_op events), so the
harness and a PyTorch peer can be compared op by op. Self time = an op's
duration minus that of the ops nested in it (same thread). --parents OP
lists which enclosing ops call OP and how long it takes under each.
"""
import argparse
import collections
import json


def load(path):
    with open(path) as f:
        d = json.load(f)
    ev = d["traceEvents"] if isinstance(d, dict) else d
    return [e for e in ev if e.get("ph") == "X" and e.get("cat", "cpu_op") == "cpu_op"]


def nest(events):
    """Yields (event, stack of enclosing events) per thread, in time order."""
    by_tid = collections.defaultdict(list)
    for e in events:
        by_tid[e["tid"]].append(e)
    for es in by_tid.values():
        es.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in es:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            yield e, list(stack)
            stack.append(e)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=1, help="steps the trace holds (times are per step)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--parents", help="an op name: where its time is spent, by enclosing op")
    a = ap.parse_args()
    events = load(a.trace)
    self_us, calls, top_us = collections.Counter(), collections.Counter(), 0.0
    child_us = collections.Counter()
    by_parent, parent_calls = collections.Counter(), collections.Counter()
    for e, stack in nest(events):
        if stack:
            child_us[id(stack[-1])] += e["dur"]
        else:
            top_us += e["dur"]
        if a.parents and e["name"] == a.parents:
            where = " > ".join(x["name"] for x in stack[-2:]) or "(top level)"
            by_parent[where] += e["dur"]
            parent_calls[where] += 1
    for e in events:
        self_us[e["name"]] += e["dur"] - child_us[id(e)]
        calls[e["name"]] += 1
    n = a.steps
    if a.parents:
        for where, us in by_parent.most_common(a.top):
            print(f"{us / n / 1000:8.2f} ms {parent_calls[where] / n:7.1f}/step  {where}")
        return
    print(f"ops at top level: {top_us / n / 1000:.1f} ms per step")
    for name, us in self_us.most_common(a.top):
        print(f"{us / n / 1000:8.2f} ms {calls[name] / n:7.1f}/step  {name}")


if __name__ == "__main__":
    main()
