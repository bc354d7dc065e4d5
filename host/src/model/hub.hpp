// hub.hpp: finds a model on disk — a local directory, or a Hugging Face id in the standard
// Hugging Face cache — and downloads what is missing from the hub.
//
// The cache layout is the one huggingface_hub writes (file_download.py), so models fetched by
// the Python tools are found here and models fetched here are found by them:
//
//   <cache>/models--<org>--<name>/
//       refs/<revision>                  the commit hash the revision (branch, tag) points at
//       blobs/<etag>                     file contents, named by their ETag (sha256 for LFS)
//       blobs/<etag>.incomplete          a download in progress, resumed with HTTP Range
//       snapshots/<commit>/<file>        relative symlink -> ../../blobs/<etag>
//       .no_exist/<commit>/<file>        empty marker: the hub answered 404 for this file
//   <cache>/.locks/models--<org>--<name>/<etag>.lock   flock() held while writing a blob
//
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub. A complete cached snapshot is used without touching the network
// (pass a commit hash as revision to pin one; delete refs/<revision> to pick up a newer one).
//
// Downloads: HEAD {endpoint}/{id}/resolve/{revision}/{file} gives X-Repo-Commit, the ETag
// (X-Linked-Etag for LFS files) and the size (X-Linked-Size or Content-Length); files after
// the first are asked for at that commit. The GET follows the redirect to the CDN (the token
// goes to the endpoint's own host only), appends to blobs/<etag>.incomplete (Range resumes a
// dropped transfer, in this run up to max_retries times, or in the next one), checks the size
// and, when the ETag is a sha256 (LFS files), the sha256; then fsync, rename into blobs/ and
// an atomic symlink into the snapshot. Small git-stored files (config, tokenizer) are checked
// by size only: their ETag is a git blob sha1, which is not verified.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.hpp"

namespace mcomp {

// A model on the hub: `org/name` at a revision (a branch, a tag or a 40-hex commit hash).
struct ModelRef {
    std::string id;                 // "org/name"
    std::string revision = "main";  // what follows '@', "main" when absent
};

// Parses `org/name[@revision]`. Names follow the hub's rules: letters, digits, '-', '_' and
// '.', no "--" or "..", not starting or ending with '-' or '.', at most 96 characters.
Expected<ModelRef> parse_model_id(std::string_view text);

// Where resolve_model() looks and how it may download. from_env() reads the same variables
// as huggingface_hub: HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HF_ENDPOINT, HF_TOKEN (else the
// file $HF_TOKEN_PATH or $HF_HOME/token that `huggingface-cli login` writes), HF_HUB_OFFLINE
// (1, ON, YES, TRUE), HF_HUB_ETAG_TIMEOUT (connect timeout, s) and HF_HUB_DOWNLOAD_TIMEOUT
// (stall timeout, s).
struct HubOptions {
    std::string cache_dir;  // the folder holding models--org--name
    std::string endpoint = "https://huggingface.co";
    std::string token;     // sent as "Authorization: Bearer"; "" for none
    bool offline = false;  // never touch the network
    long connect_timeout_s = 10;
    long stall_timeout_s = 60;           // give up after this long without a byte
    int max_retries = 5;                 // resumed attempts per file after a drop
    long retry_delay_ms = 1000;          // doubled after each failed attempt
    double progress_interval_s = 5.0;    // one progress line per interval at most
    std::function<bool()> is_cancelled;  // polled while downloading; may be empty

    static HubOptions from_env();
};

// The files a model needs. Optional ones may be absent on the hub (404 is recorded in
// .no_exist/ as huggingface_hub does); the weights are model.safetensors, or
// model.safetensors.index.json plus every shard its weight_map names.
const std::vector<std::string>& hub_required_files();  // config.json, tokenizer*.json
const std::vector<std::string>& hub_optional_files();  // generation_config.json, ...

// "models--org--name": the cache folder of a repository (huggingface_hub repo_folder_name).
std::string hub_repo_folder(const ModelRef& ref);

// Returns the local directory of a model.
// - an existing directory: must contain config.json; returned as given;
// - otherwise an id `org/name[@revision]`: the cached snapshot when it is complete, else the
//   missing files are downloaded from opts.endpoint (error when opts.offline).
// Errors name the model, the file and what to do; kinds: bad_input (bad id, bad download),
// not_found (no such directory, 404, missing while offline), io, cancelled.
Expected<std::string> resolve_model(const std::string& path_or_id, const HubOptions& opts);

// resolve_model() for an id already parsed.
Expected<std::string> resolve_model_ref(const ModelRef& ref, const HubOptions& opts);

}  // namespace mcomp
