// Models from and to weight files (safetensors / HDF5 with metadata "arch", "classes", ...).
#pragma once
#include <memory>
#include <string>

#include "models/model.h"

namespace pleas {

// Loads the weight file and builds its model strictly (see build_model).
std::unique_ptr<Model> load_model(const std::string& path, Device dev = Device::cpu());
// Writes the model's state_dict with its metadata ("arch" and "classes" kept up to date); atomic.
void save_model(const std::string& path, Model& m);

}  // namespace pleas
