#include "core/base/crash_report.hpp"

#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <initializer_list>

namespace ldae {
namespace {
const char* g_program = "ldae";

void say(const char* s) {
  if (write(STDERR_FILENO, s, std::strlen(s)) < 0) return;  // nothing left to do
}

// Only async-signal-safe calls (write, backtrace_symbols_fd; backtrace is
// primed at install so that its first call does not load libgcc here).
void on_crash(int sig) {
  say(g_program);
  say(": internal error: ");
  say(strsignal(sig));
  say("; backtrace (report it with the command that crashed):\n");
  void* frames[64];
  const int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  raise(sig);
}
}  // namespace

void install_crash_report(const char* program) {
  g_program = program;
  static bool installed = false;
  if (installed) return;
  installed = true;
  void* prime[1];
  backtrace(prime, 1);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_crash);
}

}  // namespace ldae
