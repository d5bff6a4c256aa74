// Contracts the argument fuzzers decode into (tests/fuzz/fuzz_args.h): one
// interface of TERN_STRUCT types covering each kind of C++ type the msgpack
// and json codecs support (integers of several widths and both signs, floating point, bool,
// strings, enums, optionals, vectors, string-keyed maps, nested structs), and
// one of protobuf messages (well-known types compiled into libprotobuf, so the
// fuzz build needs no protoc step: Struct is recursive, FileDescriptorProto
// has every field kind).
//
// The implementations only hand the decoded arguments back: the fuzzers
// exercise the library, not test code (tests/helpers' Calculator::add would
// overflow on large inputs).
#pragma once

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tern/reflect.h"
#include "tern/service.h"

namespace fuzzsvc {

enum class Kind : std::int8_t { kNone = 0, kSmall = 1, kLarge = -2 };

struct Inner {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::map<std::string, double> weights;
};

struct Record {
  bool flag = false;
  std::int8_t i8 = 0;
  std::uint16_t u16 = 0;
  std::int32_t i32 = 0;
  std::uint64_t u64 = 0;
  std::int64_t i64 = 0;
  float f = 0;
  double d = 0;
  std::string text;
  Kind kind = Kind::kNone;
  std::optional<std::string> note;
  std::vector<Inner> inners;
  std::map<std::string, std::vector<int>> index;
  std::optional<Inner> extra;
};

struct Service {
  virtual ~Service() = default;
  virtual int scalars(bool b, std::int8_t i8, std::uint16_t u16, std::int32_t i32, std::uint64_t u64,
                      std::int64_t i64, float f, double d) = 0;
  virtual std::string text(std::string s, std::optional<std::string> o) = 0;
  virtual Record record(Record r) = 0;
  virtual std::vector<Record> records(std::vector<Record> v, std::map<std::string, Record> m) = 0;
  virtual Kind kinds(Kind k, std::optional<std::int64_t> o) = 0;
  virtual void none() = 0;
};

class ServiceImpl : public Service {
 public:
  int scalars(bool, std::int8_t, std::uint16_t, std::int32_t, std::uint64_t, std::int64_t, float, double) override {
    return 0;
  }
  std::string text(std::string s, std::optional<std::string>) override { return s; }
  Record record(Record r) override { return r; }
  std::vector<Record> records(std::vector<Record> v, std::map<std::string, Record>) override { return v; }
  Kind kinds(Kind k, std::optional<std::int64_t>) override { return k; }
  void none() override {}
};

struct ProtoService {
  virtual ~ProtoService() = default;
  virtual google::protobuf::Struct one(google::protobuf::Struct s) = 0;
  virtual google::protobuf::Timestamp two(google::protobuf::FileDescriptorProto f, google::protobuf::Timestamp t) = 0;
  virtual void none() = 0;
};

class ProtoServiceImpl : public ProtoService {
 public:
  google::protobuf::Struct one(google::protobuf::Struct s) override { return s; }
  google::protobuf::Timestamp two(google::protobuf::FileDescriptorProto, google::protobuf::Timestamp t) override {
    return t;
  }
  void none() override {}
};

}  // namespace fuzzsvc

TERN_STRUCT(fuzzsvc::Inner, name, bytes, weights)
TERN_STRUCT(fuzzsvc::Record, flag, i8, u16, i32, u64, i64, f, d, text, kind, note, inners, index, extra)
TERN_SERVICE(fuzzsvc::Service, scalars, text, record, records, kinds, none)
TERN_SERVICE(fuzzsvc::ProtoService, one, two, none)
