// Footprint (parameters or multiply-adds) of a partially merged pair of models, as a function of
// the per-group fraction r_g of units kept separate (PLeaS, Appendix A.2).
//
// A permutation group g has d_g units. Merging k_g = round((1 - r_g)·d_g) of them leaves
// d_g·(1 + r_g) units in the merged model (k_g merged + 2·(d_g - k_g) separate). In the
// block-structured merged model a separate unit of model A reads only the merged and A-separate
// inputs, and a merged unit reads all inputs, so a layer with input group a, output group b and
// c weights per unit pair has
//     c·d_a·d_b·(1 + r_a + r_b - r_a·r_b)   weights   (= c·d_a·d_b·(2 - m_a·m_b), m = 1 - r)
//     c·d·(1 + r)                           when only one axis is grouped (= c·d·(2 - m))
//     c                                     when none is (e.g. the classifier bias)
// (a == b, one group on both axes: c·d²·(1 + 2r - r²) = c·d²·(2 - m²)). FLOPs use the same forms
// with c multiplied by the number of output positions. Footprint(0) is one model; at r = 1 every
// grouped term doubles (two models side by side), ungrouped terms stay.
//
// Term coefficients are "per unit of each grouped axis": the extents of ungrouped axes (input
// image channels, classes) are folded into the coefficient. Footprints count
//   params: conv/linear weights and biases, normalization weight + bias (2 per unit); running
//           statistics are buffers and are not counted;
//   flops:  conv/linear multiply-adds only (output positions × k·k·C_in per output channel);
//           normalization, activations, pooling, residual additions and biases are not counted
//           (the merged-model FLOP counter counts the same things).
//
// Group structure used by the builders (the PLeaS core uses the same names):
//   torchvision ResNet (BasicBlock or Bottleneck):
//     "stream1".."stream4": the residual stream of each stage: every block output, the
//         downsample conv/bn of the stage's first block, and for stream1 also conv1/bn1 when
//         layer1.0 has no downsample (ResNet-18/34: 64 = 64 channels, one identity shortcut);
//     "stem": conv1/bn1 output, only when layer1.0 has a downsample (ResNet-50: 64 -> 256,
//         so conv1 cannot share stream1's permutation);
//     "layerS.B.inner1" (and "layerS.B.inner2" for bottlenecks): a block's conv1 (conv2) output.
//     conv1 reads the image (ungrouped); fc reads the last stream, writes classes (ungrouped);
//     fc.bias is an ungrouped constant.
//   CIFAR ResNet (akamaster, option-A shortcuts, no shortcut parameters):
//     "stream1".."stream3" (conv1/bn1 output is stream1), "layerS.B.inner" (block conv1 output);
//     block conv1: stream_in -> inner (the first block of stages 2 and 3 reads the previous
//     stage's stream), conv2: inner -> streamS; linear: stream3 -> classes, bias constant.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pleas {

struct FootprintGroup {
  std::string name;
  int64_t d = 0;     // units in one model (channels; attention heads for a ViT head group)
  int64_t unit = 1;  // channels per unit (a head's width for head groups)
};

enum class TermKind { conv, linear, norm, bias };
enum class Metric { params, flops };

struct FootprintTerm {
  std::string layer;  // e.g. "layer1.0.conv1.weight"
  TermKind kind = TermKind::conv;
  int in = -1;        // group index of the input axis, -1 when ungrouped
  int out = -1;       // group index of the output axis, -1 when ungrouped
  double params = 0;  // coefficient per unit of each grouped axis (see the header comment)
  double flops = 0;
};

struct FootprintModel {
  std::vector<FootprintGroup> groups;
  std::vector<FootprintTerm> terms;

  int num_groups() const { return int(groups.size()); }
  int group_index(const std::string& name) const;  // -1 when absent
  int add_group(const std::string& name, int64_t d);  // returns the index; throws on duplicates
  void validate() const;  // indices in range, coefficients finite and >= 0, d > 0
};

double term_coefficient(const FootprintTerm& t, Metric m);

// Footprint(r) in absolute units (parameters or multiply-adds). r has one entry per group in [0,1].
double footprint(const FootprintModel& model, const std::vector<double>& r, Metric metric);
// Footprint(r) / Footprint(0): 1 = one model fully merged, 2 = both models side by side
// (exactly 2 for FLOPs; 2 - (ungrouped constants)/Footprint(0) for params, e.g. the fc bias).
double relative_footprint(const FootprintModel& model, const std::vector<double>& r, Metric metric);
// r_g = 1 - k_g / d_g.
std::vector<double> r_from_k(const FootprintModel& model, const std::vector<int64_t>& k);

// ---- builders ----

// One layer of an explicit description (for building the model from a real network).
struct FootprintLayer {
  std::string name;
  TermKind kind = TermKind::conv;  // conv, linear or norm
  std::string in_group, out_group;  // empty = ungrouped (then in_ch / out_ch give the extent)
  int64_t in_ch = 0, out_ch = 0;    // norm layers: out_ch only (= in_ch)
  int64_t kh = 1, kw = 1;           // conv kernel
  int64_t positions = 1;            // output positions (OH·OW, tokens) for FLOPs
  bool bias = false;                // conv/linear bias (counted as params, c = 1 per output unit)
};
// Groups must be listed (name, d) first; every grouped axis's extent must equal the group's d.
FootprintModel footprint_from_layers(const std::vector<FootprintGroup>& groups,
                                     const std::vector<FootprintLayer>& layers);

// akamaster CIFAR ResNet-(6n+2): blocks_per_stage = n (3 for ResNet-20).
FootprintModel footprint_cifar_resnet(int blocks_per_stage, std::vector<int64_t> widths = {16, 32, 64},
                                      int64_t num_classes = 10, int64_t image = 32);
// torchvision ResNet: layers {2,2,2,2} (ResNet-18), {3,4,6,3} with bottleneck (ResNet-50).
FootprintModel footprint_resnet(std::vector<int> layers, bool bottleneck, int64_t num_classes = 1000,
                                int64_t image = 224);
inline FootprintModel footprint_resnet18(int64_t classes = 1000) { return footprint_resnet({2, 2, 2, 2}, false, classes); }
inline FootprintModel footprint_resnet50(int64_t classes = 1000) { return footprint_resnet({3, 4, 6, 3}, true, classes); }

}  // namespace pleas
