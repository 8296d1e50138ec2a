#include "tools/fwota/flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, data_dir, "./var",
          "the data directory (created if missing; one process at a time)");
ABSL_FLAG(std::string, tenant, "default",
          "tenant name or id; `default` is created on first use, others by `tenant create`");
ABSL_FLAG(bool, json, false, "print ThingsBoard-shaped JSON (errors too, on stderr)");
ABSL_FLAG(int64_t, max_package_size, int64_t{2} << 30, "largest package accepted, in bytes");

ABSL_FLAG(std::string, server, "",
          "remote mode: fwotad's URL (http://HOST:PORT or https://HOST:PORT) instead of "
          "--data_dir");
ABSL_FLAG(std::string, api_key, "",
          "remote mode: the API key (default: --api_key_file, else $FWOTA_API_KEY)");
ABSL_FLAG(std::string, api_key_file, "", "remote mode: a file holding the API key");
ABSL_FLAG(bool, insecure, false,
          "remote mode: accept any TLS certificate (self-signed servers)");
ABSL_FLAG(int32_t, timeout, 120,
          "remote mode: seconds without progress (connecting, sending or receiving) after "
          "which a call fails; 0: no limit");

ABSL_FLAG(std::string, name, "", "name of the profile or device to create");
ABSL_FLAG(std::string, description, "", "description (profiles, packages)");
ABSL_FLAG(std::string, profile, "", "device profile: id or name");
ABSL_FLAG(std::string, device, "", "device: id or name");
ABSL_FLAG(std::string, package, "", "OTA package: id or TITLE@VERSION");
ABSL_FLAG(std::string, token, "", "device access token (default: a random one)");
ABSL_FLAG(std::string, title, "", "package title");
ABSL_FLAG(std::string, version, "", "package version");
ABSL_FLAG(std::string, type, "", "package type: FIRMWARE or SOFTWARE");
ABSL_FLAG(std::string, tag, "", "package tag (default \"<title> <version>\")");
ABSL_FLAG(std::string, url, "", "external package URL (instead of data)");

ABSL_FLAG(std::string, file, "", "package data file (\"-\": standard input)");
ABSL_FLAG(std::string, file_name, "", "file name recorded with the data (default: basename)");
ABSL_FLAG(std::string, content_type, "", "content type (default application/octet-stream)");
ABSL_FLAG(std::string, checksum_algorithm, "",
          "MD5, SHA256, SHA384, SHA512, CRC32, MURMUR3_32, MURMUR3_128 (default SHA256)");
ABSL_FLAG(std::string, checksum, "", "expected checksum of the data (verified)");
ABSL_FLAG(std::string, output, "", "download destination (\"-\": standard output)");
ABSL_FLAG(std::vector<std::string>, algorithm, {},
          "checksum algorithms, comma-separated or repeated; ALL for all seven");

ABSL_FLAG(std::string, search, "",
          "case-insensitive substring of the title (package list) or of the device name "
          "(rollout devices)");
ABSL_FLAG(std::string, state, "", "rollout devices: only those in this update state");
ABSL_FLAG(int32_t, page_size, 0, "page size (0: everything in one listing)");
ABSL_FLAG(int32_t, page, 0, "page number, from 0");
ABSL_FLAG(std::string, sort, "createdTime", "createdTime, title, version, type or dataSize");
ABSL_FLAG(std::string, order, "DESC", "ASC or DESC");
