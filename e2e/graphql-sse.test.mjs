// The graphql-sse client library against the gateway, in distinct connections mode (one
// POST with Accept: text/event-stream per operation). Its single connection mode needs the
// reservation protocol (PUT for a token, then GET/POST/DELETE with it), which the gateway
// does not serve, so it is not tested here.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createClient } from 'graphql-sse';
import {
  Publisher, aliceUpdated, employeeUpdated, forwardedAuthorizations, httpURL, idle,
  invalidSyntax, newToken, subscribed, unknownField, unknownFieldMessage, until,
} from './lib/gateway.mjs';

/** newClient never retries, so a failure shows at once. */
function newClient(headers = {}) {
  const responses = [];
  const client = createClient({
    url: httpURL,
    headers,
    singleConnection: false,
    retryAttempts: 0,
    // Record each response to check the transport (status, headers) under the client.
    fetchFn: async (url, init) => {
      const res = await fetch(url, init);
      responses.push({ method: init.method, status: res.status, headers: res.headers });
      return res;
    },
  });
  return { client, responses };
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

describe('graphql-sse (distinct connections mode)', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('receives published events with the entity fields resolved, then completes', async () => {
    const { client, responses } = newClient();
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

      assert.equal(responses.length, 1);
      const [res] = responses;
      assert.equal(res.method, 'POST');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.equal(res.headers.get('x-accel-buffering'), 'no');

      s.dispose(); // aborts the request
      await s.done;
      assert.equal(s.completed, true, 'sink.complete after disposing');
      assert.deepEqual(s.errors, []);
      await idle(); // the gateway noticed the closed stream
    } finally {
      client.dispose();
    }
  });

  test('many subscriptions each on their own stream', async () => {
    const { client, responses } = newClient();
    try {
      const subs = [1, 2, 3].map(() => subscribe(client, employeeUpdated));
      await subscribed(3);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => subs.every((s) => s.next.length > 0), 'an event on every stream');
      for (const s of subs) assert.deepEqual(s.next[0], aliceUpdated);
      assert.equal(responses.length, 3);
      subs[0].dispose();
      await subscribed(2);
      for (const s of subs.slice(1)) s.dispose();
      await Promise.all(subs.map((s) => s.done));
      await idle();
    } finally {
      client.dispose();
    }
  });

  test('the Authorization header reaches the subgraph', async () => {
    const token = newToken('graphql-sse');
    const { client } = newClient({ Authorization: token });
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
      client.dispose();
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
      client.dispose();
    }
  });

  test('a query gives next then complete', async () => {
    const { client } = newClient();
    try {
      const s = subscribe(client, '{ employee(id: 2) { id name } }');
      await s.done;
      assert.deepEqual(s.errors, []);
      assert.equal(s.completed, true);
      assert.deepEqual(s.next, [{ data: { employee: { id: 2, name: 'Bilal Khan' } } }]);
    } finally {
      client.dispose();
    }
  });

  // GraphQL over SSE, distinct connections mode: errors before execution MUST come as
  // next events on an accepted stream, not as a 4xx response.
  test('invalid query syntax is a next with errors, then complete', async () => {
    const { client, responses } = newClient();
    try {
      const s = subscribe(client, invalidSyntax);
      await s.done;
      assert.deepEqual(s.errors, [], 'no sink.error: the stream was accepted');
      assert.equal(s.completed, true);
      assert.equal(s.next.length, 1);
      const [result] = s.next;
      assert.equal(result.data, undefined);
      assert.ok(Array.isArray(result.errors) && result.errors.length > 0, JSON.stringify(result));
      assert.equal(typeof result.errors[0].message, 'string');
      assert.equal(responses[0].status, 200);
    } finally {
      client.dispose();
    }
  });

  test('an unknown field is a next with the validation error, then complete', async () => {
    const { client } = newClient();
    try {
      const s = subscribe(client, unknownField);
      await s.done;
      assert.deepEqual(s.errors, []);
      assert.equal(s.completed, true);
      assert.equal(s.next.length, 1);
      assert.equal(s.next[0].data, undefined);
      assert.equal(s.next[0].errors?.[0]?.message, unknownFieldMessage, JSON.stringify(s.next[0]));
    } finally {
      client.dispose();
    }
  });
});
