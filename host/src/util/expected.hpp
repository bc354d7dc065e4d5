// expected.hpp: a small expected-style result for recoverable failures inside the host.
//
// C++20 has no std::expected; this is the subset the host needs. A failure carries one
// message that already says what happened, where (file:line:col for inputs), and what to do.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace mcomp {

// Distinguishes failures for exit codes and for tests; the message is for people.
enum class ErrorKind {
    bad_input = 1,  // the user's input (a manifest, a model, a file) is wrong
    not_found,      // something the input names does not exist
    unsupported,    // valid input this build cannot handle
    io,             // the operating system refused a read or write
    internal,       // a bug or an invariant that did not hold
    cancelled,      // the user asked to stop
};

struct Error {
    ErrorKind kind = ErrorKind::internal;
    std::string message;
};

inline Error make_error(ErrorKind kind, std::string message) {
    return Error{kind, std::move(message)};
}

template <class T>
class [[nodiscard]] Expected {
  public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const {
        assert(!has_value());
        return std::get<1>(v_);
    }

  private:
    std::variant<T, Error> v_;
};

// Expected<void>: success or an Error.
template <>
class [[nodiscard]] Expected<void> {
  public:
    Expected() = default;
    Expected(Error error) : error_(std::move(error)), ok_(false) {}

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const {
        assert(!ok_);
        return error_;
    }

  private:
    Error error_;
    bool ok_ = true;
};

using Status = Expected<void>;

}  // namespace mcomp

// Propagates the error of an Expected expression, else yields nothing.
#define MCOMP_TRY(expr)                       \
    do {                                      \
        auto mcomp_try_result_ = (expr);      \
        if (!mcomp_try_result_) {             \
            return mcomp_try_result_.error(); \
        }                                     \
    } while (0)
