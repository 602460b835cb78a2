#include "services/orders/json_util.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "common/decimal.h"
#include "common/time_util.h"

namespace bx::orders {
namespace {

// Builds the DOM like nlohmann's own SAX DOM parser, except that floats keep their source text.
class ExactSax {
 public:
  explicit ExactSax(Json& root) : dom_(root, /*allow_exceptions=*/false) {}
  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t /*v*/, const Json::string_t& text) {
    Json::string_t copy = text;
    return dom_.string(copy);
  }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return dom_.start_object(n); }
  bool key(Json::string_t& k) { return dom_.key(k); }
  bool end_object() { return dom_.end_object(); }
  bool start_array(std::size_t n) { return dom_.start_array(n); }
  bool end_array() { return dom_.end_array(); }
  bool parse_error(std::size_t pos, const std::string& /*token*/, const nlohmann::detail::exception& e) {
    error_pos_ = pos;
    error_ = e.what();
    return false;
  }
  const std::string& error() const { return error_; }
  std::size_t error_pos() const { return error_pos_; }

 private:
  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  std::string error_;
  std::size_t error_pos_ = 0;
};

}  // namespace

absl::StatusOr<Json> ParseJsonExact(std::string_view text) {
  Json root;
  ExactSax sax(root);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", e.what()));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON at byte ", sax.error_pos(), ": ", sax.error()));
  }
  return root;
}

const Json* Field(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string GetString(const Json& obj, std::string_view key) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return v->dump();
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  if (v->is_number_float()) return v->dump();  // not produced by ParseJsonExact
  return "";
}

std::optional<int64_t> GetInt(const Json& obj, std::string_view key) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) {
    auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    // "12.0" / "12.000" count as integers; "12.5" does not.
    if (auto dot = s.find('.'); dot != std::string::npos) {
      if (s.find_first_not_of('0', dot + 1) != std::string::npos) return std::nullopt;
      s.resize(dot);
    }
    if (auto parsed = ParseInt64(s)) return *parsed;
  }
  return std::nullopt;
}

std::optional<bool> GetBool(const Json& obj, std::string_view key) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number_integer()) return v->get<int64_t>() != 0;
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "true" || s == "TRUE" || s == "1") return true;
    if (s == "false" || s == "FALSE" || s == "0") return false;
  }
  return std::nullopt;
}

int64_t GetTimeMs(const Json& obj, std::string_view key) {
  if (auto i = GetInt(obj, key)) return *i;
  const Json* v = Field(obj, key);
  if (v != nullptr && v->is_string()) {
    if (auto t = ParseIso8601Ms(v->get_ref<const std::string&>())) return *t;
  }
  return 0;
}

}  // namespace bx::orders
