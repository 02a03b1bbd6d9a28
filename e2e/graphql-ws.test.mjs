// The graphql-ws client library (protocol graphql-transport-ws) against the gateway.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  Publisher, aliceUpdated, employeeUpdated, forwardedAuthorizations, idle, invalidSyntax,
  newToken, unknownField, unknownFieldMessage, until, wsURL,
} from './lib/gateway.mjs';

/** newClient connects lazily; it never retries, so a failure shows at once. */
function newClient(options = {}) {
  const closes = [];
  const client = createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazyCloseTimeout: 0,
    on: { closed: (event) => closes.push(event) },
    ...options,
  });
  return { client, closes };
}

/** subscribe runs one operation and records what the sink receives. */
function subscribe(client, query) {
  const s = { next: [], errors: [], completed: false };
  s.done = new Promise((resolve) => {
    s.dispose = client.subscribe({ query }, {
      next: (value) => s.next.push(value),
      error: (err) => { s.errors.push(err); resolve(); },
      complete: () => { s.completed = true; resolve(); },
    });
  });
  return s;
}

describe('graphql-ws (graphql-transport-ws)', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('negotiates graphql-transport-ws and acknowledges connection_init', async () => {
    let protocol;
    const { client } = newClient({
      lazy: false,
      on: { connected: (socket) => { protocol = socket.protocol; } },
    });
    try {
      await until(() => protocol !== undefined, 'connection_ack');
      assert.equal(protocol, 'graphql-transport-ws');
    } finally {
      await client.dispose();
    }
  });

  test('receives published events with the entity fields resolved, then completes', async () => {
    const { client, closes } = newClient();
    try {
      const s = subscribe(client, employeeUpdated);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.length > 0, 'the first event');
      const before = s.next.length;
      await pub.employeeUpdated(2); // another subject: must not arrive here
      await pub.employeeUpdated(1);
      await pub.employeeUpdated(1);
      await until(() => s.next.length >= before + 2, 'two more events');
      for (const value of s.next) assert.deepEqual(value, aliceUpdated);

      s.dispose(); // sends complete
      await s.done;
      assert.equal(s.completed, true, 'sink.complete after unsubscribing');
      assert.deepEqual(s.errors, []);
      await idle();
      // lazy client: the socket closes normally once no operation is left
      await until(() => closes.length === 1, 'the socket to close');
      assert.equal(closes[0].code, 1000);
    } finally {
      await client.dispose();
    }
  });

  test('an event without its key is an error in next and the subscription stays open', async () => {
    const { client } = newClient();
    try {
      const s = subscribe(client, employeeUpdated);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee' }, () => s.next.length > 0, 'the error result');
      const bad = s.next[0];
      assert.ok(Array.isArray(bad.errors) && bad.errors.length > 0, `errors in ${JSON.stringify(bad)}`);
      assert.match(bad.errors[0].message, /key field/);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.some((v) => v.data), 'a good event after the bad one');
      assert.deepEqual(s.next.find((v) => v.data), aliceUpdated);
      assert.deepEqual(s.errors, []);
      s.dispose();
      await s.done;
    } finally {
      await client.dispose();
    }
  });

  test('a token in the connection_init payload reaches the subgraph as Authorization', async () => {
    const token = newToken('graphql-ws');
    const { client } = newClient({ connectionParams: { Authorization: token } });
    try {
      const s = subscribe(client, employeeUpdated);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.length > 0, 'the first event');
      assert.deepEqual(s.next[0], aliceUpdated);
      assert.ok((await forwardedAuthorizations()).includes(token),
        'the entity fetch for the event carried the token');
      s.dispose();
      await s.done;
    } finally {
      await client.dispose();
    }
  });

  test('two subscriptions on one connection complete independently', async () => {
    const { client } = newClient({ lazy: false });
    try {
      const a = subscribe(client, employeeUpdated);
      const b = subscribe(client, 'subscription { employeeUpdated(id: 1) { name role } }');
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => a.next.length > 0 && b.next.length > 0, 'an event on both');
      assert.deepEqual(b.next[0], { data: { employeeUpdated: { name: 'Alice Johnson', role: 'Engineering Manager' } } });
      a.dispose();
      await a.done;
      const seen = b.next.length;
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => b.next.length > seen, 'an event after the other subscription completed');
      assert.equal(b.completed, false);
      b.dispose();
      await b.done;
    } finally {
      await client.dispose();
    }
  });

  test('a query over the socket gives next then complete', async () => {
    const { client } = newClient();
    try {
      const s = subscribe(client, '{ employee(id: 2) { id name } }');
      await s.done;
      assert.deepEqual(s.errors, []);
      assert.equal(s.completed, true);
      assert.deepEqual(s.next, [{ data: { employee: { id: 2, name: 'Bilal Khan' } } }]);
    } finally {
      await client.dispose();
    }
  });

  test('invalid query syntax is an error message and the connection stays open', async () => {
    const { client, closes } = newClient({ lazy: false });
    try {
      const s = subscribe(client, invalidSyntax);
      await s.done;
      assert.equal(s.errors.length, 1, 'sink.error');
      const [errors] = s.errors;
      assert.ok(Array.isArray(errors) && errors.length > 0, `GraphQL errors, got ${JSON.stringify(errors)}`);
      assert.equal(typeof errors[0].message, 'string');
      assert.deepEqual(s.next, []);

      const q = subscribe(client, '{ employee(id: 1) { name } }');
      await q.done;
      assert.deepEqual(q.next, [{ data: { employee: { name: 'Alice Johnson' } } }]);
      assert.deepEqual(closes, [], 'the socket stayed open');
    } finally {
      await client.dispose();
    }
  });

  test('an unknown field is an error message with the validation error', async () => {
    const { client } = newClient();
    try {
      const s = subscribe(client, unknownField);
      await s.done;
      assert.equal(s.errors.length, 1, 'sink.error');
      const [errors] = s.errors;
      assert.ok(Array.isArray(errors), `GraphQL errors, got ${JSON.stringify(errors)}`);
      assert.equal(errors[0].message, unknownFieldMessage);
      assert.deepEqual(s.next, []);
    } finally {
      await client.dispose();
    }
  });

  test('the server pings and the client answers', async () => {
    let pings = 0;
    const { client, closes } = newClient({
      lazy: false,
      keepAlive: 0, // the client itself does not ping
      on: { ping: (received) => { if (received) pings++; } },
    });
    try {
      await until(() => pings >= 1, 'a ping from the server (websocket.ping_interval)', 5000);
      assert.deepEqual(closes, []);
    } finally {
      await client.dispose();
    }
  });

  test('a reused operation id closes the socket with 4409', async () => {
    const { client, closes } = newClient({
      lazy: false,
      generateID: () => 'same-id',
      onNonLazyError: () => {}, // the close is what this test expects
    });
    try {
      const a = subscribe(client, employeeUpdated);
      const b = subscribe(client, employeeUpdated);
      await Promise.all([a.done, b.done]);
      assert.equal(a.errors.length + b.errors.length, 2, 'both sinks see the closed socket');
      await until(() => closes.length === 1, 'the socket to close');
      assert.equal(closes[0].code, 4409);
      assert.match(closes[0].reason, /same-id/);
    } finally {
      await client.dispose();
    }
  });
});
