#include "engine/detail/append_verdicts.hpp"

#include "engine/errors.hpp"

namespace reproj::engine::detail {

std::int64_t GroupVerdicts::version(const std::string& stream_id) const {
  const auto it = versions_.find(stream_id);
  return it == versions_.end() ? 0 : it->second;
}

Verdict GroupVerdicts::decide(const CheckedRequest& r) const {
  const AppendRequest& req = *r.request;
  Verdict v;
  v.result.stream_id = req.stream_id;
  const std::int64_t actual = version(req.stream_id);
  if (r.client_ids) {
    // The ids already in the log -- or written earlier in this group, which a lone append after
    // that request would find in the log. Same rule as ever: all of them with the same stream, type
    // and data is a duplicate; anything else that reuses an id is a conflict.
    std::size_t found = 0;
    const std::string* first_found = nullptr;
    for (std::size_t i = 0; i < req.events.size(); ++i) {
      const std::string& id = r.ids[i];
      const NewEvent& e = req.events[i];
      std::int64_t ref = 0;
      bool same = false;
      if (const auto w = written_.find(id); w != written_.end()) {
        same = *w->second.stream_id == req.stream_id && w->second.event->type == e.type && w->second.event->data == e.data;
        ref = -static_cast<std::int64_t>(w->second.planned) - 1;
      } else if (const auto s = stored_.find(id); s != stored_.end()) {
        same = s->second.stream_id == req.stream_id && s->second.type == e.type && s->second.data == e.data;
        ref = s->second.position;
      } else {
        continue;
      }
      if (!same) throw EventIdConflict(id);
      if (found++ == 0) {
        first_found = &id;
        v.first_ref = ref;
      }
      v.last_ref = ref;
    }
    if (found > 0) {
      if (found != req.events.size()) throw EventIdConflict(*first_found);
      v.duplicate = true;
      v.result.duplicate = true;
      v.result.next_expected_version = actual;
      return v;
    }
  }
  if (std::holds_alternative<ExpectedVersion::NoStream>(req.expected.value) && actual != 0) {
    throw VersionConflict(req.stream_id, actual, req.expected.to_string());
  }
  if (const auto* expected = std::get_if<std::int64_t>(&req.expected.value); expected && *expected != actual) {
    throw VersionConflict(req.stream_id, actual, req.expected.to_string());
  }
  v.version_before = actual;
  v.result.next_expected_version = actual + static_cast<std::int64_t>(req.events.size());
  return v;
}

void GroupVerdicts::accept(const CheckedRequest& r, Verdict& v) {
  const AppendRequest& req = *r.request;
  v.first_ref = -static_cast<std::int64_t>(planned_.size()) - 1;
  v.last_ref = v.first_ref - static_cast<std::int64_t>(req.events.size()) + 1;
  for (std::size_t i = 0; i < req.events.size(); ++i) {
    written_[r.ids[i]] = Known{planned_.size(), &req.stream_id, &req.events[i]};
    planned_.push_back({r.index, &req.events[i], &r.ids[i], &req.stream_id,
                        v.version_before + static_cast<std::int64_t>(i) + 1});
    positions_.push_back(0);
  }
  versions_[req.stream_id] = v.result.next_expected_version;
}

void GroupVerdicts::undo(const CheckedRequest& r, const Verdict& v) {
  for (const auto& id : r.ids) written_.erase(id);  // new to the group when accepted
  planned_.resize(planned_.size() - r.ids.size());
  positions_.resize(planned_.size());
  versions_[r.request->stream_id] = v.version_before;
}

void GroupVerdicts::set_position(std::size_t n, std::int64_t position) { positions_.at(n) = position; }

AppendResult GroupVerdicts::resolve(const Verdict& v) const {
  AppendResult out = v.result;
  const auto at = [&](std::int64_t ref) {
    return ref > 0 ? ref : positions_.at(static_cast<std::size_t>(-ref - 1));
  };
  out.first_position = at(v.first_ref);
  out.last_position = at(v.last_ref);
  return out;
}

}  // namespace reproj::engine::detail
