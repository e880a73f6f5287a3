// Pages the whole log through GET /events with one keep-alive client (Node's fetch), as a consumer
// outside PostgreSQL would. Prints "PAGES LAST_POSITION SECONDS".
//   node page_all.mjs BASE_URL
const base = process.argv[2];
let after = 0, pages = 0;
const t0 = performance.now();
for (;;) {
  const body = await (await fetch(`${base}/events?after=${after}&limit=1000`)).text();
  const next = Number(body.match(/"next":(\d+)\}$/)[1]);
  pages++;
  if (next === after) break;
  after = next;
}
console.log(`${pages} ${after} ${((performance.now() - t0) / 1000).toFixed(3)}`);
