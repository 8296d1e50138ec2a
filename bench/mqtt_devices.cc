// Simulated MQTT devices for bench/mqtt_vs_raw.sh: N libmosquitto clients (TCP_NODELAY
// on, QoS 1 both ways) driven by one poll loop, asking for firmware chunks on
// ThingsBoard's topics under fwota's per-device prefix:
//   <prefix>/<token>/v2/fw/request/<requestId>/chunk/<n>   payload: the chunk size
// and waiting for <prefix>/<token>/v2/fw/response/<requestId>/chunk/<n>.
//
//   --mode=roundtrips: each device keeps one request in flight for --seconds (chunks
//     0, 1, ... of --size bytes, wrapping around); prints the round trips per second.
//   --mode=download: each device downloads the whole package once (--size bytes) in
//     --chunk sized chunks and checks its SHA-256 against --sha256; prints the time.
//
// The last line printed is one JSON object with the figures; exit status 1 when a device
// got a wrong answer (wrong size, wrong checksum, an error message) or none in time.
#include <mosquitto.h>
#include <openssl/evp.h>
#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "broker host");
ABSL_FLAG(int, port, 1883, "broker port");
ABSL_FLAG(std::string, prefix, "fwota", "first topic level of the device topics");
ABSL_FLAG(std::string, tokens, "", "file with one access token a line (one device each)");
ABSL_FLAG(int, devices, 1, "without --tokens: this many devices, tokens dev0, dev1, ...");
ABSL_FLAG(std::string, mode, "roundtrips", "roundtrips or download");
ABSL_FLAG(int, chunk, 65536, "chunk size in bytes");
ABSL_FLAG(int64_t, size, 1 << 20, "package size in bytes");
ABSL_FLAG(std::string, sha256, "", "download mode: the package's SHA-256 (hex)");
ABSL_FLAG(double, seconds, 5, "roundtrips mode: how long to measure");
ABSL_FLAG(double, timeout, 60, "give up when a device waits this long for an answer");

namespace {

struct Device {
  std::string token;
  mosquitto* client = nullptr;
  bool subscribed = false;
  int64_t next_chunk = 0;  // the chunk in flight
  int64_t round_trips = 0;
  bool done = false;
  bool failed = false;
  absl::Time asked;
  EVP_MD_CTX* sha = nullptr;
};

struct Run {
  std::string prefix;
  std::string mode;
  int chunk = 0;
  int64_t size = 0;
  int64_t chunks = 0;
  int64_t bytes = 0;
  int errors = 0;
  bool measuring = false;
};

Run run;

std::string RequestTopic(const Device& d, int64_t n) {
  return absl::StrCat(run.prefix, "/", d.token, "/v2/fw/request/1/chunk/", n);
}

void Ask(Device& d) {
  const std::string payload = std::to_string(run.chunk);
  d.asked = absl::Now();
  const int rc = mosquitto_publish(d.client, nullptr, RequestTopic(d, d.next_chunk).c_str(),
                                   static_cast<int>(payload.size()), payload.data(), 1, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "%s: publish failed: %s\n", d.token.c_str(), mosquitto_strerror(rc));
    d.failed = true;
  }
}

void Fail(Device& d, const std::string& why) {
  if (!d.failed) std::fprintf(stderr, "%s: %s\n", d.token.c_str(), why.c_str());
  d.failed = true;
  ++run.errors;
}

void OnMessage(mosquitto*, void* user, const mosquitto_message* m) {
  Device& d = *static_cast<Device*>(user);
  const std::string topic = m->topic;
  if (topic.size() >= 6 && topic.compare(topic.size() - 6, 6, "/error") == 0) {
    return Fail(d, absl::StrCat("error: ", std::string(static_cast<const char*>(m->payload),
                                                       m->payloadlen)));
  }
  const std::string expected =
      absl::StrCat(run.prefix, "/", d.token, "/v2/fw/response/1/chunk/", d.next_chunk);
  if (topic != expected) return;  // an old duplicate: QoS 1 may deliver twice
  const int64_t offset = d.next_chunk * run.chunk;
  const int64_t want = std::min<int64_t>(run.chunk, run.size - offset);
  if (m->payloadlen != want) {
    return Fail(d, absl::StrCat("chunk ", d.next_chunk, ": ", m->payloadlen, " bytes, expected ",
                                want));
  }
  ++d.round_trips;
  if (run.measuring) run.bytes += m->payloadlen;
  if (run.mode == "download") {
    EVP_DigestUpdate(d.sha, m->payload, m->payloadlen);
    if (offset + want >= run.size) {
      d.done = true;
      return;
    }
    ++d.next_chunk;
  } else {
    d.next_chunk = (d.next_chunk + 1) % run.chunks;
  }
  Ask(d);
}

void OnSubscribe(mosquitto*, void* user, int, int, const int*) {
  static_cast<Device*>(user)->subscribed = true;
}

std::string Hex(const unsigned char* p, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; ++i) absl::StrAppendFormat(&out, "%02x", p[i]);
  return out;
}

