// Pages the whole log through GET /events with one keep-alive client (Node's http module), as a
// consumer outside PostgreSQL would, and like the COPY it is compared with, without parsing the
// events: it reads only each body's "next". (Node's fetch cost ~0.5 ms more a page in the client.)
// Prints "PAGES LAST_POSITION SECONDS".
//   node page_all.mjs BASE_URL
import http from 'node:http';
const base = new URL(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(path) {
  return new Promise((resolve, reject) => {
    http.get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(chunks));
    }).on('error', reject);
  });
}
let after = 0, pages = 0;
const t0 = performance.now();
for (;;) {
  const chunks = await get(`/events?after=${after}&limit=1000`);
  const last = Buffer.concat(chunks.slice(-2)).toString('latin1');
  const next = Number(last.match(/"next":(\d+)\}$/)[1]);
  pages++;
  if (next === after) break;
  after = next;
}
console.log(`${pages} ${after} ${((performance.now() - t0) / 1000).toFixed(3)}`);
