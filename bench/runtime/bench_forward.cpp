// bench_forward.cpp: forward throughput, in tokens/s, of a Llama-shaped model with random
// weights (TinyLlama-1.1B's shape by default: hidden 2048, intermediate 5632, 22 layers,
// 32 heads, 4 kv heads, vocab 32000) at one sequence length and several batch sizes, on
// the CPU backend or the CUDA backend, next to the matmul peak measured in the same run.
//
// The model goes through the real path: a temporary checkpoint (config.json +
// model.safetensors written with the safetensors writer), Checkpoint::open, LlamaModel,
// every block's weights loaded once onto the device before timing. One timed forward is
// embed → every block → final norm + lm_head to fp32 logits [batch, seq, vocab], ended by a
// synchronize, exactly what transformers' model(input_ids) computes (hf_forward.py).
//
//   mcomp_bench_forward --device cuda --dtypes f32,f16,bf16 --batches 1,2,4,8 --json out.jsonl
//
// Every result is printed as a table row and, with --json, appended as one JSON line.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model/checkpoint.hpp"
#include "model/llama_layout.hpp"
#include "model/safetensors.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/cpu_matmul.hpp"
#include "runtime/llama_model.hpp"
#if MCOMP_HAVE_CUDA
#include "runtime/cuda/cuda_backend.hpp"
#endif

namespace mcomp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// ---- options ------------------------------------------------------------------------------

struct Options {
    std::string device = "cpu";
    std::vector<DType> dtypes = {DType::f32};
    std::int64_t layers = 22;
    std::int64_t hidden = 2048;
    std::int64_t intermediate = 5632;
    std::int64_t heads = 32;
    std::int64_t kv_heads = 4;
    std::int64_t vocab = 32000;
    std::int64_t seq = 512;
    std::vector<std::int64_t> batches = {1, 2, 4, 8};
    int warmup = 1;        // untimed forwards at the first batch size (page-in, pools, JIT)
    int batch_warmup = 1;  // untimed forwards at each batch size before its timed ones
    int iters = 3;         // timed forwards per batch size; the median is reported
    bool peak = true;
    std::int64_t peak_size = 8192;  // the CUDA peak's square GEMM
    std::string json_path;
    std::string tmp_dir;
};

const char* kUsage =
    "usage: mcomp_bench_forward [--device cpu|cuda] [--dtypes f32,f16,bf16] [--layers N]\n"
    "       [--hidden N] [--intermediate N] [--heads N] [--kv-heads N] [--vocab N] [--seq N]\n"
    "       [--batches 1,2,4,8] [--warmup N] [--batch-warmup N] [--iters N] [--no-peak]\n"
    "       [--peak-size N]\n"
    "       [--json PATH] [--tmp DIR]\n";

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t begin = 0;
    while (begin <= text.size()) {
        const std::size_t end = std::min(text.find(',', begin), text.size());
        parts.push_back(text.substr(begin, end - begin));
        begin = end + 1;
    }
    return parts;
}

Expected<DType> parse_dtype_option(const std::string& name) {
    if (name == "f32" || name == "fp32") {
        return DType::f32;
    }
    if (name == "f16" || name == "fp16") {
        return DType::f16;
    }
    if (name == "bf16") {
        return DType::bf16;
    }
    return make_error(ErrorKind::bad_input,
                      "--dtypes: unknown dtype '" + name + "'; use f32, f16 or bf16");
}

