#include "common/net/http_client.h"

#include <future>

namespace bx::net {

HttpResult HttpClient::SendAndWait(HttpRequest request) {
  auto promise = std::make_shared<std::promise<HttpResult>>();
  auto future = promise->get_future();
  Send(std::move(request), [promise](HttpResult result) { promise->set_value(std::move(result)); });
  return future.get();
}

}  // namespace bx::net
