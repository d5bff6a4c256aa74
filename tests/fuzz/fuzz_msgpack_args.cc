// Fuzz target: request bodies in MessagePack (tern/serialization/msgpack_codec.h),
// the default serialization of interface binding;
// decoded for every method of the fuzz contracts through the provider's
// handler path (see fuzz_args.h).
#include "fuzz_args.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  fuzzh::fuzz_service<fuzzsvc::Service, fuzzsvc::ServiceImpl>(3, body);
  fuzzh::fuzz_service<fuzzsvc::ProtoService, fuzzsvc::ProtoServiceImpl>(3, body);
  return 0;
}
