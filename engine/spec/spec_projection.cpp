#include "engine/spec/spec_projection.hpp"

#include <stdexcept>

#include "engine/column_value.hpp"
#include "engine/errors.hpp"

namespace reproj::engine::spec {

namespace {

using Json = nlohmann::ordered_json;

ColumnType column_type(Type t) {
  switch (t) {
    case Type::kText: return ColumnType::kText;
    case Type::kBoolean: return ColumnType::kBool;
    case Type::kBigint: return ColumnType::kBigint;
    case Type::kNumeric: return ColumnType::kNumeric;
    case Type::kDouble: return ColumnType::kDouble;
    case Type::kJsonb: return ColumnType::kJsonb;
    case Type::kTimestamptz: return ColumnType::kTimestamptz;
  }
  return ColumnType::kText;
}

std::string_view json_kind(ColumnType t) {
  switch (t) {
    case ColumnType::kText: return "a string";
    case ColumnType::kBool: return "a boolean";
    case ColumnType::kBigint: return "an integer";
    case ColumnType::kNumeric:
    case ColumnType::kDouble: return "a number";
    case ColumnType::kJsonb: return "JSON";
    case ColumnType::kTimestamptz: return "a timestamp with an offset (RFC 3339)";
  }
  return "a value";
}

// What an event offers the values of its operations. `sink` is null while the references are
// checked (lookups then answer null) and set while the operations run.
struct Context {
  const Event& event;
  const Json& data;
  const Json& metadata;
  const std::vector<TableSpec>& tables;
  Sink* sink = nullptr;
  [[noreturn]] void poison(const std::string& reason) const {
    throw PoisonEvent(event.global_position, event.event_id, event.type, reason);
  }
};

const Json* find_path(const Json& root, const std::vector<std::string>& path) {
  const Json* at = &root;
  for (const auto& part : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(part);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at->is_null() ? nullptr : at;
}

// A JSON value as a column value; nullopt when its JSON type does not fit.
std::optional<Value> from_json(const Json& j, ColumnType type) {
  if (j.is_null()) return Value{std::monostate{}};
  switch (type) {
    case ColumnType::kText:
      if (j.is_string()) return Value{j.get<std::string>()};
      break;
    case ColumnType::kBool:
      if (j.is_boolean()) return Value{j.get<bool>()};
      break;
    case ColumnType::kBigint:
      if (j.is_number_integer() && !(j.is_number_unsigned() && j.get<std::uint64_t>() > INT64_MAX)) {
        return Value{j.get<std::int64_t>()};
      }
      break;
    case ColumnType::kDouble:
      if (j.is_number()) return Value{j.get<double>()};
      break;
    case ColumnType::kNumeric:
      if (j.is_number()) {
        if (auto n = canonical::numeric(j.dump())) return Value{*n};
      }
      break;
    case ColumnType::kJsonb: return Value{canonical::jsonb(nlohmann::json::parse(j.dump()))};  // keys sorted
    case ColumnType::kTimestamptz:
      if (j.is_string()) {
        if (auto t = canonical::timestamp(j.get<std::string>())) return Value{*t};
      }
      break;
  }
  return std::nullopt;
}

// A reference's value; nullopt when absent. Throws PoisonEvent when present with the wrong type.
std::optional<Value> resolve(const Ref& ref, ColumnType type, const Context& c) {
  using Source = Ref::Source;
  auto text = [&](const std::string& s) -> std::optional<Value> {
    if (type == ColumnType::kJsonb) return Value{Json(s).dump()};
    if (type == ColumnType::kTimestamptz && ref.source == Source::kRecordedAt) {
      if (auto t = canonical::timestamp(s)) return Value{*t};
    }
    if (type != ColumnType::kText) c.poison(ref.text + " cannot fill a " + std::string{sql_type(type)} + " column");
    return Value{s};
  };
  switch (ref.source) {
    case Source::kStream: return text(c.event.stream_id);
    case Source::kEventId: return text(c.event.event_id);
    case Source::kType: return text(c.event.type);
    case Source::kRecordedAt: return text(c.event.recorded_at);
    case Source::kPosition:
      if (type == ColumnType::kText) return text(std::to_string(c.event.global_position));
      if (auto v = from_json(Json(c.event.global_position), type)) return v;
      c.poison(ref.text + " cannot fill a " + std::string{sql_type(type)} + " column");
    case Source::kData:
    case Source::kMetadata: {
      const Json* j = find_path(ref.source == Source::kData ? c.data : c.metadata, ref.path);
      if (!j) return std::nullopt;
      auto v = from_json(*j, type);
      if (!v) c.poison("\"" + ref.path.back() + "\" is not " + std::string{json_kind(type)});
      return v;
    }
  }
  return std::nullopt;
}

// A lookup's value for a column of `type`: the row's column, null when there is no such row.
Value look_up(const Lookup& l, const Value& key, ColumnType type, const Context& c) {
  const auto* k = std::get_if<std::string>(&key);
  if (!k || !c.sink) return Value{std::monostate{}};
  std::size_t t = 0;
  while (c.tables[t].name != l.table) ++t;
  const Row* row = c.sink->find(t, *k);
  if (!row) return Value{std::monostate{}};
  for (std::size_t i = 0; i < c.tables[t].columns.size(); ++i) {
    const auto& col = c.tables[t].columns[i];
    if (col.name != l.column) continue;
    if (col.type == type || std::holds_alternative<std::monostate>(row->values[i])) return row->values[i];
    return Value{canonical::jsonb(value_to_json(col.type, row->values[i]))};  // parse allows this only into jsonb
  }
  return Value{std::monostate{}};
}

// A value for a column of `type`. Throws PoisonEvent when a required reference is missing or
// does not fit.
Value eval(const spec::Expr& v, ColumnType type, const Context& c, bool required = true) {
  if (const auto* lit = std::get_if<Json>(&v.v)) return from_json(*lit, type).value_or(Value{std::monostate{}});
  if (const auto* ref = std::get_if<Ref>(&v.v)) {
    auto r = resolve(*ref, type, c);
    if (!r && required) c.poison("\"" + (ref->path.empty() ? ref->text : ref->path.front()) + "\" is missing");
    return r.value_or(Value{std::monostate{}});
  }
  if (const auto* opt = std::get_if<Optional>(&v.v)) return resolve(opt->ref, type, c).value_or(Value{std::monostate{}});
  if (const auto* co = std::get_if<Coalesce>(&v.v)) {
    for (std::size_t i = 0; i < co->values.size(); ++i) {
      const bool last = i + 1 == co->values.size();
      Value got = eval(co->values[i], type, c, last && required);
      if (!std::holds_alternative<std::monostate>(got)) return got;
    }
    return Value{std::monostate{}};
  }
  const auto& l = std::get<Lookup>(v.v);
  return look_up(l, eval(*l.key, ColumnType::kText, c, required), type, c);
}

// The current value of a jsonb array column as an array: null is empty, a value that is not an
// array (a `set` wrote one) becomes its first element, so nothing is lost.
Json array_of(const Value& v) {
  const auto* s = std::get_if<std::string>(&v);
  if (!s) return Json::array();
  Json j = Json::parse(*s);
  if (j.is_array()) return j;
  return Json::array({std::move(j)});
}

// now + by (or - by) in a numeric column's type; poison on bigint overflow.
Value add(ColumnType type, const Value& now, const Value& by, bool subtract, const Context& c) {
  if (std::holds_alternative<std::monostate>(by)) return now;
  switch (type) {
    case ColumnType::kBigint: {
      const auto* cur = std::get_if<std::int64_t>(&now);
      const std::int64_t a = cur ? *cur : 0, b = std::get<std::int64_t>(by);
      std::int64_t out = 0;
      if (subtract ? __builtin_sub_overflow(a, b, &out) : __builtin_add_overflow(a, b, &out)) {
        c.poison("the result overflows bigint");
      }
      return Value{out};
    }
    case ColumnType::kDouble: {
      const auto* cur = std::get_if<double>(&now);
      const double a = cur ? *cur : 0, b = std::get<double>(by);
      return Value{subtract ? a - b : a + b};
    }
    default: {
      const auto* cur = std::get_if<std::string>(&now);
      return Value{canonical::numeric_add(cur ? *cur : "0", std::get<std::string>(by), subtract)};
    }
  }
}

}  // namespace

SpecProjection::SpecProjection(Spec spec) : spec_(std::move(spec)) {
  std::map<std::string, std::size_t> table_index;
  for (const auto& t : spec_.tables) {
    TableSpec ts;
    ts.name = t.name;
    ts.history = t.history;
    Row defaults;
    const Column* key = t.column(t.key);
    ts.columns.push_back({key->name, column_type(key->type)});
    defaults.values.emplace_back(std::monostate{});
    for (const auto& col : t.columns) {
      if (col.name == t.key) continue;
      const ColumnType ct = column_type(col.type);
      ts.columns.push_back({col.name, ct});
      auto d = t.defaults.find(col.name);
      defaults.values.push_back(d == t.defaults.end() ? Value{std::monostate{}} : from_json(d->second, ct).value());
    }
    auto index_of = [&](const std::string& column) {
      std::size_t i = 0;
      while (ts.columns[i].name != column) ++i;  // checked by the parser: it is there
      return i;
    };
    for (const auto& idx : t.indexes) ts.indexed.push_back(index_of(idx));
    for (const auto& rule : t.unique) {
      std::vector<std::size_t> columns;
      for (const auto& c : rule) columns.push_back(index_of(c));
      ts.unique.push_back(std::move(columns));
    }
    table_index[t.name] = tables_.size();
    tables_.push_back(std::move(ts));
    defaults_.push_back(std::move(defaults));
  }
  auto position = [&](std::size_t table, const std::string& column) {
    const auto& cols = tables_[table].columns;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (cols[i].name == column) return i;
    }
    throw std::logic_error("spec column " + column + " vanished");
  };
  std::function<void(const spec::Expr&)> note_extras = [&](const spec::Expr& v) {
    if (const auto* ref = std::get_if<Ref>(&v.v)) {
      if (ref->source == Ref::Source::kMetadata) extras_.metadata = true;
      if (ref->source == Ref::Source::kRecordedAt) extras_.recorded_at = true;
    } else if (const auto* opt = std::get_if<Optional>(&v.v)) {
      note_extras(spec::Expr{opt->ref});
    } else if (const auto* co = std::get_if<Coalesce>(&v.v)) {
      for (const auto& x : co->values) note_extras(x);
    } else if (const auto* l = std::get_if<Lookup>(&v.v); l && l->key) {
      note_extras(*l->key);
    }
  };
  for (const auto& [type, ops] : spec_.on) {
    auto& out = compiled_[type];
    for (const auto& op : ops) {
      using Kind = Operation::Kind;
      Compiled c;
      c.table = table_index.at(op.table);
      for (const auto& [col, v] : op.set) {
        c.set_columns.push_back(position(c.table, col));
        note_extras(v);
      }
      if (op.kind == Kind::kUpdateWhere) c.column = position(c.table, op.where.first);
      if (!op.column.empty()) c.column = position(c.table, op.column);
      if (op.key) note_extras(*op.key);
      if (op.by) note_extras(*op.by);
      if (op.value) note_extras(*op.value);
      if (op.where.second) note_extras(*op.where.second);
      out.push_back(std::move(c));
    }
  }
  requirements_ = spec::requirements(spec_);
}

void SpecProjection::apply(const Event& event, Sink& sink) const {
  const auto it = spec_.on.find(event.type);
  if (it == spec_.on.end()) return;
  const auto& ops = it->second;
  const auto& compiled = compiled_.at(event.type);
  const Json data = Json::parse(event.data, nullptr, false);
  if (!data.is_object()) {
    throw PoisonEvent(event.global_position, event.event_id, event.type, "data is not a JSON object");
  }
  const Json metadata = extras_.metadata ? Json::parse(event.metadata, nullptr, false) : Json::object();
  Context ctx{event, data, metadata, tables_};

  auto type_of = [&](const Compiled& c, std::size_t column) { return tables_[c.table].columns[column].type; };
  auto key_of = [&](const Operation& op) {
    const Value k = eval(*op.key, ColumnType::kText, ctx);
    const auto* s = std::get_if<std::string>(&k);
    if (!s || s->empty()) ctx.poison("the key of " + op.table + " is null or empty");
    return *s;
  };

  // First every required reference, with the sink out of reach, so an unusable event writes
  // nothing (lookups answer null here; their keys are checked).
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    const auto& c = compiled[i];
    if (op.key) key_of(op);
    for (std::size_t j = 0; j < op.set.size(); ++j) eval(op.set[j].second, type_of(c, c.set_columns[j]), ctx);
    if (op.where.second) eval(*op.where.second, type_of(c, c.column), ctx);
    if (op.by) eval(*op.by, type_of(c, c.column), ctx);
    if (op.value) eval(*op.value, ColumnType::kJsonb, ctx);
  }

