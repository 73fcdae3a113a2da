#include "pleas/budget_footprint.h"

#include <cmath>

#include "engine/error.h"

namespace pleas {

int FootprintModel::group_index(const std::string& name) const {
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].name == name) return int(i);
  return -1;
}

int FootprintModel::add_group(const std::string& name, int64_t d) {
  PLEAS_CHECK(group_index(name) < 0, "footprint: duplicate group '", name, "'");
  PLEAS_CHECK(d > 0, "footprint: group '", name, "' has d = ", d);
  groups.push_back({name, d});
  return int(groups.size()) - 1;
}

void FootprintModel::validate() const {
  for (const auto& g : groups) PLEAS_CHECK(g.d > 0, "footprint: group '", g.name, "' has d = ", g.d);
  const int n = num_groups();
  for (const auto& t : terms) {
    PLEAS_CHECK(t.in >= -1 && t.in < n && t.out >= -1 && t.out < n, "footprint: term '", t.layer,
                "' has group indices (", t.in, ", ", t.out, ") outside [-1, ", n, ")");
    PLEAS_CHECK(std::isfinite(t.params) && t.params >= 0 && std::isfinite(t.flops) && t.flops >= 0,
                "footprint: term '", t.layer, "' has a negative or non-finite coefficient");
  }
}

double term_coefficient(const FootprintTerm& t, Metric m) {
  return m == Metric::params ? t.params : t.flops;
}

double footprint(const FootprintModel& model, const std::vector<double>& r, Metric metric) {
  PLEAS_CHECK(r.size() == model.groups.size(), "footprint: r has ", r.size(), " entries for ",
              model.groups.size(), " groups");
  double total = 0;
  for (const auto& t : model.terms) {
    const double c = term_coefficient(t, metric);
    if (c == 0) continue;
    if (t.in >= 0 && t.out >= 0) {
      const double da = double(model.groups[t.in].d), db = double(model.groups[t.out].d);
      const double ra = r[t.in], rb = r[t.out];
      total += c * da * db * (1 + ra + rb - ra * rb);  // (1 + 2r - r²) when in == out
    } else if (t.in >= 0 || t.out >= 0) {
      const int g = t.in >= 0 ? t.in : t.out;
      total += c * double(model.groups[g].d) * (1 + r[g]);
    } else {
      total += c;
    }
  }
  return total;
}

double relative_footprint(const FootprintModel& model, const std::vector<double>& r, Metric metric) {
  const double f0 = footprint(model, std::vector<double>(model.groups.size(), 0.0), metric);
  PLEAS_CHECK(f0 > 0, "relative_footprint: the model has zero footprint");
  return footprint(model, r, metric) / f0;
}

std::vector<double> r_from_k(const FootprintModel& model, const std::vector<int64_t>& k) {
  PLEAS_CHECK(k.size() == model.groups.size(), "r_from_k: ", k.size(), " entries for ",
              model.groups.size(), " groups");
  std::vector<double> r(k.size());
  for (size_t g = 0; g < k.size(); ++g) {
    PLEAS_CHECK(k[g] >= 0 && k[g] <= model.groups[g].d, "r_from_k: k = ", k[g], " for group '",
                model.groups[g].name, "' with d = ", model.groups[g].d);
    r[g] = 1.0 - double(k[g]) / double(model.groups[g].d);
  }
  return r;
}

