// report.hpp: report.md, the human-readable twin of report.json (which run_pipeline.cpp
// assembles): perplexity before/after per evaluation text, size and bits per weight per
// output format, time and peak memory per stage and phase, and the exact pipeline.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mcomp::compress {

std::string render_report_markdown(const nlohmann::json& report);

// A few lines for the terminal at the end of `mcomp run`: where the output went, its size,
// and perplexity before → after per text and format.
std::string summarize_report(const nlohmann::json& report);

// "1.5 MiB", "312 KiB", "12 B".
std::string format_bytes(double num_bytes);

}  // namespace mcomp::compress
