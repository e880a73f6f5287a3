// SQL readers of the projection tables survive promote and rollback: grants (table and column),
// row-level security and policies, views and materialized views, publications (seen by a logical
// decoding slot), comments, user triggers, statistics targets and the owner are carried to the
// table a swap puts under the served name; what a new version would break is refused before replay.
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/errors.hpp"
#include "engine/rebuild.hpp"
#include "tests/support/live_fixture.hpp"

using namespace reproj;

namespace {

// cars as a team might redesign it: no buyer columns, and `sold` as text. Views over the old
// columns cannot read it.
class CarsWithoutBuyers final : public engine::Projection {
 public:
  std::string_view name() const override { return "cars"; }
  int version() const override { return 9; }
  const std::vector<engine::TableSpec>& tables() const override {
    static const std::vector<engine::TableSpec> kTables{
        {"cars", {{"car_id"}, {"creator"}, {"color"}, {"sold"}}, {}, {}}};
    return kTables;
  }
  void apply(const engine::Event& event, engine::Sink& sink) const override {
    if (event.type == "car.created") {
      const auto data = nlohmann::json::parse(event.data);
      sink.put(0, engine::Row{{event.stream_id, data.value("by", ""), data.value("color", ""), std::string{"no"}}});
    }
  }
};

class SqlReadersTest : public test::LiveTest {
 protected:
  void SetUp() override {
    registry_.add(std::make_unique<CarsWithoutBuyers>());
    SetUpLive(1);
    conn_ = std::make_unique<pqxx::connection>(db_->url());
    app_ = db_->name() + "_app";
    cols_ = db_->name() + "_cols";
    slot_ = db_->name() + "_slot";
    sql("CREATE ROLE " + app_ + "; CREATE ROLE " + cols_);
    // The classic example: hrxs21 sold to b2dhuw (Bob), who is renamed Charlie afterwards.
    append("hrxs21", {test::event("e1", "car.created", {{"by", "Alice"}, {"color", "blue"}})});
    append("zed1", {test::event("e2", "car.created", {{"by", "Zed"}, {"color", "green"}})});
    append("b2dhuw", {test::event("e3", "customer.created", {{"name", "Bob"}})});
    append("hrxs21", {test::event("e4", "car.sold", {{"to", "b2dhuw"}})});
    append("b2dhuw", {test::event("e5", "customer.renamed", {{"name", "Charlie"}})});
    live_->get("cars", "hrxs21", {});  // caught up
    rebuilds_ = std::make_unique<engine::RebuildManager>(*pool_, *live_);
  }
  void TearDown() override {
    try {
      sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot_ + "'");
      sql("DROP OWNED BY " + app_ + ", " + cols_ + "; DROP ROLE " + app_ + "; DROP ROLE " + cols_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "teardown: " << e.what();
    }
  }

