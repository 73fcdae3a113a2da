#include "models/model_io.h"

#include "engine/weights.h"
#include "models/vit.h"

namespace pleas {

std::unique_ptr<Model> load_model(const std::string& path, Device dev) {
  WeightFile wf = load_weights(path);
  PLEAS_CHECK(!wf.tensors.empty(), path, ": the weight file holds no tensors");
  return build_model(wf.tensors, wf.metadata, dev, path);
}

void save_model(const std::string& path, Model& m) {
  WeightFile wf;
  wf.tensors = m.state_dict();
  wf.metadata = m.metadata;
  if (!wf.metadata.count("arch")) wf.metadata["arch"] = m.arch();
  std::string blocks = block_metadata(m);
  if (blocks.empty()) wf.metadata.erase("pleas_blocks");
  else wf.metadata["pleas_blocks"] = blocks;
  // LayerNorm views, like blocks, from the layers themselves (not from metadata that may be stale).
  if (auto* v = dynamic_cast<VisionTransformer*>(&m)) {
    const std::string views = norm_view_metadata(*v);
    if (views.empty()) wf.metadata.erase("pleas_norm_views");
    else wf.metadata["pleas_norm_views"] = views;
  }
  if (!m.classes.empty()) wf.metadata["classes"] = join_csv(m.classes);
  save_weights(path, wf);
}

}  // namespace pleas