// One pass of the event loop over every client: poll, then read, write and keepalive.
void Pump(std::vector<std::unique_ptr<Device>>& devices, int timeout_ms) {
  std::vector<pollfd> fds(devices.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    fds[i].fd = mosquitto_socket(devices[i]->client);
    fds[i].events = POLLIN | (mosquitto_want_write(devices[i]->client) ? POLLOUT : 0);
  }
  poll(fds.data(), fds.size(), timeout_ms);
  for (size_t i = 0; i < devices.size(); ++i) {
    mosquitto* c = devices[i]->client;
    if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(c, 1);
    if (mosquitto_want_write(c)) mosquitto_loop_write(c, 1);
    mosquitto_loop_misc(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  run.prefix = absl::GetFlag(FLAGS_prefix);
  run.mode = absl::GetFlag(FLAGS_mode);
  run.chunk = absl::GetFlag(FLAGS_chunk);
  run.size = absl::GetFlag(FLAGS_size);
  if (run.chunk <= 0 || run.size <= 0 || (run.mode != "roundtrips" && run.mode != "download")) {
    std::fprintf(stderr, "bad --chunk, --size or --mode\n");
    return 2;
  }
  // Round trips ask whole chunks only (a raw responder answers every ask with its size).
  run.chunks = run.mode == "download" ? (run.size + run.chunk - 1) / run.chunk
                                      : std::max<int64_t>(run.size / run.chunk, 1);

  std::vector<std::string> tokens;
  if (!absl::GetFlag(FLAGS_tokens).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_tokens));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) tokens.push_back(line);
    }
  } else {
    for (int i = 0; i < absl::GetFlag(FLAGS_devices); ++i) tokens.push_back(absl::StrCat("dev", i));
  }
  if (tokens.empty()) {
    std::fprintf(stderr, "no devices\n");
    return 2;
  }

  mosquitto_lib_init();
  std::vector<std::unique_ptr<Device>> devices;
  for (const std::string& token : tokens) {
    auto d = std::make_unique<Device>();
    d->token = token;
    d->client = mosquitto_new(absl::StrCat("bench-", token).c_str(), true, d.get());
    mosquitto_int_option(d->client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(d->client, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(d->client, OnMessage);
    mosquitto_subscribe_callback_set(d->client, OnSubscribe);
    const int rc = mosquitto_connect(d->client, absl::GetFlag(FLAGS_host).c_str(),
                                     absl::GetFlag(FLAGS_port), 60);
    if (rc != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "connect: %s\n", mosquitto_strerror(rc));
      return 1;
    }
    mosquitto_subscribe(d->client, nullptr,
                        absl::StrCat(run.prefix, "/", token, "/v2/fw/#").c_str(), 1);
    d->sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(d->sha, EVP_sha256(), nullptr);
    devices.push_back(std::move(d));
    // Keep the connections moving while the others connect.
    if (devices.size() % 50 == 0) Pump(devices, 0);
  }
  const absl::Time subscribe_deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    bool all = true;
    for (const auto& d : devices) all = all && d->subscribed;
    if (all) break;
    if (absl::Now() > subscribe_deadline) {
      std::fprintf(stderr, "not every device got its subscription acknowledged\n");
      return 1;
    }
    Pump(devices, 10);
  }

  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  run.measuring = true;
  for (auto& d : devices) Ask(*d);
  for (;;) {
    Pump(devices, 5);
    const absl::Time now = absl::Now();
    bool busy = false;
    for (auto& d : devices) {
      if (d->done || d->failed) continue;
      if (now - d->asked > timeout) Fail(*d, absl::StrCat("no answer to chunk ", d->next_chunk));
      busy = busy || !d->failed;
    }
    if (!busy) break;
    if (run.mode == "roundtrips" && now >= end) break;
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);

  int64_t round_trips = 0;
  for (auto& d : devices) {
    round_trips += d->round_trips;
    if (d->round_trips == 0) Fail(*d, "no answer at all");
    if (run.mode == "download" && d->done) {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned n = 0;
      EVP_DigestFinal_ex(d->sha, digest, &n);
      if (Hex(digest, n) != absl::GetFlag(FLAGS_sha256)) Fail(*d, "SHA-256 mismatch");
    }
    EVP_MD_CTX_free(d->sha);
    mosquitto_disconnect(d->client);
    mosquitto_destroy(d->client);
  }
  mosquitto_lib_cleanup();
  std::printf(
      "{\"mode\":\"%s\",\"devices\":%zu,\"chunk\":%d,\"round_trips\":%lld,\"seconds\":%.3f,"
      "\"round_trips_per_s\":%.1f,\"mb_per_s\":%.1f,\"errors\":%d}\n",
      run.mode.c_str(), devices.size(), run.chunk, static_cast<long long>(round_trips), elapsed,
      round_trips / elapsed, run.bytes / elapsed / 1e6, run.errors);
  return run.errors == 0 ? 0 : 1;
}
