// How many CPU threads a program uses when no flag or key says: the number a
// scheduler gave this process, not the machine's core count. A Slurm job
// with --cpus-per-task=4 on a 64-core node sets OMP_NUM_THREADS=4 (or binds
// the task to 4 CPUs); std::thread::hardware_concurrency() says 64 either
// way, and 64 threads on 4 CPUs run slower than 4.
#pragma once
#include <optional>
#include <string>

namespace ldae {

// OMP_NUM_THREADS as a thread count: nullopt when unset or empty; its first
// entry when a list ("8,2": OpenMP's per-nesting-level form). Throws
// InputError naming the variable, its value and the fix when that entry is
// not a whole number from 1 to 4096 (libgomp would only warn and ignore it).
std::optional<int> omp_num_threads_env(const char* value);

// The default thread count: OMP_NUM_THREADS when set (as above), else the
// CPUs this process may run on (sched_getaffinity: taskset, cgroup cpusets,
// Slurm's binding), else hardware_concurrency(), at least 1.
int default_threads();

}  // namespace ldae