  ctx.sink = &sink;  // lookups now read it, and see what the operations before them wrote
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    const auto& c = compiled[i];
    std::vector<Value> set;
    for (std::size_t j = 0; j < op.set.size(); ++j) set.push_back(eval(op.set[j].second, type_of(c, c.set_columns[j]), ctx));
    auto change = [&](Row& row) {
      for (std::size_t j = 0; j < set.size(); ++j) row.values[c.set_columns[j]] = set[j];
    };
    auto fresh = [&](const std::string& key) {
      return [this, &c, &key] {
        Row row = defaults_[c.table];
        row.values[0] = key;
        return row;
      };
    };
    using Kind = Operation::Kind;
    switch (op.kind) {
      case Kind::kUpsert: {
        Row row = fresh(key_of(op))();
        change(row);
        sink.put(c.table, std::move(row));
        break;
      }
      case Kind::kUpdate: {
        const std::string key = key_of(op);
        if (!op.create_if_missing && !sink.find(c.table, key)) break;
        sink.update(c.table, key, fresh(key), change);
        break;
      }
      case Kind::kUpdateWhere: {
        const Value where = eval(*op.where.second, type_of(c, c.column), ctx);
        if (const auto* w = std::get_if<std::string>(&where)) sink.update_where(c.table, c.column, *w, change);
        break;
      }
      case Kind::kDelete:
        sink.erase(c.table, key_of(op));
        break;
      case Kind::kIncrement:
      case Kind::kDecrement: {
        const std::string key = key_of(op);
        const ColumnType type = type_of(c, c.column);
        const Value by = op.by ? eval(*op.by, type, ctx) : from_json(Json(1), type).value();
        // Computed before the row is touched. An overflow is poison that only the row's state
        // reveals, so the event's operations before this one stay applied (live and rebuild alike).
        const Row* held = sink.find(c.table, key);
        const Value now = held ? held->values[c.column] : defaults_[c.table].values[c.column];
        const Value next = add(type, now, by, op.kind == Kind::kDecrement, ctx);
        sink.update(c.table, key, fresh(key), [&](Row& row) { row.values[c.column] = next; });
        break;
      }
      case Kind::kPush:
      case Kind::kPull: {
        const std::string key = key_of(op);
        const Value v = eval(*op.value, ColumnType::kJsonb, ctx);
        const Json item = std::holds_alternative<std::monostate>(v) ? Json(nullptr) : Json::parse(std::get<std::string>(v));
        sink.update(c.table, key, fresh(key), [&](Row& row) {
          Json array = array_of(row.values[c.column]);
          if (op.kind == Kind::kPush) {
            array.push_back(item);
          } else {
            Json kept = Json::array();
            for (auto& x : array) {
              if (x != item) kept.push_back(std::move(x));
            }
            array = std::move(kept);
          }
          row.values[c.column] = Value{canonical::jsonb(nlohmann::json::parse(array.dump()))};
        });
        break;
      }
    }
  }
}

std::variant<std::unique_ptr<SpecProjection>, std::vector<Problem>> compile(std::string_view document) {
  auto parsed = parse(document);
  if (auto* problems = std::get_if<std::vector<Problem>>(&parsed)) return std::move(*problems);
  return std::make_unique<SpecProjection>(std::get<Spec>(std::move(parsed)));
}

std::string compact(std::string_view document) { return Json::parse(document).dump(); }

}  // namespace reproj::engine::spec
