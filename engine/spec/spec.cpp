// The spec parser: a document in, a checked Spec or every problem with its JSON pointer out.
// (Past ~400 lines because the grammar is one recursive descent whose parts check each other:
// operations against tables and columns, values against the column they fill.)
#include "engine/spec/spec.hpp"

#include "engine/column_value.hpp"

#include <algorithm>
#include <set>

namespace reproj::engine::spec {

using Json = nlohmann::ordered_json;

std::string_view to_string(Type type) {
  switch (type) {
    case Type::kText: return "text";
    case Type::kBoolean: return "boolean";
    case Type::kBigint: return "bigint";
    case Type::kNumeric: return "numeric";
    case Type::kDouble: return "double";
    case Type::kJsonb: return "jsonb";
    case Type::kTimestamptz: return "timestamptz";
  }
  return "text";
}

const Column* Table::column(std::string_view n) const {
  for (const auto& c : columns) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

const Table* Spec::table(std::string_view n) const {
  for (const auto& t : tables) {
    if (t.name == n) return &t;
  }
  return nullptr;
}

bool is_reserved_name(std::string_view name) {
  static const std::set<std::string_view> kReserved{"events", "streams", "admin", "metrics", "healthz", "readyz",
                                                    "openapi", "openapi.json"};
  return kReserved.contains(name);
}

namespace {

std::optional<Type> parse_type(const std::string& s) {
  static const std::map<std::string, Type> kTypes{{"text", Type::kText},       {"boolean", Type::kBoolean},
                                                  {"bigint", Type::kBigint},   {"numeric", Type::kNumeric},
                                                  {"double", Type::kDouble},   {"jsonb", Type::kJsonb},
                                                  {"timestamptz", Type::kTimestamptz}};
  auto it = kTypes.find(s);
  return it == kTypes.end() ? std::nullopt : std::optional{it->second};
}

bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool is_numeric(Type t) { return t == Type::kBigint || t == Type::kNumeric || t == Type::kDouble; }

// A JSON pointer token: '~' and '/' escaped (RFC 6901).
std::string token(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

class Parser {
 public:
  std::vector<Problem> problems;

  void problem(const std::string& path, const std::string& message) { problems.push_back({path, message}); }

  Spec parse(const Json& doc) {
    Spec spec;
    if (!doc.is_object()) {
      problem("", "a spec is a JSON object");
      return spec;
    }
    for (const auto& [k, _] : doc.items()) {
      if (k != "projection" && k != "version" && k != "description" && k != "tables" && k != "on" && k != "mode") {
        problem("/" + token(k), "unknown member (expected projection, version, description, mode, tables, on)");
      }
    }
    auto projection = doc.find("projection");
    if (projection == doc.end() || !projection->is_string() || !is_name(projection->get<std::string>())) {
      problem("/projection", "projection must be a name: a-z, then a-z, 0-9 or _, at most 63 characters");
    } else if (is_reserved_name(projection->get<std::string>())) {
      problem("/projection", "'" + projection->get<std::string>() + "' is a route of the API; choose another name");
    } else {
      spec.projection = projection->get<std::string>();
    }
    auto version = doc.find("version");
    if (version == doc.end() || !version->is_number_integer() || version->get<std::int64_t>() < 1 ||
        version->get<std::int64_t>() > INT32_MAX) {
      problem("/version", "version must be a whole number from 1 to 2147483647");
    } else {
      spec.version = version->get<int>();
    }
    if (auto d = doc.find("description"); d != doc.end() && !d->is_string()) {
      problem("/description", "description must be a string");
    } else if (d != doc.end()) {
      spec.description = d->get<std::string>();
    }
    if (auto m = doc.find("mode"); m != doc.end()) {
      if (*m == "inline") spec.inline_mode = true;
      else if (*m != "async") problem("/mode", "mode must be \"async\" or \"inline\"");
    }
    parse_tables(doc, spec);
    parse_on(doc, spec);
    return spec;
  }

 private:
  void parse_tables(const Json& doc, Spec& spec) {
    auto tables = doc.find("tables");
    if (tables == doc.end() || !tables->is_object() || tables->empty()) {
      problem("/tables", "tables must be an object with at least one table");
      return;
    }
    if (tables->size() > kMaxTables) problem("/tables", "at most " + std::to_string(kMaxTables) + " tables");
    for (const auto& [name, def] : tables->items()) {
      const std::string path = "/tables/" + token(name);
      if (!is_name(name)) problem(path, "a table name is a-z, then a-z, 0-9 or _, at most 63 characters");
      if (name == "h") problem(path, "'h' names the history tables of a projection; choose another name");
      if (!def.is_object()) {
        problem(path, "a table is an object with key and columns");
        continue;
      }
      Table t;
      t.name = name;
      for (const auto& [k, _] : def.items()) {
        if (k != "key" && k != "columns" && k != "defaults" && k != "indexes" && k != "unique" && k != "private" &&
            k != "history") {
          problem(path + "/" + token(k),
                  "unknown member (expected key, columns, defaults, indexes, unique, private, history)");
        }
      }
      auto columns = def.find("columns");
      if (columns == def.end() || !columns->is_object() || columns->empty()) {
        problem(path + "/columns", "columns must be an object of column: type, with at least one column");
      } else {
        if (columns->size() > kMaxColumns) problem(path + "/columns", "at most " + std::to_string(kMaxColumns) + " columns");
        for (const auto& [c, type] : columns->items()) {
          const std::string cpath = path + "/columns/" + token(c);
          if (!is_name(c)) problem(cpath, "a column name is a-z, then a-z, 0-9 or _, at most 63 characters");
          auto parsed = type.is_string() ? parse_type(type.get<std::string>()) : std::nullopt;
          if (!parsed) {
            problem(cpath, "the type must be one of text, boolean, bigint, numeric, double, jsonb, timestamptz");
            continue;
          }
          t.columns.push_back({c, *parsed});
        }
      }
      auto key = def.find("key");
      if (key == def.end() || !key->is_string()) {
        problem(path + "/key", "key must name the table's key column");
      } else if (const Column* kc = t.column(key->get<std::string>()); !kc) {
        if (columns != def.end() && columns->is_object()) problem(path + "/key", "no column '" + key->get<std::string>() + "'");
      } else if (kc->type != Type::kText) {
        problem(path + "/key", "the key column must be of type text");
      } else {
        t.key = kc->name;
      }
      if (auto defaults = def.find("defaults"); defaults != def.end()) {
        if (!defaults->is_object()) problem(path + "/defaults", "defaults must be an object of column: value");
        else {
          for (const auto& [c, v] : defaults->items()) {
            const Column* col = t.column(c);
            if (!col) problem(path + "/defaults/" + token(c), "no column '" + c + "'");
            else if (!literal_fits(v, col->type)) problem(path + "/defaults/" + token(c), "not a " + std::string{to_string(col->type)} + " value");
            else t.defaults[c] = v;
          }
        }
      }
      if (auto indexes = def.find("indexes"); indexes != def.end()) {
        if (!indexes->is_array()) problem(path + "/indexes", "indexes must be an array of column names");
        else {
          for (std::size_t i = 0; i < indexes->size(); ++i) {
            const auto& c = (*indexes)[i];
            if (!c.is_string() || !t.column(c.get<std::string>())) problem(path + "/indexes/" + std::to_string(i), "no such column");
            else if (c.get<std::string>() == t.key) problem(path + "/indexes/" + std::to_string(i), "the key is indexed already");
            else t.indexes.push_back(c.get<std::string>());
          }
        }
      }
      if (auto unique = def.find("unique"); unique != def.end()) {
        if (!unique->is_array()) problem(path + "/unique", "unique must be an array of arrays of column names");
        else {
          for (std::size_t i = 0; i < unique->size(); ++i) {
            const auto& cols = (*unique)[i];
            const std::string upath = path + "/unique/" + std::to_string(i);
            if (!cols.is_array() || cols.empty()) {
              problem(upath, "a unique rule is a non-empty array of column names");
              continue;
            }
            std::vector<std::string> rule;
            for (std::size_t j = 0; j < cols.size(); ++j) {
              const Column* col = cols[j].is_string() ? t.column(cols[j].get<std::string>()) : nullptr;
              if (!col) {
                problem(upath + "/" + std::to_string(j), "no such column");
              } else if (col->type == Type::kNumeric || col->type == Type::kDouble || col->type == Type::kJsonb) {
                // Values PostgreSQL deems equal (1.0 and 1.00) would have two forms here.
                problem(upath + "/" + std::to_string(j), "a unique rule's columns must be text, boolean, bigint or timestamptz");
              } else if (std::find(rule.begin(), rule.end(), col->name) != rule.end()) {
                problem(upath + "/" + std::to_string(j), "column named twice in the rule");
              } else {
                rule.push_back(col->name);
              }
            }
            t.unique.push_back(std::move(rule));
          }
        }
      }
      if (auto p = def.find("private"); p != def.end()) {
        if (!p->is_boolean()) problem(path + "/private", "private must be true or false");
        else t.is_private = p->get<bool>();
      }
      if (auto h = def.find("history"); h != def.end()) parse_history(*h, path + "/history", t);
      spec.tables.push_back(std::move(t));
    }
    if (!spec.projection.empty()) {
      const Table* served = spec.table(spec.projection);
      if (!served) problem("/tables", "no table named like the projection ('" + spec.projection + "'): it is the one served");
      else if (served->is_private) problem("/tables/" + spec.projection + "/private", "the served table cannot be private");
    }
  }

  void parse_history(const Json& h, const std::string& path, Table& t) {
    const std::string expected = "history is true, false, {\"retain_events\": N} or {\"retain_days\": D}";
    if (h.is_boolean()) {
      if (h.get<bool>()) t.history = HistorySpec{};
      return;
    }
    if (!h.is_object() || h.size() != 1) {
      problem(path, expected);
      return;
    }
    const auto first = h.begin();
    const std::string k = first.key();
    const Json& v = first.value();
    if ((k != "retain_events" && k != "retain_days") || !v.is_number_integer() || v.get<std::int64_t>() < 1) {
      problem(path + "/" + token(k), expected + ", N and D whole numbers from 1");
      return;
    }
    HistorySpec spec;
    (k == "retain_events" ? spec.retain_events : spec.retain_days) = v.get<std::int64_t>();
    t.history = spec;
  }

  void parse_on(const Json& doc, Spec& spec) {
    auto on = doc.find("on");
    if (on == doc.end() || !on->is_object() || on->empty()) {
      problem("/on", "on must be an object of event type: [operations], with at least one event type");
      return;
    }
    for (const auto& [type, ops] : on->items()) {
      const std::string path = "/on/" + token(type);
      if (type.empty() || type.size() > 200) problem(path, "an event type is 1 to 200 characters");
      if (!ops.is_array() || ops.empty()) {
        problem(path, "an event type maps to a non-empty array of operations");
        continue;
      }
      auto& out = spec.on[type];
      for (std::size_t i = 0; i < ops.size(); ++i) {
        if (auto op = parse_operation(ops[i], path + "/" + std::to_string(i), spec)) out.push_back(std::move(*op));
      }
    }
  }

  std::optional<Operation> parse_operation(const Json& j, const std::string& path, const Spec& spec) {
    using Kind = Operation::Kind;
    static const std::map<std::string, Kind> kKinds{
        {"upsert", Kind::kUpsert},       {"update", Kind::kUpdate},       {"update_where", Kind::kUpdateWhere},
        {"delete", Kind::kDelete},       {"increment", Kind::kIncrement}, {"decrement", Kind::kDecrement},
        {"push", Kind::kPush},           {"pull", Kind::kPull}};
    if (!j.is_object()) {
      problem(path, "an operation is an object such as {\"upsert\": TABLE, \"key\": ..., \"set\": {...}}");
      return std::nullopt;
    }
    Operation op;
    std::string verb;
    for (const auto& [k, v] : j.items()) {
      if (!kKinds.contains(k)) continue;
      if (!verb.empty()) {
        problem(path, "an operation has exactly one of upsert, update, update_where, delete, increment, decrement, push, pull");
        return std::nullopt;
      }
      verb = k;
      op.kind = kKinds.at(k);
      if (!v.is_string()) problem(path + "/" + k, "names the table to change");
      else op.table = v.get<std::string>();
    }
    if (verb.empty()) {
      problem(path, "an operation has exactly one of upsert, update, update_where, delete, increment, decrement, push, pull");
      return std::nullopt;
    }
    const Table* table = spec.table(op.table);
    if (!table && !op.table.empty()) problem(path + "/" + verb, "no table '" + op.table + "'");
    std::set<std::string> allowed{verb};
    const bool keyed = op.kind != Kind::kUpdateWhere;
    if (keyed) allowed.insert("key");
    if (op.kind == Kind::kUpsert || op.kind == Kind::kUpdate || op.kind == Kind::kUpdateWhere) allowed.insert("set");
    if (op.kind == Kind::kUpdate) allowed.insert("if_missing");
    if (op.kind == Kind::kUpdateWhere) allowed.insert("where");
    if (op.kind == Kind::kIncrement || op.kind == Kind::kDecrement) allowed.insert({"column", "by"});
    if (op.kind == Kind::kPush || op.kind == Kind::kPull) allowed.insert({"column", "value"});
    for (const auto& [k, _] : j.items()) {
      if (!allowed.contains(k)) problem(path + "/" + token(k), "'" + k + "' does not belong in a " + verb);
    }
    if (keyed) {
      auto key = j.find("key");
      if (key == j.end()) problem(path + "/key", "a " + verb + " needs the key of the row");
      else op.key = parse_value(*key, path + "/key", spec, Type::kText);
    }
    if (allowed.contains("set")) {
      auto set = j.find("set");
      if (set == j.end() || !set->is_object() || set->empty()) {
        if (op.kind != Kind::kUpsert || (set != j.end() && !set->is_object())) {
          problem(path + "/set", "set must be an object of column: value");
        }
      } else {
        for (const auto& [c, v] : set->items()) {
          const std::string cpath = path + "/set/" + token(c);
          const Column* col = table ? table->column(c) : nullptr;
          if (table && !col) problem(cpath, "no column '" + c + "' in " + table->name);
          else if (table && c == table->key) problem(cpath, "the key is set by \"key\"");
          if (auto value = parse_value(v, cpath, spec, col ? col->type : Type::kJsonb)) op.set.emplace_back(c, std::move(*value));
        }
      }
    }
    if (op.kind == Kind::kUpdate) {
      if (auto m = j.find("if_missing"); m != j.end()) {
        if (*m == "skip") op.create_if_missing = false;
        else if (*m != "create") problem(path + "/if_missing", "if_missing is \"create\" or \"skip\"");
      }
    }
    if (op.kind == Kind::kUpdateWhere) {
      auto where = j.find("where");
      if (where == j.end() || !where->is_object() || where->size() != 1) {
        problem(path + "/where", "where must be an object of exactly one indexed column: value");
      } else {
        const std::string c = where->begin().key();
        const Json& v = where->begin().value();
        const std::string wpath = path + "/where/" + token(c);
        if (table && std::find(table->indexes.begin(), table->indexes.end(), c) == table->indexes.end()) {
          problem(wpath, "update_where looks rows up by an indexed column; '" + c + "' is not in " + table->name + "'s indexes");
        }
        const Column* col = table ? table->column(c) : nullptr;
        op.where = {c, parse_value(v, wpath, spec, col ? col->type : Type::kText)};
      }
    }
    if (allowed.contains("column")) {
      auto c = j.find("column");
      const Column* col = table && c != j.end() && c->is_string() ? table->column(c->get<std::string>()) : nullptr;
      if (!col) {
        if (table || c == j.end()) problem(path + "/column", "column must name a column of the table");
      } else if ((op.kind == Kind::kIncrement || op.kind == Kind::kDecrement) && !is_numeric(col->type)) {
        problem(path + "/column", verb + " needs a bigint, numeric or double column; '" + col->name + "' is " + std::string{to_string(col->type)});
      } else if ((op.kind == Kind::kPush || op.kind == Kind::kPull) && col->type != Type::kJsonb) {
        problem(path + "/column", verb + " needs a jsonb column; '" + col->name + "' is " + std::string{to_string(col->type)});
      } else {
        op.column = col->name;
      }
      const Type t = col ? col->type : Type::kJsonb;
      if (op.kind == Kind::kIncrement || op.kind == Kind::kDecrement) {
        if (auto by = j.find("by"); by != j.end()) op.by = parse_value(*by, path + "/by", spec, t == Type::kJsonb ? Type::kNumeric : t);
      } else {
        auto v = j.find("value");
        if (v == j.end()) problem(path + "/value", "a " + verb + " needs the value to add or remove");
        else op.value = parse_value(*v, path + "/value", spec, Type::kJsonb);
      }
    }
    return op;
  }

  // A value written to (or compared with) a column of type `target`.
  std::optional<Expr> parse_value(const Json& j, const std::string& path, const Spec& spec, Type target) {
    if (j.is_string() && j.get<std::string>().starts_with("$")) {
      auto ref = parse_ref(j.get<std::string>(), path);
      if (!ref) return std::nullopt;
      return Expr{std::move(*ref)};
    }
    if (j.is_object()) {
      if (j.contains("optional")) {
        if (j.size() != 1 || !j["optional"].is_string() || !j["optional"].get<std::string>().starts_with("$")) {
          problem(path, "{\"optional\": REF} takes one reference such as \"$data.x\"");
          return std::nullopt;
        }
        auto ref = parse_ref(j["optional"].get<std::string>(), path + "/optional");
        if (!ref) return std::nullopt;
        return Expr{Optional{std::move(*ref)}};
      }
      if (j.contains("coalesce")) {
        const auto& list = j["coalesce"];
        if (j.size() != 1 || !list.is_array() || list.empty()) {
          problem(path, "{\"coalesce\": [VALUE, ...]} takes a non-empty array");
          return std::nullopt;
        }
        Coalesce c;
        for (std::size_t i = 0; i < list.size(); ++i) {
          if (auto v = parse_value(list[i], path + "/coalesce/" + std::to_string(i), spec, target)) c.values.push_back(std::move(*v));
        }
        return Expr{std::move(c)};
      }
      if (j.contains("lookup")) {
        Lookup l;
        const Table* t = j["lookup"].is_string() ? spec.table(j["lookup"].get<std::string>()) : nullptr;
        if (!t) problem(path + "/lookup", "lookup names a table of this projection");
        else l.table = t->name;
        for (const auto& [k, _] : j.items()) {
          if (k != "lookup" && k != "key" && k != "column") problem(path + "/" + token(k), "a lookup has lookup, key and column");
        }
        if (!j.contains("key")) problem(path + "/key", "a lookup needs the key of the row to read");
        else if (auto key = parse_value(j["key"], path + "/key", spec, Type::kText)) l.key = std::make_unique<Expr>(std::move(*key));
        const Column* col = t && j.contains("column") && j["column"].is_string() ? t->column(j["column"].get<std::string>()) : nullptr;
        if (!col) {
          if (t) problem(path + "/column", "column must name a column of " + t->name);
        } else {
          l.column = col->name;
          if (col->type != target && target != Type::kJsonb) {
            problem(path + "/column", "a " + std::string{to_string(col->type)} + " column cannot fill a " + std::string{to_string(target)} + " one");
          }
        }
        return Expr{std::move(l)};
      }
      if (target != Type::kJsonb) {
        problem(path, "an object value is one of {\"optional\": …}, {\"lookup\": …}, {\"coalesce\": […]}");
        return std::nullopt;
      }
    }
    if (!literal_fits(j, target)) {
      problem(path, "not a " + std::string{to_string(target)} + " value");
      return std::nullopt;
    }
    return Expr{j};
  }

  std::optional<Ref> parse_ref(const std::string& text, const std::string& path) {
    using Source = Ref::Source;
    static const std::map<std::string, Source> kPlain{{"$stream", Source::kStream}, {"$position", Source::kPosition},
                                                      {"$event_id", Source::kEventId}, {"$type", Source::kType},
                                                      {"$recorded_at", Source::kRecordedAt}};
    Ref ref;
    ref.text = text;
    if (auto it = kPlain.find(text); it != kPlain.end()) {
      ref.source = it->second;
      return ref;
    }
    std::string rest;
    if (text.starts_with("$data.")) {
      ref.source = Source::kData;
      rest = text.substr(6);
    } else if (text.starts_with("$metadata.")) {
      ref.source = Source::kMetadata;
      rest = text.substr(10);
    } else {
      problem(path, "unknown reference '" + text + "' (expected $stream, $position, $event_id, $type, $recorded_at, $data.FIELD, $metadata.FIELD)");
      return std::nullopt;
    }
    std::size_t start = 0;
    while (true) {
      const auto dot = rest.find('.', start);
      const std::string part = rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty()) {
        problem(path, "'" + text + "' has an empty field name");
        return std::nullopt;
      }
      ref.path.push_back(part);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return ref;
  }

  static bool literal_fits(const Json& v, Type t) {
    if (v.is_null()) return true;
    switch (t) {
      case Type::kText: return v.is_string();
      case Type::kTimestamptz: return v.is_string() && canonical::timestamp(v.get<std::string>()).has_value();
      case Type::kBoolean: return v.is_boolean();
      case Type::kBigint: return v.is_number_integer();
      case Type::kNumeric:
      case Type::kDouble: return v.is_number();
      case Type::kJsonb: return true;
    }
    return false;
  }
};

FieldType needed(Type t) {
  switch (t) {
    case Type::kText:
    case Type::kTimestamptz: return FieldType::kString;
    case Type::kBoolean: return FieldType::kBoolean;
    case Type::kBigint: return FieldType::kInteger;
    case Type::kNumeric:
    case Type::kDouble: return FieldType::kNumber;
    case Type::kJsonb: return FieldType::kPresent;
  }
  return FieldType::kPresent;
}

// Adds what `v`, written to a column of `type`, requires of an event of `event_type`.
void require(const Expr& v, Type type, const Spec& spec, const std::string& event_type,
             std::vector<FieldRequirement>& out) {
  if (const auto* ref = std::get_if<Ref>(&v.v); ref && ref->source == Ref::Source::kData) {
    // $data.a.b needs "a" to be an object; $data.a needs "a" of the column's type.
    out.push_back({event_type, ref->path[0], ref->path.size() > 1 ? FieldType::kObject : needed(type)});
  } else if (const auto* l = std::get_if<Lookup>(&v.v); l && l->key) {
    require(*l->key, Type::kText, spec, event_type, out);
  } else if (const auto* c = std::get_if<Coalesce>(&v.v); c && !c->values.empty()) {
    require(c->values.back(), type, spec, event_type, out);  // the last one has no fallback
  }
}

}  // namespace

std::variant<Spec, std::vector<Problem>> parse(std::string_view text) {
  if (text.size() > kMaxSpecBytes) {
    return std::vector<Problem>{{"", "a spec is at most " + std::to_string(kMaxSpecBytes) + " bytes"}};
  }
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded()) return std::vector<Problem>{{"", "not valid JSON"}};
  Parser parser;
  Spec spec = parser.parse(doc);
  if (!parser.problems.empty()) return std::move(parser.problems);
  return spec;
}

std::vector<FieldRequirement> requirements(const Spec& spec) {
  std::vector<FieldRequirement> out;
  for (const auto& [type, ops] : spec.on) {
    for (const auto& op : ops) {
      const Table* t = spec.table(op.table);
      auto column_type = [&](const std::string& c) {
        const Column* col = t ? t->column(c) : nullptr;
        return col ? col->type : Type::kJsonb;
      };
      if (op.key) require(*op.key, Type::kText, spec, type, out);
      for (const auto& [c, v] : op.set) require(v, column_type(c), spec, type, out);
      if (op.where.second) require(*op.where.second, column_type(op.where.first), spec, type, out);
      if (op.by) require(*op.by, column_type(op.column), spec, type, out);
      if (op.value) require(*op.value, Type::kJsonb, spec, type, out);
    }
  }
  // One requirement per (type, field): the first use decides, as the fold meets it first.
  std::vector<FieldRequirement> unique;
  for (auto& r : out) {
    const bool seen = std::any_of(unique.begin(), unique.end(), [&](const FieldRequirement& u) {
      return u.event_type == r.event_type && u.field == r.field;
    });
    if (!seen) unique.push_back(std::move(r));
  }
  return unique;
}

}  // namespace reproj::engine::spec