Expected<Options> parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        const auto integer = [&](std::int64_t& dst) {
            const std::string text = value();
            dst = text.empty() ? -1 : std::stoll(text);
        };
        std::int64_t number = 0;
        if (arg == "--device") {
            options.device = value();
        } else if (arg == "--dtypes") {
            options.dtypes.clear();
            for (const std::string& name : split(value())) {
                Expected<DType> dtype = parse_dtype_option(name);
                if (!dtype) {
                    return dtype.error();
                }
                options.dtypes.push_back(*dtype);
            }
        } else if (arg == "--batches") {
            options.batches.clear();
            for (const std::string& text : split(value())) {
                options.batches.push_back(std::stoll(text));
            }
        } else if (arg == "--layers") {
            integer(options.layers);
        } else if (arg == "--hidden") {
            integer(options.hidden);
        } else if (arg == "--intermediate") {
            integer(options.intermediate);
        } else if (arg == "--heads") {
            integer(options.heads);
        } else if (arg == "--kv-heads") {
            integer(options.kv_heads);
        } else if (arg == "--vocab") {
            integer(options.vocab);
        } else if (arg == "--seq") {
            integer(options.seq);
        } else if (arg == "--warmup") {
            integer(number);
            options.warmup = static_cast<int>(number);
        } else if (arg == "--batch-warmup") {
            integer(number);
            options.batch_warmup = static_cast<int>(number);
        } else if (arg == "--iters") {
            integer(number);
            options.iters = static_cast<int>(number);
        } else if (arg == "--peak-size") {
            integer(options.peak_size);
        } else if (arg == "--no-peak") {
            options.peak = false;
        } else if (arg == "--json") {
            options.json_path = value();
        } else if (arg == "--tmp") {
            options.tmp_dir = value();
        } else {
            return make_error(ErrorKind::bad_input, "unknown argument '" + arg + "'\n" + kUsage);
        }
    }
    if (options.device != "cpu" && options.device != "cuda") {
        return make_error(ErrorKind::bad_input,
                          "--device must be cpu or cuda, got '" + options.device + "'");
    }
    if (options.iters < 1 || options.layers < 1 || options.seq < 1 || options.batches.empty()) {
        return make_error(ErrorKind::bad_input,
                          "--iters, --layers, --seq and --batches must be "
                          "positive\n" +
                              std::string(kUsage));
    }
    return options;
}

// ---- random checkpoint --------------------------------------------------------------------

json config_json(const Options& options) {
    return json{{"architectures", {"LlamaForCausalLM"}},
                {"model_type", "llama"},
                {"vocab_size", options.vocab},
                {"hidden_size", options.hidden},
                {"intermediate_size", options.intermediate},
                {"num_hidden_layers", options.layers},
                {"num_attention_heads", options.heads},
                {"num_key_value_heads", options.kv_heads},
                {"rms_norm_eps", 1e-5},
                {"rope_theta", 10000.0},
                {"rope_scaling", nullptr},
                {"tie_word_embeddings", false},
                {"max_position_embeddings", std::max<std::int64_t>(2048, options.seq)},
                {"bos_token_id", 1},
                {"eos_token_id", 2},
                {"torch_dtype", "float32"}};
}

// Uniform values with standard deviation 0.02 (transformers' initializer_range), from a
// counter-based generator so that threads fill chunks independently and reproducibly.
void fill_random(std::vector<float>& values, std::uint64_t seed) {
    const float half_width = 0.02f * 1.7320508f;  // uniform(−a, a) has std a/√3
    const std::int64_t count = static_cast<std::int64_t>(values.size());
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
        std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(i);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;  // splitmix64 finalizer
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        const float unit = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        values[static_cast<std::size_t>(i)] = (2.0f * unit - 1.0f) * half_width;
    }
}

// config.json and an fp32 model.safetensors in `dir`; norms 1, everything else random.
Status write_random_checkpoint(const std::string& dir, const Options& options) {
    const json config = config_json(options);
    std::ofstream(dir + "/config.json") << config.dump(2);
    Expected<ModelConfig> cfg = parse_model_config(config.dump(), dir + "/config.json");
    if (!cfg) {
        return cfg.error();
    }
    std::vector<ExpectedTensor> expected = expected_block_tensors(*cfg);
    expected.push_back({std::string(kEmbedTokensName), {options.vocab, options.hidden}, ""});
    expected.push_back({std::string(kLmHeadName), {options.vocab, options.hidden}, ""});
    std::vector<std::vector<float>> storage;
    storage.reserve(expected.size());
    std::vector<TensorToWrite> tensors;
    std::uint64_t seed = 1;
    for (const ExpectedTensor& tensor : expected) {
        std::int64_t count = 1;
        for (const std::int64_t extent : tensor.shape) {
            count *= extent;
        }
        std::vector<float> values(static_cast<std::size_t>(count), 1.0f);
        if (tensor.name.find("norm") == std::string::npos) {
            fill_random(values, seed++);
        }
        storage.push_back(std::move(values));
        tensors.push_back({tensor.name, DType::f32, tensor.shape, storage.back().data(),
                           storage.back().size() * sizeof(float)});
    }
    return write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}

