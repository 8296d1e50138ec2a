// The ceiling for bench/mqtt_vs_raw.sh: the same client library as fwotad's MQTT backend
// (Eclipse Paho MQTT C++, QoS 1, TCP_NODELAY, the same shared subscription) answering
// every chunk request with a payload of the asked size from memory: no token lookup, no
// package, no blob store, no checks. Runs until SIGINT/SIGTERM. With --client=mosquitto
// the same responder is made with libmosquitto instead (the broker's own client library),
// to tell the broker's ceiling from Paho's.
//
//   mqtt_raw_responder --broker_port=PORT [--client=paho|mosquitto] [--prefix=fwota]
//                      [--share_group=fwota]
#include <mosquitto.h>

#include <csignal>
#include <deque>
#include <vector>
#include <cstdio>
#include <chrono>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "adapters/mqtt/tcp_nodelay.h"
#include "mqtt/async_client.h"

ABSL_FLAG(int, broker_port, 1883, "broker port on 127.0.0.1");
ABSL_FLAG(std::string, client, "paho", "paho or mosquitto");
ABSL_FLAG(int, threads, 2, "paho: threads publishing the answers (as fwotad's --mqtt_workers)");
ABSL_FLAG(std::string, prefix, "fwota", "first topic level of the device topics");
ABSL_FLAG(std::string, share_group, "fwota", "shared subscription group (empty: none)");

namespace {

volatile std::sig_atomic_t stop = 0;

// The size a request asks for (its payload), within what we can answer.
int AskedSize(absl::string_view payload, int limit) {
  int size = 0;
  if (!absl::SimpleAtoi(payload, &size) || size < 0 || size > limit) return 0;
  return size;
}

int RunMosquitto(int port, const std::string& id, const std::string& filter,
                 const std::string& zeros) {
  mosquitto_lib_init();
  struct Context {
    const std::string* zeros;
  } context{&zeros};
  mosquitto* m = mosquitto_new(id.c_str(), true, &context);
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);  // shared subscriptions
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_message_v5_callback_set(
      m, [](mosquitto* m, void* user, const mosquitto_message* msg, const mosquitto_property*) {
        const std::string& zeros = *static_cast<Context*>(user)->zeros;
        const int size = AskedSize(
            absl::string_view(static_cast<const char*>(msg->payload), msg->payloadlen),
            static_cast<int>(zeros.size()));
        const std::string topic = absl::StrReplaceAll(msg->topic, {{"/request/", "/response/"}});
        mosquitto_publish(m, nullptr, topic.c_str(), size, zeros.data(), 1, false);
      });
  if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "connect failed\n");
    return 1;
  }
  mosquitto_subscribe(m, nullptr, filter.c_str(), 1);
  mosquitto_loop_start(m);
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  const std::string broker = absl::StrCat("tcp://127.0.0.1:", absl::GetFlag(FLAGS_broker_port));
  const std::string group = absl::GetFlag(FLAGS_share_group);
  std::string filter = absl::StrCat(absl::GetFlag(FLAGS_prefix), "/+/v2/fw/request/+/chunk/+");
  if (!group.empty()) filter = absl::StrCat("$share/", group, "/", filter);

  const std::string zeros(4 << 20, '\0');
  // Its own client id, so that several responders can share a broker.
  const std::string id = absl::StrCat("raw-", absl::GetFlag(FLAGS_client), "-",
                                      absl::GetFlag(FLAGS_prefix));
  if (absl::GetFlag(FLAGS_client) == "mosquitto") {
    return RunMosquitto(absl::GetFlag(FLAGS_broker_port), id, filter, zeros);
  }
  // As fwotad's backend: room for many answers queued at once, and the answers published
  // from worker threads, not from Paho's receive thread (which then only reads).
  ::mqtt::create_options create(MQTTVERSION_DEFAULT, 65535);
  create.set_send_while_disconnected(false);
  ::mqtt::async_client client(broker, id, create);
  absl::Mutex mu;
  std::deque<::mqtt::const_message_ptr> queue;
  bool done = false;
  client.set_message_callback([&](::mqtt::const_message_ptr m) {
    absl::MutexLock lock(&mu);
    queue.push_back(std::move(m));
  });
  std::vector<std::thread> workers;
  for (int i = 0; i < absl::GetFlag(FLAGS_threads); ++i) {
    workers.emplace_back([&] {
      for (;;) {
        ::mqtt::const_message_ptr m;
        {
          absl::MutexLock lock(&mu);
          auto ready = [&] { return done || !queue.empty(); };
          mu.Await(absl::Condition(&ready));
          if (queue.empty()) return;
          m = std::move(queue.front());
          queue.pop_front();
        }
        const int size = AskedSize(m->get_payload_str(), static_cast<int>(zeros.size()));
        const std::string topic =
            absl::StrReplaceAll(m->get_topic(), {{"/request/", "/response/"}});
        try {
          client.publish(topic, zeros.data(), size, 1, false);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "publish: %s\n", e.what());
        }
      }
    });
  }
  try {
    client.connect(::mqtt::connect_options_builder().clean_session(true).max_inflight(65535).finalize())->wait();
    fwota::mqtt::SetTcpNoDelayTowardPort(fwota::mqtt::BrokerPort(broker));
    client.subscribe(filter, 1)->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "connect: %s\n", e.what());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.disconnect()->wait();
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  for (std::thread& t : workers) t.join();
  return 0;
}
