// Paged listings of the command line: --page_size / --page, or everything.
#ifndef FWOTA_TOOLS_FWOTA_PAGING_H_
#define FWOTA_TOOLS_FWOTA_PAGING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/tb_json.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "tools/fwota/cli.h"
#include "tools/fwota/flags.h"

namespace fwota::cli {

// A usage error for negative --page_size or --page. Commands check it before they open
// anything (see Context::Service).
inline absl::Status CheckPagingFlags() {
  if (absl::GetFlag(FLAGS_page_size) < 0 || absl::GetFlag(FLAGS_page) < 0) {
    return UsageError("--page_size and --page must not be negative");
  }
  return absl::OkStatus();
}

// The page --page_size / --page ask for, or with --page_size 0 (the default) every page
// fetched 1,000 at a time, as one page. Call CheckPagingFlags first.
template <typename T>
absl::StatusOr<Page<T>> ListPageOrAll(
    std::string text_search, absl::FunctionRef<absl::StatusOr<Page<T>>(const PageQuery&)> list) {
  FWOTA_RETURN_IF_ERROR(CheckPagingFlags());
  const int page_size = absl::GetFlag(FLAGS_page_size);
  const int page_number = absl::GetFlag(FLAGS_page);
  PageQuery query;
  query.text_search = std::move(text_search);
  if (page_size > 0) {
    query.page_size = page_size;
    query.page = page_number;
    return list(query);
  }
  std::vector<T> all;
  query.page_size = 1000;
  for (bool more = true; more; ++query.page) {
    FWOTA_ASSIGN_OR_RETURN(Page<T> part, list(query));
    for (T& item : part.data) all.push_back(std::move(item));
    more = part.has_next;
  }
  return adapters::SinglePage(std::move(all));
}

// PageData JSON of `page`, each element written by `write_one`.
template <typename T>
void PrintJsonPage(const Page<T>& page, absl::FunctionRef<void(JsonWriter&, const T&)> write_one) {
  JsonWriter w;
  adapters::WritePage<T>(w, page, write_one);
  Print(absl::StrCat(w.str(), "\n"));
}

// Under a table of one page: "page K of N (pages from 0), M <what>".
template <typename T>
void PrintPageFooter(const Page<T>& page, absl::string_view what) {
  if (absl::GetFlag(FLAGS_page_size) > 0) {
    Print(absl::StrCat("page ", absl::GetFlag(FLAGS_page), " of ", page.total_pages,
                       " (pages from 0), ", page.total_elements, " ", what, "\n"));
  }
}

}  // namespace fwota::cli

#endif  // FWOTA_TOOLS_FWOTA_PAGING_H_
