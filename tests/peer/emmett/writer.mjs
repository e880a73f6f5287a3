// Emmett's PostgreSQL event store writes the domain's events into its own emt_messages with
// concurrent writers, while it reads its own writes back through reproj (a source with
// sync_reads). Prints a JSON summary: what it wrote, its own fold of the cars, and every read that
// did not reflect the write before it.
//   node writer.mjs CONNECTION_STRING REPROJ_BASE WRITERS EVENTS_PER_WRITER [--once]
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';

const [url, base, writersArg, perWriterArg, once] = process.argv.slice(2);
const store = getPostgreSQLEventStore(url);

if (once === '--once') {  // creates Emmett's schema with one event
  await store.appendToStream('car-setup', [{ type: 'car.created', data: { by: 'Setup', color: 'grey' } }]);
  await store.close();
  process.exit(0);
}

const writers = Number(writersArg), perWriter = Number(perWriterArg);
const colors = ['blue', 'red', 'green', 'silver', 'orange', 'black'];
const cars = new Map();  // car id -> {creator, color, sold, customer_id}
const staleReads = [];
let reads = 0, appended = 0;

// A strong read; a 503 (Retry-After) or no answer at all (the server is being killed and restarted
// by the test) is asked again, for up to 20 s.
async function strongRead(id) {
  for (let attempt = 0; attempt < 200; attempt++) {
    let res;
    try {
      res = await fetch(`${base}/cars/${id}`);
    } catch (e) {
      await new Promise(r => setTimeout(r, 100));
      continue;
    }
    if (res.status === 503) { await res.text(); await new Promise(r => setTimeout(r, 100)); continue; }
    return { status: res.status, body: res.status === 200 ? await res.json() : await res.text() };
  }
  return { status: 503, body: 'no answer but 503 for 20 s' };
}

async function writer(w) {
  let rng = 7919 * (w + 1);
  const next = n => (rng = (rng * 1103515245 + 12345) % 2147483648) % n;
  const mine = [];
  for (let i = 0; i < perWriter; i++) {
    let id, event;
    if (mine.length === 0 || next(100) < 30) {
      id = `emmett-${w}-${mine.length}`;
      mine.push(id);
      event = { type: 'car.created', data: { by: `writer${w}`, color: colors[next(colors.length)] } };
      cars.set(id, { creator: `writer${w}`, color: event.data.color, sold: false, customer_id: null });
    } else {
      id = mine[next(mine.length)];
      event = { type: 'car.repainted', data: { color: colors[next(colors.length)] } };
      cars.get(id).color = event.data.color;
    }
    await store.appendToStream(id, [event]);
    appended++;
    // Read your write: a strong read right after the append reflects it.
    if (i % 4 === 0) {
      reads++;
      const r = await strongRead(id);
      if (r.status !== 200 || r.body.color !== cars.get(id).color) {
        staleReads.push({ id, expected: cars.get(id).color, got: r });
      }
    }
  }
}

await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
await store.close();
console.log(JSON.stringify({ appended, reads, staleReads: staleReads.slice(0, 10), staleCount: staleReads.length,
                             cars: Object.fromEntries(cars) }));
