#include "analysis/panels.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>

#include "analysis/canvas.hpp"
#include "analysis/gnuplot.hpp"
#include "core/base/atomic_file.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

constexpr int kLeft = 90, kRight = 20, kPad = 8, kTitle = 56, kCaption = 22, kHeader = 20, kBottom = 10;

// A panel's pixel size: its long side panel_px, aspect kept.
std::pair<int, int> cell_px(const PanelFigure& f, const PanelBlock& b) {
  for (const auto& row : b.cells)
    for (const auto& c : row)
      if (c.image.defined()) {
        const double h = double(c.image.size(1)), w = double(c.image.size(2)), m = std::max(h, w);
        return {int(f.panel_px * w / m), int(f.panel_px * h / m)};
      }
  return {f.panel_px, f.panel_px};
}

int block_height(const PanelFigure& f, const PanelBlock& b) {
  return (b.caption.empty() ? 0 : kCaption) + kHeader + int(b.rows.size()) * (cell_px(f, b).second + kPad);
}

}  // namespace

std::pair<int, int> panel_figure_size(const PanelFigure& f) {
  int w = 0, h = kTitle + kBottom;
  for (const auto& b : f.blocks) {
    w = std::max(w, kLeft + int(b.columns.size()) * (cell_px(f, b).first + kPad) + kRight);
    h += block_height(f, b);
  }
  // Wide enough for the title lines (about 6.5 and 5.5 pixels a character).
  const int text_w = 24 + int(std::max(6.5 * double(f.title.size()), 5.5 * double(f.subtitle.size())));
  return {std::max({w, 480, text_w}), h};
}

std::vector<std::string> draw_panels(const PanelFigure& f, const std::string& out_png) {
  const std::string gnuplot = require_gnuplot();
  const fs::path out(out_png);
  const std::string stem = out.stem().string(), dir = out.parent_path().empty() ? "." : out.parent_path().string();
  const std::string panels_dir = stem + "-panels";
  fs::create_directories(fs::path(dir) / panels_dir);
  const std::string pdf = (fs::path(dir) / (stem + ".pdf")).string(), gpf = (fs::path(dir) / (stem + ".gp")).string();
  const auto [W, H] = panel_figure_size(f);
  std::vector<std::string> panels;
  std::string labels, plots;
  // Screen coordinates: gnuplot's origin is the bottom left, ours the top left.
  auto sx = [&](double x) { return x / W; };
  auto sy = [&](double y) { return 1.0 - y / H; };
  auto label = [&](const std::string& text, double x, double y, const char* how) {
    labels += fmt::format("set label {} at screen {:.5f},{:.5f} {}\n", gp_string(text), sx(x), sy(y), how);
  };
  label(f.title, 12, 22, "left font \",14\"");
  label(f.subtitle, 12, 42, "left font \",9\" tc rgb \"#555555\"");
  int y = kTitle;
  for (size_t bi = 0; bi < f.blocks.size(); ++bi) {
    const auto& b = f.blocks[bi];
    const auto [cw, ch] = cell_px(f, b);
    if (!b.caption.empty()) label(b.caption, 12, y + 14, "left font \",10\" tc rgb \"#555555\""), y += kCaption;
    for (size_t c = 0; c < b.columns.size(); ++c)
      label(b.columns[c], kLeft + c * (cw + kPad) + cw / 2.0, y + 14, "center font \",9\"");
    y += kHeader;
    for (size_t r = 0; r < b.rows.size(); ++r) {
      const int top = y + int(r) * (ch + kPad);
      label(b.rows[r], kLeft - 8, top + ch / 2.0, "right font \",9\"");
      for (size_t c = 0; c < b.cells[r].size(); ++c) {
        const auto& cell = b.cells[r][c];
        if (!cell.image.defined()) continue;
        // The panel's own pixels, 1:1; gnuplot scales them without smoothing.
        Canvas px(int(cell.image.size(2)), int(cell.image.size(1)));
        px.image(cell.image, 0, 0, 1, cell.lo, cell.hi);
        const std::string name = fmt::format("{}/b{}r{}c{}.png", panels_dir, bi, r, c);
        px.save_png((fs::path(dir) / name).string());
        panels.push_back((fs::path(dir) / name).string());
        const double left = kLeft + double(c) * (cw + kPad);
        plots += fmt::format("set origin {:.5f},{:.5f}\nset size {:.5f},{:.5f}\nplot {} binary filetype=png with rgbimage\n",
                             sx(left), sy(top + ch), double(cw) / W, double(ch) / H, gp_string(name));
      }
    }
    y += int(b.rows.size()) * (ch + kPad);
  }
  // One body, drawn to both terminals (a multiplot cannot be replotted).
  const std::string body = "set multiplot\n" + labels +
                           "unset border\nunset tics\nunset key\nset margins 0,0,0,0\n"
                           "set autoscale xfix\nset autoscale yfix\n" + plots +
                           "unset multiplot\nunset output\nunset label\n";
  const std::string script = fmt::format(
      "# drawn by show_noise; run `gnuplot {0}` to redraw (panels in {1}/)\n"
      "set encoding utf8\n"
      "set terminal pngcairo noenhanced size {2},{3} font \"DejaVu Sans,10\"\n"
      "{4}{6}"
      "set terminal pdfcairo noenhanced size {7:.2f}in,{8:.2f}in font \"DejaVu Sans,9\"\n"
      "{5}{6}",
      fs::path(gpf).filename().string(), panels_dir, W, H, gp_output(out.filename().string(), 0),
      gp_output(fs::path(pdf).filename().string(), 1), body, W / 100.0, H / 100.0);
  write_text_atomically(gpf, script);
  run_gnuplot(gnuplot, gpf, {out.string(), pdf});
  std::vector<std::string> written = {out.string(), pdf, gpf};
  written.insert(written.end(), panels.begin(), panels.end());
  return written;
}

}  // namespace ldae
