"""Self time per op of a Chrome trace, per step: where a training step goes.

  build/bench_train --sweep experiments/recipe_check.toml --profile tiny --row 2 \
      --steps 10 --trace /tmp/step.json
  python3 bench/trace_ops.py /tmp/step.json --steps 10 [--top 25] [--parents aten::add_]

Reads the trace bench_train --trace writes (LibTorch's profiler: Kineto,
as torch.profiler's export_chrome_trace) or the "traceEvents" of a PyTorch
peer's trace (cpu_op events), so the harness and a peer can be compared op
by op. Self time = an op's duration minus that of the ops nested in it (same
thread). --parents OP lists which enclosing ops call OP and how long it
takes under each. --kernels (a GPU trace): device time per step by kind of
kernel (matrix products, attention, elementwise, normalisation, reductions,
optimizer, copies) and by kernel, and how much of the traced wall time the
GPU sat idle, i.e. waiting on the host.
"""
import argparse
import collections
import gzip
import json
import sys


def fail(msg):
    """Bad input: one line naming the file and what to do, exit 2."""
    print(f"trace_ops: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_events(path):
    """Every event of a Chrome trace, plain or gzipped (.json.gz)."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as f:
            d = json.load(f)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path}: not a Chrome trace in JSON (plain or .gz): {e}")
    ev = d.get("traceEvents") if isinstance(d, dict) else d
    if not isinstance(ev, list):
        fail(f"{path}: no \"traceEvents\" list; write one with bench_train --trace")
    return ev


def is_span(e):
    """A complete event ("ph": "X") with a name, a start and a duration."""
    return (isinstance(e, dict) and e.get("ph") == "X" and isinstance(e.get("name"), str)
            and isinstance(e.get("ts"), (int, float)) and isinstance(e.get("dur"), (int, float)))


def load(path, steps):
    """The trace's op events and the steps it holds (--steps, else its
    ldae::train_step events, else 1); fails (exit 2) on a trace without op
    events, and on a CPU trace of the harness whose step count is not --steps."""
    ev = read_events(path)
    ops = [e for e in ev if is_span(e) and e.get("cat", "cpu_op") == "cpu_op"]
    if not ops:
        fail(f"{path}: no op events (\"ph\": \"X\" with a name, \"ts\" and \"dur\") in its "
             f"{len(ev)} events; write a trace with bench_train --trace (or torch.profiler's export_chrome_trace)")
    gpu = any(is_span(e) and e.get("cat") == "kernel" for e in ev)
    held = sum(1 for e in ops if e["name"] == "ldae::train_step")
    # A CUDA graph's replays run no step body, so a GPU trace's count is not the steps'.
    if held and not gpu and steps is not None and held != steps:
        fail(f"--steps {steps}: {path} holds {held} steps (ldae::train_step events); use --steps {held}")
    return ops, steps or held or 1


# Kernel kinds by name, first match wins (CUDA library and ATen kernel names).
KINDS = [
    ("attention", ("flash", "fmha", "attention", "sdpa", "cudnn_generated_fort_native_sdpa")),
    ("matmul", ("gemm", "cutlass", "sm90_xmma", "nvjet", "cublas", "ampere_", "sm80_", "splitk")),
    ("optimizer", ("adam", "foreach", "multi_tensor")),
    ("normalisation", ("layer_norm", "layernorm", "rms_norm", "batch_norm")),
    ("softmax/reduction", ("softmax", "reduce", "norm_kernel", "sum_kernel", "mean")),
    ("copy/cast", ("copy", "cast", "memcpy", "memset", "fill")),
    ("elementwise", ("elementwise", "vectorized", "unrolled", "gelu", "silu", "mul", "add")),
]


def kind_of(name):
    low = name.lower()
    for kind, keys in KINDS:
        if any(k in low for k in keys):
            return kind
    return "other"


def kernels(path, steps, top):
    ev = read_events(path)
    ks = [e for e in ev if is_span(e) and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    if not ks:
        fail(f"{path}: no GPU kernels in this trace (a CPU run? use it without --kernels)")
    busy = sum(e["dur"] for e in ks)
    span = max(e["ts"] + e["dur"] for e in ks) - min(e["ts"] for e in ks)
    by_kind, by_name, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for e in ks:
        by_kind[kind_of(e["name"])] += e["dur"]
        by_name[e["name"]] += e["dur"]
        calls[e["name"]] += 1
    n = steps
    print(f"GPU: {len(ks) / n:.0f} kernels per step, busy {busy / n / 1000:.2f} ms of {span / n / 1000:.2f} ms "
          f"per step ({100 * busy / span:.1f}%; the rest the GPU waits on the host)")
    for kind, us in by_kind.most_common():
        print(f"{us / n / 1000:8.2f} ms {100 * us / busy:5.1f}%  {kind}")
    print("top kernels:")
    for name, us in by_name.most_common(top):
        print(f"{us / n / 1000:8.2f} ms {calls[name] / n:7.1f}/step  {kind_of(name):13s} {name[:110]}")


def nest(events):
    """Yields (event, stack of enclosing events) per thread, in time order."""
    by_tid = collections.defaultdict(list)
    for e in events:
        by_tid[e.get("tid", 0)].append(e)
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
    ap.add_argument("--steps", type=int, help="steps the trace holds (times are per step); default: its "
                    "ldae::train_step events (a harness trace on the CPU), else 1")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--parents", help="an op name: where its time is spent, by enclosing op")
    ap.add_argument("--kernels", action="store_true", help="GPU kernels' time per step, by kind and by kernel")
    a = ap.parse_args()
    if a.steps is not None and a.steps < 1:
        fail(f"--steps {a.steps}: expected the number of steps the trace holds (bench_train says it), at least 1")
    if a.top < 1:
        fail(f"--top {a.top}: expected at least 1")
    if a.kernels:
        kernels(a.trace, a.steps or 1, a.top)
        return
    events, a.steps = load(a.trace, a.steps)
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
        if not by_parent:
            known = ", ".join(name for name, _ in self_us.most_common(5))
            fail(f"--parents {a.parents}: no op of that name in {a.trace} (its costliest: {known})")
        for where, us in by_parent.most_common(a.top):
            print(f"{us / n / 1000:8.2f} ms {parent_calls[where] / n:7.1f}/step  {where}")
        return
    print(f"ops at top level: {top_us / n / 1000:.1f} ms per step")
    for name, us in self_us.most_common(a.top):
        print(f"{us / n / 1000:8.2f} ms {calls[name] / n:7.1f}/step  {name}")


if __name__ == "__main__":
    main()
