// urql (@urql/core 6, the client under urql 5's React bindings) against the gateway, in
// the three ways its docs set up subscriptions: fetchSubscriptions (the fetch exchange
// streams them over text/event-stream or multipart/mixed), subscriptionExchange over a
// graphql-sse client and subscriptionExchange over a graphql-ws client. Its cacheExchange
// adds __typename to queries and mutations.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createSSEClient } from 'graphql-sse';
import { createClient as createWSClient } from 'graphql-ws';
import WebSocket from 'ws';
import { Publisher, httpURL, idle, published, subscribed, until, wsURL } from './lib/gateway.mjs';

const EMPLOYEE = gql`query Employee($id: Int!) { employee(id: $id) { id name } }`;
const UPDATE = gql`mutation Update($id: Int!, $name: String) { updateEmployee(id: $id, name: $name) { success } }`;
const UPDATED = gql`subscription Updated($id: Int!) { employeeUpdated(id: $id) { id name } }`;

/** exchangeFor forwards subscriptions to a graphql-sse or graphql-ws client. */
function exchangeFor(client) {
  return subscriptionExchange({
    forwardSubscription(request) {
      const input = { ...request, query: request.query || '' };
      return { subscribe: (sink) => ({ unsubscribe: client.subscribe(input, sink) }) };
    },
  });
}

const setups = {
  fetchSubscriptions: () => ({
    client: new Client({ url: httpURL, exchanges: [cacheExchange, fetchExchange], fetchSubscriptions: true }),
    dispose: async () => {},
  }),
  'graphql-sse': () => {
    const sse = createSSEClient({ url: httpURL, retryAttempts: 0 });
    return {
      client: new Client({ url: httpURL, exchanges: [cacheExchange, fetchExchange, exchangeFor(sse)] }),
      dispose: async () => sse.dispose(),
    };
  },
  'graphql-ws': () => {
    const ws = createWSClient({ url: wsURL, webSocketImpl: WebSocket, retryAttempts: 0, lazyCloseTimeout: 0 });
    return {
      client: new Client({ url: httpURL, exchanges: [cacheExchange, fetchExchange, exchangeFor(ws)] }),
      dispose: async () => ws.dispose(),
    };
  },
};

describe('urql', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('queries and mutations, with __typename added by the cache exchange', async () => {
    const { client, dispose } = setups.fetchSubscriptions();
    const seen = await pub.watch('employeeUpdated.11');
    const before = await published();
    try {
      const q = await client.query(EMPLOYEE, { id: 4 }).toPromise();
      assert.equal(q.error, undefined);
      assert.deepEqual(q.data, { employee: { __typename: 'Employee', id: 4, name: 'Dana Schmidt' } });

      const m = await client.mutation(UPDATE, { id: 11, name: 'Ida' }).toPromise();
      assert.equal(m.error, undefined);
      assert.deepEqual(m.data, { updateEmployee: { __typename: 'edfs__PublishResult', success: true } });
      await until(() => seen.length === 1, 'the published message');
      assert.deepEqual(JSON.parse(seen[0].data), { id: 11, name: 'Ida' });
      assert.equal(await published(), before + 1, 'one publish for one mutation');

      // An argument that would widen the subject is refused before anything is published.
      const bad = await client.mutation(gql`mutation { updateEmployeeByName(name: "a.>") { success } }`, {}).toPromise();
      assert.ok(bad.error, 'an unknown field is an error');
      assert.equal(await published(), before + 1);
    } finally {
      seen.stop();
      await dispose();
    }
  });

  for (const [name, setup] of Object.entries(setups)) {
    test(`subscriptions over ${name} receive events and end when unsubscribed`, async () => {
      const { client, dispose } = setup();
      const results = [];
      const { unsubscribe } = client.subscription(UPDATED, { id: 2 }).subscribe((r) => results.push(r));
      try {
        await subscribed(1);
        await pub.publishUntil('employeeUpdated.2', { __typename: 'Employee', id: 2 }, () => results.length > 0, 'the first event');
        // A mutation through the same client publishes the next event.
        const m = await client.mutation(UPDATE, { id: 2 }).toPromise();
        assert.deepEqual(m.data, { updateEmployee: { __typename: 'edfs__PublishResult', success: true } });
        await until(() => results.length >= 2, 'the event of the mutation');
        for (const r of results) {
          assert.equal(r.error, undefined, r.error?.message);
          assert.deepEqual(r.data, { employeeUpdated: { id: 2, name: 'Bilal Khan' } });
        }
      } finally {
        unsubscribe();
        await dispose();
      }
      await idle();
    });
  }
});
