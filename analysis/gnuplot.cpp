#include "analysis/gnuplot.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/errors.hpp"

namespace ldae {
namespace fs = std::filesystem;

std::string find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    const auto p = fs::path(dir) / "gnuplot";
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string require_gnuplot() {
  const std::string g = find_gnuplot();
  if (g.empty())
    throw InputError("drawing figures needs gnuplot, which is not on PATH; install it with `make "
                     "deps` (Debian package gnuplot-nox)");
  return g;
}

std::string gp_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string gp_tmp(const std::string& out) { return fmt::format("{}.tmp.{}", out, getpid()); }

std::string gp_output(const std::string& out, int k) {
  return fmt::format("set output (exists(\"ldae_output_{0}\") ? ldae_output_{0} : {1})\n", k, gp_string(out));
}

namespace {
// s as one single-quoted shell word.
std::string shell_quoted(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}
}  // namespace

void run_gnuplot(const std::string& gnuplot, const std::string& script, const std::vector<std::string>& outputs) {
  const std::string err = script + ".err";
  // Scripts name their files relative to their folder, so they redraw anywhere;
  // here each output goes to its temporary first (gp_output's variables).
  std::string vars;
  for (size_t k = 0; k < outputs.size(); ++k)
    vars += fmt::format("ldae_output_{}={}; ", k, gp_string(gp_tmp(fs::path(outputs[k]).filename().string())));
  const std::string cmd =
      fmt::format("cd {} && {} -e {} {} 2> {}", shell_quoted(fs::path(script).parent_path().string()),
                  shell_quoted(gnuplot), shell_quoted(vars), shell_quoted(fs::path(script).filename().string()),
                  shell_quoted(fs::absolute(err).string()));
  const int rc = std::system(cmd.c_str());
  std::ifstream e(err);
  std::stringstream msg;
  msg << e.rdbuf();
  fs::remove(err);
  // On any failure the temporaries go: nothing half-made stays beside the outputs.
  auto drop_temporaries = [&] {
    std::error_code ec;
    for (const auto& o : outputs) fs::remove(gp_tmp(o), ec);
  };
  if (rc != 0) {
    drop_temporaries();
    throw InputError(fmt::format("gnuplot failed on {} (exit {}): {}; check the gnuplot install "
                                 "(gnuplot-nox with its png and pdf terminals)", script, rc, msg.str()));
  }
  for (const auto& o : outputs) {
    std::error_code ec;
    fs::rename(gp_tmp(o), o, ec);
    if (ec) {
      drop_temporaries();
      throw InputError(fmt::format("{}: cannot write it ({}); give another output path", o, ec.message()));
    }
  }
}

}  // namespace ldae
