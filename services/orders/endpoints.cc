#include "services/orders/endpoints.h"

namespace bx::orders {

std::string_view BucketName(Bucket b) {
  switch (b) {
    case Bucket::kPublic: return "public";
    case Bucket::kPrivate: return "private";
    case Bucket::kCancel: return "cancel";
    case Bucket::kBatch: return "batch";
  }
  return "?";
}

std::string_view LaneName(Lane l) {
  switch (l) {
    case Lane::kCancel: return "cancel";
    case Lane::kPlace: return "place";
    case Lane::kQuery: return "query";
  }
  return "?";
}

}  // namespace bx::orders
