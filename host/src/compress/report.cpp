// report.cpp: see report.hpp.
#include "compress/report.hpp"

#include <fmt/format.h>

namespace mcomp::compress {

using nlohmann::json;

std::string format_bytes(double num_bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (num_bytes >= 1024.0 && unit < 4) {
        num_bytes /= 1024.0;
        ++unit;
    }
    return unit == 0 ? fmt::format("{:.0f} {}", num_bytes, units[unit])
                     : fmt::format("{:.1f} {}", num_bytes, units[unit]);
}

namespace {

std::string ppl_text(const json& value) {
    return value.is_number() ? fmt::format("{:.4f}", value.get<double>()) : std::string("-");
}

void eval_section(const json& report, std::string& out) {
    if (!report.contains("eval") || report["eval"].empty()) {
        return;
    }
    out += "## Perplexity\n\n| text | seqlen | windows | before | after | format | ratio |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for (const json& text : report["eval"]) {
        for (const json& after : text["after"]) {
            const double before = text["before"]["ppl"].get<double>();
            const double ppl = after["ppl"].get<double>();
            out += fmt::format("| {} | {} | {} | {} | {} | {} | {:.3f} |\n",
                               text["text"].get<std::string>(), text["seqlen"].get<std::int64_t>(),
                               text["windows"].get<std::int64_t>(), ppl_text(text["before"]["ppl"]),
                               ppl_text(after["ppl"]), after["format"].get<std::string>(),
                               ppl / before);
        }
    }
    out += "\n";
}

void output_section(const json& report, std::string& out) {
    out +=
        "## Outputs\n\n| format | folder | files | weights | bits/weight (compressed "
        "linears) | bits/param (weights file) | sparsity |\n|---|---|---|---|---|---|---|\n";
    for (const json& output : report["outputs"]) {
        const std::string sparsity = output.contains("sparsity")
                                         ? fmt::format("{:.3f}", output["sparsity"].get<double>())
                                         : std::string("-");
        out += fmt::format("| {} | {} | {} | {} | {:.3f} | {:.3f} | {} |\n",
                           output["format"].get<std::string>(), output["dir"].get<std::string>(),
                           format_bytes(output["file_bytes"].get<double>()),
                           format_bytes(output["weight_file_bytes"].get<double>()),
                           output["bits_per_weight"].get<double>(),
                           output["file_bits_per_param"].get<double>(), sparsity);
    }
    out += "\n";
}

void timing_section(const json& report, std::string& out) {
    out +=
        "## Stages\n\n| # | technique | device | params | layers | time | RSS (largest "
        "after a layer group) |\n";
    out += "|---|---|---|---|---|---|---|\n";
    int index = 1;
    for (const json& stage : report["stages"]) {
        out += fmt::format("| {} | {} | {} | `{}` | {} | {:.2f} s | {} |\n", index++,
                           stage["use"].get<std::string>(), stage["device"].get<std::string>(),
                           stage["params"].dump(), stage["layers"].get<std::int64_t>(),
                           stage["seconds"].get<double>(),
                           format_bytes(stage["peak_rss_bytes"].get<double>()));
    }
    out +=
        "\n## Phases\n\n| phase | time | RSS at its end | process peak RSS so far |\n"
        "|---|---|---|---|\n";
    for (const json& phase : report["phases"]) {
        out += fmt::format("| {} | {:.2f} s | {} | {} |\n", phase["name"].get<std::string>(),
                           phase["seconds"].get<double>(),
                           format_bytes(phase["rss_bytes"].get<double>()),
                           format_bytes(phase["peak_rss_bytes"].get<double>()));
    }
    out += fmt::format("\nTotal {:.2f} s, peak RSS {}.", report["total_seconds"].get<double>(),
                       format_bytes(report["peak_rss_bytes"].get<double>()));
    if (report.value("resumed_at_block", 0) > 0) {
        out += fmt::format(" Resumed at block {} (times cover this run and the saved ones).",
                           report["resumed_at_block"].get<std::int64_t>());
    }
    out += "\n\n";
}

}  // namespace

std::string render_report_markdown(const json& report) {
    std::string out = "# mcomp report\n\n";
    out +=
        fmt::format("- model: `{}` ({} parameters)\n", report["model"]["path"].get<std::string>(),
                    report["model"]["params"].get<std::int64_t>());
    out +=
        fmt::format("- pipeline: `{}` (sha256 {})\n", report["pipeline"]["path"].get<std::string>(),
                    report["pipeline"]["sha256"].get<std::string>());
    if (report["calibration"].is_object()) {
        const json& calibration = report["calibration"];
        out += fmt::format("- calibration: {} samples x {} tokens, seed {}\n",
                           calibration["samples"].get<std::int64_t>(),
                           calibration["seqlen"].get<std::int64_t>(),
                           calibration["seed"].get<std::int64_t>());
    }
    out += fmt::format("- mcomp {}\n\n", report["mcomp_version"].get<std::string>());
    eval_section(report, out);
    output_section(report, out);
    timing_section(report, out);
    out += "## Pipeline\n\n```toml\n" + report["pipeline"]["text"].get<std::string>();
    if (!out.empty() && out.back() != '\n') {
        out += "\n";
    }
    out += "```\n";
    return out;
}

std::string summarize_report(const json& report) {
    std::string out;
    for (const json& output : report["outputs"]) {
        out += fmt::format("wrote {} ({}, {}; {:.2f} bits/weight over compressed linears)\n",
                           output["dir"].get<std::string>(), output["format"].get<std::string>(),
                           format_bytes(output["file_bytes"].get<double>()),
                           output["bits_per_weight"].get<double>());
    }
    for (const json& text : report["eval"]) {
        for (const json& after : text["after"]) {
            out += fmt::format("ppl {}: {:.4f} -> {:.4f} ({})\n", text["text"].get<std::string>(),
                               text["before"]["ppl"].get<double>(), after["ppl"].get<double>(),
                               after["format"].get<std::string>());
        }
    }
    out += fmt::format("total {:.1f} s, peak RSS {}\n", report["total_seconds"].get<double>(),
                       format_bytes(report["peak_rss_bytes"].get<double>()));
    return out;
}

}  // namespace mcomp::compress
