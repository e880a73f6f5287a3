// Opens /admin in Debian's chromium at 1280x800 and drives every view as an operator would: enters
// the token, starts a rebuild of cars to v2 (the progress bar moves, the version changes), checks
// that the charts drew points (appends, lag, the rebuild toward its target), that the finished
// rebuild is in the history with its duration, rolls back from the page (confirmed, then checked
// over HTTP), finds a stream's events in the event browser, lists the quarantined poison event, and
// pauses and resumes a reactor, and follows a row's history to the event that made it. Saves a screenshot of each view and
// fails on any console error.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const base = process.env.REPROJ_URL;
const token = process.env.REPROJ_TOKEN;
const shots = process.env.REPROJ_SHOTS;
const admin = { Authorization: "Bearer " + token };

async function api(method, path, body) {
  const res = await fetch(base + path, { method, headers: admin, body: body && JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}
async function appendSome(n, tag) {
  for (let i = 0; i < n; i++) {
    const r = await api("POST", `/streams/browser-${tag}-${i}/events`,
                        { expected_version: "any", events: [{ type: "car.created", data: { by: "Br", color: "red" } }] });
    assert.equal(r.status, 201, "append answered " + r.status);
  }
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`); });
  const apiCalls = [];
  page.on("request", (r) => { if (r.url().includes("/admin/")) apiCalls.push(r.headers()["authorization"] || ""); });
  await page.goto(base + "/admin");

  // Asked once for the token; the field has a label.
  await page.waitForSelector("#token", { state: "visible" });
  await page.getByLabel("Admin token").fill(token);
  await page.keyboard.press("Enter");
  const carsRow = page.locator('tr[data-projection="cars"]');
  await carsRow.waitFor();
  assert.equal((await carsRow.locator(".version").textContent()).trim(), "1", "cars starts at v1");
  assert.equal(await page.locator('[data-testid="rollback-cars"]').count(), 0, "nothing retained yet: no rollback button");

  // ---- the quarantine: the raw-SQL poison event run.sh wrote, skipped and listed ----------------
  const quarantineCount = page.getByTestId("quarantine-count-cars");
  await page.waitForFunction(() => document.querySelector('[data-testid="quarantine-count-cars"]')?.textContent === "1 quarantined",
                             null, { timeout: 20_000 });
  assert.equal(await page.getByTestId("poison-policy-cars").inputValue(), "skip", "skip is the default policy");
  await quarantineCount.click();
  const quarantine = page.getByTestId("quarantine");
  await quarantine.locator("tbody tr").first().waitFor();
  assert.match(await quarantine.locator("tbody tr").first().textContent(), /poison-1.*car\.sold.*"to" is missing/);
  await page.screenshot({ path: `${shots}/dashboard-quarantine.png`, fullPage: true });

  // ---- every version with its source; one opens its spec (a compiled-in one: its tables) --------
  await page.getByTestId("version-cars-2").click();
  await page.getByTestId("spec-view").waitFor();
  assert.match(await page.getByTestId("spec-text").textContent(), /customer_name/, "cars v2's tables are shown");
  assert.match(await carsRow.locator(".versions").textContent(), /v1 compiled.*v2 compiled/);

  // ---- a rebuild, with appends beside it -------------------------------------------------------
  await carsRow.locator("select.target-version").selectOption("2");
  await carsRow.locator("button.rebuild").click();
  const appending = appendSome(40, "a");
  const seen = new Set();
  const deadline = Date.now() + 90_000;
  let version = "1";
  let shotTaken = false, rebuildPoints = 0;
  while (Date.now() < deadline) {
    const bar = carsRow.locator(".progress-bar");
    if (await bar.count()) {
      const pct = await bar.getAttribute("data-percent");
      if (pct !== null) seen.add(pct);
      if (!shotTaken && Number(pct) > 0 && Number(pct) < 100) {
        await page.screenshot({ path: `${shots}/dashboard-rebuilding.png` });
        shotTaken = true;
      }
    }
    const line = page.locator('[data-testid="chart-rebuild"] polyline[data-series="position"]');
    if (await line.count()) rebuildPoints = Math.max(rebuildPoints, Number(await line.getAttribute("data-points")));
    version = (await carsRow.locator(".version").textContent()).trim();
    if (version === "2") break;
    await page.waitForTimeout(100);
  }
  await appending;
  assert.equal(version, "2", "the version did not change to 2");
  await page.waitForFunction(() =>
    document.querySelector('tr[data-projection="cars"] .rebuild-state')?.textContent === "done", null, { timeout: 10_000 });
  await page.screenshot({ path: `${shots}/dashboard.png` });
  // A rebuild shorter than the charts' 2 s refresh is drawn by the refresh after it (the series keep
  // the samples taken every 250 ms while it ran).
  await page.waitForFunction(() => Number(document.querySelector(
    '[data-testid="chart-rebuild"] polyline[data-series="position"]')?.getAttribute("data-points") || 0) >= 2,
    null, { timeout: 10_000 }).catch(() => {});
  const line = page.locator('[data-testid="chart-rebuild"] polyline[data-series="position"]');
  if (await line.count()) rebuildPoints = Math.max(rebuildPoints, Number(await line.getAttribute("data-points")));
  const drawn = await carsRow.locator(".progress-bar").evaluate((el) => el.getBoundingClientRect().width /
                                                                      el.parentElement.getBoundingClientRect().width);
  assert.ok(drawn > 0.95, `the finished progress bar is drawn at ${(drawn * 100).toFixed(0)}% of its track`);
  const partial = [...seen].filter((p) => Number(p) > 0 && Number(p) < 100);
  assert.ok(partial.length >= 1, `no partial progress was shown while rebuilding (saw ${[...seen].join(", ")})`);
  assert.ok(rebuildPoints >= 2, `the rebuild chart drew ${rebuildPoints} points of the running rebuild`);

  // ---- charts: drawn points, and the appends made above show as a rate above zero ---------------
  await appendSome(20, "b");
  await page.waitForFunction(() => {
    const n = (id) => Number(document.querySelector(`[data-testid="${id}"] polyline`)?.dataset.points || 0);
    return n("chart-appends") >= 2 && n("chart-lag") >= 2;
  }, null, { timeout: 15_000 });
  const appendRates = await page.locator('[data-testid="chart-appends"] polyline').getAttribute("points");
  const maxY = Math.min(...appendRates.trim().split(" ").map((p) => Number(p.split(",")[1])));
  assert.ok(maxY < 150 - 16 - 1, "the appends chart never rose above zero: " + appendRates);
  const lagSeries = await page.locator('[data-testid="chart-lag"] polyline').evaluateAll((ls) => ls.map((l) => l.dataset.series));
  assert.deepEqual(lagSeries.sort(), ["cars", "customers"], "one lag line per projection");
  await page.locator('[data-testid="chart-appends"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/dashboard-charts.png` });

  // ---- audit: the rebuild started from the page is in the trail, with who started it ------------
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="audit"] tbody tr')]
    .some((tr) => tr.textContent.includes("projection.rebuild") && tr.textContent.includes("admin")), null, { timeout: 10_000 });

  // ---- read replicas: the standby is healthy and counts the eventual reads it answered -----------
  await page.waitForFunction(() => document.querySelector('[data-testid="replica-state-replica-1"]')?.textContent === "healthy",
                             null, { timeout: 15_000 });
  let servedBy = "";
  for (let i = 0; i < 100 && servedBy !== "replica"; i++) {
    const res = await fetch(base + "/cars?consistency=eventual&limit=5", { headers: admin });
    servedBy = res.headers.get("x-served-by");
    await res.arrayBuffer();
  }
  assert.equal(servedBy, "replica", "an eventual read answered by the standby");
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="replica-reads-replica-1"]')?.textContent) > 0,
                             null, { timeout: 10_000 });

  // ---- history: the finished rebuild with its duration ------------------------------------------
  const rebuilds = (await api("GET", "/admin/rebuilds")).body.rebuilds;
  const done = rebuilds.find((r) => r.state === "done");
  assert.ok(done, "no finished rebuild over HTTP");
  const historyRow = page.locator(`[data-testid="rebuild-history"] tr[data-rebuild-id="${done.rebuild_id}"]`);
  await historyRow.waitFor({ timeout: 10_000 });
  await page.waitForFunction((id) => document.querySelector(`[data-testid="rebuild-history"] tr[data-rebuild-id="${id}"]`)
    ?.textContent.includes("done"), done.rebuild_id, { timeout: 10_000 });
  const historyText = await historyRow.textContent();
  assert.match(historyText, /cars/);
  assert.match(historyText, /v1 → v2/);
  assert.match(historyText, /done/);
  assert.match(await historyRow.locator(".duration").textContent(), /^\d+(\.\d)? s$|min/, "a duration is shown");
  await historyRow.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/dashboard-history.png` });

  // ---- rollback from the page, with a confirmation step, by keyboard ----------------------------
  const rollbackButton = page.locator('[data-testid="rollback-cars"]');
  await rollbackButton.waitFor();
  assert.match(await rollbackButton.textContent(), /v1/);
  await rollbackButton.focus();
  await page.keyboard.press("Enter");
  const confirm = page.locator('[data-testid="rollback-confirm-cars"]');
  await confirm.waitFor();
  await page.screenshot({ path: `${shots}/dashboard-rollback-confirm.png` });
  assert.equal((await api("GET", "/admin/projections")).body.projections.find((p) => p.name === "cars").active_version, 2,
               "nothing swapped before the confirmation");
  await page.waitForFunction(() => document.activeElement?.dataset?.testid === "rollback-confirm-cars", null,
                             { timeout: 5_000 });
  await page.keyboard.press("Enter");
  await page.waitForFunction(() =>
    document.querySelector('tr[data-projection="cars"] .version')?.textContent === "1", null, { timeout: 15_000 });
  const after = (await api("GET", "/admin/projections")).body.projections.find((p) => p.name === "cars");
  assert.equal(after.active_version, 1, "rollback from the page did not swap the version (HTTP)");
  assert.equal(after.rollback_version, 2, "v2 is now the retained version");

  // ---- verify before promote: a rebuild that waits at ready, its diff, then Promote -------------
  await carsRow.locator("select.target-version").selectOption("2");
  await page.getByTestId("promote-mode-cars").selectOption("manual");
  await carsRow.locator("button.rebuild").click();
  await page.getByTestId("diff-cars").waitFor({ timeout: 60_000 });
  await page.getByTestId("diff-cars").click();
  await page.getByTestId("diff").waitFor();
  assert.match(await page.getByTestId("diff-summary-cars").textContent(), /changed, .* added, .* removed, .* unchanged/);
  assert.equal((await carsRow.locator(".version").textContent()).trim(), "1", "a ready rebuild promoted by itself");
  await page.screenshot({ path: `${shots}/dashboard-diff.png`, fullPage: true });
  await page.getByTestId("promote-cars").click();
  await page.waitForFunction(() =>
    document.querySelector('tr[data-projection="cars"] .version')?.textContent === "2", null, { timeout: 30_000 });
  await rollbackButton.waitFor();
  await rollbackButton.click();
  await page.locator('[data-testid="rollback-confirm-cars"]').click();
  await page.waitForFunction(() =>
    document.querySelector('tr[data-projection="cars"] .version')?.textContent === "1", null, { timeout: 15_000 });

  // ---- event browser: one stream's events, expanded ---------------------------------------------
  const sample = (await api("GET", "/events?after=0&limit=50")).body.events.find((e) => e.type === "car.repainted");
  assert.ok(sample, "no car.repainted in the first 50 events");
  const stream = sample.stream_id;
  const expected = (await api("GET", `/events?after=0&limit=1000&stream_id=${encodeURIComponent(stream)}`)).body.events;
  const browserSection = page.locator('[data-testid="event-browser"]');
  await browserSection.scrollIntoViewIfNeeded();
  await page.getByTestId("event-filter-stream").fill(stream);
  await page.getByTestId("event-filter-stream").press("Enter");
  await page.waitForFunction((s) => {
    const cells = [...document.querySelectorAll("#events tbody td.stream")];
    return cells.length > 0 && cells.every((c) => c.textContent === s);
  }, stream, { timeout: 10_000 });
  const shown = await page.locator("#events tbody tr").count();
  assert.equal(shown, Math.min(expected.length, 25), "the browser shows the stream's events");
  await page.locator("#events tbody tr details summary").first().click();
  assert.match(await page.locator("#events tbody tr details pre.data").first().textContent(), /"by"|"color"|"to"|"name"/);
  await page.getByTestId("event-filter-type").fill("car.repainted");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("#events tbody td.type")];
    return cells.length > 0 && cells.every((c) => c.textContent === "car.repainted");
  }, null, { timeout: 10_000 });
  await page.screenshot({ path: `${shots}/dashboard-events.png`, fullPage: true });

  // ---- reactors: one made over the API shows with its state; paused and resumed from the page ---
  // Its receiver is a closed port: deliveries fail, the row shows the failures, the error and the
  // streams backing off (each sold car's stream waits on its own).
  assert.equal((await api("PUT", "/admin/reactors/billing", { url: "http://127.0.0.1:9/hook", events: ["car.sold"],
                                                            start: "beginning", retry_initial_ms: 200 })).status, 201);
  const reactorRow = page.locator('tr[data-reactor="billing"]');
  await reactorRow.waitFor({ timeout: 10_000 });
  await reactorRow.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="reactor-backing-off-billing"]')?.textContent) > 0,
                             null, { timeout: 15_000 });
  await page.getByTestId("reactor-pause-billing").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="reactor-state-billing"]')?.textContent === "paused",
                             null, { timeout: 10_000 });
  assert.equal((await api("GET", "/admin/reactors/billing")).body.state, "paused", "paused from the page");
  await page.screenshot({ path: `${shots}/dashboard-reactors.png`, fullPage: true });
  await page.getByTestId("reactor-resume-billing").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="reactor-state-billing"]')?.textContent !== "paused",
                             null, { timeout: 10_000 });
  assert.notEqual((await api("GET", "/admin/reactors/billing")).body.state, "paused", "resumed from the page");

  // ---- row inspector: a projection keeping history, deployed as a spec, one row's timeline --------
  const paint = { projection: "paint", version: 1, tables: { paint: { key: "car_id", history: true,
    columns: { car_id: "text", color: "text" } } },
    on: { "car.created": [{ upsert: "paint", key: "$stream", set: { color: "$data.color" } }],
          "car.repainted": [{ update: "paint", key: "$stream", set: { color: "$data.color" } }] } };
  assert.equal((await api("PUT", "/admin/projections/paint/versions/1", paint)).status, 201);
  const versions = (await api("GET", `/paint/${encodeURIComponent(stream)}/history`));
  for (let i = 0; i < 100 && (await api("GET", `/paint/${encodeURIComponent(stream)}/history`)).status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 200));  // its first build, from the whole log
  }
  const timeline = (await api("GET", `/paint/${encodeURIComponent(stream)}/history`)).body.items;
  assert.ok(timeline.length >= 2, "a created and repainted car has two versions: " + JSON.stringify(versions.body));
  await page.getByTestId("row-projection").fill("paint");
  await page.getByTestId("row-key").fill(stream);
  await page.getByTestId("row-key").press("Enter");
  const historyRows = page.locator('[data-testid="row-history"] tbody tr');
  await historyRows.first().waitFor({ timeout: 10_000 });
  assert.equal(await historyRows.count(), timeline.length, "one row per version");
  assert.equal(await historyRows.first().getAttribute("data-position"), String(timeline[0].from_position), "newest first");
  assert.match(await historyRows.first().locator(".changed").textContent(), /color: .* → /);
  await page.getByTestId("row-history").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/dashboard-row-history.png`, fullPage: true });
  const oldest = timeline[timeline.length - 1].from_position;
  await page.getByTestId("row-event-" + oldest).click();
  await page.waitForFunction((p) => document.querySelector("#events tbody tr")?.dataset.position === String(p), oldest,
                             { timeout: 10_000 });

  assert.ok(apiCalls.length > 0 && apiCalls.every((h) => h === "Bearer " + token), "dashboard API calls carry the token");
  assert.deepEqual(consoleErrors, [], "console errors");
  console.log(`browser test passed: progress values seen ${[...seen].join(" ")}; rebuild chart ${rebuildPoints} points; ` +
              `rollback to v1 from the page; ${shown} events of ${stream}; screenshots in ${shots}: dashboard-rebuilding.png ` +
              `dashboard.png dashboard-charts.png dashboard-history.png dashboard-rollback-confirm.png dashboard-events.png dashboard-quarantine.png dashboard-reactors.png dashboard-row-history.png`);
} finally {
  await browser.close();
}
