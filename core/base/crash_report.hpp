// A crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) prints the program's
// name, the signal and a backtrace to stderr before the default action
// (core dump, exit status 128 + signal): a user's report then names the
// function, where a bare "Segmentation fault" names nothing.
#pragma once

namespace ldae {

// Install the handlers (once per process; later calls change the name only).
// `program` must outlive the process (a string literal).
void install_crash_report(const char* program);

}  // namespace ldae
