// Opens /admin in Debian's chromium, enters the token, starts a rebuild of cars to v2, watches the
// progress bar move and the version change to 2, and saves screenshots.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const base = process.env.REPROJ_URL;
const token = process.env.REPROJ_TOKEN;
const shots = process.env.REPROJ_SHOTS;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 420 } });
  const apiCalls = [];
  page.on("request", (r) => { if (r.url().includes("/admin/")) apiCalls.push(r.headers()["authorization"] || ""); });
  await page.goto(base + "/admin");

  // Asked once for the token.
  await page.waitForSelector("#token", { state: "visible" });
  await page.fill("#token", token);
  await page.click("#save-token");
  const carsRow = page.locator('tr[data-projection="cars"]');
  await carsRow.waitFor();
  assert.equal((await carsRow.locator(".version").textContent()).trim(), "1", "cars starts at v1");

  await carsRow.locator("select.target-version").selectOption("2");
  await carsRow.locator("button.rebuild").click();

  // The bar moves: collect distinct widths while the rebuild runs.
  const seen = new Set();
  const deadline = Date.now() + 90_000;
  let version = "1";
  let shotTaken = false;
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
    version = (await carsRow.locator(".version").textContent()).trim();
    if (version === "2") break;
    await page.waitForTimeout(100);
  }
  assert.equal(version, "2", "the version did not change to 2");
  await page.waitForFunction(() =>
    document.querySelector('tr[data-projection="cars"] .rebuild-state')?.textContent === "done", null, { timeout: 10_000 });
  await page.screenshot({ path: `${shots}/dashboard.png` });
  // What a person sees: the finished bar is drawn full width, not just labelled 100%.
  const drawn = await carsRow.locator(".progress-bar").evaluate((el) => el.getBoundingClientRect().width /
                                                                      el.parentElement.getBoundingClientRect().width);
  assert.ok(drawn > 0.95, `the finished progress bar is drawn at ${(drawn * 100).toFixed(0)}% of its track`);
  // Moved: a partial bar was seen while running, then the full bar was drawn (checked above).
  const partial = [...seen].filter((p) => Number(p) > 0 && Number(p) < 100);
  assert.ok(partial.length >= 1, `no partial progress was shown while rebuilding (saw ${[...seen].join(", ")})`);
  assert.ok(apiCalls.length > 0 && apiCalls.every((h) => h === "Bearer " + token), "dashboard API calls carry the token");
  console.log(`browser test passed: progress values seen ${[...seen].join(" ")}; version 2; screenshots in ${shots}`);
} finally {
  await browser.close();
}
