// The fleet test's subscription clients: the npm eventsource package and graphql-ws, with
// the reconnect behaviour they have by themselves, run by e2e/fleet/fleet_test.go.
//
//   node clients.mjs http://127.0.0.1:PORT/graphql
//
// Reads one JSON command a line on stdin, {"open":"sse"|"ws","name":"...","field":"..."},
// and opens that client on `subscription { <field> { id } }` through the URL (the load
// balancer). Writes one JSON line per thing a client sees on stdout:
//
//   {"c":name,"ev":"next","seq":N,"id":position}   an event (seq is the entity id)
//   {"c":name,"ev":"open"}                         EventSource opened a stream
//   {"c":name,"ev":"connected"}                    graphql-ws got connection_ack
//   {"c":name,"ev":"closed","code":N}              graphql-ws's socket closed
//   {"c":name,"ev":"error","msg":...}              an error the client recovers from
//   {"c":name,"ev":"complete"}                     the server said the subscription is over
//   {"c":name,"ev":"fatal","msg":...}              the client gave up (no more reconnects)
//
// Nothing here reconnects on its own behalf: EventSource reconnects after the server's
// retry: hint and sends Last-Event-ID itself; graphql-ws reconnects and subscribes again
// itself. The only help graphql-ws gets is the resume extension (README, "Resumable
// streams"): the subscribe payload's extensions.lastEventId is kept at the last position
// seen, and graphql-ws serialises the payload afresh on every (re)subscribe.
import { createInterface } from 'node:readline';
import { EventSource } from 'eventsource';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = new URL(process.argv[2]);
const wsURL = new URL(base);
wsURL.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';

const emit = (c, ev, extra) => process.stdout.write(`${JSON.stringify({ c, ev, ...extra })}\n`);
const message = (err) => String(err?.message ?? err?.reason ?? err?.code ?? err);

const closers = [];

function openSSE(name, field) {
  const u = new URL(base);
  u.searchParams.set('query', `subscription { ${field} { id } }`);
  const es = new EventSource(u);
  es.addEventListener('open', () => emit(name, 'open'));
  es.addEventListener('next', (e) => {
    const seq = JSON.parse(e.data)?.data?.[field]?.id;
    emit(name, 'next', { seq, id: e.lastEventId });
  });
  // An application would close here; the test wants to see it and keeps the source open.
  es.addEventListener('complete', () => emit(name, 'complete'));
  es.addEventListener('error', (e) => {
    // CLOSED: EventSource does not reconnect (a non-200 answer or a wrong content type).
    const ev = es.readyState === EventSource.CLOSED ? 'fatal' : 'error';
    emit(name, ev, { msg: e.message ?? 'error', code: e.code });
  });
  closers.push(() => es.close());
}

// graphql-ws's default retryWait is an exponential backoff starting at 1.3-4 s; an
// application that wants failover within the 2 s target sets a shorter one, as here.
const retryWait = (retries) => new Promise((resolve) =>
  setTimeout(resolve, Math.min(2000, 100 * 2 ** retries) + Math.floor(Math.random() * 200)));

function openWS(name, field) {
  const client = createClient({
    url: wsURL.href,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: Infinity,
    retryWait,
    shouldRetry: () => true,
    on: {
      connected: () => emit(name, 'connected'),
      closed: (e) => emit(name, 'closed', { code: e?.code }),
      error: (e) => emit(name, 'error', { msg: message(e) }),
    },
  });
  // lastEventId "" opts in to the extension (start live, results carry their position).
  const payload = { query: `subscription { ${field} { id } }`, extensions: { lastEventId: '' } };
  const dispose = client.subscribe(payload, {
    next: (result) => {
      const id = result.extensions?.eventId;
      if (id) payload.extensions.lastEventId = id;
      emit(name, 'next', { seq: result.data?.[field]?.id, id });
    },
    error: (err) => emit(name, 'fatal', { msg: message(err) }),
    complete: () => emit(name, 'complete'),
  });
  closers.push(() => { dispose(); client.dispose(); });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.open === 'sse') openSSE(cmd.name, cmd.field);
  else if (cmd.open === 'ws') openWS(cmd.name, cmd.field);
  else emit(cmd.name, 'fatal', { msg: `unknown command ${line}` });
});
// stdin closed: the test is done (or gone); close every client and exit.
rl.on('close', () => {
  for (const close of closers) close();
  process.exit(0);
});