// ---- arithmetic ---------------------------------------------------------------------------

// Multiply-adds ×2 of one forward: every linear (lm_head included) and the causal halves
// of Q·Kᵀ and P·V.
double forward_flops(const ModelConfig& cfg, std::int64_t batch, std::int64_t seq) {
    const double tokens = static_cast<double>(batch * seq);
    const double h = static_cast<double>(cfg.hidden_size);
    const double per_block = h * static_cast<double>(cfg.q_size()) +
                             2.0 * h * static_cast<double>(cfg.kv_size()) +
                             static_cast<double>(cfg.q_size()) * h +
                             3.0 * h * static_cast<double>(cfg.intermediate_size);
    const double layers = static_cast<double>(cfg.num_hidden_layers);
    const double linears =
        2.0 * tokens * (layers * per_block + h * static_cast<double>(cfg.vocab_size));
    const double causal_pairs = static_cast<double>(seq) * static_cast<double>(seq + 1) / 2.0;
    const double attention = layers * static_cast<double>(batch * cfg.num_attention_heads) * 4.0 *
                             static_cast<double>(cfg.head_dim) * causal_pairs;
    return linears + attention;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// ---- peaks --------------------------------------------------------------------------------

struct Peak {
    double flops_per_s = 0.0;
    std::string shape;
};

// oneDNN's fp32 matmul on two shapes: square 2048³, and the model's gate_proj at batch 1.
Peak measure_cpu_peak(const ModelConfig& cfg, std::int64_t seq) {
    CpuMatmul matmul;
    Peak best;
    const std::int64_t shapes[2][3] = {{2048, 2048, 2048},
                                       {seq, cfg.hidden_size, cfg.intermediate_size}};
    for (const auto& shape : shapes) {
        const std::int64_t rows = shape[0], in = shape[1], out = shape[2];
        std::vector<float> src(static_cast<std::size_t>(rows * in));
        std::vector<float> weight(static_cast<std::size_t>(out * in));
        std::vector<float> dst(static_cast<std::size_t>(rows * out));
        fill_random(src, 101);
        fill_random(weight, 102);
        matmul.linear(src.data(), rows, in, weight.data(), out, nullptr, dst.data());  // create
        std::vector<double> times;
        for (int rep = 0; rep < 5; ++rep) {
            const Clock::time_point start = Clock::now();
            matmul.linear(src.data(), rows, in, weight.data(), out, nullptr, dst.data());
            times.push_back(seconds_since(start));
        }
        const double rate = 2.0 * static_cast<double>(rows * in * out) / median(times);
        if (rate > best.flops_per_s) {
            best = {rate,
                    std::to_string(rows) + "x" + std::to_string(in) + "x" + std::to_string(out)};
        }
    }
    return best;
}

// The backend's own linear (cuBLAS) on n³ in the compute dtype.
Peak measure_backend_peak(Backend& backend, std::int64_t n) {
    const DType dtype = backend.compute_dtype();
    std::vector<float> host(static_cast<std::size_t>(n * n));
    fill_random(host, 103);
    // upload_weight() stores the operands in the compute dtype.
    TensorView view;
    view.dtype = DType::f32;
    view.shape = {n, n};
    view.data = reinterpret_cast<const std::byte*>(host.data());
    view.num_bytes = host.size() * sizeof(float);
    const Tensor src = backend.upload_weight(view);
    const Tensor weight = backend.upload_weight(view);
    Tensor dst = backend.alloc(dtype, {n, n});
    backend.linear(src, weight, Tensor(), dst);
    backend.synchronize();
    std::vector<double> times;
    for (int rep = 0; rep < 10; ++rep) {
        const Clock::time_point start = Clock::now();
        backend.linear(src, weight, Tensor(), dst);
        backend.synchronize();
        times.push_back(seconds_since(start));
    }
    const std::string size = std::to_string(n);
    return {2.0 * static_cast<double>(n * n * n) / median(times), size + "x" + size + "x" + size};
}

// ---- the forward --------------------------------------------------------------------------

struct Resident {
    std::vector<BlockWeights> blocks;
};

Expected<double> timed_forward(LlamaModel& model, const Resident& resident,
                               const std::vector<std::int32_t>& tokens, std::int64_t batch,
                               std::int64_t seq) {
    Backend& backend = model.backend();
    backend.synchronize();
    const Clock::time_point start = Clock::now();
    Expected<Tensor> hidden = model.embed(tokens, batch, seq);
    if (!hidden) {
        return hidden.error();
    }
    for (std::size_t b = 0; b < resident.blocks.size(); ++b) {
        MCOMP_TRY(
            model.run_block(static_cast<std::int64_t>(b), *hidden, *hidden, resident.blocks[b]));
    }
    Tensor logits = backend.alloc(DType::f32, {batch, seq, model.config().vocab_size});
    MCOMP_TRY(model.logits(*hidden, logits));
    backend.synchronize();
    return seconds_since(start);
}

std::string cpu_model_name() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown CPU";
}

