// Graceful shutdown as each real client sees it: a gateway of its own (same binary and
// config as the suite's) gets SIGTERM while every client has a live subscription.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createClient as createSSEClient } from 'graphql-sse';
import { createClient as createWSClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';
import { Publisher, aliceUpdated, employeeUpdated, natsURL, until } from './lib/gateway.mjs';

/**
 * startGateway runs EDGATE_BIN with EDGATE_CONFIG (port 0, so a new port) plus extra YAML
 * lines, and resolves with its URLs once it logs that it is ready.
 */
async function startGateway(extraYAML = '') {
  const bin = process.env.EDGATE_BIN;
  let config = process.env.EDGATE_CONFIG;
  assert.ok(bin && config, 'EDGATE_BIN and EDGATE_CONFIG are set by e2e/run');
  if (extraYAML) {
    // beside the original: its schema paths are relative to its folder
    const copy = join(dirname(config), `edgate-${process.pid}-${Date.now()}.yaml`);
    writeFileSync(copy, `${readFileSync(config, 'utf8')}\n${extraYAML}\n`);
    config = copy;
  }
  const proc = spawn(bin, ['-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const log = [];
  let nats = natsURL;
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stderr }).on('line', (line) => {
      log.push(line);
      let entry;
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.message === 'embedded NATS server started') nats = entry.url;
      if (entry.message === 'edgate is ready') resolve(entry.url);
    });
    exited.then(({ code }) => reject(new Error(`the gateway exited with ${code}:\n${log.join('\n')}`)));
  });
  return { proc, exited, url, nats, log };
}

