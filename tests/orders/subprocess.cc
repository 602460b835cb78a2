#include "tests/orders/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/url.h"

extern char** environ;

namespace bx::orders::testing {

std::string BinaryPath(const std::string& relative) { return std::string(BITUNIX_BINARY_DIR) + "/" + relative; }

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const std::vector<std::string>& argv,
                                                              const std::vector<std::string>& env) {
  std::unique_ptr<Subprocess> p(new Subprocess());
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  char tmpl[] = "/tmp/orders-child-stderr-XXXXXX";
  int err_fd = mkstemp(tmpl);
  if (err_fd < 0) return absl::InternalError("mkstemp failed");
  p->stderr_path_ = tmpl;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  for (const auto& e : env) envs.push_back(e);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  // The test process blocks SIGTERM/SIGINT in some threads; the child must not inherit that.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawn(&p->pid_, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err_fd);
  if (rc != 0) {
    close(out[0]);
    return absl::InternalError(std::string("posix_spawn ") + argv[0] + ": " + std::strerror(rc));
  }
  p->stdout_fd_ = out[0];
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) Terminate(std::chrono::milliseconds(3000));
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (!stderr_path_.empty()) std::remove(stderr_path_.c_str());
}

std::optional<std::string> Subprocess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    // Polling the child's state with a short interval, bounded by the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int Subprocess::Terminate(std::chrono::milliseconds grace) {
  if (status_) return *status_;
  kill(pid_, SIGTERM);
  if (auto st = Wait(grace)) return *st;
  kill(pid_, SIGKILL);
  return Wait(std::chrono::milliseconds(5000)).value_or(-9);
}

std::string Subprocess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SimProcess::Guard {
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
};

std::unique_ptr<SimProcess> SimProcess::Start(const std::string& api_key, const std::string& api_secret,
                                              const std::vector<std::string>& extra_args) {
  auto sim = std::make_unique<SimProcess>();
  std::vector<std::string> argv = {BinaryPath("sim/bitunix-sim"), "--addr=127.0.0.1:0", "--control-addr=127.0.0.1:0",
                                   "--api-key=" + api_key, "--trade-rate=1", "--push-interval=1s",
                                   "--log-level=warn"};
  for (const auto& a : extra_args) argv.push_back(a);
  auto proc = Subprocess::Start(argv, {"BITUNIX_SIM_API_SECRET=" + api_secret});
  EXPECT_TRUE(proc.ok()) << proc.status();
  if (!proc.ok()) return nullptr;
  sim->proc_ = std::move(*proc);
  auto line = sim->proc_->ReadLine(std::chrono::seconds(20));
  EXPECT_TRUE(line.has_value()) << "the simulator printed no ready line; stderr:\n" << sim->proc_->Stderr();
  if (!line) return nullptr;
  auto j = nlohmann::json::parse(*line, nullptr, false);
  EXPECT_TRUE(j.is_object()) << *line;
  if (!j.is_object()) return nullptr;
  sim->rest = j.value("rest", "");
  sim->public_ws = j.value("public_ws", "");
  sim->private_ws = j.value("private_ws", "");
  sim->control = j.value("control", "");
  sim->ioc_ = std::make_unique<boost::asio::io_context>();
  sim->guard_ = std::make_unique<Guard>();
  sim->guard_->work.emplace(sim->ioc_->get_executor());
  net::HttpClientOptions h;
  h.base = *ParseUrl(sim->control);
  h.max_connections = 2;
  sim->http_ = net::MakeBeastHttpClient(*sim->ioc_, h);
  sim->thread_ = std::make_unique<std::thread>([ioc = sim->ioc_.get()] { ioc->run(); });
  return sim;
}

SimProcess::~SimProcess() {
  http_.reset();
  if (guard_) guard_->work.reset();
  if (ioc_) ioc_->stop();
  if (thread_ && thread_->joinable()) thread_->join();
  if (proc_) proc_->Terminate(std::chrono::seconds(3));
}

nlohmann::json SimProcess::Control(const std::string& name, const nlohmann::json& body) {
  net::HttpRequest r;
  r.method = "POST";
  r.target = "/control/" + name;
  r.body = body.dump();
  r.headers = {{"Content-Type", "application/json"}};
  auto res = http_->SendAndWait(std::move(r));
  EXPECT_TRUE(res.status.ok()) << res.status;
  auto j = nlohmann::json::parse(res.response.body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.value("ok", false)) << name << ": " << res.response.body;
  return j;
}

nlohmann::json SimProcess::Get(const std::string& target) {
  net::HttpRequest r;
  r.target = target;
  auto res = http_->SendAndWait(std::move(r));
  EXPECT_TRUE(res.status.ok()) << res.status;
  return nlohmann::json::parse(res.response.body, nullptr, false);
}

int SimProcess::CountClientId(const std::string& client_id) {
  auto j = Get("/control/orders");
  int n = 0;
  if (j.is_object() && j.contains("orders")) {
    for (const auto& o : j["orders"]) n += o.value("clientId", "") == client_id;
  }
  return n;
}

}  // namespace bx::orders::testing
