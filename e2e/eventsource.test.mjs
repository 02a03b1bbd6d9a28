// The eventsource package (the WHATWG EventSource API for Node) against the gateway: GET
// with the operation in the query string, as a browser's EventSource sends it.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import {
  Publisher, aliceUpdated, employeeUpdated, httpURL, idle, invalidSyntax, unknownField,
  unknownFieldMessage, until,
} from './lib/gateway.mjs';

function operationURL(query, variables) {
  const u = new URL(httpURL);
  u.searchParams.set('query', query);
  if (variables) u.searchParams.set('variables', JSON.stringify(variables));
  return u;
}

/**
 * open starts an EventSource on the operation and records its next and complete events.
 * It closes the source on complete, as a client must (or EventSource reconnects).
 */
function open(query, variables) {
  const s = { next: [], ids: [], completed: false, errors: [], opened: false };
  const es = new EventSource(operationURL(query, variables));
  s.es = es;
  es.addEventListener('open', () => { s.opened = true; });
  es.addEventListener('next', (e) => {
    s.next.push(JSON.parse(e.data));
    s.ids.push(e.lastEventId);
  });
  s.done = new Promise((resolve) => {
    es.addEventListener('complete', () => { s.completed = true; es.close(); resolve(); });
    es.addEventListener('error', (e) => { s.errors.push(e); es.close(); resolve(); });
  });
  return s;
}

describe('eventsource (GET with query parameters)', () => {
  let pub;
  before(async () => { pub = await Publisher.connect(); });
  after(async () => { await pub?.close(); });
  beforeEach(async () => { await idle(); });

  test('receives published events with the entity fields resolved, then closes', async () => {
    const s = open(employeeUpdated);
    try {
      await until(() => s.opened, 'the stream to open');
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.length > 0, 'the first event');
      const before = s.next.length;
      await pub.employeeUpdated(2); // another subject: must not arrive here
      await pub.employeeUpdated(1);
      await pub.employeeUpdated(1);
      await until(() => s.next.length >= before + 2, 'two more events');
      for (const value of s.next) assert.deepEqual(value, aliceUpdated);
      assert.ok(s.ids.every((id) => id !== ''), `every frame has an id: ${JSON.stringify(s.ids)}`);
      assert.equal(new Set(s.ids).size, s.ids.length, `ids are distinct: ${JSON.stringify(s.ids)}`);
      assert.deepEqual(s.errors, []);
      assert.equal(s.completed, false);
    } finally {
      s.es.close();
    }
    assert.equal(s.es.readyState, EventSource.CLOSED);
    await idle(); // the gateway noticed the closed stream
  });

  test('variables in the query string', async () => {
    const s = open('subscription ($id: Int!) { employeeUpdated(id: $id) { name role } }', { id: 3 });
    try {
      await until(() => s.opened, 'the stream to open');
      await pub.publishUntil('employeeUpdated.3', { __typename: 'Employee', id: 3 },
        () => s.next.length > 0, 'the first event');
      assert.deepEqual(s.next[0], { data: { employeeUpdated: { name: 'Chen Wei', role: 'Frontend Engineer' } } });
    } finally {
      s.es.close();
    }
    await idle();
  });

  test('an event that is not JSON is an error in next and the stream stays open', async () => {
    const s = open(employeeUpdated);
    try {
      await pub.publishUntil('employeeUpdated.1', 'not json', () => s.next.length > 0, 'the error result');
      const bad = s.next[0];
      assert.ok(Array.isArray(bad.errors) && bad.errors.length > 0, `errors in ${JSON.stringify(bad)}`);
      await pub.publishUntil('employeeUpdated.1', { __typename: 'Employee', id: 1 },
        () => s.next.some((v) => v.data), 'a good event after the bad one');
      assert.deepEqual(s.next.find((v) => v.data), aliceUpdated);
      assert.deepEqual(s.errors, []);
      assert.equal(s.es.readyState, EventSource.OPEN);
    } finally {
      s.es.close();
    }
  });

  test('a query gives next then complete', async () => {
    const s = open('{ employee(id: 2) { id name } }');
    await s.done;
    assert.deepEqual(s.errors, []);
    assert.equal(s.completed, true);
    assert.deepEqual(s.next, [{ data: { employee: { id: 2, name: 'Bilal Khan' } } }]);
  });

  // A browser's EventSource shows nothing of a 4xx response, so request errors must come
  // as a next event on an accepted stream.
  test('invalid query syntax is a next with errors, then complete', async () => {
    const s = open(invalidSyntax);
    await s.done;
    assert.deepEqual(s.errors, [], 'no error event: the stream was accepted');
    assert.equal(s.completed, true);
    assert.equal(s.next.length, 1);
    assert.equal(s.next[0].data, undefined);
    assert.ok(Array.isArray(s.next[0].errors) && s.next[0].errors.length > 0, JSON.stringify(s.next[0]));
    assert.equal(typeof s.next[0].errors[0].message, 'string');
  });

  test('an unknown field is a next with the validation error, then complete', async () => {
    const s = open(unknownField);
    await s.done;
    assert.deepEqual(s.errors, []);
    assert.equal(s.completed, true);
    assert.equal(s.next.length, 1);
    assert.equal(s.next[0].errors?.[0]?.message, unknownFieldMessage, JSON.stringify(s.next[0]));
  });
});