struct Run {
    std::string device;
    DType dtype = DType::f32;
    std::string machine;
    Peak peak;
};

Expected<std::unique_ptr<Backend>> make_backend(const Options& options, DType dtype) {
    if (options.device == "cpu") {
        if (dtype != DType::f32) {
            return make_error(ErrorKind::unsupported, "the CPU backend computes in f32 only");
        }
        return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
    }
#if MCOMP_HAVE_CUDA
    CudaBackendOptions cuda_options;
    cuda_options.compute_dtype = dtype;
    Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create(cuda_options);
    if (!backend) {
        return backend.error();
    }
    return std::unique_ptr<Backend>(std::move(*backend));
#else
    return make_error(ErrorKind::unsupported, "this build has no CUDA backend");
#endif
}

std::string machine_name(const Options& options, Backend& backend) {
#if MCOMP_HAVE_CUDA
    if (options.device == "cuda") {
        return static_cast<CudaBackend&>(backend).description();
    }
#endif
    (void)backend;
    (void)options;
    return cpu_model_name() + ", " + std::to_string(std::thread::hardware_concurrency()) +
           " logical CPUs, " + std::to_string(omp_get_max_threads()) + " OpenMP threads";
}

Status bench_dtype(const Options& options, const Checkpoint& checkpoint, DType dtype,
                   std::ofstream* json_out) {
    Expected<std::unique_ptr<Backend>> backend = make_backend(options, dtype);
    if (!backend) {
        return backend.error();
    }
    LlamaModel model(checkpoint, **backend);
    const ModelConfig& cfg = model.config();
    Run run{options.device, dtype, machine_name(options, **backend), {}};
    if (options.peak) {
        run.peak = options.device == "cpu" ? measure_cpu_peak(cfg, options.seq)
                                           : measure_backend_peak(**backend, options.peak_size);
    }
    Resident resident;
    const Clock::time_point load_start = Clock::now();
    for (std::int64_t b = 0; b < cfg.num_hidden_layers; ++b) {
        Expected<BlockWeights> weights = model.load_block(b);
        if (!weights) {
            return weights.error();
        }
        resident.blocks.push_back(std::move(*weights));
    }
    (*backend)->synchronize();
    const std::string peak = options.peak
                                 ? std::to_string(run.peak.flops_per_s / 1e12).substr(0, 6) +
                                       " TFLOP/s (" + run.peak.shape + ")"
                                 : std::string("not measured");
    std::printf("# %s %s on %s: weights resident in %.1f s; matmul peak %s\n", run.device.c_str(),
                std::string(dtype_name(dtype)).c_str(), run.machine.c_str(),
                seconds_since(load_start), peak.c_str());
    std::printf("%-6s %-5s %5s %5s %10s %12s %10s %8s\n", "device", "dtype", "batch", "seq",
                "median_ms", "tokens/s", "TFLOP/s", "of_peak");

    std::mt19937 rng(7);
    for (std::size_t i = 0; i < options.batches.size(); ++i) {
        const std::int64_t batch = options.batches[i];
        std::vector<std::int32_t> tokens(static_cast<std::size_t>(batch * options.seq));
        for (std::int32_t& token : tokens) {
            token = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(cfg.vocab_size));
        }
        const int untimed = options.batch_warmup + (i == 0 ? options.warmup : 0);
        for (int w = 0; w < untimed; ++w) {
            Expected<double> seconds = timed_forward(model, resident, tokens, batch, options.seq);
            if (!seconds) {
                return seconds.error();
            }
        }
        std::vector<double> times;
        for (int it = 0; it < options.iters; ++it) {
            Expected<double> seconds = timed_forward(model, resident, tokens, batch, options.seq);
            if (!seconds) {
                return seconds.error();
            }
            times.push_back(*seconds);
        }
        const double seconds = median(times);
        const double flops = forward_flops(cfg, batch, options.seq);
        const double rate = flops / seconds;
        const double of_peak = run.peak.flops_per_s > 0.0 ? rate / run.peak.flops_per_s : 0.0;
        const double tokens_per_s = static_cast<double>(batch * options.seq) / seconds;
        std::printf("%-6s %-5s %5lld %5lld %10.2f %12.1f %10.3f %7.1f%%\n", run.device.c_str(),
                    std::string(dtype_name(dtype)).c_str(), static_cast<long long>(batch),
                    static_cast<long long>(options.seq), seconds * 1e3, tokens_per_s, rate / 1e12,
                    100.0 * of_peak);
        std::fflush(stdout);
        if (json_out != nullptr) {
            json line = {{"impl", "mcomp"},
                         {"device", run.device},
                         {"dtype", std::string(dtype_name(dtype))},
                         {"machine", run.machine},
                         {"batch", batch},
                         {"seq", options.seq},
                         {"layers", cfg.num_hidden_layers},
                         {"hidden", cfg.hidden_size},
                         {"intermediate", cfg.intermediate_size},
                         {"heads", cfg.num_attention_heads},
                         {"kv_heads", cfg.num_key_value_heads},
                         {"vocab", cfg.vocab_size},
                         {"times_s", times},
                         {"median_s", seconds},
                         {"tokens_per_s", tokens_per_s},
                         {"flops_per_forward", flops},
                         {"tflops", rate / 1e12},
                         {"peak_tflops", run.peak.flops_per_s / 1e12},
                         {"peak_shape", run.peak.shape},
                         {"fraction_of_peak", of_peak}};
            *json_out << line.dump() << "\n";
            json_out->flush();
        }
    }
    return {};
}