  pqxx::result sql(const std::string& text) {
    pqxx::work tx{*conn_};
    auto r = tx.exec(text);
    tx.commit();
    return r;
  }
  std::string one(const std::string& text) {
    auto r = sql(text);
    return r.empty() || r[0][0].is_null() ? "<none>" : r[0][0].as<std::string>();
  }
  // A query as `role` (so grants and policies apply), or the error it gets.
  std::string as(const std::string& role, const std::string& text) {
    try {
      pqxx::work tx{*conn_};
      tx.exec("SET LOCAL ROLE " + role);
      auto r = tx.exec(text);
      std::string out;
      for (const auto& row : r) out += (out.empty() ? "" : ",") + (row[0].is_null() ? "null" : row[0].as<std::string>());
      return out;
    } catch (const pqxx::sql_error& e) {
      return std::string{"error: "} + e.what();
    }
  }
  engine::RebuildInfo rebuild(int version, engine::DependentViews views = engine::DependentViews::kRefuse) {
    auto done = rebuilds_->run(rebuilds_->start("cars", version, views).id);
    EXPECT_TRUE(done.has_value());
    return *done;
  }
  int active_version() {
    for (const auto& s : live_->status()) {
      if (s.name == "cars") return s.active_version;
    }
    return 0;
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<engine::RebuildManager> rebuilds_;
  std::string app_, cols_, slot_;
};

}  // namespace

TEST_F(SqlReadersTest, PromoteAndRollbackCarryEveryObjectAUserBoundToTheServedTable) {
  sql("GRANT USAGE ON SCHEMA reproj_data TO " + app_ + ", " + cols_ + ";"
      "GRANT SELECT ON reproj_data.cars TO " + app_ + ";"
      "GRANT SELECT (car_id, color) ON reproj_data.cars TO " + cols_ + ";"
      "ALTER TABLE reproj_data.cars ENABLE ROW LEVEL SECURITY;"
      "CREATE POLICY alice_only ON reproj_data.cars FOR SELECT TO " + app_ + " USING (creator = 'Alice');"
      "CREATE POLICY all_cols ON reproj_data.cars FOR SELECT TO " + cols_ + " USING (true);"
      "CREATE VIEW public.sold_cars AS SELECT car_id, customer_name FROM reproj_data.cars WHERE sold;"
      "GRANT SELECT ON public.sold_cars TO " + app_ + ";"
      "CREATE MATERIALIZED VIEW public.sold_names AS SELECT car_id, customer_name FROM reproj_data.cars WHERE sold;"
      "CREATE UNIQUE INDEX sold_names_car ON public.sold_names (car_id);"
      "GRANT SELECT ON public.sold_names TO " + app_ + ";"
      "COMMENT ON TABLE reproj_data.cars IS 'served cars';"
      "COMMENT ON COLUMN reproj_data.cars.color IS 'paint';"
      "ALTER TABLE reproj_data.cars ALTER COLUMN color SET STATISTICS 500;"
      "CREATE PUBLICATION cars_pub FOR TABLE reproj_data.cars;"
      "CREATE TABLE public.car_audit (car_id text, color text);"
      "CREATE FUNCTION public.audit_car() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN INSERT INTO public.car_audit VALUES (NEW.car_id, NEW.color); RETURN NEW; END $$;"
      "CREATE TRIGGER car_audit AFTER INSERT OR UPDATE ON reproj_data.cars "
      "FOR EACH ROW EXECUTE FUNCTION public.audit_car()");
  sql("SELECT pg_create_logical_replication_slot('" + slot_ + "', 'pgoutput')");
  ASSERT_EQ(as(app_, "SELECT customer_name FROM reproj_data.cars"), "Bob") << "v1 and the policy before the swap";
  const auto audited_before = one("SELECT count(*) FROM public.car_audit");

  auto done = rebuild(2);
  ASSERT_EQ(done.state, engine::RebuildState::kDone) << done.error;
  ASSERT_EQ(active_version(), 2);

  // Grants and the policy: app reads v2 (Charlie), still only Alice's cars.
  EXPECT_EQ(as(app_, "SELECT customer_name FROM reproj_data.cars ORDER BY car_id"), "Charlie");
  EXPECT_EQ(as(cols_, "SELECT color FROM reproj_data.cars ORDER BY car_id"), "blue,green") << "column grant";
  EXPECT_NE(as(cols_, "SELECT customer_name FROM reproj_data.cars").find("permission denied"), std::string::npos)
      << "a column grant must not widen into a table grant";
  // Views read the promoted table; the materialized one was re-created filled, and refreshes.
  EXPECT_EQ(as(app_, "SELECT customer_name FROM public.sold_cars"), "Charlie");
  EXPECT_EQ(as(app_, "SELECT customer_name FROM public.sold_names"), "Charlie");
  sql("REFRESH MATERIALIZED VIEW CONCURRENTLY public.sold_names");  // needs its unique index back
  EXPECT_EQ(as(app_, "SELECT customer_name FROM public.sold_names"), "Charlie");
  // Comments, statistics target, owner.
  EXPECT_EQ(one("SELECT obj_description('reproj_data.cars'::regclass, 'pg_class')"), "served cars");
  EXPECT_EQ(one("SELECT col_description('reproj_data.cars'::regclass, 3)"), "paint");
  EXPECT_EQ(one("SELECT attstattarget FROM pg_attribute WHERE attrelid = 'reproj_data.cars'::regclass "
                "AND attname = 'color'"),
            "500");
  EXPECT_EQ(one("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'reproj_data.cars'::regclass"),
            one("SELECT current_user"));
  // The publication follows the served name, and the retired table is no longer in it.
  EXPECT_EQ(one("SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables "
                "WHERE pubname = 'cars_pub'"),
            "reproj_data.cars");
  // The trigger moved: the replay did not fire it (a rebuild has no side effects), live writes do.
  EXPECT_EQ(one("SELECT count(*) FROM public.car_audit"), audited_before) << "the rebuild fired a user trigger";
  EXPECT_EQ(one("SELECT string_agg(tgrelid::regclass::text, ',') FROM pg_trigger WHERE tgname = 'car_audit'"),
            "reproj_data.cars");
  append("pubcar7", {test::event("e6", "car.created", {{"by", "Alice"}, {"color", "teal"}})});
  live_->get("cars", "pubcar7", {});
  EXPECT_EQ(one("SELECT string_agg(color, ',') FROM public.car_audit WHERE car_id = 'pubcar7'"), "teal");
  // A logical decoding slot created before the swap sees the new row through the publication.
  // (The throwaway cluster commits asynchronously: decoding sees WAL once flushed, within ~200 ms.)
  std::string published = "f";
  for (int i = 0; i < 50 && published != "t"; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds{100});
    published = one("SELECT count(*) > 0 FROM pg_logical_slot_peek_binary_changes('" + slot_ +
                    "', NULL, NULL, 'proto_version', '1', 'publication_names', 'cars_pub') "
                    "WHERE position(convert_to('pubcar7', 'UTF8') IN data) > 0");
  }
  EXPECT_EQ(published, "t") << "the slot saw no insert of pubcar7 through cars_pub";

