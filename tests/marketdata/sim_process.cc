#include "tests/marketdata/sim_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace bx::md::testing {
namespace {

using Clock = std::chrono::steady_clock;

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return nullptr;
  char tmpl[] = "/tmp/md-child-XXXXXX";
  int err_fd = mkstemp(tmpl);
  if (err_fd < 0) return nullptr;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  const int rc = posix_spawn(&child->pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  close(err_fd);
  child->out_fd_ = pipefd[0];
  child->err_path_ = tmpl;
  if (rc != 0) {
    child->pid_ = -1;
    return nullptr;
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) Terminate(std::chrono::seconds(3));
  if (out_fd_ >= 0) close(out_fd_);
  if (!err_path_.empty()) unlink(err_path_.c_str());
}

std::optional<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = ExitCode(st);
      return status_;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    // Polling a child's exit: waitpid has no timeout variant.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ChildProcess::Terminate(std::chrono::milliseconds grace) {
  Signal(SIGTERM);
  if (auto s = Wait(grace)) return *s;
  Signal(SIGKILL);
  return Wait(std::chrono::seconds(5)).value_or(-SIGKILL);
}

std::string ChildProcess::Stderr() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::pair<int, std::string> HttpRequest(const std::string& base_url, const std::string& method,
                                        const std::string& target, const std::string& body,
                                        std::chrono::milliseconds timeout) {
  // base_url: http://host:port
  std::string hostport = base_url.substr(base_url.find("//") + 2);
  if (auto slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
  const auto colon = hostport.rfind(':');
  const std::string host = hostport.substr(0, colon);
  const int port = std::atoi(hostport.substr(colon + 1).c_str());
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, ""};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {0, ""};
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + hostport +
                    "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return {0, ""};
    }
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[8192];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const auto sp = resp.find(' ');
  const auto header_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || header_end == std::string::npos) return {0, resp};
  const int status = std::atoi(resp.c_str() + sp + 1);
  std::string payload = resp.substr(header_end + 4);
  // De-chunk if needed (the metrics exposer may send chunked bodies).
  if (resp.substr(0, header_end).find("chunked") != std::string::npos) {
    std::string out;
    size_t at = 0;
    while (at < payload.size()) {
      const auto eol = payload.find("\r\n", at);
      if (eol == std::string::npos) break;
      const size_t len = std::strtoul(payload.substr(at, eol - at).c_str(), nullptr, 16);
      if (len == 0) break;
      out.append(payload, eol + 2, len);
      at = eol + 2 + len + 2;
    }
    payload = out;
  }
  return {status, payload};
}

std::unique_ptr<SimProcess> SimProcess::Start(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {std::string(BITUNIX_BINARY_DIR) + "/sim/bitunix-sim", "--seed", "1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto sim = std::unique_ptr<SimProcess>(new SimProcess());
  sim->child_ = ChildProcess::Start(argv);
  if (!sim->child_) {
    ADD_FAILURE() << "cannot start " << argv[0];
    return nullptr;
  }
  auto line = sim->child_->ReadLine(std::chrono::seconds(10));
  if (!line) {
    ADD_FAILURE() << "bitunix-sim printed no ready line; stderr:\n" << sim->child_->Stderr();
    return nullptr;
  }
  Json ready = Json::parse(*line, nullptr, false);
  if (!ready.is_object()) {
    ADD_FAILURE() << "bad ready line: " << *line;
    return nullptr;
  }
  sim->rest_ = ready.value("rest", "");
  sim->public_ws_ = ready.value("public_ws", "");
  sim->control_ = ready.value("control", "");
  return sim;
}

SimProcess::~SimProcess() {
  // Its own shutdown is not under test here: do not wait for it.
  if (child_) {
    child_->Signal(SIGKILL);
    child_->Wait(std::chrono::seconds(5));
  }
}

Json SimProcess::Control(const std::string& path, const Json& body) {
  auto [status, text] = HttpRequest(control_, "POST", "/control/" + path, body.dump());
  EXPECT_EQ(status, 200) << path << ": " << text;
  return Json::parse(text, nullptr, false);
}

Json SimProcess::Stats() {
  auto [status, text] = HttpRequest(control_, "GET", "/control/stats");
  EXPECT_EQ(status, 200) << text;
  return Json::parse(text, nullptr, false);
}

int SimProcess::Subscriptions(const std::string& key) {
  Json s = Stats();
  if (!s.is_object() || !s.contains("subscriptions") || !s["subscriptions"].contains(key)) return 0;
  return s["subscriptions"][key].get<int>();
}

}  // namespace bx::md::testing
