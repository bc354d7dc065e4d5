// bench_wanda.cpp: speed of the `wanda` plugin, loaded through the real host exactly as
// `mcomp run` loads it, on one device.
//
// For each weight shape [out, in] and each mode (unstructured 50%, 2:4) it times, per repeat:
//   norms       - observe() of every calibration sample: the running mean of ‖X_j‖²
//                 (WrappedGPT.add_batch), samples of `tokens` rows already on the device;
//   score+mask  - finish_layer(): |W|·sqrt(scaler_row), the per-row selection, the mask and
//                 the pruned weight written; the number the reference's timing is held
//                 against (its W_metric + sort/topk + scatter).
// Every call goes through call_plugin(), which waits for the instance's CUDA stream, so the
// wall-clock times include the GPU work. The median of the repeats is reported.
//
//   mcomp_bench_wanda --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/bench_util.hpp"
#include "core/discovery.hpp"
#include "core/host_services.hpp"
#include "core/layer_runner.hpp"
#include "core/loader.hpp"
#include "core/params.hpp"
#include "core/registry.hpp"

namespace mcomp {
namespace {

using namespace bench;  // the helpers every layer-technique benchmark shares

// ---- options --------------------------------------------------------------------------------

struct Options {
    DeviceRequest device = DeviceRequest::cpu;
    std::vector<Shape> shapes = {{4096, 4096}, {4096, 11008}};
    int64_t samples = 128;
    int64_t tokens = 2048;
    int repeats = 5;
    std::vector<std::string> modes = {"unstructured", "2:4"};
};

bool parse_options(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        if (value == nullptr) {
            return false;
        }
        ++i;
        if (arg == "--device") {
            const std::string device = value;
            if (device != "cpu" && device != "cuda") {
                return false;
            }
            options.device = device == "cpu" ? DeviceRequest::cpu : DeviceRequest::cuda;
        } else if (arg == "--shapes") {
            if (!parse_shapes(value, options.shapes)) {
                return false;
            }
        } else if (arg == "--samples") {
            options.samples = std::stol(value);
        } else if (arg == "--tokens") {
            options.tokens = std::stol(value);
        } else if (arg == "--repeats") {
            options.repeats = std::stoi(value);
        } else if (arg == "--modes") {
            options.modes.clear();
            const std::string list = std::string(value) + ",";
            for (size_t start = 0, comma = 0; (comma = list.find(',', start)) != std::string::npos;
                 start = comma + 1) {
                const std::string mode = list.substr(start, comma - start);
                if (mode != "unstructured" && mode != "2:4" && mode != "4:8") {
                    return false;
                }
                options.modes.push_back(mode);
            }
        } else {
            return false;
        }
    }
    return options.samples > 0 && options.tokens > 0 && options.repeats > 0 &&
           !options.modes.empty();
}

// ---- one shape, one mode ---------------------------------------------------------------------

struct Timing {
    double norms_s = 0.0;
    double score_mask_s = 0.0;
};

Expected<Timing> bench_one(const LoadedTechnique& technique, const OwnedParams& params,
                           const Options& options, const Shape& shape) {
    const mc_device device = {static_cast<mc_device_type>(technique.device()), 0};
    HostServices host(technique.plugin_id(), "bench", device);
    MCOMP_TRY(host.prepare_device());
    mc_layer_technique table = {};
    std::memcpy(&table, technique.descriptor->layer,
                std::min<size_t>(technique.descriptor->layer->struct_size, sizeof(table)));
    const std::string label = technique.label();
    mc_instance* instance = nullptr;
    MCOMP_TRY(call_plugin(host, label, "create",
                          [&] { return table.create(host.raw(), params.get(), &instance); }));
    const std::unique_ptr<mc_instance, std::function<void(mc_instance*)>> owner(
        instance, [&](mc_instance* p) { table.destroy(p); });

    const size_t numel = static_cast<size_t>(shape.out * shape.in);
    const size_t sample_numel = static_cast<size_t>(options.tokens * shape.in);
    const Buffer weight(host, numel * sizeof(float));
    const Buffer sample(host, sample_numel * sizeof(float));
    const Buffer dst_weight(host, numel * sizeof(float));
    const Buffer dst_mask(host, numel);
    if (weight.data() == nullptr || sample.data() == nullptr || dst_weight.data() == nullptr ||
        dst_mask.data() == nullptr) {
        return make_error(ErrorKind::internal, "out of memory for the benchmark buffers");
    }
    const std::vector<float> weight_values = random_values(numel, 1, 0.02f);
    const std::vector<float> sample_values = random_values(sample_numel, 2, 1.0f);
    MCOMP_TRY(
        host.copy_from_host(device, weight.data(), weight_values.data(), numel * sizeof(float)));
    MCOMP_TRY(host.copy_from_host(device, sample.data(), sample_values.data(),
                                  sample_numel * sizeof(float)));
    MCOMP_TRY(host.synchronize());

    const mc_tensor_view weight_view =
        make_view(MC_DTYPE_F32, device, shape.out, shape.in, weight.data());
    const mc_tensor_view src =
        make_view(MC_DTYPE_F32, device, options.tokens, shape.in, sample.data());
    const mc_layer_info info = {
        sizeof(mc_layer_info), "bench.layer", 0, shape.in, shape.out, device};
    mc_layer_result dst = {};
    dst.struct_size = sizeof(mc_layer_result);
    dst.weight = make_view(MC_DTYPE_F32, device, shape.out, shape.in, dst_weight.data());
    dst.mask = make_view(MC_DTYPE_U8, device, shape.out, shape.in, dst_mask.data());

    std::vector<double> norms_s;
    std::vector<double> score_mask_s;
    // One extra, untimed round first: library warm-up, CUDA module load, pool growth.
    for (int round = 0; round <= options.repeats; ++round) {
        MCOMP_TRY(call_plugin(host, label, "begin_layer",
                              [&] { return table.begin_layer(instance, &info, &weight_view); }));
        auto start = std::chrono::steady_clock::now();
        for (int64_t s = 0; s < options.samples; ++s) {
            MCOMP_TRY(
                call_plugin(host, label, "observe", [&] { return table.observe(instance, &src); }));
        }
        const double norms = seconds_since(start);
        mc_layer_result_plan plan = {sizeof(mc_layer_result_plan), 0, 0};
        MCOMP_TRY(call_plugin(host, label, "plan_result",
                              [&] { return table.plan_result(instance, &plan); }));
        start = std::chrono::steady_clock::now();
        MCOMP_TRY(call_plugin(host, label, "finish_layer",
                              [&] { return table.finish_layer(instance, &dst); }));
        const double score_mask = seconds_since(start);
        if (round > 0) {
            norms_s.push_back(norms);
            score_mask_s.push_back(score_mask);
        }
    }
    return Timing{median(norms_s), median(score_mask_s)};
}

int run(const Options& options) {
    spdlog::set_level(spdlog::level::warn);  // the plugin logs every layer at info
    const Registry registry(default_plugin_search_path());
    auto technique = registry.load_technique("wanda", options.device);
    if (!technique) {
        std::fprintf(stderr, "mcomp_bench_wanda: %s\n", technique.error().message.c_str());
        return 1;
    }
    const char* device_name = options.device == DeviceRequest::cpu ? "cpu" : "cuda";
    std::printf(
        "| device | shape [out, in] | mode | norms: %ld samples x %ld tokens (s) | "
        "score+mask (s) |\n|---|---|---|---|---|\n",
        options.samples, options.tokens);
    for (const Shape& shape : options.shapes) {
        for (const std::string& mode : options.modes) {
            std::vector<ParamArg> args = {{"sparsity", 0.5, ""}};
            if (mode != "unstructured") {
                args.push_back({"n", int64_t{mode == "2:4" ? 2 : 4}, ""});
                args.push_back({"m", int64_t{mode == "2:4" ? 4 : 8}, ""});
            }
            auto params = bind_params(*technique->manifest, args);
            if (!params) {
                std::fprintf(stderr, "mcomp_bench_wanda: %s\n", params.error().message.c_str());
                return 1;
            }
            auto timing = bench_one(*technique, *params, options, shape);
            if (!timing) {
                std::fprintf(stderr, "mcomp_bench_wanda: %s\n", timing.error().message.c_str());
                return 1;
            }
            std::printf("| %s | %ld x %ld | %s | %.4f | %.5f |\n", device_name, shape.out, shape.in,
                        mode.c_str(), timing->norms_s, timing->score_mask_s);
            std::fflush(stdout);
        }
    }
    return 0;
}

}  // namespace
}  // namespace mcomp

int main(int argc, char** argv) {
    mcomp::Options options;
    if (!mcomp::parse_options(argc, argv, options)) {
        std::fprintf(stderr,
                     "usage: mcomp_bench_wanda [--device cpu|cuda] [--shapes OUTxIN,...] "
                     "[--samples N] [--tokens T] [--repeats R] [--modes unstructured,2:4,4:8]\n");
        return 2;
    }
    return mcomp::run(options);
}