describe('graceful shutdown', () => {
  let gw;
  after(() => { if (gw && gw.proc.exitCode === null) gw.proc.kill('SIGKILL'); });

  test('with shutdown.clients: complete, every client gets complete, WebSockets close with 1001, the gateway exits 0', async () => {
    gw = await startGateway('shutdown: { clients: complete }');
    const ws = gw.url.replace(/^http/, 'ws');
    const pub = await Publisher.connect(gw.nats);

    // graphql-ws (graphql-transport-ws)
    const modern = { next: [], errors: [], completed: false, closes: [] };
    const modernClient = createWSClient({
      url: ws, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false,
      onNonLazyError: () => {},
      on: { closed: (e) => modern.closes.push(e) },
    });
    modern.done = new Promise((resolve) => modernClient.subscribe({ query: employeeUpdated }, {
      next: (v) => modern.next.push(v),
      error: (e) => { modern.errors.push(e); resolve(); },
      complete: () => { modern.completed = true; resolve(); },
    }));

    // subscriptions-transport-ws (graphql-ws)
    const legacy = { next: [], frames: [] };
    // minTimeout: the client gives a socket 1 s to open by default, too little for a gateway
    // that has just started on a loaded CI machine (it then throws an uncaught error).
    const legacyClient = new SubscriptionClient(ws, { reconnect: false, minTimeout: 10000 }, WebSocket);
    const legacySocket = legacyClient.client;
    legacySocket.addEventListener('message', (e) => legacy.frames.push(JSON.parse(e.data)));
    legacy.closed = new Promise((resolve) => legacySocket.addEventListener('close', resolve));
    legacyClient.request({ query: employeeUpdated }).subscribe({ next: (v) => legacy.next.push(v) });

    // graphql-sse (distinct connections)
    const sse = { next: [], errors: [], completed: false };
    const sseClient = createSSEClient({ url: gw.url, retryAttempts: 0 });
    sse.done = new Promise((resolve) => sseClient.subscribe({ query: employeeUpdated }, {
      next: (v) => sse.next.push(v),
      error: (e) => { sse.errors.push(e); resolve(); },
      complete: () => { sse.completed = true; resolve(); },
    }));

    // EventSource
    const es = { next: [], completed: false, errors: 0 };
    const u = new URL(gw.url);
    u.searchParams.set('query', employeeUpdated);
    const source = new EventSource(u);
    source.addEventListener('next', (e) => es.next.push(JSON.parse(e.data)));
    es.done = new Promise((resolve) => {
      source.addEventListener('complete', () => { es.completed = true; source.close(); resolve(); });
      source.addEventListener('error', () => { es.errors++; source.close(); resolve(); });
    });

    try {
      const all = [modern, legacy, sse, es];
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => all.every((c) => c.next.length > 0), 'an event on every client');
      for (const c of all) assert.deepEqual(c.next[0], aliceUpdated);
      // Before the shutdown: its NATS server may be the gateway's embedded one.
      await pub.close();

      gw.proc.kill('SIGTERM');

      await modern.done;
      assert.deepEqual(modern.errors, [], 'graphql-ws: no error');
      assert.equal(modern.completed, true, 'graphql-ws: complete');
      await until(() => modern.closes.length > 0, 'graphql-ws: the socket to close');
      assert.equal(modern.closes[0].code, 1001, 'graphql-ws: close code');

      const legacyClose = await legacy.closed;
      assert.ok(legacy.frames.some((f) => f.type === 'complete' && f.id === '1'),
        `subscriptions-transport-ws: complete, got ${JSON.stringify(legacy.frames.map((f) => f.type))}`);
      assert.equal(legacyClose.code, 1001, 'subscriptions-transport-ws: close code');

      await sse.done;
      assert.deepEqual(sse.errors, [], 'graphql-sse: no error');
      assert.equal(sse.completed, true, 'graphql-sse: complete');

      await es.done;
      assert.equal(es.completed, true, 'EventSource: a complete event, not a lost connection');

      const { code } = await gw.exited;
      assert.equal(code, 0, `the gateway exit status; log:\n${gw.log.slice(-20).join('\n')}`);
    } finally {
      source.close();
      await modernClient.dispose();
      sseClient.dispose();
      legacyClient.close();
      legacyClient.clearCheckConnectionInterval();
      await pub.close();
    }
  });

  // The default: clients are told to reconnect, so that a fleet's other instances take
  // their subscriptions over. Retries are off here so that each client reports what it saw.
  test('by default no client gets complete: WebSockets close with 1012, EventSource gets a retry hint and a lost connection', async () => {
    gw = await startGateway();
    const ws = gw.url.replace(/^http/, 'ws');
    const pub = await Publisher.connect(gw.nats);

    const modern = { next: [], errors: [], completed: false, closes: [] };
    const modernClient = createWSClient({
      url: ws, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false,
      onNonLazyError: () => {},
      on: { closed: (e) => modern.closes.push(e) },
    });
    modern.done = new Promise((resolve) => modernClient.subscribe({ query: employeeUpdated }, {
      next: (v) => modern.next.push(v),
      error: (e) => { modern.errors.push(e); resolve(); },
      complete: () => { modern.completed = true; resolve(); },
    }));

    // EventSource through a fetch that records the raw stream, to see the retry fields.
    const es = { next: [], completed: false, errors: 0, raw: '' };
    const u = new URL(gw.url);
    u.searchParams.set('query', employeeUpdated);
    const recordingFetch = async (input, init) => {
      const resp = await fetch(input, init);
      const [mine, theirs] = resp.body.tee();
      (async () => {
        const dec = new TextDecoder();
        for await (const chunk of mine) es.raw += dec.decode(chunk, { stream: true });
      })().catch(() => {});
      return new Response(theirs, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
    };
    const source = new EventSource(u, { fetch: recordingFetch });
    source.addEventListener('next', (e) => es.next.push(JSON.parse(e.data)));
    es.done = new Promise((resolve) => {
      source.addEventListener('complete', () => { es.completed = true; source.close(); resolve(); });
      source.addEventListener('error', () => { es.errors++; source.close(); resolve(); });
    });

    try {
      const all = [modern, es];
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => all.every((c) => c.next.length > 0), 'an event on every client');
      await pub.close();

      gw.proc.kill('SIGTERM');

      await modern.done;
      assert.equal(modern.completed, false, 'graphql-ws: no complete');
      await until(() => modern.closes.length > 0, 'graphql-ws: the socket to close');
      assert.equal(modern.closes[0].code, 1012, 'graphql-ws: close code');

      await es.done;
      assert.equal(es.completed, false, 'EventSource: no complete event');
      const retries = [...es.raw.matchAll(/^retry: (\d+)$/gm)].map((m) => Number(m[1]));
      assert.equal(retries.length, 2, `EventSource: a retry field at the start and at the end, got ${JSON.stringify(es.raw)}`);
      assert.ok(retries.every((r) => r >= 500 && r <= 1000), `retry values ${retries} within [500, 1000] ms`);

      const { code } = await gw.exited;
      assert.equal(code, 0, `the gateway exit status; log:\n${gw.log.slice(-20).join('\n')}`);
    } finally {
      source.close();
      await modernClient.dispose();
      await pub.close();
    }
  });
});
