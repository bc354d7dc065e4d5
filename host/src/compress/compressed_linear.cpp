// compressed_linear.cpp: see compressed_linear.hpp.
#include "compress/compressed_linear.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

namespace mcomp::compress {

std::string_view output_format_name(OutputFormat format) {
    switch (format) {
        case OutputFormat::dense:
            return "dense";
        case OutputFormat::gptq:
            return "gptq";
        case OutputFormat::gptq_v2:
            return "gptq_v2";
        case OutputFormat::awq:
            return "awq";
        case OutputFormat::compressed_tensors:
            return "compressed-tensors";
        case OutputFormat::sparse_24_bitmask:
            return "sparse-24-bitmask";
    }
    return "?";
}

Expected<OutputFormat> parse_output_format(std::string_view name) {
    for (const OutputFormat format :
         {OutputFormat::dense, OutputFormat::gptq, OutputFormat::gptq_v2, OutputFormat::awq,
          OutputFormat::compressed_tensors, OutputFormat::sparse_24_bitmask}) {
        if (output_format_name(format) == name) {
            return format;
        }
    }
    return make_error(ErrorKind::bad_input,
                      fmt::format("unknown output format '{}'; expected one of dense, gptq, "
                                  "gptq_v2, awq, compressed-tensors, sparse-24-bitmask",
                                  name));
}

bool is_packed(OutputFormat format) {
    return format != OutputFormat::dense && format != OutputFormat::sparse_24_bitmask;
}

WeightPolicy weight_policy_for(const std::vector<OutputFormat>& formats, DType dense_dtype) {
    WeightPolicy policy;
    policy.dense_dtype = dense_dtype;
    for (const OutputFormat format : formats) {
        if (format == OutputFormat::gptq || format == OutputFormat::gptq_v2 ||
            format == OutputFormat::awq) {
            policy.scale_dtype = DType::f16;
        } else if (format == OutputFormat::compressed_tensors && !policy.scale_dtype) {
            policy.scale_dtype = dense_dtype;
        }
    }
    return policy;
}

void round_to_dtype(std::vector<float>& values, DType dtype) {
    if (dtype == DType::f16) {
        for (float& value : values) {
            value = f16_to_f32(f32_to_f16(value));
        }
    } else if (dtype == DType::bf16) {
        for (float& value : values) {
            value = bf16_to_f32(f32_to_bf16(value));
        }
    }
}

std::int64_t CompressedLinear::zero_count() const {
    return static_cast<std::int64_t>(std::count(weight.begin(), weight.end(), 0.0f));
}

Status apply_layer_result(CompressedLinear& record, LayerResult result, int stage_index,
                          const WeightPolicy& policy) {
    if (result.out_features != record.out_features || result.in_features != record.in_features) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: the result is [{}, {}], the layer [{}, {}]",
                                      record.prefix, result.out_features, result.in_features,
                                      record.out_features, record.in_features));
    }
    record.stages.push_back(stage_index);
    record.masked = record.masked || result.has_mask();
    record.quantized = false;
    record.weight_from_codes = false;
    if (result.has_quant() && policy.scale_dtype) {
        QuantizedLinear quant;
        quant.name = record.prefix;
        quant.out_features = record.out_features;
        quant.in_features = record.in_features;
        quant.bits = result.bits;
        quant.group_size = result.group_size;
        quant.sym = result.sym != 0;
        quant.desc_act = result.desc_act != 0;
        quant.codes = std::move(result.codes);
        quant.scales = std::move(result.scales);
        quant.zeros = std::move(result.zeros);
        quant.g_idx = std::move(result.g_idx);
        Status valid = validate_quantized_linear(quant);
        if (!valid) {
            return make_error(ErrorKind::internal,
                              fmt::format("stage {}: the technique returned an inconsistent "
                                          "quantized layer: {}",
                                          stage_index + 1, valid.error().message));
        }
        if (spdlog::should_log(spdlog::level::debug) && !result.weight.empty()) {
            const std::vector<float> exact = dequantize(quant);
            float largest = 0.0f;
            for (std::size_t i = 0; i < exact.size(); ++i) {
                largest = std::max(largest, std::fabs(exact[i] - result.weight[i]));
            }
            spdlog::debug("{}: max |weight - dequantized codes| = {:g} (fp32 scales)",
                          record.prefix, largest);
        }
        // with_scales_rounded() on the scales alone: the codes are not copied.
        QuantizedLinear scales_only;
        scales_only.scales = std::move(quant.scales);
        quant.scales = with_scales_rounded(scales_only, *policy.scale_dtype).scales;
        record.quant = std::move(quant);
        if (policy.technique_weights_downstream) {
            if (result.weight.size() != record.quant.codes.size()) {
                return make_error(
                    ErrorKind::internal,
                    fmt::format("{}: the technique's weight was not kept", record.prefix));
            }
            record.weight = std::move(result.weight);
            round_to_dtype(record.weight, policy.dense_dtype);
        } else {
            record.weight = dequantize(record.quant);
            record.weight_from_codes = true;
        }
        record.quantized = true;
        return {};
    }
    record.weight = std::move(result.weight);
    round_to_dtype(record.weight, policy.dense_dtype);
    return {};
}

}  // namespace mcomp::compress
