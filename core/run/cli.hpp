// The shared shell of every program: bad input or environment (sweep file,
// flag, data, paths, permissions, full disk, locked index, out of memory) ->
// one clear line and exit 2; a stop request outside a run -> exit 130;
// anything else is a bug -> "internal error ... please report" and exit 3;
// a crash -> a backtrace.
#pragma once
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <filesystem>
#include <new>
#include <iostream>
#include <optional>
#include <thread>

#include "core/base/crash_report.hpp"
#include "core/base/errors.hpp"
#include "core/base/stop.hpp"
#include "core/base/threads.hpp"
#include "core/records/store.hpp"

namespace ldae {

template <class Body>
int guarded_main(const char* program, Body&& body) {
  install_crash_report(program);
  // Past the file size limit (ulimit -f) a write fails with EFBIG, reported
  // like a full disk, instead of killing the process mid-record.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return body();
  } catch (const InputError& e) {
    fmt::print(stderr, "{}: error: {}\n", program, e.what());
    return 2;
  } catch (const SQLite::Exception& e) {  // the index: locked, full, damaged
    // Where the index is, this shell does not know: the --results folder's (callers that know, say so).
    fmt::print(stderr, "{}: error: {}\n", program, store_error("RESULTS/results.db", e).what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {  // the environment: paths, permissions
    fmt::print(stderr, "{}: error: {}; check that path: an input (data.path, a sweep file) must exist and be "
               "readable, an output (--results, --out) writable\n", program, e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: error: out of memory; lower train.batch, data.subset or --threads, or "
               "use a machine with more memory\n", program);
    return 2;
  } catch (const boost::program_options::error& e) {  // a flag parsed inside the body
    fmt::print(stderr, "{}: {} (see --help)\n", program, e.what());
    return 2;
  } catch (const Interrupted& e) {  // a stop request outside a run (data preparation)
    fmt::print(stderr, "{}: {}; nothing half-written, rerun to go on\n", program, e.what());
    return 130;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error (a bug in the harness, exit 3: please report it with "
               "this line and the command): {}\n", program, e.what());
    return 3;
  }
}

// --threads N: 0 (default_threads()) to 4096, the range train.threads has; more
// would exhaust the machine's threads before any work starts.
inline void check_threads_flag(int threads) {
  if (threads < 0 || threads > 4096)
    throw InputError(fmt::format("--threads {}: expected 0 (OMP_NUM_THREADS, else the CPUs this "
                                 "process may use) to 4096; this machine has {} cores", threads, std::thread::hardware_concurrency()));
}

// Parse the command line into vm. Returns an exit code when the program is
// done: 2 for a bad flag (one line naming it), 0 after printing --help
// (opts, then `help_tail`); nullopt to go on. `positional`: the name of the
// one positional argument (declared in `hidden`, which --help does not show).
inline std::optional<int> parse_flags(const char* program, int argc, char** argv,
                                      const boost::program_options::options_description& opts,
                                      boost::program_options::variables_map& vm, const std::string& help_tail = "",
                                      const boost::program_options::options_description* hidden = nullptr,
                                      const char* positional = nullptr) {
  namespace po = boost::program_options;
  po::options_description all;
  all.add(opts);
  if (hidden) all.add(*hidden);
  po::positional_options_description pos;
  if (positional) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "{}: {} (see --help)\n", program, e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << help_tail;
    return 0;
  }
  // An empty value (--results "", a variable that expanded to nothing) is
  // never what a flag means: "" would become "/results.db" or the current folder.
  for (const auto& [name, v] : vm) {
    const auto* d = all.find_nothrow(name, false);
    if (v.defaulted() || !d || d->semantic()->max_tokens() == 0) continue;  // switches take no value
    const auto* text = boost::any_cast<std::string>(&v.value());
    const auto* texts = boost::any_cast<std::vector<std::string>>(&v.value());
    const bool empty = (text && text->empty()) ||
                       (texts && std::any_of(texts->begin(), texts->end(), [](const auto& t) { return t.empty(); }));
    if (!empty) continue;
    if (positional && name == positional)
      fmt::print(stderr, "{}: the {} argument is empty; give one (see --help)\n", program, name);
    else
      fmt::print(stderr, "{}: --{} was given an empty value; give one or leave the flag out (see --help)\n",
                 program, name);
    return 2;
  }
  return std::nullopt;
}

}  // namespace ldae