FootprintModel footprint_from_layers(const std::vector<FootprintGroup>& groups,
                                     const std::vector<FootprintLayer>& layers) {
  FootprintModel m;
  for (const auto& g : groups) m.add_group(g.name, g.d);
  auto lookup = [&](const std::string& layer, const std::string& name, int64_t extent) {
    if (name.empty()) return -1;
    const int gi = m.group_index(name);
    PLEAS_CHECK(gi >= 0, "footprint_from_layers: layer '", layer, "' names unknown group '", name, "'");
    PLEAS_CHECK(m.groups[gi].d == extent, "footprint_from_layers: layer '", layer, "' has ", extent,
                " channels on group '", name, "' of ", m.groups[gi].d, " units");
    return gi;
  };
  for (const auto& L : layers) {
    PLEAS_CHECK(L.out_ch > 0 && L.positions > 0, "footprint_from_layers: layer '", L.name,
                "' has out_ch ", L.out_ch, ", positions ", L.positions);
    const int out = lookup(L.name, L.out_group, L.out_ch);
    const double out_extent = out >= 0 ? 1.0 : double(L.out_ch);  // ungrouped extent folds into c
    if (L.kind == TermKind::norm) {
      m.terms.push_back({L.name, TermKind::norm, -1, out, 2.0 * out_extent, 0.0});
      continue;
    }
    PLEAS_CHECK(L.kind == TermKind::conv || L.kind == TermKind::linear, "footprint_from_layers: layer '",
                L.name, "' must be conv, linear or norm");
    PLEAS_CHECK(L.in_ch > 0 && L.kh > 0 && L.kw > 0, "footprint_from_layers: layer '", L.name,
                "' has in_ch ", L.in_ch, ", kernel ", L.kh, "x", L.kw);
    const int in = lookup(L.name, L.in_group, L.in_ch);
    const double in_extent = in >= 0 ? 1.0 : double(L.in_ch);
    const double c = double(L.kh * L.kw) * in_extent * out_extent;  // weights [out, in, kh, kw]
    m.terms.push_back({L.name + ".weight", L.kind, in, out, c, c * double(L.positions)});
    if (L.bias) m.terms.push_back({L.name + ".bias", TermKind::bias, -1, out, out_extent, 0.0});
  }
  m.validate();
  return m;
}