int run(int argc, char** argv) {
    Expected<Options> options = parse_options(argc, argv);
    if (!options) {
        std::fprintf(stderr, "%s\n", options.error().message.c_str());
        return 2;
    }
    namespace fs = std::filesystem;
    const fs::path tmp_root =
        options->tmp_dir.empty() ? fs::temp_directory_path() : fs::path(options->tmp_dir);
    const fs::path dir = tmp_root / ("mcomp-bench-forward-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    struct Cleanup {
        fs::path path;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    } cleanup{dir};

    const Clock::time_point write_start = Clock::now();
    const Status written = write_random_checkpoint(dir.string(), *options);
    if (!written) {
        std::fprintf(stderr, "writing the random checkpoint failed: %s\n",
                     written.error().message.c_str());
        return 1;
    }
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir.string());
    if (!checkpoint) {
        std::fprintf(stderr, "%s\n", checkpoint.error().message.c_str());
        return 1;
    }
    std::printf(
        "# random checkpoint (%lld layers, hidden %lld, intermediate %lld, heads %lld/%lld, "
        "vocab %lld, fp32) written in %.1f s\n",
        static_cast<long long>(options->layers), static_cast<long long>(options->hidden),
        static_cast<long long>(options->intermediate), static_cast<long long>(options->heads),
        static_cast<long long>(options->kv_heads), static_cast<long long>(options->vocab),
        seconds_since(write_start));
    std::ofstream json_out;
    if (!options->json_path.empty()) {
        json_out.open(options->json_path, std::ios::app);
    }
    for (const DType dtype : options->dtypes) {
        const Status status =
            bench_dtype(*options, *checkpoint, dtype, json_out.is_open() ? &json_out : nullptr);
        if (!status) {
            std::fprintf(stderr, "%s %s: %s\n", options->device.c_str(),
                         std::string(dtype_name(dtype)).c_str(), status.error().message.c_str());
            return 1;
        }
    }
    return 0;
}

}  // namespace
}  // namespace mcomp

int main(int argc, char** argv) {
    try {
        return mcomp::run(argc, argv);
    } catch (const std::exception& error) {  // CudaError: a device failure ends the run
        std::fprintf(stderr, "mcomp_bench_forward: %s\n", error.what());
        return 1;
    }
}