  // Rollback carries everything back onto v1's table.
  rebuilds_->rollback("cars");
  ASSERT_EQ(active_version(), 1);
  EXPECT_EQ(as(app_, "SELECT customer_name FROM reproj_data.cars WHERE car_id = 'hrxs21'"), "Bob");
  EXPECT_EQ(as(app_, "SELECT count(*) FROM reproj_data.cars WHERE creator <> 'Alice'"), "0") << "policy after rollback";
  EXPECT_EQ(as(cols_, "SELECT color FROM reproj_data.cars WHERE car_id = 'pubcar7'"), "teal");
  EXPECT_EQ(as(app_, "SELECT customer_name FROM public.sold_cars"), "Bob");
  sql("REFRESH MATERIALIZED VIEW public.sold_names");
  EXPECT_EQ(as(app_, "SELECT customer_name FROM public.sold_names"), "Bob");
  EXPECT_EQ(one("SELECT obj_description('reproj_data.cars'::regclass, 'pg_class')"), "served cars");
  EXPECT_EQ(one("SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables "
                "WHERE pubname = 'cars_pub'"),
            "reproj_data.cars");
  EXPECT_EQ(one("SELECT string_agg(tgrelid::regclass::text, ',') FROM pg_trigger WHERE tgname = 'car_audit'"),
            "reproj_data.cars");
  // The rollback's catch-up of the retired v1 table (pubcar7 is new to it) fired no trigger.
  EXPECT_EQ(one("SELECT count(*) FROM public.car_audit WHERE car_id = 'pubcar7'"), "1");
}

TEST_F(SqlReadersTest, ARebuildThatWouldBreakAViewIsRefusedBeforeReplayUnlessItMayDropIt) {
  sql("CREATE VIEW public.sold_cars AS SELECT car_id, customer_name FROM reproj_data.cars WHERE sold;"
      "CREATE VIEW public.is_sold AS SELECT car_id, sold FROM reproj_data.cars;"
      "CREATE VIEW public.colors AS SELECT car_id, color FROM reproj_data.cars");
  const auto tables_before = test::data_tables(db_->url());
  try {
    rebuilds_->start("cars", 9);
    FAIL() << "a rebuild that drops a column a view uses must be refused";
  } catch (const engine::IncompatibleDependents& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("view public.sold_cars uses column customer_name of reproj_data.cars"), std::string::npos) << what;
    EXPECT_NE(what.find("view public.is_sold uses column sold of reproj_data.cars as boolean, which the new version "
                        "makes text"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find("public.colors"), std::string::npos) << "colors can read v9: " << what;
    EXPECT_NE(what.find("drop_dependent_views"), std::string::npos) << what;
  }
  EXPECT_TRUE(rebuilds_->list().empty()) << "nothing recorded";
  EXPECT_EQ(test::data_tables(db_->url()), tables_before) << "no shadow created";

  auto done = rebuild(9, engine::DependentViews::kDrop);
  ASSERT_EQ(done.state, engine::RebuildState::kDone) << done.error;
  EXPECT_EQ(one("SELECT string_agg(viewname, ',' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public'"),
            "colors");
  EXPECT_EQ(one("SELECT string_agg(color, ',' ORDER BY car_id) FROM public.colors"), "blue,green");
}

TEST_F(SqlReadersTest, AForeignKeyToAProjectionTableIsRefusedByRebuildAndRollback) {
  auto done = rebuild(2);
  ASSERT_EQ(done.state, engine::RebuildState::kDone) << done.error;
  sql("CREATE TABLE public.orders (car_id text REFERENCES reproj_data.cars (car_id))");
  try {
    rebuilds_->rollback("cars");
    FAIL() << "a foreign key to the served table must refuse the swap";
  } catch (const engine::IncompatibleDependents& e) {
    EXPECT_NE(std::string{e.what()}.find("foreign key orders_car_id_fkey on public.orders references reproj_data.cars"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(active_version(), 2) << "nothing swapped";
  EXPECT_THROW(rebuilds_->start("cars", 1), engine::IncompatibleDependents);
  sql("DROP TABLE public.orders");
  rebuilds_->rollback("cars");
  EXPECT_EQ(active_version(), 1);
}

TEST_F(SqlReadersTest, WaitForReturnsOnceTheWatermarkReachesThePosition) {
  const auto tail = store_->safe_tail();
  EXPECT_EQ(one("SELECT reproj.wait_for('cars', " + std::to_string(tail) + ", '1 second')"), "t");
  const auto next = append("late1", {test::event("e9", "car.created", {{"by", "A"}, {"color", "red"}})});
  EXPECT_EQ(one("SELECT reproj.wait_for('cars', " + std::to_string(next) + ", '50 milliseconds')"), "f")
      << "nothing applies it yet";
  std::thread reader{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    live_->get("cars", "late1", {});
  }};
  EXPECT_EQ(one("SELECT reproj.wait_for('cars', " + std::to_string(next) + ", '10 seconds')"), "t");
  reader.join();
  EXPECT_EQ(one("SELECT color FROM reproj_data.cars WHERE car_id = 'late1'"), "red");
  EXPECT_THROW(sql("SELECT reproj.wait_for('nope', 1)"), pqxx::sql_error);
}