// Spatial output size of a convolution / pooling.
static int64_t conv_out(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

FootprintModel footprint_cifar_resnet(int blocks_per_stage, std::vector<int64_t> widths,
                                      int64_t num_classes, int64_t image) {
  PLEAS_CHECK(blocks_per_stage > 0 && widths.size() == 3 && num_classes > 0 && image > 0,
              "footprint_cifar_resnet: need blocks_per_stage > 0, 3 widths, classes and image > 0");
  std::vector<FootprintGroup> groups;
  std::vector<FootprintLayer> layers;
  for (int s = 0; s < 3; ++s) groups.push_back({"stream" + std::to_string(s + 1), widths[s]});
  int64_t hw = image;
  layers.push_back({"conv1", TermKind::conv, "", "stream1", 3, widths[0], 3, 3, hw * hw, false});
  layers.push_back({"bn1", TermKind::norm, "", "stream1", 0, widths[0], 1, 1, 1, false});
  for (int s = 0; s < 3; ++s) {
    for (int b = 0; b < blocks_per_stage; ++b) {
      const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      const bool down = (b == 0 && s > 0);
      const std::string in_stream = "stream" + std::to_string(down ? s : s + 1);
      const std::string out_stream = "stream" + std::to_string(s + 1);
      const int64_t in_ch = down ? widths[s - 1] : widths[s];
      if (down) hw = conv_out(hw, 3, 2, 1);
      groups.push_back({p + ".inner", widths[s]});
      layers.push_back({p + ".conv1", TermKind::conv, in_stream, p + ".inner", in_ch, widths[s], 3, 3, hw * hw, false});
      layers.push_back({p + ".bn1", TermKind::norm, "", p + ".inner", 0, widths[s], 1, 1, 1, false});
      layers.push_back({p + ".conv2", TermKind::conv, p + ".inner", out_stream, widths[s], widths[s], 3, 3, hw * hw, false});
      layers.push_back({p + ".bn2", TermKind::norm, "", out_stream, 0, widths[s], 1, 1, 1, false});
    }
  }
  layers.push_back({"linear", TermKind::linear, "stream3", "", widths[2], num_classes, 1, 1, 1, true});
  return footprint_from_layers(groups, layers);  // linear.bias: an ungrouped constant
}

FootprintModel footprint_resnet(std::vector<int> layers, bool bottleneck, int64_t num_classes,
                                int64_t image) {
  PLEAS_CHECK(layers.size() == 4 && num_classes > 0 && image > 0,
              "footprint_resnet: need 4 stage depths, classes and image > 0");
  const int64_t expansion = bottleneck ? 4 : 1;
  const int64_t planes[4] = {64, 128, 256, 512};
  std::vector<FootprintGroup> groups;
  std::vector<FootprintLayer> L;
  // layer1.0 has a downsample iff the stream width differs from conv1's 64 channels.
  const bool stem_group = 64 != planes[0] * expansion;
  if (stem_group) groups.push_back({"stem", 64});
  for (int s = 0; s < 4; ++s) groups.push_back({"stream" + std::to_string(s + 1), planes[s] * expansion});
  const std::string stem = stem_group ? "stem" : "stream1";
  int64_t hw = conv_out(image, 7, 2, 3);
  L.push_back({"conv1", TermKind::conv, "", stem, 3, 64, 7, 7, hw * hw, false});
  L.push_back({"bn1", TermKind::norm, "", stem, 0, 64, 1, 1, 1, false});
  hw = conv_out(hw, 3, 2, 1);  // maxpool
  std::string prev = stem;
  int64_t prev_ch = 64;
  for (int s = 0; s < 4; ++s) {
    const std::string stream = "stream" + std::to_string(s + 1);
    const int64_t width = planes[s], out_ch = planes[s] * expansion;
    for (int b = 0; b < layers[s]; ++b) {
      const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      const bool down = b == 0 && (stride != 1 || prev_ch != out_ch);
      const int64_t hw_out = conv_out(hw, 3, stride, 1);
      const std::string in1 = p + ".inner1";
      groups.push_back({in1, width});
      if (!bottleneck) {
        L.push_back({p + ".conv1", TermKind::conv, prev, in1, prev_ch, width, 3, 3, hw_out * hw_out, false});
        L.push_back({p + ".bn1", TermKind::norm, "", in1, 0, width, 1, 1, 1, false});
        L.push_back({p + ".conv2", TermKind::conv, in1, stream, width, out_ch, 3, 3, hw_out * hw_out, false});
        L.push_back({p + ".bn2", TermKind::norm, "", stream, 0, out_ch, 1, 1, 1, false});
      } else {  // torchvision v1.5: the stride sits on the 3x3 conv2
        const std::string in2 = p + ".inner2";
        groups.push_back({in2, width});
        L.push_back({p + ".conv1", TermKind::conv, prev, in1, prev_ch, width, 1, 1, hw * hw, false});
        L.push_back({p + ".bn1", TermKind::norm, "", in1, 0, width, 1, 1, 1, false});
        L.push_back({p + ".conv2", TermKind::conv, in1, in2, width, width, 3, 3, hw_out * hw_out, false});
        L.push_back({p + ".bn2", TermKind::norm, "", in2, 0, width, 1, 1, 1, false});
        L.push_back({p + ".conv3", TermKind::conv, in2, stream, width, out_ch, 1, 1, hw_out * hw_out, false});
        L.push_back({p + ".bn3", TermKind::norm, "", stream, 0, out_ch, 1, 1, 1, false});
      }
      if (down) {
        L.push_back({p + ".downsample.0", TermKind::conv, prev, stream, prev_ch, out_ch, 1, 1, hw_out * hw_out, false});
        L.push_back({p + ".downsample.1", TermKind::norm, "", stream, 0, out_ch, 1, 1, 1, false});
      }
      hw = hw_out;
      prev = stream;
      prev_ch = out_ch;
    }
  }
  L.push_back({"fc", TermKind::linear, prev, "", prev_ch, num_classes, 1, 1, 1, true});
  return footprint_from_layers(groups, L);
}

}  // namespace pleas
