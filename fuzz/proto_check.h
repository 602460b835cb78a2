// Round-trip check for parsed results: what a gRPC client would receive must decode to the same
// message (proto3 strings must be valid UTF-8, or the client's parse of the reply fails).
#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>

#include "fuzz/fuzz_check.h"

namespace bx::fuzz {

inline void CheckRoundTrip(const google::protobuf::Message& m) {
  std::string wire;
  FUZZ_CHECK(m.SerializeToString(&wire), "%s does not serialise", m.GetTypeName().c_str());
  std::unique_ptr<google::protobuf::Message> back(m.New());
  FUZZ_CHECK(back->ParseFromString(wire), "%s does not parse back (%zu bytes)", m.GetTypeName().c_str(),
             wire.size());
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(m, *back), "%s changed in a round trip",
             m.GetTypeName().c_str());
}

}  // namespace bx::fuzz
