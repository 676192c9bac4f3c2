// Figures of image panels (show_noise's Fig. 7, 4 and 8 analogues), drawn
// by gnuplot like every figure of the harness (analysis/gnuplot.hpp): each
// panel is written as a PNG of its pixels, and a script places them on a
// grid with the titles, column headers and row labels in real fonts, to
// OUT.png and OUT.pdf. Panels keep their pixels (no smoothing).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace ldae {

struct PanelCell {
  torch::Tensor image;  // (C, H, W), C = 1 or 3; undefined = an empty cell
  double lo = -1, hi = 1;  // values mapped to black .. white (clamped)
};
// A grid of panels: a caption over it, one header per column, one label per row.
struct PanelBlock {
  std::string caption;
  std::vector<std::string> columns, rows;
  std::vector<std::vector<PanelCell>> cells;  // [row][column]
};
struct PanelFigure {
  std::string title, subtitle;
  std::vector<PanelBlock> blocks;  // stacked top to bottom
  int panel_px = 96;               // a panel's long side on the PNG
};

// Write `out_png` (an OUT.png path), OUT.pdf, the script OUT.gp and the
// panels under OUT-panels/; returns the written paths (PNG, PDF, script,
// then panels). InputError when gnuplot is missing or fails, or the folder
// cannot be written.
std::vector<std::string> draw_panels(const PanelFigure& f, const std::string& out_png);

// The figure's size on the PNG in pixels (width, height).
std::pair<int, int> panel_figure_size(const PanelFigure& f);

}  // namespace ldae
