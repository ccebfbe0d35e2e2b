// Exception types raised by the C++ core. Bindings map each to the Python exception of
// the same name; ShapeError becomes lamina.ShapeError (a ValueError and a RuntimeError).
// Messages start with the op in brackets: "[add] shapes (2, 3) and (4,) do not broadcast".
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>

namespace lamina {

using RuntimeError = std::runtime_error;
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ShapeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ZeroDivisionError : std::runtime_error { using std::runtime_error::runtime_error; };

std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
inline void put(std::ostringstream&) {}
template <class T, class... R>
void put(std::ostringstream& os, const T& v, const R&... rest) {
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) os << shape_str(v);
  else os << v;
  put(os, rest...);
}
}  // namespace detail

// Builds a message from pieces; shapes (std::vector<int64_t>) print as "(2, 3)".
template <class... A>
std::string msg(const A&... a) {
  std::ostringstream os;
  detail::put(os, a...);
  return os.str();
}

template <class E = std::runtime_error, class... A>
[[noreturn]] void fail(const A&... a) { throw E(msg(a...)); }

#define LAMINA_CHECK(cond, E, ...) \
  do { if (!(cond)) ::lamina::fail<E>(__VA_ARGS__); } while (0)

}  // namespace lamina
