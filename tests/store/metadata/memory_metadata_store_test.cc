// The in-memory MetadataStore against the conformance suite.
#include "fwota/metadata_stores.h"
#include "tests/store/metadata/metadata_store_conformance.h"

namespace fwota {
namespace metadata_test {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, MetadataStoreConformanceTest,
                         ::testing::Values(MetadataStoreFactory{
                             "memory", [] { return NewMemoryMetadataStore(); }}),
                         MetadataStoreFactoryName);

}  // namespace
}  // namespace metadata_test
}  // namespace fwota
