#include "adapters/mqtt/tcp_nodelay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace fwota::mqtt {
namespace {

TEST(BrokerPortTest, ReadsThePortOrTheSchemesDefault) {
  EXPECT_EQ(BrokerPort("tcp://127.0.0.1:41883"), 41883);
  EXPECT_EQ(BrokerPort("ssl://broker.example:8884"), 8884);
  EXPECT_EQ(BrokerPort("tcp://[::1]:1999"), 1999);
  EXPECT_EQ(BrokerPort("tcp://broker"), 1883);
  EXPECT_EQ(BrokerPort("mqtt://broker/"), 1883);
  EXPECT_EQ(BrokerPort("ssl://broker"), 8883);
  EXPECT_EQ(BrokerPort("tcp://[::1]"), 1883);
  EXPECT_EQ(BrokerPort("tcp://broker:notaport"), 0);
  EXPECT_EQ(BrokerPort("tcp://broker:70000"), 0);
  EXPECT_EQ(BrokerPort("broker:1883"), 0);
}

int NoDelay(int fd) {
  int on = -1;
  socklen_t len = sizeof(on);
  EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  return on;
}

TEST(SetTcpNoDelayTest, SetsItOnlyOnSocketsConnectedToThePort) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(NoDelay(client), 0);

  EXPECT_EQ(SetTcpNoDelayTowardPort(port + 1 == 65536 ? 1 : port + 1), 0);
  EXPECT_EQ(NoDelay(client), 0);
  EXPECT_EQ(SetTcpNoDelayTowardPort(port), 1);
  EXPECT_NE(NoDelay(client), 0);
  // The accepted side's peer is the client's ephemeral port; it is left alone.
  EXPECT_EQ(NoDelay(accepted), 0);
  // Already set: nothing to change.
  EXPECT_EQ(SetTcpNoDelayTowardPort(port), 0);
  EXPECT_EQ(SetTcpNoDelayTowardPort(0), 0);
  close(accepted);
  close(client);
  close(listener);
}

}  // namespace
}  // namespace fwota::mqtt
