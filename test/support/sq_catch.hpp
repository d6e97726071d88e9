// One include for Catch2 2.13 (Debian) and Catch2 3.x. Write tests against the 3.x spelling
// (Catch::Approx, Catch::Matchers::...); this header maps it onto 2.x where needed.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#include <string>
namespace Catch {
using Detail::Approx;
namespace Matchers {
/// 3.x name of 2.x's Contains for strings.
inline StdString::ContainsMatcher ContainsSubstring(const std::string& text) {
  return Contains(text);
}
} // namespace Matchers
} // namespace Catch
#endif
