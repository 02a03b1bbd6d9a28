// Apollo Client (@apollo/client 4) against the gateway, the way an app sets it up:
// HttpLink for queries and mutations (and subscriptions over multipart HTTP),
// GraphQLWsLink (graphql-ws) for subscriptions, and the normalized cache, which adds
// __typename to every selection set of every operation it sends.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { Publisher, httpURL, idle, published, subscribed, until, wsURL } from './lib/gateway.mjs';

/** recordingFetch is fetch that keeps every request body, to see what Apollo sent. */
function recordingFetch(bodies) {
  return (url, init) => {
    bodies.push(JSON.parse(init.body));
    return fetch(url, init);
  };
}

/** newClient is an Apollo Client over HttpLink only (subscriptions over multipart). */
function newClient(bodies = []) {
  return new ApolloClient({
    link: new HttpLink({ uri: httpURL, fetch: recordingFetch(bodies) }),
    cache: new InMemoryCache(),
  });
}

/** collect subscribes to an Apollo observable and records what it emits. */
function collect(observable) {
  const s = { next: [], errors: [], completed: false };
  s.subscription = observable.subscribe({
    next: (r) => s.next.push(r),
    error: (e) => s.errors.push(e),
    complete: () => { s.completed = true; },
  });
  return s;
}

const EMPLOYEE = gql`query Employee($id: Int!) { employee(id: $id) { id name role } }`;
const UPDATE = gql`mutation Update($id: Int!, $name: String) { updateEmployee(id: $id, name: $name) { success } }`;
const UPDATED = gql`subscription Updated($id: Int!) { employeeUpdated(id: $id) { id name } }`;

describe('Apollo Client', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('queries through HttpLink, with __typename added by the cache', async () => {
    const bodies = [];
    const client = newClient(bodies);
    const { data, error } = await client.query({ query: EMPLOYEE, variables: { id: 2 } });
    assert.equal(error, undefined);
    assert.deepEqual(data, { employee: { __typename: 'Employee', id: 2, name: 'Bilal Khan', role: 'Backend Engineer' } });
    assert.match(bodies[0].query, /__typename/, 'Apollo added __typename to the query it sent');
    client.stop();
  });

  test('mutations with automatic __typename publish once and succeed', async () => {
    const bodies = [];
    const client = newClient(bodies);
    const seen = await pub.watch('employeeUpdated.7');
    const before = await published();
    try {
      const { data, error } = await client.mutate({ mutation: UPDATE, variables: { id: 7, name: 'Grace' } });
      assert.equal(error, undefined);
      assert.deepEqual(data, { updateEmployee: { __typename: 'edfs__PublishResult', success: true } });
      assert.match(bodies[0].query, /success\s+__typename/, 'Apollo added __typename to the mutation');
      await until(() => seen.length === 1, 'the published message');
      assert.deepEqual(JSON.parse(seen[0].data), { id: 7, name: 'Grace' });
      assert.equal(await published(), before + 1, 'edgate_broker_published_total');
    } finally {
      seen.stop();
      client.stop();
    }
  });

  test('a mutation that fails publishes nothing', async () => {
    const client = newClient();
    const seen = await pub.watch('employeeUpdated.>');
    const before = await published();
    try {
      // The second field's selection does not validate: the whole operation is refused
      // before the first field publishes anything.
      const bad = gql`mutation { a: updateEmployee(id: 8) { success } b: updateEmployee(id: 9) { nope } }`;
      await assert.rejects(client.mutate({ mutation: bad }), /Cannot query field "nope"/);
      // A request after it that does publish proves the broker has seen everything before.
      await client.mutate({ mutation: UPDATE, variables: { id: 10 } });
      await until(() => seen.length >= 1, 'the valid publish');
      assert.deepEqual(seen.map((m) => m.subject), ['employeeUpdated.10']);
      assert.equal(await published(), before + 1);
    } finally {
      seen.stop();
      client.stop();
    }
  });

  test('subscriptions over HttpLink (multipart/mixed) receive events until unsubscribed', async () => {
    const client = newClient();
    const s = collect(client.subscribe({ query: UPDATED, variables: { id: 1 } }));
    try {
      await subscribed(1);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 }, () => s.next.length > 0, 'the first event');
      await pub.employeeUpdated(1);
      await until(() => s.next.length >= 2, 'a second event');
      for (const r of s.next) {
        assert.deepEqual(r.data, { employeeUpdated: { __typename: 'Employee', id: 1, name: 'Alice Johnson' } });
      }
      assert.deepEqual(s.errors, []);
    } finally {
      s.subscription.unsubscribe();
      client.stop();
    }
    await idle();
  });

  test('subscriptions over GraphQLWsLink (graphql-ws), split from HttpLink as apps do', async () => {
    const ws = createClient({ url: wsURL, webSocketImpl: WebSocket, retryAttempts: 0, lazyCloseTimeout: 0 });
    const client = new ApolloClient({
      link: ApolloLink.split(
        ({ query }) => {
          const def = getMainDefinition(query);
          return def.kind === 'OperationDefinition' && def.operation === 'subscription';
        },
        new GraphQLWsLink(ws),
        new HttpLink({ uri: httpURL }),
      ),
      cache: new InMemoryCache(),
    });
    const s = collect(client.subscribe({ query: UPDATED, variables: { id: 3 } }));
    try {
      await subscribed(1);
      // The publish goes through the same client (HttpLink), the event through the socket.
      let published = 0;
      await until(async () => {
        await client.mutate({ mutation: UPDATE, variables: { id: 3 } });
        published++;
        return s.next.length > 0;
      }, 'the event of the mutation');
      assert.deepEqual(s.next[0].data, { employeeUpdated: { __typename: 'Employee', id: 3, name: 'Chen Wei' } }, JSON.stringify(s.next[0]));
      assert.deepEqual(s.errors, []);
      assert.ok(published >= 1);
    } finally {
      s.subscription.unsubscribe();
      client.stop();
      await ws.dispose();
    }
    await idle();
  });
});
