#include "services/orders/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "common/signing.h"
#include "common/decimal.h"
#include "services/orders/errors.h"

namespace bx::orders {
namespace {

namespace v1 = ::bitunix::orders::v1;

absl::Status Refuse(std::string* rule_out, std::string_view rule, std::string message,
                    absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  if (rule_out != nullptr) *rule_out = std::string(rule);
  return MakeError(code, std::move(message), reason::kValidation);
}

// 10^-decimals as decimal text: 1, 0.1, 0.01, ...
std::string Step(int decimals) { return decimals <= 0 ? "1" : absl::StrCat("0.", std::string(decimals - 1, '0'), "1"); }

// Precision and positivity of one decimal field.
absl::Status CheckDecimal(std::string* rule_out, const std::string& field, const std::string& value,
                          const std::string& symbol, int max_decimals, const std::string& precision_name) {
  if (!IsDecimal(value)) {
    return Refuse(rule_out, "decimal",
                  absl::StrCat(field, " '", value, "' is not a plain decimal number (e.g. \"0.01\"; no exponent, no sign)"));
  }
  if (!IsPositiveDecimal(value)) {
    return Refuse(rule_out, "positive", absl::StrCat(field, " must be greater than 0, got ", value));
  }
  if (max_decimals >= 0 && FractionDigits(value) > max_decimals) {
    std::string cut = TruncateDecimal(value, max_decimals);
    return Refuse(rule_out, precision_name,
                  absl::StrCat(field, " ", value, " has ", FractionDigits(value), " decimals; ", symbol,
                               " allows at most ", max_decimals, " (", precision_name, ")",
                               IsPositiveDecimal(cut) ? absl::StrCat(": e.g. ", cut)
                                                      : absl::StrCat(": the smallest step is ", Step(max_decimals))));
  }
  return absl::OkStatus();
}

absl::StatusOr<const SymbolRule*> RuleFor(std::string* rule_out, const std::string& symbol,
                                          const SymbolRules::Map* rules) {
  if (rules == nullptr) {
    if (rule_out != nullptr) *rule_out = "rules_not_loaded";
    return MakeError(absl::StatusCode::kUnavailable,
                     "symbol rules (trading_pairs) are not loaded yet; no order is sent unvalidated, retry shortly",
                     reason::kNotReady);
  }
  auto it = rules->find(symbol);
  if (it == rules->end()) {
    return Refuse(rule_out, "unknown_symbol",
                  absl::StrCat("unknown symbol ", symbol, ": not listed by the exchange's trading_pairs (",
                               rules->size(), " symbols listed, e.g. ",
                               rules->empty() ? std::string("none") : rules->begin()->first, ")"));
  }
  return &it->second;
}

absl::Status CheckQtyLimits(std::string* rule_out, const SymbolRule& r, const std::string& qty, bool market) {
  if (!r.min_trade_volume.empty() && *CompareDecimal(qty, r.min_trade_volume) < 0) {
    return Refuse(rule_out, "min_trade_volume",
                  absl::StrCat("qty ", qty, " is below ", r.symbol, "'s minimum ", r.min_trade_volume,
                               " (minTradeVolume): use at least ", r.min_trade_volume));
  }
  const std::string& max = market ? r.max_market_order_volume : r.max_limit_order_volume;
  if (!max.empty() && IsPositiveDecimal(max) && *CompareDecimal(qty, max) > 0) {
    return Refuse(rule_out, market ? "max_market_order_volume" : "max_limit_order_volume",
                  absl::StrCat("qty ", qty, " is above ", r.symbol, "'s maximum ", max, " for ",
                               market ? "market" : "limit", " orders (",
                               market ? "maxMarketOrderVolume" : "maxLimitOrderVolume", "): use at most ", max));
  }
  return absl::OkStatus();
}

absl::Status CheckTpSl(std::string* rule_out, const v1::TpSl& t, const std::string& symbol, int price_decimals) {
  struct Leg {
    const char* name;
    const std::string& trigger;
    v1::OrderType type;
    const std::string& order_price;
  };
  for (const Leg& leg : {Leg{"tp", t.tp_price(), t.tp_order_type(), t.tp_order_price()},
                         Leg{"sl", t.sl_price(), t.sl_order_type(), t.sl_order_price()}}) {
    if (leg.trigger.empty()) {
      if (!leg.order_price.empty()) {
        return Refuse(rule_out, "tpsl", absl::StrCat(leg.name, "_order_price is set but ", leg.name, "_price is empty"));
      }
      continue;
    }
    if (auto s = CheckDecimal(rule_out, absl::StrCat(leg.name, "_price"), leg.trigger, symbol, price_decimals,
                              "quotePrecision");
        !s.ok()) {
      return s;
    }
    if (leg.type == v1::ORDER_TYPE_LIMIT) {
      if (leg.order_price.empty()) {
        return Refuse(rule_out, "tpsl",
                      absl::StrCat(leg.name, "_order_type LIMIT needs ", leg.name, "_order_price"));
      }
      if (auto s = CheckDecimal(rule_out, absl::StrCat(leg.name, "_order_price"), leg.order_price, symbol,
                                price_decimals, "quotePrecision");
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

// Whether every enum field set under `m` holds a number its enum defines. On the first one that
// does not, `trail` holds the path to it (field, index or -1) and `bad` that field and its value.
// No string is built unless one is found: this runs on every call, placements included.
struct UnknownEnum {
  const google::protobuf::FieldDescriptor* field = nullptr;
  int value = 0;
};
bool EnumsDefined(const google::protobuf::Message& m,
                  std::vector<std::pair<const google::protobuf::FieldDescriptor*, int>>* trail, UnknownEnum* bad) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // set fields only
  for (const FieldDescriptor* f : fields) {
    const bool enum_field = f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM;
    if (!enum_field && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      trail->emplace_back(f, f->is_repeated() ? i : -1);
      if (enum_field) {
        const int value = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
        if (f->enum_type()->FindValueByNumber(value) == nullptr) {
          *bad = {f, value};
          return false;
        }
      } else if (!EnumsDefined(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), trail, bad)) {
        return false;
      }
      trail->pop_back();
    }
  }
  return true;
}

}  // namespace

absl::Status CheckEnumValues(const google::protobuf::Message& request) {
  std::vector<std::pair<const google::protobuf::FieldDescriptor*, int>> trail;
  UnknownEnum bad;
  if (EnumsDefined(request, &trail, &bad)) return absl::OkStatus();
  std::string path;
  for (const auto& [field, index] : trail) {
    absl::StrAppend(&path, path.empty() ? "" : ".", field->name());
    if (index >= 0) absl::StrAppend(&path, "[", index, "]");
  }
  const google::protobuf::EnumDescriptor* e = bad.field->enum_type();
  std::string known;
  for (int k = 0; k < e->value_count(); ++k) absl::StrAppend(&known, k ? ", " : "", e->value(k)->name());
  return MakeError(absl::StatusCode::kInvalidArgument,
                   absl::StrCat(path, " is ", bad.value, ", which is not a value of ", e->full_name(),
                                " (this gateway knows ", known, "); nothing was sent"),
                   reason::kValidation);
}

bool IsValidClientId(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string GenerateClientId() { return "gw" + RandomNonce().substr(0, 30); }

std::string NormalizeSymbol(std::string_view symbol) {
  std::string s = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(std::string(symbol)));
  if (s.empty() || s.size() > 32) return "";
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return "";
  }
  return s;
}

void SymbolRules::Update(std::vector<SymbolRule> rules, int64_t at_ms) {
  auto map = std::make_shared<Map>();
  for (auto& r : rules) {
    std::string key = r.symbol;
    (*map)[key] = std::move(r);
  }
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = std::move(map);
  updated_at_ms_ = at_ms;
}

std::shared_ptr<const SymbolRules::Map> SymbolRules::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rules_;
}

bool SymbolRules::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rules_ != nullptr;
}

