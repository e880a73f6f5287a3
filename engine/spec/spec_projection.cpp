#include "engine/spec/spec_projection.hpp"

#include <stdexcept>

#include "engine/errors.hpp"

namespace reproj::engine::spec {

namespace {

using Json = nlohmann::ordered_json;

ColumnType column_type(Type t, const std::string& where) {
  switch (t) {
    case Type::kText: return ColumnType::kText;
    case Type::kBoolean: return ColumnType::kBool;
    case Type::kBigint: return ColumnType::kBigint;
    default:
      throw std::invalid_argument(where + ": column type " + std::string{to_string(t)} +
                                  " is not supported by this build yet (text, boolean, bigint are)");
  }
}

std::string_view json_kind(ColumnType t) {
  return t == ColumnType::kText ? "a string" : t == ColumnType::kBool ? "a boolean" : "an integer";
}

// What an event offers the values of its operations.
struct Context {
  const Event& event;
  const Json& data;
  const Json& metadata;
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
  if (type == ColumnType::kText && j.is_string()) return Value{j.get<std::string>()};
  if (type == ColumnType::kBool && j.is_boolean()) return Value{j.get<bool>()};
  if (type == ColumnType::kBigint && j.is_number_integer()) return Value{j.get<std::int64_t>()};
  return std::nullopt;
}

// A reference's value; nullopt when absent. Throws PoisonEvent when present with the wrong type.
std::optional<Value> resolve(const Ref& ref, ColumnType type, const Context& c) {
  using Source = Ref::Source;
  auto text = [&](const std::string& s) -> std::optional<Value> {
    if (type != ColumnType::kText) c.poison(ref.text + " cannot fill a column that is not text");
    return Value{s};
  };
  switch (ref.source) {
    case Source::kStream: return text(c.event.stream_id);
    case Source::kEventId: return text(c.event.event_id);
    case Source::kType: return text(c.event.type);
    case Source::kRecordedAt: return text(c.event.recorded_at);
    case Source::kPosition:
      if (type == ColumnType::kBigint) return Value{c.event.global_position};
      return text(std::to_string(c.event.global_position));
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

// A value for a column of `type`; a lookup only has its key checked (apply() reads the row).
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
  // A lookup: only its key is checked here; apply() reads the row, knowing the table's layout.
  eval(*std::get<Lookup>(v.v).key, ColumnType::kText, c, required);
  return Value{std::monostate{}};
}

}  // namespace

SpecProjection::SpecProjection(Spec spec) : spec_(std::move(spec)) {
  if (spec_.inline_mode) throw std::invalid_argument("inline specs are not supported by this build yet");
  std::map<std::string, std::size_t> table_index;
  for (const auto& t : spec_.tables) {
    TableSpec ts;
    ts.name = t.name;
    Row defaults;
    const Column* key = t.column(t.key);
    ts.columns.push_back({key->name, column_type(key->type, t.name + "." + key->name)});
    defaults.values.emplace_back(std::monostate{});
    for (const auto& col : t.columns) {
      if (col.name == t.key) continue;
      const ColumnType ct = column_type(col.type, t.name + "." + col.name);
      ts.columns.push_back({col.name, ct});
      auto d = t.defaults.find(col.name);
      defaults.values.push_back(d == t.defaults.end() ? Value{std::monostate{}} : from_json(d->second, ct).value());
    }
    for (const auto& idx : t.indexes) {
      for (std::size_t i = 0; i < ts.columns.size(); ++i) {
        if (ts.columns[i].name == idx) ts.indexed.push_back(i);
      }
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
      if (op.kind == Kind::kDelete || op.kind == Kind::kPush || op.kind == Kind::kPull) {
        throw std::invalid_argument("on " + type + ": delete, push and pull are not supported by this build yet");
      }
      Compiled c;
      c.table = table_index.at(op.table);
      for (const auto& [col, v] : op.set) {
        c.set_columns.push_back(position(c.table, col));
        note_extras(v);
      }
      if (op.kind == Kind::kUpdateWhere) c.column = position(c.table, op.where.first);
      if (op.kind == Kind::kIncrement || op.kind == Kind::kDecrement) c.column = position(c.table, op.column);
      if (op.key) note_extras(*op.key);
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
  const Context ctx{event, data, metadata};

  auto type_of = [&](const Compiled& c, std::size_t column) { return tables_[c.table].columns[column].type; };
  // A value of a column; lookups read the sink now, so they see the operations before this one.
  auto value = [&](const spec::Expr& v, ColumnType type) -> Value {
    if (const auto* l = std::get_if<Lookup>(&v.v)) {
      const Value key = eval(*l->key, ColumnType::kText, ctx);
      const auto* k = std::get_if<std::string>(&key);
      if (!k) return Value{std::monostate{}};
      std::size_t t = 0;
      while (tables_[t].name != l->table) ++t;
      const Row* row = sink.find(t, *k);
      if (!row) return Value{std::monostate{}};
      for (std::size_t i = 0; i < tables_[t].columns.size(); ++i) {
        if (tables_[t].columns[i].name == l->column) return row->values[i];
      }
      return Value{std::monostate{}};
    }
    return eval(v, type, ctx);
  };
  auto key_of = [&](const Operation& op) {
    const Value k = eval(*op.key, ColumnType::kText, ctx);
    const auto* s = std::get_if<std::string>(&k);
    if (!s || s->empty()) ctx.poison("the key of " + op.table + " is null or empty");
    return *s;
  };

  // First every required reference, so an unusable event writes nothing.
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    const auto& c = compiled[i];
    if (op.key) key_of(op);
    for (std::size_t j = 0; j < op.set.size(); ++j) eval(op.set[j].second, type_of(c, c.set_columns[j]), ctx);
    if (op.where.second) eval(*op.where.second, type_of(c, c.column), ctx);
    if (op.by) eval(*op.by, type_of(c, c.column), ctx);
  }

  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    const auto& c = compiled[i];
    std::vector<Value> set;
    for (std::size_t j = 0; j < op.set.size(); ++j) set.push_back(value(op.set[j].second, type_of(c, c.set_columns[j])));
    auto change = [&](Row& row) {
      for (std::size_t j = 0; j < set.size(); ++j) row.values[c.set_columns[j]] = set[j];
    };
    using Kind = Operation::Kind;
    switch (op.kind) {
      case Kind::kUpsert: {
        Row row = defaults_[c.table];
        row.values[0] = key_of(op);
        change(row);
        sink.put(c.table, std::move(row));
        break;
      }
      case Kind::kUpdate: {
        const std::string key = key_of(op);
        if (!op.create_if_missing && !sink.find(c.table, key)) break;
        sink.update(c.table, key, [&] { Row row = defaults_[c.table]; row.values[0] = key; return row; }, change);
        break;
      }
      case Kind::kUpdateWhere: {
        const Value where = value(*op.where.second, type_of(c, c.column));
        if (const auto* w = std::get_if<std::string>(&where)) sink.update_where(c.table, c.column, *w, change);
        break;
      }
      case Kind::kIncrement:
      case Kind::kDecrement: {
        const std::string key = key_of(op);
        const Value by_value = op.by ? value(*op.by, ColumnType::kBigint) : Value{std::int64_t{1}};
        const std::int64_t by = std::holds_alternative<std::int64_t>(by_value) ? std::get<std::int64_t>(by_value) : 0;
        sink.update(c.table, key, [&] { Row row = defaults_[c.table]; row.values[0] = key; return row; },
                    [&](Row& row) {
                      const auto* cur = std::get_if<std::int64_t>(&row.values[c.column]);
                      const std::int64_t now = cur ? *cur : 0;
                      row.values[c.column] = op.kind == Kind::kIncrement ? now + by : now - by;
                    });
        break;
      }
      case Kind::kDelete:
      case Kind::kPush:
      case Kind::kPull:
        break;  // refused at construction
    }
  }
}

}  // namespace reproj::engine::spec
