// checkpoint.hpp: a Hugging Face model folder opened for reading: config.json plus the
// weights of model.safetensors or of the shards that model.safetensors.index.json lists,
// all memory-mapped. Opening checks every tensor the config implies (names, shapes,
// dtypes), so code that runs the model never meets a missing or misshapen weight.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.hpp"
#include "model/safetensors.hpp"
#include "util/expected.hpp"

namespace mcomp {

class Checkpoint {
  public:
    // Opens `model_dir`. Fails, holding nothing, when config.json or the weights are
    // missing or malformed, or disagree with each other.
    static Expected<Checkpoint> open(const std::string& model_dir);

    const ModelConfig& config() const { return config_; }
    const std::string& dir() const { return dir_; }

    // Any tensor of the checkpoint by its stored name, or null.
    const TensorView* find(std::string_view name) const;

    // The input embedding [vocab, hidden] and the output projection [vocab, hidden]; with
    // tied embeddings both are the one tensor the checkpoint stores.
    const TensorView& embed_tokens() const { return *embed_tokens_; }
    const TensorView& lm_head() const { return *lm_head_; }

    // The file that holds tensor `name` (for messages), or "".
    std::string file_of(std::string_view name) const;

    // Every stored tensor name, sorted.
    std::vector<std::string> tensor_names() const;

    // A tensor held in memory by an in-memory checkpoint (from_tensors).
    struct OwnedTensor {
        std::string name;
        DType dtype = DType::f32;
        std::vector<std::int64_t> shape;
        std::vector<std::byte> bytes;  // little-endian, row-major
    };

    // A checkpoint whose tensors live in memory, e.g. the dense weights a reader of a
    // quantized checkpoint dequantized. `dir` names it in messages (and dir()); `config` is
    // taken as given (its quant_method is not looked at). Validated like open().
    static Expected<Checkpoint> from_tensors(std::string dir, ModelConfig config,
                                             std::vector<OwnedTensor> tensors);

  private:
    struct Entry {
        const TensorView* view = nullptr;
        const SafetensorsFile* file = nullptr;
    };

    Status index_file(const SafetensorsFile& file);
    Status load_shards(const std::string& index_path);
    Status validate();

    std::string dir_;
    ModelConfig config_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, Entry, std::less<>> tensors_;
    // from_tensors(): the data and the views into it (file null in their entries).
    std::vector<std::unique_ptr<OwnedTensor>> owned_;
    std::vector<std::unique_ptr<TensorView>> owned_views_;
    const TensorView* embed_tokens_ = nullptr;
    const TensorView* lm_head_ = nullptr;
};

}  // namespace mcomp
