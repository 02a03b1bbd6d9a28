// Apollo's subscriptions-transport-ws client (the legacy graphql-ws protocol) against the
// gateway.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';
import {
  Publisher, aliceUpdated, employeeUpdated, forwardedAuthorizations, idle, invalidSyntax,
  newToken, unknownField, unknownFieldMessage, until, wsURL,
} from './lib/gateway.mjs';

/**
 * newClient connects at once and never reconnects. It records every frame the server sends
 * so the tests can check the protocol messages (ka, complete) that the client hides.
 */
function newClient(connectionParams = {}) {
  const frames = [];
  const state = { connected: false, disconnected: false, connectionErrors: [] };
  const client = new SubscriptionClient(wsURL, {
    reconnect: false,
    // The default gives a socket 1 s to open, then throws an uncaught error: too little on
    // a loaded CI machine.
    minTimeout: 10000,
    connectionParams,
    connectionCallback: (err) => {
      if (err) state.connectionErrors.push(err);
      else state.connected = true;
    },
  }, WebSocket);
  client.client.addEventListener('message', (e) => frames.push(JSON.parse(e.data)));
  client.onDisconnected(() => { state.disconnected = true; });
  return { client, frames, state, socket: client.client };
}

/** subscribe runs one operation and records what the observer receives. */
function subscribe(client, query) {
  const s = { next: [], errors: [], completed: false };
  s.done = new Promise((resolve) => {
    s.subscription = client.request({ query }).subscribe({
      next: (value) => s.next.push(value),
      error: (err) => { s.errors.push(err); resolve(); },
      complete: () => { s.completed = true; resolve(); },
    });
  });
  return s;
}

describe('subscriptions-transport-ws (graphql-ws)', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('negotiates graphql-ws, acknowledges connection_init and sends ka', async () => {
    const { client, frames, state, socket } = newClient();
    try {
      await until(() => state.connected, 'connection_ack');
      assert.equal(socket.protocol, 'graphql-ws');
      assert.deepEqual(state.connectionErrors, []);
      await until(() => frames.filter((f) => f.type === 'ka').length >= 2,
        'two ka keep-alives (websocket.ping_interval)', 6000);
      assert.equal(frames[0].type, 'connection_ack');
    } finally {
      client.close();
    }
  });

  test('receives published events with the entity fields resolved, then stops', async () => {
    const { client, frames, state } = newClient();
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
      assert.ok(frames.filter((f) => f.type === 'data').every((f) => f.id === '1'), 'data frames carry the operation id');

      s.subscription.unsubscribe(); // sends stop
      await idle();
      assert.deepEqual(s.errors, []);
      assert.equal(state.disconnected, false, 'the connection stays open after stop');
    } finally {
      client.close(); // sends connection_terminate
    }
    await idle();
  });

  test('connection_terminate makes the server close the socket and end its subscriptions', async () => {
    const { client, socket } = newClient();
    try {
      const closed = new Promise((resolve) => socket.addEventListener('close', (e) => resolve(e)));
      const s = subscribe(client, employeeUpdated);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.length > 0, 'the first event');
      // The client's close() would stop every operation first; send only the terminate.
      socket.send(JSON.stringify({ type: 'connection_terminate' }));
      const event = await closed;
      assert.equal(event.code, 1000, 'the server closes normally');
      await idle();
    } finally {
      client.close();
      // A close the client did not start leaves its ka watchdog interval running.
      client.clearCheckConnectionInterval();
    }
  });

  test('a token in the connection_init payload reaches the subgraph as Authorization', async () => {
    const token = newToken('subscriptions-transport-ws');
    const { client } = newClient({ headers: { authorization: token } });
    try {
      const s = subscribe(client, employeeUpdated);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.length > 0, 'the first event');
      assert.deepEqual(s.next[0], aliceUpdated);
      assert.ok((await forwardedAuthorizations()).includes(token),
        'the entity fetch for the event carried the token');
      s.subscription.unsubscribe();
    } finally {
      client.close();
    }
  });

  test('an event without its key is an error in data and the subscription stays open', async () => {
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
      s.subscription.unsubscribe();
    } finally {
      client.close();
    }
  });

  test('a query over the socket gives data then complete', async () => {
    const { client, frames } = newClient();
    try {
      const s = subscribe(client, '{ employee(id: 2) { id name } }');
      await s.done;
      assert.deepEqual(s.errors, []);
      assert.equal(s.completed, true);
      assert.deepEqual(s.next, [{ data: { employee: { id: 2, name: 'Bilal Khan' } } }]);
      const types = frames.filter((f) => f.id !== undefined).map((f) => f.type);
      assert.deepEqual(types, ['data', 'complete']);
    } finally {
      client.close();
    }
  });

  test('invalid query syntax is an error message and the connection stays open', async () => {
    const { client, frames, state } = newClient();
    try {
      const s = subscribe(client, invalidSyntax);
      await s.done;
      assert.equal(s.errors.length, 1, 'observer.error');
      assert.equal(typeof s.errors[0].message, 'string');
      assert.notEqual(s.errors[0].message, '');
      assert.deepEqual(s.next, []);
      assert.ok(frames.some((f) => f.type === 'error'), 'an error frame');

      const q = subscribe(client, '{ employee(id: 1) { name } }');
      await q.done;
      assert.deepEqual(q.next, [{ data: { employee: { name: 'Alice Johnson' } } }]);
      assert.equal(state.disconnected, false);
    } finally {
      client.close();
    }
  });

  test('an unknown field is an error message with the validation error', async () => {
    const { client, frames } = newClient();
    try {
      const s = subscribe(client, unknownField);
      await s.done;
      assert.equal(s.errors.length, 1, 'observer.error');
      assert.equal(s.errors[0].message, unknownFieldMessage);
      assert.deepEqual(s.next, []);
      const error = frames.find((f) => f.type === 'error');
      assert.ok(Array.isArray(error.payload), `error payload is the GraphQL errors array: ${JSON.stringify(error)}`);
    } finally {
      client.close();
    }
  });
});
