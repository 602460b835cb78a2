// JSON parsing for exchange replies that keeps decimals exact, plus tolerant field accessors.
//
// The exchange sends decimals as strings almost everywhere, but some replies carry JSON numbers
// (depth in the docs, `leverage`, `ctime`), and field types flip between int and string. Parsing
// keeps the exact source text of every non-integer number (stored as a JSON string), so a decimal
// never passes through double.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace bx::orders {

using Json = nlohmann::json;

/// Parses `text`; non-integer numbers become strings holding their exact source text. Never
/// throws: malformed input gives INVALID_ARGUMENT naming the byte offset.
absl::StatusOr<Json> ParseJsonExact(std::string_view text);

/// `obj[key]` when obj is an object holding key and the value is not null; else nullptr.
const Json* Field(const Json& obj, std::string_view key);

/// A string field, or the text of a number/bool; "" when absent or null.
std::string GetString(const Json& obj, std::string_view key);

/// A decimal field as its exact text: strings as sent, integers printed; "" when absent.
inline std::string GetDecimal(const Json& obj, std::string_view key) { return GetString(obj, key); }

/// An integer from a JSON integer or a decimal string ("12", "12.0"); nullopt otherwise.
std::optional<int64_t> GetInt(const Json& obj, std::string_view key);

/// A bool from true/false, "true"/"false", 1/0.
std::optional<bool> GetBool(const Json& obj, std::string_view key);

/// A time in ms since the epoch from an int, a numeric string, or an ISO-8601 UTC string
/// ("2024-05-16T08:13:09.123456789Z"); 0 when absent or unparsable.
int64_t GetTimeMs(const Json& obj, std::string_view key);


}  // namespace bx::orders
