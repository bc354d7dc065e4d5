// sha256.cpp: see sha256.hpp. Uses OpenSSL's EVP digest interface.
#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace mcomp {

Expected<std::string> sha256_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot read the file: {}", path.string(),
                                                     std::strerror(errno)));
    }
    const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                 &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        return make_error(ErrorKind::internal, "sha256: OpenSSL could not start a digest");
    }
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const std::streamsize num_bytes = in.gcount();
        if (num_bytes > 0 &&
            EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(num_bytes)) != 1) {
            return make_error(ErrorKind::internal, "sha256: OpenSSL digest update failed");
        }
    }
    if (in.bad()) {
        return make_error(ErrorKind::io, fmt::format("{}: read error", path.string()));
    }
    unsigned char digest[EVP_MAX_MD_SIZE] = {};
    unsigned int digest_size = 0;
    if (EVP_DigestFinal_ex(ctx.get(), digest, &digest_size) != 1) {
        return make_error(ErrorKind::internal, "sha256: OpenSSL digest final failed");
    }
    std::string hex;
    for (unsigned int i = 0; i < digest_size; ++i) {
        hex += fmt::format("{:02x}", digest[i]);
    }
    return hex;
}

}  // namespace mcomp
