#!/usr/bin/env python3
"""FID's memory does not grow with the number of generated images (CTest
fid_streamed_memory): the same tiny run generating 256 and 8,192 64-px
images for FID. Holding the 8,192 decoded images (as FID did before it
streamed them) is 403 MB of float32; the larger run's peak resident memory
may exceed the smaller's by less than half of that. Each size's peak is the
lower of two runs: the same run's peak varies by up to about 200 MiB from
one process to the next (measured 635-845 MiB at 256 samples on a 2-core VM
sharing its cores with other tests), which one pair of runs mistook for
growth; the images held whole would add 384 MiB to every run.

  fid_streamed_memory.py RUN_SWEEP SWEEP_FILE
"""
import glob
import os
import subprocess
import sys
import tempfile


def peak_run(cmd, log):
    """Exit code and peak resident bytes of one process (its own wait4 accounting)."""
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    run_sweep, sweep = sys.argv[1:]
    held = 8192 * 3 * 64 * 64 * 4  # the decoded images FID held whole before
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {}
        for attempt in (0, 1):
            for n in (256, 8192):
                results = os.path.join(tmp, f"{n}-{attempt}")
                code, peak = peak_run([run_sweep, sweep, "--results", results, "--threads", "1",
                                       "--set", f"eval.fid_samples={n}"], os.path.join(tmp, f"{n}.txt"))
                if code != 0:
                    sys.exit(f"FAIL: run_sweep exit {code} at eval.fid_samples = {n}:\n" +
                             open(os.path.join(tmp, f"{n}.txt")).read()[-2000:])
                logs = "".join(open(f).read() for f in glob.glob(os.path.join(results, "runs", "*", "log.txt")))
                if f"({n} samples against 512 training images" not in logs:
                    sys.exit(f"FAIL: no FID line for {n} samples in the run's log")
                peaks[n] = min(peaks.get(n, peak), peak)
        grew = peaks[8192] - peaks[256]
        print(f"peak resident: {peaks[256] / 2**20:.0f} MiB at 256 samples, {peaks[8192] / 2**20:.0f} MiB at 8192; "
              f"grew {grew / 2**20:.0f} MiB (holding the images: {held / 2**20:.0f} MiB)")
        if grew > held / 2:
            sys.exit("FAIL: FID's memory grows with eval.fid_samples")
        print("ok: FID's memory does not grow with the number of samples")


if __name__ == "__main__":
    main()