int64_t SymbolRules::updated_at_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return updated_at_ms_;
}

absl::Status ValidatePlaceOrder(const v1::PlaceOrderRequest& req, const SymbolRules::Map* rules, std::string* rule) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) {
    return Refuse(rule, "symbol", absl::StrCat("symbol '", req.symbol(), "' is missing or not of the form BTCUSDT"));
  }
  if (req.side() != cv1::SIDE_BUY && req.side() != cv1::SIDE_SELL) {
    return Refuse(rule, "side", "side must be SIDE_BUY or SIDE_SELL");
  }
  if (req.type() != v1::ORDER_TYPE_LIMIT && req.type() != v1::ORDER_TYPE_MARKET) {
    return Refuse(rule, "type", "type must be ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET");
  }
  if (!req.client_id().empty() && !IsValidClientId(req.client_id())) {
    return Refuse(rule, "client_id",
                  absl::StrCat("client_id must be 1-32 characters of A-Z a-z 0-9 _ - (got ", req.client_id().size(),
                               " characters)"));
  }
  if (req.trade_side() == v1::TRADE_SIDE_CLOSE && req.position_id().empty()) {
    return Refuse(rule, "position_id", "trade_side CLOSE needs position_id (the position being closed)");
  }
  if (req.type() == v1::ORDER_TYPE_MARKET && !req.price().empty()) {
    return Refuse(rule, "price", "price must be empty for a MARKET order (it would be ignored by the exchange)");
  }
  if (req.type() == v1::ORDER_TYPE_LIMIT && req.price().empty()) {
    return Refuse(rule, "price", "a LIMIT order needs a price");
  }
  auto r = RuleFor(rule, symbol, rules);
  if (!r.ok()) return r.status();
  const SymbolRule& sr = **r;
  if (!sr.status.empty() && sr.status != "OPEN") {
    return Refuse(rule, "symbol_status",
                  absl::StrCat(symbol, " is not open for new orders (symbolStatus ", sr.status,
                               sr.status == "CANCEL_ONLY" ? ": only cancels are accepted" : "",
                               "); only OPEN symbols take orders"),
                  absl::StatusCode::kFailedPrecondition);
  }
  if (auto s = CheckDecimal(rule, "qty", req.qty(), symbol, sr.base_precision, "basePrecision"); !s.ok()) return s;
  if (auto s = CheckQtyLimits(rule, sr, req.qty(), req.type() == v1::ORDER_TYPE_MARKET); !s.ok()) return s;
  if (req.type() == v1::ORDER_TYPE_LIMIT) {
    if (auto s = CheckDecimal(rule, "price", req.price(), symbol, sr.quote_precision, "quotePrecision"); !s.ok()) {
      return s;
    }
  }
  if (req.has_tpsl()) {
    if (auto s = CheckTpSl(rule, req.tpsl(), symbol, sr.quote_precision); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateModifyOrder(const v1::ModifyOrderRequest& req, const SymbolRules::Map* rules, std::string* rule) {
  if (req.order().order_id().empty() && req.order().client_id().empty()) {
    return Refuse(rule, "order_ref", "order.order_id or order.client_id is required");
  }
  if (!req.order().client_id().empty() && !IsValidClientId(req.order().client_id())) {
    return Refuse(rule, "client_id", "client_id must be 1-32 characters of A-Z a-z 0-9 _ -");
  }
  if (req.qty().empty() && req.price().empty() && !req.has_tpsl()) {
    return Refuse(rule, "nothing_to_modify", "set at least one of qty, price or tpsl");
  }
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) {
    return Refuse(rule, "symbol", "symbol is required for ModifyOrder (it selects the precision rules)");
  }
  auto r = RuleFor(rule, symbol, rules);
  if (!r.ok()) return r.status();
  const SymbolRule& sr = **r;
  if (!req.qty().empty()) {
    if (auto s = CheckDecimal(rule, "qty", req.qty(), symbol, sr.base_precision, "basePrecision"); !s.ok()) return s;
    if (auto s = CheckQtyLimits(rule, sr, req.qty(), false); !s.ok()) return s;
  }
  if (!req.price().empty()) {
    if (auto s = CheckDecimal(rule, "price", req.price(), symbol, sr.quote_precision, "quotePrecision"); !s.ok()) {
      return s;
    }
  }
  if (req.has_tpsl()) {
    if (auto s = CheckTpSl(rule, req.tpsl(), symbol, sr.quote_precision); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateLeverage(const std::string& symbol_in, int32_t leverage, const SymbolRules::Map* rules,
                              std::string* rule) {
  const std::string symbol = NormalizeSymbol(symbol_in);
  if (symbol.empty()) return Refuse(rule, "symbol", "symbol is required");
  if (leverage <= 0) return Refuse(rule, "leverage", absl::StrCat("leverage must be at least 1, got ", leverage));
  auto r = RuleFor(rule, symbol, rules);
  if (!r.ok()) return r.status();
  const SymbolRule& sr = **r;
  if ((sr.min_leverage > 0 && leverage < sr.min_leverage) || (sr.max_leverage > 0 && leverage > sr.max_leverage)) {
    return Refuse(rule, "leverage_range",
                  absl::StrCat("leverage ", leverage, " is outside ", symbol, "'s range [", sr.min_leverage, ", ",
                               sr.max_leverage, "] (minLeverage, maxLeverage)"));
  }
  return absl::OkStatus();
}

}  // namespace bx::orders
